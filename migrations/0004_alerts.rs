//! Schema 4: alerting state.
//!
//! - `alerts`: condition key -> open alert (what was sent, when).
//! - `outbox`: delivery id (big-endian) -> delivery (the durable queue of webhook sends).
//! - `alert_meta`: the inventory event cursor, and webhooks disabled after an HTTP 410.
//!
//! New trees only; nothing to convert.

pub fn up(db: &sled::Db) -> Result<(), String> {
    for tree in ["alerts", "outbox", "alert_meta"] {
        db.open_tree(tree).map_err(|e| e.to_string())?;
    }
    super::set_version(db, 4)
}
