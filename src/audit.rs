//! What goes into the audit log, from every surface: scan result changes, alerts queued and
//! delivered, orders placed, renewals, config reloads. Recording never fails the action it
//! records: an audit write error is logged.

use crate::model::EventKind;
use crate::store::Store;

/// Appends one entry; errors are logged, not returned.
pub fn record(store: &Store, action: &str, subject: &str, detail: &str) {
    if let Err(e) = store.append_audit(crate::clock::now(), action, subject, detail) {
        tracing::error!("cannot write the audit log: {e}");
    }
}

/// Writes the inventory events not yet in the audit log (first seen, certificate changed,
/// renewals), then moves the cursor.
pub fn record_inventory(store: &Store) {
    let result = (|| {
        let events = store.events_since(store.audit_cursor()?)?;
        for (seq, event) in &events {
            let (action, detail) = match &event.kind {
                EventKind::FirstSeen { sha256 } => (
                    "location_first_seen",
                    sha256
                        .as_deref()
                        .map(|s| format!("sha256 {s}"))
                        .unwrap_or_default(),
                ),
                EventKind::CertificateChanged {
                    old_sha256,
                    new_sha256,
                    new_serial,
                } => (
                    "certificate_changed",
                    format!("{old_sha256} -> {new_sha256} (serial {new_serial})"),
                ),
                EventKind::RenewalSucceeded {
                    serial, not_after, ..
                } => (
                    "renewal_succeeded",
                    format!(
                        "serial {serial}, expires {}",
                        crate::policy::rfc3339(*not_after)
                    ),
                ),
                EventKind::RenewalFailed {
                    error, failures, ..
                } => ("renewal_failed", format!("attempt {failures}: {error}")),
                EventKind::Retired { reason } => ("location_retired", reason.clone()),
                // Deploys are audited where they happen (lifecycle::deploy_all).
                EventKind::Deployed { .. } | EventKind::DeployFailed { .. } => {
                    store.set_audit_cursor(*seq)?;
                    continue;
                }
            };
            store.append_audit(event.at, action, &event.target, &detail)?;
            store.set_audit_cursor(*seq)?;
        }
        store.flush()
    })();
    if let Err(e) = result {
        tracing::error!("cannot write the audit log: {e}");
    }
}
