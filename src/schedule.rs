//! Cron schedules (the only user of the `croner` crate) and the per-kind overlap guard.
//!
//! Schedules mean what crontab(5) means: five fields (minute hour day-of-month month
//! day-of-week), or six with seconds first; 0 and 7 are Sunday; month and day names (`JAN`,
//! `mon`) and `@daily`-style nicknames are allowed; when both day fields are restricted, either
//! one matching is enough (Vixie cron's rule). They run in the process's local time zone, which
//! follows `TZ` (as cron does): `Environment=TZ=UTC` in the unit pins it. croner was chosen over
//! the `cron` crate, whose weekdays count from 1 = Sunday (`0 3 * * 1` ran on Sundays).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::TimeZone;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::model::UnixSeconds;

/// A parsed cron schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    inner: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!(
                "invalid cron schedule \"{text}\": {fields} fields; expected 5 (minute hour day month weekday) or 6 (seconds first)"
            ));
        }
        CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map(|inner| Schedule {
                text: text.to_string(),
                inner,
            })
            .map_err(|e| format!("invalid cron schedule \"{text}\": {e}"))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first firing strictly after `after`, in the local time zone (`TZ`).
    pub fn next_after(&self, after: UnixSeconds) -> Option<UnixSeconds> {
        self.next_after_in(after, &chrono::Local)
    }

    /// The latest firing at or before `at`, in the local time zone: the slot a run started at
    /// `at` belongs to (fleet mode's nodes share one scan run per slot).
    pub fn slot_of(&self, at: UnixSeconds) -> Option<UnixSeconds> {
        let start = chrono::Local.timestamp_opt(at, 0).single()?;
        self.inner
            .find_previous_occurrence(&start, true)
            .ok()
            .map(|t| t.timestamp())
    }

    /// The first firing strictly after `after`, reading the fields in time zone `tz`.
    pub fn next_after_in<Tz: TimeZone>(&self, after: UnixSeconds, tz: &Tz) -> Option<UnixSeconds> {
        let start = tz.timestamp_opt(after, 0).single()?;
        self.inner
            .find_next_occurrence(&start, false)
            .ok()
            .map(|t| t.timestamp())
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

    use chrono::{Datelike, FixedOffset, Utc};

    /// 2026-12-07 was a Monday.
    const MONDAY_2026_12_07: i64 = 1_796_601_600;

    fn next_utc(schedule: &str, after: i64) -> i64 {
        Schedule::parse(schedule)
            .unwrap_or_else(|e| panic!("{e}"))
            .next_after_in(after, &Utc)
            .expect("fires")
    }

    fn weekday(at: i64) -> chrono::Weekday {
        Utc.timestamp_opt(at, 0).single().expect("valid").weekday()
    }

    #[test]
    fn a_run_belongs_to_the_latest_firing_at_or_before_it() {
        let s = Schedule::parse("0 */6 * * *").unwrap();
        let tick = s.next_after(1_800_000_000).unwrap();
        assert_eq!(s.slot_of(tick), Some(tick), "a run started on its firing");
        assert_eq!(s.slot_of(tick + 59), Some(tick));
        assert_eq!(s.slot_of(tick + 6 * 3600 - 1), Some(tick));
        assert_eq!(s.slot_of(tick + 6 * 3600), Some(tick + 6 * 3600));
    }

    #[test]
    fn five_and_six_field_schedules() {
        assert_eq!(next_utc("0 */6 * * *", 0), 6 * 3600);
        assert_eq!(next_utc("*/2 * * * * *", 10), 12);
        assert!(Schedule::parse("every day").is_err());
        assert!(Schedule::parse("* * * *").is_err());
        assert!(Schedule::parse("0 0 1 1 * 2027 *").is_err());
        let r = default_renew_schedule(12_345);
        assert!(r.next_after(0).is_some());
    }

    #[test]
    fn weekdays_mean_what_crontab_means() {
        assert_eq!(weekday(MONDAY_2026_12_07), chrono::Weekday::Mon);
        // From Sunday 2026-12-06 00:00 UTC.
        let sunday = MONDAY_2026_12_07 - 86_400;
        let cases = [
            ("0 3 * * 1", chrono::Weekday::Mon),
            ("0 3 * * MON", chrono::Weekday::Mon),
            ("0 3 * * mon", chrono::Weekday::Mon),
            ("0 3 * * 5", chrono::Weekday::Fri),
            ("0 3 * * 6", chrono::Weekday::Sat),
            ("0 3 * * 0", chrono::Weekday::Sun),
            ("0 3 * * 7", chrono::Weekday::Sun),
            ("0 3 * * SUN", chrono::Weekday::Sun),
        ];
        for (text, want) in cases {
            let at = next_utc(text, sunday);
            assert_eq!(weekday(at), want, "{text}");
            assert_eq!(at % 86_400, 3 * 3600, "{text} fires at 03:00");
        }
        // `0 3 * * 1` from Sunday 00:00 is Monday 03:00, not Sunday 03:00.
        assert_eq!(next_utc("0 3 * * 1", sunday), MONDAY_2026_12_07 + 3 * 3600);
        // Every minute on Sundays is accepted (it was refused) and fires on Sunday.
        assert_eq!(next_utc("* * * * 0", sunday), sunday + 60);
        // A range over the weekend wraps the way crontab reads it: 5-7 is Fri, Sat, Sun.
        assert_eq!(
            weekday(next_utc("0 0 * * 5-7", MONDAY_2026_12_07)),
            chrono::Weekday::Fri
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_as_vixie_cron() {
        // "On the 1st, or on any Monday": from Tuesday 2026-12-08, the next is Monday the 14th,
        // and after that Friday 2027-01-01 (a 1st that is not a Monday).
        let tuesday = MONDAY_2026_12_07 + 86_400;
        let first = next_utc("0 0 1 * 1", tuesday);
        assert_eq!(first, MONDAY_2026_12_07 + 7 * 86_400);
        let new_year = 1_798_761_600; // 2027-01-01 00:00 UTC
        assert_eq!(next_utc("0 0 1 * 1", new_year - 1), new_year);
        // Names for months; nicknames.
        assert_eq!(next_utc("0 0 1 JAN *", tuesday), new_year);
        assert_eq!(next_utc("@daily", tuesday), tuesday + 86_400);
    }

    #[test]
    fn fields_are_read_in_the_given_time_zone() {
        // 03:00 in UTC+2 is 01:00 UTC.
        let plus2 = FixedOffset::east_opt(2 * 3600).expect("offset");
        let at = Schedule::parse("0 3 * * *")
            .expect("valid")
            .next_after_in(MONDAY_2026_12_07, &plus2)
            .expect("fires");
        assert_eq!(at, MONDAY_2026_12_07 + 3600);
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
