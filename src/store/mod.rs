//! The only module that touches sled: typed trees for the inventory, versioned records, ordered
//! schema migrations, and an explicit flush at every transition that must survive a crash.
//!
//! Trees (schema 2):
//! - `meta`: `schema_version` (u32, big-endian).
//! - `locations`: location id -> [`LocationRecord`] (the latest state, leaf only).
//! - `chains`: location id -> full presented chain (read by `show` only, so `list` stays fast).
//! - `history`: location id ++ observed_at ++ sequence (big-endian) -> [`HistoryEntry`], on
//!   every change.
//! - `events`: sequence number (big-endian) -> [`InventoryEvent`].
//! - `managed` (schema 3): certificate name -> [`ManagedState`] (renewal progress).
//! - `alerts`, `outbox`, `alert_meta` (schema 4): open alerts, the delivery queue, the event
//!   cursor, disabled webhooks, the fleet store outage this node reports and the fleet nodes it
//!   sees down (see `alerts.rs`).
//!
//! The store only remembers what a fresh scan would rebuild, so a damaged store means a rescan,
//! not an outage.

mod alerts;
mod answers;
mod audit;
mod codec;
mod convert;
mod lease;
mod migrate;
mod schema7;

use std::path::{Path, PathBuf};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::inventory::Fold;
use crate::model::{
    CertRecord, HistoryEntry, InventoryEvent, ListRow, LocationRecord, ManagedState,
};
pub use alerts::{AlertCommit, NodeDown, StoreOutage};
pub use audit::{AuditEntry, AuditError};
pub use lease::Lease;
pub use migrate::SCHEMA_VERSION;

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (usually the daemon) has the store open.
    #[error(
        "the store at {} is in use by another certctl process (is `certctl run` active?); \
         stop it or query it through the daemon",
        path.display()
    )]
    Locked { path: PathBuf },
    /// The store was written by a newer certctl.
    #[error(
        "the store at {} has schema version {found}, but this certctl supports up to {supported}; \
         upgrade certctl (or point store.path at a new directory)",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The store directory could not be created.
    #[error("cannot create store directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// sled failed while opening, reading or writing.
    #[error("store {} failed while {action}: {error}", path.display())]
    Sled {
        path: PathBuf,
        action: &'static str,
        error: sled::Error,
    },
    /// The file system under the store refused a write: full, read-only, or not permitted.
    /// sled writes are all-or-nothing, so what the store held before is still there.
    #[error(
        "store {} failed while {action}: {reason} ({error}); {hint}. Nothing already in the store was lost",
        path.display()
    )]
    Disk {
        path: PathBuf,
        action: &'static str,
        reason: &'static str,
        hint: &'static str,
        error: std::io::Error,
    },
    /// A record could not be decoded.
    #[error("store {}: corrupt record in tree {tree} (key {key}): {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        tree: &'static str,
        key: String,
        reason: String,
    },
    /// A schema migration failed; the store is left at version `from`.
    #[error("store {}: migration from schema {from} to {to} failed: {reason}", path.display())]
    Migration {
        path: PathBuf,
        from: u32,
        to: u32,
        reason: String,
    },
}

impl StoreError {
    /// Whether trying again later may succeed (the lock may be released).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Locked { .. })
    }
}

/// An open store. Cheap to clone; all clones share one sled database.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    locations: sled::Tree,
    chains: sled::Tree,
    history: sled::Tree,
    events: sled::Tree,
    managed: sled::Tree,
    alerts: sled::Tree,
    outbox: sled::Tree,
    alert_meta: sled::Tree,
    audit: sled::Tree,
    rows: sled::Tree,
    /// Per managed certificate: the CA's last Retry-After (Unix seconds), kept apart from the
    /// renewal state so that stores written before it need no migration.
    retry_hints: sled::Tree,
    /// Revocation answers (OCSP responses, CRLs) kept across runs (`answers.rs`).
    answers: sled::Tree,
    /// Serialises audit appends (each needs the previous entry's hash).
    audit_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// Per-certificate renewal exclusion, shared by every clone.
    leases: lease::Leases,
}

impl StoreError {
    /// Wraps a sled error, naming the cause plainly when the disk is full or read-only.
    pub fn sled(path: &Path, action: &'static str, error: sled::Error) -> StoreError {
        let disk = match &error {
            // sled sometimes re-wraps the OS error (keeping its kind but not its errno).
            sled::Error::Io(io) => match (io.raw_os_error(), io.kind()) {
                (Some(libc::ENOSPC | libc::EDQUOT), _)
                | (_, std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded) => {
                    Some((
                        "the file system is full",
                        "free space there and run the command again",
                    ))
                }
                (Some(libc::EROFS), _) | (_, std::io::ErrorKind::ReadOnlyFilesystem) => Some((
                    "the file system is read-only",
                    "remount it read-write, or set store.path to a writable directory",
                )),
                (Some(libc::EACCES | libc::EPERM), _)
                | (_, std::io::ErrorKind::PermissionDenied) => Some((
                    "permission denied",
                    "run as the user that owns the store (the certctl service user)",
                )),
                _ => None,
            },
            _ => None,
        };
        match (disk, error) {
            (Some((reason, hint)), sled::Error::Io(io)) => StoreError::Disk {
                path: path.to_path_buf(),
                action,
                reason,
                hint,
                error: io,
            },
            (_, error) => StoreError::Sled {
                path: path.to_path_buf(),
                action,
                error,
            },
        }
    }
}

impl Store {
    /// Opens (creating if needed, mode 0700) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        create_private_dir(path)?;
        // sled caches up to 1 GiB by default; the inventory is read in bulk and rarely, so a small
        // cache keeps a long-running daemon's memory flat.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(32 * 1024 * 1024)
            .open()
            .map_err(|source| match &source {
                sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
                    StoreError::Locked {
                        path: path.to_path_buf(),
                    }
                }
                _ => StoreError::sled(path, "opening", source),
            })?;
        migrate::run(&db, path)?;
        let tree = |name: &str| {
            db.open_tree(name)
                .map_err(|source| StoreError::sled(path, "opening trees", source))
        };
        Ok(Store {
            path: path.to_path_buf(),
            locations: tree("locations")?,
            chains: tree("chains")?,
            history: tree("history")?,
            events: tree("events")?,
            managed: tree("managed")?,
            alerts: tree("alerts")?,
            outbox: tree("outbox")?,
            alert_meta: tree("alert_meta")?,
            audit: tree("audit")?,
            rows: tree("rows")?,
            retry_hints: tree("retry_hints")?,
            answers: tree("revocation_answers")?,
            audit_lock: std::sync::Arc::default(),
            leases: lease::Leases::default(),
            db,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sled_err(&self, action: &'static str) -> impl Fn(sled::Error) -> StoreError + '_ {
        move |source| StoreError::sled(&self.path, action, source)
    }

    /// Commits one folded observation atomically across all trees (not yet flushed).
    pub fn apply(&self, fold: &Fold) -> Result<(), StoreError> {
        let id = fold.record.id.as_bytes();
        let record = codec::put(&fold.record);
        let row = codec::put(&ListRow::of(&fold.record));
        let chain = fold.chain.as_ref().map(codec::put);
        let history = fold.history.as_ref().map(|h| {
            let mut key = id.to_vec();
            key.extend_from_slice(&h.at.to_be_bytes());
            (key, codec::put(h))
        });
        // History keys end in a sequence number so two scans in one second both stay.
        let result: Result<(), TransactionError<()>> = (
            &self.locations,
            &self.chains,
            &self.history,
            &self.events,
            &self.rows,
        )
            .transaction(|(locations, chains, history_tree, events, rows)| {
                locations.insert(id, record.as_slice())?;
                rows.insert(id, row.as_slice())?;
                if let Some(chain) = &chain {
                    chains.insert(id, chain.as_slice())?;
                }
                if let Some((prefix, value)) = &history {
                    let mut key = prefix.clone();
                    key.extend_from_slice(&history_tree.generate_id()?.to_be_bytes());
                    history_tree.insert(key, value.as_slice())?;
                }
                if let Some(event) = &fold.event {
                    let seq = events.generate_id()?;
                    events.insert(&seq.to_be_bytes(), codec::put(event))?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        result.map_err(|e| self.transaction_error(e, "locations", "committing a scan result"))
    }

    /// Reads location `id`, lets `fold` build the new state from it, and commits that (when
    /// `fold` says to keep it) with no other update of the location in between; returns what
    /// `fold` built. Not yet flushed.
    pub fn update_location(
        &self,
        id: &str,
        fold: impl FnOnce(Option<&LocationRecord>) -> (Fold, bool),
    ) -> Result<Fold, StoreError> {
        let _held = self.leases.location(id);
        let prev = self.location(id)?;
        let (folded, keep) = fold(prev.as_ref());
        if keep {
            self.apply(&folded)?;
        }
        Ok(folded)
    }

    /// Retires location `id` if it is still stored and `why` gives a reason for this record
    /// (read and retired with no update of it in between); whether it was retired.
    pub fn retire_if(
        &self,
        id: &str,
        why: impl FnOnce(&LocationRecord) -> Option<InventoryEvent>,
    ) -> Result<bool, StoreError> {
        let _held = self.leases.location(id);
        let Some(record) = self.location(id)? else {
            return Ok(false);
        };
        match why(&record) {
            Some(event) => self.retire(&event).map(|()| true),
            None => Ok(false),
        }
    }

    /// Takes a location out of the inventory (record, listing row and chain) and records why as
    /// an inventory event, in one transaction (not yet flushed). Its history stays.
    pub fn retire(&self, event: &InventoryEvent) -> Result<(), StoreError> {
        let id = event.location_id.as_bytes();
        let encoded = codec::put(event);
        let result: Result<(), TransactionError<()>> =
            (&self.locations, &self.chains, &self.events, &self.rows).transaction(
                |(locations, chains, events, rows)| {
                    locations.remove(id)?;
                    rows.remove(id)?;
                    chains.remove(id)?;
                    let seq = events.generate_id()?;
                    events.insert(&seq.to_be_bytes(), encoded.as_slice())?;
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        result.map_err(|e| self.transaction_error(e, "locations", "retiring a location"))
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(self.sled_err("flushing"))
    }

    /// Closes the store of a process that is about to exit: flushes, then skips sled's teardown,
    /// which frees the page cache node by node (about 25 ms after reading 100 000 rows). What is
    /// on disk is the same as after a normal close. Never for a store that lives on (the daemon's).
    pub fn close_for_exit(self) -> Result<(), StoreError> {
        self.flush()?;
        std::mem::forget(self);
        Ok(())
    }

    /// Every location, in id order.
    pub fn locations(&self) -> Result<Vec<LocationRecord>, StoreError> {
        self.read_all_parallel(&self.locations, "locations")
    }

    /// Every location's listing row, in id order.
    pub fn rows(&self) -> Result<Vec<ListRow>, StoreError> {
        self.read_all_parallel(&self.rows, "rows")
    }

    /// Reads and decodes a whole id-keyed tree on every core: ids are 12 hex digits spread
    /// uniformly by their hash, so splitting the key space by leading digit gives each thread an
    /// even share. This is what keeps `certctl list` over 100 000 locations interactive.
    fn read_all_parallel<T: codec::Stored + Send>(
        &self,
        tree: &sled::Tree,
        name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let cuts: Vec<u8> = (1..threads)
            .map(|i| b"0123456789abcdef"[i * 16 / threads])
            .collect();
        let parts: Vec<Result<Vec<T>, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let lower = if i == 0 { None } else { Some([cuts[i - 1]]) };
                    let upper = cuts.get(i).map(|c| [*c]);
                    scope.spawn(move || {
                        let range = match (lower, upper) {
                            (None, None) => tree.iter(),
                            (None, Some(u)) => tree.range(..u),
                            (Some(l), None) => tree.range(l..),
                            (Some(l), Some(u)) => tree.range(l..u),
                        };
                        let mut out = Vec::new();
                        for item in range {
                            let (key, value) =
                                item.map_err(self.sled_err("reading the inventory"))?;
                            out.push(self.decode(name, &key, &value)?);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut all = Vec::with_capacity(tree.len());
        for part in parts {
            all.extend(part?);
        }
        Ok(all)
    }

    /// One location by exact id.
    pub fn location(&self, id: &str) -> Result<Option<LocationRecord>, StoreError> {
        match self
            .locations
            .get(id.as_bytes())
            .map_err(self.sled_err("reading a location"))?
        {
            Some(value) => Ok(Some(self.decode("locations", id.as_bytes(), &value)?)),
            None => Ok(None),
        }
    }

    /// The chain last presented at a location (leaf first).
    pub fn chain(&self, id: &str) -> Result<Vec<CertRecord>, StoreError> {
        match self
            .chains
            .get(id.as_bytes())
            .map_err(self.sled_err("reading a chain"))?
        {
            Some(value) => self.decode("chains", id.as_bytes(), &value),
            None => Ok(Vec::new()),
        }
    }

    /// A location's history, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.history.scan_prefix(id.as_bytes()) {
            let (key, value) = item.map_err(self.sled_err("reading history"))?;
            out.push(self.decode("history", &key, &value)?);
        }
        Ok(out)
    }

    /// Inventory events, oldest first.
    pub fn events(&self) -> Result<Vec<InventoryEvent>, StoreError> {
        let mut out = Vec::new();
        for item in self.events.iter() {
            let (key, value) = item.map_err(self.sled_err("reading events"))?;
            out.push(self.decode("events", &key, &value)?);
        }
        Ok(out)
    }

    /// The renewal state of a managed certificate (default when never attempted).
    /// When the CA asked certctl to come back for `name` (its last Retry-After), if it did.
    pub fn retry_hint(&self, name: &str) -> Result<Option<crate::model::UnixSeconds>, StoreError> {
        match self
            .retry_hints
            .get(name.as_bytes())
            .map_err(self.sled_err("reading a retry hint"))?
        {
            Some(value) => self
                .decode("retry_hints", name.as_bytes(), &value)
                .map(Some),
            None => Ok(None),
        }
    }

    /// Records (or, with `None`, forgets) the CA's Retry-After for `name`, durably.
    pub fn set_retry_hint(
        &self,
        name: &str,
        at: Option<crate::model::UnixSeconds>,
    ) -> Result<(), StoreError> {
        match at {
            Some(at) => self
                .retry_hints
                .insert(name.as_bytes(), codec::put(&at))
                .map(|_| ())
                .map_err(self.sled_err("writing a retry hint"))?,
            None => self
                .retry_hints
                .remove(name.as_bytes())
                .map(|_| ())
                .map_err(self.sled_err("writing a retry hint"))?,
        }
        self.flush()
    }

    /// Waits for, then holds, the right to renew (or revoke) `name`: at most one holder per
    /// certificate at a time (see `lease.rs`).
    pub async fn renewal_lease(&self, name: &str) -> Lease {
        self.leases.acquire(name).await
    }

    /// The lease of `name` if nobody holds it now.
    pub fn try_renewal_lease(&self, name: &str) -> Option<Lease> {
        self.leases.try_acquire(name)
    }

    /// Waits for, then holds, the right to deliver alerts: one delivery pass at a time, so a
    /// delivery is never sent twice by two passes that read the same queue (see `lease.rs`).
    pub async fn dispatch_lease(&self) -> Lease {
        self.leases.dispatch().await
    }

    /// Reads `name`'s renewal state, changes it with `change`, and writes it back with an
    /// optional event, as one transaction, flushed before returning. For writers that do not
    /// hold the renewal lease (a deploy recording its outcome, a revocation), so that a write
    /// never puts back a state older than the one it read.
    pub fn update_managed(
        &self,
        name: &str,
        event: Option<&InventoryEvent>,
        change: impl Fn(&mut ManagedState),
    ) -> Result<ManagedState, StoreError> {
        let encoded_event = event.map(codec::put);
        let result: Result<ManagedState, TransactionError<String>> = (&self.managed, &self.events)
            .transaction(|(managed, events)| {
                let mut state = match managed.get(name.as_bytes())? {
                    Some(value) => codec::get::<ManagedState>(&value)
                        .map_err(ConflictableTransactionError::Abort)?,
                    None => ManagedState {
                        name: name.to_string(),
                        ..ManagedState::default()
                    },
                };
                change(&mut state);
                managed.insert(name.as_bytes(), codec::put(&state))?;
                if let Some(event) = &encoded_event {
                    let seq = events.generate_id()?;
                    events.insert(&seq.to_be_bytes(), event.as_slice())?;
                }
                Ok(state)
            });
        let state = result.map_err(|e| match e {
            TransactionError::Abort(reason) => StoreError::Corrupt {
                path: self.path.clone(),
                tree: "managed",
                key: name.to_string(),
                reason,
            },
            TransactionError::Storage(error) => {
                StoreError::sled(&self.path, "updating renewal state", error)
            }
        })?;
        self.flush()?;
        Ok(state)
    }

    /// Records an inventory event on its own, flushed.
    pub fn record_event(&self, event: &InventoryEvent) -> Result<(), StoreError> {
        let seq = self
            .db
            .generate_id()
            .map_err(self.sled_err("recording an event"))?;
        self.events
            .insert(seq.to_be_bytes(), codec::put(event))
            .map_err(self.sled_err("recording an event"))?;
        self.flush()
    }

    pub fn managed(&self, name: &str) -> Result<ManagedState, StoreError> {
        match self
            .managed
            .get(name.as_bytes())
            .map_err(self.sled_err("reading renewal state"))?
        {
            Some(value) => self.decode("managed", name.as_bytes(), &value),
            None => Ok(ManagedState {
                name: name.to_string(),
                ..ManagedState::default()
            }),
        }
    }

    /// Every managed certificate's renewal state.
    pub fn all_managed(&self) -> Result<Vec<ManagedState>, StoreError> {
        let mut out = Vec::new();
        for item in self.managed.iter() {
            let (key, value) = item.map_err(self.sled_err("reading renewal state"))?;
            out.push(self.decode("managed", &key, &value)?);
        }
        Ok(out)
    }

    /// Records a renewal transition durably: the state, and optionally an event, in one
    /// transaction, then flushed. Called before and after every step that must survive a crash,
    /// by the holder of the certificate's [`Store::renewal_lease`] (others use
    /// [`Store::update_managed`]).
    pub fn record_renewal(
        &self,
        state: &ManagedState,
        event: Option<&InventoryEvent>,
    ) -> Result<(), StoreError> {
        let value = codec::put(state);
        let result: Result<(), TransactionError<()>> =
            (&self.managed, &self.events).transaction(|(managed, events)| {
                managed.insert(state.name.as_bytes(), value.as_slice())?;
                if let Some(event) = event {
                    let seq = events.generate_id()?;
                    events.insert(&seq.to_be_bytes(), codec::put(event))?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        result.map_err(|e| self.transaction_error(e, "managed", "recording renewal state"))?;
        self.flush()
    }

    fn decode<T: codec::Stored>(
        &self,
        tree: &'static str,
        key: &[u8],
        value: &[u8],
    ) -> Result<T, StoreError> {
        codec::get(value).map_err(|reason| StoreError::Corrupt {
            path: self.path.clone(),
            tree,
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        })
    }
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StoreError::CreateDir {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Scanned, fold};
    use crate::model::{Location, Observation, Outcome, Trust};

    pub(super) fn observation(host: &str, sha: &str, at: i64) -> Scanned {
        let mut leaf = crate::model::tests::sample();
        leaf.sha256 = sha.into();
        Scanned {
            observation: Observation {
                location: Location::Endpoint {
                    host: host.into(),
                    port: 443,
                    server_name: None,
                },
                observed_at: at,
                outcome: Outcome::Presented {
                    chain: vec![leaf.clone(), leaf],
                    tls: None,
                    trust: Trust::Trusted,
                    issuer_is_anchor: false,
                    legacy: None,
                    revocation: None,
                },
            },
            name: Some(format!("{host}-name")),
            labels: vec![],
            trust_store: false,
        }
    }

    #[test]
    fn concurrent_updates_of_one_location_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s")).expect("open");
        let first = fold(None, observation("a", "aa", 1), vec![], false);
        let id = first.record.id.clone();
        store.apply(&first).expect("apply");
        let per_thread = 300;
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..per_thread {
                        store
                            .update_location(&id, |prev| {
                                let mut record = prev.expect("stored").clone();
                                // Widen the window between the read and the write.
                                std::thread::yield_now();
                                record.consecutive_failures += 1;
                                let next = Fold {
                                    record,
                                    chain: None,
                                    event: None,
                                    history: None,
                                };
                                (next, true)
                            })
                            .expect("update");
                    }
                });
            }
        });
        let last = store.location(&id).expect("read").expect("stored");
        assert_eq!(last.consecutive_failures, 2 * per_thread);
        // And retiring is conditional on what is stored at that moment.
        assert!(!store.retire_if(&id, |_| None).expect("kept"));
        assert!(store.location(&id).expect("read").is_some());
    }

    #[test]
    fn roundtrip_and_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s")).expect("open");
        let first = fold(None, observation("a", "aa", 1), vec![], false);
        store.apply(&first).expect("apply");
        let second = fold(
            Some(&first.record),
            observation("a", "bb", 2),
            vec![],
            false,
        );
        store.apply(&second).expect("apply");
        store.flush().expect("flush");
        let id = &first.record.id;
        assert_eq!(
            store.location(id).expect("get"),
            Some(second.record.clone())
        );
        assert_eq!(store.chain(id).expect("chain").len(), 2);
        assert_eq!(store.history(id).expect("history").len(), 2);
        assert_eq!(store.events().expect("events").len(), 2);
        drop(store);
        // sled releases its lock when its background flusher lets go: allow it a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let reopened = loop {
            match Store::open(&dir.path().join("s")) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.expect("reopen"),
            }
        };
        assert_eq!(reopened.locations().expect("list").len(), 1);
    }

    #[test]
    fn update_managed_reads_changes_and_writes_as_one_unit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s")).expect("open");
        // A newer state written by the lease holder ...
        let mut newer = store.managed("www").expect("read");
        newer.orders_placed = 3;
        newer.failures = 2;
        store.record_renewal(&newer, None).expect("write");
        // ... is what an update without the lease starts from, not a copy read earlier.
        let event = InventoryEvent {
            at: 7,
            location_id: String::new(),
            target: "www".into(),
            kind: crate::model::EventKind::RenewalFailed {
                name: "www".into(),
                error: "x".into(),
                failures: 2,
            },
        };
        let after = store
            .update_managed("www", Some(&event), |s| {
                s.last_error = Some("revoked".into())
            })
            .expect("update");
        assert_eq!((after.orders_placed, after.failures), (3, 2));
        let stored = store.managed("www").expect("read");
        assert_eq!(stored.last_error.as_deref(), Some("revoked"));
        assert_eq!(stored.orders_placed, 3);
        assert_eq!(store.events().expect("events").len(), 1);
        // A certificate never seen starts from the default state.
        let fresh = store.update_managed("api", None, |_| {}).expect("update");
        assert_eq!(fresh.name, "api");
        store.record_event(&event).expect("event");
        assert_eq!(store.events().expect("events").len(), 2);
    }

    #[test]
    fn state_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deep/store");
        let _store = Store::open(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
