//! Wiring: the store, the upstreams and the cache built from the resolved settings, the one
//! place that names concrete stores and providers.

use std::sync::Arc;

use chrono::NaiveDate;
use marketcache_cache::{LateGate, MarketDataCache, StoreGate};
use marketcache_domain::{
    BarStore, Clock, DateRange, PriceSource, RequestGate, StoreError, SystemClock,
};
use marketcache_store::ConnectOptions;
use marketcache_upstream::{CsvSource, SyntheticSource};

use crate::settings::{ProviderChoice, Settings};
use crate::usage::UsageError;

/// Why the store, a provider or the cache could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A setting the user has to change (a missing key, a folder that is not there).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The database could not be opened or brought up to date.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What opening returns.
pub type Result<T, E = OpenError> = std::result::Result<T, E>;

/// `start..=end`, with the defaults filled in; an inverted range is a usage error.
pub fn requested_range(
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    clock: &dyn Clock,
) -> Result<DateRange, UsageError> {
    DateRange::requested(start, end, clock.today_in_new_york())
        .map_err(|e| UsageError(e.to_string()))
}

/// Opens the configured store as it is, with the configured pool size.
pub async fn open_store_unmigrated(settings: &Settings) -> Result<Arc<dyn BarStore>> {
    let options = ConnectOptions {
        pool_size: settings
            .pool_size
            .unwrap_or(marketcache_store::DEFAULT_POOL_SIZE),
        ..ConnectOptions::default()
    };
    Ok(marketcache_store::connect_with(&settings.database_url, options).await?)
}

/// Opens the configured store, bringing an empty or old schema up to date (and saying so once).
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn BarStore>> {
    let store = open_store_unmigrated(settings).await?;
    let steps = store.migrate().await?;
    if steps.iter().any(|step| step.applied_now) {
        let version = steps.iter().map(|step| step.version).max().unwrap_or(0);
        eprintln!(
            "Initialised the database {} (schema version {version})",
            store.describe()
        );
    }
    Ok(store)
}

/// One configured upstream; an HTTP provider counts its budgets through `gate`.
pub fn build_source(
    settings: &Settings,
    choice: ProviderChoice,
    clock: Arc<dyn Clock>,
    gate: Option<Arc<dyn RequestGate>>,
) -> Result<Arc<dyn PriceSource>> {
    Ok(match choice {
        ProviderChoice::Synthetic => Arc::new(SyntheticSource::new(settings.synthetic, clock)),
        ProviderChoice::Csv => {
            let folder = settings.csv_dir.as_deref().ok_or_else(|| {
                UsageError(
                    "csv provider needs a folder: set --csv-dir or MARKETCACHE_CSV_DIR".to_string(),
                )
            })?;
            Arc::new(CsvSource::new(folder).map_err(|e| UsageError(e.to_string()))?)
        }
        // A missing key is the user's to fix: a usage error naming the variable.
        ProviderChoice::Upstream(kind) => marketcache_upstream::build_gated(
            kind.name(),
            &|name: &str| settings.upstream_value(name),
            clock,
            marketcache_upstream::HttpPolicy {
                request_timeout: settings.upstream_timeout,
                ..marketcache_upstream::HttpPolicy::default()
            },
            gate,
        )
        .map_err(|e| UsageError(e.to_string()))?,
    })
}

/// The cache over the configured store alone, for the commands that never ask upstream
/// (stats, compact, clear): they work whatever provider is configured.
pub async fn open_store_cache(settings: &Settings) -> Result<MarketDataCache> {
    let store = open_store(settings).await?;
    Ok(MarketDataCache::over_store(store, Arc::new(SystemClock)))
}

/// The cache over the configured store and providers, with the system clock.
pub async fn open_cache(settings: &Settings) -> Result<MarketDataCache> {
    open_cache_with_clock(settings, Arc::new(SystemClock)).await
}

/// [`open_cache`] with "today" from `clock`, for callers that need the cache's clock too.
pub async fn open_cache_with_clock(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<MarketDataCache> {
    // A provider that cannot be built (a missing key) is a usage error, found before the
    // database is opened or created; the gate they pass is known once it is open.
    let gate = Arc::new(LateGate::default());
    let build = |choice: ProviderChoice| {
        let gate: Arc<dyn RequestGate> = gate.clone();
        build_source(settings, choice, clock.clone(), Some(gate))
    };
    let source = build(settings.provider)?;
    let fallbacks = settings
        .fallbacks
        .iter()
        .map(|choice| build(*choice))
        .collect::<Result<Vec<_>>>()?;
    let store = open_store(settings).await?;
    // Every process sharing the database spends one budget per provider.
    gate.open(StoreGate::new(store.clone(), clock.clone()));
    Ok(MarketDataCache::new(store, source, clock)
        .with_fallbacks(fallbacks)
        .with_freshness(settings.freshness))
}
