//! `certctl alerts test|list|retry|enable|deliver`, and the alert pass run after scans and
//! renewals.

use clap::{Args, Subcommand};

use super::{Cli, Exit, Format, Session};
use crate::model::DeliveryState;
use crate::ops::alerts::AlertsListReply;
use crate::ops::{Reply, Request};
use crate::policy::{relative, rfc3339};

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
    match &args.command {
        AlertsCommand::Test { webhook } => {
            let request = Request::AlertsTest {
                webhook: webhook.clone(),
            };
            let Reply::AlertsTest(reply) = cli.operate(request)? else {
                anyhow::bail!("the daemon answered `alerts test` with something else");
            };
            let answer = &reply.answer;
            if reply.delivered {
                writeln!(
                    s.out,
                    "{}: {answer} in {} ms",
                    reply.target, reply.elapsed_ms
                )?;
                Ok(Exit::Ok)
            } else {
                writeln!(
                    s.out,
                    "{}: FAILED after {} ms: {}",
                    reply.target,
                    reply.elapsed_ms,
                    reply.error.as_deref().unwrap_or(answer)
                )?;
                Ok(Exit::Critical)
            }
        }
        AlertsCommand::List { output } => {
            let Reply::AlertsList(reply) = cli.operate(Request::AlertsList)? else {
                anyhow::bail!("the daemon answered `alerts list` with something else");
            };
            list(s, &reply, *output)
        }
        AlertsCommand::Retry { delivery } => {
            let request = Request::AlertsRetry {
                delivery: *delivery,
            };
            let Reply::AlertsRetry(id) = cli.operate(request)? else {
                anyhow::bail!("the daemon answered `alerts retry` with something else");
            };
            writeln!(
                s.out,
                "delivery #{id} re-queued; it is sent by the daemon or `certctl alerts deliver`"
            )?;
            Ok(Exit::Ok)
        }
        AlertsCommand::Enable { webhook } => {
            let request = Request::AlertsEnable {
                webhook: webhook.clone(),
            };
            let Reply::AlertsEnable(was_disabled) = cli.operate(request)? else {
                anyhow::bail!("the daemon answered `alerts enable` with something else");
            };
            if was_disabled {
                writeln!(s.out, "webhook {webhook} enabled again")?;
            } else {
                writeln!(s.out, "webhook {webhook} was not disabled")?;
            }
            Ok(Exit::Ok)
        }
        AlertsCommand::Deliver => {
            let Reply::AlertsDeliver(report) = cli.operate(Request::AlertsDeliver)? else {
                anyhow::bail!("the daemon answered `alerts deliver` with something else");
            };
            writeln!(
                s.out,
                "{} event(s) queued; delivered {}, retrying {}, dead {}",
                report.queued, report.delivered, report.retrying, report.dead
            )?;
            Ok(if report.dead > 0 {
                Exit::Critical
            } else {
                Exit::Ok
            })
        }
    }
}

/// The alert pass after a scan or a discovery recorded something: trouble is a warning line,
/// never a failure, since a webhook outage must not fail a scan.
pub fn pass_after(ops: &super::Ops<'_>, s: &mut Session<'_>) -> anyhow::Result<()> {
    let warning = match ops.call(&Request::AlertsDeliver) {
        Ok(Reply::AlertsDeliver(r)) => crate::ops::after::delivery_warning(r.retrying + r.dead),
        Ok(_) => Some("warning: alerting failed: the daemon answered with something else".into()),
        Err(e) => Some(format!("warning: alerting failed: {e:#}")),
    };
    if let Some(warning) = warning {
        writeln!(s.err, "{warning}")?;
    }
    Ok(())
}

fn list(s: &mut Session<'_>, reply: &AlertsListReply, format: Format) -> anyhow::Result<Exit> {
    let (open, deliveries, total, disabled) = (
        &reply.open,
        &reply.deliveries,
        reply.queued,
        &reply.disabled,
    );
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
            "webhooks": reply.webhooks.iter().map(|w| serde_json::json!({"name": w.name, "format": w.format, "url": w.url})).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(Exit::Ok);
    }
    writeln!(out, "open alerts: {}", open.len())?;
    for a in open {
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
    for d in deliveries {
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
    for (name, reason) in disabled {
        writeln!(out, "webhook {name} is disabled: {reason}")?;
    }
    Ok(Exit::Ok)
}
