//! `certctl deploy`, `verify` and `rollback`.

use anyhow::Context;
use clap::Args;

use super::{Cli, Exit, Session};
use crate::deploy::Layout;

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The [[certificate]] name.
    pub name: String,
}

fn managed<'a>(
    config: &'a crate::config::Config,
    name: &str,
) -> anyhow::Result<&'a crate::config::acme::ManagedCert> {
    config
        .certificate(name)
        .with_context(|| format!("no [[certificate]] named \"{name}\""))
}

fn report(
    s: &mut Session<'_>,
    results: &[Result<crate::deploy::Deployed, crate::deploy::DeployFailure>],
) -> anyhow::Result<Exit> {
    if results.is_empty() {
        writeln!(s.err, "no [[certificate.deploy]] targets are configured")?;
        return Ok(Exit::Error);
    }
    let mut failed = false;
    for r in results {
        match r {
            Ok(d) => writeln!(
                s.out,
                "{}: serial {} deployed and served after {} ms",
                d.target,
                d.serial,
                d.served_after.as_millis()
            )?,
            Err(f) => {
                failed = true;
                writeln!(s.out, "{}: {} {}", f.target, f.kind.to_uppercase(), f)?;
            }
        }
    }
    Ok(if failed { Exit::Critical } else { Exit::Ok })
}

/// Re-runs deployment of the current certificate.
pub fn deploy(cli: &Cli, s: &mut Session<'_>, args: &NameArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config(s)?;
    let cert = managed(&config, &args.name)?.clone();
    let store = cli.open_store(s, &config)?;
    let rt = super::scan::runtime()?;
    let results = rt.block_on(crate::lifecycle::deploy_all(&store, &cert));
    if let Some(w) = rt.block_on(super::alerts::pass_quietly(&config, &store)) {
        writeln!(s.err, "{w}")?;
    }
    report(s, &results)
}

/// Checks that every verify endpoint serves the current certificate.
pub fn verify(cli: &Cli, s: &mut Session<'_>, args: &NameArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config(s)?;
    let cert = managed(&config, &args.name)?;
    let (leaf, _) = crate::lifecycle::current_leaf(cert)
        .with_context(|| format!("{} has no installed certificate", cert.name))?;
    let rt = super::scan::runtime()?;
    let scanner = crate::verify::scanner();
    let mut ok = true;
    for target in cert.deploy.iter().flat_map(|d| d.verify.iter()) {
        let served = rt.block_on(crate::verify::served(&scanner, target));
        match (&served.sha256, &served.error) {
            (Some(sha), _) if *sha == leaf.sha256 => writeln!(
                s.out,
                "{}: serves serial {} (current)",
                served.target, leaf.serial
            )?,
            (Some(_), _) => {
                ok = false;
                writeln!(
                    s.out,
                    "{}: STALE: serves serial {}, installed is {}",
                    served.target,
                    served.serial.as_deref().unwrap_or("?"),
                    leaf.serial
                )?;
            }
            (None, e) => {
                ok = false;
                writeln!(
                    s.out,
                    "{}: UNREACHABLE: {}",
                    served.target,
                    e.as_deref().unwrap_or("?")
                )?;
            }
        }
    }
    Ok(if ok { Exit::Ok } else { Exit::Critical })
}

/// Makes the previous version current again and deploys it.
pub fn rollback(cli: &Cli, s: &mut Session<'_>, args: &NameArgs) -> anyhow::Result<Exit> {
    let config = cli.load_config(s)?;
    let cert = managed(&config, &args.name)?.clone();
    let layout = Layout::new(&cert.output_dir);
    let current = layout
        .current_version()
        .with_context(|| format!("{} has no installed version", cert.name))?;
    let mut versions: Vec<String> = std::fs::read_dir(cert.output_dir.join("versions"))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|v| layout.version_dir(v).join("cert.pem").exists())
        .collect();
    versions.sort();
    let previous = versions
        .iter()
        .rev()
        .find(|v| **v < current)
        .cloned()
        .with_context(|| format!("{} has no version older than {current}", cert.name))?;
    layout.activate(&previous)?;
    let store = cli.open_store(s, &config)?;
    crate::audit::record(
        &store,
        "rollback",
        &cert.name,
        &format!("{current} -> {previous}"),
    );
    writeln!(
        s.out,
        "{}: current is now {previous} (was {current})",
        cert.name
    )?;
    let rt = super::scan::runtime()?;
    let results = rt.block_on(crate::lifecycle::deploy_all(&store, &cert));
    if results.is_empty() {
        return Ok(Exit::Ok);
    }
    report(s, &results)
}
