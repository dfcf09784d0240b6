//! Fleet mode: several certctl nodes coordinating through one PostgreSQL database.
//!
//! One embedded sled store admits one process, so two certctl nodes today would each renew and
//! alert on their own. Fleet mode puts what the nodes must agree on in PostgreSQL, the engine
//! operators already run and back up (see `FLEET.md` in the design notes for the comparison with
//! etcd and with how certmagic and cert-manager coordinate):
//!
//! - [`connect`]: one connection with bounded connect and statement times, TLS through rustls,
//!   and the schema brought up to date ([`migrate`]) under a transaction-level advisory lock.
//! - [`lease`]: named leases with fencing tokens, judged by the database clock; a holder also
//!   keeps its own deadline on its monotonic clock and stops acting when it passes.
//! - [`node`]: the node registry (who runs, with which config, last heartbeat).
//! - [`claim`]: alert deliveries sent once fleet-wide, whichever node queued them.
//! - [`inventory`]: the locations every node scanned, listed fleet-wide.
//! - [`scan`]: the scheduled scan divided among the nodes (a SKIP LOCKED work queue).
//! - [`seal`]: private keys at rest in the shared store, sealed with AES-256-GCM under a key file
//!   every node holds.
//!
//! This module is the only importer of tokio-postgres and its rustls glue.

pub mod claim;
pub mod connect;
pub mod inventory;
pub mod lease;
mod migrate;
pub mod node;
pub mod scan;
pub mod seal;

use std::path::PathBuf;

pub use connect::{Fleet, FleetSettings, check_url};
pub use inventory::{ListedLocation, PublishedLocation};
pub use lease::{Lease, LeaseInfo};
pub use migrate::SCHEMA_VERSION;
pub use node::{Deployment, NodeInfo, Registration};
pub use seal::FleetKey;

/// Joins the fleet as `settings.node`: loads the fleet key from `key_file`, connects (migrating
/// the schema), checks the key against the fleet's and registers this node with its config
/// hash, warning about live nodes whose config differs.
pub async fn join(
    settings: &FleetSettings,
    key_file: &std::path::Path,
    config_hash: &str,
    stale_after: std::time::Duration,
    notices: Option<tokio::sync::mpsc::UnboundedSender<(String, String)>>,
) -> Result<(Fleet, FleetKey), FleetError> {
    let key = FleetKey::load(key_file)?;
    let fleet = match notices {
        Some(tx) => Fleet::connect_listening(settings, tx).await?,
        None => Fleet::connect(settings).await?,
    };
    fleet.check_key(&key).await?;
    let registration = fleet.register(config_hash, stale_after).await?;
    for other in registration.drift {
        tracing::warn!(
            node = %fleet.node(),
            other = %other.name,
            mine = %config_hash,
            theirs = %other.config_hash,
            "this node's config differs from another live node's: they may judge and renew differently"
        );
    }
    Ok((fleet, key))
}

/// The channel a node notifies when it publishes a new version of a certificate (payload: the
/// certificate's name).
pub const VERSION_CHANNEL: &str = "certctl_version";

/// What went wrong talking to the fleet store, and with which store, lease or key.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet store {target}: {message}")]
    Connect { target: String, message: String },
    #[error("fleet store {target}: {action}: {message}")]
    Query {
        target: String,
        action: &'static str,
        message: String,
    },
    #[error("fleet store {target}: {action}: no answer within {seconds} s")]
    Timeout {
        target: String,
        action: &'static str,
        seconds: u64,
    },
    #[error(
        "fleet store {target}: its schema is version {found}, newer than this certctl knows \
         ({known}); upgrade certctl on this node before starting it"
    )]
    NewerSchema {
        target: String,
        found: i32,
        known: i32,
    },
    #[error("lease {name} (token {token}) is lost: it expired or another node took it over")]
    LeaseLost { name: String, token: i64 },
    #[error(
        "node name {node} is in use by a live process ({instance}, heartbeat {age} s ago); \
         give this node its own [fleet] node name"
    )]
    NameInUse {
        node: String,
        instance: String,
        age: i64,
    },
    #[error("node {node} is alive (heartbeat {age} s ago): stop it before forgetting it")]
    Alive { node: String, age: i64 },
    #[error(
        "lease {name} is held by node {holder}, which did not finish within {seconds} s; the \
         next run tries again"
    )]
    Held {
        name: String,
        holder: String,
        seconds: u64,
    },
    #[error("fleet key {}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error(
        "{what}: cannot be opened with fleet key {kek_id}: a different key file, or the sealed \
         data was altered or copied from another record"
    )]
    Unseal { what: String, kek_id: String },
    #[error(
        "fleet key {kek_id} is not the fleet's key (the store holds data sealed under {known}); \
         give this node the fleet's key file"
    )]
    WrongKey { kek_id: String, known: String },
}

impl FleetError {
    /// True when the store could not be reached or answered in time, so the same call may
    /// succeed later (a lost lease, a wrong key or a divergent config will not).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            FleetError::Connect { .. } | FleetError::Timeout { .. }
        )
    }
}
