//! `GET /api/cache/verify`: the same verify as the CLI's, on both backends.

use marketcache_domain::{Bar, BarStore, DateRange, FetchedWrite, Symbol};
use marketcache_testkit::{Backend, on_both_backends};

use crate::harness::TestApp;

fn kinds_of(report: &serde_json::Value, symbol: &str) -> Vec<String> {
    report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|problem| problem["symbol"] == symbol)
        .filter_map(|problem| problem["kind"].as_str().map(str::to_string))
        .collect()
}

/// Overwrites `symbol`'s stored bar of `date` with one whose close is restated, valid still.
async fn restate_close(store: &dyn BarStore, symbol: &str, date: chrono::NaiveDate) {
    let key = Symbol::parse(symbol).unwrap_or_else(|e| panic!("{e}"));
    let stored = store
        .read_bars(&key, DateRange::single(date))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bar = stored.first().unwrap_or_else(|| panic!("no bar on {date}"));
    let restated = Bar::try_new(
        bar.date,
        bar.open,
        bar.high,
        bar.low,
        (bar.open + bar.close) / 2.0,
        bar.volume,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let restated = [restated];
    let write = FetchedWrite::bars("synthetic", &restated, None);
    store
        .write_fetched(&key, &write, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn a_sound_cache_passes_and_a_restated_close_is_found(backend: Backend) {
    let app = TestApp::start(backend).await;
    for symbol in ["AAPL", "MSFT"] {
        app.get(&format!(
            "/api/bars/{symbol}?start=2020-01-01&end=2020-12-31"
        ))
        .await
        .expect(200);
    }
    let sound = app.get("/api/cache/verify").await;
    sound.expect(200);
    let report = sound.json();
    assert_eq!(report["symbols"], 2, "{report}");
    assert_eq!(report["bars"], 506, "{report}");
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );

    let day = chrono::NaiveDate::from_ymd_opt(2020, 6, 1).unwrap_or_default();
    restate_close(app.store.as_ref(), "AAPL", day).await;
    let requests_before = app.upstream.count();
    let report = app
        .get("/api/cache/verify?symbol=aapl&against=synthetic&sample=50")
        .await
        .json();
    assert_eq!(
        kinds_of(&report, "AAPL"),
        ["differs_from_provider"],
        "{report}"
    );
    assert!(
        report["problems"][0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("2020-06-01: close")),
        "{report}"
    );
    // A problem has the keys the OpenAPI document gives it.
    let document = app.get("/api/openapi.json").await.json();
    let documented = &document["components"]["schemas"]["ProblemDoc"]["properties"];
    let names = |value: &serde_json::Value| {
        value
            .as_object()
            .map(|object| object.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(names(&report["problems"][0]), names(documented));
    // 2020 is three 182-day chunks: each asked once, straight from the provider.
    assert_eq!(report["ranges_compared"], 3, "{report}");
    assert_eq!(app.upstream.count() - requests_before, 3);
    app.stop().await;
}

async fn bad_parameters_are_named(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (query, field) in [
        ("sample=many", "sample"),
        ("sample=51", "sample"),
        ("against=nosuch", "against"),
        ("symbol=AA%20PL!", "symbol"),
    ] {
        app.get(&format!("/api/cache/verify?{query}"))
            .await
            .expect_error(400, "invalid_input", Some(field));
    }
    app.get("/api/cache/verify?colour=red").await.expect(400);
    app.stop().await;
}

on_both_backends!(
    a_sound_cache_passes_and_a_restated_close_is_found,
    bad_parameters_are_named,
);
