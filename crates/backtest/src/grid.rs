//! The SMA-crossover grid: every (fast, slow) pair over shared SMAs, ranked, on all cores; and
//! the top-N ranking it shares with the generic [`crate::StrategyGrid`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

use crate::BacktestError;
use crate::engine::{Settings, Signal, SignalFeed, simulate};
use crate::indicators::{prefix_sums, sma_from_prefix_sums};
use crate::metrics::{Metrics, RankMetric};
use crate::params::ParamRange;
use crate::series::PriceSeries;
use crate::strategies::{Crossing, FAST, SLOW};

/// One evaluated combination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GridEntry {
    /// The fast SMA window.
    pub fast: usize,
    /// The slow SMA window.
    pub slow: usize,
    /// Its backtest's metrics (the same numbers a single run of `SmaCross` gives).
    pub metrics: Metrics,
}

/// The best combinations of a grid and how many were evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridOutcome {
    /// The metric the entries are ranked by.
    pub metric: RankMetric,
    /// The best entries, best first; ties keep the smaller fast, then the smaller slow.
    pub top: Vec<GridEntry>,
    /// Combinations evaluated.
    pub evaluated: usize,
    /// Bars in each backtest.
    pub bars: usize,
}

/// The flag a caller raises to stop a ranking early (a cancelled job); none by default.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopFlag(pub(crate) Option<Arc<AtomicBool>>);

impl StopFlag {
    pub(crate) fn is_raised(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|flag| flag.load(AtomicOrdering::Relaxed))
    }
}

/// A grid of SMA-crossover backtests over one series, with every SMA window it needs computed
/// once up front and shared by all the combinations that use it.
#[derive(Debug, Clone)]
pub struct SmaCrossGrid {
    closes: Vec<f64>,
    dates: Vec<NaiveDate>,
    settings: Settings,
    /// The distinct windows, ascending; `averages[k]` is the SMA over `windows[k]` bars.
    windows: Vec<usize>,
    averages: Vec<Vec<f64>>,
    /// Every `(fast, slow)` with `fast < slow`, as indices into `windows`.
    combinations: Vec<(u32, u32)>,
    /// Set by the caller to stop a ranking early (see [`Self::stop_when`]).
    stop: StopFlag,
    /// Combinations with fewer trades are evaluated but never ranked (see
    /// [`Self::min_trades`]).
    min_trades: usize,
}

impl SmaCrossGrid {
    /// Prepares the grid `fast` × `slow` (keeping `fast < slow`) over `series`; refuses windows
    /// out of range and a grid with no valid combination.
    pub fn new(
        series: &PriceSeries<'_>,
        fast: ParamRange,
        slow: ParamRange,
        settings: Settings,
    ) -> Result<Self, BacktestError> {
        for (spec, range) in [(FAST, fast), (SLOW, slow)] {
            spec.parse(&range.start().to_string())?;
            spec.parse(&range.end().to_string())?;
        }
        let mut windows: Vec<usize> = fast.values().chain(slow.values()).collect();
        windows.sort_unstable();
        windows.dedup();
        // Windows are at most 10,000 (checked above), so slots fit a u32.
        let slot = |window: usize| {
            u32::try_from(windows.partition_point(|w| *w < window)).unwrap_or(u32::MAX)
        };
        let combinations: Vec<(u32, u32)> = slow
            .values()
            .flat_map(|slow_window| {
                fast.values()
                    .filter(move |fast_window| *fast_window < slow_window)
                    .map(move |fast_window| (fast_window, slow_window))
            })
            .map(|(fast_window, slow_window)| (slot(fast_window), slot(slow_window)))
            .collect();
        if combinations.is_empty() {
            return Err(BacktestError::EmptyGrid {
                reason: format!(
                    "no fast window in {}..{} is below a slow window in {}..{}",
                    fast.start(),
                    fast.end(),
                    slow.start(),
                    slow.end()
                ),
            });
        }
        let sums = prefix_sums(series.closes());
        let averages = windows
            .par_iter()
            .map(|window| sma_from_prefix_sums(&sums, *window))
            .collect();
        Ok(Self {
            closes: series.closes().to_vec(),
            dates: series.bars().iter().map(|bar| bar.date).collect(),
            settings,
            windows,
            averages,
            combinations,
            stop: StopFlag::default(),
            min_trades: 0,
        })
    }

    /// Number of `(fast, slow)` combinations.
    pub fn len(&self) -> usize {
        self.combinations.len()
    }

    /// Whether the grid has no combination (never true for a grid that was built).
    pub fn is_empty(&self) -> bool {
        self.combinations.is_empty()
    }

    /// Number of bars in each backtest.
    pub fn bars(&self) -> usize {
        self.closes.len()
    }

    /// The distinct SMA windows computed for the grid.
    pub fn windows(&self) -> &[usize] {
        &self.windows
    }

    /// Every `(fast, slow)` combination, by slow window then fast window.
    pub fn combinations(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.combinations
            .iter()
            .map(|(fast, slow)| (self.windows[*fast as usize], self.windows[*slow as usize]))
    }

    /// The metrics of one combination of the grid; lets a caller stream every result (e.g.
    /// to a CSV file) in constant memory.
    pub fn evaluate(&self, fast: usize, slow: usize) -> Result<Metrics, BacktestError> {
        let slot = |window| self.windows.binary_search(&window).ok();
        match (slot(fast), slot(slow)) {
            (Some(fast_slot), Some(slow_slot)) if fast < slow => {
                let mut equity = vec![0.0; self.closes.len()];
                Ok(self.evaluate_slots(fast_slot, slow_slot, &mut equity))
            }
            _ => Err(BacktestError::NotInGrid { fast, slow }),
        }
    }

    /// Makes rankings stop early once `flag` is set (a cancelled job): the combinations not yet
    /// begun are skipped, and the outcome covers only those evaluated (`evaluated` says how
    /// many), so a caller that stopped it should discard it.
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = StopFlag(Some(flag));
        self
    }

    /// Leaves combinations with fewer than `trades` trades out of rankings: a Sharpe ratio
    /// earned on two trades is luck, and would otherwise top the table.
    pub fn min_trades(mut self, trades: usize) -> Self {
        self.min_trades = trades;
        self
    }

    /// Evaluates every combination on all cores and keeps the best `top` by `metric`.
    ///
    /// Memory stays at `top` entries and one equity buffer per worker, whatever the size of
    /// the grid.
    pub fn rank(&self, metric: RankMetric, top: usize) -> GridOutcome {
        self.rank_with_progress(metric, top, &|_| {})
    }

    /// [`Self::rank`], calling `on_progress(1)` as each combination finishes (from any worker
    /// thread), so a caller can draw a progress bar for large grids.
    pub fn rank_with_progress(
        &self,
        metric: RankMetric,
        top: usize,
        on_progress: &(dyn Fn(usize) + Sync),
    ) -> GridOutcome {
        let bars = self.closes.len();
        let evaluated = AtomicUsize::new(0);
        let leaders = self
            .combinations
            .par_iter()
            .fold(
                || (Leaders::new(metric, top, self.min_trades), vec![0.0; bars]),
                |(mut leaders, mut equity), (fast_slot, slow_slot)| {
                    if self.stop.is_raised() {
                        return (leaders, equity);
                    }
                    evaluated.fetch_add(1, AtomicOrdering::Relaxed);
                    let (fast, slow) = (*fast_slot as usize, *slow_slot as usize);
                    leaders.offer(GridEntry {
                        fast: self.windows[fast],
                        slow: self.windows[slow],
                        metrics: self.evaluate_slots(fast, slow, &mut equity),
                    });
                    on_progress(1);
                    (leaders, equity)
                },
            )
            .map(|(leaders, _)| leaders)
            .reduce(
                || Leaders::new(metric, top, self.min_trades),
                |mut leaders, other| {
                    other
                        .into_entries()
                        .into_iter()
                        .for_each(|entry| leaders.offer(entry));
                    leaders
                },
            );
        GridOutcome {
            metric,
            top: leaders.into_entries(),
            evaluated: evaluated.into_inner(),
            bars,
        }
    }

    /// The hot loop: one backtest reading the shared SMAs, allocating nothing (`equity` is
    /// the worker's scratch buffer, one slot per bar).
    fn evaluate_slots(&self, fast_slot: usize, slow_slot: usize, equity: &mut [f64]) -> Metrics {
        let mut feed = CrossFeed {
            fast: &self.averages[fast_slot],
            slow: &self.averages[slow_slot],
            crossing: Crossing::default(),
        };
        let tally = simulate(&self.closes, &self.settings, &mut feed, &mut (), equity);
        Metrics::new(&tally, equity, |index| self.dates[index], &self.settings)
    }
}

/// Crossover signals computed bar by bar from two precomputed SMAs.
struct CrossFeed<'a> {
    fast: &'a [f64],
    slow: &'a [f64],
    crossing: Crossing,
}

impl SignalFeed for CrossFeed<'_> {
    #[inline(always)]
    fn signal(&mut self, index: usize) -> Signal {
        self.crossing
            .step_values(self.fast[index], self.slow[index])
    }
}

/// What [`Leaders`] ranks: an entry's metrics, and a key that breaks ties between equal values.
pub(crate) trait Ranked {
    /// Smaller keys rank first among equal metric values.
    type Key: Ord;
    fn metrics(&self) -> &Metrics;
    fn key(&self) -> Self::Key;
}

impl Ranked for GridEntry {
    type Key = (usize, usize);

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Ties by smaller fast, then smaller slow.
    fn key(&self) -> Self::Key {
        (self.fast, self.slow)
    }
}

/// The best entries seen so far, best first, at most `capacity` of them.
pub(crate) struct Leaders<E> {
    metric: RankMetric,
    capacity: usize,
    /// Entries with fewer trades are refused.
    min_trades: usize,
    entries: Vec<E>,
}

impl<E: Ranked> Leaders<E> {
    pub(crate) fn new(metric: RankMetric, capacity: usize, min_trades: usize) -> Self {
        Self {
            metric,
            capacity,
            min_trades,
            entries: Vec::with_capacity(capacity.saturating_add(1).min(1024)),
        }
    }

    pub(crate) fn offer(&mut self, entry: E) {
        if entry.metrics().trades < self.min_trades {
            return;
        }
        let position = self
            .entries
            .partition_point(|held| self.ranks_before(held, &entry));
        if position < self.capacity {
            self.entries.insert(position, entry);
            self.entries.truncate(self.capacity);
        }
    }

    /// The entries kept, best first.
    pub(crate) fn into_entries(self) -> Vec<E> {
        self.entries
    }

    /// Higher values first, undefined values last; ties by the smaller key, so the outcome
    /// does not depend on how the work was split between threads.
    fn ranks_before(&self, a: &E, b: &E) -> bool {
        let value = |entry: &E| self.metric.value(entry.metrics());
        let by_value = match (value(a), value(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_value.then(a.key().cmp(&b.key())).is_lt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run;
    use crate::engine::tests::{bars_from_closes, series, wave};
    use crate::strategies::SmaCross;
    use marketcache_domain::Bar;

    fn grid(bars: &[Bar], fast: &str, slow: &str) -> Result<SmaCrossGrid, BacktestError> {
        let fast = ParamRange::parse("fast", fast)?;
        let slow = ParamRange::parse("slow", slow)?;
        SmaCrossGrid::new(&series(bars), fast, slow, Settings::default())
    }

    #[test]
    fn the_grid_keeps_only_pairs_with_fast_below_slow_and_shares_their_windows() {
        let grid = grid(&wave(50), "2..6", "4..8:2").unwrap_or_else(|e| panic!("{e}"));
        let pairs: Vec<_> = grid.combinations().collect();
        let expected = [(2, 4), (3, 4), (2, 6), (3, 6), (4, 6), (5, 6)];
        assert_eq!(&pairs[..6], &expected);
        assert_eq!(&pairs[6..], &[(2, 8), (3, 8), (4, 8), (5, 8), (6, 8)]);
        assert_eq!(grid.windows(), &[2, 3, 4, 5, 6, 8]);
    }

    #[test]
    fn a_stopped_ranking_starts_no_further_combination() {
        let bars = wave(300);
        let flag = Arc::new(AtomicBool::new(true));
        let grid = grid(&bars, "2..12", "5..30:5")
            .unwrap_or_else(|e| panic!("{e}"))
            .stop_when(Arc::clone(&flag));
        let outcome = grid.rank(RankMetric::Sharpe, 5);
        assert_eq!(outcome.evaluated, 0);
        assert!(outcome.top.is_empty());
        flag.store(false, AtomicOrdering::Relaxed);
        let outcome = grid.rank_with_progress(RankMetric::Sharpe, 5, &|_| {
            flag.store(true, AtomicOrdering::Relaxed);
        });
        // Each worker may have begun one combination before it saw the flag.
        assert!(
            (1..=rayon::current_num_threads()).contains(&outcome.evaluated),
            "{} of {} evaluated",
            outcome.evaluated,
            grid.len()
        );
        flag.store(false, AtomicOrdering::Relaxed);
        assert_eq!(grid.rank(RankMetric::Sharpe, 5).evaluated, grid.len());
    }

    #[test]
    fn every_grid_cell_equals_a_single_backtest_of_the_same_pair() {
        let bars = wave(300);
        let grid = grid(&bars, "2..12", "5..30:5").unwrap_or_else(|e| panic!("{e}"));
        for (fast, slow) in grid.combinations() {
            let strategy = SmaCross::new(fast, slow).unwrap_or_else(|e| panic!("{e}"));
            let single = run(&series(&bars), &strategy, &Settings::default())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                grid.evaluate(fast, slow),
                Ok(single.metrics),
                "{fast}/{slow}"
            );
        }
    }

    #[test]
    fn ranking_keeps_the_best_n_by_the_metric_in_order() {
        let grid = grid(&wave(300), "2..12", "5..30").unwrap_or_else(|e| panic!("{e}"));
        let outcome = grid.rank(RankMetric::TotalReturn, 5);
        assert_eq!(outcome.evaluated, grid.len());
        let mut all: Vec<(f64, usize, usize)> = grid
            .combinations()
            .map(|(fast, slow)| {
                let metrics = grid.evaluate(fast, slow).unwrap_or_else(|e| panic!("{e}"));
                (metrics.total_return, fast, slow)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        let top: Vec<_> = outcome
            .top
            .iter()
            .map(|entry| (entry.metrics.total_return, entry.fast, entry.slow))
            .collect();
        assert_eq!(top, all[..5].to_vec());
    }

    #[test]
    fn progress_is_reported_once_per_combination_and_does_not_change_the_ranking() {
        let grid = grid(&wave(300), "2..12", "5..30").unwrap_or_else(|e| panic!("{e}"));
        let done = std::sync::atomic::AtomicUsize::new(0);
        let with_progress = grid.rank_with_progress(RankMetric::Sharpe, 3, &|n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(done.into_inner(), grid.len());
        assert_eq!(with_progress, grid.rank(RankMetric::Sharpe, 3));
    }

    #[test]
    fn undefined_metrics_rank_after_defined_ones() {
        // Flat prices: no trade anywhere, so Sharpe is undefined for every pair.
        let grid =
            grid(&bars_from_closes(&[5.0; 40]), "2..3", "4").unwrap_or_else(|e| panic!("{e}"));
        let outcome = grid.rank(RankMetric::Sharpe, 10);
        assert_eq!(
            outcome.top.iter().map(|e| e.fast).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn grids_without_a_valid_pair_or_with_windows_out_of_range_are_refused() {
        assert!(matches!(
            grid(&wave(50), "10..20", "5..10"),
            Err(BacktestError::EmptyGrid { .. })
        ));
        let zero = grid(&wave(50), "0..5", "10").err().map(|e| e.to_string());
        assert!(zero.is_some_and(|m| m.contains("'fast'")));
        let grid = grid(&wave(50), "2..5", "10").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            grid.evaluate(7, 10),
            Err(BacktestError::NotInGrid { fast: 7, slow: 10 })
        );
    }
}
