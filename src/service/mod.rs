//! The operations every surface shares: scan-and-record, and the judged view of the inventory.
//!
//! The CLI calls these directly; the daemon will call the same functions on its schedules, so a
//! certificate is judged identically whichever way the user asks.

pub mod discover;

use crate::config::Config;
use crate::inventory::target::{FileTarget, Target};
use crate::inventory::{Scanned, Scanner, fold};
use crate::model::{Finding, LocationRecord, Status, UnixSeconds};
use crate::policy::{self, Thresholds};
use crate::store::{Store, StoreError};

/// A stored record judged at a moment: all findings, including the time-based ones.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct View {
    pub record: LocationRecord,
    pub findings: Vec<Finding>,
    pub status: Status,
    /// In a fleet listing, the node that scanned it (a file is that node's file).
    #[serde(default)]
    pub node: Option<String>,
}

impl View {
    pub fn of(mut record: LocationRecord, thresholds: &Thresholds, now: UnixSeconds) -> View {
        let stored = std::mem::take(&mut record.findings);
        let findings = policy::all_findings(
            stored,
            record.leaf.as_ref(),
            &record.issuers,
            record.is_stored_anchor(),
            thresholds,
            now,
        );
        let status = Status::from_findings(&findings);
        View {
            record,
            findings,
            status,
            node: None,
        }
    }

    /// Sort key: locations without a certificate first (they need a look), then soonest expiry
    /// of any certificate in the path.
    pub fn expiry_key(&self) -> (i64, &str) {
        (
            self.record.expires_at().unwrap_or(i64::MIN),
            &self.record.id,
        )
    }
}

/// Errors that stop a scan before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The trust store could not be built.
    #[error(transparent)]
    Trust(#[from] crate::inventory::trust::TrustError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A discovery range could not be used (it does not resolve, or is larger than the bound).
    #[error(transparent)]
    Range(#[from] crate::inventory::discover::RangeError),
}

/// What a scan covers, which decides what happens to the locations it does not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the config: stored config locations it does not find are retired (the
    /// endpoint was removed from the config, the file deleted from its directory).
    Config,
    /// Some of the config's targets (e.g. the files of a certificate just issued).
    Part,
    /// Targets named on the command line: new locations are ad hoc, kept until forgotten.
    AdHoc,
    /// Open ports found by a discovery sweep: recorded like ad hoc targets, but only those that
    /// presented a certificate (or are already known), since a port that does not speak TLS is
    /// not a certificate; and with no name to check, `hostname_mismatch` is not raised.
    Discovery,
    /// Files and listeners named by this machine's server configuration (`discover --local`):
    /// recorded like ad hoc targets, all of them (a named file that is missing is a finding),
    /// with names checked where the configuration gives one.
    Local,
}

/// Scans the targets, records every result in `store` (if given), and returns the judged views
/// of what was scanned. `on_result` is told about each result as it lands (for progress bars).
/// After a [`Scope::Config`] scan, the stored config locations it did not find are retired.
pub async fn scan_and_record(
    config: &Config,
    store: Option<&Store>,
    endpoints: Vec<Target>,
    files: Vec<FileTarget>,
    scope: Scope,
    on_result: impl FnMut(&Scanned),
) -> Result<Vec<View>, ServiceError> {
    let scanned =
        scan_and_record_deferring(config, store, endpoints, files, scope, on_result, |_| false);
    Ok(scanned.await?.0)
}

/// [`scan_and_record`], except that the results `defer` picks are neither recorded nor judged:
/// their locations come back apart, for another look (fleet mode's second vantage for an
/// endpoint this node could not reach).
pub async fn scan_and_record_deferring(
    config: &Config,
    store: Option<&Store>,
    endpoints: Vec<Target>,
    files: Vec<FileTarget>,
    scope: Scope,
    mut on_result: impl FnMut(&Scanned),
    defer: impl Fn(&Scanned) -> bool,
) -> Result<(Vec<View>, Vec<crate::model::Location>), ServiceError> {
    let answers = store.map(|s| {
        std::sync::Arc::new(s.clone()) as std::sync::Arc<dyn crate::inventory::AnswerCache>
    });
    let scanner = Scanner::new(&config.scan, !endpoints.is_empty(), answers)?;
    let installed = installed_for_endpoints(config);
    let mut views = Vec::new();
    let mut deferred = Vec::new();
    let mut store_error: Option<StoreError> = None;
    scanner
        .scan(endpoints, files, |scanned| {
            on_result(&scanned);
            if defer(&scanned) {
                deferred.push(scanned.observation.location);
                return;
            }
            let id = scanned.observation.location.id();
            let mut findings = policy::scan_findings(&scanned.observation, &config.policy);
            // A swept address, or a local listener whose configuration gives no name, has no
            // name to check: the address itself is not what clients ask for.
            let nameless = match &scanned.observation.location {
                crate::model::Location::Endpoint { server_name, .. }
                | crate::model::Location::Starttls { server_name, .. } => server_name.is_none(),
                crate::model::Location::File { .. } => true,
            };
            if scope == Scope::Discovery || (scope == Scope::Local && nameless) {
                findings.retain(|f| f.code != crate::model::FindingCode::HostnameMismatch);
            }
            if let crate::model::Outcome::Presented { chain, .. } = &scanned.observation.outcome
                && let Some(served) = chain.first()
                && let Some((name, leaf)) = installed.get(&scanned.observation.location)
                && let Some(stale) = policy::stale_served(served, leaf, name)
            {
                findings.push(stale);
            }
            // The previous record is read and the new one written as one unit, so a scan
            // running at the same time (the daemon's, and one through its socket) cannot put
            // back a record older than the one this fold read.
            let build = |prev: Option<&crate::model::LocationRecord>| {
                let adhoc = match scope {
                    Scope::Config => false,
                    Scope::Part => prev.is_some_and(|p| p.adhoc),
                    Scope::AdHoc | Scope::Discovery | Scope::Local => prev.is_none_or(|p| p.adhoc),
                };
                let keep = scope != Scope::Discovery
                    || prev.is_some()
                    || matches!(
                        scanned.observation.outcome,
                        crate::model::Outcome::Presented { .. }
                    );
                (fold(prev, scanned, findings, adhoc), keep)
            };
            let folded = match store {
                Some(s) if store_error.is_none() => match s.update_location(&id, build) {
                    Ok(folded) => folded,
                    Err(e) => {
                        store_error = Some(e);
                        return;
                    }
                },
                _ => build(None).0,
            };
            views.push(View::of(
                folded.record,
                &config.thresholds,
                crate::clock::now(),
            ));
        })
        .await;
    if let Some(e) = store_error {
        return Err(e.into());
    }
    if let Some(s) = store {
        if scope == Scope::Config {
            let seen: std::collections::HashSet<&str> =
                views.iter().map(|v| v.record.id.as_str()).collect();
            settle_config_scan(s, &seen)?;
        }
        s.flush()?;
        crate::audit::record_inventory(s);
    }
    views.sort_by(|a, b| a.expiry_key().cmp(&b.expiry_key()));
    Ok((views, deferred))
}

/// What ends a scan of the whole config (`seen`: the ids it found, whoever scanned them):
/// the stored config locations it did not find are retired, and revocation answers no
/// certificate will ask for again go. Not yet flushed.
pub fn settle_config_scan(
    store: &Store,
    seen: &std::collections::HashSet<&str>,
) -> Result<(), StoreError> {
    let gone = retire_unseen(store, seen)?;
    if gone > 0 {
        tracing::info!("retired {gone} location(s) no longer in the config");
    }
    let swept = store.sweep_answers(crate::clock::now())?;
    if swept > 0 {
        tracing::debug!("dropped {swept} expired revocation answer(s)");
    }
    Ok(())
}

/// Takes in a record another node made of a location (fleet mode: it scanned it this run),
/// unless this store's is as recent; whether it did. Not yet flushed.
pub fn adopt(store: &Store, record: LocationRecord) -> Result<bool, StoreError> {
    let id = record.id.clone();
    let mut taken = false;
    store.update_location(&id, |prev| {
        taken = prev.is_none_or(|p| p.last_scanned < record.last_scanned);
        (crate::inventory::adopt(prev, record), taken)
    })?;
    Ok(taken)
}

/// Retires every stored config location (not ad hoc) that a config-wide scan did not find.
fn retire_unseen(
    store: &Store,
    seen: &std::collections::HashSet<&str>,
) -> Result<usize, StoreError> {
    let now = crate::clock::now();
    let mut gone = 0;
    for row in store.rows()? {
        if seen.contains(row.id.as_str()) {
            continue;
        }
        // Ad hoc locations stay until forgotten; the check and the removal are one unit.
        let retired = store.retire_if(&row.id, |record| {
            (!record.adhoc).then(|| {
                retirement(
                    record,
                    "no longer in the config (not found by a scan of the whole config)",
                    now,
                )
            })
        })?;
        gone += usize::from(retired);
    }
    Ok(gone)
}

/// Takes a location out of the inventory (not yet flushed): its alerts resolve at the next
/// evaluation, its history stays, and the audit log says why.
pub fn forget(
    store: &Store,
    record: &LocationRecord,
    reason: &str,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    store.retire(&retirement(record, reason, now))
}

/// The inventory event saying that `record` left the inventory, and why.
fn retirement(
    record: &LocationRecord,
    reason: &str,
    now: UnixSeconds,
) -> crate::model::InventoryEvent {
    crate::model::InventoryEvent {
        at: now,
        location_id: record.id.clone(),
        target: record.location.target(),
        kind: crate::model::EventKind::Retired {
            reason: reason.to_string(),
        },
    }
}

/// The installed certificate of every managed certificate, by the endpoints its deploy targets
/// verify (for `stale_served`).
fn installed_for_endpoints(
    config: &Config,
) -> std::collections::HashMap<crate::model::Location, (String, crate::model::CertRecord)> {
    let mut out = std::collections::HashMap::new();
    for cert in &config.certificates {
        let Some((leaf, _)) = crate::lifecycle::current_leaf(cert) else {
            continue;
        };
        for target in cert.deploy.iter().flat_map(|d| d.verify.iter()) {
            out.insert(target.location(), (cert.name.clone(), leaf.clone()));
        }
    }
    out
}

/// Every stored location, judged at `now`, soonest expiry first.
pub fn inventory(
    store: &Store,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Result<Vec<View>, StoreError> {
    let records = store.locations()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = records.len().div_ceil(threads).max(1);
    let mut views: Vec<View> = Vec::with_capacity(records.len());
    let mut records = records.into_iter();
    let chunks: Vec<Vec<LocationRecord>> = std::iter::from_fn(|| {
        let part: Vec<_> = records.by_ref().take(chunk).collect();
        (!part.is_empty()).then_some(part)
    })
    .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|r| View::of(r, thresholds, now))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            views.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
    });
    views.sort_unstable_by(|a, b| a.expiry_key().cmp(&b.expiry_key()));
    Ok(views)
}

/// The installed files of managed certificates (what `issue`/`renew` add to the inventory).
pub fn managed_files(config: &Config) -> Vec<FileTarget> {
    let configured = config.files.len();
    config.inventory_files().split_off(configured)
}

/// A listing row judged at a moment: its status and every finding code.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RowView {
    pub row: crate::model::ListRow,
    pub status: Status,
    pub codes: Vec<(crate::model::FindingCode, crate::model::Severity)>,
}

impl RowView {
    pub fn of(
        mut row: crate::model::ListRow,
        thresholds: &Thresholds,
        now: UnixSeconds,
    ) -> RowView {
        let mut codes = std::mem::take(&mut row.codes);
        codes.extend(policy::row_time_codes(
            row.validity,
            row.chain_validity,
            thresholds,
            now,
        ));
        if row.anchor {
            policy::codes_as_anchor(&mut codes);
        }
        codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let status = match codes.iter().map(|c| c.1).max() {
            Some(crate::model::Severity::Critical) => Status::Critical,
            Some(crate::model::Severity::Warning) => Status::Warning,
            _ => Status::Ok,
        };
        RowView { row, status, codes }
    }
}

/// The listing rows, judged at `now`, soonest expiry first (what the `list` table shows).
pub fn rows(
    store: &Store,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Result<Vec<RowView>, StoreError> {
    let mut views: Vec<RowView> = store
        .rows()?
        .into_iter()
        .map(|r| RowView::of(r, thresholds, now))
        .collect();
    // The store hands rows over in id order, so a stable sort on expiry alone gives (expiry, id)
    // without comparing 100 000 ids when many certificates expire together.
    debug_assert!(views.windows(2).all(|w| w[0].row.id <= w[1].row.id));
    views.sort_by_key(|v| v.row.expires_at().unwrap_or(i64::MIN));
    Ok(views)
}

/// Finds stored locations by id (or unique id prefix), name, or target.
pub fn find(store: &Store, query: &str) -> Result<Vec<LocationRecord>, StoreError> {
    if let Some(exact) = store.location(query)? {
        return Ok(vec![exact]);
    }
    let all = store.locations()?;
    let by_name: Vec<_> = all
        .iter()
        .filter(|r| r.name.as_deref() == Some(query) || r.location.target() == query)
        .cloned()
        .collect();
    if !by_name.is_empty() {
        return Ok(by_name);
    }
    Ok(all
        .into_iter()
        .filter(|r| query.len() >= 4 && r.id.starts_with(query))
        .collect())
}
