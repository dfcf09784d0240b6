//! Issuance and renewal of managed certificates, end to end: decide (pure policy), order,
//! prove control, generate the key, finalize, install, record. Shared by the CLI and the daemon.
//!
//! Crash safety: the order URL is recorded (and flushed) as soon as the order exists, and the
//! new key is written and recorded before the CSR is sent. A restarted certctl resumes that
//! order instead of placing a new one, with the same key. The certificate is installed with one
//! atomic `current` swap ([`crate::deploy::Layout`]), so the served pair never mixes versions.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::acme::challenge::{Listeners, Solver};
use crate::acme::{AcmeAccount, AcmeError, CertKey, account, order};
use crate::config::Config;
use crate::config::acme::ManagedCert;
use crate::deploy::Layout;
use crate::model::{
    AriState, CertRecord, EventKind, InFlight, InventoryEvent, ManagedState, UnixSeconds,
};
use crate::policy::renew::{self, AriWindow, RenewInput};
use crate::store::{Store, StoreError};

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

/// What the policy decided for one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Never issued: obtain it.
    FirstIssue,
    /// An order was interrupted: pick it up.
    Resume { order_url: String },
    /// Renewal is due.
    Due { reason: String },
    /// Forced by the user.
    Forced,
    /// Not due until `at`.
    NotDue { at: UnixSeconds },
    /// Failed recently: waiting until `until`.
    BackingOff { until: UnixSeconds, failures: u32 },
}

impl Decision {
    fn acts(&self) -> bool {
        !matches!(self, Decision::NotDue { .. } | Decision::BackingOff { .. })
    }

    /// When this certificate next needs attention: its renewal time, the end of its backoff
    /// step, or `now` when there is something to do already.
    pub fn next_time(&self, now: UnixSeconds) -> UnixSeconds {
        match self {
            Decision::NotDue { at } => *at,
            Decision::BackingOff { until, .. } => *until,
            _ => now,
        }
    }
}

/// The outcome for one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub name: String,
    #[serde(flatten)]
    pub decision: Decision,
    /// Present when something was attempted.
    #[serde(flatten)]
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Installed {
        serial: String,
        not_after: UnixSeconds,
        version: String,
        resumed: bool,
        /// Deploy targets that failed (each rolled back where possible).
        deploy_errors: Vec<String>,
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
}

struct Ctx {
    config: Arc<Config>,
    store: Store,
    listeners: Listeners,
    accounts: tokio::sync::Mutex<HashMap<String, Arc<AcmeAccount>>>,
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
        let account = Arc::new(
            account::load_or_register(cfg, &self.config.state_dir.join("accounts")).await?,
        );
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
    let ctx = Arc::new(Ctx {
        config,
        store,
        listeners: Listeners::default(),
        accounts: tokio::sync::Mutex::new(HashMap::new()),
    });
    let mut reports = Vec::with_capacity(certs.len());
    let mut queue = certs.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < options.concurrency.max(1) {
            let Some(cert) = queue.next() else { break };
            let ctx = Arc::clone(&ctx);
            running.spawn(async move { one(&ctx, &cert, options).await });
        }
        match running.join_next().await {
            Some(Ok(report)) => reports.push(report?),
            Some(Err(e)) => tracing::error!("renewal task failed: {e}"),
            None => break,
        }
    }
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    // Renewals succeeded or failed are audited whichever surface asked (CLI, socket, schedule).
    crate::audit::record_inventory(&ctx.store);
    Ok(reports)
}

/// Deploys the current version of `cert` to every target, recording events and audit entries.
pub async fn deploy_all(
    store: &Store,
    cert: &ManagedCert,
) -> Vec<Result<crate::deploy::Deployed, crate::deploy::DeployFailure>> {
    let mut results = Vec::new();
    if cert.deploy.is_empty() {
        return results;
    }
    let material = match crate::deploy::Material::current(&Layout::new(&cert.output_dir)) {
        Ok(m) => m,
        Err(e) => {
            results.push(Err(crate::deploy::DeployFailure {
                target: cert.name.clone(),
                kind: "deploy_failed",
                error: e.to_string(),
                rolled_back: false,
            }));
            return results;
        }
    };
    for target in &cert.deploy {
        let result = crate::deploy::deploy(target, &material, &cert.domains).await;
        let (kind, detail) = match &result {
            Ok(d) => (
                EventKind::Deployed {
                    name: cert.name.clone(),
                    target: d.target.clone(),
                    serial: d.serial.clone(),
                },
                format!(
                    "{}: serial {} served after {} ms",
                    d.target,
                    d.serial,
                    d.served_after.as_millis()
                ),
            ),
            Err(f) => (
                EventKind::DeployFailed {
                    name: cert.name.clone(),
                    target: f.target.clone(),
                    kind: f.kind.to_string(),
                    error: f.error.clone(),
                    rolled_back: f.rolled_back,
                },
                f.to_string(),
            ),
        };
        let action = match &result {
            Ok(_) => "deployed",
            Err(f) if f.rolled_back => "deploy_rolled_back",
            Err(_) => "deploy_failed",
        };
        crate::audit::record(store, action, &cert.name, &detail);
        let state = match store.managed(&cert.name) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read renewal state: {e}");
                results.push(result);
                continue;
            }
        };
        if let Err(e) = store.record_renewal(&state, Some(&event(cert, kind))) {
            tracing::error!("cannot record the deploy: {e}");
        }
        match &result {
            Ok(d) => tracing::info!(cert = %cert.name, target = %d.target, "deployed and verified"),
            Err(f) => tracing::error!(cert = %cert.name, "{f}"),
        }
        results.push(result);
    }
    results
}

/// The installed leaf of a managed certificate: its record and DER.
pub fn current_leaf(cert: &ManagedCert) -> Option<(CertRecord, Vec<u8>)> {
    let pem = Layout::new(&cert.output_dir).read_current("cert.pem")?;
    let parsed = crate::x509::read_certificates(pem.as_bytes());
    parsed.certs.into_iter().next().map(|c| (c.record, c.der))
}

async fn one(
    ctx: &Ctx,
    cert: &ManagedCert,
    options: RenewOptions,
) -> Result<Report, LifecycleError> {
    let now = crate::clock::now();
    let mut state = ctx.store.managed(&cert.name)?;
    let current = current_leaf(cert);
    let mut decision = match (&state.in_flight, &current) {
        (Some(f), _) => Decision::Resume {
            order_url: f.order_url.clone(),
        },
        (None, None) => Decision::FirstIssue,
        (None, Some(_)) if options.force => Decision::Forced,
        (None, Some((leaf, der))) => {
            if !options.dry_run {
                let limit = ctx.config.acme_timeout;
                let ari = refresh_ari(ctx, cert, &mut state, leaf, der, now);
                if tokio::time::timeout(limit, ari).await.is_err() {
                    tracing::warn!(cert = %cert.name, "ARI lookup timed out; using the lifetime rule");
                }
            }
            let input = RenewInput {
                not_before: leaf.not_before,
                not_after: leaf.not_after,
                ari: state
                    .ari
                    .as_ref()
                    .filter(|a| a.serial == leaf.serial)
                    .map(|a| AriWindow {
                        start: a.start,
                        end: a.end,
                    }),
                renew_before: cert.renew_before.map(|d| d.as_secs() as i64),
                seed: renew::seed(&cert.name),
            };
            match renew::renewal_time(&input) {
                t if now >= t.at() => Decision::Due {
                    reason: match t {
                        renew::RenewalTime::Ari(_) => "inside the CA's renewal window (ARI)".into(),
                        renew::RenewalTime::Lifetime(_) => match cert.renew_before {
                            Some(_) => "renew_before reached".into(),
                            None => "a third of the lifetime left".into(),
                        },
                    },
                },
                t => Decision::NotDue { at: t.at() },
            }
        }
    };
    if decision.acts() && !options.force && state.failures > 0 {
        let until = renew::next_attempt(
            state.failures,
            state.last_failure.unwrap_or(0),
            ctx.store.retry_hint(&cert.name)?,
        );
        if now < until {
            decision = Decision::BackingOff {
                until,
                failures: state.failures,
            };
        }
    }
    if !decision.acts() || options.dry_run {
        return Ok(Report {
            name: cert.name.clone(),
            decision,
            outcome: None,
        });
    }
    let limit = ctx.config.acme_timeout;
    let attempt = tokio::time::timeout(limit, async {
        // instant-acme retries a badNonce rejection twice per request; a CA rejecting many
        // nonces can still beat that. A rejected request was not acted on, and the order is
        // persisted, so the attempt simply resumes where it stopped.
        let mut rejected = 0;
        loop {
            match execute(ctx, cert, &mut state, current.as_ref()).await {
                Err(Failure::Acme(e)) if e.is_bad_nonce() && rejected < BAD_NONCE_RESUMES => {
                    rejected += 1;
                    tracing::debug!(cert = %cert.name, rejected, "badNonce; resuming the order");
                }
                other => break other,
            }
        }
    });
    let result = match attempt.await {
        Ok(result) => result,
        Err(_) => Err(Failure::Acme(AcmeError::Transport {
            url: ctx
                .config
                .account(&cert.account)
                .map(|a| a.directory_url.clone())
                .unwrap_or_default(),
            reason: format!(
                "no result within {} (acme.timeout); the CA stopped answering",
                humantime::format_duration(limit)
            ),
        })),
    };
    let outcome = match result {
        Ok(installed) => installed,
        Err(Failure::Store(e)) => return Err(e.into()),
        Err(Failure::Acme(e)) => {
            state.failures += 1;
            state.last_failure = Some(crate::clock::now());
            // A CA that rate-limits or is overloaded says when to come back: no attempt before.
            let throttled = e.problem().is_some_and(|p| {
                matches!(p.status, Some(429 | 503))
                    || p.kind
                        .as_deref()
                        .is_some_and(|k| k.ends_with(":rateLimited"))
            });
            if throttled
                && let Some(account) = ctx.cached_account(&cert.account).await
                && let Some(at) = account.take_retry_after()
            {
                let at = at.min(crate::clock::now() + renew::MAX_RETRY_AFTER);
                tracing::warn!(cert = %cert.name, retry_after = at, "the CA asked to retry later");
                ctx.store.set_retry_hint(&cert.name, Some(at))?;
            }
            state.last_error = Some(e.to_string());
            state.last_problem = e.problem().cloned();
            if matches!(e, AcmeError::Validation(_) | AcmeError::Order { .. }) {
                // The order is dead; the next attempt places a new one.
                state.in_flight = None;
            }
            tracing::warn!(cert = %cert.name, failures = state.failures, "renewal failed: {e}");
            let event = event(
                cert,
                EventKind::RenewalFailed {
                    name: cert.name.clone(),
                    error: e.to_string(),
                    failures: state.failures,
                },
            );
            ctx.store.record_renewal(&state, Some(&event))?;
            Outcome::Failed {
                error: e.to_string(),
                retryable: e.is_retryable(),
                failures: state.failures,
            }
        }
    };
    Ok(Report {
        name: cert.name.clone(),
        decision,
        outcome: Some(outcome),
    })
}

/// How many times one attempt resumes after the CA rejected a nonce (each resume is a fresh
/// request with a fresh nonce, on top of instant-acme's own retries).
const BAD_NONCE_RESUMES: u32 = 20;

enum Failure {
    Acme(AcmeError),
    Store(StoreError),
}

impl From<AcmeError> for Failure {
    fn from(e: AcmeError) -> Self {
        Failure::Acme(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<crate::deploy::DeployError> for Failure {
    fn from(e: crate::deploy::DeployError) -> Self {
        Failure::Acme(AcmeError::Deploy(e))
    }
}

fn event(cert: &ManagedCert, kind: EventKind) -> InventoryEvent {
    InventoryEvent {
        at: crate::clock::now(),
        location_id: String::new(),
        target: cert.name.clone(),
        kind,
    }
}

async fn refresh_ari(
    ctx: &Ctx,
    cert: &ManagedCert,
    state: &mut ManagedState,
    leaf: &CertRecord,
    der: &[u8],
    now: UnixSeconds,
) {
    let fresh = state
        .ari
        .as_ref()
        .is_some_and(|a| a.serial == leaf.serial && now < a.next_check);
    if fresh {
        return;
    }
    let Ok(account) = ctx.account(&cert.account).await else {
        return;
    };
    match order::renewal_info(&account, der).await {
        Ok(Some(info)) => {
            let wait = renew::clamp_retry_after(info.retry_after.as_secs() as i64);
            if let Some(url) = &info.explanation_url {
                tracing::warn!(cert = %cert.name, "the CA explains its renewal window at {url}");
            }
            state.ari = Some(AriState {
                serial: leaf.serial.clone(),
                start: info.window.start,
                end: info.window.end,
                next_check: now + wait,
            });
            if let Err(e) = ctx.store.record_renewal(state, None) {
                tracing::warn!(cert = %cert.name, "cannot record the ARI window: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::info!(cert = %cert.name, "ARI lookup failed, using the lifetime rule: {e}")
        }
    }
}

async fn execute(
    ctx: &Ctx,
    cert: &ManagedCert,
    state: &mut ManagedState,
    current: Option<&(CertRecord, Vec<u8>)>,
) -> Result<Outcome, Failure> {
    let account = ctx.account(&cert.account).await?;
    let layout = Layout::new(&cert.output_dir);

    // 1. The order: resume the one in flight, or place a new one and record it at once.
    let mut resumed = false;
    let mut placed = None;
    if let Some(flight) = state.in_flight.clone() {
        match order::resume(&account, &flight.order_url).await {
            Ok(mut o) => {
                if o.is_invalid() {
                    tracing::info!(cert = %cert.name, "the interrupted order is invalid; placing a new one");
                } else {
                    resumed = true;
                    placed = Some(o);
                }
            }
            Err(e) => {
                tracing::info!(cert = %cert.name, "cannot resume the interrupted order ({e}); placing a new one")
            }
        }
        if placed.is_none() {
            state.in_flight = None;
        }
    }
    let mut order = match placed {
        Some(o) => o,
        None => {
            let replaces = current.map(|(_, der)| der.as_slice());
            let o = order::place(&account, cert, replaces).await?;
            crate::audit::record(&ctx.store, "order_placed", &cert.name, &o.url);
            state.orders_placed += 1;
            state.in_flight = Some(InFlight {
                order_url: o.url.clone(),
                version: version_name(state.orders_placed),
                key_written: false,
                started_at: crate::clock::now(),
            });
            ctx.store.record_renewal(state, None)?;
            o
        }
    };
    let version = state
        .in_flight
        .as_ref()
        .map(|f| f.version.clone())
        .unwrap_or_else(|| version_name(state.orders_placed));

    // 2. Prove control of every name (cleanup happens inside, on success and failure).
    let solver = Solver::start(&cert.challenge, &ctx.listeners).await?;
    order::authorize(&mut order, solver).await?;

    // 3. The key: the one already written for this order, else a new (or reused) one, written
    //    durably before the CSR leaves this machine.
    let key_written = state.in_flight.as_ref().is_some_and(|f| f.key_written);
    let key = if key_written {
        let pem = std::fs::read_to_string(layout.version_dir(&version).join("privkey.pem"))
            .map_err(|e| {
                AcmeError::Key(format!("the key of the interrupted order is gone: {e}"))
            })?;
        CertKey::from_pem(&pem, cert.key_type)?
    } else {
        let reused = if cert.reuse_key {
            layout
                .read_current("privkey.pem")
                .and_then(|pem| CertKey::from_pem(&pem, cert.key_type).ok())
        } else {
            None
        };
        let key = match reused {
            Some(k) => k,
            None => CertKey::generate(cert.key_type)?,
        };
        layout.write_key(&version, &key.to_pem())?;
        if let Some(f) = state.in_flight.as_mut() {
            f.key_written = true;
        }
        ctx.store.record_renewal(state, None)?;
        key
    };

    // 4. Finalize and download.
    let chain = order::finalize(&mut order, &key, &cert.domains).await?;

    // 5. Check what came back before it replaces anything.
    let issued = crate::x509::read_certificates(chain.as_bytes());
    let Some(leaf) = issued.certs.first() else {
        return Err(AcmeError::Order {
            url: order.url.clone(),
            reason: "the CA returned no certificate".into(),
        }
        .into());
    };
    let spki = crate::x509::public_key_der(&leaf.der).map_err(|e| AcmeError::Key(e.to_string()))?;
    if spki != key.public_key_der()? {
        return Err(AcmeError::Key("the issued certificate does not match our key".into()).into());
    }
    for domain in &cert.domains {
        if !crate::policy::name_matches(&leaf.record.sans, domain) {
            return Err(AcmeError::Order {
                url: order.url.clone(),
                reason: format!("the issued certificate does not cover {domain}"),
            }
            .into());
        }
    }

    // 6. Install atomically, then record success.
    layout.install(&version, &chain)?;
    if ctx.store.retry_hint(&cert.name)?.is_some() {
        ctx.store.set_retry_hint(&cert.name, None)?;
    }
    state.in_flight = None;
    state.failures = 0;
    state.last_failure = None;
    state.last_error = None;
    state.last_problem = None;
    state.last_success = Some(crate::clock::now());
    state.last_serial = Some(leaf.record.serial.clone());
    state.ari = None;
    let event = event(
        cert,
        EventKind::RenewalSucceeded {
            name: cert.name.clone(),
            serial: leaf.record.serial.clone(),
            not_after: leaf.record.not_after,
        },
    );
    ctx.store.record_renewal(state, Some(&event))?;
    tracing::info!(cert = %cert.name, serial = %leaf.record.serial, version, "installed");
    let deployed = deploy_all(&ctx.store, cert).await;
    let deploy_errors: Vec<String> = deployed
        .iter()
        .filter_map(|r| r.as_ref().err().map(|f| f.to_string()))
        .collect();
    Ok(Outcome::Installed {
        serial: leaf.record.serial.clone(),
        not_after: leaf.record.not_after,
        version,
        resumed,
        deploy_errors,
    })
}

/// A sortable, unique version directory name: UTC time plus the order count.
fn version_name(orders: u64) -> String {
    let stamp = crate::policy::rfc3339(crate::clock::now()).replace(['-', ':'], "");
    format!("{stamp}-{orders:04}")
}
