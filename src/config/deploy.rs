//! `[[certificate.deploy]]`: install paths, ownership, reload actions and verification.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::secret::Problems;
use super::{KeyPath, parse_duration};
use crate::inventory::target::{Target, parse_endpoint};

#[derive(Debug, Deserialize)]
pub struct RawDeploy {
    pub name: Option<String>,
    pub node: Option<String>,
    pub cert: Option<String>,
    pub chain: Option<String>,
    pub fullchain: Option<String>,
    pub key: Option<String>,
    pub combined: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
    pub key_mode: Option<String>,
    pub check_command: Option<Vec<String>>,
    #[serde(default)]
    pub reload: Vec<RawReload>,
    #[serde(default)]
    pub verify: Vec<RawVerify>,
    pub verify_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawReload {
    #[serde(rename = "type")]
    pub kind: String,
    pub command: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub pid_file: Option<String>,
    pub signal: Option<String>,
    pub socket: Option<String>,
    pub cert_path: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawVerify {
    pub address: String,
    pub server_name: Option<String>,
}

/// How a server is told to load the new certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Run a program (e.g. `systemctl reload nginx`), with a timeout; output is captured.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    /// Send a signal to the process whose pid is in `pid_file` (e.g. SIGHUP to nginx's master).
    Signal { pid_file: PathBuf, signal: i32 },
    /// haproxy's runtime API: `set ssl cert` + `commit ssl cert`, no reload at all.
    HaproxyRuntime { socket: PathBuf, cert_path: String },
}

/// One place a certificate is deployed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployTarget {
    pub name: String,
    /// Fleet mode: the node whose servers this target is (other nodes skip it); none: every
    /// node deploys it.
    pub node: Option<String>,
    pub cert: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub fullchain: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Full chain followed by the key, as haproxy wants it.
    pub combined: Option<PathBuf>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: u32,
    pub key_mode: u32,
    pub check_command: Option<Vec<String>>,
    pub reload: Vec<Reload>,
    pub verify: Vec<Target>,
    pub verify_timeout: Duration,
}

fn mode(text: Option<&str>, default: u32, key: KeyPath, problems: &mut Problems) -> u32 {
    match text {
        None => default,
        Some(t) => u32::from_str_radix(t.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .unwrap_or_else(|| {
                problems.push((
                    key,
                    format!("\"{t}\" is not an octal mode such as \"0640\""),
                ));
                default
            }),
    }
}

fn signal_number(name: &str) -> Option<i32> {
    Some(match name.trim_start_matches("SIG") {
        "HUP" => libc::SIGHUP,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "QUIT" => libc::SIGQUIT,
        _ => return None,
    })
}

pub fn validate(
    raw: Vec<RawDeploy>,
    parent: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> Vec<DeployTarget> {
    let mut out = Vec::new();
    for (i, d) in raw.into_iter().enumerate() {
        let key = parent.clone().key("deploy").index(i);
        let path = |p: &Option<String>| p.as_ref().map(|p| super::resolve(base, p));
        let target = DeployTarget {
            name: d.name.clone().unwrap_or_else(|| format!("deploy[{i}]")),
            node: d.node.clone(),
            cert: path(&d.cert),
            chain: path(&d.chain),
            fullchain: path(&d.fullchain),
            key: path(&d.key),
            combined: path(&d.combined),
            owner: d.owner,
            group: d.group,
            mode: mode(d.mode.as_deref(), 0o644, key.clone().key("mode"), problems),
            key_mode: mode(
                d.key_mode.as_deref(),
                0o600,
                key.clone().key("key_mode"),
                problems,
            ),
            check_command: d.check_command,
            reload: Vec::new(),
            verify: Vec::new(),
            verify_timeout: Duration::from_secs(30),
        };
        let mut target = target;
        if [&target.cert, &target.fullchain, &target.combined]
            .iter()
            .all(|p| p.is_none())
        {
            problems.push((
                key.clone(),
                "set at least one of cert, fullchain or combined".into(),
            ));
        }
        if (target.cert.is_some() || target.fullchain.is_some()) && target.key.is_none() {
            problems.push((
                key.clone().key("key"),
                "a certificate needs its key path too".into(),
            ));
        }
        if let Some(t) = &d.verify_timeout {
            match parse_duration(t) {
                Ok(v) => target.verify_timeout = v,
                Err(e) => problems.push((key.clone().key("verify_timeout"), e)),
            }
        }
        for (r, reload) in d.reload.into_iter().enumerate() {
            let rkey = key.clone().key("reload").index(r);
            let timeout = match reload.timeout.as_deref().map(parse_duration) {
                None => Duration::from_secs(30),
                Some(Ok(t)) => t,
                Some(Err(e)) => {
                    problems.push((rkey.clone().key("timeout"), e));
                    Duration::from_secs(30)
                }
            };
            match reload.kind.as_str() {
                "command" => match reload.command {
                    Some(argv) if !argv.is_empty() => {
                        target.reload.push(Reload::Command { argv, timeout })
                    }
                    _ => problems.push((
                        rkey.key("command"),
                        "a command reload needs command = [\"program\", \"arg\", ...]".into(),
                    )),
                },
                "signal" => {
                    let signal = reload.signal.as_deref().unwrap_or("HUP");
                    match (reload.pid_file, signal_number(signal)) {
                        (Some(pid_file), Some(signal)) => target.reload.push(Reload::Signal {
                            pid_file: super::resolve(base, &pid_file),
                            signal,
                        }),
                        (None, _) => problems.push((
                            rkey.key("pid_file"),
                            "a signal reload needs pid_file".into(),
                        )),
                        (_, None) => problems.push((
                            rkey.key("signal"),
                            format!("\"{signal}\": use HUP, USR1, USR2, TERM or QUIT"),
                        )),
                    }
                }
                "haproxy_runtime" => match (
                    reload.socket,
                    reload
                        .cert_path
                        .or_else(|| target.combined.as_ref().map(|p| p.display().to_string())),
                ) {
                    (Some(socket), Some(cert_path)) => target.reload.push(Reload::HaproxyRuntime {
                        socket: super::resolve(base, &socket),
                        cert_path,
                    }),
                    (None, _) => problems.push((
                        rkey.key("socket"),
                        "haproxy_runtime needs the stats socket path".into(),
                    )),
                    (_, None) => problems.push((
                        rkey.key("cert_path"),
                        "haproxy_runtime needs cert_path (or a combined path)".into(),
                    )),
                },
                other => problems.push((
                    rkey.key("type"),
                    format!("\"{other}\": use command, signal or haproxy_runtime"),
                )),
            }
        }
        for (v, verify) in d.verify.into_iter().enumerate() {
            match parse_endpoint(&verify.address, verify.server_name.as_deref()) {
                Ok(t) => target.verify.push(t),
                Err(e) => problems.push((key.clone().key("verify").index(v).key("address"), e)),
            }
        }
        out.push(target);
    }
    out
}
