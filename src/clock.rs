//! The wall clock, read in one place so that pure code can take `now` as a parameter instead.

use crate::model::UnixSeconds;

/// Seconds since the Unix epoch (0 if the system clock is set before 1970).
pub fn now() -> UnixSeconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
