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
use crate::params::{ParamSpec, ParamValue, Params};

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
