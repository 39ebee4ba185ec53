//! The migrator on both backends: idempotent, and safe when several processes start at once.

use std::sync::Arc;

use marketcache_domain::BarStore;
use marketcache_store::SqliteStore;
use marketcache_testkit::fresh_postgres_unmigrated;

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
            vec![1, 2, 3, 4, 5]
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
