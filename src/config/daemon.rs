//! `[daemon]`, `[scan] schedule` and `[renew] schedule`: how `certctl run` behaves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::acme::{Problems, Secret};
use super::{KeyPath, parse_duration};
use crate::schedule::{Schedule, default_renew_schedule};

#[derive(Debug, Default, Deserialize)]
pub struct RawDaemon {
    pub socket: Option<String>,
    pub socket_group: Option<String>,
    pub metrics_listen: Option<String>,
    pub heartbeat_url: Option<String>,
    pub shutdown_grace: Option<String>,
    pub dispatch_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawRenew {
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    /// The control socket (mode 0660).
    pub socket: PathBuf,
    /// Group allowed to use the socket.
    pub socket_group: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; none when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Pinged after every successful cycle (healthchecks.io style); the URL is a secret.
    pub heartbeat_url: Option<Secret>,
    pub shutdown_grace: Duration,
    pub dispatch_interval: Duration,
    pub scan_schedule: Schedule,
    pub renew_schedule: Schedule,
}

impl DaemonSettings {
    pub fn defaults(state_dir: &Path) -> DaemonSettings {
        DaemonSettings {
            socket: state_dir.join("certctl.sock"),
            socket_group: None,
            metrics_listen: None,
            heartbeat_url: None,
            shutdown_grace: Duration::from_secs(30),
            dispatch_interval: Duration::from_secs(10),
            // Every six hours (also run once at start).
            scan_schedule: Schedule::parse("0 */6 * * *").expect("static schedule is valid"),
            renew_schedule: default_renew_schedule(crate::policy::renew::seed(
                &state_dir.display().to_string(),
            )),
        }
    }
}

pub fn validate(
    raw: RawDaemon,
    scan_schedule: Option<&str>,
    renew: RawRenew,
    state_dir: &Path,
    base: &Path,
    problems: &mut Problems,
) -> DaemonSettings {
    let key = KeyPath::default().key("daemon");
    let mut out = DaemonSettings::defaults(state_dir);
    if let Some(socket) = raw.socket {
        out.socket = super::resolve(base, &socket);
    }
    out.socket_group = raw.socket_group;
    if let Some(listen) = raw.metrics_listen {
        match listen.parse() {
            Ok(addr) => out.metrics_listen = Some(addr),
            Err(_) => problems.push((
                key.clone().key("metrics_listen"),
                format!("\"{listen}\" is not an address such as 127.0.0.1:9793"),
            )),
        }
    }
    if let Some(url) = raw.heartbeat_url {
        if url.starts_with("http://") || url.starts_with("https://") {
            out.heartbeat_url = Some(Secret::new(url.into_bytes()));
        } else {
            problems.push((
                key.clone().key("heartbeat_url"),
                "must be an http(s):// URL".into(),
            ));
        }
    }
    let mut duration = |name: &str, value: Option<String>, target: &mut Duration| {
        if let Some(text) = value {
            match parse_duration(&text) {
                Ok(d) => *target = d,
                Err(e) => problems.push((key.clone().key(name), e)),
            }
        }
    };
    duration(
        "shutdown_grace",
        raw.shutdown_grace,
        &mut out.shutdown_grace,
    );
    duration(
        "dispatch_interval",
        raw.dispatch_interval,
        &mut out.dispatch_interval,
    );
    if let Some(text) = scan_schedule {
        match Schedule::parse(text) {
            Ok(s) => out.scan_schedule = s,
            Err(e) => problems.push((KeyPath::default().key("scan").key("schedule"), e)),
        }
    }
    if let Some(text) = renew.schedule {
        match Schedule::parse(&text) {
            Ok(s) => out.renew_schedule = s,
            Err(e) => problems.push((KeyPath::default().key("renew").key("schedule"), e)),
        }
    }
    out
}
