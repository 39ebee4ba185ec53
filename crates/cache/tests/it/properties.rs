//! Property: whatever sequence of gets, forced refreshes and clears runs, over symbols of every
//! calendar kind (the NYSE's, a weekday market's, a crypto pair's, a currency pair's), every
//! response equals the synthetic ground truth, a second read of a range asks upstream for
//! nothing, no (symbol, date) is stored twice, and the ledger never claims a trading day
//! without a bar unless the provider had none.

use chrono::{Duration, NaiveDate};
use marketcache_cache::GetOptions;
use marketcache_domain::Exchange;
use marketcache_domain::range::union;
use proptest::prelude::*;

use crate::harness::{Backend, Harness, date, range, symbol};

const SYMBOLS: [&str; 6] = ["AAPL", "ARM", "TSLA", "UNIR.MI", "BTC-USD", "EURUSD=X"];

#[derive(Debug, Clone)]
enum Operation {
    Get {
        symbol: usize,
        start: i64,
        days: i64,
        force_refresh: bool,
    },
    Clear {
        symbol: Option<usize>,
        before: Option<i64>,
    },
}

fn day(offset: i64) -> NaiveDate {
    date(2018, 1, 1) + Duration::days(offset)
}

/// Days from 2018-01-01 up to the harness's "today", 2026-11-25, so the settling window is exercised.
const DOMAIN_DAYS: i64 = 3250;

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => (0..SYMBOLS.len(), 0..DOMAIN_DAYS, 0i64..900, proptest::bool::weighted(0.2))
            .prop_map(|(symbol, start, days, force_refresh)| Operation::Get { symbol, start, days, force_refresh }),
        1 => (proptest::option::of(0..SYMBOLS.len()), proptest::option::of(0..DOMAIN_DAYS))
            .prop_map(|(symbol, before)| Operation::Clear { symbol, before }),
    ]
}

async fn check_sequence(backend: Backend, operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let harness = Harness::new(backend);
    for operation in operations {
        match operation {
            Operation::Get {
                symbol: index,
                start,
                days,
                force_refresh,
            } => {
                let requested = range(
                    day(start),
                    day((start + days).min(DOMAIN_DAYS)).max(day(start)),
                );
                let options = GetOptions {
                    force_refresh,
                    offline: false,
                    ..GetOptions::DEFAULT
                };
                let response = harness
                    .cache
                    .get_bars(&symbol(SYMBOLS[index]), requested, options)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(
                    &response.bars,
                    &harness
                        .truth
                        .bars_between(&symbol(SYMBOLS[index]), requested)
                );
                let asked_before = harness.upstream.count();
                let again = GetOptions {
                    offline: false,
                    ..GetOptions::DEFAULT
                };
                let repeated = harness
                    .cache
                    .get_bars(&symbol(SYMBOLS[index]), requested, again)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&repeated.bars, &response.bars);
                prop_assert_eq!(
                    harness.upstream.count(),
                    asked_before,
                    "a second read of {} {} asked upstream",
                    SYMBOLS[index],
                    requested
                );
            }
            Operation::Clear {
                symbol: index,
                before,
            } => {
                let name = index.map(|i| symbol(SYMBOLS[i]));
                harness
                    .cache
                    .clear(name.as_ref(), before.map(day))
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
    }
    let duplicates = harness
        .backend
        .query_text(
            "SELECT symbol, date FROM market_data_cache GROUP BY symbol, date HAVING COUNT(*) > 1",
        )
        .await;
    prop_assert!(duplicates.is_empty(), "duplicates: {:?}", duplicates);
    for name in SYMBOLS {
        let ticker = symbol(name);
        let spans = harness
            .backend
            .store()
            .read_coverage(&ticker)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for covered in union(spans.into_iter().map(|span| span.range)) {
            let stored = harness
                .backend
                .store()
                .read_bars(&ticker, covered)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let truth = harness.truth.bars_between(&ticker, covered);
            let calendar = Exchange::of(&ticker).calendar;
            for trading_day in calendar.trading_days(covered) {
                let has_bar = stored.iter().any(|bar| bar.date == trading_day);
                let provider_has_bar = truth.iter().any(|bar| bar.date == trading_day);
                prop_assert_eq!(
                    has_bar,
                    provider_has_bar,
                    "{} on {} in covered {}",
                    name,
                    trading_day,
                    covered
                );
            }
        }
    }
    Ok(())
}

fn run_cases(make_backend: fn(&tokio::runtime::Runtime) -> Option<Backend>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let config = ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(operations in proptest::collection::vec(operation(), 1..10))| {
        let Some(backend) = make_backend(&runtime) else { return Ok(()) };
        runtime.block_on(check_sequence(backend, operations))?;
    });
}

#[test]
fn sqlite_random_operations_keep_the_cache_true_to_the_upstream() {
    run_cases(|runtime| Some(runtime.block_on(Backend::sqlite())));
}

#[test]
fn postgres_random_operations_keep_the_cache_true_to_the_upstream() {
    run_cases(|runtime| runtime.block_on(Backend::postgres()));
}
