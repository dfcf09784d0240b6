//! When to renew, and when to try again after a failure. Pure: `now` is always a parameter.
//!
//! - With ARI (RFC 9773) the CA suggests a window; we pick a point inside it, stable per
//!   certificate so that repeated checks agree, and renew once it has passed.
//! - Without ARI we renew when a third of the lifetime is left (half, for certificates shorter
//!   than ten days), moved earlier by a per-certificate jitter so a fleet does not renew in
//!   lockstep. An explicit `renew_before` replaces the fraction.
//! - After a failure we back off exponentially per certificate: 1 min, 10 min, 100 min, then at
//!   most once a day. A forced renewal ignores the backoff.

use crate::model::UnixSeconds;

const DAY: i64 = 86_400;

/// A renewal window suggested by the CA (ARI `suggestedWindow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AriWindow {
    pub start: UnixSeconds,
    pub end: UnixSeconds,
}

/// What the renewal policy needs to know about a managed certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewInput {
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
    /// The CA's suggested window, when it offers ARI.
    pub ari: Option<AriWindow>,
    /// User override: renew this many seconds before expiry.
    pub renew_before: Option<i64>,
    /// A stable per-certificate number (e.g. a hash of its name) for jitter and window choice.
    pub seed: u64,
}

/// Why and when a certificate should be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalTime {
    /// Inside the ARI window, at this chosen moment.
    Ari(UnixSeconds),
    /// The lifetime fraction (or `renew_before`) is reached at this moment.
    Lifetime(UnixSeconds),
}

impl RenewalTime {
    pub fn at(self) -> UnixSeconds {
        match self {
            RenewalTime::Ari(t) | RenewalTime::Lifetime(t) => t,
        }
    }
}

/// When this certificate should be renewed.
pub fn renewal_time(input: &RenewInput) -> RenewalTime {
    if let Some(window) = input.ari
        && window.end >= window.start
    {
        let span = (window.end - window.start).max(0) as u64;
        let offset = if span == 0 { 0 } else { input.seed % span };
        return RenewalTime::Ari(window.start + offset as i64);
    }
    let lifetime = (input.not_after - input.not_before).max(1);
    let before = match input.renew_before {
        Some(before) => before,
        None if lifetime < 10 * DAY => lifetime / 2,
        None => lifetime / 3,
    };
    // Jitter: up to 2% of the lifetime (at most 6 hours), always earlier, never later.
    let max_jitter = (lifetime / 50).clamp(1, 6 * 3600) as u64;
    let jitter = (input.seed % max_jitter) as i64;
    RenewalTime::Lifetime(input.not_after - before - jitter)
}

/// Is renewal due at `now`?
pub fn is_due(input: &RenewInput, now: UnixSeconds) -> bool {
    now >= renewal_time(input).at()
}

/// The installed certificate, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub serial: String,
    pub not_before: UnixSeconds,
    pub not_after: UnixSeconds,
}

/// A window the CA suggested, and for which certificate (ARI answers are per serial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AriAnswer {
    pub serial: String,
    pub window: AriWindow,
}

/// Everything [`decide`] needs to know about one managed certificate, read before deciding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// The order recorded as in flight (placed, not yet installed).
    pub in_flight: Option<String>,
    /// The certificate installed now, if any.
    pub installed: Option<Installed>,
    /// The CA's last ARI answer.
    pub ari: Option<AriAnswer>,
    /// User override: renew this many seconds before expiry.
    pub renew_before: Option<i64>,
    /// A stable per-certificate number ([`seed`]).
    pub seed: u64,
    /// Consecutive failures, and when the last one happened.
    pub failures: u32,
    pub last_failure: Option<UnixSeconds>,
    /// The CA's Retry-After, when it throttled us.
    pub retry_hint: Option<UnixSeconds>,
    /// The installed certificate changed between the request and this decision (another run
    /// renewed it while the request waited for the certificate's renewal lease).
    pub replaced_while_waiting: bool,
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Renew whatever the policy and backoff say. A forced renewal that waited behind another
    /// run which installed a new certificate meanwhile is already satisfied.
    pub force: bool,
}

/// What the policy decided for one certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Never issued: obtain it.
    FirstIssue,
    /// An order was interrupted: pick it up.
    Resume { order_url: String },
    /// Renewal is due.
    Due { reason: String },
    /// Forced by the user.
    Forced,
    /// Forced, but another run (the daemon's schedule, another command) installed a new
    /// certificate while this request waited for it: renewing again would only spend the
    /// CA's rate limit.
    RenewedMeanwhile { serial: String },
    /// Not due until `at`.
    NotDue { at: UnixSeconds },
    /// Failed recently: waiting until `until`.
    BackingOff { until: UnixSeconds, failures: u32 },
}

impl Decision {
    /// Whether this decision means placing or continuing an order.
    pub fn acts(&self) -> bool {
        matches!(
            self,
            Decision::FirstIssue
                | Decision::Resume { .. }
                | Decision::Due { .. }
                | Decision::Forced
        )
    }

    /// When this certificate next needs attention: its renewal time, the end of its backoff
    /// step, or `now` when there is something to do already (or it was just renewed, so that
    /// the next look sees the new certificate's own time).
    pub fn next_time(&self, now: UnixSeconds) -> UnixSeconds {
        match self {
            Decision::NotDue { at } => *at,
            Decision::BackingOff { until, .. } => *until,
            _ => now,
        }
    }
}

/// Decides what to do with one managed certificate at `now`. An interrupted order is always
/// resumed first (its key is already recorded); a missing certificate is issued; otherwise the
/// ARI window (for the installed serial only) or the lifetime rule says when. Backoff after
/// failures holds back everything but a forced renewal.
pub fn decide(facts: &Facts, request: Request, now: UnixSeconds) -> Decision {
    let decision = match (&facts.in_flight, &facts.installed) {
        (Some(url), _) => Decision::Resume {
            order_url: url.clone(),
        },
        (None, None) => Decision::FirstIssue,
        (None, Some(leaf)) if request.force && facts.replaced_while_waiting => {
            return Decision::RenewedMeanwhile {
                serial: leaf.serial.clone(),
            };
        }
        (None, Some(_)) if request.force => return Decision::Forced,
        (None, Some(leaf)) => {
            let input = RenewInput {
                not_before: leaf.not_before,
                not_after: leaf.not_after,
                ari: facts
                    .ari
                    .as_ref()
                    .filter(|a| a.serial == leaf.serial)
                    .map(|a| a.window),
                renew_before: facts.renew_before,
                seed: facts.seed,
            };
            match renewal_time(&input) {
                t if now >= t.at() => Decision::Due {
                    reason: match (t, facts.renew_before) {
                        (RenewalTime::Ari(_), _) => "inside the CA's renewal window (ARI)".into(),
                        (RenewalTime::Lifetime(_), Some(_)) => "renew_before reached".into(),
                        (RenewalTime::Lifetime(_), None)
                            if leaf.not_after - leaf.not_before < 10 * DAY =>
                        {
                            "half the lifetime left".into()
                        }
                        (RenewalTime::Lifetime(_), None) => "a third of the lifetime left".into(),
                    },
                },
                t => Decision::NotDue { at: t.at() },
            }
        }
    };
    if decision.acts() && !request.force && facts.failures > 0 {
        let until = next_attempt(
            facts.failures,
            facts.last_failure.unwrap_or(0),
            facts.retry_hint,
        );
        if now < until {
            return Decision::BackingOff {
                until,
                failures: facts.failures,
            };
        }
    }
    decision
}

/// The earliest next attempt after `failures` consecutive failures, the last at `last_failure`.
/// `retry_after` (from the CA) pushes it later, never earlier.
pub fn next_attempt(
    failures: u32,
    last_failure: UnixSeconds,
    retry_after: Option<UnixSeconds>,
) -> UnixSeconds {
    let delay = match failures {
        0 => 0,
        1 => 60,
        2 => 600,
        3 => 6_000,
        _ => DAY,
    };
    let backoff = last_failure + delay;
    retry_after.map_or(backoff, |r| r.max(backoff))
}

/// The longest a CA's Retry-After on an error may hold renewals back (Let's Encrypt's longest
/// rate-limit window is a week); a larger value is taken as this.
pub const MAX_RETRY_AFTER: i64 = 7 * DAY;

/// Clamps a server's Retry-After to 1 minute .. 1 day, as RFC 9773 advises for ARI polling.
pub fn clamp_retry_after(seconds: i64) -> i64 {
    seconds.clamp(60, DAY)
}

/// The shortest wait before the daemon checks renewals again on its own, between its scheduled
/// checks: the first backoff step.
pub const MIN_WAKE: i64 = 60;

/// When the daemon should check renewals again without waiting for its schedule, given when
/// each certificate next needs attention (its renewal time, or the end of its backoff step).
/// Never sooner than [`MIN_WAKE`] from `now`; `None` when no certificate is managed.
pub fn next_wake(
    times: impl IntoIterator<Item = UnixSeconds>,
    now: UnixSeconds,
) -> Option<UnixSeconds> {
    times.into_iter().min().map(|t| t.max(now + MIN_WAKE))
}

/// A stable seed from a certificate name (FNV-1a), for jitter and ARI window choice.
pub fn seed(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(lifetime_days: i64) -> RenewInput {
        RenewInput {
            not_before: 0,
            not_after: lifetime_days * DAY,
            ari: None,
            renew_before: None,
            seed: 0,
        }
    }

    #[test]
    fn lifetime_fraction_table() {
        // (lifetime, now, due?)
        let cases = [
            (90, 59 * DAY, false),
            (90, 60 * DAY, true), // a third of 90 days left
            (47, 31 * DAY, false),
            (47, 32 * DAY, true),
            (6, 2 * DAY, false),
            (6, 3 * DAY, true), // under ten days: half the lifetime
            (90, 100 * DAY, true),
        ];
        for (lifetime, now, due) in cases {
            assert_eq!(is_due(&input(lifetime), now), due, "{lifetime}d at {now}");
        }
    }

    #[test]
    fn renew_before_overrides_the_fraction() {
        let mut i = input(90);
        i.renew_before = Some(10 * DAY);
        assert!(!is_due(&i, 79 * DAY));
        assert!(is_due(&i, 80 * DAY));
    }

    #[test]
    fn jitter_is_earlier_bounded_and_stable() {
        for name in ["www", "api", "mail", "db"] {
            let mut i = input(90);
            i.seed = seed(name);
            let t = renewal_time(&i).at();
            assert!(t <= 60 * DAY && t > 60 * DAY - 6 * 3600, "{name}: {t}");
            assert_eq!(t, renewal_time(&i).at());
        }
        let spread: std::collections::HashSet<i64> = (0..50)
            .map(|n| {
                let mut i = input(90);
                i.seed = seed(&format!("host{n}"));
                renewal_time(&i).at()
            })
            .collect();
        assert!(spread.len() > 40, "a fleet must not renew in lockstep");
    }

    #[test]
    fn ari_window_wins_and_is_inside() {
        let mut i = input(90);
        i.ari = Some(AriWindow {
            start: 10 * DAY,
            end: 12 * DAY,
        });
        i.seed = seed("www");
        let RenewalTime::Ari(t) = renewal_time(&i) else {
            panic!("ARI must be used when offered")
        };
        assert!((10 * DAY..12 * DAY).contains(&t));
        assert!(!is_due(&i, 10 * DAY - 1));
        assert!(is_due(&i, 12 * DAY));
        // A window in the past means renew now.
        i.ari = Some(AriWindow { start: 0, end: 1 });
        assert!(is_due(&i, 5));
    }

    #[test]
    fn backoff_table() {
        assert_eq!(next_attempt(0, 1000, None), 1000);
        assert_eq!(next_attempt(1, 1000, None), 1060);
        assert_eq!(next_attempt(2, 1000, None), 1600);
        assert_eq!(next_attempt(3, 1000, None), 7000);
        assert_eq!(next_attempt(4, 1000, None), 1000 + DAY);
        assert_eq!(next_attempt(9, 1000, None), 1000 + DAY);
        assert_eq!(next_attempt(1, 1000, Some(5000)), 5000);
        assert_eq!(next_attempt(3, 1000, Some(5000)), 7000);
        assert_eq!(clamp_retry_after(1), 60);
        assert_eq!(clamp_retry_after(10 * DAY), DAY);
    }

    fn facts() -> Facts {
        Facts {
            installed: Some(Installed {
                serial: "01".into(),
                not_before: 0,
                not_after: 90 * DAY,
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn decide_table() {
        let now = 70 * DAY; // past the lifetime rule (60 days) of the 90-day certificate
        let early = 10 * DAY;
        let plain = Request::default();
        let force = Request { force: true };
        let ari = |serial: &str| {
            Some(AriAnswer {
                serial: serial.into(),
                window: AriWindow {
                    start: 20 * DAY,
                    end: 20 * DAY,
                },
            })
        };
        let due = |reason: &str| Decision::Due {
            reason: reason.into(),
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Facts, Request, UnixSeconds, Decision)> = vec![
            ("never issued", Facts::default(), plain, now, Decision::FirstIssue),
            ("never issued, forced", Facts::default(), force, now, Decision::FirstIssue),
            ("in flight wins over everything",
             Facts { in_flight: Some("u".into()), ..facts() }, force, early,
             Decision::Resume { order_url: "u".into() }),
            ("not due yet", facts(), plain, early, Decision::NotDue { at: 60 * DAY }),
            ("due by lifetime", facts(), plain, now, due("a third of the lifetime left")),
            ("short-lived: half",
             Facts { installed: Some(Installed { serial: "01".into(), not_before: 0, not_after: 6 * DAY }), ..facts() },
             plain, 3 * DAY, due("half the lifetime left")),
            ("renew_before",
             Facts { renew_before: Some(5 * DAY), ..facts() }, plain, now,
             Decision::NotDue { at: 85 * DAY }),
            ("renew_before reached",
             Facts { renew_before: Some(25 * DAY), ..facts() }, plain, now,
             due("renew_before reached")),
            ("ARI window for this serial",
             Facts { ari: ari("01"), ..facts() }, plain, 21 * DAY,
             due("inside the CA's renewal window (ARI)")),
            ("ARI window of an older serial is ignored",
             Facts { ari: ari("00"), ..facts() }, plain, 21 * DAY,
             Decision::NotDue { at: 60 * DAY }),
            ("forced", facts(), force, early, Decision::Forced),
            ("forced, renewed meanwhile",
             Facts { replaced_while_waiting: true, ..facts() }, force, now,
             Decision::RenewedMeanwhile { serial: "01".into() }),
            ("not forced, renewed meanwhile: the new certificate's own time",
             Facts { replaced_while_waiting: true, ..facts() }, plain, early,
             Decision::NotDue { at: 60 * DAY }),
            ("backing off",
             Facts { failures: 2, last_failure: Some(now - 60), ..facts() }, plain, now,
             Decision::BackingOff { until: now + 540, failures: 2 }),
            ("backoff over",
             Facts { failures: 2, last_failure: Some(now - 600), ..facts() }, plain, now,
             due("a third of the lifetime left")),
            ("the CA's Retry-After extends the backoff",
             Facts { failures: 1, last_failure: Some(now - 600), retry_hint: Some(now + 3600), ..facts() },
             plain, now, Decision::BackingOff { until: now + 3600, failures: 1 }),
            ("backoff holds a first issuance",
             Facts { failures: 1, last_failure: Some(now), ..Facts::default() }, plain, now,
             Decision::BackingOff { until: now + 60, failures: 1 }),
            ("backoff holds a resume",
             Facts { in_flight: Some("u".into()), failures: 1, last_failure: Some(now), ..facts() },
             plain, now, Decision::BackingOff { until: now + 60, failures: 1 }),
            ("force ignores backoff",
             Facts { failures: 3, last_failure: Some(now), ..facts() }, force, now, Decision::Forced),
            ("backoff does not matter when not due",
             Facts { failures: 3, last_failure: Some(early), ..facts() }, plain, early,
             Decision::NotDue { at: 60 * DAY }),
        ];
        for (what, facts, request, at, expected) in cases {
            assert_eq!(decide(&facts, request, at), expected, "{what}");
        }
    }

    #[test]
    fn the_daemon_wakes_for_the_earliest_certificate_but_not_in_a_loop() {
        let now = 1_000_000;
        assert_eq!(next_wake([], now), None);
        // A backoff step ending in 60 s, a renewal in a week: the backoff wins.
        assert_eq!(next_wake([now + 7 * DAY, now + 60], now), Some(now + 60));
        // Something due already (or a step that just ended) waits the minimum, never zero.
        assert_eq!(next_wake([now - 5, now + DAY], now), Some(now + MIN_WAKE));
        // After one failure the wake-up is the end of the first step.
        let failed_at = now;
        let wake = next_wake([next_attempt(1, failed_at, None)], now + 1);
        assert_eq!(wake, Some(now + 61));
    }
}
