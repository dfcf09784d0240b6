//! Pure decision logic: given what was observed, the thresholds and `now`, what is wrong?
//!
//! No I/O happens here and the clock is always a parameter, so every rule is table-tested and the
//! daemon, the CLI and the alerting code all judge a certificate the same way.

pub mod renew;

use std::net::IpAddr;

use crate::model::{
    CertRecord, ChainCert, Finding, FindingCode, Location, Observation, Outcome, Severity, Trust,
    UnixSeconds,
};

const DAY: i64 = 86_400;

/// When to warn about expiry.
///
/// Absolute thresholds only make sense for certificates that live much longer than them: a
/// 30-day warning on a 6-day certificate would fire forever. So an absolute threshold applies
/// only to certificates whose lifetime is more than twice as long. `lifetime_fraction`
/// (`warn_at_lifetime_remaining`) adds a relative rule; whichever applicable rule fires first
/// wins. A certificate no rule applies to is warned at a quarter of its lifetime left, and is
/// critical at an eighth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Warn when fewer than this many seconds remain.
    pub warn_before: i64,
    /// Critical when fewer than this many seconds remain.
    pub critical_before: i64,
    /// Warn when this fraction of the lifetime remains (`None`: absolute thresholds only).
    pub lifetime_fraction: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn_before: 30 * DAY,
            critical_before: 7 * DAY,
            lifetime_fraction: None,
        }
    }
}

impl Thresholds {
    /// Seconds-before-expiry at which this certificate becomes a warning and a critical.
    pub fn for_lifetime(&self, lifetime: i64) -> (i64, i64) {
        let fraction = |f: f64| (lifetime as f64 * f) as i64;
        let applies = |t: i64| lifetime <= 0 || t * 2 < lifetime;
        let abs_warn = applies(self.warn_before).then_some(self.warn_before);
        let abs_crit = applies(self.critical_before).then_some(self.critical_before);
        let rel_warn = self.lifetime_fraction.map(fraction);
        let rel_crit = self.lifetime_fraction.map(|f| fraction(f / 2.0));
        let warn = match (abs_warn, rel_warn) {
            (Some(a), Some(r)) => a.max(r),
            (Some(a), None) => a,
            (None, Some(r)) => r,
            (None, None) => fraction(0.25),
        };
        // Critical: the absolute threshold where it applies, else half the warning fraction.
        let critical = abs_crit
            .or(rel_crit)
            .unwrap_or_else(|| fraction(0.125))
            .min(warn);
        (warn, critical)
    }
}

/// The time-based finding code and severity of a validity period at `now`, if any (the
/// message-free form of [`time_findings`], for listings).
pub fn time_code(
    not_before: UnixSeconds,
    not_after: UnixSeconds,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Option<(FindingCode, Severity)> {
    if now < not_before {
        return Some((FindingCode::NotYetValid, Severity::Critical));
    }
    let remaining = not_after - now;
    if remaining <= 0 {
        return Some((FindingCode::Expired, Severity::Critical));
    }
    let (warn, critical) = thresholds.for_lifetime(not_after - not_before);
    if remaining <= critical {
        Some((FindingCode::Expiring, Severity::Critical))
    } else if remaining <= warn {
        Some((FindingCode::Expiring, Severity::Warning))
    } else {
        None
    }
}

/// Findings that depend on the clock: recomputed on every read, never stored.
pub fn time_findings(cert: &CertRecord, thresholds: &Thresholds, now: UnixSeconds) -> Vec<Finding> {
    let remaining = cert.remaining(now);
    if now < cert.not_before {
        return vec![Finding::new(
            FindingCode::NotYetValid,
            Severity::Critical,
            format!(
                "not valid until {} ({})",
                rfc3339(cert.not_before),
                relative(cert.not_before - now)
            ),
        )];
    }
    if remaining <= 0 {
        return vec![Finding::new(
            FindingCode::Expired,
            Severity::Critical,
            format!(
                "expired {} ({})",
                relative(remaining),
                rfc3339(cert.not_after)
            ),
        )];
    }
    let (warn_before, critical_before) = thresholds.for_lifetime(cert.lifetime());
    if remaining <= warn_before {
        let severity = if remaining <= critical_before {
            Severity::Critical
        } else {
            Severity::Warning
        };
        return vec![Finding::new(
            FindingCode::Expiring,
            severity,
            format!(
                "expires {} ({})",
                relative(remaining),
                rfc3339(cert.not_after)
            ),
        )];
    }
    Vec::new()
}

/// Site rules that change what a finding means (`[policy]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPolicy {
    /// "TLS 1.3 everywhere": an endpoint that negotiates less is this bad (`None`: information).
    pub require_tls13: Option<Severity>,
    /// How bad `legacy_tls` is when the endpoint speaks nothing newer than TLS 1.1 (a TLS 1.2
    /// server limited to old ciphers is always a warning).
    pub legacy_below_tls12: Severity,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        ScanPolicy {
            require_tls13: None,
            legacy_below_tls12: Severity::Warning,
        }
    }
}

/// Findings that do not depend on the clock, judged once when the observation is made.
pub fn scan_findings(obs: &Observation, site: &ScanPolicy) -> Vec<Finding> {
    match &obs.outcome {
        Outcome::Failed { code, message } => {
            let severity = if *code == FindingCode::ParseError {
                Severity::Warning
            } else {
                Severity::Critical
            };
            vec![Finding::new(*code, severity, message.clone())]
        }
        Outcome::Presented {
            chain,
            tls,
            trust,
            issuer_is_anchor,
            legacy,
            revocation,
        } => {
            let Some(leaf) = chain.first() else {
                return vec![Finding::new(
                    FindingCode::TlsError,
                    Severity::Critical,
                    "the peer presented no certificate",
                )];
            };
            let mut out = Vec::new();
            if obs.location.is_endpoint() {
                endpoint_findings(&obs.location, chain, trust, *issuer_is_anchor, &mut out);
                if let Some(tls) = tls
                    && tls.version != "TLSv1.3"
                {
                    let message =
                        format!("negotiated {} only; TLS 1.3 is not offered", tls.version);
                    out.push(match site.require_tls13 {
                        None => Finding::new(FindingCode::NoTls13, Severity::Info, message),
                        Some(severity) => Finding::new(
                            FindingCode::NoTls13,
                            severity,
                            format!("{message}, and [policy] min_tls = \"1.3\""),
                        ),
                    });
                }
                if let (Some(why), Some(tls)) = (legacy, tls) {
                    out.push(legacy_finding(why, tls, site));
                }
                for cert in chain.iter().filter(|c| !c.self_signed) {
                    strength_findings(cert, &mut out);
                }
            } else {
                if leaf.self_signed && !leaf.is_ca {
                    out.push(Finding::new(
                        FindingCode::SelfSigned,
                        Severity::Info,
                        "self-signed certificate (not a CA)",
                    ));
                }
                // A root's signature over itself is never checked by clients: only its key counts.
                strength_findings(leaf, &mut out);
                if leaf.self_signed {
                    out.retain(|f| f.code != FindingCode::WeakSignature);
                }
            }
            if let Some(r) = revocation {
                revocation_findings(r, &mut out);
            }
            out
        }
    }
}

/// `revoked` (critical), `revocation_unknown` (information) and `ocsp_must_staple_missing`
/// (critical: browsers that honour must-staple refuse the connection).
fn revocation_findings(r: &crate::model::Revocation, out: &mut Vec<Finding>) {
    use crate::model::RevocationState;
    match &r.state {
        RevocationState::Revoked { at, reason, source } => out.push(Finding::new(
            FindingCode::Revoked,
            Severity::Critical,
            format!(
                "revoked on {}{} according to {source}",
                rfc3339(*at),
                reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        )),
        RevocationState::Unknown(why) => out.push(Finding::new(
            FindingCode::RevocationUnknown,
            Severity::Info,
            format!("revocation could not be checked: {why}"),
        )),
        RevocationState::Good { .. } | RevocationState::NotChecked => {}
    }
    if r.must_staple_missing {
        out.push(Finding::new(
            FindingCode::OcspMustStapleMissing,
            Severity::Critical,
            "the certificate requires a stapled OCSP response (must-staple) and the server sent none; clients that honour it refuse the connection",
        ));
    }
}

/// `legacy_tls`: the certificate was read from a legacy hello because rustls could not agree
/// on a version or cipher with the server.
fn legacy_finding(why: &str, tls: &crate::model::TlsInfo, site: &ScanPolicy) -> Finding {
    let below_tls12 = matches!(tls.version.as_str(), "SSLv3" | "TLSv1.0" | "TLSv1.1");
    let (severity, limit) = if below_tls12 {
        (
            site.legacy_below_tls12,
            format!("speaks only {}", tls.version),
        )
    } else {
        (
            Severity::Warning,
            format!("offers {} only with old ciphers", tls.version),
        )
    };
    Finding::new(
        FindingCode::LegacyTls,
        severity,
        format!(
            "the server {limit} (chose {}); current clients refuse it ({why}); certificate read from its clear-text hello",
            tls.cipher
        ),
    )
}

fn endpoint_findings(
    location: &Location,
    chain: &[CertRecord],
    trust: &Trust,
    issuer_is_anchor: bool,
    out: &mut Vec<Finding>,
) {
    let leaf = &chain[0];
    if let Some(name) = location.expected_name()
        && !name_matches(&leaf.sans, name)
    {
        let covered = if leaf.sans.is_empty() {
            "the certificate has no subjectAltName".to_string()
        } else {
            format!("it covers {}", leaf.sans.join(", "))
        };
        out.push(Finding::new(
            FindingCode::HostnameMismatch,
            Severity::Critical,
            format!("{name} is not covered by the certificate: {covered}"),
        ));
    }
    let trusted = matches!(trust, Trust::Trusted);
    if leaf.self_signed {
        if !trusted {
            out.push(Finding::new(
                FindingCode::SelfSigned,
                Severity::Critical,
                "the server presents a self-signed certificate that is not a trust anchor",
            ));
        }
        return;
    }
    let issuer_sent = chain[1..].iter().any(|c| c.subject == leaf.issuer);
    if !issuer_sent && !issuer_is_anchor {
        out.push(Finding::new(
            FindingCode::IncompleteChain,
            Severity::Critical,
            format!(
                "the server did not send the intermediate that issued the leaf ({})",
                leaf.issuer
            ),
        ));
        // An untrusted verdict is a consequence of the missing intermediate: report the cause.
        return;
    }
    if let Trust::Untrusted(reason) = trust {
        out.push(Finding::new(
            FindingCode::Untrusted,
            Severity::Critical,
            format!("the chain does not lead to a trusted root: {reason}"),
        ));
    }
}

fn strength_findings(cert: &CertRecord, out: &mut Vec<Finding>) {
    let key = &cert.key;
    let weak = match key.algorithm.as_str() {
        "RSA" | "DSA" => key.bits < 2048,
        "EC" => key.bits < 256,
        _ => false,
    };
    if weak {
        out.push(Finding::new(
            FindingCode::WeakKey,
            Severity::Warning,
            format!(
                "{}: {} key is too weak (minimum RSA 2048 or EC P-256)",
                cert.display_name(),
                key
            ),
        ));
    }
    let sig = cert.signature_algorithm.to_ascii_lowercase();
    if sig.contains("sha1") || sig.contains("md5") || sig.contains("md2") {
        out.push(Finding::new(
            FindingCode::WeakSignature,
            Severity::Critical,
            format!(
                "{}: signed with {}, which clients reject",
                cert.display_name(),
                cert.signature_algorithm
            ),
        ));
    }
}

/// `stale_served`: an endpoint serves an older certificate than the one installed for it.
pub fn stale_served(served: &CertRecord, installed: &CertRecord, name: &str) -> Option<Finding> {
    let older = (served.not_before, served.not_after) < (installed.not_before, installed.not_after);
    (served.sha256 != installed.sha256 && older).then(|| {
        Finding::new(
            FindingCode::StaleServed,
            Severity::Critical,
            format!(
                "serves serial {} but serial {} is installed for {name} (the server was not reloaded?)",
                served.serial, installed.serial
            ),
        )
    })
}

/// Does a certificate with these SANs cover `name`? Wildcards cover exactly one leftmost label.
pub fn name_matches(sans: &[String], name: &str) -> bool {
    let wanted = name.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = wanted.parse::<IpAddr>() {
        return sans
            .iter()
            .any(|san| san.parse::<IpAddr>().is_ok_and(|s| s == ip));
    }
    sans.iter().any(|san| {
        let san = san.trim_end_matches('.');
        match san.strip_prefix("*.") {
            Some(suffix) => wanted
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => san == wanted,
        }
    })
}

/// Findings for the certificates the leaf depends on, judged at `now` like the leaf itself:
/// an expired or not-yet-valid intermediate is critical on its own (`chain_expired`,
/// `chain_not_yet_valid`), and an intermediate that expires before the leaf and is inside the
/// thresholds is the location's `expiring` finding (the location's days left are those of the
/// first certificate in its path to expire).
pub fn chain_time_findings(
    leaf: Option<&CertRecord>,
    issuers: &[ChainCert],
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for cert in issuers {
        if now < cert.not_before {
            out.push(Finding::new(
                FindingCode::ChainNotYetValid,
                Severity::Critical,
                format!(
                    "intermediate {} (serial {}) is not valid until {} ({}); clients reject the chain",
                    cert.name,
                    cert.serial,
                    rfc3339(cert.not_before),
                    relative(cert.not_before - now)
                ),
            ));
        } else if cert.not_after <= now {
            out.push(Finding::new(
                FindingCode::ChainExpired,
                Severity::Critical,
                format!(
                    "intermediate {} (serial {}) expired {} ({}); clients reject the chain",
                    cert.name,
                    cert.serial,
                    relative(cert.not_after - now),
                    rfc3339(cert.not_after)
                ),
            ));
        }
    }
    let first = issuers
        .iter()
        .filter(|c| c.not_before <= now && now < c.not_after)
        .min_by_key(|c| c.not_after);
    if let Some(cert) = first
        && leaf.is_none_or(|l| cert.not_after < l.not_after)
        && let Some((FindingCode::Expiring, severity)) =
            time_code(cert.not_before, cert.not_after, thresholds, now)
    {
        out.push(Finding::new(
            FindingCode::Expiring,
            severity,
            format!(
                "intermediate {} expires {} ({}), before the leaf",
                cert.name,
                relative(cert.not_after - now),
                rfc3339(cert.not_after)
            ),
        ));
    }
    out
}

/// Merges stored scan findings with fresh time findings of the leaf and of the certificates it
/// depends on, worst first. `anchor`: the leaf is a trust anchor in a trust store (see
/// [`as_anchor`]).
pub fn all_findings(
    stored: Vec<Finding>,
    leaf: Option<&CertRecord>,
    issuers: &[ChainCert],
    anchor: bool,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Vec<Finding> {
    let chain = chain_time_findings(leaf, issuers, thresholds, now);
    let mut out: Vec<Finding> = leaf
        .map(|c| time_findings(c, thresholds, now))
        .unwrap_or_default();
    if anchor {
        as_anchor(&mut out);
    }
    // An intermediate that expires first speaks for the location's expiry.
    if chain.iter().any(|f| f.code == FindingCode::Expiring) {
        out.retain(|f| f.code != FindingCode::Expiring);
    }
    out.extend(chain);
    out.extend(stored);
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    out
}

/// A trust anchor in a trust store is nobody's to renew, and clients skip an expired one and
/// build another path: its expiry findings are information, not alarms (Debian's
/// ca-certificates ships expired roots for years).
fn as_anchor(findings: &mut [Finding]) {
    for f in findings.iter_mut().filter(|f| is_leaf_time(f.code)) {
        f.severity = Severity::Info;
        f.message
            .push_str(" (a trust anchor in a trust store: information only)");
    }
}

/// [`as_anchor`] for the message-free codes of a listing row.
pub fn codes_as_anchor(codes: &mut [(FindingCode, Severity)]) {
    for c in codes.iter_mut().filter(|c| is_leaf_time(c.0)) {
        c.1 = Severity::Info;
    }
}

fn is_leaf_time(code: FindingCode) -> bool {
    matches!(
        code,
        FindingCode::Expired | FindingCode::Expiring | FindingCode::NotYetValid
    )
}

/// The time-based codes of a listing row: the leaf's, and those of the intermediate that
/// expires first (the message-free form of [`all_findings`]'s time part).
pub fn row_time_codes(
    validity: Option<(UnixSeconds, UnixSeconds)>,
    chain_validity: Option<(UnixSeconds, UnixSeconds)>,
    thresholds: &Thresholds,
    now: UnixSeconds,
) -> Vec<(FindingCode, Severity)> {
    let mut out: Vec<_> = validity
        .and_then(|(nb, na)| time_code(nb, na, thresholds, now))
        .into_iter()
        .collect();
    if let Some((nb, na)) = chain_validity {
        match time_code(nb, na, thresholds, now) {
            Some((FindingCode::NotYetValid, s)) => out.push((FindingCode::ChainNotYetValid, s)),
            Some((FindingCode::Expired, s)) => out.push((FindingCode::ChainExpired, s)),
            Some((FindingCode::Expiring, s)) if validity.is_none_or(|(_, leaf)| na < leaf) => {
                out.retain(|c| c.0 != FindingCode::Expiring);
                out.push((FindingCode::Expiring, s));
            }
            _ => {}
        }
    }
    out
}

/// "in 12 days", "3 hours ago", from a signed number of seconds relative to now.
pub fn relative(seconds: i64) -> String {
    let abs = seconds.unsigned_abs();
    let (n, unit) = if abs >= 2 * DAY as u64 {
        (abs / DAY as u64, "days")
    } else if abs >= DAY as u64 {
        (1, "day")
    } else if abs >= 7200 {
        (abs / 3600, "hours")
    } else if abs >= 120 {
        (abs / 60, "minutes")
    } else {
        (abs, "seconds")
    };
    if seconds >= 0 {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

/// RFC 3339 UTC timestamp, seconds precision.
pub fn rfc3339(t: UnixSeconds) -> String {
    let Ok(secs) = u64::try_from(t) else {
        return format!("@{t}");
    };
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyInfo, TlsInfo};

    fn cert(not_before: i64, not_after: i64) -> CertRecord {
        CertRecord {
            subject: "CN=www.example.com".into(),
            subject_cn: Some("www.example.com".into()),
            sans: vec!["www.example.com".into(), "*.api.example.com".into()],
            issuer: "CN=Int".into(),
            issuer_cn: Some("Int".into()),
            serial: "01".into(),
            not_before,
            not_after,
            key: KeyInfo {
                algorithm: "EC".into(),
                bits: 256,
                curve: Some("P-256".into()),
            },
            signature_algorithm: "ecdsa-with-SHA256".into(),
            sha256: "aa".into(),
            authority_key_id: None,
            subject_key_id: None,
            ocsp_urls: vec![],
            ca_issuer_urls: vec![],
            is_ca: false,
            self_signed: false,
        }
    }

    fn codes(f: &[Finding]) -> Vec<(FindingCode, Severity)> {
        f.iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn expiry_table() {
        let t = Thresholds::default();
        let now = 1_000 * DAY;
        // Long-lived certificates (issued 300 days ago): the absolute thresholds apply.
        let old = now - 300 * DAY;
        let cases = [
            (old, now + 40 * DAY, vec![]),
            (
                old,
                now + 30 * DAY,
                vec![(FindingCode::Expiring, Severity::Warning)],
            ),
            (
                old,
                now + 8 * DAY,
                vec![(FindingCode::Expiring, Severity::Warning)],
            ),
            (
                old,
                now + 7 * DAY,
                vec![(FindingCode::Expiring, Severity::Critical)],
            ),
            (
                old,
                now + 1,
                vec![(FindingCode::Expiring, Severity::Critical)],
            ),
            (old, now, vec![(FindingCode::Expired, Severity::Critical)]),
            (
                now + 5,
                now + 90 * DAY,
                vec![(FindingCode::NotYetValid, Severity::Critical)],
            ),
        ];
        for (nb, na, want) in cases {
            assert_eq!(
                codes(&time_findings(&cert(nb, na), &t, now)),
                want,
                "{nb} {na}"
            );
        }
    }

    #[test]
    fn short_lived_certificates_use_the_lifetime_fraction() {
        let t = Thresholds::default();
        // 90 days and a year: the absolute thresholds.
        assert_eq!(t.for_lifetime(90 * DAY), (30 * DAY, 7 * DAY));
        assert_eq!(t.for_lifetime(365 * DAY), (30 * DAY, 7 * DAY));
        // 47 days: 30d is more than half the lifetime, so a quarter (11.75d) warns; 7d is critical.
        assert_eq!(t.for_lifetime(47 * DAY), (47 * DAY / 4, 7 * DAY));
        // 6 days: warn at 1.5 days, critical at 0.75 days.
        assert_eq!(t.for_lifetime(6 * DAY), (6 * DAY / 4, 6 * DAY / 8));
        // With warn_at_lifetime_remaining = 0.5, whichever fires first.
        let half = Thresholds {
            lifetime_fraction: Some(0.5),
            ..t
        };
        assert_eq!(half.for_lifetime(90 * DAY), (45 * DAY, 7 * DAY));
        assert_eq!(half.for_lifetime(6 * DAY), (3 * DAY, 6 * DAY / 4));
    }

    #[test]
    fn name_matching() {
        let sans: Vec<String> = ["www.example.com", "*.api.example.com", "10.0.0.1", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(name_matches(&sans, "WWW.example.com."));
        assert!(name_matches(&sans, "v1.api.example.com"));
        assert!(!name_matches(&sans, "api.example.com"));
        assert!(!name_matches(&sans, "a.v1.api.example.com"));
        assert!(!name_matches(&sans, "example.com"));
        assert!(name_matches(&sans, "10.0.0.1"));
        assert!(name_matches(&sans, "0:0::1"));
        assert!(!name_matches(&sans, "10.0.0.2"));
    }

    fn endpoint_obs(
        chain: Vec<CertRecord>,
        version: &str,
        trust: Trust,
        anchor: bool,
    ) -> Observation {
        Observation {
            location: Location::Endpoint {
                host: "127.0.0.1".into(),
                port: 443,
                server_name: Some("www.example.com".into()),
            },
            observed_at: 0,
            outcome: Outcome::Presented {
                chain,
                tls: Some(TlsInfo {
                    version: version.into(),
                    cipher: "x".into(),
                    handshake_ms: 1,
                    peer: "127.0.0.1:443".into(),
                }),
                trust,
                issuer_is_anchor: anchor,
                legacy: None,
                revocation: None,
            },
        }
    }

    #[test]
    fn chain_and_trust_findings() {
        let leaf = cert(0, 1);
        let mut int = cert(0, 1);
        int.subject = "CN=Int".into();
        int.is_ca = true;

        let ok = endpoint_obs(
            vec![leaf.clone(), int.clone()],
            "TLSv1.3",
            Trust::Trusted,
            false,
        );
        assert!(scan_findings(&ok, &ScanPolicy::default()).is_empty());

        let incomplete = endpoint_obs(
            vec![leaf.clone()],
            "TLSv1.3",
            Trust::Untrusted("unknown issuer".into()),
            false,
        );
        assert_eq!(
            codes(&scan_findings(&incomplete, &ScanPolicy::default())),
            vec![(FindingCode::IncompleteChain, Severity::Critical)]
        );

        let direct = endpoint_obs(vec![leaf.clone()], "TLSv1.3", Trust::Trusted, true);
        assert!(scan_findings(&direct, &ScanPolicy::default()).is_empty());

        let untrusted = endpoint_obs(
            vec![leaf.clone(), int],
            "TLSv1.2",
            Trust::Untrusted("unknown issuer".into()),
            false,
        );
        assert_eq!(
            codes(&scan_findings(&untrusted, &ScanPolicy::default())),
            vec![
                (FindingCode::Untrusted, Severity::Critical),
                (FindingCode::NoTls13, Severity::Info)
            ]
        );

        let mut selfie = leaf.clone();
        selfie.self_signed = true;
        selfie.sans = vec!["other.example".into()];
        let s = endpoint_obs(
            vec![selfie],
            "TLSv1.3",
            Trust::Untrusted("unknown issuer".into()),
            false,
        );
        assert_eq!(
            codes(&scan_findings(&s, &ScanPolicy::default())),
            vec![
                (FindingCode::HostnameMismatch, Severity::Critical),
                (FindingCode::SelfSigned, Severity::Critical)
            ]
        );
    }

    #[test]
    fn tls13_everywhere_is_a_site_rule() {
        let mut int = cert(0, 1);
        int.subject = "CN=Int".into();
        let obs = endpoint_obs(vec![cert(0, 1), int], "TLSv1.2", Trust::Trusted, false);
        let codes_with = |site| codes(&scan_findings(&obs, &site));
        assert_eq!(
            codes_with(ScanPolicy::default()),
            vec![(FindingCode::NoTls13, Severity::Info)]
        );
        for severity in [Severity::Warning, Severity::Critical] {
            let site = ScanPolicy {
                require_tls13: Some(severity),
                ..ScanPolicy::default()
            };
            assert_eq!(codes_with(site), vec![(FindingCode::NoTls13, severity)]);
        }
    }

    #[test]
    fn weak_keys_and_signatures() {
        let mut c = cert(0, 1);
        c.key = KeyInfo {
            algorithm: "RSA".into(),
            bits: 1024,
            curve: None,
        };
        c.signature_algorithm = "sha1WithRSAEncryption".into();
        let obs = Observation {
            location: Location::File {
                path: "/x.pem".into(),
                index: 0,
            },
            observed_at: 0,
            outcome: Outcome::Presented {
                chain: vec![c],
                tls: None,
                trust: Trust::NotChecked,
                issuer_is_anchor: false,
                legacy: None,
                revocation: None,
            },
        };
        assert_eq!(
            codes(&scan_findings(&obs, &ScanPolicy::default())),
            vec![
                (FindingCode::WeakKey, Severity::Warning),
                (FindingCode::WeakSignature, Severity::Critical)
            ]
        );
    }

    fn issuer(name: &str, not_before: i64, not_after: i64) -> ChainCert {
        let mut c = cert(not_before, not_after);
        c.subject = format!("CN={name}");
        c.subject_cn = Some(name.into());
        ChainCert::of(&c)
    }

    #[test]
    fn an_expired_intermediate_is_critical_and_sets_the_days_left() {
        let t = Thresholds::default();
        let now = 1_000 * DAY;
        let leaf = cert(now - 10 * DAY, now + 80 * DAY);
        // Expired yesterday: chain_expired names it, and the leaf alone is fine.
        let int = issuer("Old Int", now - 5 * 365 * DAY, now - DAY);
        let f = all_findings(
            vec![],
            Some(&leaf),
            std::slice::from_ref(&int),
            false,
            &t,
            now,
        );
        assert_eq!(
            codes(&f),
            vec![(FindingCode::ChainExpired, Severity::Critical)]
        );
        assert!(f[0].message.contains("Old Int"), "{}", f[0].message);
        assert!(f[0].message.contains("1 day ago"), "{}", f[0].message);
        // Not valid yet.
        let early = issuer("Early Int", now + DAY, now + 900 * DAY);
        let f = all_findings(vec![], Some(&leaf), &[early], false, &t, now);
        assert_eq!(
            codes(&f),
            vec![(FindingCode::ChainNotYetValid, Severity::Critical)]
        );
        // Expiring in 10 days, before the leaf: the location's `expiring` speaks of it.
        let soon = issuer("Soon Int", now - 900 * DAY, now + 10 * DAY);
        let f = all_findings(
            vec![],
            Some(&leaf),
            std::slice::from_ref(&soon),
            false,
            &t,
            now,
        );
        assert_eq!(codes(&f), vec![(FindingCode::Expiring, Severity::Warning)]);
        assert!(f[0].message.contains("Soon Int"), "{}", f[0].message);
        // Both expiring: one `expiring`, the intermediate's (the sooner one).
        let late_leaf = cert(now - 80 * DAY, now + 20 * DAY);
        let f = all_findings(
            vec![],
            Some(&late_leaf),
            std::slice::from_ref(&soon),
            false,
            &t,
            now,
        );
        assert_eq!(codes(&f), vec![(FindingCode::Expiring, Severity::Warning)]);
        assert!(f[0].message.contains("Soon Int"));
        // An intermediate that outlives the leaf adds nothing.
        let fine = issuer("Fine Int", now - DAY, now + 2_000 * DAY);
        assert!(all_findings(vec![], Some(&leaf), &[fine], false, &t, now).is_empty());
        // The listing rows agree with the full records.
        let row = |c: &ChainCert| {
            row_time_codes(
                Some((leaf.not_before, leaf.not_after)),
                Some((c.not_before, c.not_after)),
                &t,
                now,
            )
        };
        assert_eq!(
            row(&int),
            vec![(FindingCode::ChainExpired, Severity::Critical)]
        );
        assert_eq!(row(&soon), vec![(FindingCode::Expiring, Severity::Warning)]);
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(12 * DAY + 5), "in 12 days");
        assert_eq!(relative(-3 * DAY), "3 days ago");
        assert_eq!(relative(DAY + 1), "in 1 day");
        assert_eq!(relative(3 * 3600), "in 3 hours");
        assert_eq!(relative(-30), "30 seconds ago");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
