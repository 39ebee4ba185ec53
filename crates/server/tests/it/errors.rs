//! Every error path answers JSON `{error: {code, message, field}}` with the right status and
//! names the field at fault.

use serde_json::json;

use crate::harness::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bar_queries_are_400_naming_the_field() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let cases = [
        ("/api/bars/AAPL?start=2020-13-01", "start"),
        ("/api/bars/AAPL?start=yesterday", "start"),
        ("/api/bars/AAPL?end=2020-02-30", "end"),
        ("/api/bars/AAPL?start=1850-01-01", "start"),
        ("/api/bars/AAPL?start=2021-01-01&end=2020-01-01", "start"),
        ("/api/bars/A%20B", "symbol"),
        ("/api/bars/AAPL%3BDROP", "symbol"),
        ("/api/bars/ABCDEFGHIJKLMNOPQRSTU", "symbol"),
        ("/api/bars/AAPL?adjust=dividends", "adjust"),
        ("/api/bars/AAPL?format=xml", "format"),
        ("/api/bars/AAPL?offline=maybe", "offline"),
        ("/api/bars/AAPL?closed_only=2", "closed_only"),
        ("/api/cache/coverage/..%2Fetc", "symbol"),
    ];
    for (path, field) in cases {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        reply.expect_error(400, "invalid_input", Some(field));
    }
    // An unknown query parameter is refused rather than ignored (a typo would go unnoticed).
    app.get("/api/bars/AAPL?adjustment=all")
        .await
        .expect_error(400, "invalid_input", None);
    assert_eq!(app.upstream.count(), 0, "bad input never reaches upstream");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_symbols_are_404() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let reply = app
        .get("/api/bars/ZZTOP?start=2020-01-01&end=2020-12-31")
        .await;
    reply.expect_error(404, "unknown_symbol", Some("symbol"));
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("ZZTOP"))
    );
    app.post_json(
        "/api/backtest",
        &json!({"symbol": "ZZTOP", "strategy": "buy-and-hold", "start": "2020-01-01", "end": "2020-12-31"}),
    )
    .await
    .expect_error(404, "unknown_symbol", Some("symbol"));
    app.get("/api/no/such/endpoint")
        .await
        .expect_error(404, "not_found", None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_backtests_are_400_naming_the_field() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let base = json!({"symbol": "AAPL", "strategy": "sma-cross", "params": {"fast": 10, "slow": 30}, "start": "2020-01-01", "end": "2020-12-31"});
    let with = |changes: serde_json::Value| {
        let mut body = base.clone();
        if let (Some(body), Some(changes)) = (body.as_object_mut(), changes.as_object()) {
            for (key, value) in changes {
                body.insert(key.clone(), value.clone());
            }
        }
        body
    };
    let cases = [
        (with(json!({"strategy": "sma"})), "strategy"),
        (
            with(json!({"params": {"fast": 10, "slow": 30, "signal": 9}})),
            "params.signal",
        ),
        (
            with(json!({"params": {"fast": 0, "slow": 30}})),
            "params.fast",
        ),
        (
            with(json!({"params": {"fast": "ten", "slow": 30}})),
            "params.fast",
        ),
        // slow takes its default, 200, which fast 300 is not below.
        (with(json!({"params": {"fast": 300}})), "params.fast"),
        (
            with(json!({"params": {"fast": 50, "slow": 30}})),
            "params.fast",
        ),
        (with(json!({"fees": 1.5})), "fees"),
        (with(json!({"initial_cash": -1.0})), "initial_cash"),
        (with(json!({"start": "2020-1-1"})), "start"),
        (with(json!({"start": "2021-01-01"})), "start"),
        (with(json!({"symbol": "a/b"})), "symbol"),
    ];
    for (body, field) in cases {
        let reply = app.post_json("/api/backtest", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        reply.expect_error(400, "invalid_input", Some(field));
    }
    // Wrong shapes and broken JSON are bad input too, and never a 5xx.
    app.post_json(
        "/api/backtest",
        &json!({"symbol": 5, "strategy": "sma-cross"}),
    )
    .await
    .expect_error(400, "invalid_input", None);
    app.post_json("/api/backtest", &with(json!({"parms": {}})))
        .await
        .expect_error(400, "invalid_input", None);
    let broken = app
        .send(
            app.client
                .post(app.url("/api/backtest"))
                .header("content-type", "application/json")
                .body("{\"symbol\": "),
        )
        .await;
    broken.expect_error(400, "invalid_input", None);
    assert_eq!(app.upstream.count(), 0, "bad input never reaches upstream");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_are_refused_before_any_job_starts() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let cases = [
        // 999 × 998 windows: above the server's 200,000 cap.
        (
            json!({"symbol": "AAPL", "ranges": {"fast": "2..1000", "slow": "3..1000"}}),
            "ranges",
        ),
        (
            json!({"symbol": "AAPL", "strategy": "rsi", "ranges": {"period": "2..100", "lower": "1..49", "upper": "51..99"}}),
            "ranges",
        ),
        (
            json!({"symbol": "AAPL", "ranges": {"fast": "10..5"}}),
            "ranges.fast",
        ),
        (
            json!({"symbol": "AAPL", "ranges": {"fast": "50..60", "slow": "20..40"}}),
            "ranges",
        ),
        (
            json!({"symbol": "AAPL", "ranges": {"period": "5..10"}}),
            "ranges.period",
        ),
        // upper searches its default 60..80:5, never above lower 85..90.
        (
            json!({"symbol": "AAPL", "strategy": "rsi", "ranges": {"lower": "85..90"}}),
            "ranges",
        ),
        (json!({"symbol": "AAPL", "strategy": "nope"}), "strategy"),
        (json!({"symbol": "AAPL", "metric": "profit"}), "metric"),
        (json!({"symbol": "AAPL", "top": 0}), "top"),
        (
            json!({"symbol": "AAPL", "train_until": "1980-01-01", "start": "2020-01-01"}),
            "train_until",
        ),
        (json!({"symbol": "AAPL", "end": "2020-02-31"}), "end"),
    ];
    for (body, field) in cases {
        let reply = app.post_json("/api/optimize", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        reply.expect_error(400, "invalid_input", Some(field));
    }
    let cases = [
        (json!({"symbols": []}), "symbols"),
        (json!({"symbols": ["AAPL", "no good"]}), "symbols[1]"),
        (json!({"symbols": ["AAPL"], "start": "2020-02-30"}), "start"),
        (
            json!({"symbols": ["AAPL"], "start": "2021-01-01", "end": "2020-01-01"}),
            "start",
        ),
    ];
    for (body, field) in cases {
        app.post_json("/api/cache/warm", &body).await.expect_error(
            400,
            "invalid_input",
            Some(field),
        );
    }
    assert_eq!(app.upstream.count(), 0, "bad input never reaches upstream");
    app.get("/api/jobs/1").await.expect(404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_413() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let symbols: Vec<String> = (0..20_000).map(|i| format!("S{i}")).collect();
    let reply = app
        .post_json("/api/cache/warm", &json!({"symbols": symbols}))
        .await;
    reply.expect_error(413, "payload_too_large", None);
    let padding = "x".repeat(70 * 1024);
    app.post_json(
        "/api/backtest",
        &json!({"symbol": "AAPL", "strategy": padding}),
    )
    .await
    .expect_error(413, "payload_too_large", None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_everything_needs_all_true() {
    let app = TestApp::start(Backend::sqlite().await).await;
    app.get("/api/bars/AAPL?start=2020-01-01&end=2020-01-31")
        .await
        .expect(200);
    app.delete("/api/cache")
        .await
        .expect_error(400, "invalid_input", Some("symbol"));
    app.delete("/api/cache?symbol=AAPL&before=2020-13-01")
        .await
        .expect_error(400, "invalid_input", Some("before"));
    let cleared = app.delete("/api/cache?all=true").await;
    cleared.expect(200);
    assert_eq!(cleared.json()["bars_deleted"], 21);
    app.stop().await;
}
