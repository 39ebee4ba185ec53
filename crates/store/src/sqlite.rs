//! The embedded default store: one SQLite file in WAL mode, written by one connection and read
//! by a small pool of others, all driven from tokio's blocking threads.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use marketcache_domain::{
    Allowance, Bar, BarStore, BudgetState, ClearReport, CorporateAction, CoverageSpan, DateRange,
    Exchange, FetchedWrite, FillClaim, IsoDate, LedgerSnapshot, MigrationStep, Packed, RecentCheck,
    RecordedAction, StoreError, StoreStats, Symbol, SymbolStats,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::backend_error;
use crate::migrations::{Backend, CREATE_SCHEMA_MIGRATIONS, MIGRATIONS, step};

/// Most reader connections at once (more readers wait for one), all kept open between calls.
const MAX_READERS: usize = 4;
/// The writer's page cache: it keeps the B-tree pages of bulk upserts in memory.
const WRITER_PAGE_CACHE_KIB: i64 = 32 * 1024;
/// Each reader's page cache: with the writer's, the process's page caches stay under 64 MiB
/// whatever the load (a burst of `stats` once took 1.6 GB with a 32 MiB cache per reader).
const READER_PAGE_CACHE_KIB: i64 = 8 * 1024;

/// A bar store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    // SQLite allows one writer at a time; a std mutex serialises our writers without lock
    // errors, and it is only held on blocking threads.
    writer: Mutex<Connection>,
    idle_readers: Mutex<Vec<Connection>>,
    /// One permit per reader connection that may be open.
    readers: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the SQLite file at `path`, and its parent folder.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let unreachable = |message: String| StoreError::Unreachable {
                target: path.display().to_string(),
                message,
            };
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| unreachable(e.to_string()))?;
            }
            let writer = open_connection(&path, WRITER_PAGE_CACHE_KIB)
                .map_err(|e| unreachable(e.to_string()))?;
            Ok(Self {
                inner: Arc::new(Inner {
                    path,
                    writer: Mutex::new(writer),
                    idle_readers: Mutex::new(Vec::new()),
                    readers: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
                }),
            })
        })
        .await
        .map_err(|e| backend_error("opening the database")(Box::new(e)))?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The lock of the file `name` in the claims folder beside the database; `None` while
    /// another holder has it.
    async fn try_claim_file(
        &self,
        name: PathBuf,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        let mut folder = self.inner.path.clone().into_os_string();
        folder.push(".fill-claims");
        let path = PathBuf::from(folder).join(name);
        let claimed = tokio::task::spawn_blocking(move || try_lock_file(&path))
            .await
            .map_err(|e| backend_error("claiming")(Box::new(e)))?
            .map_err(|e| backend_error("claiming")(Box::new(e)))?;
        Ok(claimed.map(|claim| Box::new(claim) as Box<dyn FillClaim>))
    }

    async fn with_writer<T: Send + 'static>(
        &self,
        context: &'static str,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut guard = match inner.writer.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            work(&mut guard).map_err(|e| backend_error(context)(Box::new(e)))
        })
        .await
        .map_err(|e| backend_error(context)(Box::new(e)))?
    }

    /// Reads `provider`'s budget (fresh at `now` if none), lets `change` decide, and saves the
    /// state it returns: one IMMEDIATE transaction, so for every process on the file the read
    /// and the change are one step.
    async fn update_budget<T: Send + 'static>(
        &self,
        provider: &str,
        context: &'static str,
        now: DateTime<Utc>,
        change: impl FnOnce(BudgetState) -> (T, BudgetState) + Send + 'static,
    ) -> Result<T, StoreError> {
        let provider = provider.to_string();
        self.with_writer(context, move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state =
                budget_of(&transaction, &provider)?.unwrap_or_else(|| BudgetState::fresh(now));
            let (outcome, state) = change(state);
            save_budget(&transaction, &provider, &state)?;
            transaction.commit()?;
            Ok(outcome)
        })
        .await
    }

    /// [`Self::with_reader`] on the calling thread when an idle reader is at hand, for point
    /// reads of a few microseconds: handing them to a blocking thread costs far more (50 to 150
    /// µs when that thread has gone idle, measured from Python between reads). A read that would
    /// wait for a reader, or open one, goes to a blocking thread as usual.
    async fn with_reader_here<T: Send + 'static>(
        &self,
        context: &'static str,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = &self.inner;
        let permit = Arc::clone(&inner.readers).try_acquire_owned().ok();
        let idle = permit.as_ref().and_then(|_| {
            inner
                .idle_readers
                .lock()
                .ok()
                .and_then(|mut idle| idle.pop())
        });
        let Some(connection) = idle else {
            drop(permit);
            return self.with_reader(context, work).await;
        };
        let result = work(&connection);
        if let Ok(mut idle) = inner.idle_readers.lock() {
            idle.push(connection);
        }
        drop(permit);
        result
    }

    async fn with_reader<T: Send + 'static>(
        &self,
        context: &'static str,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        // The semaphore is never closed: a permit always comes.
        let permit = Arc::clone(&inner.readers).acquire_owned().await.ok();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = inner
                .idle_readers
                .lock()
                .ok()
                .and_then(|mut idle| idle.pop());
            let connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&inner.path, READER_PAGE_CACHE_KIB)
                    .map_err(|e| backend_error(context)(Box::new(e)))?,
            };
            let result = work(&connection);
            if let Ok(mut idle) = inner.idle_readers.lock() {
                idle.push(connection);
            }
            result
        })
        .await
        .map_err(|e| backend_error(context)(Box::new(e)))?
    }
}

/// The budget row of `provider`, if it has one.
fn budget_of(
    transaction: &rusqlite::Transaction<'_>,
    provider: &str,
) -> rusqlite::Result<Option<BudgetState>> {
    transaction
        .query_row(
            "SELECT paused_until, minute_start, minute_count, day, day_count
             FROM upstream_budgets WHERE provider = ?1",
            params![provider],
            |row| {
                let day: String = row.get(3)?;
                Ok(BudgetState {
                    paused_until: row.get::<_, Option<i64>>(0)?.map(timestamp),
                    minute_start: timestamp(row.get(1)?),
                    minute_count: row.get(2)?,
                    // An unreadable day starts a new one: at worst a day's count restarts.
                    day: parse_iso_date(&day).unwrap_or_default(),
                    day_count: row.get(4)?,
                })
            },
        )
        .optional()
}

fn save_budget(
    transaction: &rusqlite::Transaction<'_>,
    provider: &str,
    state: &BudgetState,
) -> rusqlite::Result<()> {
    // Whole seconds: `BudgetState::pause_until` rounds a pause up to one.
    let paused_until = state.paused_until.map(|until| until.timestamp());
    transaction.execute(
        "INSERT INTO upstream_budgets (provider, paused_until, minute_start, minute_count, day, day_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (provider) DO UPDATE SET paused_until = excluded.paused_until,
             minute_start = excluded.minute_start, minute_count = excluded.minute_count,
             day = excluded.day, day_count = excluded.day_count",
        params![
            provider,
            paused_until,
            state.minute_start.timestamp(),
            state.minute_count,
            iso_date(state.day),
            state.day_count
        ],
    )?;
    Ok(())
}

/// One symbol's fill claim on a SQLite file: an exclusive OS lock on a file of its own in a
/// folder beside the database. The OS frees it when the file is closed, which the end of the
/// holding process does too, however it ends.
struct FileClaim {
    _locked: std::fs::File,
}

#[async_trait]
impl FillClaim for FileClaim {
    async fn release(self: Box<Self>) {}
}

/// Takes the lock of the file `path`, creating it (and its folder) if needed; `None` while
/// another holder has it.
fn try_lock_file(path: &Path) -> std::io::Result<Option<FileClaim>> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileClaim { _locked: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// [`open_once`], asked again while another process holds the file's lock: switching a new
/// file to WAL takes an exclusive lock that SQLite's busy handler does not wait for, so two
/// processes opening a fresh cache at once would otherwise see "database is locked". Its page
/// cache holds up to `page_cache_kib` KiB.
fn open_connection(path: &Path, page_cache_kib: i64) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match open_once(path, page_cache_kib) {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if matches!(
                    error.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

fn open_once(path: &Path, page_cache_kib: i64) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // The page cache is allocated only as used; checkpoints every 16 MiB of WAL instead of 4
    // amortise their fsyncs over more bars.
    connection.pragma_update(None, "cache_size", -page_cache_kib)?;
    connection.pragma_update(None, "wal_autocheckpoint", 4_096)?;
    connection.set_prepared_statement_cache_capacity(32);
    Ok(connection)
}

/// `YYYY-MM-DD`, as text.
fn iso_date(date: NaiveDate) -> String {
    IsoDate::new(date).map_or_else(|| date.to_string(), |text| text.as_str().to_string())
}

fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    parse_iso_date_bytes(text.as_bytes())
}

fn parse_iso_date_bytes(bytes: &[u8]) -> Option<NaiveDate> {
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        bytes[range].iter().try_fold(0u32, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )
}

fn date_column(symbol: &str, text: &str) -> Result<NaiveDate, StoreError> {
    parse_iso_date(text).ok_or_else(|| StoreError::InvalidRow {
        symbol: symbol.to_string(),
        date: text.to_string(),
        message: "date is not YYYY-MM-DD".to_string(),
    })
}

fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

fn query_error(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| backend_error(context)(Box::new(e))
}

fn version_of(connection: &Connection, symbol: &str) -> Result<i64, StoreError> {
    let failed = query_error("reading the symbol version");
    let mut statement = connection
        .prepare_cached("SELECT version FROM symbol_versions WHERE symbol = ?1")
        .map_err(&failed)?;
    let version = statement
        .query_row(params![symbol], |row| row.get::<_, i64>(0))
        .optional()
        .map_err(&failed)?;
    Ok(version.unwrap_or(0))
}

fn date_range_column(symbol: &str, start: &str, end: &str) -> Result<DateRange, StoreError> {
    DateRange::new(date_column(symbol, start)?, date_column(symbol, end)?).map_err(|e| {
        StoreError::InvalidRow {
            symbol: symbol.to_string(),
            date: start.to_string(),
            message: e.to_string(),
        }
    })
}

/// The market a provider named for `symbol`, if one did and this version can read it.
fn market_of(connection: &Connection, symbol: &str) -> Result<Option<Exchange>, StoreError> {
    let failed = query_error("reading the symbol's market");
    let mut statement = connection
        .prepare_cached(
            "SELECT exchange, time_zone, calendar FROM symbol_markets WHERE symbol = ?1",
        )
        .map_err(&failed)?;
    let row = statement
        .query_row(params![symbol], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()
        .map_err(&failed)?;
    Ok(row.and_then(|(code, zone, calendar)| Exchange::from_stored(&code, &zone, &calendar)))
}

fn record_market(
    transaction: &rusqlite::Transaction<'_>,
    symbol: &str,
    exchange: &Exchange,
    provider: &str,
    at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT INTO symbol_markets (symbol, exchange, time_zone, calendar, provider, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (symbol) DO UPDATE SET exchange = excluded.exchange,
             time_zone = excluded.time_zone, calendar = excluded.calendar,
             provider = excluded.provider, recorded_at = excluded.recorded_at",
        params![
            symbol,
            exchange.code,
            exchange.time_zone.name(),
            exchange.calendar.code(),
            provider,
            at.timestamp()
        ],
    )?;
    Ok(())
}

fn coverage_of(connection: &Connection, symbol: &str) -> Result<Vec<CoverageSpan>, StoreError> {
    let failed = query_error("reading coverage");
    let mut statement = connection
        .prepare_cached(
            "SELECT start_date, end_date, provider, fetched_at, bars, rejected_rows, basis
             FROM coverage_ledger WHERE symbol = ?1 ORDER BY start_date",
        )
        .map_err(&failed)?;
    let rows = statement
        .query_map(params![symbol], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, u32>(4)?,
                row.get::<_, u32>(5)?,
                row.get::<_, String>(6)?,
            ))
        })
        .map_err(&failed)?;
    let mut spans = Vec::new();
    for row in rows {
        let (start, end, provider, fetched_at, bars, rejected_rows, basis) =
            row.map_err(&failed)?;
        spans.push(CoverageSpan {
            range: date_range_column(symbol, &start, &end)?,
            provider,
            basis: crate::basis_column(symbol, &start, &basis)?,
            fetched_at: timestamp(fetched_at),
            bars,
            rejected_rows,
        });
    }
    Ok(spans)
}

fn provisional_of(connection: &Connection, symbol: &str) -> Result<Vec<NaiveDate>, StoreError> {
    let failed = query_error("reading provisional bars");
    let mut statement = connection
        .prepare_cached("SELECT date FROM provisional_bars WHERE symbol = ?1 ORDER BY date")
        .map_err(&failed)?;
    let rows = statement
        .query_map(params![symbol], |row| row.get::<_, String>(0))
        .map_err(&failed)?;
    let mut dates = Vec::new();
    for row in rows {
        dates.push(date_column(symbol, &row.map_err(&failed)?)?);
    }
    Ok(dates)
}

fn recent_checks_of(connection: &Connection, symbol: &str) -> Result<Vec<RecentCheck>, StoreError> {
    let failed = query_error("reading recent checks");
    let mut statement = connection
        .prepare_cached(
            "SELECT start_date, end_date, provider, checked_at, final_from, live
             FROM recent_checks WHERE symbol = ?1 ORDER BY start_date",
        )
        .map_err(&failed)?;
    let rows = statement
        .query_map(params![symbol], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, bool>(5)?,
            ))
        })
        .map_err(&failed)?;
    let mut checks = Vec::new();
    for row in rows {
        let (start, end, provider, checked_at, final_from, live) = row.map_err(&failed)?;
        checks.push(RecentCheck {
            range: date_range_column(symbol, &start, &end)?,
            provider,
            checked_at: timestamp(checked_at),
            final_from: timestamp(final_from),
            live,
        });
    }
    Ok(checks)
}

/// Records `check`, replacing the symbol's checks of days up to its own: a new check starts at
/// the first day its answer left uncovered, so those earlier days are covered or outdated.
fn record_recent_check(
    transaction: &rusqlite::Transaction<'_>,
    symbol: &str,
    check: &RecentCheck,
) -> rusqlite::Result<()> {
    let (start, end) = (iso_date(check.range.start()), iso_date(check.range.end()));
    transaction.execute(
        "DELETE FROM recent_checks WHERE symbol = ?1 AND start_date <= ?2",
        params![symbol, end],
    )?;
    transaction.execute(
        "INSERT INTO recent_checks (symbol, start_date, end_date, provider, checked_at, final_from, live)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            symbol,
            start,
            end,
            check.provider,
            check.checked_at.timestamp(),
            // Rounded up: never earlier than the instant it names.
            check.final_from.timestamp() + i64::from(check.final_from.timestamp_subsec_nanos() > 0),
            check.live,
        ],
    )?;
    Ok(())
}

#[async_trait]
impl BarStore for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite://{}", self.inner.path.display())
    }

    async fn migrate(&self) -> Result<Vec<MigrationStep>, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut guard = match inner.writer.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let failed = query_error("migrating");
            // The common case, a database already up to date, is answered without the write lock.
            let recorded = guard.prepare("SELECT version FROM schema_migrations").and_then(|mut statement| {
                statement.query_map([], |row| row.get::<_, u32>(0))?.collect::<rusqlite::Result<HashSet<u32>>>()
            });
            if recorded.is_ok_and(|versions| MIGRATIONS.iter().all(|m| versions.contains(&m.version))) {
                return Ok(MIGRATIONS.iter().map(|migration| step(migration, Backend::Sqlite, false)).collect());
            }
            guard.execute_batch(CREATE_SCHEMA_MIGRATIONS).map_err(&failed)?;
            // IMMEDIATE takes the write lock first, so two processes migrating at once take turns.
            let transaction = guard.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&failed)?;
            let applied: HashSet<u32> = {
                let mut statement = transaction.prepare("SELECT version FROM schema_migrations").map_err(&failed)?;
                let versions = statement.query_map([], |row| row.get::<_, u32>(0)).map_err(&failed)?;
                versions.collect::<rusqlite::Result<_>>().map_err(&failed)?
            };
            let mut steps = Vec::new();
            for migration in MIGRATIONS {
                let applied_now = !applied.contains(&migration.version);
                if applied_now {
                    let step_failed = |e: rusqlite::Error| StoreError::Migration { version: migration.version, source: Box::new(e) };
                    transaction.execute_batch(migration.sqlite).map_err(step_failed)?;
                    transaction
                        .execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                            params![migration.version, migration.name, Utc::now().to_rfc3339()],
                        )
                        .map_err(step_failed)?;
                }
                steps.push(step(migration, Backend::Sqlite, applied_now));
            }
            transaction.commit().map_err(&failed)?;
            Ok(steps)
        })
        .await
        .map_err(|e| backend_error("migrating")(Box::new(e)))?
    }

    async fn read_bars(&self, symbol: &Symbol, range: DateRange) -> Result<Vec<Bar>, StoreError> {
        let symbol = symbol.to_string();
        self.with_reader("reading bars", move |connection| {
            let failed = query_error("reading bars");
            let mut statement = connection
                .prepare_cached(
                    "SELECT date, open, high, low, close, volume FROM market_data_cache
                     WHERE symbol = ?1 AND date BETWEEN ?2 AND ?3 ORDER BY date",
                )
                .map_err(&failed)?;
            let mut rows = statement
                .query(params![
                    symbol,
                    iso_date(range.start()),
                    iso_date(range.end())
                ])
                .map_err(&failed)?;
            let mut bars =
                Vec::with_capacity(usize::try_from(range.len_days()).unwrap_or(0) * 5 / 7 + 1);
            // The hot loop of every cached read: values are taken as SQLite hands them over,
            // without rusqlite's per-column type conversions.
            while let Some(row) = rows.next().map_err(&failed)? {
                let date = match row.get_ref_unwrap(0) {
                    ValueRef::Text(text) => parse_iso_date_bytes(text),
                    _ => None,
                };
                let price = |index: usize| match row.get_ref_unwrap(index) {
                    ValueRef::Real(value) => value,
                    ValueRef::Integer(value) => value as f64,
                    _ => f64::NAN,
                };
                let volume = match row.get_ref_unwrap(5) {
                    ValueRef::Integer(value) => u64::try_from(value).unwrap_or(0),
                    ValueRef::Real(value) if value >= 0.0 => value as u64,
                    _ => 0,
                };
                let invalid = |date: String, message: String| StoreError::InvalidRow {
                    symbol: symbol.clone(),
                    date,
                    message,
                };
                let Some(date) = date else {
                    let raw = format!("{:?}", row.get_ref_unwrap(0));
                    return Err(invalid(raw, "date is not YYYY-MM-DD".to_string()));
                };
                let bar = Bar::try_new(date, price(1), price(2), price(3), price(4), volume)
                    .map_err(|e| invalid(date.to_string(), e.to_string()))?;
                bars.push(bar);
            }
            Ok(bars)
        })
        .await
    }

    async fn change_count(&self) -> Result<i64, StoreError> {
        self.with_reader("reading the change count", |connection| {
            connection
                .query_row(
                    "SELECT COALESCE(SUM(version), 0) FROM symbol_versions",
                    [],
                    |row| row.get(0),
                )
                .map_err(query_error("reading the change count"))
        })
        .await
    }

    async fn symbol_version(&self, symbol: &Symbol) -> Result<i64, StoreError> {
        // Every cached read asks this first: one row by its key, from the page cache.
        let symbol = symbol.to_string();
        self.with_reader_here("reading the symbol version", move |connection| {
            version_of(connection, &symbol)
        })
        .await
    }

    async fn read_coverage(&self, symbol: &Symbol) -> Result<Vec<CoverageSpan>, StoreError> {
        let symbol = symbol.to_string();
        self.with_reader("reading coverage", move |connection| {
            coverage_of(connection, &symbol)
        })
        .await
    }

    async fn read_recent_checks(&self, symbol: &Symbol) -> Result<Vec<RecentCheck>, StoreError> {
        let symbol = symbol.to_string();
        self.with_reader("reading recent checks", move |connection| {
            recent_checks_of(connection, &symbol)
        })
        .await
    }

    async fn read_ledger(&self, symbol: &Symbol) -> Result<LedgerSnapshot, StoreError> {
        let symbol = symbol.to_string();
        self.with_reader("reading the ledger", move |connection| {
            // One read transaction: the four parts are one moment of the file.
            let failed = query_error("reading the ledger");
            connection.execute_batch("BEGIN").map_err(&failed)?;
            let snapshot = (|| {
                Ok(LedgerSnapshot {
                    version: version_of(connection, &symbol)?,
                    coverage: coverage_of(connection, &symbol)?,
                    provisional: provisional_of(connection, &symbol)?,
                    recent_checks: recent_checks_of(connection, &symbol)?,
                    exchange: market_of(connection, &symbol)?,
                })
            })();
            connection.execute_batch("COMMIT").map_err(&failed)?;
            snapshot
        })
        .await
    }

    async fn read_actions(&self, symbol: &Symbol) -> Result<Vec<RecordedAction>, StoreError> {
        let symbol = symbol.to_string();
        self.with_reader("reading corporate actions", move |connection| {
            let failed = query_error("reading corporate actions");
            let mut statement = connection
                .prepare_cached(
                    "SELECT ex_date, kind, value, provider FROM corporate_actions
                     WHERE symbol = ?1 ORDER BY ex_date, kind",
                )
                .map_err(&failed)?;
            let rows = statement
                .query_map(params![symbol], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, f64>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })
                .map_err(&failed)?;
            let mut actions = Vec::new();
            for row in rows {
                let (ex_date, kind, value, provider) = row.map_err(&failed)?;
                let ex_date = date_column(&symbol, &ex_date)?;
                let action = crate::action_from_row(&symbol, ex_date, &kind, value)?;
                actions.push(RecordedAction { action, provider });
            }
            Ok(actions)
        })
        .await
    }

    async fn read_provisional(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, StoreError> {
        let symbol = symbol.to_string();
        self.with_reader("reading provisional bars", move |connection| {
            provisional_of(connection, &symbol)
        })
        .await
    }

    async fn write_fetched(
        &self,
        symbol: &Symbol,
        write: &FetchedWrite<'_>,
        written_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let symbol = symbol.to_string();
        let bars = write.bars.to_vec();
        let coverage = write.coverage.cloned();
        let actions = write.actions.to_vec();
        let provisional = write.provisional.to_vec();
        let provider = write.provider.to_string();
        let recheck = write.recheck.cloned();
        let exchange = write.exchange.copied();
        self.with_writer("writing bars", move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            upsert_bars(&transaction, &symbol, &bars, written_at)?;
            mark_provisional(&transaction, &symbol, &provisional, written_at)?;
            upsert_actions(&transaction, &symbol, &actions, &provider, written_at)?;
            if let Some(span) = coverage {
                record_coverage(&transaction, &symbol, &span)?;
            }
            if let Some(check) = recheck {
                record_recent_check(&transaction, &symbol, &check)?;
            }
            if let Some(exchange) = exchange {
                record_market(&transaction, &symbol, &exchange, &provider, written_at)?;
            }
            transaction.execute(
                "INSERT INTO symbol_versions (symbol, version) VALUES (?1, 1)
                 ON CONFLICT (symbol) DO UPDATE SET version = version + 1",
                params![symbol],
            )?;
            transaction.commit()
        })
        .await
    }

    async fn clear(
        &self,
        symbol: Option<&Symbol>,
        before: Option<NaiveDate>,
    ) -> Result<ClearReport, StoreError> {
        let symbol = symbol.map(Symbol::to_string);
        let before = before.map(iso_date);
        self.with_writer("clearing", move |connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let bars_deleted = transaction.execute(
                "DELETE FROM market_data_cache WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR date < ?2)",
                params![symbol, before],
            )?;
            let spans_deleted = transaction.execute(
                "DELETE FROM coverage_ledger WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR end_date < ?2)",
                params![symbol, before],
            )?;
            let spans_trimmed = transaction.execute(
                // A trimmed entry keeps count of the bars it still holds.
                "UPDATE coverage_ledger SET start_date = ?2,
                     bars = MIN(bars, (SELECT COUNT(*) FROM market_data_cache m
                         WHERE m.symbol = coverage_ledger.symbol
                           AND m.date BETWEEN ?2 AND coverage_ledger.end_date))
                 WHERE ?2 IS NOT NULL AND (?1 IS NULL OR symbol = ?1) AND start_date < ?2",
                params![symbol, before],
            )?;
            // Actions after `before` still adjust the bars that stay.
            transaction.execute(
                "DELETE FROM corporate_actions WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR ex_date < ?2)",
                params![symbol, before],
            )?;
            transaction.execute(
                "DELETE FROM provisional_bars WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR date < ?2)",
                params![symbol, before],
            )?;
            transaction.execute(
                "DELETE FROM recent_checks WHERE (?1 IS NULL OR symbol = ?1) AND (?2 IS NULL OR start_date < ?2)",
                params![symbol, before],
            )?;
            transaction.execute(
                "UPDATE symbol_versions SET version = version + 1 WHERE ?1 IS NULL OR symbol = ?1",
                params![symbol],
            )?;
            transaction.commit()?;
            Ok(ClearReport {
                bars_deleted: bars_deleted as u64,
                coverage_spans_changed: (spans_deleted + spans_trimmed) as u64,
            })
        })
        .await
    }

    async fn try_claim_fill(
        &self,
        symbol: &Symbol,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        // Store keys are tickers with an optional `@dataset`: safe as file names anywhere.
        self.try_claim_file(PathBuf::from(format!("{symbol}.lock")))
            .await
    }

    async fn try_claim_request_slot(
        &self,
        provider: &str,
        slot: usize,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        // In a folder of their own: `SLOT-…` could be a ticker, never a folder name.
        self.try_claim_file(PathBuf::from("request-slots").join(format!("{provider}-{slot}.lock")))
            .await
    }

    async fn take_upstream_request(
        &self,
        provider: &str,
        per_minute: Option<u32>,
        per_day: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Allowance, StoreError> {
        self.update_budget(
            provider,
            "counting an upstream request",
            now,
            move |state| state.take(per_minute, per_day, now),
        )
        .await
    }

    async fn pause_upstream(&self, provider: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_budget(
            provider,
            "pausing an upstream",
            Utc::now(),
            move |mut state| {
                state.pause_until(until);
                ((), state)
            },
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_reader("reaching the database", |connection| {
            connection
                .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                .map_err(query_error("reaching the database"))?;
            Ok(())
        })
        .await
    }

    async fn compact(&self) -> Result<(), StoreError> {
        self.with_writer("compacting", |connection| connection.execute_batch(PACK))
            .await
    }

    async fn pack_after_bulk_load(&self, written_bars: u64) -> Result<Option<Packed>, StoreError> {
        self.with_writer("packing after a bulk load", move |connection| {
            let bytes_before = used_bytes(connection)?;
            if written_bars == 0 || written_bars.saturating_mul(2 * PACKED_BAR_BYTES) < bytes_before
            {
                return Ok(None);
            }
            // In WAL mode VACUUM lets readers in other connections go on reading meanwhile.
            connection.execute_batch(PACK)?;
            Ok(Some(Packed {
                bytes_before,
                bytes_after: used_bytes(connection)?,
            }))
        })
        .await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.with_reader("reading statistics", move |connection| {
            let mut per_symbol = bar_figures_per_symbol(connection)?;
            crate::attach_coverage(&mut per_symbol, covered_ranges_per_symbol(connection)?);
            crate::attach_counts(&mut per_symbol, counted_figures_per_symbol(connection)?);
            let bytes_on_disk =
                used_bytes(connection).map_err(query_error("reading statistics"))?;
            // dbstat is compiled into the bundled SQLite; fall back to the whole file without it.
            let bar_table_bytes = bar_table_bytes_from_dbstat(connection).unwrap_or(bytes_on_disk);
            let symbols: Vec<SymbolStats> = per_symbol.into_values().collect();
            Ok(StoreStats {
                total_bars: symbols.iter().map(|s| s.bars).sum(),
                symbols,
                bytes_on_disk,
                bar_table_bytes,
            })
        })
        .await
    }
}

/// Each symbol's bar count, first and last day and latest update; the other figures start at
/// zero for the later steps of [`SqliteStore::stats`] to fill.
fn bar_figures_per_symbol(
    connection: &Connection,
) -> Result<BTreeMap<String, SymbolStats>, StoreError> {
    let failed = query_error("reading statistics");
    let mut per_symbol: BTreeMap<String, SymbolStats> = BTreeMap::new();
    let mut statement = connection
        .prepare(
            // Only the count reads every row; first and last days are index seeks, and the last
            // update comes from the small tables: with 6 million bars, 0.5 s instead of 1.3 s.
            "SELECT c.symbol, c.bars,
                 (SELECT MIN(date) FROM market_data_cache m WHERE m.symbol = c.symbol),
                 (SELECT MAX(date) FROM market_data_cache m WHERE m.symbol = c.symbol),
                 MAX(COALESCE((SELECT MAX(fetched_at) FROM coverage_ledger l WHERE l.symbol = c.symbol), 0),
                     COALESCE((SELECT MAX(fetched_at) FROM provisional_bars p WHERE p.symbol = c.symbol), 0),
                     COALESCE((SELECT MAX(checked_at) FROM recent_checks r WHERE r.symbol = c.symbol), 0))
             FROM (SELECT symbol, COUNT(*) AS bars FROM market_data_cache GROUP BY symbol) c",
        )
        .map_err(&failed)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })
        .map_err(&failed)?;
    for row in rows {
        let (symbol, bars, first, last, updated) = row.map_err(&failed)?;
        let stats = SymbolStats {
            first_date: parse_iso_date(&first),
            last_date: parse_iso_date(&last),
            bars: u64::try_from(bars).unwrap_or(0),
            covered: Vec::new(),
            last_update: (updated > 0).then(|| timestamp(updated)),
            symbol: symbol.clone(),
            rejected_rows: 0,
            provisional_bars: 0,
            provisional: Vec::new(),
            corporate_actions: 0,
        };
        per_symbol.insert(symbol, stats);
    }
    Ok(per_symbol)
}

/// Every ledger entry's range, by symbol (overlapping and touching ones not merged yet).
fn covered_ranges_per_symbol(
    connection: &Connection,
) -> Result<BTreeMap<String, Vec<DateRange>>, StoreError> {
    let failed = query_error("reading statistics");
    let mut statement = connection
        .prepare("SELECT symbol, start_date, end_date FROM coverage_ledger")
        .map_err(&failed)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(&failed)?;
    let mut ranges: BTreeMap<String, Vec<DateRange>> = BTreeMap::new();
    for row in rows {
        let (symbol, start, end) = row.map_err(&failed)?;
        if let Ok(range) =
            DateRange::new(date_column(&symbol, &start)?, date_column(&symbol, &end)?)
        {
            ranges.entry(symbol).or_default().push(range);
        }
    }
    Ok(ranges)
}

/// The rejected rows, provisional bars and corporate actions of each symbol, as the shared
/// [`crate::COUNT_QUERIES`] count them.
fn counted_figures_per_symbol(
    connection: &Connection,
) -> Result<Vec<(crate::Count, String, u64)>, StoreError> {
    let failed = query_error("reading statistics");
    let mut counts = Vec::new();
    for (kind, query) in crate::COUNT_QUERIES {
        let mut statement = connection.prepare(query).map_err(&failed)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(&failed)?;
        for row in rows {
            let (symbol, count) = row.map_err(&failed)?;
            counts.push((*kind, symbol, u64::try_from(count).unwrap_or(0)));
        }
    }
    Ok(counts)
}

/// Bytes of the bars table's pages as the `dbstat` virtual table counts them; `None` when a
/// build of SQLite lacks it or it gives nothing.
fn bar_table_bytes_from_dbstat(connection: &Connection) -> Option<u64> {
    connection
        .query_row(
            "SELECT SUM(pgsize) FROM dbstat WHERE name = 'market_data_cache'",
            [],
            |row| row.get::<_, Option<i64>>(0),
        )
        .optional()
        .ok()
        .flatten()
        .flatten()
        .and_then(|bytes| u64::try_from(bytes).ok())
}

/// VACUUM rebuilds each B-tree from its keys in order, filling every page; the WAL is then
/// checkpointed so the file itself shrinks.
const PACK: &str = "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";

/// About what a bar takes in a packed file (71.7 bytes measured on the nine tickers).
const PACKED_BAR_BYTES: u64 = 72;

/// Bytes of the database's pages in use (the file less its free pages).
fn used_bytes(connection: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| {
        connection.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0))
    };
    let used_pages = pragma("page_count")? - pragma("freelist_count")?;
    Ok(u64::try_from(pragma("page_size")? * used_pages).unwrap_or(0))
}

/// Upserts `bars` of `symbol` (re-written bars keep `created_at`); written bars are final
/// unless marked provisional again afterwards.
fn upsert_bars(
    transaction: &rusqlite::Transaction<'_>,
    symbol: &str,
    bars: &[Bar],
    written_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    {
        let mut upsert = transaction.prepare_cached(
            "INSERT INTO market_data_cache (symbol, date, open, high, low, close, volume, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
             ON CONFLICT (symbol, date) DO UPDATE SET
                 open = excluded.open, high = excluded.high, low = excluded.low,
                 close = excluded.close, volume = excluded.volume, updated_at = excluded.updated_at",
        )?;
        // Symbol and time are bound once; each bar rebinds only its own values.
        upsert.raw_bind_parameter(1, symbol)?;
        upsert.raw_bind_parameter(8, written_at.timestamp())?;
        for bar in bars {
            match IsoDate::new(bar.date) {
                Some(date) => upsert.raw_bind_parameter(2, date.as_str())?,
                None => upsert.raw_bind_parameter(2, bar.date.to_string())?,
            }
            upsert.raw_bind_parameter(3, bar.open)?;
            upsert.raw_bind_parameter(4, bar.high)?;
            upsert.raw_bind_parameter(5, bar.low)?;
            upsert.raw_bind_parameter(6, bar.close)?;
            upsert.raw_bind_parameter(7, i64::try_from(bar.volume).unwrap_or(i64::MAX))?;
            upsert.raw_execute()?;
        }
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        transaction
            .prepare_cached(
                "DELETE FROM provisional_bars WHERE symbol = ?1 AND date BETWEEN ?2 AND ?3",
            )?
            .execute(params![symbol, iso_date(first.date), iso_date(last.date)])?;
    }
    Ok(())
}

/// Marks the bars of `dates` of `symbol` as not final yet.
fn mark_provisional(
    transaction: &rusqlite::Transaction<'_>,
    symbol: &str,
    dates: &[NaiveDate],
    written_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    if dates.is_empty() {
        return Ok(());
    }
    let mut mark = transaction.prepare_cached(
        "INSERT INTO provisional_bars (symbol, date, fetched_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (symbol, date) DO UPDATE SET fetched_at = excluded.fetched_at",
    )?;
    for date in dates {
        mark.execute(params![symbol, iso_date(*date), written_at.timestamp()])?;
    }
    Ok(())
}

/// Stores the splits and dividends `provider` reported, the last report of each winning.
fn upsert_actions(
    transaction: &rusqlite::Transaction<'_>,
    symbol: &str,
    actions: &[CorporateAction],
    provider: &str,
    written_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let mut record = transaction.prepare_cached(
        "INSERT INTO corporate_actions (symbol, ex_date, kind, value, provider, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (symbol, ex_date, kind) DO UPDATE SET
             value = excluded.value, provider = excluded.provider,
             fetched_at = excluded.fetched_at",
    )?;
    for action in actions {
        let (kind, value) = crate::action_columns(action);
        record.execute(params![
            symbol,
            iso_date(action.ex_date),
            kind,
            value,
            provider,
            written_at.timestamp()
        ])?;
    }
    Ok(())
}

/// Records that `span` of `symbol` was asked upstream.
fn record_coverage(
    transaction: &rusqlite::Transaction<'_>,
    symbol: &str,
    span: &CoverageSpan,
) -> rusqlite::Result<()> {
    transaction.execute(
        // The same entry twice (a copy made again) is recorded once.
        "INSERT INTO coverage_ledger
             (symbol, start_date, end_date, provider, fetched_at, bars, rejected_rows, basis)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
         WHERE NOT EXISTS (SELECT 1 FROM coverage_ledger WHERE symbol = ?1 AND start_date = ?2
             AND end_date = ?3 AND provider = ?4 AND fetched_at = ?5)",
        params![
            symbol,
            iso_date(span.range.start()),
            iso_date(span.range.end()),
            span.provider,
            span.fetched_at.timestamp(),
            span.bars,
            span.rejected_rows,
            span.basis.code()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_round_trip() {
        let date = NaiveDate::from_ymd_opt(1990, 1, 2).unwrap_or_default();
        assert_eq!(iso_date(date), "1990-01-02");
        assert_eq!(parse_iso_date("1990-01-02"), Some(date));
        assert_eq!(parse_iso_date("1990-13-02"), None);
        assert_eq!(parse_iso_date("1990/01/02"), None);
    }
}
