//! `certctl run`: the background service. The only module that spawns long-lived tasks.
//!
//! It validates the whole config, takes the store, then runs: a scan and a renewal check at
//! start and on their cron schedules (a run that would overlap the previous one of its kind is
//! skipped and logged), the alert dispatcher on an interval, the control socket (every CLI
//! command works through it), and optionally `/metrics`, `/healthz` and `/readyz`. It speaks
//! sd_notify (`READY=1`, `STATUS=`, `WATCHDOG=1`), reloads its config on SIGHUP (keeping the
//! old one if the new one is invalid), and on SIGTERM drains in-flight runs within the grace
//! period and exits 0.

mod discover;
mod fleet;
mod jobs;
pub mod metrics;
pub mod socket;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::model::UnixSeconds;
use crate::schedule::Guard;
use crate::store::{Store, StoreError};
use jobs::{Kind, plan_next_check, scheduler};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store is unavailable (another `certctl run` holds it, or it is broken).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not be set up.
    #[error("{what} {}: {source}", path.display())]
    Listen {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub use crate::ops::{ScheduleStatus, Status};

/// State shared by the daemon's tasks.
pub struct Shared {
    pub config: RwLock<Arc<Config>>,
    pub store: Store,
    pub status: Mutex<Status>,
    scan_guard: Guard,
    renew_guard: Guard,
    dispatch_guard: Guard,
    /// One `[[discover]]` job at a time.
    discover_guard: Guard,
    /// When a certificate next needs attention before the renew schedule's next run (a backoff
    /// step ending, a renewal time coming): the renew scheduler wakes then too.
    renew_wake: watch::Sender<Option<UnixSeconds>>,
    /// Socket commands answered so far: the heap is trimmed once they pause (see
    /// [`Shared::trim_when_quiet`]).
    commands: std::sync::atomic::AtomicU64,
    /// Typed socket operations in progress: shutdown waits for them as for its own runs.
    socket_ops: Arc<std::sync::atomic::AtomicUsize>,
}

/// One typed socket operation in progress (see [`Shared::socket_op`]).
pub(crate) struct SocketOp(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for SocketOp {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// How long socket commands must pause before the heap is trimmed.
const TRIM_WHEN_QUIET: Duration = Duration::from_millis(500);

const HANDSHAKE_BOUNDS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Counts a typed socket operation as in progress until the value is dropped.
    pub(crate) fn socket_op(&self) -> SocketOp {
        self.socket_ops
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        SocketOp(Arc::clone(&self.socket_ops))
    }

    /// What a scheduled run's operations run against: the store, the config of the run, and
    /// no delivery of their own (the dispatcher delivers).
    fn schedule_context(&self, config: &Arc<Config>) -> crate::ops::Context {
        crate::ops::Context {
            config: Arc::clone(config),
            store: self.store.clone(),
            status: None,
            deliver: false,
            progress: None,
        }
    }

    fn with_status(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Hands the memory a socket command freed back to the system, once commands pause for
    /// [`TRIM_WHEN_QUIET`]: trimming is slow on a large heap and holds the allocator's lock, so
    /// doing it between back-to-back commands (a script calling `certctl list` in a loop) would
    /// slow the next one down.
    fn trim_when_quiet(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        let seen = self.commands.fetch_add(1, Ordering::SeqCst) + 1;
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(TRIM_WHEN_QUIET).await;
            if shared.commands.load(Ordering::SeqCst) == seen {
                let _ = tokio::task::spawn_blocking(release_memory).await;
            }
        });
    }

    fn schedule_mut<'a>(s: &'a mut Status, name: &str) -> &'a mut ScheduleStatus {
        if let Some(i) = s.schedules.iter().position(|x| x.name == name) {
            &mut s.schedules[i]
        } else {
            s.schedules.push(ScheduleStatus {
                name: name.to_string(),
                ..ScheduleStatus::default()
            });
            let last = s.schedules.len() - 1;
            &mut s.schedules[last]
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), DaemonError> {
    let store = Store::open(&config.store_path)?;
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config)),
        store,
        status: Mutex::new(Status {
            started_at: crate::clock::now(),
            pid: std::process::id(),
            config: config_path.as_ref().map(|p| p.display().to_string()),
            handshake_buckets: HANDSHAKE_BOUNDS.iter().map(|b| (*b, 0)).collect(),
            ..Status::default()
        }),
        scan_guard: Guard::default(),
        renew_guard: Guard::default(),
        dispatch_guard: Guard::default(),
        discover_guard: Guard::default(),
        renew_wake: watch::Sender::new(None),
        commands: std::sync::atomic::AtomicU64::new(0),
        socket_ops: Arc::default(),
    });
    let config = shared.config();
    let listener = socket::bind(&config.daemon.socket, config.daemon.socket_group.as_deref())
        .map_err(|source| DaemonError::Listen {
            what: "cannot listen on the control socket",
            path: config.daemon.socket.clone(),
            source,
        })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(socket::serve(
        listener,
        Arc::clone(&shared),
        stop_rx.clone(),
    ));
    if let Some(addr) = config.daemon.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Listen {
                what: "cannot listen for /metrics on",
                path: PathBuf::from(addr.to_string()),
                source,
            })?;
        tasks.spawn(metrics::serve(
            listener,
            Arc::clone(&shared),
            stop_rx.clone(),
        ));
    }
    tasks.spawn(scheduler(Arc::clone(&shared), Kind::Scan, stop_rx.clone()));
    tasks.spawn(scheduler(Arc::clone(&shared), Kind::Renew, stop_rx.clone()));
    tasks.spawn(dispatcher(Arc::clone(&shared), stop_rx.clone()));
    tasks.spawn(discover::discoverer(Arc::clone(&shared), stop_rx.clone()));
    tasks.spawn(watchdog(stop_rx.clone()));
    tasks.spawn(fleet::member(Arc::clone(&shared), stop_rx.clone()));
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(
        socket = %config.daemon.socket.display(),
        scan = config.daemon.scan_schedule.text(),
        renew = config.daemon.renew_schedule.text(),
        "certctl is running"
    );

    signals(&shared, config_path).await;
    tracing::info!("stopping: finishing in-flight work");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let grace = shared.config().daemon.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while tasks.join_next().await.is_some() {}
        // Runs in progress finish before their guard is released.
        while shared.scan_guard.busy()
            || shared.renew_guard.busy()
            || shared.dispatch_guard.busy()
            || shared.discover_guard.busy()
            || shared.socket_ops.load(std::sync::atomic::Ordering::Acquire) > 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "grace period of {} passed; exiting with work in flight",
            humantime::format_duration(grace)
        );
    }
    let _ = shared.store.flush();
    let _ = std::fs::remove_file(&shared.config().daemon.socket);
    Ok(())
}

/// Waits for SIGTERM/SIGINT; reloads the config on SIGHUP.
async fn signals(shared: &Arc<Shared>, config_path: Option<PathBuf>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => reload(shared, config_path.as_deref()),
        }
    }
}

fn reload(shared: &Arc<Shared>, path: Option<&std::path::Path>) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
    let Some(path) = path else {
        tracing::warn!("SIGHUP: no config file to reload");
        return;
    };
    match Config::load(path) {
        Ok(mut new) => {
            let old = shared.config();
            if new.store_path != old.store_path {
                tracing::warn!("SIGHUP: store.path changed; it takes effect at the next restart");
                new.set_store_path(old.store_path.clone());
            }
            if let Ok(mut c) = shared.config.write() {
                *c = Arc::new(new);
            }
            shared.with_status(|s| s.config_reloads += 1);
            crate::audit::record(
                &shared.store,
                "config_reloaded",
                &path.display().to_string(),
                "",
            );
            tracing::info!(config = %path.display(), "SIGHUP: config reloaded");
        }
        Err(e) => {
            tracing::error!("SIGHUP: the new config is invalid; keeping the old one:\n{e}");
            shared.with_status(|s| s.last_error = Some(format!("config reload rejected: {e}")));
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

pub(crate) use crate::ops::free_in_background;

/// Hands freed heap memory back to the system. A scan or a listing of many locations allocates
/// transiently; without this an idle daemon would keep its peak.
pub(crate) fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Delivers the alert outbox on an interval.
async fn dispatcher(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let client = crate::alerts::dispatch::client();
    loop {
        let interval = shared.config().daemon.dispatch_interval;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let Some(_running) = shared.dispatch_guard.try_start() else {
            continue;
        };
        let config = shared.config();
        if config.webhooks.is_empty() {
            continue;
        }
        match crate::alerts::dispatch::deliver_due(&config, &shared.store, &client).await {
            Ok(report) => {
                shared.with_status(|s| {
                    s.deliveries_ok += report.delivered as u64;
                    s.deliveries_failed += (report.retrying + report.dead) as u64;
                });
                if report.delivered + report.dead > 0 {
                    crate::audit::record(
                        &shared.store,
                        "alerts_delivered",
                        "outbox",
                        &format!("delivered {}, dead {}", report.delivered, report.dead),
                    );
                }
            }
            Err(e) => tracing::error!("alert delivery failed: {e}"),
        }
    }
}

/// Sends WATCHDOG=1 at half the interval systemd asks for (WATCHDOG_USEC).
async fn watchdog(mut stop: watch::Receiver<bool>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    if interval.is_zero() {
        return;
    }
    let period = interval / 2;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            _ = stop.changed() => return,
        }
    }
}
