//! Rendering the inventory for people (tables) and programs (JSON, CSV).
//!
//! The JSON shape is a documented, stable interface (see README "JSON output"): fields may be
//! added, never renamed or removed. Colour is used only on a terminal and never with `NO_COLOR`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

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
        Location::Endpoint { server_name, .. } => ("endpoint", server_name.as_deref()),
        Location::File { .. } => ("file", None),
    };
    JsonLocation {
        id: &r.id,
        kind,
        target: r.location.target(),
        server_name,
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
        ])?;
    }
    w.flush()
}

/// Whether to colour output: only on a terminal, and never with `NO_COLOR`.
pub fn use_colour(tty: bool) -> bool {
    tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn status_style(status: Status) -> Style {
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

const HEADER: [&str; 8] = [
    "STATUS", "ID", "TARGET", "SUBJECT", "EXPIRES", "LEFT", "ISSUER", "FINDINGS",
];

/// Writes the inventory table, soonest expiry first.
///
/// A plain aligned writer rather than a table crate: `certctl list` must stay interactive at
/// 100 000 rows, and general table layout engines spend most of a second there (measured with
/// comfy-table: 0.45 s of a 0.95 s listing).
pub fn write_table(
    out: &mut impl Write,
    views: &[View],
    now: UnixSeconds,
    colour: bool,
) -> std::io::Result<()> {
    let rows: Vec<(Status, Cells<'_>)> = views.iter().map(|v| (v.status, row(v, now))).collect();
    write_cells(out, &rows, colour)
}

/// The table from listing rows (the fast path of `certctl list`).
pub fn write_row_table<'a>(
    out: &mut impl Write,
    views: &'a [crate::service::RowView],
    now: UnixSeconds,
    colour: bool,
) -> std::io::Result<()> {
    let cells = |v: &'a crate::service::RowView| -> (Status, Cells<'a>) {
        let r = &v.row;
        let shown = |sev: Severity| sev > Severity::Info || v.codes.len() == 1;
        let target = match &r.name {
            Some(name) => Cow::Owned(format!("{} ({name})", r.target)),
            None => Cow::Borrowed(r.target.as_str()),
        };
        let cells = [
            Cow::Borrowed(v.status.as_str()),
            Cow::Borrowed(r.id.as_str()),
            target,
            clip(r.subject.as_deref().unwrap_or("-"), 48),
            r.expires_at()
                .map_or(Cow::Borrowed("-"), |at| Cow::Owned(date(at))),
            r.expires_at()
                .map_or(Cow::Borrowed("-"), |at| Cow::Owned(expires_in(at, now))),
            clip(r.issuer.as_deref().unwrap_or("-"), 32),
            codes(
                v.codes
                    .iter()
                    .filter(|(_, sev)| shown(*sev))
                    .map(|(c, _)| c.as_str()),
            ),
        ];
        (v.status, cells)
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
    write_cells(out, &rows, colour)
}

/// The eight cells of a table row; most borrow from the row they show.
type Cells<'a> = [Cow<'a, str>; 8];

/// The day part of an RFC 3339 timestamp.
fn date(at: UnixSeconds) -> String {
    let mut text = rfc3339(at);
    text.truncate(10);
    text
}

/// Finding codes joined by commas (no allocation for none or one).
fn codes<'a>(mut codes: impl Iterator<Item = &'a str>) -> Cow<'a, str> {
    match (codes.next(), codes.next()) {
        (None, _) => Cow::Borrowed(""),
        (Some(one), None) => Cow::Borrowed(one),
        (Some(a), Some(b)) => {
            let mut joined = format!("{a},{b}");
            for c in codes {
                joined.push(',');
                joined.push_str(c);
            }
            Cow::Owned(joined)
        }
    }
}

fn write_cells(
    out: &mut impl Write,
    rows: &[(Status, Cells<'_>)],
    colour: bool,
) -> std::io::Result<()> {
    let mut widths = HEADER.map(str::len);
    for (_, r) in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(cell));
        }
    }
    let write_row = |out: &mut dyn Write, cells: &[&str; 8], style: Option<Style>| {
        for (i, cell) in cells.iter().enumerate() {
            let last = i == cells.len() - 1;
            match (i, style) {
                (0, Some(style)) => write!(out, "{style}{cell}{style:#}")?,
                _ => out.write_all(cell.as_bytes())?,
            }
            if !last {
                pad(out, widths[i] - width(cell) + 2)?;
            }
        }
        out.write_all(b"\n")
    };
    write_row(out, &HEADER, None)?;
    for (status, r) in rows {
        let cells: [&str; 8] = std::array::from_fn(|i| r[i].as_ref());
        write_row(out, &cells, colour.then(|| status_style(*status)))?;
    }
    Ok(())
}

fn row(v: &View, now: UnixSeconds) -> Cells<'_> {
    let r = &v.record;
    let leaf = r.leaf.as_ref();
    let expires = r.expires_at();
    let shown = |sev: Severity| sev > Severity::Info || v.findings.len() == 1;
    let target = match &r.name {
        Some(name) => format!("{} ({name})", r.location.target()),
        None => r.location.target(),
    };
    [
        Cow::Borrowed(v.status.as_str()),
        Cow::Borrowed(r.id.as_str()),
        Cow::Owned(target),
        clip(leaf.map_or("-", |c| c.display_name()), 48),
        expires.map_or(Cow::Borrowed("-"), |at| Cow::Owned(date(at))),
        expires.map_or(Cow::Borrowed("-"), |at| Cow::Owned(expires_in(at, now))),
        clip(leaf.and_then(|c| c.issuer_cn.as_deref()).unwrap_or("-"), 32),
        codes(
            v.findings
                .iter()
                .filter(|f| shown(f.severity))
                .map(|f| f.code.as_str()),
        ),
    ]
}

/// Columns a cell takes (one per char; ASCII, the usual case, without decoding).
fn width(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Writes `n` spaces.
fn pad(out: &mut dyn Write, mut n: usize) -> std::io::Result<()> {
    const SPACES: &[u8; 64] = &[b' '; 64];
    while n > 0 {
        let k = n.min(SPACES.len());
        out.write_all(&SPACES[..k])?;
        n -= k;
    }
    Ok(())
}

/// Shortens long names for the table (JSON and CSV always carry them in full).
fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        Cow::Borrowed(text)
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        Cow::Owned(out)
    }
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
