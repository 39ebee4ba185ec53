//! Errors of the cache's use cases, keeping the store's or provider's error as the source.

use marketcache_domain::{DateRange, SourceError, StoreError, Symbol};
use thiserror::Error;

/// Why a use case failed.
#[derive(Debug, Error)]
pub enum CacheError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The caller asked the read to stop (a cancelled warm); what was stored stays.
    #[error("stopped on request")]
    Stopped,
    /// Another process has been filling the symbol's gaps and stored nothing for too long (it
    /// may be stuck behind a throttled provider); nothing was asked upstream by this one.
    #[error(
        "another process is filling {symbol} and has stored nothing for {} s; try again later",
        waited.as_secs()
    )]
    FillStalled {
        symbol: Symbol,
        waited: std::time::Duration,
    },
    /// The range holds no bar of the symbol: nothing to analyse.
    #[error("no bars for {symbol} between {} and {}", range.start(), range.end())]
    NoBars { symbol: Symbol, range: DateRange },
}

impl CacheError {
    /// True when the provider could not be reached or refused to answer now (network down,
    /// rate limit): the cache may still hold what is wanted.
    pub fn is_upstream_unavailable(&self) -> bool {
        matches!(
            self,
            CacheError::Source(
                SourceError::Transport { .. }
                    | SourceError::RateLimited { .. }
                    | SourceError::BudgetSpent { .. }
            )
        )
    }

    /// True when the provider does not know the symbol.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CacheError::Source(SourceError::NotFound { .. }))
    }
}
