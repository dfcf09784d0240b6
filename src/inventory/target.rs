//! What to scan: endpoint addresses and file patterns, parsed from config or the command line.

use std::net::IpAddr;

use crate::model::{Location, Starttls};

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
    /// Reach TLS through this protocol's STARTTLS upgrade (`None`: TLS from the first byte).
    pub starttls: Option<Starttls>,
}

impl Target {
    pub fn location(&self) -> Location {
        match self.starttls {
            None => Location::Endpoint {
                host: self.host.clone(),
                port: self.port,
                server_name: self.server_name.clone(),
            },
            Some(protocol) => Location::Starttls {
                protocol,
                host: self.host.clone(),
                port: self.port,
                server_name: self.server_name.clone(),
            },
        }
    }
}

/// How a URL scheme (or a `protocol = "..."` key) reaches TLS, and its usual port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub starttls: Option<Starttls>,
    pub default_port: u16,
}

/// The schemes certctl scans: STARTTLS protocols and their implicit-TLS twins (IANA ports).
const SCHEMES: &[(&str, Option<Starttls>, u16)] = &[
    ("https", None, 443),
    ("tls", None, 443),
    ("smtp", Some(Starttls::Smtp), 25),
    ("submission", Some(Starttls::Smtp), 587),
    ("smtps", None, 465),
    ("submissions", None, 465),
    ("imap", Some(Starttls::Imap), 143),
    ("imaps", None, 993),
    ("pop3", Some(Starttls::Pop3), 110),
    ("pop3s", None, 995),
    ("ftp", Some(Starttls::Ftp), 21),
    ("ftps", None, 990),
    ("ldap", Some(Starttls::Ldap), 389),
    ("ldaps", None, 636),
    ("postgres", Some(Starttls::Postgres), 5432),
    ("postgresql", Some(Starttls::Postgres), 5432),
    ("mysql", Some(Starttls::Mysql), 3306),
    ("mariadb", Some(Starttls::Mysql), 3306),
    ("xmpp", Some(Starttls::Xmpp), 5222),
    ("xmpps", None, 5223),
];

/// Looks up a scheme or protocol name (case-insensitive).
pub fn scheme(name: &str) -> Result<Scheme, String> {
    let lower = name.to_ascii_lowercase();
    if let Some((_, starttls, default_port)) = SCHEMES.iter().find(|(n, _, _)| *n == lower) {
        return Ok(Scheme {
            starttls: *starttls,
            default_port: *default_port,
        });
    }
    if lower == "http" {
        return Err(format!(
            "\"{name}\" is not TLS: plain HTTP has no certificate; use https:// or host:port"
        ));
    }
    let known: Vec<&str> = SCHEMES.iter().map(|(n, _, _)| *n).collect();
    Err(format!(
        "\"{name}\" is not a TLS protocol certctl scans; use one of {}",
        known.join(", ")
    ))
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

/// Parses `host:port`, `[v6]:port`, `host` (port 443) or a URL whose scheme selects the
/// protocol (`https://`, `smtp://host:25`, `ldaps://`, ...; see [`scheme`]).
pub fn parse_endpoint(address: &str, server_name: Option<&str>) -> Result<Target, String> {
    parse_endpoint_as(address, server_name, None)
}

/// [`parse_endpoint`] with a `protocol` named apart from the address (the config's
/// `protocol = "smtp"` key): it sets the default port of a bare `host`, and must agree with a
/// URL's scheme when both are given.
pub fn parse_endpoint_as(
    address: &str,
    server_name: Option<&str>,
    protocol: Option<&str>,
) -> Result<Target, String> {
    let address = address.trim();
    if address.is_empty() {
        return Err("address is empty".into());
    }
    let named = protocol.map(scheme).transpose()?;
    let (host, port, starttls) = if address.contains("://") {
        let (host, port, from_url) = parse_url(address)?;
        if let (Some(named), Some(p)) = (named, protocol)
            && named.starttls != from_url.starttls
        {
            return Err(format!(
                "protocol \"{p}\" contradicts the scheme of \"{address}\""
            ));
        }
        (host, port, from_url.starttls)
    } else {
        let default_port = named.map_or(443, |s| s.default_port);
        let (host, port) = parse_authority(address, default_port)?;
        (host, port, named.and_then(|s| s.starttls))
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
        starttls,
    })
}

fn parse_url(address: &str) -> Result<(String, u16, Scheme), String> {
    let uri: http::Uri = address
        .parse()
        .map_err(|e| format!("invalid URL \"{address}\": {e}"))?;
    let scheme = match uri.scheme_str() {
        Some(name) => scheme(name)?,
        None => return Err(format!("invalid URL \"{address}\"")),
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("URL \"{address}\" has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(scheme.default_port);
    if port == 0 {
        return Err(format!("\"{address}\": invalid port \"0\""));
    }
    Ok((host.to_ascii_lowercase(), port, scheme))
}

fn parse_authority(address: &str, default_port: u16) -> Result<(String, u16), String> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("\"{address}\": missing ']' after IPv6 address"))?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("\"{host}\" is not an IPv6 address"))?;
        let port = match after {
            "" => default_port,
            p => parse_port(address, p.strip_prefix(':').unwrap_or(p))?,
        };
        return Ok((host.to_string(), port));
    }
    match address.matches(':').count() {
        0 => Ok((check_host(address)?, default_port)),
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
    fn schemes_select_the_protocol_and_its_port() {
        let t = |s: &str| parse_endpoint(s, None).expect(s);
        let smtp = t("smtp://Mail.Example.com");
        assert_eq!((smtp.port, smtp.starttls), (25, Some(Starttls::Smtp)));
        assert_eq!(smtp.location().target(), "smtp://mail.example.com:25");
        assert_eq!(t("submission://mx").port, 587);
        assert_eq!(t("submission://mx").starttls, Some(Starttls::Smtp));
        assert_eq!(
            (t("smtps://mx").port, t("smtps://mx").starttls),
            (465, None)
        );
        assert_eq!(t("imap://mx:1143").port, 1143);
        assert_eq!(t("ldaps://dir").port, 636);
        assert_eq!(t("ldap://dir").starttls, Some(Starttls::Ldap));
        assert_eq!(t("postgresql://user@db/app").port, 5432);
        assert_eq!(t("postgres://db").starttls, Some(Starttls::Postgres));
        assert_eq!(t("mariadb://db").port, 3306);
        assert_eq!(t("mysql://db").starttls, Some(Starttls::Mysql));
        assert_eq!(
            (t("xmpp://chat").port, t("xmpp://chat").starttls),
            (5222, Some(Starttls::Xmpp))
        );
        assert_eq!(
            (t("xmpps://chat").port, t("xmpps://chat").starttls),
            (5223, None)
        );
        assert_eq!(t("pop3://[::1]").location().target(), "pop3://[::1]:110");
        let with_sni = parse_endpoint("ftp://10.0.0.1", Some("FTP.example.com")).expect("ftp");
        assert_eq!(
            with_sni.location().target(),
            "ftp://10.0.0.1:21 (ftp.example.com)"
        );
        // The config's protocol key: default port for a bare host, kept for host:port.
        let keyed = parse_endpoint_as("mx", None, Some("SMTP")).expect("keyed");
        assert_eq!((keyed.port, keyed.starttls), (25, Some(Starttls::Smtp)));
        let keyed = parse_endpoint_as("mx:2525", None, Some("smtp")).expect("keyed");
        assert_eq!(keyed.location(), t("smtp://mx:2525").location());
        assert_eq!(
            parse_endpoint_as("mx", None, Some("imaps"))
                .expect("imaps")
                .port,
            993
        );
        assert!(parse_endpoint_as("smtp://mx", None, Some("smtp")).is_ok());
        let clash = parse_endpoint_as("smtps://mx", None, Some("smtp")).unwrap_err();
        assert!(clash.contains("contradicts"), "{clash}");
        for (bad, words) in [
            ("mysqlx://db", "\"mysqlx\" is not a TLS protocol"),
            ("gopher://x", "\"gopher\" is not a TLS protocol"),
            ("http://x", "is not TLS: plain HTTP"),
            ("smtp://mx:0", "invalid port"),
        ] {
            let e = parse_endpoint(bad, None).unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
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
