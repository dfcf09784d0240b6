//! `scan`: ad hoc targets or the whole config, scanned and recorded, the results judged.
//!
//! The alert pass that follows a scan is a separate request (`alerts deliver`), which the CLI
//! sends once it has printed and freed the results: evaluating alerts reads the whole
//! inventory again, and holding both at once would double the peak memory of a large scan.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::config::Config;
use crate::inventory::target::{AdHoc, classify_arg};
use crate::model::UnixSeconds;
use crate::service::{self, View};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanRequest {
    /// host:port, [v6]:port, https:// URLs, files, directories or globs; none: the config.
    pub targets: Vec<String>,
    /// The SNI name for the endpoint targets.
    pub server_name: Option<String>,
    /// Record the results in the store (`scan --no-store`: no).
    pub record: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanReply {
    pub now: UnixSeconds,
    /// Every location scanned, judged, soonest expiry first.
    pub views: Vec<View>,
    /// The store the results were recorded in, if they were.
    pub recorded_in: Option<String>,
    pub elapsed_ms: u64,
    /// Fleet mode: the scan is recorded here but the fleet's inventory was not updated.
    #[serde(default)]
    pub warning: Option<String>,
}

/// What a scan covers: endpoints, files, and the scope that decides what becomes of the
/// stored locations it does not find.
type Targets = (
    Vec<crate::inventory::target::Target>,
    Vec<crate::inventory::target::FileTarget>,
    service::Scope,
);

/// What a scan request covers: its targets, or the config's.
fn targets(config: &Config, request: &ScanRequest) -> Result<Targets, OpsError> {
    if request.targets.is_empty() {
        if config.endpoints.is_empty() && config.inventory_files().is_empty() {
            return Err(OpsError::NothingToScan);
        }
        return Ok((
            config.endpoints.clone(),
            config.inventory_files(),
            service::Scope::Config,
        ));
    }
    let mut endpoints = Vec::new();
    let mut files = Vec::new();
    for arg in &request.targets {
        match classify_arg(arg).map_err(|e| OpsError::BadTarget {
            target: arg.clone(),
            reason: e.to_string(),
        })? {
            AdHoc::Endpoint(mut t) => {
                if let Some(sni) = &request.server_name {
                    t.server_name = Some(sni.to_ascii_lowercase());
                }
                endpoints.push(t);
            }
            AdHoc::Files(f) => files.push(f),
        }
    }
    Ok((endpoints, files, service::Scope::AdHoc))
}

/// Scans and records (unless the request says not to) against the context's store.
pub async fn scan(ctx: &Context, request: &ScanRequest) -> Result<ScanReply, OpsError> {
    let store = request.record.then_some(&ctx.store);
    let targets = targets(&ctx.config, request)?;
    let reply = run(&ctx.config, store, targets, ctx.progress.as_deref()).await?;
    Ok(published(ctx, reply).await)
}

/// A recorded scan's locations, published to the fleet's inventory (fleet mode).
async fn published(ctx: &Context, mut reply: ScanReply) -> ScanReply {
    if reply.recorded_in.is_some() {
        let ids: Vec<&str> = reply.views.iter().map(|v| v.record.id.as_str()).collect();
        reply.warning = super::fleet::publish(ctx, &ids).await;
    }
    reply
}

/// Scans everything in the config and records it, retiring the config's locations no longer
/// found (the daemon's scheduled scan; an empty config retires them all).
pub async fn scan_config(ctx: &Context) -> Result<ScanReply, OpsError> {
    let config = &ctx.config;
    let targets = (
        config.endpoints.clone(),
        config.inventory_files(),
        service::Scope::Config,
    );
    let reply = run(config, Some(&ctx.store), targets, None).await?;
    Ok(published(ctx, reply).await)
}

/// The daemon's scheduled scan, started at `at`: in fleet mode divided among the nodes (the
/// run of the schedule's slot that `at` falls in), else [`scan_config`].
pub async fn scan_scheduled(ctx: &Context, at: UnixSeconds) -> Result<ScanReply, OpsError> {
    let slot = ctx.config.daemon.scan_schedule.slot_of(at);
    match (&ctx.config.fleet, slot) {
        (Some(fc), Some(slot)) => super::divide::scan_divided(ctx, fc, slot).await,
        _ => scan_config(ctx).await,
    }
}

/// Scans without a store (the store is held by another process): nothing is recorded.
pub async fn scan_unrecorded(
    config: &Config,
    request: &ScanRequest,
    progress: Option<&(dyn Fn() + Send + Sync)>,
) -> Result<ScanReply, OpsError> {
    run(config, None, targets(config, request)?, progress).await
}

async fn run(
    config: &Config,
    store: Option<&Store>,
    (endpoints, files, scope): Targets,
    progress: Option<&(dyn Fn() + Send + Sync)>,
) -> Result<ScanReply, OpsError> {
    let started = std::time::Instant::now();
    let views = service::scan_and_record(config, store, endpoints, files, scope, |scanned| {
        if let Some(tick) = progress
            && scanned.observation.location.is_endpoint()
        {
            tick();
        }
    })
    .await?;
    Ok(ScanReply {
        now: crate::clock::now(),
        views,
        recorded_in: store.map(|s| s.path().display().to_string()),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        warning: None,
    })
}
