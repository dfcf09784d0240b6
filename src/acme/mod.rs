//! The only module that touches instant-acme: accounts, orders and challenge solvers.
//!
//! The steps of an issuance are separate functions ([`order::place`], [`order::authorize`],
//! [`order::finalize`]) so that the caller can persist progress between them and resume an
//! interrupted order after a crash instead of placing a new one.

pub mod account;
pub mod challenge;
mod http;
pub mod keys;
pub mod order;

pub use account::AcmeAccount;
pub use keys::CertKey;

/// The CA's problem document (shared with the store, which keeps it with a failure).
pub type ProblemDoc = crate::model::CaProblem;

/// Why an ACME operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The CA answered with a problem document.
    #[error("the CA refused: {0}")]
    Problem(ProblemDoc),
    /// The CA could not be reached or answered garbage.
    #[error("cannot talk to the CA at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The account could not be loaded, registered or saved.
    #[error("account {account}: {reason}")]
    Account { account: String, reason: String },
    /// A challenge could not be published or was rejected.
    #[error("challenge: {0}")]
    Challenge(String),
    /// The CA did not validate the order; the per-identifier errors are listed.
    #[error("validation failed: {0}")]
    Validation(String),
    /// Generating or reading a key, or building the CSR, failed.
    #[error("key: {0}")]
    Key(String),
    /// The order is in a state this step cannot continue from.
    #[error("order {url}: {reason}")]
    Order { url: String, reason: String },
    /// The certificate asks for an ACME profile the CA does not offer (checked before ordering:
    /// a CA that does not know profiles would silently issue its default instead).
    #[error(
        "the CA at {directory} does not offer the profile \"{profile}\" ({offered}); change `profile` of [[certificate]] {cert}"
    )]
    Profile {
        cert: String,
        directory: String,
        profile: String,
        /// What the CA does offer, already phrased ("it offers: a, b" or "it offers no profiles").
        offered: String,
    },
    /// Writing the issued material (key, certificate, the `current` swap) failed.
    #[error("{0}")]
    Install(String),
}

impl AcmeError {
    /// The CA's problem document, when there is one.
    pub fn problem(&self) -> Option<&ProblemDoc> {
        match self {
            AcmeError::Problem(p) => Some(p),
            _ => None,
        }
    }

    /// The CA rejected the request's anti-replay nonce (RFC 8555 §6.5): nothing was done, and
    /// the same request with a fresh nonce may go through at once.
    pub fn is_bad_nonce(&self) -> bool {
        self.problem()
            .and_then(|p| p.kind.as_deref())
            .is_some_and(|k| k.ends_with(":badNonce"))
    }

    /// Whether retrying later may help (outages, rate limits), as opposed to a configuration
    /// problem that needs a human.
    pub fn is_retryable(&self) -> bool {
        match self {
            AcmeError::Transport { .. } | AcmeError::Validation(_) => true,
            AcmeError::Problem(p) => {
                matches!(
                    p.kind
                        .as_deref()
                        .map(|k| k.trim_start_matches("urn:ietf:params:acme:error:")),
                    Some("rateLimited" | "serverInternal" | "badNonce" | "connection" | "dns")
                ) || p.status.is_some_and(|s| s >= 500)
            }
            _ => false,
        }
    }

    /// Converts an instant-acme error, naming the CA for transport failures.
    pub(crate) fn from_acme(url: &str, e: instant_acme::Error) -> AcmeError {
        match e {
            instant_acme::Error::Api(p) => AcmeError::Problem(problem_doc(&p)),
            other => AcmeError::Transport {
                url: url.to_string(),
                reason: crate::errors::chain(&other),
            },
        }
    }
}

pub(crate) fn problem_doc(p: &instant_acme::Problem) -> ProblemDoc {
    ProblemDoc {
        kind: p.r#type.clone(),
        detail: p.detail.clone(),
        status: p.status,
        subproblems: p
            .subproblems
            .iter()
            .map(|s| {
                let who = s
                    .identifier
                    .as_ref()
                    .map(|i| format!("{i:?}"))
                    .unwrap_or_default();
                format!(
                    "{who}: {}",
                    s.detail
                        .clone()
                        .unwrap_or_else(|| s.r#type.clone().unwrap_or_default())
                )
            })
            .collect(),
    }
}
