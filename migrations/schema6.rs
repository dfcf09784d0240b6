//! The location and listing-row types as schema 2 to 6 stored them, frozen here so that the
//! migrations written against them keep decoding old stores after the model moves on.
//! postcard encodes by position: a field added to a model type changes its encoding, so no
//! migration may decode old data with today's model types. What schemas 2-6 stored inside a
//! location (the certificate, TLS parameters, findings) is encoded as schema 7 still encodes
//! it, so those parts are schema 7's frozen records.

use serde::{Deserialize, Serialize};

use crate::model::UnixSeconds;
use crate::store::schema7::{
    V7CertRecord as CertRecord, V7Finding as Finding, V7FindingCode as FindingCode,
    V7ListRow as ListRow, V7Location as Location, V7LocationRecord as LocationRecord,
    V7Severity as Severity, V7TlsInfo as TlsInfo,
};

/// `LocationRecord` of schemas 2-6.
#[derive(Serialize, Deserialize)]
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
#[derive(Serialize, Deserialize)]
pub struct V6Row {
    pub id: String,
    pub target: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub validity: Option<(UnixSeconds, UnixSeconds)>,
    pub codes: Vec<(FindingCode, Severity)>,
}

impl crate::store::codec::Record for V6Location {}
impl crate::store::codec::Record for V6Row {}

impl V6Location {
    /// Today's record, with the path's other certificates taken from the stored chain.
    pub fn upgrade(self, chain: Vec<CertRecord>) -> LocationRecord {
        use crate::store::convert::Convert;
        let chain: Vec<crate::model::CertRecord> = chain.convert();
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
            issuers: crate::model::ChainCert::issuers_of(&chain).convert(),
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
