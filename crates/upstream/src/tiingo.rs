//! Tiingo end-of-day prices: `/tiingo/daily/{ticker}/prices?startDate=…&endDate=…`.
//!
//! Takes the raw `open/high/low/close/volume` columns (the `adj*` ones are CRSP-adjusted for
//! splits and dividends) and reports `divCash > 0` as a dividend and `splitFactor != 1` as a
//! split on that row's date. The key goes in `Authorization: Token`. `date` is midnight UTC
//! stamped on the trading date, so its date part is taken as is. `startDate` is always sent:
//! without it Tiingo returns only the latest price.

use async_trait::async_trait;
use chrono::NaiveDate;
use marketcache_domain::{
    CorporateAction, CorporateActionKind, DateRange, FetchedBars, PriceSource, SourceError,
    SourceLimits, Symbol,
};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{ProviderKind, ProviderSettings};
use crate::http::{HttpClient, credential_header, snippet};
use crate::rows::{
    BarBuilder, Number, RawRow, configuration_error, decode_error, html_error, looks_like_html,
    not_found, rejected, transport_error, unauthorized,
};

const PROVIDER: &str = "tiingo";

/// 429 texts of quotas that last an hour or more: retrying within one request cannot help.
const LONG_QUOTA_PHRASES: &[&str] = &[
    "hourly request allocation",
    "daily request allocation",
    "monthly unique symbol",
    "symbol lookup",
];

/// Daily bars from Tiingo's end-of-day API.
pub struct TiingoSource {
    base_url: Url,
    http: HttpClient,
    authorization: HeaderValue,
}

impl std::fmt::Debug for TiingoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiingoSource")
            .field("base_url", &self.base_url.as_str())
            .field("authorization", &self.authorization)
            .field("http", &self.http)
            .finish()
    }
}

impl TiingoSource {
    /// A Tiingo source; fails unless `settings.api_key` (`TIINGO_API_KEY`) is set.
    pub fn new(settings: ProviderSettings) -> Result<Self, SourceError> {
        let key = settings.required_key()?;
        let authorization = credential_header(
            ProviderKind::Tiingo,
            "TIINGO_API_KEY",
            format!("Token {}", key.expose_secret()),
        )?;
        Ok(Self {
            base_url: settings.parsed_base_url()?,
            http: HttpClient::new(&settings, None, LONG_QUOTA_PHRASES)?,
            authorization,
        })
    }

    fn prices_url(&self, symbol: &Symbol, range: DateRange) -> Result<Url, SourceError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| configuration_error(PROVIDER, "base URL cannot take a path"))?
            .pop_if_empty()
            .extend(["tiingo", "daily", &tiingo_ticker(symbol), "prices"]);
        url.query_pairs_mut()
            .append_pair("startDate", &range.start().format("%Y-%m-%d").to_string())
            .append_pair("endDate", &range.end().format("%Y-%m-%d").to_string());
        Ok(url)
    }
}

/// Tiingo's name for `symbol`: lower case, share classes with `-` (`BRK.B` → `brk-b`).
pub fn tiingo_ticker(symbol: &Symbol) -> String {
    symbol.as_str().to_ascii_lowercase().replace('.', "-")
}

#[async_trait]
impl PriceSource for TiingoSource {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn limits(&self) -> SourceLimits {
        ProviderKind::Tiingo.limits()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        let url = self.prices_url(symbol, range)?;
        let answer = self.http.get(url, headers).await?;
        parse_prices(answer.status, &answer.body, symbol.as_str(), range)
            .map_err(|error| self.http.scrub(error))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceRow {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    open: Number,
    #[serde(default)]
    high: Number,
    #[serde(default)]
    low: Number,
    #[serde(default)]
    close: Number,
    #[serde(default)]
    volume: Number,
    #[serde(default)]
    div_cash: Number,
    #[serde(default)]
    split_factor: Number,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    detail: Option<String>,
}

/// Reads one prices answer (any status the HTTP layer passed on) into raw bars within `range`
/// and the splits and dividends on their rows.
pub fn parse_prices(
    status: u16,
    body: &[u8],
    symbol: &str,
    range: DateRange,
) -> Result<FetchedBars, SourceError> {
    if looks_like_html(body) {
        return Err(html_error(PROVIDER, status, body));
    }
    let success = (200..300).contains(&status);
    let rows: Vec<PriceRow> = match serde_json::from_slice(body) {
        Ok(rows) if success => rows,
        _ => {
            // An error envelope `{"detail": …}`, or (CSV mode, HTTP 200) a bare error text.
            let detail = serde_json::from_slice::<ErrorBody>(body)
                .ok()
                .and_then(|error| error.detail)
                .or_else(|| {
                    let text = String::from_utf8_lossy(body);
                    text.trim_start()
                        .starts_with("Error")
                        .then(|| text.trim().to_string())
                });
            return Err(match detail {
                Some(detail) => detail_error(status, symbol, &detail),
                None if success => {
                    decode_error(PROVIDER, format!("not a prices answer: {}", snippet(body)))
                }
                None => transport_error(PROVIDER, format!("HTTP {status}: {}", snippet(body))),
            });
        }
    };
    let mut builder = BarBuilder::new(range);
    let mut actions = Vec::new();
    for row in rows {
        // `2015-01-02T00:00:00.000Z` or `2018-04-12T00:00:00+00:00`: the date part is the
        // trading date (converting to New York would move it to the day before).
        let Some(date) = row
            .date
            .as_deref()
            .and_then(|text| text.get(..10))
            .and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
        else {
            builder.reject(None, format!("unreadable date {:?}", row.date));
            continue;
        };
        if range.contains(date) {
            if let Some(cash) = row
                .div_cash
                .0
                .filter(|cash| cash.is_finite() && *cash > 0.0)
            {
                actions.push(CorporateAction {
                    ex_date: date,
                    kind: CorporateActionKind::Dividend { cash },
                });
            }
            if let Some(ratio) = row
                .split_factor
                .0
                .filter(|ratio| ratio.is_finite() && *ratio > 0.0 && *ratio != 1.0)
            {
                actions.push(CorporateAction {
                    ex_date: date,
                    kind: CorporateActionKind::Split { ratio },
                });
            }
        }
        builder.push(RawRow {
            date,
            open: row.open.0,
            high: row.high.0,
            low: row.low.0,
            close: row.close.0,
            volume: row.volume.0,
        });
    }
    let mut fetched = builder.finish();
    fetched.actions = actions;
    Ok(fetched)
}

fn detail_error(status: u16, symbol: &str, detail: &str) -> SourceError {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("not found") {
        return not_found(PROVIDER, symbol);
    }
    if lower.contains("allocation") || lower.contains("symbol lookup") {
        return SourceError::RateLimited {
            provider: PROVIDER.to_string(),
            retry_after: None,
        };
    }
    if matches!(status, 401 | 403) || lower.contains("token") {
        return unauthorized(
            PROVIDER,
            format!("HTTP {status}: {detail}; check TIINGO_API_KEY"),
        );
    }
    rejected(PROVIDER, format!("HTTP {status}: {detail}"))
}
