//! Yahoo chart API: raw-price un-adjustment, dates per exchange, nulls, empty windows, errors.

use marketcache_domain::{CorporateAction, CorporateActionKind, SourceError};
use marketcache_upstream::ProviderKind;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    clock_at, date, fetch, fixture, header_of, instant, query_of, range, request_count, source_for,
};

async fn serve(body: Vec<u8>, status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v8/finance/chart/[^/]+$"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn split_adjusted_quotes_come_back_raw_with_the_split_and_dividend_as_actions() {
    let server = serve(fixture("yahoo_aapl_split.json"), 200).await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2020, 8, 1), date(2020, 9, 30)),
    )
    .await
    .expect("success");

    // meta.firstTradeDate 345479400 is AAPL's first session, 1980-12-12 (09:30 in New York).
    assert_eq!(fetched.first_trade, Some(date(1980, 12, 12)));
    let dates: Vec<_> = fetched.bars.iter().map(|bar| bar.date).collect();
    assert_eq!(
        dates,
        vec![
            date(2020, 8, 7),
            date(2020, 8, 27),
            date(2020, 8, 28),
            date(2020, 8, 31),
            date(2020, 9, 1),
            date(2020, 9, 2)
        ]
    );
    // Before the 4:1 ex-date (2020-08-31): prices x4, volume /4, back to what traded.
    let before = fetched.bars[2];
    assert_eq!(before.open, 126.0125 * 4.0);
    assert_eq!(before.high, 126.4425 * 4.0);
    assert_eq!(before.low, 124.5775 * 4.0);
    assert_eq!(before.close, 124.8075 * 4.0);
    assert_eq!(before.volume, 187_630_000 / 4);
    assert_eq!(fetched.bars[0].close, 111.1125 * 4.0);
    assert_eq!(fetched.bars[0].volume, 198_045_600 / 4);
    // From the ex-date on: untouched.
    let ex_day = fetched.bars[3];
    assert_eq!(ex_day.open, 127.580_001_831_054_69);
    assert_eq!(ex_day.close, 129.039_993_286_132_8);
    assert_eq!(ex_day.volume, 225_702_700);

    assert_eq!(
        fetched.actions,
        vec![
            CorporateAction {
                ex_date: date(2020, 8, 7),
                // Yahoo's 0.205 is split-adjusted: the cash paid per pre-split share was 0.82.
                kind: CorporateActionKind::Dividend { cash: 0.205 * 4.0 },
            },
            CorporateAction {
                ex_date: date(2020, 8, 31),
                kind: CorporateActionKind::Split { ratio: 4.0 },
            },
        ]
    );
    assert!(fetched.provisional.is_empty());
    assert!(fetched.rejected.is_empty());
}

#[tokio::test]
async fn requests_reach_now_and_bars_are_filtered_back_to_the_range() {
    let server = serve(fixture("yahoo_aapl_split.json"), 200).await;
    let now = "2025-02-20T12:00:00Z";
    let source = source_for(ProviderKind::Yahoo, &server, clock_at(now));
    let fetched = fetch(
        source.as_ref(),
        "aapl",
        range(date(2020, 8, 27), date(2020, 8, 28)),
    )
    .await
    .expect("success");

    // Only the two asked-for days, still un-adjusted by the split that came after them.
    let closes: Vec<_> = fetched
        .bars
        .iter()
        .map(|bar| (bar.date, bar.close))
        .collect();
    assert_eq!(
        closes,
        vec![
            (date(2020, 8, 27), 125.01 * 4.0),
            (date(2020, 8, 28), 124.8075 * 4.0)
        ]
    );
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), "/v8/finance/chart/AAPL");
    let query = query_of(&server, 0).await;
    assert_eq!(
        query["period1"], "1598400000",
        "a day before the range, 00:00 UTC"
    );
    assert_eq!(
        query["period2"],
        instant(now).timestamp().to_string(),
        "always through now"
    );
    assert_eq!(query["interval"], "1d");
    assert_eq!(query["events"], "div|split");
    let agent = header_of(&server, 0, "user-agent")
        .await
        .unwrap_or_default();
    assert!(
        agent.starts_with("Mozilla/5.0"),
        "browser-like agent, got {agent}"
    );
}

#[tokio::test]
async fn rows_with_nulls_are_dropped_and_reported() {
    let server = serve(fixture("yahoo_nulls.json"), 200).await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2022, 1, 1), date(2022, 1, 31)),
    )
    .await
    .expect("nulls are not an error");
    let dates: Vec<_> = fetched.bars.iter().map(|bar| bar.date).collect();
    assert_eq!(dates, vec![date(2022, 1, 3), date(2022, 1, 5)]);
    assert_eq!(fetched.bars[1].close, 174.92);
    assert_eq!(fetched.rejected.len(), 1);
    assert_eq!(fetched.rejected[0].date, Some(date(2022, 1, 4)));
    assert!(
        fetched.rejected[0].reason.contains("null"),
        "{:?}",
        fetched.rejected
    );
}

#[tokio::test]
async fn an_empty_window_is_an_empty_answer_not_an_error() {
    let server = serve(fixture("yahoo_empty.json"), 200).await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 6, 1), date(2024, 6, 2)),
    )
    .await
    .expect("an empty window is fine");
    assert!(fetched.bars.is_empty());
    assert!(fetched.rejected.is_empty());
    assert!(fetched.actions.is_empty());
}

#[tokio::test]
async fn an_unknown_symbol_is_not_found_with_status_404_or_200() {
    for status in [404, 200] {
        let server = serve(fixture("yahoo_not_found.json"), status).await;
        let source = source_for(
            ProviderKind::Yahoo,
            &server,
            clock_at("2025-02-20T12:00:00Z"),
        );
        let error = fetch(
            source.as_ref(),
            "ZZZZ",
            range(date(2024, 1, 1), date(2024, 1, 31)),
        )
        .await
        .expect_err("unknown symbol");
        assert!(
            matches!(&error, SourceError::NotFound { symbol, .. } if symbol == "ZZZZ"),
            "HTTP {status}: {error:?}"
        );
        assert_eq!(request_count(&server).await, 1, "a 404 is not retried");
    }
}

#[tokio::test]
async fn edge_too_many_requests_is_retried_then_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v8/finance/chart/AAPL"))
        .respond_with(
            ResponseTemplate::new(429).set_body_raw("Edge: Too Many Requests", "text/plain"),
        )
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
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
    assert_eq!(
        request_count(&server).await,
        3,
        "backoff retries up to the attempt limit"
    );
}

#[tokio::test]
async fn new_york_bars_map_to_their_session_date_and_the_live_bar_is_provisional() {
    let server = serve(fixture("yahoo_live_aapl.json"), 200).await;
    // 16:00:30 New York on 2025-10-29, half a minute after the close.
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-10-29T20:00:30Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2025, 10, 27), date(2025, 10, 29)),
    )
    .await
    .expect("success");
    let dates: Vec<_> = fetched.bars.iter().map(|bar| bar.date).collect();
    assert_eq!(
        dates,
        vec![date(2025, 10, 27), date(2025, 10, 28), date(2025, 10, 29)]
    );
    assert_eq!(fetched.bars[2].close, 269.700_012_207_031_25);
    assert_eq!(fetched.provisional, vec![date(2025, 10, 29)]);
}

#[tokio::test]
async fn xetra_bars_map_to_berlin_dates_across_the_dst_change_and_the_live_bar_is_provisional() {
    let server = serve(fixture("yahoo_xetra_gs2c.json"), 200).await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-10-29T17:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "GS2C.DE",
        range(date(2025, 10, 20), date(2025, 10, 31)),
    )
    .await
    .expect("success");
    // 07:00Z (09:00 CEST) on the 24th, then 08:00Z (09:00 CET) after the clocks went back.
    let dates: Vec<_> = fetched.bars.iter().map(|bar| bar.date).collect();
    assert_eq!(
        dates,
        vec![
            date(2025, 10, 24),
            date(2025, 10, 27),
            date(2025, 10, 28),
            date(2025, 10, 29)
        ]
    );
    assert_eq!(fetched.bars[0].volume, 1214);
    assert_eq!(fetched.provisional, vec![date(2025, 10, 29)]);
    // meta.firstTradeDate 1112598000 is 09:00 in Berlin on 2005-04-04.
    assert_eq!(fetched.first_trade, Some(date(2005, 4, 4)));
    // exchangeName GER in Europe/Berlin: a German market, weekdays, Berlin dates.
    let market = fetched.exchange.expect("Yahoo names the market");
    assert_eq!(market.time_zone.name(), "Europe/Berlin");
    assert_eq!(market.calendar, marketcache_domain::Calendar::Weekdays);
}

#[tokio::test]
async fn sydney_bars_stamped_on_the_previous_utc_day_map_to_the_local_date() {
    let server = serve(fixture("yahoo_asx_bhp.json"), 200).await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "BHP.AX",
        range(date(2024, 1, 2), date(2024, 1, 3)),
    )
    .await
    .expect("success");
    // 2024-01-01T23:00Z is 10:00 on 2 January in Sydney.
    let dates: Vec<_> = fetched.bars.iter().map(|bar| bar.date).collect();
    assert_eq!(dates, vec![date(2024, 1, 2), date(2024, 1, 3)]);
    let query = query_of(&server, 0).await;
    assert_eq!(
        query["period1"], "1704067200",
        "period1 starts a day early, at 2024-01-01"
    );
}

#[tokio::test]
async fn a_maintenance_page_is_a_transport_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<html><body><h1>Will be right back...</h1></body></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
    );
    let error = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2024, 1, 1), date(2024, 1, 31)),
    )
    .await
    .expect_err("maintenance");
    assert!(
        matches!(&error, SourceError::Transport { message, .. } if message.contains("maintenance")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_range_in_the_future_sends_no_request() {
    let server = serve(fixture("yahoo_aapl_split.json"), 200).await;
    let source = source_for(
        ProviderKind::Yahoo,
        &server,
        clock_at("2025-02-20T12:00:00Z"),
    );
    let fetched = fetch(
        source.as_ref(),
        "AAPL",
        range(date(2025, 3, 1), date(2025, 3, 31)),
    )
    .await
    .expect("nothing to fetch");
    assert!(fetched.bars.is_empty());
    assert_eq!(request_count(&server).await, 0);
}
