//! Inclusive date ranges and the set arithmetic of covered and missing days.

use std::fmt;

use chrono::{Datelike, Duration, Month, NaiveDate};
use serde::Serialize;

use crate::DomainError;

/// An inclusive range of calendar days, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DateRange {
    start: NaiveDate,
    end: NaiveDate,
}

impl DateRange {
    /// The range `start..=end`; rejects a start after the end.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, DomainError> {
        if start > end {
            return Err(DomainError::InvertedRange { start, end });
        }
        Ok(Self { start, end })
    }

    /// A range of one day.
    pub fn single(day: NaiveDate) -> Self {
        Self {
            start: day,
            end: day,
        }
    }

    /// First day.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// Last day.
    pub fn end(&self) -> NaiveDate {
        self.end
    }

    /// Number of calendar days, both ends included.
    pub fn len_days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Whether `day` lies inside.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    /// Every calendar day, in order.
    pub fn days(&self) -> impl DoubleEndedIterator<Item = NaiveDate> + use<> {
        let start = self.start;
        (0..self.len_days()).map(move |offset| start + Duration::days(offset))
    }

    /// The days both ranges share, if any.
    pub fn intersect(&self, other: &DateRange) -> Option<DateRange> {
        DateRange::new(self.start.max(other.start), self.end.min(other.end)).ok()
    }

    /// Splits into consecutive pieces of at most `max_days` calendar days.
    pub fn chunks(&self, max_days: u32) -> Vec<DateRange> {
        let step = i64::from(max_days.max(1));
        let mut pieces = Vec::new();
        let mut start = self.start;
        while start <= self.end {
            let end = (start + Duration::days(step - 1)).min(self.end);
            pieces.push(DateRange { start, end });
            start = end + Duration::days(1);
        }
        pieces
    }
}

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A date as `YYYY-MM-DD` text on the stack, written as chrono writes it, for loops that write
/// one per bar (the store's upserts, the API's bars) without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDate([u8; 10]);

impl IsoDate {
    /// `None` for a year chrono writes with a sign or more than four digits (no market's).
    pub fn new(date: NaiveDate) -> Option<Self> {
        let year = u32::try_from(date.year())
            .ok()
            .filter(|year| *year <= 9999)?;
        let (month, day) = (date.month(), date.day());
        let digit = |value: u32| b'0' + (value % 10) as u8;
        Some(Self([
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            digit(month / 10),
            digit(month),
            b'-',
            digit(day / 10),
            digit(day),
        ]))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Digits and dashes only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Parses a `YYYY-MM-DD` date; `field` names the input in the error, which tells a wrong shape
/// from a day the calendar does not have.
pub fn parse_date(field: &'static str, input: &str) -> Result<NaiveDate, DomainError> {
    let (year, month, day) = date_parts(input.trim()).ok_or_else(|| DomainError::InvalidDate {
        field,
        input: input.to_string(),
    })?;
    let date =
        NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| DomainError::NonexistentDate {
            field,
            input: input.to_string(),
            reason: why_not_on_the_calendar(year, month),
        })?;
    // No exchange has daily bars before 1900; an earlier start would only cost empty requests.
    if !(FIRST_DATE..=LAST_DATE).contains(&date) {
        return Err(DomainError::DateOutOfRange { field, date });
    }
    Ok(date)
}

/// The numbers of `YYYY-MM-DD` text (exactly four digits, two and two), whether or not they
/// make a date.
fn date_parts(text: &str) -> Option<(i32, u32, u32)> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    Some((
        text.get(0..4)?.parse().ok()?,
        text.get(5..7)?.parse().ok()?,
        text.get(8..10)?.parse().ok()?,
    ))
}

/// Why a well-shaped `year-month-day` that chrono refused is not a date: the month, or the
/// number of days the month has.
fn why_not_on_the_calendar(year: i32, month: u32) -> String {
    let calendar_month = u8::try_from(month)
        .ok()
        .and_then(|number| Month::try_from(number).ok());
    match calendar_month.and_then(|m| Some((m.name(), m.num_days(year)?))) {
        Some((name, days)) => format!("{name} {year} has {days} days"),
        // A month out of 01-12 is most often day and month swapped.
        None => format!("there is no month {month:02} (dates are YYYY-MM-DD)"),
    }
}

/// The first day asked for when a request names none: 35 years of daily bars.
pub const DEFAULT_START: NaiveDate = match NaiveDate::from_ymd_opt(1990, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

impl DateRange {
    /// The range a request asks for, its defaults filled in: from [`DEFAULT_START`], to
    /// `today` (in New York); an inverted range is an error.
    pub fn requested(
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Self, DomainError> {
        Self::new(start.unwrap_or(DEFAULT_START), end.unwrap_or(today))
    }
}

/// The earliest date accepted from input.
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

/// The latest date accepted from input.
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(date) => date,
    None => NaiveDate::MAX,
};

/// Sorts and merges ranges that overlap or touch into disjoint, non-adjacent ranges.
pub fn union(ranges: impl IntoIterator<Item = DateRange>) -> Vec<DateRange> {
    let mut sorted: Vec<DateRange> = ranges.into_iter().collect();
    sorted.sort();
    let mut merged: Vec<DateRange> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end + Duration::days(1) => {
                last.end = last.end.max(range.end)
            }
            _ => merged.push(range),
        }
    }
    merged
}

/// The parts of `range` that no range of `covered` contains, in order.
pub fn subtract(range: DateRange, covered: &[DateRange]) -> Vec<DateRange> {
    let mut missing = Vec::new();
    let mut cursor = range.start;
    for block in union(covered.iter().copied()) {
        if block.end < cursor {
            continue;
        }
        if block.start > range.end {
            break;
        }
        if block.start > cursor {
            missing.push(DateRange {
                start: cursor,
                end: block.start - Duration::days(1),
            });
        }
        cursor = block.end + Duration::days(1);
        if cursor > range.end {
            return missing;
        }
    }
    if cursor <= range.end {
        missing.push(DateRange {
            start: cursor,
            end: range.end,
        });
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(offset: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default() + Duration::days(offset)
    }

    proptest! {
        #[test]
        fn iso_dates_are_written_as_chrono_writes_them(days in -800_000i64..3_000_000) {
            let date = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default() + Duration::days(days);
            match IsoDate::new(date) {
                Some(text) => prop_assert_eq!(text.as_str(), date.to_string()),
                None => prop_assert!(date.year() < 0 || date.year() > 9999),
            }
        }
    }

    fn range(a: i64, b: i64) -> DateRange {
        DateRange {
            start: day(a),
            end: day(b),
        }
    }

    #[test]
    fn thirty_five_years_split_into_73_chunks_of_182_days() {
        let start = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
        let end = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default();
        let chunks = DateRange { start, end }.chunks(182);
        assert_eq!(chunks.len(), 73);
        assert!(chunks.iter().all(|c| c.len_days() <= 182));
        assert_eq!(chunks.first().map(|c| c.start), Some(start));
        assert_eq!(chunks.last().map(|c| c.end), Some(end));
    }

    #[test]
    fn a_well_shaped_day_the_calendar_lacks_is_named_as_such() {
        let error = |input| parse_date("start", input).map_err(|e| e.to_string()).err();
        assert_eq!(
            error("2020-02-30").as_deref(),
            Some("start '2020-02-30' is not a real date: February 2020 has 29 days")
        );
        assert_eq!(
            error("2021-02-29").as_deref(),
            Some("start '2021-02-29' is not a real date: February 2021 has 28 days")
        );
        assert_eq!(
            error("2020-04-31").as_deref(),
            Some("start '2020-04-31' is not a real date: April 2020 has 30 days")
        );
        assert_eq!(
            error("2020-01-00").as_deref(),
            Some("start '2020-01-00' is not a real date: January 2020 has 31 days")
        );
        assert_eq!(
            error("2020-13-01").as_deref(),
            Some(
                "start '2020-13-01' is not a real date: there is no month 13 (dates are YYYY-MM-DD)"
            )
        );
        assert_eq!(
            parse_date("end", "2020-02-29").ok(),
            NaiveDate::from_ymd_opt(2020, 2, 29)
        );
    }

    #[test]
    fn a_wrong_shape_is_named_by_the_format() {
        for input in [
            "25-01-01",
            "2020-2-03",
            "2020/02/03",
            "yesterday",
            "2020-02-03x",
            "+2020-02-3",
        ] {
            assert_eq!(
                parse_date("end", input),
                Err(DomainError::InvalidDate {
                    field: "end",
                    input: input.to_string()
                }),
                "{input}"
            );
        }
        assert_eq!(
            parse_date("end", " 2020-02-03 ").ok(),
            NaiveDate::from_ymd_opt(2020, 2, 3)
        );
    }

    #[test]
    fn inverted_ranges_and_bad_dates_are_rejected() {
        assert!(DateRange::new(day(2), day(1)).is_err());
        assert!(parse_date("start", "2025-02-30").is_err());
        assert!(parse_date("start", "25-01-01").is_err());
        assert!(parse_date("start", "1899-12-31").is_err());
        assert!(parse_date("end", "2200-01-01").is_err());
        assert_eq!(
            parse_date("start", "2025-01-31").ok(),
            NaiveDate::from_ymd_opt(2025, 1, 31)
        );
    }

    #[test]
    fn a_request_without_dates_asks_from_1990_to_today_and_refuses_an_inverted_range() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
        let range = DateRange::requested(None, None, today).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((range.start(), range.end()), (DEFAULT_START, today));
        let later = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default();
        assert!(DateRange::requested(Some(later), None, today).is_err());
    }

    #[test]
    fn subtract_leaves_the_gaps() {
        let gaps = subtract(range(0, 20), &[range(3, 5), range(6, 8), range(15, 30)]);
        assert_eq!(gaps, vec![range(0, 2), range(9, 14)]);
        assert_eq!(subtract(range(0, 5), &[]), vec![range(0, 5)]);
        assert_eq!(subtract(range(3, 5), &[range(0, 10)]), vec![]);
    }

    proptest! {
        #[test]
        fn covered_and_missing_partition_the_range(
            start in 0i64..200, len in 0i64..200,
            blocks in proptest::collection::vec((0i64..400, 0i64..60), 0..8),
        ) {
            let whole = range(start, start + len);
            let covered: Vec<DateRange> = blocks.iter().map(|(s, l)| range(*s, s + l)).collect();
            let missing = subtract(whole, &covered);
            for d in whole.days() {
                let in_covered = covered.iter().any(|c| c.contains(d));
                let in_missing = missing.iter().filter(|m| m.contains(d)).count();
                prop_assert_eq!(in_missing, usize::from(!in_covered));
            }
            for m in &missing {
                prop_assert!(whole.start <= m.start && m.end <= whole.end);
            }
        }
    }
}
