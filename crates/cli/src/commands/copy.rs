//! `marketcache copy`.

use std::process::ExitCode;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use marketcache_cache::{CopiedSymbol, CopyProgress, CopyReport, copy_store};

use crate::args::CopyArgs;
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::wiring::open_store;

pub async fn copy(settings: &Settings, args: CopyArgs) -> Result<ExitCode> {
    for (field, url) in [("--from", &args.from), ("--to", &args.to)] {
        if !marketcache_store::is_supported_url(url) {
            return Err(UsageError(format!(
                "{field} is invalid: must start with sqlite:// or postgres://"
            ))
            .into());
        }
    }
    if args.from == args.to {
        return Err(UsageError("--to must name another database than --from".to_string()).into());
    }
    let at = |url: &String| Settings {
        database_url: url.clone(),
        ..settings.clone()
    };
    let from = open_store(&at(&args.from)).await?;
    let to = open_store(&at(&args.to)).await?;
    eprintln!("Copying {} into {}", from.describe(), to.describe());
    let bar = CopyBar::new();
    let report = copy_store(from.as_ref(), to.as_ref(), &bar).await?;
    bar.0.finish_and_clear();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.mismatched().next().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &CopyReport) {
    for symbol in report.mismatched() {
        outln!(
            "{} MISMATCH: its bars in the target differ from the source's (count or checksum)",
            symbol.symbol
        );
    }
    let skipped = report
        .symbols
        .iter()
        .filter(|symbol| symbol.skipped)
        .count();
    let mismatched = report.mismatched().count();
    outln!(
        "{} symbol(s), {} bars: {} copied, {skipped} already there; {}",
        report.symbols.len(),
        report.bars,
        report.symbols.len() - skipped,
        if mismatched == 0 {
            "every symbol's bars read back equal (count and checksum)".to_string()
        } else {
            format!("{mismatched} symbol(s) do not match")
        }
    );
}

/// One progress bar over the symbols, on stderr.
struct CopyBar(ProgressBar);

impl CopyBar {
    fn new() -> Self {
        let style = ProgressStyle::with_template(
            "[{bar:30.cyan/blue}] {pos}/{len} symbols, {msg} ({elapsed}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Self(ProgressBar::new(0).with_style(style))
    }
}

impl CopyProgress for CopyBar {
    fn planned(&self, symbols: usize) {
        self.0.set_length(symbols as u64);
    }

    fn copied(&self, symbol: &CopiedSymbol) {
        self.0.set_message(symbol.symbol.clone());
        self.0.inc(1);
    }
}
