//! dns-01 through Alibaba Cloud DNS (阿里云解析, `alidns` `2015-01-09`, RPC style with the V3
//! signature ACS3-HMAC-SHA256), as lego's `alidns` provider does.
//!
//! The zone is `dns_zone` or the longest domain `DescribeDomains` lists that contains the
//! record (all pages). Each value is its own record (`AddDomainRecord`); cleanup deletes the
//! records present created by id, or those `DescribeDomainRecords` shows with the value.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::dns01::{RecordApi, lock, longest_zone, relative_name};
use super::signing::{Unsigned, acs3, authority, sha256_hex};
use crate::config::acme::CloudDns;

/// The lowest TTL Alibaba Cloud DNS accepts below the enterprise editions.
const TTL: u32 = 600;
const MAX_ANSWER: usize = 4 * 1024 * 1024;
const VERSION: &str = "2015-01-09";
/// Domains per `DescribeDomains` page (the API's maximum), and the most pages read.
const PAGE: usize = 100;
const MAX_PAGES: usize = 50;

pub struct AliDnsProvider {
    settings: CloudDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// Record ids by (name, value): cleanup reuses what present created.
    records: Mutex<HashMap<(String, String), String>>,
}

impl AliDnsProvider {
    pub fn new(settings: CloudDns) -> AliDnsProvider {
        AliDnsProvider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            records: Mutex::new(HashMap::new()),
        }
    }

    /// One signed action (parameters in the query, empty body): the JSON answer, or Alibaba's
    /// error code and message.
    async fn call(&self, action: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let host = authority(&self.settings.api_url)?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for the nonce: {e}"))?;
        let headers = vec![
            ("host".to_string(), host),
            ("x-acs-action".to_string(), action.to_string()),
            ("x-acs-version".to_string(), VERSION.to_string()),
            (
                "x-acs-date".to_string(),
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
            ("x-acs-signature-nonce".to_string(), hex::encode(nonce)),
            ("x-acs-content-sha256".to_string(), sha256_hex(b"")),
        ];
        let query: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let unsigned = Unsigned {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload: b"",
        };
        let authorization = acs3(
            &unsigned,
            self.settings.key_id.as_deref().unwrap_or_default(),
            self.settings.secret.expose(),
        );
        let url = format!("{}/?{}", self.settings.api_url, unsigned.query_string());
        let mut sent: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        sent.push(("authorization", authorization.as_str()));
        let (status, answer) = crate::http::exchange(
            &self.client,
            "POST",
            &url,
            &sent,
            None,
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if (200..300).contains(&status) && parsed.is_object() && parsed.get("Code").is_none() {
            return Ok(parsed);
        }
        match parsed.get("Code").and_then(Value::as_str) {
            Some(code) => {
                let message = parsed.get("Message").and_then(Value::as_str).unwrap_or("");
                let hint = if code.starts_with("InvalidAccessKeyId")
                    || code.starts_with("SignatureDoesNotMatch")
                {
                    " (check dns_api_key_id and the AccessKey secret)"
                } else {
                    ""
                };
                Err(format!("{action}: HTTP {status}: {code}: {message}{hint}"))
            }
            None => Err(format!(
                "{action}: HTTP {status}: {}",
                String::from_utf8_lossy(&answer)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
        }
    }

    async fn zone(&self, fqdn: &str) -> Result<String, String> {
        if let Some(zone) = &self.settings.zone {
            return Ok(zone.trim_end_matches('.').to_ascii_lowercase());
        }
        let mut names: Vec<String> = Vec::new();
        for page in 1..=MAX_PAGES {
            let listed = self
                .call(
                    "DescribeDomains",
                    &[
                        ("PageNumber", page.to_string()),
                        ("PageSize", PAGE.to_string()),
                    ],
                )
                .await?;
            let before = names.len();
            names.extend(
                listed
                    .pointer("/Domains/Domain")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.get("DomainName").and_then(Value::as_str))
                    .map(String::from),
            );
            let total = listed
                .get("TotalCount")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if names.len() == before || names.len() as u64 >= total {
                break;
            }
        }
        longest_zone(fqdn, names.iter().map(String::as_str)).ok_or_else(|| {
            format!("the account holds no domain containing {fqdn} (set dns_zone if it should)")
        })
    }

    async fn create(&self, fqdn: &str, value: &str) -> Result<(), String> {
        let zone = self.zone(fqdn).await?;
        let created = self
            .call(
                "AddDomainRecord",
                &[
                    ("DomainName", zone.clone()),
                    ("RR", relative_name(fqdn, &zone)),
                    ("Type", "TXT".into()),
                    ("Value", value.into()),
                    ("TTL", TTL.to_string()),
                ],
            )
            .await?;
        let id = created
            .get("RecordId")
            .and_then(Value::as_str)
            .ok_or("the answer names no RecordId")?;
        lock(&self.records).insert((fqdn.into(), value.into()), id.into());
        Ok(())
    }

    async fn delete(&self, fqdn: &str, value: &str) -> Result<(), String> {
        let known = lock(&self.records).remove(&(fqdn.to_string(), value.to_string()));
        let ids = match known {
            Some(id) => vec![id],
            None => {
                let zone = self.zone(fqdn).await?;
                let rr = relative_name(fqdn, &zone);
                let listed = self
                    .call(
                        "DescribeDomainRecords",
                        &[
                            ("DomainName", zone),
                            ("RRKeyWord", rr.clone()),
                            ("Type", "TXT".into()),
                            ("PageSize", "500".into()),
                        ],
                    )
                    .await?;
                listed
                    .pointer("/DomainRecords/Record")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        r.get("RR").and_then(Value::as_str) == Some(rr.as_str())
                            && r.get("Value").and_then(Value::as_str) == Some(value)
                    })
                    .filter_map(|r| r.get("RecordId").and_then(Value::as_str).map(String::from))
                    .collect()
            }
        };
        for id in ids {
            self.call("DeleteDomainRecord", &[("RecordId", id)]).await?;
        }
        Ok(())
    }
}

impl RecordApi for AliDnsProvider {
    const NAME: &'static str = "alidns";

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
