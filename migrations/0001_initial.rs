//! Schema 1: the first store layout.
//!
//! Trees: `meta` (schema_version) and `locations` (id -> JSON record with the presented chain
//! inline). A new store passes through here and is immediately upgraded by the next migrations.

pub fn up(db: &sled::Db) -> Result<(), String> {
    db.open_tree("locations").map_err(|e| e.to_string())?;
    super::set_version(db, 1)
}
