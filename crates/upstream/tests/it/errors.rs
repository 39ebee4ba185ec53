//! Errors named by what happened, from real recorded error bodies (`fixtures/recorded`, with
//! their provenance) and, where no public recording exists, bodies shaped as the providers'
//! documentation and client issues quote them: an empty window is an empty answer, then unknown
//! symbol, refused access, the provider's own error text, and unreachable stay apart.

use marketcache_domain::{FetchedBars, SourceError};
use marketcache_upstream::ProviderKind;
use wiremock::matchers::{method, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{clock_at, date, fetch, fixture, range, source_for};

fn recorded(name: &str) -> Vec<u8> {
    fixture(&format!("recorded/{name}"))
}

async fn answering(status: u16, body: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    server
}

async fn outcome(
    kind: ProviderKind,
    status: u16,
    body: Vec<u8>,
    symbol: &str,
) -> Result<FetchedBars, SourceError> {
    let server = answering(status, body).await;
    let source = source_for(kind, &server, clock_at("2025-06-02T12:00:00Z"));
    fetch(
        source.as_ref(),
        symbol,
        range(date(2020, 1, 1), date(2020, 1, 3)),
    )
    .await
}

#[tokio::test]
async fn yahoo_s_data_doesn_t_exist_for_a_window_is_an_empty_answer() {
    let body = recorded("yahoo_chart_400_data_doesnt_exist_BEKE.json");
    let answer = outcome(ProviderKind::Yahoo, 400, body, "BEKE").await;
    let answer = answer.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer, FetchedBars::default());
}

#[tokio::test]
async fn yahoo_s_no_data_found_is_an_unknown_symbol() {
    let body = recorded("yahoo_chart_404_not_found_MDLY.json");
    let error = outcome(ProviderKind::Yahoo, 404, body, "MDLY").await;
    assert!(
        matches!(&error, Err(SourceError::NotFound { symbol, .. }) if symbol == "MDLY"),
        "{error:?}"
    );
}

#[tokio::test]
async fn polygon_s_unknown_api_key_is_refused_access() {
    let body = recorded("polygon_401_unknown_api_key.json");
    let error = outcome(ProviderKind::Polygon, 401, body, "AAPL").await;
    assert!(
        matches!(&error, Err(SourceError::Unauthorized { message, .. })
            if message.contains("Unknown API Key") && message.contains("POLYGON_API_KEY")),
        "{error:?}"
    );
}

#[tokio::test]
async fn polygon_s_error_status_in_a_200_is_its_own_error_not_unreachable() {
    let body = br#"{"status":"ERROR","request_id":"4b9f1c2e","error":"Internal error while processing the aggregates"}"#;
    let error = outcome(ProviderKind::Polygon, 200, body.to_vec(), "AAPL").await;
    assert!(
        matches!(&error, Err(SourceError::Rejected { message, .. }) if message.contains("Internal error")),
        "{error:?}"
    );
    let shown = error.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!shown.contains("could not be reached"), "{shown}");
}

#[tokio::test]
async fn tiingo_s_ticker_not_found_is_an_unknown_symbol() {
    let body = recorded("tiingo_404_ticker_not_found_BADTICKER.json");
    let error = outcome(ProviderKind::Tiingo, 404, body, "BADTICKER").await;
    assert!(
        matches!(&error, Err(SourceError::NotFound { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn alpaca_s_422_invalid_symbol_is_an_unknown_symbol() {
    let body = br#"{"code":42210000,"message":"invalid symbol: ZZZZ1"}"#;
    let error = outcome(ProviderKind::Alpaca, 422, body.to_vec(), "ZZZZ1").await;
    assert!(
        matches!(&error, Err(SourceError::NotFound { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn alpaca_s_other_422_keeps_its_own_text() {
    let body = br#"{"code":42210000,"message":"invalid start: must be before end"}"#;
    let error = outcome(ProviderKind::Alpaca, 422, body.to_vec(), "AAPL").await;
    assert!(
        matches!(&error, Err(SourceError::Rejected { message, .. }) if message.contains("invalid start")),
        "{error:?}"
    );
}

/// Stooq says `No data` for a window before the listing and for a symbol it does not know;
/// the whole history tells them apart.
#[tokio::test]
async fn stooq_s_no_data_before_the_listing_is_an_empty_window_naming_the_first_day() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param_is_missing("d1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("stooq_daily.csv"), "text/csv"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("No data", "text/plain"))
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Stooq,
        &server,
        clock_at("2025-06-02T12:00:00Z"),
    );
    let answer = fetch(
        source.as_ref(),
        "WIG",
        range(date(2019, 1, 1), date(2019, 12, 31)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(answer.bars.is_empty());
    assert_eq!(answer.first_trade, Some(date(2020, 11, 4)));

    let unknown = answering(200, b"No data".to_vec()).await;
    let source = source_for(
        ProviderKind::Stooq,
        &unknown,
        clock_at("2025-06-02T12:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "NOSUCH",
        range(date(2019, 1, 1), date(2019, 12, 31)),
    )
    .await;
    assert!(
        matches!(&error, Err(SourceError::NotFound { .. })),
        "{error:?}"
    );
}

/// Polygon answers `"adjusted": true` with split-adjusted prices: stored as raw they would be
/// wrong for good, so such an answer (real recordings) to our `adjusted=false` request is refused.
#[tokio::test]
async fn polygon_split_adjusted_answers_to_a_raw_request_are_refused() {
    for name in [
        "polygon_aggs_AAPL_2023-01-01_2023-01-10_adjusted_asc.json",
        "polygon_aggs_GME_2021-12-01_2021-12-02_adjusted_desc.json",
    ] {
        let error = outcome(ProviderKind::Polygon, 200, recorded(name), "AAPL").await;
        assert!(
            matches!(&error, Err(SourceError::Decode { message, .. }) if message.contains("split-adjusted")),
            "{name}: {error:?}"
        );
    }
}
