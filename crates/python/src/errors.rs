//! Our errors as the package's Python exceptions (defined in `marketcache/_errors.py`, so they
//! can also subclass Python's own: `InvalidInput` is a `ValueError`). Every message carries the
//! error's whole cause chain; none carries a secret (the errors below never hold one).

use marketcache_backtest::BacktestError;
use marketcache_cache::CacheError;
use marketcache_config::{OpenError, UsageError};
use marketcache_domain::error::error_chain;
use marketcache_domain::{DomainError, SourceError, StoreError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The exception classes of `marketcache._errors`, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input from the caller: nothing was opened or written.
    InvalidInput,
    /// The provider does not know the symbol.
    UnknownSymbol,
    /// The provider throttles us, or its request budget is spent.
    RateLimited,
    /// The provider or the database could not be reached.
    Unreachable,
    /// The provider answered, but with an error or data we could not read.
    ProviderError,
    /// The database failed.
    DatabaseError,
    /// The range holds no bar to analyse.
    NoData,
    /// Anything else.
    Error,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Self::InvalidInput => "InvalidInput",
            Self::UnknownSymbol => "UnknownSymbol",
            Self::RateLimited => "RateLimited",
            Self::Unreachable => "Unreachable",
            Self::ProviderError => "ProviderError",
            Self::DatabaseError => "DatabaseError",
            Self::NoData => "NoData",
            Self::Error => "Error",
        }
    }
}

/// An error on its way to Python: its kind and its whole message.
#[derive(Debug)]
pub struct Raised {
    kind: Kind,
    message: String,
}

impl Raised {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Bad input for `field`, with the rule it broke.
    pub fn invalid(field: &str, rule: impl std::fmt::Display) -> Self {
        Self::new(Kind::InvalidInput, format!("{field}: {rule}"))
    }
}

fn source_kind(error: &SourceError) -> Kind {
    match error {
        SourceError::NotFound { .. } => Kind::UnknownSymbol,
        SourceError::RateLimited { .. } | SourceError::BudgetSpent { .. } => Kind::RateLimited,
        SourceError::Transport { .. } => Kind::Unreachable,
        _ => Kind::ProviderError,
    }
}

fn store_kind(error: &StoreError) -> Kind {
    match error {
        StoreError::Unreachable { .. } => Kind::Unreachable,
        _ => Kind::DatabaseError,
    }
}

impl From<CacheError> for Raised {
    fn from(error: CacheError) -> Self {
        let kind = match &error {
            CacheError::Source(source) => source_kind(source),
            CacheError::Store(store) => store_kind(store),
            CacheError::NoBars { .. } => Kind::NoData,
            _ => Kind::Error,
        };
        Self::new(kind, error_chain(&error))
    }
}

impl From<OpenError> for Raised {
    fn from(error: OpenError) -> Self {
        let kind = match &error {
            OpenError::Usage(_) => Kind::InvalidInput,
            OpenError::Store(store) => store_kind(store),
        };
        Self::new(kind, error_chain(&error))
    }
}

impl From<UsageError> for Raised {
    fn from(error: UsageError) -> Self {
        Self::new(Kind::InvalidInput, error.to_string())
    }
}

impl From<DomainError> for Raised {
    fn from(error: DomainError) -> Self {
        Self::new(Kind::InvalidInput, error_chain(&error))
    }
}

impl From<BacktestError> for Raised {
    fn from(error: BacktestError) -> Self {
        Self::new(Kind::InvalidInput, error_chain(&error))
    }
}

impl From<Raised> for PyErr {
    fn from(raised: Raised) -> Self {
        Python::attach(|py| {
            let class = py
                .import("marketcache._errors")
                .and_then(|module| module.getattr(raised.kind.class_name()))
                .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from));
            match class {
                Ok(class) => PyErr::from_type(class, raised.message),
                Err(missing) => missing,
            }
        })
    }
}
