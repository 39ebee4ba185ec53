//! What an upstream answer carries besides bars: splits reported after a range was cached,
//! bars fetched before they are final, and rows that failed the bar checks.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::Exchange;
use marketcache_domain::{
    Adjustment, Bar, Clock, CorporateAction, CorporateActionKind, DateRange, FetchedBars,
    FixedClock, PriceSource, RejectedRow, SourceError, SourceLimits, Symbol,
};
use marketcache_testkit::CountingSource;
use marketcache_upstream::{SyntheticConfig, SyntheticSource};

use crate::harness::{Backend, date, range, symbol};
use marketcache_testkit::on_both_backends;

/// An upstream scripted from the synthetic series: a split on `split_date` (raw prices after
/// it divided by the ratio, reported with every answer that contains the ex-date), a live
/// last bar while its session is not final, and rejected rows in every answer.
struct ScriptedSource {
    truth: SyntheticSource,
    clock: Arc<FixedClock>,
    split: Option<(NaiveDate, f64)>,
    rejected_per_answer: usize,
}

impl ScriptedSource {
    fn new(clock: Arc<FixedClock>) -> Self {
        let publishes_everything = Arc::new(FixedClock::new(at(2100, 1, 1, 0)));
        Self {
            truth: SyntheticSource::new(SyntheticConfig::default(), publishes_everything),
            clock,
            split: None,
            rejected_per_answer: 0,
        }
    }

    /// The raw bar of `truth` as traded: divided by the split ratio from its ex-date, and
    /// 1% lower while the session is not final.
    fn raw(&self, bar: &Bar) -> Bar {
        let ratio = match self.split {
            Some((ex_date, ratio)) if bar.date >= ex_date => ratio,
            _ => 1.0,
        };
        let live = if self.clock.now() < Exchange::NYSE.bar_final_at(bar.date) {
            0.99
        } else {
            1.0
        };
        let close = bar.close / ratio * live;
        Bar::try_new(
            bar.date,
            bar.open / ratio,
            (bar.high / ratio).max(close),
            (bar.low / ratio).min(close),
            close,
            (bar.volume as f64 * ratio) as u64,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[async_trait]
impl PriceSource for ScriptedSource {
    fn name(&self) -> &str {
        "scripted"
    }

    fn limits(&self) -> SourceLimits {
        SourceLimits::unmetered(182, 2)
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let today = self.clock.today_in_new_york();
        let bars: Vec<Bar> = self
            .truth
            .bars_between(symbol, range)
            .iter()
            .filter(|bar| bar.date <= today)
            .map(|bar| self.raw(bar))
            .collect();
        let actions = self
            .split
            .filter(|(ex_date, _)| range.contains(*ex_date))
            .map(|(ex_date, ratio)| CorporateAction {
                ex_date,
                kind: CorporateActionKind::Split { ratio },
            })
            .into_iter()
            .collect();
        let rejected = (0..self.rejected_per_answer)
            .map(|_| RejectedRow {
                date: Some(range.start()),
                reason: "low above high".to_string(),
            })
            .collect();
        Ok(FetchedBars {
            bars,
            actions,
            rejected,
            provisional: Vec::new(),
            ..FetchedBars::default()
        })
    }
}

fn at(y: i32, m: u32, d: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, hour, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad instant"))
}

fn cache_over(
    backend: &Backend,
    source: ScriptedSource,
    clock: Arc<FixedClock>,
) -> (MarketDataCache, Arc<CountingSource>) {
    let upstream = Arc::new(CountingSource::new(Arc::new(source)));
    let cache = MarketDataCache::new(backend.store(), upstream.clone(), clock);
    (cache, upstream)
}

async fn get(cache: &MarketDataCache, requested: DateRange, options: GetOptions) -> Vec<Bar> {
    cache
        .get_bars(&symbol("AAPL"), requested, options)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .bars
}

const RAW: GetOptions = GetOptions {
    adjust: Adjustment::None,
    ..GetOptions::DEFAULT
};

async fn a_split_reported_after_a_range_was_cached_re_bases_it_without_a_download(
    backend: Backend,
) {
    let clock = Arc::new(FixedClock::new(at(2026, 11, 25, 18)));
    let split_day = date(2024, 6, 3);
    let mut source = ScriptedSource::new(clock.clone());
    source.split = Some((split_day, 4.0));
    let (cache, upstream) = cache_over(&backend, source, clock.clone());

    let before_split = range(date(2024, 1, 2), date(2024, 5, 31));
    let first = get(&cache, before_split, GetOptions::DEFAULT).await;
    assert_eq!(upstream.count(), 1);
    assert!(first.iter().all(|bar| bar.date < split_day));

    let whole = range(date(2024, 1, 2), date(2024, 8, 30));
    let adjusted = get(&cache, whole, GetOptions::DEFAULT).await;
    assert_eq!(
        upstream.count(),
        2,
        "only the new days are fetched: the split re-bases the cached ones at read time"
    );
    let worst_day = adjusted
        .windows(2)
        .map(|pair| pair[1].close / pair[0].close)
        .fold(f64::INFINITY, f64::min);
    assert!(
        worst_day > 0.8,
        "the adjusted series has no fake fall at the split (worst day {worst_day})"
    );
    let raw = get(&cache, whole, RAW).await;
    let at_split = raw.partition_point(|bar| bar.date < split_day);
    let raw_jump = raw[at_split].close / raw[at_split - 1].close;
    assert!(raw_jump < 0.3, "raw prices keep the jump: {raw_jump}");
    assert_eq!(
        adjusted[at_split - 1].close * 4.0,
        raw[at_split - 1].close,
        "a bar before the split is divided by its ratio"
    );
    assert_eq!(adjusted[at_split - 1].volume, raw[at_split - 1].volume * 4);

    // A fresh full fetch of the same range into another database gives the same series.
    let other = Backend::sqlite().await;
    let mut fresh_source = ScriptedSource::new(clock.clone());
    fresh_source.split = Some((split_day, 4.0));
    let (fresh, _) = cache_over(&other, fresh_source, clock);
    assert_eq!(get(&fresh, whole, GetOptions::DEFAULT).await, adjusted);
}

async fn a_bar_fetched_before_it_is_final_is_provisional_and_fetched_again_once_final(
    backend: Backend,
) {
    // 20:00 UTC on 2025-06-10 is 16:00 in New York: the session just closed, not yet final.
    let clock = Arc::new(FixedClock::new(at(2025, 6, 10, 20)));
    let (cache, upstream) = cache_over(&backend, ScriptedSource::new(clock.clone()), clock.clone());
    let aapl = symbol("AAPL");
    let week = range(date(2025, 6, 2), date(2025, 6, 10));
    let live_day = date(2025, 6, 10);

    let response = cache
        .get_bars(&aapl, week, GetOptions::DEFAULT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.report.provisional_bars, 1);
    let live_close = response.bars.last().map(|bar| (bar.date, bar.close));
    assert_eq!(live_close.map(|(day, _)| day), Some(live_day));
    let closed_only = GetOptions {
        closed_only: true,
        ..GetOptions::DEFAULT
    };
    let settled = get(&cache, week, closed_only).await;
    assert_eq!(settled.len(), response.bars.len() - 1);
    assert!(settled.iter().all(|bar| bar.date < live_day));
    let stats = cache.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.symbols[0].provisional_bars, 1);
    // The stats name the day, after the covered days, for the coverage strips.
    assert_eq!(
        stats.symbols[0].provisional,
        vec![range(live_day, live_day)]
    );
    assert!(
        stats.symbols[0]
            .covered
            .iter()
            .all(|covered| covered.end() < live_day)
    );
    assert_eq!(
        upstream.count(),
        1,
        "reading the provisional bar back asks nothing more"
    );

    // After the close plus the publication lag, the next request asks for that day alone.
    clock.set(at(2025, 6, 11, 0));
    upstream.reset();
    let final_bars = get(&cache, week, GetOptions::DEFAULT).await;
    assert_eq!(upstream.requested_ranges(), vec![range(live_day, live_day)]);
    let final_close = final_bars.last().map(|bar| bar.close);
    assert!(
        final_close
            .zip(live_close)
            .is_some_and(|(final_close, (_, live))| final_close > live),
        "the final bar replaced the live one"
    );
    let stats = cache.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.symbols[0].provisional_bars, 0);
    assert!(stats.symbols[0].provisional.is_empty());
    assert_eq!(get(&cache, week, closed_only).await, final_bars);
    get(&cache, week, GetOptions::DEFAULT).await;
    assert_eq!(upstream.count(), 1, "a final day is covered for good");
}

async fn rows_that_fail_the_bar_checks_are_counted_and_never_stored(backend: Backend) {
    let clock = Arc::new(FixedClock::new(at(2026, 11, 25, 18)));
    let mut source = ScriptedSource::new(clock.clone());
    source.rejected_per_answer = 2;
    let (cache, upstream) = cache_over(&backend, source, clock);
    let year = range(date(2020, 1, 1), date(2020, 12, 31));
    let response = cache
        .get_bars(&symbol("AAPL"), year, GetOptions::DEFAULT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let requests = upstream.count();
    assert_eq!(requests, 3, "182-day chunks");
    assert_eq!(response.report.rejected_rows, 2 * requests);
    assert_eq!(response.bars.len(), 253, "trading days of 2020");
    let stats = cache.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.symbols[0].rejected_rows, 2 * requests as u64);
    assert_eq!(stats.total_bars, 253);
}

/// A provider that fails every request, the way a primary does for a symbol it lacks.
struct Failing {
    name: &'static str,
    not_found: bool,
}

#[async_trait]
impl PriceSource for Failing {
    fn name(&self) -> &str {
        self.name
    }

    fn limits(&self) -> SourceLimits {
        SourceLimits::unmetered(366, 2)
    }

    async fn fetch(&self, symbol: &Symbol, _range: DateRange) -> Result<FetchedBars, SourceError> {
        Err(if self.not_found {
            SourceError::NotFound {
                provider: self.name.to_string(),
                symbol: symbol.to_string(),
            }
        } else {
            SourceError::Transport {
                provider: self.name.to_string(),
                message: "connection refused after 4 attempts".to_string(),
            }
        })
    }
}

async fn the_next_provider_serves_what_the_first_fails_and_the_ledger_names_it(backend: Backend) {
    let clock = Arc::new(FixedClock::new(at(2026, 11, 25, 18)));
    let primary = Arc::new(CountingSource::new(Arc::new(Failing {
        name: "primary",
        not_found: true,
    })));
    let truth = Arc::new(SyntheticSource::new(
        SyntheticConfig::default(),
        clock.clone(),
    ));
    let fallback = Arc::new(CountingSource::as_market_data(truth.clone()));
    let cache = MarketDataCache::new(backend.store(), primary.clone(), clock.clone())
        .with_fallbacks(vec![fallback]);
    let aapl = symbol("AAPL");
    let year = range(date(2021, 1, 1), date(2021, 12, 31));
    let bars = get(&cache, year, RAW).await;
    assert_eq!(bars, truth.bars_between(&aapl, year));
    assert_eq!(primary.count(), 1, "one 366-day chunk asked of the primary");
    let ledger = backend
        .store()
        .read_coverage(&aapl)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!ledger.is_empty());
    assert!(ledger.iter().all(|span| span.provider == "synthetic"));
    get(&cache, year, RAW).await;
    assert_eq!(primary.count(), 1, "served ranges are not asked again");

    // When every provider fails, a real failure outranks "not found"; nothing is stored.
    let failing = MarketDataCache::new(
        backend.store(),
        Arc::new(Failing {
            name: "primary",
            not_found: true,
        }),
        clock.clone(),
    )
    .with_fallbacks(vec![Arc::new(Failing {
        name: "secondary",
        not_found: false,
    })]);
    let error = failing
        .get_bars(&symbol("MSFT"), year, RAW)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("secondary could not be reached"), "{error}");
    let all_unknown = MarketDataCache::new(
        backend.store(),
        Arc::new(Failing {
            name: "primary",
            not_found: true,
        }),
        clock,
    )
    .with_fallbacks(vec![Arc::new(Failing {
        name: "secondary",
        not_found: true,
    })]);
    let error = all_unknown.get_bars(&symbol("MSFT"), year, RAW).await.err();
    assert!(error.is_some_and(|e| e.is_not_found()));
    let stats = backend
        .store()
        .stats()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stats.symbols.iter().all(|s| s.symbol != "MSFT"));
}

on_both_backends!(
    the_next_provider_serves_what_the_first_fails_and_the_ledger_names_it,
    a_split_reported_after_a_range_was_cached_re_bases_it_without_a_download,
    a_bar_fetched_before_it_is_final_is_provisional_and_fetched_again_once_final,
    rows_that_fail_the_bar_checks_are_counted_and_never_stored,
);
