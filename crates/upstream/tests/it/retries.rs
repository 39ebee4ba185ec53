//! The HTTP layer's bounds: client-side pacing, the total time budget, HTTP-date Retry-After.

use std::time::{Duration, Instant, SystemTime};

use marketcache_domain::SourceError;
use marketcache_upstream::{HttpPolicy, ProviderKind, RequestPace, build_from};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{clock_at, date, fetch, fixture, range, request_count, settings};

#[tokio::test]
async fn client_side_pacing_spaces_requests_instead_of_failing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("polygon_2005_raw.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let paced = settings(ProviderKind::Polygon, &server.uri())
        .with_pace(Some(RequestPace::every(Duration::from_millis(150))));
    let source = build_from(paced, clock_at("2025-01-01T00:00:00Z")).expect("builds");
    let started = Instant::now();
    for _ in 0..3 {
        fetch(
            source.as_ref(),
            "AAPL",
            range(date(2005, 4, 1), date(2005, 4, 4)),
        )
        .await
        .expect("paced, not refused");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn a_spent_daily_budget_refuses_requests_without_sending_them() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("polygon_2005_raw.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let budgeted = settings(ProviderKind::Polygon, &server.uri()).with_daily_budget(Some(2));
    let source = build_from(budgeted, clock_at("2025-01-01T00:00:00Z")).expect("builds");
    let week = range(date(2005, 4, 1), date(2005, 4, 4));
    for _ in 0..2 {
        fetch(source.as_ref(), "AAPL", week)
            .await
            .expect("within the budget");
    }
    let refused = fetch(source.as_ref(), "AAPL", week)
        .await
        .expect_err("the third request of the day");
    match refused {
        SourceError::RateLimited {
            retry_after: Some(wait),
            ..
        } => assert!(
            wait > Duration::from_secs(23 * 3600) && wait <= Duration::from_secs(24 * 3600),
            "{wait:?}"
        ),
        other => panic!("expected a rate limit with its wait, got {other:?}"),
    }
    assert_eq!(
        request_count(&server).await,
        2,
        "the refused request was not sent"
    );
    // The documented budgets are the defaults.
    let defaults = marketcache_upstream::ProviderSettings::new(ProviderKind::AlphaVantage);
    assert_eq!(defaults.daily_budget, Some(25));
}

#[tokio::test]
async fn the_total_time_budget_bounds_retries_before_the_attempt_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .mount(&server)
        .await;
    let policy = HttpPolicy {
        max_attempts: 50,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(100),
        max_total_time: Duration::from_millis(450),
        ..HttpPolicy::for_tests()
    };
    let source = build_from(
        settings(ProviderKind::Yahoo, &server.uri()).with_policy(policy),
        clock_at("2025-01-01T00:00:00Z"),
    )
    .expect("builds");
    let started = Instant::now();
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("stays down");
    assert!(matches!(error, SourceError::Transport { .. }), "{error:?}");
    // Delays of 100–200 ms each (jitter) fit at most four times into 450 ms.
    let attempts = request_count(&server).await;
    assert!((2..=5).contains(&attempts), "{attempts} attempts");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_http_date_beyond_the_budget_is_reported() {
    let server = MockServer::start().await;
    let in_an_hour = httpdate_in(Duration::from_secs(3_600));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", in_an_hour.as_str()))
        .mount(&server)
        .await;
    let source = build_from(
        settings(ProviderKind::Alpaca, &server.uri()),
        clock_at("2025-01-01T00:00:00Z"),
    )
    .expect("builds");
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("throttled");
    let SourceError::RateLimited {
        retry_after: Some(wait),
        ..
    } = error
    else {
        panic!("expected RateLimited with a delay, got {error:?}");
    };
    assert!(
        (Duration::from_secs(3_590)..=Duration::from_secs(3_600)).contains(&wait),
        "{wait:?}"
    );
    assert_eq!(request_count(&server).await, 1);
}

/// An HTTP-date `delay` from now, as servers write `Retry-After`.
fn httpdate_in(delay: Duration) -> String {
    let when = SystemTime::now() + delay;
    // Format by hand through chrono to avoid a dev-dependency on httpdate.
    let when: chrono::DateTime<chrono::Utc> = when.into();
    when.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
