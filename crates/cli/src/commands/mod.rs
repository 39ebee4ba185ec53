//! One module per subcommand; [`run`] dispatches the parsed command line to them.

mod backtest;
mod clear;
mod compact;
mod copy;
mod demo;
mod get;
mod migrate;
mod optimize;
mod providers;
mod report;
mod serve;
mod stats;
mod verify;
mod warm;

use std::process::ExitCode;

use anyhow::Result;
use marketcache_cache::CacheError;

use crate::args::{Cli, Command};
use crate::settings::Settings;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    dispatch(cli).await.map_err(with_offline_hint)
}

/// An error that comes from an unreachable provider, with what the user can do instead.
fn with_offline_hint(error: anyhow::Error) -> anyhow::Error {
    let unavailable = error.chain().any(|cause| {
        cause
            .downcast_ref::<CacheError>()
            .is_some_and(CacheError::is_upstream_unavailable)
    });
    if unavailable {
        anyhow::anyhow!(
            "{error:#}; what is cached is served with --offline, and `marketcache demo` runs offline"
        )
    } else {
        error
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::resolve(&cli.global.overrides())?;
    match cli.command {
        Command::Migrate => migrate::migrate(&settings).await,
        Command::Warm(args) => warm::warm(&settings, args).await,
        Command::Get(args) => get::get(&settings, args).await,
        Command::Stats(args) => stats::stats(&settings, args).await,
        Command::Verify(args) => verify::verify(&settings, args).await,
        Command::Copy(args) => copy::copy(&settings, args).await,
        Command::Clear(args) => clear::clear(&settings, args).await,
        Command::Compact => compact::compact(&settings).await,
        Command::Providers(args) => providers::list(&settings, args),
        Command::Backtest(args) => backtest::backtest(&settings, args).await,
        Command::Optimize(args) => optimize::optimize(&settings, args).await,
        Command::Serve(args) => serve::serve(&settings, args).await,
        Command::Demo => demo::run(&cli.global, &settings).await,
    }
}
