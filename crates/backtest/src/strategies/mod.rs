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
use crate::engine::Signal;
use crate::params::{ParamSpec, ParamValue, Params};
use crate::strategy::Signals;

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
    let mut crossing = Crossing::default();
    let mut signals = Signals::none(bars);
    for (bar, (line, reference)) in lines.enumerate() {
        match crossing.step_values(line, reference) {
            Signal::Enter => signals.entries[bar] = true,
            Signal::Exit => signals.exits[bar] = true,
            Signal::Hold => {}
        }
    }
    signals
}

/// A bar count as a parameter value; counts are range-checked far below `i64::MAX`.
pub(crate) fn parameter_value(value: usize) -> ParamValue {
    ParamValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
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
}
