//! The inventory: finding certificates (endpoints and files) and folding each observation into
//! the stored state of its location.
//!
//! Scanning is I/O ([`endpoint`], [`file`]); folding ([`fold`]) is a pure function from the
//! previous record and a new observation to the next record, plus the event and history entry
//! worth keeping. The store persists the result; nothing here knows how.

pub mod discover;
pub mod endpoint;
pub mod file;
pub mod legacy;
pub mod local;
pub mod revocation;
pub use revocation::AnswerCache;
pub mod starttls;
pub mod target;
pub mod trust;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::model::{
    EventKind, Finding, HistoryEntry, InventoryEvent, LocationRecord, Observation, Outcome,
};
use endpoint::EndpointScanner;
use target::{FileTarget, Target};
use trust::{TrustError, TrustJudge};

/// How endpoints are scanned (`[scan]` of the config).
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub concurrency: usize,
    /// Extra trust anchors (DER), added to the system roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// Bound of each OCSP or CRL fetch; `None` turns revocation checks off.
    pub revocation_timeout: Option<Duration>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            concurrency: 64,
            revocation_timeout: Some(Duration::from_secs(5)),
            extra_roots: Vec::new(),
        }
    }
}

/// An observation together with the user's name and labels for its location.
#[derive(Debug, Clone)]
pub struct Scanned {
    pub observation: Observation,
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
    /// Found in a trust store (see [`target::FileTarget::trust_store`]).
    pub trust_store: bool,
}

/// Scans endpoints and files with bounded concurrency.
pub struct Scanner {
    /// Built only when there are endpoints: loading the system trust store costs tens of
    /// milliseconds that a file-only scan (e.g. after an issuance) should not pay.
    endpoints: Option<Arc<EndpointScanner>>,
    concurrency: usize,
    /// Shared with the endpoint scanner; for files, made only when a file leaf can be asked.
    revocation: Option<Arc<revocation::RevocationChecker>>,
    /// `(timeout, anchors)` to make one from, when revocation checks are on.
    revocation_settings: Option<(std::time::Duration, Vec<Vec<u8>>)>,
    /// Where revocation answers are kept across runs (the store), if anywhere.
    answers: Option<Arc<dyn AnswerCache>>,
}

impl Scanner {
    /// `answers` keeps verified revocation answers across runs (see [`revocation`]).
    pub fn new(
        settings: &ScanSettings,
        with_endpoints: bool,
        answers: Option<Arc<dyn AnswerCache>>,
    ) -> Result<Scanner, TrustError> {
        let mut revocation = None;
        let endpoints = if with_endpoints {
            let trust = Arc::new(TrustJudge::new(&settings.extra_roots)?);
            let mut scanner =
                EndpointScanner::new(trust, settings.connect_timeout, settings.handshake_timeout);
            if let Some(timeout) = settings.revocation_timeout {
                let checker = Arc::new(revocation::RevocationChecker::new(
                    timeout,
                    settings.extra_roots.clone(),
                    answers.clone(),
                ));
                revocation = Some(checker.clone());
                scanner = scanner.with_revocation(checker);
            }
            Some(Arc::new(scanner))
        } else {
            None
        };
        Ok(Scanner {
            endpoints,
            concurrency: settings.concurrency.max(1),
            revocation,
            revocation_settings: settings
                .revocation_timeout
                .map(|t| (t, settings.extra_roots.clone())),
            answers,
        })
    }

    /// Asks about the revocation of the file leaves that name a responder or CRL, with the
    /// issuer found in the same file (or a configured anchor), 16 at a time.
    async fn check_file_revocation(&self, scans: &mut [(usize, file::FileScan)]) {
        let pending: Vec<(usize, file::Revocable)> = scans
            .iter_mut()
            .enumerate()
            .flat_map(|(s, (_, scan))| {
                std::mem::take(&mut scan.revocable)
                    .into_iter()
                    .map(move |r| (s, r))
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        let checker = match (&self.revocation, &self.revocation_settings) {
            (Some(c), _) => c.clone(),
            (None, Some((timeout, anchors))) => Arc::new(revocation::RevocationChecker::new(
                *timeout,
                anchors.clone(),
                self.answers.clone(),
            )),
            (None, None) => return,
        };
        let now = crate::clock::now();
        let mut queue = pending.into_iter();
        let mut running = JoinSet::new();
        let mut results = Vec::new();
        loop {
            while running.len() < 16 {
                let Some((s, r)) = queue.next() else { break };
                let checker = checker.clone();
                running.spawn(async move {
                    let others: Vec<&[u8]> = r.others.iter().map(Vec::as_slice).collect();
                    let issuer = checker.issuer_of(&r.leaf, &others);
                    let mut state = checker.check(&r.leaf, issuer.as_deref(), None, now).await;
                    // Stapling is a server's job: a file cannot miss a staple.
                    if let Some(state) = &mut state {
                        state.must_staple_missing = false;
                    }
                    (s, r.observation, state)
                });
            }
            match running.join_next().await {
                Some(Ok(done)) => results.push(done),
                Some(Err(e)) => tracing::error!("a revocation check failed: {e}"),
                None => break,
            }
        }
        for (s, index, state) in results {
            if let Some(Outcome::Presented { revocation, .. }) = scans
                .get_mut(s)
                .and_then(|(_, scan)| scan.observations.get_mut(index))
                .map(|o| &mut o.outcome)
            {
                *revocation = state;
            }
        }
    }

    /// Scans everything, handing each result to `sink` as soon as it is ready. At most
    /// `concurrency` handshakes are in flight, so memory stays flat however many targets there are.
    pub async fn scan<F: FnMut(Scanned)>(
        &self,
        endpoints: Vec<Target>,
        files: Vec<FileTarget>,
        mut sink: F,
    ) {
        if !files.is_empty() {
            let file_targets = files.clone();
            let mut scans = tokio::task::spawn_blocking(move || file::scan_files(&file_targets))
                .await
                .unwrap_or_default();
            self.check_file_revocation(&mut scans).await;
            for (i, scan) in scans {
                for observation in scan.observations {
                    sink(Scanned {
                        observation,
                        name: files[i].name.clone(),
                        labels: files[i].labels.clone(),
                        trust_store: files[i].trust_store,
                    });
                }
            }
        }
        let Some(scanner) = &self.endpoints else {
            return;
        };
        let mut queue = endpoints.into_iter();
        let mut running = JoinSet::new();
        loop {
            while running.len() < self.concurrency {
                let Some(target) = queue.next() else { break };
                let scanner = Arc::clone(scanner);
                running.spawn(async move {
                    let observations = scanner.scan_all(&target).await;
                    observations
                        .into_iter()
                        .map(|observation| Scanned {
                            observation,
                            name: target.name.clone(),
                            labels: target.labels.clone(),
                            trust_store: false,
                        })
                        .collect::<Vec<_>>()
                });
            }
            match running.join_next().await {
                Some(Ok(scanned)) => scanned.into_iter().for_each(&mut sink),
                Some(Err(e)) => tracing::error!("endpoint scan task failed: {e}"),
                None => break,
            }
        }
    }
}

/// The result of folding one observation into a location's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub record: LocationRecord,
    /// The full chain as presented (leaf first), when one was read.
    pub chain: Option<Vec<crate::model::CertRecord>>,
    pub event: Option<InventoryEvent>,
    pub history: Option<HistoryEntry>,
}

/// What a location's certificate change is as an event: first seen (no previous record), or
/// changed from `old` to `new` (with the new leaf's serial); `None` when nothing changed.
fn change_event(
    known: bool,
    old: &Option<String>,
    new: &Option<String>,
    serial: Option<String>,
) -> Option<EventKind> {
    match (known, old, new) {
        (false, _, _) => Some(EventKind::FirstSeen {
            sha256: new.clone(),
        }),
        (true, Some(old), Some(new)) if old != new => Some(EventKind::CertificateChanged {
            old_sha256: old.clone(),
            new_sha256: new.clone(),
            new_serial: serial.unwrap_or_default(),
        }),
        _ => None,
    }
}

/// Takes in a record another node folded from its own observation (fleet mode), against this
/// store's previous record of the location: the record is the newer judgment as it stands; the
/// event and history entry are the ones its certificate change means here. Pure.
pub fn adopt(prev: Option<&LocationRecord>, record: LocationRecord) -> Fold {
    let sha = |r: &LocationRecord| r.leaf.as_ref().map(|l| l.sha256.clone());
    let prev_sha = prev.and_then(sha);
    // What was *seen*: nothing when the scan failed (a failed scan only keeps the leaf).
    let seen = |r: &LocationRecord| sha(r).filter(|_| r.consecutive_failures == 0);
    let new_sha = seen(&record);
    let at = record.last_scanned;
    let serial = record.leaf.as_ref().map(|l| l.serial.clone());
    let event =
        change_event(prev.is_some(), &prev_sha, &new_sha, serial).map(|kind| InventoryEvent {
            at,
            location_id: record.id.clone(),
            target: record.location.target(),
            kind,
        });
    let mut codes: Vec<_> = record.findings.iter().map(|f| f.code).collect();
    codes.sort();
    let changed = prev.is_none_or(|p| {
        let mut old: Vec<_> = p.findings.iter().map(|f| f.code).collect();
        old.sort();
        seen(p) != new_sha || old != codes
    });
    let live = record
        .leaf
        .as_ref()
        .filter(|_| record.consecutive_failures == 0);
    let history = changed.then(|| HistoryEntry {
        at,
        sha256: new_sha.clone(),
        serial: live.map(|l| l.serial.clone()),
        not_after: live.map(|l| l.not_after),
        codes,
    });
    Fold {
        record,
        chain: None,
        event,
        history,
    }
}

/// Folds an observation into the previous record of its location. Pure. `adhoc` says whether
/// the location stands outside the config (see [`LocationRecord::adhoc`]).
pub fn fold(
    prev: Option<&LocationRecord>,
    scanned: Scanned,
    findings: Vec<Finding>,
    adhoc: bool,
) -> Fold {
    let Scanned {
        observation,
        name,
        labels,
        trust_store,
    } = scanned;
    let id = observation.location.id();
    let at = observation.observed_at;
    let target = observation.location.target();
    let (leaf, tls, chain, failures) = match observation.outcome {
        Outcome::Presented { chain, tls, .. } => (chain.first().cloned(), tls, Some(chain), 0),
        Outcome::Failed { .. } => {
            // An unreachable endpoint keeps its last known certificate; a broken file does not.
            let keep = observation.location.is_endpoint();
            let last = prev.and_then(|p| p.leaf.clone()).filter(|_| keep);
            let failures = prev.map_or(0, |p| p.consecutive_failures) + 1;
            (last, None, None, failures)
        }
    };
    let prev_sha = prev.and_then(|p| p.leaf.as_ref()).map(|l| l.sha256.clone());
    let new_sha = chain
        .as_ref()
        .and_then(|c| c.first())
        .map(|l| l.sha256.clone());
    let serial = leaf.as_ref().map(|l| l.serial.clone());
    let event =
        change_event(prev.is_some(), &prev_sha, &new_sha, serial).map(|kind| InventoryEvent {
            at,
            location_id: id.clone(),
            target: target.clone(),
            kind,
        });
    let leaf_since = match (&prev_sha, &new_sha) {
        (Some(old), Some(new)) if old == new => prev.and_then(|p| p.leaf_since),
        (_, Some(_)) => Some(at),
        (_, None) => prev.and_then(|p| p.leaf_since),
    };
    let mut codes: Vec<_> = findings.iter().map(|f| f.code).collect();
    codes.sort();
    let entry = HistoryEntry {
        at,
        sha256: new_sha.clone(),
        serial: chain
            .as_ref()
            .and_then(|c| c.first())
            .map(|l| l.serial.clone()),
        not_after: chain.as_ref().and_then(|c| c.first()).map(|l| l.not_after),
        codes,
    };
    let changed = match prev {
        None => true,
        Some(p) => {
            let mut old_codes: Vec<_> = p.findings.iter().map(|f| f.code).collect();
            old_codes.sort();
            // What was *seen* last time: nothing, if that scan failed (the leaf is only kept).
            let seen = prev_sha.clone().filter(|_| p.consecutive_failures == 0);
            seen != new_sha || old_codes != entry.codes
        }
    };
    let issuers = match &chain {
        Some(chain) => crate::model::ChainCert::issuers_of(chain),
        // A failed scan keeps what it keeps of the leaf, and the path that came with it.
        None if leaf.is_some() => prev.map(|p| p.issuers.clone()).unwrap_or_default(),
        None => Vec::new(),
    };
    let record = LocationRecord {
        id,
        location: observation.location,
        name: name.or_else(|| prev.and_then(|p| p.name.clone())),
        labels: if labels.is_empty() {
            prev.map(|p| p.labels.clone()).unwrap_or_default()
        } else {
            labels
        },
        first_seen: prev.map_or(at, |p| p.first_seen),
        last_scanned: at,
        leaf_since,
        leaf,
        tls,
        findings,
        consecutive_failures: failures,
        issuers,
        adhoc,
        trust_store,
    };
    Fold {
        record,
        chain,
        event,
        history: changed.then_some(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FindingCode, Location, Severity, Trust};

    fn scanned(sha: Option<&str>, at: i64) -> Scanned {
        let location = Location::Endpoint {
            host: "a".into(),
            port: 1,
            server_name: None,
        };
        let outcome = match sha {
            Some(sha) => {
                let mut leaf = crate::model::tests::sample();
                leaf.sha256 = sha.into();
                Outcome::Presented {
                    chain: vec![leaf],
                    tls: None,
                    trust: Trust::Trusted,
                    issuer_is_anchor: true,
                    legacy: None,
                    revocation: None,
                }
            }
            None => Outcome::Failed {
                code: FindingCode::Timeout,
                message: "t".into(),
            },
        };
        Scanned {
            observation: Observation {
                location,
                observed_at: at,
                outcome,
            },
            name: None,
            labels: vec![],
            trust_store: false,
        }
    }

    #[test]
    fn first_seen_then_unchanged_then_changed() {
        let a = fold(None, scanned(Some("aa"), 10), vec![], false);
        assert!(matches!(
            a.event.as_ref().map(|e| &e.kind),
            Some(EventKind::FirstSeen { .. })
        ));
        assert!(a.history.is_some());
        let b = fold(Some(&a.record), scanned(Some("aa"), 20), vec![], false);
        assert_eq!(b.event, None);
        assert_eq!(b.history, None);
        assert_eq!(b.record.leaf_since, Some(10));
        assert_eq!(b.record.first_seen, 10);
        let c = fold(Some(&b.record), scanned(Some("bb"), 30), vec![], false);
        assert!(matches!(
            c.event.map(|e| e.kind),
            Some(EventKind::CertificateChanged { .. })
        ));
        assert_eq!(c.record.leaf_since, Some(30));
    }

    #[test]
    fn failures_keep_last_leaf_and_count() {
        let a = fold(None, scanned(Some("aa"), 10), vec![], false);
        let f = vec![Finding::new(FindingCode::Timeout, Severity::Critical, "t")];
        let b = fold(Some(&a.record), scanned(None, 20), f.clone(), false);
        assert_eq!(b.record.consecutive_failures, 1);
        assert_eq!(
            b.record.leaf.as_ref().map(|l| l.sha256.as_str()),
            Some("aa")
        );
        assert!(b.history.is_some());
        let c = fold(Some(&b.record), scanned(None, 30), f, false);
        assert_eq!(c.record.consecutive_failures, 2);
        assert_eq!(c.history, None);
        let d = fold(Some(&c.record), scanned(Some("aa"), 40), vec![], false);
        assert_eq!(d.record.consecutive_failures, 0);
        assert_eq!(d.event, None);
    }
}
