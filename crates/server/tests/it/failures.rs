//! Failures that are not the client's: the upstream rate limiting or failing (429, 502), the
//! database unreachable (503), and our own faults (500 with an opaque message).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use marketcache_domain::{
    Bar, BarStore, ClearReport, CoverageSpan, DateRange, FetchedBars, FetchedWrite, MigrationStep,
    PriceSource, RecentCheck, RecordedAction, SourceError, SourceLimits, StoreError, StoreStats,
    Symbol,
};
use serde_json::json;

use crate::harness::{Backend, Options, TestApp};

/// An upstream that fails every request the same way.
struct FailingSource(fn() -> SourceError);

#[async_trait]
impl PriceSource for FailingSource {
    fn name(&self) -> &str {
        "failing"
    }

    fn limits(&self) -> SourceLimits {
        SourceLimits::unmetered(182, 4)
    }

    async fn fetch(&self, _: &Symbol, _: DateRange) -> Result<FetchedBars, SourceError> {
        Err((self.0)())
    }
}

/// A store whose every call fails with the error `fail` makes.
struct BrokenStore(fn() -> StoreError);

#[async_trait]
impl BarStore for BrokenStore {
    fn describe(&self) -> String {
        "postgres://db.internal/cache".to_string()
    }
    async fn migrate(&self) -> Result<Vec<MigrationStep>, StoreError> {
        Err((self.0)())
    }
    async fn read_bars(&self, _: &Symbol, _: DateRange) -> Result<Vec<Bar>, StoreError> {
        Err((self.0)())
    }
    async fn symbol_version(&self, _: &Symbol) -> Result<i64, StoreError> {
        Err((self.0)())
    }
    async fn read_coverage(&self, _: &Symbol) -> Result<Vec<CoverageSpan>, StoreError> {
        Err((self.0)())
    }
    async fn read_actions(&self, _: &Symbol) -> Result<Vec<RecordedAction>, StoreError> {
        Err((self.0)())
    }
    async fn read_provisional(&self, _: &Symbol) -> Result<Vec<NaiveDate>, StoreError> {
        Err((self.0)())
    }
    async fn read_recent_checks(&self, _: &Symbol) -> Result<Vec<RecentCheck>, StoreError> {
        Err((self.0)())
    }
    async fn write_fetched(
        &self,
        _: &Symbol,
        _: &FetchedWrite<'_>,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Err((self.0)())
    }
    async fn clear(
        &self,
        _: Option<&Symbol>,
        _: Option<NaiveDate>,
    ) -> Result<ClearReport, StoreError> {
        Err((self.0)())
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        Err((self.0)())
    }
    async fn change_count(&self) -> Result<i64, StoreError> {
        Err((self.0)())
    }
    async fn compact(&self) -> Result<(), StoreError> {
        Err((self.0)())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err((self.0)())
    }
}

fn unreachable() -> StoreError {
    StoreError::Unreachable {
        target: "postgres://db.internal/cache".to_string(),
        message: "connection refused".to_string(),
    }
}

fn broken() -> StoreError {
    StoreError::Backend {
        context: "reading bars",
        source: "relation \"bars\" does not exist".into(),
    }
}

const BARS: &str = "/api/bars/AAPL?start=2020-01-01&end=2020-12-31";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_rate_limiting_is_429_with_retry_after() {
    let limited: Arc<dyn PriceSource> = Arc::new(FailingSource(|| SourceError::RateLimited {
        provider: "failing".to_string(),
        retry_after: Some(Duration::from_secs(30)),
    }));
    let backend = Backend::sqlite().await;
    let app = TestApp::start_over(
        backend.store(),
        Some(limited),
        Some(backend),
        Options::default(),
    )
    .await;
    let reply = app.get(BARS).await;
    reply.expect_error(429, "rate_limited", None);
    assert_eq!(reply.header("retry-after"), Some("30"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_502() {
    for failure in [
        (|| SourceError::Transport {
            provider: "failing".to_string(),
            message: "connection reset".to_string(),
        }) as fn() -> SourceError,
        || SourceError::Decode {
            provider: "failing".to_string(),
            message: "expected a JSON object".to_string(),
        },
    ] {
        let source: Arc<dyn PriceSource> = Arc::new(FailingSource(failure));
        let backend = Backend::sqlite().await;
        let app = TestApp::start_over(
            backend.store(),
            Some(source),
            Some(backend),
            Options::default(),
        )
        .await;
        app.get(BARS)
            .await
            .expect_error(502, "upstream_failed", None);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_503() {
    let store: Arc<dyn BarStore> = Arc::new(BrokenStore(unreachable));
    let app = TestApp::start_over(store, None, None, Options::default()).await;
    let health = app.get("/api/health").await;
    health.expect(503);
    assert_eq!(
        health.json(),
        json!({
            "status": "unavailable",
            "database": "postgres://db.internal/cache",
            "version": env!("CARGO_PKG_VERSION"),
        })
    );
    app.get(BARS)
        .await
        .expect_error(503, "database_unavailable", None);
    app.get("/api/cache/stats")
        .await
        .expect_error(503, "database_unavailable", None);
    app.get("/api/cache/coverage/AAPL")
        .await
        .expect_error(503, "database_unavailable", None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_faults_are_500_without_their_cause() {
    let store: Arc<dyn BarStore> = Arc::new(BrokenStore(broken));
    let app = TestApp::start_over(store, None, None, Options::default()).await;
    for path in [BARS, "/api/cache/stats"] {
        let reply = app.get(path).await;
        reply.expect_error(500, "internal", None);
        assert!(!reply.text.contains("relation"), "{}", reply.text);
    }
    app.stop().await;
}
