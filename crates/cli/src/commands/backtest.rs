//! `marketcache backtest`.

use std::process::ExitCode;

use anyhow::Result;
use marketcache_backtest::{build_strategy, parse_assignment, run_against_buy_and_hold};
use marketcache_domain::SystemClock;

use crate::args::BacktestArgs;
use crate::settings::Settings;
use crate::wiring::requested_range;

use super::report::{
    bars_through_cache, data_fingerprint, data_line, metric_rows, percent, trading, usage,
};

/// `marketcache backtest`.
pub async fn backtest(settings: &Settings, args: BacktestArgs) -> Result<ExitCode> {
    // Everything the user typed is checked before the database is opened.
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let pairs = args
        .params
        .iter()
        .map(|text| parse_assignment(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let strategy = build_strategy(&args.strategy, &pairs).map_err(usage)?;
    let money = trading(&args.trading)?;

    let response = bars_through_cache(settings, &args.symbol, range, args.read.policy()).await?;
    let outcome = run_against_buy_and_hold(&response.bars, strategy.as_ref(), &money)?;
    let (report, baseline) = (outcome.report, outcome.baseline);

    if args.json {
        let value = serde_json::json!({
            "symbol": args.symbol,
            "strategy": report.strategy,
            "parameters": report.parameters.iter().map(|(name, value)| (name.to_string(), value)).collect::<std::collections::BTreeMap<_, _>>(),
            "metrics": report.metrics,
            "buy_and_hold": baseline.metrics,
            "trades": if args.trades { Some(&report.trades) } else { None },
            "data": response.report,
            "fingerprint": data_fingerprint(&args.symbol, &response.bars)?,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let parameters: Vec<String> = report
        .parameters
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    outln!(
        "{} {} {} from {} to {} ({} bars)",
        args.symbol,
        report.strategy,
        parameters.join(" "),
        report.metrics.first_date,
        report.metrics.last_date,
        report.metrics.bars
    );
    outln!(
        "\n{:<18} {:>14} {:>14}",
        "metric",
        report.strategy,
        "buy-and-hold"
    );
    for ((name, ours), (_, theirs)) in metric_rows(&report.metrics)
        .into_iter()
        .zip(metric_rows(&baseline.metrics))
    {
        outln!("{name:<18} {ours:>14} {theirs:>14}");
    }
    if args.trades {
        outln!(
            "\n{:<10}  {:<10}  {:>10}  {:>10}  {:>9}",
            "entry",
            "exit",
            "entry px",
            "exit px",
            "return"
        );
        for trade in &report.trades {
            let exit = trade
                .exit_date
                .map_or_else(|| "open".to_string(), |d| d.to_string());
            outln!(
                "{:<10}  {:<10}  {:>10.4}  {:>10.4}  {:>9}",
                trade.entry_date.to_string(),
                exit,
                trade.entry_price,
                trade.exit_price,
                percent(Some(trade.return_rate))
            );
        }
    }
    outln!(
        "\n{}",
        data_line(&args.symbol, &response.bars, &response.report)
    );
    Ok(ExitCode::SUCCESS)
}
