//! The native part of the Python package `marketcache` (`marketcache._native`): a cache opened
//! from the same settings as the command line, whose reads, warms, backtests and searches call
//! the same homes as the CLI and the API (`MarketDataCache::get_bars`, `warm`, `stats`,
//! `clear`, `bars_for_analysis`, `run_against_buy_and_hold`, `SearchPlan`).
//!
//! It owns only the crossing into Python: arguments checked and turned into our types, the GIL
//! released for every read and computation, results handed over as Arrow record batches
//! through the C data interface (no Python object per row) or as JSON text, and our errors
//! raised as the package's exceptions. DataFrames, `download`'s yfinance shape and the typed
//! API are the Python side's (`python/marketcache`).

mod columns;
mod errors;
mod runtime;

use std::future::Future;
use std::sync::Arc;

use chrono::NaiveDate;
use marketcache_backtest::{
    Search, SearchPlan, Settings as Trading, build_strategy, find_strategy,
    run_against_buy_and_hold,
};
use marketcache_cache::analysis::{BarsPolicy, bars_for_analysis};
use marketcache_cache::{GetOptions, MarketDataCache, NoProgress, SymbolBars};
use marketcache_config::{Overrides, Settings, dotenv, wiring};
use marketcache_domain::{Adjustment, DateRange, Symbol, parse_date};
use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::{Kind, Raised};

/// The Rust side's allocator: mimalloc keeps freed memory for the next read, where the C
/// library's malloc gave the top of its heap back after every read and faulted it in again on
/// the next (a cached 35-year read into pandas took 0.44 ms instead of 0.22 ms that way).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A marketcache cache, opened once and shared by every thread of the process.
#[pyclass(frozen, module = "marketcache._native")]
struct NativeCache {
    cache: Arc<MarketDataCache>,
    runtime: Arc<Runtime>,
    /// The process that opened it: its connections and file locks do not cross a fork.
    pid: u32,
    description: String,
}

/// `start..=end` from ISO dates, with the CLI's defaults (1990-01-01, today in New York).
fn requested(
    start: Option<&str>,
    end: Option<&str>,
    today: NaiveDate,
) -> Result<DateRange, Raised> {
    let start = start.map(|text| parse_date("start", text)).transpose()?;
    let end = end.map(|text| parse_date("end", text)).transpose()?;
    Ok(DateRange::requested(start, end, today)?)
}

fn symbols(names: &[String]) -> Result<Vec<Symbol>, Raised> {
    if names.is_empty() {
        return Err(Raised::invalid("tickers", "name at least one symbol"));
    }
    let mut symbols: Vec<Symbol> = Vec::with_capacity(names.len());
    for name in names {
        let symbol = Symbol::parse(name).map_err(|e| Raised::invalid("symbol", e))?;
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    Ok(symbols)
}

/// `(name, text)` pairs as the backtest crate's parsers take them.
fn as_pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect()
}

fn adjustment(text: &str) -> Result<Adjustment, Raised> {
    text.parse()
        .map_err(|rule: String| Raised::new(Kind::InvalidInput, rule))
}

fn trading(cash: f64, fees: f64, slippage: f64) -> Result<Trading, Raised> {
    Ok(Trading::new(cash, fees, slippage)?)
}

impl NativeCache {
    /// Runs `work` on the process's runtime with the GIL released, after checking that this
    /// process opened the cache.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        work: impl Future<Output = Result<T, Raised>> + Send,
    ) -> PyResult<T> {
        if std::process::id() != self.pid {
            return Err(Raised::new(
                Kind::Error,
                "this Cache was opened by another process (before a fork): open a Cache in each process",
            )
            .into());
        }
        Ok(py.detach(|| self.runtime.block_on(work))?)
    }

    /// The bars a backtest or a search runs on: the read every analysis makes
    /// (`bars_for_analysis`), as the CLI's `backtest` and `optimize` make it.
    fn analysis_bars(
        &self,
        py: Python<'_>,
        symbol: &Symbol,
        range: DateRange,
        offline: bool,
        strict: bool,
    ) -> PyResult<SymbolBars> {
        let policy = BarsPolicy { offline, strict };
        self.run(py, async {
            bars_for_analysis(&self.cache, symbol, range, policy, &NoProgress)
                .await
                .map_err(Raised::from)
        })
    }
}

#[pymethods]
impl NativeCache {
    /// Opens the cache: `Overrides` first, then the environment and `.env`, then
    /// `marketcache.toml`, then defaults, as the command line resolves them.
    #[new]
    #[pyo3(signature = (database_url=None, provider=None, csv_dir=None, latency_ms=None, max_span_days=None, concurrency=None, pool_size=None, freshness=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        database_url: Option<String>,
        provider: Option<String>,
        csv_dir: Option<std::path::PathBuf>,
        latency_ms: Option<u64>,
        max_span_days: Option<u32>,
        concurrency: Option<u16>,
        pool_size: Option<String>,
        freshness: Option<String>,
    ) -> PyResult<Self> {
        let overrides = Overrides {
            database_url,
            provider,
            csv_dir,
            latency_ms,
            max_span_days,
            concurrency,
            pool_size,
            freshness,
        };
        dotenv::load(std::path::Path::new(".env")).map_err(Raised::from)?;
        let settings = Settings::resolve(&overrides).map_err(Raised::from)?;
        let runtime = runtime::current().map_err(|e| {
            Raised::new(Kind::Error, format!("cannot start the async runtime: {e}"))
        })?;
        let cache = py
            .detach(|| runtime.block_on(wiring::open_cache(&settings)))
            .map_err(Raised::from)?;
        Ok(Self {
            description: cache.describe_store(),
            cache: Arc::new(cache),
            runtime,
            pid: std::process::id(),
        })
    }

    /// The database, its password hidden.
    #[getter]
    fn database(&self) -> String {
        self.description.clone()
    }

    /// The configured provider's name.
    #[getter]
    fn provider(&self) -> String {
        self.cache.source().name().to_string()
    }

    /// Today in New York, as the cache dates ranges (ISO).
    #[getter]
    fn today(&self) -> String {
        self.cache.today().to_string()
    }

    /// The bars of each symbol over `start..=end`, read concurrently: one item per distinct
    /// symbol, in order, either `(columns, report JSON)` or the exception that symbol's read
    /// ended with (raised by the caller, or kept, as `download` does). The columns are a
    /// `pyarrow.RecordBatch`, or with `numpy` a dict of NumPy arrays for pandas.
    #[pyo3(signature = (symbols, start=None, end=None, adjust="splits", offline=false, closed_only=false, adj_close=false, force_refresh=false, numpy=false))]
    #[allow(clippy::too_many_arguments)]
    fn bars(
        &self,
        py: Python<'_>,
        symbols: Vec<String>,
        start: Option<&str>,
        end: Option<&str>,
        adjust: &str,
        offline: bool,
        closed_only: bool,
        adj_close: bool,
        force_refresh: bool,
        numpy: bool,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let symbols = crate::symbols(&symbols)?;
        let range = requested(start, end, self.cache.today())?;
        let adjust = adjustment(adjust)?;
        if offline && force_refresh {
            return Err(Raised::invalid("force_refresh", "cannot be combined with offline").into());
        }
        let options = GetOptions {
            force_refresh,
            offline,
            adjust,
            closed_only,
            adj_close,
        };
        let cache = &self.cache;
        let results = self.run(py, async {
            let reads = symbols
                .iter()
                .map(|symbol| cache.get_bars(symbol, range, options));
            Ok(futures::future::join_all(reads).await)
        })?;
        results
            .into_iter()
            .map(|result| match result {
                Ok(response) => {
                    let batch = if numpy {
                        columns::bars_numpy(py, &response)?.into_any()
                    } else {
                        columns::bars(py, &response, adjust)?
                    };
                    let report = serde_json::to_string(&response.report)
                        .map_err(|e| Raised::new(Kind::Error, e.to_string()))?;
                    Ok((batch, report).into_pyobject(py)?.into_any().unbind())
                }
                Err(error) => Ok(PyErr::from(Raised::from(error)).into_value(py).into_any()),
            })
            .collect()
    }

    /// Warms `symbols` over `start..=end`, going on past failures: JSON, one object per
    /// symbol (`symbol`, `bars`, `first_date`, `last_date`, `upstream_requests`, `error`).
    #[pyo3(signature = (symbols, start=None, end=None))]
    fn warm(
        &self,
        py: Python<'_>,
        symbols: Vec<String>,
        start: Option<&str>,
        end: Option<&str>,
    ) -> PyResult<String> {
        let symbols = crate::symbols(&symbols)?;
        let range = requested(start, end, self.cache.today())?;
        let cache = &self.cache;
        let warmed = self.run(py, async {
            Ok(cache.warm(&symbols, range, &NoProgress).await)
        })?;
        Ok(columns::warm_json(&warmed).to_string())
    }

    /// What the cache holds: the store's statistics as JSON.
    fn stats(&self, py: Python<'_>) -> PyResult<String> {
        let cache = &self.cache;
        let stats = self.run(py, async { cache.stats().await.map_err(Raised::from) })?;
        serde_json::to_string(&stats).map_err(|e| Raised::new(Kind::Error, e.to_string()).into())
    }

    /// Removes a symbol's bars and coverage (all symbols when `None`), or only those before
    /// `before`: JSON with `bars_deleted` and `coverage_spans_changed`.
    #[pyo3(signature = (symbol=None, before=None))]
    fn clear(
        &self,
        py: Python<'_>,
        symbol: Option<&str>,
        before: Option<&str>,
    ) -> PyResult<String> {
        let symbol = symbol
            .map(|name| Symbol::parse(name).map_err(|e| Raised::invalid("symbol", e)))
            .transpose()?;
        let before = before
            .map(|text| parse_date("before", text))
            .transpose()
            .map_err(Raised::from)?;
        let cache = &self.cache;
        let report = self.run(py, async {
            cache
                .clear(symbol.as_ref(), before)
                .await
                .map_err(Raised::from)
        })?;
        Ok(serde_json::json!({
            "bars_deleted": report.bars_deleted,
            "coverage_spans_changed": report.coverage_spans_changed,
        })
        .to_string())
    }

    /// One backtest of `strategy` with `params` (name, value text) and buy-and-hold beside it:
    /// `(JSON of both metrics, the parameters and the data report, equity RecordBatch)`.
    #[pyo3(signature = (symbol, strategy, params, start=None, end=None, initial_cash=10_000.0, fees=0.0, slippage=0.0, offline=false, strict=false))]
    #[allow(clippy::too_many_arguments)]
    fn backtest<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        strategy: &str,
        params: Vec<(String, String)>,
        start: Option<&str>,
        end: Option<&str>,
        initial_cash: f64,
        fees: f64,
        slippage: f64,
        offline: bool,
        strict: bool,
    ) -> PyResult<(String, Bound<'py, PyAny>)> {
        let symbol = Symbol::parse(symbol).map_err(|e| Raised::invalid("symbol", e))?;
        let range = requested(start, end, self.cache.today())?;
        let pairs = as_pairs(&params);
        let strategy = build_strategy(strategy, &pairs).map_err(Raised::from)?;
        let money = trading(initial_cash, fees, slippage)?;
        let response = self.analysis_bars(py, &symbol, range, offline, strict)?;
        let outcome = py
            .detach(|| run_against_buy_and_hold(&response.bars, strategy.as_ref(), &money))
            .map_err(Raised::from)?;
        let summary = columns::backtest_json(&symbol, &outcome, &response.report);
        let equity = columns::equity(py, &outcome.report)?;
        Ok((summary.to_string(), equity))
    }

    /// Every combination of a grid search: `(RecordBatch of parameters and metrics, JSON of
    /// the search: combinations, bars, the best and its out-of-sample metrics, data report)`.
    #[pyo3(signature = (symbol, strategy, ranges, start=None, end=None, metric="sharpe", initial_cash=10_000.0, fees=0.0, slippage=0.0, train_until=None, offline=false, strict=false))]
    #[allow(clippy::too_many_arguments)]
    fn optimize<'py>(
        &self,
        py: Python<'py>,
        symbol: &str,
        strategy: &str,
        ranges: Vec<(String, String)>,
        start: Option<&str>,
        end: Option<&str>,
        metric: &str,
        initial_cash: f64,
        fees: f64,
        slippage: f64,
        train_until: Option<&str>,
        offline: bool,
        strict: bool,
    ) -> PyResult<(Bound<'py, PyAny>, String)> {
        let symbol = Symbol::parse(symbol).map_err(|e| Raised::invalid("symbol", e))?;
        let range = requested(start, end, self.cache.today())?;
        let info = find_strategy(strategy).map_err(Raised::from)?;
        let given = as_pairs(&ranges);
        let plan = SearchPlan::new(
            info,
            info.parse_ranges(&given).map_err(Raised::from)?,
            usize::MAX,
        )
        .map_err(Raised::from)?;
        let search = Search {
            metric: metric.parse().map_err(Raised::from)?,
            top: 10,
            money: trading(initial_cash, fees, slippage)?,
            train_until: train_until
                .map(|text| parse_date("train_until", text))
                .transpose()
                .map_err(Raised::from)?,
            // Every combination comes back as a row: the caller filters on `trades`.
            min_trades: 0,
        };
        let response = self.analysis_bars(py, &symbol, range, offline, strict)?;
        let (grid, outcome) =
            py.detach(|| columns::every_combination(&plan, &response.bars, &search))?;
        let table = columns::grid(py, grid)?;
        let summary = columns::search_json(&symbol, &plan, &search, &outcome, &response.report);
        Ok((table, summary.to_string()))
    }

    fn __repr__(&self) -> String {
        format!(
            "Cache(database={:?}, provider={:?})",
            self.description,
            self.cache.source().name()
        )
    }
}

/// The strategies a backtest or a search can name, with each parameter's default and default
/// search range: JSON.
#[pyfunction]
fn strategies() -> String {
    columns::strategies_json().to_string()
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<NativeCache>()?;
    module.add_function(wrap_pyfunction!(strategies, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
