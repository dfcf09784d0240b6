//! One look at one location, as the scanners report it (never stored as such).

use serde::{Deserialize, Serialize};

use super::{CertRecord, FindingCode, Location, TlsInfo, UnixSeconds};

/// The verdict of a trust-path check, made by the scanner with rustls' verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trust {
    /// The chain leads to a trust anchor.
    Trusted,
    /// The chain does not lead to a trust anchor; the verifier's reason.
    Untrusted(String),
    /// Trust was not evaluated (files).
    NotChecked,
}

/// Everything learned from one look at one location. Produced by the inventory scanners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub location: Location,
    pub observed_at: UnixSeconds,
    pub outcome: Outcome,
}

/// What a scanner got from a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Certificates were read. `chain[0]` is the leaf for endpoints.
    Presented {
        chain: Vec<CertRecord>,
        tls: Option<TlsInfo>,
        trust: Trust,
        /// The leaf's issuer is itself a trust anchor (so no intermediate is needed).
        issuer_is_anchor: bool,
        /// Read from a legacy (TLS 1.0-1.2, old ciphers) hello because rustls could not
        /// complete a handshake: why it could not.
        legacy: Option<String>,
        /// What the OCSP responder or CRL says about the leaf (`None`: not checked, or the
        /// certificate names no way to ask).
        revocation: Option<Revocation>,
    },
    /// Nothing could be read; `code` is one of the failure codes.
    Failed { code: FindingCode, message: String },
}

/// The revocation check of a leaf, made by the scanner ([`crate::inventory::revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub state: RevocationState,
    /// The certificate demands a stapled OCSP response (must-staple) and none was sent.
    pub must_staple_missing: bool,
}

/// What a verified OCSP response or CRL said, or why there is no verified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationState {
    /// Nothing to ask (only the must-staple check applies).
    NotChecked,
    Good {
        source: String,
    },
    Revoked {
        at: UnixSeconds,
        reason: Option<String>,
        source: String,
    },
    /// No verified answer: responder down, garbage, unsigned, stale, or issuer not presented.
    Unknown(String),
}
