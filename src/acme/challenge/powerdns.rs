//! dns-01 through the PowerDNS Authoritative Server's HTTP API (`/api/v1`, `X-API-Key`), as
//! lego's and acme.sh's `pdns` providers do.
//!
//! The API replaces whole RRsets, and a wildcard order puts two values at one name
//! (`example.com` and `*.example.com`), so each change reads the zone's TXT RRset at that name
//! first and writes it back with the value added (or removed; an emptied RRset is deleted).
//! The zone is `dns_zone` when set, else the longest zone the server hosts that contains the
//! name. The API key is a secret and never appears in an error.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::dns01::{RecordApi, lock, longest_zone};
use crate::config::acme::PowerDns;

/// TTL of the published TXT records: short, they only live for one validation.
const TTL: u32 = 60;
/// Largest API answer read (a zone listing, or one zone with its records).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

pub struct PowerDnsProvider {
    settings: PowerDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// Zones found by listing, by record name: cleanup reuses what present found.
    zones: Mutex<HashMap<String, String>>,
}

impl PowerDnsProvider {
    pub fn new(settings: PowerDns) -> PowerDnsProvider {
        PowerDnsProvider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            zones: Mutex::new(HashMap::new()),
        }
    }

    fn server_url(&self) -> String {
        format!(
            "{}/api/v1/servers/{}",
            self.settings.api_url, self.settings.server_id
        )
    }

    /// One API call; the answer's JSON (or null for 204), or the server's error message.
    async fn call(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let key = String::from_utf8_lossy(self.settings.api_key.expose()).into_owned();
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let (status, answer) = crate::http::exchange(
            &self.client,
            method,
            url,
            &[("x-api-key", key.as_str()), ("accept", "application/json")],
            body,
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(parsed),
            401 | 403 => Err(format!(
                "HTTP {status}: the API key was refused (check dns_api_key_file and the server's api-key)"
            )),
            _ => {
                let said = parsed
                    .get("error")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&answer).chars().take(200).collect()
                    });
                Err(format!("HTTP {status}: {said}"))
            }
        }
    }

    /// The zone holding `fqdn`: the configured one, or the longest hosted zone that is a
    /// suffix of it.
    async fn zone(&self, fqdn: &str) -> Result<String, String> {
        if let Some(zone) = &self.settings.zone {
            return Ok(absolute(zone));
        }
        if let Some(zone) = lock(&self.zones).get(fqdn) {
            return Ok(zone.clone());
        }
        let listing = self
            .call("GET", &format!("{}/zones", self.server_url()), None)
            .await?;
        let names = listing
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|z| z.get("name").and_then(Value::as_str));
        let zone = longest_zone(fqdn, names)
            .map(|z| absolute(&z))
            .ok_or_else(|| {
                format!("the server hosts no zone containing {fqdn} (set dns_zone if it should)")
            })?;
        lock(&self.zones).insert(fqdn.to_string(), zone.clone());
        Ok(zone)
    }

    /// The TXT values now at `fqdn` in `zone` (with their quotes, as PowerDNS stores them).
    async fn current(&self, zone_url: &str, fqdn: &str) -> Result<Vec<String>, String> {
        let zone = self.call("GET", zone_url, None).await?;
        Ok(zone
            .get("rrsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| {
                r.get("type").and_then(Value::as_str) == Some("TXT")
                    && r.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(fqdn))
            })
            .flat_map(|r| {
                r.get("records")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|r| r.get("content").and_then(Value::as_str).map(String::from))
            .collect())
    }

    async fn change(&self, fqdn: &str, value: &str, add: bool) -> Result<(), String> {
        let zone = self.zone(fqdn).await?;
        let zone_url = format!("{}/zones/{}", self.server_url(), zone);
        let quoted = format!("\"{value}\"");
        let mut values = self.current(&zone_url, fqdn).await?;
        values.retain(|v| *v != quoted);
        if add {
            values.push(quoted);
        }
        let rrset = if values.is_empty() {
            json!({"name": fqdn, "type": "TXT", "changetype": "DELETE"})
        } else {
            json!({
                "name": fqdn,
                "type": "TXT",
                "ttl": TTL,
                "changetype": "REPLACE",
                "records": values
                    .iter()
                    .map(|v| json!({"content": v, "disabled": false}))
                    .collect::<Vec<_>>(),
            })
        };
        self.call("PATCH", &zone_url, Some(json!({ "rrsets": [rrset] })))
            .await
            .map(|_| ())
    }
}

fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

impl RecordApi for PowerDnsProvider {
    const NAME: &'static str = "powerdns";

    fn endpoint(&self) -> &str {
        &self.settings.api_url
    }

    async fn add(&self, fqdn: &str, value: &str) -> Result<(), String> {
        self.change(fqdn, value, true).await
    }

    async fn remove(&self, fqdn: &str, value: &str) -> Result<(), String> {
        self.change(fqdn, value, false).await
    }
}
