//! Schema 7: each location keeps the validity of the other certificates its path depends on
//! (`LocationRecord::issuers`, `ListRow::chain_validity`), so an expired intermediate is judged
//! at every read like the leaf. Filled here from the stored chains; records and rows are
//! rewritten with the version bump in one transaction.

use sled::Transactional;

use super::schema6::V6Location;
use crate::store::codec;
use crate::store::convert::Convert;
use crate::store::schema7::{V7CertRecord, V7ListRow, V7LocationRecord};

pub fn up(db: &sled::Db) -> Result<(), String> {
    let locations = db.open_tree("locations").map_err(|e| e.to_string())?;
    let chains = db.open_tree("chains").map_err(|e| e.to_string())?;
    let rows = db.open_tree("rows").map_err(|e| e.to_string())?;
    let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
    let mut converted = Vec::new();
    for item in locations.iter() {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let shown = || String::from_utf8_lossy(&key).into_owned();
        let old: V6Location =
            codec::decode(&value).map_err(|e| format!("location {}: {e}", shown()))?;
        let chain: Vec<V7CertRecord> = match chains.get(&key).map_err(|e| e.to_string())? {
            Some(bytes) => codec::decode(&bytes).map_err(|e| format!("chain {}: {e}", shown()))?,
            None => Vec::new(),
        };
        let record: V7LocationRecord = old.upgrade(chain);
        // The row is computed from the record by today's rule, and written as schema 7's.
        let model: crate::model::LocationRecord = record.convert();
        let row: V7ListRow = crate::model::ListRow::of(&model).convert();
        let record: V7LocationRecord = model.convert();
        converted.push((key, codec::encode(&record), codec::encode(&row)));
    }
    (&locations, &rows, &meta)
        .transaction(|(locations, rows, meta)| {
            for (key, record, row) in &converted {
                locations.insert(key, record.as_slice())?;
                rows.insert(key, row.as_slice())?;
            }
            meta.insert("schema_version", &7u32.to_be_bytes())?;
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        })
        .map_err(|e| format!("{e:?}"))
}
