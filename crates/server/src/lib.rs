//! The marketcache HTTP API: an axum router over one [`MarketDataCache`], with one error type
//! ([`ApiError`]) mapped once to status codes, background jobs (warm, optimize) kept in memory,
//! a bearer-token guard on the mutating endpoints, and an OpenAPI document generated from the
//! handlers. Backtests and searches are the backtest crate's, and the bars they read the
//! cache crate's: the handlers only parse, call and shape the answer.
//!
//! This crate never names a concrete store or provider: the binary builds the cache and hands
//! it over. It never logs the API token nor puts it in an error or `Debug` output.
//!
//! # Layout
//! - [`Server::bind`] then [`Server::run_until_stopped`] (tests bind port 0 and pass their own
//!   shutdown future); [`shutdown_signal`] is Ctrl-C or SIGTERM.
//! - `routes`: the handlers, the extractors that turn rejections into JSON errors, the guard.
//! - [`jobs`]: the registry of background jobs, their progress and cancellation.
//! - [`openapi`]: the document served at `/api/openapi.json`.
//! - `dashboard`: the web pages at `/dashboard/…` and their embedded assets at `/assets/…`.

mod config;
mod dashboard;
mod error;
mod guard;
pub mod jobs;
mod listen;
pub mod openapi;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use marketcache_cache::MarketDataCache;
use marketcache_domain::Clock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{
    ApiToken, ConfigError, DEFAULT_BIND, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, ServerConfig,
};
pub use error::{ApiError, ErrorBody, ErrorDetail, ServeError};
pub use routes::{AppState, router};

/// How long shutdown waits for running jobs, then for open connections, before it gives up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    config: ServerConfig,
}

impl Server {
    /// Binds `config.bind` (port 0 picks a free one) for an API over `cache`; `clock` must be
    /// the cache's, so that "today" is the same for both.
    pub async fn bind(
        cache: Arc<MarketDataCache>,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
    ) -> Result<Self, ServeError> {
        // The config's constructor refuses this too; a hand-built config is checked again here.
        if !config.bind.ip().is_loopback() && config.token.is_none() {
            return Err(ConfigError::PublicWithoutToken {
                address: config.bind,
            }
            .into());
        }
        let listen_error = |source| ServeError::Listen {
            address: config.bind.to_string(),
            source,
        };
        let listener = TcpListener::bind(config.bind).await.map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        // A server answers many reads of the same symbols: on a shared database, knowing their
        // versions without a round trip is most of the cost of a cached read.
        cache.watch_versions().await?;
        let state = AppState::new(cache, clock, &config, address);
        Ok(Self {
            listener,
            address,
            state,
            config,
        })
    }

    /// The address bound, with the real port when port 0 was asked.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` completes; then stops accepting, cancels running jobs (they stop
    /// between symbols or request batches), and waits for them and for open requests, each for
    /// at most ten seconds.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let jobs = Arc::clone(self.state.jobs());
        let router = routes::router(self.state, &self.config);
        let limits = listen::ConnectionLimits {
            max_connections: self.config.max_connections,
            header_read_timeout: self.config.header_read_timeout,
        };
        let stop = CancellationToken::new();
        let stopping = {
            let (jobs, stop) = (Arc::clone(&jobs), stop.clone());
            async move {
                shutdown.await;
                tracing::info!("shutting down: cancelling jobs, finishing open requests");
                // Cancelled jobs end their event streams, so those connections close too.
                jobs.cancel_all();
                stop.cancel();
            }
        };
        let address = self.address;
        tracing::info!(%address, "listening");
        let serving = listen::serve(self.listener, router, limits, stop.clone());
        let stopping = tokio::spawn(stopping);
        tokio::select! {
            () = serving => {}
            () = async {
                stop.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!("requests still open after the grace period; closing them"),
        }
        stopping.abort();
        if !jobs.wait(SHUTDOWN_GRACE).await {
            tracing::warn!("jobs still running after the grace period; leaving them");
        }
        Ok(())
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called,
/// not when it is first polled, so a signal that arrives right after start-up is not lost.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("interrupted"),
                _ = terminate.recv() => tracing::info!("terminated"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
