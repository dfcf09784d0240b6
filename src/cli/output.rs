//! Rendering the inventory for people (tables) and programs (JSON, CSV).
//!
//! The JSON shape is a documented, stable interface (see README "JSON output"): fields may be
//! added, never renamed or removed. So the documents are made of types of their own, never of
//! model or storage types (which change with the code), and pinned by golden files
//! (`tests/fixtures/json/`). Colour is used only on a terminal and never with `NO_COLOR`.

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
    pub problem: Option<JsonProblem<'a>>,
}

/// An RFC 7807 problem document from a CA.
#[derive(Serialize)]
pub struct JsonProblem<'a> {
    pub kind: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub status: Option<u16>,
    pub subproblems: &'a [String],
}

fn json_problem(p: &crate::model::CaProblem) -> JsonProblem<'_> {
    JsonProblem {
        kind: p.kind.as_deref(),
        detail: p.detail.as_deref(),
        status: p.status,
        subproblems: &p.subproblems,
    }
}

pub fn json_renewal_failure(state: &crate::model::ManagedState) -> JsonRenewalFailure<'_> {
    JsonRenewalFailure {
        name: &state.name,
        failures: state.failures,
        last_failure: state.last_failure.map(rfc3339),
        error: state.last_error.as_deref(),
        problem: state.last_problem.as_ref().map(json_problem),
    }
}

#[derive(Serialize)]
pub struct JsonLocation<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    pub target: String,
    pub server_name: Option<&'a str>,
    /// In a fleet listing, the node that scanned it last (a file is that node's file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<&'a str>,
    /// The STARTTLS protocol (`smtp`, `ldap`, ...) of an endpoint reached that way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    pub name: Option<&'a str>,
    pub labels: BTreeMap<&'a str, &'a str>,
    pub status: &'static str,
    pub findings: Vec<JsonFinding<'a>>,
    pub certificate: Option<JsonCertificate<'a>>,
    pub tls: Option<JsonTls<'a>>,
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
pub struct JsonFinding<'a> {
    /// A finding code (README "Finding codes"): never renamed.
    pub code: &'static str,
    pub severity: &'static str,
    pub message: &'a str,
}

fn json_finding(f: &Finding) -> JsonFinding<'_> {
    JsonFinding {
        code: f.code.as_str(),
        severity: f.severity.as_str(),
        message: &f.message,
    }
}

#[derive(Serialize)]
pub struct JsonTls<'a> {
    pub version: &'a str,
    pub cipher: &'a str,
    pub handshake_ms: u32,
    pub peer: &'a str,
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
        node: view.node.as_deref(),
        protocol: r.location.starttls().map(crate::model::Starttls::scheme),
        name: r.name.as_deref(),
        labels: r
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        status: view.status.as_str(),
        findings: view.findings.iter().map(json_finding).collect(),
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
        tls: r.tls.as_ref().map(|t| JsonTls {
            version: &t.version,
            cipher: &t.cipher,
            handshake_ms: t.handshake_ms,
            peer: &t.peer,
        }),
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

/// `show -o json`: the location as `list` shows it, with its whole path, history and renewal
/// state.
pub fn write_show_json(
    out: &mut (impl Write + ?Sized),
    view: &View,
    chain: &[crate::model::CertRecord],
    history: &[crate::model::HistoryEntry],
    renewal: Option<&crate::model::ManagedState>,
    now: UnixSeconds,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Full<'a> {
        #[serde(flatten)]
        location: JsonLocation<'a>,
        chain: Vec<JsonChainCert<'a>>,
        history: Vec<JsonHistoryEntry<'a>>,
        renewal: Option<JsonRenewal<'a>>,
    }
    let full = Full {
        location: json_location(view, now),
        chain: chain.iter().map(json_chain_cert).collect(),
        history: history
            .iter()
            .map(|h| JsonHistoryEntry {
                at: h.at,
                sha256: h.sha256.as_deref(),
                serial: h.serial.as_deref(),
                not_after: h.not_after,
                codes: h.codes.iter().map(|c| c.as_str()).collect(),
            })
            .collect(),
        renewal: renewal.map(json_renewal),
    };
    serde_json::to_writer_pretty(&mut *out, &full)?;
    writeln!(out)
}

/// A certificate of `show`'s path, in full. Times are Unix seconds here (this document
/// predates the RFC 3339 strings of `list`; fields are never renamed).
#[derive(Serialize)]
pub struct JsonChainCert<'a> {
    pub subject: &'a str,
    pub subject_cn: Option<&'a str>,
    pub sans: &'a [String],
    pub issuer: &'a str,
    pub issuer_cn: Option<&'a str>,
    pub serial: &'a str,
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
    pub key: JsonKey<'a>,
    pub signature_algorithm: &'a str,
    pub sha256: &'a str,
    pub authority_key_id: Option<&'a str>,
    pub subject_key_id: Option<&'a str>,
    pub ocsp_urls: &'a [String],
    pub ca_issuer_urls: &'a [String],
    pub is_ca: bool,
    pub self_signed: bool,
}

#[derive(Serialize)]
pub struct JsonKey<'a> {
    pub algorithm: &'a str,
    pub bits: u32,
    pub curve: Option<&'a str>,
}

fn json_chain_cert(c: &crate::model::CertRecord) -> JsonChainCert<'_> {
    JsonChainCert {
        subject: &c.subject,
        subject_cn: c.subject_cn.as_deref(),
        sans: &c.sans,
        issuer: &c.issuer,
        issuer_cn: c.issuer_cn.as_deref(),
        serial: &c.serial,
        not_before: c.not_before,
        not_after: c.not_after,
        key: JsonKey {
            algorithm: &c.key.algorithm,
            bits: c.key.bits,
            curve: c.key.curve.as_deref(),
        },
        signature_algorithm: &c.signature_algorithm,
        sha256: &c.sha256,
        authority_key_id: c.authority_key_id.as_deref(),
        subject_key_id: c.subject_key_id.as_deref(),
        ocsp_urls: &c.ocsp_urls,
        ca_issuer_urls: &c.ca_issuer_urls,
        is_ca: c.is_ca,
        self_signed: c.self_signed,
    }
}

#[derive(Serialize)]
pub struct JsonHistoryEntry<'a> {
    pub at: UnixSeconds,
    pub sha256: Option<&'a str>,
    pub serial: Option<&'a str>,
    pub not_after: Option<UnixSeconds>,
    pub codes: Vec<&'static str>,
}

/// A managed certificate's renewal state, as `show` gives it.
#[derive(Serialize)]
pub struct JsonRenewal<'a> {
    pub name: &'a str,
    pub in_flight: Option<JsonInFlight<'a>>,
    pub failures: u32,
    pub last_failure: Option<UnixSeconds>,
    pub last_error: Option<&'a str>,
    pub last_problem: Option<JsonProblem<'a>>,
    pub last_success: Option<UnixSeconds>,
    pub last_serial: Option<&'a str>,
    pub ari: Option<JsonAri<'a>>,
    pub orders_placed: u64,
}

#[derive(Serialize)]
pub struct JsonInFlight<'a> {
    pub order_url: &'a str,
    pub version: &'a str,
    pub key_written: bool,
    pub started_at: UnixSeconds,
}

/// The CA's suggested renewal window (ARI).
#[derive(Serialize)]
pub struct JsonAri<'a> {
    pub serial: &'a str,
    pub start: UnixSeconds,
    pub end: UnixSeconds,
    pub next_check: UnixSeconds,
}

fn json_renewal(m: &crate::model::ManagedState) -> JsonRenewal<'_> {
    JsonRenewal {
        name: &m.name,
        in_flight: m.in_flight.as_ref().map(|f| JsonInFlight {
            order_url: &f.order_url,
            version: &f.version,
            key_written: f.key_written,
            started_at: f.started_at,
        }),
        failures: m.failures,
        last_failure: m.last_failure,
        last_error: m.last_error.as_deref(),
        last_problem: m.last_problem.as_ref().map(json_problem),
        last_success: m.last_success,
        last_serial: m.last_serial.as_deref(),
        ari: m.ari.as_ref().map(|a| JsonAri {
            serial: &a.serial,
            start: a.start,
            end: a.end,
            next_check: a.next_check,
        }),
        orders_placed: m.orders_placed,
    }
}

/// `issue`/`renew -o json`: what was decided for each certificate, and what came of it.
pub fn write_renew_json(
    out: &mut (impl Write + ?Sized),
    reports: &[crate::lifecycle::Report],
) -> std::io::Result<()> {
    let reports: Vec<JsonRenewReport<'_>> = reports.iter().map(json_renew_report).collect();
    serde_json::to_writer_pretty(&mut *out, &reports)?;
    writeln!(out)
}

#[derive(Serialize)]
pub struct JsonRenewReport<'a> {
    pub name: &'a str,
    #[serde(flatten)]
    pub decision: JsonDecision<'a>,
    /// Present when something was attempted.
    #[serde(flatten)]
    pub outcome: Option<JsonOutcome<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum JsonDecision<'a> {
    FirstIssue,
    Resume { order_url: &'a str },
    Due { reason: &'a str },
    Forced,
    RenewedMeanwhile { serial: &'a str },
    NotDue { at: UnixSeconds },
    BackingOff { until: UnixSeconds, failures: u32 },
}

#[derive(Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum JsonOutcome<'a> {
    Installed {
        serial: &'a str,
        not_after: UnixSeconds,
        version: &'a str,
        resumed: bool,
        deploy_errors: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        renewed_by: Option<&'a str>,
    },
    Failed {
        error: &'a str,
        retryable: bool,
        failures: u32,
    },
}

fn json_renew_report(r: &crate::lifecycle::Report) -> JsonRenewReport<'_> {
    use crate::lifecycle::{Decision, Outcome};
    JsonRenewReport {
        name: &r.name,
        decision: match &r.decision {
            Decision::FirstIssue => JsonDecision::FirstIssue,
            Decision::Resume { order_url } => JsonDecision::Resume { order_url },
            Decision::Due { reason } => JsonDecision::Due { reason },
            Decision::Forced => JsonDecision::Forced,
            Decision::RenewedMeanwhile { serial } => JsonDecision::RenewedMeanwhile { serial },
            Decision::NotDue { at } => JsonDecision::NotDue { at: *at },
            Decision::BackingOff { until, failures } => JsonDecision::BackingOff {
                until: *until,
                failures: *failures,
            },
        },
        outcome: r.outcome.as_ref().map(|o| match o {
            Outcome::Installed {
                serial,
                not_after,
                version,
                resumed,
                deploy_errors,
                renewed_by,
            } => JsonOutcome::Installed {
                serial,
                not_after: *not_after,
                version,
                resumed: *resumed,
                deploy_errors,
                renewed_by: renewed_by.as_deref(),
            },
            Outcome::Failed {
                error,
                retryable,
                failures,
            } => JsonOutcome::Failed {
                error,
                retryable: *retryable,
                failures: *failures,
            },
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AriState, CaProblem, ChainCert, FindingCode, HistoryEntry, InFlight, LocationRecord,
        ManagedState, TlsInfo,
    };

    /// A location with every field filled, judged at a fixed moment.
    fn sample() -> (
        View,
        Vec<crate::model::CertRecord>,
        Vec<HistoryEntry>,
        ManagedState,
    ) {
        let mut leaf = crate::model::tests::sample();
        leaf.not_before = 1_790_000_000;
        leaf.not_after = 1_800_500_000;
        leaf.subject_key_id = Some("bb".into());
        leaf.authority_key_id = Some("aa".into());
        leaf.ocsp_urls = vec!["http://ocsp.example.test".into()];
        let mut int = crate::model::tests::sample();
        int.subject = "CN=ca".into();
        int.is_ca = true;
        int.not_after = 1_900_000_000;
        let record = LocationRecord {
            id: "0123456789ab".into(),
            location: Location::Endpoint {
                host: "127.0.0.1".into(),
                port: 8443,
                server_name: Some("a".into()),
            },
            name: Some("web".into()),
            labels: vec![("team".into(), "pay".into())],
            first_seen: 1_790_000_000,
            last_scanned: 1_799_990_000,
            leaf_since: Some(1_790_000_000),
            leaf: Some(leaf.clone()),
            tls: Some(TlsInfo {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                handshake_ms: 3,
                peer: "127.0.0.1:8443".into(),
            }),
            findings: vec![Finding::new(
                FindingCode::HostnameMismatch,
                Severity::Critical,
                "the certificate does not name a",
            )],
            consecutive_failures: 0,
            issuers: vec![ChainCert::of(&int)],
            adhoc: false,
            trust_store: false,
        };
        let view = View::of(record, &crate::policy::Thresholds::default(), NOW);
        let history = vec![HistoryEntry {
            at: 1_790_000_000,
            sha256: Some("00".into()),
            serial: Some("01".into()),
            not_after: Some(1_800_500_000),
            codes: vec![FindingCode::HostnameMismatch],
        }];
        let renewal = ManagedState {
            name: "web".into(),
            in_flight: Some(InFlight {
                order_url: "https://ca.example.test/order/1".into(),
                version: "v2".into(),
                key_written: true,
                started_at: 1_799_000_000,
            }),
            failures: 2,
            last_failure: Some(1_799_500_000),
            last_error: Some("the CA refused".into()),
            last_problem: Some(CaProblem {
                kind: Some("urn:ietf:params:acme:error:rateLimited".into()),
                detail: Some("too many".into()),
                status: Some(429),
                subproblems: vec![],
            }),
            last_success: Some(1_790_000_000),
            last_serial: Some("01".into()),
            ari: Some(AriState {
                serial: "01".into(),
                start: 1_799_000_000,
                end: 1_799_900_000,
                next_check: 1_800_100_000,
            }),
            orders_placed: 3,
        };
        (view, vec![leaf, int], history, renewal)
    }

    const NOW: UnixSeconds = 1_800_000_000;

    /// Compares with a committed file (`UPDATE_GOLDEN=1` rewrites it, for a deliberate change:
    /// fields may be added, never renamed or removed).
    fn golden(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/json")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, text).expect("write golden");
        }
        let want = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 makes it)");
        assert_eq!(text, want, "{} changed", path.display());
    }

    #[test]
    fn the_json_documents_keep_their_shape() {
        let (view, chain, history, renewal) = sample();
        let mut list = Vec::new();
        write_json(
            &mut list,
            std::slice::from_ref(&view),
            std::slice::from_ref(&renewal),
            NOW,
        )
        .expect("list json");
        golden("list.json", &String::from_utf8(list).expect("utf8"));
        let mut show = Vec::new();
        write_show_json(&mut show, &view, &chain, &history, Some(&renewal), NOW)
            .expect("show json");
        golden("show.json", &String::from_utf8(show).expect("utf8"));
    }

    #[test]
    fn the_renewal_reports_keep_their_shape() {
        use crate::lifecycle::{Decision, Outcome, Report};
        let report = |name: &str, decision, outcome| Report {
            name: name.into(),
            decision,
            outcome,
        };
        let reports = [
            report(
                "first",
                Decision::FirstIssue,
                Some(Outcome::Installed {
                    serial: "0a".into(),
                    not_after: 1_807_776_000,
                    version: "v1".into(),
                    resumed: false,
                    deploy_errors: vec!["nginx: reload failed".into()],
                    renewed_by: None,
                }),
            ),
            report(
                "resumed",
                Decision::Resume {
                    order_url: "https://ca.example.test/order/7".into(),
                },
                Some(Outcome::Failed {
                    error: "the CA refused".into(),
                    retryable: true,
                    failures: 3,
                }),
            ),
            report(
                "due",
                Decision::Due {
                    reason: "ARI window".into(),
                },
                None,
            ),
            report("forced", Decision::Forced, None),
            report(
                "meanwhile",
                Decision::RenewedMeanwhile {
                    serial: "0b".into(),
                },
                None,
            ),
            report("later", Decision::NotDue { at: NOW + 86_400 }, None),
            report(
                "waiting",
                Decision::BackingOff {
                    until: NOW + 600,
                    failures: 2,
                },
                None,
            ),
        ];
        let mut out = Vec::new();
        write_renew_json(&mut out, &reports).expect("json");
        golden("renew.json", &String::from_utf8(out).expect("utf8"));
    }
}
