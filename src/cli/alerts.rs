//! `certctl alerts test|list|retry|enable|deliver`, and the alert pass run after scans and
//! renewals.

use clap::{Args, Subcommand};

use super::{Cli, Exit, Format, Session};
use crate::config::Config;
use crate::model::DeliveryState;
use crate::policy::{relative, rfc3339};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test event to a webhook and report the HTTP result.
    Test { webhook: String },
    /// Open alerts, and pending, retrying and dead deliveries.
    List {
        #[arg(long, short = 'o', value_enum, default_value_t)]
        output: Format,
    },
    /// Re-queue a dead delivery.
    Retry { delivery: u64 },
    /// Re-enable a webhook disabled after an HTTP 410.
    Enable { webhook: String },
    /// Evaluate the inventory and deliver what is due now (for cron, without the daemon).
    Deliver,
}

pub fn run(cli: &Cli, s: &mut Session<'_>, args: &AlertsArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config(s)?;
    match &args.command {
        AlertsCommand::Test { webhook } => test(s, &config, webhook),
        AlertsCommand::List { output } => {
            let store = cli.open_store(s, &config)?;
            list(s, &config, &store, *output)
        }
        AlertsCommand::Retry { delivery } => {
            let store = cli.open_store(s, &config)?;
            retry(s, &store, *delivery)
        }
        AlertsCommand::Enable { webhook } => {
            let store = cli.open_store(s, &config)?;
            if store.enable_webhook(webhook)? {
                writeln!(s.out, "webhook {webhook} enabled again")?;
            } else {
                writeln!(s.out, "webhook {webhook} was not disabled")?;
            }
            Ok(Exit::Ok)
        }
        AlertsCommand::Deliver => {
            let store = cli.open_store(s, &config)?;
            let rt = super::scan::runtime()?;
            let report = rt.block_on(pass(&config, &store))?;
            writeln!(
                s.out,
                "{} event(s) queued; delivered {}, retrying {}, dead {}",
                report.0.queued, report.1.delivered, report.1.retrying, report.1.dead
            )?;
            Ok(if report.1.dead > 0 {
                Exit::Critical
            } else {
                Exit::Ok
            })
        }
    }
}

pub use crate::ops::after::{pass, pass_quietly};

fn test(s: &mut Session<'_>, config: &Config, name: &str) -> anyhow::Result<Exit> {
    let hook = config
        .webhooks
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| anyhow::anyhow!("no [[webhook]] named \"{name}\""))?;
    let rt = super::scan::runtime()?;
    let now = crate::clock::now();
    let event = crate::alerts::test_event(now);
    let result = rt.block_on(async {
        let client = crate::alerts::dispatch::client();
        crate::alerts::dispatch::send(&client, hook, &event, &format!("msg_test_{now}"), now).await
    });
    let target = format!(
        "{} ({}, {})",
        hook.name,
        hook.format.as_str(),
        hook.redacted_url()
    );
    match (&result.status, &result.error) {
        (Some(status), None) => {
            writeln!(
                s.out,
                "{target}: HTTP {status} in {} ms",
                result.elapsed.as_millis()
            )?;
            Ok(Exit::Ok)
        }
        (_, Some(error)) => {
            writeln!(
                s.out,
                "{target}: FAILED after {} ms: {error}",
                result.elapsed.as_millis()
            )?;
            Ok(Exit::Critical)
        }
        (None, None) => Ok(Exit::Critical),
    }
}

fn list(
    s: &mut Session<'_>,
    config: &Config,
    store: &Store,
    format: Format,
) -> anyhow::Result<Exit> {
    let open = store.open_alerts()?;
    let (deliveries, total) = store.deliveries(500)?;
    let disabled = store.disabled_webhooks()?;
    let now = crate::clock::now();
    let out = &mut *s.out;
    if !format.is_table() {
        let doc = serde_json::json!({
            "open": open.iter().map(|a| serde_json::json!({
                "id": a.event.id,
                "kind": a.event.kind,
                "severity": a.event.severity,
                "threshold": a.event.threshold,
                "summary": a.event.summary,
                "locations": a.event.locations,
                "opened_at": rfc3339(a.opened_at),
                "last_sent_at": rfc3339(a.last_sent_at),
            })).collect::<Vec<_>>(),
            "deliveries": deliveries.iter().map(|d| serde_json::json!({
                "id": d.id,
                "webhook": d.webhook,
                "event_id": d.event.id,
                "kind": d.event.kind,
                "state": match d.state { DeliveryState::Pending if d.attempts == 0 => "pending", DeliveryState::Pending => "retrying", DeliveryState::Dead => "dead" },
                "attempts": d.attempts,
                "next_attempt_at": rfc3339(d.next_attempt_at),
                "last_status": d.last_status,
                "last_error": d.last_error,
            })).collect::<Vec<_>>(),
            "queued": total,
            "disabled_webhooks": disabled.iter().map(|(n, r)| serde_json::json!({"name": n, "reason": r})).collect::<Vec<_>>(),
            "webhooks": config.webhooks.iter().map(|w| serde_json::json!({"name": w.name, "format": w.format.as_str(), "url": w.redacted_url()})).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(Exit::Ok);
    }
    writeln!(out, "open alerts: {}", open.len())?;
    for a in &open {
        writeln!(
            out,
            "  {:<8} {:<20} {}  (since {})",
            a.event.severity,
            a.event.kind,
            a.event.summary,
            relative(a.opened_at - now)
        )?;
    }
    writeln!(out, "deliveries queued: {total}")?;
    for d in &deliveries {
        let state = match d.state {
            DeliveryState::Pending if d.attempts == 0 => "pending".to_string(),
            DeliveryState::Pending => {
                format!("retrying (next {})", relative(d.next_attempt_at - now))
            }
            DeliveryState::Dead => "dead".to_string(),
        };
        writeln!(
            out,
            "  #{:<6} {:<12} {:<20} {state}, {} attempt(s){}",
            d.id,
            d.webhook,
            d.event.kind,
            d.attempts,
            d.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )?;
    }
    for (name, reason) in &disabled {
        writeln!(out, "webhook {name} is disabled: {reason}")?;
    }
    Ok(Exit::Ok)
}

fn retry(s: &mut Session<'_>, store: &Store, id: u64) -> anyhow::Result<Exit> {
    let Some(mut d) = store.delivery(id)? else {
        anyhow::bail!("no delivery #{id} (see `certctl alerts list`)");
    };
    if d.state != DeliveryState::Dead {
        anyhow::bail!("delivery #{id} is not dead; it will be retried on its own");
    }
    let now = crate::clock::now();
    d.state = DeliveryState::Pending;
    d.attempts = 0;
    d.created_at = now;
    d.next_attempt_at = now;
    store.settle_deliveries(&[], &[d])?;
    writeln!(
        s.out,
        "delivery #{id} re-queued; it is sent by the daemon or `certctl alerts deliver`"
    )?;
    Ok(Exit::Ok)
}
