//! `marketcache serve`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use marketcache_domain::{Clock, SystemClock};

use crate::args::ServeArgs;
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::wiring::open_cache_with_clock;

/// Pooled PostgreSQL connections of a server when none is configured.
const SERVER_POOL_SIZE: usize = 16;

/// `marketcache serve`: the HTTP API until Ctrl-C or SIGTERM.
pub async fn serve(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    // The exposure is checked before the database is opened: a public address needs a token.
    let token = std::env::var("MARKETCACHE_API_TOKEN")
        .ok()
        .and_then(marketcache_server::ApiToken::new);
    let mut config =
        marketcache_server::ServerConfig::new(args.bind, token, args.cors_origin.as_deref())
            .map_err(|e| UsageError(e.to_string()))?;
    config.allowed_hosts = args.allowed_hosts;
    config.max_grid_combinations = args.max_grid_combinations as usize;
    config.max_running_jobs = args.max_jobs as usize;
    // Installed before the address is printed, so a signal sent right after it is not lost.
    let shutdown =
        marketcache_server::shutdown_signal().context("cannot install signal handlers")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // A server answers many cold reads at once: a larger pool unless one is configured.
    let settings = Settings {
        pool_size: settings.pool_size.or(Some(SERVER_POOL_SIZE)),
        ..settings.clone()
    };
    let cache = Arc::new(open_cache_with_clock(&settings, clock.clone()).await?);
    let server = marketcache_server::Server::bind(cache, clock, config).await?;
    outln!("Listening on http://{}", server.local_addr());
    std::io::stdout().flush()?;
    server.run_until_stopped(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
