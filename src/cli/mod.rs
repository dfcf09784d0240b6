//! The `certctl` command line: clap definitions and dispatch. Each subcommand is a thin wrapper
//! over the same [`crate::service`] functions that the daemon uses.

mod acme;
mod alerts;
mod deploy;
mod discover;
mod inventory;
pub mod output;
mod scan;
mod service;
mod table;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::ops::Reply;
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
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Control socket of a running daemon [default: [daemon] socket].
    #[arg(long, global = true, value_name = "PATH", env = "CERTCTL_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Fit tables into this many columns [default: the terminal's width; no limit when the
    /// output is not a terminal].
    #[arg(long, global = true, value_name = "COLUMNS")]
    pub width: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

/// The width of the terminal on stdout, if stdout is one: the kernel's idea (TIOCGWINSZ), else
/// `$COLUMNS`.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points at a live,
    // properly aligned `winsize` on this stack frame.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        return Some(usize::from(size.ws_col));
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan endpoints and files now and record what they present.
    ///
    /// With TARGETS (host:port, [v6]:port, https:// URLs, files, directories, globs) only those
    /// are scanned; otherwise everything in the config is.
    Scan(scan::ScanArgs),
    /// Sweep address ranges for TLS services nobody listed and report their certificates.
    ///
    /// Connects to every address and port named (bounded rate and concurrency, refusing more
    /// than [discovery] max_addresses without --force), then scans each open port, with
    /// STARTTLS on the mail, directory and database ports. --add records what is found.
    Discover(discover::DiscoverArgs),
    /// The stored inventory, soonest expiry first.
    List(inventory::ListArgs),
    /// One location in full: certificate, chain, findings and history.
    Show(inventory::ShowArgs),
    /// Exit 0 ok / 1 warning / 2 critical over the inventory, for cron and Nagios (3: nothing
    /// scanned yet).
    Check(inventory::CheckArgs),
    /// Take locations out of the inventory (their history stays; their alerts resolve).
    ///
    /// Locations removed from the config leave by themselves at the next scan of the whole
    /// config; this is for ad hoc ones, or to drop one at once.
    Forget(inventory::ForgetArgs),
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
    /// Re-run deployment of a managed certificate's current version to its targets.
    Deploy(deploy::NameArgs),
    /// Check that each deploy target's endpoints serve the current certificate.
    Verify(deploy::NameArgs),
    /// Make the previous version current again and deploy it.
    Rollback(deploy::NameArgs),
    /// Run the background service (what systemd starts).
    Run(service::RunArgs),
    /// The running daemon: uptime, schedules, last error.
    Status,
    /// The audit log: every action, newest last.
    History(service::HistoryArgs),
    /// Audit log integrity.
    Audit(service::AuditArgs),
    /// Shell completions: bash, zsh, fish, elvish, powershell.
    Completions(service::CompletionsArgs),
    /// The man page (roff) on stdout.
    Man,
}

impl Command {
    /// Commands that run inside the daemon when one is running (everything touching the store).
    pub fn goes_to_daemon(&self) -> bool {
        !matches!(
            self,
            Command::Run(_)
                | Command::Completions(_)
                | Command::Man
                | Command::Accounts(_)
                // Typed operations find the daemon themselves ([`Cli::operate`]).
                | Command::Status
                | Command::Issue(_)
                | Command::Renew(_)
                | Command::Revoke(_)
                | Command::Forget(_)
                | Command::Check(_)
                | Command::History(_)
                | Command::Audit(_)
                | Command::Deploy(_)
                | Command::Verify(_)
                | Command::Rollback(_)
                | Command::Alerts(_)
        )
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Output formats shared by the listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Fitted to the terminal.
    #[default]
    Table,
    /// Every column in full, plus labels.
    Wide,
    Json,
    Csv,
}

impl Format {
    /// A table for people (`table` or `wide`).
    pub fn is_table(self) -> bool {
        matches!(self, Format::Table | Format::Wide)
    }
}

/// Where a command writes, and what it runs against. The binary gives it the terminal; the
/// daemon gives it buffers plus its own config and open store, so every command works through
/// the control socket exactly as it does locally.
pub struct Session<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Output goes to a terminal (colour, progress bars).
    pub tty: bool,
    /// Inside the daemon: its validated config and its open store.
    pub daemon: Option<(Arc<Config>, Store)>,
    /// Inside the daemon: its status, for `certctl status`.
    pub status: Option<crate::ops::Status>,
    /// Columns to fit tables into (the terminal's; `None`: no limit).
    pub width: Option<usize>,
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: &Cli, s: &mut Session<'_>) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Scan(args) => scan::run(cli, s, args),
        Command::Discover(args) => discover::run(cli, s, args),
        Command::List(args) => inventory::list(cli, s, args),
        Command::Show(args) => inventory::show(cli, s, args),
        Command::Check(args) => inventory::check(cli, s, args),
        Command::Forget(args) => inventory::forget(cli, s, args),
        Command::Issue(args) => acme::issue(cli, s, args),
        Command::Renew(args) => acme::renew(cli, s, args),
        Command::Accounts(args) => acme::accounts(cli, s, args),
        Command::Revoke(args) => acme::revoke(cli, s, args),
        Command::Alerts(args) => alerts::run(cli, s, args),
        Command::Deploy(args) => deploy::deploy(cli, s, args),
        Command::Verify(args) => deploy::verify(cli, s, args),
        Command::Rollback(args) => deploy::rollback(cli, s, args),
        Command::Run(_) => service::run(cli, s),
        Command::Status => service::status(cli, s),
        Command::History(args) => service::history(cli, s, args),
        Command::Audit(args) => service::audit(cli, s, args),
        Command::Completions(args) => service::completions(s, args),
        Command::Man => service::man(s),
    }
}

impl Cli {
    /// The validated config: the daemon's, or the located file, or built-in defaults.
    pub fn load_config(&self, s: &Session<'_>) -> Result<Config, ConfigError> {
        if let Some((config, _)) = &s.daemon {
            return Ok(Config::clone(config));
        }
        let mut config = match Config::locate(self.config.as_deref()) {
            Some(path) => Config::load(&path)?,
            None => Config::defaults(),
        };
        if let Some(store) = &self.store {
            config.set_store_path(store.clone());
        }
        Ok(config)
    }

    /// The daemon's store, or the store opened here.
    pub fn open_store(&self, s: &Session<'_>, config: &Config) -> Result<Store, StoreError> {
        match &s.daemon {
            Some((_, store)) => Ok(store.clone()),
            None => Store::open(&config.store_path),
        }
    }

    /// The control socket a running daemon would answer on.
    fn socket_path(&self) -> Option<PathBuf> {
        if let Some(path) = &self.socket {
            return Some(path.clone());
        }
        let mut out = std::io::sink();
        let mut err = std::io::sink();
        let probe = Session {
            out: &mut out,
            err: &mut err,
            tty: false,
            daemon: None,
            status: None,
            width: None,
        };
        self.load_config(&probe).ok().map(|c| c.daemon.socket)
    }

    /// Runs a typed operation: inside the daemon when one answers on its control socket (so
    /// it runs under the daemon's exclusions and is drained at its shutdown), else here against
    /// the store opened by this process.
    pub fn operate(&self, s: &Session<'_>, request: crate::ops::Request) -> anyhow::Result<Reply> {
        if s.daemon.is_none()
            && let Some(socket) = self.socket_path()
            && let Some(answer) = crate::ops::socket::call(&socket, &request)
        {
            return match answer.map_err(|e| anyhow::anyhow!(e))? {
                Reply::Failed { error } => Err(anyhow::anyhow!(error)),
                reply => Ok(reply),
            };
        }
        let config = Arc::new(self.load_config(s)?);
        if matches!(request, crate::ops::Request::Status) && s.status.is_none() {
            anyhow::bail!(crate::ops::OpsError::NoDaemon);
        }
        let store = self.open_store(s, &config)?;
        let ctx = crate::ops::Context {
            config,
            store: store.clone(),
            status: s.status.clone(),
            deliver: true,
        };
        let rt = scan::runtime()?;
        let reply = rt.block_on(crate::ops::execute(&ctx, &request));
        drop(ctx);
        self.close_store(s, store)?;
        Ok(reply?)
    }

    /// Done with a store from [`Cli::open_store`]: a short-lived command closes it the fast way
    /// (the process exits next); the daemon's own store stays open.
    pub fn close_store(&self, s: &Session<'_>, store: Store) -> Result<(), StoreError> {
        match &s.daemon {
            Some(_) => Ok(()),
            None => store.close_for_exit(),
        }
    }
}
