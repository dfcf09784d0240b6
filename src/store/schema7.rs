//! The records of schema 7 as the store encodes them: its own types, frozen, converted from and
//! to the model's. postcard encodes by position, so the bytes of a stored record are defined
//! by these types, not by the model: a field added to a model type does not change what is
//! written or read until a new schema says so. Then this file stays as it is (the migration to
//! the new schema decodes old records with it, as `migrations/schema6.rs` keeps schema 6), and a
//! `schema8.rs` beside it defines the new records.
//!
//! Written from the model types of schema 7 field by field; `tests/fixtures/store-v7.json`
//! holds bytes of every one of them, which the tests read back through these types.

use serde::{Deserialize, Serialize};

use super::codec::{Record, Stored};

/// These types are records: their encoding is frozen with schema 7.
macro_rules! impl_record {
    ($($t:ident),*) => {$(impl Record for $t {})*};
}
use super::convert::Convert;
use crate::model::{self, UnixSeconds};

impl_record!(
    V7LocationRecord,
    V7Location,
    V7Starttls,
    V7CertRecord,
    V7KeyInfo,
    V7TlsInfo,
    V7Finding,
    V7FindingCode,
    V7Severity,
    V7ChainCert,
    V7ListRow,
    V7HistoryEntry,
    V7InventoryEvent,
    V7EventKind,
    V7ManagedState,
    V7InFlight,
    V7CaProblem,
    V7AriState,
    V7OpenAlert,
    V7AlertEvent,
    V7AlertCert,
    V7Delivery,
    V7DeliveryState
);

/// The model types the store writes, each as its schema-7 record.
macro_rules! stored {
    ($($model:ident => $record:ident),* $(,)?) => {$(
        impl Stored for model::$model {
            type Record = $record;
            fn to_record(&self) -> $record {
                self.clone().convert()
            }
            fn from_record(record: $record) -> model::$model {
                record.convert()
            }
        }
    )*};
}

stored!(
    LocationRecord => V7LocationRecord,
    CertRecord => V7CertRecord,
    ListRow => V7ListRow,
    HistoryEntry => V7HistoryEntry,
    InventoryEvent => V7InventoryEvent,
    ManagedState => V7ManagedState,
    OpenAlert => V7OpenAlert,
    Delivery => V7Delivery,
);

#[derive(Clone, Serialize, Deserialize)]
pub struct V7LocationRecord {
    pub id: String,
    pub location: V7Location,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
    pub first_seen: UnixSeconds,
    pub last_scanned: UnixSeconds,
    pub leaf_since: Option<UnixSeconds>,
    pub leaf: Option<V7CertRecord>,
    pub tls: Option<V7TlsInfo>,
    pub findings: Vec<V7Finding>,
    pub consecutive_failures: u32,
    pub issuers: Vec<V7ChainCert>,
    pub adhoc: bool,
    pub trust_store: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub enum V7Location {
    Endpoint {
        host: String,
        port: u16,
        server_name: Option<String>,
    },
    File {
        path: String,
        index: u32,
    },
    Starttls {
        protocol: V7Starttls,
        host: String,
        port: u16,
        server_name: Option<String>,
    },
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V7Starttls {
    Smtp,
    Imap,
    Pop3,
    Ftp,
    Ldap,
    Postgres,
    Mysql,
    Xmpp,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7CertRecord {
    pub subject: String,
    pub subject_cn: Option<String>,
    pub sans: Vec<String>,
    pub issuer: String,
    pub issuer_cn: Option<String>,
    pub serial: String,
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
    pub key: V7KeyInfo,
    pub signature_algorithm: String,
    pub sha256: String,
    pub authority_key_id: Option<String>,
    pub subject_key_id: Option<String>,
    pub ocsp_urls: Vec<String>,
    pub ca_issuer_urls: Vec<String>,
    pub is_ca: bool,
    pub self_signed: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7KeyInfo {
    pub algorithm: String,
    pub bits: u32,
    pub curve: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7TlsInfo {
    pub version: String,
    pub cipher: String,
    pub handshake_ms: u32,
    pub peer: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7Finding {
    pub code: V7FindingCode,
    pub severity: V7Severity,
    pub message: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum V7FindingCode {
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
    StaleServed,
    ChainExpired,
    ChainNotYetValid,
    StarttlsRefused,
    LegacyTls,
    Revoked,
    RevocationUnknown,
    OcspMustStapleMissing,
    FileMissing,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V7Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7ChainCert {
    pub subject: String,
    pub name: String,
    pub issuer: String,
    pub serial: String,
    pub sha256: String,
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7ListRow {
    pub id: String,
    pub target: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub validity: Option<(UnixSeconds, UnixSeconds)>,
    pub codes: Vec<(V7FindingCode, V7Severity)>,
    pub chain_validity: Option<(UnixSeconds, UnixSeconds)>,
    pub labels: Vec<(String, String)>,
    pub cert_id: Option<u64>,
    pub anchor: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7HistoryEntry {
    pub at: UnixSeconds,
    pub sha256: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<UnixSeconds>,
    pub codes: Vec<V7FindingCode>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7InventoryEvent {
    pub at: UnixSeconds,
    pub location_id: String,
    pub target: String,
    pub kind: V7EventKind,
}

#[derive(Clone, Serialize, Deserialize)]
pub enum V7EventKind {
    FirstSeen {
        sha256: Option<String>,
    },
    CertificateChanged {
        old_sha256: String,
        new_sha256: String,
        new_serial: String,
    },
    RenewalSucceeded {
        name: String,
        serial: String,
        not_after: UnixSeconds,
    },
    RenewalFailed {
        name: String,
        error: String,
        failures: u32,
    },
    Deployed {
        name: String,
        target: String,
        serial: String,
    },
    DeployFailed {
        name: String,
        target: String,
        kind: String,
        error: String,
        rolled_back: bool,
    },
    Retired {
        reason: String,
    },
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7ManagedState {
    pub name: String,
    pub in_flight: Option<V7InFlight>,
    pub failures: u32,
    pub last_failure: Option<UnixSeconds>,
    pub last_error: Option<String>,
    pub last_problem: Option<V7CaProblem>,
    pub last_success: Option<UnixSeconds>,
    pub last_serial: Option<String>,
    pub ari: Option<V7AriState>,
    pub orders_placed: u64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7InFlight {
    pub order_url: String,
    pub version: String,
    pub key_written: bool,
    pub started_at: UnixSeconds,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7CaProblem {
    pub kind: Option<String>,
    pub detail: Option<String>,
    pub status: Option<u16>,
    pub subproblems: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7AriState {
    pub serial: String,
    pub start: UnixSeconds,
    pub end: UnixSeconds,
    pub next_check: UnixSeconds,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7OpenAlert {
    pub key: String,
    pub event: V7AlertEvent,
    pub opened_at: UnixSeconds,
    pub last_sent_at: UnixSeconds,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7AlertEvent {
    pub id: String,
    pub kind: String,
    pub severity: V7Severity,
    pub summary: String,
    pub threshold: Option<String>,
    pub certificate: Option<V7AlertCert>,
    pub locations: Vec<String>,
    pub occurred_at: UnixSeconds,
    pub reminder: bool,
    pub resolves: Option<(String, String)>,
    pub detail: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7AlertCert {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub sha256: String,
    pub sans: Vec<String>,
    pub not_after: UnixSeconds,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct V7Delivery {
    pub id: u64,
    pub webhook: String,
    pub event: V7AlertEvent,
    pub created_at: UnixSeconds,
    pub attempts: u32,
    pub next_attempt_at: UnixSeconds,
    pub state: V7DeliveryState,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
}

#[derive(Clone, Serialize, Deserialize)]
pub enum V7DeliveryState {
    Pending,
    Dead,
}

impl Convert<V7LocationRecord> for model::LocationRecord {
    fn convert(self) -> V7LocationRecord {
        V7LocationRecord {
            id: self.id.convert(),
            location: self.location.convert(),
            name: self.name.convert(),
            labels: self.labels.convert(),
            first_seen: self.first_seen.convert(),
            last_scanned: self.last_scanned.convert(),
            leaf_since: self.leaf_since.convert(),
            leaf: self.leaf.convert(),
            tls: self.tls.convert(),
            findings: self.findings.convert(),
            consecutive_failures: self.consecutive_failures.convert(),
            issuers: self.issuers.convert(),
            adhoc: self.adhoc.convert(),
            trust_store: self.trust_store.convert(),
        }
    }
}

impl Convert<model::LocationRecord> for V7LocationRecord {
    fn convert(self) -> model::LocationRecord {
        model::LocationRecord {
            id: self.id.convert(),
            location: self.location.convert(),
            name: self.name.convert(),
            labels: self.labels.convert(),
            first_seen: self.first_seen.convert(),
            last_scanned: self.last_scanned.convert(),
            leaf_since: self.leaf_since.convert(),
            leaf: self.leaf.convert(),
            tls: self.tls.convert(),
            findings: self.findings.convert(),
            consecutive_failures: self.consecutive_failures.convert(),
            issuers: self.issuers.convert(),
            adhoc: self.adhoc.convert(),
            trust_store: self.trust_store.convert(),
        }
    }
}

impl Convert<V7Location> for model::Location {
    fn convert(self) -> V7Location {
        match self {
            model::Location::Endpoint {
                host,
                port,
                server_name,
            } => V7Location::Endpoint {
                host: host.convert(),
                port: port.convert(),
                server_name: server_name.convert(),
            },
            model::Location::File { path, index } => V7Location::File {
                path: path.convert(),
                index: index.convert(),
            },
            model::Location::Starttls {
                protocol,
                host,
                port,
                server_name,
            } => V7Location::Starttls {
                protocol: protocol.convert(),
                host: host.convert(),
                port: port.convert(),
                server_name: server_name.convert(),
            },
        }
    }
}

impl Convert<model::Location> for V7Location {
    fn convert(self) -> model::Location {
        match self {
            V7Location::Endpoint {
                host,
                port,
                server_name,
            } => model::Location::Endpoint {
                host: host.convert(),
                port: port.convert(),
                server_name: server_name.convert(),
            },
            V7Location::File { path, index } => model::Location::File {
                path: path.convert(),
                index: index.convert(),
            },
            V7Location::Starttls {
                protocol,
                host,
                port,
                server_name,
            } => model::Location::Starttls {
                protocol: protocol.convert(),
                host: host.convert(),
                port: port.convert(),
                server_name: server_name.convert(),
            },
        }
    }
}

impl Convert<V7Starttls> for model::Starttls {
    fn convert(self) -> V7Starttls {
        match self {
            model::Starttls::Smtp => V7Starttls::Smtp,
            model::Starttls::Imap => V7Starttls::Imap,
            model::Starttls::Pop3 => V7Starttls::Pop3,
            model::Starttls::Ftp => V7Starttls::Ftp,
            model::Starttls::Ldap => V7Starttls::Ldap,
            model::Starttls::Postgres => V7Starttls::Postgres,
            model::Starttls::Mysql => V7Starttls::Mysql,
            model::Starttls::Xmpp => V7Starttls::Xmpp,
        }
    }
}

impl Convert<model::Starttls> for V7Starttls {
    fn convert(self) -> model::Starttls {
        match self {
            V7Starttls::Smtp => model::Starttls::Smtp,
            V7Starttls::Imap => model::Starttls::Imap,
            V7Starttls::Pop3 => model::Starttls::Pop3,
            V7Starttls::Ftp => model::Starttls::Ftp,
            V7Starttls::Ldap => model::Starttls::Ldap,
            V7Starttls::Postgres => model::Starttls::Postgres,
            V7Starttls::Mysql => model::Starttls::Mysql,
            V7Starttls::Xmpp => model::Starttls::Xmpp,
        }
    }
}

impl Convert<V7CertRecord> for model::CertRecord {
    fn convert(self) -> V7CertRecord {
        V7CertRecord {
            subject: self.subject.convert(),
            subject_cn: self.subject_cn.convert(),
            sans: self.sans.convert(),
            issuer: self.issuer.convert(),
            issuer_cn: self.issuer_cn.convert(),
            serial: self.serial.convert(),
            not_before: self.not_before.convert(),
            not_after: self.not_after.convert(),
            key: self.key.convert(),
            signature_algorithm: self.signature_algorithm.convert(),
            sha256: self.sha256.convert(),
            authority_key_id: self.authority_key_id.convert(),
            subject_key_id: self.subject_key_id.convert(),
            ocsp_urls: self.ocsp_urls.convert(),
            ca_issuer_urls: self.ca_issuer_urls.convert(),
            is_ca: self.is_ca.convert(),
            self_signed: self.self_signed.convert(),
        }
    }
}

impl Convert<model::CertRecord> for V7CertRecord {
    fn convert(self) -> model::CertRecord {
        model::CertRecord {
            subject: self.subject.convert(),
            subject_cn: self.subject_cn.convert(),
            sans: self.sans.convert(),
            issuer: self.issuer.convert(),
            issuer_cn: self.issuer_cn.convert(),
            serial: self.serial.convert(),
            not_before: self.not_before.convert(),
            not_after: self.not_after.convert(),
            key: self.key.convert(),
            signature_algorithm: self.signature_algorithm.convert(),
            sha256: self.sha256.convert(),
            authority_key_id: self.authority_key_id.convert(),
            subject_key_id: self.subject_key_id.convert(),
            ocsp_urls: self.ocsp_urls.convert(),
            ca_issuer_urls: self.ca_issuer_urls.convert(),
            is_ca: self.is_ca.convert(),
            self_signed: self.self_signed.convert(),
        }
    }
}

impl Convert<V7KeyInfo> for model::KeyInfo {
    fn convert(self) -> V7KeyInfo {
        V7KeyInfo {
            algorithm: self.algorithm.convert(),
            bits: self.bits.convert(),
            curve: self.curve.convert(),
        }
    }
}

impl Convert<model::KeyInfo> for V7KeyInfo {
    fn convert(self) -> model::KeyInfo {
        model::KeyInfo {
            algorithm: self.algorithm.convert(),
            bits: self.bits.convert(),
            curve: self.curve.convert(),
        }
    }
}

impl Convert<V7TlsInfo> for model::TlsInfo {
    fn convert(self) -> V7TlsInfo {
        V7TlsInfo {
            version: self.version.convert(),
            cipher: self.cipher.convert(),
            handshake_ms: self.handshake_ms.convert(),
            peer: self.peer.convert(),
        }
    }
}

impl Convert<model::TlsInfo> for V7TlsInfo {
    fn convert(self) -> model::TlsInfo {
        model::TlsInfo {
            version: self.version.convert(),
            cipher: self.cipher.convert(),
            handshake_ms: self.handshake_ms.convert(),
            peer: self.peer.convert(),
        }
    }
}

impl Convert<V7Finding> for model::Finding {
    fn convert(self) -> V7Finding {
        V7Finding {
            code: self.code.convert(),
            severity: self.severity.convert(),
            message: self.message.convert(),
        }
    }
}

impl Convert<model::Finding> for V7Finding {
    fn convert(self) -> model::Finding {
        model::Finding {
            code: self.code.convert(),
            severity: self.severity.convert(),
            message: self.message.convert(),
        }
    }
}

impl Convert<V7FindingCode> for model::FindingCode {
    fn convert(self) -> V7FindingCode {
        match self {
            model::FindingCode::Expired => V7FindingCode::Expired,
            model::FindingCode::Expiring => V7FindingCode::Expiring,
            model::FindingCode::NotYetValid => V7FindingCode::NotYetValid,
            model::FindingCode::HostnameMismatch => V7FindingCode::HostnameMismatch,
            model::FindingCode::SelfSigned => V7FindingCode::SelfSigned,
            model::FindingCode::Untrusted => V7FindingCode::Untrusted,
            model::FindingCode::IncompleteChain => V7FindingCode::IncompleteChain,
            model::FindingCode::NoTls13 => V7FindingCode::NoTls13,
            model::FindingCode::WeakKey => V7FindingCode::WeakKey,
            model::FindingCode::WeakSignature => V7FindingCode::WeakSignature,
            model::FindingCode::DnsError => V7FindingCode::DnsError,
            model::FindingCode::ConnectError => V7FindingCode::ConnectError,
            model::FindingCode::Timeout => V7FindingCode::Timeout,
            model::FindingCode::TlsError => V7FindingCode::TlsError,
            model::FindingCode::ParseError => V7FindingCode::ParseError,
            model::FindingCode::StaleServed => V7FindingCode::StaleServed,
            model::FindingCode::ChainExpired => V7FindingCode::ChainExpired,
            model::FindingCode::ChainNotYetValid => V7FindingCode::ChainNotYetValid,
            model::FindingCode::StarttlsRefused => V7FindingCode::StarttlsRefused,
            model::FindingCode::LegacyTls => V7FindingCode::LegacyTls,
            model::FindingCode::Revoked => V7FindingCode::Revoked,
            model::FindingCode::RevocationUnknown => V7FindingCode::RevocationUnknown,
            model::FindingCode::OcspMustStapleMissing => V7FindingCode::OcspMustStapleMissing,
            model::FindingCode::FileMissing => V7FindingCode::FileMissing,
        }
    }
}

impl Convert<model::FindingCode> for V7FindingCode {
    fn convert(self) -> model::FindingCode {
        match self {
            V7FindingCode::Expired => model::FindingCode::Expired,
            V7FindingCode::Expiring => model::FindingCode::Expiring,
            V7FindingCode::NotYetValid => model::FindingCode::NotYetValid,
            V7FindingCode::HostnameMismatch => model::FindingCode::HostnameMismatch,
            V7FindingCode::SelfSigned => model::FindingCode::SelfSigned,
            V7FindingCode::Untrusted => model::FindingCode::Untrusted,
            V7FindingCode::IncompleteChain => model::FindingCode::IncompleteChain,
            V7FindingCode::NoTls13 => model::FindingCode::NoTls13,
            V7FindingCode::WeakKey => model::FindingCode::WeakKey,
            V7FindingCode::WeakSignature => model::FindingCode::WeakSignature,
            V7FindingCode::DnsError => model::FindingCode::DnsError,
            V7FindingCode::ConnectError => model::FindingCode::ConnectError,
            V7FindingCode::Timeout => model::FindingCode::Timeout,
            V7FindingCode::TlsError => model::FindingCode::TlsError,
            V7FindingCode::ParseError => model::FindingCode::ParseError,
            V7FindingCode::StaleServed => model::FindingCode::StaleServed,
            V7FindingCode::ChainExpired => model::FindingCode::ChainExpired,
            V7FindingCode::ChainNotYetValid => model::FindingCode::ChainNotYetValid,
            V7FindingCode::StarttlsRefused => model::FindingCode::StarttlsRefused,
            V7FindingCode::LegacyTls => model::FindingCode::LegacyTls,
            V7FindingCode::Revoked => model::FindingCode::Revoked,
            V7FindingCode::RevocationUnknown => model::FindingCode::RevocationUnknown,
            V7FindingCode::OcspMustStapleMissing => model::FindingCode::OcspMustStapleMissing,
            V7FindingCode::FileMissing => model::FindingCode::FileMissing,
        }
    }
}

impl Convert<V7Severity> for model::Severity {
    fn convert(self) -> V7Severity {
        match self {
            model::Severity::Info => V7Severity::Info,
            model::Severity::Warning => V7Severity::Warning,
            model::Severity::Critical => V7Severity::Critical,
        }
    }
}

impl Convert<model::Severity> for V7Severity {
    fn convert(self) -> model::Severity {
        match self {
            V7Severity::Info => model::Severity::Info,
            V7Severity::Warning => model::Severity::Warning,
            V7Severity::Critical => model::Severity::Critical,
        }
    }
}

impl Convert<V7ChainCert> for model::ChainCert {
    fn convert(self) -> V7ChainCert {
        V7ChainCert {
            subject: self.subject.convert(),
            name: self.name.convert(),
            issuer: self.issuer.convert(),
            serial: self.serial.convert(),
            sha256: self.sha256.convert(),
            not_before: self.not_before.convert(),
            not_after: self.not_after.convert(),
        }
    }
}

impl Convert<model::ChainCert> for V7ChainCert {
    fn convert(self) -> model::ChainCert {
        model::ChainCert {
            subject: self.subject.convert(),
            name: self.name.convert(),
            issuer: self.issuer.convert(),
            serial: self.serial.convert(),
            sha256: self.sha256.convert(),
            not_before: self.not_before.convert(),
            not_after: self.not_after.convert(),
        }
    }
}

impl Convert<V7ListRow> for model::ListRow {
    fn convert(self) -> V7ListRow {
        V7ListRow {
            id: self.id.convert(),
            target: self.target.convert(),
            name: self.name.convert(),
            subject: self.subject.convert(),
            issuer: self.issuer.convert(),
            validity: self.validity.convert(),
            codes: self.codes.convert(),
            chain_validity: self.chain_validity.convert(),
            labels: self.labels.convert(),
            cert_id: self.cert_id.convert(),
            anchor: self.anchor.convert(),
        }
    }
}

impl Convert<model::ListRow> for V7ListRow {
    fn convert(self) -> model::ListRow {
        model::ListRow {
            id: self.id.convert(),
            target: self.target.convert(),
            name: self.name.convert(),
            subject: self.subject.convert(),
            issuer: self.issuer.convert(),
            validity: self.validity.convert(),
            codes: self.codes.convert(),
            chain_validity: self.chain_validity.convert(),
            labels: self.labels.convert(),
            cert_id: self.cert_id.convert(),
            anchor: self.anchor.convert(),
        }
    }
}

impl Convert<V7HistoryEntry> for model::HistoryEntry {
    fn convert(self) -> V7HistoryEntry {
        V7HistoryEntry {
            at: self.at.convert(),
            sha256: self.sha256.convert(),
            serial: self.serial.convert(),
            not_after: self.not_after.convert(),
            codes: self.codes.convert(),
        }
    }
}

impl Convert<model::HistoryEntry> for V7HistoryEntry {
    fn convert(self) -> model::HistoryEntry {
        model::HistoryEntry {
            at: self.at.convert(),
            sha256: self.sha256.convert(),
            serial: self.serial.convert(),
            not_after: self.not_after.convert(),
            codes: self.codes.convert(),
        }
    }
}

impl Convert<V7InventoryEvent> for model::InventoryEvent {
    fn convert(self) -> V7InventoryEvent {
        V7InventoryEvent {
            at: self.at.convert(),
            location_id: self.location_id.convert(),
            target: self.target.convert(),
            kind: self.kind.convert(),
        }
    }
}

impl Convert<model::InventoryEvent> for V7InventoryEvent {
    fn convert(self) -> model::InventoryEvent {
        model::InventoryEvent {
            at: self.at.convert(),
            location_id: self.location_id.convert(),
            target: self.target.convert(),
            kind: self.kind.convert(),
        }
    }
}

impl Convert<V7EventKind> for model::EventKind {
    fn convert(self) -> V7EventKind {
        match self {
            model::EventKind::FirstSeen { sha256 } => V7EventKind::FirstSeen {
                sha256: sha256.convert(),
            },
            model::EventKind::CertificateChanged {
                old_sha256,
                new_sha256,
                new_serial,
            } => V7EventKind::CertificateChanged {
                old_sha256: old_sha256.convert(),
                new_sha256: new_sha256.convert(),
                new_serial: new_serial.convert(),
            },
            model::EventKind::RenewalSucceeded {
                name,
                serial,
                not_after,
            } => V7EventKind::RenewalSucceeded {
                name: name.convert(),
                serial: serial.convert(),
                not_after: not_after.convert(),
            },
            model::EventKind::RenewalFailed {
                name,
                error,
                failures,
            } => V7EventKind::RenewalFailed {
                name: name.convert(),
                error: error.convert(),
                failures: failures.convert(),
            },
            model::EventKind::Deployed {
                name,
                target,
                serial,
            } => V7EventKind::Deployed {
                name: name.convert(),
                target: target.convert(),
                serial: serial.convert(),
            },
            model::EventKind::DeployFailed {
                name,
                target,
                kind,
                error,
                rolled_back,
            } => V7EventKind::DeployFailed {
                name: name.convert(),
                target: target.convert(),
                kind: kind.convert(),
                error: error.convert(),
                rolled_back: rolled_back.convert(),
            },
            model::EventKind::Retired { reason } => V7EventKind::Retired {
                reason: reason.convert(),
            },
        }
    }
}

impl Convert<model::EventKind> for V7EventKind {
    fn convert(self) -> model::EventKind {
        match self {
            V7EventKind::FirstSeen { sha256 } => model::EventKind::FirstSeen {
                sha256: sha256.convert(),
            },
            V7EventKind::CertificateChanged {
                old_sha256,
                new_sha256,
                new_serial,
            } => model::EventKind::CertificateChanged {
                old_sha256: old_sha256.convert(),
                new_sha256: new_sha256.convert(),
                new_serial: new_serial.convert(),
            },
            V7EventKind::RenewalSucceeded {
                name,
                serial,
                not_after,
            } => model::EventKind::RenewalSucceeded {
                name: name.convert(),
                serial: serial.convert(),
                not_after: not_after.convert(),
            },
            V7EventKind::RenewalFailed {
                name,
                error,
                failures,
            } => model::EventKind::RenewalFailed {
                name: name.convert(),
                error: error.convert(),
                failures: failures.convert(),
            },
            V7EventKind::Deployed {
                name,
                target,
                serial,
            } => model::EventKind::Deployed {
                name: name.convert(),
                target: target.convert(),
                serial: serial.convert(),
            },
            V7EventKind::DeployFailed {
                name,
                target,
                kind,
                error,
                rolled_back,
            } => model::EventKind::DeployFailed {
                name: name.convert(),
                target: target.convert(),
                kind: kind.convert(),
                error: error.convert(),
                rolled_back: rolled_back.convert(),
            },
            V7EventKind::Retired { reason } => model::EventKind::Retired {
                reason: reason.convert(),
            },
        }
    }
}

impl Convert<V7ManagedState> for model::ManagedState {
    fn convert(self) -> V7ManagedState {
        V7ManagedState {
            name: self.name.convert(),
            in_flight: self.in_flight.convert(),
            failures: self.failures.convert(),
            last_failure: self.last_failure.convert(),
            last_error: self.last_error.convert(),
            last_problem: self.last_problem.convert(),
            last_success: self.last_success.convert(),
            last_serial: self.last_serial.convert(),
            ari: self.ari.convert(),
            orders_placed: self.orders_placed.convert(),
        }
    }
}

impl Convert<model::ManagedState> for V7ManagedState {
    fn convert(self) -> model::ManagedState {
        model::ManagedState {
            name: self.name.convert(),
            in_flight: self.in_flight.convert(),
            failures: self.failures.convert(),
            last_failure: self.last_failure.convert(),
            last_error: self.last_error.convert(),
            last_problem: self.last_problem.convert(),
            last_success: self.last_success.convert(),
            last_serial: self.last_serial.convert(),
            ari: self.ari.convert(),
            orders_placed: self.orders_placed.convert(),
        }
    }
}

impl Convert<V7InFlight> for model::InFlight {
    fn convert(self) -> V7InFlight {
        V7InFlight {
            order_url: self.order_url.convert(),
            version: self.version.convert(),
            key_written: self.key_written.convert(),
            started_at: self.started_at.convert(),
        }
    }
}

impl Convert<model::InFlight> for V7InFlight {
    fn convert(self) -> model::InFlight {
        model::InFlight {
            order_url: self.order_url.convert(),
            version: self.version.convert(),
            key_written: self.key_written.convert(),
            started_at: self.started_at.convert(),
        }
    }
}

impl Convert<V7CaProblem> for model::CaProblem {
    fn convert(self) -> V7CaProblem {
        V7CaProblem {
            kind: self.kind.convert(),
            detail: self.detail.convert(),
            status: self.status.convert(),
            subproblems: self.subproblems.convert(),
        }
    }
}

impl Convert<model::CaProblem> for V7CaProblem {
    fn convert(self) -> model::CaProblem {
        model::CaProblem {
            kind: self.kind.convert(),
            detail: self.detail.convert(),
            status: self.status.convert(),
            subproblems: self.subproblems.convert(),
        }
    }
}

impl Convert<V7AriState> for model::AriState {
    fn convert(self) -> V7AriState {
        V7AriState {
            serial: self.serial.convert(),
            start: self.start.convert(),
            end: self.end.convert(),
            next_check: self.next_check.convert(),
        }
    }
}

impl Convert<model::AriState> for V7AriState {
    fn convert(self) -> model::AriState {
        model::AriState {
            serial: self.serial.convert(),
            start: self.start.convert(),
            end: self.end.convert(),
            next_check: self.next_check.convert(),
        }
    }
}

impl Convert<V7OpenAlert> for model::OpenAlert {
    fn convert(self) -> V7OpenAlert {
        V7OpenAlert {
            key: self.key.convert(),
            event: self.event.convert(),
            opened_at: self.opened_at.convert(),
            last_sent_at: self.last_sent_at.convert(),
        }
    }
}

impl Convert<model::OpenAlert> for V7OpenAlert {
    fn convert(self) -> model::OpenAlert {
        model::OpenAlert {
            key: self.key.convert(),
            event: self.event.convert(),
            opened_at: self.opened_at.convert(),
            last_sent_at: self.last_sent_at.convert(),
        }
    }
}

impl Convert<V7AlertEvent> for model::AlertEvent {
    fn convert(self) -> V7AlertEvent {
        V7AlertEvent {
            id: self.id.convert(),
            kind: self.kind.convert(),
            severity: self.severity.convert(),
            summary: self.summary.convert(),
            threshold: self.threshold.convert(),
            certificate: self.certificate.convert(),
            locations: self.locations.convert(),
            occurred_at: self.occurred_at.convert(),
            reminder: self.reminder.convert(),
            resolves: self.resolves.convert(),
            detail: self.detail.convert(),
        }
    }
}

impl Convert<model::AlertEvent> for V7AlertEvent {
    fn convert(self) -> model::AlertEvent {
        model::AlertEvent {
            id: self.id.convert(),
            kind: self.kind.convert(),
            severity: self.severity.convert(),
            summary: self.summary.convert(),
            threshold: self.threshold.convert(),
            certificate: self.certificate.convert(),
            locations: self.locations.convert(),
            occurred_at: self.occurred_at.convert(),
            reminder: self.reminder.convert(),
            resolves: self.resolves.convert(),
            detail: self.detail.convert(),
        }
    }
}

impl Convert<V7AlertCert> for model::AlertCert {
    fn convert(self) -> V7AlertCert {
        V7AlertCert {
            subject: self.subject.convert(),
            issuer: self.issuer.convert(),
            serial: self.serial.convert(),
            sha256: self.sha256.convert(),
            sans: self.sans.convert(),
            not_after: self.not_after.convert(),
        }
    }
}

impl Convert<model::AlertCert> for V7AlertCert {
    fn convert(self) -> model::AlertCert {
        model::AlertCert {
            subject: self.subject.convert(),
            issuer: self.issuer.convert(),
            serial: self.serial.convert(),
            sha256: self.sha256.convert(),
            sans: self.sans.convert(),
            not_after: self.not_after.convert(),
        }
    }
}

impl Convert<V7Delivery> for model::Delivery {
    fn convert(self) -> V7Delivery {
        V7Delivery {
            id: self.id.convert(),
            webhook: self.webhook.convert(),
            event: self.event.convert(),
            created_at: self.created_at.convert(),
            attempts: self.attempts.convert(),
            next_attempt_at: self.next_attempt_at.convert(),
            state: self.state.convert(),
            last_error: self.last_error.convert(),
            last_status: self.last_status.convert(),
        }
    }
}

impl Convert<model::Delivery> for V7Delivery {
    fn convert(self) -> model::Delivery {
        model::Delivery {
            id: self.id.convert(),
            webhook: self.webhook.convert(),
            event: self.event.convert(),
            created_at: self.created_at.convert(),
            attempts: self.attempts.convert(),
            next_attempt_at: self.next_attempt_at.convert(),
            state: self.state.convert(),
            last_error: self.last_error.convert(),
            last_status: self.last_status.convert(),
        }
    }
}

impl Convert<V7DeliveryState> for model::DeliveryState {
    fn convert(self) -> V7DeliveryState {
        match self {
            model::DeliveryState::Pending => V7DeliveryState::Pending,
            model::DeliveryState::Dead => V7DeliveryState::Dead,
        }
    }
}

impl Convert<model::DeliveryState> for V7DeliveryState {
    fn convert(self) -> model::DeliveryState {
        match self {
            V7DeliveryState::Pending => model::DeliveryState::Pending,
            V7DeliveryState::Dead => model::DeliveryState::Dead,
        }
    }
}
