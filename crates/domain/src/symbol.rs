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

    /// The symbol and data set a store key names (the reverse of [`Self::stored_as`]);
    /// `None` for a key no data set makes.
    pub fn from_stored_key(key: &str) -> Option<(Symbol, Dataset)> {
        let (name, dataset) = match key.split_once('@') {
            None => (key, Dataset::Market),
            Some((name, suffix)) => {
                let dataset = Dataset::ALL
                    .into_iter()
                    .find(|dataset| dataset.key_suffix() == Some(suffix))?;
                (name, dataset)
            }
        };
        let symbol = Self::parse(name)
            .ok()
            .filter(|symbol| symbol.as_str() == name)?;
        Some((symbol, dataset))
    }

    /// The key under which the store keeps this symbol's bars of `dataset`: the symbol itself
    /// for market data, `SYMBOL@name` for an offline data set. `@` is outside the alphabet
    /// [`Self::parse`] accepts, so no market symbol can ever name an offline data set's key.
    pub fn stored_as(&self, dataset: Dataset) -> Symbol {
        match dataset.key_suffix() {
            None => self.clone(),
            Some(suffix) => Self(format!("{}@{suffix}", self.0)),
        }
    }
}

/// Which family of sources a bar comes from. Bars of different data sets never serve each
/// other: made-up or file-loaded prices must never answer a request for market data, and the
/// other way round. Every market-data provider of raw prices shares [`Dataset::Market`], so one
/// provider's bars serve another's requests; prices a provider adjusted (Stooq) are a data set
/// of their own, so they never overwrite nor join a raw series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// Bars from market-data providers (Yahoo, Polygon, …).
    Market,
    /// Made-up bars (the offline demo and tests' provider).
    Synthetic,
    /// Bars loaded from the user's CSV files.
    Csv,
    /// Market data adjusted for splits and dividends by the provider (Stooq).
    Adjusted,
}

impl Dataset {
    /// Every data set, market data first.
    pub const ALL: [Dataset; 4] = [
        Dataset::Market,
        Dataset::Synthetic,
        Dataset::Csv,
        Dataset::Adjusted,
    ];

    /// What store keys of this data set end with after `@`; `None` for market data.
    pub fn key_suffix(self) -> Option<&'static str> {
        match self {
            Self::Market => None,
            Self::Synthetic => Some("synthetic"),
            Self::Csv => Some("csv"),
            Self::Adjusted => Some("adjusted"),
        }
    }

    /// A few words for people: what the prices of this data set are.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Market => "market data",
            Self::Synthetic => "made-up prices, not market data",
            Self::Csv => "prices from local CSV files",
            Self::Adjusted => "market data adjusted for splits and dividends by the provider",
        }
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
    fn offline_data_sets_have_keys_no_market_symbol_can_take() {
        let aapl = Symbol::parse("aapl").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(aapl.stored_as(Dataset::Market), aapl);
        let made_up = aapl.stored_as(Dataset::Synthetic);
        assert_eq!(made_up.as_str(), "AAPL@synthetic");
        assert_eq!(aapl.stored_as(Dataset::Csv).as_str(), "AAPL@csv");
        assert_eq!(aapl.stored_as(Dataset::Adjusted).as_str(), "AAPL@adjusted");
        assert!(Symbol::parse(made_up.as_str()).is_err());
    }

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
