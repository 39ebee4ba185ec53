//! Buy-and-hold: the baseline every result is compared with.

use crate::BacktestError;
use crate::params::{ParamValue, Params};
use crate::series::PriceSeries;
use crate::strategy::{Signals, Strategy, StrategyInfo};

/// Enters at the first bar's close and never exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuyAndHold;

impl BuyAndHold {
    /// Its catalog entry; it has no parameters.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "buy-and-hold",
        description: "Buy at the first close and hold to the end (the baseline)",
        parameters: &[],
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
}
