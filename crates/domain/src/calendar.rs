//! The NYSE trading calendar: which days the exchange is open for a regular session.
//!
//! Written here rather than taken from a crate: the available calendar crates either cover a
//! handful of recent years or pull in large data tables, and the rules for daily bars fit in a
//! page. Exact from 1980 on (weekends, the ten rule-based holidays with their observed-date
//! shifts, and the unscheduled closures); earlier years follow the same rules and may differ
//! from history on a few days.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::DateRange;

/// Days the exchange closed outside its holiday rules (weather, national mourning, 9/11).
const UNSCHEDULED_CLOSURES: &[(i32, u32, u32, &str)] = &[
    (1980, 11, 4, "Presidential election day"),
    (1985, 9, 27, "Hurricane Gloria"),
    (1994, 4, 27, "National day of mourning for Richard Nixon"),
    (2001, 9, 11, "September 11 attacks"),
    (2001, 9, 12, "September 11 attacks"),
    (2001, 9, 13, "September 11 attacks"),
    (2001, 9, 14, "September 11 attacks"),
    (2004, 6, 11, "National day of mourning for Ronald Reagan"),
    (2007, 1, 2, "National day of mourning for Gerald Ford"),
    (2012, 10, 29, "Hurricane Sandy"),
    (2012, 10, 30, "Hurricane Sandy"),
    (
        2018,
        12,
        5,
        "National day of mourning for George H. W. Bush",
    ),
    (2025, 1, 9, "National day of mourning for Jimmy Carter"),
];

/// Whether the NYSE holds a regular session on `date`.
pub fn is_trading_day(date: NaiveDate) -> bool {
    !is_weekend(date) && holiday_name(date).is_none()
}

/// Whether `date` falls on a Saturday or Sunday.
pub fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The name of the holiday or closure that keeps the exchange shut on a weekday, if any.
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    if is_weekend(date) {
        return None;
    }
    let year = date.year();
    let on = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day);
    let nth = |month: u32, weekday: Weekday, n: u8| {
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
    };

    // New Year's Day on a Saturday is not moved to the Friday before: that Friday closes the
    // books of the old year (NYSE Rule 7.2).
    let new_year = on(1, 1).map(|d| {
        if d.weekday() == Weekday::Sun {
            d + Duration::days(1)
        } else {
            d
        }
    });
    let rules: [(Option<NaiveDate>, &'static str); 10] = [
        (new_year, "New Year's Day"),
        (
            if year >= 1998 {
                nth(1, Weekday::Mon, 3)
            } else {
                None
            },
            "Martin Luther King Jr. Day",
        ),
        (nth(2, Weekday::Mon, 3), "Washington's Birthday"),
        (
            easter_sunday(year).map(|d| d - Duration::days(2)),
            "Good Friday",
        ),
        (last_monday_of_may(year), "Memorial Day"),
        (
            if year >= 2022 {
                on(6, 19).map(observed)
            } else {
                None
            },
            "Juneteenth",
        ),
        (on(7, 4).map(observed), "Independence Day"),
        (nth(9, Weekday::Mon, 1), "Labor Day"),
        (nth(11, Weekday::Thu, 4), "Thanksgiving Day"),
        (on(12, 25).map(observed), "Christmas Day"),
    ];
    if let Some((_, name)) = rules.iter().find(|(day, _)| *day == Some(date)) {
        return Some(name);
    }
    UNSCHEDULED_CLOSURES
        .iter()
        .find(|(y, m, d, _)| NaiveDate::from_ymd_opt(*y, *m, *d) == Some(date))
        .map(|(_, _, _, name)| *name)
}

/// Why the exchange is closed on `date`, or `None` on a trading day.
pub fn closure_reason(date: NaiveDate) -> Option<&'static str> {
    if is_weekend(date) {
        Some("weekend")
    } else {
        holiday_name(date)
    }
}

/// The trading days of `range`, in order.
pub fn trading_days(range: DateRange) -> impl Iterator<Item = NaiveDate> {
    range.days().filter(|day| is_trading_day(*day))
}

/// The smallest range inside `range` that holds all of its trading days, or `None` if it has none.
pub fn trim_to_trading_days(range: DateRange) -> Option<DateRange> {
    let first = range.days().find(|day| is_trading_day(*day))?;
    let last = range.days().rev().find(|day| is_trading_day(*day))?;
    DateRange::new(first, last).ok()
}

/// Saturday holidays are observed on the Friday before, Sunday ones on the Monday after.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

fn last_monday_of_may(year: i32) -> Option<NaiveDate> {
    let may_31 = NaiveDate::from_ymd_opt(year, 5, 31)?;
    let back = may_31.weekday().num_days_from_monday();
    Some(may_31 - Duration::days(i64::from(back)))
}

/// Easter Sunday in the Gregorian calendar (the anonymous "Meeus/Jones/Butcher" algorithm).
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn easter_matches_known_dates() {
        assert_eq!(easter_sunday(2024), Some(date(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(date(2025, 4, 20)));
        assert_eq!(easter_sunday(2019), Some(date(2019, 4, 21)));
        assert_eq!(easter_sunday(2000), Some(date(2000, 4, 23)));
        assert_eq!(easter_sunday(1990), Some(date(1990, 4, 15)));
    }

    #[test]
    fn the_2025_holidays_are_closed() {
        let holidays = [
            date(2025, 1, 1),
            date(2025, 1, 9),
            date(2025, 1, 20),
            date(2025, 2, 17),
            date(2025, 4, 18),
            date(2025, 5, 26),
            date(2025, 6, 19),
            date(2025, 7, 4),
            date(2025, 9, 1),
            date(2025, 11, 27),
            date(2025, 12, 25),
        ];
        for day in holidays {
            assert!(!is_trading_day(day), "{day} should be closed");
        }
        assert!(is_trading_day(date(2025, 12, 24)));
        assert!(is_trading_day(date(2025, 11, 28)));
    }

    #[test]
    fn observed_dates_shift_around_weekends() {
        // Independence Day 2026 is a Saturday: observed Friday 3 July.
        assert_eq!(holiday_name(date(2026, 7, 3)), Some("Independence Day"));
        // Christmas 2022 was a Sunday: observed Monday 26 December.
        assert_eq!(holiday_name(date(2022, 12, 26)), Some("Christmas Day"));
        // Juneteenth 2022 was a Sunday: observed Monday 20 June.
        assert_eq!(holiday_name(date(2022, 6, 20)), Some("Juneteenth"));
        // New Year's Day 2022 was a Saturday: Friday 31 December 2021 was a trading day.
        assert!(is_trading_day(date(2021, 12, 31)));
        // New Year's Day 2017 was a Sunday: observed Monday 2 January.
        assert_eq!(holiday_name(date(2017, 1, 2)), Some("New Year's Day"));
    }

    #[test]
    fn rules_start_in_their_first_year() {
        assert!(is_trading_day(date(1997, 1, 20)), "no MLK day before 1998");
        assert!(!is_trading_day(date(1998, 1, 19)));
        assert!(
            is_trading_day(date(2021, 6, 18)),
            "no Juneteenth before 2022"
        );
    }

    #[test]
    fn trading_day_counts_match_known_years() {
        let count = |y: i32| {
            DateRange::new(date(y, 1, 1), date(y, 12, 31))
                .map(|r| trading_days(r).count())
                .unwrap_or(0)
        };
        assert_eq!(count(2023), 250);
        assert_eq!(count(2024), 252);
        assert_eq!(count(2001), 248);
        assert_eq!(count(2012), 250);
    }

    #[test]
    fn trimming_drops_closed_edges() {
        let holiday_weekend = DateRange::new(date(2025, 7, 4), date(2025, 7, 6)).ok();
        assert_eq!(holiday_weekend.and_then(trim_to_trading_days), None);
        let around = DateRange::new(date(2025, 7, 4), date(2025, 7, 8)).ok();
        assert_eq!(
            around.and_then(trim_to_trading_days),
            DateRange::new(date(2025, 7, 7), date(2025, 7, 8)).ok()
        );
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    /// The fixture series (fixtures/vectorbt-sma) holds one bar per NYSE session from 1990-01-02 to 2025-12-31.
    #[test]
    fn calendar_agrees_with_the_35_year_fixture_series() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/vectorbt-sma/AAPL.csv"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("fixture {path} unreadable: {e}"));
        let fixture_days: Vec<NaiveDate> = text
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next())
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .collect();
        let (Some(first), Some(last)) = (fixture_days.first(), fixture_days.last()) else {
            panic!("fixture is empty")
        };
        let ours: Vec<NaiveDate> = DateRange::new(*first, *last)
            .map(|r| trading_days(r).collect())
            .unwrap_or_default();
        let extra: Vec<_> = ours
            .iter()
            .filter(|d| !fixture_days.contains(d))
            .take(5)
            .collect();
        let lacking: Vec<_> = fixture_days
            .iter()
            .filter(|d| !ours.contains(d))
            .take(5)
            .collect();
        assert_eq!(fixture_days.len(), 9067);
        assert!(
            extra.is_empty() && lacking.is_empty(),
            "we trade on {extra:?}, fixture on {lacking:?}"
        );
    }
}
