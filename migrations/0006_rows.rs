//! Schema 6: the `rows` tree, the compact listing form of each location (`ListRow`), written
//! beside the full record on every scan so that `certctl list` reads a few small strings per
//! location instead of whole certificates. Built here from the existing records.

use super::schema6::{V6Location, V6Row};
use crate::store::codec;
use crate::store::convert::Convert;

pub fn up(db: &sled::Db) -> Result<(), String> {
    let locations = db.open_tree("locations").map_err(|e| e.to_string())?;
    let rows = db.open_tree("rows").map_err(|e| e.to_string())?;
    let mut batch = sled::Batch::default();
    for item in locations.iter() {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let record: V6Location = codec::decode(&value)
            .map_err(|e| format!("location {}: {e}", String::from_utf8_lossy(&key)))?;
        let model: crate::model::LocationRecord = record.upgrade(Vec::new()).convert();
        let row = V6Row::from(crate::model::ListRow::of(&model).convert());
        batch.insert(key, codec::encode(&row));
    }
    rows.apply_batch(batch).map_err(|e| e.to_string())?;
    super::set_version(db, 6)
}
