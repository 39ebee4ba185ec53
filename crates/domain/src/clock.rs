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

/// Hours after the 16:00 New York close before a day's bar is final: providers publish the
/// consolidated close and volume some time after the bell, and correct them within hours.
pub const PUBLICATION_LAG_HOURS: i64 = 3;

/// The instant from which the bar of `date` can be final: the session's 16:00 close in New
/// York plus [`PUBLICATION_LAG_HOURS`]. Early-close days are treated as full days (later, so
/// never too early).
pub fn bar_final_at(date: NaiveDate) -> DateTime<Utc> {
    use chrono::{Duration, NaiveTime, TimeZone};
    let close = date.and_time(NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default());
    let close_utc = New_York
        .from_local_datetime(&close)
        .earliest()
        .map(|local| local.with_timezone(&Utc))
        // 16:00 exists on every New York day; fall back to the later of the two UTC offsets.
        .unwrap_or_else(|| close.and_utc() + Duration::hours(5));
    close_utc + Duration::hours(PUBLICATION_LAG_HOURS)
}

#[cfg(test)]
mod final_tests {
    use super::*;

    #[test]
    fn a_bar_is_final_three_hours_after_the_new_york_close_in_both_seasons() {
        let summer = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap_or_default();
        assert_eq!(
            bar_final_at(summer).to_rfc3339(),
            "2025-07-01T23:00:00+00:00"
        );
        let winter = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap_or_default();
        assert_eq!(
            bar_final_at(winter).to_rfc3339(),
            "2025-12-02T00:00:00+00:00"
        );
    }
}
