//! What is wrong: severities, the stable vocabulary of finding codes, and a location's status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Info < Warning < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable vocabulary of problems. Users script against these codes: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    Expired,
    Expiring,
    NotYetValid,
    HostnameMismatch,
    SelfSigned,
    Untrusted,
    IncompleteChain,
    NoTls13,
    WeakKey,
    WeakSignature,
    DnsError,
    ConnectError,
    Timeout,
    TlsError,
    ParseError,
    /// An endpoint bound to a managed certificate serves an older certificate than the one
    /// installed for it (the server was never reloaded). Appended last: codes are stored.
    StaleServed,
    /// A certificate that the leaf's path depends on (an intermediate presented with it) has
    /// expired. Clients reject the chain although the leaf itself is valid. Appended last.
    ChainExpired,
    /// An intermediate presented with the leaf is not valid yet.
    ChainNotYetValid,
    /// A STARTTLS endpoint would not upgrade: the capability is not offered, the command is
    /// refused, or the server's answers are not the protocol's. No certificate was seen.
    StarttlsRefused,
    /// The server speaks only TLS 1.0/1.1 (or TLS 1.2 with only ciphers modern clients dropped):
    /// its certificate was read from a legacy hello.
    LegacyTls,
    /// A verified OCSP response or CRL says the certificate is revoked.
    Revoked,
    /// Revocation could not be checked (responder unreachable, answer unverifiable).
    RevocationUnknown,
    /// A must-staple certificate was served without a stapled OCSP response.
    OcspMustStapleMissing,
    /// A certificate file that the config (or a server's own configuration) names does not
    /// exist: the server fails on its next start or reload. Appended last: codes are stored.
    FileMissing,
}

impl FindingCode {
    pub const ALL: [FindingCode; 24] = [
        FindingCode::Expired,
        FindingCode::Expiring,
        FindingCode::NotYetValid,
        FindingCode::HostnameMismatch,
        FindingCode::SelfSigned,
        FindingCode::Untrusted,
        FindingCode::IncompleteChain,
        FindingCode::NoTls13,
        FindingCode::WeakKey,
        FindingCode::WeakSignature,
        FindingCode::DnsError,
        FindingCode::ConnectError,
        FindingCode::Timeout,
        FindingCode::TlsError,
        FindingCode::ParseError,
        FindingCode::StaleServed,
        FindingCode::ChainExpired,
        FindingCode::ChainNotYetValid,
        FindingCode::StarttlsRefused,
        FindingCode::LegacyTls,
        FindingCode::Revoked,
        FindingCode::RevocationUnknown,
        FindingCode::OcspMustStapleMissing,
        FindingCode::FileMissing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::Expired => "expired",
            FindingCode::Expiring => "expiring",
            FindingCode::NotYetValid => "not_yet_valid",
            FindingCode::HostnameMismatch => "hostname_mismatch",
            FindingCode::SelfSigned => "self_signed",
            FindingCode::Untrusted => "untrusted",
            FindingCode::IncompleteChain => "incomplete_chain",
            FindingCode::NoTls13 => "no_tls13",
            FindingCode::WeakKey => "weak_key",
            FindingCode::WeakSignature => "weak_signature",
            FindingCode::DnsError => "dns_error",
            FindingCode::ConnectError => "connect_error",
            FindingCode::Timeout => "timeout",
            FindingCode::TlsError => "tls_error",
            FindingCode::ParseError => "parse_error",
            FindingCode::StaleServed => "stale_served",
            FindingCode::ChainExpired => "chain_expired",
            FindingCode::ChainNotYetValid => "chain_not_yet_valid",
            FindingCode::StarttlsRefused => "starttls_refused",
            FindingCode::LegacyTls => "legacy_tls",
            FindingCode::Revoked => "revoked",
            FindingCode::RevocationUnknown => "revocation_unknown",
            FindingCode::OcspMustStapleMissing => "ocsp_must_staple_missing",
            FindingCode::FileMissing => "file_missing",
        }
    }

    /// True for codes that mean no certificate could be read at all.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            FindingCode::DnsError
                | FindingCode::ConnectError
                | FindingCode::Timeout
                | FindingCode::TlsError
                | FindingCode::ParseError
                | FindingCode::StarttlsRefused
        )
    }

    /// True for codes whose truth depends on the current time (recomputed on every read).
    pub fn is_time_based(self) -> bool {
        matches!(
            self,
            FindingCode::Expired
                | FindingCode::Expiring
                | FindingCode::NotYetValid
                | FindingCode::ChainExpired
                | FindingCode::ChainNotYetValid
        )
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found at a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    pub fn new(code: FindingCode, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity,
            message: message.into(),
        }
    }
}

/// Overall state of a location, the worst of its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

impl Status {
    pub fn from_findings(findings: &[Finding]) -> Status {
        match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Critical) => Status::Critical,
            Some(Severity::Warning) => Status::Warning,
            _ => Status::Ok,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
