//! `certctl scan`: scan ad hoc targets or the whole config, record the results, print them.

use std::io::IsTerminal;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::inventory::print_views;
use super::{Cli, Exit, Format, Session};
use crate::inventory::target::{AdHoc, classify_arg};
use crate::model::Status;
use crate::service;
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
    let config = cli.load_config(s)?;
    let scope = if args.targets.is_empty() {
        service::Scope::Config
    } else {
        service::Scope::AdHoc
    };
    let (endpoints, files) = if args.targets.is_empty() {
        if config.endpoints.is_empty() && config.inventory_files().is_empty() {
            anyhow::bail!(
                "nothing to scan: give targets (e.g. `certctl scan example.com:443 /etc/nginx/certs`) \
                 or a config with [[endpoint]] / [[files]] entries (--config)"
            );
        }
        (config.endpoints.clone(), config.inventory_files())
    } else {
        let mut endpoints = Vec::new();
        let mut files = Vec::new();
        for arg in &args.targets {
            match classify_arg(arg).map_err(|e| anyhow::anyhow!("target {arg}: {e}"))? {
                AdHoc::Endpoint(mut t) => {
                    if let Some(sni) = &args.server_name {
                        t.server_name = Some(sni.to_ascii_lowercase());
                    }
                    endpoints.push(t);
                }
                AdHoc::Files(f) => files.push(f),
            }
        }
        (endpoints, files)
    };

    let store = if args.no_store {
        None
    } else {
        match cli.open_store(s, &config) {
            Ok(store) => Some(store),
            Err(e @ StoreError::Locked { .. }) => {
                writeln!(
                    s.err,
                    "warning: {e}\nwarning: results are shown but not recorded"
                )?;
                None
            }
            Err(e) => return Err(e.into()),
        }
    };

    let total = endpoints.len() as u64;
    let progress = if total >= 10 && s.tty && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{spinner} scanning {pos}/{len} {wide_bar} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let rt = runtime()?;
    let views = rt.block_on(service::scan_and_record(
        &config,
        store.as_ref(),
        endpoints,
        files,
        scope,
        |scanned| {
            if scanned.observation.location.is_endpoint() {
                progress.inc(1);
            }
        },
    ))?;
    progress.finish_and_clear();
    let now = crate::clock::now();
    print_views(s, &views, &[], args.output, now, "no certificates found")?;
    if args.output.is_table() {
        let count = |s: Status| views.iter().filter(|v| v.status == s).count();
        writeln!(
            s.err,
            "scanned {} location{} in {:.1?}: {} critical, {} warning, {} ok{}",
            views.len(),
            if views.len() == 1 { "" } else { "s" },
            started.elapsed(),
            count(Status::Critical),
            count(Status::Warning),
            count(Status::Ok),
            match &store {
                Some(s) => format!("; recorded in {}", s.path().display()),
                None => String::new(),
            }
        )?;
    }
    // Alerts come after the results are printed, and after they are freed: evaluating alerts
    // reads the whole inventory again, and both at once would double the peak memory.
    drop(views);
    if let Some(store) = &store
        && let Some(warning) = rt.block_on(super::alerts::pass_quietly(&config, store))
    {
        writeln!(s.err, "{warning}")?;
    }
    Ok(Exit::Ok)
}
