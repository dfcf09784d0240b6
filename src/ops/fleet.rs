//! The fleet's inventory as operations see it: after a recorded scan (or a `forget`) a node
//! publishes what it scanned to the fleet store, and `list` in fleet mode lists every node's
//! locations from there. When the fleet store cannot be read, `list` answers from the node's
//! own store and says so (stale for every other node), so the CLI keeps working through an
//! outage.

use super::list::{FleetListing, ListReply, ListRequest};
use super::{Context, OpsError};
use crate::config::fleet::FleetConfig;
use crate::fleet::{Fleet, FleetError, PublishedLocation};
use crate::model::{ListRow, Location, LocationRecord};
use crate::service::{RowView, View};

/// The scope a location is kept under fleet-wide: an endpoint is shared by every node, a file
/// is the node's own.
fn scope(record: &LocationRecord, node: &str) -> String {
    match record.location {
        Location::File { .. } => node.to_string(),
        _ => String::new(),
    }
}

/// Publishes the locations `scanned` (ids in this node's store) and prunes the ones this
/// node published before and no longer has. In single-node mode, does nothing. A warning line
/// when the fleet store did not take them (what was scanned is recorded here regardless).
pub async fn publish(ctx: &Context, scanned: &[&str]) -> Option<String> {
    let fc = ctx.config.fleet.as_ref()?;
    match try_publish(ctx, fc, scanned).await {
        Ok(()) => None,
        Err(e) => {
            let line = format!(
                "warning: the fleet's inventory was not updated ({e}); the change is recorded on this node"
            );
            tracing::warn!("{line}");
            Some(line)
        }
    }
}

async fn try_publish(
    ctx: &Context,
    fc: &FleetConfig,
    scanned: &[&str],
) -> Result<(), PublishError> {
    let fleet = Fleet::connect(&fc.settings).await?;
    publish_to(ctx, &fleet, scanned).await?;
    prune(ctx, &fleet).await
}

/// Publishes the locations `scanned` (ids in this node's store) through `fleet`.
pub(super) async fn publish_to(
    ctx: &Context,
    fleet: &Fleet,
    scanned: &[&str],
) -> Result<(), PublishError> {
    let node = fleet.node();
    // Encoded and sent a batch at a time: 100 000 records are not held as JSON at once.
    for ids in scanned.chunks(crate::fleet::inventory::BATCH) {
        let mut locations = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(record) = ctx.store.location(id)? else {
                continue;
            };
            locations.push(PublishedLocation {
                scope: scope(&record, node),
                id: record.id.clone(),
                row: serde_json::to_string(&ListRow::of(&record))?,
                record: serde_json::to_string(&record)?,
            });
        }
        fleet.publish_locations(&locations).await?;
    }
    Ok(())
}

/// Removes from the fleet's inventory what this node published before and no longer has.
pub(super) async fn prune(ctx: &Context, fleet: &Fleet) -> Result<(), PublishError> {
    let rows = ctx.store.rows()?;
    let keep: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    fleet.prune_locations(&keep).await?;
    Ok(())
}

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PublishError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot encode a location: {0}")]
    Encode(#[from] serde_json::Error),
}

/// `list` in fleet mode: every node's locations from the fleet store, judged now; the node's
/// own store (marked stale) when the fleet store cannot be read.
pub async fn list(
    ctx: &Context,
    fc: &FleetConfig,
    request: &ListRequest,
) -> Result<ListReply, OpsError> {
    let store = fc.settings.url_target();
    let fetched = async {
        let fleet = Fleet::connect(&fc.settings).await?;
        fleet.locations(request.full).await
    };
    let listed = match fetched.await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!("the fleet store cannot be read ({e}); listing this node's own store");
            let mut reply = super::list::list(ctx, request)?;
            reply.fleet = Some(FleetListing {
                store,
                nodes: 0,
                stale: Some(e.to_string()),
            });
            return Ok(reply);
        }
    };
    let now = crate::clock::now();
    let thresholds = &ctx.config.thresholds;
    let mut nodes: Vec<&str> = listed.iter().map(|l| l.node.as_str()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let nodes = nodes.len();
    let unreadable = |node: &str, e: serde_json::Error| OpsError::FleetRecord {
        store: store.clone(),
        node: node.to_string(),
        reason: e.to_string(),
    };
    let (mut rows, mut views) = (Vec::new(), Vec::new());
    if request.full {
        for l in &listed {
            let record: LocationRecord =
                serde_json::from_str(&l.json).map_err(|e| unreadable(&l.node, e))?;
            let mut view = View::of(record, thresholds, now);
            view.node = Some(l.node.clone());
            views.push(view);
        }
        views.sort_by(|a, b| a.expiry_key().cmp(&b.expiry_key()));
    } else {
        for l in listed {
            let mut row: ListRow =
                serde_json::from_str(&l.json).map_err(|e| unreadable(&l.node, e))?;
            // Another node's file: say whose.
            if !l.scope.is_empty() {
                row.target = format!("{}:{}", l.scope, row.target);
            }
            rows.push(RowView::of(row, thresholds, now));
        }
        rows.sort_by(|a, b| {
            (a.row.expires_at().unwrap_or(i64::MIN), &a.row.id)
                .cmp(&(b.row.expires_at().unwrap_or(i64::MIN), &b.row.id))
        });
    }
    let mut reply = super::list::shape(
        ctx,
        request,
        now,
        format!("the fleet store {store}"),
        rows,
        views,
    )?;
    reply.fleet = Some(FleetListing {
        store,
        nodes,
        stale: None,
    });
    Ok(reply)
}
