//! Schema 3: the `managed` tree, one durable renewal state per managed certificate
//! (in-flight order, failures and backoff, last problem document, ARI window).
//!
//! Nothing to convert: the tree starts empty; inventory events gain renewal kinds, appended at
//! the end of the enum so that schema-2 events still decode.

pub fn up(db: &sled::Db) -> Result<(), String> {
    db.open_tree("managed").map_err(|e| e.to_string())?;
    super::set_version(db, 3)
}
