//! The `Strategy` trait, the signals it emits, and the catalog that builds strategies by name.

use std::fmt;

use crate::BacktestError;
use crate::indicator_cache::{Indicator, IndicatorCache};
use crate::params::{GridRange, ParamSpec, ParamValue, Params, match_parameters};
use crate::series::PriceSeries;
use crate::strategies::{Bollinger, BuyAndHold, EmaCross, Macd, RsiReversion, SmaCross};

/// Entry and exit signals, one of each per bar, both computed on that bar's close.
///
/// A bar with both an entry and an exit does nothing (vectorbt's default conflict handling).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signals {
    /// `true` where the strategy wants to be long from this bar's close.
    pub entries: Vec<bool>,
    /// `true` where the strategy wants to be flat from this bar's close.
    pub exits: Vec<bool>,
}

impl Signals {
    /// No signal on any of `bars` bars.
    pub fn none(bars: usize) -> Self {
        Self {
            entries: vec![false; bars],
            exits: vec![false; bars],
        }
    }

    /// Clears to no signal on any of `bars` bars, keeping the buffers, for a loop that reuses
    /// one `Signals` for many strategies.
    pub fn reset(&mut self, bars: usize) {
        for flags in [&mut self.entries, &mut self.exits] {
            flags.clear();
            flags.resize(bars, false);
        }
    }
}

/// What [`Strategy::set_parameters`] did with new parameter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterChange {
    /// The strategy now has the new values.
    Applied,
    /// The values are of the wrong type, out of range or break a constraint between them (such
    /// as fast < slow): the catalog would refuse to build them; the strategy is unchanged.
    Refused,
    /// The strategy cannot change in place; build one per parameter set through the catalog.
    Unsupported,
}

/// A trading rule: turns bars into entry and exit signals.
///
/// New strategies implement this and add a [`StrategyInfo`] to [`catalog`]; the engine, runner
/// and metrics never change for them. The three provided methods are for grids and may be
/// left out: [`Self::indicators`] and [`Self::signals_into`] let a grid compute each indicator
/// series once for all its combinations, [`Self::set_parameters`] lets it reuse one strategy
/// per worker; without them a grid builds each combination and calls [`Self::signals`].
pub trait Strategy: fmt::Debug + Send + Sync {
    /// The catalog name, e.g. `sma-cross`.
    fn name(&self) -> &'static str;

    /// The parameter values, in the order of the strategy's specs.
    fn parameters(&self) -> Vec<(&'static str, ParamValue)>;

    /// The signals for `series`: exactly one entry and one exit flag per bar, and no signal
    /// before its indicators are defined.
    fn signals(&self, series: &PriceSeries<'_>) -> Signals;

    /// Names each indicator series [`Self::signals_into`] reads, so a grid computes every
    /// distinct one once for all its combinations. The default names none.
    fn indicators(&self, _need: &mut dyn FnMut(Indicator)) {}

    /// Writes the signals of [`Self::signals`] into `signals`, reusing its buffers, and reading
    /// the series named by [`Self::indicators`] from `cache` (computed over `series`) instead of
    /// computing them. The result must equal `signals` exactly; a series missing from the cache
    /// is computed as `signals` would. The default calls `signals`, which allocates.
    fn signals_into(
        &self,
        series: &PriceSeries<'_>,
        _cache: &IndicatorCache,
        signals: &mut Signals,
    ) {
        *signals = self.signals(series);
    }

    /// Takes the parameter `values` (one per spec, in spec order) in place, accepting exactly
    /// what the catalog's `build` accepts, so a grid reuses one strategy per worker instead of
    /// building one per combination. The default is [`ParameterChange::Unsupported`].
    fn set_parameters(&mut self, _values: &[ParamValue]) -> ParameterChange {
        ParameterChange::Unsupported
    }
}

/// How the catalog describes and builds one strategy.
#[derive(Debug, Clone, Copy)]
pub struct StrategyInfo {
    /// The name used to pick it, e.g. `sma-cross`.
    pub name: &'static str,
    /// One line for help texts.
    pub description: &'static str,
    /// Its parameters, with types and valid ranges.
    pub parameters: &'static [ParamSpec],
    /// Pairs `(a, b)` of its parameters where `a` must be below `b` (`fast` below `slow`): the
    /// rules between parameters that `build` checks, listed for clients and contract testers.
    pub ordered: &'static [(&'static str, &'static str)],
    /// Builds it from parameters already checked against `parameters`; checks the constraints
    /// between them (such as fast < slow).
    pub build: fn(&Params) -> Result<Box<dyn Strategy>, BacktestError>,
}

impl StrategyInfo {
    /// Parses one grid range per parameter from `(name, range)` pairs such as
    /// `("period", "5..30")`, returned in spec order; a parameter not given searches its
    /// default range, and errors name the unknown, repeated or invalid parameter.
    pub fn parse_ranges(
        &self,
        given: &[(&str, &str)],
    ) -> Result<Vec<(&'static str, GridRange)>, BacktestError> {
        let ranges = match_parameters(
            self.name,
            self.parameters,
            given,
            |spec, text| spec.parse_range(text),
            Some(&|spec: &ParamSpec| spec.parse_range(spec.default_range)),
        )?;
        Ok(self
            .parameters
            .iter()
            .map(|spec| spec.name)
            .zip(ranges)
            .collect())
    }

    /// Builds the strategy from typed `(name, value)` pairs, such as a grid entry's or a
    /// report's parameters, checking them as [`build_strategy`] checks text.
    pub fn build_with(
        &self,
        parameters: &[(&str, ParamValue)],
    ) -> Result<Box<dyn Strategy>, BacktestError> {
        // Display is the shortest text that parses back to the same value, so this is exact.
        let texts: Vec<(&str, String)> = parameters
            .iter()
            .map(|(name, value)| (*name, value.to_string()))
            .collect();
        let pairs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(name, text)| (*name, text.as_str()))
            .collect();
        (self.build)(&Params::parse(self.name, self.parameters, &pairs)?)
    }
}

/// Every strategy that can be built by name.
pub fn catalog() -> &'static [StrategyInfo] {
    const CATALOG: &[StrategyInfo] = &[
        SmaCross::INFO,
        EmaCross::INFO,
        RsiReversion::INFO,
        Bollinger::INFO,
        Macd::INFO,
        BuyAndHold::INFO,
    ];
    CATALOG
}

/// Looks a strategy up by name.
pub fn find_strategy(name: &str) -> Result<&'static StrategyInfo, BacktestError> {
    catalog()
        .iter()
        .find(|info| info.name == name.trim())
        .ok_or_else(|| BacktestError::UnknownStrategy {
            name: name.to_owned(),
            known: catalog()
                .iter()
                .map(|info| info.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Builds the strategy `name` from `(parameter, value)` pairs, checking every parameter; the
/// error names the strategy or parameter at fault.
pub fn build_strategy(
    name: &str,
    parameters: &[(&str, &str)],
) -> Result<Box<dyn Strategy>, BacktestError> {
    let info = find_strategy(name)?;
    let params = Params::parse(info.name, info.parameters, parameters)?;
    (info.build)(&params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ordered` lists what `build` checks: each pair's parameters exist, equal values are
    /// refused with an error naming one of them, and the defaults keep the order.
    #[test]
    fn every_ordered_pair_is_a_constraint_build_checks() {
        for info in catalog() {
            let default = |name: &str| {
                let spec = info.parameters.iter().find(|spec| spec.name == name);
                spec.unwrap_or_else(|| panic!("{}: no parameter {name}", info.name))
                    .default
            };
            for (low, high) in info.ordered {
                let (low_default, high_default) = (default(low), default(high));
                let ordered: f64 = low_default.parse().unwrap_or(f64::NAN);
                assert!(
                    ordered < high_default.parse().unwrap_or(f64::NAN),
                    "{}",
                    info.name
                );
                let equal = build_strategy(info.name, &[(low, high_default), (high, high_default)]);
                assert!(
                    matches!(equal, Err(BacktestError::Constraint { .. })),
                    "{}: {low} = {high} was accepted",
                    info.name
                );
            }
        }
        let ordered = |name: &str| find_strategy(name).map(|info| info.ordered.len()).ok();
        assert_eq!(ordered("sma-cross"), Some(1));
        assert_eq!(ordered("rsi"), Some(1));
    }

    #[test]
    fn every_strategy_builds_from_its_defaults_alone_and_searches_its_default_ranges() {
        for info in catalog() {
            let strategy = build_strategy(info.name, &[]).unwrap_or_else(|e| panic!("{e}"));
            let defaults: Vec<String> = strategy
                .parameters()
                .iter()
                .map(|(_, value)| value.to_string())
                .collect();
            let expected: Vec<&str> = info.parameters.iter().map(|spec| spec.default).collect();
            assert_eq!(defaults, expected, "{}", info.name);
            let ranges = info.parse_ranges(&[]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ranges.len(), info.parameters.len(), "{}", info.name);
        }
        let sma = build_strategy("sma-cross", &[("fast", "20")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sma.parameters(),
            vec![
                ("fast", ParamValue::Integer(20)),
                ("slow", ParamValue::Integer(200))
            ]
        );
    }

    #[test]
    fn strategies_are_built_by_name_with_checked_parameters() {
        let strategy = build_strategy("sma-cross", &[("fast", "10"), ("slow", "50")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strategy.name(), "sma-cross");
        assert_eq!(
            strategy.parameters(),
            vec![
                ("fast", ParamValue::Integer(10)),
                ("slow", ParamValue::Integer(50))
            ]
        );
        let baseline = build_strategy("buy-and-hold", &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(baseline.name(), "buy-and-hold");
    }

    #[test]
    fn bad_strategies_and_parameters_are_named_in_the_error() {
        let message = |name: &str, given: &[(&str, &str)]| {
            build_strategy(name, given)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(message("sma", &[]).contains("'sma'"));
        assert!(
            message(
                "sma-cross",
                &[("fast", "10"), ("slow", "50"), ("signal", "9")]
            )
            .contains("'signal'")
        );
        assert!(message("sma-cross", &[("fast", "0"), ("slow", "50")]).contains("'fast'"));
        // slow takes its default, 200, which fast 300 is not below.
        assert!(message("sma-cross", &[("fast", "300")]).contains("'fast'"));
        let inverted = message("sma-cross", &[("fast", "50"), ("slow", "50")]);
        assert!(
            inverted.contains("'fast'") && inverted.contains("below slow"),
            "{inverted}"
        );
        assert!(message("buy-and-hold", &[("fast", "1")]).contains("'fast'"));
    }
}
