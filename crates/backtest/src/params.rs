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
    /// Matches `(name, value)` pairs against `specs`: every parameter must be given exactly once,
    /// parse as its type and lie in its range.
    pub fn parse(
        strategy: &'static str,
        specs: &'static [ParamSpec],
        given: &[(&str, &str)],
    ) -> Result<Self, BacktestError> {
        let mut values: Vec<Option<ParamValue>> = vec![None; specs.len()];
        for (name, text) in given {
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
            values[position] = Some(specs[position].parse(text)?);
        }
        let values = specs
            .iter()
            .zip(values)
            .map(|(spec, value)| {
                value
                    .map(|value| (spec.name, value))
                    .ok_or(BacktestError::MissingParameter {
                        strategy,
                        parameter: spec.name,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { values })
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

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "period",
            description: "window",
            kind: ParamKind::Integer { min: 2, max: 100 },
        },
        ParamSpec {
            name: "k",
            description: "band width",
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
            (&[("period", "20")], "'k'"),
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
}
