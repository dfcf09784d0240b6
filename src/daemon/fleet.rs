//! Fleet mode in the daemon: this node stays registered and heartbeats while it runs, so that
//! `certctl fleet status` on any node shows it alive, and a second process started under the
//! same node name is refused. Renewal passes join the fleet themselves (see
//! `lifecycle::fleet`); a store that cannot be reached is retried, never fatal: the node keeps
//! serving what it has deployed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Shared;
use crate::fleet::Fleet;

/// Heartbeats until `stop` (returns at once when the config names no fleet).
pub(super) async fn member(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut joined: Option<Fleet> = None;
    let mut down_since: Option<std::time::Instant> = None;
    loop {
        let config = shared.config();
        let Some(fc) = config.fleet.clone() else {
            return;
        };
        match &joined {
            None => match crate::fleet::join(
                &fc.settings,
                &fc.key_file,
                &fc.config_hash,
                fc.lease_ttl * 2,
            )
            .await
            {
                Ok((fleet, key)) => {
                    tracing::info!(node = %fleet.node(), store = %fleet.target(), key = %key.id(), "joined the fleet");
                    joined = Some(fleet);
                    down_since = None;
                }
                Err(e) => {
                    // Said once per outage, not every few seconds.
                    if down_since.is_none() {
                        tracing::error!("cannot join the fleet: {e}; retrying");
                        down_since = Some(std::time::Instant::now());
                    }
                }
            },
            Some(fleet) => {
                if let Err(e) = fleet.heartbeat().await {
                    tracing::error!("fleet heartbeat failed: {e}; joining again");
                    joined = None;
                    down_since = Some(std::time::Instant::now());
                }
            }
        }
        let every = (fc.lease_ttl / 3).max(Duration::from_secs(1));
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {
                if let Some(fleet) = &joined
                    && let Err(e) = fleet.leave().await
                {
                    tracing::warn!("cannot leave the fleet: {e}");
                }
                return;
            }
        }
    }
}
