//! Schema 5: the hash-chained audit log (`audit`: sequence -> entry, each entry carrying the
//! SHA-256 of the previous one), and its cursor over inventory events in `alert_meta`.

pub fn up(db: &sled::Db) -> Result<(), String> {
    db.open_tree("audit").map_err(|e| e.to_string())?;
    super::set_version(db, 5)
}
