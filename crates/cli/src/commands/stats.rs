//! `marketcache stats`.

use std::process::ExitCode;

use anyhow::Result;
use chrono::NaiveDate;
use marketcache_domain::{CorporateActionKind, Symbol};

use crate::args::StatsArgs;
use crate::output::human_bytes;
use crate::settings::Settings;
use crate::wiring::{open_cache, open_store_cache};

pub async fn stats(settings: &Settings, args: StatsArgs) -> Result<ExitCode> {
    if let Some(symbol) = &args.symbol {
        return symbol_coverage(settings, symbol, args.json).await;
    }
    let cache = open_store_cache(settings).await?;
    let stats = cache.stats().await?;
    if args.json {
        let value = serde_json::json!({
            "database": cache.describe_store(),
            "symbols": stats.symbols,
            "total_bars": stats.total_bars,
            "bytes_on_disk": stats.bytes_on_disk,
            "bar_table_bytes": stats.bar_table_bytes,
            "bytes_per_bar": stats.bytes_per_bar(),
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Keys of offline data (`AAPL@synthetic`) are longer than tickers.
    let width = stats
        .symbols
        .iter()
        .map(|symbol| symbol.symbol.len())
        .max()
        .unwrap_or(0)
        .max(8);
    outln!(
        "{:<width$} {:>7} {:<10}  {:<10}  {:<20}  covered",
        "symbol",
        "bars",
        "first",
        "last",
        "last update (UTC)"
    );
    for symbol in &stats.symbols {
        let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        let updated = symbol
            .last_update
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let covered: Vec<String> = symbol.covered.iter().map(ToString::to_string).collect();
        outln!(
            "{:<width$} {:>7} {:<10}  {:<10}  {:<20}  {}",
            symbol.symbol,
            symbol.bars,
            day(symbol.first_date),
            day(symbol.last_date),
            updated,
            if covered.is_empty() {
                "-".to_string()
            } else {
                covered.join(", ")
            }
        );
    }
    for symbol in &stats.symbols {
        let mut notes = Vec::new();
        if symbol.provisional_bars > 0 {
            notes.push(format!("{} provisional bars", symbol.provisional_bars));
        }
        if symbol.corporate_actions > 0 {
            notes.push(format!("{} splits/dividends", symbol.corporate_actions));
        }
        if symbol.rejected_rows > 0 {
            notes.push(format!("{} upstream rows rejected", symbol.rejected_rows));
        }
        if !notes.is_empty() {
            outln!("{:<width$} {}", symbol.symbol, notes.join(", "));
        }
    }
    outln!(
        "\nTotal: {} symbol(s), {} bars\nDatabase: {}, {} on disk (bars table {}, {:.1} bytes per bar)",
        stats.symbols.len(),
        stats.total_bars,
        cache.describe_store(),
        human_bytes(stats.bytes_on_disk),
        human_bytes(stats.bar_table_bytes),
        stats.bytes_per_bar()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn symbol_coverage(settings: &Settings, symbol: &Symbol, json: bool) -> Result<ExitCode> {
    let cache = open_cache(settings).await?;
    let explanation = cache.explain_coverage(symbol).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&explanation)?);
        return Ok(ExitCode::SUCCESS);
    }
    let covered: Vec<String> = explanation
        .covered
        .iter()
        .map(ToString::to_string)
        .collect();
    outln!(
        "{symbol}: covered {}",
        if covered.is_empty() {
            "nothing".to_string()
        } else {
            covered.join(", ")
        }
    );
    let exchange = &explanation.exchange;
    outln!(
        "Market: {} ({}, {} calendar)",
        exchange.code,
        exchange.time_zone.name(),
        exchange.calendar.name()
    );
    outln!("\nLedger ({} entries):", explanation.spans.len());
    outln!(
        "  {:<23}  {:<10}  {:<19}  {:>5}  prices",
        "range",
        "provider",
        "fetched at (UTC)",
        "bars"
    );
    for span in &explanation.spans {
        outln!(
            "  {:<23}  {:<10}  {:<19}  {:>5}  {}",
            span.range.to_string(),
            span.provider,
            span.fetched_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            span.bars,
            span.basis.describe()
        );
    }
    outln!(
        "\nCovered days without a bar: {} weekend days, {} holidays",
        explanation.weekend_days,
        explanation.holidays
    );
    for days in &explanation.barless {
        let reason = days.reason.describe();
        outln!(
            "  {:<23}  {:>5} trading days: {reason}",
            days.range.to_string(),
            days.trading_days
        );
    }
    outln!("\nSplits and dividends ({}):", explanation.actions.len());
    for recorded in &explanation.actions {
        let what = match recorded.action.kind {
            CorporateActionKind::Split { ratio } if ratio < 1.0 => {
                format!("split 1:{}", 1.0 / ratio)
            }
            CorporateActionKind::Split { ratio } => format!("split {ratio}:1"),
            CorporateActionKind::Dividend { cash } => format!("dividend {cash}"),
        };
        outln!(
            "  {}  {:<24}  {}",
            recorded.action.ex_date,
            what,
            recorded.provider
        );
    }
    Ok(ExitCode::SUCCESS)
}
