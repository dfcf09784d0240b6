//! What the store keeps about locations: the condensed record, its listing row, its history
//! and the inventory events.

use serde::{Deserialize, Serialize};

use super::{CertRecord, Finding, FindingCode, Location, Severity, TlsInfo, UnixSeconds};

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
    /// How alerts name this location: `host:443 (name)`, or the bare target without a name.
    pub fn alert_target(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.location.target()),
            None => self.location.target(),
        }
    }

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

/// One entry in a location's history: recorded whenever what is seen there changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: UnixSeconds,
    pub sha256: Option<String>,
    pub serial: Option<String>,
    pub not_after: Option<UnixSeconds>,
    pub codes: Vec<FindingCode>,
}
