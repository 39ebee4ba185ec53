//! The dashboard: pages and assets served with their types and caching headers, pages that
//! name only our own assets, the strategy catalog, and the optimize heat map.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};

/// The `src` and `href` values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            if let Some(end) = piece.find('"') {
                found.push(piece[..end].to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_their_assets_are_served_with_types_and_caching_headers() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let landing = app.send(no_redirects.get(app.url("/dashboard"))).await;
    assert!(
        (300..400).contains(&landing.status),
        "status {}",
        landing.status
    );
    assert_eq!(landing.header("location"), Some("/dashboard/optimizer"));

    let mut assets = Vec::new();
    for page in ["/dashboard/optimizer", "/dashboard/cache"] {
        let reply = app.get(page).await;
        reply.expect(200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        // Pages are revalidated, so a new binary's page is seen at once.
        assert_eq!(reply.header("cache-control"), Some("no-cache"));
        assert!(reply.header("etag").is_some(), "{page} has no ETag");
        let policy = reply.header("content-security-policy").unwrap_or_default();
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        for reference in references(&reply.text) {
            if reference.starts_with("/assets/") && !assets.contains(&reference) {
                assets.push(reference);
            }
        }
    }
    let expected_types = [
        (".js", "text/javascript; charset=utf-8"),
        (".css", "text/css; charset=utf-8"),
        (".txt", "text/plain; charset=utf-8"),
    ];
    assert!(
        assets.iter().any(|a| a.contains("lightweight-charts")),
        "{assets:?}"
    );
    for asset in &assets {
        let reply = app.get(asset).await;
        reply.expect(200);
        let wanted = expected_types
            .iter()
            .find(|(suffix, _)| asset.ends_with(suffix))
            .map(|(_, kind)| *kind);
        assert_eq!(reply.header("content-type"), wanted, "{asset}");
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=86400"),
            "{asset}"
        );
        assert!(!reply.text.is_empty(), "{asset} is empty");
        // The ETag revalidates: the same tag gets a 304 without a body.
        let etag = reply
            .header("etag")
            .unwrap_or_else(|| panic!("{asset} has no ETag"))
            .to_string();
        let again = app
            .send(
                app.client
                    .get(app.url(asset))
                    .header("if-none-match", &etag),
            )
            .await;
        assert_eq!(again.status, 304, "{asset}");
        assert!(again.text.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
    }
    app.get("/assets/nothing.js")
        .await
        .expect_error(404, "not_found", None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_reference_only_assets_of_this_server() {
    let app = TestApp::start(Backend::sqlite().await).await;
    for page in ["/dashboard/optimizer", "/dashboard/cache"] {
        let html = app.get(page).await.text;
        assert!(
            !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
            "{page} names another host"
        );
        let references = references(&html);
        assert!(!references.is_empty());
        for reference in references {
            assert!(
                reference.starts_with('/') && !reference.starts_with("//"),
                "{page} references {reference}"
            );
            // Every local reference resolves.
            app.get(&reference).await.expect(200);
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strategy_catalog_lists_every_strategy_with_its_parameter_specs() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let reply = app.get("/api/strategies").await;
    reply.expect(200);
    let body = reply.json();
    let names: Vec<&str> = body["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    let catalog: Vec<&str> = marketcache_backtest::catalog()
        .iter()
        .map(|info| info.name)
        .collect();
    assert_eq!(names, catalog);
    let sma = &body["strategies"][0];
    assert_eq!(sma["name"], "sma-cross");
    let fast = &sma["parameters"][0];
    assert_eq!(fast["name"], "fast");
    assert_eq!(fast["kind"], "integer");
    assert_eq!(fast["default_range"], "5..100");
    assert_eq!(sma["parameters"][1]["default_range"], "10..300:2");
    let bollinger = body["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "bollinger")
        .unwrap_or_else(|| panic!("no bollinger: {body}"));
    let k = &bollinger["parameters"][1];
    assert_eq!(
        (k["name"].as_str(), k["kind"].as_str()),
        (Some("k"), Some("float"))
    );
    assert_eq!(
        (k["default"].as_str(), k["default_range"].as_str()),
        (Some("2"), Some("1..3:0.25"))
    );
    assert!(k["min"].as_f64() < k["max"].as_f64(), "{k}");
    assert_eq!(body["metrics"][0], "sharpe");
    assert_eq!(body["metrics"].as_array().map(Vec::len), Some(9));
    app.stop().await;
}

async fn optimize(app: &TestApp, request: Value) -> Value {
    let started = app.post_json("/api/optimize", &request).await;
    started.expect(202);
    let job = app
        .wait_for_job(started.json()["job_id"].as_u64().unwrap_or_default())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    job["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sma_heat_map_holds_every_pair_and_its_best_cell_is_the_winner() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let request = json!({"symbol": "AAPL", "strategy": "sma-cross",
        "ranges": {"fast": "5..20:5", "slow": "30..60:10"},
        "start": "2015-01-01", "end": "2020-12-31", "top": 16, "heatmap": true});
    let result = optimize(&app, request).await;
    let map = &result["heatmap"];
    assert_eq!(map["metric"], "sharpe");
    assert_eq!(
        (map["x_parameter"].as_str(), map["y_parameter"].as_str()),
        (Some("fast"), Some("slow"))
    );
    assert_eq!(map["x"], json!([5, 10, 15, 20]));
    assert_eq!(map["y"], json!([30, 40, 50, 60]));
    // Two parameters: every cell is exactly that combination's Sharpe from the full ranking.
    for row in result["top"].as_array().into_iter().flatten() {
        let fast = row["parameters"]["fast"].as_i64().unwrap_or_default();
        let slow = row["parameters"]["slow"].as_i64().unwrap_or_default();
        let column = usize::try_from((fast - 5) / 5).unwrap_or_default();
        let line = usize::try_from((slow - 30) / 10).unwrap_or_default();
        assert_eq!(
            map["values"][line][column], row["metrics"]["sharpe"],
            "fast {fast} slow {slow}"
        );
    }
    assert_eq!(result["top"].as_array().map(Vec::len), Some(16));

    let without = optimize(
        &app,
        json!({"symbol": "AAPL", "ranges": {"fast": "5..20:5", "slow": "30..60:10"},
            "start": "2015-01-01", "end": "2020-12-31"}),
    )
    .await;
    assert_eq!(without["heatmap"], Value::Null);
    assert_eq!(without["top"][0], result["top"][0]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heat_map_of_three_parameters_keeps_the_best_over_the_third() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let result = optimize(
        &app,
        json!({"symbol": "MSFT", "strategy": "rsi",
            "ranges": {"period": "10..14:2", "lower": "20..30:10", "upper": "70..80:10"},
            "metric": "total-return", "start": "2012-01-01", "end": "2020-12-31",
            "top": 12, "heatmap": true}),
    )
    .await;
    let map = &result["heatmap"];
    assert_eq!(
        (map["x_parameter"].as_str(), map["y_parameter"].as_str()),
        (Some("period"), Some("lower"))
    );
    // The best total return over `upper` for each (period, lower), from the full ranking.
    let mut best: BTreeMap<(i64, i64), f64> = BTreeMap::new();
    let top = result["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 12, "{result}");
    for row in &top {
        let key = (
            row["parameters"]["period"].as_i64().unwrap_or_default(),
            // A float parameter: 20 may come back as 20.0.
            row["parameters"]["lower"].as_f64().unwrap_or_default() as i64,
        );
        let value = row["metrics"]["total_return"].as_f64().unwrap_or(f64::NAN);
        let entry = best.entry(key).or_insert(f64::NEG_INFINITY);
        *entry = entry.max(value);
    }
    for ((period, lower), value) in best {
        let column = usize::try_from((period - 10) / 2).unwrap_or_default();
        let line = usize::try_from((lower - 20) / 10).unwrap_or_default();
        assert_eq!(
            map["values"][line][column].as_f64(),
            Some(value),
            "period {period} lower {lower}"
        );
    }
    app.stop().await;
}
