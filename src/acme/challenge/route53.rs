//! dns-01 through the AWS Route 53 API (`2013-04-01`, XML, Signature Version 4 for the global
//! endpoint's region `us-east-1`), as lego's `route53` provider does; the only importer of
//! quick-xml.
//!
//! The hosted zone is `dns_zone` (a zone name) or the record's longest parent that
//! `ListHostedZonesByName` knows, public zones before private ones. Route 53 replaces whole
//! record sets, so each change reads the TXT set at the name first and UPSERTs it with the
//! value added (or removed; an emptied set is DELETEd with its exact current values, as the API
//! requires). After adding, the change is polled until Route 53 reports it `INSYNC` on all of
//! its name servers, within a bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use quick_xml::escape::escape;
use serde::Deserialize;

use super::dns01::{RecordApi, lock, zone_candidates};
use super::signing::{Unsigned, authority, sigv4};
use crate::config::acme::CloudDns;

const TTL: u32 = 60;
const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// How long a change may stay PENDING before present gives up waiting (AWS: usually < 60 s).
const INSYNC_WITHIN: Duration = Duration::from_secs(180);
const INSYNC_POLL: Duration = Duration::from_secs(2);
const API: &str = "/2013-04-01";
const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

#[derive(Debug, Deserialize)]
struct ZonesByName {
    #[serde(rename = "HostedZones", default)]
    zones: HostedZones,
}

#[derive(Debug, Default, Deserialize)]
struct HostedZones {
    #[serde(rename = "HostedZone", default)]
    zone: Vec<HostedZone>,
}

#[derive(Debug, Deserialize)]
struct HostedZone {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Config", default)]
    config: Option<ZoneConfig>,
}

#[derive(Debug, Deserialize)]
struct ZoneConfig {
    #[serde(rename = "PrivateZone", default)]
    private: bool,
}

#[derive(Debug, Deserialize)]
struct RecordSets {
    #[serde(rename = "ResourceRecordSets", default)]
    sets: RecordSetList,
}

#[derive(Debug, Default, Deserialize)]
struct RecordSetList {
    #[serde(rename = "ResourceRecordSet", default)]
    set: Vec<RecordSet>,
}

#[derive(Debug, Deserialize)]
struct RecordSet {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "TTL", default)]
    ttl: Option<u32>,
    #[serde(rename = "ResourceRecords", default)]
    records: ResourceRecords,
}

#[derive(Debug, Default, Deserialize)]
struct ResourceRecords {
    #[serde(rename = "ResourceRecord", default)]
    record: Vec<ResourceRecord>,
}

#[derive(Debug, Deserialize)]
struct ResourceRecord {
    #[serde(rename = "Value")]
    value: String,
}

#[derive(Debug, Deserialize)]
struct ChangeAnswer {
    #[serde(rename = "ChangeInfo")]
    info: ChangeInfo,
}

#[derive(Debug, Deserialize)]
struct ChangeInfo {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Status")]
    status: String,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    #[serde(rename = "Error")]
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

pub struct Route53Provider {
    settings: CloudDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// Hosted zone ids (`Z...`, without `/hostedzone/`) by record name.
    zones: Mutex<HashMap<String, String>>,
}

impl Route53Provider {
    pub fn new(settings: CloudDns) -> Route53Provider {
        Route53Provider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// One signed API call; the XML answer, or Route 53's error code and message.
    async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
    ) -> Result<String, String> {
        let authority = authority(&self.settings.api_url)?;
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let payload = body.unwrap_or_default();
        let headers = vec![
            ("host".to_string(), authority),
            ("x-amz-date".to_string(), amz_date.clone()),
        ];
        let unsigned = Unsigned {
            method,
            path,
            query,
            headers: &headers,
            payload: payload.as_bytes(),
        };
        let authorization = sigv4(
            &unsigned,
            self.settings.key_id.as_deref().unwrap_or_default(),
            self.settings.secret.expose(),
            "us-east-1",
            "route53",
            &amz_date,
        );
        let query = unsigned.query_string();
        let url = match query.is_empty() {
            true => format!("{}{path}", self.settings.api_url),
            false => format!("{}{path}?{query}", self.settings.api_url),
        };
        let mut sent: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        sent.push(("authorization", authorization.as_str()));
        let body = (!payload.is_empty()).then(|| ("application/xml", payload.into_bytes()));
        let (status, answer) = crate::http::exchange(
            &self.client,
            method,
            &url,
            &sent,
            body,
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let said = match quick_xml::de::from_str::<ErrorAnswer>(&text) {
            Ok(e) => format!("{}: {}", e.error.code, e.error.message),
            Err(_) => text.chars().take(200).collect(),
        };
        Err(match status {
            403 => format!(
                "HTTP 403: the credentials were refused (check dns_api_key_id and the secret access key): {said}"
            ),
            _ => format!("HTTP {status}: {said}"),
        })
    }

    fn parse<'de, T: Deserialize<'de>>(text: &'de str, what: &str) -> Result<T, String> {
        quick_xml::de::from_str(text).map_err(|e| format!("unreadable {what} answer: {e}"))
    }

    /// The hosted zone id for `fqdn`.
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
                ("dnsname".to_string(), name.clone()),
                ("maxitems".to_string(), "10".to_string()),
            ];
            let text = self
                .call("GET", &format!("{API}/hostedzonesbyname"), &query, None)
                .await?;
            let answer: ZonesByName = Self::parse(&text, "ListHostedZonesByName")?;
            let mut exact: Vec<&HostedZone> = answer
                .zones
                .zone
                .iter()
                .filter(|z| z.name.trim_end_matches('.').eq_ignore_ascii_case(name))
                .collect();
            exact.sort_by_key(|z| z.config.as_ref().is_some_and(|c| c.private));
            if let Some(zone) = exact.first() {
                let id = zone.id.trim_start_matches("/hostedzone/").to_string();
                lock(&self.zones).insert(fqdn.to_string(), id.clone());
                return Ok(id);
            }
        }
        Err(format!(
            "no hosted zone contains {fqdn} (tried {}; set dns_zone if one should)",
            candidates.join(", ")
        ))
    }

    /// The TXT set at `fqdn` now: its TTL and values (quoted, as Route 53 keeps them).
    async fn current(&self, zone: &str, fqdn: &str) -> Result<Option<(u32, Vec<String>)>, String> {
        let query = [
            ("name".to_string(), fqdn.to_string()),
            ("type".to_string(), "TXT".to_string()),
            ("maxitems".to_string(), "1".to_string()),
        ];
        let text = self
            .call(
                "GET",
                &format!("{API}/hostedzone/{zone}/rrset"),
                &query,
                None,
            )
            .await?;
        let answer: RecordSets = Self::parse(&text, "ListResourceRecordSets")?;
        Ok(answer
            .sets
            .set
            .into_iter()
            .find(|s| s.kind == "TXT" && s.name.eq_ignore_ascii_case(fqdn))
            .map(|s| {
                let values = s.records.record.into_iter().map(|r| r.value).collect();
                (s.ttl.unwrap_or(TTL), values)
            }))
    }

    async fn change(&self, fqdn: &str, value: &str, add: bool) -> Result<(), String> {
        let zone = self.zone_id(fqdn).await?;
        let quoted = format!("\"{value}\"");
        let (ttl, mut values) = self
            .current(&zone, fqdn)
            .await?
            .unwrap_or((TTL, Vec::new()));
        let before = values.clone();
        values.retain(|v| *v != quoted);
        if add {
            values.push(quoted);
        }
        let (action, ttl, values) = if !values.is_empty() {
            ("UPSERT", TTL, values)
        } else if !before.is_empty() {
            // DELETE must name the set exactly as it is.
            ("DELETE", ttl, before)
        } else {
            return Ok(());
        };
        let records: String = values
            .iter()
            .map(|v| {
                format!(
                    "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                    escape(v.as_str())
                )
            })
            .collect();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"{XMLNS}\"><ChangeBatch><Comment>certctl dns-01</Comment><Changes><Change><Action>{action}</Action><ResourceRecordSet><Name>{}</Name><Type>TXT</Type><TTL>{ttl}</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
            escape(fqdn)
        );
        let text = self
            .call(
                "POST",
                &format!("{API}/hostedzone/{zone}/rrset"),
                &[],
                Some(body),
            )
            .await?;
        let answer: ChangeAnswer = Self::parse(&text, "ChangeResourceRecordSets")?;
        if add {
            self.wait_insync(answer.info).await?;
        }
        Ok(())
    }

    /// Polls GetChange until the change is on all of Route 53's servers.
    async fn wait_insync(&self, mut info: ChangeInfo) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + INSYNC_WITHIN;
        let id = info.id.trim_start_matches("/change/").to_string();
        while info.status != "INSYNC" {
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "change {id} still {} after {}",
                    info.status,
                    humantime::format_duration(INSYNC_WITHIN)
                ));
            }
            tokio::time::sleep(INSYNC_POLL).await;
            let text = self
                .call("GET", &format!("{API}/change/{id}"), &[], None)
                .await?;
            let answer: ChangeAnswer = Self::parse(&text, "GetChange")?;
            info = answer.info;
        }
        Ok(())
    }
}

impl RecordApi for Route53Provider {
    const NAME: &'static str = "route53";

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers documented in the Route 53 API reference parse into what certctl reads.
    #[test]
    fn documented_answers_parse() {
        let zones = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListHostedZonesByNameResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <HostedZones>
    <HostedZone><Id>/hostedzone/Z222222VVVVVVV</Id><Name>example.com.</Name><CallerReference>a</CallerReference>
      <Config><Comment>private</Comment><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>3</ResourceRecordSetCount></HostedZone>
    <HostedZone><Id>/hostedzone/Z111111QQQQQQQ</Id><Name>example.com.</Name><CallerReference>b</CallerReference>
      <Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>9</ResourceRecordSetCount></HostedZone>
  </HostedZones>
  <DNSName>example.com</DNSName><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems>
</ListHostedZonesByNameResponse>"#;
        let parsed: ZonesByName = Route53Provider::parse(zones, "zones").expect("zones");
        assert_eq!(parsed.zones.zone.len(), 2);
        assert!(
            parsed.zones.zone[0]
                .config
                .as_ref()
                .expect("config")
                .private
        );
        assert_eq!(parsed.zones.zone[1].id, "/hostedzone/Z111111QQQQQQQ");

        let sets = r#"<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <ResourceRecordSets><ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>300</TTL>
    <ResourceRecords><ResourceRecord><Value>"a"</Value></ResourceRecord><ResourceRecord><Value>"b"</Value></ResourceRecord></ResourceRecords>
  </ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems>
</ListResourceRecordSetsResponse>"#;
        let parsed: RecordSets = Route53Provider::parse(sets, "sets").expect("sets");
        let set = &parsed.sets.set[0];
        assert_eq!((set.kind.as_str(), set.ttl), ("TXT", Some(300)));
        assert_eq!(set.records.record[1].value, "\"b\"");

        let error = r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>Tried to delete resource record set but it was not found</Message></Error><RequestId>x</RequestId></ErrorResponse>"#;
        let parsed: ErrorAnswer = Route53Provider::parse(error, "error").expect("error");
        assert_eq!(parsed.error.code, "InvalidChangeBatch");
        assert!(Route53Provider::parse::<ChangeAnswer>("<html>", "GetChange").is_err());
    }
}
