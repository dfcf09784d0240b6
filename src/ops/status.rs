//! What the running daemon reports about itself (`certctl status`, `/metrics`): typed, so that
//! the CLI reads the same fields the daemon writes.

use serde::{Deserialize, Serialize};

use crate::model::UnixSeconds;

/// The daemon's counters and schedules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub started_at: UnixSeconds,
    pub pid: u32,
    pub config: Option<String>,
    pub schedules: Vec<ScheduleStatus>,
    pub last_error: Option<String>,
    pub config_reloads: u64,
    pub scans: u64,
    pub scan_errors: u64,
    pub renewals_succeeded: u64,
    pub renewals_failed: u64,
    pub deliveries_ok: u64,
    pub deliveries_failed: u64,
    /// Handshake durations seen by scans: (upper bound in seconds, cumulative count).
    pub handshake_buckets: Vec<(f64, u64)>,
    pub handshake_count: u64,
    pub handshake_sum_ms: u64,
    /// Fleet mode: this node's standing in the fleet (none for a single node).
    #[serde(default)]
    pub fleet: Option<FleetStatus>,
}

/// The daemon's view of the fleet store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetStatus {
    pub node: String,
    /// `user@host:port/db`.
    pub store: String,
    /// Joined and heartbeating.
    pub up: bool,
    /// Since when it is up, or down.
    pub since: UnixSeconds,
    pub last_heartbeat: Option<UnixSeconds>,
    /// Why it is down.
    pub error: Option<String>,
}

/// One schedule of the daemon (scan, renew, a discover job).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub name: String,
    pub schedule: String,
    pub last_run: Option<UnixSeconds>,
    pub last_success: Option<UnixSeconds>,
    pub next_run: Option<UnixSeconds>,
    pub running: bool,
}
