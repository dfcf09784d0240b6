//! What a certificate is: its parsed fields, its key, and the TLS session it was served over.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{UnixSeconds, days_between};

/// Public key facts needed to judge key strength.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `RSA`, `EC`, `Ed25519`, `Ed448`, `DSA` or the OID of anything else.
    pub algorithm: String,
    /// Modulus size for RSA, field size for EC.
    pub bits: u32,
    /// Named curve for EC keys, e.g. `P-256`.
    pub curve: Option<String>,
}

impl fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.curve {
            Some(curve) => write!(f, "{} {}", self.algorithm, curve),
            None if self.bits > 0 => write!(f, "{} {}", self.algorithm, self.bits),
            None => write!(f, "{}", self.algorithm),
        }
    }
}

/// One parsed certificate. Produced only by [`crate::x509`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// RFC 4514 string of the subject DN.
    pub subject: String,
    /// Common name of the subject, when present.
    pub subject_cn: Option<String>,
    /// DNS names and IP addresses from subjectAltName, DNS names lower-cased.
    pub sans: Vec<String>,
    /// RFC 4514 string of the issuer DN.
    pub issuer: String,
    /// Common name (or organisation) of the issuer, for compact display.
    pub issuer_cn: Option<String>,
    /// Serial number as lower-case hex, without separators.
    pub serial: String,
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
    pub key: KeyInfo,
    /// Signature algorithm name, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// Lower-case hex SHA-256 of the DER encoding.
    pub sha256: String,
    pub authority_key_id: Option<String>,
    pub subject_key_id: Option<String>,
    pub ocsp_urls: Vec<String>,
    pub ca_issuer_urls: Vec<String>,
    /// basicConstraints cA flag.
    pub is_ca: bool,
    /// Subject equals issuer and the signature verifies with the certificate's own key.
    pub self_signed: bool,
}

impl CertRecord {
    /// Total validity period in seconds.
    pub fn lifetime(&self) -> i64 {
        self.not_after - self.not_before
    }

    /// Seconds left until expiry at `now` (negative once expired).
    pub fn remaining(&self, now: UnixSeconds) -> i64 {
        self.not_after - now
    }

    /// Whole days left at `now`, rounded toward zero, as "in 12 days" / "expired 3 days ago"
    /// say it (so `-3` is "expired 3 days ago", and `0` is less than a day either way).
    pub fn days_left(&self, now: UnixSeconds) -> i64 {
        days_between(now, self.not_after)
    }

    /// A short label: the CN, else the first SAN, else the subject DN.
    pub fn display_name(&self) -> &str {
        self.subject_cn
            .as_deref()
            .or(self.sans.first().map(String::as_str))
            .unwrap_or(&self.subject)
    }
}

/// TLS parameters negotiated with an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: String,
    pub cipher: String,
    /// Time from TCP connected to handshake complete.
    pub handshake_ms: u32,
    /// The peer address actually connected to.
    pub peer: String,
}
