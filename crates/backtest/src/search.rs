//! Grid searches over bars, ready to run: a [`SearchPlan`] checks the ranges of a strategy's
//! parameters before any bar is read, then ranks the grid (the SMA fast path or the generic
//! grid) and tests the winners on the bars after a split; a [`HeatMap`] keeps the best value per
//! pair of the first two parameters. One home for every entry point that searches (the CLI's
//! `optimize`, the API's `/api/optimize`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use marketcache_domain::Bar;
use serde::Serialize;

use crate::{
    BacktestError, BacktestReport, BuyAndHold, GridRange, GridSpace, MetricSummary, Metrics,
    ParamValue, PriceSeries, RankMetric, Settings, SmaCross, SmaCrossGrid, Strategy, StrategyGrid,
    StrategyGridEntry, StrategyInfo, run,
};

/// One backtest and the buy-and-hold baseline over the same bars and settings.
#[derive(Debug, Clone)]
pub struct BacktestOutcome {
    /// The strategy's run.
    pub report: BacktestReport,
    /// Buy-and-hold's run.
    pub baseline: BacktestReport,
}

/// Runs `strategy` and buy-and-hold over `bars` with `money`.
pub fn run_against_buy_and_hold(
    bars: &[Bar],
    strategy: &dyn Strategy,
    money: &Settings,
) -> Result<BacktestOutcome, BacktestError> {
    let series = PriceSeries::new(bars)?;
    Ok(BacktestOutcome {
        report: run(&series, strategy, money)?,
        baseline: run(&series, &BuyAndHold, money)?,
    })
}

/// Receives every evaluated combination: its parameter values (in spec order) and metrics.
pub type EntrySink<'a> = &'a mut dyn FnMut(&[ParamValue], &Metrics);

/// A checked grid search, ready to run over bars: the ranges parsed, their size within the
/// limit, and at least one combination the strategy accepts.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    info: &'static StrategyInfo,
    ranges: Vec<(&'static str, GridRange)>,
    /// The generic grid's space; `None` for sma-cross, which has its own faster grid.
    space: Option<GridSpace>,
    /// Set by [`Self::stop`]; shared by clones, so a job stops the copy that is ranking.
    stop: Arc<AtomicBool>,
}

impl SearchPlan {
    /// Checks `ranges` (parsed by [`StrategyInfo::parse_ranges`]) for `info`: at most
    /// `max_combinations` before constraints, and at least one combination accepted.
    pub fn new(
        info: &'static StrategyInfo,
        ranges: Vec<(&'static str, GridRange)>,
        max_combinations: usize,
    ) -> Result<Self, BacktestError> {
        let combinations = ranges
            .iter()
            .try_fold(1_usize, |product, (_, range)| {
                product.checked_mul(range.len())
            })
            .filter(|product| *product <= max_combinations);
        if combinations.is_none() {
            return Err(BacktestError::TooManyCombinations {
                sizes: ranges
                    .iter()
                    .map(|(name, range)| format!("{name} {}", range.len()))
                    .collect::<Vec<_>>()
                    .join(" × "),
                limit: max_combinations,
            });
        }
        let space = if info.name == SmaCross::INFO.name {
            check_some_fast_below_slow(&ranges)?;
            None
        } else {
            Some(GridSpace::new(info, &ranges)?)
        };
        Ok(Self {
            info,
            ranges,
            space,
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Makes a running [`Self::run`] (of this plan or a clone) start no further combination,
    /// for a search whose job was cancelled: its outcome is then incomplete, to be discarded.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The strategy searched.
    pub fn strategy(&self) -> &'static StrategyInfo {
        self.info
    }

    /// The range of each parameter, in spec order.
    pub fn ranges(&self) -> &[(&'static str, GridRange)] {
        &self.ranges
    }

    /// Each range as typed, without a step of 1 (`5..100`, `10..300:2`, `20`).
    pub fn range_texts(&self) -> Vec<(&'static str, String)> {
        self.ranges
            .iter()
            .map(|(name, range)| (*name, range_text(range)))
            .collect()
    }

    /// The combinations a run evaluates (those the strategy accepts): a progress bar's length.
    pub fn evaluations(&self) -> usize {
        match &self.space {
            Some(space) => space.len(),
            None => match self.sma_windows() {
                Some((fast, slow)) => slow
                    .values()
                    .map(|slow_window| fast.values().filter(|f| *f < slow_window).count())
                    .sum(),
                None => 0,
            },
        }
    }

    /// sma-cross's two integer ranges, fast then slow.
    fn sma_windows(&self) -> Option<(crate::ParamRange, crate::ParamRange)> {
        let window = |slot: usize| {
            self.ranges
                .get(slot)
                .and_then(|(_, range)| range.as_integer())
        };
        Some((window(0)?, window(1)?))
    }

    /// Ranks the grid over `bars` by `metric`, keeping the best `top`. With `train_until`, ranks
    /// on the bars up to that day and runs the winners on the later ones too.
    ///
    /// `on_progress(n)` is called as combinations finish (from any thread); `on_entry`, if
    /// given, receives every combination's values and metrics (to write them all to a file).
    pub fn run(
        &self,
        bars: &[Bar],
        search: &Search,
        on_progress: &(dyn Fn(usize) + Sync),
        on_entry: Option<EntrySink<'_>>,
    ) -> Result<SearchOutcome, BacktestError> {
        // With train_until the grid ranks on the earlier bars only; the later ones test the winners.
        let split = match search.train_until {
            Some(day) => bars.partition_point(|bar| bar.date <= day),
            None => bars.len(),
        };
        let (train, test) = bars.split_at(split);
        if let Some(train_until) = search.train_until
            && (train.is_empty() || test.is_empty())
        {
            return Err(BacktestError::EmptySplit { train_until });
        }
        let series = PriceSeries::new(train)?;
        let started = Instant::now();
        let mut ranking = match &self.space {
            None => self.rank_sma_cross(&series, search, on_progress, on_entry)?,
            Some(space) => {
                let grid = StrategyGrid::new(&series, space.clone(), search.money)
                    .stop_when(Arc::clone(&self.stop))
                    .min_trades(search.min_trades);
                let mut forward = on_entry.map(|sink| {
                    move |entry: &StrategyGridEntry| {
                        let values: Vec<ParamValue> =
                            entry.parameters.iter().map(|(_, value)| *value).collect();
                        sink(&values, &entry.metrics);
                    }
                });
                let outcome = grid.rank_streaming(
                    search.metric,
                    search.top,
                    on_progress,
                    forward
                        .as_mut()
                        .map(|sink| sink as &mut dyn FnMut(&StrategyGridEntry)),
                )?;
                SearchOutcome {
                    top: outcome
                        .top
                        .into_iter()
                        .map(|entry| RankedEntry {
                            parameters: entry.parameters,
                            metrics: entry.metrics,
                            out_of_sample: None,
                        })
                        .collect(),
                    combinations: outcome.combinations,
                    evaluated: outcome.evaluated,
                    skipped: outcome.skipped,
                    bars: outcome.bars,
                    train_bars: 0,
                    test_bars: 0,
                    summary: Some(outcome.summary),
                    elapsed: Duration::ZERO,
                }
            }
        };
        ranking.elapsed = started.elapsed();
        // The split is the run's, whichever grid ranked: recorded here once for both.
        ranking.train_bars = train.len();
        ranking.test_bars = test.len();
        if !test.is_empty() {
            let test_series = PriceSeries::new(test)?;
            for entry in &mut ranking.top {
                let strategy = self.info.build_with(&entry.parameters)?;
                entry.out_of_sample =
                    Some(run(&test_series, strategy.as_ref(), &search.money)?.metrics);
            }
        }
        Ok(ranking)
    }

    /// The sma-cross fast path: the specialised grid over shared SMAs.
    fn rank_sma_cross(
        &self,
        series: &PriceSeries<'_>,
        search: &Search,
        on_progress: &(dyn Fn(usize) + Sync),
        on_entry: Option<EntrySink<'_>>,
    ) -> Result<SearchOutcome, BacktestError> {
        let (fast, slow) = self.sma_windows().ok_or_else(|| BacktestError::EmptyGrid {
            reason: "sma-cross takes integer fast and slow ranges".to_string(),
        })?;
        let grid = SmaCrossGrid::new(series, fast, slow, search.money)?
            .stop_when(Arc::clone(&self.stop))
            .min_trades(search.min_trades);
        let outcome = grid.rank_with_progress(search.metric, search.top, on_progress);
        if let Some(sink) = on_entry {
            for (fast, slow) in grid.combinations() {
                if self.stopped() {
                    break;
                }
                let metrics = grid.evaluate(fast, slow)?;
                sink(&[window(fast), window(slow)], &metrics);
            }
        }
        let combinations = fast.len() * slow.len();
        Ok(SearchOutcome {
            top: outcome
                .top
                .into_iter()
                .map(|entry| RankedEntry {
                    parameters: vec![("fast", window(entry.fast)), ("slow", window(entry.slow))],
                    metrics: entry.metrics,
                    out_of_sample: None,
                })
                .collect(),
            combinations,
            evaluated: outcome.evaluated,
            skipped: combinations - outcome.evaluated,
            bars: outcome.bars,
            train_bars: 0,
            test_bars: 0,
            summary: None,
            elapsed: Duration::ZERO,
        })
    }
}

/// How a search ranks and trades.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// The metric ranked by.
    pub metric: RankMetric,
    /// How many of the best to keep.
    pub top: usize,
    /// Cash, fees and slippage of every backtest.
    pub money: Settings,
    /// Rank on the bars up to this day; the later bars test the winners.
    pub train_until: Option<NaiveDate>,
    /// Rank only combinations that traded at least this often (0: all).
    pub min_trades: usize,
}

/// One of the best combinations.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedEntry {
    /// The parameter values, in spec order.
    pub parameters: Vec<(&'static str, ParamValue)>,
    /// Its metrics on the bars ranked.
    pub metrics: Metrics,
    /// Its metrics on the bars after `train_until`, when the search had one.
    pub out_of_sample: Option<Metrics>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// The best combinations, best first.
    pub top: Vec<RankedEntry>,
    /// The size of the cartesian product of the ranges.
    pub combinations: usize,
    /// Combinations backtested.
    pub evaluated: usize,
    /// Combinations the strategy refused (such as fast not below slow).
    pub skipped: usize,
    /// Bars in each ranked backtest.
    pub bars: usize,
    /// Bars up to `train_until` (all of them without it).
    pub train_bars: usize,
    /// Bars after `train_until`.
    pub test_bars: usize,
    /// The ranking metric over every combination (the generic grid keeps it; the SMA one does not).
    pub summary: Option<MetricSummary>,
    /// Time the ranking took (out-of-sample runs excluded).
    pub elapsed: Duration,
}

/// The ranking metric over the first two parameters of a grid: each cell holds the best value
/// over the other parameters, `None` where no combination was evaluated or the metric is
/// undefined. Small enough to send whole (one number per pair), unlike every combination's
/// report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatMap {
    /// The metric the cells hold.
    pub metric: &'static str,
    /// The first parameter's name (columns).
    pub x_parameter: &'static str,
    /// The second parameter's name (rows).
    pub y_parameter: &'static str,
    /// The first parameter's values, in increasing order.
    pub x: Vec<ParamValue>,
    /// The second parameter's values, in increasing order.
    pub y: Vec<ParamValue>,
    /// One row per `y` value, one cell per `x` value.
    pub values: Vec<Vec<Option<f64>>>,
}

/// Builds a [`HeatMap`] from a search's stream of evaluated combinations.
#[derive(Debug, Clone)]
pub struct HeatMapBuilder {
    map: HeatMap,
    metric: RankMetric,
    x_range: GridRange,
    y_range: GridRange,
}

impl HeatMapBuilder {
    /// An empty map over the first two ranges of `plan`; `None` for a strategy with fewer than
    /// two parameters.
    pub fn new(plan: &SearchPlan, metric: RankMetric) -> Option<Self> {
        let [(x_parameter, x_range), (y_parameter, y_range), ..] = plan.ranges() else {
            return None;
        };
        Some(Self {
            map: HeatMap {
                metric: metric.name(),
                x_parameter,
                y_parameter,
                x: x_range.values().collect(),
                y: y_range.values().collect(),
                values: vec![vec![None; x_range.len()]; y_range.len()],
            },
            metric,
            x_range: *x_range,
            y_range: *y_range,
        })
    }

    /// Keeps `metrics` in its cell when it beats what the cell holds (higher is better for
    /// every ranking metric).
    pub fn record(&mut self, values: &[ParamValue], metrics: &Metrics) {
        let (Some(x), Some(y)) = (values.first(), values.get(1)) else {
            return;
        };
        let (Some(column), Some(row)) = (index_in(&self.x_range, *x), index_in(&self.y_range, *y))
        else {
            return;
        };
        let Some(value) = self.metric.value(metrics).filter(|value| value.is_finite()) else {
            return;
        };
        if let Some(cell) = self
            .map
            .values
            .get_mut(row)
            .and_then(|row| row.get_mut(column))
            && cell.is_none_or(|best| value > best)
        {
            *cell = Some(value);
        }
    }

    /// The finished map.
    pub fn finish(self) -> HeatMap {
        self.map
    }
}

/// The position of `value` in `range`, found arithmetically since ranges are evenly spaced.
fn index_in(range: &GridRange, value: ParamValue) -> Option<usize> {
    let value = match value {
        ParamValue::Integer(value) => value as f64,
        ParamValue::Float(value) => value,
    };
    let (start, step) = match range {
        GridRange::Integer(range) => (range.start() as f64, range.step() as f64),
        GridRange::Float(range) => (range.start(), range.step()),
    };
    let position = if step > 0.0 {
        ((value - start) / step).round()
    } else {
        0.0
    };
    (position >= 0.0 && (position as usize) < range.len()).then_some(position as usize)
}

/// Refuses an sma-cross grid without a pair fast < slow before the bars are read (the generic
/// grid finds this by building its combinations; the SMA grid would only when it is built).
fn check_some_fast_below_slow(ranges: &[(&'static str, GridRange)]) -> Result<(), BacktestError> {
    let windows = |slot: usize| ranges.get(slot).and_then(|(_, range)| range.as_integer());
    if let (Some(fast), Some(slow)) = (windows(0), windows(1))
        && slow
            .values()
            .last()
            .is_some_and(|largest| fast.start() >= largest)
    {
        return Err(BacktestError::EmptyGrid {
            reason: format!(
                "no fast window in {} is below a slow window in {}",
                range_text(&ranges[0].1),
                range_text(&ranges[1].1)
            ),
        });
    }
    Ok(())
}

/// A range as typed, without a step of 1.
pub fn range_text(range: &GridRange) -> String {
    match range.as_integer() {
        Some(whole) if whole.start() == whole.end() => whole.start().to_string(),
        Some(whole) if whole.step() == 1 => format!("{}..{}", whole.start(), whole.end()),
        _ => range.to_string(),
    }
}

/// A window length as a parameter value; windows are at most 10,000.
fn window(length: usize) -> ParamValue {
    ParamValue::Integer(i64::try_from(length).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find_strategy;

    fn plan(
        strategy: &str,
        given: &[(&str, &str)],
        limit: usize,
    ) -> Result<SearchPlan, BacktestError> {
        let info = find_strategy(strategy)?;
        let ranges = info.parse_ranges(given)?;
        SearchPlan::new(info, ranges, limit)
    }

    #[test]
    fn sma_cross_searches_its_default_windows_when_none_are_given() {
        let plan = plan("sma-cross", &[], 1_000_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.range_texts(),
            vec![
                ("fast", "5..100".to_string()),
                ("slow", "10..300:2".to_string())
            ]
        );
        // Pairs with fast < slow among 96 fast and 146 slow windows.
        let expected: usize = (10..=300)
            .step_by(2)
            .map(|slow| (5..=100).filter(|fast| *fast < slow).count())
            .sum();
        assert_eq!(plan.evaluations(), expected);
    }

    #[test]
    fn a_heat_map_keeps_the_best_value_of_each_pair() {
        let plan = plan(
            "bollinger",
            &[("period", "10..20:10"), ("k", "1..2:1")],
            1_000,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut builder = HeatMapBuilder::new(&plan, RankMetric::TotalReturn)
            .unwrap_or_else(|| panic!("2 params"));
        let metrics = |total_return: f64| Metrics {
            total_return,
            ..sample_metrics()
        };
        builder.record(
            &[ParamValue::Integer(20), ParamValue::Float(1.0)],
            &metrics(0.5),
        );
        builder.record(
            &[ParamValue::Integer(20), ParamValue::Float(1.0)],
            &metrics(0.2),
        );
        builder.record(
            &[ParamValue::Integer(10), ParamValue::Float(2.0)],
            &metrics(-0.1),
        );
        // Outside the ranges: ignored, not a panic.
        builder.record(
            &[ParamValue::Integer(99), ParamValue::Float(2.0)],
            &metrics(9.0),
        );
        let map = builder.finish();
        assert_eq!((map.x_parameter, map.y_parameter), ("period", "k"));
        assert_eq!(
            map.values,
            vec![vec![None, Some(0.5)], vec![Some(-0.1), None]]
        );
    }

    fn sample_metrics() -> Metrics {
        let bars = rising_bars();
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        run(&series, &BuyAndHold, &Settings::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .metrics
    }

    /// A few rising bars, built without the test kit (a unit test of this crate).
    fn rising_bars() -> Vec<Bar> {
        (0..5)
            .map(|day| {
                let date = NaiveDate::from_ymd_opt(2020, 1, 6 + day).unwrap_or_default();
                let close = 100.0 + f64::from(day);
                Bar::try_new(date, close, close, close, close, 1_000)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    #[test]
    fn grids_above_the_limit_are_refused_naming_the_limit() {
        let error = plan(
            "rsi",
            &[
                ("period", "2..100"),
                ("lower", "1..50"),
                ("upper", "51..99"),
            ],
            1_000,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("at most 1000"), "{error}");
    }

    #[test]
    fn an_sma_grid_without_fast_below_slow_is_refused_before_any_bar() {
        let error = plan(
            "sma-cross",
            &[("fast", "50..60"), ("slow", "20..50")],
            1_000,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("no fast window in 50..60"), "{error}");
    }
}
