//! Backtests (answered at once) and grid searches (run as jobs) over bars read through the cache.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::NaiveDate;
use marketcache_backtest::{
    BacktestError, EquityPoint, HeatMap, HeatMapBuilder, MetricSummary, Metrics, ParamKind,
    ParamValue, RankMetric, Search, SearchOutcome, SearchPlan, Settings, Trade, build_strategy,
    catalog, find_strategy, run_against_buy_and_hold,
};
use marketcache_cache::analysis::{BarsPolicy, bars_for_analysis};
use marketcache_cache::{FetchReport, MarketDataCache, NoProgress, SymbolBars};
use marketcache_domain::{Bar, DataFingerprint, DateRange, Symbol};
use serde::{Deserialize, Serialize};
use tokio::task::{JoinError, JoinHandle};
use utoipa::ToSchema;

use super::{
    ApiJson, AppState, Authorized, Caller, parse_optional_date, parse_symbol, requested_range,
};
use crate::error::{ApiError, ErrorBody};
use crate::jobs::{JobContext, JobEnd, JobKind, JobPhase};

/// A parameter value or range as JSON gives it: text (`"5..100"`, `"2.5"`) or a number.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ParamText {
    Text(String),
    Number(f64),
}

impl ParamText {
    fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(number) => number.to_string(),
        }
    }
}

/// Cash, fees and slippage from a request, the engine's defaults for those not given; the
/// error names the field.
fn money(
    initial_cash: Option<f64>,
    fees: Option<f64>,
    slippage: Option<f64>,
) -> Result<Settings, ApiError> {
    let defaults = Settings::default();
    Settings::new(
        initial_cash.unwrap_or(defaults.initial_cash()),
        fees.unwrap_or(defaults.fees()),
        slippage.unwrap_or(defaults.slippage()),
    )
    .map_err(|error| ApiError::from_backtest(error, "params"))
}

/// The body of `POST /api/backtest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BacktestRequest {
    /// The symbol, e.g. AAPL.
    symbol: String,
    /// Strategy name: sma-cross, ema-cross, rsi, bollinger, macd, buy-and-hold.
    strategy: String,
    /// The strategy's parameters, e.g. {"fast": 20, "slow": 50}; one not given takes its
    /// default (see `/api/strategies`).
    #[serde(default)]
    params: BTreeMap<String, ParamText>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    start: Option<String>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    end: Option<String>,
    /// Fees as a fraction of traded value [default: 0]
    fees: Option<f64>,
    /// Slippage as a fraction of the fill price [default: 0]
    slippage: Option<f64>,
    /// Cash at the start [default: 10000]
    initial_cash: Option<f64>,
    /// Return the equity curve, one point per bar [default: true]; false when only the
    /// metrics matter (35 years of points are most of the answer).
    #[serde(default = "yes")]
    equity_curve: bool,
    /// Return the list of trades [default: true]
    #[serde(default = "yes")]
    trades: bool,
    /// Never ask upstream: run on the cached bars; `data.missing` lists what they lack
    /// [default: false]
    #[serde(default)]
    offline: bool,
    /// Fail when the provider cannot be reached, even if only the last few days are missing
    /// [default: false: run on the cached bars, naming what is missing]
    #[serde(default)]
    strict: bool,
}

fn yes() -> bool {
    true
}

/// The answer of `POST /api/backtest`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BacktestResponse {
    #[schema(value_type = String)]
    symbol: Symbol,
    strategy: &'static str,
    /// The parameter values the strategy ran with (defaults filled in).
    #[schema(value_type = Object)]
    parameters: BTreeMap<&'static str, ParamValue>,
    #[schema(value_type = crate::openapi::SettingsDoc)]
    settings: Settings,
    #[schema(value_type = crate::openapi::MetricsDoc)]
    metrics: Metrics,
    /// Buy-and-hold over the same bars and settings.
    #[schema(value_type = crate::openapi::MetricsDoc)]
    buy_and_hold: Metrics,
    /// The trades, unless the request left them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::openapi::TradeDoc>>)]
    trades: Option<Vec<Trade>>,
    /// The equity after each bar, unless the request left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::openapi::EquityPointDoc>>)]
    equity_curve: Option<Vec<EquityPoint>>,
    /// How the bars were obtained.
    #[schema(value_type = crate::openapi::FetchReportDoc)]
    data: FetchReport,
    #[schema(value_type = crate::openapi::DataFingerprintDoc)]
    fingerprint: DataFingerprint,
}

/// Backtests one strategy over a symbol's bars against buy-and-hold.
#[utoipa::path(post, path = "/api/backtest", tag = "research", request_body = BacktestRequest,
    responses(
        (status = 200, description = "Metrics, trades and equity curve, against buy-and-hold", body = BacktestResponse),
        (status = 400, description = "Bad symbol, date, strategy, parameter or setting", body = ErrorBody),
        (status = 404, description = "Unknown symbol, or no bars in the range", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 429, description = "The provider is rate limiting us", body = ErrorBody),
        (status = 502, description = "The provider failed", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn backtest(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<BacktestRequest>,
) -> Result<Json<BacktestResponse>, ApiError> {
    // Everything is checked before the bars are read.
    let symbol = parse_symbol("symbol", &request.symbol)?;
    let range = requested_range(
        request.start.as_deref(),
        request.end.as_deref(),
        state.clock.as_ref(),
    )?;
    let texts: Vec<(&str, String)> = request
        .params
        .iter()
        .map(|(name, value)| (name.as_str(), value.text()))
        .collect();
    let pairs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(name, text)| (*name, text.as_str()))
        .collect();
    let strategy = build_strategy(&request.strategy, &pairs)
        .map_err(|error| ApiError::from_backtest(error, "params"))?;
    let money = money(request.initial_cash, request.fees, request.slippage)?;

    let policy = BarsPolicy {
        offline: request.offline || !caller.may_fetch,
        strict: request.strict,
    };
    let response = bars_for_analysis(&state.cache, &symbol, range, policy, &NoProgress).await?;
    let outcome = run_against_buy_and_hold(&response.bars, strategy.as_ref(), &money)
        .map_err(|error| ApiError::from_backtest(error, "params"))?;
    let report = outcome.report;
    Ok(Json(BacktestResponse {
        fingerprint: DataFingerprint::of(&symbol, &response.bars),
        symbol,
        strategy: report.strategy,
        parameters: report.parameters.into_iter().collect(),
        settings: report.settings,
        metrics: report.metrics,
        buy_and_hold: outcome.baseline.metrics,
        trades: request.trades.then_some(report.trades),
        equity_curve: request.equity_curve.then_some(report.equity_curve),
        data: response.report,
    }))
}

/// The body of `POST /api/optimize`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptimizeRequest {
    /// The symbol, e.g. AAPL.
    symbol: String,
    /// Strategy name [default: sma-cross]
    strategy: Option<String>,
    /// One range per parameter, START..END[:STEP] or one value, e.g. {"fast": "5..100",
    /// "slow": "10..300:2"}; one not given searches its default range (see `/api/strategies`).
    #[serde(default)]
    ranges: BTreeMap<String, ParamText>,
    /// Metric to rank by [default: sharpe]: sharpe, sortino, calmar, cagr, total-return,
    /// final-equity, max-drawdown, win-rate, average-trade-return.
    metric: Option<String>,
    /// How many of the best combinations to return [default: 10, at most 1000]
    #[serde(default, deserialize_with = "super::optional_whole")]
    top: Option<u32>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    start: Option<String>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    end: Option<String>,
    /// Rank on bars up to this day; report the winners' metrics on the later bars too.
    train_until: Option<String>,
    /// Rank only combinations with at least this many trades [default: 0]; the heat map
    /// leaves the others out too.
    #[schema(minimum = 0, maximum = 100000)]
    #[serde(default, deserialize_with = "super::optional_whole")]
    min_trades: Option<u32>,
    /// Fees as a fraction of traded value [default: 0]
    fees: Option<f64>,
    /// Slippage as a fraction of the fill price [default: 0]
    slippage: Option<f64>,
    /// Cash at the start [default: 10000]
    initial_cash: Option<f64>,
    /// Also return the metric over the first two parameters as a matrix (best value over the
    /// other parameters) [default: false]
    #[serde(default)]
    heatmap: bool,
    /// Never ask upstream: rank on the cached bars; `data.missing` lists what they lack
    /// [default: false]
    #[serde(default)]
    offline: bool,
    /// Fail when the provider cannot be reached, even if only the last few days are missing
    /// [default: false: rank on the cached bars, naming what is missing]
    #[serde(default)]
    strict: bool,
}

/// Most entries a search returns.
const MAX_TOP: u32 = 1_000;

/// The largest minimum number of trades (more than a century of daily round trips).
const MAX_MIN_TRADES: u32 = 100_000;

/// Starts a grid search over a strategy's parameters as a job.
#[utoipa::path(post, path = "/api/optimize", tag = "research", request_body = OptimizeRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The search started; its result is the ranked top N", body = crate::routes::JobAccepted),
        (status = 400, description = "Bad symbol, date, strategy, range, metric, or a grid above the limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 429, description = "Too many jobs are running", body = ErrorBody),
    ))]
pub(crate) async fn optimize(
    _authorized: Authorized,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<OptimizeRequest>,
) -> Result<Response, ApiError> {
    let symbol = parse_symbol("symbol", &request.symbol)?;
    let range = requested_range(
        request.start.as_deref(),
        request.end.as_deref(),
        state.clock.as_ref(),
    )?;
    let train_until = parse_optional_date("train_until", request.train_until.as_deref())?;
    if let Some(day) = train_until
        && !range.contains(day)
    {
        return Err(ApiError::invalid(
            "train_until",
            format!("train_until {day} is outside {range}"),
        ));
    }
    let info = find_strategy(request.strategy.as_deref().unwrap_or("sma-cross"))
        .map_err(|error| ApiError::from_backtest(error, "ranges"))?;
    let texts: Vec<(&str, String)> = request
        .ranges
        .iter()
        .map(|(name, value)| (name.as_str(), value.text()))
        .collect();
    let given: Vec<(&str, &str)> = texts
        .iter()
        .map(|(name, text)| (*name, text.as_str()))
        .collect();
    let ranges = info
        .parse_ranges(&given)
        .map_err(|error| ApiError::from_backtest(error, "ranges"))?;
    let metric: RankMetric = request
        .metric
        .as_deref()
        .unwrap_or("sharpe")
        .parse()
        .map_err(|error| ApiError::from_backtest(error, "ranges"))?;
    let top = request.top.unwrap_or(10);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(ApiError::invalid(
            "top",
            format!("top must be between 1 and {MAX_TOP}"),
        ));
    }
    let money = money(request.initial_cash, request.fees, request.slippage)?;
    // Counting the combinations a strategy accepts runs its constructor once per cell: a
    // blocking thread keeps that off the request workers.
    let limit = state.max_grid_combinations;
    let plan =
        tokio::task::spawn_blocking(move || planned(|| SearchPlan::new(info, ranges, limit)))
            .await
            .map_err(|error| ApiError::internal(&error))?
            .map_err(|error| ApiError::from_backtest(error, "ranges"))?;
    let min_trades = request.min_trades.unwrap_or(0);
    if min_trades > MAX_MIN_TRADES {
        return Err(ApiError::invalid(
            "min_trades",
            format!("min_trades must be between 0 and {MAX_MIN_TRADES}"),
        ));
    }
    let search = Search {
        metric,
        top: top as usize,
        money,
        train_until,
        min_trades: min_trades as usize,
    };
    let wanted = BarsWanted {
        symbol,
        range,
        policy: BarsPolicy {
            offline: request.offline,
            strict: request.strict,
        },
    };
    let heatmap = request
        .heatmap
        .then(|| HeatMapBuilder::new(&plan, metric))
        .flatten();
    let cache = Arc::clone(&state.cache);
    let total = plan.evaluations() as u64;
    let id = state.jobs.start(JobKind::Optimize, total, move |context| {
        optimize_job(cache, wanted, plan, search, heatmap, context)
    })?;
    tracing::info!(id, combinations = total, "optimize job started");
    Ok(super::jobs::accepted(id))
}

/// Runs `plan` (a search plan's checks, which count the grid on a rayon pool) on a pool of its
/// own: on the global pool it would queue behind the chunks of every search already running,
/// and a 202 would wait for them.
fn planned<T: Send>(plan: impl FnOnce() -> T + Send) -> T {
    static PLANNING: LazyLock<Option<rayon::ThreadPool>> = LazyLock::new(|| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "search-planning".to_owned())
            .build();
        pool.map_err(
            |error| tracing::warn!(%error, "no planning pool: plans share the search pool"),
        )
        .ok()
    });
    match PLANNING.as_ref() {
        Some(pool) => pool.install(plan),
        None => plan(),
    }
}

/// One of the best combinations of a search.
#[derive(Debug, Serialize, ToSchema)]
struct RankedRow {
    /// The parameter values, e.g. {"fast": 10, "slow": 50}.
    #[schema(value_type = Object)]
    parameters: BTreeMap<&'static str, ParamValue>,
    #[schema(value_type = crate::openapi::MetricsDoc)]
    metrics: Metrics,
    /// Its metrics on the bars after train_until.
    #[schema(value_type = Option<crate::openapi::MetricsDoc>)]
    out_of_sample: Option<Metrics>,
}

/// The result of an optimize job.
#[derive(Debug, Serialize, ToSchema)]
struct OptimizeResult {
    #[schema(value_type = String)]
    symbol: Symbol,
    strategy: &'static str,
    metric: &'static str,
    /// Each parameter's range as searched.
    ranges: BTreeMap<&'static str, String>,
    /// The size of the cartesian product of the ranges.
    combinations: usize,
    /// Combinations backtested.
    evaluated: usize,
    /// Combinations the strategy refused (fast not below slow).
    skipped: usize,
    /// Bars in each ranked backtest.
    bars: usize,
    elapsed_ms: f64,
    /// The ranking metric over all combinations (generic grid only).
    #[schema(value_type = Option<Object>)]
    summary: Option<MetricSummary>,
    top: Vec<RankedRow>,
    /// The metric over the first two parameters, when asked for (`heatmap: true`) and the
    /// strategy has two or more.
    #[schema(value_type = Option<crate::openapi::HeatMapDoc>)]
    heatmap: Option<HeatMap>,
    train_until: Option<NaiveDate>,
    /// The fewest trades a ranked combination made.
    min_trades: usize,
    #[schema(value_type = crate::openapi::FetchReportDoc)]
    data: FetchReport,
    #[schema(value_type = crate::openapi::DataFingerprintDoc)]
    fingerprint: DataFingerprint,
}

/// The bars a search runs on, and how they are read.
struct BarsWanted {
    symbol: Symbol,
    range: DateRange,
    policy: BarsPolicy,
}

/// What the ranking on the blocking pool hands back: the search's outcome and the heat map it
/// filled, if one was asked for.
type Ranking = Result<(SearchOutcome, Option<HeatMap>), BacktestError>;

/// Reads the bars, then ranks the grid on a blocking thread, publishing progress every tenth
/// of a second. Cancellation is noticed before the ranking and while it runs (the ranking
/// itself finishes in the background: the backtest crate has no way to stop it).
async fn optimize_job(
    cache: Arc<MarketDataCache>,
    wanted: BarsWanted,
    plan: SearchPlan,
    search: Search,
    heatmap: Option<HeatMapBuilder>,
    context: JobContext,
) -> JobEnd {
    let failed = |error: ApiError| JobEnd::Failed {
        result: None,
        error,
    };
    let response = tokio::select! {
        () = context.cancelled().cancelled() => return JobEnd::Cancelled,
        response = bars_for_analysis(&cache, &wanted.symbol, wanted.range, wanted.policy, &context) => match response {
            Ok(response) => response,
            Err(error) => return failed(error.into()),
        },
    };
    context.phase(JobPhase::Searching);
    let total = plan.evaluations() as u64;
    let done = Arc::new(AtomicU64::new(0));
    let ranking = rank_on_blocking_pool(
        &plan,
        response.bars.clone(),
        search,
        heatmap,
        Arc::clone(&done),
    );
    let Some(joined) = follow_ranking(ranking, &plan, &context, &done, total).await else {
        return JobEnd::Cancelled;
    };
    let (outcome, heatmap) = match joined {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => return failed(ApiError::from_backtest(error, "ranges")),
        Err(error) => return failed(ApiError::internal(&error)),
    };
    context.progress(total, total);
    let result = optimize_result(wanted.symbol, &plan, &search, outcome, heatmap, response);
    match serde_json::to_value(&result) {
        Ok(value) => JobEnd::Succeeded(value),
        Err(error) => failed(ApiError::internal(&error)),
    }
}

/// Starts ranking `plan` over `bars` on the blocking pool, adding the combinations that
/// finish to `done`. The ranking runs on a clone of the plan, which shares its stop flag.
fn rank_on_blocking_pool(
    plan: &SearchPlan,
    bars: Vec<Bar>,
    search: Search,
    heatmap: Option<HeatMapBuilder>,
    done: Arc<AtomicU64>,
) -> JoinHandle<Ranking> {
    let ranking_plan = plan.clone();
    tokio::task::spawn_blocking(move || {
        let mut heatmap = heatmap;
        // The heat map is filled from the stream of every evaluated combination, so no
        // combination's full report is kept.
        let min_trades = search.min_trades;
        let mut record = heatmap.as_mut().map(|builder| {
            move |values: &[ParamValue], metrics: &Metrics| {
                if metrics.trades >= min_trades {
                    builder.record(values, metrics);
                }
            }
        });
        let outcome = ranking_plan.run(
            &bars,
            &search,
            &|finished| {
                done.fetch_add(finished as u64, Ordering::Relaxed);
            },
            record
                .as_mut()
                .map(|sink| sink as &mut dyn FnMut(&[ParamValue], &Metrics)),
        );
        outcome.map(|outcome| (outcome, heatmap.map(HeatMapBuilder::finish)))
    })
}

/// Publishes the ranking's progress every tenth of a second until it ends, and returns how it
/// ended; `None` when the job is cancelled first, after telling the plan to stop.
async fn follow_ranking(
    mut ranking: JoinHandle<Ranking>,
    plan: &SearchPlan,
    context: &JobContext,
    done: &AtomicU64,
    total: u64,
) -> Option<Result<Ranking, JoinError>> {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = context.cancelled().cancelled() => {
                // Else the ranking on the blocking pool would run to its end unseen.
                plan.stop();
                return None;
            }
            joined = &mut ranking => return Some(joined),
            _ = ticker.tick() => context.progress(done.load(Ordering::Relaxed), total),
        }
    }
}

/// The job's result: the ranked top of `outcome` with what was searched and the bars it ran on.
fn optimize_result(
    symbol: Symbol,
    plan: &SearchPlan,
    search: &Search,
    outcome: SearchOutcome,
    heatmap: Option<HeatMap>,
    response: SymbolBars,
) -> OptimizeResult {
    OptimizeResult {
        symbol: symbol.clone(),
        strategy: plan.strategy().name,
        metric: search.metric.name(),
        ranges: plan.range_texts().into_iter().collect(),
        combinations: outcome.combinations,
        evaluated: outcome.evaluated,
        skipped: outcome.skipped,
        bars: outcome.bars,
        elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
        summary: outcome.summary,
        top: outcome
            .top
            .into_iter()
            .map(|entry| RankedRow {
                parameters: entry.parameters.into_iter().collect(),
                metrics: entry.metrics,
                out_of_sample: entry.out_of_sample,
            })
            .collect(),
        heatmap,
        train_until: search.train_until,
        min_trades: search.min_trades,
        fingerprint: DataFingerprint::of(&symbol, &response.bars),
        data: response.report,
    }
}

/// One parameter of a strategy: its type, valid range and a range to search by default.
#[derive(Debug, Serialize, ToSchema)]
struct ParameterInfo {
    name: &'static str,
    description: &'static str,
    /// `integer` or `float`.
    kind: &'static str,
    /// The smallest valid value.
    #[schema(value_type = f64)]
    min: ParamValue,
    /// The largest valid value.
    #[schema(value_type = f64)]
    max: ParamValue,
    /// The value `/api/backtest` takes when none is given, e.g. `50`.
    default: &'static str,
    /// The range `/api/optimize` searches when none is given, e.g. `5..100`.
    default_range: &'static str,
}

/// One strategy of the catalog.
#[derive(Debug, Serialize, ToSchema)]
struct StrategyEntry {
    /// The name `strategy` takes, e.g. `sma-cross`.
    name: &'static str,
    description: &'static str,
    parameters: Vec<ParameterInfo>,
    /// Pairs of its parameters where the first must be below the second, e.g.
    /// `[["fast", "slow"]]`: a backtest refuses them equal or reversed, a search skips them.
    ordered: Vec<[&'static str; 2]>,
}

/// The answer of `GET /api/strategies`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StrategiesResponse {
    strategies: Vec<StrategyEntry>,
    /// The metrics `/api/optimize` ranks by; the first is the default.
    metrics: Vec<&'static str>,
}

/// The strategies that backtests and searches accept, with their parameters.
#[utoipa::path(get, path = "/api/strategies", tag = "research",
    responses((status = 200, description = "The strategy catalog and the ranking metrics", body = StrategiesResponse)))]
pub(crate) async fn strategies() -> Json<StrategiesResponse> {
    let strategies = catalog()
        .iter()
        .map(|info| StrategyEntry {
            name: info.name,
            description: info.description,
            parameters: info
                .parameters
                .iter()
                .map(|spec| {
                    let (kind, min, max) = match spec.kind {
                        ParamKind::Integer { min, max } => (
                            "integer",
                            ParamValue::Integer(min),
                            ParamValue::Integer(max),
                        ),
                        ParamKind::Float { min, max } => {
                            ("float", ParamValue::Float(min), ParamValue::Float(max))
                        }
                    };
                    ParameterInfo {
                        name: spec.name,
                        description: spec.description,
                        kind,
                        min,
                        max,
                        default: spec.default,
                        default_range: spec.default_range,
                    }
                })
                .collect(),
            ordered: info
                .ordered
                .iter()
                .map(|(low, high)| [*low, *high])
                .collect(),
        })
        .collect();
    Json(StrategiesResponse {
        strategies,
        metrics: RankMetric::ALL.iter().map(|metric| metric.name()).collect(),
    })
}
