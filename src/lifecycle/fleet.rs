//! Renewals in fleet mode: one renewer per certificate, and every node installs what any node
//! renewed.
//!
//! Before a node decides, it installs the fleet's version of the certificate when that is newer
//! than its own ([`pull`]). When the policy says renew, the node takes the certificate's lease
//! (`cert:<name>`); a node that finds it held waits for the holder and installs what the holder
//! publishes ([`take`]). The holder asks the store again once it has the lease (another node may
//! have finished meanwhile, as certmagic does), renews the lease while the issuance runs and
//! abandons the issuance as soon as the lease is lost ([`hold`]), then publishes the new version
//! ([`publish`]): the chain, and the key sealed under the fleet key, written under the lease's
//! token so that a holder that lost its lease publishes nothing.
//!
//! The holder also publishes its order as it goes ([`record_order`]: the order URL once placed,
//! the sealed key once written, before the CSR). A node that takes the lease over after a crash
//! adopts that order ([`adopt_order`]) and resumes it with the same key, through the same ACME
//! account: accounts are shared too ([`account`]), registered once fleet-wide under the
//! account's own lease.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::acme::AcmeError;
use crate::config::Config;
use crate::config::acme::ManagedCert;
use crate::deploy::Layout;
use crate::fleet::{Fleet, FleetError, FleetKey, Lease};

use crate::config::acme::AccountConfig;
use crate::model::{InFlight, ManagedState};

use super::attempt::Failure;
use super::{Ctx, LifecycleError, Outcome, current_leaf};

/// This node's membership of the fleet for one run.
pub(super) struct Member {
    fleet: Fleet,
    key: FleetKey,
    ttl: Duration,
}

/// Joins the fleet when the config names one: loads the fleet key, connects (migrating the
/// schema), checks the key against the fleet's and registers this node.
pub(super) async fn join(config: &Config) -> Result<Option<Member>, LifecycleError> {
    let Some(fc) = &config.fleet else {
        return Ok(None);
    };
    let (fleet, key) = crate::fleet::join(
        &fc.settings,
        &fc.key_file,
        &fc.config_hash,
        fc.lease_ttl * 2,
        None,
    )
    .await?;
    Ok(Some(Member {
        fleet,
        key,
        ttl: fc.lease_ttl,
    }))
}

/// A version as published to the fleet.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    version: String,
    serial: String,
    not_after: i64,
    fullchain: String,
    /// The private key PEM, sealed under the fleet key (base64).
    key: String,
}

fn name_of(cert: &ManagedCert) -> String {
    format!("cert:{}", cert.name)
}

fn seal_label(cert: &ManagedCert, version: &str) -> String {
    format!("cert|{}|{version}", cert.name)
}

fn invalid(cert: &ManagedCert, why: impl std::fmt::Display) -> Failure {
    Failure::Acme(AcmeError::Install(format!(
        "the fleet's version of {} cannot be installed: {why}",
        cert.name
    )))
}

/// Installs the fleet's version of `cert` here when it is newer than the installed one (then
/// deploys it); `None` when this node is already current.
pub(super) async fn pull(
    ctx: &Ctx,
    m: &Member,
    cert: &ManagedCert,
    state: &mut ManagedState,
) -> Result<Option<Outcome>, Failure> {
    let Some((value, _, by)) = m.fleet.record(&name_of(cert)).await? else {
        return Ok(None);
    };
    let published: Published =
        serde_json::from_slice(&value).map_err(|e| invalid(cert, format!("unreadable: {e}")))?;
    // The fleet's record is the latest version any node published; a local one that is
    // later still was renewed here but not published (the store failed): keep it.
    if let Some((leaf, _)) = current_leaf(cert)
        && (leaf.serial == published.serial || leaf.not_after > published.not_after)
    {
        return Ok(None);
    }
    let key = m.open_key(cert, &published.version, &published.key)?;
    let now = crate::clock::now();
    let leaf = crate::deploy::lint(&published.fullchain, &key, &cert.domains, now)
        .map_err(|e| invalid(cert, e))?;
    let layout = Layout::new(&cert.output_dir);
    layout.write_key(&published.version, &key)?;
    layout.install(&published.version, &published.fullchain)?;
    state.installed(&leaf.serial, now);
    ctx.store.record_renewal(state, None)?;
    crate::audit::record(
        &ctx.store,
        "fleet_installed",
        &cert.name,
        &format!("serial {} renewed by node {by}", leaf.serial),
    );
    tracing::info!(cert = %cert.name, serial = %leaf.serial, renewed_by = %by, "installed the fleet's version");
    let deployed = super::deploy_all(&ctx.store, cert).await;
    let outcome = Outcome::Installed {
        serial: leaf.serial,
        not_after: leaf.not_after,
        version: published.version,
        resumed: false,
        deploy_errors: deployed
            .iter()
            .filter_map(|r| r.as_ref().err().map(|f| f.to_string()))
            .collect(),
        renewed_by: Some(by),
    };
    report(m, cert, &outcome).await;
    Ok(Some(outcome))
}

/// Records in the fleet which version this node now has of `cert` and how its deploy targets
/// took it (`certctl fleet status`: which node serves which version).
pub(super) async fn report(m: &Member, cert: &ManagedCert, outcome: &Outcome) {
    let Outcome::Installed {
        serial,
        version,
        deploy_errors,
        ..
    } = outcome
    else {
        return;
    };
    let deployment = crate::fleet::Deployment {
        cert: cert.name.clone(),
        node: m.fleet.node().to_string(),
        serial: serial.clone(),
        version: version.clone(),
        targets: i32::try_from(cert.deploy.len()).unwrap_or(i32::MAX),
        failed: i32::try_from(deploy_errors.len()).unwrap_or(i32::MAX),
        detail: deploy_errors.join("; "),
        ago: 0.0,
    };
    if let Err(e) = m.fleet.record_deployment(&deployment).await {
        tracing::warn!(cert = %cert.name, "cannot record the deployment in the fleet: {e}");
    }
}

/// What taking the certificate's lease came to.
pub(super) enum Taken {
    /// This node renews, under this lease.
    Lease(Lease),
    /// Another node renewed meanwhile; its version is installed here.
    Installed(Outcome),
}

/// Takes `cert`'s lease, or waits (up to `limit`) for the node that holds it and installs
/// what that node publishes.
pub(super) async fn take(
    ctx: &Ctx,
    m: &Member,
    cert: &ManagedCert,
    state: &mut ManagedState,
    limit: Duration,
) -> Result<Taken, Failure> {
    let until = Instant::now() + limit;
    let mut waited = false;
    loop {
        if let Some(lease) = m.fleet.try_acquire(&name_of(cert), m.ttl).await? {
            // The holder this node waited for (or any node since the decision) may have
            // published: installing that beats a second order.
            if let Some(outcome) = pull(ctx, m, cert, state).await? {
                m.fleet.release(lease).await?;
                return Ok(Taken::Installed(outcome));
            }
            return Ok(Taken::Lease(lease));
        }
        if waited && let Some(outcome) = pull(ctx, m, cert, state).await? {
            return Ok(Taken::Installed(outcome));
        }
        if !waited {
            tracing::info!(cert = %cert.name, "another node is renewing this certificate; waiting for it");
            waited = true;
        }
        if Instant::now() >= until {
            let holder = m
                .fleet
                .leases()
                .await?
                .into_iter()
                .find(|l| l.name == name_of(cert))
                .map(|l| l.holder)
                .unwrap_or_default();
            return Err(Failure::Fleet(FleetError::Held {
                name: name_of(cert),
                holder,
                seconds: limit.as_secs(),
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl Member {
    /// Ends this run's registration (the node leaves unless the daemon holds it too).
    pub(super) async fn leave(&self) {
        if let Err(e) = self.fleet.leave().await {
            tracing::warn!("cannot leave the fleet: {e}");
        }
    }

    pub(super) async fn release(&self, lease: Lease) -> Result<(), FleetError> {
        self.fleet.release(lease).await
    }

    /// `pem`, the key of `cert`'s `version`, sealed under the fleet key (base64, for a record).
    fn seal_key(&self, cert: &ManagedCert, version: &str, pem: &str) -> Result<String, FleetError> {
        let sealed = self.key.seal(&seal_label(cert, version), pem.as_bytes())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// The key PEM that [`Member::seal_key`] sealed for `cert`'s `version`.
    fn open_key(&self, cert: &ManagedCert, version: &str, sealed: &str) -> Result<String, Failure> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|e| invalid(cert, format!("its key is not base64: {e}")))?;
        let pem = self.key.open(&seal_label(cert, version), &sealed)?;
        String::from_utf8(pem).map_err(|_| invalid(cert, "its key is not PEM"))
    }
}

/// Runs `work` while renewing `lease` every third of its TTL; drops `work` (so it stops talking
/// to the CA) as soon as a renewal fails, or as soon as the holder's own deadline has passed:
/// `work` is never polled again after that, so a process that was paused (SIGSTOP, a VM
/// migration) past its lease takes no further step when it wakes, before any renewal is tried.
pub(super) async fn hold<T>(
    m: &Member,
    lease: &Lease,
    work: impl Future<Output = T>,
) -> Result<T, FleetError> {
    tokio::pin!(work);
    let fenced = std::future::poll_fn(|cx| {
        if !lease.is_live(Instant::now()) {
            return std::task::Poll::Ready(Err(FleetError::LeaseLost {
                name: lease.name().to_string(),
                token: lease.token(),
            }));
        }
        work.as_mut().poll(cx).map(Ok)
    });
    tokio::pin!(fenced);
    let every = m.ttl / 3;
    loop {
        tokio::select! {
            biased;
            done = &mut fenced => return done,
            () = tokio::time::sleep(every) => m.fleet.renew(lease).await?,
        }
    }
}

/// Publishes installed `version` of `cert` under `lease`, then releases the lease.
pub(super) async fn publish(
    m: &Member,
    lease: Lease,
    cert: &ManagedCert,
    version: &str,
) -> Result<(), FleetError> {
    let dir = Layout::new(&cert.output_dir).version_dir(version);
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file)).map_err(|e| FleetError::Key {
            path: dir.join(file),
            message: format!("cannot read the version to publish: {e}"),
        })
    };
    let fullchain = read("fullchain.pem")?;
    let key = read("privkey.pem")?;
    let leaf = crate::x509::read_certificates(fullchain.as_bytes())
        .certs
        .into_iter()
        .next()
        .map(|c| c.record);
    let Some(leaf) = leaf else {
        return Err(FleetError::Key {
            path: dir.join("fullchain.pem"),
            message: "no certificate in it".into(),
        });
    };
    let published = Published {
        version: version.to_string(),
        serial: leaf.serial,
        not_after: leaf.not_after,
        fullchain,
        key: m.seal_key(cert, version, &key)?,
    };
    // Serialising plain strings and integers cannot fail.
    let value = serde_json::to_vec(&published).unwrap_or_default();
    m.fleet.put_record(&lease, &name_of(cert), &value).await?;
    clear_order(m, &lease, cert).await?;
    m.fleet.put_record(&lease, &failures_of(cert), b"").await?;
    m.fleet.release(lease).await?;
    // The other nodes install it now rather than at their next poll.
    if let Err(e) = m
        .fleet
        .notify(crate::fleet::VERSION_CHANNEL, &cert.name)
        .await
    {
        tracing::warn!(cert = %cert.name, "cannot notify the other nodes (they poll): {e}");
    }
    Ok(())
}

/// An order in progress, as published by the node renewing under the lease.
#[derive(Debug, Serialize, Deserialize)]
struct PublishedOrder {
    account: String,
    order_url: String,
    version: String,
    /// The new key (sealed, base64) once written, before the CSR was sent.
    key: Option<String>,
}

fn order_of(cert: &ManagedCert) -> String {
    format!("order:{}", cert.name)
}

/// Publishes the order `state` has in flight (and, once written, its key) under `lease`, so a
/// node that takes over resumes it instead of placing another.
pub(super) async fn record_order(
    m: &Member,
    lease: &Lease,
    cert: &ManagedCert,
    state: &ManagedState,
    key_pem: Option<&str>,
) -> Result<(), FleetError> {
    let Some(flight) = &state.in_flight else {
        return Ok(());
    };
    let key = match key_pem {
        Some(pem) => Some(m.seal_key(cert, &flight.version, pem)?),
        None => None,
    };
    let order = PublishedOrder {
        account: cert.account.clone(),
        order_url: flight.order_url.clone(),
        version: flight.version.clone(),
        key,
    };
    // Plain strings serialise without fail.
    let value = serde_json::to_vec(&order).unwrap_or_default();
    m.fleet.put_record(lease, &order_of(cert), &value).await
}

/// Takes over the order another node published for `cert` (it held the lease and stopped): its
/// URL, version and, when written, its key become this node's in-flight order.
pub(super) async fn adopt_order(
    ctx: &Ctx,
    m: &Member,
    cert: &ManagedCert,
    state: &mut ManagedState,
) -> Result<bool, Failure> {
    let Some((value, _, by)) = m.fleet.record(&order_of(cert)).await? else {
        return Ok(false);
    };
    if value.is_empty() {
        return Ok(false);
    }
    let order: PublishedOrder = serde_json::from_slice(&value)
        .map_err(|e| invalid(cert, format!("its order record is unreadable: {e}")))?;
    if order.account != cert.account
        || state
            .in_flight
            .as_ref()
            .is_some_and(|f| f.order_url == order.order_url)
    {
        return Ok(false);
    }
    let key_written = match &order.key {
        Some(sealed) => {
            let pem = m.open_key(cert, &order.version, sealed)?;
            Layout::new(&cert.output_dir).write_key(&order.version, &pem)?;
            true
        }
        None => false,
    };
    tracing::info!(cert = %cert.name, order = %order.order_url, placed_by = %by, key_written, "resuming the order another node placed");
    state.in_flight = Some(InFlight {
        order_url: order.order_url,
        version: order.version,
        key_written,
        started_at: crate::clock::now(),
    });
    ctx.store.record_renewal(state, None)?;
    Ok(true)
}

/// Marks `cert`'s published order done (its certificate is published, or it died).
pub(super) async fn clear_order(
    m: &Member,
    lease: &Lease,
    cert: &ManagedCert,
) -> Result<(), FleetError> {
    m.fleet.put_record(lease, &order_of(cert), b"").await
}

/// Account `cfg` for this node: the fleet's when it has one (copied into `dir`, 0600), else
/// loaded or registered here under the account's lease and then published, so the fleet
/// registers each account once and every node can resume any node's orders.
pub(super) async fn account(
    m: &Member,
    cfg: &AccountConfig,
    dir: &std::path::Path,
    limit: Duration,
) -> Result<crate::acme::AcmeAccount, AcmeError> {
    let fleet_error = |e: FleetError| AcmeError::Account {
        account: cfg.name.clone(),
        reason: format!("the fleet's copy: {e}"),
    };
    shared_account(m, cfg, dir, limit)
        .await
        .map_err(|e| match e {
            Shared::Acme(e) => e,
            Shared::Fleet(e) => fleet_error(e),
        })
}

enum Shared {
    Acme(AcmeError),
    Fleet(FleetError),
}

impl From<AcmeError> for Shared {
    fn from(e: AcmeError) -> Self {
        Shared::Acme(e)
    }
}

impl From<FleetError> for Shared {
    fn from(e: FleetError) -> Self {
        Shared::Fleet(e)
    }
}

async fn shared_account(
    m: &Member,
    cfg: &AccountConfig,
    dir: &std::path::Path,
    limit: Duration,
) -> Result<crate::acme::AcmeAccount, Shared> {
    let name = format!("account:{}", cfg.name);
    let label = format!("account|{}", cfg.name);
    let until = Instant::now() + limit;
    loop {
        if let Some((sealed, _, _)) = m.fleet.record(&name).await? {
            let json = m.key.open(&label, &sealed)?;
            let path = crate::acme::account::path_for(dir, &cfg.name);
            if std::fs::read(&path).ok().as_deref() != Some(json.as_slice()) {
                let fail = |e: crate::durable::DurableError| crate::acme::AcmeError::Account {
                    account: cfg.name.clone(),
                    reason: format!("cannot store the fleet's account: {e}"),
                };
                crate::durable::create_private_dir(dir).map_err(fail)?;
                crate::durable::write_atomic(&path, &json, 0o600).map_err(fail)?;
            }
            return Ok(crate::acme::account::load_or_register(cfg, dir).await?);
        }
        if let Some(lease) = m.fleet.try_acquire(&name, m.ttl).await? {
            if m.fleet.record(&name).await?.is_some() {
                m.fleet.release(lease).await?;
                continue;
            }
            let account =
                hold(m, &lease, crate::acme::account::load_or_register(cfg, dir)).await??;
            let path = crate::acme::account::path_for(dir, &cfg.name);
            let json = std::fs::read(&path).map_err(|e| crate::acme::AcmeError::Account {
                account: cfg.name.clone(),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            m.fleet
                .put_record(&lease, &name, &m.key.seal(&label, &json)?)
                .await?;
            m.fleet.release(lease).await?;
            return Ok(account);
        }
        if Instant::now() >= until {
            return Err(FleetError::Held {
                name,
                holder: String::new(),
                seconds: limit.as_secs(),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The renewal failures of a certificate as the fleet saw them: whoever renews next backs off
/// (and honours the CA's Retry-After) as if it had failed itself, so N nodes do not spend N
/// times the CA's failed-validation limit.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Failures {
    pub failures: u32,
    pub last_failure: Option<i64>,
    pub retry_after: Option<i64>,
}

fn failures_of(cert: &ManagedCert) -> String {
    format!("failures:{}", cert.name)
}

/// The fleet's failure record for `cert` (none after a success); a store error reads as none
/// (the node's own backoff still applies).
pub(super) async fn failures(m: &Member, cert: &ManagedCert) -> Option<Failures> {
    match m.fleet.record(&failures_of(cert)).await {
        Ok(Some((value, _, _))) if !value.is_empty() => serde_json::from_slice(&value).ok(),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(cert = %cert.name, "cannot read the fleet's failures: {e}");
            None
        }
    }
}

/// Publishes this failure under `lease` for the next renewer, wherever it runs.
pub(super) async fn record_failure(
    m: &Member,
    lease: &Lease,
    cert: &ManagedCert,
    state: &ManagedState,
    retry_after: Option<i64>,
) {
    let record = Failures {
        failures: state.failures,
        last_failure: state.last_failure,
        retry_after,
    };
    // Integers serialise without fail.
    let value = serde_json::to_vec(&record).unwrap_or_default();
    if let Err(e) = m.fleet.put_record(lease, &failures_of(cert), &value).await {
        tracing::warn!(cert = %cert.name, "cannot share the failure with the fleet: {e}");
    }
}
