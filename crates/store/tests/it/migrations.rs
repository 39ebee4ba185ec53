//! The migrator on both backends: idempotent, and safe when several processes start at once.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use marketcache_domain::{Bar, BarStore, CoverageSpan, Dataset, DateRange, FetchedWrite, Symbol};
use marketcache_store::SqliteStore;
use marketcache_testkit::fresh_postgres_unmigrated;

use marketcache_testkit::Backend;

/// Migrates one empty database from four stores at once (as four processes would), then again.
async fn migrate_concurrently_then_again(stores: Vec<Arc<dyn BarStore>>) {
    let runs: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    let mut applied_per_version = std::collections::BTreeMap::new();
    for run in runs {
        let steps = run
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            steps.iter().map(|s| s.version).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        );
        for step in steps {
            *applied_per_version.entry(step.version).or_insert(0) += usize::from(step.applied_now);
        }
    }
    assert!(
        applied_per_version.values().all(|count| *count == 1),
        "each step applied once: {applied_per_version:?}"
    );
    let again = stores[0].migrate().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(again.iter().all(|step| !step.applied_now));
    let stats = stores[0].stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.total_bars, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_apply_once_even_when_started_together() {
    let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = folder.path().join("fresh.sqlite");
    let mut stores: Vec<Arc<dyn BarStore>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(
            SqliteStore::open(&path)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        ));
    }
    migrate_concurrently_then_again(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_apply_once_even_when_started_together() {
    let Some(database) = fresh_postgres_unmigrated().await else {
        return;
    };
    let mut stores: Vec<Arc<dyn BarStore>> = vec![database.store.clone()];
    for _ in 0..3 {
        let store = marketcache_store::PostgresStore::connect(&database.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        stores.push(Arc::new(store));
    }
    migrate_concurrently_then_again(stores).await;
}

/// Writes one bar of `symbol` on each of `days` (of January 2024) as `provider`'s answer, with
/// the ledger entry covering them.
async fn write_answer(store: &dyn BarStore, symbol: &Symbol, provider: &str, days: &[u32]) {
    let day = |d: u32| NaiveDate::from_ymd_opt(2024, 1, d).unwrap_or_default();
    let bars: Vec<Bar> = days
        .iter()
        .map(|d| {
            Bar::try_new(day(*d), 10.0, 11.0, 9.0, 10.5, 100).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        panic!("no days")
    };
    let span = CoverageSpan {
        range: DateRange::new(day(*first), day(*last)).unwrap_or_else(|e| panic!("{e}")),
        provider: provider.to_string(),
        basis: marketcache_domain::PriceBasis::Raw,
        fetched_at: Utc::now(),
        bars: u32::try_from(bars.len()).unwrap_or(u32::MAX),
        rejected_rows: 0,
    };
    store
        .write_fetched(
            symbol,
            &FetchedWrite::bars(provider, &bars, Some(&span)),
            Utc::now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn stored_days(store: &dyn BarStore, key: &Symbol) -> usize {
    let year = DateRange::new(
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    store
        .read_bars(key, year)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .len()
}

/// A cache written before offline sources had keys of their own holds made-up bars under the
/// plain ticker; step 6 moves them out of the way of market data, or drops what it cannot
/// tell apart.
async fn offline_bars_of_an_older_cache_move_to_keys_of_their_own(backend: Backend) {
    let store = backend.store();
    let symbol = |name: &str| Symbol::parse(name).unwrap_or_else(|e| panic!("{e}"));
    let (aapl, msft, nvda, abc) = (
        symbol("AAPL"),
        symbol("MSFT"),
        symbol("NVDA"),
        symbol("ABC"),
    );
    write_answer(store.as_ref(), &aapl, "synthetic", &[2, 3, 4]).await;
    write_answer(store.as_ref(), &msft, "yahoo", &[2, 3]).await;
    write_answer(store.as_ref(), &nvda, "synthetic", &[2, 3]).await;
    write_answer(store.as_ref(), &nvda, "yahoo", &[4, 5]).await;
    write_answer(store.as_ref(), &abc, "csv", &[2]).await;
    let aapl_version = store
        .symbol_version(&aapl)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    backend
        .query_text("DELETE FROM schema_migrations WHERE version = 6")
        .await;

    let steps = store.migrate().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        steps
            .iter()
            .any(|step| step.version == 6 && step.applied_now)
    );

    let made_up = aapl.stored_as(Dataset::Synthetic);
    assert_eq!(stored_days(store.as_ref(), &made_up).await, 3);
    assert_eq!(stored_days(store.as_ref(), &aapl).await, 0);
    let ledger = store
        .read_coverage(&made_up)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ledger.len(), 1);
    assert!(
        store
            .read_coverage(&aapl)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert!(
        store
            .symbol_version(&aapl)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            > aapl_version
    );
    assert!(
        store
            .symbol_version(&made_up)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            > 0
    );
    assert_eq!(
        stored_days(store.as_ref(), &abc.stored_as(Dataset::Csv)).await,
        1
    );
    assert_eq!(
        stored_days(store.as_ref(), &msft).await,
        2,
        "market data stays"
    );
    assert_eq!(
        stored_days(store.as_ref(), &nvda).await,
        0,
        "mixed: dropped"
    );
    assert_eq!(
        stored_days(store.as_ref(), &nvda.stored_as(Dataset::Synthetic)).await,
        0
    );
    assert!(
        store
            .read_coverage(&nvda)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
}

marketcache_testkit::on_both_backends!(offline_bars_of_an_older_cache_move_to_keys_of_their_own);
