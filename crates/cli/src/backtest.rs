//! `backtest` and `optimize`: strategies over bars read through the cache.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use marketcache_backtest::{
    BacktestError, EntrySink, Metrics, ParamValue, RankMetric, Search, SearchPlan,
    Settings as Trading, build_strategy, find_strategy, parse_assignment, run_against_buy_and_hold,
};
use marketcache_cache::FetchReport;
use marketcache_cache::analysis::{BarsPolicy, bars_for_analysis};
use marketcache_domain::bar::fingerprint;
use marketcache_domain::{Bar, DataFingerprint, Symbol, SystemClock};

use crate::UsageError;
use crate::args::{BacktestArgs, Format, OptimizeArgs, TradingArgs};
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
    policy: BarsPolicy,
) -> Result<marketcache_cache::SymbolBars> {
    let cache = open_cache(settings).await?;
    let response = bars_for_analysis(&cache, symbol, range, policy).await?;
    if !response.report.missing.is_empty() {
        eprintln!("warning: {}", missing_line(&response.report));
    }
    Ok(response)
}

/// What a run's bars lack, and why upstream was not asked for it.
fn missing_line(report: &FetchReport) -> String {
    let missing: Vec<String> = report.missing.iter().map(ToString::to_string).collect();
    let why = match &report.upstream_unavailable {
        Some(reason) => format!("the provider could not be reached: {reason}"),
        None => "offline".to_string(),
    };
    format!(
        "ran on the cached bars without {} ({why})",
        missing.join(", ")
    )
}

/// What a run read: enough to reproduce it and to tell whether two runs saw the same bars.
fn data_fingerprint(symbol: &Symbol, bars: &[Bar]) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(DataFingerprint::of(symbol, bars))?)
}

fn data_line(symbol: &Symbol, bars: &[Bar], report: &FetchReport) -> String {
    format!(
        "Data: {symbol}, {} bars {}..{}, fingerprint {:016x} ({} cached, {} fetched) from {}, {} upstream requests, {}",
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
        report.providers.join(", "),
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

/// The metrics every ranking shows after the ranking metric (then the trades), with their labels.
const SUMMARY_COLUMNS: [(&str, RankMetric); 3] = [
    ("return", RankMetric::TotalReturn),
    ("Sharpe", RankMetric::Sharpe),
    ("max dd", RankMetric::MaxDrawdown),
];

/// A metric as the ranking table shows it: returns and rates as percentages.
fn metric_text(metric: RankMetric, metrics: &Metrics) -> String {
    match metric {
        RankMetric::TotalReturn
        | RankMetric::Cagr
        | RankMetric::MaxDrawdown
        | RankMetric::WinRate
        | RankMetric::AverageTradeReturn => percent(metric.value(metrics)),
        _ => number(metric.value(metrics)),
    }
}

/// `marketcache optimize`: a grid search over any catalog strategy's parameter ranges.
///
/// sma-cross keeps its specialised grid (shared SMAs, several times faster); every other
/// strategy goes through the generic grid, so a new catalog entry needs nothing here. The
/// search itself is [`SearchPlan`], shared with the server's `/api/optimize`.
pub async fn optimize(settings: &Settings, args: OptimizeArgs) -> Result<ExitCode> {
    // Everything the user typed, ranges included, is checked before the database is opened.
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let info = find_strategy(&args.strategy).map_err(usage)?;
    let given = range_assignments(&args)?;
    let ranges = info.parse_ranges(&given).map_err(usage)?;
    let metric: RankMetric = args.metric.parse().map_err(usage)?;
    let money = trading(&args.trading)?;
    // The generic grid counts the combinations its constraints accept now, so a grid the
    // strategy refuses entirely is a usage error too; the CLI keeps the grid crate's own limit.
    let plan = SearchPlan::new(info, ranges, usize::MAX).map_err(usage)?;
    if let Some(path) = args.output.as_deref()
        && Format::resolve(None, Some(path)).map_err(UsageError)? != Format::Csv
    {
        return Err(UsageError(format!(
            "output '{}' is invalid: optimize writes every combination as CSV; name the file .csv",
            path.display()
        ))
        .into());
    }
    // Open the CSV before the search: a bad path should not cost a whole grid.
    let mut csv = args
        .output
        .as_deref()
        .map(|path| CsvWriter::create(path, info.parameters.iter().map(|spec| spec.name)))
        .transpose()?;

    let response = bars_through_cache(settings, &args.symbol, range, args.read.policy()).await?;
    let search = Search {
        metric,
        top: args.top as usize,
        money,
        train_until: args.train_until,
    };
    let bar = progress_bar(plan.evaluations());
    let writing = csv.is_some();
    let mut on_entry = |values: &[ParamValue], metrics: &Metrics| {
        if let Some(csv) = csv.as_mut() {
            csv.row(values, metrics);
        }
    };
    // Only a CSV needs every combination: without one, the search keeps just the leaders.
    let ranking = plan
        .run(
            &response.bars,
            &search,
            &|done| bar.inc(done as u64),
            writing.then_some(&mut on_entry as EntrySink<'_>),
        )
        .map_err(|error| match error {
            BacktestError::EmptySplit { train_until } => anyhow::Error::from(UsageError(format!(
                "train-until {train_until} is invalid: it must leave bars on both sides within {}..{}",
                range.start(),
                range.end()
            ))),
            other => other.into(),
        })?;
    bar.finish_and_clear();
    if let Some(csv) = csv {
        csv.finish()?;
    }
    let per_second = ranking.evaluated as f64 / ranking.elapsed.as_secs_f64().max(1e-9);
    let range_texts = plan.range_texts();

    if args.json {
        let value = serde_json::json!({
            "symbol": args.symbol,
            "strategy": info.name,
            "metric": metric.name(),
            "parameters": info.parameters.iter().map(|spec| spec.name).collect::<Vec<_>>(),
            "ranges": range_texts.iter().map(|(name, text)| (name.to_string(), serde_json::Value::from(text.as_str()))).collect::<serde_json::Map<_, _>>(),
            "combinations": ranking.combinations,
            "evaluated": ranking.evaluated,
            "skipped": ranking.skipped,
            "bars": ranking.bars,
            "elapsed_ms": ranking.elapsed.as_secs_f64() * 1000.0,
            "combinations_per_second": per_second,
            "summary": ranking.summary,
            "top": ranking.top.iter().map(|entry| {
                // Each entry carries the strategy's own parameters as keys (fast/slow for sma-cross).
                let mut row: serde_json::Map<String, serde_json::Value> = entry
                    .parameters
                    .iter()
                    .map(|(name, value)| Ok((name.to_string(), serde_json::to_value(value)?)))
                    .collect::<Result<_, serde_json::Error>>()?;
                row.insert("metrics".into(), serde_json::to_value(entry.metrics)?);
                row.insert("out_of_sample".into(), serde_json::to_value(entry.out_of_sample)?);
                Ok(serde_json::Value::Object(row))
            }).collect::<Result<Vec<_>, serde_json::Error>>()?,
            "train_until": args.train_until,
            "data": response.report,
            "fingerprint": data_fingerprint(&args.symbol, &response.bars)?,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let described: Vec<String> = range_texts
        .iter()
        .map(|(name, text)| format!("{name} {text}"))
        .collect();
    println!(
        "{} {}, {}, ranked by {}",
        args.symbol,
        info.name,
        described.join(" × "),
        metric
    );
    if let Some(day) = args.train_until {
        println!(
            "In-sample: {} bars up to {day}; out-of-sample: the {} bars after it",
            ranking.train_bars, ranking.test_bars
        );
    }
    // One column per parameter, as wide as its name and at least five characters.
    let widths: Vec<usize> = info
        .parameters
        .iter()
        .map(|spec| spec.name.len().max(5))
        .collect();
    let parameter_header: String = info
        .parameters
        .iter()
        .zip(&widths)
        .map(|(spec, width)| format!(" {:>width$}", spec.name))
        .collect();
    let test_header = if ranking.test_bars == 0 {
        String::new()
    } else {
        format!(" {:>12} {:>10}", "OOS Sharpe", "OOS return")
    };
    // The ranking metric leads; a fixed column that repeats it is left out.
    let columns: Vec<&(&str, RankMetric)> = SUMMARY_COLUMNS
        .iter()
        .filter(|(_, shown)| *shown != metric)
        .collect();
    let column_header: String = columns
        .iter()
        .map(|(label, _)| format!(" {label:>10}"))
        .collect();
    println!(
        "\n{:>4}{parameter_header} {:>12}{column_header} {:>7}{test_header}",
        "rank",
        metric.name(),
        "trades"
    );
    for (rank, entry) in ranking.top.iter().enumerate() {
        let parameter_columns: String = entry
            .parameters
            .iter()
            .zip(&widths)
            .map(|((_, value), width)| format!(" {:>width$}", value.to_string()))
            .collect();
        let test_columns = entry.out_of_sample.as_ref().map_or_else(String::new, |m| {
            format!(
                " {:>12} {:>10}",
                number(m.sharpe),
                percent(Some(m.total_return))
            )
        });
        let summary_columns: String = columns
            .iter()
            .map(|(_, shown)| format!(" {:>10}", metric_text(*shown, &entry.metrics)))
            .collect();
        println!(
            "{:>4}{parameter_columns} {:>12}{summary_columns} {:>7}{test_columns}",
            rank + 1,
            metric_text(metric, &entry.metrics),
            entry.metrics.trades
        );
    }
    println!(
        "\n{} combinations over {} bars in {} ({:.0} combinations/s, {:.0} million bar-evaluations/s)",
        ranking.evaluated,
        ranking.bars,
        human_duration(ranking.elapsed),
        per_second,
        per_second * ranking.bars as f64 / 1e6
    );
    if ranking.skipped > 0 {
        println!(
            "{} of {} combinations skipped: the strategy refuses them (e.g. fast not below slow)",
            ranking.skipped, ranking.combinations
        );
    }
    println!(
        "{}",
        data_line(&args.symbol, &response.bars, &response.report)
    );
    Ok(ExitCode::SUCCESS)
}

/// The `(parameter, range)` pairs typed: `--fast`/`--slow` (shorthands for `--range fast=`/
/// `--range slow=`, so they also serve ema-cross and macd) and every `--range`; a parameter
/// not given searches its default range.
fn range_assignments(args: &OptimizeArgs) -> Result<Vec<(&str, &str)>, UsageError> {
    let mut given: Vec<(&str, &str)> = Vec::new();
    given.extend(args.fast.as_deref().map(|text| ("fast", text)));
    given.extend(args.slow.as_deref().map(|text| ("slow", text)));
    for text in &args.ranges {
        given.push(parse_assignment(text).map_err(usage)?);
    }
    Ok(given)
}

/// Drawn on stderr only when it is a terminal; a grid of ~12,000 SMA cells takes under a second.
fn progress_bar(length: usize) -> ProgressBar {
    ProgressBar::with_draw_target(Some(length as u64), ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} combinations ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

/// Every combination of a grid with its metrics, as CSV for pandas, written as it comes (in
/// constant memory, whatever the size of the grid).
struct CsvWriter {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    /// The first write error; later rows are dropped and `finish` reports it.
    error: Option<std::io::Error>,
}

impl CsvWriter {
    /// Creates `path` with a header of the parameter names then the metric columns.
    fn create<'a>(
        path: &std::path::Path,
        parameters: impl Iterator<Item = &'a str>,
    ) -> Result<Self> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut writer = Self {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(file),
            error: None,
        };
        let mut header: Vec<&str> = parameters.collect();
        header.extend([
            "trades",
            "closed_trades",
            "total_return",
            "final_equity",
            "cagr",
            "sharpe",
            "sortino",
            "max_drawdown",
            "calmar",
            "win_rate",
            "exposure",
        ]);
        writer.write(format_args!("{}\n", header.join(",")));
        Ok(writer)
    }

    /// One combination: its parameter values, then its metrics (undefined ones left empty).
    fn row(&mut self, values: &[ParamValue], m: &Metrics) {
        let optional = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
        let values: Vec<String> = values.iter().map(ToString::to_string).collect();
        self.write(format_args!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            values.join(","),
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
        ));
    }

    fn write(&mut self, text: std::fmt::Arguments<'_>) {
        if self.error.is_none()
            && let Err(error) = self.out.write_fmt(text)
        {
            self.error = Some(error);
        }
    }

    /// Flushes the file, reporting the first failed write.
    fn finish(mut self) -> Result<()> {
        let flushed = match self.error.take() {
            Some(error) => Err(error),
            None => self.out.flush(),
        };
        flushed.with_context(|| format!("cannot write {}", self.path.display()))
    }
}
