//! Schema 2: records become postcard, and chains move to their own tree.
//!
//! Why: `certctl list` over 100 000 locations decoded every JSON record including its whole
//! chain. Schema 2 keeps only the leaf in `locations` (postcard, versioned) and moves the
//! presented chain to `chains`, which only `certctl show` reads. Also adds the `history` and
//! `events` trees. The conversion of every record and the version bump form one transaction.

use serde::Deserialize;
use sled::Transactional;

use super::schema6::V6Location;
use crate::store::codec;
use crate::store::schema7::V7CertRecord as CertRecord;

/// A schema-1 record: today's record fields, minus `leaf`, plus the inline chain.
#[derive(Deserialize)]
struct V1Location {
    #[serde(flatten)]
    record: V6Location,
    #[serde(default)]
    chain: Vec<CertRecord>,
}

pub fn up(db: &sled::Db) -> Result<(), String> {
    let locations = db.open_tree("locations").map_err(|e| e.to_string())?;
    let chains = db.open_tree("chains").map_err(|e| e.to_string())?;
    let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
    db.open_tree("history").map_err(|e| e.to_string())?;
    db.open_tree("events").map_err(|e| e.to_string())?;
    let mut converted = Vec::new();
    for item in locations.iter() {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let v1: V1Location = serde_json::from_slice(&value).map_err(|e| {
            format!(
                "location {} is not a schema-1 record: {e}",
                String::from_utf8_lossy(&key)
            )
        })?;
        let mut record = v1.record;
        record.leaf = v1.chain.first().cloned();
        converted.push((key, codec::encode(&record), codec::encode(&v1.chain)));
    }
    (&locations, &chains, &meta)
        .transaction(|(locations, chains, meta)| {
            for (key, record, chain) in &converted {
                locations.insert(key, record.as_slice())?;
                chains.insert(key, chain.as_slice())?;
            }
            meta.insert("schema_version", &2u32.to_be_bytes())?;
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        })
        .map_err(|e| format!("{e:?}"))
}
