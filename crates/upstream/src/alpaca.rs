//! Alpaca Market Data v2 stock bars: `/v2/stocks/{symbol}/bars?timeframe=1Day…`.
//!
//! Raw prices (`adjustment=raw`) from the IEX feed (`feed=iex`, the one a free plan may query
//! up to now; its volumes are IEX's share, about 2.5 % of the consolidated tape). Keys go in the
//! `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` headers; pages are followed with `page_token`
//! until `next_page_token` is null. A bar's `t` is 00:00 America/New_York written in UTC. The
//! single-symbol endpoint answers `"bars": null` for a symbol it does not know.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate};
use chrono_tz::America::New_York;
use marketcache_domain::{
    DateRange, Exchange, FetchedBars, PriceSource, SourceError, SourceLimits, Symbol,
};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{ProviderKind, ProviderSettings};
use crate::http::{HttpClient, credential_header, snippet};
use crate::rows::{
    BarBuilder, Number, RawRow, configuration_error, decode_error, html_error, looks_like_html,
    merge_page, not_found, rejected, unauthorized,
};

const PROVIDER: &str = "alpaca";

/// Most pages one fetch follows: 10,000 daily bars a page is 40 years, so more means a loop.
const MAX_PAGES: usize = 100;

const KEY_ID_HEADER: HeaderName = HeaderName::from_static("apca-api-key-id");
const SECRET_KEY_HEADER: HeaderName = HeaderName::from_static("apca-api-secret-key");

/// Daily bars from Alpaca's market-data API.
pub struct AlpacaSource {
    base_url: Url,
    http: HttpClient,
    key_id: HeaderValue,
    secret_key: HeaderValue,
}

impl std::fmt::Debug for AlpacaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Both header values are marked sensitive: their Debug prints `Sensitive`.
        f.debug_struct("AlpacaSource")
            .field("base_url", &self.base_url.as_str())
            .field("key_id", &self.key_id)
            .field("secret_key", &self.secret_key)
            .field("http", &self.http)
            .finish()
    }
}

impl AlpacaSource {
    /// An Alpaca source; fails unless both `APCA_API_KEY_ID` and `APCA_API_SECRET_KEY` are set.
    pub fn new(settings: ProviderSettings) -> Result<Self, SourceError> {
        let key_id = settings.required_key()?;
        let secret_key = settings.required_secret()?;
        Ok(Self {
            base_url: settings.parsed_base_url()?,
            http: HttpClient::new(&settings, None, &[])?,
            key_id: credential_header(
                ProviderKind::Alpaca,
                "APCA_API_KEY_ID",
                key_id.expose_secret().to_string(),
            )?,
            secret_key: credential_header(
                ProviderKind::Alpaca,
                "APCA_API_SECRET_KEY",
                secret_key.expose_secret().to_string(),
            )?,
        })
    }

    fn bars_url(
        &self,
        symbol: &Symbol,
        range: DateRange,
        page_token: Option<&str>,
    ) -> Result<Url, SourceError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| configuration_error(PROVIDER, "base URL cannot take a path"))?
            .pop_if_empty()
            .extend(["v2", "stocks", symbol.as_str(), "bars"]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("timeframe", "1Day")
                // Whole UTC days: a daily bar is stamped 04:00/05:00 UTC of its own date, so
                // these bounds hold exactly the range's bars.
                .append_pair("start", &format!("{}T00:00:00Z", range.start()))
                .append_pair("end", &format!("{}T23:59:59Z", range.end()))
                .append_pair("adjustment", "raw")
                .append_pair("feed", "iex")
                .append_pair("limit", "10000");
            if let Some(token) = page_token {
                query.append_pair("page_token", token);
            }
        }
        Ok(url)
    }
}

#[async_trait]
impl PriceSource for AlpacaSource {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn limits(&self) -> SourceLimits {
        ProviderKind::Alpaca.limits()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let mut headers = HeaderMap::new();
        headers.insert(KEY_ID_HEADER, self.key_id.clone());
        headers.insert(SECRET_KEY_HEADER, self.secret_key.clone());
        let mut total = FetchedBars::default();
        let mut page_token: Option<String> = None;
        let mut seen_tokens = HashSet::new();
        for page_number in 0..MAX_PAGES {
            let url = self.bars_url(symbol, range, page_token.as_deref())?;
            let answer = self.http.get(url, headers.clone()).await?;
            let page = parse_bars(answer.status, &answer.body, symbol.as_str(), range)
                .map_err(|error| self.http.scrub(error))?;
            if page.unknown_symbol && page_number == 0 {
                return Err(not_found(PROVIDER, symbol.as_str()));
            }
            merge_page(&mut total, page.fetched);
            match page.next_page_token {
                Some(token) if seen_tokens.insert(token.clone()) => page_token = Some(token),
                Some(_) => {
                    return Err(decode_error(
                        PROVIDER,
                        "next_page_token repeats a page already read",
                    ));
                }
                // Alpaca's stock bars are of US listings, which keep the NYSE's sessions.
                None => {
                    total.exchange = Some(Exchange::NYSE);
                    return Ok(total);
                }
            }
        }
        Err(decode_error(
            PROVIDER,
            format!("more than {MAX_PAGES} pages of daily bars; refusing to follow further"),
        ))
    }
}

/// One page of a bars answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AlpacaPage {
    /// The page's bars within the range, and its rejected rows.
    pub fetched: FetchedBars,
    /// The token of the next page, if there is one.
    pub next_page_token: Option<String>,
    /// True when `bars` was null: on a first page, Alpaca does not know the symbol.
    pub unknown_symbol: bool,
}

#[derive(Debug, Deserialize)]
struct BarsBody {
    #[serde(default)]
    bars: Option<Vec<AlpacaBar>>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AlpacaBar {
    #[serde(default)]
    t: Option<String>,
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

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
}

/// Reads one bars answer (any status the HTTP layer passed on) into bars within `range`.
pub fn parse_bars(
    status: u16,
    body: &[u8],
    symbol: &str,
    range: DateRange,
) -> Result<AlpacaPage, SourceError> {
    if looks_like_html(body) {
        return Err(html_error(PROVIDER, status, body));
    }
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .and_then(|error| error.message)
            .unwrap_or_else(|| snippet(body));
        return Err(status_error(status, symbol, &message));
    }
    let parsed: BarsBody = serde_json::from_slice(body).map_err(|error| {
        decode_error(
            PROVIDER,
            format!("not a bars answer ({error}): {}", snippet(body)),
        )
    })?;
    let unknown_symbol = parsed.bars.is_none();
    let mut builder = BarBuilder::new(range);
    for bar in parsed.bars.unwrap_or_default() {
        let Some(date) = bar.t.as_deref().and_then(new_york_date_of_rfc3339) else {
            builder.reject(
                None,
                format!("bar time t={:?} is not an RFC-3339 time", bar.t),
            );
            continue;
        };
        builder.push(RawRow {
            date,
            open: bar.o.0,
            high: bar.h.0,
            low: bar.l.0,
            close: bar.c.0,
            volume: bar.v.0,
        });
    }
    Ok(AlpacaPage {
        fetched: builder.finish(),
        next_page_token: parsed.next_page_token.filter(|token| !token.is_empty()),
        unknown_symbol,
    })
}

fn new_york_date_of_rfc3339(text: &str) -> Option<NaiveDate> {
    let instant = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(instant.with_timezone(&New_York).date_naive())
}

fn status_error(status: u16, symbol: &str, message: &str) -> SourceError {
    match status {
        // Alpaca has answered an unknown symbol with 400 and, since, with 422.
        400 | 422 if message.to_ascii_lowercase().contains("invalid symbol") => {
            not_found(PROVIDER, symbol)
        }
        401 | 403 if message.to_ascii_lowercase().contains("subscription") => unauthorized(
            PROVIDER,
            format!("the plan does not include this request (HTTP {status}): {message}"),
        ),
        401 | 403 => unauthorized(
            PROVIDER,
            format!(
                "the credentials were refused (HTTP {status}: {message}); check \
                 APCA_API_KEY_ID and APCA_API_SECRET_KEY"
            ),
        ),
        _ => rejected(PROVIDER, format!("HTTP {status}: {message}")),
    }
}
