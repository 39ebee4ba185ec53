//! SMA crossover: long while the fast simple moving average is above the slow one.

use std::cmp::Ordering;

use crate::BacktestError;
use crate::engine::Signal;
use crate::indicator_cache::{Indicator, IndicatorCache};
use crate::indicators::sma_at;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::series::PriceSeries;
use crate::strategies::{apply_parameters, integer_value, write_crossing_signals};
use crate::strategy::{ParameterChange, Signals, Strategy, StrategyInfo};

/// Enters when the fast SMA of closes crosses above the slow one, exits when it crosses below.
///
/// The crossing rule is vectorbt's `crossed_above`: at bar `i`, `fast[i] > slow[i]` and
/// `fast[i-1] <= slow[i-1]`, and fast has been strictly below slow on some bar since both SMAs
/// became defined. The exit is the mirror image. So the first signal after the warm-up is never
/// an entry into a trend already under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmaCross {
    fast: usize,
    slow: usize,
}

/// The fast window's spec.
pub(crate) const FAST: ParamSpec = ParamSpec {
    name: "fast",
    description: "fast SMA window in bars",
    default: "50",
    default_range: "5..100",
    kind: ParamKind::Integer { min: 1, max: 9_999 },
};
/// The slow window's spec.
pub(crate) const SLOW: ParamSpec = ParamSpec {
    name: "slow",
    description: "slow SMA window in bars (above fast)",
    default: "200",
    default_range: "10..300:2",
    kind: ParamKind::Integer {
        min: 2,
        max: 10_000,
    },
};

impl SmaCross {
    /// Its catalog entry.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "sma-cross",
        description: "Long while the fast SMA of closes is above the slow SMA",
        parameters: &[FAST, SLOW],
        ordered: &[("fast", "slow")],
        build,
    };

    /// An SMA crossover; windows must be within their ranges and `fast < slow`.
    pub fn new(fast: usize, slow: usize) -> Result<Self, BacktestError> {
        for (spec, value) in [(FAST, fast), (SLOW, slow)] {
            spec.parse(&value.to_string())?;
        }
        super::check_fast_below_slow(fast, slow)?;
        Ok(Self { fast, slow })
    }

    /// The fast window in bars.
    pub fn fast(&self) -> usize {
        self.fast
    }

    /// The slow window in bars.
    pub fn slow(&self) -> usize {
        self.slow
    }

    /// The crossover of grid values `[fast, slow]`, if [`Self::new`] accepts them.
    fn from_values(values: &[ParamValue]) -> Option<Self> {
        let [fast, slow] = *values else { return None };
        let (fast, slow) = (integer_value(fast, FAST)?, integer_value(slow, SLOW)?);
        (fast < slow).then_some(Self { fast, slow })
    }
}

fn build(params: &Params) -> Result<Box<dyn Strategy>, BacktestError> {
    let name = SmaCross::INFO.name;
    Ok(Box::new(SmaCross::new(
        super::integer_parameter(params, name, FAST)?,
        super::integer_parameter(params, name, SLOW)?,
    )?))
}

impl Strategy for SmaCross {
    fn name(&self) -> &'static str {
        Self::INFO.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        vec![
            (FAST.name, super::parameter_value(self.fast)),
            (SLOW.name, super::parameter_value(self.slow)),
        ]
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let closes = series.closes();
        let bars = closes.len();
        let (fast, slow) = (self.fast, self.slow);
        let mut signals = Signals::none(bars);
        let Some(first) = slow.checked_sub(1).filter(|first| *first < bars) else {
            return signals;
        };
        // The running sums are vectorbt's cumulative sum: a serial chain of additions, one per
        // bar. Each bar's comparison runs in the same pass, beside that chain rather than after
        // it, so the pass costs little more than the chain itself.
        let mut sums = vec![0.0; bars];
        let mut total = 0.0;
        for (sum, close) in sums[..first].iter_mut().zip(closes) {
            total += close;
            *sum = total;
        }
        total += closes[first];
        sums[first] = total;
        // Before the slow SMA exists every relation is `None`, which leaves the crossing in its
        // initial state: start where both SMAs are defined.
        let mut crossing = Crossing::default();
        let relation = sma_relation(&sums, fast, slow, first);
        let signal = crossing.step(relation);
        signals.entries[first] = signal == Signal::Enter;
        signals.exits[first] = signal == Signal::Exit;
        let mut previous = (
            relation == Some(Ordering::Greater),
            relation == Some(Ordering::Less),
        );
        let (fast_weight, slow_weight) = (slow as f64, fast as f64);
        for (offset, close) in closes[slow..].iter().enumerate() {
            let bar = slow + offset;
            total += close;
            sums[bar] = total;
            let fast_scaled = (total - sums[bar - fast]) * fast_weight;
            let slow_scaled = (total - sums[bar - slow]) * slow_weight;
            let mut above = fast_scaled > slow_scaled * (1.0 + 1e-12);
            let mut below = slow_scaled > fast_scaled * (1.0 + 1e-12);
            if !(above | below) {
                // A near-tie: the divisions decide, as vectorbt's SMAs would.
                let (fast_sma, slow_sma) = (sma_at(&sums, fast, bar), sma_at(&sums, slow, bar));
                (above, below) = (fast_sma > slow_sma, fast_sma < slow_sma);
            }
            // A bar related as the one before can neither signal nor change the crossing's
            // state, and the flags start out false: only the rare changes go through it.
            if (above, below) != previous {
                previous = (above, below);
                // Both SMAs are defined here, so "not above" is "at or below".
                (signals.entries[bar], signals.exits[bar]) =
                    crossing.step_entry_exit(above, below, !above, !below);
            }
        }
        signals
    }

    fn indicators(&self, need: &mut dyn FnMut(Indicator)) {
        need(Indicator::Sma(self.fast));
        need(Indicator::Sma(self.slow));
    }

    /// The crossing of the two shared SMA series, as [`crate::SmaCrossGrid`] reads them: the
    /// same comparisons of the same divided values that `signals` makes, so the same flags.
    fn signals_into(
        &self,
        series: &PriceSeries<'_>,
        cache: &IndicatorCache,
        signals: &mut Signals,
    ) {
        let (Some(fast), Some(slow)) = (cache.sma(self.fast), cache.sma(self.slow)) else {
            *signals = self.signals(series);
            return;
        };
        let lines = fast.iter().zip(slow).map(|(fast, slow)| (*fast, *slow));
        write_crossing_signals(signals, series.len(), lines);
    }

    fn set_parameters(&mut self, values: &[ParamValue]) -> ParameterChange {
        apply_parameters(self, Self::from_values(values))
    }
}

/// How `fast_scaled` compares with `slow_scaled` when they differ by more than 1e-12 relative;
/// `None` for a near-tie, which the divisions themselves must decide.
#[inline(always)]
fn compare_scaled(fast_scaled: f64, slow_scaled: f64) -> Option<Ordering> {
    if fast_scaled > slow_scaled * (1.0 + 1e-12) {
        Some(Ordering::Greater)
    } else if slow_scaled > fast_scaled * (1.0 + 1e-12) {
        Some(Ordering::Less)
    } else {
        None
    }
}

/// How the fast SMA compares with the slow one at `bar` (`None` while either is undefined):
/// exactly the comparison of the two [`sma_at`] values, mostly without their divisions.
///
/// The SMAs are `a / fast` and `b / slow` for window sums `a`, `b` ≥ 0, so `a * slow` against
/// `b * fast` orders them whenever the products differ by more than 1e-12 relative, far beyond
/// their rounding and that of the divisions. Near-ties, where rounding decides, take the
/// divisions themselves. Two divisions per bar were most of a single backtest's time.
#[inline(always)]
pub(crate) fn sma_relation(sums: &[f64], fast: usize, slow: usize, bar: usize) -> Option<Ordering> {
    let window_sum = |window: usize| match (bar + 1).cmp(&window) {
        Ordering::Less => None,
        Ordering::Equal => Some(sums[bar]),
        Ordering::Greater => Some(sums[bar] - sums[bar - window]),
    };
    let (fast_sum, slow_sum) = (window_sum(fast)?, window_sum(slow)?);
    compare_scaled(fast_sum * slow as f64, slow_sum * fast as f64)
        .or_else(|| sma_at(sums, fast, bar).partial_cmp(&sma_at(sums, slow, bar)))
}

/// The state of the crossover rule as it walks the bars, fed how fast compares with slow.
///
/// `None` (an SMA not yet defined) is neither below nor above, so warm-up bars neither signal
/// nor count as "fast was below slow".
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Crossing {
    previous_at_or_below: bool,
    previous_at_or_above: bool,
    seen_below: bool,
    seen_above: bool,
}

impl Crossing {
    /// The signal at a bar where fast compares with slow as `relation`.
    #[inline(always)]
    pub(crate) fn step(&mut self, relation: Option<Ordering>) -> Signal {
        self.step_flags(
            relation == Some(Ordering::Greater),
            relation == Some(Ordering::Less),
            matches!(relation, Some(Ordering::Less | Ordering::Equal)),
            matches!(relation, Some(Ordering::Greater | Ordering::Equal)),
        )
    }

    /// The signal at a bar whose SMAs are `fast` and `slow` (`NaN` while undefined); the
    /// grid's form, the same as `step(fast.partial_cmp(&slow))` without its branches.
    #[inline(always)]
    pub(crate) fn step_values(&mut self, fast: f64, slow: f64) -> Signal {
        self.step_flags(fast > slow, fast < slow, fast <= slow, fast >= slow)
    }

    /// [`Self::step_values`] as entry and exit flags (never both), for loops that store them.
    #[inline(always)]
    pub(crate) fn step_values_entry_exit(&mut self, fast: f64, slow: f64) -> (bool, bool) {
        self.step_entry_exit(fast > slow, fast < slow, fast <= slow, fast >= slow)
    }

    #[inline(always)]
    fn step_flags(
        &mut self,
        above: bool,
        below: bool,
        at_or_below: bool,
        at_or_above: bool,
    ) -> Signal {
        match self.step_entry_exit(above, below, at_or_below, at_or_above) {
            (true, _) => Signal::Enter,
            (_, true) => Signal::Exit,
            _ => Signal::Hold,
        }
    }

    /// The entry and exit flags at a bar (never both), for loops that store them as they are.
    #[inline(always)]
    pub(crate) fn step_entry_exit(
        &mut self,
        above: bool,
        below: bool,
        at_or_below: bool,
        at_or_above: bool,
    ) -> (bool, bool) {
        // `&` rather than `&&`: flags, not branches, in the hot loops.
        let enter = above & self.previous_at_or_below & self.seen_below;
        let exit = below & self.previous_at_or_above & self.seen_above;
        self.seen_below |= below;
        self.seen_above |= above;
        self.previous_at_or_below = at_or_below;
        self.previous_at_or_above = at_or_above;
        (enter, exit & !enter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{prefix_sums, sma};

    /// The signals of a crossover of two given series.
    fn crossing_signals(fast: &[f64], slow: &[f64]) -> Signals {
        let mut crossing = Crossing::default();
        let mut signals = Signals::none(fast.len());
        for (index, (fast, slow)) in fast.iter().zip(slow).enumerate() {
            match crossing.step_values(*fast, *slow) {
                Signal::Enter => signals.entries[index] = true,
                Signal::Exit => signals.exits[index] = true,
                Signal::Hold => {}
            }
        }
        signals
    }

    fn flags(values: &[bool]) -> Vec<usize> {
        values
            .iter()
            .enumerate()
            .filter_map(|(index, flag)| flag.then_some(index))
            .collect()
    }

    #[test]
    fn crossings_signal_on_the_bar_where_fast_passes_slow() {
        // fast - slow: undefined, -1, 0, +1, +2, -1, 0, 0, +1
        let nan = f64::NAN;
        let fast = [nan, 1.0, 2.0, 4.0, 5.0, 2.0, 3.0, 3.0, 4.0];
        let slow = [nan, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0];
        let signals = crossing_signals(&fast, &slow);
        // Entry at 3 (previous tie after a bar below); exit at 5; entry at 8 after two ties.
        assert_eq!(flags(&signals.entries), vec![3, 8]);
        assert_eq!(flags(&signals.exits), vec![5]);
    }

    #[test]
    fn no_entry_into_a_trend_already_under_way_when_the_smas_appear() {
        // Fast is above slow from the first defined bar: vectorbt waits for a bar below first.
        let fast = [f64::NAN, 5.0, 6.0, 5.0, 2.0, 4.0];
        let slow = [f64::NAN, 3.0, 3.0, 3.0, 3.0, 3.0];
        let signals = crossing_signals(&fast, &slow);
        assert_eq!(flags(&signals.entries), vec![5]);
        assert_eq!(flags(&signals.exits), vec![4]);
    }

    #[test]
    fn a_tie_then_a_rise_is_no_entry_without_a_bar_below() {
        let fast = [3.0, 3.0, 4.0];
        let slow = [3.0, 3.0, 3.0];
        assert!(crossing_signals(&fast, &slow).entries.iter().all(|e| !e));
    }

    #[test]
    fn sma_cross_signals_on_a_hand_computed_series() {
        // closes 5 4 3 2 3 4 5 4 3 2; SMA2 from bar 1, SMA3 from bar 2:
        // SMA2: -, 4.5, 3.5, 2.5, 2.5, 3.5, 4.5, 4.5, 3.5, 2.5
        // SMA3: -, -,   4,   3,   2.667, 3, 4, 4.333, 4, 3
        // fast - slow from bar 2: -, -, <, <, <, >, >, >, <, <  -> entry at 5, exit at 8.
        let closes = [5.0, 4.0, 3.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0];
        let bars = crate::engine::tests::bars_from_closes(&closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let strategy = SmaCross::new(2, 3).unwrap_or_else(|e| panic!("{e}"));
        let signals = strategy.signals(&series);
        assert_eq!(flags(&signals.entries), vec![5]);
        assert_eq!(flags(&signals.exits), vec![8]);
    }

    #[test]
    fn the_fast_sma_comparison_equals_comparing_the_divided_smas() {
        // Prices on a coarse tick grid make the SMAs tie exactly now and then.
        let closes: Vec<f64> = (0..400)
            .map(|i| f64::from((i * 7919 % 13) + 40) / 4.0)
            .collect();
        let sums = prefix_sums(&closes);
        let mut ties = 0;
        for (fast, slow) in [(2, 4), (3, 6), (4, 8), (5, 13), (13, 26)] {
            for bar in 0..closes.len() {
                let exact = sma_at(&sums, fast, bar).partial_cmp(&sma_at(&sums, slow, bar));
                assert_eq!(
                    sma_relation(&sums, fast, slow, bar),
                    exact,
                    "{fast}/{slow} at {bar}"
                );
                ties += usize::from(exact == Some(Ordering::Equal));
            }
        }
        assert!(ties > 0, "the series should exercise exact ties");
    }

    #[test]
    fn the_single_pass_signals_equal_the_crossing_of_the_two_smas() {
        // A coarse tick grid, so the SMAs tie now and then and the near-tie route runs too.
        let closes: Vec<f64> = (0..600)
            .map(|i| f64::from((i * 7919 % 13) + 40 + (i / 50) % 7) / 4.0)
            .collect();
        let bars = crate::engine::tests::bars_from_closes(&closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        for (fast, slow) in [(1, 2), (2, 4), (3, 6), (4, 8), (5, 13), (13, 26), (20, 50)] {
            let strategy = SmaCross::new(fast, slow).unwrap_or_else(|e| panic!("{e}"));
            let expected = crossing_signals(&sma(&closes, fast), &sma(&closes, slow));
            assert!(
                expected.entries.contains(&true),
                "{fast}/{slow} should trade"
            );
            assert_eq!(strategy.signals(&series), expected, "{fast}/{slow}");
        }
    }

    #[test]
    fn sma_cross_refuses_fast_at_or_above_slow_naming_fast() {
        for (fast, slow) in [(50, 50), (60, 50)] {
            let error = SmaCross::new(fast, slow).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|m| m.contains("'fast'")),
                "{error:?}"
            );
        }
        assert!(SmaCross::new(0, 5).is_err());
    }
}
