//! The `certctl` command line: clap definitions and dispatch. Each subcommand is a thin wrapper
//! over the same [`crate::service`] functions that the daemon uses.

mod acme;
mod alerts;
mod deploy;
mod discover;
mod fleet;
mod inventory;
pub mod output;
mod scan;
mod service;
mod show;
mod table;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::ops::Reply;
use crate::store::Store;

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
    Show(show::ShowArgs),
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
    /// Fleet mode: nodes, heartbeats and leases in the shared store; the fleet key.
    Fleet(fleet::FleetArgs),
    /// The audit log: every action, newest last.
    History(service::HistoryArgs),
    /// Audit log integrity.
    Audit(service::AuditArgs),
    /// Shell completions: bash, zsh, fish, elvish, powershell.
    Completions(service::CompletionsArgs),
    /// The man page (roff) on stdout.
    Man,
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

/// Where a command writes: the terminal, or buffers in tests.
pub struct Session<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Output goes to a terminal (colour, progress bars).
    pub tty: bool,
    /// Columns to fit tables into (the terminal's; `None`: no limit).
    pub width: Option<usize>,
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: &Cli, s: &mut Session<'_>) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Scan(args) => scan::run(cli, s, args),
        Command::Discover(args) => discover::run(cli, s, args),
        Command::List(args) => inventory::list(cli, s, args),
        Command::Show(args) => show::show(cli, s, args),
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
        Command::Run(_) => service::run(cli),
        Command::Status => service::status(cli, s),
        Command::Fleet(args) => fleet::run(cli, s, args),
        Command::History(args) => service::history(cli, s, args),
        Command::Audit(args) => service::audit(cli, s, args),
        Command::Completions(args) => service::completions(s, args),
        Command::Man => service::man(s),
    }
}

impl Cli {
    /// The validated config: the located file, or built-in defaults.
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

    /// The control socket a running daemon would answer on.
    pub fn socket_path(&self) -> Option<PathBuf> {
        if let Some(path) = &self.socket {
            return Some(path.clone());
        }
        self.load_config().ok().map(|c| c.daemon.socket)
    }

    /// Runs one typed operation (see [`Ops`]).
    pub fn operate(&self, request: crate::ops::Request) -> anyhow::Result<Reply> {
        let ops = self.ops(None);
        let reply = ops.call(&request);
        ops.close()?;
        reply
    }

    /// Where this command's typed operations run (see [`Ops`]); `progress` is told about each
    /// endpoint a local scan finishes.
    pub fn ops(&self, progress: Option<crate::ops::Progress>) -> Ops<'_> {
        Ops {
            cli: self,
            progress,
            place: std::cell::RefCell::new(Place::Unknown),
        }
    }
}

/// A target or query that names a path here (a file, a directory, a glob), made absolute as
/// the scanner would read it: the daemon that may run the command has another working
/// directory. Endpoints, URLs, names and ids stay as they are.
pub(crate) fn absolute(target: &str) -> String {
    match crate::inventory::target::classify_arg(target) {
        Ok(crate::inventory::target::AdHoc::Files(files)) => files.pattern,
        _ => target.to_string(),
    }
}

/// Runs a command's typed operations: inside the daemon when one answers on its control socket
/// (so they run under the daemon's exclusions and are drained at its shutdown), else here
/// against the store opened by this process, opened once for all of the command's requests.
pub struct Ops<'a> {
    cli: &'a Cli,
    progress: Option<crate::ops::Progress>,
    place: std::cell::RefCell<Place>,
}

/// Where [`Ops`] found the operations run, once its first request has found out.
enum Place {
    Unknown,
    Daemon(PathBuf),
    /// Here, for an operation that does not touch the store.
    Bare {
        config: Box<Config>,
        runtime: tokio::runtime::Runtime,
    },
    Here {
        ctx: Box<crate::ops::Context>,
        runtime: tokio::runtime::Runtime,
    },
}

impl Ops<'_> {
    /// Runs `request`; an operation that failed is an error.
    pub fn call(&self, request: &crate::ops::Request) -> anyhow::Result<Reply> {
        let mut place = self.place.borrow_mut();
        if matches!(*place, Place::Unknown) {
            *place = self.find(request)?;
        }
        let reply = match &*place {
            Place::Daemon(socket) => match crate::ops::socket::call(socket, request) {
                Some(answer) => answer.map_err(|e| anyhow::anyhow!(e))?,
                None => anyhow::bail!(
                    "the daemon stopped answering on {} in the middle of the command",
                    socket.display()
                ),
            },
            Place::Here { ctx, runtime } => runtime.block_on(crate::ops::execute(ctx, request))?,
            Place::Bare { config, runtime } => runtime.block_on(
                crate::ops::execute_without_store(config, request, self.progress.as_deref()),
            )?,
            Place::Unknown => anyhow::bail!("no place to run the command was found"),
        };
        match reply {
            Reply::Failed { error } => Err(anyhow::anyhow!(error)),
            reply => Ok(reply),
        }
    }

    /// Asks the daemon first; with none answering, opens the store here.
    fn find(&self, request: &crate::ops::Request) -> anyhow::Result<Place> {
        if let Some(socket) = self.cli.socket_path()
            && let Some(stream) = crate::ops::socket::connect(&socket)
        {
            stream.map_err(|e| anyhow::anyhow!(e))?;
            return Ok(Place::Daemon(socket));
        }
        if matches!(request, crate::ops::Request::Status) {
            anyhow::bail!(crate::ops::OpsError::NoDaemon);
        }
        if !request.needs_store() {
            return Ok(Place::Bare {
                config: Box::new(self.cli.load_config()?),
                runtime: scan::runtime()?,
            });
        }
        let config = Arc::new(self.cli.load_config()?);
        let store = Store::open(&config.store_path)?;
        Ok(Place::Here {
            ctx: Box::new(crate::ops::Context {
                config,
                store,
                status: None,
                deliver: true,
                progress: self.progress.clone(),
            }),
            runtime: scan::runtime()?,
        })
    }

    /// Done: a store opened here is closed (the fast way, in a short-lived command).
    pub fn close(self) -> anyhow::Result<()> {
        if let Place::Here { ctx, runtime } = self.place.into_inner() {
            drop(runtime);
            // The process exits next: the store is flushed and left to the exit.
            ctx.store.close_for_exit()?;
        }
        Ok(())
    }
}
