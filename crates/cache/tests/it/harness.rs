//! A cache over a fresh store of either backend, a counting synthetic upstream and a fixed clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use marketcache_cache::MarketDataCache;
use marketcache_domain::{BarStore, DateRange, FixedClock, Symbol};
use marketcache_testkit::{CountingSource, TestPostgres, TestSqlite, fresh_postgres, fresh_sqlite};
use marketcache_upstream::{SyntheticConfig, SyntheticSource};

/// Which database a test runs on, kept alive for the test's length.
pub enum Backend {
    Sqlite(TestSqlite),
    Postgres(TestPostgres),
}

impl Backend {
    pub async fn sqlite() -> Self {
        Backend::Sqlite(fresh_sqlite().await)
    }

    /// `None` when PostgreSQL tests skip.
    pub async fn postgres() -> Option<Self> {
        fresh_postgres().await.map(Backend::Postgres)
    }

    pub fn store(&self) -> Arc<dyn BarStore> {
        match self {
            Backend::Sqlite(db) => db.store.clone(),
            Backend::Postgres(db) => db.store.clone(),
        }
    }

    /// A second store on the same database, as another process would open it.
    pub async fn second_store(&self) -> Arc<dyn BarStore> {
        match self {
            Backend::Sqlite(db) => Arc::new(
                marketcache_store::SqliteStore::open(db.folder.path().join("cache.sqlite"))
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            Backend::Postgres(db) => Arc::new(
                marketcache_store::PostgresStore::connect(&db.url)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
        }
    }

    /// Runs `sql` through the backend's own client and returns every value as text, as
    /// `sqlite3` and `psql` would print them.
    pub async fn query_text(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Backend::Sqlite(db) => {
                let connection = rusqlite::Connection::open(db.folder.path().join("cache.sqlite"))
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut statement = connection
                    .prepare(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let columns = statement.column_count();
                let rows = statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Text(v) => {
                                        String::from_utf8_lossy(v).into_owned()
                                    }
                                    rusqlite::types::ValueRef::Blob(_) => "<blob>".to_string(),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<String>>>()
                    })
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.map(|row| row.unwrap_or_else(|e| panic!("{e}")))
                    .collect()
            }
            Backend::Postgres(db) => {
                let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let driver = tokio::spawn(connection);
                let messages = client
                    .simple_query(sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                driver.abort();
                messages
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).unwrap_or_default().to_string())
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            }
        }
    }
}

/// Runs each named case in `cases` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::harness::Backend::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(backend) = $crate::harness::Backend::postgres().await else { return };
                    super::$case(backend).await;
                }
            )*
        }
    };
}

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
