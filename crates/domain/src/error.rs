//! Validation errors of the domain's checked constructors.

use chrono::NaiveDate;
use thiserror::Error;

/// Why a value from outside was rejected; each variant names the field and the rule.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DomainError {
    #[error(
        "symbol '{input}' is invalid: must be 1-20 characters of A-Z, 0-9, '.', '^', '=' or '-'"
    )]
    InvalidSymbol { input: String },
    #[error("{field} '{input}' is invalid: dates are YYYY-MM-DD")]
    InvalidDate { field: &'static str, input: String },
    /// Written as `YYYY-MM-DD` but not on the calendar (February 30th, month 13): the shape was
    /// right, so repeating the format would not tell the user what to fix.
    #[error("{field} '{input}' is not a real date: {reason}")]
    NonexistentDate {
        field: &'static str,
        input: String,
        reason: String,
    },
    #[error("{field} {date} is out of range: dates must be between 1900-01-01 and 2199-12-31")]
    DateOutOfRange {
        field: &'static str,
        date: NaiveDate,
    },
    #[error("start {start} is after end {end}: start must be on or before end")]
    InvertedRange { start: NaiveDate, end: NaiveDate },
    #[error("bar for {date} is invalid: {rule}")]
    InvalidBar { date: NaiveDate, rule: &'static str },
}

/// An error and each of its sources, `: `-separated (as anyhow's `{:#}` shows a chain), for a
/// message or a log line that must keep the cause ("database error while writing bars:
/// database or disk is full").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
