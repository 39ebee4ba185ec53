//! `marketcache warm`.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::NaiveDate;
use indicatif::{MultiProgress, ProgressDrawTarget};
use marketcache_cache::{WarmOutcome, WarmedBars};
use marketcache_domain::error::error_chain;
use marketcache_domain::{Symbol, SystemClock};

use crate::args::WarmArgs;
use crate::output::{human_duration, packing_line};
use crate::progress::WarmBars;
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::wiring::{open_cache, requested_range};

/// The symbols of a `--file`: one per line, `#` starts a comment, blank lines skipped.
fn read_ticker_file(path: &Path) -> Result<Vec<Symbol>, UsageError> {
    let file = std::fs::File::open(path)
        .map_err(|e| UsageError(format!("--file {}: {e}", path.display())))?;
    let mut symbols = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| UsageError(format!("--file {}: {e}", path.display())))?;
        let text = line.split('#').next().unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        let symbol = Symbol::parse(text).map_err(|e| {
            UsageError(format!("--file {} line {}: {e}", path.display(), index + 1))
        })?;
        symbols.push(symbol);
    }
    Ok(symbols)
}

/// `marketcache warm`: the symbols named (or configured) over the range, one table row each.
pub async fn warm(settings: &Settings, args: WarmArgs) -> Result<ExitCode> {
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let symbols = symbols_to_warm(settings, &args)?;
    let cache = open_cache(settings).await?;
    if args.plan {
        return super::providers::plan_warm(&cache, &symbols, range).await;
    }
    outln!(
        "Warming {} symbol(s) from {} to {} via {} into {}",
        symbols.len(),
        range.start(),
        range.end(),
        cache.source().name(),
        cache.describe_store()
    );
    let group = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let started = Instant::now();
    let warmed = cache.warm(&symbols, range, &WarmBars::new(group)).await;
    // The symbols' time, then the packing's on its own line.
    let fetching = started.elapsed().saturating_sub(warmed.packing);
    let failed = print_outcomes(&warmed.outcomes, fetching);
    if let Some(line) = packing_line(&warmed.packed, warmed.packing) {
        outln!("{line}");
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The symbols named and those of `--file`, else the configured list; each once, in order.
fn symbols_to_warm(settings: &Settings, args: &WarmArgs) -> Result<Vec<Symbol>, UsageError> {
    let mut symbols = args.symbols.clone();
    if let Some(path) = &args.file {
        symbols.extend(read_ticker_file(path)?);
    }
    if symbols.is_empty() {
        symbols = settings.tickers.clone();
    }
    // Drop repeats wherever they are (arguments and --file may both name a symbol), keeping order.
    let mut seen = std::collections::HashSet::new();
    symbols.retain(|symbol| seen.insert(symbol.clone()));
    Ok(symbols)
}

/// The table of outcomes and its totals; the number of symbols that failed.
fn print_outcomes(outcomes: &[WarmOutcome], elapsed: Duration) -> usize {
    outln!();
    outln!(
        "{:<8} {:<7} {:>7} {:<10}  {:<10}  {:>8} {:>9}",
        "symbol",
        "status",
        "bars",
        "first",
        "last",
        "requests",
        "time"
    );
    let (mut failed, mut total_bars, mut total_requests) = (0usize, 0usize, 0usize);
    let mut total_rejected = 0usize;
    for outcome in outcomes {
        match &outcome.result {
            Ok(warmed) => {
                total_bars += warmed.bars;
                total_requests += warmed.report.upstream_requests;
                total_rejected += warmed.report.rejected_rows;
                print_row(outcome.symbol.as_str(), warmed);
            }
            Err(error) => {
                failed += 1;
                // The whole chain: "database error while writing bars: database or disk is full".
                outln!(
                    "{:<8} {:<7} {}",
                    outcome.symbol.as_str(),
                    "FAILED",
                    error_chain(error)
                );
            }
        }
    }
    outln!(
        "\n{} symbol(s): {} ok, {failed} failed; {total_bars} bars in range; {total_requests} upstream requests; {}",
        outcomes.len(),
        outcomes.len() - failed,
        human_duration(elapsed)
    );
    if total_rejected > 0 {
        outln!("{total_rejected} upstream rows rejected in all (see `marketcache stats`)");
    }
    failed
}

/// One warmed symbol's row, and its rejected rows when there were any.
fn print_row(symbol: &str, warmed: &WarmedBars) {
    let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    let report = &warmed.report;
    outln!(
        "{:<8} {:<7} {:>7} {:<10}  {:<10}  {:>8} {:>9}",
        symbol,
        "ok",
        warmed.bars,
        day(warmed.first_date),
        day(warmed.last_date),
        report.upstream_requests,
        human_duration(report.elapsed)
    );
    if report.rejected_rows > 0 {
        outln!(
            "{:<8} {} upstream rows rejected (failed the bar checks, not stored)",
            "",
            report.rejected_rows
        );
    }
}
