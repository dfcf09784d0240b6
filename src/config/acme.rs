//! ACME accounts and managed certificates: raw shapes and their validation.
//!
//! Secrets (EAB HMAC keys) are never written in the config itself: it names a file or an
//! environment variable, read here, and the value is kept in a [`Secret`] that never prints.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{KeyPath, parse_duration};

#[derive(Debug, Default, Deserialize)]
pub struct RawAcme {
    /// Upper bound for one certificate's whole issuance (a CA that stops answering).
    pub timeout: Option<String>,
    #[serde(default)]
    pub accounts: BTreeMap<String, RawAccount>,
}

#[derive(Debug, Deserialize)]
pub struct RawAccount {
    pub directory: String,
    #[serde(default)]
    pub contact: Vec<String>,
    #[serde(default)]
    pub agree_tos: bool,
    pub eab_kid: Option<String>,
    pub eab_hmac_key_file: Option<String>,
    pub eab_hmac_key_env: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawCertificate {
    pub name: String,
    pub domains: Vec<String>,
    pub account: Option<String>,
    pub key_type: Option<String>,
    #[serde(default)]
    pub reuse_key: bool,
    pub profile: Option<String>,
    pub renew_before: Option<String>,
    pub output_dir: Option<String>,
    pub challenge: Option<RawChallenge>,
    #[serde(default)]
    pub deploy: Vec<super::deploy::RawDeploy>,
}

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
}

/// A secret value (EAB key, webhook secret). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where an ACME CA lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    pub name: String,
    pub directory_url: String,
    pub contact: Vec<String>,
    pub agree_tos: bool,
    /// External Account Binding: key id and the HMAC key (raw bytes, decoded from base64url).
    pub eab: Option<(String, Secret)>,
    /// Extra trust anchor for the CA's own HTTPS (a private ACME server such as Pebble).
    pub ca_file: Option<PathBuf>,
}

/// Key algorithms for certificate keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyType {
    pub fn parse(text: &str) -> Option<KeyType> {
        Some(match text {
            "ecdsa-p256" => KeyType::EcdsaP256,
            "ecdsa-p384" => KeyType::EcdsaP384,
            "rsa2048" => KeyType::Rsa2048,
            "rsa3072" => KeyType::Rsa3072,
            "rsa4096" => KeyType::Rsa4096,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
        }
    }
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
    Dns01Exec { program: PathBuf, wait: Duration },
    /// dns-01 through RFC 2136 dynamic updates signed with TSIG.
    Dns01Rfc2136 { update: Rfc2136, wait: Duration },
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

/// A certificate certctl obtains and renews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedCert {
    pub name: String,
    pub domains: Vec<String>,
    pub account: String,
    pub key_type: KeyType,
    pub reuse_key: bool,
    pub profile: Option<String>,
    pub renew_before: Option<Duration>,
    pub output_dir: PathBuf,
    pub challenge: ChallengeConfig,
    /// Where the certificate is installed after each issuance, and how servers reload it.
    pub deploy: Vec<super::deploy::DeployTarget>,
}

/// Directory presets, as certbot and lego users know them.
pub fn directory_preset(name: &str) -> Option<&'static str> {
    Some(match name {
        "letsencrypt" => "https://acme-v02.api.letsencrypt.org/directory",
        "letsencrypt-staging" => "https://acme-staging-v02.api.letsencrypt.org/directory",
        "zerossl" => "https://acme.zerossl.com/v2/DV90",
        "google" => "https://dv.acme-v02.api.pki.goog/directory",
        "digicert" => "https://acme.digicert.com/v2/acme/directory/",
        "buypass" => "https://api.buypass.com/acme/directory",
        _ => return None,
    })
}

/// Presets whose CA requires External Account Binding.
fn requires_eab(preset: &str) -> bool {
    matches!(preset, "zerossl" | "google" | "digicert")
}

/// Collects validation problems as (key, message).
pub type Problems = Vec<(KeyPath, String)>;

/// Reads a secret that the config names by file (`<file_key>`) or environment variable
/// (`<env_key>`), never inline. Returns the key it came from (for later errors about its
/// content, which must never quote it) and its text; `None` when neither is set or on a problem
/// (both set, unreadable file, unset variable), which is reported.
pub(crate) fn read_secret(
    file: Option<&str>,
    env: Option<&str>,
    key: &KeyPath,
    (file_key, env_key): (&str, &str),
    base: &Path,
    problems: &mut Problems,
) -> Option<(KeyPath, String)> {
    match (file, env) {
        (Some(_), Some(_)) => {
            problems.push((
                key.clone().key(env_key),
                format!("set {file_key} or {env_key}, not both"),
            ));
            None
        }
        (Some(file), None) => {
            let path = super::resolve(base, file);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some((key.clone().key(file_key), text)),
                Err(e) => {
                    problems.push((
                        key.clone().key(file_key),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    None
                }
            }
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(text) => Some((key.clone().key(env_key), text)),
            Err(_) => {
                problems.push((
                    key.clone().key(env_key),
                    format!("environment variable {var} is not set"),
                ));
                None
            }
        },
        (None, None) => None,
    }
}

pub fn validate_accounts(
    raw: BTreeMap<String, RawAccount>,
    base: &Path,
    problems: &mut Problems,
) -> Vec<AccountConfig> {
    let mut out = Vec::new();
    for (name, acc) in raw {
        let key = KeyPath::default().key("acme").key("accounts").key(&name);
        let directory_url = match directory_preset(&acc.directory) {
            Some(url) => url.to_string(),
            None if acc.directory.starts_with("https://") => acc.directory.clone(),
            None => {
                problems.push((
                    key.clone().key("directory"),
                    format!(
                        "\"{}\" is neither a preset (letsencrypt, letsencrypt-staging, zerossl, google, digicert, buypass) nor an https:// URL",
                        acc.directory
                    ),
                ));
                continue;
            }
        };
        let hmac = read_secret(
            acc.eab_hmac_key_file.as_deref(),
            acc.eab_hmac_key_env.as_deref(),
            &key,
            ("eab_hmac_key_file", "eab_hmac_key_env"),
            base,
            problems,
        );
        let eab = match (&acc.eab_kid, hmac) {
            (Some(kid), Some((hkey, text))) => match decode_b64url(text.trim()) {
                Some(bytes) if !bytes.is_empty() => Some((kid.clone(), Secret::new(bytes))),
                _ => {
                    // Never echo the value: it is a secret.
                    problems.push((hkey, "the EAB HMAC key is not base64url".into()));
                    None
                }
            },
            (Some(_), None) => {
                if !problems
                    .iter()
                    .any(|(k, _)| k.to_string().starts_with(&key.to_string()))
                {
                    problems.push((
                        key.clone().key("eab_kid"),
                        "eab_kid needs eab_hmac_key_file or eab_hmac_key_env".into(),
                    ));
                }
                None
            }
            (None, Some((hkey, _))) => {
                problems.push((hkey, "an EAB HMAC key needs eab_kid".into()));
                None
            }
            (None, None) => None,
        };
        if eab.is_none() && requires_eab(&acc.directory) && acc.eab_kid.is_none() {
            problems.push((
                key.clone().key("eab_kid"),
                format!(
                    "{} requires External Account Binding: set eab_kid and eab_hmac_key_file",
                    acc.directory
                ),
            ));
        }
        let ca_file = acc.ca_file.as_ref().map(|f| super::resolve(base, f));
        if let Some(path) = &ca_file
            && let Err(e) = std::fs::metadata(path)
        {
            problems.push((
                key.clone().key("ca_file"),
                format!("cannot read {}: {e}", path.display()),
            ));
        }
        out.push(AccountConfig {
            name,
            directory_url,
            contact: acc.contact,
            agree_tos: acc.agree_tos,
            eab,
            ca_file,
        });
    }
    out
}

pub fn validate_certificates(
    raw: Vec<RawCertificate>,
    accounts: &[AccountConfig],
    state_dir: &Path,
    base: &Path,
    problems: &mut Problems,
) -> Vec<ManagedCert> {
    let mut out: Vec<ManagedCert> = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let key = KeyPath::default().key("certificate").index(i);
        let valid_name = !c.name.is_empty()
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !valid_name {
            problems.push((
                key.clone().key("name"),
                format!("\"{}\": use letters, digits, '-', '_' and '.'", c.name),
            ));
            continue;
        }
        if out.iter().any(|m| m.name == c.name) {
            problems.push((
                key.clone().key("name"),
                format!("\"{}\" is used twice", c.name),
            ));
        }
        if c.domains.is_empty() {
            problems.push((
                key.clone().key("domains"),
                "at least one domain is needed".into(),
            ));
        }
        for (d, domain) in c.domains.iter().enumerate() {
            let bare = domain.strip_prefix("*.").unwrap_or(domain);
            let ok = bare.parse::<std::net::IpAddr>().is_ok()
                || (!bare.is_empty()
                    && bare
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.')));
            if !ok {
                problems.push((
                    key.clone().key("domains").index(d),
                    format!("\"{domain}\" is not a domain name or IP address"),
                ));
            }
        }
        let account = match (&c.account, accounts) {
            (Some(a), _) if accounts.iter().any(|acc| &acc.name == a) => a.clone(),
            (Some(a), _) => {
                problems.push((
                    key.clone().key("account"),
                    format!("no [acme.accounts.{a}] is configured"),
                ));
                continue;
            }
            (None, [only]) => only.name.clone(),
            (None, _) => {
                problems.push((
                    key.clone().key("account"),
                    "name the account ([acme.accounts.NAME]) to use".into(),
                ));
                continue;
            }
        };
        let key_type = match c.key_type.as_deref() {
            None => KeyType::EcdsaP256,
            Some(t) => match KeyType::parse(t) {
                Some(k) => k,
                None => {
                    problems.push((
                        key.clone().key("key_type"),
                        format!("\"{t}\": use ecdsa-p256, ecdsa-p384, rsa2048, rsa3072 or rsa4096"),
                    ));
                    KeyType::EcdsaP256
                }
            },
        };
        let renew_before = c.renew_before.as_deref().and_then(|t| {
            parse_duration(t)
                .map_err(|e| problems.push((key.clone().key("renew_before"), e)))
                .ok()
        });
        let challenge =
            validate_challenge(c.challenge, &key.clone().key("challenge"), base, problems);
        let deploy = super::deploy::validate(c.deploy, &key, base, problems);
        let output_dir = c
            .output_dir
            .map(|d| super::resolve(base, &d))
            .unwrap_or_else(|| state_dir.join("certs").join(&c.name));
        out.push(ManagedCert {
            name: c.name,
            domains: c.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            account,
            key_type,
            reuse_key: c.reuse_key,
            profile: c.profile,
            renew_before,
            output_dir,
            challenge,
            deploy,
        });
    }
    out
}

fn validate_challenge(
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
            let wait = raw
                .dns_wait
                .as_deref()
                .map(|w| {
                    humantime::parse_duration(w).unwrap_or_else(|e| {
                        problems.push((key.clone().key("dns_wait"), format!("\"{w}\": {e}")));
                        Duration::ZERO
                    })
                })
                .unwrap_or(Duration::ZERO);
            let blank = ChallengeConfig::Dns01Exec {
                program: PathBuf::new(),
                wait,
            };
            match (raw.dns_provider.as_deref().unwrap_or("exec"), &raw.dns_exec) {
                ("exec", Some(program)) => ChallengeConfig::Dns01Exec {
                    program: super::resolve(base, program),
                    wait,
                },
                ("exec", None) => {
                    problems.push((
                        key.clone().key("dns_exec"),
                        "the exec provider needs dns_exec (a program called with present|cleanup FQDN VALUE)".into(),
                    ));
                    blank
                }
                ("rfc2136", _) => match validate_rfc2136(&raw, key, base, problems) {
                    Some(update) => ChallengeConfig::Dns01Rfc2136 { update, wait },
                    None => blank,
                },
                (other, _) => {
                    problems.push((
                        key.clone().key("dns_provider"),
                        format!("\"{other}\": the available dns-01 providers are exec and rfc2136"),
                    ));
                    blank
                }
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

/// Decodes base64url (with or without padding), as EAB keys are distributed.
fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes() {
        assert_eq!(decode_b64url("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_b64url("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_b64url("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(decode_b64url("+/8"), None);
        assert_eq!(decode_b64url("not base64!"), None);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
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
