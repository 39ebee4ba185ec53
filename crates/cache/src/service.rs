//! Read-through access to bars: plan what is missing, fetch it in chunks, record it, serve it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use futures::StreamExt;
use marketcache_domain::calendar::trim_to_trading_days;
use marketcache_domain::coverage::reason_for_missing_bar;
use marketcache_domain::range::{subtract, union};
use marketcache_domain::{
    Bar, BarStore, ClearReport, Clock, CoverageReason, CoverageSpan, DateRange, PriceSource,
    StoreStats, Symbol,
};
use serde::Serialize;

use crate::CacheError;
use crate::hot::{HotCache, HotSeries};

/// Days before today (New York) within which a provider may still publish or correct bars:
/// there, days without a bar are never recorded as covered, so they are asked again.
pub const SETTLING_DAYS: i64 = 5;

/// How `get_bars` may use the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// Fetch every chunk of the range again, even if covered.
    pub force_refresh: bool,
    /// Never ask upstream; report what is missing instead.
    pub offline: bool,
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
}

/// Receives progress of the upstream requests of one `get_bars` call.
pub trait FetchProgress: Send + Sync {
    /// The call will make `requests` requests.
    fn planned(&self, requests: usize);
    /// One request finished with `bars` bars.
    fn request_done(&self, bars: usize);
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
    /// Ledger entries in start order.
    pub spans: Vec<CoverageSpan>,
    /// Their union.
    pub covered: Vec<DateRange>,
    /// Covered weekdays the exchange was closed (holidays and closures).
    pub holidays: usize,
    /// Covered Saturdays and Sundays.
    pub weekend_days: usize,
    /// Covered trading days without a bar: before the first trade, or the provider had none.
    pub barless: Vec<BarlessDays>,
}

/// The result of warming one symbol.
#[derive(Debug)]
pub struct WarmOutcome {
    pub symbol: Symbol,
    /// Bars stored for the range, first and last date, or why the symbol failed.
    pub result: Result<(usize, Option<NaiveDate>, Option<NaiveDate>, FetchReport), CacheError>,
}

/// The read-through cache of daily bars.
pub struct MarketDataCache {
    store: Arc<dyn BarStore>,
    source: Arc<dyn PriceSource>,
    clock: Arc<dyn Clock>,
    // One lock per symbol makes concurrent callers asking for the same missing days share one
    // upstream fetch: the first fetches, the others wait and then find the days covered.
    symbol_locks: Mutex<HashMap<Symbol, Arc<tokio::sync::Mutex<()>>>>,
    hot: Mutex<HotCache>,
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
            source,
            clock,
            symbol_locks: Mutex::new(HashMap::new()),
            hot: Mutex::new(HotCache::default()),
        }
    }

    /// The store this cache reads and writes.
    pub fn store(&self) -> &Arc<dyn BarStore> {
        &self.store
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
        let mut report = FetchReport::default();
        let version = self.store.symbol_version(symbol).await?;
        let hot = self.hot_cache().get(symbol, version);
        let covered = match &hot {
            Some(series) => Arc::clone(&series.covered),
            None => Arc::new(self.covered_ranges(symbol).await?),
        };
        let missing = if options.force_refresh {
            trading_parts(&[range])
        } else {
            trading_parts(&subtract(range, &covered))
        };
        tracing::debug!(%symbol, %range, missing = missing.len(), from_memory = hot.is_some(), "planned a read");
        let mut wrote = false;
        if options.offline {
            report.missing = missing;
        } else if !missing.is_empty() {
            let lock = self.symbol_lock(symbol);
            let _guard = lock.lock().await;
            // Another caller may have fetched these days while we waited for the lock.
            let still_missing = if options.force_refresh {
                missing
            } else {
                self.missing_ranges(symbol, range).await?
            };
            let (requests, fetched) = self
                .fetch_and_store(symbol, &still_missing, range, progress)
                .await?;
            report.upstream_requests = requests;
            report.fetched_bars = fetched;
            wrote = requests > 0;
        } else {
            progress.planned(0);
        }
        let served_hot = if wrote {
            None
        } else {
            hot.as_ref().and_then(|series| series.slice(range))
        };
        let bars = match served_hot {
            Some(bars) => bars,
            None if wrote => {
                // Version first: a write landing after it makes the kept copy look stale, never current.
                let version = self.store.symbol_version(symbol).await?;
                let covered = Arc::new(self.covered_ranges(symbol).await?);
                self.read_and_keep(symbol, range, version, covered).await?
            }
            None => self.read_and_keep(symbol, range, version, covered).await?,
        };
        report.cached_bars = bars.len().saturating_sub(report.fetched_bars);
        report.elapsed = started.elapsed();
        Ok(SymbolBars {
            symbol: symbol.clone(),
            bars,
            report,
        })
    }

    /// The parts of `range` with trading days that the ledger does not cover, trimmed to trading days.
    pub async fn missing_ranges(
        &self,
        symbol: &Symbol,
        range: DateRange,
    ) -> Result<Vec<DateRange>, CacheError> {
        Ok(trading_parts(&subtract(
            range,
            &self.covered_ranges(symbol).await?,
        )))
    }

    /// The union of the ledger's ranges for `symbol`.
    async fn covered_ranges(&self, symbol: &Symbol) -> Result<Vec<DateRange>, CacheError> {
        let spans = self.store.read_coverage(symbol).await?;
        Ok(union(spans.into_iter().map(|span| span.range)))
    }

    /// Reads the stored bars of `range` and keeps them in memory under `version`.
    async fn read_and_keep(
        &self,
        symbol: &Symbol,
        range: DateRange,
        version: i64,
        covered: Arc<Vec<DateRange>>,
    ) -> Result<Vec<Bar>, CacheError> {
        let bars = self.store.read_bars(symbol, range).await?;
        let series = HotSeries {
            version,
            covered,
            range,
            bars: Arc::new(bars.clone()),
        };
        self.hot_cache().put(symbol, series);
        Ok(bars)
    }

    fn hot_cache(&self) -> std::sync::MutexGuard<'_, HotCache> {
        match self.hot.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn symbol_lock(&self, symbol: &Symbol) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.symbol_locks.lock() {
            Ok(locks) => locks,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(locks.entry(symbol.clone()).or_default())
    }

    /// Fetches `missing` in chunks of the provider's span, concurrently up to its limit, and
    /// stores each chunk with its coverage as it arrives, so an interrupted fetch resumes.
    /// Returns the requests made and the bars fetched inside `requested`.
    async fn fetch_and_store(
        &self,
        symbol: &Symbol,
        missing: &[DateRange],
        requested: DateRange,
        progress: &dyn FetchProgress,
    ) -> Result<(usize, usize), CacheError> {
        let limits = self.source.limits();
        let chunks: Vec<DateRange> = missing
            .iter()
            .flat_map(|range| range.chunks(limits.max_span_days))
            .collect();
        progress.planned(chunks.len());
        tracing::info!(%symbol, provider = self.source.name(), requests = chunks.len(), "fetching missing days");
        let settled_through = self.clock.today_in_new_york() - Days::days(SETTLING_DAYS);
        // Requests run concurrently, but answers are written in date order: appending in key
        // order keeps the stores' B-tree pages full (fewer bytes per bar on disk).
        let mut answers = futures::stream::iter(chunks)
            .map(|chunk| async move {
                let request = trim_to_trading_days(chunk).unwrap_or(chunk);
                let bars = self.source.fetch_daily_bars(symbol, request).await?;
                Ok::<_, CacheError>((chunk, bars))
            })
            .buffered(limits.max_concurrency.max(1));
        let (mut requests, mut fetched_in_range) = (0, 0);
        while let Some(answer) = answers.next().await {
            let (chunk, mut bars) = answer?;
            bars.retain(|bar| chunk.contains(bar.date));
            let coverage = covered_part(chunk, &bars, settled_through).map(|range| CoverageSpan {
                range,
                provider: self.source.name().to_string(),
                fetched_at: self.clock.now(),
                bars: u32::try_from(bars.len()).unwrap_or(u32::MAX),
            });
            self.store
                .write_fetched(symbol, &bars, coverage.as_ref(), self.clock.now())
                .await?;
            progress.request_done(bars.len());
            requests += 1;
            fetched_in_range += bars
                .iter()
                .filter(|bar| requested.contains(bar.date))
                .count();
        }
        Ok((requests, fetched_in_range))
    }

    /// Warms each symbol over `range` in turn, continuing past failures.
    pub async fn warm(
        &self,
        symbols: &[Symbol],
        range: DateRange,
        progress_for: impl Fn(&Symbol) -> Box<dyn FetchProgress>,
    ) -> Vec<WarmOutcome> {
        let mut outcomes = Vec::with_capacity(symbols.len());
        for symbol in symbols {
            let progress = progress_for(symbol);
            let result = self
                .get_bars_with_progress(symbol, range, GetOptions::default(), progress.as_ref())
                .await
                .map(|response| {
                    let first = response.bars.first().map(|bar| bar.date);
                    let last = response.bars.last().map(|bar| bar.date);
                    (response.bars.len(), first, last, response.report)
                });
            outcomes.push(WarmOutcome {
                symbol: symbol.clone(),
                result,
            });
        }
        outcomes
    }

    /// The ledger of `symbol` and the reason each covered day without a bar has none.
    pub async fn explain_coverage(
        &self,
        symbol: &Symbol,
    ) -> Result<CoverageExplanation, CacheError> {
        let spans = self.store.read_coverage(symbol).await?;
        let covered = union(spans.iter().map(|span| span.range));
        let mut bar_days = std::collections::HashSet::new();
        for range in &covered {
            bar_days.extend(
                self.store
                    .read_bars(symbol, *range)
                    .await?
                    .into_iter()
                    .map(|bar| bar.date),
            );
        }
        let first_bar = bar_days.iter().min().copied();
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
                match reason_for_missing_bar(day, first_bar) {
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
            spans,
            covered,
            holidays,
            weekend_days,
            barless,
        })
    }

    /// Figures of the whole store.
    pub async fn stats(&self) -> Result<StoreStats, CacheError> {
        Ok(self.store.stats().await?)
    }

    /// Deletes bars and their coverage for one symbol or all, optionally only before a date.
    pub async fn clear(
        &self,
        symbol: Option<&Symbol>,
        before: Option<NaiveDate>,
    ) -> Result<ClearReport, CacheError> {
        Ok(self.store.clear(symbol, before).await?)
    }
}

/// The ranges trimmed to their trading days, dropping those with none (weekends, holidays).
fn trading_parts(ranges: &[DateRange]) -> Vec<DateRange> {
    ranges
        .iter()
        .filter_map(|range| trim_to_trading_days(*range))
        .collect()
}

/// The part of a fetched `chunk` that may be recorded as covered. Settled days are covered
/// whether or not they hold a bar; after `settled_through`, only days up to the last bar
/// received, since the provider may still publish the rest.
fn covered_part(chunk: DateRange, bars: &[Bar], settled_through: NaiveDate) -> Option<DateRange> {
    if chunk.end() <= settled_through {
        return Some(chunk);
    }
    let last_bar = bars.iter().map(|bar| bar.date).max();
    let covered_end = last_bar
        .map_or(settled_through, |last| last.max(settled_through))
        .min(chunk.end());
    DateRange::new(chunk.start(), covered_end).ok()
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
        assert_eq!(covered_part(chunk, &[], date(2025, 1, 1)), Some(chunk));
    }

    #[test]
    fn recent_days_are_covered_only_up_to_the_last_bar() {
        let chunk =
            DateRange::new(date(2025, 6, 1), date(2025, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        let settled = date(2025, 6, 20);
        let covered = covered_part(chunk, &[bar(date(2025, 6, 24))], settled);
        assert_eq!(covered.map(|c| c.end()), Some(date(2025, 6, 24)));
        let covered = covered_part(chunk, &[bar(date(2025, 6, 10))], settled);
        assert_eq!(covered.map(|c| c.end()), Some(settled));
        let recent_only =
            DateRange::new(date(2025, 6, 25), date(2025, 6, 30)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(covered_part(recent_only, &[], settled), None);
    }
}
