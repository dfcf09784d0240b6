//! Cron schedules (the only user of the `cron` crate) and the per-kind overlap guard.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{TimeZone, Utc};

use crate::model::UnixSeconds;

/// A parsed cron schedule. Accepts the classic five fields (minute hour day month weekday) or
/// six with seconds first, as the `cron` crate does.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    inner: cron::Schedule,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {text}")
        } else {
            text.to_string()
        };
        cron::Schedule::from_str(&full)
            .map(|inner| Schedule {
                text: text.to_string(),
                inner,
            })
            .map_err(|e| format!("invalid cron schedule \"{text}\": {e}"))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first firing strictly after `after`.
    pub fn next_after(&self, after: UnixSeconds) -> Option<UnixSeconds> {
        let start = Utc.timestamp_opt(after, 0).single()?;
        self.inner.after(&start).next().map(|t| t.timestamp())
    }
}

/// The default renewal schedule: twice a day at a minute and hour chosen once per install (from
/// a stable seed), as Let's Encrypt asks clients to spread their load.
pub fn default_renew_schedule(seed: u64) -> Schedule {
    let minute = seed % 60;
    let hour = (seed / 60) % 12;
    let text = format!("{minute} {hour},{} * * *", hour + 12);
    // Built from numbers in range, so always a valid expression.
    Schedule::parse(&text).expect("generated renewal schedule is valid")
}

/// Lets only one run of a kind be in progress; a run that would overlap is skipped.
#[derive(Debug, Clone, Default)]
pub struct Guard(Arc<AtomicBool>);

impl Guard {
    /// Claims the guard; `None` when a run is already in progress.
    pub fn try_start(&self) -> Option<Running> {
        self.0
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Running(Arc::clone(&self.0)))
    }

    pub fn busy(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Releases its guard when dropped.
pub struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_field_schedules() {
        let s = Schedule::parse("0 */6 * * *").expect("5 fields");
        assert_eq!(s.next_after(0), Some(6 * 3600));
        let s = Schedule::parse("*/2 * * * * *").expect("6 fields");
        assert_eq!(s.next_after(10), Some(12));
        assert!(Schedule::parse("every day").is_err());
        let r = default_renew_schedule(12_345);
        assert!(r.next_after(0).is_some());
    }

    #[test]
    fn guard_skips_overlaps() {
        let g = Guard::default();
        let first = g.try_start().expect("free");
        assert!(g.try_start().is_none());
        drop(first);
        assert!(g.try_start().is_some());
    }
}
