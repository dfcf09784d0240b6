//! Judges whether a presented chain leads to a trust anchor, using rustls' own WebPKI verifier.
//!
//! The scanner accepts every certificate during the handshake so that it can always record what
//! the server sent; trust is judged here, afterwards. Name checks are done by [`crate::policy`]
//! (so a wrong name never hides a broken chain), and expiry by the time findings (so an expired
//! leaf is reported as `expired`, not as `untrusted`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};

use crate::model::{CertRecord, Trust};

/// Why a trust store could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A configured CA certificate was rejected as a trust anchor.
    #[error("CA certificate #{index} in scan.ca_files cannot be a trust anchor: {reason}")]
    BadAnchor { index: usize, reason: String },
}

/// Trust anchors plus a cache of verdicts per distinct chain.
pub struct TrustJudge {
    /// `None` when the machine has no trust anchors at all: every chain is then untrusted, with
    /// a reason that says how to fix it (file scans never need anchors).
    verifier: Result<Arc<WebPkiServerVerifier>, String>,
    anchor_subjects: HashSet<String>,
    cache: Mutex<HashMap<String, Trust>>,
}

impl TrustJudge {
    /// System roots plus `extra_roots` (DER).
    pub fn new(extra_roots: &[Vec<u8>]) -> Result<TrustJudge, TrustError> {
        let native = crate::roots::system();
        let mut store = RootCertStore::empty();
        let mut anchor_subjects = HashSet::new();
        for cert in &native.certs {
            if let Some(subject) = crate::x509::subject_of(cert)
                && store.add(cert.clone()).is_ok()
            {
                anchor_subjects.insert(subject);
            }
        }
        for (index, der) in extra_roots.iter().enumerate() {
            let record = crate::x509::parse_der(der).map_err(|e| TrustError::BadAnchor {
                index,
                reason: e.to_string(),
            })?;
            store
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| TrustError::BadAnchor {
                    index,
                    reason: e.to_string(),
                })?;
            anchor_subjects.insert(record.subject);
        }
        let verifier = if store.is_empty() {
            let reason = native
                .error
                .clone()
                .unwrap_or_else(|| "the system store is empty".into());
            Err(format!(
                "no trust anchors ({reason}); install ca-certificates or set scan.ca_files"
            ))
        } else {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| e.to_string())
        };
        Ok(TrustJudge {
            verifier,
            anchor_subjects,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// A judge with no anchors, for callers that only compare fingerprints (post-deploy
    /// verification): it loads no trust store and verifies no signatures.
    pub fn none() -> TrustJudge {
        TrustJudge {
            verifier: Err("trust is not evaluated here".into()),
            anchor_subjects: HashSet::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Is `subject` (an RFC 4514 DN) one of the trust anchors?
    pub fn is_anchor(&self, subject: &str) -> bool {
        self.anchor_subjects.contains(subject)
    }

    /// Judges a chain as presented (`ders[0]` is the leaf, `records` parsed from the same DER).
    pub fn judge(&self, ders: &[CertificateDer<'_>], records: &[CertRecord]) -> Trust {
        let (Some(leaf_der), Some(leaf)) = (ders.first(), records.first()) else {
            return Trust::Untrusted("no certificate presented".into());
        };
        let key: String = records.iter().map(|r| &r.sha256[..16]).collect();
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return hit;
        }
        let moment = judging_moment(records).unwrap_or_else(|| {
            leaf.not_before
                .max(0)
                .saturating_add(leaf.lifetime().max(2) / 2)
        });
        let now = UnixTime::since_unix_epoch(Duration::from_secs(moment.max(0) as u64));
        // A placeholder name: only the path matters here; policy checks names itself.
        let placeholder = ServerName::try_from("certctl-name-check.invalid")
            .expect("static name is a valid DNS name");
        let verifier = match &self.verifier {
            Ok(v) => v,
            Err(reason) => return Trust::Untrusted(reason.clone()),
        };
        let verdict =
            match verifier.verify_server_cert(leaf_der, &ders[1..], &placeholder, &[], now) {
                Ok(_) => Trust::Trusted,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Trust::Trusted,
                Err(rustls::Error::InvalidCertificate(e)) => Trust::Untrusted(describe(&e)),
                Err(e) => Trust::Untrusted(e.to_string()),
            };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, verdict.clone());
        }
        verdict
    }
}

/// A moment at which every certificate of the path (all but self-signed roots) is valid, when
/// their validity periods overlap: trust is then judged on names, signatures and anchors alone,
/// and expiry of any certificate is reported by the time findings (`expired`, `chain_expired`),
/// at `now`, on every read.
fn judging_moment(records: &[CertRecord]) -> Option<i64> {
    let mut path = records
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || !c.self_signed);
    let (_, first) = path.next()?;
    let (start, end) = path.fold((first.not_before, first.not_after), |(s, e), (_, c)| {
        (s.max(c.not_before), e.min(c.not_after))
    });
    (start < end).then(|| start.max(0).saturating_add((end - start.max(0)).max(2) / 2))
}

fn describe(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => "issued by an unknown CA".into(),
        CertificateError::BadSignature => "a signature in the chain does not verify".into(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "a certificate in the chain has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "a certificate in the chain is not valid yet".into()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "not valid for TLS server authentication (extended key usage)".into()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. } => {
            "signed with an unsupported or insecure algorithm".into()
        }
        CertificateError::Revoked => "a certificate in the chain is revoked".into(),
        CertificateError::BadEncoding => "a certificate in the chain is malformed".into(),
        CertificateError::UnhandledCriticalExtension => {
            "a certificate in the chain has a critical extension clients do not understand".into()
        }
        CertificateError::Other(other) => webpki_reason(&other.to_string()),
        other => webpki_reason(&other.to_string()),
    }
}

/// webpki's errors print as their Rust variant names ("CaUsedAsEndEntity"): say them in words.
fn webpki_reason(name: &str) -> String {
    let known = match name {
        "CaUsedAsEndEntity" => "the server presents a CA certificate as its own (leaf) certificate",
        "EndEntityUsedAsCa" => "a leaf certificate is used as an issuing CA",
        "PathLenConstraintViolated" => {
            "the chain is longer than a CA's path length constraint allows"
        }
        "NameConstraintViolation" => "a name in the certificate violates a CA's name constraints",
        "RequiredEkuNotFound" => "not valid for TLS server authentication (extended key usage)",
        "SignatureAlgorithmMismatch" => "a signature algorithm does not match its key",
        "UnsupportedCertVersion" => "a certificate in the chain has an unsupported X.509 version",
        "MaximumPathDepthExceeded" | "MaximumPathBuildCallsExceeded" => {
            "the chain is too long or too tangled to build a path"
        }
        "InvalidCertValidity" => "a certificate in the chain has an invalid validity period",
        "ExtensionValueInvalid" => "a certificate in the chain has an invalid extension",
        "MissingOrMalformedExtensions" => "a certificate in the chain lacks required extensions",
        _ => "",
    };
    if !known.is_empty() {
        return known.into();
    }
    // Anything else: split the CamelCase name into lower-case words rather than show Rust text.
    let mut out = String::new();
    for ch in name.chars().filter(|c| c.is_alphanumeric() || *c == ' ') {
        if ch.is_uppercase() && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        out.extend(ch.to_lowercase());
    }
    if out.is_empty() {
        "certificate verification failed".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webpki_reasons_are_words() {
        assert_eq!(
            webpki_reason("CaUsedAsEndEntity"),
            "the server presents a CA certificate as its own (leaf) certificate"
        );
        assert_eq!(webpki_reason("SomethingNewHere"), "something new here");
        assert_eq!(
            webpki_reason("OtherError(Foo)"),
            "other error foo",
            "no Rust punctuation survives"
        );
    }

    #[test]
    fn the_moment_lies_inside_every_certificate_of_the_path() {
        let mut leaf = crate::model::tests::sample();
        leaf.not_before = 100;
        leaf.not_after = 1_000;
        let mut int = crate::model::tests::sample();
        int.not_before = 0;
        int.not_after = 400;
        let mut root = crate::model::tests::sample();
        root.self_signed = true;
        root.not_before = 500;
        root.not_after = 600;
        assert_eq!(
            judging_moment(&[leaf.clone(), int.clone(), root]),
            Some(250)
        );
        // No overlap: no common moment (the caller falls back to the leaf's midpoint).
        int.not_after = 50;
        assert_eq!(judging_moment(&[leaf, int]), None);
    }
}
