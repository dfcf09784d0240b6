//! Exclusion inside one process: per certificate for renewals, one at a time for alert delivery.
//!
//! Two renewals of one certificate at once (the daemon's
//! schedule and a `certctl renew` through its socket, or two socket commands) would each read
//! the same renewal state and each place an order, or work one order from two sides and share a
//! version directory. Every renewal, issuance and revocation therefore holds the certificate's
//! lease from reading its state to recording the result.
//!
//! Likewise two delivery passes at once (the daemon's dispatcher and a `certctl scan` or
//! `alerts deliver` through the socket) would each read the same due deliveries and each send
//! them: every pass holds the dispatch lease from reading the queue to settling what it sent.
//!
//! And a location's record is read, folded with a new observation and written back as one unit
//! (a scan of the whole config by the daemon and an ad hoc `certctl scan` through its socket may
//! see the same location at once): [`Leases::location`] holds one of a few striped locks for the
//! microseconds between the read and the write.
//!
//! The embedded store admits one process, so a lease is an in-process lock shared by every
//! clone of a [`super::Store`]. A shared store (fleet mode) implements the same calls as leases
//! or row claims in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Held while a certificate's renewal state (or the delivery queue) is read, acted on and
/// written. Dropping it lets the next waiter in.
#[must_use = "the lease is released as soon as it is dropped"]
pub struct Lease {
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

/// The locks, one per certificate name that has ever been renewed by this process (the names
/// come from the config, so the map stays as small as the config).
#[derive(Clone, Default)]
pub(super) struct Leases {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    dispatch: Arc<tokio::sync::Mutex<()>>,
    locations: Stripes,
}

/// The striped location locks (see [`Leases::location`]).
#[derive(Clone)]
struct Stripes(Arc<[Mutex<()>]>);

impl Default for Stripes {
    fn default() -> Stripes {
        Stripes((0..LOCATION_STRIPES).map(|_| Mutex::new(())).collect())
    }
}

/// Striped location locks: enough that two scans rarely wait on each other's locations.
const LOCATION_STRIPES: usize = 64;

impl Leases {
    fn lock_of(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another thread panicked while inserting: the map is intact.
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(name.to_string()).or_default())
    }

    pub(super) async fn acquire(&self, name: &str) -> Lease {
        Lease {
            _guard: self.lock_of(name).lock_owned().await,
        }
    }

    pub(super) fn try_acquire(&self, name: &str) -> Option<Lease> {
        self.lock_of(name)
            .try_lock_owned()
            .ok()
            .map(|guard| Lease { _guard: guard })
    }

    /// Held (briefly, never across an await) while one location is read and written back.
    pub(super) fn location(&self, id: &str) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        let stripe = (hasher.finish() % LOCATION_STRIPES as u64) as usize;
        // A poisoned stripe guards nothing but the moment between a read and a write.
        self.locations.0[stripe]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn dispatch(&self) -> Lease {
        Lease {
            _guard: Arc::clone(&self.dispatch).lock_owned().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_name_and_released_on_drop() {
        let leases = Leases::default();
        let a = leases.acquire("a").await;
        assert!(leases.try_acquire("a").is_none());
        let b = leases.try_acquire("b");
        assert!(b.is_some(), "other certificates are not held back");
        // A clone shares the locks (every clone of a Store is one store).
        assert!(leases.clone().try_acquire("a").is_none());
        let waiter = {
            let leases = leases.clone();
            tokio::spawn(async move { leases.acquire("a").await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        let _again = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the lease once it is released")
            .expect("task");
    }

    #[tokio::test]
    async fn one_delivery_pass_at_a_time() {
        let leases = Leases::default();
        let first = leases.dispatch().await;
        let second = {
            let leases = leases.clone();
            tokio::spawn(async move { leases.dispatch().await })
        };
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(first);
        let _second = tokio::time::timeout(std::time::Duration::from_secs(5), second)
            .await
            .expect("released")
            .expect("task");
    }
}
