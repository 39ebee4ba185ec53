//! The token guard, the refusal to listen publicly without one, and CORS.

use std::net::SocketAddr;
use std::sync::Arc;

use marketcache_cache::MarketDataCache;
use marketcache_domain::SystemClock;
use marketcache_server::{ConfigError, ServeError, Server, ServerConfig};
use marketcache_upstream::{SyntheticConfig, SyntheticSource};
use serde_json::json;

use crate::harness::{Backend, Options, TOKEN, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_endpoints_need_the_token_and_reads_do_not() {
    let options = Options {
        token: true,
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let warm = json!({"symbols": ["AAPL"], "start": "2020-01-01", "end": "2020-01-31"});
    let optimize = json!({"symbol": "AAPL", "ranges": {"fast": "5..10", "slow": "20"}, "start": "2020-01-01", "end": "2020-12-31"});
    let requests = |authorization: Option<&str>| {
        let with = |request: reqwest::RequestBuilder| match authorization {
            Some(value) => request.header("authorization", value),
            None => request,
        };
        vec![
            with(app.client.post(app.url("/api/cache/warm")))
                .header("content-type", "application/json")
                .body(warm.to_string()),
            with(app.client.post(app.url("/api/optimize")))
                .header("content-type", "application/json")
                .body(optimize.to_string()),
            with(app.client.delete(app.url("/api/cache?symbol=AAPL"))),
            with(app.client.delete(app.url("/api/jobs/999"))),
            with(app.client.get(app.url("/api/cache/verify"))),
        ]
    };
    let wrong = format!("Bearer {TOKEN}x");
    for authorization in [
        None,
        Some("Bearer"),
        Some(wrong.as_str()),
        Some(TOKEN),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        for request in requests(authorization) {
            let reply = app.send(request).await;
            reply.expect_error(401, "unauthorized", None);
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
            assert!(
                !reply.text.contains(TOKEN),
                "the token never appears in a reply"
            );
        }
    }
    let right = format!("Bearer {TOKEN}");
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for request in requests(Some(right.as_str())) {
            statuses.push(app.send(request).await.status);
        }
        statuses
    };
    // The job to cancel does not exist: past the guard, it is not found.
    assert_eq!(statuses, vec![202, 202, 200, 404, 200]);
    // Reads and backtests stay open, over what is cached (the token holder fills it).
    app.send(
        app.client
            .get(app.url("/api/bars/AAPL?start=2020-01-01&end=2020-12-31"))
            .header("authorization", &right),
    )
    .await
    .expect(200);
    app.get("/api/bars/AAPL?start=2020-01-01&end=2020-01-31")
        .await
        .expect(200);
    app.get("/api/cache/stats").await.expect(200);
    app.get("/api/health").await.expect(200);
    app.post_json(
        "/api/backtest",
        &json!({"symbol": "AAPL", "strategy": "buy-and-hold", "start": "2020-01-01", "end": "2020-12-31"}),
    )
    .await
    .expect(200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_address_without_a_token_is_refused() {
    let backend = Backend::sqlite().await;
    let clock = Arc::new(SystemClock);
    let source = Arc::new(SyntheticSource::new(
        SyntheticConfig::default(),
        clock.clone(),
    ));
    let cache = Arc::new(MarketDataCache::new(backend.store(), source, clock.clone()));
    let mut config = ServerConfig::local_ephemeral();
    config.bind = SocketAddr::from(([0, 0, 0, 0], 0));
    let refused = Server::bind(cache, clock, config).await;
    assert!(
        matches!(
            refused,
            Err(ServeError::Config(ConfigError::PublicWithoutToken { .. }))
        ),
        "{:?}",
        refused.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_unless_one_origin_is_allowed() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let reply = app
        .send(
            app.client
                .get(app.url("/api/health"))
                .header("origin", "http://localhost:3000"),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.header("access-control-allow-origin"), None);
    app.stop().await;

    let options = Options {
        cors_origin: Some("http://localhost:3000"),
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let reply = app
        .send(
            app.client
                .get(app.url("/api/health"))
                .header("origin", "http://localhost:3000"),
        )
        .await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let preflight = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/cache/warm"))
                .header("origin", "http://localhost:3000")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
        )
        .await;
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let other = app
        .send(
            app.client
                .get(app.url("/api/health"))
                .header("origin", "http://evil.example"),
        )
        .await;
    // The one allowed origin is all a browser is told, so it refuses the page of any other.
    assert_eq!(
        other.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_or_a_foreign_origin_changes_nothing() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let warm = json!({"symbols": ["AAPL"], "start": "2020-01-01", "end": "2020-01-31"});
    let post_warm = |host: Option<&str>, origin: Option<&str>| {
        let mut request = app
            .client
            .post(app.url("/api/cache/warm"))
            .header("content-type", "application/json")
            .body(warm.to_string());
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    // DNS rebinding: the page's name now points here, and its Host says so.
    let rebound = app
        .send(post_warm(
            Some("attacker.example"),
            Some("http://attacker.example"),
        ))
        .await;
    rebound.expect_error(403, "host_not_allowed", None);
    let read = app
        .send(
            app.client
                .get(app.url("/api/bars/MSFT?start=2020-01-01&end=2020-01-31"))
                .header("host", "attacker.example:80"),
        )
        .await;
    read.expect_error(403, "host_not_allowed", None);
    // A cross-site form post to the right address.
    let cross_site = app
        .send(post_warm(None, Some("https://evil.example")))
        .await;
    cross_site.expect_error(403, "origin_not_allowed", None);
    assert_eq!(app.upstream.count(), 0, "nothing was fetched");
    let stats = app.get("/api/cache/stats").await.json();
    assert_eq!(stats["symbols"].as_array().map(Vec::len), Some(0));

    // The server's own page, by its address or by localhost, may write.
    let own = app.base.clone();
    app.send(post_warm(None, Some(&own))).await.expect(202);
    let port = own.rsplit(':').next().unwrap_or_default();
    let by_name = format!("localhost:{port}");
    app.send(post_warm(
        Some(&by_name),
        Some(&format!("http://{by_name}")),
    ))
    .await
    .expect(202);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_reads_serve_what_is_cached_and_never_fetch() {
    let options = Options {
        token: true,
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let path = "/api/bars/NVDA?start=2020-01-01&end=2020-03-31";
    let anonymous = app.get(path).await;
    anonymous.expect(200);
    let body = anonymous.json();
    assert_eq!(body["bars"].as_array().map(Vec::len), Some(0), "{body}");
    assert_eq!(body["report"]["upstream_requests"], 0);
    assert!(
        body["report"]["missing"]
            .as_array()
            .is_some_and(|missing| !missing.is_empty()),
        "{body}"
    );
    let head = app.send(app.client.head(app.url(path))).await;
    head.expect(200);
    let backtest = app
        .post_json(
            "/api/backtest",
            &json!({"symbol": "NVDA", "strategy": "buy-and-hold", "start": "2020-01-01", "end": "2020-03-31"}),
        )
        .await;
    assert!(
        backtest.status >= 400 && backtest.status < 500,
        "{}",
        backtest.text
    );
    assert_eq!(app.upstream.count(), 0, "anonymous reads fetched");
    let stats = app.get("/api/cache/stats").await.json();
    assert_eq!(
        stats["symbols"].as_array().map(Vec::len),
        Some(0),
        "{stats}"
    );

    // With the token the same read fetches, and then everyone is served what it stored.
    let authorized = app
        .send(
            app.client
                .get(app.url(path))
                .header("authorization", format!("Bearer {TOKEN}")),
        )
        .await;
    authorized.expect(200);
    let fetched = authorized.json()["bars"].as_array().map(Vec::len);
    assert!(fetched.is_some_and(|bars| bars > 55), "{fetched:?}");
    assert!(app.upstream.count() > 0);
    let cached = app.get(path).await.json();
    assert_eq!(cached["bars"].as_array().map(Vec::len), fetched);
    app.stop().await;
}
