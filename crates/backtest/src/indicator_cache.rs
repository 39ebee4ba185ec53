//! The indicator series of a grid run: each distinct one computed once, read by every combination.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::indicators::{ema, mean_and_std_at, prefix_sums, rsi, sma_from_prefix_sums};
use crate::series::PriceSeries;

/// Past this many bytes of series an [`IndicatorCache`] keeps the remaining keys out (in key
/// order, so the longest windows of a kind go first): a grid over thousands of distinct
/// windows stays within memory, and the combinations that need a series left out compute it
/// themselves, as a single run does.
const BUDGET_BYTES: usize = 256 << 20;

/// One indicator series over the closes, as a strategy names it to share it with the other
/// combinations of a grid (see [`crate::Strategy::indicators`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Indicator {
    /// The simple moving average over this many bars ([`crate::indicators::sma`]).
    Sma(usize),
    /// The exponential moving average over this many bars ([`crate::indicators::ema`]).
    Ema(usize),
    /// Wilder's RSI over this many bars ([`crate::indicators::rsi`]).
    Rsi(usize),
    /// The mean and population standard deviation of the last this many closes
    /// ([`crate::indicators::mean_and_std_at`]).
    MeanAndStd(usize),
}

impl Indicator {
    /// Values per bar: one, or two for the mean and the deviation.
    fn width(self) -> usize {
        match self {
            Self::MeanAndStd(_) => 2,
            Self::Sma(_) | Self::Ema(_) | Self::Rsi(_) => 1,
        }
    }

    /// The series over `closes` through the same function a strategy's own `signals` uses, so a
    /// cached value equals the one it would compute to the bit. `sums` are the closes' running
    /// sums when an SMA is wanted.
    fn compute(self, closes: &[f64], sums: &[f64]) -> Vec<f64> {
        match self {
            Self::Sma(window) => sma_from_prefix_sums(sums, window),
            Self::Ema(period) => ema(closes, period),
            Self::Rsi(period) => rsi(closes, period),
            Self::MeanAndStd(window) => {
                // The means, then the deviations: one column each, from one call per bar.
                let mut values = vec![0.0; 2 * closes.len()];
                let (means, deviations) = values.split_at_mut(closes.len());
                for (bar, (mean, deviation)) in means.iter_mut().zip(deviations).enumerate() {
                    (*mean, *deviation) = mean_and_std_at(closes, window, bar);
                }
                values
            }
        }
    }
}

/// The distinct indicator series a grid's combinations read, computed once (in parallel) over
/// one [`PriceSeries`] before any combination runs.
///
/// Memory is the number of distinct series times the bars, whatever the number of
/// combinations; past an internal budget (256 MiB) the last keys in order are left out and
/// their readers fall back to computing them.
#[derive(Clone, Default)]
pub struct IndicatorCache {
    bars: usize,
    /// Ascending and distinct; `values[k]` is the series of `keys[k]`.
    keys: Vec<Indicator>,
    values: Vec<Vec<f64>>,
    computed: usize,
}

impl IndicatorCache {
    /// Computes every distinct series of `wanted` over the closes of `series`, each once.
    pub fn new(series: &PriceSeries<'_>, wanted: &[Indicator]) -> Self {
        Self::within(series, wanted, BUDGET_BYTES)
    }

    /// [`Self::new`], keeping at most `budget` bytes of series.
    pub(crate) fn within(series: &PriceSeries<'_>, wanted: &[Indicator], budget: usize) -> Self {
        let closes = series.closes();
        let mut keys = wanted.to_vec();
        keys.sort_unstable();
        keys.dedup();
        let series_bytes = |key: &Indicator| key.width() * closes.len() * size_of::<f64>();
        let mut used = 0_usize;
        let fitting = keys
            .iter()
            .take_while(|key| {
                used = used.saturating_add(series_bytes(key));
                used <= budget
            })
            .count();
        keys.truncate(fitting);
        let sums = if keys.iter().any(|key| matches!(key, Indicator::Sma(_))) {
            prefix_sums(closes)
        } else {
            Vec::new()
        };
        // Counted where the work happens, so the count proves each key was computed once.
        let computed = AtomicUsize::new(0);
        let values = keys
            .par_iter()
            .map(|key| {
                computed.fetch_add(1, Ordering::Relaxed);
                key.compute(closes, &sums)
            })
            .collect();
        Self {
            bars: closes.len(),
            keys,
            values,
            computed: computed.into_inner(),
        }
    }

    /// How many series were computed: one per distinct key kept.
    pub fn computed(&self) -> usize {
        self.computed
    }

    /// The keys held, ascending.
    pub fn indicators(&self) -> &[Indicator] {
        &self.keys
    }

    /// The SMA over `window` bars, if held.
    pub fn sma(&self, window: usize) -> Option<&[f64]> {
        self.series(Indicator::Sma(window))
    }

    /// The EMA over `period` bars, if held.
    pub fn ema(&self, period: usize) -> Option<&[f64]> {
        self.series(Indicator::Ema(period))
    }

    /// Wilder's RSI over `period` bars, if held.
    pub fn rsi(&self, period: usize) -> Option<&[f64]> {
        self.series(Indicator::Rsi(period))
    }

    /// The rolling mean and population standard deviation over `window` bars, if held.
    pub fn mean_and_std(&self, window: usize) -> Option<(&[f64], &[f64])> {
        self.series(Indicator::MeanAndStd(window))
            .map(|values| values.split_at(self.bars))
    }

    fn series(&self, key: Indicator) -> Option<&[f64]> {
        let slot = self.keys.binary_search(&key).ok()?;
        self.values.get(slot).map(Vec::as_slice)
    }
}

impl fmt::Debug for IndicatorCache {
    /// The keys, not the (long) series.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndicatorCache")
            .field("bars", &self.bars)
            .field("keys", &self.keys)
            .field("computed", &self.computed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::bars_from_closes;
    use crate::indicators::sma;

    fn closes() -> Vec<f64> {
        (0..120)
            .map(|i| 50.0 + 5.0 * (f64::from(i) / 6.0).sin() + f64::from(i % 7) / 3.0)
            .collect()
    }

    #[test]
    fn each_distinct_key_is_computed_once_and_equals_its_indicator_function() {
        let closes = closes();
        let bars = bars_from_closes(&closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let wanted = [
            Indicator::Rsi(14),
            Indicator::Sma(5),
            Indicator::Rsi(14),
            Indicator::Ema(9),
            Indicator::MeanAndStd(20),
            Indicator::Sma(5),
        ];
        let cache = IndicatorCache::new(&series, &wanted);
        assert_eq!(cache.computed(), 4);
        assert_eq!(cache.indicators().len(), 4);
        let same = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        assert!(cache.sma(5).is_some_and(|s| same(s, &sma(&closes, 5))));
        assert!(cache.ema(9).is_some_and(|s| same(s, &ema(&closes, 9))));
        assert!(cache.rsi(14).is_some_and(|s| same(s, &rsi(&closes, 14))));
        let (means, deviations) = cache
            .mean_and_std(20)
            .unwrap_or_else(|| panic!("mean and std held"));
        for bar in 0..closes.len() {
            let (mean, deviation) = mean_and_std_at(&closes, 20, bar);
            assert!(same(&[means[bar], deviations[bar]], &[mean, deviation]));
        }
        assert_eq!(
            (cache.sma(6), cache.ema(5), cache.rsi(9)),
            (None, None, None)
        );
    }

    #[test]
    fn keys_past_the_budget_are_left_out_last_in_order_first() {
        let closes = closes();
        let bars = bars_from_closes(&closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let one_series = closes.len() * size_of::<f64>();
        let wanted = [Indicator::Ema(30), Indicator::Ema(10), Indicator::Ema(20)];
        let cache = IndicatorCache::within(&series, &wanted, 2 * one_series);
        assert_eq!(
            cache.indicators(),
            &[Indicator::Ema(10), Indicator::Ema(20)]
        );
        assert_eq!(cache.computed(), 2);
        assert!(cache.ema(30).is_none());
    }
}
