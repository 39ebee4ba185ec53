//! Backtests over daily bars: the strategies, the engine that fills their signals, the metrics
//! of a run, and the grid optimizers (a fast one for SMA crossovers, a generic one for all).
//!
//! The engine follows vectorbt's `Portfolio.from_signals` defaults exactly, so results can be
//! checked against it: signals on each bar's close are filled at that close; long-only, one
//! position at a time; all cash in on entry (fractional shares), all out on exit; a position
//! still open at the end is valued at the last close and counted as an open trade; fees and
//! slippage are optional fractions, zero by default; 10,000 of initial cash by default.
//!
//! # Layout
//! - [`PriceSeries`]: the bars, checked (non-empty, dates strictly increasing) with their
//!   closes laid out as a column once for every run over them (dates are read from the bars).
//! - [`Strategy`] and [`catalog`]: a strategy turns bars into signals; new ones plug in by
//!   implementing the trait and adding a [`StrategyInfo`], without touching the engine.
//! - [`run`]: one backtest, with its trades, equity curve and [`Metrics`].
//! - [`SmaCrossGrid`]: thousands of SMA-crossover backtests over shared SMAs, on all cores, keeping
//!   the best N by a [`RankMetric`]. A grid cell and a single run share one simulation loop, so
//!   they agree to the bit.
//! - [`SearchPlan`]: a checked grid search (either grid) with its train/test split and
//!   [`HeatMap`], the one search that the CLI and the API run.
//! - [`StrategyGrid`]: the same search for any catalog strategy, over a [`GridSpace`] of one
//!   [`GridRange`] per parameter; combinations the strategy refuses (fast >= slow) are skipped.
//!   The [`Indicator`] series its combinations name are computed once into an
//!   [`IndicatorCache`] they all read, and each worker re-parameterises one strategy in place
//!   and reuses its buffers, so the loop over combinations allocates nothing.
//!
//! This crate must stay pure and synchronous: it never does I/O, SQL or async, and knows
//! nothing of the cache; callers hand it bars (from `get_bars`) and get values back. Every
//! input (strategy name, parameter, setting, grid range) is checked before anything runs, and
//! its error names the culprit.

mod engine;
mod error;
mod grid;
mod indicator_cache;
pub mod indicators;
mod metrics;
mod params;
mod search;
mod series;
mod strategies;
mod strategy;
mod strategy_grid;

pub use engine::{BacktestReport, EquityPoint, Settings, Trade, run};
pub use error::BacktestError;
pub use grid::{GridEntry, GridOutcome, SmaCrossGrid};
pub use indicator_cache::{Indicator, IndicatorCache};
pub use metrics::{Metrics, RankMetric, TRADING_DAYS_PER_YEAR};
pub use params::{
    FloatRange, GridRange, ParamKind, ParamRange, ParamSpec, ParamValue, Params, parse_assignment,
};
pub use search::{
    BacktestOutcome, EntrySink, HeatMap, HeatMapBuilder, RankedEntry, Search, SearchOutcome,
    SearchPlan, range_text, run_against_buy_and_hold,
};
pub use series::PriceSeries;
pub use strategies::{Bollinger, BuyAndHold, EmaCross, Macd, RsiReversion, SmaCross};
pub use strategy::{
    ParameterChange, Signals, Strategy, StrategyInfo, build_strategy, catalog, find_strategy,
};
pub use strategy_grid::{
    GridSpace, MAX_GRID_COMBINATIONS, MetricSummary, StrategyGrid, StrategyGridEntry,
    StrategyGridOutcome,
};
