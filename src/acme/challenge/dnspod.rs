//! dns-01 through Tencent Cloud DNSPod (API 3.0, version `2021-03-23`, JSON over POST signed
//! with TC3-HMAC-SHA256), as lego's `tencentcloud` provider does.
//!
//! The zone is `dns_zone` or the longest domain `DescribeDomainList` returns that contains the
//! record. Each value is its own record (`CreateRecord` on the default line); cleanup deletes
//! the records present created by id, or those `DescribeRecordList` shows with the value.
//! Tencent answers errors with HTTP 200 and `Response.Error`, which is checked on every call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::dns01::{RecordApi, lock, longest_zone, relative_name};
use super::signing::{Unsigned, authority, tc3};
use crate::config::acme::CloudDns;

/// The lowest TTL DNSPod's free plan accepts.
const TTL: u32 = 600;
const MAX_ANSWER: usize = 4 * 1024 * 1024;
const VERSION: &str = "2021-03-23";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub struct DnsPodProvider {
    settings: CloudDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// Record ids by (name, value), with their zone: cleanup reuses what present created.
    records: Mutex<HashMap<(String, String), (String, u64)>>,
}

impl DnsPodProvider {
    pub fn new(settings: CloudDns) -> DnsPodProvider {
        DnsPodProvider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            records: Mutex::new(HashMap::new()),
        }
    }

    /// One signed action: its `Response`, or Tencent's error code and message.
    async fn call(&self, action: &str, params: Value) -> Result<Value, String> {
        let host = authority(&self.settings.api_url)?;
        let timestamp = chrono::Utc::now().timestamp();
        let payload = params.to_string();
        let headers = vec![
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
            ("host".to_string(), host),
            ("x-tc-action".to_string(), action.to_ascii_lowercase()),
        ];
        let authorization = tc3(
            &Unsigned {
                method: "POST",
                path: "/",
                query: &[],
                headers: &headers,
                payload: payload.as_bytes(),
            },
            self.settings.key_id.as_deref().unwrap_or_default(),
            self.settings.secret.expose(),
            "dnspod",
            timestamp,
        );
        let timestamp = timestamp.to_string();
        let sent = [
            ("host", headers[1].1.as_str()),
            ("x-tc-action", action),
            ("x-tc-version", VERSION),
            ("x-tc-timestamp", timestamp.as_str()),
            ("authorization", authorization.as_str()),
        ];
        let (status, answer) = crate::http::exchange(
            &self.client,
            "POST",
            &format!("{}/", self.settings.api_url),
            &sent,
            Some((CONTENT_TYPE, payload.into_bytes())),
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let response = parsed.get("Response").cloned().unwrap_or(Value::Null);
        match response.get("Error") {
            None if (200..300).contains(&status) && response.is_object() => Ok(response),
            None => Err(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
            Some(error) => {
                let code = error.get("Code").and_then(Value::as_str).unwrap_or("?");
                let message = error.get("Message").and_then(Value::as_str).unwrap_or("");
                let hint = if code.starts_with("AuthFailure") {
                    " (check dns_api_key_id and the SecretKey)"
                } else {
                    ""
                };
                Err(format!("{action}: {code}: {message}{hint}"))
            }
        }
    }

    async fn zone(&self, fqdn: &str) -> Result<String, String> {
        if let Some(zone) = &self.settings.zone {
            return Ok(zone.trim_end_matches('.').to_ascii_lowercase());
        }
        let listed = self.call("DescribeDomainList", json!({})).await?;
        let names = listed
            .get("DomainList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("Name").and_then(Value::as_str));
        longest_zone(fqdn, names).ok_or_else(|| {
            format!("the account holds no domain containing {fqdn} (set dns_zone if it should)")
        })
    }

    async fn create(&self, fqdn: &str, value: &str) -> Result<(), String> {
        let zone = self.zone(fqdn).await?;
        let created = self
            .call(
                "CreateRecord",
                json!({
                    "Domain": zone,
                    "SubDomain": relative_name(fqdn, &zone),
                    "RecordType": "TXT",
                    "RecordLine": "默认",
                    "Value": value,
                    "TTL": TTL,
                }),
            )
            .await?;
        let id = created
            .get("RecordId")
            .and_then(Value::as_u64)
            .ok_or("the answer names no RecordId")?;
        lock(&self.records).insert((fqdn.into(), value.into()), (zone, id));
        Ok(())
    }

    async fn delete(&self, fqdn: &str, value: &str) -> Result<(), String> {
        let known = lock(&self.records).remove(&(fqdn.to_string(), value.to_string()));
        let (zone, ids) = match known {
            Some((zone, id)) => (zone, vec![id]),
            None => {
                let zone = self.zone(fqdn).await?;
                let listed = self
                    .call(
                        "DescribeRecordList",
                        json!({
                            "Domain": zone,
                            "Subdomain": relative_name(fqdn, &zone),
                            "RecordType": "TXT",
                        }),
                    )
                    .await?;
                let ids = listed
                    .get("RecordList")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.get("Value").and_then(Value::as_str) == Some(value))
                    .filter_map(|r| r.get("RecordId").and_then(Value::as_u64))
                    .collect();
                (zone, ids)
            }
        };
        for id in ids {
            self.call("DeleteRecord", json!({"Domain": zone, "RecordId": id}))
                .await?;
        }
        Ok(())
    }
}

impl RecordApi for DnsPodProvider {
    const NAME: &'static str = "dnspod";

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
