//! `certctl deploy`, `verify` and `rollback`: requests to [`crate::ops::deploy`], rendered.

use clap::Args;

use super::{Cli, Exit, Session};
use crate::ops::deploy::{NameRequest, Served, TargetResult};
use crate::ops::{Reply, Request};

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The [[certificate]] name.
    pub name: String,
}

impl NameArgs {
    fn request(&self) -> NameRequest {
        NameRequest {
            name: self.name.clone(),
        }
    }
}

fn report(s: &mut Session<'_>, results: &[TargetResult]) -> anyhow::Result<Exit> {
    if results.is_empty() {
        writeln!(s.err, "no [[certificate.deploy]] targets are configured")?;
        return Ok(Exit::Error);
    }
    for r in results {
        match r {
            TargetResult::Deployed {
                target,
                serial,
                served_after_ms,
            } => writeln!(
                s.out,
                "{target}: serial {serial} deployed and served after {served_after_ms} ms"
            )?,
            TargetResult::Failed {
                target,
                kind,
                message,
                ..
            } => writeln!(s.out, "{target}: {} {message}", kind.to_uppercase())?,
        }
    }
    Ok(if results.iter().any(TargetResult::failed) {
        Exit::Critical
    } else {
        Exit::Ok
    })
}

/// Re-runs deployment of the current certificate.
pub fn deploy(cli: &Cli, s: &mut Session<'_>, args: &NameArgs) -> anyhow::Result<Exit> {
    let Reply::Deploy(reply) = cli.operate(Request::Deploy(args.request()))? else {
        anyhow::bail!("the daemon answered `deploy` with something else");
    };
    if let Some(w) = &reply.warning {
        writeln!(s.err, "{w}")?;
    }
    report(s, &reply.results)
}

/// Checks that every verify endpoint serves the current certificate.
pub fn verify(cli: &Cli, s: &mut Session<'_>, args: &NameArgs) -> anyhow::Result<Exit> {
    let Reply::Verify(reply) = cli.operate(Request::Verify(args.request()))? else {
        anyhow::bail!("the daemon answered `verify` with something else");
    };
    let mut ok = true;
    for served in &reply.endpoints {
        match served {
            Served::Current { target } => {
                writeln!(s.out, "{target}: serves serial {} (current)", reply.serial)?
            }
            Served::Stale { target, serial } => {
                ok = false;
                writeln!(
                    s.out,
                    "{target}: STALE: serves serial {}, installed is {}",
                    serial.as_deref().unwrap_or("?"),
                    reply.serial
                )?;
            }
            Served::Unreachable { target, error } => {
                ok = false;
                writeln!(s.out, "{target}: UNREACHABLE: {error}")?;
            }
        }
    }
    Ok(if ok { Exit::Ok } else { Exit::Critical })
}

/// Makes the previous version current again and deploys it.
pub fn rollback(cli: &Cli, s: &mut Session<'_>, args: &NameArgs) -> anyhow::Result<Exit> {
    let Reply::Rollback(reply) = cli.operate(Request::Rollback(args.request()))? else {
        anyhow::bail!("the daemon answered `rollback` with something else");
    };
    writeln!(
        s.out,
        "{}: current is now {} (was {})",
        reply.name, reply.to, reply.from
    )?;
    if reply.results.is_empty() {
        return Ok(Exit::Ok);
    }
    report(s, &reply.results)
}
