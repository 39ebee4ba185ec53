//! The source of "now", injectable so that time-dependent rules can be tested.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;

/// Tells the current time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in New York, the exchange's time zone.
    fn today_in_new_york(&self) -> NaiveDate {
        new_york_date(self.now())
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved; for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        match self.0.lock() {
            Ok(mut guard) => *guard = now,
            Err(poisoned) => *poisoned.into_inner() = now,
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// The calendar date in New York at instant `now`.
pub fn new_york_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&New_York).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn new_york_date_follows_daylight_saving_time() {
        // 03:30 UTC on 1 July is 23:30 the previous day in New York (EDT, UTC-4).
        let summer = Utc.with_ymd_and_hms(2025, 7, 1, 3, 30, 0).single();
        assert_eq!(
            summer.map(new_york_date),
            NaiveDate::from_ymd_opt(2025, 6, 30)
        );
        // 04:30 UTC on 1 July is 00:30 in New York.
        let summer = Utc.with_ymd_and_hms(2025, 7, 1, 4, 30, 0).single();
        assert_eq!(
            summer.map(new_york_date),
            NaiveDate::from_ymd_opt(2025, 7, 1)
        );
        // 04:30 UTC on 15 January is 23:30 the previous day (EST, UTC-5).
        let winter = Utc.with_ymd_and_hms(2025, 1, 15, 4, 30, 0).single();
        assert_eq!(
            winter.map(new_york_date),
            NaiveDate::from_ymd_opt(2025, 1, 14)
        );
    }
}
