//! The config file exactly as written: serde shapes with every value still a string.
//!
//! Nothing is validated here. Keeping values raw lets [`super::validate`] check all of them and
//! report every mistake at once instead of stopping at the first.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub scan: RawScan,
    #[serde(default)]
    pub alerts: super::alerts::RawAlerts,
    #[serde(default)]
    pub endpoint: Vec<RawEndpoint>,
    #[serde(default)]
    pub files: Vec<RawFiles>,
    #[serde(default)]
    pub acme: super::acme::RawAcme,
    #[serde(default)]
    pub certificate: Vec<super::acme::RawCertificate>,
    #[serde(default)]
    pub webhook: Vec<super::alerts::RawWebhook>,
    #[serde(default)]
    pub daemon: super::daemon::RawDaemon,
    #[serde(default)]
    pub renew: super::daemon::RawRenew,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub discovery: super::discover::RawDiscovery,
    #[serde(default)]
    pub discover: Vec<super::discover::RawDiscoverJob>,
    pub fleet: Option<super::fleet::RawFleet>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawPolicy {
    /// "1.2" (default) or "1.3": the lowest TLS version an endpoint may offer at best.
    pub min_tls: Option<String>,
    /// "warning" (default) or "critical": how bad falling short of `min_tls` is.
    pub min_tls_severity: Option<String>,
    /// "warning" (default) or "critical": how bad an endpoint that speaks only TLS 1.0/1.1
    /// (or SSLv3) is.
    pub legacy_tls_severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawStore {
    pub path: Option<String>,
    /// Fleet mode: the shared PostgreSQL store (see [`super::fleet`]).
    pub url: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub ca_file: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawScan {
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub handshake_timeout: Option<String>,
    pub concurrency: Option<i64>,
    #[serde(default)]
    pub ca_files: Vec<String>,
    pub schedule: Option<String>,
    /// Check OCSP / CRL revocation of what is scanned (default true).
    pub revocation: Option<bool>,
    pub revocation_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawEndpoint {
    pub address: String,
    pub server_name: Option<String>,
    /// `smtp`, `imap`, `ldaps`, ... (a URL scheme in `address` does the same).
    pub protocol: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct RawFiles {
    pub path: String,
    pub name: Option<String>,
    /// Default: true under the system's trust directories (/etc/ssl/certs, ...).
    pub trust_store: Option<bool>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}
