//! `marketcache clear`.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Result;

use crate::args::ClearArgs;
use crate::settings::Settings;
use crate::wiring::open_store_cache;

pub async fn clear(settings: &Settings, args: ClearArgs) -> Result<ExitCode> {
    let what = match (&args.symbol, args.before) {
        (Some(symbol), Some(before)) => {
            format!("the bars and coverage of {symbol} (every source) before {before}")
        }
        (Some(symbol), None) => format!("all bars and coverage of {symbol} (every source)"),
        (None, Some(before)) => format!("the bars and coverage of every symbol before {before}"),
        (None, None) => "every cached bar and all coverage".to_string(),
    };
    let cache = open_store_cache(settings).await?;
    if !args.yes {
        eprint!("Delete {what} from {}? [y/N] ", cache.describe_store());
        let mut answer = String::new();
        // End of input (no terminal, nothing piped) reads as "no".
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            eprintln!("\nAborted: nothing deleted (pass --yes to skip the question).");
            return Ok(ExitCode::from(1));
        }
    }
    let report = cache.clear(args.symbol.as_ref(), args.before).await?;
    outln!(
        "Deleted {what}: {} bars, {} coverage entries changed.",
        report.bars_deleted,
        report.coverage_spans_changed
    );
    Ok(ExitCode::SUCCESS)
}
