//! Bollinger breakout: buy when the close breaks above the upper band, sell back at the middle.

use crate::BacktestError;
use crate::engine::Signal;
use crate::indicator_cache::{Indicator, IndicatorCache};
use crate::indicators::mean_and_std_at;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::series::PriceSeries;
use crate::strategies::{
    Crossing, apply_parameters, float_parameter, float_value, integer_parameter, integer_value,
    parameter_value,
};
use crate::strategy::{ParameterChange, Signals, Strategy, StrategyInfo};

/// Enters when the close crosses above the upper Bollinger band, exits when it crosses below
/// the middle band.
///
/// The middle band is the SMA of the last `period` closes and the bands are the middle ± `k`
/// times the population standard deviation (divisor `period`) of the same closes, defined from
/// bar `period - 1` (see [`mean_and_std_at`]). The crossings are vectorbt's
/// `crossed_above(upper)` and `crossed_below(middle)`: an entry at bar `i` needs
/// `close[i] > upper[i]`, `close[i-1] <= upper[i-1]` and the close strictly below the upper band
/// on some bar since the bands became defined; the exit is the mirror image against the middle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bollinger {
    period: usize,
    k: f64,
}

const PERIOD: ParamSpec = ParamSpec {
    name: "period",
    description: "Bollinger window in bars",
    default: "20",
    default_range: "10..50",
    kind: ParamKind::Integer { min: 2, max: 500 },
};
const K: ParamSpec = ParamSpec {
    name: "k",
    description: "band width in population standard deviations",
    default: "2",
    default_range: "1..3:0.25",
    kind: ParamKind::Float {
        min: 0.1,
        max: 10.0,
    },
};

impl Bollinger {
    /// Its catalog entry.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "bollinger",
        description: "Buy when the close crosses above the upper Bollinger band, sell when it \
                      crosses below the middle band",
        parameters: &[PERIOD, K],
        ordered: &[],
        build,
    };

    /// A Bollinger breakout; parameters must be within their ranges.
    pub fn new(period: usize, k: f64) -> Result<Self, BacktestError> {
        PERIOD.parse(&period.to_string())?;
        K.parse(&k.to_string())?;
        Ok(Self { period, k })
    }

    /// The window in bars.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The band width in standard deviations.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// The strategy of grid values `[period, k]`, if [`Self::new`] accepts them.
    fn from_values(values: &[ParamValue]) -> Option<Self> {
        let [period, k] = *values else { return None };
        Some(Self {
            period: integer_value(period, PERIOD)?,
            k: float_value(k, K)?,
        })
    }

    /// Entry and exit flags from the closes and the `(middle, std)` of each bar.
    fn write_signals(&self, bands: impl Iterator<Item = (f64, (f64, f64))>, signals: &mut Signals) {
        let (mut breakout, mut fallback) = (Crossing::default(), Crossing::default());
        let flags = signals.entries.iter_mut().zip(&mut signals.exits);
        for ((entry, exit), (close, (middle, std))) in flags.zip(bands) {
            // NaN during the warm-up: the close is neither above nor below a band, so no signal.
            let upper = middle + self.k * std;
            *entry = breakout.step_values(close, upper) == Signal::Enter;
            *exit = fallback.step_values(close, middle) == Signal::Exit;
        }
    }
}

fn build(params: &Params) -> Result<Box<dyn Strategy>, BacktestError> {
    let name = Bollinger::INFO.name;
    Ok(Box::new(Bollinger::new(
        integer_parameter(params, name, PERIOD)?,
        float_parameter(params, name, K)?,
    )?))
}

impl Strategy for Bollinger {
    fn name(&self) -> &'static str {
        Self::INFO.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        vec![
            (PERIOD.name, parameter_value(self.period)),
            (K.name, ParamValue::Float(self.k)),
        ]
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let closes = series.closes();
        let mut signals = Signals::none(series.len());
        let bands = (0..closes.len()).map(|bar| mean_and_std_at(closes, self.period, bar));
        self.write_signals(closes.iter().copied().zip(bands), &mut signals);
        signals
    }

    fn indicators(&self, need: &mut dyn FnMut(Indicator)) {
        need(Indicator::MeanAndStd(self.period));
    }

    fn signals_into(
        &self,
        series: &PriceSeries<'_>,
        cache: &IndicatorCache,
        signals: &mut Signals,
    ) {
        let Some((means, deviations)) = cache.mean_and_std(self.period) else {
            *signals = self.signals(series);
            return;
        };
        signals.reset(series.len());
        let bands = means.iter().copied().zip(deviations.iter().copied());
        self.write_signals(series.closes().iter().copied().zip(bands), signals);
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
    fn bollinger_signals_on_a_hand_computed_series() {
        // Period 2, k 0.5: middle = (a + b) / 2, std = |a - b| / 2, upper = middle + std / 2.
        // bar 1 (10, 12): middle 11, upper 11.5, close 12 above both.
        // bar 2 (12, 11): middle 11.5, upper 11.75, close 11 below both -> exit.
        // bar 3 (11, 14): middle 12.5, upper 13.25, close 14 above both -> entry.
        // bar 4 (14, 14): middle = upper = 14 = close.
        // bar 5 (14, 10): middle 12, upper 13, close 10 below both -> exit.
        let closes = [10.0, 12.0, 11.0, 14.0, 14.0, 10.0];
        for (bar, middle, std) in [
            (2, 11.5, 0.5),
            (3, 12.5, 1.5),
            (4, 14.0, 0.0),
            (5, 12.0, 2.0),
        ] {
            let (m, s) = mean_and_std_at(&closes, 2, bar);
            assert!(
                (m - middle).abs() <= 1e-12 && (s - std).abs() <= 1e-12,
                "bar {bar}"
            );
        }
        let strategy = Bollinger::new(2, 0.5).unwrap_or_else(|e| panic!("{e}"));
        let signals = signals_of(&strategy, &closes);
        assert_eq!(flags(&signals.entries), vec![3]);
        assert_eq!(flags(&signals.exits), vec![2, 5]);
    }

    #[test]
    fn bollinger_bands_use_the_population_deviation() {
        // Window (1, 2, 3): mean 2, variance (1 + 0 + 1) / 3, so upper = 2 + 2 * sqrt(2/3).
        let (middle, std) = mean_and_std_at(&[1.0, 2.0, 3.0], 3, 2);
        assert!((middle + 2.0 * std - (2.0 + 2.0 * (2.0_f64 / 3.0).sqrt())).abs() <= 1e-12);
    }

    #[test]
    fn bollinger_refuses_bad_parameters_naming_them() {
        for (period, k, named) in [
            (1, 2.0, "'period'"),
            (501, 2.0, "'period'"),
            (20, 0.05, "'k'"),
            (20, 10.5, "'k'"),
        ] {
            let error = Bollinger::new(period, k).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|m| m.contains(named)),
                "{error:?}"
            );
        }
    }

    #[test]
    fn bollinger_is_built_by_name() {
        let strategy = build_strategy("bollinger", &[("period", "20"), ("k", "2")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strategy.name(), "bollinger");
        assert_eq!(
            strategy.parameters(),
            vec![
                ("period", ParamValue::Integer(20)),
                ("k", ParamValue::Float(2.0))
            ]
        );
    }
}
