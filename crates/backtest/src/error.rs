//! Why a backtest or a grid was refused before it ran.

use chrono::NaiveDate;
use thiserror::Error;

/// Bad input to a backtest: each variant names the strategy, parameter or setting at fault.
///
/// Everything is checked before the first bar is simulated, so a run either fails here or
/// completes; the engine itself has no failure mode.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BacktestError {
    /// The strategy name is not in the catalog.
    #[error("unknown strategy '{name}': expected one of {known}")]
    UnknownStrategy { name: String, known: String },
    /// A parameter the strategy does not have.
    #[error("unknown parameter '{parameter}' for strategy {strategy}: expected {expected}")]
    UnknownParameter {
        strategy: &'static str,
        parameter: String,
        expected: String,
    },
    /// The same parameter was given twice.
    #[error("parameter '{parameter}' of strategy {strategy} is given more than once")]
    DuplicateParameter {
        strategy: &'static str,
        parameter: String,
    },
    /// A required parameter is absent.
    #[error("parameter '{parameter}' of strategy {strategy} is missing")]
    MissingParameter {
        strategy: &'static str,
        parameter: &'static str,
    },
    /// A `name=value` assignment without `=` or without a name.
    #[error("parameter '{text}' is malformed: expected name=value")]
    MalformedAssignment { text: String },
    /// A value that does not parse as the parameter's type.
    #[error("parameter '{parameter}' value '{value}' is invalid: expected {expected}")]
    InvalidValue {
        parameter: String,
        value: String,
        expected: &'static str,
    },
    /// A value outside the parameter's valid range.
    #[error(
        "parameter '{parameter}' value {value} is out of range: must be between {min} and {max}"
    )]
    OutOfRange {
        parameter: String,
        value: String,
        min: String,
        max: String,
    },
    /// Values that are each valid but not together, such as fast >= slow.
    #[error("parameter '{parameter}' is invalid: {reason}")]
    Constraint {
        parameter: &'static str,
        reason: String,
    },
    /// A grid range such as `10..300:2` that does not parse or is empty.
    #[error("range '{text}' for parameter '{parameter}' is invalid: {reason}")]
    InvalidRange {
        parameter: String,
        text: String,
        reason: &'static str,
    },
    /// A grid whose ranges leave no valid combination.
    #[error("the grid has no valid combination: {reason}")]
    EmptyGrid { reason: String },
    /// A grid whose ranges multiply to more combinations than a search may run.
    #[error("the grid has too many combinations ({sizes}): at most {limit} are allowed")]
    TooManyCombinations { sizes: String, limit: usize },
    /// A grid asked for a combination it was not built with.
    #[error("combination {fast}/{slow} is not in the grid")]
    NotInGrid { fast: usize, slow: usize },
    /// A setting (initial cash, fees, slippage) outside its range.
    #[error("setting {setting} = {value} is invalid: {rule}")]
    InvalidSetting {
        setting: &'static str,
        value: f64,
        rule: &'static str,
    },
    /// A ranking metric name that is not known.
    #[error("unknown metric '{name}': expected one of {known}")]
    UnknownMetric { name: String, known: String },
    /// A backtest needs at least one bar.
    #[error("no bars to backtest")]
    NoBars,
    /// Bars must be in strictly increasing date order.
    #[error("bars are out of order: {date} follows {previous}")]
    BarsOutOfOrder {
        previous: NaiveDate,
        date: NaiveDate,
    },
    /// A strategy returned a signal series whose length is not the number of bars.
    #[error("strategy {strategy} returned {entries} entries and {exits} exits for {bars} bars")]
    SignalLength {
        strategy: String,
        bars: usize,
        entries: usize,
        exits: usize,
    },
    /// A search's `train_until` leaves no bar on one side of the split.
    #[error("train-until {train_until} is invalid: it must leave bars on both sides")]
    EmptySplit { train_until: NaiveDate },
}
