//! Named leases with fencing tokens: at most one node acts for a name at a time.
//!
//! A lease is a row judged by the database clock only (`clock_timestamp()`), so clock skew
//! between nodes cannot make two holders; its token comes from one fleet-wide sequence, so a
//! later holder always has a larger token. Every write made under a lease is checked against the
//! token in the same statement that makes it ([`Fleet::put_record`]): a holder that was paused
//! past its expiry and wakes up writes nothing. Session advisory locks are not used: a stopped
//! (SIGSTOP) client keeps them forever, because the server sees a healthy idle session.
//!
//! What the database cannot fence (a request to the CA, a webhook POST) is fenced by the holder
//! itself: [`Lease::is_live`] compares its monotonic clock with a deadline taken from the send
//! time of the last successful acquire or renewal, minus a margin, so a holder stops acting
//! before the database can hand the lease to someone else.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Fleet, FleetError};

/// A lease this node holds. Shared by reference between the work done under it and the loop
/// that renews it (the deadline moves with each renewal).
#[derive(Debug)]
pub struct Lease {
    name: String,
    token: i64,
    ttl: Duration,
    deadline: Mutex<Instant>,
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing token: larger for every later holder.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// Whether this holder may still act at `now` (its own deadline, on its monotonic clock).
    pub fn is_live(&self, now: Instant) -> bool {
        now < self.deadline()
    }

    /// When this holder stops acting unless it renews first.
    pub fn deadline(&self) -> Instant {
        // A poisoned lock only means a panic elsewhere; the instant in it is whole.
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_deadline(&self, at: Instant) {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    fn check(&self) -> Result<(), FleetError> {
        if self.is_live(Instant::now()) {
            Ok(())
        } else {
            Err(self.lost())
        }
    }

    fn lost(&self) -> FleetError {
        FleetError::LeaseLost {
            name: self.name.clone(),
            token: self.token,
        }
    }
}

/// The holder stops this long before the lease's end: a fifth of the TTL, at most 2 s.
pub fn margin(ttl: Duration) -> Duration {
    (ttl / 5).min(Duration::from_secs(2))
}

/// A lease as the store shows it (`certctl fleet status`).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseInfo {
    pub name: String,
    pub holder: String,
    pub token: i64,
    /// Seconds until it expires by the database clock (negative: expired, free to take).
    pub expires_in: f64,
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

impl Fleet {
    /// Takes lease `name` for `ttl` unless another holder's lease on it is still running (by
    /// the database clock). A process never re-takes a lease it holds: a restarted node waits
    /// for its predecessor's lease to run out, since that predecessor may only be paused.
    pub async fn try_acquire(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, FleetError> {
        let sent = Instant::now();
        let row = self
            .bounded(
                "acquire a lease",
                self.client().query_opt(
                    "INSERT INTO leases AS l (name, holder, token, acquired_at, expires_at)
                     VALUES ($1, $2, nextval('fence_seq'), clock_timestamp(),
                             clock_timestamp() + $3::float8 * interval '1 millisecond')
                     ON CONFLICT (name) DO UPDATE
                        SET holder = excluded.holder, token = excluded.token,
                            acquired_at = excluded.acquired_at, expires_at = excluded.expires_at,
                            released = false
                      WHERE l.expires_at < clock_timestamp()
                     RETURNING token",
                    &[&name, &self.node(), &millis(ttl)],
                ),
            )
            .await?;
        Ok(row.map(|row| Lease {
            name: name.to_string(),
            token: row.get(0),
            ttl,
            deadline: Mutex::new(sent + ttl - margin(ttl)),
        }))
    }

    /// Extends `lease` by its TTL from now; [`FleetError::LeaseLost`] when it already expired
    /// or was taken over (the caller must stop what it does under it).
    pub async fn renew(&self, lease: &Lease) -> Result<(), FleetError> {
        lease.check()?;
        let sent = Instant::now();
        let renewed = self
            .bounded(
                "renew a lease",
                self.client().execute(
                    "UPDATE leases
                        SET expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
                      WHERE name = $1 AND token = $2 AND expires_at > clock_timestamp()",
                    &[&lease.name, &lease.token, &millis(lease.ttl)],
                ),
            )
            .await?;
        if renewed == 0 {
            lease.set_deadline(sent);
            return Err(lease.lost());
        }
        lease.set_deadline(sent + lease.ttl - margin(lease.ttl));
        Ok(())
    }

    /// Gives `lease` up at once, so another node may take it without waiting for its expiry.
    pub async fn release(&self, lease: Lease) -> Result<(), FleetError> {
        self.bounded(
            "release a lease",
            self.client().execute(
                "UPDATE leases SET expires_at = clock_timestamp(), released = true
                  WHERE name = $1 AND token = $2 AND expires_at > clock_timestamp()",
                &[&lease.name, &lease.token],
            ),
        )
        .await?;
        Ok(())
    }

    /// The leases under `prefix` held and never released: running (`expires_in` > 0) or lapsed,
    /// their holder (any process, this node's own CLI runs too) stopped before it finished.
    pub async fn unreleased(&self, prefix: &str) -> Result<Vec<LeaseInfo>, FleetError> {
        self.lease_rows(
            "list the unreleased leases",
            "WHERE starts_with(name, $1) AND NOT released",
            prefix,
        )
        .await
    }

    /// Every lease, by name.
    pub async fn leases(&self) -> Result<Vec<LeaseInfo>, FleetError> {
        self.lease_rows("list the leases", "WHERE starts_with(name, $1)", "")
            .await
    }

    /// The leases `filter` (a WHERE clause on `$1` = `prefix`) selects, by name.
    async fn lease_rows(
        &self,
        action: &'static str,
        filter: &str,
        prefix: &str,
    ) -> Result<Vec<LeaseInfo>, FleetError> {
        let sql = format!(
            "SELECT name, holder, token,
                    extract(epoch from expires_at - clock_timestamp())::float8
               FROM leases {filter} ORDER BY name"
        );
        let rows = self
            .bounded(action, self.client().query(&sql, &[&prefix]))
            .await?;
        Ok(rows
            .iter()
            .map(|r| LeaseInfo {
                name: r.get(0),
                holder: r.get(1),
                token: r.get(2),
                expires_in: r.get(3),
            })
            .collect())
    }

    /// Writes shared record `key` under `lease`, in one statement that holds the lease row while
    /// it checks the token and expiry: a lost lease or a later token already on the record
    /// writes nothing and returns [`FleetError::LeaseLost`].
    pub async fn put_record(
        &self,
        lease: &Lease,
        key: &str,
        value: &[u8],
    ) -> Result<(), FleetError> {
        lease.check()?;
        let written = self
            .bounded(
                "write a record",
                self.client().execute(
                    "WITH held AS (
                         SELECT name, token FROM leases
                          WHERE name = $1 AND token = $2 AND expires_at > clock_timestamp()
                            FOR UPDATE)
                     INSERT INTO records AS r (key, value, lease, token, written_by, updated_at)
                     SELECT $3, $4, name, token, $5, clock_timestamp() FROM held
                     ON CONFLICT (key) DO UPDATE
                        SET value = excluded.value, lease = excluded.lease, token = excluded.token,
                            written_by = excluded.written_by, updated_at = excluded.updated_at
                      WHERE r.token <= excluded.token",
                    &[&lease.name, &lease.token, &key, &value, &self.node()],
                ),
            )
            .await?;
        if written == 0 {
            return Err(lease.lost());
        }
        Ok(())
    }

    /// Shared record `key`: its value, the token it was written under and the node that wrote it.
    pub async fn record(&self, key: &str) -> Result<Option<(Vec<u8>, i64, String)>, FleetError> {
        let row = self
            .bounded(
                "read a record",
                self.client().query_opt(
                    "SELECT value, token, written_by FROM records WHERE key = $1",
                    &[&key],
                ),
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_stops_before_the_database_would_hand_the_lease_over() {
        let start = Instant::now();
        let ttl = Duration::from_secs(15);
        let lease = Lease {
            name: "cert:a".into(),
            token: 7,
            ttl,
            deadline: Mutex::new(start + ttl - margin(ttl)),
        };
        assert_eq!(margin(ttl), Duration::from_secs(2));
        assert!(lease.is_live(start + Duration::from_secs(12)));
        assert!(!lease.is_live(start + Duration::from_secs(13)));
        assert_eq!(
            margin(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
    }
}
