//! The generic grid: every combination of parameter ranges of any catalog strategy, ranked.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rayon::prelude::*;
use serde::Serialize;

use crate::BacktestError;
use crate::engine::{Settings, check_signals, simulate_signals};
use crate::grid::{Leaders, Ranked, StopFlag};
use crate::indicator_cache::{Indicator, IndicatorCache};
use crate::metrics::{Metrics, RankMetric};
use crate::params::{GridRange, ParamValue, Params, match_parameters};
use crate::series::PriceSeries;
use crate::strategy::{ParameterChange, Signals, Strategy, StrategyInfo};

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
    /// The first accepted combination: each worker builds its strategy from it once, then
    /// switches it from combination to combination in place.
    first_valid: usize,
    /// The distinct indicator series the accepted combinations read, ascending.
    indicators: Vec<Indicator>,
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
        let checked = match_parameters(
            info.name,
            info.parameters,
            ranges,
            |spec, range| {
                spec.check_range(range)?;
                Ok(*range)
            },
            None,
        )?;
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
            first_valid: 0,
            indicators: Vec::new(),
        };
        let Some(first_valid) = (0..combinations)
            .into_par_iter()
            .find_first(|index| space.build(*index).is_ok())
        else {
            let example = space.build(0).err().map(|e| e.to_string());
            return Err(BacktestError::EmptyGrid {
                reason: format!(
                    "{} refuses all {combinations} combinations, e.g. {}",
                    info.name,
                    example.unwrap_or_default()
                ),
            });
        };
        space.first_valid = first_valid;
        // Visiting every combination up front costs a fraction of a microsecond each against
        // tens for its backtest: it gives a progress bar its length and the grid the distinct
        // indicator series to compute before any combination runs.
        let (valid, indicators) = (0..combinations)
            .into_par_iter()
            .fold(
                || (Cursor::new(&space), 0, BTreeSet::new()),
                |(mut cursor, valid, mut indicators), index| match cursor.select(index) {
                    Some(strategy) => {
                        strategy.indicators(&mut |key| {
                            indicators.insert(key);
                        });
                        (cursor, valid + 1, indicators)
                    }
                    None => (cursor, valid, indicators),
                },
            )
            .map(|(_, valid, indicators)| (valid, indicators))
            .reduce(
                || (0, BTreeSet::new()),
                |(valid, mut indicators), (more, others)| {
                    indicators.extend(others);
                    (valid + more, indicators)
                },
            );
        space.valid = valid;
        space.indicators = indicators.into_iter().collect();
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

    /// The distinct indicator series the accepted combinations read (see
    /// [`Strategy::indicators`]), ascending: what a [`StrategyGrid`] computes once.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// Writes the values of combination `index` into `values`, in spec order: the mixed-radix
    /// digits of `index`, last parameter fastest.
    fn write_values(&self, mut index: usize, values: &mut Vec<ParamValue>) {
        values.clear();
        values.resize(self.ranges.len(), ParamValue::Integer(0));
        let specs = self.info.parameters.iter();
        for ((spec, (_, range)), slot) in specs.zip(&self.ranges).zip(values).rev() {
            *slot = spec.range_value(range, index % range.len());
            index /= range.len();
        }
    }

    /// The parameter values of combination `index` (below [`Self::combinations`]).
    pub fn parameters(&self, index: usize) -> Vec<(&'static str, ParamValue)> {
        let mut values = Vec::with_capacity(self.ranges.len());
        self.write_values(index, &mut values);
        self.ranges
            .iter()
            .map(|(name, _)| *name)
            .zip(values)
            .collect()
    }

    /// The strategy of combination `index`, or the constructor's reason to refuse it.
    fn build(&self, index: usize) -> Result<Box<dyn Strategy>, BacktestError> {
        // The ranges were checked against the specs, so every value is too.
        (self.info.build)(&Params::from_checked(self.parameters(index)))
    }
}

/// One worker's way through a [`GridSpace`]: a single strategy switched from combination to
/// combination in place ([`Strategy::set_parameters`]), and a values buffer, so a visit
/// allocates nothing; a strategy that cannot switch is built per combination instead.
struct Cursor<'s> {
    space: &'s GridSpace,
    values: Vec<ParamValue>,
    /// Built once from the first accepted combination; `None` once it turned out unable to
    /// switch (or, never in practice, failed to build).
    reused: Option<Box<dyn Strategy>>,
    built: Option<Box<dyn Strategy>>,
}

impl<'s> Cursor<'s> {
    fn new(space: &'s GridSpace) -> Self {
        Self {
            space,
            values: Vec::with_capacity(space.ranges.len()),
            reused: space.build(space.first_valid).ok(),
            built: None,
        }
    }

    /// The strategy of combination `index`, or `None` if the strategy refuses it.
    fn select(&mut self, index: usize) -> Option<&dyn Strategy> {
        self.space.write_values(index, &mut self.values);
        let change = match self.reused.as_mut() {
            Some(strategy) => strategy.set_parameters(&self.values),
            None => ParameterChange::Unsupported,
        };
        match change {
            ParameterChange::Applied => self.reused.as_deref(),
            ParameterChange::Refused => None,
            ParameterChange::Unsupported => {
                self.reused = None;
                self.built = self.space.build(index).ok();
                self.built.as_deref()
            }
        }
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
/// The indicator series the combinations name are computed once, up front, into an
/// [`IndicatorCache`] they all read ([`Strategy::signals_into`]); each cell then runs its
/// signals through the same simulation loop as [`crate::run`] without recording trades or an
/// equity curve, so its metrics equal a single run's to the bit. Each worker keeps one
/// strategy, switched in place, and one set of signal and equity buffers, so the loop over the
/// combinations allocates nothing.
#[derive(Debug, Clone)]
pub struct StrategyGrid<'a> {
    series: PriceSeries<'a>,
    space: GridSpace,
    settings: Settings,
    cache: IndicatorCache,
    /// Set by the caller to stop a ranking early (see [`Self::stop_when`]).
    stop: StopFlag,
    /// Combinations with fewer trades are evaluated but never ranked.
    min_trades: usize,
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
    /// The grid `space` over `series` with `settings`, with the indicator series of
    /// [`GridSpace::indicators`] computed (each once, on all cores).
    pub fn new(series: &PriceSeries<'a>, space: GridSpace, settings: Settings) -> Self {
        Self {
            series: series.clone(),
            cache: IndicatorCache::new(series, space.indicators()),
            space,
            settings,
            stop: StopFlag::default(),
            min_trades: 0,
        }
    }

    /// Makes rankings stop early once `flag` is set (a cancelled job): no further chunk
    /// starts and the combinations not yet begun are skipped, so the outcome covers only
    /// those evaluated; a caller that stopped it should discard it.
    pub fn stop_when(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = StopFlag(Some(flag));
        self
    }

    /// Leaves combinations with fewer than `trades` trades out of rankings (they still count
    /// as evaluated and still reach the entry sink), as [`crate::SmaCrossGrid::min_trades`].
    pub fn min_trades(mut self, trades: usize) -> Self {
        self.min_trades = trades;
        self
    }

    /// The indicator series the combinations share.
    pub fn indicators(&self) -> &IndicatorCache {
        &self.cache
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
        let mut scratch = Scratch::new(self.series.len());
        self.evaluate_strategy(strategy.as_ref(), &mut scratch)
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
    /// Memory stays at `top` entries, one chunk of metrics and the shared indicator series
    /// (capped; see [`IndicatorCache`]), whatever the number of combinations.
    pub fn rank_streaming(
        &self,
        metric: RankMetric,
        top: usize,
        on_progress: &(dyn Fn(usize) + Sync),
        mut on_entry: Option<&mut dyn FnMut(&StrategyGridEntry)>,
    ) -> Result<StrategyGridOutcome, BacktestError> {
        let bars = self.series.len();
        let combinations = self.space.combinations;
        let mut leaders = Leaders::new(metric, top, self.min_trades);
        let mut summary = MetricSummary::default();
        let mut sum = 0.0;
        let mut evaluated = 0;
        let mut results: Vec<Result<Option<Metrics>, BacktestError>> = Vec::new();
        for chunk_start in (0..combinations).step_by(CHUNK) {
            if self.stop.is_raised() {
                break;
            }
            let chunk = chunk_start..combinations.min(chunk_start + CHUNK);
            // The per-worker state is made once per rayon job (a few per chunk), never per
            // combination; the results buffer is reused from chunk to chunk.
            chunk
                .clone()
                .into_par_iter()
                .map_init(
                    || (Cursor::new(&self.space), Scratch::new(bars)),
                    |(cursor, scratch), index| {
                        if self.stop.is_raised() {
                            return Ok(None);
                        }
                        // A refused combination is skipped, not an error: that is the constraint.
                        let Some(strategy) = cursor.select(index) else {
                            return Ok(None);
                        };
                        let metrics = self.evaluate_strategy(strategy, scratch)?;
                        on_progress(1);
                        Ok(Some(metrics))
                    },
                )
                .collect_into_vec(&mut results);
            for (index, result) in chunk.zip(results.drain(..)) {
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

    /// The lean backtest of one cell: the strategy's signals from the shared indicators
    /// through the shared loop, with no trade list or equity curve, in the worker's buffers.
    fn evaluate_strategy(
        &self,
        strategy: &dyn Strategy,
        scratch: &mut Scratch,
    ) -> Result<Metrics, BacktestError> {
        let Scratch { signals, equity } = scratch;
        strategy.signals_into(&self.series, &self.cache, signals);
        check_signals(&self.series, strategy, signals)?;
        let closes = self.series.closes();
        let tally = simulate_signals(closes, &self.settings, signals, &mut (), equity);
        Ok(Metrics::new(
            &tally,
            equity,
            |index| self.series.date(index),
            &self.settings,
        ))
    }
}

/// A worker's buffers, one slot per bar, reused by every combination it evaluates.
struct Scratch {
    signals: Signals,
    equity: Vec<f64>,
}

impl Scratch {
    fn new(bars: usize) -> Self {
        Self {
            signals: Signals::none(bars),
            equity: vec![0.0; bars],
        }
    }
}

#[cfg(test)]
mod tests;
