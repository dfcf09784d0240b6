//! `alerts test|list|retry|enable|deliver`: the outbox and the webhooks, as typed operations.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::config::alerts::WebhookFormat;
use crate::model::{Delivery, DeliveryState, OpenAlert};

/// A configured webhook as it may be shown: its URL redacted (URLs carry tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub name: String,
    pub format: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsListReply {
    pub open: Vec<OpenAlert>,
    /// The first deliveries of the queue (at most 500).
    pub deliveries: Vec<Delivery>,
    /// How many deliveries are queued in all.
    pub queued: usize,
    /// Webhooks disabled after an HTTP 410: (name, reason).
    pub disabled: Vec<(String, String)>,
    pub webhooks: Vec<WebhookInfo>,
}

pub fn list(ctx: &Context) -> Result<AlertsListReply, OpsError> {
    let (deliveries, queued) = ctx.store.deliveries(500)?;
    Ok(AlertsListReply {
        open: ctx.store.open_alerts()?,
        deliveries,
        queued,
        disabled: ctx.store.disabled_webhooks()?,
        webhooks: ctx
            .config
            .webhooks
            .iter()
            .map(|w| WebhookInfo {
                name: w.name.clone(),
                format: w.format.as_str().to_string(),
                url: w.redacted_url(),
            })
            .collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReply {
    /// Name, format and redacted URL.
    pub target: String,
    pub status: Option<u16>,
    /// What answered, for people: `HTTP 200`, `SMTP 250`, `exit status 0`, `no answer`.
    pub answer: String,
    pub delivered: bool,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// Sends a test event to one webhook (not through the outbox).
pub async fn test(ctx: &Context, webhook: &str) -> Result<TestReply, OpsError> {
    let hook = ctx
        .config
        .webhooks
        .iter()
        .find(|w| w.name == webhook)
        .ok_or_else(|| OpsError::UnknownWebhook(webhook.to_string()))?;
    let now = crate::clock::now();
    let event = crate::alerts::test_event(now);
    let client = crate::alerts::dispatch::client();
    let result =
        crate::alerts::dispatch::send(&client, hook, &event, &format!("msg_test_{now}"), now).await;
    Ok(TestReply {
        target: format!(
            "{} ({}, {})",
            hook.name,
            hook.format.as_str(),
            hook.redacted_url()
        ),
        status: result.status,
        answer: match (hook.format, result.status, result.exit) {
            (_, _, Some(code)) => format!("exit status {code}"),
            (WebhookFormat::Email, Some(code), _) => format!("SMTP {code}"),
            (_, Some(status), _) => format!("HTTP {status}"),
            (_, None, None) => "no answer".to_string(),
        },
        delivered: result.ok(),
        error: result.error,
        elapsed_ms: u64::try_from(result.elapsed.as_millis()).unwrap_or(u64::MAX),
    })
}

/// Re-queues a dead delivery.
pub fn retry(ctx: &Context, id: u64) -> Result<u64, OpsError> {
    let Some(mut d) = ctx.store.delivery(id)? else {
        return Err(OpsError::NoDelivery(id));
    };
    if d.state != DeliveryState::Dead {
        return Err(OpsError::NotDead(id));
    }
    let now = crate::clock::now();
    d.state = DeliveryState::Pending;
    d.attempts = 0;
    d.created_at = now;
    d.next_attempt_at = now;
    ctx.store.settle_deliveries(&[], &[d])?;
    Ok(id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverReply {
    pub queued: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Evaluates the inventory and delivers what is due now.
pub async fn deliver(ctx: &Context) -> Result<DeliverReply, OpsError> {
    let (evaluation, report) = super::after::pass(&ctx.config, &ctx.store).await?;
    Ok(DeliverReply {
        queued: evaluation.queued,
        delivered: report.delivered,
        retrying: report.retrying,
        dead: report.dead,
    })
}
