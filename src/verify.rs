//! After a deploy: is the new certificate really being served? Handshakes with each endpoint
//! until the served leaf's fingerprint is the expected one, or the timeout passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::inventory::endpoint::EndpointScanner;
use crate::inventory::target::Target;
use crate::inventory::trust::TrustJudge;
use crate::model::Outcome;

/// What an endpoint served last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub target: String,
    pub sha256: Option<String>,
    pub serial: Option<String>,
    pub error: Option<String>,
}

/// One handshake with `target`.
pub async fn served(scanner: &EndpointScanner, target: &Target) -> Served {
    let obs = scanner.scan(target).await;
    let name = target.location().target();
    match obs.outcome {
        Outcome::Presented { chain, .. } => Served {
            target: name,
            sha256: chain.first().map(|c| c.sha256.clone()),
            serial: chain.first().map(|c| c.serial.clone()),
            error: None,
        },
        Outcome::Failed { message, .. } => Served {
            target: name,
            sha256: None,
            serial: None,
            error: Some(message),
        },
    }
}

pub fn scanner() -> EndpointScanner {
    // Only fingerprints are compared: no trust store is loaded and no chain is verified.
    let trust = Arc::new(TrustJudge::none());
    EndpointScanner::new(trust, Duration::from_secs(5), Duration::from_secs(5))
}

/// Waits until every target serves `sha256`. Returns how long it took, or what was served
/// instead when `timeout` passes.
pub async fn wait_served(
    targets: &[Target],
    sha256: &str,
    timeout: Duration,
) -> Result<Duration, Vec<Served>> {
    let scanner = scanner();
    let started = Instant::now();
    let mut pending: Vec<&Target> = targets.iter().collect();
    let mut last = Vec::new();
    loop {
        last.clear();
        let mut still = Vec::new();
        for t in pending {
            let s = served(&scanner, t).await;
            if s.sha256.as_deref() != Some(sha256) {
                still.push(t);
                last.push(s);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
