//! Every endpoint's success path on both backends, with the outcomes checked against the
//! synthetic upstream and snapshots of the stable JSON shapes.

use chrono::NaiveDate;
use marketcache_backtest::build_strategy;
use marketcache_domain::{Bar, DateRange, PriceSource, Symbol};
use serde_json::json;

use marketcache_testkit::on_both_backends;

use crate::harness::{Backend, TestApp};

const AAPL_2020: &str = "/api/bars/AAPL?start=2020-01-01&end=2020-12-31";

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The report of a bars answer, which leaves its timing to the `X-Elapsed-Ms` header so that
/// the same data is always the same bytes.
fn report_without_timing(body: &serde_json::Value) -> serde_json::Value {
    let report = body["report"].clone();
    assert!(report.get("elapsed_ms").is_none(), "{report}");
    report
}

/// What the synthetic upstream publishes for `symbol` over `start..=end`.
async fn truth(app: &TestApp, symbol: &str, start: &str, end: &str) -> Vec<Bar> {
    let symbol = Symbol::parse(symbol).unwrap_or_else(|e| panic!("{e}"));
    let range = DateRange::new(date(start), date(end)).unwrap_or_else(|e| panic!("{e}"));
    app.truth
        .fetch_daily_bars(&symbol, range)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn health_reports_ok_with_the_redacted_database(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app.get("/api/health").await;
    reply.expect(200);
    assert_eq!(
        reply.json(),
        json!({
            "status": "ok",
            "database": app.store.describe(),
            "version": env!("CARGO_PKG_VERSION"),
        })
    );
    app.stop().await;
}

async fn bars_are_fetched_once_then_served_from_the_cache(backend: Backend) {
    let app = TestApp::start(backend).await;
    let first = app.get(AAPL_2020).await;
    first.expect(200);
    let body = first.json();
    assert_eq!(body["symbol"], "AAPL");
    let bars = body["bars"].as_array().cloned().unwrap_or_default();
    // 2020 had 253 NYSE sessions.
    assert_eq!(bars.len(), 253);
    assert_eq!(bars[0]["date"], "2020-01-02");
    assert_eq!(bars[252]["date"], "2020-12-31");
    // 2020-01-02..2020-12-31 is 365 days: three requests of at most 182.
    assert_eq!(
        report_without_timing(&body),
        json!({
            "cached_bars": 0,
            "fetched_bars": 253,
            "upstream_requests": 3,
            "missing": [],
            "rejected_rows": 0,
            "provisional_bars": 0,
            "providers": ["synthetic"],
            "upstream_unavailable": null,
            "clipped_to": null,
            "basis": "raw",
        })
    );
    let expected = truth(&app, "AAPL", "2020-01-01", "2020-12-31").await;
    let served: Vec<(String, f64, u64)> = bars
        .iter()
        .map(|bar| {
            (
                bar["date"].as_str().unwrap_or_default().to_string(),
                bar["close"].as_f64().unwrap_or_default(),
                bar["volume"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let published: Vec<(String, f64, u64)> = expected
        .iter()
        .map(|bar| (bar.date.to_string(), bar.close, bar.volume))
        .collect();
    assert_eq!(served, published);

    let again = app.get(AAPL_2020).await;
    again.expect(200);
    assert_eq!(
        report_without_timing(&again.json()),
        json!({
            "cached_bars": 253,
            "fetched_bars": 0,
            "upstream_requests": 0,
            "missing": [],
            "rejected_rows": 0,
            "provisional_bars": 0,
            "providers": ["synthetic"],
            "upstream_unavailable": null,
            "clipped_to": null,
            "basis": "raw",
        })
    );
    assert_eq!(app.upstream.count(), 3);
    app.stop().await;
}

async fn bars_come_as_parquet_and_arrow_with_their_media_types_and_the_csv_s_values(
    backend: Backend,
) {
    let app = TestApp::start(backend).await;
    let csv = app.get(&format!("{AAPL_2020}&format=csv")).await;
    csv.expect(200);
    let closes: Vec<f64> = csv
        .text
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(4)?.parse().ok())
        .collect();
    assert_eq!(closes.len(), 253);
    for (format, media_type) in [
        ("parquet", "application/vnd.apache.parquet"),
        ("arrow", "application/vnd.apache.arrow.file"),
    ] {
        let reply = app.get(&format!("{AAPL_2020}&format={format}")).await;
        reply.expect(200);
        assert_eq!(reply.header("content-type"), Some(media_type));
        assert_eq!(reply.header("x-cached-bars"), Some("253"));
        let batches: Vec<arrow_array::RecordBatch> = if format == "parquet" {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                axum::body::Bytes::from(reply.bytes.clone()),
            )
            .and_then(|builder| builder.build())
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
        } else {
            arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(reply.bytes.clone()), None)
                .unwrap_or_else(|e| panic!("{e}"))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let served: Vec<f64> = batches
            .iter()
            .flat_map(|batch| {
                let column = batch
                    .column_by_name("close")
                    .and_then(|column| column.as_any().downcast_ref::<arrow_array::Float64Array>())
                    .map(|closes| closes.values().to_vec());
                column.unwrap_or_default()
            })
            .collect();
        assert_eq!(served, closes, "{format}");
    }
    let refused = app.get(&format!("{AAPL_2020}&format=xlsx")).await;
    refused.expect_error(400, "invalid_input", Some("format"));
    app.stop().await;
}

async fn bars_come_as_csv_with_the_report_in_headers(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app.get(&format!("{AAPL_2020}&format=csv")).await;
    reply.expect(200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/csv")),
        "{:?}",
        reply.headers
    );
    // Streamed: sent in pieces as they are written, its length unknown up front.
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.header("x-cached-bars"), Some("0"));
    assert_eq!(reply.header("x-fetched-bars"), Some("253"));
    assert_eq!(reply.header("x-upstream-requests"), Some("3"));
    assert!(
        reply
            .header("x-elapsed-ms")
            .and_then(|ms| ms.parse::<f64>().ok())
            .is_some(),
        "{:?}",
        reply.headers
    );
    let mut lines = reply.text.lines();
    assert_eq!(lines.next(), Some("date,open,high,low,close,volume"));
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), 253);
    for row in &rows {
        assert_eq!(row.len(), 6, "{row:?}");
        assert!(row[0].parse::<NaiveDate>().is_ok(), "{row:?}");
        for price in &row[1..5] {
            assert!(price.parse::<f64>().is_ok_and(|p| p > 0.0), "{row:?}");
        }
        assert!(row[5].parse::<u64>().is_ok(), "{row:?}");
    }
    // Several pieces (1,024 bars each) join into the same rows as the JSON form.
    let six_years = "/api/bars/AAPL?start=2015-01-01&end=2020-12-31";
    let csv = app.get(&format!("{six_years}&format=csv")).await;
    let json = app.get(six_years).await.json();
    let from_json: Vec<String> = json["bars"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|bar| {
            format!(
                "{},{},{},{},{},{}",
                bar["date"].as_str().unwrap_or_default(),
                bar["open"],
                bar["high"],
                bar["low"],
                bar["close"],
                bar["volume"]
            )
        })
        .collect();
    let from_csv: Vec<String> = csv.text.lines().skip(1).map(str::to_string).collect();
    assert_eq!(from_csv.len(), 1511);
    assert_eq!(from_csv, from_json);
    // Offline, the same range is served from the store alone.
    let offline = app.get(&format!("{AAPL_2020}&format=csv&offline")).await;
    offline.expect(200);
    assert_eq!(offline.header("x-cached-bars"), Some("253"));
    assert_eq!(offline.header("x-upstream-requests"), Some("0"));
    app.stop().await;
}

async fn offline_reads_report_what_is_missing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app
        .get("/api/bars/MSFT?start=2020-01-01&end=2020-01-31&offline=true")
        .await;
    reply.expect(200);
    let body = reply.json();
    assert_eq!(body["bars"], json!([]));
    assert_eq!(
        body["report"]["missing"],
        json!([{"start": "2020-01-02", "end": "2020-01-31"}])
    );
    assert_eq!(app.upstream.count(), 0);
    app.stop().await;
}

async fn stats_coverage_and_clear_describe_and_empty_the_cache(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.get(AAPL_2020).await.expect(200);

    let stats = app.get("/api/cache/stats").await;
    stats.expect(200);
    let stats = stats.json();
    assert_eq!(stats["database"], app.store.describe());
    assert_eq!(stats["total_bars"], 253);
    assert_eq!(stats["symbols"][0]["symbol"], "AAPL");
    assert_eq!(stats["symbols"][0]["bars"], 253);
    assert_eq!(stats["symbols"][0]["first_date"], "2020-01-02");
    assert_eq!(stats["symbols"][0]["last_date"], "2020-12-31");
    assert_eq!(
        stats["symbols"][0]["covered"],
        json!([{"start": "2020-01-01", "end": "2020-12-31"}])
    );

    let coverage = app.get("/api/cache/coverage/aapl").await;
    coverage.expect(200);
    let mut coverage = coverage.json();
    let spans = coverage["spans"]
        .as_array_mut()
        .cloned()
        .unwrap_or_default();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|span| span["provider"] == "synthetic"));
    assert!(
        spans
            .iter()
            .all(|span| span["fetched_at"].as_str().is_some())
    );
    let bars: u64 = spans.iter().filter_map(|span| span["bars"].as_u64()).sum();
    assert_eq!(bars, 253);
    if let Some(object) = coverage.as_object_mut() {
        object.remove("spans");
    }
    // Covered 2020-01-01..2020-12-31: 9 weekday holidays (New Year's Day, MLK, Presidents',
    // Good Friday, Memorial, Independence observed, Labor, Thanksgiving, Christmas) and 104
    // weekend days.
    assert_eq!(
        coverage,
        json!({
            "symbol": "AAPL",
            "exchange": {"code": "XNYS", "time_zone": "America/New_York", "calendar": "nyse"},
            "covered": [{"start": "2020-01-01", "end": "2020-12-31"}],
            "holidays": 9,
            "weekend_days": 104,
            "barless": [],
            "actions": [],
        })
    );

    let cleared = app.delete("/api/cache?symbol=AAPL").await;
    cleared.expect(200);
    assert_eq!(
        cleared.json(),
        json!({"bars_deleted": 253, "coverage_spans_changed": 3})
    );
    let stats = app.get("/api/cache/stats").await.json();
    assert_eq!(stats["total_bars"], 0);
    app.stop().await;
}

async fn a_backtest_runs_the_strategy_on_the_cached_bars(backend: Backend) {
    let app = TestApp::start(backend).await;
    let reply = app
        .post_json(
            "/api/backtest",
            &json!({
                "symbol": "msft",
                "strategy": "sma-cross",
                "params": {"fast": 10, "slow": "30"},
                "start": "2020-01-01",
                "end": "2020-12-31",
                "fees": 0.001,
            }),
        )
        .await;
    reply.expect(200);
    let body = reply.json();
    assert_eq!(body["symbol"], "MSFT");
    assert_eq!(body["strategy"], "sma-cross");
    assert_eq!(body["parameters"], json!({"fast": 10, "slow": 30}));
    assert_eq!(
        body["settings"],
        json!({"initial_cash": 10000.0, "fees": 0.001, "slippage": 0.0})
    );
    assert_eq!(body["metrics"]["bars"], 253);
    assert_eq!(body["buy_and_hold"]["bars"], 253);
    assert_eq!(body["buy_and_hold"]["trades"], 1);
    assert_eq!(body["equity_curve"].as_array().map(Vec::len), Some(253));
    assert_eq!(body["data"]["fetched_bars"], 253);
    assert_eq!(body["fingerprint"]["bars"], 253);
    assert_eq!(body["fingerprint"]["first_date"], "2020-01-02");

    // The same run, computed here over the upstream's bars, agrees to the bit.
    let bars = truth(&app, "MSFT", "2020-01-01", "2020-12-31").await;
    let strategy = build_strategy("sma-cross", &[("fast", "10"), ("slow", "30")])
        .unwrap_or_else(|e| panic!("{e}"));
    let money =
        marketcache_backtest::Settings::new(10_000.0, 0.001, 0.0).unwrap_or_else(|e| panic!("{e}"));
    let expected = marketcache_backtest::run_against_buy_and_hold(&bars, strategy.as_ref(), &money)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body["metrics"]["final_equity"].as_f64(),
        Some(expected.report.metrics.final_equity)
    );
    assert_eq!(
        body["trades"].as_array().map(Vec::len),
        Some(expected.report.trades.len())
    );
    let symbol = Symbol::parse("MSFT").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body["fingerprint"]["hash"],
        marketcache_domain::DataFingerprint::of(&symbol, &bars).hash
    );

    // Metrics alone, when the curve and trades are not wanted: the same figures.
    let lean = app
        .post_json(
            "/api/backtest",
            &json!({
                "symbol": "MSFT",
                "strategy": "sma-cross",
                "params": {"fast": 10, "slow": 30},
                "start": "2020-01-01",
                "end": "2020-12-31",
                "fees": 0.001,
                "equity_curve": false,
                "trades": false,
            }),
        )
        .await
        .json();
    assert_eq!(lean["metrics"], body["metrics"]);
    assert!(
        lean.get("equity_curve").is_none() && lean.get("trades").is_none(),
        "{lean}"
    );
    app.post_json(
        "/api/backtest",
        &json!({"symbol": "MSFT", "strategy": "buy-and-hold", "equity_curve": "no"}),
    )
    .await
    .expect_error(400, "invalid_input", None);
    app.stop().await;
}

async fn offline_backtests_and_searches_run_on_the_cached_bars_and_name_the_gap(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.get(AAPL_2020).await.expect(200);
    let asked = app.upstream.count();
    let body = app
        .post_json(
            "/api/backtest",
            &json!({"symbol": "AAPL", "strategy": "rsi", "start": "2020-01-01",
                    "end": "2021-03-31", "offline": true, "equity_curve": false}),
        )
        .await;
    body.expect(200);
    let body = body.json();
    assert_eq!(
        body["parameters"],
        json!({"period": 14, "lower": 30.0, "upper": 70.0})
    );
    assert_eq!(body["metrics"]["bars"], 253);
    assert_eq!(
        body["data"]["missing"],
        json!([{"start": "2021-01-04", "end": "2021-03-31"}])
    );
    let job = app
        .post_json(
            "/api/optimize",
            &json!({"symbol": "AAPL", "start": "2020-01-01", "end": "2021-03-31",
                    "offline": true, "ranges": {"fast": "5..10", "slow": "20..30"}}),
        )
        .await;
    job.expect(202);
    let id = job.json()["job_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no job id"));
    let job = app.wait_for_job(id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["bars"], 253);
    assert_eq!(
        job["result"]["data"]["missing"],
        json!([{"start": "2021-01-04", "end": "2021-03-31"}])
    );
    assert_eq!(
        app.upstream.count(),
        asked,
        "offline: nothing asked upstream"
    );
    app.post_json(
        "/api/backtest",
        &json!({"symbol": "AAPL", "strategy": "rsi", "offline": "yes"}),
    )
    .await
    .expect_error(400, "invalid_input", None);
    app.stop().await;
}

on_both_backends!(
    offline_backtests_and_searches_run_on_the_cached_bars_and_name_the_gap,
    health_reports_ok_with_the_redacted_database,
    bars_are_fetched_once_then_served_from_the_cache,
    bars_come_as_csv_with_the_report_in_headers,
    bars_come_as_parquet_and_arrow_with_their_media_types_and_the_csv_s_values,
    offline_reads_report_what_is_missing,
    stats_coverage_and_clear_describe_and_empty_the_cache,
    a_backtest_runs_the_strategy_on_the_cached_bars,
);
