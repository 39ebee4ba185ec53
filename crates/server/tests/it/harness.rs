//! A real server on an ephemeral loopback port over a fresh SQLite file or PostgreSQL
//! database, filled from a counting synthetic upstream, with the clock stopped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use marketcache_cache::MarketDataCache;
use marketcache_domain::{BarStore, FixedClock, PriceSource};
use marketcache_server::{ApiToken, Server, ServerConfig};
pub use marketcache_testkit::Backend;
use marketcache_testkit::CountingSource;
use marketcache_upstream::{SyntheticConfig, SyntheticSource};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The token of the tests that configure one.
pub const TOKEN: &str = "test-token-5f1c2b";

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// The body as sent, for binary answers.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Panics with the body unless the status is `status`.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        self
    }

    /// Asserts a JSON error with `status`, `code` and `field`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str, field: Option<&str>) {
        self.expect(status);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

/// A running server and what it runs on.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub upstream: Arc<CountingSource>,
    pub truth: Arc<SyntheticSource>,
    pub store: Arc<dyn BarStore>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), marketcache_server::ServeError>>>,
    _backend: Option<Backend>,
}

/// How a test wants its server.
#[derive(Default)]
pub struct Options {
    pub token: bool,
    pub cors_origin: Option<&'static str>,
    pub latency: Duration,
    /// Connections open at once, and the header and body read time-outs; the defaults without.
    pub connection_limits: Option<(usize, Duration)>,
}

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, options: Options) -> Self {
        let store = backend.store();
        Self::start_over(store, None, Some(backend), options).await
    }

    /// A server over `store`, filled from `source` (the synthetic upstream when `None`).
    pub async fn start_over(
        store: Arc<dyn BarStore>,
        source: Option<Arc<dyn PriceSource>>,
        backend: Option<Backend>,
        options: Options,
    ) -> Self {
        // 2026-11-25 13:00 in New York: 2020 is long settled.
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0)
                .single()
                .unwrap_or_else(|| panic!("clock")),
        ));
        let config = SyntheticConfig {
            latency: options.latency,
            ..SyntheticConfig::default()
        };
        let truth = Arc::new(SyntheticSource::new(config, clock.clone()));
        let upstream = Arc::new(CountingSource::as_market_data(
            source.unwrap_or_else(|| truth.clone()),
        ));
        let cache = Arc::new(MarketDataCache::new(
            store.clone(),
            upstream.clone(),
            clock.clone(),
        ));
        let mut server_config = ServerConfig::local_ephemeral();
        if options.token {
            server_config.token = ApiToken::new(TOKEN);
        }
        if let Some((max_connections, read_timeout)) = options.connection_limits {
            server_config.max_connections = max_connections;
            server_config.header_read_timeout = read_timeout;
            server_config.body_read_timeout = read_timeout;
        }
        if let Some(origin) = options.cors_origin {
            server_config.cors_origin = Some(
                origin
                    .parse()
                    .unwrap_or_else(|e| panic!("bad origin {origin}: {e}")),
            );
        }
        let server = Server::bind(cache, clock, server_config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            upstream,
            truth,
            store,
            stop: Some(stop),
            serving: Some(serving),
            _backend: backend,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Self::read(request.send().await.unwrap_or_else(|e| panic!("{e}"))).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(self.url(path))).await
    }

    /// Polls a job until it finishes (at most 30 s) and returns its last state.
    pub async fn wait_for_job(&self, id: u64) -> serde_json::Value {
        for _ in 0..600 {
            let job = self.get(&format!("/api/jobs/{id}")).await;
            job.expect(200);
            let job = job.json();
            if job["state"] != "running" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish in 30 s");
    }

    /// Stops the server as a signal would and waits for it; panics if it failed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            tokio::time::timeout(Duration::from_secs(30), serving)
                .await
                .unwrap_or_else(|_| panic!("the server did not stop within 30 s"))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
