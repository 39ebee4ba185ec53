//! Named, typed strategy parameters: their specs, parsing, validation and grid ranges.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::BacktestError;

/// The type and valid range (inclusive) of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A whole number, such as a window length.
    Integer { min: i64, max: i64 },
    /// A real number, such as a band width.
    Float { min: f64, max: f64 },
}

/// One parameter of a strategy, as the catalog describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// The name used in `name=value`.
    pub name: &'static str,
    /// One line for help texts.
    pub description: &'static str,
    /// The value a backtest takes when none is given, as text (`50`, `2.0`).
    pub default: &'static str,
    /// The range an optimizer searches when none is given (`5..100`, `1..3:0.25`).
    pub default_range: &'static str,
    /// Type and valid range.
    pub kind: ParamKind,
}

/// A parsed parameter value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A whole number.
    Integer(i64),
    /// A real number.
    Float(f64),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(value) => write!(f, "{value}"),
            Self::Float(value) => write!(f, "{value}"),
        }
    }
}

impl ParamSpec {
    /// Parses `text` as this parameter's type and checks its range; errors name the parameter.
    pub fn parse(&self, text: &str) -> Result<ParamValue, BacktestError> {
        let invalid = |expected| BacktestError::InvalidValue {
            parameter: self.name.to_owned(),
            value: text.to_owned(),
            expected,
        };
        match self.kind {
            ParamKind::Integer { min, max } => {
                let value: i64 = text.trim().parse().map_err(|_| invalid("an integer"))?;
                if !(min..=max).contains(&value) {
                    return Err(self.out_of_range(value, min, max));
                }
                Ok(ParamValue::Integer(value))
            }
            ParamKind::Float { min, max } => {
                let value: f64 = text.trim().parse().map_err(|_| invalid("a number"))?;
                // `contains` is false for NaN, so NaN is refused here too.
                if !(min..=max).contains(&value) {
                    return Err(self.out_of_range(value, min, max));
                }
                Ok(ParamValue::Float(value))
            }
        }
    }

    /// Parses a grid range of this parameter's type (`5..30`, `20..40:5`, `1.5..3.0:0.5`) and
    /// checks both ends against its valid range; errors name the parameter.
    pub fn parse_range(&self, text: &str) -> Result<GridRange, BacktestError> {
        let range = match self.kind {
            ParamKind::Integer { .. } => GridRange::Integer(ParamRange::parse(self.name, text)?),
            ParamKind::Float { .. } => GridRange::Float(FloatRange::parse(self.name, text)?),
        };
        self.check_range(&range)?;
        Ok(range)
    }

    /// Checks that `range` has this parameter's type and that its ends lie in its valid range.
    pub fn check_range(&self, range: &GridRange) -> Result<(), BacktestError> {
        match (self.kind, range) {
            (ParamKind::Integer { .. }, GridRange::Integer(whole)) => {
                self.parse(&whole.start().to_string())?;
                self.parse(&whole.end().to_string())?;
            }
            // Whole numbers are numbers too: a float parameter may take an integer range.
            (ParamKind::Float { .. }, GridRange::Integer(whole)) => {
                self.parse(&whole.start().to_string())?;
                self.parse(&whole.end().to_string())?;
            }
            (ParamKind::Float { .. }, GridRange::Float(real)) => {
                self.parse(&real.start().to_string())?;
                self.parse(&real.end().to_string())?;
            }
            (ParamKind::Integer { .. }, GridRange::Float(_)) => {
                return Err(BacktestError::InvalidRange {
                    parameter: self.name.to_owned(),
                    text: range.to_string(),
                    reason: "expected start..end[:step] of whole numbers",
                });
            }
        }
        Ok(())
    }

    /// The value at `index` of `range`, typed as this parameter.
    pub(crate) fn range_value(&self, range: &GridRange, index: usize) -> ParamValue {
        match (self.kind, range) {
            (ParamKind::Float { .. }, GridRange::Integer(whole)) => {
                ParamValue::Float(whole.value_at(index) as f64)
            }
            _ => range.value_at(index),
        }
    }

    fn out_of_range(
        &self,
        value: impl fmt::Display,
        min: impl fmt::Display,
        max: impl fmt::Display,
    ) -> BacktestError {
        BacktestError::OutOfRange {
            parameter: self.name.to_owned(),
            value: value.to_string(),
            min: min.to_string(),
            max: max.to_string(),
        }
    }
}

/// The validated parameters of one strategy, in the order of its specs.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    values: Vec<(&'static str, ParamValue)>,
}

impl Params {
    /// Matches `(name, value)` pairs against `specs`: a parameter may be given at most once,
    /// must parse as its type and lie in its range; one not given takes its default.
    pub fn parse(
        strategy: &'static str,
        specs: &'static [ParamSpec],
        given: &[(&str, &str)],
    ) -> Result<Self, BacktestError> {
        let values = match_parameters(
            strategy,
            specs,
            given,
            |spec, text| spec.parse(text),
            Some(&|spec: &ParamSpec| spec.parse(spec.default)),
        )?;
        Ok(Self {
            values: specs.iter().map(|spec| spec.name).zip(values).collect(),
        })
    }

    /// Values already checked against `specs`, one per spec in spec order (the grid's route,
    /// which checks whole ranges once instead of every value of every combination).
    pub(crate) fn from_checked(values: Vec<(&'static str, ParamValue)>) -> Self {
        Self { values }
    }

    /// The value of an integer parameter; `None` if it is absent or not an integer.
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.values.iter().find_map(|(n, value)| match value {
            ParamValue::Integer(v) if *n == name => Some(*v),
            _ => None,
        })
    }

    /// The value of a float parameter; `None` if it is absent or not a float.
    pub fn float(&self, name: &str) -> Option<f64> {
        self.values.iter().find_map(|(n, value)| match value {
            ParamValue::Float(v) if *n == name => Some(*v),
            _ => None,
        })
    }

    /// All `(name, value)` pairs in spec order.
    pub fn values(&self) -> &[(&'static str, ParamValue)] {
        &self.values
    }
}

/// Splits a `name=value` assignment as given on the command line.
pub fn parse_assignment(text: &str) -> Result<(&str, &str), BacktestError> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim(), value.trim())),
        _ => Err(BacktestError::MalformedAssignment {
            text: text.to_owned(),
        }),
    }
}

/// What a parameter not given becomes, from its spec (its default value or range).
pub(crate) type Fallback<'a, T> = &'a dyn Fn(&ParamSpec) -> Result<T, BacktestError>;

/// Matches `(name, input)` pairs against `specs`, converting each input with `convert`: a
/// parameter may be given at most once; one not given becomes `fallback`'s, or is an error
/// without one. Returns one output per spec, in spec order; errors name the unknown, repeated
/// or missing parameter (or come from `convert`).
pub(crate) fn match_parameters<I, T>(
    strategy: &'static str,
    specs: &'static [ParamSpec],
    given: &[(&str, I)],
    convert: impl Fn(&ParamSpec, &I) -> Result<T, BacktestError>,
    fallback: Option<Fallback<'_, T>>,
) -> Result<Vec<T>, BacktestError> {
    let mut values: Vec<Option<T>> = specs.iter().map(|_| None).collect();
    for (name, input) in given {
        let position = specs
            .iter()
            .position(|spec| spec.name == name.trim())
            .ok_or_else(|| BacktestError::UnknownParameter {
                strategy,
                parameter: (*name).to_owned(),
                expected: names(specs),
            })?;
        if values[position].is_some() {
            return Err(BacktestError::DuplicateParameter {
                strategy,
                parameter: (*name).to_owned(),
            });
        }
        values[position] = Some(convert(&specs[position], input)?);
    }
    specs
        .iter()
        .zip(values)
        .map(|(spec, value)| match (value, fallback) {
            (Some(value), _) => Ok(value),
            (None, Some(fallback)) => fallback(spec),
            (None, None) => Err(BacktestError::MissingParameter {
                strategy,
                parameter: spec.name,
            }),
        })
        .collect()
}

fn names(specs: &[ParamSpec]) -> String {
    specs
        .iter()
        .map(|spec| spec.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An inclusive range of whole values with a step, written `start..end[:step]` (`5..100`,
/// `10..300:2`) or as one value (`20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParamRange {
    start: usize,
    end: usize,
    step: usize,
}

impl ParamRange {
    /// A range from `start` to `end` inclusive; refused when empty or `step` is 0.
    pub fn new(
        parameter: &str,
        start: usize,
        end: usize,
        step: usize,
    ) -> Result<Self, BacktestError> {
        let invalid = |reason| BacktestError::InvalidRange {
            parameter: parameter.to_owned(),
            text: format!("{start}..{end}:{step}"),
            reason,
        };
        if step == 0 {
            return Err(invalid("the step must be at least 1"));
        }
        if start > end {
            return Err(invalid("the start must not be after the end"));
        }
        Ok(Self { start, end, step })
    }

    /// Parses `start..end[:step]` or a single value; errors name `parameter`.
    pub fn parse(parameter: &str, text: &str) -> Result<Self, BacktestError> {
        let invalid = |reason| BacktestError::InvalidRange {
            parameter: parameter.to_owned(),
            text: text.to_owned(),
            reason,
        };
        let number = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| invalid("expected start..end[:step] of whole numbers"))
        };
        let (span, step) = match text.split_once(':') {
            Some((span, step)) => (span, number(step)?),
            None => (text, 1),
        };
        let (start, end) = match span.split_once("..") {
            Some((start, end)) => (number(start)?, number(end)?),
            None => {
                let value = number(span)?;
                (value, value)
            }
        };
        Self::new(parameter, start, end, step).map_err(|error| match error {
            BacktestError::InvalidRange { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// The values of the range, in increasing order.
    pub fn values(&self) -> impl Iterator<Item = usize> + use<> {
        (self.start..=self.end).step_by(self.step)
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        (self.end - self.start) / self.step + 1
    }

    /// Always false: a range has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The value at `index` (below [`Self::len`]).
    pub fn value_at(&self, index: usize) -> usize {
        self.start + index * self.step
    }

    /// The first value.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The last value that may be reached (inclusive bound).
    pub fn end(&self) -> usize {
        self.end
    }

    /// The distance between consecutive values.
    pub fn step(&self) -> usize {
        self.step
    }
}

impl FromStr for ParamRange {
    type Err = BacktestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse("range", text)
    }
}

/// An inclusive range of real values with a step, written `start..end[:step]` (`1.5..3.0:0.5`;
/// the step defaults to 1) or as one value (`2.5`).
///
/// Values are `start + i * step`, rounded to the decimals of `start` and `step`, so
/// `0.1..0.3:0.1` gives exactly 0.1, 0.2 and 0.3 (what the user typed) rather than
/// 0.30000000000000004.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FloatRange {
    start: f64,
    end: f64,
    step: f64,
    #[serde(skip)]
    count: usize,
    #[serde(skip)]
    decimals: Option<i32>,
}

impl FloatRange {
    /// A range from `start` to `end` inclusive; refused when a bound is not finite, when it is
    /// empty, or when `step` is not positive.
    pub fn new(parameter: &str, start: f64, end: f64, step: f64) -> Result<Self, BacktestError> {
        let invalid = |reason| BacktestError::InvalidRange {
            parameter: parameter.to_owned(),
            text: format!("{start}..{end}:{step}"),
            reason,
        };
        if !(start.is_finite() && end.is_finite() && step.is_finite()) {
            return Err(invalid("the bounds and the step must be finite numbers"));
        }
        if step <= 0.0 {
            return Err(invalid("the step must be positive"));
        }
        if start > end {
            return Err(invalid("the start must not be after the end"));
        }
        // The 1e-9 absorbs the rounding of the division, so `end` itself counts when it is
        // a whole number of steps away. `as` saturates: huge counts are caught by the grid cap.
        let count = ((end - start) / step + 1e-9).floor() as usize + 1;
        let decimals = decimals_of(start).max(decimals_of(step));
        Ok(Self {
            start,
            end,
            step,
            count,
            decimals: (decimals <= 12).then_some(decimals),
        })
    }

    /// Parses `start..end[:step]` or a single value; errors name `parameter`.
    pub fn parse(parameter: &str, text: &str) -> Result<Self, BacktestError> {
        let invalid = |reason| BacktestError::InvalidRange {
            parameter: parameter.to_owned(),
            text: text.to_owned(),
            reason,
        };
        let number = |part: &str| {
            part.trim()
                .parse::<f64>()
                .map_err(|_| invalid("expected start..end[:step] of numbers"))
        };
        let (span, step) = match text.split_once(':') {
            Some((span, step)) => (span, number(step)?),
            None => (text, 1.0),
        };
        let (start, end) = match span.split_once("..") {
            Some((start, end)) => (number(start)?, number(end)?),
            None => {
                let value = number(span)?;
                (value, value)
            }
        };
        Self::new(parameter, start, end, step).map_err(|error| match error {
            BacktestError::InvalidRange { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a range has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The value at `index` (below [`Self::len`]), computed rather than accumulated so no
    /// rounding builds up along the range.
    pub fn value_at(&self, index: usize) -> f64 {
        let value = self.start + index as f64 * self.step;
        match self.decimals {
            Some(decimals) => {
                let scale = 10_f64.powi(decimals);
                (value * scale).round() / scale
            }
            None => value,
        }
    }

    /// The values of the range, in increasing order.
    pub fn values(&self) -> impl Iterator<Item = f64> + use<> {
        let range = *self;
        (0..range.count).map(move |index| range.value_at(index))
    }

    /// The first value.
    pub fn start(&self) -> f64 {
        self.start
    }

    /// The inclusive upper bound.
    pub fn end(&self) -> f64 {
        self.end
    }

    /// The distance between consecutive values.
    pub fn step(&self) -> f64 {
        self.step
    }
}

/// Digits after the decimal point in the shortest text that reads back as `value`.
fn decimals_of(value: f64) -> i32 {
    let text = value.to_string();
    text.split_once('.').map_or(0, |(_, fraction)| {
        i32::try_from(fraction.len()).unwrap_or(i32::MAX)
    })
}

/// The values one parameter takes in a grid: whole numbers or real numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GridRange {
    /// For integer parameters (and float ones given whole numbers).
    Integer(ParamRange),
    /// For float parameters.
    Float(FloatRange),
}

impl GridRange {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::Integer(range) => range.len(),
            Self::Float(range) => range.len(),
        }
    }

    /// Always false: a range has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The value at `index` (below [`Self::len`]).
    pub fn value_at(&self, index: usize) -> ParamValue {
        match self {
            Self::Integer(range) => {
                ParamValue::Integer(i64::try_from(range.value_at(index)).unwrap_or(i64::MAX))
            }
            Self::Float(range) => ParamValue::Float(range.value_at(index)),
        }
    }

    /// The values of the range, in increasing order.
    pub fn values(&self) -> impl Iterator<Item = ParamValue> + use<> {
        let range = *self;
        (0..range.len()).map(move |index| range.value_at(index))
    }

    /// The whole-number range, if this is one (what [`crate::SmaCrossGrid`] takes).
    pub fn as_integer(&self) -> Option<ParamRange> {
        match self {
            Self::Integer(range) => Some(*range),
            Self::Float(_) => None,
        }
    }
}

impl fmt::Display for GridRange {
    /// `start..end:step`, which parses back to the same range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(range) => write!(f, "{}..{}:{}", range.start, range.end, range.step),
            Self::Float(range) => write!(f, "{}..{}:{}", range.start, range.end, range.step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "period",
            description: "window",
            default: "20",
            default_range: "10..30",
            kind: ParamKind::Integer { min: 2, max: 100 },
        },
        ParamSpec {
            name: "k",
            description: "band width",
            default: "2",
            default_range: "1..3:0.5",
            kind: ParamKind::Float { min: 0.5, max: 4.0 },
        },
    ];

    fn parse(given: &[(&str, &str)]) -> Result<Params, BacktestError> {
        Params::parse("test", SPECS, given)
    }

    #[test]
    fn valid_parameters_parse_to_their_types() {
        let params = parse(&[("k", "2.5"), ("period", "20")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(params.integer("period"), Some(20));
        assert_eq!(params.float("k"), Some(2.5));
        assert_eq!(params.values()[0].0, "period", "spec order is kept");
    }

    #[test]
    fn every_bad_parameter_is_named_in_its_error() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("period", "20"), ("k", "2"), ("window", "3")], "'window'"),
            (&[("period", "1"), ("k", "2")], "'period'"),
            (&[("period", "20"), ("k", "9")], "'k'"),
            (&[("period", "twenty"), ("k", "2")], "'period'"),
            (&[("period", "20"), ("k", "NaN")], "'k'"),
            (
                &[("period", "20"), ("period", "21"), ("k", "2")],
                "'period'",
            ),
        ];
        for (given, named) in cases {
            let message = parse(given)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                message.contains(named),
                "{given:?}: '{message}' should name {named}"
            );
        }
    }

    #[test]
    fn a_parameter_not_given_takes_its_default() {
        let params = parse(&[("period", "30")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(params.float("k"), Some(2.0));
        assert_eq!(params.integer("period"), Some(30));
    }

    #[test]
    fn assignments_split_at_the_first_equals_sign() {
        assert_eq!(parse_assignment(" fast = 20 "), Ok(("fast", "20")));
        assert!(parse_assignment("fast").is_err());
        assert!(parse_assignment("=20").is_err());
    }

    #[test]
    fn ranges_parse_with_and_without_a_step() {
        let range = ParamRange::parse("slow", "10..300:2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(range.values().count(), 146);
        assert_eq!(range.values().last(), Some(300));
        let single = ParamRange::parse("fast", "20").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(single.values().collect::<Vec<_>>(), vec![20]);
        for bad in ["10..5", "5..10:0", "a..b", "5..", ""] {
            let message = ParamRange::parse("slow", bad).err().map(|e| e.to_string());
            assert!(
                message.as_deref().is_some_and(|m| m.contains("'slow'")),
                "{bad}: {message:?}"
            );
        }
    }

    #[test]
    fn float_ranges_give_the_values_typed_without_rounding_noise() {
        let range = FloatRange::parse("k", "1.5..3.0:0.5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(range.values().collect::<Vec<_>>(), vec![1.5, 2.0, 2.5, 3.0]);
        let tenths = FloatRange::parse("k", "0.1..0.3:0.1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tenths.values().collect::<Vec<_>>(), vec![0.1, 0.2, 0.3]);
        let default_step = FloatRange::parse("lower", "20..22").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(default_step.len(), 3);
        let single = FloatRange::parse("k", "2.5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(single.values().collect::<Vec<_>>(), vec![2.5]);
        for bad in [
            "3..1.5",
            "1..2:0",
            "1..2:-0.5",
            "a..b",
            "NaN..2",
            "1..inf",
            "",
        ] {
            let message = FloatRange::parse("k", bad).err().map(|e| e.to_string());
            assert!(
                message.as_deref().is_some_and(|m| m.contains("'k'")),
                "{bad}: {message:?}"
            );
        }
    }

    #[test]
    fn grid_ranges_are_checked_against_the_parameter_spec() {
        let period = SPECS[0]
            .parse_range("5..30:5")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(period.len(), 6);
        assert_eq!(period.value_at(5), ParamValue::Integer(30));
        let k = SPECS[1]
            .parse_range("1..2:0.5")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.values().last(), Some(ParamValue::Float(2.0)));
        assert_eq!(k.to_string(), "1..2:0.5");
        for (spec, bad) in [
            (SPECS[0], "1..30"),
            (SPECS[0], "5..101"),
            (SPECS[0], "5.5..8"),
            (SPECS[1], "0.1..2"),
            (SPECS[1], "1..9"),
        ] {
            let message = spec.parse_range(bad).err().map(|e| e.to_string());
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.contains(&format!("'{}'", spec.name))),
                "{bad}: {message:?}"
            );
        }
    }
}
