//! dovecot: `ssl_cert` (and `ssl_alt_cert`) and the `inet_listener`s of the login services of
//! the enabled protocols, asked through `doveconf`, which applies dovecot's defaults and
//! includes as dovecot does.
//!
//! With `ssl = no` nothing is served over TLS. A listener with `ssl = yes` is implicit TLS
//! (imaps, pop3s); the others upgrade with STARTTLS (imap, pop3, submission).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use super::{Named, NamedEndpoint, NamedFile, reachable_host, run_tool};
use crate::model::Starttls;

/// Reads the configuration whose main file is `conf`.
pub async fn read(conf: &Path, timeout: Duration) -> Result<Named, String> {
    let c = OsStr::new("-c");
    let path = conf.as_os_str();
    let globals = run_tool(
        "doveconf",
        &[
            c,
            path,
            OsStr::new("ssl"),
            OsStr::new("ssl_cert"),
            OsStr::new("ssl_alt_cert"),
            OsStr::new("protocols"),
            OsStr::new("listen"),
        ],
        timeout,
    )
    .await?;
    let globals: BTreeMap<String, String> = globals
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let protocols: Vec<String> = globals
        .get("protocols")
        .map(|p| p.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut services = String::new();
    for protocol in &protocols {
        if !matches!(protocol.as_str(), "imap" | "pop3" | "submission") {
            continue;
        }
        let filter = format!("service/{protocol}-login");
        services.push_str(&run_tool("doveconf", &[c, path, OsStr::new(&filter)], timeout).await?);
    }
    Ok(named(conf, &globals, &services))
}

fn named(conf: &Path, globals: &BTreeMap<String, String>, services: &str) -> Named {
    let at = conf.display().to_string();
    let mut named = Named::default();
    for key in ["ssl_cert", "ssl_alt_cert"] {
        if let Some(value) = globals.get(key).filter(|v| !v.is_empty()) {
            match value.strip_prefix('<') {
                Some(path) => named.files.push(NamedFile {
                    path: path.trim().into(),
                    server: "dovecot",
                    named_at: format!("{at}: {key}"),
                }),
                None => named.notes.push(format!(
                    "{at}: {key} holds the certificate inline; it is served, but has no file to watch"
                )),
            }
        }
    }
    if globals.get("ssl").is_some_and(|s| s == "no") || named.files.is_empty() {
        return named;
    }
    let listen = globals
        .get("listen")
        .and_then(|l| l.split([',', ' ']).find(|s| !s.is_empty()))
        .map(reachable_host)
        .unwrap_or_else(|| "127.0.0.1".to_string());
    for listener in listeners(services) {
        if listener.port == 0 {
            continue;
        }
        let starttls = if listener.ssl {
            None
        } else {
            match listener.service.as_str() {
                "imap-login" => Some(Starttls::Imap),
                "pop3-login" => Some(Starttls::Pop3),
                "submission-login" => Some(Starttls::Smtp),
                _ => continue,
            }
        };
        let host = match listener.address.split([',', ' ']).find(|s| !s.is_empty()) {
            Some(a) => reachable_host(a),
            None => listen.clone(),
        };
        named.endpoints.push(NamedEndpoint {
            host,
            port: listener.port,
            server_name: None,
            starttls,
            server: "dovecot",
            named_at: format!(
                "{at}: service {} inet_listener {}",
                listener.service, listener.name
            ),
        });
    }
    named
}

#[derive(Debug, Default)]
struct Listener {
    service: String,
    name: String,
    address: String,
    port: u16,
    ssl: bool,
}

/// The `inet_listener` blocks of doveconf's `service X { ... }` output.
fn listeners(text: &str) -> Vec<Listener> {
    let mut out = Vec::new();
    let mut service = String::new();
    let mut current: Option<Listener> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line
            .strip_prefix("service ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            service = name.trim().to_string();
        } else if let Some(name) = line
            .strip_prefix("inet_listener ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            current = Some(Listener {
                service: service.clone(),
                name: name.trim().to_string(),
                ..Listener::default()
            });
        } else if line == "}" {
            if let Some(l) = current.take() {
                out.push(l);
            }
        } else if let Some(l) = current.as_mut()
            && let Some((k, v)) = line.split_once('=')
        {
            let v = v.trim();
            match k.trim() {
                "address" => l.address = v.to_string(),
                "port" => l.port = v.parse().unwrap_or(0),
                "ssl" => l.ssl = v == "yes",
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_of_enabled_protocols() {
        let globals: BTreeMap<String, String> = [
            ("ssl", "yes"),
            ("ssl_cert", "</etc/dovecot/private/dovecot.pem"),
            ("ssl_alt_cert", ""),
            ("listen", "*, ::"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let services = "service imap-login {\n  chroot = login\n  inet_listener imap {\n    address = 127.0.0.7\n    port = 1143\n    ssl = no\n  }\n  inet_listener imaps {\n    address = \n    port = 993\n    ssl = yes\n  }\n}\nservice pop3-login {\n  inet_listener pop3s {\n    address = \n    port = 0\n    ssl = yes\n  }\n}\n";
        let named = named(Path::new("/etc/dovecot/dovecot.conf"), &globals, services);
        assert_eq!(
            named.files[0].path,
            Path::new("/etc/dovecot/private/dovecot.pem")
        );
        let endpoints: Vec<(String, u16, Option<Starttls>)> = named
            .endpoints
            .iter()
            .map(|e| (e.host.clone(), e.port, e.starttls))
            .collect();
        assert_eq!(
            endpoints,
            vec![
                ("127.0.0.7".into(), 1143, Some(Starttls::Imap)),
                ("127.0.0.1".into(), 993, None),
            ]
        );
        let mut off = globals.clone();
        off.insert("ssl".into(), "no".into());
        assert!(named_endpoints_empty(&off, services));
    }

    fn named_endpoints_empty(globals: &BTreeMap<String, String>, services: &str) -> bool {
        named(Path::new("/d.conf"), globals, services)
            .endpoints
            .is_empty()
    }
}
