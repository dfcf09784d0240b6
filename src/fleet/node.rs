//! The node registry: which certctl processes make up the fleet, with which config, and when
//! each was last heard from.
//!
//! A node registers when it starts and heartbeats while it runs. Two processes under one node
//! name would each believe they deploy that node's servers, so a name held by a live process
//! (heartbeat within `stale_after`) is refused. Nodes whose shared config differs (a hash of
//! everything but the per-node keys) would judge and renew differently: registration reports
//! them, so the daemon says so at start and `certctl fleet status` shows it, instead of a
//! silent split.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Fleet, FleetError};

/// Registrations this process holds (the daemon's, plus any renewal pass's): the node leaves
/// the fleet when the last one ends, so a renewal pass inside the daemon does not sign the
/// daemon out.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// What `instance` becomes when the process leaves: the name is free at once.
const LEFT: &str = "left:";

/// Drops this connection's registration without telling the store (its connection is gone).
pub(super) fn forget(fleet: &Fleet) {
    if fleet.registered.swap(false, Ordering::AcqRel) {
        HELD.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A node as the store shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub instance: String,
    pub version: String,
    pub config_hash: String,
    /// Seconds since its last heartbeat, by the database clock.
    pub heartbeat_ago: f64,
    /// The process stopped and said so (its name is free).
    pub left: bool,
}

impl NodeInfo {
    /// A node is alive while it has not left and its heartbeat is within two lease times
    /// (it heartbeats every third of one).
    pub fn alive(&self, lease_ttl: std::time::Duration) -> bool {
        !self.left && self.heartbeat_ago < lease_ttl.as_secs_f64() * 2.0
    }
}

/// Which version of a certificate a node installed, and how its deploy targets took it.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub cert: String,
    pub node: String,
    pub serial: String,
    pub version: String,
    pub targets: i32,
    pub failed: i32,
    pub detail: String,
    /// Seconds since, by the database clock.
    pub ago: f64,
}

/// What a node learns when it registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// Live nodes whose config hash differs from this node's.
    pub drift: Vec<NodeInfo>,
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Fleet {
    /// Registers this process as its node, with the hash of its shared config; refuses a name
    /// a live process holds ([`FleetError::NameInUse`]).
    pub async fn register(
        &self,
        config_hash: &str,
        stale_after: Duration,
    ) -> Result<Registration, FleetError> {
        let taken = self
            .bounded(
                "register the node",
                self.client().query_opt(
                    "INSERT INTO nodes AS n (name, instance, version, config_hash, started_at,
                                             heartbeat_at)
                     VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp())
                     ON CONFLICT (name) DO UPDATE
                        SET instance = excluded.instance, version = excluded.version,
                            config_hash = excluded.config_hash, started_at = excluded.started_at,
                            heartbeat_at = excluded.heartbeat_at
                      WHERE n.instance = excluded.instance OR n.instance LIKE 'left:%'
                         OR n.heartbeat_at < clock_timestamp() - $5::float8 * interval '1 second'
                     RETURNING 1",
                    &[
                        &self.node(),
                        &self.instance(),
                        &env!("CARGO_PKG_VERSION"),
                        &config_hash,
                        &seconds(stale_after),
                    ],
                ),
            )
            .await?;
        if taken.is_none() {
            let holder = self
                .nodes()
                .await?
                .into_iter()
                .find(|n| n.name == self.node());
            return Err(FleetError::NameInUse {
                node: self.node().to_string(),
                instance: holder
                    .as_ref()
                    .map(|n| n.instance.clone())
                    .unwrap_or_default(),
                age: holder.map(|n| n.heartbeat_ago as i64).unwrap_or_default(),
            });
        }
        if !self.registered.swap(true, Ordering::AcqRel) {
            HELD.fetch_add(1, Ordering::AcqRel);
        }
        let drift = self
            .nodes()
            .await?
            .into_iter()
            .filter(|n| {
                n.name != self.node()
                    && !n.left
                    && n.config_hash != config_hash
                    && n.heartbeat_ago < seconds(stale_after)
            })
            .collect();
        Ok(Registration { drift })
    }

    /// Records that this process is alive; [`FleetError::NameInUse`] when another process has
    /// since taken this node's name (this one must stop acting as the node).
    pub async fn heartbeat(&self) -> Result<(), FleetError> {
        let beat = self
            .bounded(
                "heartbeat",
                self.client().execute(
                    "UPDATE nodes SET heartbeat_at = clock_timestamp()
                      WHERE name = $1 AND instance = $2",
                    &[&self.node(), &self.instance()],
                ),
            )
            .await?;
        if beat == 0 {
            return Err(FleetError::NameInUse {
                node: self.node().to_string(),
                instance: "another process".into(),
                age: 0,
            });
        }
        Ok(())
    }

    /// Ends this connection's registration; when it was the process's last, the node leaves
    /// (its name is free for the next process at once, and `fleet status` shows it stopped).
    pub async fn leave(&self) -> Result<(), FleetError> {
        if !self.registered.swap(false, Ordering::AcqRel)
            || HELD.fetch_sub(1, Ordering::AcqRel) != 1
        {
            return Ok(());
        }
        self.bounded(
            "leave the fleet",
            self.client().execute(
                "UPDATE nodes SET instance = $3 || instance WHERE name = $1 AND instance = $2",
                &[&self.node(), &self.instance(), &LEFT],
            ),
        )
        .await?;
        Ok(())
    }

    /// Removes node `name` from the registry (a node gone for good, so it is no longer
    /// reported down): `false` when no such node is registered. A node that is alive is
    /// refused ([`FleetError::Alive`]): stop it first.
    pub async fn forget_node(&self, name: &str, lease_ttl: Duration) -> Result<bool, FleetError> {
        let nodes = self.nodes().await?;
        let Some(node) = nodes.iter().find(|n| n.name == name) else {
            return Ok(false);
        };
        if node.alive(lease_ttl) {
            return Err(FleetError::Alive {
                node: name.to_string(),
                age: node.heartbeat_ago as i64,
            });
        }
        let gone = self
            .bounded(
                "forget a node",
                self.client().execute(
                    "DELETE FROM nodes WHERE name = $1
                        AND (starts_with(instance, $2)
                             OR heartbeat_at < clock_timestamp() - $3::float8 * interval '1 second')",
                    &[&name, &LEFT, &seconds(lease_ttl * 2)],
                ),
            )
            .await?;
        Ok(gone > 0)
    }

    /// Every node that ever registered, by name.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, FleetError> {
        let rows = self
            .bounded(
                "list the nodes",
                self.client().query(
                    "SELECT name, instance, version, config_hash,
                            extract(epoch from clock_timestamp() - heartbeat_at)::float8
                       FROM nodes ORDER BY name",
                    &[],
                ),
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| NodeInfo {
                name: r.get(0),
                left: r.get::<_, String>(1).starts_with(LEFT),
                instance: r.get(1),
                version: r.get(2),
                config_hash: r.get(3),
                heartbeat_ago: r.get(4),
            })
            .collect())
    }

    /// Subscribes this connection to `channel` (see [`Fleet::connect_listening`]).
    pub async fn listen(&self, channel: &str) -> Result<(), FleetError> {
        // Channel names are certctl's own constants, never user input.
        let sql = format!("LISTEN {channel}");
        self.bounded("listen", self.client().batch_execute(&sql))
            .await
    }

    /// Wakes every node listening on `channel`, with `payload` (delivered at commit; a node
    /// not connected misses it, so listeners also poll).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), FleetError> {
        self.bounded(
            "notify",
            self.client()
                .execute("SELECT pg_notify($1, $2)", &[&channel, &payload]),
        )
        .await?;
        Ok(())
    }

    /// When a record whose key starts with `prefix` last changed (epoch seconds, by the
    /// database clock): the poll behind notifications.
    pub async fn changed_at(&self, prefix: &str) -> Result<Option<f64>, FleetError> {
        let row = self
            .bounded(
                "poll for changes",
                self.client().query_one(
                    "SELECT extract(epoch from max(updated_at))::float8 FROM records
                      WHERE starts_with(key, $1)",
                    &[&prefix],
                ),
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records that this node installed `d.version` of `d.cert` (its own row; `d.node` and
    /// `d.ago` are ignored).
    pub async fn record_deployment(&self, d: &Deployment) -> Result<(), FleetError> {
        self.bounded(
            "record a deployment",
            self.client().execute(
                "INSERT INTO deployments (cert, node, serial, version, targets, failed, detail, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp())
                 ON CONFLICT (cert, node) DO UPDATE
                    SET serial = excluded.serial, version = excluded.version,
                        targets = excluded.targets, failed = excluded.failed,
                        detail = excluded.detail, at = excluded.at",
                &[
                    &d.cert,
                    &self.node(),
                    &d.serial,
                    &d.version,
                    &d.targets,
                    &d.failed,
                    &d.detail,
                ],
            ),
        )
        .await?;
        Ok(())
    }

    /// Every node's installed versions, by certificate and node.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, FleetError> {
        let rows = self
            .bounded(
                "list the deployments",
                self.client().query(
                    "SELECT cert, node, serial, version, targets, failed, detail,
                            extract(epoch from clock_timestamp() - at)::float8
                       FROM deployments ORDER BY cert, node",
                    &[],
                ),
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Deployment {
                cert: r.get(0),
                node: r.get(1),
                serial: r.get(2),
                version: r.get(3),
                targets: r.get(4),
                failed: r.get(5),
                detail: r.get(6),
                ago: r.get(7),
            })
            .collect())
    }

    /// The schema version the store is at.
    pub async fn schema_version(&self) -> Result<i32, FleetError> {
        let row = self
            .bounded(
                "read the schema version",
                self.client().query_one(
                    "SELECT coalesce(max(version), 0) FROM schema_migrations",
                    &[],
                ),
            )
            .await?;
        Ok(row.get(0))
    }
}
