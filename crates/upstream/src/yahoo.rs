//! Yahoo Finance chart API v8 (`/v8/finance/chart/{symbol}`): whole histories, no key.
//!
//! # Raw prices
//! Yahoo's quote open/high/low/close and volume are split-adjusted *as of the fetch*, so the same
//! day reads differently before and after a split. To store raw (as-traded) prices, every
//! request asks through *now* (`period2` from the injected [`Clock`]), so every split after the
//! requested range is in `events.splits`; the bars are then filtered back to the requested range
//! and un-adjusted:
//!
//! * raw price = price × product of the ratios (numerator / denominator) of the splits whose
//!   ex-date is after the bar's date;
//! * raw volume = volume ÷ that product, rounded;
//! * dividend amounts are split-adjusted the same way and un-adjusted the same way.
//!
//! Every split and dividend in the answer is returned in `actions`, with raw cash amounts.
//!
//! # Dates
//! A daily timestamp is the session open in the exchange's time zone; it is mapped to a date in
//! `meta.exchangeTimezoneName` (never `gmtoffset`, which is the offset at request time), and,
//! as yfinance does, a local time of 22:00–23:59 rolls to the next day (a DST bug seen for
//! Brazil). The last bar is provisional when its timestamp is `meta.regularMarketTime` (a live
//! bar stamped with the last trade) or its date is today at the exchange.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{
    DateTime, Duration as Days, FixedOffset, NaiveDate, NaiveDateTime, Offset, Timelike, Utc,
};
use chrono_tz::Tz;
use marketcache_domain::{
    Clock, CorporateAction, CorporateActionKind, DateRange, Exchange, FetchedBars, PriceSource,
    SourceError, SourceLimits, Symbol,
};
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::config::{ProviderKind, ProviderSettings};
use crate::http::{HttpClient, snippet};
use crate::rows::{
    BarBuilder, Number, RawRow, configuration_error, decode_error, html_error, looks_like_html,
    not_found, rejected, transport_error, unauthorized,
};

const PROVIDER: &str = "yahoo";

/// A current desktop browser's agent: Yahoo answers 429 to agents it takes for bots.
pub const BROWSER_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
    AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36";

/// Daily bars from Yahoo's chart API, un-adjusted to raw prices.
pub struct YahooSource {
    base_url: Url,
    http: HttpClient,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for YahooSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YahooSource")
            .field("base_url", &self.base_url.as_str())
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl YahooSource {
    /// A Yahoo source at `settings.base_url`; `clock` gives the "now" every request reaches.
    pub fn new(settings: ProviderSettings, clock: Arc<dyn Clock>) -> Result<Self, SourceError> {
        Ok(Self {
            base_url: settings.parsed_base_url()?,
            http: HttpClient::new(&settings, Some(BROWSER_USER_AGENT), &[])?,
            clock,
        })
    }

    fn chart_url(&self, symbol: &Symbol, period1: i64, period2: i64) -> Result<Url, SourceError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| configuration_error(PROVIDER, "base URL cannot take a path"))?
            .pop_if_empty()
            .extend(["v8", "finance", "chart", symbol.as_str()]);
        url.query_pairs_mut()
            .append_pair("period1", &period1.to_string())
            .append_pair("period2", &period2.to_string())
            .append_pair("interval", "1d")
            .append_pair("events", "div|split")
            .append_pair("includePrePost", "false");
        Ok(url)
    }
}

#[async_trait]
impl PriceSource for YahooSource {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn limits(&self) -> SourceLimits {
        ProviderKind::Yahoo.limits()
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let now = self.clock.now();
        // A day early: exchanges east of UTC open before 00:00 UTC of their trading date.
        let period1 = (range.start() - Days::days(1))
            .and_hms_opt(0, 0, 0)
            .map(|start| start.and_utc().timestamp())
            .unwrap_or(0);
        let period2 = now.timestamp();
        if period2 <= period1 {
            // The range lies in the future: nothing can be there yet.
            return Ok(FetchedBars::default());
        }
        let url = self.chart_url(symbol, period1, period2)?;
        let answer = self.http.get(url, HeaderMap::new()).await?;
        parse_chart(answer.status, &answer.body, symbol.as_str(), range, now)
            .map_err(|error| self.http.scrub(error))
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    chart: Option<Chart>,
}

#[derive(Debug, Deserialize)]
struct Chart {
    #[serde(default)]
    result: Option<Vec<ChartResult>>,
    #[serde(default)]
    error: Option<ChartError>,
}

#[derive(Debug, Deserialize)]
struct ChartError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChartResult {
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    timestamp: Option<Vec<Number>>,
    #[serde(default)]
    events: Option<Events>,
    #[serde(default)]
    indicators: Option<Indicators>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    exchange_name: Option<String>,
    #[serde(default)]
    exchange_timezone_name: Option<String>,
    #[serde(default)]
    regular_market_time: Number,
    #[serde(default)]
    gmtoffset: Number,
    #[serde(default)]
    first_trade_date: Number,
}

#[derive(Debug, Default, Deserialize)]
struct Events {
    #[serde(default)]
    dividends: Option<BTreeMap<String, DividendEvent>>,
    #[serde(default)]
    splits: Option<BTreeMap<String, SplitEvent>>,
}

#[derive(Debug, Deserialize)]
struct DividendEvent {
    #[serde(default)]
    amount: Number,
    #[serde(default)]
    date: Number,
}

#[derive(Debug, Deserialize)]
struct SplitEvent {
    #[serde(default)]
    date: Number,
    #[serde(default)]
    numerator: Number,
    #[serde(default)]
    denominator: Number,
}

#[derive(Debug, Default, Deserialize)]
struct Indicators {
    #[serde(default)]
    quote: Vec<Quote>,
}

#[derive(Debug, Default, Deserialize)]
struct Quote {
    #[serde(default)]
    open: Vec<Number>,
    #[serde(default)]
    high: Vec<Number>,
    #[serde(default)]
    low: Vec<Number>,
    #[serde(default)]
    close: Vec<Number>,
    #[serde(default)]
    volume: Vec<Number>,
}

/// The exchange's clock: its IANA zone, or (when Yahoo names none we know) a fixed offset.
#[derive(Debug, Clone, Copy)]
enum ExchangeZone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl ExchangeZone {
    fn of(meta: &Meta) -> Self {
        if let Some(zone) = meta
            .exchange_timezone_name
            .as_deref()
            .and_then(|name| name.parse::<Tz>().ok())
        {
            return ExchangeZone::Named(zone);
        }
        tracing::warn!(
            provider = PROVIDER,
            zone = ?meta.exchange_timezone_name,
            "unknown exchange time zone; falling back to gmtoffset"
        );
        let offset = meta
            .gmtoffset
            .0
            .filter(|seconds| seconds.is_finite() && seconds.abs() < 86_400.0)
            .and_then(|seconds| FixedOffset::east_opt(seconds as i32));
        ExchangeZone::Fixed(offset.unwrap_or(Utc.fix()))
    }

    fn local(self, epoch_seconds: i64) -> Option<NaiveDateTime> {
        let instant = DateTime::<Utc>::from_timestamp(epoch_seconds, 0)?;
        Some(match self {
            ExchangeZone::Named(zone) => instant.with_timezone(&zone).naive_local(),
            ExchangeZone::Fixed(offset) => instant.with_timezone(&offset).naive_local(),
        })
    }

    /// The trading date of a bar stamped `epoch_seconds`, with yfinance's 22–23 h rule.
    fn trading_date(self, epoch_seconds: i64) -> Option<NaiveDate> {
        let local = self.local(epoch_seconds)?;
        if local.hour() >= 22 {
            local.date().succ_opt()
        } else {
            Some(local.date())
        }
    }
}

/// A timestamp from a JSON number, if it is a whole, representable number of seconds.
fn epoch_seconds(value: Number) -> Option<i64> {
    value
        .0
        .filter(|seconds| seconds.is_finite() && seconds.fract() == 0.0 && seconds.abs() < 1e15)
        .map(|seconds| seconds as i64)
}

/// Reads a chart answer into raw-price bars within `range`, the answer's splits and dividends,
/// rejected rows and provisional dates. `now` decides which bar is today's.
pub fn parse_chart(
    status: u16,
    body: &[u8],
    symbol: &str,
    range: DateRange,
    now: DateTime<Utc>,
) -> Result<FetchedBars, SourceError> {
    if looks_like_html(body) {
        if String::from_utf8_lossy(body).contains("Will be right back") {
            return Err(transport_error(
                PROVIDER,
                format!("Yahoo is down for maintenance (HTTP {status}, 'Will be right back' page)"),
            ));
        }
        return Err(html_error(PROVIDER, status, body));
    }
    // Yahoo's throttling answer is plain text; it normally comes as a 429 (handled by the HTTP
    // layer) but is recognised whatever the status.
    if String::from_utf8_lossy(&body[..body.len().min(64)])
        .trim_start()
        .trim_start_matches("Edge: ")
        .starts_with("Too Many Requests")
    {
        return Err(SourceError::RateLimited {
            provider: PROVIDER.to_string(),
            retry_after: None,
        });
    }
    let success = (200..300).contains(&status);
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) if success => {
            return Err(decode_error(
                PROVIDER,
                format!("not a chart answer ({error}): {}", snippet(body)),
            ));
        }
        Err(_) => return Err(status_error(status, symbol, body)),
    };
    let Some(chart) = envelope.chart else {
        // `{"chart": null}` has been reported for unknown tickers.
        return Err(not_found(PROVIDER, symbol));
    };
    if let Some(error) = chart.error {
        let code = error.code.unwrap_or_default();
        let description = error.description.unwrap_or_default();
        if code.eq_ignore_ascii_case("Not Found") || description.contains("No data found") {
            return Err(not_found(PROVIDER, symbol));
        }
        // A window the symbol has no bars in (before its listing, say) is an empty answer.
        if description.starts_with("Data doesn't exist for startDate") {
            return Ok(FetchedBars::default());
        }
        let message = format!("HTTP {status}: {code}: {description}");
        return Err(match status {
            401 | 403 => unauthorized(PROVIDER, message),
            _ => rejected(PROVIDER, message),
        });
    }
    if !success {
        return Err(status_error(status, symbol, body));
    }
    let Some(result) = chart.result.and_then(|results| results.into_iter().next()) else {
        return Err(not_found(PROVIDER, symbol));
    };
    read_result(result, range, now)
}

/// The error for a non-2xx answer without a chart error in it.
fn status_error(status: u16, symbol: &str, body: &[u8]) -> SourceError {
    match status {
        404 => not_found(PROVIDER, symbol),
        401 | 403 => unauthorized(PROVIDER, format!("HTTP {status}: {}", snippet(body))),
        400..500 => rejected(PROVIDER, format!("HTTP {status}: {}", snippet(body))),
        _ => transport_error(PROVIDER, format!("HTTP {status}: {}", snippet(body))),
    }
}

fn read_result(
    result: ChartResult,
    range: DateRange,
    now: DateTime<Utc>,
) -> Result<FetchedBars, SourceError> {
    let zone = ExchangeZone::of(&result.meta);
    let events = result.events.unwrap_or_default();

    let mut splits: Vec<(NaiveDate, f64)> = Vec::new();
    for split in events.splits.unwrap_or_default().into_values() {
        let date = epoch_seconds(split.date).and_then(|seconds| zone.trading_date(seconds));
        let ratio = match (split.numerator.0, split.denominator.0) {
            (Some(numerator), Some(denominator)) => numerator / denominator,
            _ => f64::NAN,
        };
        match date {
            Some(date) if ratio.is_finite() && ratio > 0.0 => splits.push((date, ratio)),
            // A split we cannot read would leave every earlier bar wrongly scaled: refuse the
            // answer rather than store wrong prices.
            _ => {
                return Err(decode_error(
                    PROVIDER,
                    format!(
                        "split at {:?} has an unusable ratio {:?}/{:?}; cannot un-adjust prices",
                        split.date.0, split.numerator.0, split.denominator.0
                    ),
                ));
            }
        }
    }
    // Product of the ratios of the splits after `date`: the factor from today's share count
    // back to the one traded on `date`.
    let split_factor = |date: NaiveDate| -> f64 {
        splits
            .iter()
            .filter(|(ex_date, _)| *ex_date > date)
            .map(|(_, ratio)| ratio)
            .product()
    };

    let mut actions: Vec<CorporateAction> = splits
        .iter()
        .map(|(ex_date, ratio)| CorporateAction {
            ex_date: *ex_date,
            kind: CorporateActionKind::Split { ratio: *ratio },
        })
        .collect();
    for dividend in events.dividends.unwrap_or_default().into_values() {
        let date = epoch_seconds(dividend.date).and_then(|seconds| zone.trading_date(seconds));
        match (date, dividend.amount.0) {
            (Some(ex_date), Some(amount)) if amount.is_finite() && amount > 0.0 => {
                actions.push(CorporateAction {
                    ex_date,
                    kind: CorporateActionKind::Dividend {
                        cash: amount * split_factor(ex_date),
                    },
                });
            }
            _ => tracing::warn!(
                provider = PROVIDER,
                date = ?dividend.date.0,
                amount = ?dividend.amount.0,
                "ignoring an unreadable dividend"
            ),
        }
    }
    actions.sort_by_key(|action| action.ex_date);

    let quote = result
        .indicators
        .unwrap_or_default()
        .quote
        .into_iter()
        .next()
        .unwrap_or_default();
    let timestamps = result.timestamp.unwrap_or_default();
    let column = |values: &[Number], index: usize| values.get(index).and_then(|value| value.0);
    let mut builder = BarBuilder::new(range);
    let mut last_bar: Option<(i64, NaiveDate)> = None;
    for (index, timestamp) in timestamps.iter().enumerate() {
        let Some((seconds, date)) = epoch_seconds(*timestamp)
            .and_then(|seconds| zone.trading_date(seconds).map(|date| (seconds, date)))
        else {
            builder.reject(None, format!("timestamp {:?} is not a time", timestamp.0));
            continue;
        };
        let factor = split_factor(date);
        let price = |values: &[Number]| column(values, index).map(|price| price * factor);
        builder.push(RawRow {
            date,
            open: price(&quote.open),
            high: price(&quote.high),
            low: price(&quote.low),
            close: price(&quote.close),
            volume: column(&quote.volume, index).map(|volume| volume / factor),
        });
        last_bar = Some((seconds, date));
    }

    let mut fetched = builder.finish();
    if let Some((seconds, date)) = last_bar {
        let live_stamp = epoch_seconds(result.meta.regular_market_time) == Some(seconds);
        let today = zone.local(now.timestamp()).map(|local| local.date());
        let has_bar = fetched.bars.last().is_some_and(|bar| bar.date == date);
        if has_bar && (live_stamp || today == Some(date)) {
            fetched.provisional.push(date);
        }
    }
    fetched.actions = actions;
    fetched.first_trade =
        epoch_seconds(result.meta.first_trade_date).and_then(|seconds| zone.trading_date(seconds));
    fetched.exchange = result
        .meta
        .exchange_name
        .as_deref()
        .zip(result.meta.exchange_timezone_name.as_deref())
        .and_then(|(name, zone)| Exchange::from_provider(name, zone));
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_evening_stamps_roll_to_the_next_day() {
        let sao_paulo = ExchangeZone::Named(chrono_tz::America::Sao_Paulo);
        // 2020-03-02 02:00Z is 23:00 on 1 March in São Paulo (UTC-3): a session open stamped
        // an hour early, which belongs to 2 March.
        let local = sao_paulo
            .local(1_583_114_400)
            .map(|time| (time.date(), time.hour()));
        assert_eq!(
            local,
            NaiveDate::from_ymd_opt(2020, 3, 1).map(|day| (day, 23))
        );
        assert_eq!(
            sao_paulo.trading_date(1_583_114_400),
            NaiveDate::from_ymd_opt(2020, 3, 2)
        );
        let new_york = ExchangeZone::Named(chrono_tz::America::New_York);
        assert_eq!(
            new_york.trading_date(1_598_880_600),
            NaiveDate::from_ymd_opt(2020, 8, 31)
        );
    }
}
