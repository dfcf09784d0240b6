//! `list` and `show`: the judged inventory, filtered, ordered and grouped here, so that every
//! surface (the CLI alone, the CLI through the daemon's socket) lists the same rows; the
//! surfaces only render them.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::model::{
    CertRecord, FindingCode, HistoryEntry, LocationRecord, ManagedState, Status, UnixSeconds,
};
use crate::service::{self, RowView, View};

/// `list --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Soonest expiry of any certificate in the path first (locations without one first).
    #[default]
    Expiry,
    /// Worst status first, then soonest expiry.
    Status,
    Target,
    Name,
    Id,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListRequest {
    /// Only certificates expiring within this many seconds (expired ones included).
    pub expires_within: Option<u64>,
    /// Only locations with this status or worse.
    pub min_status: Option<Status>,
    /// Only locations with one of these codes (none: no filter).
    pub codes: Vec<FindingCode>,
    /// Only locations with all of these labels.
    pub labels: Vec<(String, String)>,
    pub sort: SortKey,
    /// One row per certificate (by SHA-256), however many locations hold it. Rows only.
    pub group_by_cert: bool,
    /// Whole judged records (what JSON and CSV print) instead of listing rows (what tables
    /// print: a few small strings per location, so 100 000 of them list quickly).
    pub full: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListReply {
    /// The moment everything was judged at (and is to be rendered at).
    pub now: UnixSeconds,
    /// The store listed (named when it holds nothing yet).
    pub store: String,
    /// Whether the store holds any location at all (before filtering).
    pub empty_store: bool,
    /// Listing rows, unless the request asked for whole records.
    pub rows: Vec<RowView>,
    /// Whole judged records, if the request asked for them.
    pub views: Vec<View>,
    /// Managed certificates whose last issuance or renewal attempt failed.
    pub failing: Vec<ManagedState>,
    /// Through the socket, `rows` and `views` follow the reply line as a binary body of this
    /// format (see `ops::socket`), not as JSON: 100 000 rows are 25 MB of JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Fleet mode: where the fleet's inventory came from, or why this is the node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetListing>,
}

/// Where a fleet listing came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetListing {
    /// The fleet store, as `user@host:port/db`.
    pub store: String,
    /// How many nodes published the locations listed.
    pub nodes: usize,
    /// The store could not be read: the listing is this node's own store, and why.
    pub stale: Option<String>,
}

/// The stored inventory judged now, filtered and ordered as asked.
pub fn list(ctx: &Context, request: &ListRequest) -> Result<ListReply, OpsError> {
    let store = &ctx.store;
    let thresholds = &ctx.config.thresholds;
    let now = crate::clock::now();
    // Both come soonest expiry first (ties in id order), which the default sort keeps.
    let (rows, views) = match request.full {
        true => (Vec::new(), service::inventory(store, thresholds, now)?),
        false => (service::rows(store, thresholds, now)?, Vec::new()),
    };
    shape(
        ctx,
        request,
        now,
        store.path().display().to_string(),
        rows,
        views,
    )
}

/// A listing reply from judged `rows` or `views` (soonest expiry first, ties in id order):
/// filtered, ordered and grouped as asked, with the failing renewals.
pub(super) fn shape(
    ctx: &Context,
    request: &ListRequest,
    now: UnixSeconds,
    store: String,
    mut rows: Vec<RowView>,
    mut views: Vec<View>,
) -> Result<ListReply, OpsError> {
    let filter = Filter {
        expires_by: request
            .expires_within
            .map(|w| now.saturating_add(i64::try_from(w).unwrap_or(i64::MAX))),
        min_status: request.min_status,
        codes: &request.codes,
        labels: &request.labels,
    };
    let failing = ctx
        .store
        .all_managed()?
        .into_iter()
        .filter(|m| m.failures > 0)
        .collect();
    let empty_store = rows.is_empty() && views.is_empty();
    views.retain(|v| {
        filter.keeps(
            v.record.expires_at(),
            v.status,
            v.findings.iter().map(|f| f.code),
            &v.record.labels,
        )
    });
    sort_views(&mut views, request.sort);
    rows.retain(|v| {
        filter.keeps(
            v.row.expires_at(),
            v.status,
            v.codes.iter().map(|(c, _)| *c),
            &v.row.labels,
        )
    });
    sort_rows(&mut rows, request.sort);
    if request.group_by_cert {
        rows = group_by_cert(rows);
    }
    Ok(ListReply {
        now,
        store,
        empty_store,
        rows,
        views,
        failing,
        body: None,
        fleet: None,
    })
}

/// The `list` filters, applied the same way to listing rows and to full records.
struct Filter<'a> {
    /// Keep only certificates expiring by this time (expired ones included).
    expires_by: Option<i64>,
    min_status: Option<Status>,
    codes: &'a [FindingCode],
    labels: &'a [(String, String)],
}

impl Filter<'_> {
    fn keeps(
        &self,
        not_after: Option<i64>,
        status: Status,
        mut codes: impl Iterator<Item = FindingCode>,
        labels: &[(String, String)],
    ) -> bool {
        self.expires_by
            .is_none_or(|limit| not_after.is_some_and(|na| na <= limit))
            && self.min_status.is_none_or(|min| status >= min)
            && (self.codes.is_empty() || codes.any(|c| self.codes.contains(&c)))
            && self.labels.iter().all(|want| labels.contains(want))
    }
}

/// One row per certificate, at the position of its first row: the worst status of its
/// locations, and `TARGET (+N more)`. Rows without a certificate stay as they are.
fn group_by_cert(rows: Vec<RowView>) -> Vec<RowView> {
    let mut out: Vec<RowView> = Vec::with_capacity(rows.len());
    let mut first: std::collections::HashMap<u64, (usize, usize)> =
        std::collections::HashMap::new();
    for v in rows {
        let Some(cert) = v.row.cert_id else {
            out.push(v);
            continue;
        };
        match first.get_mut(&cert) {
            Some((at, more)) => {
                *more += 1;
                let kept = &mut out[*at];
                kept.status = kept.status.max(v.status);
                for code in v.codes {
                    if !kept.codes.contains(&code) {
                        kept.codes.push(code);
                    }
                }
            }
            None => {
                first.insert(cert, (out.len(), 0));
                out.push(v);
            }
        }
    }
    for (at, more) in first.into_values().filter(|(_, more)| *more > 0) {
        let row = &mut out[at];
        row.row.target = format!("{} (+{more} more)", row.row.target);
        row.codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    out
}

/// Rows arrive soonest expiry first; other orders are stable sorts on top of that.
fn sort_rows(rows: &mut [RowView], key: SortKey) {
    match key {
        SortKey::Expiry => {}
        SortKey::Status => rows.sort_by_key(|v| std::cmp::Reverse(v.status)),
        SortKey::Target => rows.sort_by(|a, b| a.row.target.cmp(&b.row.target)),
        SortKey::Name => rows.sort_by(|a, b| a.row.name.cmp(&b.row.name)),
        SortKey::Id => rows.sort_by(|a, b| a.row.id.cmp(&b.row.id)),
    }
}

fn sort_views(views: &mut [View], key: SortKey) {
    match key {
        SortKey::Expiry => {}
        SortKey::Status => views.sort_by_key(|v| std::cmp::Reverse(v.status)),
        SortKey::Target => views.sort_by_cached_key(|v| v.record.location.target()),
        SortKey::Name => views.sort_by(|a, b| a.record.name.cmp(&b.record.name)),
        SortKey::Id => views.sort_by(|a, b| a.record.id.cmp(&b.record.id)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowRequest {
    /// A location id (or a unique prefix of 4+ characters), name, or target.
    pub query: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShowReply {
    pub now: UnixSeconds,
    pub view: View,
    /// The path as presented (empty for a location recorded with its leaf only).
    pub chain: Vec<CertRecord>,
    pub history: Vec<HistoryEntry>,
    /// The renewal state, when the location is a configured managed certificate.
    pub renewal: Option<ManagedState>,
}

/// One location in full.
pub fn show(ctx: &Context, request: &ShowRequest) -> Result<ShowReply, OpsError> {
    let store = &ctx.store;
    let now = crate::clock::now();
    let record = one_match(service::find(store, &request.query)?, &request.query)?;
    let chain = store.chain(&record.id)?;
    let history = store.history(&record.id)?;
    let renewal = match &record.name {
        Some(name) if ctx.config.certificate(name).is_some() => Some(store.managed(name)?),
        _ => None,
    };
    Ok(ShowReply {
        now,
        view: View::of(record, &ctx.config.thresholds, now),
        chain,
        history,
        renewal,
    })
}

/// The single location a query names.
fn one_match(found: Vec<LocationRecord>, query: &str) -> Result<LocationRecord, OpsError> {
    if found.len() > 1 {
        return Err(OpsError::Ambiguous {
            query: query.to_string(),
            matches: found
                .iter()
                .map(|r| format!("{} {}", r.id, r.location.target()))
                .collect(),
        });
    }
    found
        .into_iter()
        .next()
        .ok_or_else(|| OpsError::NoMatch(query.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ListRow, Severity};

    fn row(id: &str, cert: Option<u64>, status: Status, not_after: i64) -> RowView {
        RowView {
            row: ListRow {
                id: id.into(),
                target: format!("{id}.example:443"),
                name: None,
                subject: None,
                issuer: None,
                validity: Some((0, not_after)),
                codes: Vec::new(),
                chain_validity: None,
                labels: vec![("team".into(), id.into())],
                cert_id: cert,
                anchor: false,
            },
            status,
            codes: match status {
                Status::Critical => vec![(FindingCode::Expired, Severity::Critical)],
                _ => Vec::new(),
            },
        }
    }

    #[test]
    fn grouping_keeps_the_first_row_with_the_worst_status() {
        let rows = vec![
            row("a", Some(1), Status::Ok, 10),
            row("b", None, Status::Ok, 20),
            row("c", Some(1), Status::Critical, 30),
        ];
        let grouped = group_by_cert(rows);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].row.target, "a.example:443 (+1 more)");
        assert_eq!(grouped[0].status, Status::Critical);
        assert_eq!(grouped[1].row.id, "b");
    }

    #[test]
    fn filters_combine_and_each_can_exclude() {
        let labels = vec![("team".to_string(), "a".to_string())];
        let codes = [FindingCode::Expired];
        let filter = Filter {
            expires_by: Some(15),
            min_status: Some(Status::Warning),
            codes: &codes,
            labels: &labels,
        };
        let keeps = |na, status, code: Option<FindingCode>, team: &str| {
            filter.keeps(
                na,
                status,
                code.into_iter(),
                &[("team".to_string(), team.to_string())],
            )
        };
        assert!(keeps(
            Some(10),
            Status::Critical,
            Some(FindingCode::Expired),
            "a"
        ));
        assert!(!keeps(
            Some(20),
            Status::Critical,
            Some(FindingCode::Expired),
            "a"
        ));
        assert!(!keeps(
            None,
            Status::Critical,
            Some(FindingCode::Expired),
            "a"
        ));
        assert!(!keeps(
            Some(10),
            Status::Ok,
            Some(FindingCode::Expired),
            "a"
        ));
        assert!(!keeps(Some(10), Status::Critical, None, "a"));
        assert!(!keeps(
            Some(10),
            Status::Critical,
            Some(FindingCode::Expired),
            "b"
        ));
    }

    #[test]
    fn a_query_matching_nothing_says_so() {
        let err = one_match(Vec::new(), "www").expect_err("none");
        assert!(
            err.to_string().contains("no location matches \"www\""),
            "{err}"
        );
    }
}
