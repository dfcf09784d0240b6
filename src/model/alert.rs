//! Alert messages, the alerts still open, and the deliveries of the outbox.

use serde::{Deserialize, Serialize};

use super::{Severity, UnixSeconds};

/// A certificate as an alert describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCert {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub sha256: String,
    pub sans: Vec<String>,
    pub not_after: UnixSeconds,
}

/// One alert message, as delivered to every webhook (each format renders it its own way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Stable: derived from the certificate fingerprint (or location / certificate name), the
    /// kind and the threshold, so receivers can de-duplicate; reminders reuse it.
    pub id: String,
    /// `expiring`, `expired`, ..., `resolved`, `test`.
    pub kind: String,
    pub severity: Severity,
    /// One line for people.
    pub summary: String,
    /// The crossed threshold, for `expiring` (e.g. `7d`, `25% of lifetime`).
    pub threshold: Option<String>,
    pub certificate: Option<AlertCert>,
    /// Every location where the condition holds (one alert, not one per location).
    pub locations: Vec<String>,
    pub occurred_at: UnixSeconds,
    /// A reminder of an alert that is still open.
    pub reminder: bool,
    /// For `resolved`: the id and kind of the alert that no longer holds.
    pub resolves: Option<(String, String)>,
    pub detail: Option<String>,
}

/// An alert that is open (its condition still holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    /// The condition key (fingerprint|kind|threshold, location|kind, or managed:name|kind).
    pub key: String,
    pub event: AlertEvent,
    pub opened_at: UnixSeconds,
    pub last_sent_at: UnixSeconds,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Given up (retried for `retry_for`, or the webhook is disabled); `alerts retry` re-queues.
    Dead,
}

/// One event on its way to one webhook: the durable outbox entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub webhook: String,
    pub event: AlertEvent,
    pub created_at: UnixSeconds,
    pub attempts: u32,
    pub next_attempt_at: UnixSeconds,
    pub state: DeliveryState,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
}
