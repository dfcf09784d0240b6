//! The `certctl` command line: clap definitions and dispatch. Each subcommand is a thin wrapper
//! over the same [`crate::service`] functions that the daemon uses.

mod acme;
mod alerts;
mod inventory;
pub mod output;
mod scan;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::store::{Store, StoreError};

/// Process exit codes. Documented in the README; scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `check`, nothing worse than info.
    Ok = 0,
    /// `check`: at least one warning, nothing critical.
    Warning = 1,
    /// `check`: at least one critical finding; `issue`/`renew`: a certificate failed.
    Critical = 2,
    /// certctl itself could not do its job: bad config, store unavailable, bad arguments.
    Error = 3,
}

/// Certificate lifecycle manager: inventory, expiry warnings, ACME renewal, hot reload.
#[derive(Debug, Parser)]
#[command(name = "certctl", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $CERTCTL_CONFIG, else /etc/certctl/certctl.toml if it exists]
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store directory, overriding `[store] path`.
    #[arg(long, global = true, value_name = "DIR", env = "CERTCTL_STORE")]
    pub store: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan endpoints and files now and record what they present.
    ///
    /// With TARGETS (host:port, [v6]:port, https:// URLs, files, directories, globs) only those
    /// are scanned; otherwise everything in the config is.
    Scan(scan::ScanArgs),
    /// The stored inventory, soonest expiry first.
    List(inventory::ListArgs),
    /// One location in full: certificate, chain, findings and history.
    Show(inventory::ShowArgs),
    /// Exit 0 ok / 1 warning / 2 critical over the inventory, for cron and Nagios.
    Check(inventory::CheckArgs),
    /// Obtain a managed certificate now (the first time, or again).
    Issue(acme::IssueArgs),
    /// Renew managed certificates that are due (--force: regardless; --dry-run: show the plan).
    Renew(acme::RenewArgs),
    /// ACME accounts and their CAs.
    Accounts(acme::AccountsArgs),
    /// Revoke the current certificate of a managed certificate.
    Revoke(acme::RevokeArgs),
    /// Webhook alerts: test, list, retry, enable, deliver.
    Alerts(alerts::AlertsArgs),
}

/// Output formats shared by the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Scan(args) => scan::run(&cli, args),
        Command::List(args) => inventory::list(&cli, args),
        Command::Show(args) => inventory::show(&cli, args),
        Command::Check(args) => inventory::check(&cli, args),
        Command::Issue(args) => acme::issue(&cli, args),
        Command::Renew(args) => acme::renew(&cli, args),
        Command::Accounts(args) => acme::accounts(&cli, args),
        Command::Revoke(args) => acme::revoke(&cli, args),
        Command::Alerts(args) => alerts::run(&cli, args),
    }
}

impl Cli {
    /// The validated config: the located file, or built-in defaults when there is none.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = match Config::locate(self.config.as_deref()) {
            Some(path) => Config::load(&path)?,
            None => Config::defaults(),
        };
        if let Some(store) = &self.store {
            config.set_store_path(store.clone());
        }
        Ok(config)
    }

    pub fn open_store(&self, config: &Config) -> Result<Store, StoreError> {
        Store::open(&config.store_path)
    }
}
