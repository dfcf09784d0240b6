//! `[discovery]` (how far and how fast discovery may go, where `--local` reads) and
//! `[[discover]]` (discovery jobs the daemon runs on their own schedules).
//!
//! A job is checked here as far as it can be without the network: its ranges parse and fit the
//! bound (host names resolve when the job runs), its ports parse, its protocol is a STARTTLS
//! one, its schedule is a cron expression, and its name is unique, so a typo is a config error
//! with its line at start, not a failure at three in the morning.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::KeyPath;
use super::secret::Problems;
use crate::inventory::discover;
use crate::inventory::local::Sources;
use crate::model::Starttls;
use crate::schedule::Schedule;

/// `[discovery]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawDiscovery {
    pub max_addresses: Option<i64>,
    pub rate: Option<i64>,
    pub concurrency: Option<i64>,
    /// nginx's main file for `discover --local` (default /etc/nginx/nginx.conf).
    pub nginx_conf: Option<String>,
    /// haproxy's configuration (default /etc/haproxy/haproxy.cfg).
    pub haproxy_conf: Option<String>,
    /// postfix's configuration directory (default /etc/postfix).
    pub postfix_dir: Option<String>,
    /// dovecot's main file (default /etc/dovecot/dovecot.conf).
    pub dovecot_conf: Option<String>,
    /// Apache httpd's main file (default /etc/apache2/apache2.conf).
    pub apache_conf: Option<String>,
}

/// One `[[discover]]` job as written.
#[derive(Debug, Default, Deserialize)]
pub struct RawDiscoverJob {
    pub name: Option<String>,
    #[serde(default)]
    pub ranges: Vec<String>,
    pub ports: Option<String>,
    pub protocol: Option<String>,
    #[serde(default)]
    pub local: bool,
    pub schedule: Option<String>,
    #[serde(default)]
    pub force: bool,
}

/// How far and how fast `certctl discover` may go, and where `discover --local` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverSettings {
    /// The most addresses one discovery probes without `--force` (a /16).
    pub max_addresses: u64,
    /// Connection attempts started per second.
    pub rate: u32,
    /// Connection attempts in flight at once.
    pub concurrency: usize,
    /// The server configuration `discover --local` reads.
    pub local: Sources,
}

impl Default for DiscoverSettings {
    fn default() -> Self {
        DiscoverSettings {
            max_addresses: 65_536,
            rate: 500,
            concurrency: 256,
            local: Sources::default(),
        }
    }
}

/// A discovery the daemon runs on its schedule: a sweep of ranges, a read of the local servers'
/// configuration, or both. What it finds is recorded as `certctl discover --add` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverJob {
    pub name: String,
    /// Ranges to sweep (empty: no sweep).
    pub ranges: Vec<String>,
    pub ports: Vec<u16>,
    pub protocol: Option<Starttls>,
    /// Probe more than `[discovery] max_addresses`.
    pub force: bool,
    /// Read this machine's server configuration too.
    pub local: bool,
    pub schedule: Schedule,
}

/// The schedule of a job that does not give one: daily at 03:17 (off the hour, when fewer
/// other jobs start).
pub const DEFAULT_SCHEDULE: &str = "17 3 * * *";

pub fn validate_settings(
    raw: RawDiscovery,
    base: &Path,
    problems: &mut Problems,
) -> DiscoverSettings {
    let key = KeyPath::default().key("discovery");
    let d = DiscoverSettings::default();
    let path = |value: Option<String>, default: PathBuf| match value {
        Some(p) => super::resolve(base, &p),
        None => default,
    };
    let local = Sources {
        nginx: path(raw.nginx_conf, d.local.nginx.clone()),
        haproxy: path(raw.haproxy_conf, d.local.haproxy.clone()),
        postfix: path(raw.postfix_dir, d.local.postfix.clone()),
        dovecot: path(raw.dovecot_conf, d.local.dovecot.clone()),
        apache: path(raw.apache_conf, d.local.apache.clone()),
    };
    let mut bounded = |value: Option<i64>, name: &str, max: i64, default: i64| match value {
        None => default,
        Some(n) if (1..=max).contains(&n) => n,
        Some(n) => {
            problems.push((
                key.clone().key(name),
                format!("must be between 1 and {max}, got {n}"),
            ));
            default
        }
    };
    DiscoverSettings {
        max_addresses: bounded(
            raw.max_addresses,
            "max_addresses",
            1 << 24,
            d.max_addresses as i64,
        ) as u64,
        rate: bounded(raw.rate, "rate", 1_000_000, i64::from(d.rate)) as u32,
        concurrency: bounded(raw.concurrency, "concurrency", 65_536, d.concurrency as i64) as usize,
        local,
    }
}

/// Parses a `protocol` for discovery: a STARTTLS protocol name.
pub fn starttls_protocol(name: &str) -> Result<Starttls, String> {
    match crate::inventory::target::scheme(name)? {
        crate::inventory::target::Scheme {
            starttls: Some(p), ..
        } => Ok(p),
        _ => Err(format!(
            "{name}: give a STARTTLS protocol (smtp, imap, pop3, ftp, ldap, postgres, mysql, xmpp); TLS from the first byte is the default"
        )),
    }
}

pub fn validate_jobs(
    raw: Vec<RawDiscoverJob>,
    settings: &DiscoverSettings,
    problems: &mut Problems,
) -> Vec<DiscoverJob> {
    let mut out: Vec<DiscoverJob> = Vec::new();
    for (i, job) in raw.into_iter().enumerate() {
        let key = KeyPath::default().key("discover").index(i);
        let mut ok = true;
        let mut problem = |at: KeyPath, message: String| {
            problems.push((at, message));
            ok = false;
        };
        let field = |name: &str| key.clone().key(name);
        let name = match job.name {
            Some(n) if !n.trim().is_empty() => n,
            _ => {
                problem(
                    field("name"),
                    "required: a name for the job (shown in `certctl status`)".into(),
                );
                String::new()
            }
        };
        if !name.is_empty() && out.iter().any(|j| j.name == name) {
            problem(
                field("name"),
                format!("\"{name}\" names another [[discover]] job too"),
            );
        }
        if job.ranges.is_empty() && !job.local {
            problem(
                field("ranges"),
                "give ranges to sweep (e.g. [\"10.0.0.0/24\"]) or local = true".into(),
            );
        }
        let mut total: u128 = 0;
        for (r, text) in job.ranges.iter().enumerate() {
            match discover::check_range(text) {
                Err(e) => problem(field("ranges").index(r), e.to_string()),
                Ok(count) => total += count.unwrap_or(0),
            }
        }
        if total > discover::HARD_LIMIT {
            problem(
                field("ranges"),
                format!(
                    "{total} addresses; more than {} cannot be probed at all",
                    discover::HARD_LIMIT
                ),
            );
        } else if !job.force && total > u128::from(settings.max_addresses) {
            problem(
                field("ranges"),
                format!(
                    "{total} addresses, more than [discovery] max_addresses ({}); narrow them, raise the bound, or set force = true",
                    settings.max_addresses
                ),
            );
        }
        let ports = match job.ports.as_deref() {
            None => discover::DEFAULT_PORTS.to_vec(),
            Some(text) => discover::parse_ports(text).unwrap_or_else(|e| {
                problem(field("ports"), e.to_string());
                Vec::new()
            }),
        };
        let protocol = job.protocol.as_deref().and_then(|p| {
            starttls_protocol(p)
                .map_err(|e| problem(field("protocol"), e))
                .ok()
        });
        let schedule = match Schedule::parse(job.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE)) {
            Ok(s) => Some(s),
            Err(e) => {
                problem(field("schedule"), e);
                None
            }
        };
        if let (true, Some(schedule)) = (ok, schedule) {
            out.push(DiscoverJob {
                name,
                ranges: job.ranges,
                ports,
                protocol,
                force: job.force,
                local: job.local,
                schedule,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(f: impl FnOnce(&mut RawDiscoverJob)) -> RawDiscoverJob {
        let mut j = RawDiscoverJob {
            name: Some("lan".into()),
            ranges: vec!["10.0.0.0/24".into()],
            ..RawDiscoverJob::default()
        };
        f(&mut j);
        j
    }

    #[test]
    fn jobs_are_checked_before_they_run() {
        let settings = DiscoverSettings::default();
        let mut problems = Problems::new();
        let jobs = validate_jobs(
            vec![
                job(|_| {}),
                job(|j| j.ranges = vec!["10.0.0.0/8".into()]),
                job(|j| {
                    j.name = Some("b".into());
                    j.ranges = vec!["10.0.0.300".into()];
                    j.ports = Some("0".into());
                    j.protocol = Some("https".into());
                    j.schedule = Some("every day".into());
                }),
                job(|j| {
                    j.name = Some("local".into());
                    j.ranges = Vec::new();
                    j.local = true;
                }),
                job(|j| {
                    j.name = None;
                    j.ranges = Vec::new();
                }),
            ],
            &settings,
            &mut problems,
        );
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, vec!["lan", "local"]);
        assert_eq!(jobs[0].ports, discover::DEFAULT_PORTS);
        assert_eq!(jobs[0].schedule.text(), DEFAULT_SCHEDULE);
        let said: Vec<String> = problems.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        let has = |needle: &str| {
            assert!(
                said.iter().any(|s| s.contains(needle)),
                "{needle} not in {said:#?}"
            );
        };
        has("discover[1].name: \"lan\" names another");
        has("discover[1].ranges: 16777214 addresses, more than [discovery] max_addresses");
        has("discover[2].ranges[0]: \"10.0.0.300\" is not an address range");
        has("discover[2].ports:");
        has("discover[2].protocol:");
        has("discover[2].schedule: invalid cron schedule");
        has("discover[4].name: required");
        has("discover[4].ranges: give ranges");
    }
}
