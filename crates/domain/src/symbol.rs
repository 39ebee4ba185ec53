//! Ticker symbols, upper-cased and restricted to a safe alphabet.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::DomainError;

/// A validated ticker: 1–20 characters of `A-Z 0-9 . ^ = -` after upper-casing.
///
/// The alphabet keeps symbols safe to use as file names (the CSV provider) and in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

impl Symbol {
    /// Parses user or provider input into a symbol, upper-casing it.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let upper = input.trim().to_ascii_uppercase();
        let valid_char =
            |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || ".^=-".contains(c);
        if upper.is_empty() || upper.len() > 20 || !upper.chars().all(valid_char) {
            return Err(DomainError::InvalidSymbol {
                input: input.to_string(),
            });
        }
        Ok(Self(upper))
    }

    /// The symbol as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_upper_cased() {
        assert_eq!(Symbol::parse("aapl").map(|s| s.0), Ok("AAPL".to_string()));
        assert_eq!(Symbol::parse("brk.b").map(|s| s.0), Ok("BRK.B".to_string()));
        assert_eq!(Symbol::parse("^gspc").map(|s| s.0), Ok("^GSPC".to_string()));
    }

    #[test]
    fn symbols_outside_the_alphabet_are_rejected() {
        for bad in [
            "",
            "../etc/passwd",
            "A B",
            "AAPL;DROP",
            "ABCDEFGHIJKLMNOPQRSTU",
            "a/b",
            "é",
        ] {
            assert!(Symbol::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
