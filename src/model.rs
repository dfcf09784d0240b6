//! Plain data shared by every stage of the pipeline: where a certificate was seen, what it is, and
//! what is wrong with it. Nothing here does I/O, so every other module can depend on it freely.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// The verdict of a trust-path check, made by the scanner with rustls' verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trust {
    /// The chain leads to a trust anchor.
    Trusted,
    /// The chain does not lead to a trust anchor; the verifier's reason.
    Untrusted(String),
    /// Trust was not evaluated (files).
    NotChecked,
}

/// Everything learned from one look at one location. Produced by the inventory scanners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub location: Location,
    pub observed_at: UnixSeconds,
    pub outcome: Outcome,
}

/// What a scanner got from a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Certificates were read. `chain[0]` is the leaf for endpoints.
    Presented {
        chain: Vec<CertRecord>,
        tls: Option<TlsInfo>,
        trust: Trust,
        /// The leaf's issuer is itself a trust anchor (so no intermediate is needed).
        issuer_is_anchor: bool,
        /// Read from a legacy (TLS 1.0-1.2, old ciphers) hello because rustls could not
        /// complete a handshake: why it could not.
        legacy: Option<String>,
        /// What the OCSP responder or CRL says about the leaf (`None`: not checked, or the
        /// certificate names no way to ask).
        revocation: Option<Revocation>,
    },
    /// Nothing could be read; `code` is one of the failure codes.
    Failed { code: FindingCode, message: String },
}

/// The revocation check of a leaf, made by the scanner ([`crate::inventory::revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub state: RevocationState,
    /// The certificate demands a stapled OCSP response (must-staple) and none was sent.
    pub must_staple_missing: bool,
}

/// What a verified OCSP response or CRL said, or why there is no verified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationState {
    /// Nothing to ask (only the must-staple check applies).
    NotChecked,
    Good {
        source: String,
    },
    Revoked {
        at: UnixSeconds,
        reason: Option<String>,
        source: String,
    },
    /// No verified answer: responder down, garbage, unsigned, stale, or issuer not presented.
    Unknown(String),
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

/// The stored state of one location: the latest observation, condensed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationRecord {
    pub id: String,
    pub location: Location,
    /// Friendly name from the config, if any.
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
    pub first_seen: UnixSeconds,
    pub last_scanned: UnixSeconds,
    /// When the certificate currently served here was first seen here.
    pub leaf_since: Option<UnixSeconds>,
    /// The leaf (or the file's certificate), if one was read on the latest scan.
    pub leaf: Option<CertRecord>,
    pub tls: Option<TlsInfo>,
    /// Findings that do not depend on time (trust, chain, names, keys, failures).
    pub findings: Vec<Finding>,
    /// Scans in a row that failed to read a certificate.
    pub consecutive_failures: u32,
    /// The other certificates the leaf's path depends on, as presented with it (intermediates
    /// sent by the server, or found in the same bundle file). Judged at every read, like the
    /// leaf: an intermediate that expires makes the location critical. Schema 7.
    pub issuers: Vec<ChainCert>,
    /// First seen by an ad hoc scan (`certctl scan TARGET`) and never since by a scan of the
    /// config: kept until `certctl forget`, where config locations are retired by the next
    /// config-wide scan that no longer finds them. Schema 7.
    pub adhoc: bool,
    /// Found in a trust store: a root here is an anchor, whose expiry is information only
    /// (clients skip expired anchors and build another path). Schema 7.
    pub trust_store: bool,
}

impl LocationRecord {
    /// Is the certificate here a trust anchor in a trust store (expiry is information)?
    pub fn is_stored_anchor(&self) -> bool {
        self.trust_store && self.leaf.as_ref().is_some_and(|l| l.self_signed && l.is_ca)
    }

    /// When the first certificate of the location's path expires (leaf or intermediate).
    pub fn expires_at(&self) -> Option<UnixSeconds> {
        let leaf = self.leaf.as_ref()?.not_after;
        Some(
            self.issuers
                .iter()
                .map(|c| c.not_after)
                .fold(leaf, i64::min),
        )
    }
}

/// A certificate the leaf depends on, condensed to what judging it in time and naming it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCert {
    /// RFC 4514 subject.
    pub subject: String,
    /// Display name (CN, else the subject).
    pub name: String,
    pub issuer: String,
    pub serial: String,
    pub sha256: String,
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
}

impl ChainCert {
    pub fn of(cert: &CertRecord) -> ChainCert {
        ChainCert {
            subject: cert.subject.clone(),
            name: cert.display_name().to_string(),
            issuer: cert.issuer.clone(),
            serial: cert.serial.clone(),
            sha256: cert.sha256.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
        }
    }

    /// The certificates of a presented chain that the leaf's path depends on: every one after
    /// the leaf except self-signed roots (whose validity is the trust store's business).
    pub fn issuers_of(chain: &[CertRecord]) -> Vec<ChainCert> {
        chain
            .iter()
            .skip(1)
            .filter(|c| !c.self_signed)
            .map(ChainCert::of)
            .collect()
    }

    pub fn lifetime(&self) -> i64 {
        self.not_after - self.not_before
    }
}

/// The compact form of a location that the `certctl list` table reads: only what a row shows,
/// so listing 100 000 locations decodes a few small strings per row, not whole certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub target: String,
    pub name: Option<String>,
    /// Display name of the leaf (CN, else first SAN, else subject).
    pub subject: Option<String>,
    pub issuer: Option<String>,
    /// (not_before, not_after) of the leaf.
    pub validity: Option<(UnixSeconds, UnixSeconds)>,
    /// The stored (time-independent) findings.
    pub codes: Vec<(FindingCode, Severity)>,
    /// (not_before, not_after) of the intermediate that expires first, if one was presented
    /// (schema 7).
    pub chain_validity: Option<(UnixSeconds, UnixSeconds)>,
    /// The user's labels, for `list --label` and `-o wide` (schema 7).
    pub labels: Vec<(String, String)>,
    /// The leaf's SHA-256, its first 8 bytes as a number, for `list --group cert` (schema 7;
    /// a number, not a string, so that reading 100 000 rows allocates nothing for it).
    pub cert_id: Option<u64>,
    /// A trust anchor in a trust store: its expiry is information (schema 7).
    pub anchor: bool,
}

impl ListRow {
    pub fn of(record: &LocationRecord) -> ListRow {
        let leaf = record.leaf.as_ref();
        ListRow {
            id: record.id.clone(),
            target: record.location.target(),
            name: record.name.clone(),
            subject: leaf.map(|l| l.display_name().to_string()),
            issuer: leaf.and_then(|l| l.issuer_cn.clone()),
            validity: leaf.map(|l| (l.not_before, l.not_after)),
            codes: record
                .findings
                .iter()
                .map(|f| (f.code, f.severity))
                .collect(),
            chain_validity: record
                .issuers
                .iter()
                .min_by_key(|c| c.not_after)
                .map(|c| (c.not_before, c.not_after)),
            labels: record.labels.clone(),
            cert_id: leaf.and_then(|l| u64::from_str_radix(l.sha256.get(..16)?, 16).ok()),
            anchor: record.is_stored_anchor(),
        }
    }

    /// When the first certificate of the row's path expires (leaf or intermediate).
    pub fn expires_at(&self) -> Option<UnixSeconds> {
        let (_, leaf) = self.validity?;
        Some(self.chain_validity.map_or(leaf, |(_, na)| na.min(leaf)))
    }
}

/// A change worth remembering, kept in the store's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEvent {
    pub at: UnixSeconds,
    pub location_id: String,
    pub target: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A location was seen for the first time, serving this certificate (if any).
    FirstSeen { sha256: Option<String> },
    /// The certificate served at a location changed.
    CertificateChanged {
        old_sha256: String,
        new_sha256: String,
        new_serial: String,
    },
    /// A managed certificate was issued or renewed and installed.
    RenewalSucceeded {
        name: String,
        serial: String,
        not_after: UnixSeconds,
    },
    /// An issuance or renewal attempt failed.
    RenewalFailed {
        name: String,
        error: String,
        failures: u32,
    },
    /// A certificate was deployed to a target and verified as served.
    Deployed {
        name: String,
        target: String,
        serial: String,
    },
    /// A deploy failed (`deploy_failed`) or the new certificate was not served
    /// (`verification_failed`); `rolled_back` says whether the previous files are back.
    DeployFailed {
        name: String,
        target: String,
        kind: String,
        error: String,
        rolled_back: bool,
    },
    /// The location left the inventory: no longer in the config, or forgotten by the user.
    /// Its history stays. Appended last: events are stored.
    Retired { reason: String },
}

/// An RFC 7807 problem document from an ACME CA, kept durably with a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaProblem {
    pub kind: Option<String>,
    pub detail: Option<String>,
    pub status: Option<u16>,
    pub subproblems: Vec<String>,
}

impl fmt::Display for CaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self
            .kind
            .as_deref()
            .map(|k| k.trim_start_matches("urn:ietf:params:acme:error:"))
            .unwrap_or("error");
        write!(f, "{kind}")?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for sub in &self.subproblems {
            write!(f, "; {sub}")?;
        }
        Ok(())
    }
}

/// An order that was placed and not yet installed: enough to resume it after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub order_url: String,
    /// The version directory the new key and certificate go to.
    pub version: String,
    /// The new private key has been written (durably) into the version directory.
    pub key_written: bool,
    pub started_at: UnixSeconds,
}

/// The CA's renewal window for the current certificate (ARI), and when to ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriState {
    pub serial: String,
    pub start: UnixSeconds,
    pub end: UnixSeconds,
    pub next_check: UnixSeconds,
}

/// The durable renewal state of one managed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ManagedState {
    pub name: String,
    pub in_flight: Option<InFlight>,
    /// Failed attempts in a row (0 after a success).
    pub failures: u32,
    pub last_failure: Option<UnixSeconds>,
    pub last_error: Option<String>,
    pub last_problem: Option<CaProblem>,
    pub last_success: Option<UnixSeconds>,
    pub last_serial: Option<String>,
    pub ari: Option<AriState>,
    /// Orders placed over the certificate's life (each crash may add at most one).
    pub orders_placed: u64,
}

/// A certificate as an alert describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCert {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub sha256: String,
    pub sans: Vec<String>,
    pub not_after: UnixSeconds,
}

/// One alert message, as delivered to every webhook (each format renders it its own way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Stable: derived from the certificate fingerprint (or location / certificate name), the
    /// kind and the threshold, so receivers can de-duplicate; reminders reuse it.
    pub id: String,
    /// `expiring`, `expired`, ..., `resolved`, `test`.
    pub kind: String,
    pub severity: Severity,
    /// One line for people.
    pub summary: String,
    /// The crossed threshold, for `expiring` (e.g. `7d`, `25% of lifetime`).
    pub threshold: Option<String>,
    pub certificate: Option<AlertCert>,
    /// Every location where the condition holds (one alert, not one per location).
    pub locations: Vec<String>,
    pub occurred_at: UnixSeconds,
    /// A reminder of an alert that is still open.
    pub reminder: bool,
    /// For `resolved`: the id and kind of the alert that no longer holds.
    pub resolves: Option<(String, String)>,
    pub detail: Option<String>,
}

/// An alert that is open (its condition still holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    /// The condition key (fingerprint|kind|threshold, location|kind, or managed:name|kind).
    pub key: String,
    pub event: AlertEvent,
    pub opened_at: UnixSeconds,
    pub last_sent_at: UnixSeconds,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Given up (retried for `retry_for`, or the webhook is disabled); `alerts retry` re-queues.
    Dead,
}

/// One event on its way to one webhook: the durable outbox entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub webhook: String,
    pub event: AlertEvent,
    pub created_at: UnixSeconds,
    pub attempts: u32,
    pub next_attempt_at: UnixSeconds,
    pub state: DeliveryState,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
}

/// One entry in a location's history: recorded whenever what is seen there changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: UnixSeconds,
    pub sha256: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<UnixSeconds>,
    pub codes: Vec<FindingCode>,
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
