//! The operations every surface calls. The CLI builds a [`Request`], runs it through the
//! daemon's control socket when a daemon answers (or here, against its own store, when none
//! does) and renders the typed [`Reply`]; the daemon's socket and its schedules call the same
//! functions with the daemon's [`Context`]. So a command behaves the same from every surface,
//! runs inside the daemon on its runtime under its exclusions (renewal and dispatch leases),
//! and is drained at shutdown like the daemon's own work.
//!
//! Typed so far: `status`, `issue`, `renew`, `revoke`, `forget`, `check`, `history`,
//! `audit verify`, `deploy`, `verify`, `rollback`, `alerts ...`. The other commands still travel as argv
//! through the socket (`daemon::socket`), to be moved here one by one.

pub mod after;
pub mod alerts;
pub mod audit;
pub mod deploy;
pub mod discover;
pub mod divide;
pub mod fleet;
pub mod inventory;
pub mod list;
pub mod renew;
pub mod revoke;
pub mod scan;
pub mod socket;
pub mod status;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Store, StoreError};
pub use audit::{AuditReply, HistoryRequest};
pub use inventory::{CheckReply, CheckRequest, ForgetReply, ForgetRequest};
pub use list::{ListReply, ListRequest, ShowReply, ShowRequest, SortKey};
pub use renew::{RenewReply, RenewRequest};
pub use revoke::{RevokeReply, RevokeRequest};
pub use scan::{ScanReply, ScanRequest};
pub use status::{ScheduleStatus, Status};

/// What an operation runs against.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// Inside the daemon: a snapshot of its status, for `certctl status`.
    pub status: Option<Status>,
    /// Deliver due alerts after a change. The daemon's schedules leave that to its dispatcher;
    /// a command (from the CLI or through the socket) delivers at once.
    pub deliver: bool,
    /// Told about each endpoint a scan finishes (a progress bar on the CLI's terminal).
    pub progress: Option<Progress>,
}

/// See [`Context::progress`].
pub type Progress = Arc<dyn Fn() + Send + Sync>;

/// One operation, as the CLI asks for it (and as it travels through the socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Status,
    Scan(ScanRequest),
    Discover(discover::SweepRequest),
    DiscoverLocal { add: bool },
    List(ListRequest),
    Show(ShowRequest),
    Renew(RenewRequest),
    Revoke(RevokeRequest),
    Forget(ForgetRequest),
    Check(CheckRequest),
    History(HistoryRequest),
    AuditVerify,
    Deploy(deploy::NameRequest),
    Verify(deploy::NameRequest),
    Rollback(deploy::NameRequest),
    AlertsList,
    AlertsTest { webhook: String },
    AlertsRetry { delivery: u64 },
    AlertsEnable { webhook: String },
    AlertsDeliver,
}

impl Request {
    /// Whether the operation reads or writes the store (`scan --no-store` and `discover`
    /// without `--add` do not: they run without opening it).
    pub fn needs_store(&self) -> bool {
        match self {
            Request::Scan(r) => r.record,
            Request::Discover(r) => r.add,
            Request::DiscoverLocal { add } => *add,
            _ => true,
        }
    }

    /// Whether the operation may change when certificates next need renewing.
    pub fn touches_renewals(&self) -> bool {
        matches!(
            self,
            Request::Renew(_) | Request::Revoke(_) | Request::Rollback(_)
        )
    }
}

/// The typed answer to a [`Request`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum Reply {
    Status(Status),
    Scan(ScanReply),
    Discover(discover::SweepReply),
    DiscoverLocal(discover::LocalReply),
    List(ListReply),
    Show(Box<ShowReply>),
    Renew(RenewReply),
    Revoke(RevokeReply),
    Forget(ForgetReply),
    Check(CheckReply),
    History(Vec<crate::store::AuditEntry>),
    AuditVerify(AuditReply),
    Deploy(deploy::DeployReply),
    Verify(deploy::VerifyReply),
    Rollback(deploy::RollbackReply),
    AlertsList(alerts::AlertsListReply),
    AlertsTest(alerts::TestReply),
    /// The delivery re-queued.
    AlertsRetry(u64),
    /// Whether the webhook had been disabled.
    AlertsEnable(bool),
    AlertsDeliver(alerts::DeliverReply),
    /// The operation failed; the message says what and on which input.
    Failed {
        error: String,
    },
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    #[error("the config has no [[certificate]] entries to issue or renew")]
    NoCertificates,
    #[error("no [[certificate]] named \"{0}\" in the config")]
    UnknownCertificate(String),
    #[error(
        "unknown revocation reason \"{0}\" (unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)"
    )]
    UnknownReason(String),
    #[error(
        "nothing to scan: give targets (e.g. `certctl scan example.com:443 /etc/nginx/certs`) \
         or a config with [[endpoint]] / [[files]] entries (--config)"
    )]
    NothingToScan,
    #[error("target {target}: {reason}")]
    BadTarget { target: String, reason: String },
    #[error("{0}")]
    BadArgument(String),
    #[error("this operation needs the store")]
    NeedsStore,
    #[error("no [[webhook]] named \"{0}\"")]
    UnknownWebhook(String),
    #[error("no delivery #{0} (see `certctl alerts list`)")]
    NoDelivery(u64),
    #[error("delivery #{0} is not dead; it will be retried on its own")]
    NotDead(u64),
    #[error("{0} has no installed version")]
    NoVersion(String),
    #[error("{cert} has no version older than {current}")]
    NoOlderVersion { cert: String, current: String },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Deploy(#[from] crate::deploy::DeployError),
    #[error("no location matches \"{0}\" (try an id from `certctl list`)")]
    NoMatch(String),
    #[error(
        "\"{query}\" matches {} locations; use an id:\n  {}",
        matches.len(),
        matches.join("\n  ")
    )]
    Ambiguous {
        query: String,
        /// `ID TARGET` of each.
        matches: Vec<String>,
    },
    #[error("{0} has no installed certificate to revoke")]
    NotInstalled(String),
    #[error("account {account} of [[certificate]] {cert} is not configured")]
    NoAccount { cert: String, account: String },
    #[error("certctl run is not running (no daemon answered on the control socket)")]
    NoDaemon,
    #[error(transparent)]
    Lifecycle(#[from] crate::lifecycle::LifecycleError),
    #[error(transparent)]
    Acme(#[from] crate::acme::AcmeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Scan(#[from] crate::service::ServiceError),
    #[error("{store}: a location published by node {node} cannot be read: {reason}")]
    FleetRecord {
        store: String,
        node: String,
        reason: String,
    },
}

/// Runs one request against `ctx`.
pub async fn execute(ctx: &Context, request: &Request) -> Result<Reply, OpsError> {
    Ok(match request {
        Request::Status => Reply::Status(ctx.status.clone().ok_or(OpsError::NoDaemon)?),
        Request::Scan(r) => Reply::Scan(scan::scan(ctx, r).await?),
        Request::Discover(r) => Reply::Discover(discover::sweep(ctx, r).await?),
        Request::DiscoverLocal { add } => Reply::DiscoverLocal(discover::local(ctx, *add).await?),
        Request::List(r) => Reply::List(match &ctx.config.fleet {
            Some(fc) => fleet::list(ctx, fc, r).await?,
            None => list::list(ctx, r)?,
        }),
        Request::Show(r) => Reply::Show(Box::new(list::show(ctx, r)?)),
        Request::Renew(r) => Reply::Renew(renew::renew(ctx, r).await?),
        Request::Revoke(r) => Reply::Revoke(revoke::revoke(ctx, r).await?),
        Request::Forget(r) => Reply::Forget(inventory::forget(ctx, r).await?),
        Request::Check(r) => Reply::Check(inventory::check(ctx, r).await?),
        Request::History(r) => Reply::History(audit::history(ctx, r)?),
        Request::AuditVerify => Reply::AuditVerify(audit::verify(ctx)?),
        Request::Deploy(r) => Reply::Deploy(deploy::deploy(ctx, r).await?),
        Request::Verify(r) => Reply::Verify(deploy::verify(ctx, r).await?),
        Request::Rollback(r) => Reply::Rollback(deploy::rollback(ctx, r).await?),
        Request::AlertsList => Reply::AlertsList(alerts::list(ctx)?),
        Request::AlertsTest { webhook } => Reply::AlertsTest(alerts::test(ctx, webhook).await?),
        Request::AlertsRetry { delivery } => Reply::AlertsRetry(alerts::retry(ctx, *delivery)?),
        Request::AlertsEnable { webhook } => {
            Reply::AlertsEnable(ctx.store.enable_webhook(webhook)?)
        }
        Request::AlertsDeliver => Reply::AlertsDeliver(alerts::deliver(ctx).await?),
    })
}

/// Runs a request that does not need the store ([`Request::needs_store`]) without one.
pub async fn execute_without_store(
    config: &Config,
    request: &Request,
    progress: Option<&(dyn Fn() + Send + Sync)>,
) -> Result<Reply, OpsError> {
    Ok(match request {
        Request::Scan(r) if !r.record => {
            Reply::Scan(scan::scan_unrecorded(config, r, progress).await?)
        }
        Request::Discover(r) if !r.add => {
            Reply::Discover(discover::sweep_into(config, None, r).await?)
        }
        Request::DiscoverLocal { add: false } => {
            Reply::DiscoverLocal(discover::local_into(config, None).await?)
        }
        _ => return Err(OpsError::NeedsStore),
    })
}

/// Frees a large value (a listing, an inventory) on a thread of its own, so that an answer
/// already built does not wait for 10 000 or 100 000 records to be freed one by one.
pub(crate) fn free_in_background<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}
