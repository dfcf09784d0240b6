//! `discover`: a sweep of the address ranges the user names, or a read of this machine's
//! server configuration (`--local`), each scanned and, with `add`, recorded. As with `scan`,
//! the alert pass is the caller's next request, once the results are printed and freed.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::config::{Config, DiscoverJob};
use crate::inventory::discover::{self, Pace, Plan};
use crate::inventory::local;
use crate::model::UnixSeconds;
use crate::service::{self, View};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SweepRequest {
    /// CIDR blocks, spans, addresses or host names.
    pub ranges: Vec<String>,
    /// Ports to probe; none: the usual TLS and STARTTLS ports.
    pub ports: Vec<u16>,
    /// One STARTTLS protocol for every port (`smtp`, ...); none: by port.
    pub protocol: Option<String>,
    /// Connection attempts per second; none: `[discovery] rate`.
    pub rate: Option<u32>,
    /// Connection attempts in flight; none: `[discovery] concurrency`.
    pub concurrency: Option<usize>,
    /// Probe more addresses than `[discovery] max_addresses`.
    pub force: bool,
    /// Record what is found.
    pub add: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReply {
    pub now: UnixSeconds,
    pub addresses: usize,
    pub ports: usize,
    pub probes: usize,
    pub rate: u32,
    pub concurrency: usize,
    /// The locations that presented a certificate.
    pub views: Vec<View>,
    /// Open ports, some of which did not speak TLS.
    pub open_ports: usize,
    /// The store the findings were added to, if they were.
    pub recorded_in: Option<String>,
    pub elapsed_ms: u64,
}

/// Sweeps the ranges and scans each open port.
pub async fn sweep(ctx: &Context, request: &SweepRequest) -> Result<SweepReply, OpsError> {
    sweep_into(&ctx.config, request.add.then_some(&ctx.store), request).await
}

/// [`sweep`], recording into `store` if there is one.
pub async fn sweep_into(
    config: &Config,
    store: Option<&Store>,
    request: &SweepRequest,
) -> Result<SweepReply, OpsError> {
    let ports = if request.ports.is_empty() {
        discover::DEFAULT_PORTS.to_vec()
    } else {
        request.ports.clone()
    };
    let protocol = request
        .protocol
        .as_deref()
        .map(crate::config::discover::starttls_protocol)
        .transpose()
        .map_err(|e| OpsError::BadArgument(format!("--protocol {e}")))?;
    let configured = service::discover::pace(config);
    let pace = Pace {
        concurrency: request
            .concurrency
            .map_or(configured.concurrency, |c| c.max(1)),
        rate: request.rate.unwrap_or(configured.rate),
        ..configured
    };
    let plan = Plan::new(
        &request.ranges,
        ports,
        protocol,
        config.discover.max_addresses,
        request.force,
    )
    .await
    .map_err(service::ServiceError::from)?;
    let started = std::time::Instant::now();
    let service::discover::Swept { views, open_ports } =
        service::discover::sweep(config, store, &plan, pace).await?;
    Ok(SweepReply {
        now: crate::clock::now(),
        addresses: plan.addresses.len(),
        ports: plan.ports.len(),
        probes: plan.probes(),
        rate: pace.rate,
        concurrency: pace.concurrency,
        views,
        open_ports,
        recorded_in: store.map(|s| s.path().display().to_string()),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// How far one server's configuration was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServerState {
    /// Not there: the server is not installed (or not configured here).
    Absent,
    Read {
        files: usize,
        endpoints: usize,
    },
    /// It could not be read or understood; nothing of it is used.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReport {
    pub server: String,
    pub config: String,
    #[serde(flatten)]
    pub state: ServerState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalReply {
    pub now: UnixSeconds,
    pub servers: Vec<ServerReport>,
    /// What is named but cannot be followed, each with where it is named.
    pub notes: Vec<String>,
    /// Every file and listener named, scanned.
    pub views: Vec<View>,
    pub recorded_in: Option<String>,
}

/// Reads this machine's server configuration and scans what it names.
pub async fn local(ctx: &Context, add: bool) -> Result<LocalReply, OpsError> {
    local_into(&ctx.config, add.then_some(&ctx.store)).await
}

/// [`local`], recording into `store` if there is one.
pub async fn local_into(config: &Config, store: Option<&Store>) -> Result<LocalReply, OpsError> {
    let (found, views) = service::discover::local(config, store).await?;
    let servers = found
        .reports
        .into_iter()
        .map(|r| ServerReport {
            server: r.server.to_string(),
            config: r.config.display().to_string(),
            state: match r.state {
                local::State::Absent => ServerState::Absent,
                local::State::Read { files, endpoints } => ServerState::Read { files, endpoints },
                local::State::Failed(error) => ServerState::Failed { error },
            },
        })
        .collect();
    Ok(LocalReply {
        now: crate::clock::now(),
        servers,
        notes: found.notes,
        recorded_in: store.map(|s| s.path().display().to_string()),
        views,
    })
}

/// Runs one `[[discover]]` job (the daemon's schedule) into the store; a one-line summary of
/// what it found.
pub async fn job(ctx: &Context, job: &DiscoverJob) -> Result<String, OpsError> {
    let (config, store) = (&*ctx.config, &ctx.store);
    let mut said = Vec::new();
    if !job.ranges.is_empty() {
        let plan = Plan::new(
            &job.ranges,
            job.ports.clone(),
            job.protocol,
            config.discover.max_addresses,
            job.force,
        )
        .await
        .map_err(service::ServiceError::from)?;
        let swept =
            service::discover::sweep(config, Some(store), &plan, service::discover::pace(config))
                .await?;
        said.push(format!(
            "{} certificate(s) on {} open port(s) among {} probes",
            swept.views.len(),
            swept.open_ports,
            plan.probes()
        ));
    }
    if job.local {
        let (found, views) = service::discover::local(config, Some(store)).await?;
        let mut unread = 0;
        for r in &found.reports {
            if let local::State::Failed(e) = &r.state {
                tracing::warn!(job = %job.name, server = r.server, "{e}");
                unread += 1;
            }
        }
        let unread = match unread {
            0 => String::new(),
            n => format!(" ({n} server configuration(s) unreadable)"),
        };
        said.push(format!(
            "{} location(s) named by the local configuration{unread}",
            views.len()
        ));
    }
    Ok(format!("discover {}: {}", job.name, said.join("; ")))
}
