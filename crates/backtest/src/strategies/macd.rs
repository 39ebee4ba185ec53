//! MACD: long while the MACD line is above its signal line.

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

/// Enters when the MACD line crosses above its signal line, exits when it crosses below.
///
/// The MACD line is `EMA(fast) - EMA(slow)` of the closes, defined from bar `slow - 1`; the
/// signal line is the EMA over `signal` bars of the MACD line, started at its first defined
/// value, so defined from bar `slow + signal - 2`. Every EMA is the one of `ema-cross`
/// (`alpha = 2 / (n + 1)`, seeded with the SMA of its first `n` inputs; see
/// [`crate::indicators::Ema`]). The crossings are vectorbt's `crossed_above` /
/// `crossed_below`, as in `sma-cross`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Macd {
    fast: usize,
    slow: usize,
    signal: usize,
}

const FAST: ParamSpec = ParamSpec {
    name: "fast",
    description: "fast EMA period in bars",
    default: "12",
    default_range: "5..20",
    kind: ParamKind::Integer { min: 1, max: 9_999 },
};
const SLOW: ParamSpec = ParamSpec {
    name: "slow",
    description: "slow EMA period in bars (above fast)",
    default: "26",
    default_range: "20..40:2",
    kind: ParamKind::Integer {
        min: 2,
        max: 10_000,
    },
};
const SIGNAL: ParamSpec = ParamSpec {
    name: "signal",
    description: "signal-line EMA period in bars, over the MACD line",
    default: "9",
    default_range: "5..15",
    kind: ParamKind::Integer {
        min: 1,
        max: 10_000,
    },
};

impl Macd {
    /// Its catalog entry.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "macd",
        description: "Long while the MACD line (fast EMA - slow EMA) is above its signal line",
        parameters: &[FAST, SLOW, SIGNAL],
        ordered: &[("fast", "slow")],
        build,
    };

    /// A MACD strategy; periods must be within their ranges and `fast < slow`.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, BacktestError> {
        for (spec, value) in [(FAST, fast), (SLOW, slow), (SIGNAL, signal)] {
            spec.parse(&value.to_string())?;
        }
        check_fast_below_slow(fast, slow)?;
        Ok(Self { fast, slow, signal })
    }

    /// The fast EMA period in bars.
    pub fn fast(&self) -> usize {
        self.fast
    }

    /// The slow EMA period in bars.
    pub fn slow(&self) -> usize {
        self.slow
    }

    /// The signal-line EMA period in bars.
    pub fn signal(&self) -> usize {
        self.signal
    }

    /// The strategy of grid values `[fast, slow, signal]`, if [`Self::new`] accepts them.
    fn from_values(values: &[ParamValue]) -> Option<Self> {
        let [fast, slow, signal] = *values else {
            return None;
        };
        let candidate = Self {
            fast: integer_value(fast, FAST)?,
            slow: integer_value(slow, SLOW)?,
            signal: integer_value(signal, SIGNAL)?,
        };
        (candidate.fast < candidate.slow).then_some(candidate)
    }
}

fn build(params: &Params) -> Result<Box<dyn Strategy>, BacktestError> {
    let name = Macd::INFO.name;
    Ok(Box::new(Macd::new(
        integer_parameter(params, name, FAST)?,
        integer_parameter(params, name, SLOW)?,
        integer_parameter(params, name, SIGNAL)?,
    )?))
}

/// The MACD and signal lines fed one close at a time.
#[derive(Debug, Clone, Copy)]
struct MacdLines {
    fast: Ema,
    slow: Ema,
    signal: SignalLine,
}

impl MacdLines {
    fn new(macd: &Macd) -> Self {
        Self {
            fast: Ema::new(macd.fast),
            slow: Ema::new(macd.slow),
            signal: SignalLine(Ema::new(macd.signal)),
        }
    }

    /// The MACD and signal values at the next close, `NaN` while undefined.
    fn next(&mut self, close: f64) -> (f64, f64) {
        self.signal
            .next(self.fast.next(close) - self.slow.next(close))
    }
}

/// The signal line fed one MACD value at a time; the per-combination part of a MACD grid,
/// computed as the bars stream by rather than into a buffer.
#[derive(Debug, Clone, Copy)]
struct SignalLine(Ema);

impl SignalLine {
    /// The MACD value `line` and the signal value at it, `NaN` while undefined.
    #[inline]
    fn next(&mut self, line: f64) -> (f64, f64) {
        // The signal EMA starts at the first defined MACD value, not at the first bar.
        let signal = if line.is_nan() {
            f64::NAN
        } else {
            self.0.next(line)
        };
        (line, signal)
    }
}

impl Strategy for Macd {
    fn name(&self) -> &'static str {
        Self::INFO.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        vec![
            (FAST.name, parameter_value(self.fast)),
            (SLOW.name, parameter_value(self.slow)),
            (SIGNAL.name, parameter_value(self.signal)),
        ]
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let mut lines = MacdLines::new(self);
        crossing_signals(
            series.len(),
            series.closes().iter().map(|close| lines.next(*close)),
        )
    }

    fn indicators(&self, need: &mut dyn FnMut(Indicator)) {
        need(Indicator::Ema(self.fast));
        need(Indicator::Ema(self.slow));
    }

    /// The fast and slow EMAs are shared with every combination (and with `ema-cross`'s keys);
    /// only the signal line depends on the whole combination.
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
        let mut signal = SignalLine(Ema::new(self.signal));
        let lines = fast
            .iter()
            .zip(slow)
            .map(|(fast, slow)| signal.next(fast - slow));
        write_crossing_signals(signals, series.len(), lines);
    }

    fn set_parameters(&mut self, values: &[ParamValue]) -> ParameterChange {
        apply_parameters(self, Self::from_values(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::tests::{flags, signals_of};
    use crate::strategy::build_strategy;

    #[test]
    fn macd_lines_and_signals_on_a_hand_computed_series() {
        // Closes must be positive, so 10 + (1, 3, 3, 0, 6, 0); the MACD ignores the offset.
        // fast 1 (the close), slow 2 (alpha 2/3, seed (11 + 13) / 2 at bar 1), signal 2:
        // EMA2 - 10: -, 2, 8/3, 8/9, 116/27, 116/81
        // MACD:      -, 1, 1/3, -8/9, 46/27, -116/81
        // signal:    -, -, 2/3, -10/27, 82/81, -50/81
        // MACD - signal from bar 2: <, <, >, <  -> entry at 4, exit at 5.
        let closes = [11.0, 13.0, 13.0, 10.0, 16.0, 10.0];
        let strategy = Macd::new(1, 2, 2).unwrap_or_else(|e| panic!("{e}"));
        let mut lines = MacdLines::new(&strategy);
        let values: Vec<(f64, f64)> = closes.iter().map(|close| lines.next(*close)).collect();
        assert!(values[0].0.is_nan() && values[1].1.is_nan());
        let expected = [
            (1, 1.0, f64::NAN),
            (2, 1.0 / 3.0, 2.0 / 3.0),
            (3, -8.0 / 9.0, -10.0 / 27.0),
            (4, 46.0 / 27.0, 82.0 / 81.0),
            (5, -116.0 / 81.0, -50.0 / 81.0),
        ];
        for (bar, line, signal) in expected {
            let (actual_line, actual_signal) = values[bar];
            assert!(
                (actual_line - line).abs() <= 1e-12,
                "bar {bar}: {actual_line}"
            );
            assert!(
                (actual_signal - signal).abs() <= 1e-12
                    || (signal.is_nan() && actual_signal.is_nan()),
                "bar {bar}: {actual_signal}"
            );
        }
        let signals = signals_of(&strategy, &closes);
        assert_eq!(flags(&signals.entries), vec![4]);
        assert_eq!(flags(&signals.exits), vec![5]);
    }

    #[test]
    fn macd_refuses_bad_periods_naming_them() {
        for (fast, slow, signal, named) in [
            (26, 12, 9, "'fast'"),
            (12, 12, 9, "'fast'"),
            (0, 26, 9, "'fast'"),
            (12, 26, 0, "'signal'"),
            (12, 10_001, 9, "'slow'"),
        ] {
            let error = Macd::new(fast, slow, signal).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|m| m.contains(named)),
                "{error:?}"
            );
        }
    }

    #[test]
    fn macd_is_built_by_name() {
        let strategy = build_strategy("macd", &[("fast", "12"), ("slow", "26"), ("signal", "9")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strategy.name(), "macd");
        assert_eq!(
            strategy.parameters(),
            vec![
                ("fast", ParamValue::Integer(12)),
                ("slow", ParamValue::Integer(26)),
                ("signal", ParamValue::Integer(9))
            ]
        );
    }
}
