//! dns-01 through Huawei Cloud DNS (API v2, JSON, signed with APIG's SDK-HMAC-SHA256), as
//! lego's `huaweicloud` provider does.
//!
//! The zone is the public zone named `dns_zone`, or the record's longest parent that
//! `GET /v2/zones?type=public&name=` returns by exact name. Huawei keeps one record set per name
//! and type, so a value is added by creating the set or updating it with the value appended,
//! and removed by updating it without the value (or deleting it when it was the last one).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::dns01::{RecordApi, lock, zone_candidates};
use super::signing::{Unsigned, authority, sdk_hmac_sha256};
use crate::config::acme::CloudDns;

/// The lowest TTL Huawei Cloud DNS accepts is 1; 300 is its default and lego's.
const TTL: u32 = 300;
const MAX_ANSWER: usize = 4 * 1024 * 1024;

pub struct HuaweiDnsProvider {
    settings: CloudDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// Zone ids by record name.
    zones: Mutex<HashMap<String, String>>,
}

impl HuaweiDnsProvider {
    pub fn new(settings: CloudDns) -> HuaweiDnsProvider {
        HuaweiDnsProvider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// One signed call: the JSON answer, or Huawei's error code and message.
    async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<Value>,
    ) -> Result<Value, String> {
        let sdk_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), authority(&self.settings.api_url)?),
            ("x-sdk-date".to_string(), sdk_date.clone()),
        ];
        let unsigned = Unsigned {
            method,
            path,
            query,
            headers: &headers,
            payload: payload.as_bytes(),
        };
        let authorization = sdk_hmac_sha256(
            &unsigned,
            self.settings.key_id.as_deref().unwrap_or_default(),
            self.settings.secret.expose(),
            &sdk_date,
        );
        let query = unsigned.query_string();
        let url = match query.is_empty() {
            true => format!("{}{path}", self.settings.api_url),
            false => format!("{}{path}?{query}", self.settings.api_url),
        };
        // content-type goes with the body (or alone, for a GET, as the SDKs send it).
        let mut sent: Vec<(&str, &str)> = headers[1..]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        sent.push(("authorization", authorization.as_str()));
        let (status, answer) = crate::http::exchange(
            &self.client,
            method,
            &url,
            &sent,
            Some(("application/json", payload.into_bytes())),
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if (200..300).contains(&status) && (parsed.is_object() || answer.is_empty()) {
            return Ok(parsed);
        }
        let field = |a: &str, b: &str| {
            parsed
                .get(a)
                .or_else(|| parsed.get(b))
                .and_then(Value::as_str)
                .map(String::from)
        };
        match (field("code", "error_code"), field("message", "error_msg")) {
            (Some(code), message) => {
                let hint = if status == 401 || code.starts_with("APIGW.03") {
                    " (check dns_api_key_id and the secret access key)"
                } else {
                    ""
                };
                Err(format!(
                    "HTTP {status}: {code}: {}{hint}",
                    message.unwrap_or_default()
                ))
            }
            _ => Err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
        }
    }

    async fn zone_id(&self, fqdn: &str) -> Result<String, String> {
        if let Some(id) = lock(&self.zones).get(fqdn) {
            return Ok(id.clone());
        }
        let candidates = match &self.settings.zone {
            Some(zone) => vec![zone.trim_end_matches('.').to_ascii_lowercase()],
            None => zone_candidates(fqdn),
        };
        for name in &candidates {
            let query = [
                ("type".to_string(), "public".to_string()),
                ("name".to_string(), name.clone()),
            ];
            let found = self.call("GET", "/v2/zones", &query, None).await?;
            let id = found
                .get("zones")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|z| {
                    z.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name))
                })
                .and_then(|z| z.get("id").and_then(Value::as_str));
            if let Some(id) = id {
                lock(&self.zones).insert(fqdn.to_string(), id.to_string());
                return Ok(id.to_string());
            }
        }
        Err(format!(
            "no public zone contains {fqdn} (tried {}; set dns_zone if one should)",
            candidates.join(", ")
        ))
    }

    async fn change(&self, fqdn: &str, value: &str, add: bool) -> Result<(), String> {
        let zone = self.zone_id(fqdn).await?;
        let sets_path = format!("/v2/zones/{zone}/recordsets");
        let query = [
            ("type".to_string(), "TXT".to_string()),
            ("name".to_string(), fqdn.to_string()),
        ];
        let found = self.call("GET", &sets_path, &query, None).await?;
        let set = found
            .get("recordsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| {
                s.get("type").and_then(Value::as_str) == Some("TXT")
                    && s.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(fqdn))
            })
            .cloned();
        let quoted = format!("\"{value}\"");
        let mut values: Vec<String> = set
            .as_ref()
            .and_then(|s| s.get("records"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(String::from))
            .filter(|r| *r != quoted)
            .collect();
        if add {
            values.push(quoted);
        }
        let id = set
            .as_ref()
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str);
        match (id, values.is_empty()) {
            (None, true) => Ok(()),
            (None, false) => self
                .call(
                    "POST",
                    &sets_path,
                    &[],
                    Some(json!({"name": fqdn, "type": "TXT", "ttl": TTL, "records": values})),
                )
                .await
                .map(|_| ()),
            (Some(id), true) => self
                .call("DELETE", &format!("{sets_path}/{id}"), &[], None)
                .await
                .map(|_| ()),
            (Some(id), false) => self
                .call(
                    "PUT",
                    &format!("{sets_path}/{id}"),
                    &[],
                    Some(json!({"name": fqdn, "type": "TXT", "ttl": TTL, "records": values})),
                )
                .await
                .map(|_| ()),
        }
    }
}

impl RecordApi for HuaweiDnsProvider {
    const NAME: &'static str = "huaweidns";

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
