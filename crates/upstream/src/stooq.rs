//! Stooq daily CSV (`/q/d/l/?s=…&i=d&d1=…&d2=…`): best effort, since Stooq has been locking out
//! automated downloads (an API key since 2026-03, a proof-of-work page since 2026-07).
//!
//! Stooq answers almost everything with HTTP 200, so the body decides: data only when the first
//! line is the CSV header; `No data` is an unknown symbol or an empty window, which Stooq does
//! not tell apart (one more request for the whole history does: data there means the window
//! was empty, and its first row names the listing day); `Exceeded the daily hits limit` is a quota; HTML is a key page or a bot
//! check, reported as such and never read as data. Its prices are adjusted for splits and
//! dividends (undocumented, seen in its answers), so its ranges are recorded with that basis.

use async_trait::async_trait;
use chrono::NaiveDate;
use marketcache_domain::{
    Dataset, DateRange, FetchedBars, PriceBasis, PriceSource, SourceError, SourceLimits, Symbol,
};
use reqwest::Url;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ProviderKind, ProviderSettings};
use crate::http::{HttpClient, snippet};
use crate::rows::{
    configuration_error, decode_error, html_error, looks_like_html, not_found, transport_error,
};

const PROVIDER: &str = "stooq";

/// Market suffixes Stooq uses that a symbol may already carry.
const KNOWN_SUFFIXES: &[&str] = &["us", "uk", "de", "jp", "hk", "hu", "v"];

/// Daily bars from Stooq's CSV download.
pub struct StooqSource {
    base_url: Url,
    http: HttpClient,
    api_key: Option<SecretString>,
}

impl std::fmt::Debug for StooqSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StooqSource")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &self.api_key)
            .field("http", &self.http)
            .finish()
    }
}

impl StooqSource {
    /// A Stooq source; `settings.api_key` (`STOOQ_API_KEY`) is optional and sent as `apikey`.
    pub fn new(settings: ProviderSettings) -> Result<Self, SourceError> {
        Ok(Self {
            base_url: settings.parsed_base_url()?,
            http: HttpClient::new(&settings, None, &[])?,
            api_key: settings
                .api_key
                .clone()
                .filter(|key| !key.expose_secret().trim().is_empty()),
        })
    }

    /// The download of `range`, or of the whole history without one.
    fn csv_url(&self, symbol: &Symbol, range: Option<DateRange>) -> Result<Url, SourceError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| configuration_error(PROVIDER, "base URL cannot take a path"))?
            .pop_if_empty()
            .extend(["q", "d", "l", ""]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("s", &stooq_symbol(symbol))
                .append_pair("i", "d");
            if let Some(range) = range {
                query
                    .append_pair("d1", &range.start().format("%Y%m%d").to_string())
                    .append_pair("d2", &range.end().format("%Y%m%d").to_string());
            }
            if let Some(key) = &self.api_key {
                query.append_pair("apikey", key.expose_secret());
            }
        }
        Ok(url)
    }
}

/// Stooq's name for `symbol`: lower case, with a market suffix. Indices (`^SPX`) and symbols
/// that already carry a known suffix (`VOD.UK`) pass; anything else is taken as a US listing
/// (`AAPL` → `aapl.us`, `BRK.B` → `brk-b.us`), since a bare ticker would be looked up in Warsaw.
pub fn stooq_symbol(symbol: &Symbol) -> String {
    let lower = symbol.as_str().to_ascii_lowercase();
    if lower.starts_with('^') {
        return lower;
    }
    if let Some((_, suffix)) = lower.rsplit_once('.')
        && KNOWN_SUFFIXES.contains(&suffix)
    {
        return lower;
    }
    format!("{}.us", lower.replace('.', "-"))
}

#[async_trait]
impl PriceSource for StooqSource {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn limits(&self) -> SourceLimits {
        ProviderKind::Stooq.limits()
    }

    /// Stooq's daily prices are adjusted for splits and dividends (AAPL's close of 2020-08-31
    /// is 125.283 there, 129.04 as traded) and it reports no events to undo that with.
    fn basis(&self) -> PriceBasis {
        PriceBasis::SplitAndDividendAdjusted
    }

    fn dataset(&self) -> Dataset {
        ProviderKind::Stooq.dataset()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let url = self.csv_url(symbol, Some(range))?;
        let answer = self.http.get(url, HeaderMap::new()).await?;
        let parsed = parse_csv(
            answer.status,
            &answer.body,
            symbol.as_str(),
            range,
            self.api_key.is_some(),
        );
        match parsed {
            Err(SourceError::NotFound { .. }) => self.empty_window_or_unknown(symbol).await,
            other => other,
        }
        .map_err(|error| self.http.scrub(error))
    }
}

impl StooqSource {
    /// After `No data` for a window: the whole history says whether the symbol exists. If it
    /// does, the window was empty, and the first row is the symbol's first trading day.
    async fn empty_window_or_unknown(&self, symbol: &Symbol) -> Result<FetchedBars, SourceError> {
        let url = self.csv_url(symbol, None)?;
        let answer = self.http.get(url, HeaderMap::new()).await?;
        let everything = DateRange::new(
            NaiveDate::from_ymd_opt(1800, 1, 1).unwrap_or_default(),
            NaiveDate::from_ymd_opt(2200, 1, 1).unwrap_or_default(),
        )
        .map_err(|error| decode_error(PROVIDER, error.to_string()))?;
        let history = parse_csv(
            answer.status,
            &answer.body,
            symbol.as_str(),
            everything,
            self.api_key.is_some(),
        )?;
        Ok(FetchedBars {
            first_trade: history.bars.first().map(|bar| bar.date),
            ..FetchedBars::default()
        })
    }
}

/// Reads a Stooq answer into bars within `range`. `key_sent` tells whether the request carried
/// an API key, which changes what an API-key page means.
pub fn parse_csv(
    status: u16,
    body: &[u8],
    symbol: &str,
    range: DateRange,
    key_sent: bool,
) -> Result<FetchedBars, SourceError> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if looks_like_html(text.as_bytes()) {
        return Err(classify_html(status, text, symbol, key_sent));
    }
    if text.is_empty() {
        return Err(decode_error(
            PROVIDER,
            format!("HTTP {status} with an empty body"),
        ));
    }
    if text
        .get(..7)
        .is_some_and(|start| start.eq_ignore_ascii_case("No data"))
    {
        return Err(not_found(PROVIDER, symbol));
    }
    if text
        .to_ascii_lowercase()
        .contains("exceeded the daily hits limit")
    {
        return Err(SourceError::RateLimited {
            provider: PROVIDER.to_string(),
            retry_after: None,
        });
    }
    if !(200..300).contains(&status) {
        return Err(transport_error(
            PROVIDER,
            format!("HTTP {status}: {}", snippet(body)),
        ));
    }
    read_rows(text, range)
}

fn classify_html(status: u16, html: &str, symbol: &str, key_sent: bool) -> SourceError {
    let lower = html.to_ascii_lowercase();
    if lower.contains("verify your browser")
        || lower.contains("__verify")
        || lower.contains("requires javascript")
    {
        return transport_error(
            PROVIDER,
            "Stooq answered with a browser-verification (proof-of-work) page: it blocks \
             automated downloads from this address",
        );
    }
    if lower.contains("apikey") || lower.contains("api key") {
        let where_to_get = format!(
            "get one at https://stooq.com/q/d/?s={}&get_apikey",
            symbol.to_ascii_lowercase()
        );
        let message = if key_sent {
            format!(
                "Stooq rejected the key in STOOQ_API_KEY (it sent its API-key page); {where_to_get}"
            )
        } else {
            format!("Stooq requires an API key: set STOOQ_API_KEY; {where_to_get}")
        };
        return configuration_error(PROVIDER, message);
    }
    html_error(PROVIDER, status, html.as_bytes())
}

fn read_rows(text: &str, range: DateRange) -> Result<FetchedBars, SourceError> {
    crate::csv_rows::read_rows(text.as_bytes(), "Stooq's answer", range).map_err(|why| {
        decode_error(
            PROVIDER,
            format!(
                "expected a Date,Open,High,Low,Close[,Volume] header ({why}), got: {}",
                snippet(text.as_bytes())
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol(text: &str) -> Symbol {
        Symbol::parse(text).expect("valid symbol")
    }

    #[test]
    fn us_tickers_get_the_us_suffix_and_others_keep_theirs() {
        assert_eq!(stooq_symbol(&symbol("AAPL")), "aapl.us");
        assert_eq!(stooq_symbol(&symbol("BRK.B")), "brk-b.us");
        assert_eq!(stooq_symbol(&symbol("VOD.UK")), "vod.uk");
        assert_eq!(stooq_symbol(&symbol("^SPX")), "^spx");
    }
}
