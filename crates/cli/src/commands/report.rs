//! What `backtest` and `optimize` share: reading the bars for a run and printing its data line
//! and metrics.

use anyhow::Result;
use marketcache_backtest::{BacktestError, Metrics, Settings as Trading};
use marketcache_cache::analysis::{BarsPolicy, bars_for_analysis};
use marketcache_cache::{FetchReport, NoProgress};
use marketcache_domain::bar::fingerprint;
use marketcache_domain::{Bar, DataFingerprint, Symbol};

use crate::args::TradingArgs;
use crate::output::human_duration;
use crate::settings::Settings;
use crate::usage::UsageError;
use crate::wiring::open_cache;

/// A strategy, parameter or setting the user got wrong: exit code 2.
pub fn usage(error: BacktestError) -> UsageError {
    UsageError(error.to_string())
}

/// The money settings of a run, checked.
pub fn trading(args: &TradingArgs) -> Result<Trading, UsageError> {
    Trading::new(args.initial_cash, args.fees, args.slippage).map_err(usage)
}

/// The bars of `symbol` through the cache; a range without bars is a failure worth one line.
pub async fn bars_through_cache(
    settings: &Settings,
    symbol: &Symbol,
    range: marketcache_domain::DateRange,
    policy: BarsPolicy,
) -> Result<marketcache_cache::SymbolBars> {
    let cache = open_cache(settings).await?;
    let response = bars_for_analysis(&cache, symbol, range, policy, &NoProgress).await?;
    if !response.report.missing.is_empty() {
        eprintln!("warning: {}", missing_line(&response.report));
    }
    Ok(response)
}

/// What a run's bars lack, and why upstream was not asked for it.
pub fn missing_line(report: &FetchReport) -> String {
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
pub fn data_fingerprint(symbol: &Symbol, bars: &[Bar]) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(DataFingerprint::of(symbol, bars))?)
}

/// The last line of a run: which bars it read, from where, and what reading them cost.
pub fn data_line(symbol: &Symbol, bars: &[Bar], report: &FetchReport) -> String {
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

/// A ratio as a percentage with two decimals, `-` when undefined.
pub fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{:.2}%", v * 100.0))
}

/// A number with three decimals, `-` when undefined.
pub fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

/// The metrics of a run as (label, value) rows.
pub fn metric_rows(metrics: &Metrics) -> Vec<(&'static str, String)> {
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
