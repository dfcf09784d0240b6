//! Discovery as an operation: a sweep of address ranges, a read of this machine's server
//! configuration, or a `[[discover]]` job doing either, each scanned and recorded the same way
//! whether the CLI (`certctl discover`) or the daemon's schedule asks.

use std::time::Duration;

use super::{Scope, ServiceError, View, scan_and_record};
use crate::config::Config;
use crate::inventory::discover::{self, Pace, Plan};
use crate::inventory::local::{self, Found};
use crate::store::Store;

/// How long `postconf` or `doveconf` may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a sweep found: the locations that presented a certificate, and how many ports were
/// open (some of which did not speak TLS).
#[derive(Debug)]
pub struct Swept {
    pub views: Vec<View>,
    pub open_ports: usize,
}

/// The pace of a sweep from the config's `[discovery]` settings.
pub fn pace(config: &Config) -> Pace {
    Pace {
        concurrency: config.discover.concurrency.max(1),
        rate: config.discover.rate,
        connect_timeout: config.scan.connect_timeout,
    }
}

/// Sweeps `plan` and scans each open port; with a store, what presented a certificate is
/// recorded (labelled `discovered=true`).
pub async fn sweep(
    config: &Config,
    store: Option<&Store>,
    plan: &Plan,
    pace: Pace,
) -> Result<Swept, ServiceError> {
    let open = discover::sweep(plan, pace).await;
    let targets: Vec<_> = open.iter().map(|a| plan.target(*a)).collect();
    let mut views = scan_and_record(
        config,
        store,
        targets,
        Vec::new(),
        Scope::Discovery,
        |_: &crate::inventory::Scanned| {},
    )
    .await?;
    let open_ports = views.len();
    views.retain(|v| v.record.leaf.is_some());
    Ok(Swept { views, open_ports })
}

/// Reads the local servers' configuration and scans every file and listener it names; with a
/// store, all are recorded (labelled `discovered=true`, `source=<server>`).
pub async fn local(
    config: &Config,
    store: Option<&Store>,
) -> Result<(Found, Vec<View>), ServiceError> {
    let found = local::read(&config.discover.local, TOOL_TIMEOUT).await;
    let (endpoints, files) = found.targets();
    if endpoints.is_empty() && files.is_empty() {
        return Ok((found, Vec::new()));
    }
    let views = scan_and_record(
        config,
        store,
        endpoints,
        files,
        Scope::Local,
        |_: &crate::inventory::Scanned| {},
    )
    .await?;
    Ok((found, views))
}
