//! The CA's renewal window (ARI, RFC 9773) for the installed certificate, asked again once the
//! CA's Retry-After has passed and recorded with the renewal state. A failed or absent answer
//! leaves the lifetime rule in charge.

use crate::acme::order;
use crate::config::acme::ManagedCert;
use crate::model::{AriState, CertRecord, ManagedState, UnixSeconds};
use crate::policy::renew;

use super::Ctx;

/// Refreshes `state.ari` when it is missing, for another serial, or due for a new look.
pub(super) async fn refresh(
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
