//! The hot paths of the cache, on SQLite and PostgreSQL in one run: a cached read of AAPL
//! 1990–2025 (9,067 bars) through `get_bars` and straight from the store, bulk upserts, and the
//! store's read again with 200 symbols in the table.
//!
//! PostgreSQL benches use `MARKETCACHE_TEST_POSTGRES_URL` (a fresh database, dropped after)
//! and are skipped with a notice without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::{BarStore, DateRange, FetchedWrite, FixedClock, Symbol};
use marketcache_testkit::{CountingSource, fresh_postgres, fresh_sqlite};
use marketcache_upstream::{SyntheticConfig, SyntheticSource};

fn span() -> DateRange {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    DateRange::new(day(1990, 1, 1), day(2025, 12, 31)).unwrap_or_else(|e| panic!("{e}"))
}

fn bench_backend(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    store: Arc<dyn BarStore>,
) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0)
            .single()
            .unwrap_or_default(),
    ));
    // Stored as market data (keyed by the plain ticker), like a real provider's bars.
    let source = Arc::new(SyntheticSource::new(
        SyntheticConfig::default(),
        clock.clone(),
    ));
    let upstream = Arc::new(CountingSource::as_market_data(source.clone()));
    let cache = MarketDataCache::new(store.clone(), upstream, clock);
    let aapl = Symbol::parse("AAPL").unwrap_or_else(|e| panic!("{e}"));
    let warmed = runtime
        .block_on(cache.get_bars(&aapl, span(), GetOptions::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(warmed.bars.len(), 9067);

    let mut group = c.benchmark_group("get_bars_cached_aapl_1990_2025");
    group.throughput(Throughput::Elements(9067));
    group.bench_function(name, |b| {
        b.iter(|| {
            let response = runtime.block_on(cache.get_bars(&aapl, span(), GetOptions::default()));
            assert!(
                response.is_ok_and(|r| r.report.upstream_requests == 0 && r.bars.len() == 9067)
            );
        })
    });
    group.finish();

    // The database path alone, without the in-memory copy that get_bars keeps.
    let mut group = c.benchmark_group("store_read_bars_aapl_1990_2025");
    group.throughput(Throughput::Elements(9067));
    group.bench_function(name, |b| {
        b.iter(|| {
            let bars = runtime.block_on(store.read_bars(&aapl, span()));
            assert!(bars.is_ok_and(|bars| bars.len() == 9067));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("upsert_9067_bars");
    group.throughput(Throughput::Elements(9067));
    group.sample_size(20);
    let bars = source.bars_between(&aapl, span());
    let counter = AtomicUsize::new(0);
    group.bench_function(name, |b| {
        b.iter(|| {
            // A new symbol each time, so every row is an insert as in a cold warm.
            let symbol = Symbol::parse(&format!("B{}", counter.fetch_add(1, Ordering::Relaxed)))
                .unwrap_or_else(|e| panic!("{e}"));
            runtime
                .block_on(store.write_fetched(
                    &symbol,
                    &FetchedWrite::bars("synthetic", &bars, None),
                    Utc::now(),
                ))
                .unwrap_or_else(|e| panic!("{e}"));
        })
    });
    group.finish();

    // The same read with 200 symbols of 35 years in the table (1.8 million bars), loaded by a
    // warm, which refreshes PostgreSQL's planner statistics: the read must stay as fast.
    let others: Vec<Symbol> = (1..200)
        .filter_map(|index| Symbol::parse(&format!("T{index:03}")).ok())
        .collect();
    let warmed = runtime.block_on(cache.warm(&others, span(), &marketcache_cache::NoProgress));
    assert!(warmed.outcomes.iter().all(|outcome| outcome.result.is_ok()));
    let mut group = c.benchmark_group("store_read_bars_aapl_1990_2025_among_200_symbols");
    group.throughput(Throughput::Elements(9067));
    group.bench_function(name, |b| {
        b.iter(|| {
            let bars = runtime.block_on(store.read_bars(&aapl, span()));
            assert!(bars.is_ok_and(|bars| bars.len() == 9067));
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let sqlite = runtime.block_on(fresh_sqlite());
    bench_backend(c, &runtime, "sqlite", sqlite.store.clone());
    if let Some(postgres) = runtime.block_on(fresh_postgres()) {
        bench_backend(c, &runtime, "postgres", postgres.store.clone());
        runtime.block_on(async move { drop(postgres) });
    }
}

criterion_group!(read_write, benches);
criterion_main!(read_write);
