//! `certctl run`, `status`, `history`, `audit verify`, `completions` and `man`.

use clap::{Args, CommandFactory, Subcommand};

use super::{Cli, Exit, Session};
use crate::ops::{HistoryRequest, Reply, Request};
use crate::policy::{relative, rfc3339};

#[derive(Debug, Args)]
pub struct RunArgs {}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only entries about this certificate, location or webhook name (substring match).
    pub name: Option<String>,
    /// Only entries newer than this (e.g. 7d).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the audit log; exit 2 and name the first broken entry if not.
    Verify,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

/// `certctl run`: the foreground service systemd starts.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let path = crate::config::Config::locate(cli.config.as_deref());
    let config = cli.load_config()?;
    let rt = super::scan::runtime()?;
    rt.block_on(crate::daemon::run(config, path))?;
    Ok(Exit::Ok)
}

pub fn status(cli: &Cli, s: &mut Session<'_>) -> anyhow::Result<Exit> {
    let Reply::Status(status) = cli.operate(Request::Status)? else {
        anyhow::bail!("the daemon answered `status` with something else");
    };
    let now = crate::clock::now();
    writeln!(
        s.out,
        "certctl run: pid {}, up {}",
        status.pid,
        relative(status.started_at - now).trim_end_matches(" ago")
    )?;
    if let Some(config) = &status.config {
        writeln!(
            s.out,
            "config: {config} (reloaded {} time(s))",
            status.config_reloads
        )?;
    }
    for sched in &status.schedules {
        let when = |t: Option<i64>| {
            t.map(|t| format!("{} ({})", rfc3339(t), relative(t - now)))
                .unwrap_or_else(|| "never".into())
        };
        writeln!(
            s.out,
            "{:<6} {:<16} last run {}, last success {}, next {}{}",
            sched.name,
            sched.schedule,
            when(sched.last_run),
            when(sched.last_success),
            when(sched.next_run),
            if sched.running { " [running]" } else { "" }
        )?;
    }
    writeln!(
        s.out,
        "scans {}, renewals {} ok / {} failed, deliveries {} ok / {} failed",
        status.scans,
        status.renewals_succeeded,
        status.renewals_failed,
        status.deliveries_ok,
        status.deliveries_failed
    )?;
    if let Some(f) = &status.fleet {
        let since = relative(f.since - now);
        match (f.up, &f.error) {
            (true, _) => writeln!(
                s.out,
                "fleet: node {} in {}, up since {since}, last heartbeat {}",
                f.node,
                f.store,
                f.last_heartbeat
                    .map(|t| relative(t - now))
                    .unwrap_or_else(|| "never".into())
            )?,
            (false, error) => writeln!(
                s.out,
                "fleet: node {} CANNOT REACH {} since {since}: {}; no renewals until it returns",
                f.node,
                f.store,
                error.as_deref().unwrap_or("unknown")
            )?,
        }
    }
    writeln!(
        s.out,
        "last error: {}",
        status.last_error.as_deref().unwrap_or("none")
    )?;
    Ok(Exit::Ok)
}

pub fn history(cli: &Cli, s: &mut Session<'_>, args: &HistoryArgs) -> anyhow::Result<Exit> {
    let since = match &args.since {
        Some(d) => {
            let d =
                crate::config::parse_duration(d).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            crate::clock::now() - d.as_secs() as i64
        }
        None => 0,
    };
    let request = Request::History(HistoryRequest {
        since,
        name: args.name.clone(),
    });
    let Reply::History(entries) = cli.operate(request)? else {
        anyhow::bail!("the daemon answered `history` with something else");
    };
    for e in entries {
        writeln!(
            s.out,
            "{:>6}  {}  {:<22} {}  {}",
            e.seq,
            rfc3339(e.at),
            e.action,
            e.subject,
            e.detail
        )?;
    }
    Ok(Exit::Ok)
}

pub fn audit(cli: &Cli, s: &mut Session<'_>, args: &AuditArgs) -> anyhow::Result<Exit> {
    let AuditCommand::Verify = args.command;
    let Reply::AuditVerify(reply) = cli.operate(Request::AuditVerify)? else {
        anyhow::bail!("the daemon answered `audit verify` with something else");
    };
    match (reply.intact, reply.broken) {
        (Some(n), _) => {
            writeln!(s.out, "audit log intact: {n} entries, hash chain verified")?;
            Ok(Exit::Ok)
        }
        (None, broken) => {
            writeln!(
                s.out,
                "audit log BROKEN: {}",
                broken.as_deref().unwrap_or("unknown")
            )?;
            Ok(Exit::Critical)
        }
    }
}

pub fn completions(s: &mut Session<'_>, args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "certctl", &mut s.out);
    Ok(Exit::Ok)
}

pub fn man(s: &mut Session<'_>) -> anyhow::Result<Exit> {
    clap_mangen::Man::new(Cli::command()).render(&mut s.out)?;
    Ok(Exit::Ok)
}
