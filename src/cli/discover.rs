//! `certctl discover`: sweep the address ranges the user names for TLS services (or, with
//! `--local`, read this machine's server configuration), report every certificate found, and
//! with `--add` put them in the inventory labelled `discovered=true`.

use std::time::Instant;

use clap::Args;

use super::inventory::print_views;
use super::{Cli, Exit, Format, Session};
use crate::inventory::discover::{self, Pace, Plan};
use crate::inventory::local;
use crate::model::FindingCode;
use crate::service;

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
    let config = cli.load_config(s)?;
    if args.local {
        return run_local(cli, s, args, &config);
    }
    let ports = match &args.ports {
        Some(text) => discover::parse_ports(text)?,
        None => discover::DEFAULT_PORTS.to_vec(),
    };
    let protocol = args
        .protocol
        .as_deref()
        .map(crate::config::discover::starttls_protocol)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--protocol {e}"))?;
    let rate = match &args.rate {
        None => config.discover.rate,
        Some(text) => parse_rate(text)?,
    };
    let pace = Pace {
        concurrency: args
            .concurrency
            .unwrap_or(config.discover.concurrency)
            .max(1),
        rate,
        connect_timeout: config.scan.connect_timeout,
    };
    let rt = super::scan::runtime()?;
    let plan = rt.block_on(Plan::new(
        &args.ranges,
        ports,
        protocol,
        config.discover.max_addresses,
        args.force,
    ))?;
    let store = if args.add {
        Some(cli.open_store(s, &config)?)
    } else {
        None
    };
    let started = Instant::now();
    if args.output.is_table() {
        writeln!(
            s.err,
            "probing {} address{} x {} port{} ({} connections, at most {rate}/s, {} at once)",
            plan.addresses.len(),
            if plan.addresses.len() == 1 { "" } else { "es" },
            plan.ports.len(),
            if plan.ports.len() == 1 { "" } else { "s" },
            plan.probes(),
            pace.concurrency
        )?;
    }
    let service::discover::Swept { views, open_ports } = rt.block_on(service::discover::sweep(
        &config,
        store.as_ref(),
        &plan,
        pace,
    ))?;
    let now = crate::clock::now();
    print_views(
        s,
        &views,
        &[],
        args.output,
        now,
        "no TLS service found in the range",
    )?;
    if args.output.is_table() {
        writeln!(
            s.err,
            "{} certificate{} on {open_ports} open port{} ({} without TLS) among {} probes in {:.1?}{}",
            views.len(),
            if views.len() == 1 { "" } else { "s" },
            if open_ports == 1 { "" } else { "s" },
            open_ports - views.len(),
            plan.probes(),
            started.elapsed(),
            match &store {
                Some(st) => format!("; added to {}", st.path().display()),
                None => "; not recorded (--add records them)".to_string(),
            }
        )?;
    }
    drop(views);
    if let Some(store) = &store
        && let Some(warning) = rt.block_on(super::alerts::pass_quietly(&config, store))
    {
        writeln!(s.err, "{warning}")?;
    }
    Ok(Exit::Ok)
}

/// `discover --local`: what the servers' configuration names, scanned like any inventory.
fn run_local(
    cli: &Cli,
    s: &mut Session<'_>,
    args: &DiscoverArgs,
    config: &crate::config::Config,
) -> anyhow::Result<Exit> {
    let store = if args.add {
        Some(cli.open_store(s, config)?)
    } else {
        None
    };
    let rt = super::scan::runtime()?;
    let (found, views) = rt.block_on(service::discover::local(config, store.as_ref()))?;
    for report in &found.reports {
        let config_path = report.config.display();
        let line = match &report.state {
            local::State::Absent => format!("{config_path}: not found, skipped"),
            local::State::Failed(e) => format!("not read: {e}"),
            local::State::Read { files, endpoints } => format!(
                "{config_path}: {files} certificate file{}, {endpoints} TLS listener{}",
                if *files == 1 { "" } else { "s" },
                if *endpoints == 1 { "" } else { "s" }
            ),
        };
        writeln!(s.err, "{:<8} {line}", report.server)?;
    }
    for note in &found.notes {
        writeln!(s.err, "note: {note}")?;
    }
    if views.is_empty() {
        writeln!(s.err, "no server configuration here names a certificate")?;
        return Ok(Exit::Ok);
    }
    let now = crate::clock::now();
    print_views(s, &views, &[], args.output, now, "no certificates found")?;
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
            match &store {
                Some(st) => format!("; added to {}", st.path().display()),
                None => "; not recorded (--add records them)".to_string(),
            }
        )?;
    }
    drop(views);
    if let Some(store) = &store
        && let Some(warning) = rt.block_on(super::alerts::pass_quietly(config, store))
    {
        writeln!(s.err, "{warning}")?;
    }
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
