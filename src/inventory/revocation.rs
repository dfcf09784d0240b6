//! Asks whether a presented certificate has been revoked: the stapled OCSP response if the
//! server sent one, else the OCSP responder the certificate names, else its CRL.
//!
//! Every fetch is bounded in time (`[scan] revocation_timeout`) and size (64 KiB for OCSP,
//! [`MAX_CRL`] for a CRL), and answers are cached until their `nextUpdate` (an hour when they
//! have none), so a daemon scanning thousands of endpoints asks each responder once per answer
//! and a CA's CRL is fetched once for all its certificates. An answer that cannot be verified,
//! a responder that is down, or an issuer that was not presented is `revocation_unknown`
//! (information), never `revoked`.
//!
//! With an [`AnswerCache`] (the store), the bytes of every answer that verified are kept there
//! too, until the same expiry, and verified again when read: a restarted daemon or the next
//! `certctl scan` uses them instead of asking again. Failures are remembered in memory only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::http::{HttpClient, fetch};
use crate::model::{Revocation, RevocationState, UnixSeconds};
use crate::x509::revocation::{self as rx, Answer, Status};

/// The largest OCSP response read.
const MAX_OCSP: usize = 64 * 1024;
/// The largest CRL read (a CA's full CRL is rarely above a few MiB).
pub const MAX_CRL: usize = 10 * 1024 * 1024;
/// How long an answer without `nextUpdate` (or a failure) is kept.
const DEFAULT_TTL: i64 = 3600;
/// How long a failed fetch is remembered, so one dead responder costs one timeout per scan run.
const FAILURE_TTL: i64 = 300;

/// A cached result and the time it expires.
type Cached<T> = (Result<T, String>, UnixSeconds);
/// OCSP answers by (responder URL, fingerprint of the leaf).
type OcspCache = HashMap<(String, Vec<u8>), Cached<Answer>>;

/// Where verified answers outlive the process. `key` names the question (`ocsp <url> <leaf
/// fingerprint>` or `crl <url>`); a cache that fails is a miss.
pub trait AnswerCache: Send + Sync {
    /// The body kept under `key`, if it is still current at `now`.
    fn get(&self, key: &str, now: UnixSeconds) -> Option<Vec<u8>>;
    /// Keeps `body` under `key` until `until`.
    fn put(&self, key: &str, body: &[u8], until: UnixSeconds);
}

/// Checks revocation with a shared cache.
pub struct RevocationChecker {
    client: HttpClient,
    timeout: Duration,
    /// Configured trust anchors (DER): the issuer of a leaf signed directly by a private root.
    anchors: Vec<Vec<u8>>,
    /// OCSP answers by (URL, fingerprint of the leaf), CRL bodies by URL; each with its expiry.
    ocsp: Mutex<OcspCache>,
    crls: Mutex<HashMap<String, Cached<Vec<u8>>>>,
    /// Answers kept across runs, if any.
    kept: Option<std::sync::Arc<dyn AnswerCache>>,
}

impl RevocationChecker {
    pub fn new(
        timeout: Duration,
        anchors: Vec<Vec<u8>>,
        kept: Option<std::sync::Arc<dyn AnswerCache>>,
    ) -> RevocationChecker {
        RevocationChecker {
            client: crate::http::client(),
            timeout,
            anchors,
            ocsp: Mutex::new(HashMap::new()),
            crls: Mutex::new(HashMap::new()),
            kept,
        }
    }

    /// The certificate that issued `leaf`: one presented with it, else a configured anchor.
    pub fn issuer_of(&self, leaf: &[u8], presented: &[&[u8]]) -> Option<Vec<u8>> {
        presented
            .iter()
            .copied()
            .chain(self.anchors.iter().map(Vec::as_slice))
            .find(|c| rx::issued(leaf, c))
            .map(<[u8]>::to_vec)
    }

    /// The revocation state of `leaf` as presented with `issuer` (and `staple`, the OCSP
    /// response the server stapled, if any). `None` when the certificate names no way to ask.
    pub async fn check(
        &self,
        leaf: &[u8],
        issuer: Option<&[u8]>,
        staple: Option<&[u8]>,
        now: UnixSeconds,
    ) -> Option<Revocation> {
        let pointers = rx::pointers(leaf);
        let must_staple_missing = pointers.must_staple && staple.is_none();
        if pointers.ocsp.is_empty() && pointers.crl.is_empty() && staple.is_none() {
            return must_staple_missing.then_some(Revocation {
                state: RevocationState::NotChecked,
                must_staple_missing,
            });
        }
        let state = match issuer {
            None => RevocationState::Unknown(
                "the issuer was not presented, so no revocation answer can be verified".into(),
            ),
            Some(issuer) => self.state(leaf, issuer, staple, &pointers, now).await,
        };
        Some(Revocation {
            state,
            must_staple_missing,
        })
    }

    async fn state(
        &self,
        leaf: &[u8],
        issuer: &[u8],
        staple: Option<&[u8]>,
        pointers: &rx::Pointers,
        now: UnixSeconds,
    ) -> RevocationState {
        let mut problems = Vec::new();
        if let Some(staple) = staple {
            match rx::ocsp_response(staple, leaf, issuer, now) {
                Ok(answer) => return judged(answer, "the stapled OCSP response"),
                Err(e) => problems.push(format!("stapled OCSP response: {e}")),
            }
        }
        for url in &pointers.ocsp {
            match self.ocsp(url, leaf, issuer, now).await {
                Ok(answer) => return judged(answer, &format!("OCSP responder {url}")),
                Err(e) => problems.push(format!("OCSP {url}: {e}")),
            }
        }
        for url in &pointers.crl {
            match self.crl(url, leaf, issuer, now).await {
                Ok(answer) => return judged(answer, &format!("CRL {url}")),
                Err(e) => problems.push(format!("CRL {url}: {e}")),
            }
        }
        RevocationState::Unknown(problems.join("; "))
    }

    async fn ocsp(
        &self,
        url: &str,
        leaf: &[u8],
        issuer: &[u8],
        now: UnixSeconds,
    ) -> Result<Answer, String> {
        let fingerprint = crate::x509::sha256_hex(leaf);
        let key = (url.to_string(), fingerprint.clone().into_bytes());
        if let Some((cached, until)) = lock(&self.ocsp).get(&key)
            && *until > now
        {
            return cached.clone();
        }
        let kept_key = format!("ocsp {url} {fingerprint}");
        if let Some(answer) = self
            .kept
            .as_ref()
            .and_then(|k| k.get(&kept_key, now))
            .and_then(|body| rx::ocsp_response(&body, leaf, issuer, now).ok())
        {
            let until = expiry(&Ok(answer.clone()), now);
            lock(&self.ocsp).insert(key, (Ok(answer.clone()), until));
            return Ok(answer);
        }
        let result = async {
            let request = rx::ocsp_request(leaf, issuer).map_err(|e| e.to_string())?;
            let body = fetch(
                &self.client,
                url,
                Some(("application/ocsp-request", request)),
                MAX_OCSP,
                self.timeout,
            )
            .await
            .map_err(|e| e.to_string())?;
            rx::ocsp_response(&body, leaf, issuer, now)
                .map(|answer| (answer, body))
                .map_err(|e| e.to_string())
        }
        .await;
        let result = result.map(|(answer, body)| {
            if let Some(kept) = &self.kept {
                kept.put(&kept_key, &body, expiry(&Ok(answer.clone()), now));
            }
            answer
        });
        let until = expiry(&result, now);
        lock(&self.ocsp).insert(key, (result.clone(), until));
        result
    }

    async fn crl(
        &self,
        url: &str,
        leaf: &[u8],
        issuer: &[u8],
        now: UnixSeconds,
    ) -> Result<Answer, String> {
        let cached = lock(&self.crls)
            .get(url)
            .filter(|(_, until)| *until > now)
            .map(|(body, _)| body.clone());
        let kept_key = format!("crl {url}");
        let body = match cached {
            Some(body) => body?,
            None => {
                // A kept CRL that still verifies for this leaf stands in for a fetch.
                let kept = self
                    .kept
                    .as_ref()
                    .and_then(|k| k.get(&kept_key, now))
                    .and_then(|body| {
                        let answer = rx::crl(&body, leaf, issuer, now).ok()?;
                        Some((body, expiry(&Ok(answer), now)))
                    });
                let (fetched, until) = match kept {
                    Some((body, until)) => (Ok(body), until),
                    None => {
                        let fetched = fetch(&self.client, url, None, MAX_CRL, self.timeout)
                            .await
                            .map_err(|e| e.to_string());
                        let until = match &fetched {
                            Ok(body) => match rx::crl(body, leaf, issuer, now) {
                                Ok(answer) => {
                                    let until = expiry(&Ok(answer), now);
                                    if let Some(kept) = &self.kept {
                                        kept.put(&kept_key, body, until);
                                    }
                                    until
                                }
                                Err(_) => now + FAILURE_TTL,
                            },
                            Err(_) => now + FAILURE_TTL,
                        };
                        (fetched, until)
                    }
                };
                lock(&self.crls).insert(url.to_string(), (fetched.clone(), until));
                fetched?
            }
        };
        rx::crl(&body, leaf, issuer, now).map_err(|e| e.to_string())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the cache lock leaves a usable map: recover it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Cache until the answer's next update (at most a day, an hour without one); failures briefly.
fn expiry(result: &Result<Answer, String>, now: UnixSeconds) -> UnixSeconds {
    match result {
        Ok(answer) => answer
            .next_update
            .unwrap_or(now + DEFAULT_TTL)
            .min(now + 86_400)
            .max(now + 60),
        Err(_) => now + FAILURE_TTL,
    }
}

fn judged(answer: Answer, source: &str) -> RevocationState {
    match answer.status {
        Status::Good => RevocationState::Good {
            source: source.to_string(),
        },
        Status::Revoked { at, reason } => RevocationState::Revoked {
            at,
            reason,
            source: source.to_string(),
        },
        Status::Unknown => {
            RevocationState::Unknown(format!("{source} does not know this certificate"))
        }
    }
}
