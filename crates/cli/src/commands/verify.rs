//! `marketcache verify`.

use std::process::ExitCode;

use anyhow::Result;
use marketcache_cache::{VerifyOptions, VerifyReport};

use crate::args::VerifyArgs;
use crate::settings::{ProviderChoice, Settings};
use crate::wiring::{open_cache, open_store_cache};

pub async fn verify(settings: &Settings, args: VerifyArgs) -> Result<ExitCode> {
    let mut options = VerifyOptions {
        symbol: args.symbol,
        against: None,
        sample: args.sample,
    };
    // `--symbol` names the key of the configured provider's data set, or of --against's.
    let cache = match &args.against {
        Some(name) => {
            let mut against = settings.clone();
            against.provider = ProviderChoice::parse(name)?;
            against.fallbacks.clear();
            let cache = open_cache(&against).await?;
            options.against = Some(cache.source().clone());
            cache
        }
        None => {
            let dataset = settings.provider.dataset();
            options.symbol = options.symbol.map(|symbol| symbol.stored_as(dataset));
            open_store_cache(settings).await?
        }
    };
    let report = cache.verify(&options).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.against.as_deref());
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &VerifyReport, against: Option<&str>) {
    for problem in &report.problems {
        let days = problem.range.map(|range| format!(" {range}"));
        outln!(
            "{} {}{}: {}",
            problem.symbol,
            problem.kind,
            days.unwrap_or_default(),
            problem.detail
        );
    }
    let compared = match against {
        Some(provider) => format!(
            ", {} ranges compared with {provider} ({} requests)",
            report.ranges_compared, report.upstream_requests
        ),
        None => String::new(),
    };
    outln!(
        "{} symbol(s), {} bars, {} ledger entries checked{compared}: {} problem(s)",
        report.symbols,
        report.bars,
        report.ledger_entries,
        report.problems.len()
    );
}
