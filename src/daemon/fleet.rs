//! Fleet mode in the daemon: this node stays registered and heartbeats while it runs (so
//! `certctl fleet status` on any node shows it alive, and a second process under the same node
//! name is refused), and installs what other nodes renew as soon as they publish it.
//!
//! A node that publishes a version notifies `certctl_version`; this node listens on its
//! connection and, woken, runs the renewal pass at once, which installs the fleet's newer
//! versions and deploys them. Notifications are lost while a node is not connected, so the
//! loop also polls when the certificates' records last changed. A store that cannot be reached
//! is retried, never fatal: the node keeps serving what it has deployed. A renewal a process
//! left unfinished (its lease lapsed, never released: the holder was killed or lost the store)
//! wakes the renewal pass as soon as the lease ends, so this node resumes the order then, not
//! at its next scheduled check. An outage that
//! lasts two lease times is one `store_unreachable` alert for the fleet, raised by the first
//! node (by name) of those last seen alive and resolved when it rejoins. A node that stops
//! heartbeating without leaving is `node_down`, raised by every node that sees it (the claims
//! send it once) until it is back or `certctl fleet forget` removes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::Shared;
use crate::fleet::{Fleet, VERSION_CHANNEL};
use crate::ops::status::FleetStatus;

/// Records this node's standing for `certctl status` and `/metrics`; `since` moves only when
/// `up` changes.
fn standing(shared: &Shared, node: &str, store: &str, up: bool, error: Option<String>) {
    let now = crate::clock::now();
    shared.with_status(|s| {
        let previous = s.fleet.take();
        let since = match &previous {
            Some(p) if p.up == up => p.since,
            _ => now,
        };
        s.fleet = Some(FleetStatus {
            node: node.to_string(),
            store: store.to_string(),
            up,
            since,
            last_heartbeat: if up {
                Some(now)
            } else {
                previous.and_then(|p| p.last_heartbeat)
            },
            error,
        });
    });
}

/// How often the published versions are polled, behind the notifications.
const POLL: Duration = Duration::from_secs(5);

/// Heartbeats and listens until `stop` (returns at once when the config names no fleet).
pub(super) async fn member(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut joined: Option<(Fleet, mpsc::UnboundedReceiver<(String, String)>)> = None;
    let mut down_since: Option<Instant> = None;
    let mut seen: Option<f64> = None;
    let mut beat_at = Instant::now();
    // The nodes this node last saw alive, and whether it has recorded the store's outage.
    let mut alive: Vec<String> = Vec::new();
    let mut reported = matches!(shared.store.store_outage(), Ok(Some(_)));
    // The nodes this node has recorded down (the `node_down` alerts), by name.
    let mut down: Vec<String> = shared
        .store
        .nodes_down()
        .map(|d| d.into_iter().map(|n| n.name).collect())
        .unwrap_or_default();
    let mut last_error = String::new();
    let mut joined_at = Instant::now();
    // Renewal leases left to lapse that this node already took up (by token), and
    // when the next running one ends.
    let mut taken_up: Vec<i64> = Vec::new();
    let mut next_lapse: Option<Instant> = None;
    loop {
        let config = shared.config();
        let Some(fc) = config.fleet.clone() else {
            return;
        };
        let every = (fc.lease_ttl / 3).max(Duration::from_secs(1));
        let mut woken = false;
        if joined.is_none() {
            let (tx, rx) = mpsc::unbounded_channel();
            let joining = async {
                let (fleet, key) = crate::fleet::join(
                    &fc.settings,
                    &fc.key_file,
                    &fc.config_hash,
                    fc.lease_ttl * 2,
                    Some(tx),
                )
                .await?;
                fleet.listen(VERSION_CHANNEL).await?;
                let nodes = fleet.nodes().await?;
                Ok::<_, crate::fleet::FleetError>((fleet, key, nodes))
            };
            match joining.await {
                Ok((fleet, key, nodes)) => {
                    alive = alive_names(&nodes, fc.lease_ttl);
                    joined_at = Instant::now();
                    tracing::info!(node = %fleet.node(), store = %fleet.target(), key = %key.id(), "joined the fleet");
                    standing(&shared, fleet.node(), fleet.target(), true, None);
                    joined = Some((fleet, rx));
                    // Back after an outage: whatever was published meanwhile (its notification
                    // lost) is installed now, also when this process has never polled before.
                    woken = down_since.is_some();
                    down_since = None;
                    beat_at = Instant::now();
                }
                Err(e) => {
                    // Said once per outage, not every few seconds.
                    note_down(&mut down_since, &e);
                    last_error = e.to_string();
                    let store = fc.settings.url_target();
                    standing(
                        &shared,
                        &fc.settings.node,
                        &store,
                        false,
                        Some(e.to_string()),
                    );
                }
            }
        }
        if joined.is_some() && reported {
            // Back: the outage alert is resolved.
            reported = record_outage(&shared, None);
        }
        if let Some((fleet, notices)) = &mut joined {
            let mut wait = POLL.min(every.saturating_sub(beat_at.elapsed()));
            if let Some(at) = next_lapse {
                wait = wait.min(at.saturating_duration_since(Instant::now()));
            }
            tokio::select! {
                notice = notices.recv() => match notice {
                    Some((_, cert)) => {
                        tracing::info!(cert = %cert, "another node published a new version");
                        woken = true;
                    }
                    None => {
                        tracing::error!("the fleet store connection ended; joining again");
                        standing(&shared, fleet.node(), fleet.target(), false, Some("the connection ended".into()));
                        joined = None;
                        down_since = Some(Instant::now());
                        continue;
                    }
                },
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {
                    if let Err(e) = fleet.leave().await {
                        tracing::warn!("cannot leave the fleet: {e}");
                    }
                    return;
                }
            }
            let mut failed = None;
            if beat_at.elapsed() >= every {
                let beat = async {
                    fleet.heartbeat().await?;
                    fleet.nodes().await
                };
                match beat.await {
                    Ok(nodes) => {
                        beat_at = Instant::now();
                        alive = alive_names(&nodes, fc.lease_ttl);
                        // Judged only once the others have had two lease times to heartbeat
                        // since this node (re)joined: after a database outage every node's last
                        // heartbeat is old, and the first back must not call the rest down.
                        if joined_at.elapsed() >= fc.lease_ttl * 2 {
                            note_nodes_down(&shared, &nodes, &fc, &mut down);
                        }
                        standing(&shared, fleet.node(), fleet.target(), true, None);
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if failed.is_none() {
                match fleet.changed_at("cert:").await {
                    Ok(at) => {
                        woken |= seen.is_some() && at > seen;
                        seen = at;
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if failed.is_none() {
                match fleet.unreleased("cert:").await {
                    Ok(leases) => {
                        let (lapsed, ends) = lapses(&leases, &mut taken_up);
                        for l in &lapsed {
                            tracing::warn!(lease = %l.name, holder = %l.holder, "the renewal's holder stopped before it finished; taking it over");
                        }
                        woken |= !lapsed.is_empty();
                        next_lapse = ends.map(|s| Instant::now() + s);
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                tracing::error!("fleet store: {e}; joining again");
                last_error = e.to_string();
                standing(
                    &shared,
                    fleet.node(),
                    fleet.target(),
                    false,
                    Some(e.to_string()),
                );
                joined = None;
                down_since = Some(Instant::now());
            }
        } else {
            // Lost for two lease times (when the other nodes also count this one gone), the
            // outage is recorded as an alert by one node: the first of those last seen alive.
            if let Some(down) = down_since
                && !reported
                && down.elapsed() >= fc.lease_ttl * 2
                && reports_outage(&fc.settings.node, &alive)
            {
                let outage = crate::store::StoreOutage {
                    store: fc.settings.url_target(),
                    node: fc.settings.node.clone(),
                    since: crate::clock::now() - down.elapsed().as_secs() as i64,
                    error: last_error.clone(),
                };
                reported = record_outage(&shared, Some(&outage));
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
        if woken {
            // The renewal pass installs the fleet's newer versions and deploys them.
            shared.renew_wake.send_replace(Some(crate::clock::now()));
        }
    }
}

/// Of the renewal leases held or left unreleased: those that lapsed since the last
/// look (their holder stopped mid-renewal; each taken up once, by token), and how long until
/// the next running one ends (just after, so that it has lapsed when looked at).
fn lapses<'a>(
    leases: &'a [crate::fleet::LeaseInfo],
    taken_up: &mut Vec<i64>,
) -> (Vec<&'a crate::fleet::LeaseInfo>, Option<Duration>) {
    let lapsed: Vec<&crate::fleet::LeaseInfo> = leases
        .iter()
        .filter(|l| l.expires_in <= 0.0 && !taken_up.contains(&l.token))
        .collect();
    // Only tokens still unreleased in the store are remembered: the list stays as short as the
    // fleet's certificates.
    taken_up.retain(|t| leases.iter().any(|l| l.token == *t));
    taken_up.extend(lapsed.iter().map(|l| l.token));
    let ends = leases
        .iter()
        .filter(|l| l.expires_in > 0.0)
        .map(|l| Duration::from_secs_f64(l.expires_in) + Duration::from_millis(100))
        .min();
    (lapsed, ends)
}

/// The other nodes that stopped heartbeating without leaving, as of `nodes`.
fn nodes_down(
    nodes: &[crate::fleet::NodeInfo],
    lease_ttl: Duration,
    me: &str,
    now: crate::model::UnixSeconds,
) -> Vec<crate::store::NodeDown> {
    nodes
        .iter()
        .filter(|n| n.name != me && !n.left && !n.alive(lease_ttl))
        .map(|n| crate::store::NodeDown {
            name: n.name.clone(),
            last_seen: now - n.heartbeat_ago as i64,
        })
        .collect()
}

/// Records the nodes down when they changed (by name) and evaluates the alerts at once: each
/// node that reaches the store raises `node_down` for them, and the fleet's claims send it once.
fn note_nodes_down(
    shared: &Shared,
    nodes: &[crate::fleet::NodeInfo],
    fc: &crate::config::fleet::FleetConfig,
    recorded: &mut Vec<String>,
) {
    let now = crate::clock::now();
    let seen = nodes_down(nodes, fc.lease_ttl, &fc.settings.node, now);
    let names: Vec<String> = seen.iter().map(|n| n.name.clone()).collect();
    if names == *recorded {
        return;
    }
    for name in names.iter().filter(|n| !recorded.contains(n)) {
        tracing::warn!(node = %name, "a fleet node stopped heartbeating without leaving");
    }
    let done = shared
        .store
        .set_nodes_down(&seen)
        .and_then(|()| crate::alerts::evaluate(&shared.config(), &shared.store, now));
    match done {
        Ok(_) => *recorded = names,
        Err(e) => tracing::error!("cannot record the fleet nodes down: {e}"),
    }
}

/// The names of the nodes alive in `nodes`.
fn alive_names(nodes: &[crate::fleet::NodeInfo], lease_ttl: Duration) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.alive(lease_ttl))
        .map(|n| n.name.clone())
        .collect()
}

/// Whether node `me` reports the store's outage: it is the first by name of the nodes it last
/// saw alive (itself included). Every node that lost the store saw the same fleet, so they make
/// the same choice and the fleet raises one alert. A node that never saw the fleet reports.
fn reports_outage(me: &str, alive: &[String]) -> bool {
    alive.iter().all(|n| n.as_str() >= me)
}

/// Records (`Some`) or ends (`None`) the outage this node reports and evaluates the alerts at
/// once (the dispatcher sends them); whether an outage is recorded now.
fn record_outage(shared: &Shared, outage: Option<&crate::store::StoreOutage>) -> bool {
    let done = shared.store.set_store_outage(outage).and_then(|()| {
        crate::alerts::evaluate(&shared.config(), &shared.store, crate::clock::now())
    });
    match (done, outage) {
        (Ok(_), Some(o)) => {
            tracing::warn!(store = %o.store, "the fleet store is still unreachable; alert raised");
            true
        }
        (Ok(_), None) => false,
        (Err(e), _) => {
            tracing::error!("cannot record the fleet store outage: {e}");
            outage.is_none()
        }
    }
}

fn note_down(down_since: &mut Option<Instant>, e: &crate::fleet::FleetError) {
    if down_since.is_none() {
        tracing::error!("cannot join the fleet: {e}; retrying");
        *down_since = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapsed_renewal_lease_is_taken_up_once_and_a_running_one_awaited() {
        let lease = |token: i64, expires_in: f64| crate::fleet::LeaseInfo {
            name: format!("cert:c{token}"),
            holder: "web-2".into(),
            token,
            expires_in,
        };
        let mut taken = Vec::new();
        let leases = [lease(7, -1.0), lease(8, 4.0), lease(9, 2.5)];
        let (lapsed, ends) = lapses(&leases, &mut taken);
        assert_eq!(lapsed.iter().map(|l| l.token).collect::<Vec<_>>(), [7]);
        assert_eq!(ends, Some(Duration::from_millis(2600)));
        // Looked at again: 7 was taken up already; 9 has lapsed meanwhile.
        let leases = [lease(7, -2.0), lease(8, 3.0), lease(9, -0.1)];
        let (lapsed, _) = lapses(&leases, &mut taken);
        assert_eq!(lapsed.iter().map(|l| l.token).collect::<Vec<_>>(), [9]);
        // 7 was taken over (a new token): forgotten.
        let leases = [lease(10, 5.0)];
        let (lapsed, ends) = lapses(&leases, &mut taken);
        assert!(lapsed.is_empty());
        assert!(taken.is_empty());
        assert_eq!(ends, Some(Duration::from_millis(5100)));
    }

    #[test]
    fn a_node_that_stopped_without_leaving_is_down_and_one_that_left_is_not() {
        let node = |name: &str, ago: f64, left: bool| crate::fleet::NodeInfo {
            name: name.into(),
            instance: String::new(),
            version: String::new(),
            config_hash: String::new(),
            heartbeat_ago: ago,
            left,
        };
        let nodes = [
            node("web-1", 1.0, false),
            node("web-2", 40.0, false),
            node("web-3", 40.0, true),
            node("web-4", 29.0, false),
        ];
        let down = nodes_down(&nodes, Duration::from_secs(15), "web-1", 1000);
        assert_eq!(
            down,
            [crate::store::NodeDown {
                name: "web-2".into(),
                last_seen: 960
            }]
        );
        // Never itself, however late its own last heartbeat.
        assert!(nodes_down(&nodes[1..2], Duration::from_secs(15), "web-2", 1000).is_empty());
    }

    #[test]
    fn the_first_node_seen_alive_reports_the_outage() {
        let alive = ["web-1", "web-2", "web-3"].map(String::from);
        assert!(reports_outage("web-1", &alive));
        assert!(!reports_outage("web-2", &alive));
        // web-1 was already gone before the outage: web-2 is the first alive.
        assert!(reports_outage("web-2", &alive[1..]));
        // Never saw the fleet (started during the outage): reports.
        assert!(reports_outage("web-3", &[]));
    }
}
