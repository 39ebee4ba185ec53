//! Alpha Vantage `TIME_SERIES_DAILY` (`/query?function=TIME_SERIES_DAILY…`): raw, as-traded bars.
//!
//! Every answer is HTTP 200; the body decides. With the series key it is data (string values,
//! newest first, sorted here); `Error Message` is an unknown symbol (or a bad key); `Note` and
//! `Information` are a rate limit (retry later) or a premium-only feature (never works). A
//! `Last Refreshed` with a time of day means the session is live: that date is provisional.
//!
//! There are no range parameters. Ranges that start within the last ~100 trading days ask for
//! `outputsize=compact` (the latest 100 rows, which a free key may query); older ones ask for
//! `full`, which Alpha Vantage now sells as premium. The key can only travel as the `apikey`
//! query parameter, so URLs are redacted wherever they are shown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Duration as Days, NaiveDate};
use marketcache_domain::{
    Clock, DateRange, FetchedBars, PriceSource, SourceError, SourceLimits, Symbol,
};
use reqwest::Url;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::{ProviderKind, ProviderSettings};
use crate::http::{HttpClient, snippet};
use crate::rows::{
    BarBuilder, RawRow, configuration_error, decode_error, html_error, looks_like_html, not_found,
    parse_decimal, rejected, transport_error, unauthorized,
};

const PROVIDER: &str = "alphavantage";

/// Calendar days that 100 trading days surely cover (100 sessions span at least 138 days).
const COMPACT_REACH_DAYS: i64 = 135;

/// Daily bars from Alpha Vantage.
pub struct AlphaVantageSource {
    base_url: Url,
    http: HttpClient,
    api_key: SecretString,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AlphaVantageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlphaVantageSource")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &self.api_key)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl AlphaVantageSource {
    /// An Alpha Vantage source; fails unless `settings.api_key` (`ALPHAVANTAGE_API_KEY`) is
    /// set. `clock` decides whether a range is recent enough for the compact answer.
    pub fn new(settings: ProviderSettings, clock: Arc<dyn Clock>) -> Result<Self, SourceError> {
        Ok(Self {
            api_key: settings.required_key()?,
            base_url: settings.parsed_base_url()?,
            http: HttpClient::new(&settings, None, &[])?,
            clock,
        })
    }

    fn query_url(&self, symbol: &Symbol, range: DateRange) -> Result<Url, SourceError> {
        let recent_enough =
            range.start() >= self.clock.today_in_new_york() - Days::days(COMPACT_REACH_DAYS);
        let output_size = if recent_enough { "compact" } else { "full" };
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| configuration_error(PROVIDER, "base URL cannot take a path"))?
            .pop_if_empty()
            .push("query");
        url.query_pairs_mut()
            .append_pair("function", "TIME_SERIES_DAILY")
            .append_pair("symbol", symbol.as_str())
            .append_pair("outputsize", output_size)
            .append_pair("datatype", "json")
            .append_pair("apikey", self.api_key.expose_secret());
        Ok(url)
    }
}

#[async_trait]
impl PriceSource for AlphaVantageSource {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn limits(&self) -> SourceLimits {
        ProviderKind::AlphaVantage.limits()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let url = self.query_url(symbol, range)?;
        let answer = self.http.get(url, HeaderMap::new()).await?;
        parse_daily(answer.status, &answer.body, symbol.as_str(), range)
            .map_err(|error| self.http.scrub(error))
    }
}

#[derive(Debug, Deserialize)]
struct DailyBody {
    #[serde(rename = "Meta Data", default)]
    meta: Option<BTreeMap<String, String>>,
    #[serde(rename = "Time Series (Daily)", default)]
    series: Option<BTreeMap<String, BTreeMap<String, String>>>,
    #[serde(rename = "Error Message", default)]
    error_message: Option<String>,
    #[serde(rename = "Information", default)]
    information: Option<String>,
    #[serde(rename = "Note", default)]
    note: Option<String>,
}

/// The value of a numbered field (`"4. close"`) by its name (`"close"`).
fn field<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    fields.iter().find_map(|(key, value)| {
        let bare = key.split_once(". ").map_or(key.as_str(), |(_, bare)| bare);
        bare.eq_ignore_ascii_case(name).then_some(value.as_str())
    })
}

/// Reads a `TIME_SERIES_DAILY` (or `_ADJUSTED`) answer into raw bars within `range`.
pub fn parse_daily(
    status: u16,
    body: &[u8],
    symbol: &str,
    range: DateRange,
) -> Result<FetchedBars, SourceError> {
    if looks_like_html(body) {
        return Err(html_error(PROVIDER, status, body));
    }
    if !(200..300).contains(&status) {
        return Err(transport_error(
            PROVIDER,
            format!("HTTP {status}: {}", snippet(body)),
        ));
    }
    let parsed: DailyBody = serde_json::from_slice(body).map_err(|error| {
        decode_error(
            PROVIDER,
            format!("not a daily series ({error}): {}", snippet(body)),
        )
    })?;
    let Some(series) = parsed.series else {
        return Err(classify_notice(&parsed, symbol, body));
    };
    let mut builder = BarBuilder::new(range);
    for (day, fields) in &series {
        let Ok(date) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
            builder.reject(None, format!("unreadable date key '{day}'"));
            continue;
        };
        let number = |name: &str| field(fields, name).map(parse_decimal);
        builder.push(RawRow {
            date,
            open: number("open"),
            high: number("high"),
            low: number("low"),
            close: number("close"),
            volume: number("volume"),
        });
    }
    let mut fetched = builder.finish();
    // "2019-08-26 15:27:34" (live session) rather than "2019-08-26".
    let live_day = parsed
        .meta
        .as_ref()
        .and_then(|meta| field(meta, "Last Refreshed"))
        .filter(|refreshed| refreshed.trim().len() > 10)
        .and_then(|refreshed| refreshed.get(..10))
        .and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok());
    if let Some(day) = live_day.filter(|day| fetched.bars.iter().any(|bar| bar.date == *day)) {
        fetched.provisional.push(day);
    }
    Ok(fetched)
}

/// The error an HTTP-200 body without the series stands for.
fn classify_notice(parsed: &DailyBody, symbol: &str, body: &[u8]) -> SourceError {
    if let Some(message) = &parsed.error_message {
        if message.to_ascii_lowercase().contains("apikey") {
            return unauthorized(
                PROVIDER,
                format!("the key was refused ({message}); check ALPHAVANTAGE_API_KEY"),
            );
        }
        // "Invalid API call" is how Alpha Vantage answers a symbol it does not know; any
        // other error ("This API function (...) does not exist") is its own, kept whole.
        if message.starts_with("Invalid API call") {
            return not_found(PROVIDER, symbol);
        }
        return rejected(PROVIDER, message.clone());
    }
    let Some(notice) = parsed.note.as_ref().or(parsed.information.as_ref()) else {
        return decode_error(
            PROVIDER,
            format!("no time series in the answer: {}", snippet(body)),
        );
    };
    let lower = notice.to_ascii_lowercase();
    // The daily-quota text also mentions "premium plans": check the rate-limit wording first.
    let per_minute = lower.contains("per minute") || lower.contains("call frequency");
    if per_minute || lower.contains("rate limit") || lower.contains("per day") {
        return SourceError::RateLimited {
            provider: PROVIDER.to_string(),
            retry_after: per_minute.then_some(Duration::from_secs(60)),
        };
    }
    if lower.contains("apikey") || lower.contains("api key") {
        return unauthorized(
            PROVIDER,
            format!("the key was refused ({notice}); check ALPHAVANTAGE_API_KEY"),
        );
    }
    if lower.contains("premium") {
        return unauthorized(
            PROVIDER,
            format!("the plan does not include this request: {notice}"),
        );
    }
    rejected(PROVIDER, notice.clone())
}
