//! dns-01 through Google Cloud DNS (API v1), authenticated as a service account, as lego's
//! `gcloud` provider and cert-manager's `cloudDNS` solver do.
//!
//! The service account's JSON key signs a JWT (RS256) that its `token_uri` exchanges for an
//! OAuth 2.0 access token (RFC 7523), kept until a minute before it expires. The managed zone is
//! the public one whose `dnsName` is `dns_zone` or the record's longest parent. Google keeps one
//! record set per name and type and changes it only through a `Change` that deletes the
//! current set exactly as it is and adds its replacement, so a value is added or removed by
//! rewriting the set; the change is then polled until Google reports it `done`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::dns01::{RecordApi, lock, zone_candidates};
use super::signing::{jwt_rs256, uri_encode};
use crate::config::acme::{CloudDns, GoogleAccount};

/// lego's default TTL for Google Cloud DNS.
const TTL: u32 = 120;
const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// Read-write access to Cloud DNS, and nothing else.
const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
/// How long a change may stay `pending` (Google applies most within seconds).
const CHANGE_WAIT: Duration = Duration::from_secs(60);

pub struct GoogleDnsProvider {
    settings: CloudDns,
    client: crate::http::HttpClient,
    timeout: Duration,
    /// The access token and when to stop using it.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// Managed zone names by record name.
    zones: Mutex<HashMap<String, String>>,
}

impl GoogleDnsProvider {
    pub fn new(settings: CloudDns) -> GoogleDnsProvider {
        GoogleDnsProvider {
            settings,
            client: crate::http::client(),
            timeout: Duration::from_secs(30),
            token: tokio::sync::Mutex::new(None),
            zones: Mutex::new(HashMap::new()),
        }
    }

    fn account(&self) -> Result<&GoogleAccount, String> {
        self.settings
            .google
            .as_ref()
            .ok_or_else(|| "no service account key was configured".to_string())
    }

    /// A valid access token: the cached one, or a fresh one for a newly signed JWT.
    async fn access_token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let account = self.account()?;
        let now = chrono::Utc::now().timestamp();
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &account.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": account.client_email,
            "scope": SCOPE,
            "aud": account.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jwt_rs256(
            &header.to_string(),
            &claims.to_string(),
            self.settings.secret.expose(),
        )
        .map_err(|e| format!("service account {}: {e}", account.client_email))?;
        let form = format!(
            "grant_type={}&assertion={assertion}",
            uri_encode("urn:ietf:params:oauth:grant-type:jwt-bearer", false)
        );
        let (status, answer) = crate::http::exchange(
            &self.client,
            "POST",
            &account.token_uri,
            &[],
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| format!("token request: {e}"))?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let token = parsed.get("access_token").and_then(Value::as_str);
        match (status, token) {
            (200, Some(token)) => {
                let lifetime = parsed
                    .get("expires_in")
                    .and_then(Value::as_u64)
                    .unwrap_or(3600);
                let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60));
                *cached = Some((token.to_string(), until));
                Ok(token.to_string())
            }
            _ => {
                let text = |k: &str| parsed.get(k).and_then(Value::as_str).unwrap_or_default();
                let why = match text("error") {
                    "" => snippet(&answer),
                    code => format!("{code}: {}", text("error_description")),
                };
                Err(format!(
                    "token request to {} for {} refused, HTTP {status}: {why} (check that the \
                     service account key in dns_api_key_file is current)",
                    account.token_uri, account.client_email
                ))
            }
        }
    }

    /// One authorized call under `projects/<project>`: the JSON answer, or Google's error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let token = self.access_token().await?;
        let url = format!(
            "{}/projects/{}{path}",
            self.settings.api_url,
            uri_encode(&self.account()?.project_id, false)
        );
        let bearer = format!("Bearer {token}");
        let (status, answer) = crate::http::exchange(
            &self.client,
            method,
            &url,
            &[("authorization", bearer.as_str())],
            body.map(|b| ("application/json", b.to_string().into_bytes())),
            MAX_ANSWER,
            self.timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
        let parsed: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if (200..300).contains(&status) && parsed.is_object() {
            return Ok(parsed);
        }
        // {"error": {"code": 403, "message": "...", "errors": [{"reason": "forbidden"}]}}
        let error = parsed.get("error");
        let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
        let reason = error
            .and_then(|e| e.pointer("/errors/0/reason"))
            .and_then(Value::as_str);
        match message {
            Some(message) => {
                let hint = if status == 401 || status == 403 {
                    " (the service account needs the DNS Administrator role, roles/dns.admin, on the project)"
                } else {
                    ""
                };
                Err(format!(
                    "HTTP {status}: {}{message}{hint}",
                    reason.map(|r| format!("{r}: ")).unwrap_or_default()
                ))
            }
            None => Err(format!("HTTP {status}: {}", snippet(&answer))),
        }
    }

    /// The managed zone (its name, as the API addresses it) that holds `fqdn`.
    async fn zone(&self, fqdn: &str) -> Result<String, String> {
        if let Some(name) = lock(&self.zones).get(fqdn) {
            return Ok(name.clone());
        }
        let candidates = match &self.settings.zone {
            Some(zone) => vec![zone.trim_end_matches('.').to_ascii_lowercase()],
            None => zone_candidates(fqdn),
        };
        for dns_name in &candidates {
            let path = format!(
                "/managedZones?dnsName={}",
                uri_encode(&format!("{dns_name}."), false)
            );
            let found = self.call("GET", &path, None).await?;
            let zone = found
                .get("managedZones")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|z| {
                    // A private zone answers only inside its VPC networks: not the CA's view.
                    z.get("visibility")
                        .and_then(Value::as_str)
                        .unwrap_or("public")
                        == "public"
                })
                .find(|z| {
                    z.get("dnsName")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(dns_name))
                })
                .and_then(|z| z.get("name").and_then(Value::as_str));
            if let Some(name) = zone {
                lock(&self.zones).insert(fqdn.to_string(), name.to_string());
                return Ok(name.to_string());
            }
        }
        Err(format!(
            "no public managed zone in project {} contains {fqdn} (tried {}; set dns_zone if one should)",
            self.account()?.project_id,
            candidates.join(", ")
        ))
    }

    async fn change(&self, fqdn: &str, value: &str, add: bool) -> Result<(), String> {
        let zone = uri_encode(&self.zone(fqdn).await?, false);
        let name = format!("{}.", fqdn.trim_end_matches('.'));
        let path = format!(
            "/managedZones/{zone}/rrsets?name={}&type=TXT",
            uri_encode(&name, false)
        );
        let found = self.call("GET", &path, None).await?;
        let current = found
            .get("rrsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| {
                s.get("type").and_then(Value::as_str) == Some("TXT")
                    && s.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
            })
            .cloned();
        let quoted = format!("\"{value}\"");
        let present: Vec<String> = current
            .as_ref()
            .and_then(|s| s.get("rrdatas"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(String::from))
            .collect();
        if present.contains(&quoted) == add {
            // Already there, or already gone.
            return Ok(());
        }
        let mut values: Vec<String> = present.into_iter().filter(|r| *r != quoted).collect();
        if add {
            values.push(quoted);
        }
        let mut change = json!({});
        if let Some(current) = current {
            // The deletion must match the set exactly (ttl included), or Google refuses it.
            change["deletions"] = json!([current]);
        }
        if !values.is_empty() {
            change["additions"] =
                json!([{"name": name, "type": "TXT", "ttl": TTL, "rrdatas": values}]);
        }
        let changes = format!("/managedZones/{zone}/changes");
        let mut answer = self.call("POST", &changes, Some(change)).await?;
        let started = Instant::now();
        loop {
            match answer.get("status").and_then(Value::as_str) {
                Some("done") => return Ok(()),
                Some("pending") if started.elapsed() < CHANGE_WAIT => {}
                Some("pending") => {
                    return Err(format!(
                        "change still pending after {}s",
                        CHANGE_WAIT.as_secs()
                    ));
                }
                other => return Err(format!("change answered with status {other:?}")),
            }
            let Some(id) = answer.get("id").and_then(Value::as_str) else {
                return Err("a pending change came back without an id".into());
            };
            tokio::time::sleep(Duration::from_millis(500)).await;
            answer = self
                .call("GET", &format!("{changes}/{}", uri_encode(id, false)), None)
                .await?;
        }
    }
}

fn snippet(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer).chars().take(200).collect()
}

impl RecordApi for GoogleDnsProvider {
    const NAME: &'static str = "gcloud";

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
