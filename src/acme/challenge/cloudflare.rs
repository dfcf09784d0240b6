//! dns-01 through Cloudflare's API v4 (`/client/v4`, a scoped API token as a Bearer token), as
//! lego's and acme.sh's `cloudflare` providers do.
//!
//! The zone is `dns_zone` when set, else found by asking `GET /zones?name=` for the record's
//! parents, longest first. Cloudflare keeps each TXT value as its own record, so a wildcard
//! order's two values are two records and cleanup deletes exactly the ones present created (by
//! id, or found by name and content when this process did not create them).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::dns01::{RecordApi, lock, zone_candidates};
use crate::config::acme::CloudDns;

/// TTL of the published records: 120 s is the lowest Cloudflare accepts on every plan.
const TTL: u32 = 120;
const MAX_ANSWER: usize = 4 * 1024 * 1024;

pub struct CloudflareProvider {
    settings: CloudDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// Zone ids by record name, and record ids by (name, value): cleanup reuses them.
    zones: Mutex<HashMap<String, String>>,
    records: Mutex<HashMap<(String, String), (String, String)>>,
}

impl CloudflareProvider {
    pub fn new(settings: CloudDns) -> CloudflareProvider {
        CloudflareProvider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            zones: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
        }
    }

    /// One API call: the envelope's `result`, or Cloudflare's own error messages.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let token = String::from_utf8_lossy(self.settings.secret.expose()).into_owned();
        let bearer = format!("Bearer {token}");
        let url = format!("{}{path}", self.settings.api_url);
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let (status, answer) = crate::http::exchange(
            &self.client,
            method,
            &url,
            &[
                ("authorization", bearer.as_str()),
                ("accept", "application/json"),
            ],
            body,
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if (200..300).contains(&status) && parsed.get("success") == Some(&Value::Bool(true)) {
            return Ok(parsed.get("result").cloned().unwrap_or(Value::Null));
        }
        let said: Vec<String> = parsed
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} (code {})",
                    e.get("message").and_then(Value::as_str).unwrap_or("?"),
                    e.get("code").map(Value::to_string).unwrap_or_default()
                )
            })
            .collect();
        let said = if said.is_empty() {
            String::from_utf8_lossy(&answer).chars().take(200).collect()
        } else {
            said.join("; ")
        };
        Err(match status {
            401 | 403 => format!(
                "HTTP {status}: the API token was refused (it needs Zone:Read and DNS:Edit): {said}"
            ),
            _ => format!("HTTP {status}: {said}"),
        })
    }

    /// The id of the zone holding `fqdn`.
    async fn zone_id(&self, fqdn: &str) -> Result<String, String> {
        if let Some(id) = lock(&self.zones).get(fqdn) {
            return Ok(id.clone());
        }
        let candidates = match &self.settings.zone {
            Some(zone) => vec![zone.trim_end_matches('.').to_ascii_lowercase()],
            None => zone_candidates(fqdn),
        };
        for name in &candidates {
            let found = self
                .call("GET", &format!("/zones?name={name}&per_page=5"), None)
                .await?;
            let id = found
                .as_array()
                .into_iter()
                .flatten()
                .find(|z| {
                    z.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .and_then(|z| z.get("id").and_then(Value::as_str));
            if let Some(id) = id {
                lock(&self.zones).insert(fqdn.to_string(), id.to_string());
                return Ok(id.to_string());
            }
        }
        Err(format!(
            "no zone the token can see contains {fqdn} (tried {}; set dns_zone if it should)",
            candidates.join(", ")
        ))
    }

    async fn create(&self, fqdn: &str, value: &str) -> Result<(), String> {
        let zone = self.zone_id(fqdn).await?;
        let name = fqdn.trim_end_matches('.');
        let created = self
            .call(
                "POST",
                &format!("/zones/{zone}/dns_records"),
                Some(json!({"type": "TXT", "name": name, "content": value, "ttl": TTL})),
            )
            .await?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or("the answer names no record id")?;
        lock(&self.records).insert((fqdn.into(), value.into()), (zone, id.into()));
        Ok(())
    }

    async fn delete(&self, fqdn: &str, value: &str) -> Result<(), String> {
        let known = lock(&self.records).remove(&(fqdn.to_string(), value.to_string()));
        let (zone, ids) = match known {
            Some((zone, id)) => (zone, vec![id]),
            None => {
                let zone = self.zone_id(fqdn).await?;
                let name = fqdn.trim_end_matches('.');
                let found = self
                    .call(
                        "GET",
                        &format!("/zones/{zone}/dns_records?type=TXT&name={name}&per_page=100"),
                        None,
                    )
                    .await?;
                let ids = found
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        r.get("content")
                            .and_then(Value::as_str)
                            .is_some_and(|c| c.trim_matches('"') == value)
                    })
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(String::from))
                    .collect();
                (zone, ids)
            }
        };
        for id in ids {
            self.call("DELETE", &format!("/zones/{zone}/dns_records/{id}"), None)
                .await?;
        }
        Ok(())
    }
}

impl RecordApi for CloudflareProvider {
    const NAME: &'static str = "cloudflare";

    fn endpoint(&self) -> &str {
        &self.settings.api_url
    }

    async fn add(&self, fqdn: &str, value: &str) -> Result<(), String> {
        self.create(fqdn, value).await
    }

    async fn remove(&self, fqdn: &str, value: &str) -> Result<(), String> {
        self.delete(fqdn, value).await
    }
}
