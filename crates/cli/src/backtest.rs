//! `backtest` and `optimize`: strategies over bars read through the cache.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use marketcache_backtest::{
    BacktestError, BuyAndHold, Metrics, ParamRange, PriceSeries, RankMetric, Settings as Trading,
    SmaCross, SmaCrossGrid, build_strategy, parse_assignment, run,
};
use marketcache_cache::{FetchReport, GetOptions, SymbolBars};
use marketcache_domain::bar::fingerprint;
use marketcache_domain::{Bar, Symbol, SystemClock};

use crate::UsageError;
use crate::args::{BacktestArgs, OptimizeArgs, TradingArgs};
use crate::commands::{open_cache, requested_range};
use crate::output::human_duration;
use crate::settings::Settings;

fn usage(error: BacktestError) -> UsageError {
    UsageError(error.to_string())
}

fn trading(args: &TradingArgs) -> Result<Trading, UsageError> {
    Trading::new(args.initial_cash, args.fees, args.slippage).map_err(usage)
}

/// The bars of `symbol` through the cache; a range without bars is a failure worth one line.
async fn bars_through_cache(
    settings: &Settings,
    symbol: &Symbol,
    range: marketcache_domain::DateRange,
) -> Result<SymbolBars> {
    let cache = open_cache(settings).await?;
    let response = cache.get_bars(symbol, range, GetOptions::default()).await?;
    if response.bars.is_empty() {
        anyhow::bail!(
            "no bars for {symbol} between {} and {}",
            range.start(),
            range.end()
        );
    }
    Ok(response)
}

/// What a run read: enough to reproduce it and to tell whether two runs saw the same bars.
fn data_fingerprint(symbol: &Symbol, bars: &[Bar]) -> serde_json::Value {
    serde_json::json!({
        "symbol": symbol,
        "first_date": bars.first().map(|bar| bar.date),
        "last_date": bars.last().map(|bar| bar.date),
        "bars": bars.len(),
        "hash": format!("{:016x}", fingerprint(bars)),
    })
}

fn data_line(symbol: &Symbol, bars: &[Bar], report: &FetchReport) -> String {
    format!(
        "Data: {symbol}, {} bars {}..{}, fingerprint {:016x} ({} cached, {} fetched), {} upstream requests, {}",
        bars.len(),
        bars.first()
            .map(|bar| bar.date.to_string())
            .unwrap_or_default(),
        bars.last()
            .map(|bar| bar.date.to_string())
            .unwrap_or_default(),
        fingerprint(bars),
        report.cached_bars,
        report.fetched_bars,
        report.upstream_requests,
        human_duration(report.elapsed)
    )
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:.2}%", v * 100.0))
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn metric_rows(metrics: &Metrics) -> Vec<(&'static str, String)> {
    let date = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
    vec![
        ("final equity", format!("{:.2}", metrics.final_equity)),
        ("total return", percent(Some(metrics.total_return))),
        ("CAGR", percent(metrics.cagr)),
        ("volatility (ann.)", percent(metrics.annualized_volatility)),
        ("Sharpe", number(metrics.sharpe)),
        ("Sortino", number(metrics.sortino)),
        ("max drawdown", percent(Some(metrics.max_drawdown))),
        ("drawdown peak", date(metrics.drawdown_peak)),
        ("drawdown trough", date(metrics.drawdown_trough)),
        ("Calmar", number(metrics.calmar)),
        ("trades", metrics.trades.to_string()),
        ("win rate", percent(metrics.win_rate)),
        ("average trade", percent(metrics.average_trade_return)),
        ("exposure", percent(Some(metrics.exposure))),
    ]
}

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

    let response = bars_through_cache(settings, &args.symbol, range).await?;
    let series = PriceSeries::new(&response.bars)?;
    let report = run(&series, strategy.as_ref(), &money)?;
    let baseline = run(&series, &BuyAndHold, &money)?;

    if args.json {
        let value = serde_json::json!({
            "symbol": args.symbol,
            "strategy": report.strategy,
            "parameters": report.parameters.iter().map(|(name, value)| (name.to_string(), value)).collect::<std::collections::BTreeMap<_, _>>(),
            "metrics": report.metrics,
            "buy_and_hold": baseline.metrics,
            "trades": if args.trades { Some(&report.trades) } else { None },
            "data": response.report,
            "fingerprint": data_fingerprint(&args.symbol, &response.bars),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let parameters: Vec<String> = report
        .parameters
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    println!(
        "{} {} {} from {} to {} ({} bars)",
        args.symbol,
        report.strategy,
        parameters.join(" "),
        report.metrics.first_date,
        report.metrics.last_date,
        report.metrics.bars
    );
    println!(
        "\n{:<18} {:>14} {:>14}",
        "metric", report.strategy, "buy-and-hold"
    );
    for ((name, ours), (_, theirs)) in metric_rows(&report.metrics)
        .into_iter()
        .zip(metric_rows(&baseline.metrics))
    {
        println!("{name:<18} {ours:>14} {theirs:>14}");
    }
    if args.trades {
        println!(
            "\n{:<10}  {:<10}  {:>10}  {:>10}  {:>9}",
            "entry", "exit", "entry px", "exit px", "return"
        );
        for trade in &report.trades {
            let exit = trade
                .exit_date
                .map_or_else(|| "open".to_string(), |d| d.to_string());
            println!(
                "{:<10}  {:<10}  {:>10.4}  {:>10.4}  {:>9}",
                trade.entry_date.to_string(),
                exit,
                trade.entry_price,
                trade.exit_price,
                percent(Some(trade.return_rate))
            );
        }
    }
    println!(
        "\n{}",
        data_line(&args.symbol, &response.bars, &response.report)
    );
    Ok(ExitCode::SUCCESS)
}

/// `marketcache optimize`.
pub async fn optimize(settings: &Settings, args: OptimizeArgs) -> Result<ExitCode> {
    let range = requested_range(args.start, args.end, &SystemClock)?;
    if args.strategy != "sma-cross" {
        return Err(UsageError(format!(
            "strategy '{}' is invalid for optimize: the grid search supports sma-cross",
            args.strategy
        ))
        .into());
    }
    let fast = ParamRange::parse("fast", &args.fast).map_err(usage)?;
    let slow = ParamRange::parse("slow", &args.slow).map_err(usage)?;
    let metric: RankMetric = args.metric.parse().map_err(usage)?;
    let money = trading(&args.trading)?;

    let response = bars_through_cache(settings, &args.symbol, range).await?;
    // With --train-until the grid ranks on the earlier bars only; the later ones test the winners.
    let split = match args.train_until {
        Some(day) => response.bars.partition_point(|bar| bar.date <= day),
        None => response.bars.len(),
    };
    let (train, test) = response.bars.split_at(split);
    if args.train_until.is_some() && (train.is_empty() || test.is_empty()) {
        return Err(UsageError(format!(
            "train-until {} is invalid: it must leave bars on both sides within {}..{}",
            args.train_until.map(|d| d.to_string()).unwrap_or_default(),
            range.start(),
            range.end()
        ))
        .into());
    }
    let series = PriceSeries::new(train)?;
    let started = Instant::now();
    let grid = SmaCrossGrid::new(&series, fast, slow, money).map_err(usage)?;
    // Drawn on stderr only when it is a terminal; a grid of ~12,000 cells takes under a second.
    let bar = ProgressBar::with_draw_target(Some(grid.len() as u64), ProgressDrawTarget::stderr())
        .with_style(
            ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} combinations ({per_sec}, ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    let outcome = grid.rank_with_progress(metric, args.top as usize, &|done| bar.inc(done as u64));
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let per_second = outcome.evaluated as f64 / elapsed.as_secs_f64().max(1e-9);
    let out_of_sample: Vec<Option<Metrics>> = if test.is_empty() {
        vec![None; outcome.top.len()]
    } else {
        let test_series = PriceSeries::new(test)?;
        outcome
            .top
            .iter()
            .map(|entry| {
                let strategy = SmaCross::new(entry.fast, entry.slow)?;
                Ok(Some(run(&test_series, &strategy, &money)?.metrics))
            })
            .collect::<Result<_, BacktestError>>()?
    };

    if let Some(path) = &args.output {
        write_all_combinations(&grid, path)?;
    }
    if args.json {
        let value = serde_json::json!({
            "symbol": args.symbol,
            "strategy": "sma-cross",
            "metric": metric.name(),
            "evaluated": outcome.evaluated,
            "bars": outcome.bars,
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            "combinations_per_second": per_second,
            "top": outcome.top.iter().zip(&out_of_sample).map(|(entry, test)| serde_json::json!({
                "fast": entry.fast,
                "slow": entry.slow,
                "metrics": entry.metrics,
                "out_of_sample": test,
            })).collect::<Vec<_>>(),
            "train_until": args.train_until,
            "data": response.report,
            "fingerprint": data_fingerprint(&args.symbol, &response.bars),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} sma-cross, fast {} × slow {} (fast < slow), ranked by {}",
        args.symbol, args.fast, args.slow, metric
    );
    if let Some(day) = args.train_until {
        println!(
            "In-sample: {} bars up to {day}; out-of-sample: the {} bars after it",
            train.len(),
            test.len()
        );
    }
    let test_header = if test.is_empty() {
        String::new()
    } else {
        format!(" {:>12} {:>10}", "OOS Sharpe", "OOS return")
    };
    println!(
        "\n{:>4} {:>5} {:>5} {:>12} {:>10} {:>8} {:>10} {:>7}{test_header}",
        "rank",
        "fast",
        "slow",
        metric.name(),
        "return",
        "Sharpe",
        "max dd",
        "trades"
    );
    for (rank, (entry, test_metrics)) in outcome.top.iter().zip(&out_of_sample).enumerate() {
        let test_columns = test_metrics.as_ref().map_or_else(String::new, |m| {
            format!(
                " {:>12} {:>10}",
                number(m.sharpe),
                percent(Some(m.total_return))
            )
        });
        println!(
            "{:>4} {:>5} {:>5} {:>12} {:>10} {:>8} {:>10} {:>7}{test_columns}",
            rank + 1,
            entry.fast,
            entry.slow,
            number(metric.value(&entry.metrics)),
            percent(Some(entry.metrics.total_return)),
            number(entry.metrics.sharpe),
            percent(Some(entry.metrics.max_drawdown)),
            entry.metrics.trades
        );
    }
    println!(
        "\n{} combinations over {} bars in {} ({:.0} combinations/s, {:.0} million bar-evaluations/s)",
        outcome.evaluated,
        outcome.bars,
        human_duration(elapsed),
        per_second,
        per_second * outcome.bars as f64 / 1e6
    );
    println!(
        "{}",
        data_line(&args.symbol, &response.bars, &response.report)
    );
    Ok(ExitCode::SUCCESS)
}

/// Every combination of the grid with its metrics, as CSV for pandas.
fn write_all_combinations(grid: &SmaCrossGrid, path: &std::path::Path) -> Result<()> {
    let mut text = String::from(
        "fast,slow,trades,closed_trades,total_return,final_equity,cagr,sharpe,sortino,max_drawdown,calmar,win_rate,exposure\n",
    );
    let optional = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    for (fast, slow) in grid.combinations() {
        let m = grid.evaluate(fast, slow)?;
        let _ = writeln!(
            text,
            "{fast},{slow},{},{},{},{},{},{},{},{},{},{},{}",
            m.trades,
            m.closed_trades,
            m.total_return,
            m.final_equity,
            optional(m.cagr),
            optional(m.sharpe),
            optional(m.sortino),
            m.max_drawdown,
            optional(m.calmar),
            optional(m.win_rate),
            m.exposure
        );
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
