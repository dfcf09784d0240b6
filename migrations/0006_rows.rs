//! Schema 6: the `rows` tree, the compact listing form of each location (`ListRow`), written
//! beside the full record on every scan so that `certctl list` reads a few small strings per
//! location instead of whole certificates. Built here from the existing records.

use crate::model::{ListRow, LocationRecord};
use crate::store::codec;

pub fn up(db: &sled::Db) -> Result<(), String> {
    let locations = db.open_tree("locations").map_err(|e| e.to_string())?;
    let rows = db.open_tree("rows").map_err(|e| e.to_string())?;
    let mut batch = sled::Batch::default();
    for item in locations.iter() {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let record: LocationRecord = codec::decode(&value)
            .map_err(|e| format!("location {}: {e}", String::from_utf8_lossy(&key)))?;
        batch.insert(key, codec::encode(&ListRow::of(&record)));
    }
    rows.apply_batch(batch).map_err(|e| e.to_string())?;
    super::set_version(db, 6)
}
