//! ACME accounts and managed certificates: raw shapes and their validation. How a certificate
//! proves its domains is `challenge.rs`; how secrets are read, `secret.rs`.
//!
//! Secrets (EAB HMAC keys) are never written in the config itself: it names a file or an
//! environment variable, read there, and the value is kept in a [`Secret`] that never prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use super::challenge::{
    ChallengeConfig, CloudDns, CloudVendor, DnsOptions, GoogleAccount, PowerDns, Rfc2136,
    TsigAlgorithm,
};
use super::challenge::{RawChallenge, validate_challenge};
pub use super::secret::{Problems, Secret};
use super::secret::{decode_b64url, read_secret};
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
