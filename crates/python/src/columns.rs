//! Results as Python receives them: Arrow record batches handed over through the C data
//! interface (bars, an equity curve, every combination of a search) and JSON text for the
//! small structured parts (reports, metrics, summaries).

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, UInt64Array};
use arrow_pyarrow::ToPyArrow;
use arrow_schema::{DataType, Field, Schema};
use marketcache_backtest::{
    BacktestError, BacktestOutcome, BacktestReport, Metrics, ParamKind, ParamValue, Search,
    SearchOutcome, SearchPlan, catalog,
};
use marketcache_cache::bar_columns::{Described, bars_batch, days_since_epoch};
use marketcache_cache::{FetchReport, SymbolBars, Warmed};
use marketcache_domain::error::error_chain;
use marketcache_domain::{Adjustment, Bar, Symbol};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value, json};

use crate::errors::{Kind, Raised};

fn arrow_error(error: impl std::fmt::Display) -> Raised {
    Raised::new(
        Kind::Error,
        format!("building the Arrow columns failed: {error}"),
    )
}

/// One symbol's bars as a `pyarrow.RecordBatch`, in the files' schema.
pub fn bars<'py>(
    py: Python<'py>,
    response: &SymbolBars,
    adjust: Adjustment,
) -> PyResult<Bound<'py, PyAny>> {
    let described = Described {
        responses: std::slice::from_ref(response),
        adjust,
    };
    let batch = bars_batch(described).map_err(arrow_error)?;
    batch.to_pyarrow(py)
}

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// One symbol's bars as NumPy arrays by column name, for a pandas DataFrame: `date` (midnight
/// in nanoseconds since 1970, int64, what a `DatetimeIndex` holds), `open`, `high`, `low`,
/// `close`, [`adj_close`,] `volume` (int64). Each array takes over its Rust vector, so pandas
/// gets writable columns with no copy.
pub fn bars_numpy<'py>(py: Python<'py>, response: &SymbolBars) -> PyResult<Bound<'py, PyDict>> {
    let bars = &response.bars;
    let prices = |pick: fn(&Bar) -> f64| bars.iter().map(pick).collect::<Vec<f64>>();
    let columns = PyDict::new(py);
    let dates: Vec<i64> = bars
        .iter()
        .map(|bar| i64::from(days_since_epoch(bar.date)) * NANOS_PER_DAY)
        .collect();
    columns.set_item("date", PyArray1::from_vec(py, dates))?;
    columns.set_item("open", PyArray1::from_vec(py, prices(|bar| bar.open)))?;
    columns.set_item("high", PyArray1::from_vec(py, prices(|bar| bar.high)))?;
    columns.set_item("low", PyArray1::from_vec(py, prices(|bar| bar.low)))?;
    columns.set_item("close", PyArray1::from_vec(py, prices(|bar| bar.close)))?;
    if let Some(adjusted) = &response.adj_close {
        columns.set_item("adj_close", PyArray1::from_vec(py, adjusted.clone()))?;
    }
    let volumes: Vec<i64> = bars
        .iter()
        .map(|bar| i64::try_from(bar.volume).unwrap_or(i64::MAX))
        .collect();
    columns.set_item("volume", PyArray1::from_vec(py, volumes))?;
    Ok(columns)
}

/// A backtest's account at every bar: `date`, `equity`, `cash`, `shares`.
pub fn equity<'py>(py: Python<'py>, report: &BacktestReport) -> PyResult<Bound<'py, PyAny>> {
    let points = &report.equity_curve;
    let floats = |pick: fn(&marketcache_backtest::EquityPoint) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(points.iter().map(pick)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            points.iter().map(|point| days_since_epoch(point.date)),
        )),
        floats(|point| point.equity),
        floats(|point| point.cash),
        floats(|point| point.shares),
    ];
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("equity", DataType::Float64, false),
        Field::new("cash", DataType::Float64, false),
        Field::new("shares", DataType::Float64, false),
    ]);
    RecordBatch::try_new(Arc::new(schema), columns)
        .map_err(arrow_error)?
        .to_pyarrow(py)
}

/// Every combination a search evaluated: parameter values (in spec order) and metrics.
pub struct Grid {
    parameters: Vec<(&'static str, ParamKind)>,
    values: Vec<Vec<ParamValue>>,
    metrics: Vec<Metrics>,
    rank: marketcache_backtest::RankMetric,
}

/// Runs `plan` over `bars`, keeping every combination, ranked best first by the search's
/// metric (combinations where it is undefined last).
pub fn every_combination(
    plan: &SearchPlan,
    bars: &[Bar],
    search: &Search,
) -> Result<(Grid, SearchOutcome), Raised> {
    let mut values = Vec::new();
    let mut metrics = Vec::new();
    let mut keep = |row: &[ParamValue], result: &Metrics| {
        values.push(row.to_vec());
        metrics.push(*result);
    };
    let outcome =
        plan.run(bars, search, &|_| {}, Some(&mut keep))
            .map_err(|error| match error {
                BacktestError::EmptySplit { .. } => Raised::invalid("train_until", &error),
                other => Raised::from(other),
            })?;
    let rank = search.metric;
    let mut order: Vec<usize> = (0..metrics.len()).collect();
    let score = |index: &usize| rank.value(&metrics[*index]).filter(|v| !v.is_nan());
    order.sort_by(|a, b| match (score(a), score(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    });
    let parameters = plan
        .strategy()
        .parameters
        .iter()
        .map(|spec| (spec.name, spec.kind))
        .collect();
    let grid = Grid {
        parameters,
        values: order.iter().map(|i| values[*i].clone()).collect(),
        metrics: order.iter().map(|i| metrics[*i]).collect(),
        rank,
    };
    Ok((grid, outcome))
}

/// Reads one metric of a run, `None` where it is undefined.
type MetricPick = fn(&Metrics) -> Option<f64>;

/// The metrics a grid's table has, in order: name, value.
const GRID_METRICS: [(&str, MetricPick); 10] = [
    ("sharpe", |m| m.sharpe),
    ("sortino", |m| m.sortino),
    ("calmar", |m| m.calmar),
    ("cagr", |m| m.cagr),
    ("total_return", |m| Some(m.total_return)),
    ("final_equity", |m| Some(m.final_equity)),
    ("max_drawdown", |m| Some(m.max_drawdown)),
    ("annualized_volatility", |m| m.annualized_volatility),
    ("win_rate", |m| m.win_rate),
    ("average_trade_return", |m| m.average_trade_return),
];

/// A search's every combination as a `pyarrow.RecordBatch`: one column per parameter (int64
/// or float64), then the metrics (float64, null where undefined), `trades` and
/// `closed_trades`.
pub fn grid(py: Python<'_>, grid: Grid) -> PyResult<Bound<'_, PyAny>> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (slot, (name, kind)) in grid.parameters.iter().enumerate() {
        let cell = |row: &Vec<ParamValue>| row.get(slot).copied();
        match kind {
            ParamKind::Integer { .. } => {
                fields.push(Field::new(*name, DataType::Int64, false));
                columns.push(Arc::new(Int64Array::from_iter_values(
                    grid.values.iter().map(|row| match cell(row) {
                        Some(ParamValue::Integer(value)) => value,
                        _ => 0,
                    }),
                )));
            }
            ParamKind::Float { .. } => {
                fields.push(Field::new(*name, DataType::Float64, false));
                columns.push(Arc::new(Float64Array::from_iter_values(
                    grid.values.iter().map(|row| match cell(row) {
                        Some(ParamValue::Float(value)) => value,
                        Some(ParamValue::Integer(value)) => value as f64,
                        None => f64::NAN,
                    }),
                )));
            }
        }
    }
    for (name, pick) in GRID_METRICS {
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter(
            grid.metrics.iter().map(pick),
        )));
    }
    for (name, pick) in [
        ("trades", (|m: &Metrics| m.trades) as fn(&Metrics) -> usize),
        ("closed_trades", |m: &Metrics| m.closed_trades),
    ] {
        fields.push(Field::new(name, DataType::UInt64, false));
        columns.push(Arc::new(UInt64Array::from_iter_values(
            grid.metrics.iter().map(|m| pick(m) as u64),
        )));
    }
    let metadata: std::collections::HashMap<String, String> = [(
        "marketcache.metric".to_string(),
        grid.rank.name().to_string(),
    )]
    .into_iter()
    .collect();
    let schema = Schema::new(fields).with_metadata(metadata);
    RecordBatch::try_new(Arc::new(schema), columns)
        .map_err(arrow_error)?
        .to_pyarrow(py)
}

fn parameters_json(parameters: &[(&'static str, ParamValue)]) -> Value {
    Value::Object(
        parameters
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect(),
    )
}

/// A backtest's summary: its parameters, its metrics and buy-and-hold's, the data report.
pub fn backtest_json(symbol: &Symbol, outcome: &BacktestOutcome, report: &FetchReport) -> Value {
    json!({
        "symbol": symbol,
        "strategy": outcome.report.strategy,
        "parameters": parameters_json(&outcome.report.parameters),
        "metrics": outcome.report.metrics,
        "buy_and_hold": outcome.baseline.metrics,
        "trades": outcome.report.trades,
        "data": report,
    })
}

/// A search's summary: its size, split, the best combinations (with out-of-sample metrics
/// when it had a split) and the data report.
pub fn search_json(
    symbol: &Symbol,
    plan: &SearchPlan,
    search: &Search,
    outcome: &SearchOutcome,
    report: &FetchReport,
) -> Value {
    let best: Vec<Value> = outcome
        .top
        .iter()
        .map(|entry| {
            json!({
                "parameters": parameters_json(&entry.parameters),
                "metrics": entry.metrics,
                "out_of_sample": entry.out_of_sample,
            })
        })
        .collect();
    json!({
        "symbol": symbol,
        "strategy": plan.strategy().name,
        "metric": search.metric.name(),
        "ranges": plan.range_texts().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "combinations": outcome.combinations,
        "evaluated": outcome.evaluated,
        "skipped": outcome.skipped,
        "bars": outcome.bars,
        "train_bars": outcome.train_bars,
        "test_bars": outcome.test_bars,
        "train_until": search.train_until,
        "elapsed_ms": outcome.elapsed.as_secs_f64() * 1000.0,
        "best": best,
        "data": report,
    })
}

/// A warm's outcome per symbol.
pub fn warm_json(warmed: &Warmed) -> Value {
    let rows: Vec<Value> = warmed
        .outcomes
        .iter()
        .map(|outcome| match &outcome.result {
            Ok(stored) => json!({
                "symbol": outcome.symbol,
                "bars": stored.bars,
                "first_date": stored.first_date,
                "last_date": stored.last_date,
                "upstream_requests": stored.report.upstream_requests,
                "fetched_bars": stored.report.fetched_bars,
                "elapsed_ms": outcome.elapsed.as_secs_f64() * 1000.0,
                "error": null,
            }),
            Err(error) => json!({
                "symbol": outcome.symbol,
                "bars": 0,
                "first_date": null,
                "last_date": null,
                "upstream_requests": null,
                "fetched_bars": 0,
                "elapsed_ms": outcome.elapsed.as_secs_f64() * 1000.0,
                "error": error_chain(error),
            }),
        })
        .collect();
    Value::Array(rows)
}

/// The strategy catalog with each parameter's default and default search range.
pub fn strategies_json() -> Value {
    let strategies: Vec<Value> = catalog()
        .iter()
        .map(|info| {
            let parameters: Vec<Value> = info
                .parameters
                .iter()
                .map(|spec| {
                    let (kind, min, max) = match spec.kind {
                        ParamKind::Integer { min, max } => ("integer", json!(min), json!(max)),
                        ParamKind::Float { min, max } => ("float", json!(min), json!(max)),
                    };
                    json!({
                        "name": spec.name,
                        "description": spec.description,
                        "kind": kind,
                        "min": min,
                        "max": max,
                        "default": spec.default,
                        "default_range": spec.default_range,
                    })
                })
                .collect();
            json!({
                "name": info.name,
                "description": info.description,
                "parameters": parameters,
            })
        })
        .collect();
    Value::Array(strategies)
}
