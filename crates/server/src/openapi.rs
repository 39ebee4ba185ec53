//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request and response types.
//!
//! The values served that come from other crates (bars, reports, metrics) are described by the
//! `*Doc` mirrors below, since those crates know nothing of HTTP. The tests serialize the real
//! values and compare their keys with these schemas, so a field added there fails here.

use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "marketcache API",
        description = "Daily OHLCV bars read through the marketcache cache, cache administration, background warm and optimize jobs, and backtests. Mutating endpoints need `Authorization: Bearer <token>` when the server has a token."
    ),
    paths(
        routes::data::health,
        routes::data::bars,
        routes::data::stats,
        routes::data::coverage,
        routes::data::verify,
        routes::data::clear,
        routes::jobs::warm,
        routes::jobs::status,
        routes::jobs::cancel,
        routes::jobs::events,
        routes::backtest::backtest,
        routes::backtest::optimize,
        routes::backtest::strategies,
        document,
    ),
    components(schemas(
        BarsDoc, BarDoc, DateRangeDoc, FetchReportDoc, ReadTotalsDoc, CoverageSpanDoc, SymbolStatsDoc,
        ClearReportDoc, VerifyReportDoc, ProblemDoc, SettingsDoc, MetricsDoc, TradeDoc, EquityPointDoc,
        DataFingerprintDoc, HeatMapDoc, ExchangeDoc, RecordedActionDoc, crate::error::ErrorBody,
        crate::jobs::JobSnapshot,
    )),
    modifiers(&BearerToken),
    tags(
        (name = "health", description = "Liveness and the database"),
        (name = "bars", description = "Daily bars through the cache"),
        (name = "cache", description = "What the cache holds, and clearing it"),
        (name = "jobs", description = "Background warm and optimize jobs"),
        (name = "research", description = "Backtests and grid searches"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme the mutating endpoints use.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3 document of this API", body = Object)))]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The bars of one symbol and how they were obtained.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BarsDoc {
    symbol: String,
    bars: Vec<BarDoc>,
    report: FetchReportDoc,
}

/// One day's prices, adjusted as asked.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BarDoc {
    date: NaiveDate,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: u64,
}

/// An inclusive range of days.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DateRangeDoc {
    start: NaiveDate,
    end: NaiveDate,
}

/// What a server's reads served since it started.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReadTotalsDoc {
    /// Reads answered (each symbol of each request, backtest, search and warm).
    reads: u64,
    /// Bars served from the store.
    cached_bars: u64,
    /// Bars fetched from upstream to answer them.
    fetched_bars: u64,
    /// Requests made upstream.
    upstream_requests: u64,
    /// `cached_bars / (cached_bars + fetched_bars)`; null before any bar was served.
    hit_ratio: Option<f64>,
}

/// Where a response's bars came from and what it cost.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FetchReportDoc {
    /// Bars served from the store that were there before this request.
    cached_bars: u64,
    /// Bars fetched from upstream by this request.
    fetched_bars: u64,
    /// Requests made upstream by this request.
    upstream_requests: u64,
    /// How long the read took; absent from `/api/bars` answers, which give it in the
    /// `X-Elapsed-Ms` header so that their bodies stay the same for the same data.
    elapsed_ms: Option<f64>,
    /// Ranges with trading days neither stored nor known to be empty (offline only).
    missing: Vec<DateRangeDoc>,
    /// Upstream rows that failed the bar checks and were dropped.
    rejected_rows: u64,
    /// Bars of the response that are not final yet.
    provisional_bars: u64,
    /// The providers that answered for the range, in date order, as the ledger records them.
    #[schema(example = json!(["yahoo"]))]
    providers: Vec<String>,
    /// Present when the provider could not be reached and the run used the cached bars:
    /// the reason; `missing` lists what the bars lack.
    upstream_unavailable: Option<String>,
    /// Today (New York), when the requested range ended after it: later days cannot have
    /// bars, so they were neither asked for nor counted missing.
    clipped_to: Option<NaiveDate>,
    /// What the served prices are before `adjust`: `raw` (as traded) or
    /// `split_and_dividend_adjusted` (by the provider, Stooq). A series is served in one basis.
    #[schema(example = "raw")]
    basis: String,
}

/// What a result was computed from: enough to reproduce it and to tell whether two results saw
/// the same bars (`marketcache_domain::DataFingerprint`).
#[derive(ToSchema)]
#[schema(as = DataFingerprint)]
#[allow(dead_code)]
pub struct DataFingerprintDoc {
    /// The symbol read.
    #[schema(example = "AAPL")]
    symbol: String,
    /// The first bar's date.
    first_date: Option<chrono::NaiveDate>,
    /// The last bar's date.
    last_date: Option<chrono::NaiveDate>,
    /// How many bars.
    bars: u64,
    /// FNV-1a over every bar's date and exact values, as 16 hex digits.
    hash: String,
}

/// The ranking metric over the first two parameters of a grid: each cell holds the best value
/// over the other parameters, null where no combination was evaluated or the metric is
/// undefined (`marketcache_backtest::HeatMap`).
#[derive(ToSchema)]
#[schema(as = HeatMap)]
#[allow(dead_code)]
pub struct HeatMapDoc {
    /// The metric the cells hold.
    metric: String,
    /// The first parameter's name (columns).
    x_parameter: String,
    /// The second parameter's name (rows).
    y_parameter: String,
    /// The first parameter's values, in increasing order.
    x: Vec<f64>,
    /// The second parameter's values, in increasing order.
    y: Vec<f64>,
    /// One row per `y` value, one cell per `x` value.
    values: Vec<Vec<Option<f64>>>,
}

/// One ledger entry: a range asked of a provider.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CoverageSpanDoc {
    range: DateRangeDoc,
    provider: String,
    /// `raw` or `split_and_dividend_adjusted`: what the answer's prices were.
    basis: String,
    fetched_at: DateTime<Utc>,
    bars: u32,
    rejected_rows: u32,
}

/// The market a symbol trades on.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ExchangeDoc {
    /// The market identifier (`XNYS`, `XMIL`, …), or `CRYPTO`, `FX`, `OTHER`.
    code: String,
    /// The IANA time zone its bars are dated in.
    time_zone: String,
    /// `nyse`, `weekdays` (holidays unknown: every weekday may trade) or `every_day`.
    calendar: String,
}

/// A split or dividend as stored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RecordedActionDoc {
    ex_date: NaiveDate,
    /// `split` or `dividend`.
    kind: String,
    /// New shares per old share, for a split.
    ratio: Option<f64>,
    /// Cash per share, for a dividend.
    cash: Option<f64>,
    /// The provider that reported it.
    provider: String,
}

/// What the cache holds for one symbol.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SymbolStatsDoc {
    symbol: String,
    bars: u64,
    first_date: Option<NaiveDate>,
    last_date: Option<NaiveDate>,
    covered: Vec<DateRangeDoc>,
    last_update: Option<DateTime<Utc>>,
    rejected_rows: u64,
    provisional_bars: u64,
    corporate_actions: u64,
}

/// What a clear deleted.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClearReportDoc {
    bars_deleted: u64,
    coverage_spans_changed: u64,
}

/// What `GET /api/cache/verify` checked and found.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VerifyReportDoc {
    /// Store keys verified.
    symbols: usize,
    /// Bars checked.
    bars: usize,
    /// Ledger entries checked.
    ledger_entries: usize,
    /// Ranges re-fetched and compared with the provider.
    ranges_compared: usize,
    /// Upstream requests the comparison took.
    upstream_requests: usize,
    problems: Vec<ProblemDoc>,
}

/// One problem a verify found.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProblemDoc {
    /// The store's key of the symbol (`SYMBOL@name` for an offline data set).
    symbol: String,
    /// `invalid_bar`, `bar_on_closed_day`, `trading_day_without_bar`,
    /// `bars_missing_from_ledger_entry`, `unreadable_bars`, `duplicate_ledger_entry`,
    /// `overlapping_ledger_entries`, `provisional_past_due` or `differs_from_provider`.
    kind: String,
    /// The days it concerns, when it concerns some.
    range: Option<DateRangeDoc>,
    /// What is wrong, for people.
    detail: String,
}

/// Cash and costs of a backtest.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SettingsDoc {
    initial_cash: f64,
    fees: f64,
    slippage: f64,
}

/// The summary of one backtest; undefined metrics are null.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MetricsDoc {
    bars: u64,
    first_date: NaiveDate,
    last_date: NaiveDate,
    initial_cash: f64,
    final_equity: f64,
    total_return: f64,
    cagr: Option<f64>,
    annualized_volatility: Option<f64>,
    sharpe: Option<f64>,
    sortino: Option<f64>,
    max_drawdown: f64,
    drawdown_peak: Option<NaiveDate>,
    drawdown_trough: Option<NaiveDate>,
    calmar: Option<f64>,
    trades: u64,
    closed_trades: u64,
    win_rate: Option<f64>,
    average_trade_return: Option<f64>,
    exposure: f64,
}

/// One round trip; an open one has no exit date.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TradeDoc {
    entry_date: NaiveDate,
    entry_price: f64,
    shares: f64,
    entry_fees: f64,
    exit_date: Option<NaiveDate>,
    exit_price: f64,
    exit_fees: f64,
    pnl: f64,
    return_rate: f64,
}

/// The account at one bar's close.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EquityPointDoc {
    date: NaiveDate,
    cash: f64,
    shares: f64,
    equity: f64,
}
