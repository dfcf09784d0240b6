//! Rendering the inventory for people (tables) and programs (JSON, CSV).
//!
//! The JSON shape is a documented, stable interface (see README "JSON output"): fields may be
//! added, never renamed or removed. Colour is used only on a terminal and never with `NO_COLOR`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

pub use super::table::Layout;
use super::table::{self, Cells, Fields};
use crate::model::{Finding, Location, Severity, Status, UnixSeconds};
use crate::policy::{relative, rfc3339};
use crate::service::View;

/// Version of the JSON document shape.
pub const JSON_SCHEMA: u32 = 1;

#[derive(Serialize)]
pub struct JsonDocument<'a> {
    pub schema: u32,
    pub generated_at: String,
    pub locations: Vec<JsonLocation<'a>>,
    /// Managed certificates whose last issuance or renewal attempt failed.
    pub renewal_failures: Vec<JsonRenewalFailure<'a>>,
}

#[derive(Serialize)]
pub struct JsonRenewalFailure<'a> {
    pub name: &'a str,
    pub failures: u32,
    pub last_failure: Option<String>,
    pub error: Option<&'a str>,
    pub problem: Option<&'a crate::model::CaProblem>,
}

pub fn json_renewal_failure(state: &crate::model::ManagedState) -> JsonRenewalFailure<'_> {
    JsonRenewalFailure {
        name: &state.name,
        failures: state.failures,
        last_failure: state.last_failure.map(rfc3339),
        error: state.last_error.as_deref(),
        problem: state.last_problem.as_ref(),
    }
}

#[derive(Serialize)]
pub struct JsonLocation<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    pub target: String,
    pub server_name: Option<&'a str>,
    /// The STARTTLS protocol (`smtp`, `ldap`, ...) of an endpoint reached that way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<crate::model::Starttls>,
    pub name: Option<&'a str>,
    pub labels: BTreeMap<&'a str, &'a str>,
    pub status: Status,
    pub findings: &'a [Finding],
    pub certificate: Option<JsonCertificate<'a>>,
    pub tls: Option<&'a crate::model::TlsInfo>,
    pub last_scanned: String,
    pub consecutive_failures: u32,
    /// When the first certificate of the location's path expires (leaf or intermediate).
    pub expires_at: Option<String>,
    /// Whole days until then, rounded toward zero (as `LEFT` and "expired N days ago" say).
    pub days_left: Option<i64>,
    /// The other certificates of the path, as presented with the leaf.
    pub issuers: Vec<JsonIssuer<'a>>,
}

#[derive(Serialize)]
pub struct JsonIssuer<'a> {
    pub subject: &'a str,
    pub serial: &'a str,
    pub sha256: &'a str,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
}

#[derive(Serialize)]
pub struct JsonCertificate<'a> {
    pub subject: &'a str,
    pub issuer: &'a str,
    pub serial: &'a str,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub sans: &'a [String],
    pub sha256: &'a str,
    pub key: String,
    pub signature_algorithm: &'a str,
}

pub fn json_location(view: &View, now: UnixSeconds) -> JsonLocation<'_> {
    let r = &view.record;
    let (kind, server_name) = match &r.location {
        Location::Endpoint { server_name, .. } | Location::Starttls { server_name, .. } => {
            ("endpoint", server_name.as_deref())
        }
        Location::File { .. } => ("file", None),
    };
    JsonLocation {
        id: &r.id,
        kind,
        target: r.location.target(),
        server_name,
        protocol: r.location.starttls(),
        name: r.name.as_deref(),
        labels: r
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        status: view.status,
        findings: &view.findings,
        certificate: r.leaf.as_ref().map(|c| JsonCertificate {
            subject: &c.subject,
            issuer: &c.issuer,
            serial: &c.serial,
            not_before: rfc3339(c.not_before),
            not_after: rfc3339(c.not_after),
            days_left: c.days_left(now),
            sans: &c.sans,
            sha256: &c.sha256,
            key: c.key.to_string(),
            signature_algorithm: &c.signature_algorithm,
        }),
        tls: r.tls.as_ref(),
        last_scanned: rfc3339(r.last_scanned),
        consecutive_failures: r.consecutive_failures,
        expires_at: r.expires_at().map(rfc3339),
        days_left: r.expires_at().map(|at| crate::model::days_between(now, at)),
        issuers: r
            .issuers
            .iter()
            .map(|c| JsonIssuer {
                subject: &c.subject,
                serial: &c.serial,
                sha256: &c.sha256,
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                days_left: crate::model::days_between(now, c.not_after),
            })
            .collect(),
    }
}

pub fn write_json(
    out: &mut impl Write,
    views: &[View],
    failures: &[crate::model::ManagedState],
    now: UnixSeconds,
) -> std::io::Result<()> {
    let doc = JsonDocument {
        schema: JSON_SCHEMA,
        generated_at: rfc3339(now),
        locations: views.iter().map(|v| json_location(v, now)).collect(),
        renewal_failures: failures.iter().map(json_renewal_failure).collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

pub fn write_csv(out: &mut impl Write, views: &[View], now: UnixSeconds) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "target",
        "name",
        "status",
        "days_left",
        "not_after",
        "subject",
        "issuer",
        "serial",
        "sha256",
        "sans",
        "findings",
        "labels",
    ])?;
    for v in views {
        let r = &v.record;
        let leaf = r.leaf.as_ref();
        let codes: Vec<&str> = v.findings.iter().map(|f| f.code.as_str()).collect();
        w.write_record([
            r.id.as_str(),
            &r.location.target(),
            r.name.as_deref().unwrap_or(""),
            v.status.as_str(),
            &r.expires_at()
                .map(|at| crate::model::days_between(now, at).to_string())
                .unwrap_or_default(),
            &leaf.map(|c| rfc3339(c.not_after)).unwrap_or_default(),
            leaf.map_or("", |c| c.subject.as_str()),
            leaf.map_or("", |c| c.issuer.as_str()),
            leaf.map_or("", |c| c.serial.as_str()),
            leaf.map_or("", |c| c.sha256.as_str()),
            &leaf.map(|c| c.sans.join(";")).unwrap_or_default(),
            &codes.join(";"),
            &r.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
        ])?;
    }
    w.flush()
}

/// Whether to colour output: only on a terminal, and never with `NO_COLOR`.
pub fn use_colour(tty: bool) -> bool {
    tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Status colour for human output.
pub fn status_style(status: Status) -> Style {
    let colour = match status {
        Status::Ok => AnsiColor::Green,
        Status::Warning => AnsiColor::Yellow,
        Status::Critical => AnsiColor::Red,
    };
    colour.on_default()
}

/// Severity colour for human output.
pub fn severity_style(severity: Severity) -> Style {
    let colour = match severity {
        Severity::Info => AnsiColor::Blue,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Critical => AnsiColor::Red,
    };
    colour.on_default()
}

/// The inventory table from full records (`scan`, and `list` with filters on records).
pub fn write_table(
    out: &mut impl Write,
    views: &[View],
    now: UnixSeconds,
    layout: &Layout,
) -> std::io::Result<()> {
    let rows: Vec<(Status, Cells<'_>)> = views
        .iter()
        .map(|v| view_cells(v, now, !layout.wide))
        .collect();
    table::write(out, &rows, layout)
}

/// The table from listing rows (the fast path of `certctl list`).
pub fn write_row_table<'a>(
    out: &mut impl Write,
    views: &'a [crate::service::RowView],
    now: UnixSeconds,
    layout: &Layout,
) -> std::io::Result<()> {
    let cells = |v: &'a crate::service::RowView| -> (Status, Cells<'a>) {
        let r = &v.row;
        table::cells(
            Fields {
                status: v.status,
                id: &r.id,
                name: r.name.as_deref(),
                target: Cow::Borrowed(r.target.as_str()),
                subject: r.subject.as_deref(),
                expires: r.expires_at(),
                issuer: r.issuer.as_deref(),
                codes: v.codes.iter().map(|(c, s)| (c.as_str(), *s)),
                code_count: v.codes.len(),
                labels: &r.labels,
            },
            now,
            !layout.wide,
        )
    };
    // Laying out 100 000 rows is a third of a listing: build the cells on every core.
    let threads = if views.len() < 20_000 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    let rows: Vec<(Status, Cells<'a>)> = if threads == 1 {
        views.iter().map(cells).collect()
    } else {
        std::thread::scope(|scope| {
            let parts: Vec<_> = views
                .chunks(views.len().div_ceil(threads))
                .map(|chunk| scope.spawn(move || chunk.iter().map(cells).collect::<Vec<_>>()))
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    table::write(out, &rows, layout)
}

fn view_cells(v: &View, now: UnixSeconds, compact: bool) -> (Status, Cells<'_>) {
    let r = &v.record;
    let leaf = r.leaf.as_ref();
    table::cells(
        Fields {
            status: v.status,
            id: &r.id,
            name: r.name.as_deref(),
            target: Cow::Owned(r.location.target()),
            subject: leaf.map(|c| c.display_name()),
            expires: r.expires_at(),
            issuer: leaf.and_then(|c| c.issuer_cn.as_deref()),
            codes: v.findings.iter().map(|f| (f.code.as_str(), f.severity)),
            code_count: v.findings.len(),
            labels: &r.labels,
        },
        now,
        compact,
    )
}

/// "in 12 days" / "expired 3 days ago".
pub fn expires_in(not_after: UnixSeconds, now: UnixSeconds) -> String {
    let left = not_after - now;
    if left > 0 {
        relative(left)
    } else {
        format!("expired {}", relative(left))
    }
}
