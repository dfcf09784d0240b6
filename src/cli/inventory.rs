//! `certctl list`, `check` and `forget`: the stored inventory, judged (`show` is `show.rs`).

use std::io::Write;

use clap::Args;

use super::output::{self, use_colour};
use super::{Cli, Exit, Format, Session};
use crate::model::{FindingCode, Status};
use crate::ops::{self, CheckRequest, ForgetRequest, ListRequest, Reply, Request};
use crate::policy::relative;
use crate::service::View;

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
    let expires_within = args
        .expiring
        .as_deref()
        .map(crate::config::parse_duration)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--expiring: {e}"))?
        .map(|w| w.as_secs());
    let codes = args
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
    let request = Request::List(ListRequest {
        expires_within,
        min_status: args.status.map(|min| match min {
            StatusFilter::Warning => Status::Warning,
            StatusFilter::Critical => Status::Critical,
        }),
        codes,
        labels,
        sort: match args.sort {
            SortKey::Expiry => ops::SortKey::Expiry,
            SortKey::Status => ops::SortKey::Status,
            SortKey::Target => ops::SortKey::Target,
            SortKey::Name => ops::SortKey::Name,
            SortKey::Id => ops::SortKey::Id,
        },
        group_by_cert: args.group == Some(GroupBy::Cert),
        // The fast path for tables: compact listing rows, not whole records.
        full: !args.output.is_table(),
    });
    let Reply::List(reply) = cli.operate(request)? else {
        anyhow::bail!("the daemon answered `list` with something else");
    };
    let hint = if reply.empty_store {
        store_hint(&reply.store)
    } else {
        "no location matches these filters".to_string()
    };
    if args.output.is_table() {
        if reply.rows.is_empty() {
            writeln!(s.err, "{hint}")?;
        } else {
            let layout = table_layout(s, args.output, !args.no_headers);
            let mut out = std::io::BufWriter::new(&mut *s.out);
            output::write_row_table(&mut out, &reply.rows, reply.now, &layout)?;
            out.flush()?;
        }
        print_failing(s, &reply.failing, reply.now)?;
    } else {
        print_views(
            s,
            &reply.views,
            &reply.failing,
            args.output,
            reply.now,
            &hint,
        )?;
    }
    match &reply.fleet {
        Some(f) if f.stale.is_some() => writeln!(
            s.err,
            "warning: the fleet store {} cannot be read ({}); this is this node's own inventory, stale for the other nodes",
            f.store,
            f.stale.as_deref().unwrap_or_default()
        )?,
        Some(f) if args.output.is_table() && !reply.rows.is_empty() => writeln!(
            s.err,
            "fleet inventory from {}: {} node{}",
            f.store,
            f.nodes,
            if f.nodes == 1 { "" } else { "s" }
        )?,
        _ => {}
    }
    dispose(reply);
    Ok(Exit::Ok)
}

/// Gets rid of a large listing once it is printed: the process exits next, and freeing
/// 100 000 rows one by one would only delay that, so they are left to the exit.
fn dispose<T>(listing: T) {
    std::mem::forget(listing);
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

fn store_hint(store: &str) -> String {
    format!("no certificates in the inventory at {store}; run `certctl scan` first")
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

pub fn forget(cli: &Cli, s: &mut Session<'_>, args: &ForgetArgs) -> anyhow::Result<Exit> {
    let request = Request::Forget(ForgetRequest {
        queries: args.queries.iter().map(|q| super::absolute(q)).collect(),
    });
    let Reply::Forget(reply) = cli.operate(request)? else {
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
    let Reply::Check(reply) = cli.operate(request)? else {
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
