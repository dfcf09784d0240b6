//! One issuance, step by step, each step recorded before the next so that a crash resumes the
//! same order with the same key: the order, proof of control, the key, finalization, a check of
//! what came back, the atomic install, then the deploy targets.

use crate::acme::challenge::Solver;
use crate::acme::{AcmeError, CertKey, order};
use crate::config::acme::ManagedCert;
use crate::deploy::Layout;
use crate::model::{CertRecord, EventKind, InFlight, ManagedState};

use super::attempt::Failure;
use super::{Ctx, Outcome, event};

pub(super) async fn execute(
    ctx: &Ctx,
    cert: &ManagedCert,
    state: &mut ManagedState,
    current: Option<&(CertRecord, Vec<u8>)>,
    lease: Option<&crate::fleet::Lease>,
) -> Result<Outcome, Failure> {
    // Fleet mode: each step is published under the certificate's lease as it is recorded, so
    // a node that takes over resumes this order with this key.
    let fleet = ctx.fleet.as_ref().zip(lease);
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
            if let Some((m, lease)) = fleet {
                super::fleet::record_order(m, lease, cert, state, None).await?;
            }
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
        if let Some((m, lease)) = fleet {
            super::fleet::record_order(m, lease, cert, state, Some(&key.to_pem())).await?;
        }
        key
    };

    // 4. Finalize and download.
    let chain = order::finalize(&mut order, &key, &cert.domains).await?;

    // 5. Check what came back before it replaces anything, with the same check a deploy makes.
    //    Unusable material means the order is spent: the next attempt places a new one.
    let leaf = crate::deploy::lint(&chain, &key.to_pem(), &cert.domains, crate::clock::now())
        .map_err(|e| AcmeError::Order {
            url: order.url.clone(),
            reason: format!("the CA issued unusable material: {e}"),
        })?;

    // 6. Install atomically, then record success.
    layout.install(&version, &chain)?;
    if ctx.store.retry_hint(&cert.name)?.is_some() {
        ctx.store.set_retry_hint(&cert.name, None)?;
    }
    state.installed(&leaf.serial, crate::clock::now());
    let event = event(
        cert,
        EventKind::RenewalSucceeded {
            name: cert.name.clone(),
            serial: leaf.serial.clone(),
            not_after: leaf.not_after,
        },
    );
    ctx.store.record_renewal(state, Some(&event))?;
    tracing::info!(cert = %cert.name, serial = %leaf.serial, version, "installed");
    let deployed = super::deploy_all(&ctx.store, cert).await;
    let deploy_errors: Vec<String> = deployed
        .iter()
        .filter_map(|r| r.as_ref().err().map(|f| f.to_string()))
        .collect();
    Ok(Outcome::Installed {
        serial: leaf.serial.clone(),
        not_after: leaf.not_after,
        version,
        resumed,
        deploy_errors,
        renewed_by: None,
    })
}

/// A sortable, unique version directory name: UTC time plus the order count.
fn version_name(orders: u64) -> String {
    let stamp = crate::policy::rfc3339(crate::clock::now()).replace(['-', ':'], "");
    format!("{stamp}-{orders:04}")
}
