//! EMA crossover: long while the fast exponential moving average is above the slow one.

use crate::BacktestError;
use crate::indicator_cache::{Indicator, IndicatorCache};
use crate::indicators::Ema;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::series::PriceSeries;
use crate::strategies::{
    apply_parameters, check_fast_below_slow, crossing_signals, integer_parameter, integer_value,
    parameter_value, write_crossing_signals,
};
use crate::strategy::{ParameterChange, Signals, Strategy, StrategyInfo};

/// Enters when the fast EMA of closes crosses above the slow one, exits when it crosses below.
///
/// Each EMA has `alpha = 2 / (n + 1)` and is seeded with the SMA of the first `n` closes at bar
/// `n - 1`, undefined before (see [`crate::indicators::Ema`]); pandas' `ewm(adjust=False)`
/// starts from the first close instead, so its early values differ. The crossing rule is the
/// same vectorbt `crossed_above` / `crossed_below` as `sma-cross`: an entry at bar `i` needs
/// `fast[i] > slow[i]`, `fast[i-1] <= slow[i-1]` and fast strictly below slow on some bar since
/// both EMAs became defined; the exit is the mirror image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmaCross {
    fast: usize,
    slow: usize,
}

const FAST: ParamSpec = ParamSpec {
    name: "fast",
    description: "fast EMA period in bars",
    default: "12",
    default_range: "5..50",
    kind: ParamKind::Integer { min: 1, max: 9_999 },
};
const SLOW: ParamSpec = ParamSpec {
    name: "slow",
    description: "slow EMA period in bars (above fast)",
    default: "26",
    default_range: "10..200:2",
    kind: ParamKind::Integer {
        min: 2,
        max: 10_000,
    },
};

impl EmaCross {
    /// Its catalog entry.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "ema-cross",
        description: "Long while the fast EMA of closes is above the slow EMA",
        parameters: &[FAST, SLOW],
        ordered: &[("fast", "slow")],
        build,
    };

    /// An EMA crossover; periods must be within their ranges and `fast < slow`.
    pub fn new(fast: usize, slow: usize) -> Result<Self, BacktestError> {
        for (spec, value) in [(FAST, fast), (SLOW, slow)] {
            spec.parse(&value.to_string())?;
        }
        check_fast_below_slow(fast, slow)?;
        Ok(Self { fast, slow })
    }

    /// The fast period in bars.
    pub fn fast(&self) -> usize {
        self.fast
    }

    /// The slow period in bars.
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
    let name = EmaCross::INFO.name;
    Ok(Box::new(EmaCross::new(
        integer_parameter(params, name, FAST)?,
        integer_parameter(params, name, SLOW)?,
    )?))
}

impl Strategy for EmaCross {
    fn name(&self) -> &'static str {
        Self::INFO.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        vec![
            (FAST.name, parameter_value(self.fast)),
            (SLOW.name, parameter_value(self.slow)),
        ]
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let (mut fast, mut slow) = (Ema::new(self.fast), Ema::new(self.slow));
        let lines = series
            .closes()
            .iter()
            .map(|close| (fast.next(*close), slow.next(*close)));
        crossing_signals(series.len(), lines)
    }

    fn indicators(&self, need: &mut dyn FnMut(Indicator)) {
        need(Indicator::Ema(self.fast));
        need(Indicator::Ema(self.slow));
    }

    fn signals_into(
        &self,
        series: &PriceSeries<'_>,
        cache: &IndicatorCache,
        signals: &mut Signals,
    ) {
        let (Some(fast), Some(slow)) = (cache.ema(self.fast), cache.ema(self.slow)) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::ema;
    use crate::strategies::tests::{flags, signals_of};
    use crate::strategy::build_strategy;

    #[test]
    fn ema_cross_signals_on_a_hand_computed_series() {
        // fast 1 is the close itself; slow 3 has alpha 0.5, seeded with (3 + 3 + 3) / 3 at bar 2:
        // slow: -, -, 3, 2, 1.5, 3.25, 4.125, 2.5625
        // close - slow from bar 2: tie, <, <, >, >, <  -> entry at 5, exit at 7.
        let closes = [3.0, 3.0, 3.0, 1.0, 1.0, 5.0, 5.0, 1.0];
        let slow = ema(&closes, 3);
        for (bar, expected) in [(2, 3.0), (3, 2.0), (4, 1.5), (5, 3.25), (7, 2.5625)] {
            assert!(
                (slow[bar] - expected).abs() <= 1e-12,
                "bar {bar}: {}",
                slow[bar]
            );
        }
        let strategy = EmaCross::new(1, 3).unwrap_or_else(|e| panic!("{e}"));
        let signals = signals_of(&strategy, &closes);
        assert_eq!(flags(&signals.entries), vec![5]);
        assert_eq!(flags(&signals.exits), vec![7]);
    }

    #[test]
    fn no_signal_before_the_slow_ema_exists() {
        let strategy = EmaCross::new(1, 5).unwrap_or_else(|e| panic!("{e}"));
        let signals = signals_of(&strategy, &[1.0, 9.0, 1.0, 9.0]);
        assert_eq!(signals, Signals::none(4));
    }

    #[test]
    fn ema_cross_refuses_bad_periods_naming_the_parameter() {
        for (fast, slow, named) in [(50, 50, "'fast'"), (60, 50, "'fast'"), (0, 5, "'fast'")] {
            let error = EmaCross::new(fast, slow).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|m| m.contains(named)),
                "{error:?}"
            );
        }
        let error = EmaCross::new(5, 10_001).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|m| m.contains("'slow'")),
            "{error:?}"
        );
    }

    #[test]
    fn ema_cross_is_built_by_name() {
        let strategy = build_strategy("ema-cross", &[("fast", "12"), ("slow", "26")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strategy.name(), "ema-cross");
        assert_eq!(
            strategy.parameters(),
            vec![
                ("fast", ParamValue::Integer(12)),
                ("slow", ParamValue::Integer(26))
            ]
        );
    }
}
