//! One certificate's turn in a run: take its renewal lease, gather the facts (state, installed
//! leaf, ARI window), let the pure policy decide, and when it says act, run the issuance within
//! `acme.timeout` and record a failure (backoff, the CA's Retry-After, a dead order) so that the
//! next decision sees it.

use crate::acme::AcmeError;
use crate::config::acme::ManagedCert;
use crate::model::EventKind;
use crate::policy::renew::{self, AriAnswer, AriWindow, Facts, Installed, Request};
use crate::store::StoreError;

use super::{Ctx, LifecycleError, Outcome, RenewOptions, Report, current_leaf, event};

pub(super) async fn one(
    ctx: &Ctx,
    cert: &ManagedCert,
    options: RenewOptions,
) -> Result<Report, LifecycleError> {
    // What is installed as the request starts; a dry run only reads, and never waits behind a
    // renewal in progress.
    let serial_asked = current_leaf(cert).map(|(leaf, _)| leaf.serial);
    let _lease = match options.dry_run {
        true => None,
        false => Some(ctx.store.renewal_lease(&cert.name).await),
    };
    let now = crate::clock::now();
    let mut state = ctx.store.managed(&cert.name)?;
    // Fleet mode: a newer version renewed by another node is installed here first.
    if let Some(m) = &ctx.fleet {
        match super::fleet::pull(ctx, m, cert, &mut state).await {
            Ok(Some(outcome)) => return Ok(from_fleet(cert, outcome)),
            Ok(None) => {}
            Err(Failure::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(cert = %cert.name, "cannot install the fleet's version: {e}")
            }
        }
    }
    let current = current_leaf(cert);
    let serial_now = current.as_ref().map(|(leaf, _)| &leaf.serial);
    if let Some((leaf, der)) = &current
        && state.in_flight.is_none()
        && !options.force
        && !options.dry_run
    {
        let limit = ctx.config.acme_timeout;
        let ari = super::ari::refresh(ctx, cert, &mut state, leaf, der, now);
        if tokio::time::timeout(limit, ari).await.is_err() {
            tracing::warn!(cert = %cert.name, "ARI lookup timed out; using the lifetime rule");
        }
    }
    let mut retry_hint = ctx.store.retry_hint(&cert.name)?;
    // Fleet mode: failures anywhere in the fleet count here (one backoff, one Retry-After).
    if let Some(m) = &ctx.fleet
        && let Some(f) = super::fleet::failures(m, cert).await
    {
        state.failures = state.failures.max(f.failures);
        state.last_failure = state.last_failure.max(f.last_failure);
        retry_hint = retry_hint.max(f.retry_after);
    }
    let facts = Facts {
        in_flight: state.in_flight.as_ref().map(|f| f.order_url.clone()),
        installed: current.as_ref().map(|(leaf, _)| Installed {
            serial: leaf.serial.clone(),
            not_before: leaf.not_before,
            not_after: leaf.not_after,
        }),
        ari: state.ari.as_ref().map(|a| AriAnswer {
            serial: a.serial.clone(),
            window: AriWindow {
                start: a.start,
                end: a.end,
            },
        }),
        renew_before: cert.renew_before.map(|d| d.as_secs() as i64),
        seed: renew::seed(&cert.name),
        failures: state.failures,
        last_failure: state.last_failure,
        retry_hint,
        replaced_while_waiting: serial_now != serial_asked.as_ref(),
    };
    let request = Request {
        force: options.force,
    };
    let decision = renew::decide(&facts, request, now);
    if !decision.acts() || options.dry_run {
        return Ok(Report {
            name: cert.name.clone(),
            decision,
            outcome: None,
        });
    }
    let limit = ctx.config.acme_timeout;
    // Fleet mode: one renewer per certificate (or the version another node just renewed).
    let mut lease = None;
    if let Some(m) = &ctx.fleet {
        match super::fleet::take(ctx, m, cert, &mut state, limit).await {
            Ok(super::fleet::Taken::Lease(l)) => {
                // A node that held the lease and stopped may have left its order: resume it.
                if let Err(e) = super::fleet::adopt_order(ctx, m, cert, &mut state).await {
                    let _ = m.release(l).await;
                    return match e {
                        Failure::Store(e) => Err(e.into()),
                        other => Ok(not_renewed(cert, decision, &state, &other)),
                    };
                }
                lease = Some(l);
            }
            Ok(super::fleet::Taken::Installed(outcome)) => return Ok(from_fleet(cert, outcome)),
            Err(Failure::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(cert = %cert.name, "not renewed: {e}");
                return Ok(not_renewed(cert, decision, &state, &e));
            }
        }
    }
    let attempt = tokio::time::timeout(limit, async {
        // instant-acme retries a badNonce rejection twice per request; a CA rejecting many
        // nonces can still beat that. A rejected request was not acted on, and the order is
        // persisted, so the attempt simply resumes where it stopped.
        let mut rejected = 0;
        loop {
            match super::issue::execute(ctx, cert, &mut state, current.as_ref(), lease.as_ref())
                .await
            {
                Err(Failure::Acme(e)) if e.is_bad_nonce() && rejected < BAD_NONCE_RESUMES => {
                    rejected += 1;
                    tracing::debug!(cert = %cert.name, rejected, "badNonce; resuming the order");
                }
                other => break other,
            }
        }
    });
    let timed = match (&ctx.fleet, lease.as_ref()) {
        (Some(m), Some(l)) => match super::fleet::hold(m, l, attempt).await {
            Ok(timed) => timed,
            Err(e) => Ok(Err(Failure::Fleet(e))),
        },
        _ => attempt.await,
    };
    let result = match timed {
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
    let mut outcome = match result {
        Ok(installed) => installed,
        Err(Failure::Store(e)) => return Err(e.into()),
        Err(Failure::Fleet(e)) => {
            // The lease was lost mid-issuance: the issuance stopped; whoever holds the lease
            // now renews. Not the CA's failure, so no backoff.
            tracing::warn!(cert = %cert.name, "renewal abandoned: {e}");
            Outcome::Failed {
                error: e.to_string(),
                retryable: true,
                failures: state.failures,
            }
        }
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
            if let (Some(m), Some(l)) = (&ctx.fleet, lease.as_ref()) {
                let hint = ctx.store.retry_hint(&cert.name)?;
                super::fleet::record_failure(m, l, cert, &state, hint).await;
            }
            Outcome::Failed {
                error: e.to_string(),
                retryable: e.is_retryable(),
                failures: state.failures,
            }
        }
    };
    if let (Some(m), Some(lease)) = (&ctx.fleet, lease) {
        super::fleet::report(m, cert, &outcome).await;
        match &mut outcome {
            Outcome::Installed {
                version,
                deploy_errors,
                ..
            } => {
                if let Err(e) = super::fleet::publish(m, lease, cert, version).await {
                    tracing::error!(cert = %cert.name, "not published to the fleet: {e}");
                    deploy_errors.push(format!("fleet: not published to the other nodes: {e}"));
                }
            }
            Outcome::Failed { .. } => {
                // A dead order is no one's to resume.
                if state.in_flight.is_none() {
                    let _ = super::fleet::clear_order(m, &lease, cert).await;
                }
                if let Err(e) = m.release(lease).await {
                    tracing::warn!(cert = %cert.name, "cannot release the lease: {e}");
                }
            }
        }
    }
    Ok(Report {
        name: cert.name.clone(),
        decision,
        outcome: Some(outcome),
    })
}

/// The report for a renewal the fleet stopped before it began (the store failed, the lease was
/// held too long): retryable, and not counted as the CA's failure.
fn not_renewed(
    cert: &ManagedCert,
    decision: crate::policy::renew::Decision,
    state: &crate::model::ManagedState,
    why: &Failure,
) -> Report {
    Report {
        name: cert.name.clone(),
        decision,
        outcome: Some(Outcome::Failed {
            error: why.to_string(),
            retryable: true,
            failures: state.failures,
        }),
    }
}

/// The report for a version another node renewed, installed here.
fn from_fleet(cert: &ManagedCert, outcome: Outcome) -> Report {
    let serial = match &outcome {
        Outcome::Installed { serial, .. } => serial.clone(),
        Outcome::Failed { .. } => String::new(),
    };
    Report {
        name: cert.name.clone(),
        decision: crate::policy::renew::Decision::RenewedMeanwhile { serial },
        outcome: Some(outcome),
    }
}

/// How many times one attempt resumes after the CA rejected a nonce (each resume is a fresh
/// request with a fresh nonce, on top of instant-acme's own retries).
const BAD_NONCE_RESUMES: u32 = 20;

pub(super) enum Failure {
    Acme(AcmeError),
    Store(StoreError),
    /// Fleet mode: the shared store failed, or the lease was lost or held too long.
    Fleet(crate::fleet::FleetError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Acme(e) => e.fmt(f),
            Failure::Store(e) => e.fmt(f),
            Failure::Fleet(e) => e.fmt(f),
        }
    }
}

impl From<crate::fleet::FleetError> for Failure {
    fn from(e: crate::fleet::FleetError) -> Self {
        Failure::Fleet(e)
    }
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
        Failure::Acme(AcmeError::Install(e.to_string()))
    }
}
