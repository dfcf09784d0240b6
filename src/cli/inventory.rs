//! `certctl list`, `show` and `check`: read and judge the stored inventory.

use std::io::Write;

use anyhow::Context;
use clap::Args;

use super::output::{self, expires_in, use_colour};
use super::{Cli, Exit, Format, Session};
use crate::model::{FindingCode, Status};
use crate::ops::{CheckRequest, ForgetRequest, Reply, Request};
use crate::policy::{relative, rfc3339};
use crate::service::{self, View};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only certificates that expire within this long (e.g. 30d), including expired ones.
    #[arg(long, value_name = "DURATION")]
    pub expiring: Option<String>,
    /// Only locations with this status or worse.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// Only locations with this finding code (repeatable: any of them).
    #[arg(long = "finding", value_name = "CODE")]
    pub findings: Vec<String>,
    /// Only locations with this label (repeatable: all of them), e.g. `--label team=pay`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t)]
    pub sort: SortKey,
    /// Leave out the table's header line.
    #[arg(long)]
    pub no_headers: bool,
    /// One table row per certificate however many places hold it (`cert`); JSON and CSV
    /// always list every location.
    #[arg(long, value_enum, value_name = "BY")]
    pub group: Option<GroupBy>,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

/// `list --group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    /// The same certificate (by SHA-256) at several locations is one row.
    Cert,
}

/// `list --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatusFilter {
    Warning,
    Critical,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Location id (or a unique prefix of 4+ characters), name, or target.
    pub query: String,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Location ids (or unique prefixes of 4+ characters), names, or targets.
    #[arg(required = true)]
    pub queries: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rescan everything in the config before judging.
    #[arg(long)]
    pub scan: bool,
    /// Print nothing; only the exit code tells.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn list(cli: &Cli, s: &mut Session<'_>, args: &ListArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config(s)?;
    let within = args
        .expiring
        .as_deref()
        .map(crate::config::parse_duration)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--expiring: {e}"))?;
    let wanted_codes = args
        .findings
        .iter()
        .map(|c| {
            FindingCode::ALL
                .into_iter()
                .find(|k| k.as_str() == c)
                .ok_or_else(|| anyhow::anyhow!("--finding: unknown code \"{c}\""))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = args
        .labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--label: \"{l}\" is not KEY=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = cli.open_store(s, &config)?;
    let now = crate::clock::now();
    let layout = table_layout(s, args.output, !args.no_headers);
    let filter = Filter {
        labels,
        expires_by: within.map(|w| now + w.as_secs() as i64),
        min_status: args.status.map(|min| match min {
            StatusFilter::Warning => Status::Warning,
            StatusFilter::Critical => Status::Critical,
        }),
        codes: wanted_codes,
    };
    let failing: Vec<_> = store
        .all_managed()?
        .into_iter()
        .filter(|m| m.failures > 0)
        .collect();
    if args.output.is_table() {
        // The fast path: compact listing rows, not whole records.
        let mut rows = service::rows(&store, &config.thresholds, now)?;
        rows.retain(|v| {
            filter.keeps(
                v.row.expires_at(),
                v.status,
                v.codes.iter().map(|(c, _)| *c),
                &v.row.labels,
            )
        });
        sort_rows(&mut rows, args.sort);
        if args.group == Some(GroupBy::Cert) {
            rows = group_by_cert(rows);
        }
        if rows.is_empty() {
            writeln!(s.err, "{}", store_hint(&store))?;
        } else {
            let mut out = std::io::BufWriter::new(&mut *s.out);
            output::write_row_table(&mut out, &rows, now, &layout)?;
            out.flush()?;
        }
        print_failing(s, &failing, now)?;
        dispose(s, rows);
        cli.close_store(s, store)?;
        return Ok(Exit::Ok);
    }
    let mut views = service::inventory(&store, &config.thresholds, now)?;
    views.retain(|v| {
        filter.keeps(
            v.record.expires_at(),
            v.status,
            v.findings.iter().map(|f| f.code),
            &v.record.labels,
        )
    });
    sort_views(&mut views, args.sort);
    print_views(s, &views, &failing, args.output, now, &store_hint(&store))?;
    dispose(s, views);
    Ok(Exit::Ok)
}

/// Gets rid of a large listing once it is printed. In a short-lived CLI the process exits next,
/// and freeing 100 000 rows one by one would only delay that, so they are left to the exit.
/// Inside the daemon, which lives on, they are freed, but off the reply's path.
fn dispose<T: Send + 'static>(s: &Session<'_>, listing: T) {
    if s.daemon.is_none() {
        std::mem::forget(listing);
    } else {
        crate::ops::free_in_background(listing);
    }
}

/// The `list` filters, applied the same way to listing rows and to full records.
struct Filter {
    /// Keep only certificates expiring by this time (expired ones included).
    expires_by: Option<i64>,
    min_status: Option<Status>,
    /// Keep only locations with one of these codes (none: no filter).
    codes: Vec<FindingCode>,
    /// Keep only locations with all of these labels.
    labels: Vec<(String, String)>,
}

impl Filter {
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
fn group_by_cert(rows: Vec<service::RowView>) -> Vec<service::RowView> {
    let mut out: Vec<service::RowView> = Vec::with_capacity(rows.len());
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
fn sort_rows(rows: &mut [service::RowView], key: SortKey) {
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

fn print_failing(
    s: &mut Session<'_>,
    failing: &[crate::model::ManagedState],
    now: i64,
) -> anyhow::Result<()> {
    for m in failing {
        writeln!(
            s.err,
            "renewal of {} is failing ({} attempt{}, last {}): {}",
            m.name,
            m.failures,
            if m.failures == 1 { "" } else { "s" },
            m.last_failure
                .map(|t| relative(t - now))
                .unwrap_or_default(),
            m.last_error.as_deref().unwrap_or("unknown error")
        )?;
    }
    Ok(())
}

fn store_hint(store: &crate::store::Store) -> String {
    format!(
        "no certificates in the inventory at {}; run `certctl scan` first",
        store.path().display()
    )
}

/// How this session's tables are laid out: its terminal's width and colour, `-o wide`.
fn table_layout(s: &Session<'_>, format: Format, headers: bool) -> output::Layout {
    output::Layout {
        width: s.width,
        wide: format == Format::Wide,
        headers,
        colour: use_colour(s.tty),
    }
}

/// Prints views in the chosen format (shared with `scan`).
pub fn print_views(
    s: &mut Session<'_>,
    views: &[View],
    failing: &[crate::model::ManagedState],
    format: Format,
    now: i64,
    empty: &str,
) -> anyhow::Result<()> {
    if format.is_table() && views.is_empty() {
        writeln!(s.err, "{empty}")?;
        return Ok(());
    }
    let layout = table_layout(s, format, true);
    let mut out = std::io::BufWriter::new(&mut *s.out);
    match format {
        Format::Json => output::write_json(&mut out, views, failing, now)?,
        Format::Csv => output::write_csv(&mut out, views, now)?,
        Format::Table | Format::Wide => output::write_table(&mut out, views, now, &layout)?,
    }
    out.flush()?;
    Ok(())
}

pub fn show(cli: &Cli, s: &mut Session<'_>, args: &ShowArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config(s)?;
    let store = cli.open_store(s, &config)?;
    let now = crate::clock::now();
    let found = service::find(&store, &args.query)?;
    let record = match found.len() {
        0 => anyhow::bail!(
            "no location matches \"{}\" (try an id from `certctl list`)",
            args.query
        ),
        1 => found.into_iter().next().context("one match")?,
        n => {
            let ids: Vec<String> = found
                .iter()
                .map(|r| format!("{} {}", r.id, r.location.target()))
                .collect();
            anyhow::bail!(
                "\"{}\" matches {n} locations; use an id:\n  {}",
                args.query,
                ids.join("\n  ")
            )
        }
    };
    let chain = store.chain(&record.id)?;
    let history = store.history(&record.id)?;
    let managed = match &record.name {
        Some(name) if config.certificate(name).is_some() => Some(store.managed(name)?),
        _ => None,
    };
    let view = View::of(record, &config.thresholds, now);
    let out = &mut *s.out;
    if !args.output.is_table() {
        #[derive(serde::Serialize)]
        struct Full<'a> {
            #[serde(flatten)]
            location: output::JsonLocation<'a>,
            chain: &'a [crate::model::CertRecord],
            history: &'a [crate::model::HistoryEntry],
            renewal: Option<&'a crate::model::ManagedState>,
        }
        let full = Full {
            location: output::json_location(&view, now),
            chain: &chain,
            history: &history,
            renewal: managed.as_ref(),
        };
        serde_json::to_writer_pretty(&mut *out, &full)?;
        writeln!(out)?;
        return Ok(Exit::Ok);
    }
    let r = &view.record;
    writeln!(out, "{}  {}", r.id, r.location.target())?;
    if let Some(name) = &r.name {
        writeln!(out, "  name:          {name}")?;
    }
    for (k, v) in &r.labels {
        writeln!(out, "  label:         {k}={v}")?;
    }
    writeln!(out, "  status:        {}", view.status)?;
    writeln!(
        out,
        "  last scanned:  {} ({})",
        rfc3339(r.last_scanned),
        relative(r.last_scanned - now)
    )?;
    if let Some(tls) = &r.tls {
        writeln!(
            out,
            "  tls:           {} {} via {} ({} ms handshake)",
            tls.version, tls.cipher, tls.peer, tls.handshake_ms
        )?;
    }
    if let Some(m) = &managed {
        let last_ok = m
            .last_success
            .map(|t| format!("last renewed {}", relative(t - now)))
            .unwrap_or_else(|| "never renewed by this store".into());
        writeln!(out, "  renewal:       managed by certctl, {last_ok}")?;
        if m.failures > 0 {
            writeln!(
                out,
                "  renewal error: {} failure{} in a row: {}",
                m.failures,
                if m.failures == 1 { "" } else { "s" },
                m.last_error.as_deref().unwrap_or("unknown")
            )?;
        }
        if let Some(f) = &m.in_flight {
            writeln!(out, "  in flight:     order {}", f.order_url)?;
        }
        let leaf_serial = r.leaf.as_ref().map(|l| l.serial.as_str());
        if let Some(a) = m
            .ari
            .as_ref()
            .filter(|a| Some(a.serial.as_str()) == leaf_serial)
        {
            writeln!(
                out,
                "  ari window:    {} to {} (the CA's suggestion; asked again {})",
                rfc3339(a.start),
                rfc3339(a.end),
                relative(a.next_check - now)
            )?;
        }
    }
    if view.findings.is_empty() {
        writeln!(out, "  findings:      none")?;
    } else {
        writeln!(out, "  findings:")?;
        for f in &view.findings {
            writeln!(out, "    {:<8} {:<18} {}", f.severity, f.code, f.message)?;
        }
    }
    let certs = if chain.is_empty() {
        r.leaf.iter().cloned().collect()
    } else {
        chain
    };
    for (i, c) in certs.iter().enumerate() {
        let role = match (i, c.is_ca, c.self_signed) {
            (0, false, _) => "leaf",
            (_, _, true) => "root",
            (_, true, _) => "intermediate",
            _ => "certificate",
        };
        writeln!(out, "  [{i}] {role}")?;
        writeln!(out, "      subject:     {}", c.subject)?;
        writeln!(out, "      issuer:      {}", c.issuer)?;
        if !c.sans.is_empty() {
            writeln!(out, "      sans:        {}", c.sans.join(", "))?;
        }
        writeln!(out, "      serial:      {}", c.serial)?;
        writeln!(out, "      not before:  {}", rfc3339(c.not_before))?;
        writeln!(
            out,
            "      not after:   {} ({})",
            rfc3339(c.not_after),
            expires_in(c.not_after, now)
        )?;
        writeln!(out, "      key:         {}", c.key)?;
        writeln!(out, "      signature:   {}", c.signature_algorithm)?;
        writeln!(out, "      sha256:      {}", c.sha256)?;
        if let Some(ski) = &c.subject_key_id {
            writeln!(out, "      subject key: {ski}")?;
        }
        if let Some(aki) = &c.authority_key_id {
            writeln!(out, "      issuer key:  {aki}")?;
        }
        for url in &c.ocsp_urls {
            writeln!(out, "      ocsp:        {url}")?;
        }
        for url in &c.ca_issuer_urls {
            writeln!(out, "      ca issuers:  {url}")?;
        }
    }
    if !history.is_empty() {
        writeln!(out, "  history:")?;
        for h in history.iter().rev().take(20) {
            let codes: Vec<&str> = h.codes.iter().map(|c| c.as_str()).collect();
            writeln!(
                out,
                "    {}  serial {}  {}",
                rfc3339(h.at),
                h.serial.as_deref().unwrap_or("-"),
                if codes.is_empty() {
                    "ok".to_string()
                } else {
                    codes.join(",")
                }
            )?;
        }
    }
    Ok(Exit::Ok)
}

pub fn forget(cli: &Cli, s: &mut Session<'_>, args: &ForgetArgs) -> anyhow::Result<Exit> {
    let request = Request::Forget(ForgetRequest {
        queries: args.queries.clone(),
    });
    let Reply::Forget(reply) = cli.operate(s, request)? else {
        anyhow::bail!("the daemon answered `forget` with something else");
    };
    for f in &reply.forgotten {
        writeln!(s.out, "forgot {}  {}", f.id, f.target)?;
    }
    if let Some(warning) = &reply.warning {
        writeln!(s.err, "{warning}")?;
    }
    Ok(Exit::Ok)
}

pub fn check(cli: &Cli, s: &mut Session<'_>, args: &CheckArgs) -> anyhow::Result<Exit> {
    let request = Request::Check(CheckRequest { scan: args.scan });
    let Reply::Check(reply) = cli.operate(s, request)? else {
        anyhow::bail!("the daemon answered `check` with something else");
    };
    if let Some(warning) = &reply.alert_warning {
        writeln!(s.err, "{warning}")?;
    }
    if reply.locations == 0 {
        // Nagios convention: nothing was ever scanned, so nothing is known to be fine.
        if !args.quiet {
            writeln!(
                s.out,
                "CERTCTL UNKNOWN - nothing has been scanned into {} yet (run `certctl scan` or `certctl check --scan`)",
                reply.store
            )?;
        }
        return Ok(Exit::Error);
    }
    let exit = if reply.critical > 0 {
        Exit::Critical
    } else if reply.warning > 0 {
        Exit::Warning
    } else {
        Exit::Ok
    };
    if !args.quiet {
        let word = match exit {
            Exit::Critical => "CRITICAL",
            Exit::Warning => "WARNING",
            _ => "OK",
        };
        writeln!(
            s.out,
            "CERTCTL {word} - {} critical, {} warning, {} ok",
            reply.critical, reply.warning, reply.ok
        )?;
        for p in &reply.problems {
            writeln!(
                s.out,
                "{:<8} {} {}: {}",
                p.finding.severity, p.target, p.finding.code, p.finding.message
            )?;
        }
    }
    Ok(exit)
}
