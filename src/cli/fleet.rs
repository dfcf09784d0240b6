//! `certctl fleet`: the fleet as the shared store sees it, and the fleet key.
//!
//! `status` answers "who is in the fleet, is each node alive, and who holds which lease" from
//! PostgreSQL itself; `forget` removes a node gone for good; `keygen` makes the key every node
//! seals private keys with.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Cli, Exit, Format, Session};
use crate::fleet::{Fleet, FleetKey};

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Nodes (version, config hash, last heartbeat) and leases (holder, token, expiry).
    Status {
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Remove a node that is gone for good from the fleet (it is no longer reported down).
    Forget {
        /// The node's name.
        node: String,
    },
    /// Make a new fleet key (32 random bytes, base64, mode 0600); copy it to every node.
    Keygen {
        /// Where to write it (never replaced if it exists).
        path: PathBuf,
    },
}

#[derive(Serialize)]
struct StatusJson<'a> {
    store: &'a str,
    schema_version: i32,
    node: &'a str,
    nodes: Vec<NodeJson>,
    leases: Vec<LeaseJson>,
    deployments: Vec<DeploymentJson>,
}

#[derive(Serialize)]
struct DeploymentJson {
    certificate: String,
    node: String,
    serial: String,
    version: String,
    targets: i32,
    failed: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    detail: String,
    seconds_ago: f64,
}

#[derive(Serialize)]
struct NodeJson {
    name: String,
    version: String,
    config_hash: String,
    heartbeat_seconds_ago: f64,
    alive: bool,
    config_differs: bool,
}

#[derive(Serialize)]
struct LeaseJson {
    name: String,
    holder: String,
    token: i64,
    expires_in_seconds: f64,
}

pub fn run(cli: &Cli, s: &mut Session<'_>, args: &FleetArgs) -> anyhow::Result<Exit> {
    match &args.command {
        FleetCommand::Keygen { path } => {
            let key = FleetKey::generate(path)?;
            writeln!(
                s.out,
                "wrote fleet key {} to {} (mode 0600); copy it to every node and set [fleet] key_file",
                key.id(),
                path.display()
            )?;
            Ok(Exit::Ok)
        }
        FleetCommand::Status { output } => status(cli, s, *output),
        FleetCommand::Forget { node } => forget(cli, s, node),
    }
}

/// The config's fleet settings, or `None` (said on stderr) when it is not in fleet mode.
fn fleet_of<'c>(
    s: &mut Session<'_>,
    config: &'c crate::config::Config,
) -> anyhow::Result<Option<&'c crate::config::fleet::FleetConfig>> {
    if config.fleet.is_none() {
        writeln!(
            s.err,
            "not in fleet mode: the config has no [store] url (this node runs on its own store)"
        )?;
    }
    Ok(config.fleet.as_ref())
}

fn forget(cli: &Cli, s: &mut Session<'_>, node: &str) -> anyhow::Result<Exit> {
    let config = cli.load_config()?;
    let Some(fc) = fleet_of(s, &config)? else {
        return Ok(Exit::Error);
    };
    let gone = super::scan::runtime()?
        .block_on(async {
            let fleet = Fleet::connect(&fc.settings).await?;
            fleet.forget_node(node, fc.lease_ttl).await
        })
        .context("fleet forget")?;
    if gone {
        writeln!(s.out, "forgot node {node}")?;
        Ok(Exit::Ok)
    } else {
        writeln!(s.err, "no node named {node} is registered in the fleet")?;
        Ok(Exit::Error)
    }
}

fn status(cli: &Cli, s: &mut Session<'_>, output: Format) -> anyhow::Result<Exit> {
    let config = cli.load_config()?;
    let Some(fc) = fleet_of(s, &config)? else {
        return Ok(Exit::Error);
    };
    let rt = super::scan::runtime()?;
    let (version, nodes, leases, deployments, target) = rt
        .block_on(async {
            let fleet = Fleet::connect(&fc.settings).await?;
            let version = fleet.schema_version().await?;
            let nodes = fleet.nodes().await?;
            let leases = fleet.leases().await?;
            let deployments = fleet.deployments().await?;
            Ok::<_, crate::fleet::FleetError>((
                version,
                nodes,
                leases,
                deployments,
                fleet.target().to_string(),
            ))
        })
        .context("fleet status")?;
    let nodes: Vec<NodeJson> = nodes
        .into_iter()
        .map(|n| NodeJson {
            alive: n.alive(fc.lease_ttl),
            config_differs: n.config_hash != fc.config_hash,
            name: n.name,
            version: n.version,
            config_hash: n.config_hash,
            heartbeat_seconds_ago: n.heartbeat_ago,
        })
        .collect();
    let leases: Vec<LeaseJson> = leases
        .into_iter()
        .map(|l| LeaseJson {
            name: l.name,
            holder: l.holder,
            token: l.token,
            expires_in_seconds: l.expires_in,
        })
        .collect();
    let deployments: Vec<DeploymentJson> = deployments
        .into_iter()
        .map(|d| DeploymentJson {
            certificate: d.cert,
            node: d.node,
            serial: d.serial,
            version: d.version,
            targets: d.targets,
            failed: d.failed,
            detail: d.detail,
            seconds_ago: d.ago,
        })
        .collect();
    let out = &mut *s.out;
    if !output.is_table() {
        serde_json::to_writer_pretty(
            &mut *out,
            &StatusJson {
                store: &target,
                schema_version: version,
                node: &fc.settings.node,
                nodes,
                leases,
                deployments,
            },
        )?;
        writeln!(out)?;
        return Ok(Exit::Ok);
    }
    writeln!(
        out,
        "store {target} (schema {version}), this node: {}",
        fc.settings.node
    )?;
    writeln!(
        out,
        "\nNODE             VERSION   CONFIG            HEARTBEAT"
    )?;
    for n in &nodes {
        writeln!(
            out,
            "{:<16} {:<9} {:<17} {:.0} s ago{}{}",
            n.name,
            n.version,
            n.config_hash,
            n.heartbeat_seconds_ago,
            if n.alive { "" } else { "  (not running)" },
            if n.config_differs {
                "  CONFIG DIFFERS from this node's"
            } else {
                ""
            }
        )?;
    }
    let held: Vec<&LeaseJson> = leases
        .iter()
        .filter(|l| l.expires_in_seconds > 0.0)
        .collect();
    writeln!(
        out,
        "\nLEASE                            HOLDER           TOKEN  EXPIRES"
    )?;
    if held.is_empty() {
        writeln!(out, "(none held)")?;
    }
    for l in held {
        writeln!(
            out,
            "{:<32} {:<16} {:<6} in {:.1} s",
            l.name, l.holder, l.token, l.expires_in_seconds
        )?;
    }
    writeln!(
        out,
        "\nCERTIFICATE          NODE             SERIAL                   VERSION                  DEPLOYED"
    )?;
    if deployments.is_empty() {
        writeln!(out, "(none yet)")?;
    }
    for d in &deployments {
        writeln!(
            out,
            "{:<20} {:<16} {:<24} {:<24} {}/{} targets, {:.0} s ago{}",
            d.certificate,
            d.node,
            d.serial,
            d.version,
            d.targets - d.failed,
            d.targets,
            d.seconds_ago,
            if d.detail.is_empty() {
                String::new()
            } else {
                format!("  FAILED: {}", d.detail)
            }
        )?;
    }
    Ok(Exit::Ok)
}
