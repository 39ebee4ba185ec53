//! Alpaca bars: pagination through `next_page_token`, both key headers, unknown symbols, errors.

use marketcache_domain::SourceError;
use marketcache_upstream::{ProviderKind, build_from};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    FAKE_KEY, FAKE_SECRET, clock_at, date, fetch, fixture, query_of, range, request_count,
    settings, source_for,
};

const PAGE_TOKEN: &str = "QUFQTHxEfDIwMjEtMTAtMTRUMDQ6MDA6MDAuMDAwMDAwMDAwWg==";

fn json(status: u16, body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into(), "application/json")
}

async fn serve(status: u16, body: impl Into<Vec<u8>>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(status, body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn pages_are_followed_through_next_page_token_with_both_key_headers() {
    let server = MockServer::start().await;
    let bars = || {
        Mock::given(method("GET"))
            .and(path("/v2/stocks/AAPL/bars"))
            .and(header("APCA-API-KEY-ID", FAKE_KEY))
            .and(header("APCA-API-SECRET-KEY", FAKE_SECRET))
    };
    bars()
        .and(query_param_is_missing("page_token"))
        .respond_with(json(200, fixture("alpaca_page1.json")))
        .expect(1)
        .mount(&server)
        .await;
    bars()
        .and(query_param("page_token", PAGE_TOKEN))
        .respond_with(json(200, fixture("alpaca_page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Alpaca,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2021, 10, 13), date(2021, 10, 15)),
    )
    .await
    .expect("success");

    // t = 04:00Z (EDT) is midnight in New York: each bar keeps its own date.
    let rows: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.close, bar.volume))
        .collect();
    assert_eq!(
        rows,
        vec![
            (date(2021, 10, 13), 140.91, 78_993_712),
            (date(2021, 10, 14), 143.76, 69_696_731),
            (date(2021, 10, 15), 144.84, 67_393_148),
        ]
    );
    assert_eq!(request_count(&server).await, 2);
    let query = query_of(&server, 0).await;
    assert_eq!(query["timeframe"], "1Day");
    assert_eq!(query["adjustment"], "raw");
    assert_eq!(query["feed"], "iex");
    assert_eq!(query["limit"], "10000");
    assert_eq!(query["start"], "2021-10-13T00:00:00Z");
    assert_eq!(query["end"], "2021-10-15T23:59:59Z");
    let second = query_of(&server, 1).await;
    assert_eq!(
        second["start"], query["start"],
        "later pages repeat the query"
    );
}

#[tokio::test]
async fn null_bars_mean_an_unknown_symbol() {
    let server = serve(200, fixture("alpaca_unknown.json")).await;
    let source = source_for(
        ProviderKind::Alpaca,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "XYZ",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("unknown");
    assert!(
        matches!(&error, SourceError::NotFound { symbol, .. } if symbol == "XYZ"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_empty_bars_array_is_an_empty_answer() {
    let server = serve(200, fixture("alpaca_empty.json")).await;
    let source = source_for(
        ProviderKind::Alpaca,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 6, 1), date(2024, 6, 2)),
    )
    .await
    .expect("empty is fine");
    assert!(fetched.bars.is_empty());
}

#[tokio::test]
async fn an_invalid_symbol_400_is_not_found() {
    let server = serve(
        400,
        r#"{"code":40010001,"message":"invalid symbol: YZCDE2"}"#,
    )
    .await;
    let source = source_for(
        ProviderKind::Alpaca,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "YZCDE2",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("invalid");
    assert!(matches!(error, SourceError::NotFound { .. }), "{error:?}");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_subscription_403_is_refused_access_naming_the_plan() {
    let server = serve(
        403,
        r#"{"message":"subscription does not permit querying recent SIP data"}"#,
    )
    .await;
    let source = source_for(
        ProviderKind::Alpaca,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("plan");
    assert!(
        matches!(&error, SourceError::Unauthorized { message, .. } if message.contains("subscription")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_forbidden_403_names_both_key_variables() {
    let server = serve(403, r#"{"message": "forbidden."}"#).await;
    let source = source_for(
        ProviderKind::Alpaca,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("bad keys");
    let message = error.to_string();
    assert!(
        message.contains("APCA_API_KEY_ID") && message.contains("APCA_API_SECRET_KEY"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_secret_fails_at_construction_naming_it() {
    let mut settings = settings(ProviderKind::Alpaca, "http://127.0.0.1:9");
    settings.api_secret = None;
    let error = build_from(settings, clock_at("2025-01-01T00:00:00Z"))
        .err()
        .expect("no secret");
    assert!(
        matches!(&error, SourceError::Configuration { message, .. } if message.contains("APCA_API_SECRET_KEY")),
        "{error:?}"
    );
}
