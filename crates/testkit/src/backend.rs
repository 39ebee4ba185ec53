//! Which database a test runs on, and the macro that runs a test on each: the one harness the
//! store, cache and server suites share.

use std::sync::Arc;

use marketcache_domain::BarStore;

use crate::{TestPostgres, TestSqlite, fresh_postgres, fresh_sqlite};

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
                    super::$case($crate::Backend::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(backend) = $crate::Backend::postgres().await else { return };
                    super::$case(backend).await;
                }
            )*
        }
    };
}
