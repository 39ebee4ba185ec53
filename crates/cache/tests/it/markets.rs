//! Markets other than the NYSE, replayed from Yahoo answers recorded by a third party
//! (`crates/upstream/tests/fixtures/recorded`, provenance beside them): a Milan share, a
//! crypto pair and a currency pair each trade on days the NYSE is closed, and every bar Yahoo
//! sent for them is served; the days are never asked for twice.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::{Bar, DateRange, FixedClock, PriceSource, Symbol};
use marketcache_testkit::CountingSource;
use marketcache_testkit::on_both_backends;
use marketcache_upstream::{HttpPolicy, ProviderKind, ProviderSettings, build_from};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{Backend, date, range, symbol};

/// A recorded Yahoo chart answer, served for every request of its symbol (the Yahoo source
/// keeps the bars of the range it asked for).
async fn yahoo_replaying(symbol_text: &str, file: &str) -> MockServer {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../upstream/tests/fixtures/recorded/"
    );
    let body =
        std::fs::read(format!("{fixture}{file}")).unwrap_or_else(|e| panic!("fixture {file}: {e}"));
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v8/finance/chart/{symbol_text}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    server
}

/// A clock stopped on 2021-06-01, long after the recorded answers' days.
fn june_2021() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2021, 6, 1, 12, 0, 0)
            .single()
            .unwrap_or_default(),
    ))
}

/// A cache on `backend` whose upstream is Yahoo at `server`, on 2021-06-01.
fn cache_over(backend: &Backend, server: &MockServer) -> (MarketDataCache, Arc<CountingSource>) {
    let clock = june_2021();
    let uri = server.uri();
    let lookup =
        move |name: &str| (name == ProviderKind::Yahoo.url_variable()).then(|| uri.clone());
    let settings = ProviderSettings::from_lookup(ProviderKind::Yahoo, &lookup)
        .with_policy(HttpPolicy::for_tests())
        .with_pace(None);
    let yahoo: Arc<dyn PriceSource> =
        build_from(settings, clock.clone()).unwrap_or_else(|e| panic!("{e}"));
    let upstream = Arc::new(CountingSource::new(yahoo));
    let cache = MarketDataCache::new(backend.store(), upstream.clone(), clock);
    (cache, upstream)
}

async fn read(cache: &MarketDataCache, ticker: &Symbol, wanted: DateRange) -> Vec<Bar> {
    cache
        .get_bars(ticker, wanted, GetOptions::DEFAULT)
        .await
        .unwrap_or_else(|e| panic!("{ticker} {wanted}: {e}"))
        .bars
}

fn dates(bars: &[Bar]) -> Vec<String> {
    bars.iter().map(|bar| bar.date.to_string()).collect()
}

/// UNIR.MI traded on 2020-01-20, Martin Luther King Jr. Day in New York.
async fn a_milan_share_keeps_its_bar_of_a_us_holiday(backend: Backend) {
    let server = yahoo_replaying("UNIR.MI", "yahoo_chart_UNIR.MI_2020_1d.json").await;
    let (cache, upstream) = cache_over(&backend, &server);
    let unir = symbol("UNIR.MI");
    let week = read(&cache, &unir, range(date(2020, 1, 20), date(2020, 1, 24))).await;
    assert_eq!(
        dates(&week),
        [
            "2020-01-20",
            "2020-01-21",
            "2020-01-22",
            "2020-01-23",
            "2020-01-24"
        ]
    );
    // The week before is asked for, the holiday is not asked again, and all ten are served.
    upstream.reset();
    let two_weeks = read(&cache, &unir, range(date(2020, 1, 13), date(2020, 1, 24))).await;
    assert_eq!(two_weeks.len(), 10, "{:?}", dates(&two_weeks));
    assert_eq!(
        upstream.requested_ranges(),
        [range(date(2020, 1, 13), date(2020, 1, 17))]
    );
    upstream.reset();
    read(&cache, &unir, range(date(2020, 1, 13), date(2020, 1, 24))).await;
    assert_eq!(upstream.count(), 0, "a second read asks for nothing");
}

/// Bitcoin trades every day: New Year's Day and the weekends are served.
async fn a_crypto_pair_is_served_every_day(backend: Backend) {
    let server = yahoo_replaying("BTC-USD", "yahoo_chart_BTC-USD_2020_1d.json").await;
    let (cache, upstream) = cache_over(&backend, &server);
    let btc = symbol("BTC-USD");
    let days = read(&cache, &btc, range(date(2020, 1, 1), date(2020, 1, 12))).await;
    let expected: Vec<String> = (1..=12).map(|day| date(2020, 1, day).to_string()).collect();
    assert_eq!(dates(&days), expected);
    // A window of only a weekend is asked for too (the NYSE calendar would skip it).
    let weekend = read(&cache, &btc, range(date(2020, 1, 18), date(2020, 1, 19))).await;
    assert_eq!(dates(&weekend), ["2020-01-18", "2020-01-19"]);
    upstream.reset();
    read(&cache, &btc, range(date(2020, 1, 1), date(2020, 1, 19))).await;
    assert_eq!(
        upstream.requested_ranges(),
        [range(date(2020, 1, 13), date(2020, 1, 17))],
        "only the days never asked are asked"
    );
}

/// Currencies trade on weekdays, US holidays included.
async fn a_currency_pair_keeps_new_year_s_day(backend: Backend) {
    let server = yahoo_replaying("EURUSD=X", "yahoo_chart_EURUSD=X_2020_1d.json").await;
    let (cache, _) = cache_over(&backend, &server);
    let euro = symbol("EURUSD=X");
    let days = read(&cache, &euro, range(date(2020, 1, 1), date(2020, 1, 7))).await;
    assert_eq!(
        dates(&days),
        [
            "2020-01-01",
            "2020-01-02",
            "2020-01-03",
            "2020-01-06",
            "2020-01-07"
        ]
    );
    let explained = cache
        .explain_coverage(&euro)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(explained.weekend_days, 2, "{explained:?}");
    assert_eq!(explained.holidays, 0, "{explained:?}");
}

/// Sends a bar for every weekday from the day before the window it is asked for, as Yahoo's
/// answers do when its window starts a day early.
struct EveryWeekdayFromTheDayBefore;

#[async_trait::async_trait]
impl PriceSource for EveryWeekdayFromTheDayBefore {
    fn name(&self) -> &str {
        "weekdays"
    }

    fn limits(&self) -> marketcache_domain::SourceLimits {
        marketcache_domain::SourceLimits::unmetered(366, 1)
    }

    async fn fetch(
        &self,
        _symbol: &Symbol,
        range: DateRange,
    ) -> Result<marketcache_domain::FetchedBars, marketcache_domain::SourceError> {
        let from = range.start().pred_opt().unwrap_or(range.start());
        let bars = DateRange::new(from, range.end())
            .map(|window| window.days().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|day| marketcache_domain::Calendar::Weekdays.is_trading_day(*day))
            .filter_map(|day| Bar::try_new(day, 10.0, 11.0, 9.0, 10.5, 100).ok())
            .collect();
        Ok(marketcache_domain::FetchedBars::from_bars(bars))
    }
}

/// 2020-01-20 is a NYSE holiday, so AAPL's request starts on the 21st; the bar the provider
/// sends for the 20th all the same is kept, and the day is never asked for again.
async fn a_bar_on_a_day_our_calendar_calls_closed_is_kept(backend: Backend) {
    let clock = june_2021();
    let upstream = Arc::new(CountingSource::new(Arc::new(EveryWeekdayFromTheDayBefore)));
    let cache = MarketDataCache::new(backend.store(), upstream.clone(), clock);
    let aapl = symbol("AAPL");
    let week = read(&cache, &aapl, range(date(2020, 1, 18), date(2020, 1, 24))).await;
    assert_eq!(
        dates(&week),
        [
            "2020-01-20",
            "2020-01-21",
            "2020-01-22",
            "2020-01-23",
            "2020-01-24"
        ]
    );
    assert_eq!(
        upstream.requested_ranges(),
        [range(date(2020, 1, 21), date(2020, 1, 24))],
        "the request holds trading days only"
    );
    upstream.reset();
    let two_weeks = read(&cache, &aapl, range(date(2020, 1, 11), date(2020, 1, 24))).await;
    assert_eq!(two_weeks.len(), 10, "{:?}", dates(&two_weeks));
    assert_eq!(
        upstream.requested_ranges(),
        [range(date(2020, 1, 13), date(2020, 1, 17))]
    );
    // The ledger runs across the weekend between the two reads: one range, no seam.
    let covered = cache
        .explain_coverage(&aapl)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .covered;
    assert_eq!(covered, [range(date(2020, 1, 11), date(2020, 1, 24))]);
}

/// A plain ticker is taken for a US listing until the provider names its market: Yahoo's
/// answer (here the recorded Milan one, asked as `UNIR`) says Milan, which is recorded with the
/// symbol and plans its next reads, so a US holiday is asked for.
async fn the_market_a_provider_names_plans_the_next_reads(backend: Backend) {
    let server = yahoo_replaying("UNIR", "yahoo_chart_UNIR.MI_2020_1d.json").await;
    let (cache, upstream) = cache_over(&backend, &server);
    let unir = symbol("UNIR");
    read(&cache, &unir, range(date(2020, 1, 13), date(2020, 1, 17))).await;
    upstream.reset();
    let next_week = read(&cache, &unir, range(date(2020, 1, 20), date(2020, 1, 24))).await;
    assert_eq!(next_week.len(), 5, "{:?}", dates(&next_week));
    assert_eq!(
        upstream.requested_ranges(),
        [range(date(2020, 1, 20), date(2020, 1, 24))],
        "Martin Luther King Jr. Day is a trading day in Milan"
    );
    let explained = cache
        .explain_coverage(&unir)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(explained.exchange.code, "XMIL");
    assert_eq!(explained.exchange.time_zone.name(), "Europe/Rome");

    // Another process (a cache of its own over the same store) reads the market from it.
    let (other, other_upstream) = cache_over(&backend, &server);
    let week_after = read(&other, &unir, range(date(2020, 1, 27), date(2020, 1, 31))).await;
    assert_eq!(week_after.len(), 5);
    assert_eq!(
        other_upstream.requested_ranges(),
        [range(date(2020, 1, 27), date(2020, 1, 31))]
    );
    let calendar = other
        .explain_coverage(&unir)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .exchange
        .calendar;
    assert_eq!(calendar, marketcache_domain::Calendar::Weekdays);
}

on_both_backends!(
    the_market_a_provider_names_plans_the_next_reads,
    a_bar_on_a_day_our_calendar_calls_closed_is_kept,
    a_milan_share_keeps_its_bar_of_a_us_holiday,
    a_crypto_pair_is_served_every_day,
    a_currency_pair_keeps_new_year_s_day,
);
