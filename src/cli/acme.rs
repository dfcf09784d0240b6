//! `certctl issue`, `renew`, `accounts` and `revoke`.

use clap::Args;

use super::{Cli, Exit, Format, Session};
use crate::lifecycle::{Decision, Outcome, Report};
use crate::ops::{RenewRequest, Reply, Request, RevokeRequest};
use crate::policy::{relative, rfc3339};

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The [[certificate]] name.
    pub name: String,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Certificates to consider (default with --all: every [[certificate]]).
    pub names: Vec<String>,
    /// Consider every managed certificate.
    #[arg(long)]
    pub all: bool,
    /// Renew even if not due, and ignore the failure backoff.
    #[arg(long)]
    pub force: bool,
    /// Only show what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// Certificates renewed at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The [[certificate]] whose current certificate is revoked.
    pub name: String,
    /// RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded,
    /// cessationOfOperation.
    #[arg(long)]
    pub reason: Option<String>,
}

pub fn issue(cli: &Cli, s: &mut Session<'_>, args: &IssueArgs) -> anyhow::Result<Exit> {
    renew_inner(
        cli,
        s,
        RenewRequest {
            names: vec![args.name.clone()],
            force: true,
            dry_run: false,
            concurrency: 1,
        },
        args.output,
    )
}

pub fn renew(cli: &Cli, s: &mut Session<'_>, args: &RenewArgs) -> anyhow::Result<Exit> {
    if args.names.is_empty() && !args.all {
        anyhow::bail!("name the certificates to renew, or use --all");
    }
    renew_inner(
        cli,
        s,
        RenewRequest {
            names: args.names.clone(),
            force: args.force,
            dry_run: args.dry_run,
            concurrency: args.concurrency,
        },
        args.output,
    )
}

fn renew_inner(
    cli: &Cli,
    s: &mut Session<'_>,
    request: RenewRequest,
    format: Format,
) -> anyhow::Result<Exit> {
    let dry_run = request.dry_run;
    let Reply::Renew(reply) = cli.operate(Request::Renew(request))? else {
        anyhow::bail!("the daemon answered `renew` with something else");
    };
    if let Some(warning) = &reply.warning {
        writeln!(s.err, "{warning}")?;
    }
    print_reports(s, &reply.reports, format, dry_run)?;
    Ok(if reply.failed() {
        Exit::Critical
    } else {
        Exit::Ok
    })
}

fn print_reports(
    s: &mut Session<'_>,
    reports: &[Report],
    format: Format,
    dry_run: bool,
) -> anyhow::Result<()> {
    let out = &mut *s.out;
    if !format.is_table() {
        super::output::write_renew_json(&mut *out, reports)?;
        return Ok(());
    }
    let now = crate::clock::now();
    for r in reports {
        let plan = match &r.decision {
            Decision::FirstIssue => "first issuance".to_string(),
            Decision::Resume { order_url } => format!("resuming order {order_url}"),
            Decision::Due { reason } => format!("due: {reason}"),
            Decision::Forced => "forced".to_string(),
            Decision::RenewedMeanwhile { .. }
                if matches!(
                    &r.outcome,
                    Some(Outcome::Installed {
                        renewed_by: Some(_),
                        ..
                    })
                ) =>
            {
                "renewed by another node of the fleet".to_string()
            }
            Decision::RenewedMeanwhile { serial } => format!(
                "forced, but another run installed serial {serial} while this one waited: not ordered again"
            ),
            Decision::NotDue { at } => {
                format!("not due until {} ({})", rfc3339(*at), relative(at - now))
            }
            Decision::BackingOff { until, failures } => format!(
                "backing off after {failures} failure{}: next attempt {}",
                if *failures == 1 { "" } else { "s" },
                relative(until - now)
            ),
        };
        let result = match &r.outcome {
            None if dry_run && r.decision.acts() => " -> would renew".to_string(),
            None => String::new(),
            Some(Outcome::Installed {
                serial,
                not_after,
                version,
                resumed,
                deploy_errors,
                renewed_by,
            }) => format!(
                " -> installed serial {serial} (expires {}, version {version}{}{}){}",
                rfc3339(*not_after),
                if *resumed { ", resumed" } else { "" },
                renewed_by
                    .as_ref()
                    .map(|n| format!(", renewed by node {n}"))
                    .unwrap_or_default(),
                if deploy_errors.is_empty() {
                    String::new()
                } else {
                    format!("; DEPLOY FAILED: {}", deploy_errors.join("; "))
                }
            ),
            Some(Outcome::Failed { error, .. }) => format!(" -> FAILED: {error}"),
        };
        writeln!(out, "{:<20} {plan}{result}", r.name)?;
    }
    Ok(())
}

pub fn accounts(cli: &Cli, s: &mut Session<'_>, args: &AccountsArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config()?;
    let dir = config.state_dir.join("accounts");
    let infos: Vec<_> = config
        .accounts
        .iter()
        .map(|a| crate::acme::account::info(a, &dir))
        .collect();
    let out = &mut *s.out;
    if !args.output.is_table() {
        serde_json::to_writer_pretty(&mut *out, &infos)?;
        writeln!(out)?;
        return Ok(Exit::Ok);
    }
    if infos.is_empty() {
        writeln!(s.err, "no [acme.accounts.NAME] in the config")?;
    }
    for a in &infos {
        writeln!(
            out,
            "{:<16} {}  {}{}",
            a.name,
            a.directory,
            match (&a.id, a.created_at) {
                (Some(id), Some(at)) => format!("registered {} as {id}", rfc3339(at)),
                _ => "not registered yet".to_string(),
            },
            if a.eab { "  (EAB)" } else { "" }
        )?;
    }
    Ok(Exit::Ok)
}

pub fn revoke(cli: &Cli, s: &mut Session<'_>, args: &RevokeArgs) -> anyhow::Result<Exit> {
    if let Some(r) = &args.reason
        && crate::acme::order::revocation_reason(r).is_none()
    {
        anyhow::bail!(
            "--reason: unknown reason \"{r}\" (unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)"
        );
    }
    let request = Request::Revoke(RevokeRequest {
        name: args.name.clone(),
        reason: args.reason.clone(),
    });
    let Reply::Revoke(reply) = cli.operate(request)? else {
        anyhow::bail!("the daemon answered `revoke` with something else");
    };
    writeln!(
        s.out,
        "revoked {} serial {}; run `certctl renew {} --force` to replace it",
        reply.name, reply.serial, reply.name
    )?;
    Ok(Exit::Ok)
}
