//! The alert engine: pure. From the judged inventory, the renewal states, the new inventory
//! events and the alerts already open, it decides what to open, remind, resolve and send.
//!
//! Noise control lives here:
//! - one alert per (certificate, kind, threshold) crossing, however many locations serve the
//!   certificate (the alert lists them);
//! - a reminder every `repeat_interval` while the condition holds, with the same id;
//! - `resolved` once the condition is gone (renewed, fixed, or the certificate replaced);
//! - a deeper expiry threshold supersedes the shallower one silently (no "resolved" for a
//!   warning that became worse);
//! - `endpoint_unreachable` only after `unreachable_after` failed scans in a row (named
//!   `starttls_refused` when the server answers but will not upgrade);
//! - `renewal_failed` is a condition (open while renewals keep failing), not one message per
//!   failed attempt, so a CA outage is one alert.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::alerts::AlertSettings;
use crate::model::{
    AlertCert, AlertEvent, CertRecord, ChainCert, EventKind, FindingCode, InventoryEvent,
    ManagedState, OpenAlert, Severity, UnixSeconds,
};
use crate::policy::{Thresholds, relative, rfc3339};
use crate::service::View;
use crate::store::{NodeDown, StoreOutage};

/// Everything the engine looks at.
pub struct Inputs<'a> {
    pub views: &'a [View],
    pub managed: &'a [ManagedState],
    pub events: &'a [(u64, InventoryEvent)],
    pub open: &'a [OpenAlert],
    pub settings: &'a AlertSettings,
    pub thresholds: &'a Thresholds,
    /// The fleet store outage this node reports (fleet mode only).
    pub outage: Option<&'a StoreOutage>,
    /// The fleet nodes this node sees down (fleet mode only).
    pub nodes_down: &'a [NodeDown],
    pub now: UnixSeconds,
}

/// What to change and send.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub upsert: Vec<OpenAlert>,
    pub remove: Vec<String>,
    pub emit: Vec<AlertEvent>,
    pub cursor: Option<u64>,
}

/// A condition that currently holds.
struct Condition {
    kind: &'static str,
    severity: Severity,
    threshold: Option<String>,
    cert: Option<AlertCert>,
    /// Certificate fingerprint, for superseding expiry alerts.
    sha256: Option<String>,
    locations: BTreeSet<String>,
    summary: String,
    detail: Option<String>,
}

pub fn evaluate(inputs: &Inputs<'_>) -> Plan {
    let now = inputs.now;
    let (conditions, unknown) = conditions(inputs);
    let open: BTreeMap<&str, &OpenAlert> =
        inputs.open.iter().map(|a| (a.key.as_str(), a)).collect();
    let mut plan = Plan::default();

    for (key, cond) in &conditions {
        let locations: Vec<String> = cond.locations.iter().cloned().collect();
        match open.get(key.as_str()) {
            None => {
                // A deeper expiry threshold (or expiry itself) supersedes the shallower alert.
                if matches!(cond.kind, "expiring" | "expired" | "chain_expired") {
                    for old in inputs.open.iter().filter(|o| {
                        o.event.kind == "expiring"
                            && o.key != *key
                            && !conditions.contains_key(&o.key)
                            && o.event.certificate.as_ref().map(|c| &c.sha256)
                                == cond.sha256.as_ref()
                    }) {
                        plan.remove.push(old.key.clone());
                    }
                }
                let event = event_for(key, cond, locations, now, false);
                plan.emit.push(event.clone());
                plan.upsert.push(OpenAlert {
                    key: key.clone(),
                    event,
                    opened_at: now,
                    last_sent_at: now,
                });
            }
            Some(existing) => {
                let due = now - existing.last_sent_at >= inputs.settings.repeat_interval;
                let event = event_for(key, cond, locations, now, due);
                if due {
                    plan.emit.push(event.clone());
                }
                if due || event.locations != existing.event.locations {
                    plan.upsert.push(OpenAlert {
                        key: key.clone(),
                        event,
                        opened_at: existing.opened_at,
                        last_sent_at: if due { now } else { existing.last_sent_at },
                    });
                }
            }
        }
    }

    for alert in inputs.open {
        if conditions.contains_key(&alert.key) || plan.remove.contains(&alert.key) {
            continue;
        }
        // Its locations could not be scanned this time: we do not know, so keep it open.
        let sha = alert.event.certificate.as_ref().map(|c| c.sha256.as_str());
        if sha.is_some_and(|s| unknown.contains(s)) {
            continue;
        }
        plan.remove.push(alert.key.clone());
        plan.emit.push(AlertEvent {
            id: stable_id(&format!("{}|resolved|{}", alert.key, alert.opened_at)),
            kind: "resolved".into(),
            severity: alert.event.severity,
            summary: format!("resolved: {}", alert.event.summary),
            threshold: alert.event.threshold.clone(),
            certificate: alert.event.certificate.clone(),
            locations: alert.event.locations.clone(),
            occurred_at: now,
            reminder: false,
            resolves: Some((alert.event.id.clone(), alert.event.kind.clone())),
            detail: Some(format!("open since {}", rfc3339(alert.opened_at))),
        });
    }

    // One-off events. Changes to the same new certificate are one event listing every
    // location, like conditions: 200 servers picking up a new certificate is one message.
    let mut changed: BTreeMap<String, AlertEvent> = BTreeMap::new();
    // Events name their location by id: look views up by id, not by a scan of all of them
    // per event (a first scan of 100 000 locations is 100 000 events).
    let views_by_id: std::collections::HashMap<&str, &View> = inputs
        .views
        .iter()
        .map(|v| (v.record.id.as_str(), v))
        .collect();
    for (seq, event) in inputs.events {
        plan.cursor = Some(*seq);
        let Some(e) = instant_event(event, &views_by_id) else {
            continue;
        };
        let grouped = match &event.kind {
            EventKind::CertificateChanged { new_sha256, .. } => {
                Some(format!("{new_sha256}|certificate_changed"))
            }
            // Each discovery run is news of its own, even of a certificate seen before.
            EventKind::FirstSeen { sha256: Some(sha) } => {
                Some(format!("{sha}|discovered|{}", event.at))
            }
            _ => None,
        };
        match grouped {
            Some(key) => {
                changed
                    .entry(key.clone())
                    .and_modify(|g| g.locations.extend(e.locations.iter().cloned()))
                    .or_insert_with(|| AlertEvent {
                        id: stable_id(&key),
                        ..e
                    });
            }
            None => plan.emit.push(e),
        }
    }
    for (_, mut e) in changed {
        if e.locations.len() > 1 && e.kind == "discovered" {
            e.summary = format!(
                "a certificate nobody listed was discovered at {} locations",
                e.locations.len()
            );
        } else if e.locations.len() > 1 {
            e.summary = format!(
                "the certificate served at {} locations changed",
                e.locations.len()
            );
        }
        plan.emit.push(e);
    }
    plan
}

fn event_for(
    key: &str,
    cond: &Condition,
    locations: Vec<String>,
    now: UnixSeconds,
    reminder: bool,
) -> AlertEvent {
    AlertEvent {
        id: stable_id(key),
        kind: cond.kind.to_string(),
        severity: cond.severity,
        summary: cond.summary.clone(),
        threshold: cond.threshold.clone(),
        certificate: cond.cert.clone(),
        locations,
        occurred_at: now,
        reminder,
        resolves: None,
        detail: cond.detail.clone(),
    }
}

/// Conditions by key, and the fingerprints whose state is unknown (their locations failed).
fn conditions(inputs: &Inputs<'_>) -> (BTreeMap<String, Condition>, BTreeSet<String>) {
    let now = inputs.now;
    let mut out: BTreeMap<String, Condition> = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    let mut add = |key: String, make: &dyn Fn() -> Condition, location: String| {
        out.entry(key)
            .or_insert_with(make)
            .locations
            .insert(location);
    };
    for view in inputs.views {
        let record = &view.record;
        let target = record.alert_target();
        if record.location.is_endpoint()
            && record.consecutive_failures >= inputs.settings.unreachable_after
        {
            let failure = record
                .findings
                .first()
                .or(view.findings.iter().find(|f| f.code.is_failure()));
            let message = failure.map(|f| f.message.clone());
            let failures = record.consecutive_failures;
            // A server that answers but will not upgrade is not "unreachable": say what it is.
            let (kind, what) = match failure.map(|f| f.code) {
                Some(FindingCode::StarttlsRefused) => ("starttls_refused", "refuses STARTTLS"),
                _ => ("endpoint_unreachable", "is unreachable"),
            };
            add(
                format!("{}|{kind}", record.id),
                &|| Condition {
                    kind,
                    severity: Severity::Critical,
                    threshold: None,
                    cert: None,
                    sha256: None,
                    locations: BTreeSet::new(),
                    summary: format!("{target} {what} ({failures} scans in a row)"),
                    detail: message.clone(),
                },
                target.clone(),
            );
        }
        // A certificate file that is named but absent has no certificate to key on: the
        // condition is the location's, and resolves when the file appears.
        if let Some(missing) = view
            .findings
            .iter()
            .find(|f| f.code == FindingCode::FileMissing)
        {
            add(
                format!("{}|file_missing", record.id),
                &|| Condition {
                    kind: "file_missing",
                    severity: missing.severity,
                    threshold: None,
                    cert: None,
                    sha256: None,
                    locations: BTreeSet::new(),
                    summary: format!("{target} does not exist"),
                    detail: Some(missing.message.clone()),
                },
                target.clone(),
            );
        }
        let Some(leaf) = &record.leaf else { continue };
        if record.consecutive_failures > 0 {
            unknown.insert(leaf.sha256.clone());
        }
        // A root in a trust store is nobody's to renew: its expiry is not an alert.
        let leaf_expiry = expiry(leaf, inputs.settings, inputs.thresholds, now)
            .filter(|_| !record.is_stored_anchor())
            .map(|e| (alert_cert(leaf), e));
        // The certificates the leaf depends on, judged at `now` like the leaf: one alert per
        // intermediate, however many locations present it.
        let chain_expiry = record.issuers.iter().filter_map(|cert| {
            chain_condition(cert, leaf, inputs.settings, inputs.thresholds, now)
                .map(|e| (chain_alert_cert(cert), e))
        });
        for (cert, (kind, severity, threshold, summary)) in
            leaf_expiry.into_iter().chain(chain_expiry)
        {
            let key = match &threshold {
                Some(t) => format!("{}|{kind}|{t}", cert.sha256),
                None => format!("{}|{kind}", cert.sha256),
            };
            add(
                key,
                &|| Condition {
                    kind,
                    severity,
                    threshold: threshold.clone(),
                    sha256: Some(cert.sha256.clone()),
                    cert: Some(cert.clone()),
                    locations: BTreeSet::new(),
                    summary: summary.clone(),
                    detail: None,
                },
                target.clone(),
            );
        }
        // Every other problem worth a warning or worse raises an alert of its own code
        // (hostname_mismatch, untrusted, incomplete_chain, self_signed, weak_signature,
        // weak_key, stale_served, ...): time findings and failures have their own rules above.
        for finding in view.findings.iter().filter(|f| alerts_on_its_own(f)) {
            let kind = finding.code.as_str();
            add(
                format!("{}|{kind}", leaf.sha256),
                &|| Condition {
                    kind,
                    severity: finding.severity,
                    threshold: None,
                    cert: Some(alert_cert(leaf)),
                    sha256: Some(leaf.sha256.clone()),
                    locations: BTreeSet::new(),
                    summary: format!("{}: {}", leaf.display_name(), finding.message),
                    detail: None,
                },
                target.clone(),
            );
        }
    }
    for state in inputs.managed.iter().filter(|m| m.failures > 0) {
        let severity = if state.failures >= 3 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        out.insert(
            format!("managed:{}|renewal_failed", state.name),
            Condition {
                kind: "renewal_failed",
                severity,
                threshold: None,
                cert: None,
                sha256: None,
                locations: BTreeSet::from([state.name.clone()]),
                summary: format!(
                    "renewal of {} is failing ({} attempt{})",
                    state.name,
                    state.failures,
                    if state.failures == 1 { "" } else { "s" }
                ),
                detail: state.last_error.clone(),
            },
        );
    }
    // Raised by one node only (the daemon records the outage on the node that reports it), so
    // a database outage is one alert, not one per node.
    if let Some(outage) = inputs.outage {
        out.insert(
            OUTAGE_KEY.to_string(),
            Condition {
                kind: "store_unreachable",
                severity: Severity::Critical,
                threshold: None,
                cert: None,
                sha256: None,
                locations: BTreeSet::from([outage.store.clone()]),
                summary: format!(
                    "the fleet store {} is unreachable from node {} since {}; no certificate is renewed where it cannot be reached",
                    outage.store,
                    outage.node,
                    rfc3339(outage.since),
                ),
                detail: Some(outage.error.clone()),
            },
        );
    }
    // Every node that reaches the store sees the same nodes down; the fleet's claims send each
    // alert once.
    for node in inputs.nodes_down {
        out.insert(
            format!("fleet|node_down|{}", node.name),
            Condition {
                kind: "node_down",
                severity: Severity::Warning,
                threshold: None,
                cert: None,
                sha256: None,
                locations: BTreeSet::from([node.name.clone()]),
                summary: format!(
                    "fleet node {} has not been heard from since {}; it renews and deploys nothing until it is back",
                    node.name,
                    rfc3339(node.last_seen),
                ),
                detail: Some(format!(
                    "if it is gone for good: certctl fleet forget {}",
                    node.name
                )),
            },
        );
    }
    (out, unknown)
}

/// The condition key of the fleet store outage.
const OUTAGE_KEY: &str = "fleet|store_unreachable";

/// Does this finding raise an alert under its own code? Warnings and worse do, except the
/// time findings (expiry thresholds) and scan failures (`endpoint_unreachable`), which have
/// rules of their own.
fn alerts_on_its_own(finding: &crate::model::Finding) -> bool {
    finding.severity >= Severity::Warning
        && !finding.code.is_time_based()
        && !finding.code.is_failure()
}

/// The condition of an intermediate at `now`: expired or not yet valid (critical), or expiring
/// before the leaf (by the same thresholds as a leaf).
fn chain_condition(
    cert: &ChainCert,
    leaf: &CertRecord,
    settings: &AlertSettings,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Option<(&'static str, Severity, Option<String>, String)> {
    let name = format!("intermediate {}", cert.name);
    match expiry_of(
        &name,
        cert.not_before,
        cert.not_after,
        settings,
        thresholds,
        now,
    )? {
        ("not_yet_valid", s, t, summary) => Some(("chain_not_yet_valid", s, t, summary)),
        ("expired", s, t, summary) => Some(("chain_expired", s, t, summary)),
        other if cert.not_after < leaf.not_after => Some(other),
        _ => None,
    }
}

fn chain_alert_cert(cert: &ChainCert) -> AlertCert {
    AlertCert {
        subject: cert.subject.clone(),
        issuer: cert.issuer.clone(),
        serial: cert.serial.clone(),
        sha256: cert.sha256.clone(),
        sans: Vec::new(),
        not_after: cert.not_after,
    }
}

/// The expiry condition of a certificate: kind, severity, crossed threshold, summary.
fn expiry(
    leaf: &CertRecord,
    settings: &AlertSettings,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Option<(&'static str, Severity, Option<String>, String)> {
    expiry_of(
        leaf.display_name(),
        leaf.not_before,
        leaf.not_after,
        settings,
        thresholds,
        now,
    )
}

/// The expiry condition of a validity period, for a certificate called `name`.
fn expiry_of(
    name: &str,
    not_before: UnixSeconds,
    not_after: UnixSeconds,
    settings: &AlertSettings,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Option<(&'static str, Severity, Option<String>, String)> {
    if now < not_before {
        return Some((
            "not_yet_valid",
            Severity::Critical,
            None,
            format!("{name} is not valid until {}", rfc3339(not_before)),
        ));
    }
    let remaining = not_after - now;
    if remaining <= 0 {
        return Some((
            "expired",
            Severity::Critical,
            None,
            format!(
                "{name} expired {} ({})",
                relative(remaining),
                rfc3339(not_after)
            ),
        ));
    }
    let lifetime = not_after - not_before;
    // The crossed thresholds: absolute ones that apply to this lifetime, plus the relative one.
    let mut crossed: Vec<(i64, String)> = settings
        .thresholds
        .iter()
        .filter(|t| **t * 2 < lifetime && remaining <= **t)
        .map(|t| (*t, label(*t)))
        .collect();
    let (warn, critical) = thresholds.for_lifetime(lifetime);
    let relative_fraction = settings
        .lifetime_fraction
        .or_else(|| (!settings.thresholds.iter().any(|t| *t * 2 < lifetime)).then_some(0.25));
    if let Some(f) = relative_fraction {
        let t = (lifetime as f64 * f) as i64;
        if remaining <= t {
            crossed.push((t, format!("{}% of lifetime", (f * 100.0).round())));
        }
    }
    let (_, threshold) = crossed.into_iter().min_by_key(|(t, _)| *t)?;
    let severity = if remaining <= critical {
        Severity::Critical
    } else if remaining <= warn {
        Severity::Warning
    } else {
        Severity::Info
    };
    Some((
        "expiring",
        severity,
        Some(threshold),
        format!(
            "{name} expires {} ({})",
            relative(remaining),
            rfc3339(not_after)
        ),
    ))
}

fn label(seconds: i64) -> String {
    const DAY: i64 = 86_400;
    if seconds % DAY == 0 {
        format!("{}d", seconds / DAY)
    } else if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{seconds}s")
    }
}

/// Events that happen once rather than hold: a certificate changed outside certctl, a renewal
/// succeeded.
fn instant_event(
    event: &InventoryEvent,
    views: &std::collections::HashMap<&str, &View>,
) -> Option<AlertEvent> {
    match &event.kind {
        EventKind::CertificateChanged {
            old_sha256,
            new_sha256,
            new_serial,
        } => {
            let view = views.get(event.location_id.as_str()).copied();
            // Certificates certctl itself installs change by design: not news.
            let managed = view.is_some_and(|v| {
                v.record
                    .labels
                    .iter()
                    .any(|(k, v)| k == "managed" && v == "acme")
            });
            if managed {
                return None;
            }
            Some(AlertEvent {
                id: stable_id(&format!(
                    "{}|certificate_changed|{new_sha256}",
                    event.location_id
                )),
                kind: "certificate_changed".into(),
                severity: Severity::Info,
                summary: format!("the certificate served at {} changed", event.target),
                threshold: None,
                certificate: view.and_then(|v| v.record.leaf.as_ref()).map(alert_cert),
                locations: vec![event.target.clone()],
                occurred_at: event.at,
                reminder: false,
                resolves: None,
                detail: Some(format!(
                    "was {}, now {} (serial {new_serial})",
                    &old_sha256[..old_sha256.len().min(16)],
                    &new_sha256[..new_sha256.len().min(16)]
                )),
            })
        }
        EventKind::RenewalSucceeded {
            name,
            serial,
            not_after,
        } => Some(AlertEvent {
            id: stable_id(&format!("managed:{name}|renewal_succeeded|{serial}")),
            kind: "renewal_succeeded".into(),
            severity: Severity::Info,
            summary: format!(
                "{name} was renewed (serial {serial}, expires {})",
                rfc3339(*not_after)
            ),
            threshold: None,
            certificate: None,
            locations: vec![name.clone()],
            occurred_at: event.at,
            reminder: false,
            resolves: None,
            detail: None,
        }),
        EventKind::DeployFailed {
            name,
            target,
            kind,
            error,
            rolled_back,
        } => Some(AlertEvent {
            id: stable_id(&format!("managed:{name}|{kind}|{target}|{}", event.at)),
            kind: if kind == "verification_failed" {
                "verification_failed".into()
            } else {
                "deploy_failed".into()
            },
            severity: Severity::Critical,
            summary: format!(
                "deploying {name} to {target} failed{}",
                if *rolled_back { "; rolled back" } else { "" }
            ),
            threshold: None,
            certificate: None,
            locations: vec![target.clone()],
            occurred_at: event.at,
            reminder: false,
            resolves: None,
            detail: Some(error.clone()),
        }),
        // A certificate found by `certctl discover --add`: news, since nobody listed it.
        EventKind::FirstSeen { sha256: Some(sha) } => {
            let view = views.get(event.location_id.as_str()).copied()?;
            let discovered = view
                .record
                .labels
                .iter()
                .any(|(k, v)| k == "discovered" && v == "true");
            if !discovered {
                return None;
            }
            Some(AlertEvent {
                id: stable_id(&format!("{sha}|discovered|{}", event.at)),
                kind: "discovered".into(),
                severity: Severity::Info,
                summary: format!("a certificate nobody listed was discovered at {}", event.target),
                threshold: None,
                certificate: view.record.leaf.as_ref().map(alert_cert),
                locations: vec![event.target.clone()],
                occurred_at: event.at,
                reminder: false,
                resolves: None,
                detail: Some(
                    "found by certctl discover; add it to the config (with its server_name) to track it by name"
                        .into(),
                ),
            })
        }
        EventKind::FirstSeen { .. }
        | EventKind::Retired { .. }
        | EventKind::RenewalFailed { .. }
        | EventKind::Deployed { .. } => None,
    }
}

fn alert_cert(leaf: &CertRecord) -> AlertCert {
    AlertCert {
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        serial: leaf.serial.clone(),
        sha256: leaf.sha256.clone(),
        sans: leaf.sans.clone(),
        not_after: leaf.not_after,
    }
}

/// 16 hex digits of SHA-256 over the condition key.
pub fn stable_id(key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Location, LocationRecord};

    const DAY: i64 = 86_400;

    fn view(host: &str, sha: &str, not_after: i64) -> View {
        let mut leaf = crate::model::tests::sample();
        leaf.sha256 = sha.into();
        leaf.not_before = not_after - 90 * DAY;
        leaf.not_after = not_after;
        let record = LocationRecord {
            id: format!("id-{host}"),
            location: Location::Endpoint {
                host: host.into(),
                port: 443,
                server_name: None,
            },
            name: None,
            labels: vec![],
            first_seen: 0,
            last_scanned: 0,
            leaf_since: None,
            leaf: Some(leaf),
            tls: None,
            findings: vec![],
            consecutive_failures: 0,
            issuers: vec![],
            adhoc: false,
            trust_store: false,
        };
        View::of(record, &Thresholds::default(), 0)
    }

    struct Sim {
        open: Vec<OpenAlert>,
        sent: Vec<AlertEvent>,
        settings: AlertSettings,
        outage: Option<StoreOutage>,
        nodes_down: Vec<NodeDown>,
    }

    impl Sim {
        fn new() -> Sim {
            Sim {
                open: vec![],
                sent: vec![],
                settings: AlertSettings::default(),
                outage: None,
                nodes_down: Vec::new(),
            }
        }

        /// Runs the engine at `now` and applies its plan, as the store would.
        fn step(&mut self, views: &[View], now: i64) -> Vec<AlertEvent> {
            let plan = evaluate(&Inputs {
                views,
                managed: &[],
                events: &[],
                open: &self.open,
                settings: &self.settings,
                thresholds: &Thresholds::default(),
                outage: self.outage.as_ref(),
                nodes_down: &self.nodes_down,
                now,
            });
            self.open.retain(|o| !plan.remove.contains(&o.key));
            for u in plan.upsert {
                self.open.retain(|o| o.key != u.key);
                self.open.push(u);
            }
            self.sent.extend(plan.emit.clone());
            plan.emit
        }
    }

    fn kinds(events: &[AlertEvent]) -> Vec<(String, Option<String>, bool)> {
        events
            .iter()
            .map(|e| (e.kind.clone(), e.threshold.clone(), e.reminder))
            .collect()
    }

    #[test]
    fn one_alert_per_crossing_reminders_and_resolution_over_simulated_time() {
        let mut sim = Sim::new();
        let expiry = 100 * DAY;
        let views = vec![view("a", "aa", expiry)];
        // 40 days left: nothing.
        assert!(sim.step(&views, expiry - 40 * DAY).is_empty());
        // Crosses 30d: one alert.
        let e = sim.step(&views, expiry - 29 * DAY);
        assert_eq!(
            kinds(&e),
            vec![("expiring".into(), Some("30d".into()), false)]
        );
        // An hour later: nothing new.
        assert!(sim.step(&views, expiry - 29 * DAY + 3600).is_empty());
        // A day later: one reminder with the same id.
        let r = sim.step(&views, expiry - 28 * DAY);
        assert_eq!(
            kinds(&r),
            vec![("expiring".into(), Some("30d".into()), true)]
        );
        assert_eq!(r[0].id, e[0].id);
        // Crosses 14d: a new alert, the 30d one retired silently.
        let e14 = sim.step(&views, expiry - 13 * DAY);
        assert_eq!(
            kinds(&e14),
            vec![("expiring".into(), Some("14d".into()), false)]
        );
        assert_eq!(sim.open.len(), 1);
        // Renewed: the location serves a new certificate; the alert resolves once.
        let renewed = vec![view("a", "bb", expiry + 60 * DAY)];
        let res = sim.step(&renewed, expiry - 12 * DAY);
        assert_eq!(
            kinds(&res),
            vec![("resolved".into(), Some("14d".into()), false)]
        );
        assert_eq!(
            res[0].resolves.as_ref().map(|r| r.0.clone()),
            Some(e14[0].id.clone())
        );
        assert!(sim.step(&renewed, expiry - 11 * DAY).is_empty());
        assert!(sim.open.is_empty());
    }

    #[test]
    fn many_locations_one_alert() {
        let mut sim = Sim::new();
        let views: Vec<View> = (0..200)
            .map(|i| view(&format!("h{i}"), "same", 10 * DAY))
            .collect();
        let e = sim.step(&views, 0);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].locations.len(), 200);
    }

    #[test]
    fn unreachable_only_after_n_failures_and_unknown_keeps_alerts_open() {
        let mut sim = Sim::new();
        let mut v = view("a", "aa", 10 * DAY);
        let opened = sim.step(std::slice::from_ref(&v), 0);
        assert_eq!(opened.len(), 1);
        for failures in 1..=3u32 {
            v.record.consecutive_failures = failures;
            v.findings = vec![];
            let e = sim.step(std::slice::from_ref(&v), 100 * failures as i64);
            if failures < 3 {
                assert!(e.is_empty(), "{failures}: {e:?}");
            } else {
                assert_eq!(
                    kinds(&e),
                    vec![("endpoint_unreachable".into(), None, false)]
                );
            }
        }
        // The expiring alert stayed open throughout.
        assert!(sim.open.iter().any(|o| o.event.kind == "expiring"));
    }

    #[test]
    fn a_refused_starttls_is_named_so_and_resolved_when_the_upgrade_works() {
        let mut sim = Sim::new();
        let mut v = view("mx", "aa", 80 * DAY);
        assert!(sim.step(std::slice::from_ref(&v), 0).is_empty());
        v.record.consecutive_failures = 3;
        v.record.findings = vec![Finding::new(
            FindingCode::StarttlsRefused,
            Severity::Critical,
            "smtp server does not offer STARTTLS",
        )];
        let e = sim.step(std::slice::from_ref(&v), 100);
        assert_eq!(kinds(&e), vec![("starttls_refused".into(), None, false)]);
        let id = e[0].id.clone();
        assert!(
            e[0].summary.contains("refuses STARTTLS"),
            "{}",
            e[0].summary
        );
        assert_eq!(
            e[0].detail.as_deref(),
            Some("smtp server does not offer STARTTLS")
        );
        v.record.consecutive_failures = 0;
        v.record.findings = vec![];
        let e = sim.step(std::slice::from_ref(&v), 200);
        assert_eq!(kinds(&e), vec![("resolved".into(), None, false)]);
        assert_eq!(e[0].resolves.as_ref().map(|r| &r.0), Some(&id));
    }

    #[test]
    fn an_expired_intermediate_is_one_alert_resolved_when_the_chain_is_fixed() {
        let mut sim = Sim::new();
        let now = 1_000 * DAY;
        let mut int = crate::model::tests::sample();
        int.subject = "CN=Old Int".into();
        int.subject_cn = Some("Old Int".into());
        int.sha256 = "int".into();
        int.not_before = now - 900 * DAY;
        int.not_after = now - DAY;
        let broken: Vec<View> = ["a", "b"]
            .iter()
            .map(|h| {
                let mut v = view(h, &format!("leaf-{h}"), now + 80 * DAY);
                v.record.issuers = vec![ChainCert::of(&int)];
                View::of(v.record, &Thresholds::default(), now)
            })
            .collect();
        let e = sim.step(&broken, now);
        assert_eq!(kinds(&e), vec![("chain_expired".into(), None, false)]);
        assert_eq!(e[0].severity, Severity::Critical);
        assert_eq!(e[0].locations.len(), 2, "one alert for the intermediate");
        assert_eq!(
            e[0].certificate.as_ref().map(|c| c.sha256.as_str()),
            Some("int")
        );
        assert!(sim.step(&broken, now + 60).is_empty());
        let fixed = vec![
            view("a", "leaf-a", now + 80 * DAY),
            view("b", "leaf-b", now + 80 * DAY),
        ];
        let r = sim.step(&fixed, now + 120);
        assert_eq!(kinds(&r), vec![("resolved".into(), None, false)]);
        assert_eq!(
            r[0].resolves.as_ref().map(|x| x.1.as_str()),
            Some("chain_expired")
        );
    }

    #[test]
    fn every_critical_finding_raises_an_alert_and_resolves() {
        use crate::model::{Finding, FindingCode};
        let now = 1_000 * DAY;
        for code in [
            FindingCode::SelfSigned,
            FindingCode::WeakSignature,
            FindingCode::StaleServed,
            FindingCode::HostnameMismatch,
        ] {
            let mut sim = Sim::new();
            let mut v = view("a", "aa", now + 80 * DAY);
            v.record.findings = vec![Finding::new(code, Severity::Critical, "m")];
            let bad = View::of(v.record, &Thresholds::default(), now);
            let e = sim.step(std::slice::from_ref(&bad), now);
            assert_eq!(
                kinds(&e),
                vec![(code.as_str().into(), None, false)],
                "{code}"
            );
            assert!(sim.step(std::slice::from_ref(&bad), now + 60).is_empty());
            let good = view("a", "aa", now + 80 * DAY);
            let r = sim.step(&[good], now + 120);
            assert_eq!(kinds(&r), vec![("resolved".into(), None, false)], "{code}");
        }
        // Info findings stay quiet (no_tls13).
        let mut sim = Sim::new();
        let mut v = view("a", "aa", now + 80 * DAY);
        v.record.findings = vec![Finding::new(FindingCode::NoTls13, Severity::Info, "m")];
        let info = View::of(v.record, &Thresholds::default(), now);
        assert!(sim.step(&[info], now).is_empty());
    }

    #[test]
    fn every_alert_kind_can_be_subscribed_to() {
        for code in crate::model::FindingCode::ALL {
            // Failures alert as endpoint_unreachable; revocation_unknown is always information.
            if code.is_failure() || code == FindingCode::RevocationUnknown {
                continue;
            }
            let kind = code.as_str();
            assert!(
                crate::config::alerts::EVENT_KINDS.contains(&kind),
                "{kind} is missing from EVENT_KINDS"
            );
        }
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(stable_id("x|expiring|7d"), stable_id("x|expiring|7d"));
        assert_ne!(stable_id("x|expiring|7d"), stable_id("x|expiring|1d"));
        assert_eq!(stable_id("x").len(), 16);
    }

    #[test]
    fn a_store_outage_is_one_alert_resolved_when_it_ends() {
        let mut sim = Sim::new();
        sim.outage = Some(StoreOutage {
            store: "certctl@db.internal:5432/certctl".into(),
            node: "web-1".into(),
            since: 1000,
            error: "connection refused".into(),
        });
        let opened = sim.step(&[], 1100);
        assert_eq!(
            kinds(&opened),
            [("store_unreachable".to_string(), None, false)]
        );
        assert_eq!(opened[0].severity, Severity::Critical);
        assert!(opened[0].summary.contains("node web-1"), "{opened:?}");
        assert_eq!(opened[0].locations, ["certctl@db.internal:5432/certctl"]);
        assert!(sim.step(&[], 1200).is_empty(), "not repeated in between");
        sim.outage = None;
        let resolved = sim.step(&[], 1300);
        assert_eq!(kinds(&resolved), [("resolved".to_string(), None, false)]);
        assert_eq!(
            resolved[0].resolves.as_ref().map(|(_, k)| k.as_str()),
            Some("store_unreachable")
        );
        assert!(sim.step(&[], 1400).is_empty());
    }

    #[test]
    fn a_node_down_is_an_alert_until_it_is_back() {
        let mut sim = Sim::new();
        sim.nodes_down = vec![NodeDown {
            name: "web-3".into(),
            last_seen: 900,
        }];
        let opened = sim.step(&[], 1000);
        assert_eq!(kinds(&opened), [("node_down".to_string(), None, false)]);
        assert!(opened[0].summary.contains("web-3"), "{opened:?}");
        assert!(sim.step(&[], 1100).is_empty());
        sim.nodes_down.clear();
        let resolved = sim.step(&[], 1200);
        assert_eq!(kinds(&resolved), [("resolved".to_string(), None, false)]);
    }
}
