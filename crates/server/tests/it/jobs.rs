//! Background jobs: warm and optimize to the end, progress as server-sent events, unknown
//! jobs, and cancellation at shutdown.

use std::time::Duration;

use serde_json::{Value, json};

use marketcache_testkit::on_both_backends;

use crate::harness::{Backend, Options, TestApp};

/// The events of an SSE body: (event name, data as JSON).
fn parse_events(text: &str) -> Vec<(String, serde_json::Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_string());
                }
                if let Some(value) = line.strip_prefix("data:") {
                    data = serde_json::from_str(value.trim()).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

fn job_id(reply: &crate::harness::Reply) -> u64 {
    reply.expect(202);
    let id = reply.json()["job_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no job_id: {}", reply.text));
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/jobs/{id}").as_str())
    );
    id
}

async fn a_warm_job_succeeds_and_its_bars_are_then_cached(backend: Backend) {
    let app = TestApp::start(backend).await;
    let started = app
        .post_json(
            "/api/cache/warm",
            &json!({"symbols": ["AAPL", "msft", "AAPL"], "start": "2020-01-01", "end": "2020-12-31"}),
        )
        .await;
    let id = job_id(&started);
    let job = app.wait_for_job(id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "warm");
    assert_eq!(job["progress"], json!({"done": 2, "total": 2}));
    assert_eq!(job["error"], serde_json::Value::Null);
    let symbols = job["result"]["symbols"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let summary: Vec<(String, String, u64, u64, String, String)> = symbols
        .iter()
        .map(|entry| {
            (
                entry["symbol"].as_str().unwrap_or_default().to_string(),
                entry["status"].as_str().unwrap_or_default().to_string(),
                entry["bars"].as_u64().unwrap_or_default(),
                entry["upstream_requests"].as_u64().unwrap_or_default(),
                entry["first_date"].as_str().unwrap_or_default().to_string(),
                entry["last_date"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let year = |symbol: &str| {
        (
            symbol.to_string(),
            "ok".to_string(),
            253,
            3,
            "2020-01-02".to_string(),
            "2020-12-31".to_string(),
        )
    };
    assert_eq!(summary, vec![year("AAPL"), year("MSFT")]);
    assert_eq!(job["result"]["ok"], 2);
    assert_eq!(job["result"]["failed"], 0);

    let bars = app
        .get("/api/bars/MSFT?start=2020-01-01&end=2020-12-31")
        .await;
    bars.expect(200);
    assert_eq!(bars.json()["report"]["upstream_requests"], 0);
    assert_eq!(bars.json()["report"]["cached_bars"], 253);
    app.stop().await;
}

async fn an_optimize_job_ranks_the_grid(backend: Backend) {
    let app = TestApp::start(backend).await;
    let started = app
        .post_json(
            "/api/optimize",
            &json!({
                "symbol": "MSFT",
                "strategy": "sma-cross",
                "ranges": {"fast": "5..15:5", "slow": "20..40:10"},
                "metric": "total-return",
                "top": 3,
                "start": "2019-01-01",
                "end": "2020-12-31",
                "train_until": "2020-06-30",
            }),
        )
        .await;
    let id = job_id(&started);
    let job = app.wait_for_job(id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "optimize");
    assert_eq!(job["progress"], json!({"done": 9, "total": 9}));
    // The bars were fetched first (every planned request made), then the grid searched.
    assert_eq!(job["phase"], "searching", "{job}");
    let requests = job["result"]["data"]["upstream_requests"].clone();
    assert!(requests.as_u64().unwrap_or_default() > 0, "{job}");
    assert_eq!(
        job["requests"],
        json!({"done": requests, "total": requests})
    );
    let result = &job["result"];
    assert_eq!(result["strategy"], "sma-cross");
    assert_eq!(result["metric"], "total-return");
    assert_eq!(
        result["ranges"],
        json!({"fast": "5..15:5", "slow": "20..40:10"})
    );
    assert_eq!(result["combinations"], 9);
    assert_eq!(result["evaluated"], 9);
    assert_eq!(result["skipped"], 0);
    // 2019 and 2020 had 252 and 253 sessions: split at June 30 between ranking and testing.
    assert_eq!(result["fingerprint"]["bars"], 505);
    let ranked = result["bars"].as_u64().unwrap_or_default();
    assert!((252..505).contains(&ranked), "{result}");
    let top = result["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 3);
    let returns: Vec<f64> = top
        .iter()
        .filter_map(|entry| entry["metrics"]["total_return"].as_f64())
        .collect();
    assert!(
        returns.windows(2).all(|pair| pair[0] >= pair[1]),
        "{returns:?}"
    );
    for entry in &top {
        assert!(entry["parameters"]["fast"].as_u64().is_some(), "{entry}");
        assert!(entry["parameters"]["slow"].as_u64().is_some(), "{entry}");
        assert_eq!(
            entry["out_of_sample"]["bars"].as_u64(),
            Some(505 - ranked),
            "{entry}"
        );
        assert_eq!(
            entry["out_of_sample"]["first_date"], "2020-07-01",
            "{entry}"
        );
    }
    app.stop().await;
}

/// `min_trades` leaves the combinations that traded less out of the table and the heat map.
async fn an_optimize_job_ranks_only_combinations_with_enough_trades(backend: Backend) {
    let app = TestApp::start(backend).await;
    let search = |min_trades: u64| {
        json!({
            "symbol": "MSFT", "strategy": "sma-cross",
            "ranges": {"fast": "5..50:5", "slow": "60..200:20"},
            "top": 1000, "start": "2019-01-01", "end": "2020-12-31",
            "heatmap": true, "min_trades": min_trades,
        })
    };
    let all = app
        .wait_for_job(job_id(&app.post_json("/api/optimize", &search(0)).await))
        .await;
    let trades: Vec<u64> = all["result"]["top"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["metrics"]["trades"].as_u64())
        .collect();
    assert_eq!(trades.len(), 80, "{all}");
    let (fewest, most) = (trades.iter().min().copied(), trades.iter().max().copied());
    let (Some(fewest), Some(most)) = (fewest, most) else {
        panic!("{all}")
    };
    assert!(fewest < most, "every combination traded {fewest} times");
    let cut = (fewest + most).div_ceil(2);
    let kept = trades.iter().filter(|count| **count >= cut).count();
    let filtered = app
        .wait_for_job(job_id(&app.post_json("/api/optimize", &search(cut)).await))
        .await;
    let result = &filtered["result"];
    assert_eq!(result["min_trades"], cut);
    assert_eq!(
        result["evaluated"], 80,
        "every combination is still evaluated"
    );
    let top = result["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), kept, "{result}");
    assert!(
        top.iter()
            .all(|row| row["metrics"]["trades"].as_u64() >= Some(cut))
    );
    let cells = |job: &Value| -> usize {
        job["result"]["heatmap"]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .filter(|cell| !cell.is_null())
            .count()
    };
    assert!(
        cells(&filtered) < cells(&all),
        "the heat map kept the filtered cells"
    );
    let refused = app.post_json("/api/optimize", &search(100_001)).await;
    refused.expect_error(400, "invalid_input", Some("min_trades"));
    app.stop().await;
}

async fn a_first_warm_job_packs_a_sqlite_file_and_never_postgresql(backend: Backend) {
    let embedded = matches!(backend, Backend::Sqlite(_));
    let app = TestApp::start(backend).await;
    let warm = |symbols: serde_json::Value| {
        let app = &app;
        async move {
            let started = app
                .post_json(
                    "/api/cache/warm",
                    &json!({"symbols": symbols, "start": "1990-01-01", "end": "2025-12-31"}),
                )
                .await;
            let job = app.wait_for_job(job_id(&started)).await;
            assert_eq!(job["state"], "succeeded", "{job}");
            job["result"]["packed"].clone()
        }
    };
    let packed = warm(json!(["AAPL", "GOOGL", "AMD"])).await;
    if embedded {
        let (before, after) = (
            packed["bytes_before"].as_u64().unwrap_or_default(),
            packed["bytes_after"].as_u64().unwrap_or(u64::MAX),
        );
        assert!(after < before, "{packed}");
    } else {
        assert_eq!(packed, serde_json::Value::Null);
    }
    // The same again writes nothing: nothing to pack.
    assert_eq!(
        warm(json!(["AAPL", "GOOGL", "AMD"])).await,
        serde_json::Value::Null
    );
    let bars = app
        .get("/api/bars/AMD?start=1990-01-01&end=2025-12-31")
        .await;
    bars.expect(200);
    assert_eq!(bars.json()["report"]["cached_bars"], 9067);
    assert_eq!(bars.json()["report"]["upstream_requests"], 0);
    app.stop().await;
}

on_both_backends!(
    a_first_warm_job_packs_a_sqlite_file_and_never_postgresql,
    a_warm_job_succeeds_and_its_bars_are_then_cached,
    an_optimize_job_ranks_the_grid,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_trades_filters_the_ranking_and_the_heat_map() {
    an_optimize_job_ranks_only_combinations_with_enough_trades(Backend::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_events_stream_progress_then_a_final_event() {
    let options = Options {
        latency: Duration::from_millis(30),
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let started = app
        .post_json(
            "/api/cache/warm",
            &json!({"symbols": ["AAPL", "MSFT", "NVDA", "ZZNOPE"], "start": "2019-01-01", "end": "2020-12-31"}),
        )
        .await;
    let id = job_id(&started);
    let stream = app.get(&format!("/api/jobs/{id}/events")).await;
    stream.expect(200);
    assert!(
        stream
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/event-stream")),
        "{:?}",
        stream.headers
    );
    let events = parse_events(&stream.text);
    let (last_name, last) = events
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no events: {}", stream.text));
    assert_eq!(last_name, "done");
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|(name, _)| name == "progress"),
        "{events:?}"
    );
    assert!(events.len() >= 2, "at least one progress event: {events:?}");
    // One symbol is unknown upstream: the job fails, naming it, after warming the others.
    assert_eq!(last["state"], "failed", "{last}");
    assert_eq!(last["progress"], json!({"done": 4, "total": 4}));
    assert_eq!(last["error"]["code"], "symbols_failed");
    assert_eq!(last["result"]["ok"], 3);
    assert_eq!(last["result"]["symbols"][3]["status"], "failed");
    assert_eq!(
        last["result"]["symbols"][3]["error"]["code"],
        "unknown_symbol"
    );
    let dones: Vec<u64> = events
        .iter()
        .filter_map(|(_, job)| job["progress"]["done"].as_u64())
        .collect();
    assert!(dones.windows(2).all(|pair| pair[0] <= pair[1]), "{dones:?}");
    // A finished job's stream is its final event alone.
    let again = app.get(&format!("/api/jobs/{id}/events")).await;
    let events = parse_events(&again.text);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "done");
    app.stop().await;
}

/// A server whose upstream answers in 100 ms, warming AAPL and MSFT over 35 years: far longer
/// than any test, so only cancellation ends the job.
async fn start_slow_warm() -> (TestApp, u64) {
    let options = Options {
        latency: Duration::from_millis(100),
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let started = app
        .post_json(
            "/api/cache/warm",
            &json!({"symbols": ["AAPL", "MSFT"], "start": "1990-01-01", "end": "2025-12-31"}),
        )
        .await;
    let id = job_id(&started);
    (app, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_cancelled_on_request_and_a_finished_one_is_409() {
    let (app, id) = start_slow_warm().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelling = app
        .post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await;
    cancelling.expect(202);
    assert_eq!(cancelling.json()["state"], "running");
    let asked_at = std::time::Instant::now();
    let job = app.wait_for_job(id).await;
    assert!(
        asked_at.elapsed() < Duration::from_secs(5),
        "cancellation took {:?}",
        asked_at.elapsed()
    );
    assert_eq!(job["state"], "cancelled", "{job}");
    assert_eq!(job["progress"]["done"], 0, "{job}");
    // What the warm stored before it stopped is whole: every covered day it claims is served.
    let stats = app.get("/api/cache/stats").await.json();
    let stored = stats["symbols"]
        .as_array()
        .and_then(|symbols| symbols.first())
        .map(|aapl| aapl["bars"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    let requests_before = app.upstream.count();
    let offline = app
        .get("/api/bars/AAPL?start=1990-01-01&end=2025-12-31&offline=true")
        .await
        .json();
    assert_eq!(
        offline["bars"].as_array().map(Vec::len),
        Some(stored as usize)
    );
    assert_eq!(app.upstream.count(), requests_before);

    app.post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await
        .expect_error(409, "job_finished", None);
    app.post_json("/api/jobs/999/cancel", &json!({}))
        .await
        .expect_error(404, "not_found", None);
    app.post_json("/api/jobs/abc/cancel", &json!({}))
        .await
        .expect_error(404, "not_found", None);
    app.stop().await;
}

/// DELETE forgets a job: a running one is cancelled (its upstream requests stop), a finished
/// one is dropped, and either way its status is 404 from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_job_cancels_and_forgets_it() {
    let (app, id) = start_slow_warm().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deleted = app.delete(&format!("/api/jobs/{id}")).await;
    deleted.expect(204);
    assert_eq!(deleted.text, "");
    app.get(&format!("/api/jobs/{id}"))
        .await
        .expect_error(404, "not_found", None);
    // The warm stops: within a batch or two, no request is made any more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = app.upstream.count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.upstream.count(), settled, "the forgotten warm went on");
    app.delete(&format!("/api/jobs/{id}"))
        .await
        .expect_error(404, "not_found", None);

    let started = app
        .post_json(
            "/api/cache/warm",
            &json!({"symbols": ["IBM"], "start": "2020-01-01", "end": "2020-01-31"}),
        )
        .await;
    let finished = job_id(&started);
    assert_eq!(app.wait_for_job(finished).await["state"], "succeeded");
    app.delete(&format!("/api/jobs/{finished}"))
        .await
        .expect(204);
    app.get(&format!("/api/jobs/{finished}"))
        .await
        .expect_error(404, "not_found", None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_optimize_job_stops_its_ranking() {
    let app = TestApp::start(Backend::sqlite().await).await;
    // About 95,000 RSI combinations over 35 years: seconds of both cores, unless stopped.
    let started = app
        .post_json(
            "/api/optimize",
            &json!({
                "symbol": "AAPL",
                "strategy": "rsi",
                "ranges": {"period": "2..100", "lower": "10..40", "upper": "60..90"},
                "start": "1990-01-01",
                "end": "2025-12-31",
            }),
        )
        .await;
    let id = job_id(&started);
    let running = eventually_running(&app, id).await;
    assert!(
        running < 95_000,
        "the ranking finished before it could be cancelled"
    );
    app.post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await
        .expect(202);
    let job = app.wait_for_job(id).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    // The blocking ranking stops too: a small search right after runs at once, not queued
    // behind the rest of the cancelled grid.
    let asked = std::time::Instant::now();
    let small = app
        .post_json(
            "/api/optimize",
            &json!({"symbol": "AAPL", "ranges": {"fast": "5..10", "slow": "20..25"},
                "start": "2020-01-01", "end": "2020-12-31"}),
        )
        .await;
    let small = app.wait_for_job(job_id(&small)).await;
    assert_eq!(small["state"], "succeeded", "{small}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the next search waited {:?}",
        asked.elapsed()
    );
    app.stop().await;
}

/// Waits until job `id` has evaluated some combinations; returns how many.
async fn eventually_running(app: &TestApp, id: u64) -> u64 {
    for _ in 0..200 {
        let job = app.get(&format!("/api/jobs/{id}")).await.json();
        let done = job["progress"]["done"].as_u64().unwrap_or(0);
        if done > 0 {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never made progress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_jobs_are_404() {
    let app = TestApp::start(Backend::sqlite().await).await;
    for path in [
        "/api/jobs/999",
        "/api/jobs/not-a-number",
        "/api/jobs/999/events",
        "/api/jobs/-1/events",
    ] {
        app.get(path).await.expect_error(404, "not_found", None);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_running_job_and_ends_its_event_stream() {
    let (app, id) = start_slow_warm().await;
    let events = app
        .client
        .get(app.url(&format!("/api/jobs/{id}/events")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_at = std::time::Instant::now();
    let reading = tokio::spawn(async move { events.text().await });
    app.stop().await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        stopped_at.elapsed()
    );
    let text = tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .unwrap_or_else(|_| panic!("the event stream did not end"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let events = parse_events(&text);
    let (name, last) = events
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no events: {text}"));
    assert_eq!(name, "done");
    assert_eq!(last["state"], "cancelled", "{last}");
    assert_eq!(last["progress"]["done"], 0);
}
