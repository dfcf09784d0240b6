//! Delivering the outbox: at least once, with bounded concurrency and memory.
//!
//! 2xx is success. Redirects are not followed (hyper never follows them): a 3xx is a failure.
//! 429 and 503 honour `Retry-After`. 410 disables the webhook (until `certctl alerts enable`)
//! and kills its deliveries. Everything else is retried with exponential backoff and jitter
//! until `retry_for` has passed since the event was queued; then the delivery is dead, visible
//! in `certctl alerts list`, and `certctl alerts retry` re-queues it. An `exec` webhook's
//! program decides by its exit status: 0 delivered, 75 (or a timeout) retried, any other a
//! permanent failure (dead at once).
//!
//! One channel never holds up another: a webhook holds at most half the slots while others'
//! deliveries wait, and one that gives no answer (refused, timed out) is down for the rest of
//! the pass, its other deliveries rescheduled untried with its first failure's retry time.
//!
//! Fleet mode: every node queues the alerts its own inventory raises, so before sending a
//! delivery a node claims it in the fleet store ([`crate::fleet::claim`]); a delivery another
//! node sent is settled as delivered elsewhere, and the webhook-id is the fleet's, the same on a
//! retry from any node. With the fleet store unreachable a node sends anyway: a duplicate is
//! better than a lost alert.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::format;
use crate::config::Config;
use crate::config::alerts::{Webhook, WebhookFormat};
use crate::fleet::Fleet;
use crate::fleet::claim::Claim;
use crate::model::{AlertEvent, Delivery, DeliveryState, UnixSeconds};
use crate::store::{Store, StoreError};

/// Largest response body read from a receiver (the rest is dropped).
const MAX_RESPONSE: usize = 64 * 1024;
/// Deliveries loaded from the outbox per pass.
const PAGE: usize = 1000;

use crate::http::HttpClient;

/// The result of one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The HTTP status (`email`: the SMTP reply code; none for `exec`, or when no answer came).
    pub status: Option<u16>,
    pub retry_after: Option<i64>,
    pub error: Option<String>,
    pub elapsed: Duration,
    /// A failure that retrying cannot fix (an `exec` program's exit status other than 75).
    pub permanent: bool,
    /// `exec`: the program's exit status.
    pub exit: Option<i32>,
}

impl SendResult {
    pub fn ok(&self) -> bool {
        match self.exit {
            Some(code) => code == 0 && self.error.is_none(),
            None => self.status.is_some_and(|s| (200..300).contains(&s)),
        }
    }

    pub(crate) fn failed(error: String, elapsed: Duration) -> SendResult {
        SendResult {
            status: None,
            retry_after: None,
            error: Some(error),
            elapsed,
            permanent: false,
            exit: None,
        }
    }
}

/// Counts from a delivery pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchReport {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

pub use crate::http::client;

/// Sends one rendered event to one webhook.
pub async fn send(
    client: &HttpClient,
    hook: &Webhook,
    event: &AlertEvent,
    message_id: &str,
    now: UnixSeconds,
) -> SendResult {
    if hook.format == WebhookFormat::Email {
        return super::email::send(hook, event, message_id).await;
    }
    let rendered = format::render(hook, event, message_id, now);
    let started = Instant::now();
    if hook.format == WebhookFormat::Exec {
        return exec(hook, rendered, started).await;
    }
    let mut builder = hyper::Request::post(&rendered.url)
        .header("user-agent", concat!("certctl/", env!("CARGO_PKG_VERSION")));
    for (k, v) in &rendered.headers {
        builder = builder.header(k, v);
    }
    let request = match builder.body(Full::new(Bytes::from(rendered.body))) {
        Ok(r) => r,
        Err(e) => {
            return SendResult::failed(
                format!("invalid request for webhook {}: {e}", hook.name),
                started.elapsed(),
            );
        }
    };
    let result = tokio::time::timeout(hook.timeout, async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        // Read (and bound) the body so the connection can be reused; its content is not used.
        let _ = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await;
        Ok::<_, hyper_util::client::legacy::Error>((status, retry_after))
    })
    .await;
    let elapsed = started.elapsed();
    match result {
        Err(_) => SendResult::failed(
            format!(
                "no answer within {}",
                humantime::format_duration(hook.timeout)
            ),
            elapsed,
        ),
        Ok(Err(e)) => SendResult::failed(crate::errors::chain(&e), elapsed),
        Ok(Ok((status, retry_after))) => SendResult {
            status: Some(status),
            retry_after,
            error: match status {
                200..=299 => None,
                300..=399 => Some(format!("HTTP {status}: redirects are not followed")),
                _ => Some(format!("HTTP {status}")),
            },
            elapsed,
            permanent: false,
            exit: None,
        },
    }
}

/// Runs an `exec` webhook's program: `rendered` holds its environment and stdin.
async fn exec(hook: &Webhook, rendered: format::Rendered, started: Instant) -> SendResult {
    let mut env = crate::process::base_env();
    env.extend(rendered.headers);
    let program = crate::process::Program {
        argv: &hook.command,
        stdin: &rendered.body,
        env: &env,
        timeout: hook.timeout,
    };
    let finished = match crate::process::run(&program).await {
        Ok(f) => f,
        Err(e) => return SendResult::failed(e.to_string(), started.elapsed()),
    };
    let elapsed = started.elapsed();
    let code = finished.status.code();
    let said = last_line(&finished.stderr).or_else(|| last_line(&finished.stdout));
    let error = match code {
        Some(0) => None,
        Some(code) => Some(format!(
            "exit status {code}{}{}",
            if code == format::exec::EX_TEMPFAIL {
                " (temporary failure, retried)"
            } else {
                " (permanent failure)"
            },
            said.map(|s| format!(": {s}")).unwrap_or_default()
        )),
        None => Some(format!("{}", finished.status)),
    };
    SendResult {
        status: None,
        retry_after: None,
        error,
        elapsed,
        // Killed by a signal: retried, like a timeout.
        permanent: code.is_some_and(|c| c != 0 && c != format::exec::EX_TEMPFAIL),
        exit: Some(code.unwrap_or(-1)),
    }
}

/// The last non-empty line a program printed, cut to 300 characters (for the delivery's error).
fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(300).collect())
}

/// When to try again after `attempts` failures (pure): exponential from `initial`, capped at
/// `max`, with up to 20% jitter (from `jitter_seed`), never before `retry_after`.
pub fn next_attempt(
    now: UnixSeconds,
    attempts: u32,
    initial: i64,
    max: i64,
    retry_after: Option<i64>,
    jitter_seed: u64,
) -> UnixSeconds {
    let exp = initial.saturating_mul(1i64 << attempts.saturating_sub(1).min(20));
    let base = exp.min(max).max(1);
    let jitter = (jitter_seed % (base as u64 / 5 + 1)) as i64;
    let backoff = now + base + jitter;
    match retry_after {
        Some(seconds) => backoff.max(now + seconds.max(0)),
        None => backoff,
    }
}

/// Delivers everything due now, page by page, `concurrency` at a time.
pub async fn deliver_due(
    config: &Config,
    store: &Store,
    client: &HttpClient,
) -> Result<DispatchReport, StoreError> {
    // From reading the queue to settling what was sent: no other pass in this process.
    let _lease = store.dispatch_lease().await;
    let mut report = DispatchReport::default();
    let disabled: Vec<String> = store
        .disabled_webhooks()?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let concurrency = config.alerts.concurrency.max(1);
    // No webhook may hold more than half the slots while another webhook's deliveries wait,
    // so one that hangs until its timeout cannot hold up the others.
    let per_hook = concurrency.div_ceil(2);
    // Webhooks that gave no answer in this pass (refused, timed out), with the error and the
    // time their first failure was rescheduled for: their other deliveries wait until then
    // instead of each waiting out the same timeout.
    let mut down: HashMap<String, (Option<String>, UnixSeconds)> = HashMap::new();
    // Due when the pass began: a delivery retried during the pass is due after that, so a
    // pass that outlasts the retry delay (a slow receiver) still tries each delivery once.
    let due = crate::clock::now();
    // Fleet mode: connected once per pass, when there is something to send.
    let mut fleet: Option<Arc<Fleet>> = None;
    let mut joined = false;
    let fresh_for = Duration::from_secs((config.alerts.repeat_interval / 2).max(1) as u64);
    loop {
        let page = store.due_deliveries(due, PAGE)?;
        if page.is_empty() {
            break;
        }
        if let (Some(fc), false) = (&config.fleet, joined)
            && page.iter().any(|d| !raised_by_one_node(d))
        {
            joined = true;
            match Fleet::connect(&fc.settings).await {
                Ok(f) => fleet = Some(Arc::new(f)),
                Err(e) => tracing::warn!(
                    "fleet store: {e}; sending without the fleet's claims (a duplicate is better than a lost alert)"
                ),
            }
        }
        let mut delivered = Vec::new();
        let mut updated = Vec::new();
        let mut newly_disabled: Vec<(String, String)> = Vec::new();
        let mut pending: VecDeque<Delivery> = page.into();
        defer_down(&mut pending, &down, &mut updated, &mut report);
        // Deliveries still waiting, by webhook.
        let mut waiting = waiting_by_hook(&pending);
        let mut in_flight: HashMap<String, usize> = HashMap::new();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < concurrency {
                // The first delivery whose webhook has slots to spare; only when every waiting
                // delivery's webhook is at its share, the oldest anyway (no one else waits).
                let under = |name: &str| in_flight.get(name).copied().unwrap_or(0) < per_hook;
                let at = match pending.front() {
                    Some(d)
                        if !under(&d.webhook)
                            && waiting.iter().any(|(w, n)| *n > 0 && under(w)) =>
                    {
                        pending.iter().position(|d| under(&d.webhook)).unwrap_or(0)
                    }
                    _ => 0,
                };
                let Some(delivery) = pending.remove(at) else {
                    break;
                };
                if let Some(n) = waiting.get_mut(&delivery.webhook) {
                    *n = n.saturating_sub(1);
                }
                *in_flight.entry(delivery.webhook.clone()).or_default() += 1;
                let hook = config
                    .webhooks
                    .iter()
                    .find(|w| w.name == delivery.webhook)
                    .cloned();
                let gone = disabled.contains(&delivery.webhook)
                    || newly_disabled.iter().any(|(n, _)| *n == delivery.webhook);
                let client = client.clone();
                let fleet = fleet.clone();
                running.spawn(async move {
                    let mut id = message_id(&delivery);
                    let mut claimed = None;
                    let mut ends = None;
                    if let (Some(f), Some(h), false, false) =
                        (&fleet, &hook, gone, raised_by_one_node(&delivery))
                    {
                        let mut key = claim_key(&delivery);
                        // A resolution is keyed by the episode it ends, and ends it: the next
                        // firing of the same alert is a new message, and so is its resolution.
                        if delivery.event.resolves.is_some() {
                            let fired = fired_key(&delivery);
                            let episode = f.claim_generation(&fired).await.ok().flatten();
                            key = format!("{key}|{}", episode.unwrap_or(0));
                            ends = Some(fired);
                        }
                        let hold = h.timeout + Duration::from_secs(15);
                        // A firing the fleet resolved after it was raised is not sent as a
                        // new episode (a node that noticed it late).
                        let raised = match (&delivery.event.resolves, delivery.event.reminder) {
                            (Some(_), _) => None,
                            (None, true) => Some(crate::fleet::claim::Raised::Reminder),
                            (None, false) => {
                                Some(crate::fleet::claim::Raised::At(delivery.event.occurred_at))
                            }
                        };
                        match f.claim_delivery(&key, hold, fresh_for, raised).await {
                            Ok(Claim::Mine { generation }) => {
                                id = fleet_message_id(&delivery, &key, generation);
                                claimed = Some(key);
                            }
                            Ok(Claim::Sent { by }) => {
                                return (delivery, true, None, Gate::Elsewhere(by));
                            }
                            Ok(Claim::Busy { by }) => {
                                return (delivery, true, None, Gate::Busy(by));
                            }
                            Err(e) => tracing::warn!(
                                "fleet store: {e}; sending without the fleet's claim"
                            ),
                        }
                    }
                    let result = match (&hook, gone) {
                        (Some(hook), false) => Some(
                            send(&client, hook, &delivery.event, &id, crate::clock::now()).await,
                        ),
                        _ => None,
                    };
                    if let (Some(f), Some(key), Some(r)) = (&fleet, &claimed, &result) {
                        if let Err(e) = f.settle_delivery(key, r.ok()).await {
                            tracing::warn!("fleet store: cannot settle the delivery's claim: {e}");
                        }
                        if let (true, Some(fired)) = (r.ok(), &ends)
                            && let Err(e) = f.resolve_claim(fired).await
                        {
                            tracing::warn!("fleet store: cannot end the alert's claim: {e}");
                        }
                    }
                    (delivery, hook.is_some(), result, Gate::Open)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let Ok((mut delivery, configured, result, gate)) = joined else {
                continue;
            };
            if let Some(n) = in_flight.get_mut(&delivery.webhook) {
                *n = n.saturating_sub(1);
            }
            let now = crate::clock::now();
            match gate {
                Gate::Open => {}
                Gate::Elsewhere(by) => {
                    tracing::info!(webhook = %delivery.webhook, delivery = delivery.id, node = %by, "delivered by another node of the fleet");
                    report.delivered += 1;
                    delivered.push(delivery.id);
                    continue;
                }
                Gate::Busy(by) => {
                    tracing::debug!(webhook = %delivery.webhook, delivery = delivery.id, node = %by, "another node is sending it; looking again soon");
                    delivery.next_attempt_at = now + FLEET_BUSY_RETRY;
                    report.retrying += 1;
                    updated.push(delivery);
                    continue;
                }
            }
            delivery.attempts += 1;
            match result {
                Some(r) if r.ok() => {
                    tracing::info!(
                        webhook = %delivery.webhook,
                        delivery = delivery.id,
                        kind = %delivery.event.kind,
                        "delivered: {}",
                        delivery.event.summary
                    );
                    report.delivered += 1;
                    delivered.push(delivery.id);
                    continue;
                }
                Some(r) if r.permanent => {
                    tracing::error!(
                        webhook = %delivery.webhook,
                        delivery = delivery.id,
                        "delivery failed for good: {}",
                        r.error.as_deref().unwrap_or("unknown")
                    );
                    delivery.state = DeliveryState::Dead;
                    delivery.last_status = None;
                    delivery.last_error = r.error.clone();
                }
                Some(r) if r.status == Some(410) => {
                    let reason = format!("HTTP 410 Gone at {}", crate::policy::rfc3339(now));
                    tracing::error!(webhook = %delivery.webhook, "webhook answered 410 Gone: disabled until `certctl alerts enable {}`", delivery.webhook);
                    newly_disabled.push((delivery.webhook.clone(), reason));
                    delivery.state = DeliveryState::Dead;
                    delivery.last_status = Some(410);
                    delivery.last_error =
                        Some("the receiver answered 410 Gone; webhook disabled".into());
                }
                Some(r) => {
                    delivery.last_status = r.status;
                    delivery.last_error = r.error.clone();
                    let retry_after = match r.status {
                        Some(429 | 503) => r.retry_after,
                        _ => None,
                    };
                    let next = next_attempt(
                        now,
                        delivery.attempts,
                        config.alerts.retry_initial,
                        config.alerts.retry_max,
                        retry_after,
                        delivery.id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    if next > delivery.created_at + config.alerts.retry_for {
                        delivery.state = DeliveryState::Dead;
                    } else {
                        delivery.next_attempt_at = next;
                    }
                    if r.status.is_none()
                        && r.exit.is_none()
                        && !down.contains_key(&delivery.webhook)
                    {
                        down.insert(delivery.webhook.clone(), (r.error.clone(), next));
                        defer_down(&mut pending, &down, &mut updated, &mut report);
                        waiting = waiting_by_hook(&pending);
                    }
                    tracing::warn!(
                        webhook = %delivery.webhook,
                        delivery = delivery.id,
                        attempts = delivery.attempts,
                        "delivery failed: {}",
                        r.error.as_deref().unwrap_or("unknown")
                    );
                }
                None => {
                    delivery.state = DeliveryState::Dead;
                    delivery.last_error = Some(if configured {
                        "the webhook is disabled (HTTP 410); `certctl alerts enable` it".into()
                    } else {
                        "the webhook is no longer configured".into()
                    });
                }
            }
            if delivery.state == DeliveryState::Dead {
                report.dead += 1;
            } else {
                report.retrying += 1;
            }
            updated.push(delivery);
        }
        for (name, reason) in &newly_disabled {
            store.disable_webhook(name, reason)?;
        }
        // Every delivery of the page is now delivered, dead, or due strictly later, so the
        // next page holds only deliveries not yet tried in this pass.
        store.settle_deliveries(&delivered, &updated)?;
    }
    Ok(report)
}

fn waiting_by_hook(pending: &VecDeque<Delivery>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for d in pending {
        *counts.entry(d.webhook.clone()).or_default() += 1;
    }
    counts
}

/// Takes the deliveries to webhooks found down out of `pending`: they wait, untried, for the
/// retry time of their webhook's first failure, keeping its error.
fn defer_down(
    pending: &mut VecDeque<Delivery>,
    down: &HashMap<String, (Option<String>, UnixSeconds)>,
    updated: &mut Vec<Delivery>,
    report: &mut DispatchReport,
) {
    if down.is_empty() {
        return;
    }
    let (deferred, kept): (Vec<Delivery>, Vec<Delivery>) = pending
        .drain(..)
        .partition(|d| down.contains_key(&d.webhook));
    *pending = kept.into();
    for mut delivery in deferred {
        // Partitioned on exactly this: the webhook is in `down`.
        let Some((error, next)) = down.get(&delivery.webhook) else {
            continue;
        };
        delivery.next_attempt_at = delivery.next_attempt_at.max(*next);
        delivery.last_status = None;
        delivery.last_error = error
            .as_ref()
            .map(|e| format!("{e} (not tried again in this pass)"));
        report.retrying += 1;
        updated.push(delivery);
    }
}

/// What the fleet said before a send (single node: always `Open`).
enum Gate {
    Open,
    /// Another node delivered it.
    Elsewhere(String),
    /// Another node is sending it.
    Busy(String),
}

/// When a delivery another node is sending is looked at again.
const FLEET_BUSY_RETRY: UnixSeconds = 5;

/// The alert id every node gives this delivery's event. A firing's id is the same on every
/// node (certificate, kind, threshold); a resolution's own id also carries the time the node
/// opened the alert, which differs between nodes, so a resolution goes by the alert it resolves.
fn fleet_event_id(delivery: &Delivery) -> &str {
    match &delivery.event.resolves {
        Some((id, _)) => id,
        None => &delivery.event.id,
    }
}

/// The fleet-wide identity of a delivery: the same alert to the same webhook from any node.
fn claim_key(delivery: &Delivery) -> String {
    format!(
        "{}|{}|{}",
        delivery.webhook,
        fleet_event_id(delivery),
        delivery.event.kind
    )
}

/// An alert only one node raises (the fleet store outage, from the node that reports it) is
/// not claimed: it is sent while the store is gone, and each outage and its end are new
/// messages, which claims kept per alert would take for ones already sent.
fn raised_by_one_node(delivery: &Delivery) -> bool {
    let kind = match &delivery.event.resolves {
        Some((_, kind)) => kind,
        None => &delivery.event.kind,
    };
    kind == "store_unreachable"
}

/// The claim of the firing a resolution ends.
fn fired_key(delivery: &Delivery) -> String {
    match &delivery.event.resolves {
        Some((id, kind)) => format!("{}|{id}|{kind}", delivery.webhook),
        None => claim_key(delivery),
    }
}

/// The webhook-id in fleet mode: from the claim key and its generation, so every node's retry
/// of the message repeats it.
fn fleet_message_id(delivery: &Delivery, key: &str, generation: i64) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{key}|{generation}").as_bytes(),
    );
    format!(
        "msg_{}_{}",
        fleet_event_id(delivery),
        hex::encode(&digest.as_ref()[..8])
    )
}

/// The Standard Webhooks message id of a delivery: stable across its retries.
pub fn message_id(delivery: &Delivery) -> String {
    format!("msg_{}_{}", delivery.event.id, delivery.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let at = |n| next_attempt(1000, n, 30, 3600, None, 0);
        assert_eq!(at(1), 1030);
        assert_eq!(at(2), 1060);
        assert_eq!(at(3), 1120);
        assert_eq!(at(30), 1000 + 3600);
        assert_eq!(next_attempt(1000, 1, 30, 3600, Some(120), 0), 1120);
        assert_eq!(next_attempt(1000, 3, 30, 3600, Some(5), 0), 1120);
        let jittered = next_attempt(1000, 1, 30, 3600, None, 7);
        assert!((1030..=1036).contains(&jittered));
    }
}
