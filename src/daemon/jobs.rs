//! The daemon's two scheduled jobs, the scan of the config and the renewal check: each runs at
//! start and then on its cron schedule (a run that would overlap the previous one of its kind is
//! skipped), records its outcome in the daemon's status, evaluates alerts, and pings the
//! heartbeat URL after a success. Also when the renew scheduler should wake early.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Shared, release_memory};
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scan,
    Renew,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Scan => "scan",
            Kind::Renew => "renew",
        }
    }
}

/// Runs one kind of job at start and then on its cron schedule.
pub(super) async fn scheduler(shared: Arc<Shared>, kind: Kind, mut stop: watch::Receiver<bool>) {
    let mut first = true;
    let mut wake = shared.renew_wake.subscribe();
    loop {
        let config = shared.config();
        let schedule = match kind {
            Kind::Scan => &config.daemon.scan_schedule,
            Kind::Renew => &config.daemon.renew_schedule,
        };
        let now = crate::clock::now();
        let mut next = schedule.next_after(now);
        // Whether the next run is the wake's (a renewal due, a version published, a lease
        // lapsed) rather than the schedule's.
        let mut woken = false;
        if kind == Kind::Renew
            && let Some(at) = *wake.borrow_and_update()
        {
            woken = next.is_none_or(|n| at < n);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        shared.with_status(|s| {
            let st = Shared::schedule_mut(s, kind.name());
            st.schedule = schedule.text().to_string();
            st.next_run = next;
        });
        if !first {
            let wait = next.map_or(Duration::from_secs(3600), |n| {
                Duration::from_secs(n.saturating_sub(now).max(0) as u64)
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // A renew run just said when a certificate next needs attention: wait for that
                // instead if it comes first.
                _ = wake.changed(), if kind == Kind::Renew => continue,
                _ = stop.changed() => return,
            }
        }
        first = false;
        if *stop.borrow() {
            return;
        }
        let guard = match kind {
            Kind::Scan => &shared.scan_guard,
            Kind::Renew => &shared.renew_guard,
        };
        let Some(running) = guard.try_start() else {
            if woken {
                // Woken while a run is going (a notification in the middle of a pass): run
                // again once it ends, and do not spin on the wake meanwhile.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            tracing::warn!(
                kind = kind.name(),
                "the previous run is still going; skipping this one"
            );
            continue;
        };
        if kind == Kind::Renew {
            // This run covers every wake until now; the run plans the next one when it ends.
            shared.renew_wake.send_replace(None);
        }
        // The job runs on its own task so a slow run never delays the schedule.
        let job_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _running = running;
            job(&job_shared, kind).await;
        });
    }
}

async fn job(shared: &Arc<Shared>, kind: Kind) {
    let config = shared.config();
    let started = crate::clock::now();
    shared.with_status(|s| {
        let st = Shared::schedule_mut(s, kind.name());
        st.last_run = Some(started);
        st.running = true;
    });
    let result: Result<String, String> = match kind {
        Kind::Scan => {
            // The same operation as `certctl scan`; the dispatcher delivers.
            let ctx = shared.schedule_context(&config);
            match crate::ops::scan::scan_scheduled(&ctx, started).await {
                Ok(reply) => {
                    let views = reply.views;
                    let critical = views
                        .iter()
                        .filter(|v| v.status == crate::model::Status::Critical)
                        .count();
                    let warning = views
                        .iter()
                        .filter(|v| v.status == crate::model::Status::Warning)
                        .count();
                    shared.with_status(|s| {
                        s.scans += 1;
                        for v in &views {
                            if v.findings.iter().any(|f| f.code.is_failure()) {
                                s.scan_errors += 1;
                            }
                            if let Some(tls) = &v.record.tls {
                                let secs = f64::from(tls.handshake_ms) / 1000.0;
                                s.handshake_count += 1;
                                s.handshake_sum_ms += u64::from(tls.handshake_ms);
                                for (bound, count) in s.handshake_buckets.iter_mut() {
                                    if secs <= *bound {
                                        *count += 1;
                                    }
                                }
                            }
                        }
                    });
                    Ok(format!(
                        "{} locations, {critical} critical, {warning} warning",
                        views.len()
                    ))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Kind::Renew => {
            // The same operation as `certctl renew --all`; the dispatcher delivers.
            let ctx = shared.schedule_context(&config);
            let request = crate::ops::RenewRequest {
                names: Vec::new(),
                force: false,
                dry_run: false,
                concurrency: 8,
            };
            let reply = match config.certificates.is_empty() {
                true => Ok(crate::ops::RenewReply {
                    reports: Vec::new(),
                    warning: None,
                }),
                false => crate::ops::renew::renew(&ctx, &request).await,
            };
            match reply {
                Ok(reply) => {
                    let (ok, failed) = reply.counts();
                    shared.with_status(|s| {
                        s.renewals_succeeded += ok;
                        s.renewals_failed += failed;
                    });
                    plan_next_check(shared, &config).await;
                    if failed > 0 {
                        Err(format!("{failed} renewal(s) failed"))
                    } else {
                        Ok(format!(
                            "{} managed certificate(s), {ok} renewed",
                            reply.reports.len()
                        ))
                    }
                }
                Err(e) => {
                    // The run could not start (the fleet store unreachable, say): try again
                    // after the first backoff step, not at once and not hours later.
                    wake_by(
                        shared,
                        Some(crate::clock::now() + crate::policy::renew::MIN_WAKE),
                    );
                    Err(e.to_string())
                }
            }
        }
    };
    if let Err(e) = crate::alerts::evaluate(&config, &shared.store, crate::clock::now()) {
        tracing::error!("alert evaluation failed: {e}");
    }
    release_memory();
    let finished = crate::clock::now();
    shared.with_status(|s| {
        let st = Shared::schedule_mut(s, kind.name());
        st.running = false;
        match &result {
            Ok(_) => st.last_success = Some(finished),
            Err(e) => s.last_error = Some(format!("{}: {e}", kind.name())),
        }
    });
    match &result {
        Ok(summary) => {
            tracing::info!(kind = kind.name(), "{summary}");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&format!(
                "last {}: {summary}",
                kind.name()
            ))]);
            if let Some(url) = &config.daemon.heartbeat_url {
                heartbeat(url).await;
            }
        }
        Err(e) => tracing::error!(kind = kind.name(), "{e}"),
    }
}

/// Works out, without acting, when each managed certificate next needs attention, and tells
/// the renew scheduler: a failed renewal is retried when its backoff step ends (1 minute, 10
/// minutes, ...) and a certificate is renewed when its time comes, not at the next scheduled run
/// hours later.
pub(super) async fn plan_next_check(shared: &Arc<Shared>, config: &Arc<Config>) {
    let options = crate::lifecycle::RenewOptions {
        force: false,
        dry_run: true,
        concurrency: 8,
    };
    match crate::lifecycle::run(Arc::clone(config), shared.store.clone(), &[], options).await {
        Ok(plan) => {
            let now = crate::clock::now();
            let wake = crate::policy::renew::next_wake(
                plan.iter().map(|r| r.decision.next_time(now)),
                now,
            );
            wake_by(shared, wake);
        }
        Err(e) => tracing::warn!("cannot plan the next renewal check: {e}"),
    }
}

/// Has the renew scheduler wake by `at`, unless it is to wake sooner already: a wake set while
/// a run was going (a version published meanwhile) is not postponed by that run's plan.
fn wake_by(shared: &Shared, at: Option<crate::model::UnixSeconds>) {
    shared.renew_wake.send_modify(|wake| {
        *wake = match (*wake, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    });
}

/// Pings the heartbeat URL; failures are logged without the URL (it is a secret).
async fn heartbeat(url: &crate::config::acme::Secret) {
    let client = crate::alerts::dispatch::client();
    let url = String::from_utf8_lossy(url.expose()).into_owned();
    let Ok(request) = hyper::Request::get(url).body(http_body_util::Full::new(bytes::Bytes::new()))
    else {
        return;
    };
    match tokio::time::timeout(Duration::from_secs(10), client.request(request)).await {
        Ok(Ok(r)) if r.status().is_success() => {}
        Ok(Ok(r)) => tracing::warn!("heartbeat answered HTTP {}", r.status().as_u16()),
        _ => tracing::warn!("heartbeat failed"),
    }
}
