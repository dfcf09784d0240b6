//! Alerts: the pure engine decides ([`engine`]), the store queues durably, the dispatcher
//! delivers ([`dispatch`]) in one of the payload [`format`]s.

pub mod dispatch;
pub mod email;
pub mod engine;
pub mod format;
pub mod route;

use crate::config::Config;
use crate::model::{AlertEvent, Severity, UnixSeconds};
use crate::store::{AlertCommit, Store, StoreError};

/// What one evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub events: usize,
    pub queued: usize,
}

/// Judges the inventory against the open alerts and queues what must be sent, atomically.
pub fn evaluate(
    config: &Config,
    store: &Store,
    now: UnixSeconds,
) -> Result<Evaluation, StoreError> {
    let views = crate::service::inventory(store, &config.thresholds, now)?;
    let managed = store.all_managed()?;
    let events = store.events_since(store.event_cursor()?)?;
    let open = store.open_alerts()?;
    let outage = store.store_outage()?;
    let nodes_down = store.nodes_down()?;
    let plan = engine::evaluate(&engine::Inputs {
        views: &views,
        managed: &managed,
        events: &events,
        open: &open,
        settings: &config.alerts,
        thresholds: &config.thresholds,
        outage: outage.as_ref(),
        nodes_down: &nodes_down,
        now,
    });
    // The label index is only needed when a webhook routes by label.
    let labels = if config.webhooks.iter().any(|w| !w.matches.is_empty()) {
        route::Labels::index(views.iter().map(|v| &v.record))
    } else {
        route::Labels::default()
    };
    let deliveries = fan_out(config, &plan.emit, &labels);
    let result = Evaluation {
        events: plan.emit.len(),
        queued: deliveries.len(),
    };
    let summary: Vec<String> = plan
        .emit
        .iter()
        .map(|e| format!("{} {}", e.kind, e.id))
        .collect();
    store.commit_alerts(
        &AlertCommit {
            upsert: plan.upsert,
            remove: plan.remove,
            deliveries,
            cursor: plan.cursor,
        },
        now,
    )?;
    if !summary.is_empty() {
        // With no webhook interested, nothing was queued: say that, not "0 deliveries".
        let (action, sent) = if result.queued > 0 {
            ("alerts_queued", format!("{} deliveries", result.queued))
        } else if config.webhooks.is_empty() {
            (
                "alerts_raised",
                "not sent (no [[webhook]] configured)".to_string(),
            )
        } else {
            (
                "alerts_raised",
                "not sent (no webhook subscribes to them)".to_string(),
            )
        };
        let detail = format!("{} event(s), {sent}: {}", result.events, summary.join(", "));
        crate::audit::record(store, action, "alerts", &detail);
    }
    Ok(result)
}

/// One delivery per (event, webhook that receives it).
fn fan_out(
    config: &Config,
    events: &[AlertEvent],
    labels: &route::Labels<'_>,
) -> Vec<(String, AlertEvent)> {
    let mut out = Vec::new();
    for event in events {
        for hook in &config.webhooks {
            if route::receives(hook, event, labels) {
                out.push((hook.name.clone(), event.clone()));
            }
        }
    }
    out
}

/// The event `certctl alerts test` sends.
pub fn test_event(now: UnixSeconds) -> AlertEvent {
    AlertEvent {
        id: engine::stable_id(&format!("test|{now}")),
        kind: "test".into(),
        severity: Severity::Info,
        summary: "certctl test alert: this webhook is reachable".into(),
        threshold: None,
        certificate: None,
        locations: Vec::new(),
        occurred_at: now,
        reminder: false,
        resolves: None,
        detail: None,
    }
}
