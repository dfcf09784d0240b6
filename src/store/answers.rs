//! Revocation answers kept across runs: the raw OCSP responses and CRLs the scanner fetched,
//! each until the time it stops being current, so a restarted daemon or a `certctl scan` run
//! from cron asks each responder once per answer rather than once per process.
//!
//! The bytes are stored as fetched and verified again by the scanner every time they are
//! read (signature, issuer, validity), so the store is never trusted with a verdict. The tree
//! is a cache beside the schema, like `retry_hints`: a store written before it needs no
//! migration, and losing it only costs a fetch. Each value is the expiry (Unix seconds, 8
//! bytes big-endian) followed by the body.

use super::{Store, StoreError};
use crate::model::UnixSeconds;

impl Store {
    /// The body cached under `key`, if it is still current at `now` (an expired one is
    /// dropped).
    pub fn cached_answer(
        &self,
        key: &str,
        now: UnixSeconds,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(value) = self
            .answers
            .get(key.as_bytes())
            .map_err(self.sled_err("reading a cached revocation answer"))?
        else {
            return Ok(None);
        };
        match split(&value) {
            Some((until, body)) if until > now => Ok(Some(body.to_vec())),
            _ => {
                self.answers
                    .remove(key.as_bytes())
                    .map_err(self.sled_err("dropping a cached revocation answer"))?;
                Ok(None)
            }
        }
    }

    /// Caches `body` under `key` until `until`.
    pub fn cache_answer(
        &self,
        key: &str,
        body: &[u8],
        until: UnixSeconds,
    ) -> Result<(), StoreError> {
        let mut value = Vec::with_capacity(8 + body.len());
        value.extend_from_slice(&until.to_be_bytes());
        value.extend_from_slice(body);
        self.answers
            .insert(key.as_bytes(), value)
            .map(|_| ())
            .map_err(self.sled_err("caching a revocation answer"))
    }

    /// Drops every answer no longer current at `now` (those of certificates no longer
    /// scanned are never read again). Returns how many were dropped.
    pub fn sweep_answers(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for entry in self.answers.iter() {
            let (key, value) = entry.map_err(self.sled_err("reading cached revocation answers"))?;
            if split(&value).is_none_or(|(until, _)| until <= now) {
                self.answers
                    .remove(&key)
                    .map_err(self.sled_err("dropping a cached revocation answer"))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}

fn split(value: &[u8]) -> Option<(UnixSeconds, &[u8])> {
    let (head, body) = value.split_at_checked(8)?;
    let until = UnixSeconds::from_be_bytes(head.try_into().ok()?);
    Some((until, body))
}

/// The scanner's view of the cache; a store that fails is only a cache miss (logged).
impl crate::inventory::AnswerCache for Store {
    fn get(&self, key: &str, now: UnixSeconds) -> Option<Vec<u8>> {
        self.cached_answer(key, now)
            .inspect_err(|e| tracing::warn!("revocation answer cache: {e}"))
            .ok()
            .flatten()
    }

    fn put(&self, key: &str, body: &[u8], until: UnixSeconds) {
        if let Err(e) = self.cache_answer(key, body, until) {
            tracing::warn!("revocation answer cache: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_until_they_expire_and_swept_after() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("store")).expect("open");
        store.cache_answer("ocsp a", b"one", 200).expect("put");
        store.cache_answer("crl b", b"two", 100).expect("put");
        store.cache_answer("crl c", b"", 300).expect("put");
        assert_eq!(
            store.cached_answer("ocsp a", 150).expect("get"),
            Some(b"one".to_vec())
        );
        assert_eq!(
            store.cached_answer("crl c", 150).expect("get"),
            Some(Vec::new())
        );
        assert_eq!(store.cached_answer("crl b", 150).expect("get"), None);
        assert_eq!(store.cached_answer("nothing", 150).expect("get"), None);
        // The expired one was dropped when read; a sweep drops the rest that expired.
        assert_eq!(store.sweep_answers(250).expect("sweep"), 1);
        assert_eq!(
            store.cached_answer("crl c", 250).expect("get"),
            Some(Vec::new())
        );
        // A short value (not written by this module) is a miss, not a panic.
        store.answers.insert("bad", &b"xy"[..]).expect("insert");
        assert_eq!(store.cached_answer("bad", 0).expect("get"), None);
        drop(store);
        let store = Store::open(&dir.path().join("store")).expect("reopen");
        assert_eq!(
            store.cached_answer("crl c", 250).expect("get"),
            Some(Vec::new())
        );
    }
}
