//! The daemon's scheduled scan in fleet mode, divided among the nodes.
//!
//! Every node with one config joins the run of the current schedule slot ([`crate::fleet::scan`]):
//! it scans its own certificate files, then claims batches of the shared endpoints until none
//! is left, recording and publishing each batch as it goes. When the run is over it takes in
//! the records the other nodes published during it, so every node's store holds the whole
//! inventory (its `show`, its alert evaluation, its next fold), and only then retires the config
//! locations nobody found.
//!
//! An endpoint this node cannot reach is not recorded as a failure while another node is alive:
//! it is queued for a second look from another node, whose result (reached, or a failure both
//! agree on) is the one recorded. When the fleet store cannot be reached or fails mid-run, the
//! node scans the whole config itself, as a single node does, and says so.

use std::collections::HashSet;
use std::time::Duration;

use super::scan::ScanReply;
use super::{Context, OpsError};
use crate::config::fleet::FleetConfig;
use crate::fleet::Fleet;
use crate::inventory::target::Target;
use crate::model::{Location, LocationRecord, Outcome, UnixSeconds};
use crate::service::{self, Scope, View};

/// How often a node with nothing to claim looks again while other nodes finish the run.
const POLL: Duration = Duration::from_millis(250);

/// How long the other nodes have to take a recheck before the node that queued it may.
const OTHERS_FIRST: Duration = Duration::from_secs(30);

/// Batches per live node at least: a faster node takes more.
const BATCHES_PER_NODE: usize = 4;

/// Batches per run, when endpoints are many: nodes that join a run after it opened still find
/// work, and the last batch (which one node finishes while the others wait) is a small part.
const BATCHES_PER_RUN: usize = 64;

/// Waves of `[scan] concurrency` per batch at least: each batch ends with its slowest
/// handshakes while the others are done, so a batch of one wave would scan at half speed.
const WAVES_PER_BATCH: usize = 4;

/// The largest batch, so that no claim lease has to cover hours of scanning.
const MAX_BATCH: usize = 2_000;

/// How many endpoints a batch of a run over `n` holds, with `alive` nodes when it opens.
fn batch_size(n: usize, alive: usize, concurrency: usize) -> usize {
    n.div_ceil(BATCHES_PER_RUN)
        .max(concurrency * WAVES_PER_BATCH)
        .min(n.div_ceil(alive * BATCHES_PER_NODE))
        .clamp(1, MAX_BATCH)
}

/// Why a divided run stopped.
enum Stop {
    /// The fleet store failed or refused: scan the whole config here instead.
    Fleet(String),
    Ops(OpsError),
}

impl From<OpsError> for Stop {
    fn from(e: OpsError) -> Self {
        Stop::Ops(e)
    }
}

impl From<crate::service::ServiceError> for Stop {
    fn from(e: crate::service::ServiceError) -> Self {
        Stop::Ops(e.into())
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::Ops(e.into())
    }
}

impl From<crate::fleet::FleetError> for Stop {
    fn from(e: crate::fleet::FleetError) -> Self {
        Stop::Fleet(e.to_string())
    }
}

impl From<super::fleet::PublishError> for Stop {
    fn from(e: super::fleet::PublishError) -> Self {
        Stop::Fleet(format!("publishing the results: {e}"))
    }
}

/// The scan of slot `slot` (the schedule's firing this run belongs to), divided among the live
/// nodes that share this node's config.
pub async fn scan_divided(
    ctx: &Context,
    fc: &FleetConfig,
    slot: UnixSeconds,
) -> Result<ScanReply, OpsError> {
    let started = std::time::Instant::now();
    let result = match Fleet::connect(&fc.settings).await {
        Ok(fleet) => divided(ctx, fc, &fleet, slot).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(mut views) => {
            views.sort_by(|a, b| a.expiry_key().cmp(&b.expiry_key()));
            Ok(ScanReply {
                now: crate::clock::now(),
                views,
                recorded_in: Some(ctx.store.path().display().to_string()),
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                warning: None,
            })
        }
        Err(Stop::Ops(e)) => Err(e),
        Err(Stop::Fleet(e)) => {
            let line = format!(
                "warning: the scan could not be divided with the fleet ({e}); this node scanned the whole config"
            );
            tracing::warn!("{line}");
            let mut reply = super::scan::scan_config(ctx).await?;
            reply.warning = Some(
                reply
                    .warning
                    .map_or(line.clone(), |w| format!("{line}\n{w}")),
            );
            Ok(reply)
        }
    }
}

async fn divided(
    ctx: &Context,
    fc: &FleetConfig,
    fleet: &Fleet,
    slot: UnixSeconds,
) -> Result<Vec<View>, Stop> {
    let config = &ctx.config;
    let store = &ctx.store;
    let alive = live_nodes(fleet, fc).await?;
    let key = format!("{}@{slot}", fc.config_hash);
    let endpoints = &config.endpoints;
    let per = batch_size(endpoints.len(), alive, config.scan.concurrency);
    if !endpoints.is_empty() {
        let all: Vec<usize> = (0..endpoints.len()).collect();
        let batches: Vec<Vec<usize>> = all.chunks(per).map(<[usize]>::to_vec).collect();
        if fleet.open_scan_run(&key, &batches).await? {
            tracing::info!(
                run = %key,
                "opened the fleet's scan run: {} endpoint(s) in {} batch(es) for {alive} live node(s)",
                endpoints.len(),
                batches.len()
            );
        }
    }
    let mut views = Vec::new();
    let files = config.inventory_files();
    if !files.is_empty() {
        let scanned =
            service::scan_and_record(config, Some(store), Vec::new(), files, Scope::Part, |_| {})
                .await?;
        let ids: Vec<&str> = scanned.iter().map(|v| v.record.id.as_str()).collect();
        super::fleet::publish_to(ctx, fleet, &ids).await?;
        views.extend(scanned);
    }
    let hold = claim_hold(&config.scan, per);
    let mut batches = 0usize;
    while !endpoints.is_empty() {
        let Some(item) = fleet.claim_scan_item(&key, hold).await? else {
            if fleet.scan_items_open(&key).await? == 0 {
                break;
            }
            tokio::time::sleep(POLL).await;
            continue;
        };
        batches += 1;
        let targets: Vec<Target> = item
            .targets
            .iter()
            .filter_map(|&i| endpoints.get(i).cloned())
            .collect();
        // A first look from this node, with another node to confirm what it cannot reach
        // (counted again each batch: nodes join and leave during a run).
        let second_look = item.recheck_of.is_none() && live_nodes(fleet, fc).await? > 1;
        let (scanned, deferred) = service::scan_and_record_deferring(
            config,
            Some(store),
            targets,
            Vec::new(),
            Scope::Part,
            |_| {},
            |s| second_look && matches!(s.observation.outcome, Outcome::Failed { .. }),
        )
        .await?;
        if !deferred.is_empty() {
            let again: Vec<usize> = item
                .targets
                .iter()
                .copied()
                .filter(|&i| {
                    endpoints
                        .get(i)
                        .is_some_and(|t| deferred.iter().any(|l| reaches(t, l)))
                })
                .collect();
            tracing::info!(
                "{} endpoint(s) not reachable from this node; another node looks again before they count as unreachable",
                again.len()
            );
            fleet.queue_recheck(&key, &again, OTHERS_FIRST).await?;
        }
        if let Some(by) = &item.recheck_of {
            for view in scanned
                .iter()
                .filter(|v| v.record.consecutive_failures == 0)
            {
                tracing::warn!(
                    target = %view.record.location.target(),
                    "not reachable from node {by}, reachable from this node"
                );
            }
        }
        let ids: Vec<&str> = scanned.iter().map(|v| v.record.id.as_str()).collect();
        super::fleet::publish_to(ctx, fleet, &ids).await?;
        fleet.finish_scan_item(item.id).await?;
        views.extend(scanned);
    }
    // The rest of the run, as the other nodes recorded it.
    let mut seen: HashSet<String> = views.iter().map(|v| v.record.id.clone()).collect();
    let (mut adopted, mut unreadable) = (0usize, 0usize);
    // A page at a time: 100 000 records are not held as JSON at once.
    let mut after = String::new();
    loop {
        let page = fleet
            .endpoints_scanned_since(&key, &after, crate::fleet::inventory::BATCH)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (id, json) in page {
            match serde_json::from_str::<LocationRecord>(&json) {
                Ok(record) => {
                    adopted += usize::from(service::adopt(store, record)?);
                    seen.insert(id);
                }
                Err(e) => {
                    unreadable += 1;
                    tracing::warn!(location = %id, "a location another node published cannot be read: {e}");
                }
            }
        }
    }
    // Retire only what the whole run did not find; with a record unread, nothing.
    if unreadable == 0 {
        let seen: HashSet<&str> = seen.iter().map(String::as_str).collect();
        service::settle_config_scan(store, &seen)?;
    }
    store.flush()?;
    crate::audit::record_inventory(store);
    super::fleet::prune(ctx, fleet).await?;
    tracing::info!(
        run = %key,
        "fleet scan run over: this node scanned {} location(s) in {batches} batch(es), took in {adopted} from other nodes",
        views.len()
    );
    Ok(views)
}

/// The live nodes of the fleet, this one included.
async fn live_nodes(fleet: &Fleet, fc: &FleetConfig) -> Result<usize, Stop> {
    let nodes = fleet.nodes().await?;
    Ok(nodes
        .iter()
        .filter(|n| n.alive(fc.lease_ttl))
        .count()
        .max(1))
}

/// How long a claim on a batch of `per` endpoints lasts: the worst case of every handshake
/// timing out, wave after wave of `[scan] concurrency`, and a margin. A node that dies holding
/// one leaves the batch to the others after this.
fn claim_hold(scan: &crate::inventory::ScanSettings, per: usize) -> Duration {
    let waves = u32::try_from(per.div_ceil(scan.concurrency.max(1))).unwrap_or(u32::MAX);
    let one =
        scan.connect_timeout + scan.handshake_timeout + scan.revocation_timeout.unwrap_or_default();
    Duration::from_secs(30).saturating_add(one.saturating_mul(waves))
}

/// Whether `location` is one that scanning `target` yields: the target's own, or one address
/// of a name with several (`192.0.2.7:443 (www.example.com)`).
fn reaches(target: &Target, location: &Location) -> bool {
    if target.location() == *location {
        return true;
    }
    let name = target.server_name.as_deref().unwrap_or(&target.host);
    match location {
        Location::Endpoint {
            port, server_name, ..
        }
        | Location::Starttls {
            port, server_name, ..
        } => *port == target.port && server_name.as_deref() == Some(name),
        Location::File { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, sni: Option<&str>) -> Target {
        Target {
            host: host.into(),
            port: 443,
            server_name: sni.map(str::to_string),
            name: None,
            labels: Vec::new(),
            starttls: None,
        }
    }

    #[test]
    fn a_target_reaches_its_location_and_its_addresses() {
        let t = target("www.example.com", None);
        assert!(reaches(&t, &t.location()));
        let address = target("192.0.2.7", Some("www.example.com")).location();
        assert!(reaches(&t, &address));
        let other = target("192.0.2.7", Some("api.example.com")).location();
        assert!(!reaches(&t, &other));
        let file = Location::File {
            path: "/etc/cert.pem".into(),
            index: 0,
        };
        assert!(!reaches(&t, &file));
    }

    #[test]
    fn batches_are_several_waves_and_several_per_node() {
        // Few endpoints: four batches per live node.
        assert_eq!(batch_size(15, 3, 64), 2);
        assert_eq!(batch_size(15, 1, 64), 4);
        // Many: 64 batches, each at least four waves, none over the bound.
        assert_eq!(batch_size(20_000, 1, 64), 313);
        assert_eq!(batch_size(3_000, 1, 64), 256);
        assert_eq!(batch_size(1_000_000, 3, 64), MAX_BATCH);
        assert_eq!(batch_size(1, 3, 64), 1);
    }

    #[test]
    fn claims_cover_every_wave_timing_out() {
        let scan = crate::inventory::ScanSettings {
            concurrency: 10,
            ..Default::default()
        };
        let one = scan.connect_timeout
            + scan.handshake_timeout
            + scan.revocation_timeout.unwrap_or_default();
        assert_eq!(claim_hold(&scan, 10), Duration::from_secs(30) + one);
        assert_eq!(claim_hold(&scan, 25), Duration::from_secs(30) + one * 3);
    }
}
