//! A deterministic, offline upstream: seeded random-walk bars on the trading days of each
//! symbol's market (the NYSE's for a plain ticker, every day for a crypto pair).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Duration as Days, NaiveDate};
use marketcache_domain::{
    Bar, Clock, Dataset, DateRange, Exchange, FetchedBars, PriceSource, SourceError, SourceLimits,
    Symbol,
};

/// Listing dates of the nine tickers `warm` warms by default, as their exchanges report them.
const KNOWN_LISTINGS: &[(&str, i32, u32, u32)] = &[
    ("AAPL", 1980, 12, 12),
    ("AMD", 1980, 3, 17),
    ("ARM", 2023, 9, 14),
    ("AVGO", 2009, 8, 6),
    ("GOOGL", 2004, 8, 19),
    ("MSFT", 1986, 3, 13),
    ("NVDA", 1999, 1, 22),
    ("TQQQ", 2010, 2, 11),
    ("TSLA", 2010, 6, 29),
];

/// Symbols with this prefix are unlisted on the synthetic exchange, to try not-found paths.
pub const UNLISTED_PREFIX: &str = "ZZ";

/// How the synthetic upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticConfig {
    /// Time each request takes before it answers.
    pub latency: Duration,
    /// Most calendar days one request may span (182: a typical free market-data API's limit).
    pub max_span_days: u32,
    /// Most requests in flight at once.
    pub concurrency: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            max_span_days: 182,
            concurrency: 4,
        }
    }
}

/// Deterministic bars per symbol: the same symbol and day always give the same bar, however
/// the days are requested. Bars exist for NYSE sessions from the listing date up to the last
/// session before today (New York), so today's bar is never published early.
pub struct SyntheticSource {
    config: SyntheticConfig,
    clock: Arc<dyn Clock>,
    series: Mutex<HashMap<Symbol, Arc<Vec<Bar>>>>,
}

impl std::fmt::Debug for SyntheticSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticSource")
            .field("config", &self.config)
            .finish()
    }
}

impl SyntheticSource {
    /// A synthetic upstream whose "today" comes from `clock`.
    pub fn new(config: SyntheticConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            clock,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// Every bar the source will ever publish for `symbol` up to `last_day`, generated once.
    fn full_series(&self, symbol: &Symbol, last_day: NaiveDate) -> Arc<Vec<Bar>> {
        if let Ok(cache) = self.series.lock()
            && let Some(series) = cache
                .get(symbol)
                .filter(|s| s.last().is_some_and(|b| b.date >= last_day))
        {
            return Arc::clone(series);
        }
        let series = Arc::new(generate_series(symbol, last_day));
        if let Ok(mut cache) = self.series.lock() {
            cache.insert(symbol.clone(), Arc::clone(&series));
        }
        series
    }

    /// The ground truth: the bars a request for `range` returns, without latency.
    pub fn bars_between(&self, symbol: &Symbol, range: DateRange) -> Vec<Bar> {
        let last_published = self.clock.today_in_new_york() - Days::days(1);
        let series = self.full_series(symbol, last_published);
        series
            .iter()
            .filter(|bar| range.contains(bar.date) && bar.date <= last_published)
            .copied()
            .collect()
    }
}

#[async_trait]
impl PriceSource for SyntheticSource {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Synthetic
    }

    fn limits(&self) -> SourceLimits {
        SourceLimits::unmetered(self.config.max_span_days, self.config.concurrency.max(1))
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        if !self.config.latency.is_zero() {
            wait_exactly(self.config.latency).await;
        }
        if symbol.as_str().starts_with(UNLISTED_PREFIX) {
            return Err(SourceError::NotFound {
                provider: self.name().to_string(),
                symbol: symbol.to_string(),
            });
        }
        Ok(FetchedBars {
            first_trade: Some(first_trade_date(symbol)),
            ..FetchedBars::from_bars(self.bars_between(symbol, range))
        })
    }
}

/// Waits `latency`, to within the operating system's timer (tens of microseconds): on the
/// blocking pool, since the runtime's timer ends each sleep on its next millisecond tick, which
/// would add about 1.3 ms to every simulated request and blur what the cache's scheduling costs.
async fn wait_exactly(latency: Duration) {
    // The blocking pool always runs the task; if the runtime shuts down, waiting ends anyway.
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(latency)).await;
}

/// The day the symbol's first bar is published: the real listing date for the nine tickers of
/// the default warm list, and a date between 1980 and 2019 derived from the name for others.
pub fn first_trade_date(symbol: &Symbol) -> NaiveDate {
    let known = KNOWN_LISTINGS
        .iter()
        .find(|(name, ..)| *name == symbol.as_str())
        .and_then(|(_, y, m, d)| NaiveDate::from_ymd_opt(*y, *m, *d));
    let base = NaiveDate::from_ymd_opt(1980, 1, 2).unwrap_or_default();
    let listed = known.unwrap_or_else(|| base + Days::days((seed_of(symbol) % (40 * 365)) as i64));
    // Listings happen on trading days.
    (0..10)
        .map(|offset| listed + Days::days(offset))
        .find(|d| Exchange::of(symbol).calendar.is_trading_day(*d))
        .unwrap_or(listed)
}

/// FNV-1a of the symbol: a stable seed that does not depend on Rust's hasher.
fn seed_of(symbol: &Symbol) -> u64 {
    symbol
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// SplitMix64: a tiny, well-known generator whose output is fixed forever for a seed, which a
/// library RNG does not promise across versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (sum of 12 uniforms minus 6).
    fn next_normal(&mut self) -> f64 {
        (0..12).map(|_| self.next_unit()).sum::<f64>() - 6.0
    }
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn generate_series(symbol: &Symbol, last_day: NaiveDate) -> Vec<Bar> {
    let first = first_trade_date(symbol);
    let Ok(range) = DateRange::new(first, last_day) else {
        return Vec::new();
    };
    let mut rng = SplitMix64(seed_of(symbol));
    let mut close = 5.0 + rng.next_unit() * 45.0;
    let daily_drift = 0.0004;
    let daily_volatility = 0.012 + rng.next_unit() * 0.02;
    let base_volume = 1_000_000.0 + rng.next_unit() * 50_000_000.0;
    let mut bars = Vec::with_capacity(usize::try_from(range.len_days()).unwrap_or(0));
    for date in Exchange::of(symbol).calendar.trading_days(range) {
        let open = round4((close * (1.0 + rng.next_normal() * daily_volatility * 0.2)).max(0.01));
        close =
            round4((open * (daily_drift + rng.next_normal() * daily_volatility).exp()).max(0.01));
        let high = round4(open.max(close) * (1.0 + rng.next_unit() * daily_volatility));
        let low =
            round4((open.min(close) * (1.0 - rng.next_unit() * daily_volatility)).max(0.0001));
        let volume = (base_volume * (0.4 + rng.next_unit() * 1.2)) as u64;
        if let Ok(bar) = Bar::try_new(
            date,
            open,
            high.max(open).max(close),
            low.min(open).min(close),
            close,
            volume,
        ) {
            bars.push(bar);
        }
    }
    bars
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use marketcache_domain::FixedClock;

    fn source() -> SyntheticSource {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 15, 12, 0, 0)
            .single()
            .unwrap_or_default();
        SyntheticSource::new(SyntheticConfig::default(), Arc::new(FixedClock::new(now)))
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[tokio::test]
    async fn the_same_day_gives_the_same_bar_however_it_is_asked() {
        let aapl = Symbol::parse("AAPL").unwrap_or_else(|e| panic!("{e}"));
        let whole =
            DateRange::new(date(2020, 1, 1), date(2020, 12, 31)).unwrap_or_else(|e| panic!("{e}"));
        let part =
            DateRange::new(date(2020, 6, 1), date(2020, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        let all = source()
            .fetch_daily_bars(&aapl, whole)
            .await
            .unwrap_or_default();
        let piece = source()
            .fetch_daily_bars(&aapl, part)
            .await
            .unwrap_or_default();
        assert_eq!(all.len(), 253);
        assert_eq!(piece.len(), 22);
        assert!(piece.iter().all(|bar| all.contains(bar)));
    }

    #[tokio::test]
    async fn bars_start_at_listing_and_stop_before_today() {
        let arm = Symbol::parse("ARM").unwrap_or_else(|e| panic!("{e}"));
        let range =
            DateRange::new(date(1990, 1, 1), date(2026, 1, 15)).unwrap_or_else(|e| panic!("{e}"));
        let bars = source()
            .fetch_daily_bars(&arm, range)
            .await
            .unwrap_or_default();
        assert_eq!(bars.first().map(|b| b.date), Some(date(2023, 9, 14)));
        assert_eq!(bars.last().map(|b| b.date), Some(date(2026, 1, 14)));
    }

    #[tokio::test]
    async fn unlisted_symbols_are_not_found() {
        let unknown = Symbol::parse("ZZNOPE").unwrap_or_else(|e| panic!("{e}"));
        let range =
            DateRange::new(date(2020, 1, 1), date(2020, 1, 31)).unwrap_or_else(|e| panic!("{e}"));
        let result = source().fetch_daily_bars(&unknown, range).await;
        assert!(matches!(result, Err(SourceError::NotFound { .. })));
    }
}
