//! Reading and administering the cache: health, bars (JSON or CSV), stats, coverage, verify,
//! clear.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use marketcache_cache::bar_columns::{Described, bars_arrow_ipc, bars_parquet};
use marketcache_cache::{
    FetchReport, GetOptions, ReadTotals, SymbolBars, VerifyOptions, VerifyReport, bar_text,
};
use marketcache_domain::{
    Adjustment, ClearReport, CoverageSpan, DateRange, Exchange, RecordedAction, Symbol, SymbolStats,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiPath, ApiQuery, AppState, Authorized, Caller, parse_flag, parse_optional_date, parse_symbol,
    requested_range,
};
use crate::error::{ApiError, ErrorBody};

/// The answer of `GET /api/health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthResponse {
    /// `ok`, or `unavailable` when the database cannot be reached.
    status: &'static str,
    /// The database, with any password redacted.
    database: String,
    /// The server's version.
    version: &'static str,
}

/// Whether the server and its database answer.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses(
        (status = 200, description = "The server and its database answer", body = HealthResponse),
        (status = 503, description = "The database is unreachable", body = HealthResponse),
    ))]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let mut health = HealthResponse {
        status: "ok",
        database: state.cache.describe_store(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let reachable = state.cache.ping().await.map_err(|error| {
        tracing::warn!(%error, "health check: database unreachable");
    });
    if reachable.is_ok() {
        (StatusCode::OK, Json(health)).into_response()
    } else {
        health.status = "unavailable";
        (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response()
    }
}

/// Query parameters of `GET /api/bars/{symbol}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BarsQuery {
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    start: Option<String>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    end: Option<String>,
    /// Price adjustment: `none`, `splits` (default) or `all` (splits and dividends)
    adjust: Option<String>,
    /// `json`, `csv` (header `date,open,high,low,close,volume`), `parquet` or `arrow` (Arrow
    /// IPC file); without it, the `Accept` header chooses (`text/csv`, …), else JSON. The
    /// columnar forms carry the symbol, basis and adjustment as metadata and the report in the
    /// `X-*` headers, as CSV does
    format: Option<String>,
    /// Leave out bars that are not final yet (`true`/`false`; present without a value is true)
    #[param(value_type = Option<bool>)]
    closed_only: Option<String>,
    /// Never ask upstream; the report lists what is missing
    #[param(value_type = Option<bool>)]
    offline: Option<String>,
    /// Add `adj_close`, each close adjusted for splits and dividends (yfinance's `Adj Close`),
    /// after `close` in every format (`true`/`false`; present without a value is true)
    #[param(value_type = Option<bool>)]
    adj_close: Option<String>,
}

/// The headers a browser on another origin may read when CORS is enabled: the report's and
/// the validator.
pub(crate) const EXPOSED_HEADERS: [&str; 5] = [
    REPORT_HEADERS[0],
    REPORT_HEADERS[1],
    REPORT_HEADERS[2],
    REPORT_HEADERS[3],
    "etag",
];

/// The report's counters as response headers of the CSV form.
const REPORT_HEADERS: [&str; 4] = [
    "x-cached-bars",
    "x-fetched-bars",
    "x-upstream-requests",
    "x-elapsed-ms",
];

/// The daily bars of one symbol, read through the cache.
#[utoipa::path(get, path = "/api/bars/{symbol}", tag = "bars",
    params(("symbol" = String, Path, description = "Ticker, e.g. AAPL", pattern = "^[A-Za-z0-9.^=-]{1,20}$"), BarsQuery),
    responses(
        (status = 200, description = "The bars and how they were obtained (the form chosen by format, else by Accept); the report's counters also in X-Cached-Bars, X-Fetched-Bars, X-Upstream-Requests, and its time only in X-Elapsed-Ms, so the same data is the same bytes. ETag (weak: the symbol's version and the request) and Cache-Control: no-cache",
            content(
                (crate::openapi::BarsDoc = "application/json"),
                (String = "text/csv"),
                (Vec<u8> = "application/vnd.apache.parquet"),
                (Vec<u8> = "application/vnd.apache.arrow.file"),
            )),
        (status = 304, description = "Not modified: If-None-Match names the current ETag"),
        (status = 400, description = "Bad symbol, date, range or option", body = ErrorBody),
        (status = 404, description = "The provider does not know the symbol", body = ErrorBody),
        (status = 429, description = "The provider is rate limiting us", body = ErrorBody),
        (status = 502, description = "The provider failed", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn bars(
    caller: Caller,
    request_headers: HeaderMap,
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<BarsQuery>,
) -> Result<Response, ApiError> {
    let symbol = parse_symbol("symbol", &symbol)?;
    let range = requested_range(
        query.start.as_deref(),
        query.end.as_deref(),
        state.clock.as_ref(),
    )?;
    let adjust = match query.adjust.as_deref() {
        None => Adjustment::default(),
        Some(text) => text
            .parse()
            .map_err(|message: String| ApiError::invalid("adjust", message))?,
    };
    let format = match query.format.as_deref().map(str::trim) {
        None => BarsFormat::accepted(&request_headers),
        Some("json") => BarsFormat::Json,
        Some("csv") => BarsFormat::Csv,
        Some("parquet") => BarsFormat::Parquet,
        Some("arrow") => BarsFormat::Arrow,
        Some(_) => {
            return Err(ApiError::invalid(
                "format",
                "format must be json, csv, parquet or arrow",
            ));
        }
    };
    let options = GetOptions {
        force_refresh: false,
        offline: parse_flag("offline", query.offline.as_deref())? || !caller.may_fetch,
        adjust,
        closed_only: parse_flag("closed_only", query.closed_only.as_deref())?,
        adj_close: parse_flag("adj_close", query.adj_close.as_deref())?,
    };
    // The version before and after the read: when equal, the body is that version's data.
    let before = state.cache.version_of(&symbol).await?;
    let response = state.cache.get_bars(&symbol, range, options).await?;
    let after = state.cache.version_of(&symbol).await?;
    let request = format!("{range}|{adjust}|{format:?}|{options:?}");
    let validator = (before == after).then(|| entity_tag(after, &request));
    let mut headers = report_headers(&response.report);
    caching_headers(&mut headers, validator.as_ref());
    if validator
        .as_ref()
        .is_some_and(|tag| if_none_match(&request_headers, tag))
    {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let described = Described {
        responses: std::slice::from_ref(&response),
        adjust,
    };
    let (media_type, body) = match format {
        BarsFormat::Csv => return Ok(bars_csv(response, headers)),
        BarsFormat::Json => (
            "application/json",
            bar_text::symbol_bars_json_timed(&response, false)
                .map_err(|error| ApiError::internal(&error))?,
        ),
        BarsFormat::Parquet => (
            "application/vnd.apache.parquet",
            bars_parquet(described).map_err(|error| ApiError::internal(&error))?,
        ),
        BarsFormat::Arrow => (
            "application/vnd.apache.arrow.file",
            bars_arrow_ipc(described).map_err(|error| ApiError::internal(&error))?,
        ),
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    Ok((headers, body).into_response())
}

/// A weak validator of a bars answer: the symbol's version and the request as resolved (range,
/// adjustment, form and options), so it changes whenever the data or the question does. Weak,
/// because the report's counters differ between the read that fetched and later ones.
fn entity_tag(version: i64, request: &str) -> HeaderValue {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.hash(&mut hasher);
    HeaderValue::from_str(&format!("W/\"{version}-{:016x}\"", hasher.finish()))
        .unwrap_or_else(|_| HeaderValue::from_static("W/\"0\""))
}

/// `ETag` (when the data held still during the read), `Cache-Control: no-cache` (keep it, but
/// ask whether it changed: a range ending today gains bars) and `Vary: Accept` (the form may
/// come from that header).
fn caching_headers(headers: &mut HeaderMap, validator: Option<&HeaderValue>) {
    if let Some(tag) = validator {
        headers.insert(header::ETAG, tag.clone());
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
}

/// Whether the client's `If-None-Match` names `tag` (weak comparison, `*` for any).
fn if_none_match(request_headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let opaque = |text: &str| text.trim().trim_start_matches("W/").to_owned();
    let ours = tag.to_str().map(opaque).unwrap_or_default();
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == ours)
}

/// The forms `GET /api/bars/{symbol}` answers in.
#[derive(Debug, Clone, Copy)]
enum BarsFormat {
    Json,
    Csv,
    Parquet,
    Arrow,
}

impl BarsFormat {
    const MEDIA_TYPES: [(&'static str, BarsFormat); 4] = [
        ("application/json", Self::Json),
        ("text/csv", Self::Csv),
        ("application/vnd.apache.parquet", Self::Parquet),
        ("application/vnd.apache.arrow.file", Self::Arrow),
    ];

    /// The form the `Accept` header prefers (highest `q`, then first listed) among those we
    /// answer in; JSON without one, or when it names none of ours (`format` wins over both).
    fn accepted(headers: &HeaderMap) -> Self {
        let mut best: Option<(f32, Self)> = None;
        let accept = headers.get_all(header::ACCEPT).iter();
        for entry in accept
            .filter_map(|value| value.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let mut parts = entry.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|parameter| parameter.strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let known = Self::MEDIA_TYPES
                .iter()
                .find(|(name, _)| *name == media_type)
                .map(|(_, format)| *format);
            if let Some(format) = known
                && quality > 0.0
                && best.is_none_or(|(best_quality, _)| quality > best_quality)
            {
                best = Some((quality, format));
            }
        }
        best.map_or(Self::Json, |(_, format)| format)
    }
}

/// The report's counters as the `X-*` headers of the non-JSON forms.
fn report_headers(report: &FetchReport) -> HeaderMap {
    let values = [
        report.cached_bars.to_string(),
        report.fetched_bars.to_string(),
        report.upstream_requests.to_string(),
        format!("{:.3}", report.elapsed.as_secs_f64() * 1000.0),
    ];
    let mut headers = HeaderMap::new();
    for (name, value) in REPORT_HEADERS.iter().zip(values) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

/// The bars as CSV that pandas' `read_csv(url)` reads, the report in headers.
/// Streamed in pieces of [`CSV_CHUNK_BARS`] bars, each written as it is sent.
fn bars_csv(response: SymbolBars, mut headers: HeaderMap) -> Response {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let header_line = bar_text::csv_header(response.adj_close.is_some());
    let bars = Arc::new(response.bars);
    let adj_close = Arc::new(response.adj_close);
    let count = bars.len();
    let header = futures::stream::once(async move { Ok(Bytes::from_static(header_line)) });
    let rows = futures::stream::iter((0..count).step_by(CSV_CHUNK_BARS)).map(move |start| {
        let end = (start + CSV_CHUNK_BARS).min(count);
        let adjusted = adj_close.as_deref().and_then(|all| all.get(start..end));
        bar_text::csv_rows(&bars[start..end], adjusted)
            .map(Bytes::from)
            .map_err(std::io::Error::other)
    });
    (headers, Body::from_stream(header.chain(rows))).into_response()
}

/// Bars per piece of a streamed CSV answer (about 60 KB).
const CSV_CHUNK_BARS: usize = 1024;

/// The answer of `GET /api/cache/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatsResponse {
    /// The database, with any password redacted.
    database: String,
    #[schema(value_type = Vec<crate::openapi::SymbolStatsDoc>)]
    symbols: Vec<SymbolStats>,
    total_bars: u64,
    /// Bytes the whole database takes on disk.
    bytes_on_disk: u64,
    /// Bytes of the bars table, its indexes included.
    bar_table_bytes: u64,
    /// `bar_table_bytes / total_bars`, to one decimal.
    bytes_per_bar: f64,
    /// What this server's reads served since it started: reads, bars from the store and from
    /// upstream, upstream requests, and the share of bars served from the store.
    #[schema(value_type = crate::openapi::ReadTotalsDoc)]
    since_start: ReadTotals,
}

/// What the cache holds: per symbol and in all.
#[utoipa::path(get, path = "/api/cache/stats", tag = "cache",
    responses(
        (status = 200, description = "Per-symbol and total figures", body = StatsResponse),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn stats(State(state): State<AppState>) -> Result<Json<StatsResponse>, ApiError> {
    let stats = state.cache.stats().await?;
    Ok(Json(StatsResponse {
        bytes_per_bar: stats.bytes_per_bar(),
        database: state.cache.describe_store(),
        symbols: stats.symbols,
        total_bars: stats.total_bars,
        bytes_on_disk: stats.bytes_on_disk,
        bar_table_bytes: stats.bar_table_bytes,
        since_start: state.cache.read_totals(),
    }))
}

/// The answer of `GET /api/cache/coverage/{symbol}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CoverageResponse {
    #[schema(value_type = String)]
    symbol: Symbol,
    /// The market the symbol trades on, whose calendar explains the days without bars.
    #[schema(value_type = crate::openapi::ExchangeDoc)]
    exchange: Exchange,
    /// The ledger: each range asked of a provider, when, and how many bars it held.
    #[schema(value_type = Vec<crate::openapi::CoverageSpanDoc>)]
    spans: Vec<CoverageSpan>,
    /// The union of the ledger's ranges.
    #[schema(value_type = Vec<crate::openapi::DateRangeDoc>)]
    covered: Vec<DateRange>,
    /// Covered weekdays the exchange was closed.
    holidays: usize,
    /// Covered Saturdays and Sundays.
    weekend_days: usize,
    /// Covered trading days without a bar, grouped, with the reason.
    barless: Vec<BarlessDoc>,
    /// Splits and dividends stored, by ex-date, with the provider that reported each.
    #[schema(value_type = Vec<crate::openapi::RecordedActionDoc>)]
    actions: Vec<RecordedAction>,
}

/// Consecutive covered trading days without a bar.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BarlessDoc {
    #[schema(value_type = crate::openapi::DateRangeDoc)]
    range: DateRange,
    /// `before_first_trade` or `provider_had_none`.
    reason: &'static str,
    /// Trading days in `range`.
    trading_days: usize,
}

/// Which days of a symbol the cache has asked upstream for, and why covered days have no bar.
#[utoipa::path(get, path = "/api/cache/coverage/{symbol}", tag = "cache",
    params(("symbol" = String, Path, description = "Ticker, e.g. AAPL", pattern = "^[A-Za-z0-9.^=-]{1,20}$")),
    responses(
        (status = 200, description = "The ledger and the barless days", body = CoverageResponse),
        (status = 400, description = "Bad symbol", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn coverage(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
) -> Result<Json<CoverageResponse>, ApiError> {
    let symbol = parse_symbol("symbol", &symbol)?;
    let explanation = state.cache.explain_coverage(&symbol).await?;
    let barless = explanation
        .barless
        .iter()
        .map(|days| BarlessDoc {
            range: days.range,
            reason: days.reason.code(),
            trading_days: days.trading_days,
        })
        .collect();
    Ok(Json(CoverageResponse {
        symbol: explanation.symbol,
        exchange: explanation.exchange,
        spans: explanation.spans,
        covered: explanation.covered,
        holidays: explanation.holidays,
        weekend_days: explanation.weekend_days,
        barless,
        actions: explanation.actions,
    }))
}

/// Most ranges `GET /api/cache/verify` re-fetches per symbol.
const MAX_VERIFY_SAMPLE: usize = 50;
/// Ranges `GET /api/cache/verify` re-fetches per symbol when `sample` is not given.
const DEFAULT_VERIFY_SAMPLE: usize = 3;

/// Query parameters of `GET /api/cache/verify`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerifyQuery {
    /// Only this symbol [default: every symbol stored]
    symbol: Option<String>,
    /// Re-fetch a sample of covered ranges from this provider (one this server uses) and
    /// report the days that differ
    against: Option<String>,
    /// Ranges re-fetched per symbol with `against`, 0 to 50 [default: 3]
    sample: Option<String>,
}

/// Checks the cache without changing it: rows breaking the bar rules, bars on closed days,
/// covered trading days without a bar or a recorded reason, the ledger, provisional bars past
/// due and, with `against`, a sample compared with the provider. Problems come in the body
/// (200); a request that cannot be checked is an error.
#[utoipa::path(get, path = "/api/cache/verify", tag = "cache", params(VerifyQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was checked and the problems found", body = crate::openapi::VerifyReportDoc),
        (status = 400, description = "Bad symbol, provider or sample", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The database or the provider is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn verify(
    _authorized: Authorized,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<VerifyQuery>,
) -> Result<Json<VerifyReport>, ApiError> {
    let symbol = query
        .symbol
        .as_deref()
        .map(|text| parse_symbol("symbol", text))
        .transpose()?;
    let sample = match query.sample.as_deref() {
        None => DEFAULT_VERIFY_SAMPLE,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|sample| *sample <= MAX_VERIFY_SAMPLE)
            .ok_or_else(|| {
                let rule = format!("must be a whole number from 0 to {MAX_VERIFY_SAMPLE}");
                ApiError::invalid("sample", rule)
            })?,
    };
    let against = query
        .against
        .as_deref()
        .map(|name| provider_named(&state, name))
        .transpose()?;
    let options = VerifyOptions {
        symbol,
        against,
        sample,
    };
    Ok(Json(state.cache.verify(&options).await?))
}

/// The provider of this server's cache named `name`, or an error listing them.
fn provider_named(
    state: &AppState,
    name: &str,
) -> Result<Arc<dyn marketcache_domain::PriceSource>, ApiError> {
    let wanted = name.trim();
    let found = state
        .cache
        .providers()
        .find(|provider| provider.name().eq_ignore_ascii_case(wanted));
    found.cloned().ok_or_else(|| {
        let names: Vec<&str> = state.cache.providers().map(|p| p.name()).collect();
        let rule = format!("must be a provider this server uses: {}", names.join(", "));
        ApiError::invalid("against", rule)
    })
}

/// Query parameters of `DELETE /api/cache`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ClearQuery {
    /// Only this symbol
    symbol: Option<String>,
    /// Only bars before this day, YYYY-MM-DD
    before: Option<String>,
    /// Needed to clear every symbol (no `symbol`), so a bare DELETE never empties the cache
    #[param(value_type = Option<bool>)]
    all: Option<String>,
}

/// Deletes cached bars and their coverage.
#[utoipa::path(delete, path = "/api/cache", tag = "cache", params(ClearQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was deleted", body = crate::openapi::ClearReportDoc),
        (status = 400, description = "Bad symbol or date, or neither symbol nor all=true", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    ))]
pub(crate) async fn clear(
    _authorized: Authorized,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ClearQuery>,
) -> Result<Json<ClearReport>, ApiError> {
    let symbol = query
        .symbol
        .as_deref()
        .map(|text| parse_symbol("symbol", text))
        .transpose()?;
    let before = parse_optional_date("before", query.before.as_deref())?;
    if symbol.is_none() && !parse_flag("all", query.all.as_deref())? {
        return Err(ApiError::invalid(
            "symbol",
            "name a symbol, or pass all=true to clear every symbol",
        ));
    }
    let report = state.cache.clear(symbol.as_ref(), before).await?;
    tracing::info!(symbol = ?symbol.as_ref().map(Symbol::as_str), ?before, bars = report.bars_deleted, "cleared");
    Ok(Json(report))
}
