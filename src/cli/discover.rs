//! `certctl discover`: sweep the address ranges the user names for TLS services (or, with
//! `--local`, read this machine's server configuration), report every certificate found, and
//! with `--add` put them in the inventory labelled `discovered=true`.

use clap::Args;

use super::inventory::print_views;
use super::{Cli, Exit, Format, Session};
use crate::inventory::discover;
use crate::model::FindingCode;
use crate::ops::discover::{ServerState, SweepRequest};
use crate::ops::{Reply, Request};

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// CIDR blocks (10.0.0.0/24), spans (10.0.0.1-10.0.0.50, 10.0.0.1-50), addresses or host
    /// names. Nothing outside them is probed.
    #[arg(required_unless_present = "local", value_name = "RANGE")]
    pub ranges: Vec<String>,
    /// Instead of sweeping a network, read this machine's nginx, haproxy, postfix, dovecot and
    /// Apache configuration ([discovery] nginx_conf, ...) for the certificate files it names and the
    /// addresses that serve them.
    #[arg(long, conflicts_with_all = ["ranges", "ports", "protocol", "rate", "concurrency", "force"])]
    pub local: bool,
    /// Ports to probe, e.g. 443,8443,636 or 8000-8010. Default: the usual TLS and STARTTLS
    /// ports (443, 8443, 6443, 465, 993, 636, 25, 587, 143, 389, 5432, ...).
    #[arg(long, short = 'p', value_name = "PORTS")]
    pub ports: Option<String>,
    /// Speak this STARTTLS protocol on every port (smtp, imap, pop3, ftp, ldap, postgres, mysql,
    /// xmpp).
    /// Default: by port (25 and 587 smtp, 143 imap, 389 ldap, 5432 postgres, ...).
    #[arg(long, value_name = "NAME")]
    pub protocol: Option<String>,
    /// Connection attempts per second, e.g. 500 or 500/s. Default: [discovery] rate (500).
    #[arg(long, value_name = "N[/s]")]
    pub rate: Option<String>,
    /// Connection attempts in flight at once. Default: [discovery] concurrency (256).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Probe ranges larger than [discovery] max_addresses (65 536, a /16).
    #[arg(long)]
    pub force: bool,
    /// Record what is found in the inventory (ad hoc locations labelled discovered=true).
    #[arg(long)]
    pub add: bool,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

pub fn run(cli: &Cli, s: &mut Session<'_>, args: &DiscoverArgs) -> anyhow::Result<Exit> {
    if args.local {
        return run_local(cli, s, args);
    }
    let request = SweepRequest {
        ranges: args.ranges.clone(),
        ports: match &args.ports {
            Some(text) => discover::parse_ports(text)?,
            None => Vec::new(),
        },
        protocol: args.protocol.clone(),
        rate: args.rate.as_deref().map(parse_rate).transpose()?,
        concurrency: args.concurrency,
        force: args.force,
        add: args.add,
    };
    let ops = cli.ops(None);
    let Reply::Discover(reply) = ops.call(&Request::Discover(request))? else {
        anyhow::bail!("the daemon answered `discover` with something else");
    };
    if args.output.is_table() {
        writeln!(
            s.err,
            "probed {} address{} x {} port{} ({} connections, at most {}/s, {} at once)",
            reply.addresses,
            if reply.addresses == 1 { "" } else { "es" },
            reply.ports,
            if reply.ports == 1 { "" } else { "s" },
            reply.probes,
            reply.rate,
            reply.concurrency
        )?;
    }
    print_views(
        s,
        &reply.views,
        &[],
        args.output,
        reply.now,
        "no TLS service found in the range",
    )?;
    if args.output.is_table() {
        let found = reply.views.len();
        writeln!(
            s.err,
            "{found} certificate{} on {} open port{} ({} without TLS) among {} probes in {:.1?}{}",
            if found == 1 { "" } else { "s" },
            reply.open_ports,
            if reply.open_ports == 1 { "" } else { "s" },
            reply.open_ports - found,
            reply.probes,
            std::time::Duration::from_millis(reply.elapsed_ms),
            recorded(reply.recorded_in.as_deref()),
        )?;
    }
    let add = reply.recorded_in.is_some();
    drop(reply);
    if add {
        super::alerts::pass_after(&ops, s)?;
    }
    ops.close()?;
    Ok(Exit::Ok)
}

/// `; added to STORE`, or how to record what was found.
fn recorded(store: Option<&str>) -> String {
    match store {
        Some(store) => format!("; added to {store}"),
        None => "; not recorded (--add records them)".to_string(),
    }
}

/// `discover --local`: what the servers' configuration names, scanned like any inventory.
fn run_local(cli: &Cli, s: &mut Session<'_>, args: &DiscoverArgs) -> anyhow::Result<Exit> {
    let ops = cli.ops(None);
    let Reply::DiscoverLocal(reply) = ops.call(&Request::DiscoverLocal { add: args.add })? else {
        anyhow::bail!("the daemon answered `discover --local` with something else");
    };
    for report in &reply.servers {
        let config_path = &report.config;
        let line = match &report.state {
            ServerState::Absent => format!("{config_path}: not found, skipped"),
            ServerState::Failed { error } => format!("not read: {error}"),
            ServerState::Read { files, endpoints } => format!(
                "{config_path}: {files} certificate file{}, {endpoints} TLS listener{}",
                if *files == 1 { "" } else { "s" },
                if *endpoints == 1 { "" } else { "s" }
            ),
        };
        writeln!(s.err, "{:<8} {line}", report.server)?;
    }
    for note in &reply.notes {
        writeln!(s.err, "note: {note}")?;
    }
    if reply.views.is_empty() {
        writeln!(s.err, "no server configuration here names a certificate")?;
        ops.close()?;
        return Ok(Exit::Ok);
    }
    let views = &reply.views;
    print_views(
        s,
        views,
        &[],
        args.output,
        reply.now,
        "no certificates found",
    )?;
    if args.output.is_table() {
        let missing = views
            .iter()
            .filter(|v| {
                v.findings
                    .iter()
                    .any(|f| f.code == FindingCode::FileMissing)
            })
            .count();
        writeln!(
            s.err,
            "{} location{} named by the local configuration{}{}",
            views.len(),
            if views.len() == 1 { "" } else { "s" },
            if missing > 0 {
                format!(
                    ", {missing} file{} missing",
                    if missing == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            },
            recorded(reply.recorded_in.as_deref()),
        )?;
    }
    let add = reply.recorded_in.is_some();
    drop(reply);
    if add {
        super::alerts::pass_after(&ops, s)?;
    }
    ops.close()?;
    Ok(Exit::Ok)
}

/// `500` or `500/s`.
fn parse_rate(text: &str) -> anyhow::Result<u32> {
    let number = text.trim().trim_end_matches("/s");
    match number.parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => anyhow::bail!(
            "--rate {text}: give connection attempts per second, 1 to 1000000 (e.g. 500/s)"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::parse_rate("500/s").expect("rate"), 500);
        assert_eq!(super::parse_rate("20").expect("rate"), 20);
        for bad in ["0", "fast", "-1/s", "2000000"] {
            assert!(super::parse_rate(bad).is_err(), "{bad}");
        }
    }
}
