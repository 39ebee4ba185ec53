//! The command line: global options and one subcommand per use case.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use marketcache_domain::{Adjustment, Symbol, parse_date};

/// Caches daily price bars from slow, rate-limited market-data APIs in SQLite or PostgreSQL:
/// migrate the schema, warm and get bars, show stats, verify, copy, clear or compact the cache,
/// list the providers, backtest and optimize strategies over cached bars, serve the HTTP API, or run the
/// offline demo.
#[derive(Debug, Parser)]
#[command(name = "marketcache", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts. `Debug` is written by hand: the database URL may hold a password.
#[derive(Args)]
pub struct GlobalOptions {
    /// Database: sqlite://PATH or postgres://USER@HOST/DB [default: $DATABASE_URL, marketcache.toml,
    /// then a SQLite file in the platform's data directory]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Upstream provider; the help shown is written at run time from the provider registry
    /// (`command_line::provider_help`), so it cannot fall behind it.
    #[arg(long, global = true, value_name = "NAME")]
    pub provider: Option<String>,
    /// Folder of SYMBOL.csv files for the csv provider [default: $MARKETCACHE_CSV_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub csv_dir: Option<PathBuf>,
    /// Synthetic provider: latency of each request [default: $MARKETCACHE_SYNTHETIC_LATENCY_MS or 0]
    #[arg(long, global = true, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Synthetic provider: most calendar days per request [default: $MARKETCACHE_SYNTHETIC_MAX_SPAN_DAYS or 182]
    #[arg(long, global = true, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_span_days: Option<u32>,
    /// Synthetic provider: most requests in flight [default: $MARKETCACHE_SYNTHETIC_CONCURRENCY or 4]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,
    /// PostgreSQL: most pooled connections this process opens [default: $MARKETCACHE_POOL_SIZE,
    /// marketcache.toml, then 4, or 16 for serve]
    #[arg(long, global = true, value_name = "N")]
    pub pool_size: Option<String>,
    /// How long a live bar, or a recent day the provider has not published yet, is served as it
    /// is before the provider is asked again: 30s, 15m, 1h [default: $MARKETCACHE_FRESHNESS,
    /// marketcache.toml, then 15m]. Days whose bar cannot exist yet are never asked before it can.
    #[arg(long, global = true, value_name = "DURATION")]
    pub freshness: Option<String>,
    /// More logging (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl GlobalOptions {
    /// What these flags choose over the environment and the config file.
    pub fn overrides(&self) -> marketcache_config::Overrides {
        marketcache_config::Overrides {
            database_url: self.database_url.clone(),
            provider: self.provider.clone(),
            csv_dir: self.csv_dir.clone(),
            latency_ms: self.latency_ms,
            max_span_days: self.max_span_days,
            concurrency: self.concurrency,
            pool_size: self.pool_size.clone(),
            freshness: self.freshness.clone(),
        }
    }
}

impl std::fmt::Debug for GlobalOptions {
    /// As [`marketcache_config::Overrides`] shows them (the database password hidden), with the
    /// verbosity.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalOptions")
            .field("overrides", &self.overrides())
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema (safe to run any number of times)
    Migrate,
    /// Fetch and store the bars of several symbols, asking upstream only for what is missing
    Warm(WarmArgs),
    /// Print the bars of one symbol, served from the cache and fetched where missing
    Get(GetArgs),
    /// Show what the cache holds: per symbol bars, dates, coverage; totals and size on disk
    Stats(StatsArgs),
    /// Check the cache: OHLC rules, coverage against bars and the trading calendar, the ledger,
    /// provisional bars past due and, with --against, a sample re-fetched; exits 1 on problems
    Verify(VerifyArgs),
    /// Copy a whole cache (bars, ledger, corporate actions, provisional marks) from one database
    /// to another, e.g. a SQLite file to PostgreSQL; resumable, and checked symbol by symbol
    Copy(CopyArgs),
    /// Delete cached bars and their coverage
    Clear(ClearArgs),
    /// Rewrite the database with full pages, returning the space left by page splits (run it when nothing else writes)
    Compact,
    /// List the upstream providers: key needed, configured or not, request limits, span per request
    Providers(ProvidersArgs),
    /// Backtest one strategy over a symbol's bars, read through the cache, against buy-and-hold
    Backtest(BacktestArgs),
    /// Search a grid of strategy parameters over a symbol's bars, ranked by a metric
    Optimize(OptimizeArgs),
    /// Serve the HTTP API (bars, cache, warm and optimize jobs, backtests, /api/openapi.json)
    Serve(ServeArgs),
    /// Run the whole job offline on a fresh SQLite file: warm nine tickers, then measure cold vs cached
    /// (synthetic latency: --latency-ms, default 200 ms per request)
    Demo,
}

/// Arguments of `warm`.
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Symbols to warm [default: the `tickers` list of marketcache.toml, else AAPL GOOGL NVDA AMD ARM MSFT AVGO TSLA TQQQ]
    #[arg(value_parser = parse_symbol)]
    pub symbols: Vec<Symbol>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    #[arg(long, value_parser = parse_start)]
    pub start: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    #[arg(long, value_parser = parse_end)]
    pub end: Option<NaiveDate>,
    /// A file with one symbol per line (# starts a comment)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Print what the warm would do (requests per provider after coverage, the time they take
    /// under its rate limits, what is already cached) without fetching anything
    #[arg(long)]
    pub plan: bool,
}

/// Arguments of `serve`. The token comes from MARKETCACHE_API_TOKEN only, never a flag, so it
/// stays out of shell history and process lists.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs MARKETCACHE_API_TOKEN
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub bind: std::net::SocketAddr,
    /// Allow browser calls from this one origin (CORS), e.g. http://localhost:3000 [default: off]
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Option<String>,
    /// A name the server is reached by (repeatable), e.g. cache.internal or cache.internal:8000:
    /// requests whose Host is neither the bound address nor such a name are refused (403)
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Most combinations one /api/optimize search may have
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_grid_combinations: u32,
    /// Most warm and optimize jobs running at once; more are refused with 429
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_jobs: u32,
}

/// Arguments of `providers`.
#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

/// Output formats of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Parquet,
    Arrow,
}

/// Arguments of `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The symbols, e.g. AAPL, or several (AAPL MSFT NVDA: one table in long form with a
    /// symbol column, or a JSON array of one object per symbol)
    #[arg(value_name = "SYMBOL", value_parser = parse_symbol, required = true, num_args = 1..)]
    pub symbols: Vec<Symbol>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    #[arg(long, value_parser = parse_start)]
    pub start: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    #[arg(long, value_parser = parse_end)]
    pub end: Option<NaiveDate>,
    /// Output format; parquet and arrow (an Arrow IPC file) are binary [default: from the
    /// --output file's extension, else csv]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Never ask upstream; serve what is cached and report what is missing
    #[arg(long, conflicts_with = "force_refresh")]
    pub offline: bool,
    /// Fetch the whole range again even if cached
    #[arg(long)]
    pub force_refresh: bool,
    /// Price adjustment, computed at read time: none (raw), splits, or all (splits and dividends)
    #[arg(long, default_value = "splits", value_parser = parse_adjustment)]
    pub adjust: Adjustment,
    /// Leave out bars that are not final yet (today's session, the provider's publication lag)
    #[arg(long)]
    pub closed_only: bool,
    /// Add an adj_close column: each close adjusted for splits and dividends (yfinance's
    /// "Adj Close"), after close, whatever --adjust is
    #[arg(long)]
    pub adj_close: bool,
    /// Write the bars to this file instead of standard output (.csv, .json, .parquet, .arrow)
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
        }
    }

    /// Whether the format is binary, never written to a terminal.
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Parquet | Format::Arrow)
    }

    /// The format of `--format` and `--output` together: a file's extension names its format,
    /// and an extension we cannot write is an error rather than CSV under a misleading name.
    pub fn resolve(
        given: Option<Format>,
        output: Option<&std::path::Path>,
    ) -> Result<Format, String> {
        let Some(path) = output else {
            return Ok(given.unwrap_or(Format::Csv));
        };
        let extension = path
            .extension()
            .map(|extension| extension.to_string_lossy().to_ascii_lowercase());
        let implied = match extension.as_deref() {
            None => return Ok(given.unwrap_or(Format::Csv)),
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            Some("parquet" | "pq") => Format::Parquet,
            Some("arrow" | "feather" | "ipc") => Format::Arrow,
            Some(other) => {
                return Err(format!(
                    "output '{}' is invalid: marketcache writes .csv, .json, .parquet and .arrow \
                     files, not .{other}",
                    path.display()
                ));
            }
        };
        match given {
            Some(format) if format != implied => Err(format!(
                "output '{}' is invalid: its extension says {} but --format says {}",
                path.display(),
                implied.name(),
                format.name()
            )),
            _ => Ok(implied),
        }
    }
}

/// Arguments of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Show one symbol's coverage ledger and why covered days have no bar
    #[arg(long, value_parser = parse_symbol)]
    pub symbol: Option<Symbol>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this symbol [default: every symbol stored]
    #[arg(long, value_parser = parse_symbol)]
    pub symbol: Option<Symbol>,
    /// Re-fetch a sample of covered ranges from this provider and report the days that differ
    /// (close beyond 1e-4 relative, volume beyond 0.5%); only its data set's symbols are compared
    #[arg(long, value_name = "PROVIDER")]
    pub against: Option<String>,
    /// Covered ranges re-fetched per symbol with --against, spread from the first to the last
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub sample: usize,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy from: sqlite://PATH or postgres://…
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy into (created or brought up to date): sqlite://PATH or postgres://…
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `clear`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// Only this symbol [default: every symbol]
    #[arg(long, value_parser = parse_symbol)]
    pub symbol: Option<Symbol>,
    /// Only bars before this day, YYYY-MM-DD [default: all dates]
    #[arg(long, value_parser = parse_before)]
    pub before: Option<NaiveDate>,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

/// How `backtest` and `optimize` read their bars.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Never ask upstream: run on the cached bars and say what is missing
    #[arg(long, conflicts_with = "strict")]
    pub offline: bool,
    /// Fail when the provider cannot be reached, even if only the last few days are missing
    /// [default: run on the cached bars then, saying what is missing]
    #[arg(long)]
    pub strict: bool,
}

impl ReadArgs {
    /// The read policy these flags ask for.
    pub fn policy(&self) -> marketcache_cache::analysis::BarsPolicy {
        marketcache_cache::analysis::BarsPolicy {
            offline: self.offline,
            strict: self.strict,
        }
    }
}

/// Money settings shared by `backtest` and `optimize`.
#[derive(Debug, Args)]
pub struct TradingArgs {
    /// Fees as a fraction of traded value, e.g. 0.001
    #[arg(long, default_value_t = 0.0)]
    pub fees: f64,
    /// Slippage as a fraction of the fill price
    #[arg(long, default_value_t = 0.0)]
    pub slippage: f64,
    /// Cash at the start
    #[arg(long, default_value_t = 10_000.0)]
    pub initial_cash: f64,
}

/// Arguments of `backtest`.
#[derive(Debug, Args)]
#[command(after_help = strategy_help(Defaults::Values))]
pub struct BacktestArgs {
    /// The symbol, e.g. AAPL
    #[arg(value_parser = parse_symbol)]
    pub symbol: Symbol,
    /// Strategy name (sma-cross, ema-cross, rsi, bollinger, macd, buy-and-hold)
    #[arg(long, default_value = "sma-cross")]
    pub strategy: String,
    /// A strategy parameter, NAME=VALUE (repeat for each), e.g. --param fast=20 --param slow=50;
    /// a parameter not given takes its default (listed below)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    #[arg(long, value_parser = parse_start)]
    pub start: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    #[arg(long, value_parser = parse_end)]
    pub end: Option<NaiveDate>,
    #[command(flatten)]
    pub trading: TradingArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// List every trade
    #[arg(long)]
    pub trades: bool,
    /// Print JSON instead of tables
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `optimize`.
#[derive(Debug, Args)]
#[command(after_help = strategy_help(Defaults::Ranges))]
pub struct OptimizeArgs {
    /// The symbol, e.g. AAPL
    #[arg(value_parser = parse_symbol)]
    pub symbol: Symbol,
    /// Strategy name (sma-cross, ema-cross, rsi, bollinger, macd, buy-and-hold)
    #[arg(long, default_value = "sma-cross")]
    pub strategy: String,
    /// Fast window range, START..END[:STEP]; the same as --range fast=RANGE
    #[arg(long)]
    pub fast: Option<String>,
    /// Slow window range, START..END[:STEP]; the same as --range slow=RANGE
    #[arg(long)]
    pub slow: Option<String>,
    /// A parameter's range, NAME=START..END[:STEP] or NAME=VALUE (repeat for each parameter), e.g.
    /// --range period=5..30 --range lower=20..40:5; float parameters take float ranges (k=1.5..3.0:0.5);
    /// a parameter not given searches its default range (listed below)
    #[arg(long = "range", value_name = "NAME=RANGE")]
    pub ranges: Vec<String>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    #[arg(long, value_parser = parse_start)]
    pub start: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    #[arg(long, value_parser = parse_end)]
    pub end: Option<NaiveDate>,
    /// Metric to rank by: sharpe, sortino, calmar, cagr, total-return, final-equity, max-drawdown, win-rate, average-trade-return
    #[arg(long, default_value = "sharpe")]
    pub metric: String,
    /// Rank on bars up to this day and report each top combination's metrics on the later bars too
    #[arg(long, value_name = "DATE", value_parser = parse_train_until)]
    pub train_until: Option<NaiveDate>,
    /// How many of the best combinations to show
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub top: u32,
    /// Rank only combinations with at least this many trades (a Sharpe ratio on two trades is luck)
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub min_trades: u32,
    #[command(flatten)]
    pub trading: TradingArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Write every combination's parameters and metrics to this CSV file
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Which defaults a strategy list shows.
#[derive(Debug, Clone, Copy)]
enum Defaults {
    /// What a backtest takes.
    Values,
    /// What a search covers.
    Ranges,
}

/// Every strategy of the catalog with its parameters' defaults, for `--help`: generated, so
/// it never falls behind the catalog.
fn strategy_help(defaults: Defaults) -> String {
    let mut text = match defaults {
        Defaults::Values => "Strategies and their default parameters:\n".to_string(),
        Defaults::Ranges => "Strategies and the ranges searched by default:\n".to_string(),
    };
    for info in marketcache_backtest::catalog() {
        let parameters: Vec<String> = info
            .parameters
            .iter()
            .map(|spec| match defaults {
                Defaults::Values => format!("{}={}", spec.name, spec.default),
                Defaults::Ranges => format!("{}={}", spec.name, spec.default_range),
            })
            .collect();
        let shown = if parameters.is_empty() {
            "(no parameters)".to_string()
        } else {
            parameters.join(" ")
        };
        text.push_str(&format!("  {:<13} {shown}\n", info.name));
    }
    text
}

fn parse_symbol(input: &str) -> Result<Symbol, String> {
    Symbol::parse(input).map_err(|e| e.to_string())
}

fn parse_adjustment(input: &str) -> Result<Adjustment, String> {
    input.parse()
}

fn parse_start(input: &str) -> Result<NaiveDate, String> {
    parse_date("start", input).map_err(|e| e.to_string())
}

fn parse_end(input: &str) -> Result<NaiveDate, String> {
    parse_date("end", input).map_err(|e| e.to_string())
}

fn parse_train_until(input: &str) -> Result<NaiveDate, String> {
    parse_date("train-until", input).map_err(|e| e.to_string())
}

fn parse_before(input: &str) -> Result<NaiveDate, String> {
    parse_date("before", input).map_err(|e| e.to_string())
}
