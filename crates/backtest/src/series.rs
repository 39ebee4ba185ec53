//! A checked price series: bars in date order, with their closes as a column.

use std::sync::OnceLock;

use chrono::NaiveDate;
use marketcache_domain::Bar;

use crate::BacktestError;

/// At least one bar, in strictly increasing date order, with the closes laid out as a
/// contiguous column that strategies, the engine and the grid read bar by bar.
///
/// Checked and laid out once, so a strategy and its buy-and-hold baseline (or a whole grid)
/// share one pass over the bars.
#[derive(Debug, Clone)]
pub struct PriceSeries<'a> {
    bars: &'a [Bar],
    closes: Vec<f64>,
    /// Laid out on first request only: the engine reads the few dates it reports (fills,
    /// drawdown, first and last) and the equity curve's from the bars, so a backtest never
    /// pays for the column.
    dates: OnceLock<Vec<NaiveDate>>,
}

impl<'a> PriceSeries<'a> {
    /// Checks that `bars` is not empty and that its dates strictly increase.
    pub fn new(bars: &'a [Bar]) -> Result<Self, BacktestError> {
        if bars.is_empty() {
            return Err(BacktestError::NoBars);
        }
        // One pass: the order check rides along the exact-size collect as a flag, with no
        // branch per bar; the failing pair is looked for only when the flag says there is one.
        let mut previous = NaiveDate::MIN;
        let mut in_order = true;
        let closes = bars
            .iter()
            .map(|bar| {
                in_order &= previous < bar.date;
                previous = bar.date;
                bar.close
            })
            .collect();
        if !in_order && let Some(pair) = bars.windows(2).find(|pair| pair[0].date >= pair[1].date) {
            return Err(BacktestError::BarsOutOfOrder {
                previous: pair[0].date,
                date: pair[1].date,
            });
        }
        Ok(Self {
            bars,
            closes,
            dates: OnceLock::new(),
        })
    }

    /// The bars, for strategies that need more than the close.
    pub fn bars(&self) -> &'a [Bar] {
        self.bars
    }

    /// The date of each bar (laid out as a column on the first call).
    pub fn dates(&self) -> &[NaiveDate] {
        self.dates
            .get_or_init(|| self.bars.iter().map(|bar| bar.date).collect())
    }

    /// The date of bar `index` (below [`Self::len`]).
    #[inline]
    pub(crate) fn date(&self, index: usize) -> NaiveDate {
        self.bars[index].date
    }

    /// The close of each bar.
    pub fn closes(&self) -> &[f64] {
        &self.closes
    }

    /// The number of bars (at least one).
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// Always false: a series has at least one bar.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}

impl PartialEq for PriceSeries<'_> {
    /// The closes and dates are the bars' own, so the bars decide, whether or not either
    /// series has laid out its dates yet.
    fn eq(&self, other: &Self) -> bool {
        self.bars == other.bars
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::bars_from_closes;

    #[test]
    fn the_columns_are_the_bars_own_and_dates_are_laid_out_on_request() {
        let bars = bars_from_closes(&[3.0, 1.0, 2.0]);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.closes(), &[3.0, 1.0, 2.0]);
        let copy = series.clone();
        let dates: Vec<NaiveDate> = bars.iter().map(|bar| bar.date).collect();
        assert_eq!(series.dates(), dates.as_slice());
        assert_eq!(series.date(2), dates[2]);
        assert_eq!(
            copy, series,
            "laying out the dates changes nothing compared"
        );
    }

    #[test]
    fn the_first_pair_out_of_order_is_named() {
        let mut bars = bars_from_closes(&[1.0, 2.0, 3.0, 4.0]);
        bars.swap(2, 3);
        bars[1] = bars[0];
        assert_eq!(
            PriceSeries::new(&bars),
            Err(BacktestError::BarsOutOfOrder {
                previous: bars[0].date,
                date: bars[1].date,
            })
        );
    }
}
