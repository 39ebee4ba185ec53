//! The generic grid: every combination of parameter ranges of any catalog strategy, ranked.

use rayon::prelude::*;
use serde::Serialize;

use crate::BacktestError;
use crate::engine::{Settings, checked_signals, simulate_signals};
use crate::grid::{Leaders, Ranked};
use crate::metrics::{Metrics, RankMetric};
use crate::params::{GridRange, ParamValue, Params, match_parameters};
use crate::series::PriceSeries;
use crate::strategy::{Strategy, StrategyInfo};

/// The most combinations (before constraints) a [`GridSpace`] may hold: about a day of one core
/// on 35 years of daily bars, far past any useful search.
pub const MAX_GRID_COMBINATIONS: usize = 1_000_000;

/// Combinations evaluated in parallel between two in-order hand-overs to the ranking and the
/// caller: memory stays at this many metrics while every core keeps busy, and the ranking,
/// summary and streamed rows come out in the same order whatever the thread count.
const CHUNK: usize = 4096;

/// The parameter ranges of a grid over one strategy: one checked range per parameter, and how
/// many of their combinations the strategy accepts.
///
/// Combination `i` is `i` in mixed radix over the ranges in spec order, the last parameter
/// varying fastest; so lower indices have smaller values of the earlier parameters, and ties
/// in a ranking go to them (for sma-cross: smaller fast, then smaller slow, as in
/// [`crate::SmaCrossGrid`]). Nothing is stored per combination.
#[derive(Debug, Clone)]
pub struct GridSpace {
    info: &'static StrategyInfo,
    ranges: Vec<(&'static str, GridRange)>,
    combinations: usize,
    valid: usize,
}

impl GridSpace {
    /// Checks `(parameter, range)` pairs against `info`: every parameter needs exactly one
    /// range of its type within its valid values, the ranges may multiply to at most
    /// [`MAX_GRID_COMBINATIONS`], and the strategy must accept at least one combination.
    /// Errors name the parameter (or the limit).
    pub fn new(
        info: &'static StrategyInfo,
        ranges: &[(&str, GridRange)],
    ) -> Result<Self, BacktestError> {
        let checked = match_parameters(info.name, info.parameters, ranges, |spec, range| {
            spec.check_range(range)?;
            Ok(*range)
        })?;
        let ranges: Vec<(&'static str, GridRange)> = info
            .parameters
            .iter()
            .map(|spec| spec.name)
            .zip(checked)
            .collect();
        let combinations = ranges
            .iter()
            .try_fold(1_usize, |product, (_, range)| {
                product.checked_mul(range.len())
            })
            .filter(|product| *product <= MAX_GRID_COMBINATIONS)
            .ok_or_else(|| BacktestError::TooManyCombinations {
                sizes: ranges
                    .iter()
                    .map(|(name, range)| format!("{name} {}", range.len()))
                    .collect::<Vec<_>>()
                    .join(" × "),
                limit: MAX_GRID_COMBINATIONS,
            })?;
        let mut space = Self {
            info,
            ranges,
            combinations,
            valid: 0,
        };
        // Building a strategy costs about a microsecond against tens for its backtest, so
        // counting the accepted combinations up front is cheap, gives a progress bar its
        // length, and refuses a grid the strategy rejects entirely before any bar is read.
        let valid = (0..combinations)
            .into_par_iter()
            .filter(|index| space.build(*index).is_ok())
            .count();
        if valid == 0 {
            let example = space.build(0).err().map(|e| e.to_string());
            return Err(BacktestError::EmptyGrid {
                reason: format!(
                    "{} refuses all {combinations} combinations, e.g. {}",
                    info.name,
                    example.unwrap_or_default()
                ),
            });
        }
        space.valid = valid;
        Ok(space)
    }

    /// Parses `(parameter, range)` pairs such as `("lower", "20..40:5")` and checks them as
    /// [`Self::new`] does.
    pub fn parse(
        info: &'static StrategyInfo,
        given: &[(&str, &str)],
    ) -> Result<Self, BacktestError> {
        Self::new(info, &info.parse_ranges(given)?)
    }

    /// The strategy searched.
    pub fn strategy(&self) -> &'static StrategyInfo {
        self.info
    }

    /// The range of each parameter, in spec order.
    pub fn ranges(&self) -> &[(&'static str, GridRange)] {
        &self.ranges
    }

    /// The size of the cartesian product of the ranges.
    pub fn combinations(&self) -> usize {
        self.combinations
    }

    /// The combinations the strategy accepts, which a ranking evaluates.
    pub fn len(&self) -> usize {
        self.valid
    }

    /// Never true for a space that was built: at least one combination is accepted.
    pub fn is_empty(&self) -> bool {
        self.valid == 0
    }

    /// The combinations the strategy refuses (such as fast >= slow for a crossover).
    pub fn skipped(&self) -> usize {
        self.combinations - self.valid
    }

    /// The parameter values of combination `index` (below [`Self::combinations`]).
    pub fn parameters(&self, mut index: usize) -> Vec<(&'static str, ParamValue)> {
        let mut values: Vec<(&'static str, ParamValue)> = self
            .ranges
            .iter()
            .map(|(name, _)| (*name, ParamValue::Integer(0)))
            .collect();
        let specs = self.info.parameters.iter();
        for ((spec, (_, range)), slot) in specs.zip(&self.ranges).zip(&mut values).rev() {
            slot.1 = spec.range_value(range, index % range.len());
            index /= range.len();
        }
        values
    }

    /// The strategy of combination `index`, or the constructor's reason to refuse it.
    fn build(&self, index: usize) -> Result<Box<dyn Strategy>, BacktestError> {
        // The ranges were checked against the specs, so every value is too.
        (self.info.build)(&Params::from_checked(self.parameters(index)))
    }
}

/// One evaluated combination of a [`StrategyGrid`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyGridEntry {
    /// The parameter values, in spec order.
    pub parameters: Vec<(&'static str, ParamValue)>,
    /// Its backtest's metrics (the same numbers a single [`crate::run`] gives).
    pub metrics: Metrics,
}

/// How the ranking metric spread over the evaluated combinations.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct MetricSummary {
    /// Combinations where the metric is defined.
    pub defined: usize,
    /// The highest value.
    pub best: Option<f64>,
    /// The lowest value.
    pub worst: Option<f64>,
    /// The mean over the combinations where it is defined.
    pub mean: Option<f64>,
}

impl MetricSummary {
    fn add(&mut self, value: Option<f64>, sum: &mut f64) {
        let Some(value) = value else { return };
        self.defined += 1;
        *sum += value;
        self.best = Some(self.best.map_or(value, |best| best.max(value)));
        self.worst = Some(self.worst.map_or(value, |worst| worst.min(value)));
        self.mean = Some(*sum / self.defined as f64);
    }
}

/// The best combinations of a [`StrategyGrid`], with counts and a summary of the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyGridOutcome {
    /// The strategy's catalog name.
    pub strategy: &'static str,
    /// The metric the entries are ranked by.
    pub metric: RankMetric,
    /// The best entries, best first; ties keep the smaller values of the earlier parameters.
    pub top: Vec<StrategyGridEntry>,
    /// The size of the cartesian product of the ranges.
    pub combinations: usize,
    /// Combinations backtested.
    pub evaluated: usize,
    /// Combinations the strategy refused (a constraint between its parameters).
    pub skipped: usize,
    /// Bars in each backtest.
    pub bars: usize,
    /// The ranking metric over all evaluated combinations.
    pub summary: MetricSummary,
}

/// A grid of backtests of one catalog strategy over one series: every combination of a
/// [`GridSpace`] the strategy accepts, on all cores, keeping the best N.
///
/// Each cell runs the strategy's own signals through the same simulation loop as [`crate::run`]
/// without recording trades or an equity curve, so its metrics equal a single run's to the bit.
/// Strategies with shared-indicator shortcuts (sma-cross) are faster through their own grid.
#[derive(Debug, Clone)]
pub struct StrategyGrid<'a> {
    series: PriceSeries<'a>,
    space: GridSpace,
    settings: Settings,
}

/// A combination kept for the ranking: its index stands for its parameters until the end.
struct Cell {
    index: usize,
    metrics: Metrics,
}

impl Ranked for Cell {
    type Key = usize;

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn key(&self) -> usize {
        self.index
    }
}

impl<'a> StrategyGrid<'a> {
    /// The grid `space` over `series` with `settings`.
    pub fn new(series: &PriceSeries<'a>, space: GridSpace, settings: Settings) -> Self {
        Self {
            series: series.clone(),
            space,
            settings,
        }
    }

    /// The ranges searched.
    pub fn space(&self) -> &GridSpace {
        &self.space
    }

    /// Number of combinations a ranking evaluates.
    pub fn len(&self) -> usize {
        self.space.len()
    }

    /// Never true for a grid that was built.
    pub fn is_empty(&self) -> bool {
        self.space.is_empty()
    }

    /// Number of bars in each backtest.
    pub fn bars(&self) -> usize {
        self.series.len()
    }

    /// The strategy with `parameters` (such as a ranked entry's), checked like any other.
    pub fn strategy(
        &self,
        parameters: &[(&'static str, ParamValue)],
    ) -> Result<Box<dyn Strategy>, BacktestError> {
        self.space.info.build_with(parameters)
    }

    /// The metrics of the strategy with `parameters` over the grid's bars and settings.
    pub fn evaluate(
        &self,
        parameters: &[(&'static str, ParamValue)],
    ) -> Result<Metrics, BacktestError> {
        let strategy = self.strategy(parameters)?;
        let mut equity = vec![0.0; self.series.len()];
        self.evaluate_strategy(strategy.as_ref(), &mut equity)
    }

    /// Evaluates every accepted combination on all cores and keeps the best `top` by `metric`.
    ///
    /// Fails only if the strategy returns signals of the wrong length.
    pub fn rank(
        &self,
        metric: RankMetric,
        top: usize,
    ) -> Result<StrategyGridOutcome, BacktestError> {
        self.rank_streaming(metric, top, &|_| {}, None)
    }

    /// [`Self::rank`], calling `on_progress(1)` as each combination finishes (from any worker
    /// thread), so a caller can draw a progress bar.
    pub fn rank_with_progress(
        &self,
        metric: RankMetric,
        top: usize,
        on_progress: &(dyn Fn(usize) + Sync),
    ) -> Result<StrategyGridOutcome, BacktestError> {
        self.rank_streaming(metric, top, on_progress, None)
    }

    /// [`Self::rank_with_progress`], also handing every evaluated combination to `on_entry`
    /// in combination order (on the calling thread), e.g. to write them all to a CSV file.
    ///
    /// Memory stays at `top` entries plus one chunk of metrics, whatever the size of the grid.
    pub fn rank_streaming(
        &self,
        metric: RankMetric,
        top: usize,
        on_progress: &(dyn Fn(usize) + Sync),
        mut on_entry: Option<&mut dyn FnMut(&StrategyGridEntry)>,
    ) -> Result<StrategyGridOutcome, BacktestError> {
        let bars = self.series.len();
        let combinations = self.space.combinations;
        let mut leaders = Leaders::new(metric, top);
        let mut summary = MetricSummary::default();
        let mut sum = 0.0;
        let mut evaluated = 0;
        for chunk_start in (0..combinations).step_by(CHUNK) {
            let chunk = chunk_start..combinations.min(chunk_start + CHUNK);
            let results: Vec<Result<Option<Metrics>, BacktestError>> = chunk
                .clone()
                .into_par_iter()
                .map_init(
                    || vec![0.0; bars],
                    |equity, index| {
                        // A refused combination is skipped, not an error: that is the constraint.
                        let Ok(strategy) = self.space.build(index) else {
                            return Ok(None);
                        };
                        let metrics = self.evaluate_strategy(strategy.as_ref(), equity)?;
                        on_progress(1);
                        Ok(Some(metrics))
                    },
                )
                .collect();
            for (index, result) in chunk.zip(results) {
                let Some(metrics) = result? else { continue };
                evaluated += 1;
                summary.add(metric.value(&metrics), &mut sum);
                if let Some(on_entry) = on_entry.as_mut() {
                    on_entry(&StrategyGridEntry {
                        parameters: self.space.parameters(index),
                        metrics,
                    });
                }
                leaders.offer(Cell { index, metrics });
            }
        }
        Ok(StrategyGridOutcome {
            strategy: self.space.info.name,
            metric,
            top: leaders
                .into_entries()
                .into_iter()
                .map(|cell| StrategyGridEntry {
                    parameters: self.space.parameters(cell.index),
                    metrics: cell.metrics,
                })
                .collect(),
            combinations,
            evaluated,
            skipped: combinations - evaluated,
            bars,
            summary,
        })
    }

    /// The lean backtest of one cell: the strategy's signals through the shared loop, with no
    /// trade list or equity curve (`equity` is the worker's scratch buffer, one slot per bar).
    fn evaluate_strategy(
        &self,
        strategy: &dyn Strategy,
        equity: &mut [f64],
    ) -> Result<Metrics, BacktestError> {
        let signals = checked_signals(&self.series, strategy)?;
        let closes = self.series.closes();
        let dates = self.series.dates();
        let tally = simulate_signals(closes, &self.settings, &signals, &mut (), equity);
        Ok(Metrics::new(
            &tally,
            equity,
            |index| dates[index],
            &self.settings,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{run, tests::bars_from_closes};
    use crate::strategies::{Bollinger, BuyAndHold, Macd, RsiReversion};
    use crate::strategy::find_strategy;
    use marketcache_domain::Bar;

    fn wave(bars: usize) -> Vec<Bar> {
        let closes: Vec<f64> = (0..bars)
            .map(|i| 100.0 + 10.0 * (i as f64 / 7.0).sin() + 3.0 * (i as f64 / 2.3).cos())
            .collect();
        bars_from_closes(&closes)
    }

    fn series(bars: &[Bar]) -> PriceSeries<'_> {
        PriceSeries::new(bars).unwrap_or_else(|e| panic!("{e}"))
    }

    fn space(strategy: &str, given: &[(&str, &str)]) -> Result<GridSpace, BacktestError> {
        GridSpace::parse(find_strategy(strategy)?, given)
    }

    /// period 2, 3, 4 × lower 30, 50, 70 × upper 50, 70: lower < upper in 3 of 6 level pairs.
    const RSI_RANGES: &[(&str, &str)] = &[
        ("period", "2..4"),
        ("lower", "30..70:20"),
        ("upper", "50..70:20"),
    ];

    fn rsi_grid(bars: &[Bar]) -> StrategyGrid<'_> {
        let space = space("rsi", RSI_RANGES).unwrap_or_else(|e| panic!("{e}"));
        StrategyGrid::new(&series(bars), space, Settings::default())
    }

    /// Every accepted combination's metrics from a direct run, in combination order.
    fn direct_runs(grid: &StrategyGrid<'_>, bars: &[Bar]) -> Vec<StrategyGridEntry> {
        (0..grid.space().combinations())
            .map(|index| grid.space().parameters(index))
            .filter_map(|parameters| {
                let strategy = grid.strategy(&parameters).ok()?;
                let report = run(&series(bars), strategy.as_ref(), &Settings::default());
                let metrics = report.unwrap_or_else(|e| panic!("{e}")).metrics;
                Some(StrategyGridEntry {
                    parameters,
                    metrics,
                })
            })
            .collect()
    }

    #[test]
    fn an_rsi_grid_evaluates_the_accepted_combinations_and_skips_the_rest() {
        let bars = wave(200);
        let grid = rsi_grid(&bars);
        assert_eq!(grid.space().combinations(), 18);
        assert_eq!((grid.len(), grid.space().skipped()), (9, 9));
        let outcome = grid
            .rank(RankMetric::TotalReturn, 100)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (outcome.combinations, outcome.evaluated, outcome.skipped),
            (18, 9, 9)
        );
        assert_eq!(outcome.top.len(), 9);
        assert!(outcome.top.iter().all(|entry| {
            matches!(
                (entry.parameters[1].1, entry.parameters[2].1),
                (ParamValue::Float(lower), ParamValue::Float(upper)) if lower < upper
            )
        }));
    }

    #[test]
    fn the_ranking_equals_sorting_direct_runs_of_every_combination() {
        let bars = wave(200);
        let grid = rsi_grid(&bars);
        let outcome = grid
            .rank(RankMetric::Sharpe, 4)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut expected = direct_runs(&grid, &bars);
        // A stable sort keeps combination order among ties, as the grid does.
        expected.sort_by(|a, b| {
            let value = |entry: &StrategyGridEntry| entry.metrics.sharpe;
            match (value(a), value(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (a, b) => b.is_some().cmp(&a.is_some()),
            }
        });
        assert_eq!(outcome.top, expected[..4].to_vec());
        let best = &outcome.top[0];
        let direct = RsiReversion::new(
            usize::try_from(match best.parameters[0].1 {
                ParamValue::Integer(period) => period,
                ParamValue::Float(_) => panic!("period is an integer"),
            })
            .unwrap_or_default(),
            grid_float(best.parameters[1].1),
            grid_float(best.parameters[2].1),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let report =
            run(&series(&bars), &direct, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(best.metrics, report.metrics);
        let sharpes: Vec<f64> = expected.iter().filter_map(|e| e.metrics.sharpe).collect();
        assert_eq!(outcome.summary.defined, sharpes.len());
        assert_eq!(outcome.summary.best, best.metrics.sharpe);
        assert_eq!(
            outcome.summary.worst,
            sharpes.iter().copied().reduce(f64::min)
        );
    }

    fn grid_float(value: ParamValue) -> f64 {
        match value {
            ParamValue::Float(value) => value,
            ParamValue::Integer(value) => value as f64,
        }
    }

    #[test]
    fn streaming_hands_over_every_evaluated_combination_in_order_with_progress() {
        let bars = wave(200);
        let grid = rsi_grid(&bars);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let mut streamed = Vec::new();
        let outcome = grid
            .rank_streaming(
                RankMetric::Sharpe,
                3,
                &|n| {
                    done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                },
                Some(&mut |entry: &StrategyGridEntry| streamed.push(entry.clone())),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.into_inner(), 9);
        assert_eq!(streamed, direct_runs(&grid, &bars));
        assert_eq!(
            Ok(outcome),
            grid.rank(RankMetric::Sharpe, 3),
            "streaming does not change the ranking"
        );
    }

    #[test]
    fn float_ranges_reach_float_parameters_and_macd_skips_fast_at_or_above_slow() {
        let bars = wave(150);
        let bollinger = space(
            "bollinger",
            &[("period", "10..20:10"), ("k", "1.5..2.5:0.5")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ks: Vec<ParamValue> = (0..3).map(|i| bollinger.parameters(i)[1].1).collect();
        assert_eq!(
            ks,
            [1.5, 2.0, 2.5].map(ParamValue::Float).to_vec(),
            "the last parameter varies fastest"
        );
        let grid = StrategyGrid::new(&series(&bars), bollinger, Settings::default());
        let outcome = grid
            .rank(RankMetric::TotalReturn, 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((outcome.evaluated, outcome.skipped), (6, 0));
        let best = &outcome.top[0].parameters;
        let direct = Bollinger::new(
            if best[0].1 == ParamValue::Integer(10) {
                10
            } else {
                20
            },
            grid_float(best[1].1),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let report =
            run(&series(&bars), &direct, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.top[0].metrics, report.metrics);

        // fast 5, 10, 15 × slow 10, 20 × signal 9: (10, 10), (15, 10) are refused.
        let macd = space(
            "macd",
            &[("fast", "5..15:5"), ("slow", "10..20:10"), ("signal", "9")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((macd.combinations(), macd.len()), (6, 4));
        let grid = StrategyGrid::new(&series(&bars), macd, Settings::default());
        let best = grid
            .rank(RankMetric::Sharpe, 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let parameters = &best.top[0].parameters;
        let as_usize = |value: ParamValue| grid_float(value) as usize;
        let direct = Macd::new(
            as_usize(parameters[0].1),
            as_usize(parameters[1].1),
            as_usize(parameters[2].1),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let report =
            run(&series(&bars), &direct, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(best.top[0].metrics, report.metrics);
    }

    #[test]
    fn a_strategy_without_parameters_is_a_grid_of_one() {
        let bars = wave(30);
        let space = space("buy-and-hold", &[]).unwrap_or_else(|e| panic!("{e}"));
        let grid = StrategyGrid::new(&series(&bars), space, Settings::default());
        let outcome = grid
            .rank(RankMetric::Sharpe, 5)
            .unwrap_or_else(|e| panic!("{e}"));
        let report = run(&series(&bars), &BuyAndHold, &Settings::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.top.len(), 1);
        assert_eq!(outcome.top[0].metrics, report.metrics);
    }

    #[test]
    fn bad_grids_are_refused_naming_the_parameter_or_the_limit() {
        let message = |strategy: &str, given: &[(&str, &str)]| {
            space(strategy, given)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        // (strategy, ranges, what the error must name)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            ("rsi", &[("period", "30..5")], "'period'"),
            (
                "rsi",
                &[("period", "5..30"), ("lower", "20..40:0"), ("upper", "70")],
                "'lower'",
            ),
            (
                "rsi",
                &[("period", "5..30"), ("lower", "0..40"), ("upper", "70")],
                "'lower'",
            ),
            ("rsi", &[("period", "5..30"), ("lower", "30")], "'upper'"),
            ("rsi", &[("window", "5..30")], "'window'"),
            ("rsi", &[("period", "5.5..30")], "'period'"),
            (
                "rsi",
                &[("period", "5"), ("period", "6"), ("lower", "30")],
                "'period'",
            ),
            ("bollinger", &[("period", "20"), ("k", "1..2:-0.5")], "'k'"),
            // lower 70..80 is never below upper 50..60: every combination is refused.
            (
                "rsi",
                &[("period", "14"), ("lower", "70..80"), ("upper", "50..60")],
                "'lower'",
            ),
            (
                "rsi",
                &[
                    ("period", "2..100"),
                    ("lower", "1..99:0.1"),
                    ("upper", "1..99:0.1"),
                ],
                "1000000",
            ),
        ];
        for (strategy, given, named) in cases {
            let text = message(strategy, given);
            assert!(
                text.contains(named),
                "{given:?}: '{text}' should name {named}"
            );
        }
    }
}
