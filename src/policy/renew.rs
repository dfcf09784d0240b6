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
