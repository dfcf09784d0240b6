//! The location and listing-row types as schema 2 to 6 stored them, frozen here so that the
//! migrations written against them keep decoding old stores after the model moves on.
//! postcard encodes by position: a field added to a model type changes its encoding, so no
//! migration may decode old data with today's model types.

use serde::{Deserialize, Serialize};

use crate::model::{
    CertRecord, Finding, FindingCode, ListRow, Location, LocationRecord, Severity, TlsInfo,
    UnixSeconds,
};

/// `LocationRecord` of schemas 2-6.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct V6Location {
    pub id: String,
    pub location: Location,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
    pub first_seen: UnixSeconds,
    pub last_scanned: UnixSeconds,
    pub leaf_since: Option<UnixSeconds>,
    pub leaf: Option<CertRecord>,
    pub tls: Option<TlsInfo>,
    pub findings: Vec<Finding>,
    pub consecutive_failures: u32,
}

/// `ListRow` of schema 6.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct V6Row {
    pub id: String,
    pub target: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub validity: Option<(UnixSeconds, UnixSeconds)>,
    pub codes: Vec<(FindingCode, Severity)>,
}

impl V6Location {
    /// Today's record, with the path's other certificates taken from the stored chain.
    pub fn upgrade(self, chain: &[CertRecord]) -> LocationRecord {
        LocationRecord {
            id: self.id,
            location: self.location,
            name: self.name,
            labels: self.labels,
            first_seen: self.first_seen,
            last_scanned: self.last_scanned,
            leaf_since: self.leaf_since,
            leaf: self.leaf,
            tls: self.tls,
            findings: self.findings,
            consecutive_failures: self.consecutive_failures,
            issuers: crate::model::ChainCert::issuers_of(chain),
            adhoc: false,
            trust_store: false,
        }
    }
}

impl From<ListRow> for V6Row {
    fn from(row: ListRow) -> V6Row {
        V6Row {
            id: row.id,
            target: row.target,
            name: row.name,
            subject: row.subject,
            issuer: row.issuer,
            validity: row.validity,
            codes: row.codes,
        }
    }
}
