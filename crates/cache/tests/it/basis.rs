//! One price basis per series: Yahoo's raw prices and Stooq's adjusted ones never meet. A
//! `yahoo,stooq` chain whose Yahoo fails half-way leaves the rest missing rather than filled
//! with adjusted prices, and a cache switched to Stooq keeps its series apart from the raw one.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::{Adjustment, Bar, DateRange, FixedClock, PriceBasis, PriceSource};
use marketcache_testkit::{CountingSource, on_both_backends};
use marketcache_upstream::{HttpPolicy, ProviderKind, ProviderSettings, build_from};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{Backend, date, range, symbol};

/// Stooq's AAPL around the 2020 split, adjusted for it and for later dividends (its close of
/// 2020-08-31 is 125.283, where Yahoo's raw close is 129.04).
const STOOQ_AAPL: &str = "Date,Open,High,Low,Close,Volume\n\
2020-08-07,110.404,111.547,107.612,109.906,198045612\n\
2020-08-27,124.857,124.998,121.339,121.987,155552384\n\
2020-08-28,122.668,123.169,120.836,121.793,187629916\n\
2020-08-31,123.727,127.136,122.962,125.283,225702688\n\
2020-09-01,129.168,131.117,124.954,130.292,151948100\n";

const RAW: GetOptions = GetOptions {
    adjust: Adjustment::None,
    ..GetOptions::DEFAULT
};

async fn yahoo_up(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v8/finance/chart/AAPL"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            include_str!("../../../upstream/tests/fixtures/yahoo_aapl_split.json"),
            "application/json",
        ))
        .mount(server)
        .await;
}

async fn stooq_up(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/q/d/l/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(STOOQ_AAPL, "text/csv"))
        .mount(server)
        .await;
}

fn provider(
    kind: ProviderKind,
    server: &MockServer,
    clock: Arc<FixedClock>,
) -> Arc<CountingSource> {
    let uri = server.uri();
    let lookup = move |name: &str| (name == kind.url_variable()).then(|| uri.clone());
    let settings = ProviderSettings::from_lookup(kind, &lookup)
        .with_policy(HttpPolicy::for_tests())
        .with_pace(None);
    let source: Arc<dyn PriceSource> =
        build_from(settings, clock).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(CountingSource::new(source))
}

fn closes(bars: &[Bar]) -> Vec<(String, f64)> {
    bars.iter()
        .map(|bar| (bar.date.to_string(), bar.close))
        .collect()
}

fn august_2020() -> DateRange {
    range(date(2020, 8, 3), date(2020, 8, 28))
}

fn to_early_september() -> DateRange {
    range(date(2020, 8, 3), date(2020, 9, 4))
}

async fn a_yahoo_stooq_chain_never_joins_adjusted_prices_to_a_raw_series(backend: Backend) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2021, 6, 1, 12, 0, 0)
            .single()
            .unwrap_or_default(),
    ));
    let yahoo_server = MockServer::start().await;
    yahoo_up(&yahoo_server).await;
    let stooq_server = MockServer::start().await;
    stooq_up(&stooq_server).await;
    let yahoo = provider(ProviderKind::Yahoo, &yahoo_server, clock.clone());
    let stooq = provider(ProviderKind::Stooq, &stooq_server, clock.clone());
    let chain = MarketDataCache::new(backend.store(), yahoo.clone(), clock.clone())
        .with_fallbacks(vec![stooq.clone()]);
    let aapl = symbol("AAPL");

    let before = chain
        .get_bars(&aapl, august_2020(), RAW)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.report.basis, PriceBasis::Raw);
    // Yahoo's raw closes: 4 x 111.1125 before the split.
    assert_eq!(closes(&before.bars)[0], ("2020-08-07".to_string(), 444.45));

    // Yahoo goes down half-way: the rest is not filled from Stooq's adjusted prices.
    yahoo_server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&yahoo_server)
        .await;
    let failed = chain.get_bars(&aapl, to_early_september(), RAW).await;
    assert!(
        failed.as_ref().is_err_and(|e| e.is_upstream_unavailable()),
        "{failed:?}"
    );
    assert_eq!(stooq.count(), 0, "Stooq is never asked for a raw series");
    let offline = GetOptions {
        offline: true,
        ..RAW
    };
    let cached = chain
        .get_bars(&aapl, to_early_september(), offline)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(closes(&cached.bars), closes(&before.bars));
    assert_eq!(
        cached.report.missing,
        [range(date(2020, 8, 31), date(2020, 9, 4))]
    );
    let ledger = backend
        .store()
        .read_coverage(&aapl)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ledger
            .iter()
            .all(|span| span.provider == "yahoo" && span.basis == PriceBasis::Raw),
        "{ledger:?}"
    );

    // A cache switched to Stooq serves Stooq's adjusted series alone, stored apart: the raw
    // series is untouched and no day mixes the two.
    let stooq_cache = MarketDataCache::new(backend.store(), stooq.clone(), clock.clone());
    let adjusted = stooq_cache
        .get_bars(&aapl, to_early_september(), RAW)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(adjusted.report.basis, PriceBasis::SplitAndDividendAdjusted);
    assert_eq!(adjusted.report.providers, ["stooq"]);
    assert_eq!(
        closes(&adjusted.bars),
        [
            ("2020-08-07".to_string(), 109.906),
            ("2020-08-27".to_string(), 121.987),
            ("2020-08-28".to_string(), 121.793),
            ("2020-08-31".to_string(), 125.283),
            ("2020-09-01".to_string(), 130.292),
        ]
    );
    let raw_again = chain
        .get_bars(&aapl, to_early_september(), offline)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(closes(&raw_again.bars), closes(&before.bars));
    let adjusted_ledger = backend
        .store()
        .read_coverage(&aapl.stored_as(marketcache_domain::Dataset::Adjusted))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        adjusted_ledger
            .iter()
            .all(|span| span.basis == PriceBasis::SplitAndDividendAdjusted),
        "{adjusted_ledger:?}"
    );
}

on_both_backends!(a_yahoo_stooq_chain_never_joins_adjusted_prices_to_a_raw_series);
