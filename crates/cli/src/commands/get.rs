//! `marketcache get`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use marketcache_cache::bar_columns::{Described, bars_arrow_ipc, bars_parquet};
use marketcache_cache::{FetchReport, GetOptions, SymbolBars};
use marketcache_domain::{Dataset, SystemClock};

use crate::args::{Format, GetArgs};
use crate::output::{bars_json, human_duration};
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::wiring::{open_cache, requested_range};

pub async fn get(settings: &Settings, args: GetArgs) -> Result<ExitCode> {
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let format = Format::resolve(args.format, args.output.as_deref()).map_err(UsageError)?;
    if format.is_binary() && args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(UsageError(format!(
            "format {} is binary: write it to a file with -o, or pipe it",
            format.name()
        ))
        .into());
    }
    let cache = open_cache(settings).await?;
    let options = GetOptions {
        force_refresh: args.force_refresh,
        offline: args.offline,
        adjust: args.adjust,
        closed_only: args.closed_only,
        adj_close: args.adj_close,
    };
    let mut responses: Vec<SymbolBars> = Vec::with_capacity(args.symbols.len());
    for symbol in &args.symbols {
        // A symbol named twice is read and written once.
        if !responses.iter().any(|response| &response.symbol == symbol) {
            responses.push(cache.get_bars(symbol, range, options).await?);
        }
    }
    let described = Described {
        responses: &responses,
        adjust: args.adjust,
    };
    let text = match (format, responses.as_slice()) {
        (Format::Csv, [one]) => marketcache_cache::bar_text::response_csv(one)?,
        (Format::Json, [one]) => bars_json(one)?,
        (Format::Csv, several) => marketcache_cache::bar_text::series_csv(several)?,
        (Format::Json, several) => {
            let mut text = marketcache_cache::bar_text::series_json(several)?;
            text.push(b'\n');
            text
        }
        (Format::Parquet, _) => bars_parquet(described)?,
        (Format::Arrow, _) => bars_arrow_ipc(described)?,
    };
    write_out(args.output.as_deref(), &text)?;
    for response in &responses {
        eprintln!("{}", summary_line(response, cache.dataset()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to the file at `path`, or to standard output.
fn write_out(path: Option<&std::path::Path>, text: &[u8]) -> Result<()> {
    match path {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            match stdout.write_all(text).and_then(|()| stdout.flush()) {
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
                _ => Ok(()),
            }
        }
    }
}

/// The line on standard error that says how one symbol's bars were obtained.
fn summary_line(response: &SymbolBars, dataset: Dataset) -> String {
    let report = &response.report;
    let mut summary = format!(
        "{}: {} bars ({} cached, {} fetched) from {}, {} upstream requests, {}",
        response.symbol,
        response.bars.len(),
        report.cached_bars,
        report.fetched_bars,
        served_by(report, dataset),
        report.upstream_requests,
        human_duration(report.elapsed)
    );
    if report.provisional_bars > 0 {
        summary.push_str(&format!(
            "; {} provisional (not final yet; --closed-only leaves them out)",
            report.provisional_bars
        ));
    }
    if report.rejected_rows > 0 {
        summary.push_str(&format!(
            "; {} upstream rows rejected (failed the bar checks, not stored)",
            report.rejected_rows
        ));
    }
    if let Some(today) = report.clipped_to {
        summary.push_str(&format!(
            "; the range ends after today: served through {today}, later days are never asked for"
        ));
    }
    if !report.missing.is_empty() {
        let missing: Vec<String> = report.missing.iter().map(ToString::to_string).collect();
        summary.push_str(&format!("; missing (offline): {}", missing.join(", ")));
    }
    summary
}

/// Who served a read's bars, for its summary line: the providers, and what kind of prices
/// they are when they are not market data.
pub fn served_by(report: &FetchReport, dataset: Dataset) -> String {
    let providers = if report.providers.is_empty() {
        "no provider".to_string()
    } else {
        report.providers.join(", ")
    };
    match dataset {
        Dataset::Market => providers,
        other => format!("{providers} ({})", other.describe()),
    }
}
