//! `certctl discover --local`: read this machine's own server configuration (nginx, haproxy,
//! postfix, dovecot, Apache httpd) for the certificate files it names and the addresses that serve them.
//!
//! The certificate that takes a service down is the one nobody listed, yet every server lists
//! its own: `ssl_certificate` in nginx, `crt` in haproxy, `smtpd_tls_cert_file` in postfix,
//! `ssl_cert` in dovecot, `SSLCertificateFile` in Apache. Reading them finds both the files (including one the configuration
//! names but that does not exist: the next reload fails) and the listeners to scan, so that
//! what is on disk and what is served can be compared. nginx, haproxy and Apache configuration is
//! parsed here (following `include`s), because `nginx -T` refuses to print a configuration that
//! names a missing file, which is exactly the case worth reporting; postfix and dovecot are
//! asked through their own tools (`postconf`, `doveconf`), which resolve their defaults and
//! variables as the servers do.

pub mod apache;
pub mod dovecot;
pub mod haproxy;
pub mod nginx;
pub mod postfix;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::target::{FileTarget, Target};
use crate::model::Starttls;

/// Where each server keeps its configuration (Debian's paths by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// nginx's main file (`nginx.conf`); its `include`s are followed.
    pub nginx: PathBuf,
    /// haproxy's configuration file.
    pub haproxy: PathBuf,
    /// postfix's configuration directory (`main.cf`, `master.cf`).
    pub postfix: PathBuf,
    /// dovecot's main file.
    pub dovecot: PathBuf,
    /// Apache httpd's main file (`apache2.conf`); its `Include`s are followed.
    pub apache: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            nginx: PathBuf::from("/etc/nginx/nginx.conf"),
            haproxy: PathBuf::from("/etc/haproxy/haproxy.cfg"),
            postfix: PathBuf::from("/etc/postfix"),
            dovecot: PathBuf::from("/etc/dovecot/dovecot.conf"),
            apache: PathBuf::from("/etc/apache2/apache2.conf"),
        }
    }
}

/// A certificate file a server's configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub path: PathBuf,
    /// `nginx`, `haproxy`, `postfix`, `dovecot`, `apache`.
    pub server: &'static str,
    /// Where the configuration names it (`file:line`, or the setting).
    pub named_at: String,
}

/// An address that serves a certificate, as a server's configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedEndpoint {
    /// An address literal (IPv6 without brackets) or a host name; a wildcard listener is
    /// reached on loopback.
    pub host: String,
    pub port: u16,
    /// The name the configuration serves there (nginx `server_name`, a haproxy crt-list
    /// filter), sent as SNI and checked.
    pub server_name: Option<String>,
    pub starttls: Option<Starttls>,
    pub server: &'static str,
    pub named_at: String,
}

/// What reading one server's configuration came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The configuration is not there: the server is not installed (or not configured here).
    Absent,
    /// Read: this many files and endpoints were named.
    Read { files: usize, endpoints: usize },
    /// The configuration could not be read or understood; nothing of it is used.
    Failed(String),
}

/// One server's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub server: &'static str,
    pub config: PathBuf,
    pub state: State,
}

/// What the local configuration names.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<NamedFile>,
    pub endpoints: Vec<NamedEndpoint>,
    pub reports: Vec<Report>,
    /// Things named that cannot be followed (a certificate path computed per request, a
    /// missing `include`), each with where it is named.
    pub notes: Vec<String>,
}

/// What one server's reader produced.
#[derive(Debug, Default)]
pub struct Named {
    pub files: Vec<NamedFile>,
    pub endpoints: Vec<NamedEndpoint>,
    pub notes: Vec<String>,
}

/// Reads every server's configuration. A server whose configuration is absent is skipped; one
/// that cannot be read is reported and the others are still read. Each external tool is
/// bounded by `timeout`.
pub async fn read(sources: &Sources, timeout: Duration) -> Found {
    let mut found = Found::default();
    let nginx = present(&sources.nginx).then(|| nginx::read(&sources.nginx));
    found.add("nginx", &sources.nginx, nginx);
    let haproxy = present(&sources.haproxy).then(|| haproxy::read(&sources.haproxy));
    found.add("haproxy", &sources.haproxy, haproxy);
    let postfix = if present(&sources.postfix.join("main.cf")) {
        Some(postfix::read(&sources.postfix, timeout).await)
    } else {
        None
    };
    found.add("postfix", &sources.postfix, postfix);
    let dovecot = if present(&sources.dovecot) {
        Some(dovecot::read(&sources.dovecot, timeout).await)
    } else {
        None
    };
    found.add("dovecot", &sources.dovecot, dovecot);
    let apache = present(&sources.apache).then(|| apache::read(&sources.apache));
    found.add("apache", &sources.apache, apache);
    found
}

fn present(path: &Path) -> bool {
    path.exists()
}

impl Found {
    fn add(&mut self, server: &'static str, config: &Path, read: Option<Result<Named, String>>) {
        let state = match read {
            None => State::Absent,
            Some(Err(e)) => State::Failed(e),
            Some(Ok(named)) => {
                let state = State::Read {
                    files: named.files.len(),
                    endpoints: named.endpoints.len(),
                };
                self.files.extend(named.files);
                self.endpoints.extend(named.endpoints);
                self.notes.extend(named.notes);
                state
            }
        };
        self.reports.push(Report {
            server,
            config: config.to_path_buf(),
            state,
        });
    }

    /// The scan targets: each file and each endpoint once (the first server to name it
    /// labels it), labelled `discovered=true` and `source=<server>`.
    pub fn targets(&self) -> (Vec<Target>, Vec<FileTarget>) {
        let labels = |server: &str| {
            vec![
                ("discovered".to_string(), "true".to_string()),
                ("source".to_string(), server.to_string()),
            ]
        };
        let mut seen = BTreeSet::new();
        let mut endpoints = Vec::new();
        for e in &self.endpoints {
            let target = Target {
                host: e.host.clone(),
                port: e.port,
                server_name: e.server_name.clone(),
                name: None,
                labels: labels(e.server),
                starttls: e.starttls,
            };
            if seen.insert(target.location().id()) {
                endpoints.push(target);
            }
        }
        let mut paths = BTreeSet::new();
        let mut files = Vec::new();
        for f in &self.files {
            if paths.insert(f.path.clone()) {
                files.push(FileTarget {
                    pattern: f.path.display().to_string(),
                    name: None,
                    labels: labels(f.server),
                    trust_store: false,
                });
            }
        }
        (endpoints, files)
    }
}

/// Where a listener bound to every address is reached from this machine: loopback.
pub(crate) fn reachable_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare {
        "" | "*" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "::1".to_string(),
        other => other.to_string(),
    }
}

/// `path` as the server resolves it: relative paths against `base`.
pub(crate) fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// How deep includes may nest, how many files one configuration may include, and how large
/// each may be: an include loop or a huge file is a clear error, not a hang.
const MAX_DEPTH: usize = 16;
const MAX_FILES: usize = 1024;
const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// Reads one file of a configuration that includes others (nginx, Apache), `depth` includes
/// deep, the `files`-th read so far: within the bounds above.
pub(crate) fn read_included(
    path: &Path,
    depth: usize,
    files: &mut usize,
) -> Result<String, String> {
    let shown = path.display();
    if depth > MAX_DEPTH {
        return Err(format!(
            "{shown}: includes nested more than {MAX_DEPTH} deep (an include loop?)"
        ));
    }
    *files += 1;
    if *files > MAX_FILES {
        return Err(format!("{shown}: more than {MAX_FILES} files included"));
    }
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?
        .len();
    if size > MAX_FILE_SIZE {
        return Err(format!(
            "{shown}: {size} bytes, larger than the {MAX_FILE_SIZE} byte limit"
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))
}

/// The files a glob pattern matches, sorted (as nginx and httpd read them).
pub(crate) fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let paths = glob::glob(pattern).map_err(|e| e.to_string())?;
    let mut files: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
    files.sort();
    Ok(files)
}

/// Every file under `dir`, subdirectories included, sorted.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let escaped = glob::Pattern::escape(&dir.display().to_string());
    glob_files(&format!("{escaped}/**/*"))
}

/// Runs a server's own configuration tool, bounded by `timeout`; its standard output, or what
/// went wrong (with its standard error).
pub(crate) async fn run_tool(
    program: &str,
    args: &[&std::ffi::OsStr],
    timeout: Duration,
) -> Result<String, String> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let shown = || {
        let mut s = program.to_string();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    match tokio::time::timeout(timeout, command.output()).await {
        Err(_) => Err(format!("{} did not finish within {timeout:?}", shown())),
        Ok(Err(e)) => Err(format!("cannot run {}: {e}", shown())),
        Ok(Ok(out)) if !out.status.success() => Err(format!(
            "{} failed ({}): {}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(Ok(out)) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        assert_eq!(reachable_host("*"), "127.0.0.1");
        assert_eq!(reachable_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(reachable_host("[::]"), "::1");
        assert_eq!(reachable_host("10.1.2.3"), "10.1.2.3");
        assert_eq!(reachable_host("[::1]"), "::1");
    }

    #[test]
    fn targets_are_deduplicated_and_labelled() {
        let file = |server| NamedFile {
            path: PathBuf::from("/etc/ssl/a.pem"),
            server,
            named_at: "x".into(),
        };
        let endpoint = |server| NamedEndpoint {
            host: "127.0.0.1".into(),
            port: 443,
            server_name: Some("www.example.test".into()),
            starttls: None,
            server,
            named_at: "x".into(),
        };
        let found = Found {
            files: vec![file("nginx"), file("haproxy")],
            endpoints: vec![endpoint("nginx"), endpoint("haproxy")],
            ..Found::default()
        };
        let (endpoints, files) = found.targets();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(files.len(), 1);
        assert!(
            files[0]
                .labels
                .contains(&("source".to_string(), "nginx".to_string()))
        );
        assert!(
            endpoints[0]
                .labels
                .contains(&("discovered".to_string(), "true".to_string()))
        );
    }
}
