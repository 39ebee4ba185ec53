//! Behaviour every provider shares through the HTTP layer, checked against each of them: 429
//! with `Retry-After`, 5xx, time-outs, truncated bodies and HTML pages sent with status 200.

use std::sync::Arc;
use std::time::{Duration, Instant};

use marketcache_domain::{Clock, DateRange, PriceSource, SourceError};
use marketcache_upstream::{HttpPolicy, ProviderKind, build_from};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{clock_at, date, fetch, fixture, range, request_count, settings, source_for};

/// A source whose attempts time out after 150 ms, so time-out tests take a fraction of a second.
fn impatient_source(case: &Case, server: &MockServer) -> Arc<dyn PriceSource> {
    let policy = HttpPolicy {
        request_timeout: Duration::from_millis(150),
        ..HttpPolicy::for_tests()
    };
    build_from(
        settings(case.kind, &server.uri()).with_policy(policy),
        case.clock.clone(),
    )
    .expect("source builds")
}

/// One provider's success answer and what it must yield.
pub struct Case {
    pub kind: ProviderKind,
    pub path: &'static str,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub symbol: &'static str,
    pub range: DateRange,
    pub clock: Arc<dyn Clock>,
    /// Bars the success answer yields within `range`.
    pub bars: usize,
    /// A body cut short or otherwise broken.
    pub malformed: Vec<u8>,
}

impl Case {
    fn success(&self) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(self.body.clone(), self.content_type)
    }

    fn mock(&self) -> wiremock::MockBuilder {
        Mock::given(method("GET")).and(path_regex(self.path))
    }
}

/// The first half of `body`: a JSON answer cut off mid-stream.
fn truncated(body: &[u8]) -> Vec<u8> {
    body[..body.len() / 2].to_vec()
}

pub fn yahoo() -> Case {
    let body = fixture("yahoo_aapl_split.json");
    Case {
        kind: ProviderKind::Yahoo,
        path: r"^/v8/finance/chart/[^/]+$",
        malformed: truncated(&body),
        body,
        content_type: "application/json;charset=utf-8",
        symbol: "AAPL",
        range: range(date(2020, 8, 1), date(2020, 9, 30)),
        clock: clock_at("2025-02-20T12:00:00Z"),
        bars: 6,
    }
}

pub fn stooq() -> Case {
    Case {
        kind: ProviderKind::Stooq,
        path: r"^/q/d/l/$",
        body: fixture("stooq_daily.csv"),
        content_type: "text/csv",
        symbol: "AAPL",
        range: range(date(2020, 11, 1), date(2020, 11, 30)),
        clock: clock_at("2020-12-01T12:00:00Z"),
        bars: 3,
        // The header cut short: no row can be trusted.
        malformed: b"Date,Op".to_vec(),
    }
}

pub fn polygon() -> Case {
    let body = fixture("polygon_2005_raw.json");
    Case {
        kind: ProviderKind::Polygon,
        path: r"^/v2/aggs/ticker/[^/]+/range/1/day/[^/]+/[^/]+$",
        malformed: truncated(&body),
        body,
        content_type: "application/json",
        symbol: "AAPL",
        range: range(date(2005, 4, 1), date(2005, 4, 4)),
        clock: clock_at("2025-01-01T12:00:00Z"),
        bars: 2,
    }
}

pub fn alpaca() -> Case {
    let body = fixture("alpaca_page2.json");
    Case {
        kind: ProviderKind::Alpaca,
        path: r"^/v2/stocks/[^/]+/bars$",
        malformed: truncated(&body),
        body,
        content_type: "application/json",
        symbol: "AAPL",
        range: range(date(2021, 10, 13), date(2021, 10, 15)),
        clock: clock_at("2025-01-01T12:00:00Z"),
        bars: 1,
    }
}

pub fn tiingo() -> Case {
    let body = fixture("tiingo_prices.json");
    Case {
        kind: ProviderKind::Tiingo,
        path: r"^/tiingo/daily/[^/]+/prices$",
        malformed: truncated(&body),
        body,
        content_type: "application/json",
        symbol: "GOOGL",
        range: range(date(2015, 1, 1), date(2015, 1, 31)),
        clock: clock_at("2025-01-01T12:00:00Z"),
        bars: 2,
    }
}

pub fn alphavantage() -> Case {
    let body = fixture("alphavantage_daily.json");
    Case {
        kind: ProviderKind::AlphaVantage,
        path: r"^/query$",
        malformed: truncated(&body),
        body,
        content_type: "application/json",
        symbol: "IBM",
        range: range(date(2020, 8, 1), date(2020, 8, 31)),
        clock: clock_at("2020-09-01T12:00:00Z"),
        bars: 3,
    }
}

pub async fn the_success_answer_yields_its_bars(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(case.success())
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let fetched = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect("success");
    assert_eq!(fetched.bars.len(), case.bars);
    assert!(fetched.rejected.is_empty(), "{:?}", fetched.rejected);
    assert_eq!(request_count(&server).await, 1);
}

pub async fn a_429_with_retry_after_is_waited_out_then_retried(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("Too Many Requests"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    case.mock()
        .respond_with(case.success())
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let started = Instant::now();
    let fetched = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect("the retry succeeds");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(fetched.bars.len(), case.bars);
    assert_eq!(request_count(&server).await, 2);
}

pub async fn a_429_outlasting_the_budget_is_rate_limited_with_its_retry_after(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "120")
                .set_body_string("Too Many Requests"),
        )
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let error = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect_err("throttled");
    assert!(
        matches!(
            error,
            SourceError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(120)
        ),
        "{error:?}"
    );
    // Waiting two minutes does not fit the budget, so nothing was retried.
    assert_eq!(request_count(&server).await, 1);
}

pub async fn a_500_is_retried_then_succeeds(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(ResponseTemplate::new(500).set_body_string("Internal Server Error"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    case.mock()
        .respond_with(case.success())
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let fetched = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect("the retry succeeds");
    assert_eq!(fetched.bars.len(), case.bars);
    assert_eq!(request_count(&server).await, 2);
}

pub async fn a_persistent_503_gives_up_after_the_attempt_limit(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let error = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect_err("the server stays down");
    assert!(matches!(error, SourceError::Transport { .. }), "{error:?}");
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(
        request_count(&server).await,
        3,
        "HttpPolicy::for_tests allows 3 attempts"
    );
}

pub async fn a_slow_answer_times_out_and_the_retry_succeeds(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(case.success().set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    case.mock()
        .respond_with(case.success())
        .mount(&server)
        .await;
    let source = impatient_source(&case, &server);
    let started = Instant::now();
    let fetched = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect("the retry succeeds");
    assert_eq!(fetched.bars.len(), case.bars);
    assert_eq!(request_count(&server).await, 2);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the slow answer was awaited"
    );
}

pub async fn an_upstream_that_never_answers_in_time_is_a_transport_error(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(case.success().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let source = impatient_source(&case, &server);
    let error = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect_err("every attempt times out");
    assert!(matches!(error, SourceError::Transport { .. }), "{error:?}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(request_count(&server).await, 3);
}

pub async fn a_truncated_body_is_a_decode_error(case: Case) {
    let server = MockServer::start().await;
    case.mock()
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(case.malformed.clone(), case.content_type),
        )
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let error = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect_err("a broken body is no data");
    assert!(matches!(error, SourceError::Decode { .. }), "{error:?}");
    assert_eq!(
        request_count(&server).await,
        1,
        "decode errors are not retried"
    );
}

pub async fn an_html_page_with_status_200_is_an_error_not_data(case: Case) {
    let server = MockServer::start().await;
    let page = "<!DOCTYPE html>\n<html><head><title>Service</title></head>\
                <body><h1>Sorry</h1><p>Something went wrong.</p></body></html>";
    case.mock()
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html"))
        .mount(&server)
        .await;
    let source = source_for(case.kind, &server, case.clock.clone());
    let error = fetch(source.as_ref(), case.symbol, case.range)
        .await
        .expect_err("an HTML page is no data");
    assert!(matches!(error, SourceError::Transport { .. }), "{error:?}");
    assert!(error.to_string().contains("HTML"), "{error}");
}

/// Stamps out the shared behaviour tests for one provider's case.
macro_rules! shared_behaviour {
    ($provider:ident) => {
        mod $provider {
            use super::*;

            #[tokio::test]
            async fn the_success_answer_yields_its_bars() {
                super::the_success_answer_yields_its_bars($provider()).await;
            }

            #[tokio::test]
            async fn a_429_with_retry_after_is_waited_out_then_retried() {
                super::a_429_with_retry_after_is_waited_out_then_retried($provider()).await;
            }

            #[tokio::test]
            async fn a_429_outlasting_the_budget_is_rate_limited_with_its_retry_after() {
                let case = $provider();
                super::a_429_outlasting_the_budget_is_rate_limited_with_its_retry_after(case).await;
            }

            #[tokio::test]
            async fn a_500_is_retried_then_succeeds() {
                super::a_500_is_retried_then_succeeds($provider()).await;
            }

            #[tokio::test]
            async fn a_persistent_503_gives_up_after_the_attempt_limit() {
                super::a_persistent_503_gives_up_after_the_attempt_limit($provider()).await;
            }

            #[tokio::test]
            async fn a_slow_answer_times_out_and_the_retry_succeeds() {
                super::a_slow_answer_times_out_and_the_retry_succeeds($provider()).await;
            }

            #[tokio::test]
            async fn an_upstream_that_never_answers_in_time_is_a_transport_error() {
                super::an_upstream_that_never_answers_in_time_is_a_transport_error($provider())
                    .await;
            }

            #[tokio::test]
            async fn a_truncated_body_is_a_decode_error() {
                super::a_truncated_body_is_a_decode_error($provider()).await;
            }

            #[tokio::test]
            async fn an_html_page_with_status_200_is_an_error_not_data() {
                super::an_html_page_with_status_200_is_an_error_not_data($provider()).await;
            }
        }
    };
}

shared_behaviour!(yahoo);
shared_behaviour!(stooq);
shared_behaviour!(polygon);
shared_behaviour!(alpaca);
shared_behaviour!(tiingo);
shared_behaviour!(alphavantage);
