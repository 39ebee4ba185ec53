//! Warming: reading many symbols through the cache in turn, so later reads find them stored.
//! The one warm that the CLI's `warm`, the demo and the API's warm job all run.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use marketcache_domain::{DateRange, Packed, Symbol};

use futures::StreamExt;

use crate::{CacheError, FetchProgress, FetchReport, GetOptions, MarketDataCache};

/// Fewest symbols a warm reads at once: two, so that one symbol's first requests fill the
/// slots its predecessor's last round leaves empty. With a provider taking more requests at
/// once, as many symbols as it takes, since each cold symbol starts with one request alone
/// (its first trading day is learnt from it); the provider's slots bound the requests in flight.
const MIN_SYMBOLS_IN_FLIGHT: usize = 2;

/// What warming one symbol stored.
#[derive(Debug, Clone)]
pub struct WarmedBars {
    /// Bars stored for the range.
    pub bars: usize,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    /// How the read went: cached and fetched bars, requests, rejected rows.
    pub report: FetchReport,
}

/// The result of warming one symbol.
#[derive(Debug)]
pub struct WarmOutcome {
    pub symbol: Symbol,
    /// What was stored, or why the symbol failed.
    pub result: Result<WarmedBars, CacheError>,
    /// How long the symbol took.
    pub elapsed: Duration,
}

/// The result of a warm: each symbol's outcome, then whether the store was packed after it.
#[derive(Debug)]
pub struct Warmed {
    pub outcomes: Vec<WarmOutcome>,
    /// See [`marketcache_domain::BarStore::pack_after_bulk_load`]; a failure here leaves every
    /// bar stored. `Ok(None)` when nothing was packed (or the warm stopped).
    pub packed: Result<Option<Packed>, CacheError>,
    /// How long packing (or deciding not to) took, after the last symbol.
    pub packing: Duration,
    /// The warm stopped on request before its last symbol; `outcomes` holds those finished.
    pub stopped: bool,
}

/// Follows a warm: the progress of each symbol's requests, each symbol's outcome, and whether
/// to stop.
pub trait WarmProgress: Send + Sync {
    /// The progress of `symbol`'s upstream requests.
    fn for_symbol(&self, symbol: &Symbol) -> Box<dyn FetchProgress>;

    /// A symbol is done, `_outcome` telling how; `_done` symbols are done so far, this one
    /// included. Symbols finish in any order.
    fn symbol_done(&self, _done: usize, _outcome: &WarmOutcome) {}

    /// Whether the warm should stop: checked between symbols and after each stored answer of
    /// a symbol, so what was stored stays. Never, by default.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A warm that shows nothing and runs to its end.
impl WarmProgress for crate::NoProgress {
    fn for_symbol(&self, _symbol: &Symbol) -> Box<dyn FetchProgress> {
        Box::new(crate::NoProgress)
    }
}

/// A symbol's request progress that also carries the warm's stop request.
struct Stoppable<'a> {
    inner: Box<dyn FetchProgress>,
    warm: &'a dyn WarmProgress,
}

impl FetchProgress for Stoppable<'_> {
    fn planned(&self, requests: usize) {
        self.inner.planned(requests);
    }

    fn request_done(&self, bars: usize) {
        self.inner.request_done(bars);
    }

    fn waiting_for_another_process(&self) {
        self.inner.waiting_for_another_process();
    }

    fn stop_requested(&self) -> bool {
        self.warm.stop_requested()
    }
}

impl MarketDataCache {
    /// Warms each symbol over `range`, continuing past failures, then lets the store pack
    /// itself if the warm wrote most of what it holds. A stop request ends it at once, without
    /// packing. Outcomes come in the order of `symbols`; the next symbol's requests start
    /// while one symbol's last ones are in flight, so the provider's request slots (shared by
    /// every read of this cache) stay busy from the first request to the last.
    pub async fn warm(
        &self,
        symbols: &[Symbol],
        range: DateRange,
        progress: &dyn WarmProgress,
    ) -> Warmed {
        let mut outcomes = Vec::with_capacity(symbols.len());
        // By index: a closure over `&Symbol` would make the future's Send-ness depend on a
        // higher-ranked lifetime that the compiler cannot prove for the server's job. Symbols
        // finish in any order, so a long one never holds back the start of the next.
        let mut warming =
            futures::stream::iter(0..symbols.len())
                .map(|index| async move {
                    (index, self.warm_one(&symbols[index], range, progress).await)
                })
                .buffer_unordered(
                    self.source()
                        .limits()
                        .max_concurrency
                        .max(MIN_SYMBOLS_IN_FLIGHT),
                );
        while let Some((index, outcome)) = warming.next().await {
            if progress.stop_requested() || matches!(outcome.result, Err(CacheError::Stopped)) {
                return stopped(in_order(outcomes));
            }
            progress.symbol_done(outcomes.len() + 1, &outcome);
            outcomes.push((index, outcome));
        }
        let outcomes = in_order(outcomes);
        let written: usize = outcomes
            .iter()
            .filter_map(|outcome| outcome.result.as_ref().ok())
            .map(|warmed| warmed.report.fetched_bars)
            .sum();
        let packing_started = Instant::now();
        let packed = self.pack_after_bulk_load(written).await;
        Warmed {
            outcomes,
            packed,
            packing: packing_started.elapsed(),
            stopped: false,
        }
    }

    async fn warm_one(
        &self,
        symbol: &Symbol,
        range: DateRange,
        progress: &dyn WarmProgress,
    ) -> WarmOutcome {
        let started = Instant::now();
        if progress.stop_requested() {
            return WarmOutcome {
                symbol: symbol.clone(),
                result: Err(CacheError::Stopped),
                elapsed: started.elapsed(),
            };
        }
        let requests = Stoppable {
            inner: progress.for_symbol(symbol),
            warm: progress,
        };
        let result = self
            .get_bars_with_progress(symbol, range, GetOptions::DEFAULT, &requests)
            .await
            .map(|response| WarmedBars {
                bars: response.bars.len(),
                first_date: response.bars.first().map(|bar| bar.date),
                last_date: response.bars.last().map(|bar| bar.date),
                report: response.report,
            });
        WarmOutcome {
            symbol: symbol.clone(),
            result,
            elapsed: started.elapsed(),
        }
    }
}

/// The outcomes of `finished`, each tagged with its symbol's index, in the order of the symbols.
fn in_order(mut finished: Vec<(usize, WarmOutcome)>) -> Vec<WarmOutcome> {
    finished.sort_by_key(|(index, _)| *index);
    finished.into_iter().map(|(_, outcome)| outcome).collect()
}

fn stopped(outcomes: Vec<WarmOutcome>) -> Warmed {
    Warmed {
        outcomes,
        packed: Ok(None),
        packing: Duration::ZERO,
        stopped: true,
    }
}
