//! `marketcache demo`: "analyze AAPL 1990-2025" before and after caching, measured, offline, on a fresh
//! SQLite file with a synthetic upstream that answers like the slow API did.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use indicatif::{MultiProgress, ProgressDrawTarget};
use marketcache_backtest::{
    ParamRange, PriceSeries, RankMetric, Settings as TradingSettings, SmaCrossGrid,
};
use marketcache_cache::{GetOptions, MarketDataCache, WarmOutcome, Warmed, WarmedBars};
use marketcache_domain::{Clock, DateRange, Symbol, SystemClock};
use marketcache_upstream::SyntheticSource;

use crate::args::GlobalOptions;
use crate::commands::migrate::print_migration;
use crate::output::{human_bytes, human_duration, packing_line};
use crate::progress::WarmBars;
use crate::settings::Settings;

/// Per-request latency of the demo's upstream unless configured: slow enough to feel the
/// difference, short enough that the whole demo ends within about a minute on 2 cores.
const DEMO_LATENCY: Duration = Duration::from_millis(200);

/// Runs the demo.
pub async fn run(flags: &GlobalOptions, settings: &Settings) -> Result<ExitCode> {
    // A fresh temporary database unless one is named on the command line: the demo never
    // touches the user's configured cache.
    let temporary =
        tempfile::tempdir().context("cannot create a temporary folder for the demo database")?;
    let database_url = match &flags.database_url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            temporary.path().join("demo.sqlite").display()
        ),
    };
    let cache = open_demo_cache(settings, &database_url).await?;
    let span = DateRange::new(day(1990, 1, 1), day(2025, 12, 31))?;
    let aapl = Symbol::parse("AAPL")?;

    let outcomes = warm_step(&cache, &settings.tickers, &aapl, span).await;
    cold_and_cached_step(&cache, &outcomes, &aapl, span).await?;
    storage_step(&cache).await?;
    analysis_step(&cache, &aapl, span).await?;
    print_next_steps();
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The cache over `database_url` (migrated, saying so) and a slow synthetic upstream.
async fn open_demo_cache(settings: &Settings, database_url: &str) -> Result<MarketDataCache> {
    let mut synthetic = settings.synthetic;
    if !settings.latency_configured {
        synthetic.latency = DEMO_LATENCY;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let source = Arc::new(SyntheticSource::new(synthetic, clock.clone()));
    outln!(
        "marketcache demo: 'analyze AAPL 1990-2025' (35 years of daily bars), before and after caching\n"
    );
    outln!(
        "Upstream: synthetic provider, one request per {} days, {} ms per request, {} at a time (offline)",
        synthetic.max_span_days,
        synthetic.latency.as_millis(),
        synthetic.concurrency
    );
    let store = marketcache_store::connect(database_url).await?;
    let steps = store.migrate().await?;
    print_migration(&store.describe(), &steps);
    Ok(MarketDataCache::new(store, source, clock))
}

/// Step 1: warms `tickers` over `span`, one line per symbol, and returns their outcomes.
/// `analyzed` goes first and alone: its cold time is then what one analysis costs, not its
/// share of the request slots the other symbols fill together after it.
async fn warm_step(
    cache: &MarketDataCache,
    tickers: &[Symbol],
    analyzed: &Symbol,
    span: DateRange,
) -> Vec<WarmOutcome> {
    outln!(
        "\nStep 1: warm {} tickers, {} to {}",
        tickers.len(),
        span.start(),
        span.end()
    );
    let group = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let warm_started = Instant::now();
    let (alone, together): (Vec<Symbol>, Vec<Symbol>) = tickers
        .iter()
        .cloned()
        .partition(|ticker| ticker == analyzed);
    let progress = WarmBars::new(group);
    let first = cache.warm(&alone, span, &progress).await;
    let rest = cache.warm(&together, span, &progress).await;
    let packing = first.packing + rest.packing;
    let warm_elapsed = warm_started.elapsed().saturating_sub(packing);
    let packed = match rest.packed {
        Ok(None) => first.packed,
        other => other,
    };
    let warmed = Warmed {
        outcomes: first.outcomes.into_iter().chain(rest.outcomes).collect(),
        packed,
        packing,
        stopped: false,
    };
    let mut warm_bars = 0;
    let mut warm_requests = 0;
    for outcome in &warmed.outcomes {
        match &outcome.result {
            Ok(WarmedBars {
                bars,
                first_date: first,
                last_date: last,
                report,
            }) => {
                warm_bars += bars;
                warm_requests += report.upstream_requests;
                let first = first.map(|d| d.to_string()).unwrap_or_default();
                let last = last.map(|d| d.to_string()).unwrap_or_default();
                outln!(
                    "  {:<6} {:>6} bars  {first} .. {last}  {:>3} API calls  {:>8}",
                    outcome.symbol.as_str(),
                    bars,
                    report.upstream_requests,
                    human_duration(report.elapsed)
                );
            }
            Err(error) => outln!("  {:<6} failed: {error}", outcome.symbol.as_str()),
        }
    }
    outln!(
        "  total  {warm_bars} bars, {warm_requests} API calls, {}",
        human_duration(warm_elapsed)
    );
    if let Some(line) = packing_line(&warmed.packed, warmed.packing) {
        outln!("  {line}");
    }
    warmed.outcomes
}

/// Step 2: "analyze AAPL" cold (from the warm, or now if AAPL was not warmed), then cached:
/// from the database as a new process would, and from memory as a long-running one does.
async fn cold_and_cached_step(
    cache: &MarketDataCache,
    outcomes: &[WarmOutcome],
    aapl: &Symbol,
    span: DateRange,
) -> Result<()> {
    let cold = outcomes
        .iter()
        .find(|o| &o.symbol == aapl)
        .and_then(|o| o.result.as_ref().ok())
        .map(|warmed| (warmed.bars, warmed.report.clone()));
    let (cold_bars, cold_report) = match cold {
        Some(found) => found,
        None => {
            let response = cache.get_bars(aapl, span, GetOptions::default()).await?;
            (response.bars.len(), response.report)
        }
    };
    let mut database_times = Vec::new();
    let mut memory_times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        cache.forget_memory();
        let from_database = cache.get_bars(aapl, span, GetOptions::default()).await?;
        database_times.push(from_database.report.elapsed);
        let from_memory = cache.get_bars(aapl, span, GetOptions::default()).await?;
        memory_times.push(from_memory.report.elapsed);
        last = Some(from_database);
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (database_median, memory_median) = (median(&mut database_times), median(&mut memory_times));
    let cached = last.context("no cached read was made")?;
    let speedup = cold_report.elapsed.as_secs_f64() / database_median.as_secs_f64().max(1e-9);

    outln!(
        "\nStep 2: analyze AAPL {} to {}, cold and cached",
        span.start(),
        span.end()
    );
    outln!(
        "  First run (cold cache):  {:>9}, {:>3} API calls, {} bars stored",
        human_duration(cold_report.elapsed),
        cold_report.upstream_requests,
        cold_bars
    );
    outln!(
        "  Subsequent runs:         {:>9}, {:>3} API calls, {} bars from the database (median of 5)",
        human_duration(database_median),
        cached.report.upstream_requests,
        cached.report.cached_bars
    );
    outln!(
        "  Same process again:      {:>9}, {:>3} API calls (in-memory copy, checked against the database)",
        human_duration(memory_median),
        0
    );
    outln!("  Speed-up:                {speedup:.0}x (cold vs. database)");
    Ok(())
}

/// Step 3: what the cache takes on disk.
async fn storage_step(cache: &MarketDataCache) -> Result<()> {
    let stats = cache.stats().await?;
    outln!(
        "\nStep 3: storage: {} bars of {} symbols, {} on disk, bars table {:.1} bytes per bar (made-up bars are keyed SYMBOL@synthetic, 10 bytes longer than the ticker that keys market data)",
        stats.total_bars,
        stats.symbols.len(),
        human_bytes(stats.bytes_on_disk),
        stats.bytes_per_bar()
    );
    Ok(())
}

/// Step 4: the analysis itself, an SMA-crossover grid over the cached bars, timed with its read.
async fn analysis_step(cache: &MarketDataCache, aapl: &Symbol, span: DateRange) -> Result<()> {
    let analysis_started = Instant::now();
    let analysed = cache.get_bars(aapl, span, GetOptions::default()).await?;
    let series = PriceSeries::new(&analysed.bars)?;
    let fast = ParamRange::parse("fast", "5..100")?;
    let slow = ParamRange::parse("slow", "10..300:2")?;
    let grid = SmaCrossGrid::new(&series, fast, slow, TradingSettings::default())?;
    let outcome = grid.rank(RankMetric::Sharpe, 1);
    let analysis_elapsed = analysis_started.elapsed();
    outln!(
        "\nStep 4: analyze AAPL: SMA crossover, fast 5..100 x slow 10..300 step 2 ({} combinations), {} API calls",
        outcome.evaluated,
        analysed.report.upstream_requests
    );
    if let Some(best) = outcome.top.first() {
        outln!(
            "  best by Sharpe: fast {} / slow {}: Sharpe {:.3}, total return {:.1}%, max drawdown {:.1}%, {} trades",
            best.fast,
            best.slow,
            best.metrics.sharpe.unwrap_or(f64::NAN),
            best.metrics.total_return * 100.0,
            best.metrics.max_drawdown * 100.0,
            best.metrics.trades
        );
    }
    outln!(
        "  whole analysis (read + {} backtests): {}",
        outcome.evaluated,
        human_duration(analysis_elapsed)
    );
    Ok(())
}

fn print_next_steps() {
    outln!(
        "\nTry next (these use Yahoo, the default provider; add --provider synthetic to stay offline):"
    );
    outln!(
        "  cargo run --release -- warm AAPL MSFT --start 2000-01-01     # your own cache, fetching only what is missing"
    );
    outln!("  cargo run --release -- get AAPL --start 2020-01-01 --format json");
    outln!("  cargo run --release -- stats");
    outln!(
        "  cargo run --release -- backtest AAPL --param fast=20 --param slow=50 --start 2000-01-01"
    );
    outln!("  cargo run --release -- optimize AAPL --fast 5..100 --slow 10..300:2 --top 10");
    outln!(
        "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -- migrate"
    );
}

fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
}
