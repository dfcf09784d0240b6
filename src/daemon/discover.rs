//! The `[[discover]]` jobs: each runs on its own cron schedule (not at start: a sweep is heavier
//! than a scan, and `certctl discover` gives an answer at once), one discovery at a time, and
//! what it finds joins the inventory as `certctl discover --add` would add it, followed by an
//! alert evaluation (so a new certificate in the network raises `discovered`).
//!
//! The job list is read from the current config on every turn, so a SIGHUP that adds, removes or
//! reschedules a job takes effect without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Shared;
use crate::config::DiscoverJob;
use crate::model::UnixSeconds;

/// The longest the loop sleeps before looking at the config again.
const LOOK_AGAIN: Duration = Duration::from_secs(30);

/// Runs the jobs until `stop`.
pub(super) async fn discoverer(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // Per job: (schedule text, next run). A changed schedule is planned afresh.
    let mut next: HashMap<String, (String, Option<UnixSeconds>)> = HashMap::new();
    loop {
        let config = shared.config();
        let now = crate::clock::now();
        next.retain(|name, _| config.discover_jobs.iter().any(|j| &j.name == name));
        let mut due: Vec<DiscoverJob> = Vec::new();
        for job in &config.discover_jobs {
            let text = job.schedule.text().to_string();
            let entry = next
                .entry(job.name.clone())
                .or_insert_with(|| (text.clone(), job.schedule.next_after(now)));
            if entry.0 != text {
                *entry = (text, job.schedule.next_after(now));
            }
            if entry.1.is_some_and(|at| at <= now) {
                due.push(job.clone());
                entry.1 = job.schedule.next_after(now);
            }
        }
        shared.with_status(|s| {
            s.schedules.retain(|st| {
                !st.name.starts_with("discover:")
                    || next.contains_key(&st.name["discover:".len()..])
            });
            for (name, (text, at)) in &next {
                let st = Shared::schedule_mut(s, &format!("discover:{name}"));
                st.schedule = text.clone();
                st.next_run = *at;
            }
        });
        if !due.is_empty() {
            match shared.discover_guard.try_start() {
                None => tracing::warn!(
                    "a discovery is still running; skipping {} due job(s)",
                    due.len()
                ),
                Some(running) => {
                    let job_shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let _running = running;
                        for job in due {
                            run(&job_shared, &job).await;
                        }
                    });
                }
            }
        }
        let soonest = next.values().filter_map(|(_, at)| *at).min();
        let wait = soonest.map_or(LOOK_AGAIN, |at| {
            Duration::from_secs(at.saturating_sub(crate::clock::now()).max(0) as u64)
                .min(LOOK_AGAIN)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn run(shared: &Arc<Shared>, job: &DiscoverJob) {
    let config = shared.config();
    let name = format!("discover:{}", job.name);
    let started = crate::clock::now();
    shared.with_status(|s| {
        let st = Shared::schedule_mut(s, &name);
        st.last_run = Some(started);
        st.running = true;
    });
    let ctx = shared.schedule_context(&config);
    let result = crate::ops::discover::job(&ctx, job).await;
    if let Err(e) = crate::alerts::evaluate(&config, &shared.store, crate::clock::now()) {
        tracing::error!("alert evaluation failed: {e}");
    }
    super::release_memory();
    let finished = crate::clock::now();
    shared.with_status(|s| {
        let st = Shared::schedule_mut(s, &name);
        st.running = false;
        match &result {
            Ok(_) => st.last_success = Some(finished),
            Err(e) => s.last_error = Some(format!("{name}: {e}")),
        }
    });
    match result {
        Ok(summary) => tracing::info!(job = %job.name, "{summary}"),
        Err(e) => tracing::error!(job = %job.name, "discovery failed: {e}"),
    }
}
