//! Read-through access to bars: plan what is missing, fetch it in chunks, record it, serve it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use futures::StreamExt;
use marketcache_domain::coverage::reason_for_missing_bar;
use marketcache_domain::range::union;
use marketcache_domain::{
    Adjustment, Bar, BarStore, Calendar, ClearReport, Clock, CorporateAction, CoverageReason,
    CoverageSpan, Dataset, DateRange, Exchange, FetchedBars, FetchedWrite, FillClaim,
    LedgerSnapshot, Packed, PriceBasis, PriceSource, RecentCheck, RecordedAction, SourceError,
    StoreStats, Symbol, adjust,
};
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;

use crate::CacheError;
use crate::hot::{HotCache, HotSeries};
use crate::ledger::Ledger;

/// Days before today (New York) within which a provider may still publish or correct bars:
/// there, days without a bar are never recorded as covered, so they are asked again.
pub const SETTLING_DAYS: i64 = 5;

/// How long a process waits for another that fills the same symbol while that one stores
/// nothing, before giving up.
pub const STALLED_FILL_LIMIT: Duration = Duration::from_secs(120);

/// Longest [`MarketDataCache::stats`] serves figures computed earlier, while nothing changed.
pub const STATS_KEPT_FOR: Duration = Duration::from_secs(30);

/// How long a live bar, or a recent day a provider has not published although it could have,
/// is served as it is before the provider is asked again.
pub const DEFAULT_FRESHNESS: Duration = Duration::from_secs(15 * 60);

/// How `get_bars` may use the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetOptions {
    /// Fetch every chunk of the range again, even if covered.
    pub force_refresh: bool,
    /// Never ask upstream; report what is missing instead.
    pub offline: bool,
    /// How prices are adjusted for splits and dividends (split-adjusted by default).
    pub adjust: Adjustment,
    /// Leave out bars that are not final yet.
    pub closed_only: bool,
    /// Also give each bar's close adjusted for splits and dividends ([`SymbolBars::adj_close`]),
    /// as yfinance's `Adj Close`, whatever `adjust` is.
    pub adj_close: bool,
}

impl Default for GetOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl GetOptions {
    /// Read through, split-adjusted, provisional bars included; usable in `const` items.
    pub const DEFAULT: Self = Self {
        force_refresh: false,
        offline: false,
        adjust: Adjustment::Splits,
        closed_only: false,
        adj_close: false,
    };
}

/// Where a response's bars came from and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FetchReport {
    /// Bars served from the store that were there before this call.
    pub cached_bars: usize,
    /// Bars fetched from upstream by this call (within the requested range).
    pub fetched_bars: usize,
    /// Requests made upstream by this call.
    pub upstream_requests: usize,
    #[serde(rename = "elapsed_ms", serialize_with = "as_millis")]
    pub elapsed: Duration,
    /// Ranges with trading days that are neither stored nor known to be empty (offline mode).
    pub missing: Vec<DateRange>,
    /// Rows upstream sent that failed the bar checks, dropped by this call.
    pub rejected_rows: usize,
    /// Bars of the response that are not final yet (left out with `closed_only`).
    pub provisional_bars: usize,
    /// The providers that answered for the requested range, as the ledger records them (and
    /// any that answered this call), in date order.
    pub providers: Vec<String>,
    /// Why upstream was not asked for `missing` although the read was not offline: a caller
    /// that accepted the cached bars when the provider could not be reached says so here.
    pub upstream_unavailable: Option<String>,
    /// Today (New York), when the requested range ended after it: later days cannot have bars,
    /// so they were neither asked for nor counted missing.
    pub clipped_to: Option<NaiveDate>,
    /// What the served prices are before `adjust`: the basis of the configured provider, the
    /// only one a series is served in.
    pub basis: PriceBasis,
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// The bars of one symbol over a range, with the report of how they were obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolBars {
    pub symbol: Symbol,
    pub bars: Vec<Bar>,
    pub report: FetchReport,
    /// Each bar's close adjusted for splits and dividends, when [`GetOptions::adj_close`]
    /// asked for it: one per bar, in the same order.
    #[serde(skip)]
    pub adj_close: Option<Vec<f64>>,
}

/// Receives progress of the upstream requests of one `get_bars` call.
pub trait FetchProgress: Send + Sync {
    /// The call will make `requests` requests.
    fn planned(&self, requests: usize);
    /// One request finished with `bars` bars.
    fn request_done(&self, bars: usize);
    /// Another process is filling this symbol's gaps and this read waits for it (called again
    /// each time the other process stores an answer).
    fn waiting_for_another_process(&self) {}
    /// Whether the caller wants the read to stop: checked after each stored answer, so what
    /// was stored stays and the read ends with [`CacheError::Stopped`]. Never, by default.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl FetchProgress for NoProgress {
    fn planned(&self, _requests: usize) {}
    fn request_done(&self, _bars: usize) {}
}

/// Consecutive covered trading days without a bar, with the reason they have none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarlessDays {
    pub range: DateRange,
    pub reason: CoverageReason,
    /// Trading days in `range` (weekends and holidays inside it are not counted).
    pub trading_days: usize,
}

/// What the ledger says about one symbol: which ranges were asked of which provider, and why
/// covered days hold no bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageExplanation {
    pub symbol: Symbol,
    /// The market the symbol trades on, whose calendar explains the days without bars.
    pub exchange: Exchange,
    /// Ledger entries in start order.
    pub spans: Vec<CoverageSpan>,
    /// Their union, joined across the market's closed days between them.
    pub covered: Vec<DateRange>,
    /// Covered weekdays the exchange was closed (holidays and closures).
    pub holidays: usize,
    /// Covered Saturdays and Sundays.
    pub weekend_days: usize,
    /// Covered trading days without a bar: before the first trade, or the provider had none.
    pub barless: Vec<BarlessDays>,
    /// The splits and dividends stored, by ex-date, each with the provider that reported it.
    pub actions: Vec<RecordedAction>,
}

/// The read-through cache of daily bars.
pub struct MarketDataCache {
    pub(crate) store: Arc<dyn BarStore>,
    /// The primary provider; chunks are sized and paced for it.
    source: Arc<dyn PriceSource>,
    /// The data set of every provider here: reads and writes use its keys only.
    dataset: Dataset,
    /// Providers tried in order when the one before fails for a chunk.
    fallbacks: Vec<Arc<dyn PriceSource>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How long recent days asked for without a final bar (a live bar, a late provider) are
    /// not asked again.
    freshness: Duration,
    // One lock per symbol makes concurrent callers asking for the same missing days share one
    // upstream fetch: the first fetches, the others wait and then find the days covered.
    symbol_locks: Mutex<HashMap<Symbol, Arc<tokio::sync::Mutex<()>>>>,
    /// Requests in flight per provider, at most its `max_concurrency` across every read of
    /// this cache at once (a server's requests and jobs, a warm's symbols), not per read.
    upstream_slots: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    hot: Mutex<HotCache>,
    /// The markets providers named for store keys, as their ledgers last said (see
    /// [`Self::market`]).
    markets: Mutex<HashMap<Symbol, Exchange>>,
    /// The last figures of [`Self::stats`]: the change count they were computed at, and when.
    stats_kept: tokio::sync::Mutex<Option<(i64, Instant, StoreStats)>>,
    /// What the reads of this cache served since it was opened.
    served: ReadCounters,
}

/// Counters of every read's report, summed.
#[derive(Debug, Default)]
struct ReadCounters {
    reads: AtomicU64,
    cached_bars: AtomicU64,
    fetched_bars: AtomicU64,
    upstream_requests: AtomicU64,
}

impl ReadCounters {
    fn add(&self, report: &FetchReport) {
        let count = |value: usize| u64::try_from(value).unwrap_or(u64::MAX);
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.cached_bars
            .fetch_add(count(report.cached_bars), Ordering::Relaxed);
        self.fetched_bars
            .fetch_add(count(report.fetched_bars), Ordering::Relaxed);
        self.upstream_requests
            .fetch_add(count(report.upstream_requests), Ordering::Relaxed);
    }
}

/// What a cache's reads served since it was opened: the dashboard's and the API's totals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReadTotals {
    /// Reads answered (each symbol of each request, backtest, search and warm).
    pub reads: u64,
    /// Bars served from the store.
    pub cached_bars: u64,
    /// Bars fetched from upstream to answer them.
    pub fetched_bars: u64,
    /// Requests made upstream.
    pub upstream_requests: u64,
    /// `cached_bars / (cached_bars + fetched_bars)`; `None` before any bar was served.
    pub hit_ratio: Option<f64>,
}

/// Deletes the bars and coverage of `symbol` in every data set (all symbols when `None`),
/// optionally only before a date.
async fn clear(
    store: &dyn BarStore,
    symbol: Option<&Symbol>,
    before: Option<NaiveDate>,
) -> Result<ClearReport, CacheError> {
    let Some(symbol) = symbol else {
        return Ok(store.clear(None, before).await?);
    };
    let mut cleared = ClearReport::default();
    for dataset in Dataset::ALL {
        let report = store
            .clear(Some(&symbol.stored_as(dataset)), before)
            .await?;
        cleared.bars_deleted += report.bars_deleted;
        cleared.coverage_spans_changed += report.coverage_spans_changed;
    }
    Ok(cleared)
}

/// `range` widened to every covered day of the symbol: what the store may hold bars for.
fn stored_span(range: DateRange, covered: &[DateRange]) -> DateRange {
    let start = covered
        .iter()
        .map(|span| span.start())
        .min()
        .map_or(range.start(), |start| start.min(range.start()));
    let end = covered
        .iter()
        .map(|span| span.end())
        .max()
        .map_or(range.end(), |end| end.max(range.end()));
    DateRange::new(start, end).unwrap_or(range)
}

impl MarketDataCache {
    /// A cache over `store`, filled from `source`, with "today" from `clock`.
    pub fn new(
        store: Arc<dyn BarStore>,
        source: Arc<dyn PriceSource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            dataset: source.dataset(),
            source,
            fallbacks: Vec::new(),
            clock,
            freshness: DEFAULT_FRESHNESS,
            symbol_locks: Mutex::new(HashMap::new()),
            upstream_slots: Mutex::new(HashMap::new()),
            hot: Mutex::new(HotCache::default()),
            markets: Mutex::new(HashMap::new()),
            stats_kept: tokio::sync::Mutex::new(None),
            served: ReadCounters::default(),
        }
    }

    /// What this cache's reads served since it was opened.
    pub fn read_totals(&self) -> ReadTotals {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (cached_bars, fetched_bars) = (
            load(&self.served.cached_bars),
            load(&self.served.fetched_bars),
        );
        let served = cached_bars + fetched_bars;
        ReadTotals {
            reads: load(&self.served.reads),
            cached_bars,
            fetched_bars,
            upstream_requests: load(&self.served.upstream_requests),
            hit_ratio: (served > 0).then(|| cached_bars as f64 / served as f64),
        }
    }

    /// The market `symbol` trades on: the one a provider named (recorded with the symbol and
    /// remembered from its ledger), else the one its form names ([`Exchange::of`]).
    fn market(&self, symbol: &Symbol) -> Exchange {
        let key = self.key(symbol);
        let named = match self.markets.lock() {
            Ok(markets) => markets.get(&key).copied(),
            Err(poisoned) => poisoned.into_inner().get(&key).copied(),
        };
        named.unwrap_or_else(|| Exchange::of(symbol))
    }

    /// The ledger of the store key `key` in a snapshot, for this cache's price basis; the
    /// market a provider named there is remembered for [`Self::market`].
    fn ledger_from(&self, key: &Symbol, snapshot: LedgerSnapshot) -> (i64, Ledger) {
        let (version, ledger) = Ledger::from_snapshot(snapshot, self.source.basis());
        if let Some(named) = ledger.exchange {
            let mut markets = match self.markets.lock() {
                Ok(markets) => markets,
                Err(poisoned) => poisoned.into_inner(),
            };
            if markets.get(key) != Some(&named) {
                markets.insert(key.clone(), named);
            }
        }
        (version, ledger)
    }

    /// A cache over `store` that never asks upstream, for the commands that only look after the
    /// store (stats, compact, clear): they work whatever provider is configured, even one
    /// missing its key. A read that would need upstream fails naming the reason.
    pub fn over_store(store: Arc<dyn BarStore>, clock: Arc<dyn Clock>) -> Self {
        Self::new(store, Arc::new(NoUpstream), clock)
    }

    /// Tries `fallbacks`, in order, for any chunk the primary provider fails to answer (an
    /// unknown symbol, errors that outlasted its retries). The ledger records which provider
    /// served each range. A fallback of another data set than the primary's is left out (with
    /// a warning): made-up or file bars must never fill a market-data range, nor the reverse,
    /// and prices a provider adjusted (Stooq) never fill a raw series: joined, they would put
    /// a jump where nothing happened.
    pub fn with_fallbacks(mut self, fallbacks: Vec<Arc<dyn PriceSource>>) -> Self {
        let (same, other): (Vec<_>, Vec<_>) = fallbacks
            .into_iter()
            .partition(|fallback| fallback.dataset() == self.dataset);
        for fallback in other {
            tracing::warn!(
                primary = self.source.name(),
                fallback = fallback.name(),
                "a fallback of another data set ({}, where the primary's is {}) is never used",
                fallback.dataset().describe(),
                self.dataset.describe()
            );
        }
        self.fallbacks = same;
        self
    }

    /// Asks again for a live bar, or for a recent day a provider has not published although it
    /// could have, no sooner than `freshness` after the last time ([`DEFAULT_FRESHNESS`]
    /// unless set). Days whose bar cannot exist yet are never asked before it can.
    pub fn with_freshness(mut self, freshness: Duration) -> Self {
        self.freshness = freshness;
        self
    }

    /// Today in New York, by this cache's clock.
    pub fn today(&self) -> NaiveDate {
        self.clock.today_in_new_york()
    }

    /// The data set this cache reads and writes.
    pub fn dataset(&self) -> Dataset {
        self.dataset
    }

    /// The store's key for `symbol` in this cache's data set.
    pub(crate) fn key(&self, symbol: &Symbol) -> Symbol {
        symbol.stored_as(self.dataset)
    }

    /// The providers in the order they are tried.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn PriceSource>> {
        std::iter::once(&self.source).chain(&self.fallbacks)
    }

    /// Where the store lives, for messages; never holds a password.
    pub fn describe_store(&self) -> String {
        self.store.describe()
    }

    /// The version of `symbol`'s stored series in this cache's data set: it changes with every
    /// write and clear of the symbol, by any process, so equal versions mean equal data (what
    /// the API's `ETag` is made of).
    pub async fn version_of(&self, symbol: &Symbol) -> Result<i64, CacheError> {
        Ok(self.store.symbol_version(&self.key(symbol)).await?)
    }

    /// Answers if the database can be reached (a real query, never a memory).
    pub async fn ping(&self) -> Result<(), CacheError> {
        Ok(self.store.ping().await?)
    }

    /// For a long-running process: keep symbol versions current in memory from the store's
    /// change notifications (see [`BarStore::watch_versions`]).
    pub async fn watch_versions(&self) -> Result<(), CacheError> {
        Ok(self.store.watch_versions().await?)
    }

    /// Lets the store pack itself after a bulk load that stored `written_bars` bars (see
    /// [`BarStore::pack_after_bulk_load`]).
    pub async fn pack_after_bulk_load(
        &self,
        written_bars: usize,
    ) -> Result<Option<Packed>, CacheError> {
        let written = u64::try_from(written_bars).unwrap_or(u64::MAX);
        let packed = self.store.pack_after_bulk_load(written).await?;
        if packed.is_some() {
            self.forget_stats().await;
        }
        Ok(packed)
    }

    /// Drops the kept figures of [`Self::stats`]: packing changed the sizes on disk.
    async fn forget_stats(&self) {
        *self.stats_kept.lock().await = None;
    }

    /// Forgets every series kept in memory, as a new process would start: the next read of
    /// each symbol goes to the database.
    pub fn forget_memory(&self) {
        *self.hot_cache() = HotCache::default();
    }

    /// The upstream this cache fills from.
    pub fn source(&self) -> &Arc<dyn PriceSource> {
        &self.source
    }

    /// The bars of `symbol` in `range`, in date order, fetching only what the store lacks.
    pub async fn get_bars(
        &self,
        symbol: &Symbol,
        range: DateRange,
        options: GetOptions,
    ) -> Result<SymbolBars, CacheError> {
        self.get_bars_with_progress(symbol, range, options, &NoProgress)
            .await
    }

    /// [`Self::get_bars`], reporting the progress of upstream requests to `progress`.
    pub async fn get_bars_with_progress(
        &self,
        symbol: &Symbol,
        range: DateRange,
        options: GetOptions,
        progress: &dyn FetchProgress,
    ) -> Result<SymbolBars, CacheError> {
        let started = Instant::now();
        let key = self.key(symbol);
        let mut report = FetchReport::default();
        // Days after today cannot have bars: they are never asked for nor counted missing.
        let today = self.today();
        let askable = ending_by(range, today);
        if range.end() > today {
            report.clipped_to = Some(today);
        }
        let (version, hot, ledger) = self.snapshot(&key).await?;
        let calendar = self.market(symbol).calendar;
        let refresh = options.force_refresh
            || (!options.offline && self.changed_since_read(symbol, &ledger).await);
        let missing = match askable {
            None => Vec::new(),
            Some(askable) if refresh => calendar
                .trim(askable)
                .map(|_| askable)
                .into_iter()
                .collect(),
            Some(askable) => ledger.plan(askable, self.clock.now(), self.freshness(), calendar),
        };
        tracing::debug!(%symbol, %range, missing = missing.len(), from_memory = hot.is_some(), "planned a read");
        let mut answered_by = Vec::new();
        match askable {
            Some(_) if options.offline => {
                report.missing = missing
                    .iter()
                    .filter_map(|part| calendar.trim(*part))
                    .collect();
            }
            Some(askable) if !missing.is_empty() => {
                let fill = Fill {
                    symbol,
                    key: &key,
                    askable,
                    version,
                    missing,
                };
                let fetched = self.fill(fill, refresh, progress).await?;
                report.upstream_requests = fetched.requests;
                report.fetched_bars = fetched.bars_in_range;
                report.rejected_rows = fetched.rejected_rows;
                answered_by = fetched.providers;
            }
            _ => progress.planned(0),
        }
        let wrote = report.upstream_requests > 0;
        let series = self
            .series_for(&key, range, version, hot, ledger, wrote)
            .await?;
        let mut bars = series.slice(range);
        if !series.ledger.foreign.is_empty() {
            bars.retain(|bar| !series.ledger.is_foreign(bar.date));
        }
        report.basis = self.source.basis();
        let provisional = &series.ledger.provisional;
        report.provisional_bars = bars
            .iter()
            .filter(|bar| provisional.binary_search(&bar.date).is_ok())
            .count();
        if options.closed_only && report.provisional_bars > 0 {
            bars.retain(|bar| provisional.binary_search(&bar.date).is_err());
            report.provisional_bars = 0;
        }
        let adj_close = if options.adj_close {
            let mut total_return = bars.clone();
            self.adjust(&key, &mut total_return, &series.actions, Adjustment::All)
                .await?;
            Some(total_return.iter().map(|bar| bar.close).collect())
        } else {
            None
        };
        self.adjust(&key, &mut bars, &series.actions, options.adjust)
            .await?;
        report.cached_bars = bars.len().saturating_sub(report.fetched_bars);
        report.providers = series.ledger.providers_in(range);
        for provider in answered_by {
            if !report.providers.contains(&provider) {
                report.providers.push(provider);
            }
        }
        report.elapsed = started.elapsed();
        self.served.add(&report);
        Ok(SymbolBars {
            symbol: symbol.clone(),
            bars,
            report,
            adj_close,
        })
    }

    /// The version of the store key `key`, its in-memory series if still current, and its
    /// ledger: from memory when the series is current, else one snapshot of the store.
    async fn snapshot(
        &self,
        key: &Symbol,
    ) -> Result<(i64, Option<HotSeries>, Arc<Ledger>), CacheError> {
        if self.hot_cache().has(key) {
            let version = self.store.symbol_version(key).await?;
            if let Some(series) = self.hot_cache().get(key, version) {
                let ledger = Arc::clone(&series.ledger);
                return Ok((version, Some(series), ledger));
            }
        }
        let (version, ledger) = self.ledger_from(key, self.store.read_ledger(key).await?);
        Ok((version, None, Arc::new(ledger)))
    }

    /// Fetches the gaps of one read under the symbol's lock. Another caller may have filled
    /// them while this one waited: the ledger is read once more, and the gaps planned again
    /// only if the symbol changed since the read's snapshot.
    async fn fill(
        &self,
        fill: Fill<'_>,
        force_refresh: bool,
        progress: &dyn FetchProgress,
    ) -> Result<Fetched, CacheError> {
        // Callers in this process queue here; other processes queue on the store's claim.
        let lock = self.symbol_lock(fill.key);
        let _guard = lock.lock().await;
        let claim = self.claim_fill(fill.key, progress).await?;
        let fetched = async {
            let (still_missing, cold) = if force_refresh {
                (fill.missing, false)
            } else {
                let snapshot = self.store.read_ledger(fill.key).await?;
                let (version, ledger) = self.ledger_from(fill.key, snapshot);
                let cold = ledger.covered.is_empty();
                if version == fill.version {
                    (fill.missing, cold)
                } else {
                    let now = self.clock.now();
                    let calendar = self.market(fill.symbol).calendar;
                    let plan = ledger.plan(fill.askable, now, self.freshness(), calendar);
                    (plan, cold)
                }
            };
            self.fetch_and_store(fill.symbol, &still_missing, fill.askable, cold, progress)
                .await
        }
        .await;
        claim.release().await;
        fetched
    }

    /// The claim to fill the gaps of the store key `key`: at once, unless another process is
    /// filling them; then this one waits for it, as long as it keeps storing answers, and
    /// takes over whatever it leaves (its claim ends with it, even when it is killed).
    async fn claim_fill(
        &self,
        key: &Symbol,
        progress: &dyn FetchProgress,
    ) -> Result<Box<dyn FillClaim>, CacheError> {
        let mut pause = Duration::from_millis(10);
        let mut seen: Option<(i64, Instant)> = None;
        loop {
            if let Some(claim) = self.store.try_claim_fill(key).await? {
                return Ok(claim);
            }
            let version = self.store.symbol_version(key).await?;
            match seen {
                Some((last, since)) if last == version => {
                    if since.elapsed() > STALLED_FILL_LIMIT {
                        return Err(CacheError::FillStalled {
                            symbol: key.clone(),
                            waited: since.elapsed(),
                        });
                    }
                }
                _ => {
                    seen = Some((version, Instant::now()));
                    progress.waiting_for_another_process();
                }
            }
            if progress.stop_requested() {
                return Err(CacheError::Stopped);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The in-memory series that serves `range` of the store key `key`: the one held at
    /// `version` when it holds the range and nothing was written since, else read anew.
    async fn series_for(
        &self,
        key: &Symbol,
        range: DateRange,
        version: i64,
        hot: Option<HotSeries>,
        ledger: Arc<Ledger>,
        wrote: bool,
    ) -> Result<HotSeries, CacheError> {
        if wrote {
            // The snapshot takes the version first: a write landing after it makes the kept
            // copy look stale, never current.
            let (version, ledger) = self.ledger_from(key, self.store.read_ledger(key).await?);
            return self
                .read_and_keep(key, range, version, Arc::new(ledger))
                .await;
        }
        let held_other_range = hot.is_some();
        if let Some(series) = hot.filter(|series| series.holds(range)) {
            return Ok(series);
        }
        // A second, different range of the same symbol at the same version: read all that is
        // stored once, so every later range is served from memory (a server's clients ask for
        // many ranges of the same symbols). A first read stays narrow.
        let read = if held_other_range {
            stored_span(range, &ledger.covered)
        } else {
            range
        };
        self.read_and_keep(key, read, version, ledger).await
    }

    /// The parts of `range` a read would ask upstream for now, each holding a trading day:
    /// neither covered, nor checked recently enough that nothing new can exist yet, nor after
    /// today.
    pub async fn missing_ranges(
        &self,
        symbol: &Symbol,
        range: DateRange,
    ) -> Result<Vec<DateRange>, CacheError> {
        let Some(askable) = ending_by(range, self.today()) else {
            return Ok(Vec::new());
        };
        let key = self.key(symbol);
        let (_, ledger) = self.ledger_from(&key, self.store.read_ledger(&key).await?);
        let calendar = self.market(symbol).calendar;
        Ok(ledger.plan(askable, self.clock.now(), self.freshness(), calendar))
    }

    /// Reads the stored bars of `range` of the store key `key`, with its corporate actions, and
    /// keeps them in memory under `version` with `ledger`.
    async fn read_and_keep(
        &self,
        key: &Symbol,
        range: DateRange,
        version: i64,
        ledger: Arc<Ledger>,
    ) -> Result<HotSeries, CacheError> {
        let (bars, recorded) = futures::try_join!(
            self.store.read_bars(key, range),
            self.store.read_actions(key),
        )?;
        let actions: Vec<CorporateAction> = recorded.into_iter().map(|r| r.action).collect();
        let series = HotSeries {
            version,
            ledger,
            range,
            bars: Arc::new(bars),
            actions: Arc::new(actions),
        };
        self.hot_cache().put(key, series.clone());
        Ok(series)
    }

    /// Adjusts raw `bars` of the store key `key` in place for `actions` as `mode` asks.
    /// Dividends after the bars need the close before their ex-date, read from the store.
    async fn adjust(
        &self,
        key: &Symbol,
        bars: &mut [Bar],
        actions: &[CorporateAction],
        mode: Adjustment,
    ) -> Result<(), CacheError> {
        if mode == Adjustment::None || actions.is_empty() {
            return Ok(());
        }
        let last_bar = bars.last().map(|bar| bar.date);
        let last_dividend = actions
            .iter()
            .filter(|action| action.split_ratio().is_none())
            .map(|action| action.ex_date)
            .max();
        let later = match (mode, last_bar, last_dividend) {
            (Adjustment::All, Some(last_bar), Some(ex_date)) if ex_date > last_bar => {
                match DateRange::new(last_bar, ex_date) {
                    Ok(range) => self.store.read_bars(key, range).await?,
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        let close_before = |ex_date: NaiveDate| {
            let before = later.partition_point(|bar| bar.date < ex_date);
            before.checked_sub(1).map(|index| later[index].close)
        };
        adjust(bars, actions, mode, close_before);
        Ok(())
    }

    fn hot_cache(&self) -> std::sync::MutexGuard<'_, HotCache> {
        match self.hot.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Waits for one of `source`'s request slots; the slot is free again when the permit drops.
    async fn upstream_slot(&self, source: &dyn PriceSource) -> Option<OwnedSemaphorePermit> {
        let slots = {
            let mut all = match self.upstream_slots.lock() {
                Ok(all) => all,
                Err(poisoned) => poisoned.into_inner(),
            };
            let limit = source.limits().max_concurrency.max(1);
            Arc::clone(
                all.entry(source.name().to_string())
                    .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(limit))),
            )
        };
        // The semaphore is never closed: a permit always comes.
        slots.acquire_owned().await.ok()
    }

    fn symbol_lock(&self, symbol: &Symbol) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.symbol_locks.lock() {
            Ok(locks) => locks,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(locks.entry(symbol.clone()).or_default())
    }

    /// Fetches `missing` in chunks of the provider's span, concurrently up to its limit, and
    /// stores each chunk with its coverage as it arrives, so an interrupted fetch resumes. For a
    /// symbol never asked before (`cold`), the oldest chunk goes first, alone: its answer may
    /// name the symbol's first trading day, and then no chunk before it is asked at all.
    async fn fetch_and_store(
        &self,
        symbol: &Symbol,
        missing: &[DateRange],
        requested: DateRange,
        cold: bool,
        progress: &dyn FetchProgress,
    ) -> Result<Fetched, CacheError> {
        let limits = self.source.limits();
        let calendar = self.market(symbol).calendar;
        let mut chunks: Vec<DateRange> = missing
            .iter()
            .flat_map(|part| chunks_of(*part, limits.max_span_days, calendar))
            .collect();
        progress.planned(chunks.len());
        tracing::info!(%symbol, provider = self.source.name(), requests = chunks.len(), "fetching missing days");
        let mut fetched = Fetched::default();
        let probed = if cold && chunks.len() > 1 {
            let probe = self.probe(symbol, chunks.remove(0)).await?;
            if let Some(listed) = probe.listed {
                chunks = chunks_from(listed, chunks);
                progress.planned(1 + chunks.len());
            }
            Some(probe)
        } else {
            None
        };
        // Requests run concurrently, but answers are written in date order (the probe's first):
        // appending in key order keeps the stores' B-tree pages full (fewer bytes per bar on
        // disk). Asking and storing run side by side, so an answer that arrives during a write
        // gives its request slot back at once rather than after the write.
        let in_flight = limits.max_concurrency.max(1);
        let (answered, mut to_store) = tokio::sync::mpsc::channel(in_flight);
        let asking = async move {
            let mut answers = futures::stream::iter(chunks)
                .map(|chunk| async move {
                    let served = self.fetch_chunk(symbol, chunk).await?;
                    Ok::<_, CacheError>((chunk, served))
                })
                .buffered(in_flight);
            while let Some(answer) = answers.next().await {
                let failed = answer.is_err();
                // A closed channel means storing failed or stopped: ask nothing more.
                if answered.send(answer).await.is_err() || failed {
                    break;
                }
            }
        };
        let storing = async {
            if let Some(probe) = probed {
                let provider = probe.served.provider;
                self.store_answer(
                    symbol,
                    probe.chunk,
                    probe.served,
                    requested,
                    progress,
                    &mut fetched,
                )
                .await?;
                if let Some(listed) = probe.listed {
                    self.record_unlisted_days(symbol, probe.chunk, listed, provider)
                        .await?;
                }
            }
            while let Some(answer) = to_store.recv().await {
                let (chunk, served) = answer?;
                self.store_answer(symbol, chunk, served, requested, progress, &mut fetched)
                    .await?;
            }
            Ok::<_, CacheError>(())
        };
        let stored = {
            tokio::pin!(asking, storing);
            tokio::select! {
                // Storing ends first only when it failed or was stopped: asking stops with it.
                stored = &mut storing => stored,
                () = &mut asking => storing.await,
            }
        };
        stored.map(|()| fetched)
    }

    /// Asks for `chunk`, the oldest of a symbol never asked before, alone: its answer may name
    /// the symbol's first trading day.
    async fn probe(&self, symbol: &Symbol, chunk: DateRange) -> Result<Probe<'_>, CacheError> {
        let served = self.fetch_chunk(symbol, chunk).await?;
        let listed = served
            .answer
            .first_trade
            .filter(|listed| *listed > chunk.end());
        Ok(Probe {
            chunk,
            served,
            listed,
        })
    }

    /// Whether the upstream's data for `symbol` changed since the ledger's newest entry was
    /// fetched (a CSV file edited after it was read). In whole seconds, as SQLite keeps them:
    /// an edit within the second of the last read waits for the next edit to be seen, rather
    /// than every read in that second reading the file again.
    async fn changed_since_read(&self, symbol: &Symbol, ledger: &Ledger) -> bool {
        let Some(last_read) = ledger.last_fetched_at else {
            return false;
        };
        self.source
            .changed_at(symbol)
            .await
            .is_some_and(|changed| changed.timestamp() > last_read.timestamp())
    }

    /// The providers' answer for the days of `chunk` the symbol's market may trade.
    async fn fetch_chunk(
        &self,
        symbol: &Symbol,
        chunk: DateRange,
    ) -> Result<Served<'_>, CacheError> {
        let request = self.market(symbol).calendar.trim(chunk).unwrap_or(chunk);
        self.fetch_with_fallbacks(symbol, request).await
    }

    /// Records the days from after `probe` to the day before `listed`, the symbol's first
    /// trading day as `provider` named it, as covered without bars.
    async fn record_unlisted_days(
        &self,
        symbol: &Symbol,
        probe: DateRange,
        listed: NaiveDate,
        provider: &str,
    ) -> Result<(), CacheError> {
        let before = probe
            .end()
            .succ_opt()
            .zip(listed.pred_opt())
            .and_then(|(from, to)| DateRange::new(from, to).ok());
        let Some(before) = before else {
            return Ok(());
        };
        let now = self.clock.now();
        let span = CoverageSpan {
            range: before,
            provider: provider.to_string(),
            basis: self.source.basis(),
            fetched_at: now,
            bars: 0,
            rejected_rows: 0,
        };
        let write = FetchedWrite::bars(provider, &[], Some(&span));
        self.store
            .write_fetched(&self.key(symbol), &write, now)
            .await?;
        tracing::info!(%symbol, %listed, skipped = %before, "first trading day learnt: days before it are never asked");
        Ok(())
    }

    /// Stores one chunk's answer with its coverage, provisional marks and recent check, and
    /// counts it into `fetched`.
    async fn store_answer(
        &self,
        symbol: &Symbol,
        chunk: DateRange,
        served: Served<'_>,
        requested: DateRange,
        progress: &dyn FetchProgress,
        fetched: &mut Fetched,
    ) -> Result<(), CacheError> {
        let (provider, basis, mut answer) = (served.provider, served.basis, served.answer);
        answer.bars.retain(|bar| chunk.contains(bar.date));
        let now = self.clock.now();
        let exchange = self.market(symbol);
        // A market the provider names is recorded with the symbol when it is news: it plans
        // the symbol's next reads in place of what the symbol's form says.
        let named = answer.exchange.filter(|named| *named != exchange);
        // Provisional: marked so by the provider, or fetched before the bar could be final.
        let provisional: Vec<NaiveDate> = answer
            .bars
            .iter()
            .map(|bar| bar.date)
            .filter(|date| answer.provisional.contains(date) || now < exchange.bar_final_at(*date))
            .collect();
        let rejected_rows = answer.rejected.len();
        if rejected_rows > 0 {
            tracing::warn!(%symbol, %chunk, rejected_rows, "upstream rows failed the bar checks and were dropped");
        }
        let settled_through = self.clock.today_in_new_york() - Days::days(SETTLING_DAYS);
        let covered = covered_part(chunk, &answer.bars, &provisional, settled_through);
        let recheck = Self::recheck_for(chunk, covered, &provisional, provider, now, &exchange);
        let coverage = covered.map(|range| CoverageSpan {
            range,
            provider: provider.to_string(),
            basis,
            fetched_at: now,
            bars: u32::try_from(answer.bars.len()).unwrap_or(u32::MAX),
            rejected_rows: u32::try_from(rejected_rows).unwrap_or(u32::MAX),
        });
        let write = FetchedWrite {
            provider,
            bars: &answer.bars,
            coverage: coverage.as_ref(),
            actions: &answer.actions,
            provisional: &provisional,
            recheck: recheck.as_ref(),
            exchange: named.as_ref(),
        };
        self.store
            .write_fetched(&self.key(symbol), &write, now)
            .await?;
        progress.request_done(answer.bars.len());
        if progress.stop_requested() {
            return Err(CacheError::Stopped);
        }
        if !fetched.providers.iter().any(|known| known == provider) {
            fetched.providers.push(provider.to_string());
        }
        fetched.requests += served.requests;
        fetched.rejected_rows += rejected_rows;
        fetched.bars_in_range += answer
            .bars
            .iter()
            .filter(|bar| requested.contains(bar.date))
            .count();
        Ok(())
    }

    /// The recent check of the days of `chunk` after its `covered` part, if any are trading
    /// days: when they were asked, when the first of them can have a final bar, and whether
    /// a bar among them was live. Each reader decides from it when to ask again
    /// ([`RecentCheck::due_at`] with its freshness).
    fn recheck_for(
        chunk: DateRange,
        covered: Option<DateRange>,
        provisional: &[NaiveDate],
        provider: &str,
        now: DateTime<Utc>,
        exchange: &Exchange,
    ) -> Option<RecentCheck> {
        let tail_start = match covered {
            Some(covered) => covered.end().succ_opt()?,
            None => chunk.start(),
        };
        let tail = exchange
            .calendar
            .trim(DateRange::new(tail_start, chunk.end()).ok()?)?;
        Some(RecentCheck {
            range: tail,
            provider: provider.to_string(),
            checked_at: now,
            final_from: exchange.bar_final_at(tail.start()),
            live: !provisional.is_empty(),
        })
    }

    /// The freshness interval as the ledger's plans take it.
    fn freshness(&self) -> Days {
        Days::from_std(self.freshness).unwrap_or(Days::MAX)
    }

    /// Asks the providers in turn for `request` until one answers. Each asks within its own span
    /// limit. If all fail, the error is "not found" only when every provider said so.
    async fn fetch_with_fallbacks(
        &self,
        symbol: &Symbol,
        request: DateRange,
    ) -> Result<Served<'_>, CacheError> {
        let mut requests = 0;
        let mut failure: Option<SourceError> = None;
        for source in self.providers() {
            let mut answer = FetchedBars::default();
            let mut outcome = Ok(());
            for part in request.chunks(source.limits().max_span_days) {
                requests += 1;
                let slot = self.upstream_slot(source.as_ref()).await;
                let answered = source.fetch(symbol, part).await;
                drop(slot);
                match answered {
                    Ok(part_answer) => {
                        answer.bars.extend(part_answer.bars);
                        answer.actions.extend(part_answer.actions);
                        answer.rejected.extend(part_answer.rejected);
                        answer.provisional.extend(part_answer.provisional);
                        answer.first_trade = answer.first_trade.or(part_answer.first_trade);
                        answer.exchange = answer.exchange.or(part_answer.exchange);
                    }
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
            match outcome {
                Ok(()) => {
                    return Ok(Served {
                        provider: source.name(),
                        basis: source.basis(),
                        answer,
                        requests,
                    });
                }
                Err(error) => {
                    if !self.fallbacks.is_empty() {
                        tracing::warn!(%symbol, %request, provider = source.name(), %error, "provider failed; trying the next one");
                    }
                    // Keep the most telling error: anything says more than "not found".
                    let keep_new = match &failure {
                        None => true,
                        Some(previous) => {
                            matches!(previous, SourceError::NotFound { .. })
                                && !matches!(error, SourceError::NotFound { .. })
                        }
                    };
                    if keep_new {
                        failure = Some(error);
                    }
                }
            }
        }
        Err(match failure {
            Some(error) => error.into(),
            None => SourceError::Configuration {
                provider: self.source.name().to_string(),
                message: "no provider configured".to_string(),
            }
            .into(),
        })
    }

    /// The ledger of `symbol` and the reason each covered day without a bar has none.
    pub async fn explain_coverage(
        &self,
        symbol: &Symbol,
    ) -> Result<CoverageExplanation, CacheError> {
        let key = self.key(symbol);
        let snapshot = self.store.read_ledger(&key).await?;
        let exchange = snapshot.exchange.unwrap_or_else(|| Exchange::of(symbol));
        let spans = snapshot.coverage;
        let covered = union(spans.iter().map(|span| span.range));
        let mut bar_days = std::collections::HashSet::new();
        for range in &covered {
            bar_days.extend(
                self.store
                    .read_bars(&key, *range)
                    .await?
                    .into_iter()
                    .map(|bar| bar.date),
            );
        }
        let first_bar = bar_days.iter().min().copied();
        let calendar = exchange.calendar;
        let (mut holidays, mut weekend_days) = (0, 0);
        let mut barless: Vec<BarlessDays> = Vec::new();
        for range in &covered {
            // A group of barless days ends at the next day with a bar or the end of a covered range.
            let mut open_group: Option<BarlessDays> = None;
            for day in range.days() {
                if bar_days.contains(&day) {
                    barless.extend(open_group.take());
                    continue;
                }
                match reason_for_missing_bar(day, first_bar, calendar) {
                    CoverageReason::Weekend => weekend_days += 1,
                    CoverageReason::Holiday(_) => holidays += 1,
                    reason => match open_group.as_mut() {
                        Some(group) if group.reason == reason => {
                            group.range =
                                DateRange::new(group.range.start(), day).unwrap_or(group.range);
                            group.trading_days += 1;
                        }
                        _ => {
                            barless.extend(open_group.take());
                            open_group = Some(BarlessDays {
                                range: DateRange::single(day),
                                reason,
                                trading_days: 1,
                            });
                        }
                    },
                }
            }
            barless.extend(open_group);
        }
        Ok(CoverageExplanation {
            symbol: symbol.clone(),
            exchange,
            spans,
            // Weekends and holidays between ledger entries are no gaps to show.
            covered: calendar.join_closed_gaps(&covered),
            holidays,
            weekend_days,
            barless,
            actions: self.store.read_actions(&key).await?,
        })
    }

    /// Figures of the whole store.
    ///
    /// Kept while no symbol changes, for at most [`STATS_KEPT_FOR`] (sizes on disk change
    /// without a write too, on packing): a burst of callers shares one computation, since they
    /// queue on one lock and find the figures current.
    pub async fn stats(&self) -> Result<StoreStats, CacheError> {
        let mut kept = self.stats_kept.lock().await;
        let changes = self.store.change_count().await?;
        if let Some((at_changes, computed_at, stats)) = kept.as_ref()
            && *at_changes == changes
            && computed_at.elapsed() < STATS_KEPT_FOR
        {
            return Ok(stats.clone());
        }
        let mut stats = self.store.stats().await?;
        for symbol in &mut stats.symbols {
            symbol.covered = self.joined_across_closed_days(&symbol.symbol, &symbol.covered);
            if symbol.provisional_bars > 0 {
                symbol.provisional = self.provisional_days(&symbol.symbol).await?;
            }
        }
        *kept = Some((changes, Instant::now(), stats.clone()));
        Ok(stats)
    }

    /// The days of the provisional bars of the store key `key`, as ranges joined across the
    /// market's closed days (only symbols that have some are asked: the last days fetched).
    async fn provisional_days(&self, key: &str) -> Result<Vec<DateRange>, CacheError> {
        let Some((ticker, dataset)) = Symbol::from_stored_key(key) else {
            return Ok(Vec::new());
        };
        let days = self
            .store
            .read_provisional(&ticker.stored_as(dataset))
            .await?;
        let singles: Vec<DateRange> = days.into_iter().map(DateRange::single).collect();
        Ok(self.joined_across_closed_days(key, &union(singles)))
    }

    /// The covered ranges of the store key `key` as a person reads them: joined across the
    /// weekends and holidays of the symbol's market between them, which are no gaps.
    fn joined_across_closed_days(&self, key: &str, covered: &[DateRange]) -> Vec<DateRange> {
        let calendar = match Symbol::from_stored_key(key) {
            Some((ticker, _)) => self.market(&ticker).calendar,
            None => Calendar::Weekdays,
        };
        calendar.join_closed_gaps(covered)
    }

    /// Rewrites the store's tables with full pages (see [`BarStore::compact`]).
    pub async fn compact(&self) -> Result<(), CacheError> {
        self.store.compact().await?;
        self.forget_stats().await;
        Ok(())
    }

    /// Deletes bars and their coverage for one symbol (in every data set) or all, optionally
    /// only before a date.
    pub async fn clear(
        &self,
        symbol: Option<&Symbol>,
        before: Option<NaiveDate>,
    ) -> Result<ClearReport, CacheError> {
        clear(self.store.as_ref(), symbol, before).await
    }
}

/// The upstream of a cache that only looks after its store.
struct NoUpstream;

#[async_trait::async_trait]
impl PriceSource for NoUpstream {
    fn name(&self) -> &str {
        "none"
    }

    fn limits(&self) -> marketcache_domain::SourceLimits {
        marketcache_domain::SourceLimits::unmetered(366, 1)
    }

    async fn fetch(&self, _symbol: &Symbol, _range: DateRange) -> Result<FetchedBars, SourceError> {
        Err(SourceError::Configuration {
            provider: "none".to_string(),
            message: "this cache only looks after its store and never asks upstream".to_string(),
        })
    }
}

/// The part of `range` up to `last_day`; `None` when it starts after it.
fn ending_by(range: DateRange, last_day: NaiveDate) -> Option<DateRange> {
    DateRange::new(range.start(), range.end().min(last_day)).ok()
}

/// What one read found missing, and the snapshot it planned from.
struct Fill<'a> {
    symbol: &'a Symbol,
    key: &'a Symbol,
    /// The requested range up to today.
    askable: DateRange,
    /// The symbol's version in the snapshot.
    version: i64,
    missing: Vec<DateRange>,
}

/// The answer to a cold symbol's oldest chunk, and the first trading day it named, if later
/// than the chunk.
struct Probe<'a> {
    chunk: DateRange,
    served: Served<'a>,
    listed: Option<NaiveDate>,
}

/// `part` in chunks of at most `max_days` cut from its trading days (so that no request is
/// spent on a weekend alone), the first and last widened back to the part's closed edges, which
/// their ledger entries then cover.
fn chunks_of(part: DateRange, max_days: u32, calendar: Calendar) -> Vec<DateRange> {
    let Some(trading) = calendar.trim(part) else {
        return Vec::new();
    };
    let mut chunks = trading.chunks(max_days);
    if let Some(first) = chunks.first_mut() {
        *first = DateRange::new(part.start(), first.end()).unwrap_or(*first);
    }
    if let Some(last) = chunks.last_mut() {
        *last = DateRange::new(last.start(), part.end()).unwrap_or(*last);
    }
    chunks
}

/// The part of `chunks` from `listed` on, the first cut to start there.
fn chunks_from(listed: NaiveDate, chunks: Vec<DateRange>) -> Vec<DateRange> {
    chunks
        .into_iter()
        .filter(|chunk| chunk.end() >= listed)
        .filter_map(|chunk| DateRange::new(chunk.start().max(listed), chunk.end()).ok())
        .collect()
}

/// One chunk's answer and who gave it.
struct Served<'a> {
    provider: &'a str,
    /// What the answer's prices are.
    basis: PriceBasis,
    answer: FetchedBars,
    /// Requests it took, failed attempts at other providers included.
    requests: usize,
}

/// What one call's upstream requests brought.
#[derive(Debug, Default)]
struct Fetched {
    requests: usize,
    /// The providers that answered, in the order they first did.
    providers: Vec<String>,
    /// Bars fetched inside the requested range.
    bars_in_range: usize,
    rejected_rows: usize,
}

/// The part of a fetched `chunk` that may be recorded as covered. Settled days are covered
/// whether or not they hold a bar; after `settled_through`, only days up to the last final bar
/// received, since the provider may still publish the rest. A provisional bar's day is never
/// covered, so the next request after it can be final asks for it again.
fn covered_part(
    chunk: DateRange,
    bars: &[Bar],
    provisional: &[NaiveDate],
    settled_through: NaiveDate,
) -> Option<DateRange> {
    let first_provisional = provisional.iter().min().copied();
    let end = if chunk.end() <= settled_through {
        chunk.end()
    } else {
        let last_final = bars
            .iter()
            .map(|bar| bar.date)
            .filter(|date| !provisional.contains(date))
            .max();
        last_final
            .map_or(settled_through, |last| last.max(settled_through))
            .min(chunk.end())
    };
    let end = match first_provisional {
        Some(first) => end.min(first.pred_opt()?),
        None => end,
    };
    DateRange::new(chunk.start(), end).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn bar(day: NaiveDate) -> Bar {
        Bar {
            date: day,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1,
        }
    }

    #[test]
    fn settled_chunks_are_covered_whole_even_without_bars() {
        let chunk =
            DateRange::new(date(2020, 1, 1), date(2020, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(covered_part(chunk, &[], &[], date(2025, 1, 1)), Some(chunk));
    }

    #[test]
    fn recent_days_are_covered_only_up_to_the_last_bar() {
        let chunk =
            DateRange::new(date(2025, 6, 1), date(2025, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        let settled = date(2025, 6, 20);
        let covered = covered_part(chunk, &[bar(date(2025, 6, 24))], &[], settled);
        assert_eq!(covered.map(|c| c.end()), Some(date(2025, 6, 24)));
        let covered = covered_part(chunk, &[bar(date(2025, 6, 10))], &[], settled);
        assert_eq!(covered.map(|c| c.end()), Some(settled));
        let recent_only =
            DateRange::new(date(2025, 6, 25), date(2025, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(covered_part(recent_only, &[], &[], settled), None);
    }

    #[test]
    fn a_provisional_day_and_those_after_it_are_never_covered() {
        let chunk =
            DateRange::new(date(2025, 6, 1), date(2025, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        let settled = date(2025, 6, 20);
        let bars = [bar(date(2025, 6, 23)), bar(date(2025, 6, 24))];
        let covered = covered_part(chunk, &bars, &[date(2025, 6, 24)], settled);
        assert_eq!(covered.map(|c| c.end()), Some(date(2025, 6, 23)));
        let covered = covered_part(chunk, &bars, &[date(2025, 6, 2)], settled);
        assert_eq!(covered.map(|c| c.end()), Some(date(2025, 6, 1)));
        let starts_provisional =
            DateRange::new(date(2025, 6, 24), date(2025, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            covered_part(starts_provisional, &bars, &[date(2025, 6, 24)], settled),
            None
        );
    }
}
