//! Read-time adjustment of raw prices for splits and dividends.
//!
//! The store keeps raw prices and the corporate actions beside them; every read adjusts as of
//! the actions known at that moment. So a split announced after a range was cached re-bases the
//! whole series at the next read, with no re-download and no fake jump at the ex-date.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Serialize;

use crate::{Bar, CorporateAction, CorporateActionKind};

/// How prices are adjusted when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    /// Raw prices as traded.
    None,
    /// Prices before each split divided by its ratio, volumes multiplied: what backtests need.
    #[default]
    Splits,
    /// Splits, and prices before each dividend scaled by `1 - cash / previous close` (the CRSP
    /// method, as Yahoo's `adjclose` and Tiingo's `adjClose`), so returns include dividends.
    All,
}

impl Adjustment {
    pub const NAMES: [&'static str; 3] = ["none", "splits", "all"];
}

impl fmt::Display for Adjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Splits => "splits",
            Self::All => "all",
        })
    }
}

impl FromStr for Adjustment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "none" | "raw" => Ok(Self::None),
            "splits" | "split" => Ok(Self::Splits),
            "all" => Ok(Self::All),
            _ => Err(format!(
                "adjust must be one of none, splits, all (got {text:?})"
            )),
        }
    }
}

/// Adjusts `bars` (raw, in date order) in place for `actions`.
///
/// `close_before` gives the raw close of the last trading day before a dividend's ex-date when
/// that day is not among `bars` (a dividend after the range); dividends whose previous close is
/// unknown are skipped.
pub fn adjust(
    bars: &mut [Bar],
    actions: &[CorporateAction],
    mode: Adjustment,
    close_before: impl Fn(NaiveDate) -> Option<f64>,
) {
    if mode == Adjustment::None || actions.is_empty() || bars.is_empty() {
        return;
    }
    // (ex-date, price factor, volume factor), applied to every bar dated before the ex-date.
    let mut steps: Vec<(NaiveDate, f64, f64)> = Vec::new();
    for action in actions {
        match action.kind {
            CorporateActionKind::Split { .. } => {
                if let Some(ratio) = action.split_ratio() {
                    steps.push((action.ex_date, 1.0 / ratio, ratio));
                }
            }
            CorporateActionKind::Dividend { cash } if mode == Adjustment::All => {
                let before = bars.partition_point(|bar| bar.date < action.ex_date);
                let previous_close = match before {
                    // No bar before the ex-date: nothing to scale.
                    0 => continue,
                    // The ex-date falls inside the bars: the previous close is among them.
                    n if n < bars.len() => Some(bars[n - 1].close),
                    // After the last bar: the trading day before it may lie beyond the range.
                    _ => close_before(action.ex_date),
                };
                if let Some(close) = previous_close
                    && cash.is_finite()
                    && cash > 0.0
                    && cash < close
                {
                    steps.push((action.ex_date, 1.0 - cash / close, 1.0));
                }
            }
            CorporateActionKind::Dividend { .. } => {}
        }
    }
    if steps.is_empty() {
        return;
    }
    // Walk backwards, multiplying in each action as its ex-date is passed.
    steps.sort_by_key(|step| std::cmp::Reverse(step.0));
    let (mut price_factor, mut volume_factor) = (1.0, 1.0);
    let mut pending = steps.iter().peekable();
    for bar in bars.iter_mut().rev() {
        while let Some((_, price, volume)) = pending.next_if(|(ex_date, ..)| *ex_date > bar.date) {
            price_factor *= price;
            volume_factor *= volume;
        }
        if price_factor != 1.0 || volume_factor != 1.0 {
            bar.open *= price_factor;
            bar.high *= price_factor;
            bar.low *= price_factor;
            bar.close *= price_factor;
            bar.volume = (bar.volume as f64 * volume_factor).round() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 8, d).unwrap_or_default()
    }

    fn bar(d: u32, close: f64, volume: u64) -> Bar {
        Bar::try_new(day(d), close, close, close, close, volume).unwrap_or_else(|e| panic!("{e}"))
    }

    fn split(d: u32, ratio: f64) -> CorporateAction {
        CorporateAction {
            ex_date: day(d),
            kind: CorporateActionKind::Split { ratio },
        }
    }

    fn dividend(d: u32, cash: f64) -> CorporateAction {
        CorporateAction {
            ex_date: day(d),
            kind: CorporateActionKind::Dividend { cash },
        }
    }

    fn closes(bars: &[Bar]) -> Vec<f64> {
        bars.iter().map(|bar| bar.close).collect()
    }

    #[test]
    fn a_four_for_one_split_divides_earlier_prices_and_multiplies_earlier_volumes() {
        let mut bars = vec![
            bar(27, 500.0, 100),
            bar(28, 499.2, 100),
            bar(31, 129.0, 400),
        ];
        adjust(&mut bars, &[split(31, 4.0)], Adjustment::Splits, |_| None);
        assert_eq!(closes(&bars), vec![125.0, 124.8, 129.0]);
        assert_eq!(
            bars.iter().map(|b| b.volume).collect::<Vec<_>>(),
            vec![400, 400, 400]
        );
    }

    #[test]
    fn later_splits_compound_and_raw_reads_are_untouched() {
        let raw = vec![bar(3, 600.0, 10), bar(10, 300.0, 20), bar(17, 100.0, 60)];
        let mut adjusted = raw.clone();
        let actions = [split(10, 2.0), split(17, 3.0)];
        adjust(&mut adjusted, &actions, Adjustment::Splits, |_| None);
        assert_eq!(closes(&adjusted), vec![100.0, 100.0, 100.0]);
        let mut untouched = raw.clone();
        adjust(&mut untouched, &actions, Adjustment::None, |_| None);
        assert_eq!(untouched, raw);
    }

    #[test]
    fn dividends_scale_earlier_prices_by_one_minus_cash_over_the_previous_close() {
        let mut bars = vec![bar(3, 100.0, 10), bar(4, 50.0, 10), bar(5, 49.0, 10)];
        let actions = [dividend(5, 1.0)];
        adjust(&mut bars, &actions, Adjustment::All, |_| None);
        // 1 - 1/50 = 0.98 on both bars before the ex-date.
        assert_eq!(closes(&bars), vec![98.0, 49.0, 49.0]);
        let mut splits_only = vec![bar(3, 100.0, 10), bar(4, 50.0, 10)];
        adjust(&mut splits_only, &actions, Adjustment::Splits, |_| None);
        assert_eq!(closes(&splits_only), vec![100.0, 50.0]);
    }

    #[test]
    fn a_dividend_after_the_range_uses_the_close_it_is_given() {
        let mut bars = vec![bar(3, 100.0, 10), bar(4, 50.0, 10)];
        adjust(
            &mut bars,
            &[dividend(20, 2.0)],
            Adjustment::All,
            |ex_date| (ex_date == day(20)).then_some(40.0),
        );
        assert_eq!(closes(&bars), vec![95.0, 47.5]);
    }

    #[test]
    fn adjustment_names_parse_and_unknown_ones_are_refused() {
        assert_eq!("splits".parse(), Ok(Adjustment::Splits));
        assert_eq!("NONE".parse(), Ok(Adjustment::None));
        assert!(
            "dividends"
                .parse::<Adjustment>()
                .is_err_and(|e| e.contains("none, splits, all"))
        );
    }
}
