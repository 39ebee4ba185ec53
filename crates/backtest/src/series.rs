//! A checked price series: bars in date order, with their dates and closes as columns.

use chrono::NaiveDate;
use marketcache_domain::Bar;

use crate::BacktestError;

/// At least one bar, in strictly increasing date order, with the dates and closes laid out as
/// contiguous columns that strategies, the engine and the grid read bar by bar.
///
/// Checked and laid out once, so a strategy and its buy-and-hold baseline (or a whole grid)
/// share one pass over the bars.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceSeries<'a> {
    bars: &'a [Bar],
    dates: Vec<NaiveDate>,
    closes: Vec<f64>,
}

impl<'a> PriceSeries<'a> {
    /// Checks that `bars` is not empty and that its dates strictly increase.
    pub fn new(bars: &'a [Bar]) -> Result<Self, BacktestError> {
        if bars.is_empty() {
            return Err(BacktestError::NoBars);
        }
        // Exact-size collects (no capacity check per bar), then the order check on the compact
        // date column rather than on the bars, six times its size.
        let dates: Vec<NaiveDate> = bars.iter().map(|bar| bar.date).collect();
        let closes = bars.iter().map(|bar| bar.close).collect();
        if let Some(pair) = dates.windows(2).find(|pair| pair[0] >= pair[1]) {
            return Err(BacktestError::BarsOutOfOrder {
                previous: pair[0],
                date: pair[1],
            });
        }
        Ok(Self {
            bars,
            dates,
            closes,
        })
    }

    /// The bars, for strategies that need more than the close.
    pub fn bars(&self) -> &'a [Bar] {
        self.bars
    }

    /// The date of each bar.
    pub fn dates(&self) -> &[NaiveDate] {
        &self.dates
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
