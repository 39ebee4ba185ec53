//! Provider rows to checked bars: the one place a payload row becomes a `Bar` or a `RejectedRow`.

use chrono::NaiveDate;
use marketcache_domain::{Bar, DateRange, FetchedBars, RejectedRow, SourceError};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One row as a provider sent it: prices may be missing, volume may be fractional.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawRow {
    pub date: NaiveDate,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub close: Option<f64>,
    /// `None` when the provider has no volume for the row (no column, or null): stored as 0.
    pub volume: Option<f64>,
}

/// Collects rows within one requested range into bars and rejections.
#[derive(Debug)]
pub(crate) struct BarBuilder {
    range: DateRange,
    bars: Vec<Bar>,
    rejected: Vec<RejectedRow>,
}

impl BarBuilder {
    pub fn new(range: DateRange) -> Self {
        Self {
            range,
            bars: Vec::new(),
            rejected: Vec::new(),
        }
    }

    /// Adds `row` as a bar, or as a rejection saying why; rows outside the range are ignored.
    pub fn push(&mut self, row: RawRow) {
        if !self.range.contains(row.date) {
            return;
        }
        let (Some(open), Some(high), Some(low), Some(close)) =
            (row.open, row.high, row.low, row.close)
        else {
            self.reject(
                Some(row.date),
                "open, high, low or close is null or missing",
            );
            return;
        };
        let volume = match row.volume.map(volume_from_f64).transpose() {
            Ok(volume) => volume.unwrap_or(0),
            Err(reason) => {
                self.reject(Some(row.date), reason);
                return;
            }
        };
        match Bar::try_new(row.date, open, high, low, close, volume) {
            Ok(bar) => self.bars.push(bar),
            Err(error) => self.reject(Some(row.date), error.to_string()),
        }
    }

    /// Records a row that could not become a bar; dated rows outside the range are ignored.
    pub fn reject(&mut self, date: Option<NaiveDate>, reason: impl Into<String>) {
        if date.is_some_and(|day| !self.range.contains(day)) {
            return;
        }
        self.rejected.push(RejectedRow {
            date,
            reason: reason.into(),
        });
    }

    /// Bars in date order without duplicates (a later row for a date replaces an earlier one,
    /// which is rejected), and the rejections.
    pub fn finish(self) -> FetchedBars {
        let Self {
            mut bars,
            mut rejected,
            ..
        } = self;
        // Stable sort keeps arrival order within a date, so the last row of a date wins.
        bars.sort_by_key(|bar| bar.date);
        let mut unique: Vec<Bar> = Vec::with_capacity(bars.len());
        for bar in bars {
            match unique.last_mut() {
                Some(last) if last.date == bar.date => {
                    rejected.push(RejectedRow {
                        date: Some(bar.date),
                        reason: "duplicate date: a later row for the same date replaced it"
                            .to_string(),
                    });
                    *last = bar;
                }
                _ => unique.push(bar),
            }
        }
        FetchedBars {
            bars: unique,
            rejected,
            ..FetchedBars::default()
        }
    }
}

/// A share count from a provider's number: rounded, and rejected when negative or not finite.
pub(crate) fn volume_from_f64(volume: f64) -> Result<u64, String> {
    if !volume.is_finite() {
        return Err(format!("volume {volume} is not a finite number"));
    }
    if volume < 0.0 {
        return Err(format!("volume {volume} is negative"));
    }
    let rounded = volume.round();
    // The stores keep a signed 64-bit count; i64::MAX as f64 rounds up to 2^63, so compare
    // with >= to keep the cast exact.
    if rounded >= i64::MAX as f64 {
        return Err(format!("volume {volume} is too large to store"));
    }
    Ok(rounded as u64)
}

/// A JSON number that may also arrive as a string (`"125.2500"`, `"Infinity"`, `"NaN"`) or null.
/// Unreadable values become NaN so the row, not the whole answer, is rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Number(pub Option<f64>);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Number(match Value::deserialize(deserializer)? {
            Value::Null => None,
            Value::Number(number) => Some(number.as_f64().unwrap_or(f64::NAN)),
            Value::String(text) => Some(parse_decimal(&text)),
            _ => Some(f64::NAN),
        }))
    }
}

/// A decimal from text, NaN when it is not one.
pub(crate) fn parse_decimal(text: &str) -> f64 {
    text.trim().parse::<f64>().unwrap_or(f64::NAN)
}

/// Whether a body is an HTML page (an error, login, CAPTCHA or maintenance page), never data.
pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let start = text.trim_start_matches('\u{feff}').trim_start();
    start.starts_with('<')
}

/// The error for a body that is HTML where data was expected.
pub(crate) fn html_error(provider: &str, status: u16, body: &[u8]) -> SourceError {
    SourceError::Transport {
        provider: provider.to_string(),
        message: format!(
            "HTTP {status} answered with an HTML page instead of data: {}",
            crate::http::snippet(body)
        ),
    }
}

/// Error constructors shared by the providers.
pub(crate) fn decode_error(provider: &str, message: impl Into<String>) -> SourceError {
    SourceError::Decode {
        provider: provider.to_string(),
        message: message.into(),
    }
}

pub(crate) fn not_found(provider: &str, symbol: &str) -> SourceError {
    SourceError::NotFound {
        provider: provider.to_string(),
        symbol: symbol.to_string(),
    }
}

pub(crate) fn configuration_error(provider: &str, message: impl Into<String>) -> SourceError {
    SourceError::Configuration {
        provider: provider.to_string(),
        message: message.into(),
    }
}

pub(crate) fn unauthorized(provider: &str, message: impl Into<String>) -> SourceError {
    SourceError::Unauthorized {
        provider: provider.to_string(),
        message: message.into(),
    }
}

pub(crate) fn rejected(provider: &str, message: impl Into<String>) -> SourceError {
    SourceError::Rejected {
        provider: provider.to_string(),
        message: message.into(),
    }
}

pub(crate) fn transport_error(provider: &str, message: impl Into<String>) -> SourceError {
    SourceError::Transport {
        provider: provider.to_string(),
        message: message.into(),
    }
}

/// Adds one page's bars, rejections and provisional dates to `total`, then restores date order
/// and uniqueness.
pub(crate) fn merge_page(total: &mut FetchedBars, page: FetchedBars) {
    total.bars.extend(page.bars);
    total.rejected.extend(page.rejected);
    total.actions.extend(page.actions);
    total.provisional.extend(page.provisional);
    total.bars.sort_by_key(|bar| bar.date);
    total.bars.dedup_by_key(|bar| bar.date);
    total.actions.sort_by_key(|action| action.ex_date);
    total.provisional.sort();
    total.provisional.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, d).expect("valid date")
    }

    fn row(date: NaiveDate, close: Option<f64>, volume: Option<f64>) -> RawRow {
        RawRow {
            date,
            open: Some(10.0),
            high: Some(11.0),
            low: Some(9.0),
            close,
            volume,
        }
    }

    #[test]
    fn rows_become_bars_or_reasons_and_only_within_the_range() {
        let range = DateRange::new(day(2), day(5)).expect("range");
        let mut builder = BarBuilder::new(range);
        builder.push(row(day(1), Some(10.0), Some(1.0)));
        builder.push(row(day(3), Some(10.5), Some(7.079_081_3e7)));
        builder.push(row(day(2), None, Some(1.0)));
        builder.push(row(day(4), Some(12.0), Some(1.0)));
        builder.push(row(day(5), Some(10.0), Some(-1.0)));
        let fetched = builder.finish();
        assert_eq!(fetched.bars.len(), 1);
        assert_eq!(fetched.bars[0].volume, 70_790_813);
        let rejected: Vec<_> = fetched.rejected.iter().map(|r| r.date).collect();
        assert_eq!(rejected, vec![Some(day(2)), Some(day(4)), Some(day(5))]);
    }

    #[test]
    fn a_later_row_for_the_same_date_wins() {
        let range = DateRange::new(day(1), day(9)).expect("range");
        let mut builder = BarBuilder::new(range);
        builder.push(row(day(3), Some(10.0), None));
        builder.push(row(day(2), Some(10.0), None));
        builder.push(row(day(3), Some(10.5), None));
        let fetched = builder.finish();
        assert_eq!(fetched.bars.len(), 2);
        assert_eq!(fetched.bars[1].close, 10.5);
        assert_eq!(fetched.rejected.len(), 1);
    }

    #[test]
    fn volumes_are_rounded_and_checked() {
        assert_eq!(volume_from_f64(1.029145e6), Ok(1_029_145));
        assert_eq!(volume_from_f64(2.5), Ok(3));
        assert!(volume_from_f64(f64::NAN).is_err());
        assert!(volume_from_f64(-3.0).is_err());
        assert!(volume_from_f64(1e30).is_err());
    }
}
