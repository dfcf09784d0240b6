//! What follows every change to the inventory or to renewal state, from whichever surface: the
//! alerts are evaluated (new, reminded, resolved, queued in the outbox) and, for a command,
//! what is due is delivered at once. Inventory events are audited where they are recorded.

use crate::alerts::Evaluation;
use crate::alerts::dispatch::DispatchReport;
use crate::config::Config;
use crate::store::{Store, StoreError};

/// Evaluates alerts and delivers what is due.
pub async fn pass(
    config: &Config,
    store: &Store,
) -> Result<(Evaluation, DispatchReport), StoreError> {
    let evaluation = crate::alerts::evaluate(config, store, crate::clock::now())?;
    let report = if config.webhooks.is_empty() {
        DispatchReport::default()
    } else {
        let client = crate::alerts::dispatch::client();
        crate::alerts::dispatch::deliver_due(config, store, &client).await?
    };
    Ok((evaluation, report))
}

/// Runs [`pass`]; problems come back as a warning line, since a webhook outage must not fail
/// a scan or a renewal.
pub async fn pass_quietly(config: &Config, store: &Store) -> Option<String> {
    match pass(config, store).await {
        Ok((_, report)) => delivery_warning(report.retrying + report.dead),
        Err(e) => Some(format!("warning: alerting failed: {e}")),
    }
}

/// The warning line when `failed` deliveries of a pass did not go through.
pub fn delivery_warning(failed: usize) -> Option<String> {
    (failed > 0).then(|| {
        format!(
            "warning: {failed} alert deliver{} failed; they are queued (see `certctl alerts list`)",
            if failed == 1 { "y" } else { "ies" }
        )
    })
}

/// After a change made by an operation: evaluate the alerts and, where the context delivers,
/// deliver what is due. Returns a warning line for the user when alerting had trouble.
pub async fn after_change(ctx: &super::Context) -> Option<String> {
    if ctx.deliver {
        return pass_quietly(&ctx.config, &ctx.store).await;
    }
    match crate::alerts::evaluate(&ctx.config, &ctx.store, crate::clock::now()) {
        Ok(_) => None,
        Err(e) => Some(format!("warning: alerting failed: {e}")),
    }
}
