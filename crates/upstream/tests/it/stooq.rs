//! Stooq CSV: symbols and dates on the wire, and every HTTP-200 body that is not data.

use marketcache_domain::{PriceSource, SourceError};
use marketcache_upstream::{ProviderKind, StooqSource, build_from};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    FAKE_KEY, clock_at, date, fetch, fixture, query_of, range, request_count, settings, source_for,
};

async fn serve(body: impl Into<Vec<u8>>, content_type: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/q/d/l/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.into(), content_type))
        .mount(&server)
        .await;
    server
}

fn stooq(server: &MockServer) -> std::sync::Arc<dyn PriceSource> {
    source_for(
        ProviderKind::Stooq,
        server,
        clock_at("2025-01-01T00:00:00Z"),
    )
}

#[tokio::test]
async fn csv_rows_become_bars_and_the_suffixed_symbol_dates_and_key_are_sent() {
    let server = serve(fixture("stooq_daily.csv"), "text/csv").await;
    let fetched = fetch(
        stooq(&server).as_ref(),
        "AAPL",
        range(date(2020, 11, 1), date(2020, 11, 30)),
    )
    .await
    .expect("success");
    let rows: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.close, bar.volume))
        .collect();
    assert_eq!(
        rows,
        vec![
            (date(2020, 11, 4), 47294.20, 51_383_416),
            (date(2020, 11, 5), 48295.31, 45_575_557),
            // Written as 4.6569222e+07 in the file.
            (date(2020, 11, 6), 48962.48, 46_569_222),
        ]
    );
    let query = query_of(&server, 0).await;
    assert_eq!(query["s"], "aapl.us");
    assert_eq!(query["i"], "d");
    assert_eq!(query["d1"], "20201101");
    assert_eq!(query["d2"], "20201130");
    assert_eq!(query["apikey"], FAKE_KEY);
}

#[tokio::test]
async fn without_a_key_no_apikey_parameter_is_sent() {
    let server = serve(fixture("stooq_daily.csv"), "text/csv").await;
    let mut settings = settings(ProviderKind::Stooq, &server.uri());
    settings.api_key = None;
    let source = build_from(settings, clock_at("2025-01-01T00:00:00Z")).expect("no key needed");
    fetch(
        source.as_ref(),
        "AAPL",
        range(date(2020, 11, 1), date(2020, 11, 30)),
    )
    .await
    .expect("success");
    assert!(!query_of(&server, 0).await.contains_key("apikey"));
}

#[tokio::test]
async fn a_csv_without_a_volume_column_has_zero_volume() {
    let server = serve(fixture("stooq_no_volume.csv"), "text/csv").await;
    let fetched = fetch(
        stooq(&server).as_ref(),
        "^SPX",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect("success");
    assert_eq!(fetched.bars.len(), 2);
    assert!(fetched.bars.iter().all(|bar| bar.volume == 0));
    assert_eq!(fetched.bars[1].close, 4704.81);
    assert_eq!(
        query_of(&server, 0).await["s"],
        "^spx",
        "indices keep their name"
    );
}

#[tokio::test]
async fn no_data_is_not_found() {
    let server = serve("No data", "text/plain").await;
    let error = fetch(
        stooq(&server).as_ref(),
        "ZZZZ",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("no data");
    assert!(matches!(error, SourceError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn the_daily_hits_limit_is_rate_limited_and_not_retried() {
    let server = serve("Exceeded the daily hits limit!\n", "text/plain").await;
    let error = fetch(
        stooq(&server).as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("quota");
    assert!(
        matches!(error, SourceError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn the_api_key_page_is_a_configuration_error_naming_the_variable() {
    let page = "<!DOCTYPE html><html><body><p>To download data you need an apikey. \
                Get your apikey at <a href=\"/q/d/?s=aapl.us&get_apikey\">this page</a>.</p>\
                </body></html>";
    let server = serve(page, "text/html").await;
    let mut settings = settings(ProviderKind::Stooq, &server.uri());
    settings.api_key = None;
    let source = StooqSource::new(settings).expect("builds");
    let error = fetch(&source, "AAPL", range(date(2024, 1, 1), date(2024, 1, 31)))
        .await
        .expect_err("key page");
    assert!(
        matches!(&error, SourceError::Configuration { message, .. } if message.contains("STOOQ_API_KEY")),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_proof_of_work_page_is_a_transport_error_not_data() {
    let page = "<!DOCTYPE html><html><head><title>stooq</title></head><body>\
                <noscript>This site requires JavaScript to verify your browser.</noscript>\
                <script>/* sha256 challenge */ fetch('/__verify', {method: 'POST'})</script>\
                </body></html>";
    let server = serve(page, "text/html").await;
    let error = fetch(
        stooq(&server).as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("bot check");
    assert!(
        matches!(&error, SourceError::Transport { message, .. } if message.contains("proof-of-work")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_empty_body_is_a_decode_error() {
    let server = serve("", "text/plain").await;
    let error = fetch(
        stooq(&server).as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("empty");
    assert!(matches!(error, SourceError::Decode { .. }), "{error:?}");
}
