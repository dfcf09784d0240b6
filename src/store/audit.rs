//! The audit log: append-only, hash-chained. Each entry stores the SHA-256 of the previous
//! entry and its own hash over (sequence, time, action, subject, detail, previous hash), so
//! editing or deleting any entry breaks the chain from that entry on, and `certctl audit
//! verify` names it.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, codec};
use crate::model::UnixSeconds;

const AUDIT_CURSOR: &[u8] = b"audit_event_cursor";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: UnixSeconds,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub prev: String,
    pub hash: String,
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry #{seq} is broken: {reason}")]
pub struct AuditError {
    pub seq: u64,
    pub reason: String,
}

fn entry_hash(
    seq: u64,
    at: UnixSeconds,
    action: &str,
    subject: &str,
    detail: &str,
    prev: &str,
) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        seq.to_string().as_str(),
        at.to_string().as_str(),
        action,
        subject,
        detail,
        prev,
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    hex::encode(ctx.finish())
}

impl Store {
    /// Appends an entry to the chain and flushes.
    pub fn append_audit(
        &self,
        at: UnixSeconds,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<u64, StoreError> {
        // One writer at a time: the chain needs the previous hash.
        let _guard = self.audit_lock.lock();
        let (seq, prev) = match self
            .audit
            .last()
            .map_err(self.sled_err("reading the audit log"))?
        {
            Some((k, v)) => {
                let last: AuditEntry = self.decode("audit", &k, &v)?;
                (last.seq + 1, last.hash)
            }
            None => (1, String::new()),
        };
        let entry = AuditEntry {
            seq,
            at,
            action: action.to_string(),
            subject: subject.to_string(),
            detail: detail.to_string(),
            hash: entry_hash(seq, at, action, subject, detail, &prev),
            prev,
        };
        self.audit
            .insert(seq.to_be_bytes(), codec::put(&entry))
            .map_err(self.sled_err("appending to the audit log"))?;
        self.flush()?;
        Ok(seq)
    }

    /// Entries at or after `since`, oldest first.
    pub fn audit_entries(&self, since: UnixSeconds) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.audit.iter() {
            let (k, v) = item.map_err(self.sled_err("reading the audit log"))?;
            let e: AuditEntry = self.decode("audit", &k, &v)?;
            if e.at >= since {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Checks the whole chain; returns the number of entries, or where it breaks.
    pub fn audit_verify(&self) -> Result<Result<u64, AuditError>, StoreError> {
        let mut prev = String::new();
        let mut expected_seq = 1;
        for item in self.audit.iter() {
            let (k, v) = item.map_err(self.sled_err("reading the audit log"))?;
            let key_seq = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let e: AuditEntry = match codec::get(&v) {
                Ok(e) => e,
                Err(reason) => {
                    return Ok(Err(AuditError {
                        seq: key_seq,
                        reason: format!("unreadable: {reason}"),
                    }));
                }
            };
            let fail = |reason: String| {
                Ok(Err(AuditError {
                    seq: key_seq,
                    reason,
                }))
            };
            if e.seq != expected_seq || key_seq != e.seq {
                return fail(format!(
                    "expected entry #{expected_seq} here (an entry was removed or moved)"
                ));
            }
            if e.prev != prev {
                return fail("it does not follow the previous entry (prev hash differs)".into());
            }
            if entry_hash(e.seq, e.at, &e.action, &e.subject, &e.detail, &e.prev) != e.hash {
                return fail("its content does not match its hash (edited after the fact)".into());
            }
            prev = e.hash;
            expected_seq += 1;
        }
        Ok(Ok(expected_seq - 1))
    }

    /// The last inventory event already written to the audit log.
    pub fn audit_cursor(&self) -> Result<Option<u64>, StoreError> {
        let value = self
            .alert_meta
            .get(AUDIT_CURSOR)
            .map_err(self.sled_err("reading the audit cursor"))?;
        Ok(value
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    pub fn set_audit_cursor(&self, cursor: u64) -> Result<(), StoreError> {
        self.alert_meta
            .insert(AUDIT_CURSOR, &cursor.to_be_bytes())
            .map_err(self.sled_err("writing the audit cursor"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_with_one_entry_is_found_at_that_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s")).expect("open");
        for i in 0..5 {
            store
                .append_audit(100 + i, "renewal_succeeded", "www", &format!("serial {i}"))
                .expect("append");
        }
        assert_eq!(store.audit_verify().expect("verify"), Ok(5));
        // Edit entry #3 behind the log's back, as someone with raw access to the store would.
        let key = 3u64.to_be_bytes();
        let raw = store.audit.get(key).expect("get").expect("entry");
        let mut entry: AuditEntry = codec::get(&raw).expect("decode");
        entry.detail = "serial forged".into();
        store.audit.insert(key, codec::put(&entry)).expect("tamper");
        let broken = store.audit_verify().expect("verify").expect_err("broken");
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("edited"), "{broken}");
        // Deleting an entry is found too.
        store.audit.remove(4u64.to_be_bytes()).expect("remove");
        entry.detail = "serial 2".into();
        store
            .audit
            .insert(key, codec::put(&entry))
            .expect("restore");
        let broken = store.audit_verify().expect("verify").expect_err("broken");
        assert_eq!(broken.seq, 5);
    }
}
