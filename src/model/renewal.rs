//! The durable renewal state of a managed certificate: an order in flight, failures, the CA's
//! last problem document and its ARI window.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::UnixSeconds;

/// An RFC 7807 problem document from an ACME CA, kept durably with a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaProblem {
    pub kind: Option<String>,
    pub detail: Option<String>,
    pub status: Option<u16>,
    pub subproblems: Vec<String>,
}

impl fmt::Display for CaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self
            .kind
            .as_deref()
            .map(|k| k.trim_start_matches("urn:ietf:params:acme:error:"))
            .unwrap_or("error");
        write!(f, "{kind}")?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for sub in &self.subproblems {
            write!(f, "; {sub}")?;
        }
        Ok(())
    }
}

/// An order that was placed and not yet installed: enough to resume it after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub order_url: String,
    /// The version directory the new key and certificate go to.
    pub version: String,
    /// The new private key has been written (durably) into the version directory.
    pub key_written: bool,
    pub started_at: UnixSeconds,
}

/// The CA's renewal window for the current certificate (ARI), and when to ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriState {
    pub serial: String,
    pub start: UnixSeconds,
    pub end: UnixSeconds,
    pub next_check: UnixSeconds,
}

/// The durable renewal state of one managed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ManagedState {
    pub name: String,
    pub in_flight: Option<InFlight>,
    /// Failed attempts in a row (0 after a success).
    pub failures: u32,
    pub last_failure: Option<UnixSeconds>,
    pub last_error: Option<String>,
    pub last_problem: Option<CaProblem>,
    pub last_success: Option<UnixSeconds>,
    pub last_serial: Option<String>,
    pub ari: Option<AriState>,
    /// Orders placed over the certificate's life (each crash may add at most one).
    pub orders_placed: u64,
}

impl ManagedState {
    /// Records that a new certificate (`serial`) was installed at `now`: no order in flight,
    /// no failures, and the CA's renewal window of the old one forgotten.
    pub fn installed(&mut self, serial: &str, now: UnixSeconds) {
        self.in_flight = None;
        self.failures = 0;
        self.last_failure = None;
        self.last_error = None;
        self.last_problem = None;
        self.last_success = Some(now);
        self.last_serial = Some(serial.to_string());
        self.ari = None;
    }
}
