//! `[store] url` and `[fleet]`: fleet mode, several nodes coordinating through PostgreSQL.
//!
//! The store URL names the shared database (its password comes from a file or environment
//! variable, never the config); `[fleet]` names this node and the key every node seals private
//! keys with. The config hash lets nodes notice that they were given different configs: it
//! covers everything but the per-node tables (`[store]`, `[fleet]`, `[daemon]`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::KeyPath;
use super::secret::{Problems, read_secret};
use crate::fleet::FleetSettings;

#[derive(Debug, Default, Deserialize)]
pub struct RawFleet {
    pub node: Option<String>,
    pub key_file: Option<String>,
    pub lease_ttl: Option<String>,
}

/// The `[store]` keys of fleet mode.
#[derive(Debug, Default)]
pub struct RawFleetStore {
    pub url: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    pub ca_file: Option<String>,
    pub timeout: Option<String>,
}

/// Fleet mode, validated.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub settings: FleetSettings,
    /// The fleet key (32 random bytes, base64, mode 0600): `certctl fleet keygen` makes one.
    pub key_file: PathBuf,
    /// How long a lease lasts unless renewed; a crashed holder is replaced after about this.
    pub lease_ttl: Duration,
    /// Hash of the shared part of the config (see the module doc).
    pub config_hash: String,
}

pub fn validate(
    store: RawFleetStore,
    fleet: Option<RawFleet>,
    text: &str,
    base: &Path,
    problems: &mut Problems,
) -> Option<FleetConfig> {
    let skey = KeyPath::default().key("store");
    let fkey = KeyPath::default().key("fleet");
    let Some(url) = store.url else {
        if fleet.is_some() {
            problems.push((
                fkey,
                "fleet mode needs the shared store: set [store] url = \"postgres://...\"".into(),
            ));
        }
        for (set, name) in [
            (store.password_file.is_some(), "password_file"),
            (store.password_env.is_some(), "password_env"),
            (store.ca_file.is_some(), "ca_file"),
            (store.timeout.is_some(), "timeout"),
        ] {
            if set {
                problems.push((skey.clone().key(name), "only used with [store] url".into()));
            }
        }
        return None;
    };
    let fleet = fleet.unwrap_or_default();
    let mut ok = true;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        problems.push((
            skey.clone().key("url"),
            "must be a postgres:// URL (postgres://user@host:5432/db?sslmode=require)".into(),
        ));
        ok = false;
    } else if let Err(e) = crate::fleet::check_url(&url) {
        problems.push((skey.clone().key("url"), e));
        ok = false;
    }
    let password = read_secret(
        store.password_file.as_deref(),
        store.password_env.as_deref(),
        &skey,
        ("password_file", "password_env"),
        base,
        problems,
    )
    .map(|(_, text)| text.trim_end_matches(['\n', '\r']).as_bytes().to_vec());
    let ca_file = store.ca_file.map(|p| super::resolve(base, &p));
    if let Some(path) = &ca_file
        && !path.is_file()
    {
        problems.push((
            skey.clone().key("ca_file"),
            format!("{} does not exist", path.display()),
        ));
        ok = false;
    }
    let mut duration = |key: KeyPath, value: Option<String>, default: Duration| match value {
        None => default,
        Some(text) => super::parse_duration(&text).unwrap_or_else(|e| {
            problems.push((key, e));
            default
        }),
    };
    let timeout = duration(
        skey.clone().key("timeout"),
        store.timeout,
        Duration::from_secs(5),
    );
    let lease_ttl = duration(
        fkey.clone().key("lease_ttl"),
        fleet.lease_ttl,
        Duration::from_secs(15),
    );
    if lease_ttl < Duration::from_secs(1) || lease_ttl <= timeout {
        problems.push((
            fkey.clone().key("lease_ttl"),
            "must be at least 1s and longer than [store] timeout".into(),
        ));
        ok = false;
    }
    let node = match fleet.node {
        Some(n) if !n.is_empty() && n.len() <= 63 && n.chars().all(is_name_char) => n,
        Some(_) => {
            problems.push((
                fkey.clone().key("node"),
                "1-63 letters, digits, '-', '_' or '.'".into(),
            ));
            ok = false;
            String::new()
        }
        None => host_name(),
    };
    let key_file = match fleet.key_file {
        Some(p) => super::resolve(base, &p),
        None => {
            problems.push((
                fkey.key("key_file"),
                "fleet mode needs the fleet key (make one with `certctl fleet keygen PATH` and \
                 copy it to every node)"
                    .into(),
            ));
            return None;
        }
    };
    ok.then(|| FleetConfig {
        settings: FleetSettings {
            url,
            password,
            ca_file,
            node,
            timeout,
            instance: None,
        },
        key_file,
        lease_ttl,
        config_hash: config_hash(text),
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// This machine's host name, the default node name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// SHA-256 (first 8 bytes, hex) of the config without its per-node tables, re-serialised so
/// that comments, order and layout do not count.
pub fn config_hash(text: &str) -> String {
    let mut table: toml::Table = toml::from_str(text).unwrap_or_default();
    for per_node in ["store", "fleet", "daemon"] {
        table.remove(per_node);
    }
    let canonical = toml::to_string(&table).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_per_node_tables_and_layout() {
        let a = "[store]\npath = \"/a\"\n[fleet]\nnode = \"a\"\n[scan]\ntimeout = \"5s\"\n";
        let b = "# node b\n[scan]\ntimeout   = \"5s\"\n[fleet]\nnode = \"b\"\n";
        let c = "[scan]\ntimeout = \"6s\"\n";
        assert_eq!(config_hash(a), config_hash(b));
        assert_ne!(config_hash(a), config_hash(c));
    }
}
