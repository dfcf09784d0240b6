//! How a managed certificate proves ownership of its domains: the `challenge` table of a
//! `[[certificate]]`, and its validation (http-01, tls-alpn-01, dns-01 by exec or RFC 2136).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::KeyPath;
use super::secret::{Problems, Secret, read_secret};

#[derive(Debug, Deserialize)]
pub struct RawChallenge {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub listen: Option<String>,
    pub webroot: Option<String>,
    pub dns_provider: Option<String>,
    pub dns_exec: Option<String>,
    pub dns_wait: Option<String>,
    pub dns_server: Option<String>,
    pub dns_zone: Option<String>,
    pub tsig_key: Option<String>,
    pub tsig_algorithm: Option<String>,
    pub tsig_secret_file: Option<String>,
    pub tsig_secret_env: Option<String>,
    pub dns_api_url: Option<String>,
    pub dns_api_key_file: Option<String>,
    pub dns_api_key_env: Option<String>,
    pub dns_server_id: Option<String>,
    pub dns_alias: Option<String>,
    pub dns_api_key_id: Option<String>,
    pub dns_propagation: Option<String>,
    pub dns_resolvers: Option<Vec<String>>,
}

/// How ownership of the domains is proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeConfig {
    /// http-01 answered by certctl's own listener.
    Http01Standalone { listen: SocketAddr },
    /// http-01 answered by an existing web server serving this directory.
    Http01Webroot { webroot: PathBuf },
    /// tls-alpn-01 answered by certctl's own listener.
    TlsAlpn01 { listen: SocketAddr },
    /// dns-01 through a program called as `PROGRAM present|cleanup FQDN VALUE` (lego's exec).
    Dns01Exec { program: PathBuf, dns: DnsOptions },
    /// dns-01 through RFC 2136 dynamic updates signed with TSIG.
    Dns01Rfc2136 { update: Rfc2136, dns: DnsOptions },
    /// dns-01 through the PowerDNS Authoritative HTTP API.
    Dns01PowerDns { api: PowerDns, dns: DnsOptions },
    /// dns-01 through a DNS hosting provider's HTTP API (Cloudflare, Route 53, ...).
    Dns01Cloud { api: CloudDns, dns: DnsOptions },
}

/// The DNS hosting providers certctl speaks to over their HTTP APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudVendor {
    Cloudflare,
    Route53,
    DnsPod,
    AliDns,
    HuaweiDns,
    GoogleDns,
}

impl CloudVendor {
    pub const ALL: [CloudVendor; 6] = [
        CloudVendor::Cloudflare,
        CloudVendor::Route53,
        CloudVendor::DnsPod,
        CloudVendor::AliDns,
        CloudVendor::HuaweiDns,
        CloudVendor::GoogleDns,
    ];

    /// The `dns_provider` value.
    pub fn name(self) -> &'static str {
        match self {
            CloudVendor::Cloudflare => "cloudflare",
            CloudVendor::Route53 => "route53",
            CloudVendor::DnsPod => "dnspod",
            CloudVendor::AliDns => "alidns",
            CloudVendor::HuaweiDns => "huaweidns",
            CloudVendor::GoogleDns => "gcloud",
        }
    }

    /// The public API endpoint, used unless `dns_api_url` says otherwise.
    pub fn default_url(self) -> &'static str {
        match self {
            CloudVendor::Cloudflare => "https://api.cloudflare.com/client/v4",
            CloudVendor::Route53 => "https://route53.amazonaws.com",
            CloudVendor::DnsPod => "https://dnspod.tencentcloudapi.com",
            CloudVendor::AliDns => "https://alidns.aliyuncs.com",
            CloudVendor::HuaweiDns => "https://dns.myhuaweicloud.com",
            CloudVendor::GoogleDns => "https://dns.googleapis.com/dns/v1",
        }
    }

    /// What the vendor calls the public half of the credential (`dns_api_key_id`), if it has
    /// one, and the secret half (`dns_api_key_file`/`_env`).
    fn credential_names(self) -> (Option<&'static str>, &'static str) {
        match self {
            CloudVendor::Cloudflare => (None, "an API token with Zone:Read and DNS:Edit"),
            CloudVendor::Route53 => (Some("the access key id"), "the secret access key"),
            CloudVendor::DnsPod => (Some("the SecretId"), "the SecretKey"),
            CloudVendor::AliDns => (Some("the AccessKey ID"), "the AccessKey secret"),
            CloudVendor::HuaweiDns => (Some("the access key (AK)"), "the secret access key (SK)"),
            CloudVendor::GoogleDns => (None, "a service account's JSON key"),
        }
    }
}

/// How to reach a DNS hosting provider's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudDns {
    pub vendor: CloudVendor,
    /// The API's base URL, without a trailing slash.
    pub api_url: String,
    /// The public half of the credential (AWS access key id, Tencent SecretId, Alibaba
    /// AccessKey ID); Cloudflare's token has none.
    pub key_id: Option<String>,
    /// The secret half (Cloudflare API token, AWS secret access key, ...).
    pub secret: Secret,
    /// The zone to change; found through the API when not set.
    pub zone: Option<String>,
    /// Google Cloud DNS: the service account whose JSON key `secret` is the private key of.
    pub google: Option<GoogleAccount>,
}

/// The public fields of a Google service account key (the JSON file `gcloud iam
/// service-accounts keys create` writes); its `private_key` is [`CloudDns::secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleAccount {
    /// The project whose managed zones are changed.
    pub project_id: String,
    /// The account's e-mail address, the JWT's issuer.
    pub client_email: String,
    /// The key's id, sent as the JWT's `kid`.
    pub private_key_id: Option<String>,
    /// Where the signed JWT is exchanged for an access token.
    pub token_uri: String,
}

/// What every dns-01 provider shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsOptions {
    /// With `check`, the most time the propagation check may take; otherwise how long to
    /// sleep after publishing before asking the CA to validate.
    pub wait: Duration,
    /// Ask every authoritative server until it serves each value (`dns_propagation =
    /// "check"`, the default) instead of only sleeping `wait`.
    pub check: bool,
    /// Recursive resolvers that find the zone's name servers (empty: /etc/resolv.conf's).
    pub resolvers: Vec<SocketAddr>,
    /// CNAME alias mode (acme.sh's challenge alias): `_acme-challenge.<domain>` is a CNAME to
    /// this name, in a zone the provider may change, and the records are written there.
    pub alias: Option<String>,
}

/// How long the propagation check may take unless `dns_wait` says otherwise (lego: 60 s; DNS
/// providers that replicate to many sites can take a minute or two).
pub const DEFAULT_CHECK_BOUND: Duration = Duration::from_secs(120);

/// Where the PowerDNS API is and how to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerDns {
    /// The API's base URL (the server's `webserver-address`/`-port`), e.g. `http://127.0.0.1:8081`.
    pub api_url: String,
    /// `X-API-Key` (the server's `api-key`).
    pub api_key: Secret,
    /// The server id in `/api/v1/servers/<id>`: `localhost` unless the server says otherwise.
    pub server_id: String,
    /// The zone to change; found by listing the server's zones when not set.
    pub zone: Option<String>,
}

/// Where and how RFC 2136 updates are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc2136 {
    /// The primary name server, `host` or `host:port` (port 53 when left out).
    pub server: String,
    /// The zone to update; found with an SOA query at `server` when not set.
    pub zone: Option<String>,
    /// The TSIG key's name, as the server knows it.
    pub key_name: String,
    pub algorithm: TsigAlgorithm,
    pub secret: Secret,
}

/// TSIG MAC algorithms (RFC 8945) that certctl can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithm {
    pub fn parse(text: &str) -> Option<TsigAlgorithm> {
        Some(
            match text.trim_end_matches('.').to_ascii_lowercase().as_str() {
                "hmac-sha256" => TsigAlgorithm::HmacSha256,
                "hmac-sha384" => TsigAlgorithm::HmacSha384,
                "hmac-sha512" => TsigAlgorithm::HmacSha512,
                _ => return None,
            },
        )
    }
}

/// The `challenge` table of a certificate, checked (problems are collected, not returned).
pub(super) fn validate_challenge(
    raw: Option<RawChallenge>,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> ChallengeConfig {
    let raw = raw.unwrap_or(RawChallenge {
        kind: None,
        listen: None,
        webroot: None,
        dns_provider: None,
        dns_exec: None,
        dns_wait: None,
        dns_server: None,
        dns_zone: None,
        tsig_key: None,
        tsig_algorithm: None,
        tsig_secret_file: None,
        tsig_secret_env: None,
        dns_api_url: None,
        dns_api_key_file: None,
        dns_api_key_env: None,
        dns_server_id: None,
        dns_alias: None,
        dns_api_key_id: None,
        dns_propagation: None,
        dns_resolvers: None,
    });
    let listen = |default: &str, problems: &mut Problems| -> SocketAddr {
        let text = raw.listen.as_deref().unwrap_or(default);
        let text = if text.starts_with(':') {
            format!("0.0.0.0{text}")
        } else {
            text.to_string()
        };
        text.parse().unwrap_or_else(|_| {
            problems.push((
                key.clone().key("listen"),
                format!("\"{text}\" is not an address such as 0.0.0.0:80 or [::]:80"),
            ));
            SocketAddr::from(([0, 0, 0, 0], 80))
        })
    };
    if raw.dns_alias.is_some() && raw.kind.as_deref() != Some("dns-01") {
        problems.push((
            key.clone().key("dns_alias"),
            "applies only to type = \"dns-01\"".into(),
        ));
    }
    match raw.kind.as_deref().unwrap_or("http-01") {
        "http-01" => match &raw.webroot {
            Some(dir) => ChallengeConfig::Http01Webroot {
                webroot: super::resolve(base, dir),
            },
            None => ChallengeConfig::Http01Standalone {
                listen: listen("0.0.0.0:80", problems),
            },
        },
        "tls-alpn-01" => ChallengeConfig::TlsAlpn01 {
            listen: listen("0.0.0.0:443", problems),
        },
        "dns-01" => {
            let check = match raw.dns_propagation.as_deref().unwrap_or("check") {
                "check" => true,
                "sleep" => false,
                other => {
                    problems.push((
                        key.clone().key("dns_propagation"),
                        format!("\"{other}\": use check (ask every authoritative server) or sleep (wait dns_wait)"),
                    ));
                    true
                }
            };
            let wait = raw
                .dns_wait
                .as_deref()
                .map(|w| {
                    humantime::parse_duration(w).unwrap_or_else(|e| {
                        problems.push((key.clone().key("dns_wait"), format!("\"{w}\": {e}")));
                        Duration::ZERO
                    })
                })
                .unwrap_or(if check {
                    DEFAULT_CHECK_BOUND
                } else {
                    Duration::ZERO
                });
            let resolvers = raw
                .dns_resolvers
                .iter()
                .flatten()
                .filter_map(|r| {
                    let parsed = r.parse::<SocketAddr>().or_else(|_| {
                        r.parse::<std::net::IpAddr>()
                            .map(|ip| SocketAddr::new(ip, 53))
                    });
                    match parsed {
                        Ok(addr) => Some(addr),
                        Err(_) => {
                            problems.push((
                                key.clone().key("dns_resolvers"),
                                format!(
                                    "\"{r}\" is not an address such as 192.0.2.53 or 192.0.2.53:53"
                                ),
                            ));
                            None
                        }
                    }
                })
                .collect();
            if raw.dns_resolvers.is_some() && !check {
                problems.push((
                    key.clone().key("dns_resolvers"),
                    "applies only to dns_propagation = \"check\"".into(),
                ));
            }
            let alias = raw.dns_alias.as_deref().map(|a| {
                let name = a.trim().trim_end_matches('.').to_ascii_lowercase();
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                };
                if name.split('.').count() < 2 || !name.split('.').all(label_ok) {
                    problems.push((
                        key.clone().key("dns_alias"),
                        format!("\"{a}\" is not a DNS name such as _acme-challenge.validation.example.net"),
                    ));
                }
                format!("{name}.")
            });
            let dns = DnsOptions {
                wait,
                check,
                resolvers,
                alias,
            };
            let blank = ChallengeConfig::Dns01Exec {
                program: PathBuf::new(),
                dns: dns.clone(),
            };
            match (raw.dns_provider.as_deref().unwrap_or("exec"), &raw.dns_exec) {
                ("exec", Some(program)) => ChallengeConfig::Dns01Exec {
                    program: super::resolve(base, program),
                    dns,
                },
                ("exec", None) => {
                    problems.push((
                        key.clone().key("dns_exec"),
                        "the exec provider needs dns_exec (a program called with present|cleanup FQDN VALUE)".into(),
                    ));
                    blank
                }
                ("rfc2136", _) => match validate_rfc2136(&raw, key, base, problems) {
                    Some(update) => ChallengeConfig::Dns01Rfc2136 { update, dns },
                    None => blank,
                },
                ("powerdns", _) => match validate_powerdns(&raw, key, base, problems) {
                    Some(api) => ChallengeConfig::Dns01PowerDns { api, dns },
                    None => blank,
                },
                (other, _) => match CloudVendor::ALL.into_iter().find(|v| v.name() == other) {
                    Some(vendor) => match validate_cloud(vendor, &raw, key, base, problems) {
                        Some(api) => ChallengeConfig::Dns01Cloud { api, dns },
                        None => blank,
                    },
                    None => {
                        problems.push((
                            key.clone().key("dns_provider"),
                            format!("\"{other}\": the available dns-01 providers are exec, rfc2136, powerdns, cloudflare, route53, dnspod, alidns, huaweidns and gcloud"),
                        ));
                        blank
                    }
                },
            }
        }
        other => {
            problems.push((
                key.clone().key("type"),
                format!("\"{other}\": use http-01, tls-alpn-01 or dns-01"),
            ));
            ChallengeConfig::Http01Standalone {
                listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            }
        }
    }
}

/// The RFC 2136 settings: server, optional zone, and the TSIG key. The secret comes from a file
/// (a bare base64 secret, or a BIND `key` clause as `tsig-keygen` writes it) or an environment
/// variable, never from the config itself, and is never echoed in an error.
fn validate_rfc2136(
    raw: &RawChallenge,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> Option<Rfc2136> {
    let before = problems.len();
    let server = raw.dns_server.clone().unwrap_or_else(|| {
        problems.push((
            key.clone().key("dns_server"),
            "the rfc2136 provider needs dns_server (the primary name server, host or host:port)"
                .into(),
        ));
        String::new()
    });
    let key_name = raw.tsig_key.clone().unwrap_or_else(|| {
        problems.push((
            key.clone().key("tsig_key"),
            "the rfc2136 provider needs tsig_key (the TSIG key name the server knows)".into(),
        ));
        String::new()
    });
    let text = read_secret(
        raw.tsig_secret_file.as_deref(),
        raw.tsig_secret_env.as_deref(),
        key,
        ("tsig_secret_file", "tsig_secret_env"),
        base,
        problems,
    );
    if raw.tsig_secret_file.is_none() && raw.tsig_secret_env.is_none() {
        problems.push((
            key.clone().key("tsig_secret_file"),
            "the rfc2136 provider needs tsig_secret_file or tsig_secret_env".into(),
        ));
    }
    let (secret, file_algorithm) = match text {
        Some((at, text)) => match parse_tsig_secret(&text) {
            Some((secret, algorithm)) => (Some(secret), algorithm),
            None => {
                // Never echo the value: it is a secret.
                problems.push((
                    at,
                    "the TSIG secret is neither base64 nor a BIND key clause with a base64 secret"
                        .into(),
                ));
                (None, None)
            }
        },
        None => (None, None),
    };
    let algorithm = match raw.tsig_algorithm.as_deref().or(file_algorithm.as_deref()) {
        None => TsigAlgorithm::HmacSha256,
        Some(text) => TsigAlgorithm::parse(text).unwrap_or_else(|| {
            problems.push((
                key.clone().key("tsig_algorithm"),
                format!("\"{text}\": use hmac-sha256, hmac-sha384 or hmac-sha512"),
            ));
            TsigAlgorithm::HmacSha256
        }),
    };
    let secret = secret?;
    (problems.len() == before).then(|| Rfc2136 {
        server,
        zone: raw.dns_zone.clone(),
        key_name,
        algorithm,
        secret,
    })
}

/// The PowerDNS settings: the API's URL and key (from a file or the environment, never the
/// config itself), the server id and an optional zone.
fn validate_powerdns(
    raw: &RawChallenge,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> Option<PowerDns> {
    let before = problems.len();
    let api_url = api_url(raw, key, problems, None, "http://127.0.0.1:8081");
    let api_key = read_api_key(
        raw,
        key,
        base,
        problems,
        ("powerdns", "the server's api-key"),
    );
    let server_id = raw
        .dns_server_id
        .clone()
        .unwrap_or_else(|| "localhost".into());
    if server_id.is_empty()
        || !server_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        problems.push((
            key.clone().key("dns_server_id"),
            format!("\"{server_id}\" is not a server id (PowerDNS calls its own \"localhost\")"),
        ));
    }
    let api_key = api_key?;
    (problems.len() == before).then(|| PowerDns {
        api_url,
        api_key,
        server_id,
        zone: raw.dns_zone.clone(),
    })
}

/// An API key or token from `dns_api_key_file`/`dns_api_key_env`: visible ASCII, never echoed.
fn read_api_key(
    raw: &RawChallenge,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
    (provider, needs): (&str, &str),
) -> Option<Secret> {
    if raw.dns_api_key_file.is_none() && raw.dns_api_key_env.is_none() {
        problems.push((
            key.clone().key("dns_api_key_file"),
            format!("the {provider} provider needs dns_api_key_file or dns_api_key_env ({needs})"),
        ));
    }
    read_secret(
        raw.dns_api_key_file.as_deref(),
        raw.dns_api_key_env.as_deref(),
        key,
        ("dns_api_key_file", "dns_api_key_env"),
        base,
        problems,
    )
    .and_then(|(at, text)| {
        let text = text.trim().to_string();
        if text.is_empty() || !text.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            // Never echo the key.
            problems.push((at, "an API key is visible ASCII without spaces".into()));
            None
        } else {
            Some(Secret::new(text.into_bytes()))
        }
    })
}

/// `dns_api_url`, checked: an http(s) URL without a trailing slash.
fn api_url(
    raw: &RawChallenge,
    key: &KeyPath,
    problems: &mut Problems,
    default: Option<&str>,
    example: &str,
) -> String {
    match raw.dns_api_url.as_deref().or(default) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            url.trim_end_matches('/').to_string()
        }
        Some(_) => {
            problems.push((
                key.clone().key("dns_api_url"),
                format!("must be an http:// or https:// URL (e.g. {example})"),
            ));
            String::new()
        }
        None => {
            problems.push((
                key.clone().key("dns_api_url"),
                format!(
                    "the powerdns provider needs dns_api_url (the server's API, e.g. {example})"
                ),
            ));
            String::new()
        }
    }
}

/// A DNS hosting provider's settings: endpoint (the vendor's unless `dns_api_url` is set),
/// credential and optional zone.
fn validate_cloud(
    vendor: CloudVendor,
    raw: &RawChallenge,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> Option<CloudDns> {
    let before = problems.len();
    let api_url = api_url(
        raw,
        key,
        problems,
        Some(vendor.default_url()),
        vendor.default_url(),
    );
    let (id_name, secret_name) = vendor.credential_names();
    let key_id = match (id_name, raw.dns_api_key_id.as_deref()) {
        (Some(_), Some(id)) if !id.trim().is_empty() => Some(id.trim().to_string()),
        (Some(what), _) => {
            problems.push((
                key.clone().key("dns_api_key_id"),
                format!(
                    "the {} provider needs dns_api_key_id ({what})",
                    vendor.name()
                ),
            ));
            None
        }
        (None, Some(_)) => {
            problems.push((
                key.clone().key("dns_api_key_id"),
                format!("the {} provider takes no key id: its token is dns_api_key_file or dns_api_key_env", vendor.name()),
            ));
            None
        }
        (None, None) => None,
    };
    if raw.dns_server_id.is_some() {
        problems.push((
            key.clone().key("dns_server_id"),
            "applies only to dns_provider = \"powerdns\"".into(),
        ));
    }
    let (secret, google) = if vendor == CloudVendor::GoogleDns {
        let (at, text) = read_secret(
            raw.dns_api_key_file.as_deref(),
            raw.dns_api_key_env.as_deref(),
            key,
            ("dns_api_key_file", "dns_api_key_env"),
            base,
            problems,
        )
        .or_else(|| {
            if raw.dns_api_key_file.is_none() && raw.dns_api_key_env.is_none() {
                problems.push((
                    key.clone().key("dns_api_key_file"),
                    format!("the gcloud provider needs dns_api_key_file or dns_api_key_env ({secret_name})"),
                ));
            }
            None
        })?;
        match google_account(&text) {
            Ok((secret, account)) => (secret, Some(account)),
            Err(e) => {
                problems.push((at, e));
                return None;
            }
        }
    } else {
        (
            read_api_key(raw, key, base, problems, (vendor.name(), secret_name))?,
            None,
        )
    };
    (problems.len() == before).then(|| CloudDns {
        vendor,
        api_url,
        key_id,
        secret,
        zone: raw.dns_zone.clone(),
        google,
    })
}

/// A Google service account key (JSON): its private key and public fields, checked without
/// ever echoing the text (serde_json's errors carry only a line and column).
fn google_account(text: &str) -> Result<(Secret, GoogleAccount), String> {
    #[derive(serde::Deserialize)]
    struct Key {
        #[serde(rename = "type")]
        kind: Option<String>,
        project_id: Option<String>,
        private_key_id: Option<String>,
        private_key: Option<String>,
        client_email: Option<String>,
        token_uri: Option<String>,
    }
    let key: Key =
        serde_json::from_str(text).map_err(|e| format!("not a service account's JSON key: {e}"))?;
    if key.kind.as_deref() != Some("service_account") {
        return Err(format!(
            "a service account's JSON key has \"type\": \"service_account\", this one {}",
            key.kind
                .map(|k| format!("has {k:?} (gcloud auth's user credentials are not accepted)"))
                .unwrap_or_else(|| "has none".into())
        ));
    }
    let field = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("the service account key has no {name}"))
    };
    let private_key = field(key.private_key, "private_key")?;
    if !private_key.contains("-----BEGIN PRIVATE KEY-----") {
        return Err("the service account key's private_key is not a PKCS#8 PEM key".into());
    }
    let account = GoogleAccount {
        project_id: field(key.project_id, "project_id")?,
        client_email: field(key.client_email, "client_email")?,
        private_key_id: key.private_key_id.filter(|k| !k.is_empty()),
        token_uri: key
            .token_uri
            .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
    };
    if !account.token_uri.starts_with("https://") && !account.token_uri.starts_with("http://") {
        return Err("the service account key's token_uri is not an http(s) URL".into());
    }
    Ok((Secret::new(private_key.into_bytes()), account))
}

/// A TSIG secret: bare base64, or a BIND `key "name" { algorithm ...; secret "..."; };` clause,
/// from which the algorithm is taken too.
fn parse_tsig_secret(text: &str) -> Option<(Secret, Option<String>)> {
    use base64::Engine;
    // Statements inside the clause: `algorithm hmac-sha256;` and `secret "...";`.
    let statement = |word: &str| -> Option<String> {
        text.split(['{', ';', '}']).find_map(|part| {
            let rest = part.trim().strip_prefix(word)?;
            rest.starts_with(char::is_whitespace)
                .then(|| rest.trim().trim_matches('"').to_string())
        })
    };
    let (b64, algorithm) = if text.contains('{') {
        (statement("secret")?, statement("algorithm"))
    } else {
        (text.trim().to_string(), None)
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (!bytes.is_empty()).then(|| (Secret::new(bytes), algorithm))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Google key is checked field by field; errors name the field, never a value.
    #[test]
    fn google_service_account_keys() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        type Edit<'a> = &'a dyn Fn(&mut serde_json::Value);
        let key = |edit: Edit| {
            let mut v = serde_json::json!({
                "type": "service_account",
                "project_id": "proj-1",
                "private_key_id": "abc",
                "private_key": pem,
                "client_email": "dns@proj-1.iam.gserviceaccount.com",
            });
            edit(&mut v);
            google_account(&v.to_string())
        };
        let (secret, account) = key(&|_| {}).expect("valid");
        assert_eq!(secret.expose(), pem.as_bytes());
        assert_eq!(account.project_id, "proj-1");
        assert_eq!(account.private_key_id.as_deref(), Some("abc"));
        assert_eq!(account.token_uri, "https://oauth2.googleapis.com/token");
        let cases: [(Edit, &str); 5] = [
            (
                &|v| v["type"] = "authorized_user".into(),
                "has \"authorized_user\" (gcloud auth's user credentials are not accepted)",
            ),
            (&|v| v["client_email"] = "".into(), "has no client_email"),
            (
                &|v| {
                    v.as_object_mut().map(|o| o.remove("project_id"));
                },
                "has no project_id",
            ),
            (
                &|v| v["private_key"] = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".into(),
                "private_key is not a PKCS#8 PEM key",
            ),
            (
                &|v| v["token_uri"] = "file:///etc/passwd".into(),
                "token_uri is not an http(s) URL",
            ),
        ];
        for (edit, want) in cases {
            let err = key(edit).expect_err(want);
            assert!(err.contains(want), "{want:?} not in {err}");
            assert!(!err.contains("MIIEvQ"), "{err}");
        }
        let err = google_account("{\"type\": \"service_account\", \"private_key\": \"MIIEvQ")
            .expect_err("cut");
        assert!(
            err.starts_with("not a service account's JSON key: EOF while parsing"),
            "{err}"
        );
        assert!(!err.contains("MIIEvQ"), "{err}");
    }

    #[test]
    fn tsig_secrets_bare_or_as_bind_key_clauses() {
        let (secret, algorithm) = parse_tsig_secret("aGVsbG8=\n").expect("bare");
        assert_eq!(secret.expose(), b"hello");
        assert_eq!(algorithm, None);
        let clause =
            "key \"my-secret-key\" {\n\talgorithm hmac-sha512;\n\tsecret \"aGVsbG8=\";\n};\n";
        let (secret, algorithm) = parse_tsig_secret(clause).expect("clause");
        assert_eq!(secret.expose(), b"hello");
        assert_eq!(algorithm.as_deref(), Some("hmac-sha512"));
        assert!(parse_tsig_secret("key \"k\" { algorithm hmac-sha256; };").is_none());
        assert!(parse_tsig_secret("not base64!").is_none());
        assert!(parse_tsig_secret("").is_none());
        assert_eq!(
            TsigAlgorithm::parse("HMAC-SHA384."),
            Some(TsigAlgorithm::HmacSha384)
        );
        assert_eq!(TsigAlgorithm::parse("hmac-md5"), None);
    }
}
