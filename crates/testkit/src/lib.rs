//! Test helpers shared by marketcache's test suites (dev-only): fresh SQLite and PostgreSQL
//! stores, and a provider wrapper that counts what is asked upstream.
//!
//! PostgreSQL tests read the server from `MARKETCACHE_TEST_POSTGRES_URL` and get a fresh
//! database each, dropped afterwards. Without the variable they skip with a `SKIPPED` line
//! that shows in every test run (see [`report_skip`]), unless
//! `MARKETCACHE_REQUIRE_POSTGRES=1`, which turns the skip into a failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketcache_domain::{
    BarStore, Dataset, DateRange, FetchedBars, PriceSource, SourceError, SourceLimits, Symbol,
};
use marketcache_store::{PostgresStore, SqliteStore};

mod backend;
pub use backend::Backend;

/// Wraps a provider and records every request: how many, which ranges, and the most in flight at once.
pub struct CountingSource {
    inner: Arc<dyn PriceSource>,
    dataset: Dataset,
    requests: Mutex<Vec<(Symbol, DateRange)>>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl CountingSource {
    /// Counts the requests made to `inner`.
    pub fn new(inner: Arc<dyn PriceSource>) -> Self {
        Self {
            dataset: inner.dataset(),
            inner,
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        }
    }

    /// Counts the requests made to `inner` and presents its bars as market data: a stand-in
    /// for a market provider in tests of the cache's mechanics, whose stored rows then carry
    /// the plain ticker (the synthetic source's own bars are kept apart from market data).
    pub fn as_market_data(inner: Arc<dyn PriceSource>) -> Self {
        Self {
            dataset: Dataset::Market,
            ..Self::new(inner)
        }
    }

    /// Requests made so far.
    pub fn count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// The ranges requested so far, sorted.
    pub fn requested_ranges(&self) -> Vec<DateRange> {
        let mut ranges: Vec<DateRange> = self
            .requests
            .lock()
            .map(|r| r.iter().map(|(_, range)| *range).collect())
            .unwrap_or_default();
        ranges.sort();
        ranges
    }

    /// Forgets the requests counted so far.
    pub fn reset(&self) {
        if let Ok(mut requests) = self.requests.lock() {
            requests.clear();
        }
        self.peak_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most requests that were in flight at the same time.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PriceSource for CountingSource {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn limits(&self) -> SourceLimits {
        self.inner.limits()
    }

    fn dataset(&self) -> Dataset {
        self.dataset
    }

    fn basis(&self) -> marketcache_domain::PriceBasis {
        self.inner.basis()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push((symbol.clone(), range));
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        let result = self.inner.fetch(symbol, range).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn changed_at(&self, symbol: &Symbol) -> Option<chrono::DateTime<chrono::Utc>> {
        self.inner.changed_at(symbol).await
    }
}

/// A store on a SQLite file in its own temporary folder, removed on drop.
pub struct TestSqlite {
    pub store: Arc<SqliteStore>,
    pub folder: tempfile::TempDir,
}

/// Opens and migrates a fresh SQLite store.
pub async fn fresh_sqlite() -> TestSqlite {
    let folder =
        tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"));
    let store = SqliteStore::open(folder.path().join("cache.sqlite"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store.migrate().await.unwrap_or_else(|e| panic!("{e}"));
    TestSqlite {
        store: Arc::new(store),
        folder,
    }
}

/// A fresh PostgreSQL database, dropped when this value is dropped.
pub struct TestPostgres {
    pub store: Arc<PostgresStore>,
    /// The URL of the fresh database.
    pub url: String,
    admin_url: String,
    database: String,
}

/// The server URL for PostgreSQL tests, or `None` (with a notice) when they should skip.
/// Panics when `MARKETCACHE_REQUIRE_POSTGRES=1` and no URL is set.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("MARKETCACHE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("MARKETCACHE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "MARKETCACHE_REQUIRE_POSTGRES=1 but MARKETCACHE_TEST_POSTGRES_URL is not set"
                );
            }
            report_skip(
                "needs PostgreSQL: set MARKETCACHE_TEST_POSTGRES_URL, e.g. \
                 postgres://postgres@127.0.0.1:5432/postgres",
            );
            None
        }
    }
}

/// Says, in the output a person sees, that the running test skipped and why.
///
/// The test harness captures `eprintln!` and shows it only for failing tests, so a skipped
/// test would read as a plain `ok`. This writes to the process's standard error directly,
/// which the harness does not capture: the line appears in every `cargo test` run, beside the
/// test's name (the harness names each test's thread after the test).
pub fn report_skip(reason: &str) {
    use std::io::Write as _;
    // A property test asks once per case: one line per test is enough.
    static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test").to_string();
    match REPORTED.lock() {
        Ok(reported) if reported.contains(&test) => return,
        Ok(mut reported) => reported.push(test.clone()),
        Err(_) => {}
    }
    let line = format!("SKIPPED {test}: {reason}\n");
    // Nothing useful can be done if standard error is closed.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Replaces the database name of a `postgres://` URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return url.to_string();
    };
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    format!("{scheme}://{host}/{database}{query}")
}

/// Creates and migrates a fresh database on the test server, or `None` when PostgreSQL tests skip.
pub async fn fresh_postgres() -> Option<TestPostgres> {
    let database = fresh_postgres_unmigrated().await?;
    database
        .store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Some(database)
}

/// Creates a fresh, empty database on the test server (no schema), or `None` when PostgreSQL tests skip.
pub async fn fresh_postgres_unmigrated() -> Option<TestPostgres> {
    let admin_url = postgres_admin_url()?;
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let database = format!(
        "marketcache_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    );
    let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {database}: {e}"));
    drop(client);
    driver.abort();
    let url = with_database(&admin_url, &database);
    let store = PostgresStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Some(TestPostgres {
        store: Arc::new(store),
        url,
        admin_url,
        database,
    })
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let database = self.database.clone();
        // Drop runs inside the test's runtime, which cannot block on async work: use a thread
        // with a runtime of its own.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                {
                    let driver = tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .await;
                    driver.abort();
                }
            });
        });
        let _ = dropper.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }
}
