//! Alpha Vantage: string values newest first, compact or full, live days and HTTP-200 notices.

use std::time::Duration;

use marketcache_domain::SourceError;
use marketcache_upstream::ProviderKind;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{FAKE_KEY, clock_at, date, fetch, fixture, query_of, range, source_for};

async fn serve(body: impl Into<Vec<u8>>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.into(), "application/json"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn string_values_newest_first_become_ascending_bars_within_the_range() {
    let server = serve(fixture("alphavantage_daily.json")).await;
    let source = source_for(
        ProviderKind::AlphaVantage,
        &server,
        clock_at("2024-01-01T12:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "IBM",
        range(date(2020, 8, 28), date(2020, 8, 31)),
    )
    .await
    .expect("success");
    let rows: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.open, bar.volume))
        .collect();
    assert_eq!(
        rows,
        vec![
            (date(2020, 8, 28), 124.6, 3_051_536),
            (date(2020, 8, 31), 125.25, 4_827_879)
        ]
    );
    assert!(
        fetched.provisional.is_empty(),
        "a date-only Last Refreshed is final"
    );
    let query = query_of(&server, 0).await;
    assert_eq!(query["function"], "TIME_SERIES_DAILY");
    assert_eq!(query["symbol"], "IBM");
    assert_eq!(
        query["outputsize"], "full",
        "2020 is beyond the latest 100 days of 2024"
    );
    assert_eq!(query["apikey"], FAKE_KEY);
}

#[tokio::test]
async fn a_recent_range_asks_for_the_compact_series() {
    let server = serve(fixture("alphavantage_daily.json")).await;
    let source = source_for(
        ProviderKind::AlphaVantage,
        &server,
        clock_at("2020-09-01T12:00:00Z"),
    );
    fetch(
        source.as_ref(),
        "IBM",
        range(date(2020, 8, 1), date(2020, 8, 31)),
    )
    .await
    .expect("success");
    assert_eq!(query_of(&server, 0).await["outputsize"], "compact");
}

#[tokio::test]
async fn a_live_last_refreshed_marks_that_day_provisional() {
    let server = serve(fixture("alphavantage_daily_adjusted_live.json")).await;
    let source = source_for(
        ProviderKind::AlphaVantage,
        &server,
        clock_at("2019-08-26T19:30:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "MSFT",
        range(date(2019, 8, 1), date(2019, 8, 31)),
    )
    .await
    .expect("success");
    assert_eq!(fetched.bars.len(), 3);
    // The adjusted series names volume "6. volume"; prices stay the raw columns.
    assert_eq!(fetched.bars[2].volume, 13_375_355);
    assert_eq!(fetched.bars[1].close, 133.39);
    assert_eq!(fetched.provisional, vec![date(2019, 8, 26)]);
}

/// What an error must look like.
type Expectation = fn(&SourceError) -> bool;

#[tokio::test]
async fn every_http_200_notice_is_classified_and_none_is_data() {
    let cases: [(&str, Expectation); 8] = [
        (
            r#"{"Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for TIME_SERIES_DAILY."}"#,
            |e| matches!(e, SourceError::NotFound { .. }),
        ),
        (
            r#"{"Error Message": "the parameter apikey is invalid or missing. Please claim your free API key on (https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."}"#,
            |e| matches!(e, SourceError::Unauthorized { message, .. } if message.contains("ALPHAVANTAGE_API_KEY")),
        ),
        (
            r#"{"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."}"#,
            |e| {
                matches!(
                    e,
                    SourceError::RateLimited {
                        retry_after: None,
                        ..
                    }
                )
            },
        ),
        (
            r#"{"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency."}"#,
            |e| matches!(e, SourceError::RateLimited { retry_after: Some(wait), .. } if *wait == Duration::from_secs(60)),
        ),
        (
            r#"{"Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium endpoints"}"#,
            |e| matches!(e, SourceError::Unauthorized { message, .. } if message.contains("premium endpoint")),
        ),
        (
            r#"{"Information": "Thank you for using Alpha Vantage! The outputsize=full parameter value is a premium feature for the TIME_SERIES_DAILY endpoint. You may subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium features"}"#,
            |e| matches!(e, SourceError::Unauthorized { message, .. } if message.contains("premium feature")),
        ),
        (
            r#"{"Error Message": "This API function (TIME_SERIES_DAYLY) does not exist."}"#,
            |e| matches!(e, SourceError::Rejected { message, .. } if message.contains("does not exist")),
        ),
        (
            r#"{"Information": "The **demo** API key is for demo purposes only. Please claim your free API key at (https://www.alphavantage.co/support/#api-key) to explore our full API offerings."}"#,
            |e| matches!(e, SourceError::Unauthorized { .. }),
        ),
    ];
    for (body, expected) in cases {
        let server = serve(body).await;
        let source = source_for(
            ProviderKind::AlphaVantage,
            &server,
            clock_at("2024-01-01T12:00:00Z"),
        );
        let error = fetch(
            source.as_ref(),
            "IBM",
            range(date(2023, 12, 1), date(2023, 12, 29)),
        )
        .await
        .expect_err("a notice is no data");
        assert!(expected(&error), "{body} gave {error:?}");
    }
}
