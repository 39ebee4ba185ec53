//! Tiingo prices: raw columns, split and dividend rows, empty answers and quota errors.

use marketcache_domain::{CorporateAction, CorporateActionKind, SourceError};
use marketcache_upstream::ProviderKind;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    FAKE_KEY, clock_at, date, fetch, fixture, header_of, query_of, range, request_count, source_for,
};

async fn serve(status: u16, body: impl Into<Vec<u8>>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body.into(), "application/json"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn raw_columns_become_bars_on_their_utc_date_with_the_token_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/tiingo/daily/googl/prices"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("tiingo_prices.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Tiingo,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "GOOGL",
        range(date(2015, 1, 1), date(2015, 1, 31)),
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
            (date(2015, 1, 2), 529.55, 1_327_870),
            (date(2015, 1, 5), 519.46, 2_059_119)
        ]
    );
    assert!(
        fetched.actions.is_empty(),
        "divCash 0 and splitFactor 1 are no actions"
    );
    let expected_header = format!("Token {FAKE_KEY}");
    assert_eq!(
        header_of(&server, 0, "authorization").await.as_deref(),
        Some(expected_header.as_str())
    );
    let query = query_of(&server, 0).await;
    assert_eq!(query["startDate"], "2015-01-01");
    assert_eq!(query["endDate"], "2015-01-31");
}

#[tokio::test]
async fn split_factor_and_dividend_cash_become_actions_and_prices_stay_raw() {
    let server = serve(200, fixture("tiingo_split_dividend.json")).await;
    let source = source_for(
        ProviderKind::Tiingo,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2020, 8, 1), date(2020, 8, 31)),
    )
    .await
    .expect("success");
    let closes: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.close))
        .collect();
    assert_eq!(
        closes,
        vec![
            (date(2020, 8, 7), 444.45),
            (date(2020, 8, 28), 499.23),
            (date(2020, 8, 31), 129.04)
        ]
    );
    assert_eq!(
        fetched.actions,
        vec![
            CorporateAction {
                ex_date: date(2020, 8, 7),
                kind: CorporateActionKind::Dividend { cash: 0.82 }
            },
            CorporateAction {
                ex_date: date(2020, 8, 31),
                kind: CorporateActionKind::Split { ratio: 4.0 }
            },
        ]
    );
}

#[tokio::test]
async fn an_empty_array_is_an_empty_answer() {
    let server = serve(200, "[]").await;
    let source = source_for(
        ProviderKind::Tiingo,
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
async fn a_404_detail_is_not_found() {
    let server = serve(404, r#"{"detail":"Error: Ticker 'ZZZZ' not found"}"#).await;
    let source = source_for(
        ProviderKind::Tiingo,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "ZZZZ",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("unknown");
    assert!(matches!(error, SourceError::NotFound { .. }), "{error:?}");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn the_hourly_allocation_429_is_rate_limited_without_retrying() {
    let body = r#"{"detail":"Error: You have run over your hourly request allocation. Please upgrade at https://api.tiingo.com/pricing to have your limits increased."}"#;
    let server = serve(429, body).await;
    let source = source_for(
        ProviderKind::Tiingo,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("quota");
    assert!(
        matches!(error, SourceError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(
        request_count(&server).await,
        1,
        "an hourly quota is not retried at once"
    );
}
