//! `forget` and `check`: operations on the recorded inventory.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::model::{Finding, Severity, Status};
use crate::service;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetRequest {
    /// Location ids, targets or names; every one must match before anything is forgotten.
    pub queries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    pub id: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetReply {
    pub forgotten: Vec<Forgotten>,
    /// Alerting trouble after the change, or a fleet inventory not updated.
    pub warning: Option<String>,
}

/// Takes the matching locations out of the inventory (their history stays, their alerts
/// resolve), audited.
pub async fn forget(ctx: &Context, request: &ForgetRequest) -> Result<ForgetReply, OpsError> {
    let store = &ctx.store;
    let mut found = Vec::new();
    for query in &request.queries {
        let matches = service::find(store, query)?;
        if matches.is_empty() {
            return Err(OpsError::NoMatch(query.clone()));
        }
        found.extend(matches);
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|a, b| a.id == b.id);
    let now = crate::clock::now();
    let mut forgotten = Vec::with_capacity(found.len());
    for record in &found {
        service::forget(store, record, "forgotten by `certctl forget`", now)?;
        forgotten.push(Forgotten {
            id: record.id.clone(),
            target: record.location.target(),
        });
    }
    store.flush()?;
    crate::audit::record_inventory(store);
    let alerting = super::after::after_change(ctx).await;
    // Fleet mode: the forgotten locations leave the fleet's inventory too.
    let fleet = super::fleet::publish(ctx, &[]).await;
    let warning = match (alerting, fleet) {
        (Some(a), Some(f)) => Some(format!("{a}\n{f}")),
        (a, f) => a.or(f),
    };
    Ok(ForgetReply { forgotten, warning })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// Scan everything in the config first.
    pub scan: bool,
}

/// A finding worse than info, at a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub target: String,
    #[serde(flatten)]
    pub finding: Finding,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReply {
    /// The store judged (named when it holds nothing yet).
    pub store: String,
    /// Locations judged; 0 means nothing was ever scanned.
    pub locations: usize,
    pub critical: usize,
    pub warning: usize,
    pub ok: usize,
    /// Every warning and critical finding, location by location.
    pub problems: Vec<Problem>,
    /// Alerting trouble after a `--scan`.
    pub alert_warning: Option<String>,
}

/// Judges the inventory (after a scan of the config, if asked) for a monitoring check.
pub async fn check(ctx: &Context, request: &CheckRequest) -> Result<CheckReply, OpsError> {
    let config = &ctx.config;
    let mut alert_warning = None;
    if request.scan {
        super::scan::scan_config(ctx).await?;
        alert_warning = super::after::after_change(ctx).await;
    }
    let views = service::inventory(&ctx.store, &config.thresholds, crate::clock::now())?;
    let count = |s: Status| views.iter().filter(|v| v.status == s).count();
    let problems = views
        .iter()
        .filter(|v| v.status > Status::Ok)
        .flat_map(|v| {
            v.findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
                .map(|f| Problem {
                    target: v.record.location.target(),
                    finding: f.clone(),
                })
        })
        .collect();
    Ok(CheckReply {
        store: ctx.store.path().display().to_string(),
        locations: views.len(),
        critical: count(Status::Critical),
        warning: count(Status::Warning),
        ok: count(Status::Ok),
        problems,
        alert_warning,
    })
}
