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

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::acme::AcmeError;
use crate::config::Config;
use crate::config::acme::ManagedCert;
use crate::deploy::Layout;
use crate::fleet::{Fleet, FleetError, FleetKey, Lease};

use crate::model::ManagedState;

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
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(&published.key)
        .map_err(|e| invalid(cert, format!("its key is not base64: {e}")))?;
    let key = m.key.open(&seal_label(cert, &published.version), &sealed)?;
    let key = String::from_utf8(key).map_err(|_| invalid(cert, "its key is not PEM"))?;
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
    Ok(Some(Outcome::Installed {
        serial: leaf.serial,
        not_after: leaf.not_after,
        version: published.version,
        resumed: false,
        deploy_errors: deployed
            .iter()
            .filter_map(|r| r.as_ref().err().map(|f| f.to_string()))
            .collect(),
        renewed_by: Some(by),
    }))
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
}

/// Runs `work` while renewing `lease` every third of its TTL; drops `work` (so it stops talking
/// to the CA) as soon as a renewal fails.
pub(super) async fn hold<T>(
    m: &Member,
    lease: &mut Lease,
    work: impl Future<Output = T>,
) -> Result<T, FleetError> {
    tokio::pin!(work);
    let every = m.ttl / 3;
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
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
    let sealed = m.key.seal(&seal_label(cert, version), key.as_bytes())?;
    let published = Published {
        version: version.to_string(),
        serial: leaf.serial,
        not_after: leaf.not_after,
        fullchain,
        key: base64::engine::general_purpose::STANDARD.encode(sealed),
    };
    // Serialising plain strings and integers cannot fail.
    let value = serde_json::to_vec(&published).unwrap_or_default();
    m.fleet.put_record(&lease, &name_of(cert), &value).await?;
    m.fleet.release(lease).await
}
