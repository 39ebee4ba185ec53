//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request and response types.
//!
//! The values served that come from other crates (bars, reports, metrics) are described by the
//! `*Doc` mirrors below, since those crates know nothing of HTTP. The tests serialize the real
//! values and compare their keys with these schemas, so a field added there fails here.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use marketcache_backtest::{ParamKind, ParamSpec, RankMetric, Settings, catalog};
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;
use crate::routes::{AppState, PRESENCE_FLAGS};

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
        routes::jobs::forget,
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
pub(crate) async fn document(State(state): State<AppState>) -> Json<Value> {
    let providers: Vec<&str> = state
        .cache
        .providers()
        .map(|source| source.name())
        .collect();
    Json(described_inputs(&providers, state.max_grid_combinations))
}

/// What a symbol may be (`Symbol::parse`): 1-20 letters, digits, `.`, `^`, `=` or `-`.
pub(crate) const SYMBOL_PATTERN: &str = "^[A-Za-z0-9.^=-]{1,20}$";

/// What a date may be (`parse_date`): YYYY-MM-DD from 1900-01-01 to 2199-12-31.
pub(crate) const DATE_PATTERN: &str =
    "^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// The values a query flag takes (`parse_flag`): present without a value is true.
const FLAG_VALUES: [&str; 5] = ["true", "false", "1", "0", ""];

/// The request bodies whose fields [`input_rule`] describes.
const REQUEST_BODIES: [&str; 3] = ["WarmRequest", "BacktestRequest", "OptimizeRequest"];

/// The derived document with each input's rules, which the derive cannot state: the patterns,
/// formats, enumerations and bounds the handlers check, taken from the same lists they check
/// against (the strategy catalog, the ranking metrics, this server's providers). A client or
/// a contract tester generating inputs from it makes requests the server accepts, but for the
/// rules between fields that no schema states (`start` before `end`, `fast` below `slow`,
/// `train_until` inside the range, a symbol or `all` to clear), which the descriptions give.
pub(crate) fn described_inputs(providers: &[&str], max_grid_combinations: usize) -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        let operations = paths.values_mut().filter_map(Value::as_object_mut);
        for operation in operations.flat_map(|path| path.values_mut()) {
            let parameters = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                let in_query = parameter["in"] == "query";
                if let Some(schema) = parameter.get_mut("schema") {
                    refine(schema, &name, providers, in_query);
                    if in_query && !PRESENCE_FLAGS.contains(&name.as_str()) {
                        // `?end=` is no end, as HTML forms and generated clients send it.
                        *schema =
                            json!({"anyOf": [schema.take(), {"type": "string", "maxLength": 0}]});
                    }
                }
            }
        }
    }
    for body in REQUEST_BODIES {
        let fields = document
            .pointer_mut(&format!("/components/schemas/{body}/properties"))
            .and_then(Value::as_object_mut);
        for (name, schema) in fields.into_iter().flatten() {
            refine(schema, name, providers, false);
        }
    }
    one_variant_per_strategy(&mut document, "BacktestRequest", "params", |spec| {
        parameter_value(spec)
    });
    one_variant_per_strategy(&mut document, "OptimizeRequest", "ranges", |spec| {
        json!({
            "oneOf": [parameter_value(spec), {"type": "string", "pattern": range_pattern(spec)}],
            "default": spec.default_range,
        })
    });
    describe_job_events(&mut document);
    if let Some(search) = document.pointer_mut("/components/schemas/OptimizeRequest") {
        // The product of the ranges' lengths this server searches at most.
        search["x-max-combinations"] = json!(max_grid_combinations);
    }
    document
}

/// The events of `GET /api/jobs/{id}/events`, each as an event stream carries it: its type
/// and, as JSON text, the job.
fn describe_job_events(document: &mut Value) {
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "JobEvent".to_owned(),
            json!({
                "description": "One server-sent event of a job's stream: `progress` on each change while the job runs (changes in between coalesce), then one `done` with its final state, after which the stream ends. Comment lines keep the connection alive.",
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": ["progress", "done"]},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": "#/components/schemas/JobSnapshot"},
                    },
                },
            }),
        );
    }
    let stream = "/paths/~1api~1jobs~1{id}~1events/get/responses/200/content/text~1event-stream";
    if let Some(content) = document.pointer_mut(stream) {
        content["schema"] = json!({"$ref": "#/components/schemas/JobEvent"});
    }
}

/// What `start..end[:step]` may be for `spec`: whole numbers for an integer parameter.
fn range_pattern(spec: &ParamSpec) -> &'static str {
    match spec.kind {
        ParamKind::Integer { .. } => "^[0-9]+(\\.\\.[0-9]+)?(:[0-9]+)?$",
        ParamKind::Float { .. } => {
            "^[0-9]+(\\.[0-9]+)?(\\.\\.[0-9]+(\\.[0-9]+)?)?(:[0-9]+(\\.[0-9]+)?)?$"
        }
    }
}

/// One value of `spec`, within its bounds, with its default.
fn parameter_value(spec: &ParamSpec) -> Value {
    let (kind, min, max) = match spec.kind {
        ParamKind::Integer { min, max } => ("integer", json!(min), json!(max)),
        ParamKind::Float { min, max } => ("number", json!(min), json!(max)),
    };
    let default: Value = serde_json::from_str(spec.default).unwrap_or(Value::Null);
    json!({"type": kind, "minimum": min, "maximum": max, "default": default,
        "description": spec.description})
}

/// Replaces the request body `body` with one variant per strategy of the catalog, each naming
/// its strategy and its own parameters under `field` (described by `parameter`), none other;
/// `x-ordered` lists the pairs whose first must be below the second (`fast` below `slow`).
fn one_variant_per_strategy(
    document: &mut Value,
    body: &str,
    field: &str,
    parameter: impl Fn(&ParamSpec) -> Value,
) {
    let Some(schema) = document.pointer_mut(&format!("/components/schemas/{body}")) else {
        return;
    };
    let strategy_optional = !schema["required"]
        .as_array()
        .is_some_and(|required| required.contains(&json!("strategy")));
    let variants: Vec<Value> = catalog()
        .iter()
        .map(|info| {
            let mut variant = schema.clone();
            let names = if strategy_optional && info.name == "sma-cross" {
                json!(["sma-cross", null])
            } else {
                json!([info.name])
            };
            variant["properties"]["strategy"] = json!({"enum": names});
            if strategy_optional && info.name != "sma-cross" {
                push_required(&mut variant, "strategy");
            }
            let parameters: serde_json::Map<String, Value> = info
                .parameters
                .iter()
                .map(|spec| (spec.name.to_owned(), parameter(spec)))
                .collect();
            variant["properties"][field] = json!({
                "type": "object", "properties": parameters, "additionalProperties": false,
            });
            variant["title"] = json!(info.name);
            variant["x-ordered"] = json!(
                info.ordered
                    .iter()
                    .map(|(low, high)| [low, high])
                    .collect::<Vec<_>>()
            );
            variant
        })
        .collect();
    let description = schema["description"].clone();
    *schema = json!({"description": description, "oneOf": variants});
}

fn push_required(schema: &mut Value, name: &str) {
    match schema["required"].as_array_mut() {
        Some(required) => required.push(json!(name)),
        None => schema["required"] = json!([name]),
    }
}

/// Adds the rule of the input `name` to its `schema`.
fn refine(schema: &mut Value, name: &str, providers: &[&str], in_query: bool) {
    let Some(rule) = input_rule(name, providers, in_query) else {
        return;
    };
    let nullable = schema["type"]
        .as_array()
        .is_some_and(|types| types.contains(&json!("null")));
    let (Some(target), Value::Object(rule)) = (schema.as_object_mut(), rule) else {
        return;
    };
    for (key, mut value) in rule {
        // An optional body field may be null: its enumeration says so too.
        if key == "enum"
            && nullable
            && let Some(values) = value.as_array_mut()
        {
            values.push(Value::Null);
        }
        target.insert(key, value);
    }
}

/// The rule of an input, by its name (the same name means the same rule everywhere).
fn input_rule(name: &str, providers: &[&str], in_query: bool) -> Option<Value> {
    let strategies: Vec<&str> = catalog().iter().map(|info| info.name).collect();
    let metrics: Vec<&str> = RankMetric::ALL.iter().map(|metric| metric.name()).collect();
    Some(match name {
        "symbol" => json!({"pattern": SYMBOL_PATTERN}),
        "symbols" => json!({"items": {"type": "string", "pattern": SYMBOL_PATTERN}}),
        "start" | "end" | "train_until" | "before" => {
            json!({"format": "date", "pattern": DATE_PATTERN})
        }
        "adjust" => json!({"enum": ["none", "raw", "splits", "split", "all"]}),
        "format" => json!({"enum": ["json", "csv", "parquet", "arrow"]}),
        "against" => json!({"enum": providers}),
        "sample" => json!({"type": "integer", "minimum": 0, "maximum": 50}),
        "strategy" => json!({"enum": strategies}),
        "metric" => json!({"enum": metrics}),
        "top" => json!({"minimum": 1, "maximum": 1000}),
        "fees" | "slippage" => json!({"minimum": 0, "exclusiveMaximum": 1}),
        "initial_cash" => json!({"minimum": Settings::MIN_CASH, "maximum": Settings::MAX_CASH}),
        flag if in_query && PRESENCE_FLAGS.contains(&flag) => {
            json!({"type": "string", "enum": FLAG_VALUES})
        }
        _ => return None,
    })
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
    /// The days of those bars (never covered: they are asked again once final).
    provisional: Vec<DateRangeDoc>,
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
