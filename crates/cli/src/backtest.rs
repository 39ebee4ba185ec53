//! `backtest` and `optimize`: strategies over bars read through the cache.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use marketcache_backtest::{
    BacktestError, BuyAndHold, GridRange, GridSpace, MetricSummary, Metrics, ParamValue,
    PriceSeries, RankMetric, Settings as Trading, SmaCross, SmaCrossGrid, StrategyGrid,
    StrategyGridEntry, StrategyInfo, build_strategy, find_strategy, parse_assignment, run,
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

/// `marketcache optimize`: a grid search over any catalog strategy's parameter ranges.
///
/// sma-cross keeps its specialised grid (shared SMAs, several times faster); every other
/// strategy goes through the generic [`StrategyGrid`], so a new catalog entry needs nothing here.
pub async fn optimize(settings: &Settings, args: OptimizeArgs) -> Result<ExitCode> {
    // Everything the user typed, ranges included, is checked before the database is opened.
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let info = find_strategy(&args.strategy).map_err(usage)?;
    let given = range_assignments(&args, info)?;
    let ranges = info.parse_ranges(&given).map_err(|error| match error {
        BacktestError::MissingParameter { parameter, .. } => UsageError(format!(
            "{error}: give it a range, e.g. --range {parameter}=START..END[:STEP], or one value, --range {parameter}=VALUE"
        )),
        other => usage(other),
    })?;
    let metric: RankMetric = args.metric.parse().map_err(usage)?;
    let money = trading(&args.trading)?;
    // sma-cross has its own grid; the generic one counts the combinations its constraints
    // accept now, so a grid the strategy refuses entirely is a usage error too.
    let plan = if info.name == SmaCross::INFO.name {
        check_some_fast_below_slow(&ranges)?;
        None
    } else {
        Some(GridSpace::new(info, &ranges).map_err(usage)?)
    };
    // Open the CSV before the search: a bad path should not cost a whole grid.
    let mut csv = args
        .output
        .as_deref()
        .map(|path| CsvWriter::create(path, info.parameters.iter().map(|spec| spec.name)))
        .transpose()?;

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
    let ranking = match plan {
        None => rank_sma_cross(&series, &ranges, money, metric, &args, csv.as_mut())?,
        Some(space) => {
            let grid = StrategyGrid::new(&series, space, money);
            let bar = progress_bar(grid.len());
            let mut on_entry = |entry: &StrategyGridEntry| {
                if let Some(csv) = csv.as_mut() {
                    let values: Vec<ParamValue> =
                        entry.parameters.iter().map(|(_, value)| *value).collect();
                    csv.row(&values, &entry.metrics);
                }
            };
            let outcome = grid.rank_streaming(
                metric,
                args.top as usize,
                &|done| bar.inc(done as u64),
                Some(&mut on_entry),
            )?;
            bar.finish_and_clear();
            Ranking {
                top: outcome.top,
                combinations: outcome.combinations,
                evaluated: outcome.evaluated,
                skipped: outcome.skipped,
                bars: outcome.bars,
                summary: Some(outcome.summary),
                elapsed: started.elapsed(),
            }
        }
    };
    if let Some(csv) = csv {
        csv.finish()?;
    }
    let per_second = ranking.evaluated as f64 / ranking.elapsed.as_secs_f64().max(1e-9);
    let out_of_sample: Vec<Option<Metrics>> = if test.is_empty() {
        vec![None; ranking.top.len()]
    } else {
        let test_series = PriceSeries::new(test)?;
        ranking
            .top
            .iter()
            .map(|entry| {
                let strategy = info.build_with(&entry.parameters)?;
                Ok(Some(run(&test_series, strategy.as_ref(), &money)?.metrics))
            })
            .collect::<Result<_, BacktestError>>()?
    };
    let range_texts: Vec<(&str, String)> = ranges
        .iter()
        .map(|(name, range)| (*name, range_text(range)))
        .collect();

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
            "top": ranking.top.iter().zip(&out_of_sample).map(|(entry, test)| {
                // Each entry carries the strategy's own parameters as keys (fast/slow for sma-cross).
                let mut row: serde_json::Map<String, serde_json::Value> = entry
                    .parameters
                    .iter()
                    .map(|(name, value)| Ok((name.to_string(), serde_json::to_value(value)?)))
                    .collect::<Result<_, serde_json::Error>>()?;
                row.insert("metrics".into(), serde_json::to_value(entry.metrics)?);
                row.insert("out_of_sample".into(), serde_json::to_value(test)?);
                Ok(serde_json::Value::Object(row))
            }).collect::<Result<Vec<_>, serde_json::Error>>()?,
            "train_until": args.train_until,
            "data": response.report,
            "fingerprint": data_fingerprint(&args.symbol, &response.bars),
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
            train.len(),
            test.len()
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
    let test_header = if test.is_empty() {
        String::new()
    } else {
        format!(" {:>12} {:>10}", "OOS Sharpe", "OOS return")
    };
    println!(
        "\n{:>4}{parameter_header} {:>12} {:>10} {:>8} {:>10} {:>7}{test_header}",
        "rank",
        metric.name(),
        "return",
        "Sharpe",
        "max dd",
        "trades"
    );
    for (rank, (entry, test_metrics)) in ranking.top.iter().zip(&out_of_sample).enumerate() {
        let parameter_columns: String = entry
            .parameters
            .iter()
            .zip(&widths)
            .map(|((_, value), width)| format!(" {:>width$}", value.to_string()))
            .collect();
        let test_columns = test_metrics.as_ref().map_or_else(String::new, |m| {
            format!(
                " {:>12} {:>10}",
                number(m.sharpe),
                percent(Some(m.total_return))
            )
        });
        println!(
            "{:>4}{parameter_columns} {:>12} {:>10} {:>8} {:>10} {:>7}{test_columns}",
            rank + 1,
            number(metric.value(&entry.metrics)),
            percent(Some(entry.metrics.total_return)),
            number(entry.metrics.sharpe),
            percent(Some(entry.metrics.max_drawdown)),
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

/// What either grid found, in the shape the outputs print.
struct Ranking {
    top: Vec<StrategyGridEntry>,
    combinations: usize,
    evaluated: usize,
    skipped: usize,
    bars: usize,
    /// The ranking metric over every combination (the generic grid keeps it; the SMA one does not).
    summary: Option<MetricSummary>,
    elapsed: Duration,
}

/// The `(parameter, range)` pairs typed: `--fast`/`--slow` (shorthands for `--range fast=`/
/// `--range slow=`, so they also serve ema-cross and macd) and every `--range`; sma-cross keeps
/// its default windows for those not given.
fn range_assignments<'a>(
    args: &'a OptimizeArgs,
    info: &StrategyInfo,
) -> Result<Vec<(&'a str, &'a str)>, UsageError> {
    let mut given: Vec<(&str, &str)> = Vec::new();
    given.extend(args.fast.as_deref().map(|text| ("fast", text)));
    given.extend(args.slow.as_deref().map(|text| ("slow", text)));
    for text in &args.ranges {
        given.push(parse_assignment(text).map_err(usage)?);
    }
    if info.name == SmaCross::INFO.name {
        for (name, default) in [("fast", "5..100"), ("slow", "10..300:2")] {
            if !given
                .iter()
                .any(|(given_name, _)| given_name.trim() == name)
            {
                given.push((name, default));
            }
        }
    }
    Ok(given)
}

/// Refuses an sma-cross grid without a pair fast < slow before the bars are read (the generic
/// grid finds this by building its combinations; the SMA grid would only when it is built).
fn check_some_fast_below_slow(ranges: &[(&'static str, GridRange)]) -> Result<(), UsageError> {
    let windows = |slot: usize| ranges.get(slot).and_then(|(_, range)| range.as_integer());
    if let (Some(fast), Some(slow)) = (windows(0), windows(1))
        && slow
            .values()
            .last()
            .is_some_and(|largest| fast.start() >= largest)
    {
        return Err(usage(BacktestError::EmptyGrid {
            reason: format!(
                "no fast window in {} is below a slow window in {}",
                range_text(&ranges[0].1),
                range_text(&ranges[1].1)
            ),
        }));
    }
    Ok(())
}

/// A range as typed, without a step of 1.
fn range_text(range: &GridRange) -> String {
    match range.as_integer() {
        Some(whole) if whole.start() == whole.end() => whole.start().to_string(),
        Some(whole) if whole.step() == 1 => format!("{}..{}", whole.start(), whole.end()),
        _ => range.to_string(),
    }
}

/// The sma-cross fast path: the specialised grid over shared SMAs.
fn rank_sma_cross(
    series: &PriceSeries<'_>,
    ranges: &[(&'static str, GridRange)],
    money: Trading,
    metric: RankMetric,
    args: &OptimizeArgs,
    csv: Option<&mut CsvWriter>,
) -> Result<Ranking> {
    // parse_ranges returns sma-cross's two integer ranges, fast then slow.
    let window_range = |slot: usize| {
        ranges
            .get(slot)
            .and_then(|(_, range)| range.as_integer())
            .context("sma-cross takes integer fast and slow ranges")
    };
    let (fast, slow) = (window_range(0)?, window_range(1)?);
    let started = Instant::now();
    let grid = SmaCrossGrid::new(series, fast, slow, money).map_err(usage)?;
    let bar = progress_bar(grid.len());
    let outcome = grid.rank_with_progress(metric, args.top as usize, &|done| bar.inc(done as u64));
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    if let Some(csv) = csv {
        for (fast, slow) in grid.combinations() {
            let metrics = grid.evaluate(fast, slow)?;
            csv.row(&[window(fast), window(slow)], &metrics);
        }
    }
    let combinations = fast.len() * slow.len();
    Ok(Ranking {
        top: outcome
            .top
            .into_iter()
            .map(|entry| StrategyGridEntry {
                parameters: vec![("fast", window(entry.fast)), ("slow", window(entry.slow))],
                metrics: entry.metrics,
            })
            .collect(),
        combinations,
        evaluated: outcome.evaluated,
        skipped: combinations - outcome.evaluated,
        bars: outcome.bars,
        summary: None,
        elapsed,
    })
}

/// A window length as a parameter value; windows are at most 10,000.
fn window(length: usize) -> ParamValue {
    ParamValue::Integer(i64::try_from(length).unwrap_or(i64::MAX))
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
