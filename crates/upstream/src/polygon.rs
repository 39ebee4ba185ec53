//! Polygon.io (now "Massive") aggregates v2: `/v2/aggs/ticker/{t}/range/1/day/{from}/{to}`.
//!
//! Asks for raw prices (`adjusted=false`: Polygon's default adjusts for splits) and sends the key
//! as `Authorization: Bearer`, so it never sits in a URL. Pages are followed through `next_url`
//! with the same header; the next URL is re-based onto the configured host, so the key only ever
//! goes where the settings point. A bar's `t` is 00:00 America/New_York in epoch milliseconds.
//! An unknown ticker and an empty window look the same (no `results`), so an empty answer is
//! checked with one more request over the last weeks: a listed ticker has bars there, an unknown
//! one does not, and is reported as not found (nothing stored).

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;
use marketcache_domain::{
    DateRange, Exchange, FetchedBars, PriceSource, SourceError, SourceLimits, Symbol,
};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{ProviderKind, ProviderSettings};
use crate::http::{HttpClient, credential_header, snippet};
use crate::rows::{
    BarBuilder, Number, RawRow, configuration_error, decode_error, html_error, looks_like_html,
    merge_page, rejected, unauthorized,
};

const PROVIDER: &str = "polygon";

/// Most pages one fetch follows; daily bars fit one page, so more means a loop.
const MAX_PAGES: usize = 100;

/// Daily bars from Polygon's aggregates endpoint.
pub struct PolygonSource {
    base_url: Url,
    http: HttpClient,
    authorization: HeaderValue,
}

impl std::fmt::Debug for PolygonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `authorization` is a sensitive header value: its Debug prints `Sensitive`.
        f.debug_struct("PolygonSource")
            .field("base_url", &self.base_url.as_str())
            .field("authorization", &self.authorization)
            .field("http", &self.http)
            .finish()
    }
}

impl PolygonSource {
    /// A Polygon source; fails unless `settings.api_key` (`POLYGON_API_KEY`) is set.
    pub fn new(settings: ProviderSettings) -> Result<Self, SourceError> {
        let key = settings.required_key()?;
        let authorization = credential_header(
            ProviderKind::Polygon,
            "POLYGON_API_KEY",
            format!("Bearer {}", key.expose_secret()),
        )?;
        Ok(Self {
            base_url: settings.parsed_base_url()?,
            http: HttpClient::new(&settings, None, &[])?,
            authorization,
        })
    }

    fn first_page_url(&self, symbol: &Symbol, range: DateRange) -> Result<Url, SourceError> {
        let mut url = self.base_url.clone();
        let from = range.start().format("%Y-%m-%d").to_string();
        let to = range.end().format("%Y-%m-%d").to_string();
        url.path_segments_mut()
            .map_err(|()| configuration_error(PROVIDER, "base URL cannot take a path"))?
            .pop_if_empty()
            .extend([
                "v2",
                "aggs",
                "ticker",
                symbol.as_str(),
                "range",
                "1",
                "day",
                &from,
                &to,
            ]);
        url.query_pairs_mut()
            .append_pair("adjusted", "false")
            .append_pair("sort", "asc")
            .append_pair("limit", "50000");
        Ok(url)
    }

    /// `next_url` moved onto the configured scheme, host and port.
    fn next_page_url(&self, next_url: &str) -> Result<Url, SourceError> {
        let mut url = Url::parse(next_url)
            .map_err(|error| decode_error(PROVIDER, format!("next_url is not a URL ({error})")))?;
        let rebased = url.set_scheme(self.base_url.scheme()).is_ok()
            && url.set_host(self.base_url.host_str()).is_ok()
            && url.set_port(self.base_url.port()).is_ok();
        if !rebased {
            return Err(decode_error(
                PROVIDER,
                "next_url cannot be moved onto the base URL",
            ));
        }
        Ok(url)
    }
}

#[async_trait]
impl PriceSource for PolygonSource {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn limits(&self) -> SourceLimits {
        ProviderKind::Polygon.limits()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let answer = self.fetch_pages(symbol, range).await?;
        if !answer.bars.is_empty() || !answer.rejected.is_empty() {
            return Ok(answer);
        }
        let today = Utc::now().with_timezone(&New_York).date_naive();
        let recent = DateRange::new(today - chrono::Duration::days(RECENT_DAYS), today)
            .map_err(|error| decode_error(PROVIDER, error.to_string()))?;
        // A window holding the last weeks is its own evidence; any other needs the probe.
        let covers_recent = range.contains(recent.start()) && range.contains(recent.end());
        let listed = !covers_recent && self.has_results(symbol, recent).await?;
        if listed {
            Ok(answer)
        } else {
            Err(SourceError::NotFound {
                provider: PROVIDER.to_string(),
                symbol: symbol.to_string(),
            })
        }
    }
}

/// Days back from today within which a listed ticker always has bars (several sessions, with
/// holidays).
const RECENT_DAYS: i64 = 21;

impl PolygonSource {
    /// Whether the first page for `symbol` over `range` holds any aggregate.
    async fn has_results(&self, symbol: &Symbol, range: DateRange) -> Result<bool, SourceError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        let answer = self
            .http
            .get(self.first_page_url(symbol, range)?, headers)
            .await?;
        let page = parse_aggregates(answer.status, &answer.body, range)
            .map_err(|error| self.http.scrub(error))?;
        Ok(page.results > 0)
    }

    /// Every page of the aggregates of `symbol` over `range`.
    async fn fetch_pages(
        &self,
        symbol: &Symbol,
        range: DateRange,
    ) -> Result<FetchedBars, SourceError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        let mut url = self.first_page_url(symbol, range)?;
        let mut total = FetchedBars::default();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            seen.insert(url.to_string());
            let answer = self.http.get(url, headers.clone()).await?;
            let page = parse_aggregates(answer.status, &answer.body, range)
                .map_err(|error| self.http.scrub(error))?;
            merge_page(&mut total, page.fetched);
            let Some(next) = page.next_url else {
                // Polygon's stock aggregates are of US listings, which keep the NYSE's sessions.
                total.exchange = Some(Exchange::NYSE);
                return Ok(total);
            };
            url = self.next_page_url(&next)?;
            if seen.contains(url.as_str()) {
                return Err(decode_error(
                    PROVIDER,
                    "next_url points back to a page already read",
                ));
            }
        }
        Err(decode_error(
            PROVIDER,
            format!("more than {MAX_PAGES} pages of daily bars; refusing to follow further"),
        ))
    }
}

/// One page of an aggregates answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonPage {
    /// The page's bars within the range, and its rejected rows.
    pub fetched: FetchedBars,
    /// Where the next page is, if there is one.
    pub next_url: Option<String>,
    /// Aggregates the page held, whatever their dates: evidence that the ticker trades.
    pub results: usize,
}

#[derive(Debug, Deserialize)]
struct AggregatesBody {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    results: Option<Vec<Aggregate>>,
    #[serde(default)]
    next_url: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    /// Whether the prices are split-adjusted: we ask for `false`.
    #[serde(default)]
    adjusted: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Aggregate {
    #[serde(default)]
    t: Number,
    #[serde(default)]
    o: Number,
    #[serde(default)]
    h: Number,
    #[serde(default)]
    l: Number,
    #[serde(default)]
    c: Number,
    #[serde(default)]
    v: Number,
}

/// Reads one aggregates answer (any status the HTTP layer passed on) into bars within `range`.
pub fn parse_aggregates(
    status: u16,
    body: &[u8],
    range: DateRange,
) -> Result<PolygonPage, SourceError> {
    if looks_like_html(body) {
        return Err(html_error(PROVIDER, status, body));
    }
    let parsed: Result<AggregatesBody, _> = serde_json::from_slice(body);
    if !(200..300).contains(&status) {
        let detail = parsed
            .ok()
            .and_then(|body| body.error.or(body.message))
            .unwrap_or_else(|| snippet(body));
        return Err(status_error(status, &detail));
    }
    let parsed = parsed.map_err(|error| {
        decode_error(
            PROVIDER,
            format!("not an aggregates answer ({error}): {}", snippet(body)),
        )
    })?;
    match parsed.status.as_deref() {
        // Seen with HTTP 200 according to one third-party note.
        Some("NOT_AUTHORIZED") => {
            let message = parsed.message.or(parsed.error).unwrap_or_default();
            return Err(unauthorized(
                PROVIDER,
                format!("the plan does not include this request: {message}"),
            ));
        }
        Some("ERROR") => {
            let message = parsed.error.or(parsed.message).unwrap_or_default();
            return Err(error_text(&message));
        }
        _ => {}
    }
    // Raw prices were asked for; split-adjusted ones stored as raw would be wrong for good.
    if parsed.adjusted == Some(true) {
        return Err(decode_error(
            PROVIDER,
            "the answer's prices are split-adjusted (\"adjusted\": true) although raw prices \
             (adjusted=false) were asked for; nothing of it is stored",
        ));
    }
    let mut builder = BarBuilder::new(range);
    let aggregates = parsed.results.unwrap_or_default();
    let results = aggregates.len();
    for aggregate in aggregates {
        let Some(date) = aggregate.t.0.and_then(new_york_date_of_millis) else {
            builder.reject(
                None,
                format!("bar time t={:?} is not a time", aggregate.t.0),
            );
            continue;
        };
        builder.push(RawRow {
            date,
            open: aggregate.o.0,
            high: aggregate.h.0,
            low: aggregate.l.0,
            close: aggregate.c.0,
            volume: aggregate.v.0,
        });
    }
    Ok(PolygonPage {
        fetched: builder.finish(),
        next_url: parsed.next_url.filter(|next| !next.trim().is_empty()),
        results,
    })
}

/// The New York date of a bar stamped `millis` (00:00 New York of its trading day).
fn new_york_date_of_millis(millis: f64) -> Option<NaiveDate> {
    if !millis.is_finite() || millis.fract() != 0.0 || millis.abs() > 1e16 {
        return None;
    }
    let instant = DateTime::<Utc>::from_timestamp_millis(millis as i64)?;
    Some(instant.with_timezone(&New_York).date_naive())
}

fn status_error(status: u16, detail: &str) -> SourceError {
    match status {
        401 => unauthorized(
            PROVIDER,
            format!("the API key was refused ({detail}); check POLYGON_API_KEY"),
        ),
        403 => unauthorized(
            PROVIDER,
            format!("the plan does not include this request (HTTP 403): {detail}"),
        ),
        _ => rejected(PROVIDER, format!("HTTP {status}: {detail}")),
    }
}

/// The error for a `"status":"ERROR"` body, by its text.
fn error_text(message: &str) -> SourceError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("exceeded the maximum requests") {
        return SourceError::RateLimited {
            provider: PROVIDER.to_string(),
            retry_after: None,
        };
    }
    if lower.contains("api key") {
        return unauthorized(
            PROVIDER,
            format!("the API key was refused ({message}); check POLYGON_API_KEY"),
        );
    }
    rejected(PROVIDER, message)
}
