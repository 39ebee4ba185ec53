//! The strategies of the catalog, one module each.

mod bollinger;
mod buy_and_hold;
mod ema_cross;
mod macd;
mod rsi;
mod sma_cross;

pub use bollinger::Bollinger;
pub use buy_and_hold::BuyAndHold;
pub use ema_cross::EmaCross;
pub use macd::Macd;
pub use rsi::RsiReversion;
pub(crate) use sma_cross::Crossing;
pub use sma_cross::SmaCross;
pub(crate) use sma_cross::{FAST, SLOW};

use crate::BacktestError;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::strategy::{ParameterChange, Signals};

/// The integer parameter `spec` of `strategy` as a bar count.
pub(crate) fn integer_parameter(
    params: &Params,
    strategy: &'static str,
    spec: ParamSpec,
) -> Result<usize, BacktestError> {
    params
        .integer(spec.name)
        .and_then(|value| usize::try_from(value).ok())
        .ok_or(BacktestError::MissingParameter {
            strategy,
            parameter: spec.name,
        })
}

/// The float parameter `spec` of `strategy`.
pub(crate) fn float_parameter(
    params: &Params,
    strategy: &'static str,
    spec: ParamSpec,
) -> Result<f64, BacktestError> {
    params
        .float(spec.name)
        .ok_or(BacktestError::MissingParameter {
            strategy,
            parameter: spec.name,
        })
}

/// Checks that `fast` is below `slow`, the constraint of every two-line crossover; the error
/// names the fast parameter.
pub(crate) fn check_fast_below_slow(fast: usize, slow: usize) -> Result<(), BacktestError> {
    if fast >= slow {
        return Err(BacktestError::Constraint {
            parameter: FAST.name,
            reason: format!("fast ({fast}) must be below slow ({slow})"),
        });
    }
    Ok(())
}

/// Entries where the first line crosses above the second and exits where it crosses below,
/// one `(line, reference)` pair per bar; NaN (a line still warming up) never signals.
pub(crate) fn crossing_signals(bars: usize, lines: impl Iterator<Item = (f64, f64)>) -> Signals {
    let mut signals = Signals::default();
    write_crossing_signals(&mut signals, bars, lines);
    signals
}

/// [`crossing_signals`] written into `signals`, reusing its buffers.
pub(crate) fn write_crossing_signals(
    signals: &mut Signals,
    bars: usize,
    lines: impl Iterator<Item = (f64, f64)>,
) {
    signals.reset(bars);
    let mut crossing = Crossing::default();
    let flags = signals.entries.iter_mut().zip(&mut signals.exits);
    for ((entry, exit), (line, reference)) in flags.zip(lines) {
        (*entry, *exit) = crossing.step_values_entry_exit(line, reference);
    }
}

/// The value of integer parameter `spec` as a bar count, if it is an integer in its range.
pub(crate) fn integer_value(value: ParamValue, spec: ParamSpec) -> Option<usize> {
    match (spec.kind, value) {
        (ParamKind::Integer { min, max }, ParamValue::Integer(value))
            if (min..=max).contains(&value) =>
        {
            usize::try_from(value).ok()
        }
        _ => None,
    }
}

/// The value of float parameter `spec`, if it is a float in its range (never NaN).
pub(crate) fn float_value(value: ParamValue, spec: ParamSpec) -> Option<f64> {
    match (spec.kind, value) {
        (ParamKind::Float { min, max }, ParamValue::Float(value))
            if (min..=max).contains(&value) =>
        {
            Some(value)
        }
        _ => None,
    }
}

/// Replaces `strategy` with `candidate`, the strategy of the new values if the catalog would
/// build it.
pub(crate) fn apply_parameters<S>(strategy: &mut S, candidate: Option<S>) -> ParameterChange {
    match candidate {
        Some(candidate) => {
            *strategy = candidate;
            ParameterChange::Applied
        }
        None => ParameterChange::Refused,
    }
}

/// A bar count as a parameter value; counts are range-checked far below `i64::MAX`.
pub(crate) fn parameter_value(value: usize) -> ParamValue {
    ParamValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::indicator_cache::IndicatorCache;
    use crate::series::PriceSeries;
    use crate::strategy::{Signals, Strategy};

    /// The signals of `strategy` over bars with the given closes.
    pub(crate) fn signals_of(strategy: &dyn Strategy, closes: &[f64]) -> Signals {
        let bars = crate::engine::tests::bars_from_closes(closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        strategy.signals(&series)
    }

    /// The indices of the set flags.
    pub(crate) fn flags(values: &[bool]) -> Vec<usize> {
        values
            .iter()
            .enumerate()
            .filter_map(|(index, flag)| flag.then_some(index))
            .collect()
    }

    #[test]
    fn signals_from_shared_indicators_equal_each_strategys_own_signals() {
        let closes: Vec<f64> = (0..300)
            .map(|i| 100.0 + 10.0 * (f64::from(i) / 9.0).sin() + f64::from(i % 5))
            .collect();
        let bars = crate::engine::tests::bars_from_closes(&closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let strategies: Vec<Box<dyn Strategy>> = vec![
            Box::new(SmaCross::new(5, 20).unwrap_or_else(|e| panic!("{e}"))),
            Box::new(EmaCross::new(4, 17).unwrap_or_else(|e| panic!("{e}"))),
            Box::new(RsiReversion::new(6, 35.0, 65.0).unwrap_or_else(|e| panic!("{e}"))),
            Box::new(Bollinger::new(12, 1.5).unwrap_or_else(|e| panic!("{e}"))),
            Box::new(Macd::new(6, 13, 5).unwrap_or_else(|e| panic!("{e}"))),
            Box::new(BuyAndHold),
        ];
        let mut needed = Vec::new();
        for strategy in &strategies {
            strategy.indicators(&mut |key| needed.push(key));
        }
        let cache = IndicatorCache::new(&series, &needed);
        // One buffer through all of them, so each must overwrite what the last one left.
        let mut reused = Signals::none(1);
        for strategy in &strategies {
            let own = strategy.signals(&series);
            assert!(
                own.entries.iter().any(|entry| *entry),
                "{}",
                strategy.name()
            );
            strategy.signals_into(&series, &cache, &mut reused);
            assert_eq!(reused, own, "{} from the cache", strategy.name());
            // A series the cache does not hold is computed as the strategy's own signals do.
            strategy.signals_into(&series, &IndicatorCache::default(), &mut reused);
            assert_eq!(reused, own, "{} without the cache", strategy.name());
        }
    }
}
