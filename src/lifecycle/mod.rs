//! Issuance and renewal of managed certificates, end to end, shared by the CLI and the daemon.
//! The steps live in their own files: [`attempt`] holds the certificate's renewal lease, reads
//! the facts, asks the pure policy ([`crate::policy::renew::decide`]) and records a failure;
//! [`ari`] refreshes the CA's renewal window; [`issue`] orders, proves control, writes the key,
//! finalizes, checks and installs; [`deploy`] hands the installed version to its targets.
//!
//! Crash safety: the order URL is recorded (and flushed) as soon as the order exists, and the
//! new key is written and recorded before the CSR is sent. A restarted certctl resumes that
//! order instead of placing a new one, with the same key. The certificate is installed with one
//! atomic `current` swap ([`crate::deploy::Layout`]), so the served pair never mixes versions.

mod ari;
mod attempt;
mod deploy;
mod fleet;
mod issue;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::acme::challenge::Listeners;
use crate::acme::{AcmeAccount, AcmeError, account};
use crate::config::Config;
use crate::config::acme::ManagedCert;
use crate::deploy::Layout;
use crate::model::{CertRecord, EventKind, InventoryEvent, UnixSeconds};
pub use crate::policy::renew::Decision;
use crate::store::{Store, StoreError};
pub use deploy::deploy_all;

/// How a run behaves.
#[derive(Debug, Clone, Copy)]
pub struct RenewOptions {
    /// Renew whatever the policy and backoff say.
    pub force: bool,
    /// Only report what would be done.
    pub dry_run: bool,
    /// Certificates processed at once.
    pub concurrency: usize,
}

/// The outcome for one certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub name: String,
    #[serde(flatten)]
    pub decision: Decision,
    /// Present when something was attempted.
    #[serde(flatten)]
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Installed {
        serial: String,
        not_after: UnixSeconds,
        version: String,
        resumed: bool,
        /// Deploy targets that failed (each rolled back where possible).
        deploy_errors: Vec<String>,
        /// Fleet mode: the node that renewed it, when another node did (installed from the
        /// fleet store here).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        renewed_by: Option<String>,
    },
    Failed {
        error: String,
        retryable: bool,
        failures: u32,
    },
}

/// Errors that stop a whole run (a single certificate's failure is a [`Report`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// A certificate named on the command line is not in the config.
    #[error("no [[certificate]] named \"{0}\" in the config")]
    UnknownCertificate(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An ACME operation outside a single certificate's renewal failed.
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// Fleet mode: the shared store could not be joined (unreachable, wrong key, name in use).
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
}

struct Ctx {
    config: Arc<Config>,
    store: Store,
    listeners: Listeners,
    accounts: tokio::sync::Mutex<HashMap<String, Arc<AcmeAccount>>>,
    /// Fleet mode: this node's membership (one renewer per certificate fleet-wide).
    fleet: Option<fleet::Member>,
}

impl Ctx {
    /// The account if it was already loaded in this run (no network).
    async fn cached_account(&self, name: &str) -> Option<Arc<AcmeAccount>> {
        self.accounts.lock().await.get(name).cloned()
    }

    async fn account(&self, name: &str) -> Result<Arc<AcmeAccount>, AcmeError> {
        let mut cache = self.accounts.lock().await;
        if let Some(a) = cache.get(name) {
            return Ok(Arc::clone(a));
        }
        let cfg = self
            .config
            .account(name)
            .ok_or_else(|| AcmeError::Account {
                account: name.to_string(),
                reason: "not configured".into(),
            })?;
        let dir = self.config.state_dir.join("accounts");
        let account = Arc::new(match &self.fleet {
            Some(m) => fleet::account(m, cfg, &dir, self.config.acme_timeout).await?,
            None => account::load_or_register(cfg, &dir).await?,
        });
        cache.insert(name.to_string(), Arc::clone(&account));
        Ok(account)
    }
}

/// Renews (or issues) the named certificates, or all of them when `names` is empty.
pub async fn run(
    config: Arc<Config>,
    store: Store,
    names: &[String],
    options: RenewOptions,
) -> Result<Vec<Report>, LifecycleError> {
    let certs: Vec<ManagedCert> = if names.is_empty() {
        config.certificates.clone()
    } else {
        names
            .iter()
            .map(|n| {
                config
                    .certificate(n)
                    .cloned()
                    .ok_or_else(|| LifecycleError::UnknownCertificate(n.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    // A dry run only reads local facts; a renewal in fleet mode first joins the fleet, and a
    // fleet store that cannot be joined stops the run (no renewal without the fleet's lease).
    let fleet = match options.dry_run {
        true => None,
        false => fleet::join(&config).await?,
    };
    let ctx = Arc::new(Ctx {
        config,
        store,
        listeners: Listeners::default(),
        accounts: tokio::sync::Mutex::new(HashMap::new()),
        fleet,
    });
    let mut reports = Vec::with_capacity(certs.len());
    let mut queue = certs.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < options.concurrency.max(1) {
            let Some(cert) = queue.next() else { break };
            let ctx = Arc::clone(&ctx);
            running.spawn(async move { attempt::one(&ctx, &cert, options).await });
        }
        match running.join_next().await {
            Some(Ok(report)) => reports.push(report?),
            Some(Err(e)) => tracing::error!("renewal task failed: {e}"),
            None => break,
        }
    }
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(m) = &ctx.fleet {
        m.leave().await;
    }
    // Renewals succeeded or failed are audited whichever surface asked (CLI, socket, schedule).
    crate::audit::record_inventory(&ctx.store);
    Ok(reports)
}

/// The installed leaf of a managed certificate: its record and DER.
pub fn current_leaf(cert: &ManagedCert) -> Option<(CertRecord, Vec<u8>)> {
    let pem = Layout::new(&cert.output_dir).read_current("cert.pem")?;
    let parsed = crate::x509::read_certificates(pem.as_bytes());
    parsed.certs.into_iter().next().map(|c| (c.record, c.der))
}

fn event(cert: &ManagedCert, kind: EventKind) -> InventoryEvent {
    InventoryEvent {
        at: crate::clock::now(),
        location_id: String::new(),
        target: cert.name.clone(),
        kind,
    }
}
