//! The OpenAPI document lists every endpoint, and its schemas have exactly the fields that the
//! server really sends.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_path_and_matches_the_responses() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let reply = app.get("/api/openapi.json").await;
    reply.expect(200);
    let document = reply.json();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        document["openapi"]
    );
    let paths: BTreeSet<String> = keys(&document["paths"]);
    let expected: BTreeSet<String> = [
        "/api/health",
        "/api/bars/{symbol}",
        "/api/cache/stats",
        "/api/cache/coverage/{symbol}",
        "/api/cache/verify",
        "/api/cache",
        "/api/cache/warm",
        "/api/jobs/{id}",
        "/api/jobs/{id}/events",
        "/api/jobs/{id}/cancel",
        "/api/backtest",
        "/api/optimize",
        "/api/strategies",
        "/api/openapi.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths, expected);
    assert!(document["paths"]["/api/cache"]["delete"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let schema = |name: &str| {
        let properties = &document["components"]["schemas"][name]["properties"];
        assert!(properties.is_object(), "schema {name} is missing");
        keys(properties)
    };

    // Real responses, whose keys each documented schema must match.
    let bars = app
        .get("/api/bars/MSFT?start=2020-01-01&end=2020-12-31")
        .await
        .json();
    assert_eq!(keys(&bars), schema("BarsDoc"));
    assert_eq!(keys(&bars["bars"][0]), schema("BarDoc"));
    // A bars answer gives the report's time in the X-Elapsed-Ms header only (documented).
    let mut report_keys = schema("FetchReportDoc");
    assert!(report_keys.remove("elapsed_ms"));
    assert_eq!(keys(&bars["report"]), report_keys);
    let stats = app.get("/api/cache/stats").await.json();
    assert_eq!(keys(&stats), schema("StatsResponse"));
    assert_eq!(keys(&stats["since_start"]), schema("ReadTotalsDoc"));
    assert_eq!(keys(&stats["symbols"][0]), schema("SymbolStatsDoc"));
    let coverage = app.get("/api/cache/coverage/MSFT").await.json();
    assert_eq!(keys(&coverage), schema("CoverageResponse"));
    assert_eq!(keys(&coverage["spans"][0]), schema("CoverageSpanDoc"));
    assert_eq!(keys(&coverage["exchange"]), schema("ExchangeDoc"));
    assert_eq!(keys(&coverage["covered"][0]), schema("DateRangeDoc"));
    let verified = app.get("/api/cache/verify").await.json();
    assert_eq!(keys(&verified), schema("VerifyReportDoc"));
    let backtest = app
        .post_json(
            "/api/backtest",
            &json!({"symbol": "MSFT", "strategy": "sma-cross", "params": {"fast": 5, "slow": 20}, "start": "2020-01-01", "end": "2020-12-31"}),
        )
        .await
        .json();
    assert_eq!(keys(&backtest), schema("BacktestResponse"));
    assert_eq!(keys(&backtest["metrics"]), schema("MetricsDoc"));
    assert_eq!(keys(&backtest["settings"]), schema("SettingsDoc"));
    assert_eq!(keys(&backtest["trades"][0]), schema("TradeDoc"));
    assert_eq!(keys(&backtest["equity_curve"][0]), schema("EquityPointDoc"));
    assert_eq!(keys(&backtest["fingerprint"]), schema("DataFingerprint"));
    let strategies = app.get("/api/strategies").await.json();
    assert_eq!(keys(&strategies), schema("StrategiesResponse"));
    assert_eq!(keys(&strategies["strategies"][0]), schema("StrategyEntry"));
    assert_eq!(
        keys(&strategies["strategies"][0]["parameters"][0]),
        schema("ParameterInfo")
    );
    let health = app.get("/api/health").await.json();
    assert_eq!(keys(&health), schema("HealthResponse"));
    let error = app.get("/api/bars/A%20B").await.json();
    assert_eq!(keys(&error), schema("ErrorBody"));
    assert_eq!(keys(&error["error"]), schema("ErrorDetail"));
    let cleared = app.delete("/api/cache?symbol=MSFT").await.json();
    assert_eq!(keys(&cleared), schema("ClearReportDoc"));
    let started = app
        .post_json(
            "/api/cache/warm",
            &json!({"symbols": ["AAPL"], "start": "2020-01-01", "end": "2020-01-31"}),
        )
        .await
        .json();
    assert_eq!(keys(&started), schema("JobAccepted"));
    let job = app
        .wait_for_job(started["job_id"].as_u64().unwrap_or_default())
        .await;
    assert_eq!(keys(&job), schema("JobSnapshot"));
    app.stop().await;
}

/// Inputs are described as the handlers check them: the symbol's and dates' patterns, the
/// enumerations taken from the catalog and this server's providers, one body variant per
/// strategy with its own parameters and their bounds, empty query values as absent, and the
/// job event stream's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_states_the_rules_of_every_input() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let document = app.get("/api/openapi.json").await.json();
    let parameter = |path: &str, method: &str, name: &str| -> Value {
        document["paths"][path][method]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|parameter| parameter["name"] == name)
            .map(|parameter| parameter["schema"].clone())
            .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))
    };
    assert_eq!(
        parameter("/api/bars/{symbol}", "get", "symbol")["pattern"],
        "^[A-Za-z0-9.^=-]{1,20}$"
    );
    let start = parameter("/api/bars/{symbol}", "get", "start");
    assert_eq!(start["anyOf"][0]["format"], "date", "{start}");
    assert_eq!(
        start["anyOf"][1]["maxLength"], 0,
        "an empty value is allowed: {start}"
    );
    let against = parameter("/api/cache/verify", "get", "against");
    assert_eq!(
        against["anyOf"][0]["enum"],
        json!(["synthetic"]),
        "{against}"
    );
    let offline = parameter("/api/bars/{symbol}", "get", "offline");
    assert_eq!(offline["enum"], json!(["true", "false", "1", "0", ""]));

    let schemas = &document["components"]["schemas"];
    let variants = schemas["BacktestRequest"]["oneOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let strategies = app.get("/api/strategies").await.json();
    let names: Vec<&Value> = strategies["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|strategy| &strategy["name"])
        .collect();
    assert_eq!(variants.len(), names.len());
    let sma = variants
        .iter()
        .find(|variant| variant["title"] == "sma-cross")
        .unwrap_or_else(|| panic!("no sma-cross variant"));
    let fast = &sma["properties"]["params"]["properties"]["fast"];
    assert_eq!(
        (fast["type"].as_str(), fast["default"].as_i64()),
        (Some("integer"), Some(50))
    );
    assert_eq!(sma["properties"]["params"]["additionalProperties"], false);
    assert_eq!(sma["x-ordered"], json!([["fast", "slow"]]));
    assert_eq!(
        strategies["strategies"][0]["ordered"],
        json!([["fast", "slow"]])
    );
    let search = &schemas["OptimizeRequest"];
    assert!(search["x-max-combinations"].as_u64().is_some(), "{search}");
    let ranges =
        search["oneOf"][0]["properties"]["ranges"]["properties"]["fast"]["oneOf"][1]["pattern"]
            .as_str()
            .unwrap_or_default();
    assert!(ranges.contains(r"\.\."), "{ranges}");
    let events = &document["paths"]["/api/jobs/{id}/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"];
    assert_eq!(events["$ref"], "#/components/schemas/JobEvent");
    assert_eq!(
        schemas["JobEvent"]["properties"]["event"]["enum"],
        json!(["progress", "done"])
    );
    app.stop().await;
}
