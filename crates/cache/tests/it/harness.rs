//! A cache over a fresh store of either backend, a counting synthetic upstream and a fixed clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use marketcache_cache::MarketDataCache;
use marketcache_domain::{DateRange, FixedClock, Symbol};
pub use marketcache_testkit::Backend;
use marketcache_testkit::CountingSource;
use marketcache_upstream::{SyntheticConfig, SyntheticSource};

/// A cache wired to a counting synthetic upstream (182-day span, 4 at once).
pub struct Harness {
    pub backend: Backend,
    pub cache: Arc<MarketDataCache>,
    pub upstream: Arc<CountingSource>,
    pub truth: Arc<SyntheticSource>,
    pub clock: Arc<FixedClock>,
}

impl Harness {
    pub fn new(backend: Backend) -> Self {
        Self::with_latency(backend, Duration::ZERO)
    }

    pub fn with_latency(backend: Backend, latency: Duration) -> Self {
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0)
                .single()
                .unwrap_or_default(),
        ));
        let config = SyntheticConfig {
            latency,
            ..SyntheticConfig::default()
        };
        let truth = Arc::new(SyntheticSource::new(config, clock.clone()));
        let upstream = Arc::new(CountingSource::as_market_data(truth.clone()));
        let cache = Arc::new(MarketDataCache::new(
            backend.store(),
            upstream.clone(),
            clock.clone(),
        ));
        Self {
            backend,
            cache,
            upstream,
            truth,
            clock,
        }
    }
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
}

pub fn range(start: NaiveDate, end: NaiveDate) -> DateRange {
    DateRange::new(start, end).unwrap_or_else(|e| panic!("{e}"))
}

pub fn symbol(name: &str) -> Symbol {
    Symbol::parse(name).unwrap_or_else(|e| panic!("{e}"))
}

/// AAPL 1990-01-01..2025-12-31: 35 years, a typical "analyze AAPL" request.
pub fn thirty_five_years() -> DateRange {
    range(date(1990, 1, 1), date(2025, 12, 31))
}
