//! Riding out lost PostgreSQL connections: a store whose calls, when the connection under them
//! dies (an administrator's `pg_terminate_backend`, a server restart, a dropped network), are
//! made again on a fresh one, with backoff, for a bounded time. Every call of the port is safe
//! to repeat: reads; writes in one transaction that either committed or did not (a rewrite of
//! the same days is the same); claims, which end with their session. A budget count repeated
//! after a commit whose answer was lost counts one request twice, never too few.
//!
//! `ping` is never repeated: it reports an outage as it happens (`/api/health`).

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::postgres::{connection_closed, sqlstate};
use chrono::{DateTime, NaiveDate, Utc};
use marketcache_domain::{
    Allowance, Bar, BarStore, ClearReport, CoverageSpan, DateRange, FetchedWrite, FillClaim,
    LedgerSnapshot, MigrationStep, Packed, RecentCheck, RecordedAction, StoreError, StoreStats,
    Symbol,
};

/// How long calls go on being made again while connections keep dying.
pub const RECONNECT_LIMIT: Duration = Duration::from_secs(30);

/// `inner`, its calls made again when their connection was lost.
#[derive(Debug)]
pub struct Reconnecting<S> {
    inner: S,
    limit: Duration,
}

impl<S: BarStore> Reconnecting<S> {
    /// `inner`, with calls repeated for up to [`RECONNECT_LIMIT`].
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            limit: RECONNECT_LIMIT,
        }
    }

    async fn again<T, F, Fut>(&self, what: &'static str, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            match call().await {
                Err(error) if lost_connection(&error) && started.elapsed() + pause < self.limit => {
                    tracing::warn!(call = what, reason = %crate::postgres::failure_reason(&error), "the database connection was lost; trying again on a new one");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                outcome => return outcome,
            }
        }
    }
}

/// Whether `error` says the connection under the call died, rather than the call being wrong:
/// a closed connection, or PostgreSQL's connection-exception (08) and operator-intervention
/// (57P01 terminated, 57P02 crash, 57P03 cannot connect now) codes.
pub(crate) fn lost_connection(error: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = error else {
        return false;
    };
    let root: &(dyn std::error::Error + 'static) = source.as_ref();
    connection_closed(root)
        || sqlstate(root).is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03")
        })
}

#[async_trait]
impl<S: BarStore> BarStore for Reconnecting<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn migrate(&self) -> Result<Vec<MigrationStep>, StoreError> {
        self.again("migrate", || self.inner.migrate()).await
    }
    async fn read_bars(&self, symbol: &Symbol, range: DateRange) -> Result<Vec<Bar>, StoreError> {
        self.again("read_bars", || self.inner.read_bars(symbol, range))
            .await
    }
    async fn symbol_version(&self, symbol: &Symbol) -> Result<i64, StoreError> {
        self.again("symbol_version", || self.inner.symbol_version(symbol))
            .await
    }
    async fn read_coverage(&self, symbol: &Symbol) -> Result<Vec<CoverageSpan>, StoreError> {
        self.again("read_coverage", || self.inner.read_coverage(symbol))
            .await
    }
    async fn read_recent_checks(&self, symbol: &Symbol) -> Result<Vec<RecentCheck>, StoreError> {
        self.again("read_recent_checks", || {
            self.inner.read_recent_checks(symbol)
        })
        .await
    }
    async fn read_ledger(&self, symbol: &Symbol) -> Result<LedgerSnapshot, StoreError> {
        self.again("read_ledger", || self.inner.read_ledger(symbol))
            .await
    }
    async fn read_actions(&self, symbol: &Symbol) -> Result<Vec<RecordedAction>, StoreError> {
        self.again("read_actions", || self.inner.read_actions(symbol))
            .await
    }
    async fn read_provisional(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, StoreError> {
        self.again("read_provisional", || self.inner.read_provisional(symbol))
            .await
    }
    async fn write_fetched(
        &self,
        symbol: &Symbol,
        write: &FetchedWrite<'_>,
        written_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.again("write_fetched", || {
            self.inner.write_fetched(symbol, write, written_at)
        })
        .await
    }
    async fn clear(
        &self,
        symbol: Option<&Symbol>,
        before: Option<NaiveDate>,
    ) -> Result<ClearReport, StoreError> {
        self.again("clear", || self.inner.clear(symbol, before))
            .await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.again("stats", || self.inner.stats()).await
    }
    async fn change_count(&self) -> Result<i64, StoreError> {
        self.again("change_count", || self.inner.change_count())
            .await
    }
    async fn compact(&self) -> Result<(), StoreError> {
        self.again("compact", || self.inner.compact()).await
    }
    async fn pack_after_bulk_load(&self, written_bars: u64) -> Result<Option<Packed>, StoreError> {
        self.again("pack_after_bulk_load", || {
            self.inner.pack_after_bulk_load(written_bars)
        })
        .await
    }
    async fn try_claim_fill(
        &self,
        symbol: &Symbol,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        self.again("try_claim_fill", || self.inner.try_claim_fill(symbol))
            .await
    }
    async fn try_claim_request_slot(
        &self,
        provider: &str,
        slot: usize,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        self.again("try_claim_request_slot", || {
            self.inner.try_claim_request_slot(provider, slot)
        })
        .await
    }
    async fn take_upstream_request(
        &self,
        provider: &str,
        per_minute: Option<u32>,
        per_day: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Allowance, StoreError> {
        self.again("take_upstream_request", || {
            self.inner
                .take_upstream_request(provider, per_minute, per_day, now)
        })
        .await
    }
    async fn pause_upstream(&self, provider: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.again("pause_upstream", || {
            self.inner.pause_upstream(provider, until)
        })
        .await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn watch_versions(&self) -> Result<(), StoreError> {
        self.inner.watch_versions().await
    }
}
