//! Buy-and-hold: the baseline every result is compared with.

use crate::BacktestError;
use crate::indicator_cache::IndicatorCache;
use crate::params::{ParamValue, Params};
use crate::series::PriceSeries;
use crate::strategy::{ParameterChange, Signals, Strategy, StrategyInfo};

/// Enters at the first bar's close and never exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuyAndHold;

impl BuyAndHold {
    /// Its catalog entry; it has no parameters.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "buy-and-hold",
        description: "Buy at the first close and hold to the end (the baseline)",
        parameters: &[],
        ordered: &[],
        build: |_: &Params| -> Result<Box<dyn Strategy>, BacktestError> {
            Ok(Box::new(BuyAndHold))
        },
    };
}

impl Strategy for BuyAndHold {
    fn name(&self) -> &'static str {
        Self::INFO.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        Vec::new()
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let mut signals = Signals::none(series.len());
        if let Some(first) = signals.entries.first_mut() {
            *first = true;
        }
        signals
    }

    fn signals_into(&self, series: &PriceSeries<'_>, _: &IndicatorCache, signals: &mut Signals) {
        signals.reset(series.len());
        if let Some(first) = signals.entries.first_mut() {
            *first = true;
        }
    }

    fn set_parameters(&mut self, values: &[ParamValue]) -> ParameterChange {
        if values.is_empty() {
            ParameterChange::Applied
        } else {
            ParameterChange::Refused
        }
    }
}
