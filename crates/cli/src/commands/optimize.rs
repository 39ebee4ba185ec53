//! `marketcache optimize`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use marketcache_backtest::{
    BacktestError, EntrySink, Metrics, ParamValue, RankMetric, Search, SearchOutcome, SearchPlan,
    find_strategy, parse_assignment,
};
use marketcache_cache::SymbolBars;
use marketcache_domain::SystemClock;

use crate::args::{Format, OptimizeArgs};
use crate::output::human_duration;
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::wiring::requested_range;

use super::report::{
    bars_through_cache, data_fingerprint, data_line, number, percent, trading, usage,
};

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
    let ranges = info
        .parse_ranges(&range_assignments(&args)?)
        .map_err(usage)?;
    let search = Search {
        metric: args.metric.parse().map_err(usage)?,
        top: args.top as usize,
        money: trading(&args.trading)?,
        train_until: args.train_until,
        min_trades: args.min_trades as usize,
    };
    // The generic grid counts the combinations its constraints accept now, so a grid the
    // strategy refuses entirely is a usage error too; the CLI keeps the grid crate's own limit.
    let plan = SearchPlan::new(info, ranges, usize::MAX).map_err(usage)?;
    // Open the CSV before the search: a bad path should not cost a whole grid.
    let csv = match args.output.as_deref() {
        Some(path) => Some(CsvWriter::create(
            csv_output(path)?,
            info.parameters.iter().map(|spec| spec.name),
        )?),
        None => None,
    };

    let response = bars_through_cache(settings, &args.symbol, range, args.read.policy()).await?;
    let ranking = rank(&plan, &response.bars, &search, csv).map_err(|error| match error {
        RankError::Search(BacktestError::EmptySplit { train_until }) => {
            anyhow::Error::from(UsageError(format!(
                "train-until {train_until} is invalid: it must leave bars on both sides within {}..{}",
                range.start(),
                range.end()
            )))
        }
        RankError::Search(other) => other.into(),
        RankError::Output(other) => other,
    })?;
    let searched = Searched {
        args: &args,
        plan: &plan,
        metric: search.metric,
        ranking: &ranking,
        response: &response,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&searched.json()?)?);
    } else {
        searched.print_table();
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` if optimize can write there: every combination goes out as CSV.
fn csv_output(path: &std::path::Path) -> Result<&std::path::Path, UsageError> {
    if Format::resolve(None, Some(path)).map_err(UsageError)? != Format::Csv {
        return Err(UsageError(format!(
            "output '{}' is invalid: optimize writes every combination as CSV; name the file .csv",
            path.display()
        )));
    }
    Ok(path)
}

/// Why a ranking produced nothing: the search refused, or the CSV of every combination failed.
enum RankError {
    Search(BacktestError),
    Output(anyhow::Error),
}

/// Runs `plan` over `bars` with a progress bar, writing every combination to `csv` if given
/// (only a CSV needs them all: without one, the search keeps just the leaders).
fn rank(
    plan: &SearchPlan,
    bars: &[marketcache_domain::Bar],
    search: &Search,
    mut csv: Option<CsvWriter>,
) -> Result<SearchOutcome, RankError> {
    let bar = progress_bar(plan.evaluations());
    let writing = csv.is_some();
    let mut on_entry = |values: &[ParamValue], metrics: &Metrics| {
        if let Some(csv) = csv.as_mut() {
            csv.row(values, metrics);
        }
    };
    let ranking = plan
        .run(
            bars,
            search,
            &|done| bar.inc(done as u64),
            writing.then_some(&mut on_entry as EntrySink<'_>),
        )
        .map_err(RankError::Search)?;
    bar.finish_and_clear();
    if let Some(csv) = csv {
        csv.finish().map_err(RankError::Output)?;
    }
    Ok(ranking)
}

/// A finished search and what it read, ready to print.
struct Searched<'a> {
    args: &'a OptimizeArgs,
    plan: &'a SearchPlan,
    metric: RankMetric,
    ranking: &'a SearchOutcome,
    response: &'a SymbolBars,
}

impl Searched<'_> {
    fn per_second(&self) -> f64 {
        self.ranking.evaluated as f64 / self.ranking.elapsed.as_secs_f64().max(1e-9)
    }

    /// The search as one JSON object (`--json`).
    fn json(&self) -> Result<serde_json::Value> {
        let (args, ranking, info) = (self.args, self.ranking, self.plan.strategy());
        let ranges: serde_json::Map<_, _> = self
            .plan
            .range_texts()
            .into_iter()
            .map(|(name, text)| (name.to_string(), serde_json::Value::from(text)))
            .collect();
        let top = ranking
            .top
            .iter()
            .map(|entry| {
                // Each entry carries the strategy's own parameters as keys (fast/slow for sma-cross).
                let mut row: serde_json::Map<String, serde_json::Value> = entry
                    .parameters
                    .iter()
                    .map(|(name, value)| Ok((name.to_string(), serde_json::to_value(value)?)))
                    .collect::<Result<_, serde_json::Error>>()?;
                row.insert("metrics".into(), serde_json::to_value(entry.metrics)?);
                row.insert(
                    "out_of_sample".into(),
                    serde_json::to_value(entry.out_of_sample)?,
                );
                Ok(serde_json::Value::Object(row))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        Ok(serde_json::json!({
            "symbol": args.symbol,
            "strategy": info.name,
            "metric": self.metric.name(),
            "parameters": info.parameters.iter().map(|spec| spec.name).collect::<Vec<_>>(),
            "ranges": ranges,
            "combinations": ranking.combinations,
            "evaluated": ranking.evaluated,
            "skipped": ranking.skipped,
            "bars": ranking.bars,
            "elapsed_ms": ranking.elapsed.as_secs_f64() * 1000.0,
            "combinations_per_second": self.per_second(),
            "summary": ranking.summary,
            "top": top,
            "train_until": args.train_until,
            "min_trades": args.min_trades,
            "data": self.response.report,
            "fingerprint": data_fingerprint(&args.symbol, &self.response.bars)?,
        }))
    }

    /// The search as a table of the best combinations, with what it read and cost.
    fn print_table(&self) {
        let (args, ranking, metric) = (self.args, self.ranking, self.metric);
        let described: Vec<String> = self
            .plan
            .range_texts()
            .iter()
            .map(|(name, text)| format!("{name} {text}"))
            .collect();
        outln!(
            "{} {}, {}, ranked by {}",
            args.symbol,
            self.plan.strategy().name,
            described.join(" × "),
            metric
        );
        if let Some(day) = args.train_until {
            outln!(
                "In-sample: {} bars up to {day}; out-of-sample: the {} bars after it",
                ranking.train_bars,
                ranking.test_bars
            );
        }
        self.print_rows();
        let per_second = self.per_second();
        outln!(
            "\n{} combinations over {} bars in {} ({:.0} combinations/s, {:.0} million bar-evaluations/s)",
            ranking.evaluated,
            ranking.bars,
            human_duration(ranking.elapsed),
            per_second,
            per_second * ranking.bars as f64 / 1e6
        );
        if ranking.skipped > 0 {
            outln!(
                "{} of {} combinations skipped: the strategy refuses them (e.g. fast not below slow)",
                ranking.skipped,
                ranking.combinations
            );
        }
        outln!(
            "{}",
            data_line(&args.symbol, &self.response.bars, &self.response.report)
        );
    }

    /// The header and one row per leading combination.
    fn print_rows(&self) {
        let (ranking, metric, info) = (self.ranking, self.metric, self.plan.strategy());
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
        outln!(
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
            outln!(
                "{:>4}{parameter_columns} {:>12}{summary_columns} {:>7}{test_columns}",
                rank + 1,
                metric_text(metric, &entry.metrics),
                entry.metrics.trades
            );
        }
    }
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
