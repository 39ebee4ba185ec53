//! The shared store: PostgreSQL through a connection pool, with bulk upserts of whole chunks
//! in one statement (arrays unnested server-side) instead of a round trip per bar.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use marketcache_domain::{
    Allowance, Bar, BarStore, BudgetState, ClearReport, CoverageSpan, DateRange, Exchange,
    FetchedWrite, FillClaim, LedgerSnapshot, MigrationStep, Packed, RecentCheck, RecordedAction,
    StoreError, StoreStats, Symbol, SymbolStats,
};
use tokio::sync::OnceCell;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::migrations::{Backend, CREATE_SCHEMA_MIGRATIONS, MIGRATIONS, step};
use crate::pg_claims::ClaimSession;
use crate::version_watch::{CHANNEL, VersionWatch};
use crate::{ConnectOptions, MIN_POOL_SIZE, backend_error, redact_url};

/// Any fixed number: the key of the advisory lock that serialises concurrent migrators.
const MIGRATION_LOCK_KEY: i64 = 0x6d63_6d69;

/// The bars table with its indexes, then every table of ours, in bytes on disk.
const SIZES: &str = "SELECT pg_total_relation_size('market_data_cache')::int8,
        pg_total_relation_size('market_data_cache')::int8
        + pg_total_relation_size('coverage_ledger')::int8
        + pg_total_relation_size('corporate_actions')::int8
        + pg_total_relation_size('provisional_bars')::int8
        + pg_total_relation_size('symbol_versions')::int8
        + pg_total_relation_size('recent_checks')::int8
        + pg_total_relation_size('upstream_budgets')::int8
        + pg_total_relation_size('schema_migrations')::int8";

/// A bar store in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    target: String,
    config: tokio_postgres::Config,
    /// Started by [`BarStore::watch_versions`]; shared by clones, stopped with the last.
    watch: Arc<OnceCell<VersionWatch>>,
    /// The session holding this process's fill claims, opened when first needed.
    claims: Arc<ClaimSession>,
    wait: ConnectWait,
}

/// How long to go on asking when PostgreSQL refuses a connection for a reason that passes
/// (too many clients, starting up, shutting down, a connection terminated by an administrator).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectWait {
    limit: Duration,
    /// Whether a server that cannot be reached at all (connection refused or reset) is waited
    /// for too: not on the first connection (a wrong address should fail at once), but after
    /// it, when a restart or failover is the likely cause.
    outage_passes: bool,
}

/// The SQLSTATE of a refusal worth waiting out, if `error` is one: `53300` too many clients
/// (of the server, a role or a database), `57P03` starting up or shutting down, `57P01`/`57P02`
/// terminated by an administrator or a crash.
fn refusal_code(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    const PASSING: [&str; 4] = ["53300", "57P03", "57P01", "57P02"];
    let code = sqlstate(error)?;
    PASSING.into_iter().find(|passing| *passing == code)
}

impl ConnectWait {
    /// Runs `attempt` until it succeeds, fails for another reason than a passing refusal, or
    /// refusals have lasted the limit; backs off from 50 ms to 1 s, with jitter so that many
    /// waiting processes do not retry in step.
    pub(crate) async fn retry_refusals<T, E, F, Fut>(
        &self,
        target: &str,
        mut attempt: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::error::Error + 'static,
    {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let refused = refusal_code(&error)
                .or_else(|| (self.outage_passes && server_gone(&error)).then_some(OUTAGE));
            if refused.is_some() && started.elapsed() + pause <= self.limit {
                tracing::debug!(reason = %failure_reason(&error), "PostgreSQL refused a connection; asking again");
                tokio::time::sleep(pause + jitter(pause)).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
            let mut message = failure_reason(&error);
            if refused == Some(OUTAGE) {
                message.push_str(&format!(
                    "; the server stayed unreachable for {} s",
                    started.elapsed().as_secs()
                ));
            } else if refused.is_some() {
                message.push_str(&format!(
                    "; still refused after {} s of retries: raise the server's max_connections (or the \
                     role's or database's CONNECTION LIMIT), or lower pool_size (--pool-size, \
                     MARKETCACHE_POOL_SIZE) in the processes sharing it",
                    started.elapsed().as_secs()
                ));
            }
            return Err(StoreError::Unreachable {
                target: target.to_string(),
                message,
            });
        }
    }
}

/// What [`ConnectWait::retry_refusals`] calls a server that cannot be reached at all.
const OUTAGE: &str = "outage";

/// Whether `error` says the server is not there (refused, reset, closed): restarting, or down.
fn server_gone(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;
    let io_gone = std::iter::successors(Some(error), |cause| cause.source()).any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            )
        })
    });
    io_gone || connection_closed(error)
}

/// The SQLSTATE PostgreSQL gave, found under any wrappers of `error`.
pub(crate) fn sqlstate(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    std::iter::successors(Some(error), |cause| cause.source()).find_map(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::as_db_error)
            .map(|db| db.code().code().to_string())
    })
}

/// Whether `error`, under any wrappers, says the connection it was made on is closed.
pub(crate) fn connection_closed(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |cause| cause.source()).any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(tokio_postgres::Error::is_closed)
    })
}

/// Up to half of `pause`, varying between processes and calls.
fn jitter(pause: Duration) -> Duration {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos())
        ^ std::process::id();
    let half = u32::try_from(pause.as_millis() / 2).unwrap_or(1).max(1);
    Duration::from_millis(u64::from(seed % half))
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish()
    }
}

fn pg_error(context: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| backend_error(context)(Box::new(e))
}

/// Why a connection or call failed, in PostgreSQL's own words when the server gave any
/// (`FATAL: database "x" does not exist (SQLSTATE 3D000)`), else each cause of the chain once.
/// tokio-postgres and deadpool print only their own layer ("db error"), which hides the reason.
pub(crate) fn failure_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let chain = || std::iter::successors(Some(error), |current| current.source());
    let server_said = chain().find_map(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::as_db_error)
    });
    if let Some(db) = server_said {
        let mut reason = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        for (label, text) in [("DETAIL", db.detail()), ("HINT", db.hint())] {
            if let Some(text) = text {
                reason.push_str(&format!("; {label}: {text}"));
            }
        }
        return reason;
    }
    // A wrapper that repeats its cause's text (deadpool's "...: error connecting to server")
    // adds nothing but noise.
    chain()
        .filter(|cause| {
            cause
                .source()
                .is_none_or(|inner| !cause.to_string().ends_with(&inner.to_string()))
        })
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

impl PostgresStore {
    /// Connects a pool to `url` with the default options and checks that the server answers.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// Connects a pool of `options.pool_size` connections to `url` and checks that the server
    /// answers.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Self, StoreError> {
        let target = redact_url(url);
        let unreachable = |message: String| StoreError::Unreachable {
            target: target.clone(),
            message,
        };
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| unreachable(failure_reason(&e)))?;
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("marketcache");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(MIN_POOL_SIZE))
            .build()
            .map_err(|e| unreachable(failure_reason(&e)))?;
        let wait = ConnectWait {
            limit: options.refused_wait,
            outage_passes: false,
        };
        // Once the server has answered, an outage is waited out like a refusal.
        let after_first = ConnectWait {
            outage_passes: true,
            ..wait
        };
        let claims = Arc::new(ClaimSession::new(
            config.clone(),
            target.clone(),
            after_first,
        ));
        let mut store = Self {
            pool,
            target: target.clone(),
            claims,
            config,
            watch: Arc::new(OnceCell::new()),
            wait,
        };
        let client = store.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| unreachable(failure_reason(&e)))?;
        drop(client);
        store.wait = after_first;
        Ok(store)
    }

    async fn query_symbol_version(&self, symbol: &Symbol) -> Result<i64, StoreError> {
        let failed = pg_error("reading the symbol version");
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT version FROM symbol_versions WHERE symbol = $1")
            .await
            .map_err(&failed)?;
        let row = client
            .query_opt(&statement, &[&symbol.as_str()])
            .await
            .map_err(&failed)?;
        row.map_or(Ok(0), |row| row.try_get(0).map_err(&failed))
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.wait
            .retry_refusals(&self.target, || self.pool.get())
            .await
    }
}

fn span_from_row(symbol: &str, row: &tokio_postgres::Row) -> Result<CoverageSpan, StoreError> {
    let failed = pg_error("reading coverage");
    let start: NaiveDate = row.try_get(0).map_err(&failed)?;
    let end: NaiveDate = row.try_get(1).map_err(&failed)?;
    let bars: i32 = row.try_get(4).map_err(&failed)?;
    let rejected_rows: i32 = row.try_get(5).map_err(&failed)?;
    let range = DateRange::new(start, end).map_err(|e| StoreError::InvalidRow {
        symbol: symbol.to_string(),
        date: start.to_string(),
        message: e.to_string(),
    })?;
    let basis: &str = row.try_get(6).map_err(&failed)?;
    Ok(CoverageSpan {
        range,
        provider: row.try_get(2).map_err(&failed)?,
        basis: crate::basis_column(symbol, &start.to_string(), basis)?,
        fetched_at: row.try_get(3).map_err(&failed)?,
        bars: u32::try_from(bars).unwrap_or(0),
        rejected_rows: u32::try_from(rejected_rows).unwrap_or(0),
    })
}

#[async_trait]
impl BarStore for PostgresStore {
    fn describe(&self) -> String {
        self.target.clone()
    }

    async fn migrate(&self) -> Result<Vec<MigrationStep>, StoreError> {
        let failed = pg_error("migrating");
        let mut client = self.client().await?;
        // The common case, a database already up to date, is answered without the lock.
        if let Ok(rows) = client
            .query("SELECT version FROM schema_migrations", &[])
            .await
        {
            let recorded: HashSet<i32> = rows
                .iter()
                .filter_map(|row| row.try_get::<_, i32>(0).ok())
                .collect();
            let current = |m: &&crate::migrations::Migration| {
                i32::try_from(m.version).is_ok_and(|version| recorded.contains(&version))
            };
            if MIGRATIONS.iter().all(|m| current(&m)) {
                return Ok(MIGRATIONS
                    .iter()
                    .map(|migration| step(migration, Backend::Postgres, false))
                    .collect());
            }
        }
        let transaction = client.transaction().await.map_err(&failed)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(&failed)?;
        transaction
            .batch_execute(CREATE_SCHEMA_MIGRATIONS)
            .await
            .map_err(&failed)?;
        let applied: HashSet<i32> = transaction
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .map_err(&failed)?
            .iter()
            .filter_map(|row| row.try_get::<_, i32>(0).ok())
            .collect();
        let mut steps = Vec::new();
        for migration in MIGRATIONS {
            let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
            let applied_now = !applied.contains(&version);
            if applied_now {
                let step_failed = |e: tokio_postgres::Error| StoreError::Migration {
                    version: migration.version,
                    source: Box::new(e),
                };
                transaction
                    .batch_execute(migration.postgres)
                    .await
                    .map_err(step_failed)?;
                transaction
                    .execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                        &[&version, &migration.name, &Utc::now().to_rfc3339()],
                    )
                    .await
                    .map_err(step_failed)?;
            }
            steps.push(step(migration, Backend::Postgres, applied_now));
        }
        transaction.commit().await.map_err(&failed)?;
        Ok(steps)
    }

    async fn read_bars(&self, symbol: &Symbol, range: DateRange) -> Result<Vec<Bar>, StoreError> {
        let failed = pg_error("reading bars");
        let client = self.client().await?;
        // One row of six arrays instead of a row per bar: the wire protocol's per-row cost
        // dominated a 9,000-bar read.
        let statement = client
            .prepare_cached(
                "SELECT COALESCE(array_agg(date), '{}'), COALESCE(array_agg(open), '{}'),
                        COALESCE(array_agg(high), '{}'), COALESCE(array_agg(low), '{}'),
                        COALESCE(array_agg(close), '{}'), COALESCE(array_agg(volume), '{}')
                 FROM (SELECT date, open, high, low, close, volume FROM market_data_cache
                       WHERE symbol = $1 AND date BETWEEN $2 AND $3 ORDER BY date) AS in_order",
            )
            .await
            .map_err(&failed)?;
        let row = client
            .query_one(
                &statement,
                &[&symbol.as_str(), &range.start(), &range.end()],
            )
            .await
            .map_err(&failed)?;
        let dates: Vec<NaiveDate> = row.try_get(0).map_err(&failed)?;
        let opens: Vec<f64> = row.try_get(1).map_err(&failed)?;
        let highs: Vec<f64> = row.try_get(2).map_err(&failed)?;
        let lows: Vec<f64> = row.try_get(3).map_err(&failed)?;
        let closes: Vec<f64> = row.try_get(4).map_err(&failed)?;
        let volumes: Vec<i64> = row.try_get(5).map_err(&failed)?;
        let mut bars = (0..dates.len())
            .map(|i| {
                let price = |column: &[f64]| column.get(i).copied().unwrap_or(f64::NAN);
                let volume = volumes
                    .get(i)
                    .and_then(|v| u64::try_from(*v).ok())
                    .unwrap_or(0);
                Bar::try_new(
                    dates[i],
                    price(&opens),
                    price(&highs),
                    price(&lows),
                    price(&closes),
                    volume,
                )
                .map_err(|e| StoreError::InvalidRow {
                    symbol: symbol.to_string(),
                    date: dates[i].to_string(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<Bar>, StoreError>>()?;
        // Aggregates over a sorted subquery keep its order in practice, but SQL does not promise it.
        if !bars.is_sorted_by_key(|bar| bar.date) {
            bars.sort_by_key(|bar| bar.date);
        }
        Ok(bars)
    }

    async fn change_count(&self) -> Result<i64, StoreError> {
        let failed = pg_error("reading the change count");
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(version), 0)::int8 FROM symbol_versions",
                &[],
            )
            .await
            .map_err(&failed)?;
        row.try_get(0).map_err(&failed)
    }

    async fn symbol_version(&self, symbol: &Symbol) -> Result<i64, StoreError> {
        let watched = self.watch.get().map(VersionWatch::versions);
        if let Some(version) = watched.and_then(|versions| versions.known(symbol.as_str())) {
            return Ok(version);
        }
        // Taken before the query: a notification missed while it runs changes the generation.
        let generation = watched.map(|versions| versions.generation());
        let version = self.query_symbol_version(symbol).await?;
        if let (Some(versions), Some(generation)) = (watched, generation) {
            versions.remember(symbol.as_str(), version, generation);
        }
        Ok(version)
    }

    async fn read_coverage(&self, symbol: &Symbol) -> Result<Vec<CoverageSpan>, StoreError> {
        coverage_of(&self.client().await?, symbol.as_str()).await
    }

    async fn read_recent_checks(&self, symbol: &Symbol) -> Result<Vec<RecentCheck>, StoreError> {
        recent_checks_of(&self.client().await?, symbol.as_str()).await
    }

    async fn read_ledger(&self, symbol: &Symbol) -> Result<LedgerSnapshot, StoreError> {
        // The version first (from memory when watched), then the three parts pipelined on one
        // connection: one round trip for a cold read's whole plan.
        let version = self.symbol_version(symbol).await?;
        let client = self.client().await?;
        let key = symbol.as_str();
        let (coverage, provisional, recent_checks, exchange) = futures::try_join!(
            coverage_of(&client, key),
            provisional_of(&client, key),
            recent_checks_of(&client, key),
            market_of(&client, key),
        )?;
        Ok(LedgerSnapshot {
            version,
            coverage,
            provisional,
            recent_checks,
            exchange,
        })
    }

    async fn read_actions(&self, symbol: &Symbol) -> Result<Vec<RecordedAction>, StoreError> {
        let failed = pg_error("reading corporate actions");
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT ex_date, kind, value, provider FROM corporate_actions
                 WHERE symbol = $1 ORDER BY ex_date, kind",
                &[&symbol.as_str()],
            )
            .await
            .map_err(&failed)?;
        rows.iter()
            .map(|row| {
                let ex_date: NaiveDate = row.try_get(0).map_err(&failed)?;
                let kind: &str = row.try_get(1).map_err(&failed)?;
                let value: f64 = row.try_get(2).map_err(&failed)?;
                let provider: String = row.try_get(3).map_err(&failed)?;
                let action = crate::action_from_row(symbol.as_str(), ex_date, kind, value)?;
                Ok(RecordedAction { action, provider })
            })
            .collect()
    }

    async fn read_provisional(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, StoreError> {
        provisional_of(&self.client().await?, symbol.as_str()).await
    }

    async fn write_fetched(
        &self,
        symbol: &Symbol,
        write: &FetchedWrite<'_>,
        written_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let failed = pg_error("writing bars");
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(&failed)?;
        // A cache can lose its last few writes in a server crash (they are fetched again; bars and
        // their coverage are lost together), so commits need not wait for the WAL flush.
        transaction
            .batch_execute("SET LOCAL synchronous_commit = off")
            .await
            .map_err(&failed)?;
        let key = symbol.as_str();
        upsert_bars(&transaction, key, write.bars, written_at)
            .await
            .map_err(&failed)?;
        mark_provisional(&transaction, key, write.provisional, written_at)
            .await
            .map_err(&failed)?;
        upsert_actions(&transaction, key, write, written_at)
            .await
            .map_err(&failed)?;
        if let Some(span) = write.coverage {
            record_coverage(&transaction, key, span)
                .await
                .map_err(&failed)?;
        }
        if let Some(check) = write.recheck {
            record_recent_check(&transaction, key, check)
                .await
                .map_err(&failed)?;
        }
        if let Some(exchange) = write.exchange {
            record_market(&transaction, key, exchange, write.provider, written_at)
                .await
                .map_err(&failed)?;
        }
        let version = bump_version(&transaction, key).await.map_err(&failed)?;
        transaction.commit().await.map_err(&failed)?;
        // Our own reads see our write at once, without waiting for the notification.
        if let Some(watch) = self.watch.get() {
            watch.versions().observe(key, version);
        }
        Ok(())
    }

    async fn clear(
        &self,
        symbol: Option<&Symbol>,
        before: Option<NaiveDate>,
    ) -> Result<ClearReport, StoreError> {
        let failed = pg_error("clearing");
        let symbol = symbol.map(Symbol::as_str);
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(&failed)?;
        let bars_deleted = transaction
            .execute(
                "DELETE FROM market_data_cache
                 WHERE ($1::text IS NULL OR symbol = $1) AND ($2::date IS NULL OR date < $2)",
                &[&symbol, &before],
            )
            .await
            .map_err(&failed)?;
        let spans_deleted = transaction
            .execute(
                "DELETE FROM coverage_ledger
                 WHERE ($1::text IS NULL OR symbol = $1) AND ($2::date IS NULL OR end_date < $2)",
                &[&symbol, &before],
            )
            .await
            .map_err(&failed)?;
        let spans_trimmed = transaction
            .execute(
                // A trimmed entry keeps count of the bars it still holds.
                "UPDATE coverage_ledger SET start_date = $2,
                     bars = LEAST(bars, (SELECT COUNT(*)::int4 FROM market_data_cache m
                         WHERE m.symbol = coverage_ledger.symbol
                           AND m.date BETWEEN $2 AND coverage_ledger.end_date))
                 WHERE $2::date IS NOT NULL AND ($1::text IS NULL OR symbol = $1) AND start_date < $2",
                &[&symbol, &before],
            )
            .await
            .map_err(&failed)?;
        // Actions after `before` still adjust the bars that stay.
        for statement in [
            "DELETE FROM corporate_actions
             WHERE ($1::text IS NULL OR symbol = $1) AND ($2::date IS NULL OR ex_date < $2)",
            "DELETE FROM provisional_bars
             WHERE ($1::text IS NULL OR symbol = $1) AND ($2::date IS NULL OR date < $2)",
            "DELETE FROM recent_checks
             WHERE ($1::text IS NULL OR symbol = $1) AND ($2::date IS NULL OR start_date < $2)",
        ] {
            transaction
                .execute(statement, &[&symbol, &before])
                .await
                .map_err(&failed)?;
        }
        let bumped = transaction
            .query(
                "WITH bumped AS (
                     UPDATE symbol_versions SET version = version + 1
                     WHERE $1::text IS NULL OR symbol = $1
                     RETURNING symbol, version)
                 SELECT symbol, version, pg_notify($2, current_schema() || E'\t' || version || E'\t' || symbol)
                 FROM bumped",
                &[&symbol, &CHANNEL],
            )
            .await
            .map_err(&failed)?;
        transaction.commit().await.map_err(&failed)?;
        if let Some(watch) = self.watch.get() {
            for row in &bumped {
                let symbol: &str = row.try_get(0).map_err(&failed)?;
                watch
                    .versions()
                    .observe(symbol, row.try_get(1).map_err(&failed)?);
            }
        }
        Ok(ClearReport {
            bars_deleted,
            coverage_spans_changed: spans_deleted + spans_trimmed,
        })
    }

    async fn try_claim_fill(
        &self,
        symbol: &Symbol,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        self.claims.try_claim(symbol.as_str()).await
    }

    async fn try_claim_request_slot(
        &self,
        provider: &str,
        slot: usize,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        // A ':' is in no store key, so a slot's name never meets a symbol's.
        self.claims
            .try_claim(&format!("slot:{provider}:{slot}"))
            .await
    }

    async fn take_upstream_request(
        &self,
        provider: &str,
        per_minute: Option<u32>,
        per_day: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Allowance, StoreError> {
        let failed = pg_error("counting an upstream request");
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(&failed)?;
        let state = locked_budget(&transaction, provider, now)
            .await
            .map_err(&failed)?;
        let (allowance, state) = state.take(per_minute, per_day, now);
        save_budget(&transaction, provider, &state)
            .await
            .map_err(&failed)?;
        transaction.commit().await.map_err(&failed)?;
        Ok(allowance)
    }

    async fn pause_upstream(&self, provider: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        let failed = pg_error("pausing an upstream");
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(&failed)?;
        let mut state = locked_budget(&transaction, provider, Utc::now())
            .await
            .map_err(&failed)?;
        state.pause_until(until);
        save_budget(&transaction, provider, &state)
            .await
            .map_err(&failed)?;
        transaction.commit().await.map_err(&failed)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Asked once, never waited for: a health check reports an outage as it happens.
        let client = self
            .pool
            .get()
            .await
            .map_err(|error| StoreError::Unreachable {
                target: self.target.clone(),
                message: failure_reason(&error),
            })?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(pg_error("reaching the database"))?;
        Ok(())
    }

    async fn watch_versions(&self) -> Result<(), StoreError> {
        // Its connection is one more client: refused while the server is full, it waits too.
        let start = || async {
            self.wait
                .retry_refusals(&self.target, || VersionWatch::start(self.config.clone()))
                .await
        };
        self.watch
            .get_or_try_init(start)
            .await
            .map_err(|error| match error {
                StoreError::Unreachable { target, message } => StoreError::Unreachable {
                    target,
                    message: format!("cannot listen for version changes: {message}"),
                },
                other => other,
            })?;
        Ok(())
    }

    async fn compact(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        // VACUUM cannot run inside a transaction: each statement on its own. FULL rewrites the
        // table and rebuilds its indexes packed to their fill factor.
        for statement in [
            "VACUUM (FULL, ANALYZE) market_data_cache",
            "VACUUM (FULL, ANALYZE) coverage_ledger",
        ] {
            client
                .batch_execute(statement)
                .await
                .map_err(pg_error("compacting"))?;
        }
        Ok(())
    }

    async fn pack_after_bulk_load(&self, written_bars: u64) -> Result<Option<Packed>, StoreError> {
        // Never packed here (see the trait), but the planner's statistics are refreshed: without
        // them, after a warm it chose a bitmap scan and a sort, and a 35-year read of one of 200
        // symbols took twice as long. ANALYZE samples a bounded number of rows and takes no lock
        // that readers or writers wait for.
        if written_bars > 0 {
            let client = self.client().await?;
            client
                .batch_execute("ANALYZE market_data_cache, coverage_ledger")
                .await
                .map_err(pg_error("refreshing the planner's statistics"))?;
        }
        Ok(None)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let failed = pg_error("reading statistics");
        let client = self.client().await?;
        let mut per_symbol: BTreeMap<String, SymbolStats> = BTreeMap::new();
        let rows = client
            .query(
                "SELECT symbol, COUNT(*)::int8, MIN(date), MAX(date), MAX(updated_at)
                 FROM market_data_cache GROUP BY symbol",
                &[],
            )
            .await
            .map_err(&failed)?;
        for row in &rows {
            let symbol: String = row.try_get(0).map_err(&failed)?;
            let bars: i64 = row.try_get(1).map_err(&failed)?;
            let stats = SymbolStats {
                symbol: symbol.clone(),
                bars: u64::try_from(bars).unwrap_or(0),
                first_date: row.try_get(2).map_err(&failed)?,
                last_date: row.try_get(3).map_err(&failed)?,
                covered: Vec::new(),
                last_update: row.try_get(4).map_err(&failed)?,
                rejected_rows: 0,
                provisional_bars: 0,
                provisional: Vec::new(),
                corporate_actions: 0,
            };
            per_symbol.insert(symbol, stats);
        }
        let rows = client
            .query(
                "SELECT symbol, start_date, end_date FROM coverage_ledger",
                &[],
            )
            .await
            .map_err(&failed)?;
        let mut ranges: BTreeMap<String, Vec<DateRange>> = BTreeMap::new();
        for row in &rows {
            let symbol: String = row.try_get(0).map_err(&failed)?;
            if let Ok(range) = DateRange::new(
                row.try_get(1).map_err(&failed)?,
                row.try_get(2).map_err(&failed)?,
            ) {
                ranges.entry(symbol).or_default().push(range);
            }
        }
        crate::attach_coverage(&mut per_symbol, ranges);
        let mut counts = Vec::new();
        for (kind, query) in crate::COUNT_QUERIES {
            for row in client.query(*query, &[]).await.map_err(&failed)? {
                let symbol: String = row.try_get(0).map_err(&failed)?;
                let count: i64 = row.try_get(1).map_err(&failed)?;
                counts.push((*kind, symbol, u64::try_from(count).unwrap_or(0)));
            }
        }
        crate::attach_counts(&mut per_symbol, counts);
        let (bar_table_bytes, bytes_on_disk) = sizes(&client).await?;
        let symbols: Vec<SymbolStats> = per_symbol.into_values().collect();
        Ok(StoreStats {
            total_bars: symbols.iter().map(|s| s.bars).sum(),
            symbols,
            bytes_on_disk,
            bar_table_bytes,
        })
    }
}

/// Writes `bars` of `key` in one statement over arrays. Writers of one symbol take turns (an
/// advisory lock held to the end of the transaction), so inserts of one (symbol, date) cannot
/// collide and no INSERT ... ON CONFLICT is needed: its per-row speculative insertion makes
/// bulk loads about twice as slow. New days (a cold fetch) take a plain insert; re-fetched days
/// a MERGE that updates them. Written bars are final unless marked again afterwards.
async fn upsert_bars(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
    bars: &[Bar],
    written_at: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    if bars.is_empty() {
        return Ok(());
    }
    let dates: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    let column = |pick: fn(&Bar) -> f64| bars.iter().map(pick).collect::<Vec<f64>>();
    let (opens, highs, lows, closes) = (
        column(|b| b.open),
        column(|b| b.high),
        column(|b| b.low),
        column(|b| b.close),
    );
    let volumes: Vec<i64> = bars
        .iter()
        .map(|b| i64::try_from(b.volume).unwrap_or(i64::MAX))
        .collect();
    execute_cached(
        transaction,
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&key],
    )
    .await?;
    let first = dates.iter().min();
    let last = dates.iter().max();
    let overlapping: i64 = query_one_cached(
        transaction,
        "SELECT COUNT(*) FROM market_data_cache
         WHERE symbol = $1 AND date BETWEEN $2 AND $3",
        &[&key, &first, &last],
    )
    .await?
    .try_get(0)?;
    let statement = if overlapping == 0 {
        "INSERT INTO market_data_cache (symbol, date, open, high, low, close, volume, created_at, updated_at)
         SELECT $1, d, o, h, l, c, v, $8, $8
         FROM UNNEST($2::date[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::int8[])
              AS t (d, o, h, l, c, v)"
    } else {
        "MERGE INTO market_data_cache AS cached
         USING (SELECT * FROM UNNEST($2::date[], $3::float8[], $4::float8[], $5::float8[],
                                     $6::float8[], $7::int8[]) AS t (d, o, h, l, c, v)) AS fetched
         ON cached.symbol = $1 AND cached.date = fetched.d
         WHEN MATCHED THEN UPDATE SET
             open = fetched.o, high = fetched.h, low = fetched.l, close = fetched.c,
             volume = fetched.v, updated_at = $8
         WHEN NOT MATCHED THEN INSERT (symbol, date, open, high, low, close, volume, created_at, updated_at)
             VALUES ($1, fetched.d, fetched.o, fetched.h, fetched.l, fetched.c, fetched.v, $8, $8)"
    };
    execute_cached(
        transaction,
        statement,
        &[
            &key,
            &dates,
            &opens,
            &highs,
            &lows,
            &closes,
            &volumes,
            &written_at,
        ],
    )
    .await?;
    execute_cached(
        transaction,
        "DELETE FROM provisional_bars WHERE symbol = $1 AND date BETWEEN $2 AND $3",
        &[&key, &first, &last],
    )
    .await?;
    Ok(())
}

/// Marks the bars of `dates` of `key` as not final yet.
async fn mark_provisional(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
    dates: &[NaiveDate],
    written_at: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    if dates.is_empty() {
        return Ok(());
    }
    execute_cached(
        transaction,
        "INSERT INTO provisional_bars (symbol, date, fetched_at)
             SELECT $1, d, $3 FROM UNNEST($2::date[]) AS t (d)
             ON CONFLICT (symbol, date) DO UPDATE SET fetched_at = excluded.fetched_at",
        &[&key, &dates, &written_at],
    )
    .await?;
    Ok(())
}

/// Stores the splits and dividends of `write`, the last report of each winning.
async fn upsert_actions(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
    write: &FetchedWrite<'_>,
    written_at: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    if write.actions.is_empty() {
        return Ok(());
    }
    let (dates, (kinds, values)): (Vec<NaiveDate>, (Vec<&str>, Vec<f64>)) = write
        .actions
        .iter()
        .map(|action| (action.ex_date, crate::action_columns(action)))
        .unzip();
    execute_cached(
        transaction,
        "INSERT INTO corporate_actions (symbol, ex_date, kind, value, provider, fetched_at)
         SELECT $1, d, k, v, $5, $6
         FROM UNNEST($2::date[], $3::text[], $4::float8[]) AS t (d, k, v)
         ON CONFLICT (symbol, ex_date, kind) DO UPDATE SET value = excluded.value,
             provider = excluded.provider, fetched_at = excluded.fetched_at",
        &[&key, &dates, &kinds, &values, &write.provider, &written_at],
    )
    .await?;
    Ok(())
}

/// Records that `span` of `key` was asked upstream.
async fn record_coverage(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
    span: &CoverageSpan,
) -> Result<(), tokio_postgres::Error> {
    let bar_count = i32::try_from(span.bars).unwrap_or(i32::MAX);
    let rejected = i32::try_from(span.rejected_rows).unwrap_or(i32::MAX);
    execute_cached(
        transaction,
        // The same entry twice (a copy made again) is recorded once.
        "INSERT INTO coverage_ledger
             (symbol, start_date, end_date, provider, fetched_at, bars, rejected_rows, basis)
         SELECT $1::text, $2::date, $3::date, $4::text, $5::timestamptz, $6::int4, $7::int4,
             $8::text
         WHERE NOT EXISTS (SELECT 1 FROM coverage_ledger WHERE symbol = $1 AND start_date = $2
             AND end_date = $3 AND provider = $4 AND fetched_at = $5)",
        &[
            &key,
            &span.range.start(),
            &span.range.end(),
            &span.provider,
            &span.fetched_at,
            &bar_count,
            &rejected,
            &span.basis.code(),
        ],
    )
    .await?;
    Ok(())
}

/// The budget row of `provider`, created fresh if it has none, locked until the transaction
/// ends: processes counting the same provider take turns.
async fn locked_budget(
    transaction: &deadpool_postgres::Transaction<'_>,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<BudgetState, tokio_postgres::Error> {
    let fresh = BudgetState::fresh(now);
    let minute_count = i32::try_from(fresh.minute_count).unwrap_or(0);
    let day_count = i32::try_from(fresh.day_count).unwrap_or(0);
    execute_cached(
        transaction,
        "INSERT INTO upstream_budgets (provider, minute_start, minute_count, day, day_count)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider) DO NOTHING",
        &[
            &provider,
            &fresh.minute_start,
            &minute_count,
            &fresh.day,
            &day_count,
        ],
    )
    .await?;
    let row = query_one_cached(
        transaction,
        "SELECT paused_until, minute_start, minute_count, day, day_count
         FROM upstream_budgets WHERE provider = $1 FOR UPDATE",
        &[&provider],
    )
    .await?;
    Ok(BudgetState {
        paused_until: row.try_get(0)?,
        minute_start: row.try_get(1)?,
        minute_count: u32::try_from(row.try_get::<_, i32>(2)?).unwrap_or(0),
        day: row.try_get(3)?,
        day_count: u32::try_from(row.try_get::<_, i32>(4)?).unwrap_or(0),
    })
}

async fn save_budget(
    transaction: &deadpool_postgres::Transaction<'_>,
    provider: &str,
    state: &BudgetState,
) -> Result<(), tokio_postgres::Error> {
    let minute_count = i32::try_from(state.minute_count).unwrap_or(i32::MAX);
    let day_count = i32::try_from(state.day_count).unwrap_or(i32::MAX);
    execute_cached(
        transaction,
        "UPDATE upstream_budgets SET paused_until = $2, minute_start = $3, minute_count = $4,
             day = $5, day_count = $6
         WHERE provider = $1",
        &[
            &provider,
            &state.paused_until,
            &state.minute_start,
            &minute_count,
            &state.day,
            &day_count,
        ],
    )
    .await?;
    Ok(())
}

/// Records `check` of `key`, replacing the checks of days up to its own: a new check starts at
/// the first day its answer left uncovered, so those earlier days are covered or outdated.
async fn record_recent_check(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
    check: &RecentCheck,
) -> Result<(), tokio_postgres::Error> {
    let (start, end) = (check.range.start(), check.range.end());
    execute_cached(
        transaction,
        "DELETE FROM recent_checks WHERE symbol = $1 AND start_date <= $2",
        &[&key, &end],
    )
    .await?;
    execute_cached(
        transaction,
        "INSERT INTO recent_checks
             (symbol, start_date, end_date, provider, checked_at, final_from, live)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &key,
            &start,
            &end,
            &check.provider,
            &check.checked_at,
            &check.final_from,
            &check.live,
        ],
    )
    .await?;
    Ok(())
}

/// The market a provider named for `key`, if one did and this version can read it.
async fn market_of(client: &Object, key: &str) -> Result<Option<Exchange>, StoreError> {
    let failed = pg_error("reading the symbol's market");
    let statement = client
        .prepare_cached(
            "SELECT exchange, time_zone, calendar FROM symbol_markets WHERE symbol = $1",
        )
        .await
        .map_err(&failed)?;
    let row = client
        .query_opt(&statement, &[&key])
        .await
        .map_err(&failed)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let code: &str = row.try_get(0).map_err(&failed)?;
    let zone: &str = row.try_get(1).map_err(&failed)?;
    let calendar: &str = row.try_get(2).map_err(&failed)?;
    Ok(Exchange::from_stored(code, zone, calendar))
}

async fn record_market(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
    exchange: &Exchange,
    provider: &str,
    at: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    execute_cached(
        transaction,
        "INSERT INTO symbol_markets (symbol, exchange, time_zone, calendar, provider, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (symbol) DO UPDATE SET exchange = excluded.exchange,
             time_zone = excluded.time_zone, calendar = excluded.calendar,
             provider = excluded.provider, recorded_at = excluded.recorded_at",
        &[
            &key,
            &exchange.code,
            &exchange.time_zone.name(),
            &exchange.calendar.code(),
            &provider,
            &at,
        ],
    )
    .await?;
    Ok(())
}

async fn coverage_of(client: &Object, key: &str) -> Result<Vec<CoverageSpan>, StoreError> {
    let failed = pg_error("reading coverage");
    let statement = client
        .prepare_cached(
            "SELECT start_date, end_date, provider, fetched_at, bars, rejected_rows, basis
             FROM coverage_ledger WHERE symbol = $1 ORDER BY start_date",
        )
        .await
        .map_err(&failed)?;
    let rows = client.query(&statement, &[&key]).await.map_err(&failed)?;
    rows.iter().map(|row| span_from_row(key, row)).collect()
}

async fn provisional_of(client: &Object, key: &str) -> Result<Vec<NaiveDate>, StoreError> {
    let failed = pg_error("reading provisional bars");
    let statement = client
        .prepare_cached("SELECT date FROM provisional_bars WHERE symbol = $1 ORDER BY date")
        .await
        .map_err(&failed)?;
    let rows = client.query(&statement, &[&key]).await.map_err(&failed)?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(&failed))
        .collect()
}

async fn recent_checks_of(client: &Object, key: &str) -> Result<Vec<RecentCheck>, StoreError> {
    let failed = pg_error("reading recent checks");
    let statement = client
        .prepare_cached(
            "SELECT start_date, end_date, provider, checked_at, final_from, live
             FROM recent_checks WHERE symbol = $1 ORDER BY start_date",
        )
        .await
        .map_err(&failed)?;
    let rows = client.query(&statement, &[&key]).await.map_err(&failed)?;
    rows.iter()
        .map(|row| {
            let start: NaiveDate = row.try_get(0).map_err(&failed)?;
            let end: NaiveDate = row.try_get(1).map_err(&failed)?;
            let range = DateRange::new(start, end).map_err(|e| StoreError::InvalidRow {
                symbol: key.to_string(),
                date: start.to_string(),
                message: e.to_string(),
            })?;
            Ok(RecentCheck {
                range,
                provider: row.try_get(2).map_err(&failed)?,
                checked_at: row.try_get(3).map_err(&failed)?,
                final_from: row.try_get(4).map_err(&failed)?,
                live: row.try_get(5).map_err(&failed)?,
            })
        })
        .collect()
}

/// Bumps the version of `key` and tells every listening process, both when the transaction
/// commits; the new version.
async fn bump_version(
    transaction: &deadpool_postgres::Transaction<'_>,
    key: &str,
) -> Result<i64, tokio_postgres::Error> {
    query_one_cached(
        transaction,
        "WITH bumped AS (
             INSERT INTO symbol_versions (symbol, version) VALUES ($1, 1)
             ON CONFLICT (symbol) DO UPDATE SET version = symbol_versions.version + 1
             RETURNING symbol, version)
         SELECT version, pg_notify($2, current_schema() || E'\t' || version || E'\t' || symbol)
         FROM bumped",
        &[&key, &CHANNEL],
    )
    .await?
    .try_get(0)
}

/// Runs `sql` as a statement prepared once per pooled connection: given as a string alone, each
/// run would cost a second round trip to prepare it (a warm writes once per chunk).
async fn execute_cached(
    transaction: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = transaction.prepare_cached(sql).await?;
    transaction.execute(&statement, params).await
}

/// [`execute_cached`] for a statement that returns one row.
async fn query_one_cached(
    transaction: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, tokio_postgres::Error> {
    let statement = transaction.prepare_cached(sql).await?;
    transaction.query_one(&statement, params).await
}

/// Bytes on disk of the bars table with its indexes, and of all our tables.
async fn sizes(client: &Object) -> Result<(u64, u64), StoreError> {
    let failed = pg_error("measuring the tables");
    let sizes = client.query_one(SIZES, &[]).await.map_err(&failed)?;
    let bar_table: i64 = sizes.try_get(0).map_err(&failed)?;
    let all: i64 = sizes.try_get(1).map_err(&failed)?;
    Ok((
        u64::try_from(bar_table).unwrap_or(0),
        u64::try_from(all).unwrap_or(0),
    ))
}
