//! Polygon aggregates: pagination through `next_url`, New York dates, empty answers, errors.

use marketcache_domain::SourceError;
use marketcache_upstream::ProviderKind;
use wiremock::matchers::{method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    FAKE_KEY, clock_at, date, fetch, fixture, header_of, query_of, range, request_count, source_for,
};

fn json(status: u16, body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into(), "application/json")
}

async fn serve(status: u16, body: impl Into<Vec<u8>>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v2/aggs/ticker/"))
        .respond_with(json(status, body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn pages_are_followed_through_next_url_on_the_configured_host_with_the_bearer_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(
            "/v2/aggs/ticker/AAPL/range/1/day/2020-01-01/2020-01-10",
        ))
        .and(query_param("adjusted", "false"))
        .and(query_param("sort", "asc"))
        .and(query_param("limit", "50000"))
        .and(query_param_is_missing("cursor"))
        .respond_with(json(200, fixture("polygon_page1_raw.json")))
        .expect(1)
        .mount(&server)
        .await;
    // The fixture's next_url names api.polygon.io: it must be re-based onto the mock.
    Mock::given(method("GET"))
        .and(path(
            "/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10",
        ))
        .and(query_param("cursor", "bGltaXQ9MiZzb3J0PWFzYw"))
        .respond_with(json(200, fixture("polygon_page2.json")))
        .expect(1)
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2020, 1, 1), date(2020, 1, 10)),
    )
    .await
    .expect("success");

    let rows: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.volume))
        .collect();
    assert_eq!(
        rows,
        vec![
            (date(2020, 1, 2), 33_911_864),
            (date(2020, 1, 3), 36_633_878),
            // Exponent notation on page 2: 1.18387e+08 and 7.0790813e+07.
            (date(2020, 1, 6), 118_387_000),
            (date(2020, 1, 7), 70_790_813),
        ]
    );
    assert_eq!(request_count(&server).await, 2);
    let bearer = format!("Bearer {FAKE_KEY}");
    for index in 0..2 {
        assert_eq!(
            header_of(&server, index, "authorization").await.as_deref(),
            Some(bearer.as_str())
        );
        assert!(
            !query_of(&server, index)
                .await
                .values()
                .any(|value| value.contains(FAKE_KEY))
        );
    }
}

#[tokio::test]
async fn timestamps_at_new_york_midnight_map_to_their_date_in_winter_and_summer() {
    let server = serve(200, fixture("polygon_2005_raw.json")).await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2005, 4, 1), date(2005, 4, 4)),
    )
    .await
    .expect("success");
    // 1112331600000 is 05:00Z (EST), 1112587200000 is 04:00Z (EDT): both midnight in New York.
    let rows: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.open, bar.volume))
        .collect();
    assert_eq!(
        rows,
        vec![
            (date(2005, 4, 1), 42.0896, 22_951_657),
            (date(2005, 4, 4), 40.9892, 20_649_011)
        ]
    );
}

#[tokio::test]
async fn a_ticker_empty_even_over_the_last_weeks_is_unknown() {
    let server = serve(200, fixture("polygon_empty.json")).await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "XXXX",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("no results in the window nor in the last weeks");
    assert!(
        matches!(&error, SourceError::NotFound { symbol, .. } if symbol == "XXXX"),
        "{error:?}"
    );
    assert_eq!(
        request_count(&server).await,
        2,
        "the window, then the probe"
    );
}

#[tokio::test]
async fn an_empty_window_of_a_ticker_that_trades_is_an_empty_answer() {
    let server = MockServer::start().await;
    // The asked window (no `results` key) …
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/v2/aggs/ticker/AAPL/range/1/day/1995-01-02/1995-01-31$",
        ))
        .respond_with(json(200, fixture("polygon_empty.json")))
        .with_priority(1)
        .mount(&server)
        .await;
    // … and any other, such as the recent weeks, has bars.
    Mock::given(method("GET"))
        .and(path_regex(r"^/v2/aggs/ticker/AAPL/"))
        .respond_with(json(200, fixture("polygon_2005_raw.json")))
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(1995, 1, 2), date(1995, 1, 31)),
    )
    .await
    .expect("empty is fine for a listed ticker");
    assert!(fetched.bars.is_empty() && fetched.rejected.is_empty());
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn an_unknown_api_key_is_refused_access_and_not_retried() {
    let body = r#"{"status":"ERROR","request_id":"1c6b3f0a2d7e4b9c8a5f6e7d8c9b0a1f","error":"Unknown API Key"}"#;
    let server = serve(401, body).await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("bad key");
    assert!(
        matches!(&error, SourceError::Unauthorized { message, .. }
            if message.contains("Unknown API Key") && message.contains("POLYGON_API_KEY")),
        "{error:?}"
    );
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_timeframe_outside_the_plan_is_refused_access() {
    let body = r#"{"status":"NOT_AUTHORIZED","request_id":"69ee041d94e67ebaffc03ac5c64cfcb8","message":"Your plan doesn't include this data timeframe. Please upgrade your plan at https://polygon.io/pricing"}"#;
    let server = serve(403, body).await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2000, 1, 1), date(2000, 1, 31)),
    )
    .await
    .expect_err("outside the plan");
    assert!(
        matches!(&error, SourceError::Unauthorized { message, .. } if message.contains("timeframe")),
        "{error:?}"
    );
}

#[tokio::test]
async fn not_authorized_in_a_200_body_is_not_data() {
    let body = r#"{"status":"NOT_AUTHORIZED","request_id":"69ee041d94e67ebaffc03ac5c64cfcb8","message":"You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"}"#;
    let server = serve(200, body).await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("not entitled");
    assert!(
        matches!(error, SourceError::Unauthorized { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_429_json_without_retry_after_is_retried_then_rate_limited() {
    let body = r#"{"status":"ERROR","request_id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","error":"You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"}"#;
    let server = serve(429, body).await;
    let source = source_for(
        ProviderKind::Polygon,
        &server,
        clock_at("2025-01-01T00:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("throttled");
    assert!(
        matches!(
            error,
            SourceError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(request_count(&server).await, 3);
}
