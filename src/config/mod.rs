//! Configuration: found, read, and validated in full before anything else happens.
//!
//! Loading is two-phase, as in ripgrep: [`raw`] mirrors the file, then [`validate`] turns it into
//! a [`Config`] of parsed durations, addresses and trust anchors. Every problem (unknown keys,
//! bad durations, unreadable CA files) is collected and reported at once, each with its key path
//! and line, so a user fixes the file in one pass.

pub mod acme;
pub mod alerts;
pub mod challenge;
pub mod daemon;
pub mod deploy;
pub mod discover;
pub mod fleet;
mod locate;
mod raw;
pub mod secret;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use discover::{DiscoverJob, DiscoverSettings};
pub use locate::KeyPath;
use locate::Locator;
use raw::RawConfig;

use crate::inventory::target::{self, FileTarget, Target};
use crate::policy::Thresholds;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "CERTCTL_CONFIG";
/// Config file used when neither `--config` nor `CERTCTL_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/certctl/certctl.toml";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from, if any (ad hoc runs have none).
    pub source: Option<PathBuf>,
    pub store_path: PathBuf,
    pub scan: ScanSettings,
    pub thresholds: Thresholds,
    pub endpoints: Vec<Target>,
    pub files: Vec<FileTarget>,
    /// Where certctl keeps accounts and issued certificates: the store's parent directory.
    pub state_dir: PathBuf,
    pub accounts: Vec<acme::AccountConfig>,
    pub certificates: Vec<acme::ManagedCert>,
    /// Upper bound for one certificate's issuance or renewal.
    pub acme_timeout: Duration,
    pub alerts: alerts::AlertSettings,
    pub webhooks: Vec<alerts::Webhook>,
    pub daemon: daemon::DaemonSettings,
    /// Site rules that change what findings mean (`[policy]`).
    pub policy: crate::policy::ScanPolicy,
    /// Bounds of discovery and where `--local` reads (`[discovery]`).
    pub discover: DiscoverSettings,
    /// Discovery jobs the daemon runs on their schedules (`[[discover]]`).
    pub discover_jobs: Vec<DiscoverJob>,
    /// Fleet mode (`[store] url`, `[fleet]`): none for a single node.
    pub fleet: Option<fleet::FleetConfig>,
}

pub use crate::inventory::ScanSettings;

impl Config {
    /// The configuration used when no file exists: defaults, no targets.
    pub fn defaults() -> Config {
        let store_path = default_store_path();
        Config {
            source: None,
            state_dir: state_dir_of(&store_path),
            store_path,
            scan: ScanSettings::default(),
            thresholds: Thresholds::default(),
            endpoints: Vec::new(),
            files: Vec::new(),
            accounts: Vec::new(),
            certificates: Vec::new(),
            acme_timeout: Duration::from_secs(300),
            alerts: alerts::AlertSettings::default(),
            webhooks: Vec::new(),
            daemon: daemon::DaemonSettings::defaults(&state_dir_of(&default_store_path())),
            policy: crate::policy::ScanPolicy::default(),
            discover: DiscoverSettings::default(),
            discover_jobs: Vec::new(),
            fleet: None,
        }
    }

    /// Overrides the store path (and with it the state directory).
    pub fn set_store_path(&mut self, path: PathBuf) {
        let old_socket = self.state_dir.join("certctl.sock");
        self.state_dir = state_dir_of(&path);
        if self.daemon.socket == old_socket {
            self.daemon.socket = self.state_dir.join("certctl.sock");
        }
        self.store_path = path;
    }

    /// File targets to inventory: the configured ones plus every managed certificate that has
    /// been issued (its `current/cert.pem`), so issued certificates are tracked automatically.
    pub fn inventory_files(&self) -> Vec<FileTarget> {
        let mut files = self.files.clone();
        for cert in &self.certificates {
            let current = cert.output_dir.join("current").join("cert.pem");
            if current.exists() {
                files.push(FileTarget {
                    pattern: current.display().to_string(),
                    name: Some(cert.name.clone()),
                    labels: vec![("managed".into(), "acme".into())],
                    trust_store: false,
                });
            }
        }
        files
    }

    pub fn account(&self, name: &str) -> Option<&acme::AccountConfig> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn certificate(&self, name: &str) -> Option<&acme::ManagedCert> {
        self.certificates.iter().find(|c| c.name == name)
    }

    /// Loads and validates the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Validates config text; `path` is used for messages and to resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let locator = Locator::new(text);
        let mut issues = Vec::new();
        let deserializer = toml::Deserializer::parse(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues: vec![syntax_issue(&e, &locator)],
        })?;
        let mut unknown = Vec::new();
        let raw: Result<RawConfig, _> = serde_ignored::deserialize(deserializer, |p| {
            unknown.push(KeyPath::from_ignored(&p));
        });
        for key in unknown {
            issues.push(Issue {
                line: locator.line(&key),
                key: key.to_string(),
                message: "unknown key".into(),
            });
        }
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                issues.push(syntax_issue(&e, &locator));
                return Err(ConfigError::invalid(path, issues));
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut v = Validator {
            locator: &locator,
            issues,
        };
        let config = v.validate(raw, base, path, text);
        if v.issues.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::invalid(path, v.issues))
        }
    }

    /// Finds the config: `--config`, else `$CERTCTL_CONFIG`, else the default path if it exists.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let default = PathBuf::from(DEFAULT_CONFIG_PATH);
        default.exists().then_some(default)
    }
}

/// Where the store lives when the config does not say: the system state directory for root,
/// the XDG state directory otherwise.
pub fn default_store_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("store");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    if is_root {
        return PathBuf::from("/var/lib/certctl/store");
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("certctl/store")
}

/// The state directory that holds the store, accounts and issued certificates.
fn state_dir_of(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub line: Option<usize>,
    /// Key path such as `endpoint[1].address`; empty for file-level syntax errors.
    pub key: String,
    pub message: String,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but has one or more problems, all listed.
    #[error("{}", render_issues(path, issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

impl ConfigError {
    fn invalid(path: &Path, mut issues: Vec<Issue>) -> ConfigError {
        // In file order, so the user can fix them top to bottom.
        issues.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        }
    }
}

fn render_issues(path: &Path, issues: &[Issue]) -> String {
    let mut out = format!(
        "invalid config {} ({} problem{}):",
        path.display(),
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    );
    for issue in issues {
        out.push_str("\n  ");
        out.push_str(&path.display().to_string());
        if let Some(line) = issue.line {
            out.push_str(&format!(":{line}"));
        }
        out.push_str(": ");
        if !issue.key.is_empty() {
            out.push_str(&issue.key);
            out.push_str(": ");
        }
        out.push_str(&issue.message);
    }
    out
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

fn syntax_issue(e: &toml::de::Error, locator: &Locator<'_>) -> Issue {
    let line = e.span().map(|s| locator.line_of(s.start));
    let mut message = e.message().trim().to_string();
    if message.starts_with("duplicate key")
        && let (Some(span), Some(line)) = (e.span(), line)
        && let Some(text) = locator.text().get(span.clone())
    {
        let key = text.trim().trim_matches(['[', ']']).trim();
        message = match earlier_definition(locator.text(), key, line) {
            Some(first) => format!("duplicate key `{key}` (first defined on line {first})"),
            None => format!("duplicate key `{key}`"),
        };
    }
    Issue {
        line,
        key: String::new(),
        message,
    }
}

/// The line (1-based) before `dup_line` that first defines `key`: a `[key]` table header, or
/// `key = ...` inside the same table.
fn earlier_definition(text: &str, key: &str, dup_line: usize) -> Option<usize> {
    let lines: Vec<&str> = text.lines().take(dup_line.saturating_sub(1)).collect();
    let defines = |l: &str| {
        let l = l.trim_start();
        let header = l.trim_end();
        header == format!("[{key}]")
            || l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let dup_is_header = text
        .lines()
        .nth(dup_line.saturating_sub(1))
        .is_some_and(|l| l.trim_start().starts_with('['));
    if dup_is_header {
        return lines.iter().position(|l| defines(l)).map(|i| i + 1);
    }
    // A key: look back within its own table only.
    for (i, l) in lines.iter().enumerate().rev() {
        if defines(l) {
            return Some(i + 1);
        }
        if l.trim_start().starts_with('[') {
            break;
        }
    }
    None
}

struct Validator<'a> {
    locator: &'a Locator<'a>,
    issues: Vec<Issue>,
}

impl Validator<'_> {
    fn push(&mut self, key: KeyPath, message: impl Into<String>) {
        self.issues.push(Issue {
            line: self.locator.line(&key),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn duration(&mut self, key: KeyPath, value: Option<&str>, default: Duration) -> Duration {
        let Some(text) = value else { return default };
        match parse_duration(text) {
            Ok(d) => d,
            Err(msg) => {
                self.push(key, msg);
                default
            }
        }
    }

    fn validate(&mut self, raw: RawConfig, base: &Path, source: &Path, text: &str) -> Config {
        let root = KeyPath::default();
        let scan_key = root.clone().key("scan");
        let timeout = self.duration(
            scan_key.clone().key("timeout"),
            raw.scan.timeout.as_deref(),
            Duration::from_secs(10),
        );
        let connect_timeout = self.duration(
            scan_key.clone().key("connect_timeout"),
            raw.scan.connect_timeout.as_deref(),
            timeout,
        );
        let handshake_timeout = self.duration(
            scan_key.clone().key("handshake_timeout"),
            raw.scan.handshake_timeout.as_deref(),
            timeout,
        );
        let concurrency = match raw.scan.concurrency {
            None => 64,
            Some(n) if (1..=65_536).contains(&n) => n as usize,
            Some(n) => {
                self.push(
                    scan_key.clone().key("concurrency"),
                    format!("must be between 1 and 65536, got {n}"),
                );
                64
            }
        };
        let revocation_timeout = self.duration(
            scan_key.clone().key("revocation_timeout"),
            raw.scan.revocation_timeout.as_deref(),
            Duration::from_secs(5),
        );
        let revocation_timeout = raw
            .scan
            .revocation
            .unwrap_or(true)
            .then_some(revocation_timeout);
        let mut extra_roots = Vec::new();
        for (i, file) in raw.scan.ca_files.iter().enumerate() {
            let key = scan_key.clone().key("ca_files").index(i);
            match read_ca_file(&resolve(base, file)) {
                Ok(roots) => extra_roots.extend(roots),
                Err(e) => self.push(key, e),
            }
        }

        let alerts_key = root.clone().key("alerts");
        let defaults = Thresholds::default();
        let warn_text = raw.alerts.warn_before.clone();
        let critical_text = raw.alerts.critical_before.clone();
        let warn = self.duration(
            alerts_key.clone().key("warn_before"),
            warn_text.as_deref(),
            Duration::from_secs(defaults.warn_before as u64),
        );
        let critical = self.duration(
            alerts_key.clone().key("critical_before"),
            critical_text.as_deref(),
            Duration::from_secs(defaults.critical_before as u64),
        );
        if critical > warn {
            self.push(
                alerts_key.key("critical_before"),
                "must not be longer than warn_before",
            );
        }

        let mut endpoints = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, ep) in raw.endpoint.into_iter().enumerate() {
            let key = root.clone().key("endpoint").index(i);
            let protocol = ep.protocol.as_deref();
            if let Some(p) = protocol
                && let Err(msg) = target::scheme(p)
            {
                self.push(key.key("protocol"), msg);
                continue;
            }
            match target::parse_endpoint_as(&ep.address, ep.server_name.as_deref(), protocol) {
                Ok(mut t) => {
                    t.name = ep.name;
                    t.labels = ep.labels.into_iter().collect();
                    let location = t.location();
                    if let Some(first) = seen.get(&location.key()) {
                        self.push(
                            key,
                            format!(
                                "the same endpoint as endpoint[{first}] ({})",
                                location.target()
                            ),
                        );
                        continue;
                    }
                    seen.insert(location.key(), i);
                    endpoints.push(t);
                }
                Err(msg) => self.push(key.key("address"), msg),
            }
        }
        let mut files = Vec::new();
        for (i, f) in raw.files.into_iter().enumerate() {
            let key = root.clone().key("files").index(i).key("path");
            let path = resolve(base, &f.path).display().to_string();
            if let Err(e) = glob::Pattern::new(&path) {
                self.push(key, format!("invalid glob pattern: {e}"));
                continue;
            }
            files.push(FileTarget {
                trust_store: f
                    .trust_store
                    .unwrap_or_else(|| target::in_system_trust_dir(&path)),
                pattern: path,
                name: f.name,
                labels: labels(f.labels),
            });
        }
        let mut problems = Vec::new();
        let fleet = fleet::validate(
            fleet::RawFleetStore {
                url: raw.store.url,
                password_file: raw.store.password_file,
                password_env: raw.store.password_env,
                ca_file: raw.store.ca_file,
                timeout: raw.store.timeout,
            },
            raw.fleet,
            text,
            base,
            &mut problems,
        );
        for (key, message) in problems {
            self.push(key, message);
        }
        let store_path = raw
            .store
            .path
            .map(|p| resolve(base, &p))
            .unwrap_or_else(default_store_path);
        let state_dir = state_dir_of(&store_path);
        let acme_timeout = self.duration(
            root.clone().key("acme").key("timeout"),
            raw.acme.timeout.as_deref(),
            Duration::from_secs(300),
        );
        let mut problems = Vec::new();
        let alert_settings = alerts::validate_alerts(raw.alerts, &mut problems);
        let webhooks = alerts::validate_webhooks(
            raw.webhook,
            base,
            alert_settings.repeat_interval,
            &mut problems,
        );
        let daemon_settings = daemon::validate(
            raw.daemon,
            raw.scan.schedule.as_deref(),
            raw.renew,
            &state_dir,
            base,
            &mut problems,
        );
        let accounts = acme::validate_accounts(raw.acme.accounts, base, &mut problems);
        let mut certificates = acme::validate_certificates(
            raw.certificate,
            &accounts,
            &state_dir,
            base,
            &mut problems,
        );
        // Fleet mode: one config for every node; each deploys only its own targets.
        for (c, cert) in certificates.iter_mut().enumerate() {
            match &fleet {
                Some(f) => cert
                    .deploy
                    .retain(|t| t.node.as_ref().is_none_or(|n| *n == f.settings.node)),
                None => {
                    for (d, _) in cert
                        .deploy
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.node.is_some())
                    {
                        problems.push((
                            root.clone()
                                .key("certificate")
                                .index(c)
                                .key("deploy")
                                .index(d)
                                .key("node"),
                            "only used in fleet mode ([store] url)".into(),
                        ));
                    }
                }
            }
        }
        for (key, message) in problems {
            self.push(key, message);
        }
        let policy = self.policy(raw.policy, root.clone().key("policy"));
        let mut problems = Vec::new();
        let discover = discover::validate_settings(raw.discovery, base, &mut problems);
        let discover_jobs = discover::validate_jobs(raw.discover, &discover, &mut problems);
        for (key, message) in problems {
            self.push(key, message);
        }
        Config {
            policy,
            source: Some(source.to_path_buf()),
            state_dir,
            accounts,
            certificates,
            acme_timeout,
            alerts: alert_settings.clone(),
            webhooks,
            daemon: daemon_settings,
            store_path,
            fleet,
            scan: ScanSettings {
                connect_timeout,
                handshake_timeout,
                concurrency,
                extra_roots,
                revocation_timeout,
            },
            thresholds: Thresholds {
                warn_before: warn.as_secs() as i64,
                critical_before: critical.as_secs() as i64,
                lifetime_fraction: alert_settings.lifetime_fraction,
            },
            endpoints,
            files,
            discover,
            discover_jobs,
        }
    }
}

impl Validator<'_> {
    /// `[policy]`: `min_tls = "1.3"` makes an endpoint without TLS 1.3 a `min_tls_severity`
    /// (warning unless said otherwise) instead of information; `legacy_tls_severity` says how
    /// bad an endpoint limited to TLS 1.0/1.1 is.
    fn policy(&mut self, raw: raw::RawPolicy, key: KeyPath) -> crate::policy::ScanPolicy {
        let severity = self.severity(raw.min_tls_severity.as_deref(), &key, "min_tls_severity");
        let legacy_below_tls12 = self.severity(
            raw.legacy_tls_severity.as_deref(),
            &key,
            "legacy_tls_severity",
        );
        let require_tls13 = match raw.min_tls.as_deref() {
            None | Some("1.2") => None,
            Some("1.3") => Some(severity),
            Some(other) => {
                self.push(
                    key.key("min_tls"),
                    format!("\"{other}\" is not a TLS version certctl can require: use \"1.2\" or \"1.3\""),
                );
                None
            }
        };
        crate::policy::ScanPolicy {
            require_tls13,
            legacy_below_tls12,
        }
    }

    /// A `"warning"` (the default) or `"critical"` value under `key.name`.
    fn severity(
        &mut self,
        value: Option<&str>,
        key: &KeyPath,
        name: &str,
    ) -> crate::model::Severity {
        use crate::model::Severity;
        match value {
            None | Some("warning") => Severity::Warning,
            Some("critical") => Severity::Critical,
            Some(other) => {
                self.push(
                    key.clone().key(name),
                    format!("\"{other}\" is not a severity: use \"warning\" or \"critical\""),
                );
                Severity::Warning
            }
        }
    }
}

fn labels(map: BTreeMap<String, String>) -> Vec<(String, String)> {
    map.into_iter().collect()
}

/// Relative paths in a config file are relative to the file's directory.
/// The certificates of a CA file (PEM or DER, bundles), as DER; the error names the file.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    let contents = crate::x509::read_certificates(&bytes);
    match contents.problems.first() {
        Some(problem) => Err(format!("CA file {}: {problem}", path.display())),
        None => Ok(contents.certs.into_iter().map(|c| c.der).collect()),
    }
}

pub(crate) fn resolve(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Parses a duration such as `10s`, `30d` or `1h 30m`; zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err(format!("duration \"{text}\" must be greater than zero")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "invalid duration \"{text}\": {e} (examples: 10s, 5m, 12h, 30d)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/certctl/t.toml"))
    }

    #[test]
    fn defaults_apply() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.scan.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.thresholds, Thresholds::default());
    }

    #[test]
    fn all_errors_are_reported_at_once_with_lines() {
        let text = "[scan]\ntimeout = \"ten seconds\"\nconcurency = 3\n\n[alerts]\nwarn_before = \"30d\"\ncritical_before = \"0s\"\n\n[[endpoint]]\naddress = \"::1:443\"\n";
        let err = parse(text).expect_err("invalid");
        let ConfigError::Invalid { issues, .. } = &err else {
            panic!("{err}")
        };
        let got: Vec<(Option<usize>, &str)> =
            issues.iter().map(|i| (i.line, i.key.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (Some(2), "scan.timeout"),
                (Some(3), "scan.concurency"),
                (Some(7), "alerts.critical_before"),
                (Some(10), "endpoint[0].address"),
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("/etc/certctl/t.toml:3: scan.concurency: unknown key"),
            "{text}"
        );
    }

    #[test]
    fn cloud_dns_providers_need_their_credentials() {
        let base = "[acme.accounts.le]\ndirectory = \"https://acme.example/dir\"\nagree_tos = true\n[[certificate]]\nname = \"w\"\ndomains = [\"w.example.com\"]\n[certificate.challenge]\ntype = \"dns-01\"\n";
        let cases = [
            (
                "dns_provider = \"route53\"\n",
                vec![
                    "the route53 provider needs dns_api_key_id (the access key id)",
                    "the route53 provider needs dns_api_key_file or dns_api_key_env (the secret access key)",
                ],
            ),
            (
                "dns_provider = \"cloudflare\"\ndns_api_key_id = \"x\"\ndns_api_key_env = \"CERTCTL_TEST_UNSET_TOKEN\"\n",
                vec![
                    "the cloudflare provider takes no key id",
                    "CERTCTL_TEST_UNSET_TOKEN",
                ],
            ),
            (
                "dns_provider = \"dnspod\"\ndns_api_key_id = \"AKID\"\ndns_api_key_env = \"PATH\"\ndns_api_url = \"ftp://x\"\ndns_server_id = \"a\"\n",
                vec![
                    "dns_api_url: must be an http:// or https:// URL (e.g. https://dnspod.tencentcloudapi.com)",
                    "dns_server_id: applies only to dns_provider = \"powerdns\"",
                ],
            ),
            (
                "dns_exec = \"/bin/true\"\ndns_propagation = \"pray\"\ndns_resolvers = [\"resolver.example\"]\n",
                vec![
                    "dns_propagation: \"pray\": use check (ask every authoritative server) or sleep (wait dns_wait)",
                    "dns_resolvers: \"resolver.example\" is not an address such as 192.0.2.53 or 192.0.2.53:53",
                ],
            ),
            (
                "dns_provider = \"gcloud\"\ndns_api_key_id = \"proj\"\ndns_api_key_env = \"PATH\"\n",
                vec![
                    "dns_api_key_id: the gcloud provider takes no key id",
                    "dns_api_key_env: not a service account's JSON key: expected value at line 1 column 1",
                ],
            ),
            (
                "dns_provider = \"gcloud\"\n",
                vec![
                    "dns_api_key_file: the gcloud provider needs dns_api_key_file or dns_api_key_env (a service account's JSON key)",
                ],
            ),
            (
                "dns_provider = \"gandi\"\n",
                vec![
                    "\"gandi\": the available dns-01 providers are exec, rfc2136, powerdns, cloudflare, route53, dnspod, alidns, huaweidns and gcloud",
                ],
            ),
        ];
        for (extra, wanted) in cases {
            let err = parse(&format!("{base}{extra}")).expect_err("invalid");
            for want in wanted {
                assert!(err.to_string().contains(want), "{want:?} not in {err}");
            }
        }
        let ok = parse(&format!(
            "{base}dns_provider = \"alidns\"\ndns_api_key_id = \"LTAI\"\ndns_api_key_env = \"PATH\"\ndns_zone = \"example.com\"\n"
        ))
        .expect("valid");
        let challenge = &ok.certificates[0].challenge;
        let acme::ChallengeConfig::Dns01Cloud { api, .. } = challenge else {
            panic!("{challenge:?}")
        };
        assert_eq!(api.vendor, acme::CloudVendor::AliDns);
        assert_eq!(api.api_url, "https://alidns.aliyuncs.com");
        assert_eq!(api.key_id.as_deref(), Some("LTAI"));
        assert_eq!(api.zone.as_deref(), Some("example.com"));
    }

    #[test]
    fn type_errors_name_the_line() {
        let err = parse("[scan]\n\nconcurrency = \"many\"\n").expect_err("invalid");
        assert!(err.to_string().contains("t.toml:3:"), "{err}");
    }

    #[test]
    fn duplicate_keys_name_the_key_and_both_lines() {
        let cases = [
            (
                "[scan]\ntimeout = \"1s\"\n\n[scan]\n",
                "t.toml:4: duplicate key `scan` (first defined on line 1)",
            ),
            (
                "[scan]\ntimeout = \"1s\"\ntimeout = \"2s\"\n",
                "t.toml:3: duplicate key `timeout` (first defined on line 2)",
            ),
            (
                "[[endpoint]]\naddress = \"a:1\"\n[[endpoint]]\naddress = \"b:1\"\naddress = \"c:1\"\n",
                "t.toml:5: duplicate key `address` (first defined on line 4)",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err("duplicate");
            assert!(err.to_string().contains(want), "{err}");
        }
    }

    #[test]
    fn directory_presets_and_the_cas_that_require_eab() {
        let c = parse("[acme.accounts.le]\ndirectory = \"letsencrypt\"\nagree_tos = true\n")
            .expect("valid");
        assert_eq!(
            c.accounts[0].directory_url,
            "https://acme-v02.api.letsencrypt.org/directory"
        );
        let c = parse("[acme.accounts.b]\ndirectory = \"buypass\"\n").expect("valid");
        assert_eq!(
            c.accounts[0].directory_url,
            "https://api.buypass.com/acme/directory"
        );
        for ca in ["zerossl", "google", "digicert"] {
            let err = parse(&format!("[acme.accounts.x]\ndirectory = \"{ca}\"\n"))
                .expect_err("EAB required");
            assert!(
                err.to_string().contains(&format!(
                    "acme.accounts.x.eab_kid: {ca} requires External Account Binding"
                )),
                "{err}"
            );
        }
        let err = parse("[acme.accounts.x]\ndirectory = \"http://ca.example/dir\"\n")
            .expect_err("not https");
        assert!(
            err.to_string().contains(
                "t.toml:2: acme.accounts.x.directory: \"http://ca.example/dir\" is neither a preset"
            ),
            "{err}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
