//! Bars for a backtest or a search: the read every analysis makes, whichever entry point asks
//! (the CLI's `backtest` and `optimize`, the API's `/api/backtest` and `/api/optimize`).

use marketcache_domain::{DateRange, Symbol};

use crate::{CacheError, FetchProgress, GetOptions, MarketDataCache, SymbolBars};

/// How a backtest or a search reads its bars through the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BarsPolicy {
    /// Never ask upstream: run on what is cached and report what is missing.
    pub offline: bool,
    /// Fail when upstream cannot be reached, even if the cache holds all but the last days.
    pub strict: bool,
}

/// Days before today whose bars a run may lack when the provider cannot be reached: the
/// latest sessions, which a cache filled a few days ago has not asked for yet.
pub const RECENT_DAYS_MAY_BE_MISSING: i64 = 7;

/// The split-adjusted bars of `symbol` over `range` through the cache; a range without bars is
/// an error, since nothing can be backtested on it. Unless `policy.strict`, a provider that
/// cannot be reached (network down, rate limit) is no failure when the cache holds the range
/// but for its last [`RECENT_DAYS_MAY_BE_MISSING`] days: the run uses what is cached, and the
/// report names the missing ranges and why. The upstream requests are reported to `progress`.
pub async fn bars_for_analysis(
    cache: &MarketDataCache,
    symbol: &Symbol,
    range: DateRange,
    policy: BarsPolicy,
    progress: &dyn FetchProgress,
) -> Result<SymbolBars, CacheError> {
    let options = GetOptions {
        offline: policy.offline,
        ..GetOptions::DEFAULT
    };
    let response = match cache
        .get_bars_with_progress(symbol, range, options, progress)
        .await
    {
        Ok(response) => response,
        Err(error) if !policy.strict && error.is_upstream_unavailable() => {
            cached_but_recent(cache, symbol, range, error).await?
        }
        Err(error) => return Err(error),
    };
    if response.bars.is_empty() {
        return Err(CacheError::NoBars {
            symbol: symbol.clone(),
            range,
        });
    }
    Ok(response)
}

/// What the cache holds of `range` when upstream failed with `error`: served if only recent
/// days are missing, else `error`.
async fn cached_but_recent(
    cache: &MarketDataCache,
    symbol: &Symbol,
    range: DateRange,
    error: CacheError,
) -> Result<SymbolBars, CacheError> {
    let offline = GetOptions {
        offline: true,
        ..GetOptions::DEFAULT
    };
    let mut cached = cache.get_bars(symbol, range, offline).await?;
    let recent = cache.today() - chrono::Duration::days(RECENT_DAYS_MAY_BE_MISSING);
    if cached.report.missing.iter().any(|gap| gap.start() < recent) {
        return Err(error);
    }
    tracing::warn!(%symbol, %error, "upstream unavailable: running on the cached bars");
    cached.report.upstream_unavailable = Some(error.to_string());
    Ok(cached)
}
