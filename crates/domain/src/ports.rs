//! The ports: traits that the storage and upstream adapters implement, and the values they exchange.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::{
    Bar, CorporateAction, CoverageSpan, Dataset, DateRange, Exchange, PriceBasis, RecentCheck,
    RecordedAction, Symbol,
};

/// How a provider wants to be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceLimits {
    /// Most calendar days one request may span.
    pub max_span_days: u32,
    /// Most requests in flight at once.
    pub max_concurrency: usize,
    /// Documented request budget per minute, if the provider has one.
    pub requests_per_minute: Option<u32>,
    /// Documented request budget per day, if the provider has one.
    pub requests_per_day: Option<u32>,
}

impl SourceLimits {
    /// Limits of a source with no request budget (local files, made-up data).
    pub fn unmetered(max_span_days: u32, max_concurrency: usize) -> Self {
        Self {
            max_span_days,
            max_concurrency,
            requests_per_minute: None,
            requests_per_day: None,
        }
    }
}

/// A row of a provider's payload that did not become a bar, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// The row's trading date, when it could be read.
    pub date: Option<NaiveDate>,
    pub reason: String,
}

/// Everything one upstream request yielded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FetchedBars {
    /// Bars that passed the domain's checks, in date order, without duplicates.
    pub bars: Vec<Bar>,
    /// Splits and dividends the provider reported within the answer.
    pub actions: Vec<CorporateAction>,
    /// Rows dropped (nulls, broken invariants), never stored.
    pub rejected: Vec<RejectedRow>,
    /// Dates of bars the provider marked as not final yet (a live session's bar).
    pub provisional: Vec<NaiveDate>,
    /// The symbol's first trading day, when the answer says (Yahoo's `firstTradeDate`): no
    /// day before it can have a bar, so no request for those days is ever needed.
    pub first_trade: Option<NaiveDate>,
    /// The market the answer says the symbol trades on (Yahoo's `exchangeName` and
    /// `exchangeTimezoneName`), when it says one we can use.
    pub exchange: Option<Exchange>,
}

impl FetchedBars {
    pub fn from_bars(bars: Vec<Bar>) -> Self {
        Self {
            bars,
            ..Self::default()
        }
    }
}

/// Why a provider could not answer.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("symbol {symbol} is unknown to provider {provider}")]
    NotFound { provider: String, symbol: String },
    #[error("provider {provider} is rate limiting us{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
    },
    #[error(
        "the daily request budget of provider {provider} ({budget}) is spent; it resets at {}",
        resets_at.format("%Y-%m-%d %H:%M UTC")
    )]
    BudgetSpent {
        provider: String,
        budget: u32,
        resets_at: DateTime<Utc>,
    },
    #[error("provider {provider} could not be reached: {message}")]
    Transport { provider: String, message: String },
    #[error("provider {provider} sent a response we could not read: {message}")]
    Decode { provider: String, message: String },
    /// Our own settings for the provider are wrong or missing (no key, a bad base URL).
    #[error("provider {provider} is not usable: {message}")]
    Configuration { provider: String, message: String },
    /// The provider refused our credentials, or the plan they belong to does not include what
    /// was asked (an unknown key, a premium-only endpoint, a market data subscription).
    #[error("provider {provider} refused access: {message}")]
    Unauthorized { provider: String, message: String },
    /// The provider answered the request with an error of its own; its text is kept whole.
    #[error("provider {provider} answered with an error: {message}")]
    Rejected { provider: String, message: String },
}

/// An upstream of daily bars.
#[async_trait]
pub trait PriceSource: Send + Sync {
    /// Short name, as stored in the coverage ledger (`synthetic`, `csv`, `yahoo`, …).
    fn name(&self) -> &str;

    /// Request size and concurrency this provider accepts.
    fn limits(&self) -> SourceLimits;

    /// What its prices are; as traded unless the source says otherwise.
    fn basis(&self) -> PriceBasis {
        PriceBasis::Raw
    }

    /// The data set its bars belong to; market data unless the source says otherwise.
    fn dataset(&self) -> Dataset {
        Dataset::Market
    }

    /// The provider's answer for `symbol` within `range`: its daily bars in date order (none
    /// means the provider knows the symbol but has no bars there), with the corporate actions,
    /// rejected rows and provisional dates of the answer.
    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError>;

    /// When what the provider holds for `symbol` last changed, where it can tell (a file's
    /// modification time): ranges asked before then are asked again. `None` for providers
    /// that cannot tell, whose answers stand until cleared.
    async fn changed_at(&self, _symbol: &Symbol) -> Option<DateTime<Utc>> {
        None
    }

    /// Only the bars of [`fetch`](Self::fetch).
    async fn fetch_daily_bars(
        &self,
        symbol: &Symbol,
        range: DateRange,
    ) -> Result<Vec<Bar>, SourceError> {
        self.fetch(symbol, range).await.map(|answer| answer.bars)
    }
}

/// What a provider's shared request budget allows for one request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Send it; it is counted.
    Send,
    /// Not before then: the provider asked for a pause, or this minute's budget is spent.
    WaitUntil(DateTime<Utc>),
    /// The day's budget is spent until then.
    SpentUntil(DateTime<Utc>),
}

/// One provider's budget as the store keeps it between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetState {
    pub paused_until: Option<DateTime<Utc>>,
    /// The minute (UTC) `minute_count` counts requests of.
    pub minute_start: DateTime<Utc>,
    pub minute_count: u32,
    /// The day (UTC) `day_count` counts requests of.
    pub day: NaiveDate,
    pub day_count: u32,
}

impl BudgetState {
    /// A budget nothing was spent from, at `now`.
    pub fn fresh(now: DateTime<Utc>) -> Self {
        Self {
            paused_until: None,
            minute_start: minute_of(now),
            minute_count: 0,
            day: now.date_naive(),
            day_count: 0,
        }
    }

    /// Pauses every request until `until`, or later if already paused longer. Kept to the
    /// second above (the stores hold whole seconds or microseconds): a pause never ends early.
    pub fn pause_until(&mut self, until: DateTime<Utc>) {
        let whole_seconds = until.timestamp() + i64::from(until.timestamp_subsec_nanos() > 0);
        let until = DateTime::from_timestamp(whole_seconds, 0).unwrap_or(until);
        self.paused_until = self.paused_until.max(Some(until));
    }

    /// What one more request at `now` may do under `per_minute` and `per_day`, and the state
    /// after it: the one rule both stores apply inside their transaction.
    pub fn take(
        self,
        per_minute: Option<u32>,
        per_day: Option<u32>,
        now: DateTime<Utc>,
    ) -> (Allowance, Self) {
        let mut state = self;
        if let Some(until) = state.paused_until.filter(|until| now < *until) {
            return (Allowance::WaitUntil(until), state);
        }
        state.paused_until = None;
        if state.minute_start != minute_of(now) {
            (state.minute_start, state.minute_count) = (minute_of(now), 0);
        }
        if state.day != now.date_naive() {
            (state.day, state.day_count) = (now.date_naive(), 0);
        }
        if per_day.is_some_and(|budget| state.day_count >= budget) {
            let midnight = state
                .day
                .succ_opt()
                .and_then(|day| day.and_hms_opt(0, 0, 0));
            let resets_at = midnight.map_or(now, |midnight| midnight.and_utc());
            return (Allowance::SpentUntil(resets_at), state);
        }
        if per_minute.is_some_and(|budget| state.minute_count >= budget) {
            return (
                Allowance::WaitUntil(state.minute_start + chrono::Duration::minutes(1)),
                state,
            );
        }
        state.minute_count += 1;
        state.day_count += 1;
        (Allowance::Send, state)
    }
}

/// `at` cut to its minute.
fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = at.timestamp();
    DateTime::from_timestamp(seconds - seconds.rem_euclid(60), 0).unwrap_or(at)
}

/// What one provider allows: requests at once, per minute and per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub max_concurrency: usize,
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
}

/// A provider's request slot, held while one request is in flight: dropping it frees it.
pub struct RequestSlot(Option<Box<dyn Send>>);

impl RequestSlot {
    /// A slot that holds nothing (nobody else to share with).
    pub fn unshared() -> Self {
        Self(None)
    }

    /// A slot held by `guard` until it drops.
    pub fn held(guard: Box<dyn Send>) -> Self {
        Self(Some(guard))
    }
}

impl std::fmt::Debug for RequestSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RequestSlot(held)"
        } else {
            "RequestSlot(unshared)"
        })
    }
}

/// Asked by a provider's HTTP client before each request it sends, and told of each
/// throttling answer, so that every process sharing a cache spends one budget per provider.
#[async_trait]
pub trait RequestGate: Send + Sync {
    /// Returns when a request to `provider` may be sent: with one of its `max_concurrency`
    /// slots, held until the returned slot drops, and counted against `per_minute` and
    /// `per_day`; or the error to give instead (the day's budget is spent).
    async fn before_request(
        &self,
        provider: &str,
        limits: RequestLimits,
    ) -> Result<RequestSlot, SourceError>;

    /// `provider` answered that it wants no request for `retry_after`.
    async fn throttled(&self, provider: &str, retry_after: Duration);
}

/// Why the store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {target} is unreachable: {message}")]
    Unreachable { target: String, message: String },
    #[error("database error while {context}")]
    Backend {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("row for {symbol} on {date} breaks a bar rule: {message}")]
    InvalidRow {
        symbol: String,
        date: String,
        message: String,
    },
    #[error("migration {version} failed")]
    Migration {
        version: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What one upstream answer adds to the store.
#[derive(Debug, Clone, Copy)]
pub struct FetchedWrite<'a> {
    /// The provider that answered, recorded with its corporate actions.
    pub provider: &'a str,
    /// Checked bars in date order.
    pub bars: &'a [Bar],
    /// The days the answer settles for good; `None` when it settles none (all still recent).
    pub coverage: Option<&'a CoverageSpan>,
    /// Splits and dividends reported with the answer.
    pub actions: &'a [CorporateAction],
    /// Dates among `bars` that are not final yet.
    pub provisional: &'a [NaiveDate],
    /// The recent days of the answer that held no final bar yet, and when to ask again;
    /// replaces the symbol's checks it overlaps and those that expired.
    pub recheck: Option<&'a RecentCheck>,
    /// The market the provider says the symbol trades on, recorded with the symbol.
    pub exchange: Option<&'a Exchange>,
}

impl<'a> FetchedWrite<'a> {
    /// Final bars and their coverage, with no corporate actions.
    pub fn bars(provider: &'a str, bars: &'a [Bar], coverage: Option<&'a CoverageSpan>) -> Self {
        Self {
            provider,
            bars,
            coverage,
            actions: &[],
            provisional: &[],
            recheck: None,
            exchange: None,
        }
    }
}

/// What a read plans with: one symbol's ledger as one moment saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerSnapshot {
    /// [`BarStore::symbol_version`], read first: a write landing during the snapshot makes it
    /// look stale, never current.
    pub version: i64,
    /// Every ledger entry.
    pub coverage: Vec<CoverageSpan>,
    /// Dates of the provisional bars, in order.
    pub provisional: Vec<NaiveDate>,
    /// The recent checks of the symbol, expired ones included.
    pub recent_checks: Vec<RecentCheck>,
    /// The market a provider said the symbol trades on, if one did.
    pub exchange: Option<Exchange>,
}

/// One schema migration as the migrator saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationStep {
    pub version: u32,
    pub name: String,
    /// True if this run applied it, false if it was already there.
    pub applied_now: bool,
    /// Human-readable lines describing what the step creates.
    pub creates: Vec<String>,
}

/// What `clear` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClearReport {
    pub bars_deleted: u64,
    pub coverage_spans_changed: u64,
}

/// What the store holds for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolStats {
    pub symbol: String,
    pub bars: u64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    /// The union of the ledger's ranges.
    pub covered: Vec<DateRange>,
    pub last_update: Option<DateTime<Utc>>,
    /// Rows providers sent for it that failed the bar checks (never stored).
    pub rejected_rows: u64,
    /// Stored bars not final yet.
    pub provisional_bars: u64,
    /// The days of those bars, as ranges joined across the market's closed days. They are
    /// never covered (they are asked again once final), so they lie after `covered`. Filled by
    /// the cache, which knows the market; stores leave it empty.
    pub provisional: Vec<DateRange>,
    /// Splits and dividends stored.
    pub corporate_actions: u64,
}

/// What the store holds in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStats {
    pub symbols: Vec<SymbolStats>,
    pub total_bars: u64,
    /// Bytes the whole database takes on disk.
    pub bytes_on_disk: u64,
    /// Bytes of the bars table alone, its indexes included.
    pub bar_table_bytes: u64,
}

impl StoreStats {
    /// Bytes of the bars table per bar, to a tenth of a byte; 0 for an empty store.
    pub fn bytes_per_bar(&self) -> f64 {
        if self.total_bars == 0 {
            return 0.0;
        }
        let per_bar = self.bar_table_bytes as f64 / self.total_bars as f64;
        (per_bar * 10.0).round() / 10.0
    }
}

/// What [`BarStore::pack_after_bulk_load`] did: the database's bytes on disk before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Packed {
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The right to fill one symbol's gaps from upstream, held by one holder at a time among every
/// process sharing the store. It ends when released, and also when its holder dies: the
/// database (PostgreSQL's session locks) or the OS (file locks) frees it, so a crashed or
/// killed holder never blocks the others for longer than it takes them to notice.
#[async_trait]
pub trait FillClaim: Send {
    /// Gives the claim back.
    async fn release(self: Box<Self>);
}

/// The claim of a store no other process shares: holding it is enough.
#[derive(Debug, Default)]
pub struct ProcessClaim;

#[async_trait]
impl FillClaim for ProcessClaim {
    async fn release(self: Box<Self>) {}
}

/// A database of bars plus the ledger of what was asked upstream.
#[async_trait]
pub trait BarStore: Send + Sync {
    /// Where the store lives, for messages; never contains a password.
    fn describe(&self) -> String;

    /// Brings the schema up to date; safe to run any number of times.
    async fn migrate(&self) -> Result<Vec<MigrationStep>, StoreError>;

    /// Stored bars of `symbol` within `range`, in date order.
    async fn read_bars(&self, symbol: &Symbol, range: DateRange) -> Result<Vec<Bar>, StoreError>;

    /// A number that changes whenever the bars or coverage of `symbol` change, in any process
    /// sharing the database; 0 for a symbol never written.
    async fn symbol_version(&self, symbol: &Symbol) -> Result<i64, StoreError>;

    /// Every ledger entry of `symbol`.
    async fn read_coverage(&self, symbol: &Symbol) -> Result<Vec<CoverageSpan>, StoreError>;

    /// The recent days of `symbol` asked for without a final bar, and when to ask again.
    async fn read_recent_checks(&self, symbol: &Symbol) -> Result<Vec<RecentCheck>, StoreError>;

    /// Everything a read of `symbol` plans with, the version first. Stores answer it in as few
    /// round trips as they can; this default asks for each part in turn, and knows no market
    /// (a store that records the markets providers name overrides it).
    async fn read_ledger(&self, symbol: &Symbol) -> Result<LedgerSnapshot, StoreError> {
        let version = self.symbol_version(symbol).await?;
        Ok(LedgerSnapshot {
            exchange: None,
            version,
            coverage: self.read_coverage(symbol).await?,
            provisional: self.read_provisional(symbol).await?,
            recent_checks: self.read_recent_checks(symbol).await?,
        })
    }

    /// Splits and dividends of `symbol`, by ex-date, each with the provider that reported it.
    async fn read_actions(&self, symbol: &Symbol) -> Result<Vec<RecordedAction>, StoreError>;

    /// Dates of the stored bars of `symbol` that are provisional, in order.
    async fn read_provisional(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, StoreError>;

    /// Upserts the bars of `write`, its corporate actions and provisional marks, and records its
    /// coverage, in one transaction, so the ledger never claims bars that are not stored.
    /// Re-written bars keep `created_at` and get a new `updated_at`; a bar written as final
    /// loses its provisional mark. `written_at` becomes `updated_at` (and `created_at` of new
    /// rows).
    async fn write_fetched(
        &self,
        symbol: &Symbol,
        write: &FetchedWrite<'_>,
        written_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deletes bars and ledger entries of one symbol or all, optionally only before a date.
    async fn clear(
        &self,
        symbol: Option<&Symbol>,
        before: Option<NaiveDate>,
    ) -> Result<ClearReport, StoreError>;

    /// Per-symbol and total figures.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// A number that grows whenever any symbol's bars or coverage change, in any process
    /// sharing the database (the sum of the symbols' versions): figures computed at one value
    /// hold while it stays.
    async fn change_count(&self) -> Result<i64, StoreError>;

    /// Rewrites the tables with full pages, returning the space that writes in key order leave
    /// in half-split pages (SQLite `VACUUM`, PostgreSQL `VACUUM FULL`). Takes an exclusive lock
    /// for its length: run it when nothing else writes.
    async fn compact(&self) -> Result<(), StoreError>;

    /// Called after a bulk load (a warm) that stored `written_bars` bars. Bars written in key
    /// order leave an embedded store's B-tree pages about 7/8 full (each split evens out the
    /// pages beside it); when the bars just written are at least half of the database, packing
    /// now costs a fraction of the load and gives that eighth back, while readers in other
    /// processes go on. A shared server's store never packs here: PostgreSQL's `VACUUM FULL`
    /// locks the table, and even `REINDEX … CONCURRENTLY` waits for every older transaction of
    /// the database (an idle session would hold the warm) and leaves a broken copy of the index
    /// when stopped. [`Self::compact`] is there for a quiet moment. `None` when nothing was done.
    async fn pack_after_bulk_load(&self, _written_bars: u64) -> Result<Option<Packed>, StoreError> {
        Ok(None)
    }

    /// Claims the filling of `symbol`'s gaps for this holder, or `None` while another holder
    /// (in this process or any other sharing the store) has it. Callers that get `None` wait
    /// and try again; whoever then holds it re-plans from a fresh snapshot, so a range is
    /// fetched from upstream once however many processes ask for it together. Stores that no
    /// other process can share claim nothing.
    async fn try_claim_fill(
        &self,
        _symbol: &Symbol,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        Ok(Some(Box::new(ProcessClaim)))
    }

    /// Claims request slot `slot` of `provider` (one of its `max_concurrency`) for one request
    /// in flight, or `None` while another holder in any process sharing the store has it.
    /// Stores no other process shares claim nothing.
    async fn try_claim_request_slot(
        &self,
        _provider: &str,
        _slot: usize,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        Ok(Some(Box::new(ProcessClaim)))
    }

    /// Counts one request to `provider` against its budgets kept in the store, for every
    /// process sharing it ([`BudgetState::take`]). A store no other process shares counts
    /// nothing: each provider's own client keeps its budget in memory.
    async fn take_upstream_request(
        &self,
        _provider: &str,
        _per_minute: Option<u32>,
        _per_day: Option<u32>,
        _now: DateTime<Utc>,
    ) -> Result<Allowance, StoreError> {
        Ok(Allowance::Send)
    }

    /// Records that `provider` wants no request before `until`, for every process sharing
    /// the store.
    async fn pause_upstream(
        &self,
        _provider: &str,
        _until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Answers if the database can be reached (a real query, never a memory).
    async fn ping(&self) -> Result<(), StoreError>;

    /// For a long-running process: from now on, keep symbol versions in memory, kept current
    /// by change notifications from every process that writes, so that
    /// [`Self::symbol_version`] needs no round trip to the database. Stores whose lookup is
    /// already local (an embedded file) keep nothing and return at once.
    async fn watch_versions(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_day_s_budget_is_spent_then_refused_until_midnight_utc_then_fresh() {
        let mut state = BudgetState::fresh(at("2026-12-04T10:00:00Z"));
        for _ in 0..3 {
            let (allowance, next) = state.take(None, Some(3), at("2026-12-04T10:00:30Z"));
            assert_eq!(allowance, Allowance::Send);
            state = next;
        }
        let (allowance, state) = state.take(None, Some(3), at("2026-12-04T23:59:59Z"));
        assert_eq!(allowance, Allowance::SpentUntil(at("2026-12-05T00:00:00Z")));
        let (allowance, state) = state.take(None, Some(3), at("2026-12-05T00:00:01Z"));
        assert_eq!(allowance, Allowance::Send);
        assert_eq!(state.day_count, 1);
    }

    #[test]
    fn a_minute_s_budget_waits_for_the_next_minute_and_a_pause_for_its_end() {
        let state = BudgetState::fresh(at("2026-12-04T10:00:00Z"));
        let (first, state) = state.take(Some(1), None, at("2026-12-04T10:00:10Z"));
        assert_eq!(first, Allowance::Send);
        let (second, state) = state.take(Some(1), None, at("2026-12-04T10:00:20Z"));
        assert_eq!(second, Allowance::WaitUntil(at("2026-12-04T10:01:00Z")));
        let paused = BudgetState {
            paused_until: Some(at("2026-12-04T10:05:00Z")),
            ..state
        };
        let (held, paused) = paused.take(None, None, at("2026-12-04T10:04:59Z"));
        assert_eq!(held, Allowance::WaitUntil(at("2026-12-04T10:05:00Z")));
        let (after, state) = paused.take(None, None, at("2026-12-04T10:05:00Z"));
        assert_eq!(after, Allowance::Send);
        assert_eq!(state.paused_until, None);
    }

    #[test]
    fn a_pause_rounds_up_to_the_second_and_never_shortens_a_longer_one() {
        let mut state = BudgetState::fresh(at("2026-12-04T10:00:00Z"));
        let asked = at("2026-12-04T10:00:02Z") + chrono::Duration::milliseconds(250);
        state.pause_until(asked);
        assert_eq!(state.paused_until, Some(at("2026-12-04T10:00:03Z")));
        state.pause_until(at("2026-12-04T10:00:01Z"));
        assert_eq!(state.paused_until, Some(at("2026-12-04T10:00:03Z")));
        state.pause_until(at("2026-12-04T10:00:09Z"));
        assert_eq!(state.paused_until, Some(at("2026-12-04T10:00:09Z")));
    }
}
