//! `certctl scan`: scan ad hoc targets or the whole config, record the results, print them.

use std::io::IsTerminal;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::inventory::print_views;
use super::{Cli, Exit, Format, Session};
use crate::inventory::target::{AdHoc, classify_arg};
use crate::model::Status;
use crate::ops::{Reply, Request, ScanRequest};
use crate::store::StoreError;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// host:port, [v6]:port, https:// URLs, files, directories or globs. Default: the config.
    pub targets: Vec<String>,
    /// SNI name to send (and check) for the endpoint targets given on the command line.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Do not record the results in the store.
    #[arg(long)]
    pub no_store: bool,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

/// A multi-threaded runtime for the scanner (handshakes are CPU-bound on both cores).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn run(cli: &Cli, s: &mut Session<'_>, args: &ScanArgs) -> anyhow::Result<Exit> {
    let request = ScanRequest {
        targets: args.targets.iter().map(|t| super::absolute(t)).collect(),
        server_name: args.server_name.clone(),
        record: !args.no_store,
    };
    let progress = ProgressBar::hidden();
    if s.tty && std::io::stderr().is_terminal() {
        // Shown once there are ten endpoints to count (files are read too fast to need it).
        let total = if request.targets.is_empty() {
            cli.load_config()?.endpoints.len()
        } else {
            request
                .targets
                .iter()
                .filter(|t| matches!(classify_arg(t), Ok(AdHoc::Endpoint(_))))
                .count()
        } as u64;
        if total >= 10 {
            progress.set_length(total);
            progress.set_style(
                ProgressStyle::with_template("{spinner} scanning {pos}/{len} {wide_bar} {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }
    let tick = progress.clone();
    let ops = cli.ops(Some(std::sync::Arc::new(move || tick.inc(1))));
    let reply = match ops.call(&Request::Scan(request.clone())) {
        Ok(Reply::Scan(reply)) => reply,
        Ok(_) => anyhow::bail!("the daemon answered `scan` with something else"),
        Err(e) if is_locked(&e) => {
            writeln!(
                s.err,
                "warning: {e}\nwarning: results are shown but not recorded"
            )?;
            let config = cli.load_config()?;
            let tick = progress.clone();
            runtime()?.block_on(crate::ops::scan::scan_unrecorded(
                &config,
                &request,
                Some(&move || tick.inc(1)),
            ))?
        }
        Err(e) => return Err(e),
    };
    progress.finish_and_clear();
    print_views(
        s,
        &reply.views,
        &[],
        args.output,
        reply.now,
        "no certificates found",
    )?;
    if args.output.is_table() {
        let views = &reply.views;
        let count = |s: Status| views.iter().filter(|v| v.status == s).count();
        writeln!(
            s.err,
            "scanned {} location{} in {:.1?}: {} critical, {} warning, {} ok{}",
            views.len(),
            if views.len() == 1 { "" } else { "s" },
            std::time::Duration::from_millis(reply.elapsed_ms),
            count(Status::Critical),
            count(Status::Warning),
            count(Status::Ok),
            match &reply.recorded_in {
                Some(store) => format!("; recorded in {store}"),
                None => String::new(),
            }
        )?;
    }
    if let Some(warning) = &reply.warning {
        writeln!(s.err, "{warning}")?;
    }
    // Alerts come after the results are printed, and after they are freed: evaluating alerts
    // reads the whole inventory again, and both at once would double the peak memory.
    let recorded = reply.recorded_in.is_some();
    drop(reply);
    if recorded {
        super::alerts::pass_after(&ops, s)?;
    }
    ops.close()?;
    Ok(Exit::Ok)
}

/// The store is held by another process (and no daemon answers for it).
fn is_locked(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Locked { .. })
    )
}
