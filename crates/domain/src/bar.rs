//! One day's open, high, low, close and volume.

use chrono::NaiveDate;
use serde::Serialize;

use crate::{DomainError, Symbol};

/// A daily OHLCV bar whose prices are finite and positive, with `low <= open, close <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bar {
    pub date: NaiveDate,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
}

impl Bar {
    /// Checks the bar's invariants; the only way provider payloads and rows become bars.
    pub fn try_new(
        date: NaiveDate,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: u64,
    ) -> Result<Self, DomainError> {
        let invalid = |rule| Err(DomainError::InvalidBar { date, rule });
        if ![open, high, low, close].iter().all(|p| p.is_finite()) {
            return invalid("prices must be finite");
        }
        if ![open, high, low, close].iter().all(|p| *p > 0.0) {
            return invalid("prices must be positive");
        }
        if low > open.min(close) || high < open.max(close) {
            return invalid("low <= open, close <= high must hold");
        }
        Ok(Self {
            date,
            open,
            high,
            low,
            close,
            volume,
        })
    }
}

/// A stable 64-bit fingerprint of a series (FNV-1a over each bar's date and exact values), so a
/// result can name the data it was computed from and be reproduced or compared later.
pub fn fingerprint(bars: &[Bar]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for bar in bars {
        feed(bar.date.to_string().as_bytes());
        for price in [bar.open, bar.high, bar.low, bar.close] {
            feed(&price.to_bits().to_le_bytes());
        }
        feed(&bar.volume.to_le_bytes());
    }
    hash
}

/// What a result was computed from: enough to reproduce it and to tell whether two results saw
/// the same bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataFingerprint {
    /// The symbol read.
    pub symbol: Symbol,
    /// The first bar's date.
    pub first_date: Option<NaiveDate>,
    /// The last bar's date.
    pub last_date: Option<NaiveDate>,
    /// How many bars.
    pub bars: usize,
    /// FNV-1a over every bar's date and exact values, as 16 hex digits.
    pub hash: String,
}

impl DataFingerprint {
    /// The fingerprint of `bars` of `symbol`.
    pub fn of(symbol: &Symbol, bars: &[Bar]) -> Self {
        Self {
            symbol: symbol.clone(),
            first_date: bars.first().map(|bar| bar.date),
            last_date: bars.last().map(|bar| bar.date),
            bars: bars.len(),
            hash: format!("{:016x}", fingerprint(bars)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_change_with_any_value_and_only_then() {
        let date = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap_or_default();
        let bar = Bar::try_new(date, 10.0, 11.0, 9.0, 10.5, 100).unwrap_or_else(|e| panic!("{e}"));
        let same = Bar::try_new(date, 10.0, 11.0, 9.0, 10.5, 100).unwrap_or_else(|e| panic!("{e}"));
        let other =
            Bar::try_new(date, 10.0, 11.0, 9.0, 10.25, 100).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fingerprint(&[bar]), fingerprint(&[same]));
        assert_ne!(fingerprint(&[bar]), fingerprint(&[other]));
        assert_ne!(fingerprint(&[bar]), fingerprint(&[bar, bar]));
    }

    #[test]
    fn bars_break_no_price_rule() {
        let date = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap_or_default();
        assert!(Bar::try_new(date, 10.0, 11.0, 9.0, 10.5, 100).is_ok());
        assert!(
            Bar::try_new(date, 10.0, 9.5, 9.0, 10.5, 100).is_err(),
            "high below close"
        );
        assert!(
            Bar::try_new(date, 10.0, 11.0, 10.2, 10.5, 100).is_err(),
            "low above open"
        );
        assert!(Bar::try_new(date, f64::NAN, 11.0, 9.0, 10.5, 100).is_err());
        assert!(Bar::try_new(date, 0.0, 11.0, 0.0, 10.5, 100).is_err());
    }
}
