//! RSI mean reversion: buy when Wilder's RSI falls into oversold, sell when it reaches overbought.

use crate::BacktestError;
use crate::engine::Signal;
use crate::indicator_cache::{Indicator, IndicatorCache};
use crate::indicators::Rsi;
use crate::params::{ParamKind, ParamSpec, ParamValue, Params};
use crate::series::PriceSeries;
use crate::strategies::{
    Crossing, apply_parameters, float_parameter, float_value, integer_parameter, integer_value,
    parameter_value,
};
use crate::strategy::{ParameterChange, Signals, Strategy, StrategyInfo};

/// Enters when Wilder's RSI of closes crosses below `lower`, exits when it crosses above `upper`.
///
/// The RSI (see [`crate::indicators::Rsi`]) starts from the simple means of the first `period`
/// gains and losses and is defined from bar `period`. The crossings are vectorbt's
/// `crossed_below(lower)` and `crossed_above(upper)`: an entry at bar `i` needs
/// `rsi[i] < lower`, `rsi[i-1] >= lower` and the RSI strictly above `lower` on some bar since it
/// became defined, so an RSI that starts out oversold is not bought until it leaves and
/// returns. The exit is the mirror image against `upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RsiReversion {
    period: usize,
    lower: f64,
    upper: f64,
}

const PERIOD: ParamSpec = ParamSpec {
    name: "period",
    description: "RSI period in bars",
    default: "14",
    default_range: "5..30",
    kind: ParamKind::Integer { min: 2, max: 100 },
};
const LOWER: ParamSpec = ParamSpec {
    name: "lower",
    description: "oversold level: buy when the RSI crosses below it",
    default: "30",
    default_range: "20..40:5",
    kind: ParamKind::Float {
        min: 1.0,
        max: 99.0,
    },
};
const UPPER: ParamSpec = ParamSpec {
    name: "upper",
    description: "overbought level: sell when the RSI crosses above it (above lower)",
    default: "70",
    default_range: "60..80:5",
    kind: ParamKind::Float {
        min: 1.0,
        max: 99.0,
    },
};

impl RsiReversion {
    /// Its catalog entry.
    pub const INFO: StrategyInfo = StrategyInfo {
        name: "rsi",
        description: "Buy when Wilder's RSI crosses below lower, sell when it crosses above upper",
        parameters: &[PERIOD, LOWER, UPPER],
        ordered: &[("lower", "upper")],
        build,
    };

    /// An RSI reversion; parameters must be within their ranges and `lower < upper`.
    pub fn new(period: usize, lower: f64, upper: f64) -> Result<Self, BacktestError> {
        PERIOD.parse(&period.to_string())?;
        for (spec, value) in [(LOWER, lower), (UPPER, upper)] {
            spec.parse(&value.to_string())?;
        }
        if lower >= upper {
            return Err(BacktestError::Constraint {
                parameter: LOWER.name,
                reason: format!("lower ({lower}) must be below upper ({upper})"),
            });
        }
        Ok(Self {
            period,
            lower,
            upper,
        })
    }

    /// The RSI period in bars.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The oversold level.
    pub fn lower(&self) -> f64 {
        self.lower
    }

    /// The overbought level.
    pub fn upper(&self) -> f64 {
        self.upper
    }

    /// The strategy of grid values `[period, lower, upper]`, if [`Self::new`] accepts them.
    fn from_values(values: &[ParamValue]) -> Option<Self> {
        let [period, lower, upper] = *values else {
            return None;
        };
        let candidate = Self {
            period: integer_value(period, PERIOD)?,
            lower: float_value(lower, LOWER)?,
            upper: float_value(upper, UPPER)?,
        };
        (candidate.lower < candidate.upper).then_some(candidate)
    }

    /// Entry and exit flags from the RSI, one value per bar (NaN while it warms up).
    fn write_signals(&self, rsi: impl Iterator<Item = f64>, signals: &mut Signals) {
        // The RSI against each level: crossing below lower buys, crossing above upper sells.
        let (mut oversold, mut overbought) = (Crossing::default(), Crossing::default());
        let flags = signals.entries.iter_mut().zip(&mut signals.exits);
        for ((entry, exit), value) in flags.zip(rsi) {
            // NaN during the warm-up: neither above nor below a level, so no signal.
            *entry = oversold.step_values(value, self.lower) == Signal::Exit;
            *exit = overbought.step_values(value, self.upper) == Signal::Enter;
        }
    }
}

fn build(params: &Params) -> Result<Box<dyn Strategy>, BacktestError> {
    let name = RsiReversion::INFO.name;
    Ok(Box::new(RsiReversion::new(
        integer_parameter(params, name, PERIOD)?,
        float_parameter(params, name, LOWER)?,
        float_parameter(params, name, UPPER)?,
    )?))
}

impl Strategy for RsiReversion {
    fn name(&self) -> &'static str {
        Self::INFO.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        vec![
            (PERIOD.name, parameter_value(self.period)),
            (LOWER.name, ParamValue::Float(self.lower)),
            (UPPER.name, ParamValue::Float(self.upper)),
        ]
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let mut rsi = Rsi::new(self.period);
        let mut signals = Signals::none(series.len());
        let values = series.closes().iter().map(|close| rsi.next(*close));
        self.write_signals(values, &mut signals);
        signals
    }

    fn indicators(&self, need: &mut dyn FnMut(Indicator)) {
        need(Indicator::Rsi(self.period));
    }

    fn signals_into(
        &self,
        series: &PriceSeries<'_>,
        cache: &IndicatorCache,
        signals: &mut Signals,
    ) {
        let Some(rsi) = cache.rsi(self.period) else {
            *signals = self.signals(series);
            return;
        };
        signals.reset(series.len());
        self.write_signals(rsi.iter().copied(), signals);
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
    fn rsi_signals_on_a_hand_computed_series() {
        // Period 2, RSI from bar 2 (values in indicators' tests): 50, 250/3, 50, 250/13,
        // 2650/37. Against 30: crosses below at bar 5. Against 70: above at bars 3 and 6.
        let closes = [10.0, 11.0, 10.0, 12.0, 11.0, 9.0, 12.0];
        let strategy = RsiReversion::new(2, 30.0, 70.0).unwrap_or_else(|e| panic!("{e}"));
        let signals = signals_of(&strategy, &closes);
        assert_eq!(flags(&signals.entries), vec![5]);
        assert_eq!(flags(&signals.exits), vec![3, 6]);
    }

    #[test]
    fn an_rsi_oversold_from_the_start_is_not_bought_until_it_returns() {
        // Period 2 on falling closes: RSI 0 from bar 2, then a rise and a fall again.
        // Bar 5: gain (0 + 3) / 2 = 1.5, loss 0.5 -> 75; bar 6: 0.75, (0.5 + 4) / 2 = 2.25 -> 25.
        let closes = [10.0, 9.0, 8.0, 7.0, 6.0, 9.0, 5.0];
        let strategy = RsiReversion::new(2, 30.0, 70.0).unwrap_or_else(|e| panic!("{e}"));
        let signals = signals_of(&strategy, &closes);
        assert_eq!(flags(&signals.entries), vec![6]);
        assert_eq!(flags(&signals.exits), vec![5]);
    }

    #[test]
    fn rsi_refuses_bad_parameters_naming_them() {
        let cases = [
            (14, 70.0, 30.0, "'lower'"),
            (14, 50.0, 50.0, "'lower'"),
            (1, 30.0, 70.0, "'period'"),
            (101, 30.0, 70.0, "'period'"),
            (14, 0.5, 70.0, "'lower'"),
            (14, 30.0, 99.5, "'upper'"),
            (14, f64::NAN, 70.0, "'lower'"),
        ];
        for (period, lower, upper, named) in cases {
            let error = RsiReversion::new(period, lower, upper)
                .err()
                .map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|m| m.contains(named)),
                "{error:?}"
            );
        }
    }

    #[test]
    fn rsi_is_built_by_name() {
        let strategy = build_strategy("rsi", &[("period", "14"), ("lower", "30"), ("upper", "70")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strategy.name(), "rsi");
        assert_eq!(
            strategy.parameters(),
            vec![
                ("period", ParamValue::Integer(14)),
                ("lower", ParamValue::Float(30.0)),
                ("upper", ParamValue::Float(70.0))
            ]
        );
    }
}
