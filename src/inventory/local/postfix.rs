//! postfix: the certificate files of `main.cf` (and of each service's `-o` overrides in
//! `master.cf`) and the smtpd/postscreen listeners that offer TLS, asked through `postconf`,
//! which expands `$variables` and knows the defaults as postfix does.
//!
//! A listener is scanned when TLS is on for it (`smtpd_tls_security_level` may/encrypt, the
//! older `smtpd_use_tls`, or wrapper mode) and a certificate is configured: STARTTLS on
//! `smtp`, `submission` and numbered ports, implicit TLS in wrapper mode (`smtps`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use super::{Named, NamedEndpoint, NamedFile, reachable_host, run_tool};
use crate::model::Starttls;

/// Parameters that name certificate files (the server's, and the client's for relaying).
const FILE_PARAMS: &[&str] = &[
    "smtpd_tls_cert_file",
    "smtpd_tls_eccert_file",
    "smtpd_tls_dcert_file",
    "smtpd_tls_chain_files",
    "smtp_tls_cert_file",
    "smtp_tls_chain_files",
];

/// Reads the configuration in directory `dir`.
pub async fn read(dir: &Path, timeout: Duration) -> Result<Named, String> {
    let c = OsStr::new("-c");
    let d = dir.as_os_str();
    let mut args: Vec<&OsStr> = vec![c, d, OsStr::new("-x")];
    let wanted = FILE_PARAMS.iter().chain(&[
        "smtpd_tls_security_level",
        "smtpd_use_tls",
        "smtpd_tls_wrappermode",
        "postscreen_tls_security_level",
        "inet_interfaces",
    ]);
    args.extend(wanted.map(|p| OsStr::new(*p)));
    let main = settings(&run_tool("postconf", &args, timeout).await?);
    let services = run_tool("postconf", &[c, d, OsStr::new("-M")], timeout).await?;
    let overrides = settings(
        &run_tool(
            "postconf",
            &[c, d, OsStr::new("-x"), OsStr::new("-P")],
            timeout,
        )
        .await?,
    );
    Ok(named(dir, &main, &services, &overrides))
}

/// `name = value` lines.
fn settings(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            l.split_once(" = ")
                .or_else(|| l.strip_suffix(" =").map(|n| (n, "")))
        })
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The files a set of parameters names.
fn files_of(get: impl Fn(&str) -> Option<String>) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for param in FILE_PARAMS {
        if let Some(value) = get(param) {
            for path in value.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
                out.push((path.to_string(), *param));
            }
        }
    }
    out
}

fn named(
    dir: &Path,
    main: &BTreeMap<String, String>,
    services: &str,
    overrides: &BTreeMap<String, String>,
) -> Named {
    let main_cf = dir.join("main.cf").display().to_string();
    let master_cf = dir.join("master.cf").display().to_string();
    let mut named = Named::default();
    let push_file = |named: &mut Named, path: &str, at: String| {
        if !named.files.iter().any(|f| f.path == Path::new(path)) {
            named.files.push(NamedFile {
                path: path.into(),
                server: "postfix",
                named_at: at,
            });
        }
    };
    for (path, param) in files_of(|p| main.get(p).cloned()) {
        push_file(&mut named, &path, format!("{main_cf}: {param}"));
    }
    let interface = main
        .get("inet_interfaces")
        .and_then(|v| v.split([',', ' ']).find(|s| !s.is_empty()))
        .map(|i| match i {
            "all" | "loopback-only" => "127.0.0.1".to_string(),
            other => reachable_host(other),
        })
        .unwrap_or_else(|| "127.0.0.1".to_string());
    for line in services.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [service, kind, _, _, _, _, _, command, ..] = fields.as_slice() else {
            continue;
        };
        if *kind != "inet" || !matches!(*command, "smtpd" | "postscreen") {
            continue;
        }
        let get = |param: &str| {
            overrides
                .get(&format!("{service}/inet/{param}"))
                .or_else(|| main.get(param))
                .cloned()
        };
        let at = format!("{master_cf}: {service} inet");
        for (path, param) in files_of(|p| overrides.get(&format!("{service}/inet/{p}")).cloned()) {
            push_file(&mut named, &path, format!("{at} -o {param}"));
        }
        let level = if *command == "postscreen" {
            get("postscreen_tls_security_level")
                .filter(|l| !l.is_empty())
                .or_else(|| get("smtpd_tls_security_level"))
        } else {
            get("smtpd_tls_security_level")
        };
        let wrapper = get("smtpd_tls_wrappermode").as_deref() == Some("yes");
        let tls = wrapper
            || matches!(
                level.as_deref(),
                Some("may" | "encrypt" | "dane" | "secure")
            )
            || (level.as_deref().is_none_or(str::is_empty)
                && get("smtpd_use_tls").as_deref() == Some("yes"));
        if !tls || files_of(get).is_empty() {
            continue;
        }
        let (host, port) = match service.rsplit_once(':') {
            Some((host, port)) => (reachable_host(host), port),
            None => (interface.clone(), *service),
        };
        let port = match port {
            "smtp" => 25,
            "submission" => 587,
            "smtps" | "submissions" => 465,
            number => match number.parse() {
                Ok(n) => n,
                Err(_) => {
                    named
                        .notes
                        .push(format!("{at}: unknown service port {number}"));
                    continue;
                }
            },
        };
        let starttls =
            (!wrapper && !matches!(*service, "smtps" | "submissions")).then_some(Starttls::Smtp);
        named.endpoints.push(NamedEndpoint {
            host,
            port,
            server_name: None,
            starttls,
            server: "postfix",
            named_at: at,
        });
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_with_tls_are_listeners() {
        let main = settings(
            "smtpd_tls_cert_file = /etc/ssl/mail.pem\nsmtpd_tls_eccert_file =\nsmtpd_tls_chain_files =\n\
             smtpd_tls_security_level = may\nsmtpd_use_tls = no\nsmtpd_tls_wrappermode = no\n\
             inet_interfaces = all\n",
        );
        let services = "smtp       inet  n       -       y       -       1       postscreen\n\
                        127.0.0.1:2525 inet n    -       n       -       -       smtpd\n\
                        submission inet  n       -       y       -       -       smtpd -o smtpd_tls_wrappermode=yes\n\
                        8025       inet  n       -       y       -       -       smtpd -o smtpd_tls_security_level=none\n\
                        pickup     unix  n       -       n       60      1       pickup\n";
        let overrides = settings(
            "submission/inet/smtpd_tls_wrappermode = yes\nsubmission/inet/smtpd_tls_cert_file = /etc/ssl/sub.pem\n\
             8025/inet/smtpd_tls_security_level = none\n",
        );
        let named = named(Path::new("/etc/postfix"), &main, services, &overrides);
        let files: Vec<String> = named
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(files, vec!["/etc/ssl/mail.pem", "/etc/ssl/sub.pem"]);
        let endpoints: Vec<(String, u16, Option<Starttls>)> = named
            .endpoints
            .iter()
            .map(|e| (e.host.clone(), e.port, e.starttls))
            .collect();
        assert_eq!(
            endpoints,
            vec![
                ("127.0.0.1".into(), 25, Some(Starttls::Smtp)),
                ("127.0.0.1".into(), 2525, Some(Starttls::Smtp)),
                ("127.0.0.1".into(), 587, None),
            ]
        );
    }
}
