//! What to scan: endpoint addresses and file patterns, parsed from config or the command line.

use std::net::IpAddr;

use crate::model::Location;

/// A TLS endpoint to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// DNS name or IP address literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// SNI to send and name to check; defaults to `host` when it is a DNS name.
    pub server_name: Option<String>,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
}

impl Target {
    pub fn location(&self) -> Location {
        Location::Endpoint {
            host: self.host.clone(),
            port: self.port,
            server_name: self.server_name.clone(),
        }
    }
}

/// A file, directory (scanned recursively) or glob pattern holding certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    pub pattern: String,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
    /// A trust store (the system's CA bundle directory): its roots are anchors, not
    /// certificates to renew, so their expiry is information, and a root found in several of
    /// its files (`ca-certificates.crt` and `Foo.pem`) is recorded once.
    pub trust_store: bool,
}

/// Directories that hold the system's trust anchors on Debian, Ubuntu, Fedora, RHEL, SUSE,
/// Alpine and Arch: targets under them are trust stores unless the config says otherwise.
pub const SYSTEM_TRUST_DIRS: &[&str] = &[
    "/etc/ssl/certs",
    "/usr/share/ca-certificates",
    "/etc/pki/ca-trust",
    "/etc/pki/tls/certs",
    "/usr/share/pki/ca-trust-source",
    "/var/lib/ca-certificates",
    "/etc/ca-certificates",
];

/// Is `pattern` under one of [`SYSTEM_TRUST_DIRS`]?
pub fn in_system_trust_dir(pattern: &str) -> bool {
    SYSTEM_TRUST_DIRS.iter().any(|dir| {
        pattern == *dir
            || pattern
                .strip_prefix(dir)
                .is_some_and(|r| r.starts_with('/'))
    })
}

/// Parses `host:port`, `[v6]:port`, `host` (port 443) or an `https://` URL.
pub fn parse_endpoint(address: &str, server_name: Option<&str>) -> Result<Target, String> {
    let address = address.trim();
    if address.is_empty() {
        return Err("address is empty".into());
    }
    let (host, port) = if address.contains("://") {
        parse_url(address)?
    } else {
        parse_authority(address)?
    };
    if let Some(sni) = server_name
        && (sni.is_empty() || sni.contains(char::is_whitespace))
    {
        return Err(format!("invalid server_name \"{sni}\""));
    }
    Ok(Target {
        host,
        port,
        server_name: server_name.map(|s| s.to_ascii_lowercase()),
        name: None,
        labels: Vec::new(),
    })
}

fn parse_url(address: &str) -> Result<(String, u16), String> {
    let uri: http::Uri = address
        .parse()
        .map_err(|e| format!("invalid URL \"{address}\": {e}"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some(other) => {
            return Err(format!(
                "URL scheme \"{other}\" is not TLS; use https:// or host:port"
            ));
        }
        None => return Err(format!("invalid URL \"{address}\"")),
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("URL \"{address}\" has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_ascii_lowercase(), uri.port_u16().unwrap_or(443)))
}

fn parse_authority(address: &str) -> Result<(String, u16), String> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("\"{address}\": missing ']' after IPv6 address"))?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("\"{host}\" is not an IPv6 address"))?;
        let port = match after {
            "" => 443,
            p => parse_port(address, p.strip_prefix(':').unwrap_or(p))?,
        };
        return Ok((host.to_string(), port));
    }
    match address.matches(':').count() {
        0 => Ok((check_host(address)?, 443)),
        1 => {
            let (host, port) = address.split_once(':').unwrap_or((address, ""));
            Ok((check_host(host)?, parse_port(address, port)?))
        }
        _ => Err(format!(
            "\"{address}\": write IPv6 addresses in brackets, e.g. [::1]:443"
        )),
    }
}

fn check_host(host: &str) -> Result<String, String> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(host.to_string());
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if valid {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(format!("\"{host}\" is not a valid host name"))
    }
}

fn parse_port(address: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("\"{address}\": invalid port \"{port}\"")),
    }
}

/// An ad hoc command-line argument: a path if it looks like one or exists, else an endpoint.
pub fn classify_arg(arg: &str) -> Result<AdHoc, String> {
    let looks_like_path = arg.starts_with('/')
        || arg.starts_with("./")
        || arg.starts_with("../")
        || arg.contains('*')
        || std::path::Path::new(arg).exists();
    if looks_like_path {
        let absolute = std::path::absolute(arg).map_err(|e| format!("{arg}: {e}"))?;
        let pattern = absolute.display().to_string();
        Ok(AdHoc::Files(FileTarget {
            trust_store: in_system_trust_dir(&pattern),
            pattern,
            name: None,
            labels: Vec::new(),
        }))
    } else {
        parse_endpoint(arg, None).map(AdHoc::Endpoint)
    }
}

/// A classified command-line target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdHoc {
    Endpoint(Target),
    Files(FileTarget),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> (String, u16) {
        let t = parse_endpoint(s, None).expect(s);
        (t.host, t.port)
    }

    #[test]
    fn address_forms() {
        assert_eq!(hp("Example.com:8443"), ("example.com".into(), 8443));
        assert_eq!(hp("example.com"), ("example.com".into(), 443));
        assert_eq!(hp("[::1]:8443"), ("::1".into(), 8443));
        assert_eq!(hp("[::1]"), ("::1".into(), 443));
        assert_eq!(
            hp("https://example.com/path?q"),
            ("example.com".into(), 443)
        );
        assert_eq!(hp("https://[::1]:9443/"), ("::1".into(), 9443));
        assert_eq!(hp("127.0.0.1:1"), ("127.0.0.1".into(), 1));
    }

    #[test]
    fn bad_addresses() {
        for bad in [
            "::1:443",
            "http://example.com",
            "host:0",
            "host:99999",
            "ho st:1",
            "",
            "[::1",
        ] {
            assert!(parse_endpoint(bad, None).is_err(), "{bad}");
        }
    }
}
