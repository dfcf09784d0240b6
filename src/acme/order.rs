//! One order, step by step: place (or resume), authorize, finalize, download.

use std::time::Duration;

use instant_acme::{
    AuthorizationStatus, CertificateIdentifier, ChallengeStatus, Identifier, NewOrder, Order,
    OrderStatus, RetryPolicy, RevocationReason, RevocationRequest,
};
use rustls::pki_types::CertificateDer;

use super::challenge::{Proof, Solver};
use super::{AcmeAccount, AcmeError, CertKey, problem_doc};
use crate::config::acme::ManagedCert;
use crate::policy::renew::AriWindow;

/// Polling tuned for a responsive CA: start at 20 ms and grow by half, honouring Retry-After
/// (instant-acme waits for it when the CA sends one). The library default (250 ms, doubling)
/// would add most of a second to every issuance.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(20))
    .backoff(1.5)
    .timeout(Duration::from_secs(180));

/// An order in progress.
pub struct PlacedOrder {
    pub url: String,
    inner: Order,
}

impl PlacedOrder {
    fn status(&mut self) -> OrderStatus {
        self.inner.state().status
    }

    /// The CA gave up on this order; a new one is needed.
    pub fn is_invalid(&mut self) -> bool {
        self.status() == OrderStatus::Invalid
    }
}

fn identifiers(domains: &[String]) -> Vec<Identifier> {
    domains
        .iter()
        .map(|d| match d.parse::<std::net::IpAddr>() {
            Ok(ip) => Identifier::Ip(ip),
            Err(_) => Identifier::Dns(d.clone()),
        })
        .collect()
}

/// Places a new order. `replaces` (ARI) is dropped and the order retried once if the CA refuses
/// it (see [`refuses_replaces`]).
pub async fn place(
    account: &AcmeAccount,
    cert: &ManagedCert,
    replaces: Option<&[u8]>,
) -> Result<PlacedOrder, AcmeError> {
    check_profile(account, cert)?;
    let ids = identifiers(&cert.domains);
    let der = replaces.map(|d| CertificateDer::from(d.to_vec()));
    let replaces_id = der
        .as_ref()
        .and_then(|d| CertificateIdentifier::try_from(d).ok());
    let build = |with_replaces: bool| {
        let mut new = NewOrder::new(&ids);
        if let Some(profile) = &cert.profile {
            new = new.profile(profile);
        }
        if with_replaces && let Some(id) = &replaces_id {
            new = new.replaces(id.clone());
        }
        new
    };
    let supports_ari = replaces_id.is_some();
    let first = account.inner.new_order(&build(supports_ari)).await;
    let order = match first {
        Err(instant_acme::Error::Api(p)) if supports_ari && refuses_replaces(&p) => {
            tracing::info!(
                cert = %cert.name,
                "the CA refused `replaces` ({}); ordering without it",
                p.detail.as_deref().or(p.r#type.as_deref()).unwrap_or("no detail")
            );
            account.inner.new_order(&build(false)).await
        }
        Err(instant_acme::Error::Unsupported(_)) if supports_ari => {
            account.inner.new_order(&build(false)).await
        }
        other => other,
    }
    .map_err(|e| AcmeError::from_acme(&account.directory, e))?;
    Ok(PlacedOrder {
        url: order.url().to_string(),
        inner: order,
    })
}

/// Whether a rejected newOrder may be down to its `replaces` field, so that the same order
/// without it is worth one more try: `alreadyReplaced` (another order replaced that certificate
/// first, RFC 9773 §5), or `malformed`, which is what a CA answers when `replaces` names a
/// certificate it never issued (the certificate came from the CA used before this one). Any
/// other cause of `malformed` simply fails again.
fn refuses_replaces(p: &instant_acme::Problem) -> bool {
    p.r#type
        .as_deref()
        .is_some_and(|t| t.ends_with(":alreadyReplaced") || t.ends_with(":malformed"))
}

/// Refuses a `profile` the CA's directory does not list (draft-ietf-acme-profiles): a CA that
/// does not know the profile, or profiles at all, may ignore the field and issue its default.
fn check_profile(account: &AcmeAccount, cert: &ManagedCert) -> Result<(), AcmeError> {
    let Some(profile) = &cert.profile else {
        return Ok(());
    };
    let offered = account.inner.profiles().map(|p| p.name).collect();
    profile_offered(profile, offered).map_err(|offered| AcmeError::Profile {
        cert: cert.name.clone(),
        directory: account.directory.clone(),
        profile: profile.clone(),
        offered,
    })
}

/// `Ok` when the directory lists `profile`; otherwise what it does offer, phrased for the error.
fn profile_offered(profile: &str, mut offered: Vec<&str>) -> Result<(), String> {
    if offered.contains(&profile) {
        return Ok(());
    }
    offered.sort_unstable();
    Err(if offered.is_empty() {
        "it offers no profiles".into()
    } else {
        format!("it offers: {}", offered.join(", "))
    })
}

/// Picks up an order placed earlier (after a crash or restart).
pub async fn resume(account: &AcmeAccount, url: &str) -> Result<PlacedOrder, AcmeError> {
    let order = account
        .inner
        .order(url.to_string())
        .await
        .map_err(|e| AcmeError::from_acme(url, e))?;
    Ok(PlacedOrder {
        url: url.to_string(),
        inner: order,
    })
}

/// Proves control of every identifier, then waits until the order is ready. The solver's
/// proofs are always cleaned up, whether this succeeds or fails.
pub async fn authorize(order: &mut PlacedOrder, solver: Solver) -> Result<(), AcmeError> {
    if order.status() != OrderStatus::Pending {
        let errors = solver.cleanup().await;
        log_cleanup(&errors);
        return Ok(());
    }
    let mut solver = solver;
    let result = run_challenges(order, &mut solver).await;
    let errors = solver.cleanup().await;
    log_cleanup(&errors);
    result
}

fn log_cleanup(errors: &[String]) {
    for e in errors {
        tracing::warn!("challenge cleanup: {e}");
    }
}

async fn run_challenges(order: &mut PlacedOrder, solver: &mut Solver) -> Result<(), AcmeError> {
    let kind = solver.challenge_type();
    let url = order.url.clone();
    let fail = |e| AcmeError::from_acme(&url, e);
    // Pass 1: publish every proof.
    let mut ready_urls = Vec::new();
    {
        let mut authorizations = order.inner.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(fail)?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Order {
                        url: url.clone(),
                        reason: format!("authorization is {other:?}"),
                    });
                }
            }
            let identifier = authz.identifier().identifier.clone();
            let domain = match &identifier {
                Identifier::Dns(d) => d.clone(),
                Identifier::Ip(ip) => ip.to_string(),
                other => format!("{other:?}"),
            };
            let challenge = authz.challenge(kind.clone()).ok_or_else(|| {
                AcmeError::Challenge(format!(
                    "the CA offers no {kind:?} challenge for {domain} (wildcards need dns-01)"
                ))
            })?;
            let key_auth = challenge.key_authorization();
            let mut digest = [0u8; 32];
            digest.copy_from_slice(key_auth.digest().as_ref());
            let proof = Proof {
                domain,
                token: challenge.token.clone(),
                key_authorization: key_auth.as_str().to_string(),
                digest,
                dns_value: key_auth.dns_value(),
            };
            solver.present(&proof).await?;
            ready_urls.push(challenge.url.clone());
        }
    }
    solver.settle().await?;
    // Pass 2: tell the CA to validate. From here on the CA may be fetching the proofs, so a
    // rejected nonce is retried in place: bailing out would clean the proofs up under it.
    let mut rejected = 0;
    'pass: loop {
        let mut authorizations = order.inner.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = match authz {
                Err(e) if bad_nonce(&e) && rejected < NONCE_RETRIES => {
                    rejected += 1;
                    continue 'pass;
                }
                other => other.map_err(fail)?,
            };
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            if let Some(mut challenge) = authz.challenge(kind.clone())
                && challenge.status == ChallengeStatus::Pending
                && ready_urls.contains(&challenge.url)
            {
                loop {
                    match challenge.set_ready().await {
                        Err(e) if bad_nonce(&e) && rejected < NONCE_RETRIES => rejected += 1,
                        other => break other.map_err(fail)?,
                    }
                }
            }
        }
        break;
    }
    let polled = loop {
        match order.inner.poll_ready(&POLL).await {
            Err(e) if bad_nonce(&e) && rejected < NONCE_RETRIES => rejected += 1,
            other => break other,
        }
    };
    let status = match polled {
        Ok(status) => status,
        // The CA reports the failed challenge as the order's error.
        // A rejected nonce is about the polling request, not the order: resumable.
        Err(instant_acme::Error::Api(p)) if !is_bad_nonce(&p) => {
            return Err(AcmeError::Validation(problem_doc(&p).to_string()));
        }
        Err(e) => return Err(fail(e)),
    };
    match status {
        OrderStatus::Ready | OrderStatus::Processing | OrderStatus::Valid => Ok(()),
        OrderStatus::Invalid => Err(AcmeError::Validation(
            validation_errors(order).await.join("; "),
        )),
        OrderStatus::Pending => Err(AcmeError::Order {
            url,
            reason: "still pending after polling".into(),
        }),
    }
}

/// How many rejected nonces one validation round absorbs (on top of instant-acme's own two
/// retries per request) before giving up.
const NONCE_RETRIES: u32 = 20;

fn bad_nonce(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p) if is_bad_nonce(p))
}

fn is_bad_nonce(p: &instant_acme::Problem) -> bool {
    p.r#type
        .as_deref()
        .is_some_and(|t| t.ends_with(":badNonce"))
}

/// Collects the per-identifier errors of a failed order.
async fn validation_errors(order: &mut PlacedOrder) -> Vec<String> {
    let mut out = Vec::new();
    let mut authorizations = order.inner.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        let who = authz.identifier().to_string();
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                out.push(format!("{who}: {}", problem_doc(problem)));
            }
        }
    }
    if out.is_empty() {
        out.push("the CA marked the order invalid".into());
    }
    out
}

/// Sends the CSR (if the order is ready) and downloads the certificate chain (PEM).
pub async fn finalize(
    order: &mut PlacedOrder,
    key: &CertKey,
    domains: &[String],
) -> Result<String, AcmeError> {
    let url = order.url.clone();
    let fail = |e| AcmeError::from_acme(&url, e);
    match order.status() {
        OrderStatus::Ready => {
            let csr = key.csr(domains)?;
            order.inner.finalize_csr(&csr).await.map_err(fail)?;
        }
        OrderStatus::Processing | OrderStatus::Valid => {}
        other => {
            return Err(AcmeError::Order {
                url,
                reason: format!("cannot finalize an order that is {other:?}"),
            });
        }
    }
    order.inner.poll_certificate(&POLL).await.map_err(fail)
}

/// The CA's answer to an ARI query.
pub struct RenewalInfo {
    pub window: AriWindow,
    /// How long to wait before asking again (the CA's Retry-After).
    pub retry_after: Duration,
    /// A page explaining the window (RFC 9773 §4.2: to be shown to the operator).
    pub explanation_url: Option<String>,
}

/// Asks the CA for its suggested renewal window (ARI). `None` when the CA does not offer ARI.
pub async fn renewal_info(
    account: &AcmeAccount,
    leaf_der: &[u8],
) -> Result<Option<RenewalInfo>, AcmeError> {
    let der = CertificateDer::from(leaf_der.to_vec());
    let Ok(id) = CertificateIdentifier::try_from(&der) else {
        return Ok(None);
    };
    match account.inner.renewal_info(&id).await {
        Ok((info, retry_after)) => Ok(Some(RenewalInfo {
            window: AriWindow {
                start: info.suggested_window.start.unix_timestamp(),
                end: info.suggested_window.end.unix_timestamp(),
            },
            retry_after,
            explanation_url: info.explanation_url,
        })),
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(AcmeError::from_acme(&account.directory, e)),
    }
}

/// Revocation reasons by their RFC 5280 names.
pub fn revocation_reason(name: &str) -> Option<RevocationReason> {
    Some(match name {
        "unspecified" => RevocationReason::Unspecified,
        "keyCompromise" => RevocationReason::KeyCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        _ => return None,
    })
}

/// Revokes a certificate (DER) with the account that issued it.
pub async fn revoke(
    account: &AcmeAccount,
    leaf_der: &[u8],
    reason: Option<RevocationReason>,
) -> Result<(), AcmeError> {
    let der = CertificateDer::from(leaf_der.to_vec());
    account
        .inner
        .revoke(&RevocationRequest {
            certificate: &der,
            reason,
        })
        .await
        .map_err(|e| AcmeError::from_acme(&account.directory, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_must_be_listed_by_the_directory() {
        // Let's Encrypt's directory lists these three.
        let le = || vec!["tlsserver", "classic", "shortlived"];
        assert_eq!(profile_offered("shortlived", le()), Ok(()));
        assert_eq!(
            profile_offered("short", le()),
            Err("it offers: classic, shortlived, tlsserver".into())
        );
        assert_eq!(
            profile_offered("shortlived", Vec::new()),
            Err("it offers no profiles".into())
        );
    }
}
