//! Plain data shared by every stage of the pipeline: where a certificate was seen, what it is, and
//! what is wrong with it. Nothing here does I/O, so every other module can depend on it freely.

use std::fmt;

use serde::{Deserialize, Serialize};

mod alert;
mod cert;
mod finding;
mod observation;
mod record;
mod renewal;

pub use alert::*;
pub use cert::*;
pub use finding::*;
pub use observation::*;
pub use record::*;
pub use renewal::*;

/// Seconds since the Unix epoch. Kept as a plain integer so records are cheap to store and compare.
pub type UnixSeconds = i64;

/// Where a certificate is observed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Location {
    /// A TLS endpoint: `host:port`, plus the SNI name sent and checked, if any.
    Endpoint {
        host: String,
        port: u16,
        server_name: Option<String>,
    },
    /// A certificate inside a local file; `index` is its position in a PEM bundle.
    File { path: String, index: u32 },
    /// An endpoint reached in clear text and upgraded to TLS by `protocol`'s STARTTLS command
    /// (`smtp://mail.example.com:25`). Appended last: variants are stored by position.
    Starttls {
        protocol: Starttls,
        host: String,
        port: u16,
        server_name: Option<String>,
    },
}

/// The clear-text protocols whose STARTTLS upgrade the scanner speaks. Stored by position:
/// append new protocols at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Starttls {
    Smtp,
    Imap,
    Pop3,
    Ftp,
    Ldap,
    Postgres,
    Mysql,
    Xmpp,
}

impl Starttls {
    /// The URL scheme that selects the protocol.
    pub fn scheme(self) -> &'static str {
        match self {
            Starttls::Smtp => "smtp",
            Starttls::Imap => "imap",
            Starttls::Pop3 => "pop3",
            Starttls::Ftp => "ftp",
            Starttls::Ldap => "ldap",
            Starttls::Postgres => "postgres",
            Starttls::Mysql => "mysql",
            Starttls::Xmpp => "xmpp",
        }
    }
}

impl fmt::Display for Starttls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

impl Location {
    /// A short, stable identifier derived from the location alone (12 hex digits).
    pub fn id(&self) -> String {
        // FNV-1a over the canonical key: stable across versions and platforms, no crypto needed.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.key().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{:012x}", hash & 0xffff_ffff_ffff)
    }

    /// The canonical key of the location, e.g. `endpoint:example.com:443/sni` or `file:/a.pem#0`.
    pub fn key(&self) -> String {
        match self {
            Location::Endpoint { .. } | Location::Starttls { .. } => {
                format!("endpoint:{}", self.target())
            }
            Location::File { path, index } => format!("file:{path}#{index}"),
        }
    }

    /// What a user would type to name this location.
    pub fn target(&self) -> String {
        match self {
            Location::Endpoint {
                host,
                port,
                server_name,
            } => authority(None, host, *port, server_name.as_deref()),
            Location::Starttls {
                protocol,
                host,
                port,
                server_name,
            } => authority(Some(*protocol), host, *port, server_name.as_deref()),
            Location::File { path, index } if *index == 0 => path.clone(),
            Location::File { path, index } => format!("{path}#{index}"),
        }
    }

    /// The name that the served certificate must cover, if this is an endpoint.
    pub fn expected_name(&self) -> Option<&str> {
        match self {
            Location::Endpoint {
                host, server_name, ..
            }
            | Location::Starttls {
                host, server_name, ..
            } => Some(server_name.as_deref().unwrap_or(host)),
            Location::File { .. } => None,
        }
    }

    /// A network location (direct TLS or STARTTLS), as opposed to a file.
    pub fn is_endpoint(&self) -> bool {
        !matches!(self, Location::File { .. })
    }

    /// The STARTTLS protocol of an endpoint reached that way.
    pub fn starttls(&self) -> Option<Starttls> {
        match self {
            Location::Starttls { protocol, .. } => Some(*protocol),
            _ => None,
        }
    }
}

/// `host:port`, `[v6]:port` or `smtp://host:port`, then ` (sni)` when the SNI differs.
fn authority(protocol: Option<Starttls>, host: &str, port: u16, sni: Option<&str>) -> String {
    let hostport = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let authority = match protocol {
        Some(p) => format!("{p}://{hostport}"),
        None => hostport,
    };
    match sni {
        Some(sni) if sni != host => format!("{authority} ({sni})"),
        _ => authority,
    }
}

/// Whole days from `now` to `at`, rounded toward zero (negative when `at` is past), the same
/// count that [`crate::policy::relative`] prints.
pub fn days_between(now: UnixSeconds, at: UnixSeconds) -> i64 {
    (at - now) / 86_400
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = Location::Endpoint {
            host: "example.com".into(),
            port: 443,
            server_name: None,
        };
        let b = Location::Endpoint {
            host: "example.com".into(),
            port: 443,
            server_name: Some("www.example.com".into()),
        };
        assert_eq!(a.id(), a.clone().id());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 12);
        assert_eq!(b.target(), "example.com:443 (www.example.com)");
    }

    #[test]
    fn ipv6_targets_are_bracketed() {
        let l = Location::Endpoint {
            host: "::1".into(),
            port: 8443,
            server_name: None,
        };
        assert_eq!(l.target(), "[::1]:8443");
        assert_eq!(l.expected_name(), Some("::1"));
    }

    #[test]
    fn days_left_agrees_with_the_words() {
        let mut c = sample();
        c.not_after = 10 * 86_400 + 5;
        assert_eq!(c.days_left(0), 10);
        assert_eq!(crate::policy::relative(c.remaining(0)), "in 10 days");
        // A second after expiry: 0 days ("1 seconds ago"), not -1.
        assert_eq!(c.days_left(10 * 86_400 + 6), 0);
        // 3.5 days after expiry: -3, "3 days ago".
        let now = c.not_after + 3 * 86_400 + 43_200;
        assert_eq!(c.days_left(now), -3);
        assert_eq!(crate::policy::relative(c.remaining(now)), "3 days ago");
    }

    pub(crate) fn sample() -> CertRecord {
        CertRecord {
            subject: "CN=a".into(),
            subject_cn: Some("a".into()),
            sans: vec!["a".into()],
            issuer: "CN=ca".into(),
            issuer_cn: Some("ca".into()),
            serial: "01".into(),
            not_before: 0,
            not_after: 1,
            key: KeyInfo {
                algorithm: "EC".into(),
                bits: 256,
                curve: Some("P-256".into()),
            },
            signature_algorithm: "ecdsa-with-SHA256".into(),
            sha256: "00".into(),
            authority_key_id: None,
            subject_key_id: None,
            ocsp_urls: vec![],
            ca_issuer_urls: vec![],
            is_ca: false,
            self_signed: false,
        }
    }
}
