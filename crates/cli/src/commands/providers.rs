//! `marketcache providers` and `warm --plan`: what each upstream needs and allows, and what a
//! warm would ask of it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::{DateRange, SourceLimits, Symbol};
use marketcache_upstream::catalog;
use serde::Serialize;

use crate::args::ProvidersArgs;
use crate::output::human_duration;
use crate::settings::{ProviderChoice, Settings};

/// One row of `marketcache providers`.
#[derive(Debug, Serialize)]
struct ProviderRow {
    name: &'static str,
    needs_key: bool,
    key_variables: Vec<&'static str>,
    /// Whether it can be built now: its required keys are set (or it needs none).
    configured: bool,
    /// What to set when it is not.
    missing: Vec<&'static str>,
    url_variable: Option<&'static str>,
    base_url: Option<String>,
    max_span_days: Option<u32>,
    pagination: &'static str,
    max_concurrency: usize,
    requests_per_minute: Option<u32>,
    requests_per_day: Option<u32>,
    notes: &'static str,
    prices: &'static str,
    /// Its place in the configured order: 1 for the primary, 2 for the first fallback, …
    order: Option<usize>,
}

fn position(settings: &Settings, choice: ProviderChoice) -> Option<usize> {
    std::iter::once(&settings.provider)
        .chain(&settings.fallbacks)
        .position(|chosen| *chosen == choice)
        .map(|index| index + 1)
}

/// One row per provider, the offline ones first, in the order `--provider` names them.
fn rows(settings: &Settings) -> Vec<ProviderRow> {
    let mut rows = vec![
        offline_row(
            settings,
            "synthetic",
            Vec::new(),
            "made-up, deterministic",
            ProviderChoice::Synthetic,
        ),
        offline_row(
            settings,
            "csv",
            if settings.csv_dir.is_some() {
                Vec::new()
            } else {
                vec!["MARKETCACHE_CSV_DIR"]
            },
            "as in the files",
            ProviderChoice::Csv,
        ),
    ];
    rows.extend(
        marketcache_upstream::ProviderKind::ALL
            .into_iter()
            .zip(catalog())
            .map(|(kind, info)| market_row(settings, kind, info)),
    );
    rows
}

/// The row of an offline provider (`synthetic`, `csv`): no key, no budget.
fn offline_row(
    settings: &Settings,
    name: &'static str,
    missing: Vec<&'static str>,
    prices: &'static str,
    choice: ProviderChoice,
) -> ProviderRow {
    let synthetic = choice == ProviderChoice::Synthetic;
    ProviderRow {
        name,
        needs_key: false,
        key_variables: Vec::new(),
        configured: missing.is_empty(),
        missing,
        url_variable: None,
        base_url: None,
        max_span_days: Some(if synthetic {
            settings.synthetic.max_span_days
        } else {
            // A file holds the whole history: one request per symbol.
            marketcache_upstream::UNLIMITED_SPAN_DAYS
        })
        .filter(|days| *days < marketcache_upstream::UNLIMITED_SPAN_DAYS),
        pagination: "none",
        max_concurrency: if synthetic {
            settings.synthetic.concurrency
        } else {
            4
        },
        requests_per_minute: None,
        requests_per_day: None,
        notes: "offline",
        prices,
        order: position(settings, choice),
    }
}

/// The row of a market-data API, with the key variables it still lacks.
fn market_row(
    settings: &Settings,
    kind: marketcache_upstream::ProviderKind,
    info: marketcache_upstream::ProviderInfo,
) -> ProviderRow {
    // Stooq's key is optional; the others need every variable they list.
    let missing: Vec<&'static str> = if info.needs_key {
        info.key_variables
            .iter()
            .copied()
            .filter(|name| settings.upstream_value(name).is_none())
            .collect()
    } else {
        Vec::new()
    };
    ProviderRow {
        name: info.name,
        needs_key: info.needs_key,
        configured: missing.is_empty(),
        missing,
        key_variables: info.key_variables,
        url_variable: Some(info.url_variable),
        base_url: Some(
            settings
                .upstream_value(info.url_variable)
                .unwrap_or_else(|| info.default_base_url.to_string()),
        ),
        max_span_days: info.max_span_days,
        pagination: info.pagination,
        max_concurrency: info.max_concurrency,
        requests_per_minute: info.requests_per_minute,
        requests_per_day: info.requests_per_day,
        notes: info.budget_note,
        prices: info.prices,
        order: position(settings, ProviderChoice::Upstream(kind)),
    }
}

/// `marketcache providers`.
pub fn list(settings: &Settings, args: ProvidersArgs) -> Result<ExitCode> {
    let rows = rows(settings);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let limit = |value: Option<u32>| value.map_or("-".to_string(), |n| n.to_string());
    outln!(
        "{:<12} {:<5} {:>9} {:<15} {:>4} {:>7} {:>7}  {:<38} configured",
        "provider",
        "order",
        "max span",
        "pages",
        "conc",
        "per min",
        "per day",
        "key"
    );
    for row in &rows {
        let key = if row.key_variables.is_empty() {
            "none".to_string()
        } else if row.needs_key {
            row.key_variables.join(" + ")
        } else {
            format!("optional {}", row.key_variables.join(" + "))
        };
        let configured = if row.configured {
            "yes".to_string()
        } else {
            format!("no: set {}", row.missing.join(", "))
        };
        outln!(
            "{:<12} {:<5} {:>9} {:<15} {:>4} {:>7} {:>7}  {:<38} {}",
            row.name,
            row.order.map_or("-".to_string(), |n| n.to_string()),
            row.max_span_days
                .map_or("unlimited".to_string(), |days| format!("{days} d")),
            row.pagination.split(' ').next().unwrap_or_default(),
            row.max_concurrency,
            limit(row.requests_per_minute),
            limit(row.requests_per_day),
            key,
            configured,
        );
    }
    outln!();
    for row in rows.iter().filter(|row| row.base_url.is_some()) {
        outln!(
            "{:<13} {}; prices: {}; {} (URL: {})",
            format!("{}:", row.name),
            row.notes,
            row.prices,
            row.url_variable.unwrap_or_default(),
            row.base_url.as_deref().unwrap_or_default()
        );
    }
    outln!(
        "\nChoose with --provider or MARKETCACHE_PROVIDER, e.g. yahoo,tiingo (the second serves what the first fails)."
    );
    Ok(ExitCode::SUCCESS)
}

/// The least time `requests` take under `limits`' budgets, and whether the daily budget is
/// exceeded. `None` when the provider documents no budget.
pub fn paced_duration(requests: usize, limits: &SourceLimits) -> Option<Duration> {
    let requests = u64::try_from(requests).unwrap_or(u64::MAX);
    let per_minute = limits.requests_per_minute.map(|per_minute| {
        // The first minute's budget goes at once; each further one takes a minute.
        Duration::from_secs(requests.saturating_sub(1) / u64::from(per_minute.max(1)) * 60)
    });
    let per_day = limits.requests_per_day.map(|per_day| {
        Duration::from_secs(requests.saturating_sub(1) / u64::from(per_day.max(1)) * 86_400)
    });
    match (per_minute, per_day) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or_default().max(b.unwrap_or_default())),
    }
}

/// `warm --plan`: per symbol what is cached and what would be asked, per provider the requests
/// and the time they take under its limits. Fetches nothing.
pub async fn plan_warm(
    cache: &MarketDataCache,
    symbols: &[Symbol],
    range: DateRange,
) -> Result<ExitCode> {
    let source = cache.source();
    let limits = source.limits();
    outln!(
        "Plan for warming {} symbol(s) from {} to {} via {} into {} (nothing is fetched)\n",
        symbols.len(),
        range.start(),
        range.end(),
        source.name(),
        cache.describe_store()
    );
    outln!(
        "{:<8} {:>11} {:>14} {:>9}  missing",
        "symbol",
        "cached bars",
        "missing ranges",
        "requests"
    );
    let offline = GetOptions {
        offline: true,
        ..GetOptions::DEFAULT
    };
    let (mut total_requests, mut total_cached) = (0usize, 0usize);
    for symbol in symbols {
        let response = cache.get_bars(symbol, range, offline).await?;
        let missing = &response.report.missing;
        let requests: usize = missing
            .iter()
            .map(|part| part.chunks(limits.max_span_days).len())
            .sum();
        total_requests += requests;
        total_cached += response.bars.len();
        let shown: Vec<String> = missing.iter().take(3).map(ToString::to_string).collect();
        let more = missing.len().saturating_sub(3);
        outln!(
            "{:<8} {:>11} {:>14} {:>9}  {}{}",
            symbol.as_str(),
            response.bars.len(),
            missing.len(),
            requests,
            if shown.is_empty() {
                "-".to_string()
            } else {
                shown.join(", ")
            },
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    print_plan_cost(cache, total_requests, total_cached);
    Ok(ExitCode::SUCCESS)
}

/// What the planned requests cost under the provider's limits, and who answers what it fails.
fn print_plan_cost(cache: &MarketDataCache, total_requests: usize, total_cached: usize) {
    let source = cache.source();
    let limits = source.limits();
    outln!(
        "\n{}: {total_requests} request(s) of {}, {} at once; {total_cached} bars already cached",
        source.name(),
        if limits.max_span_days >= marketcache_upstream::UNLIMITED_SPAN_DAYS {
            "any span (pages followed)".to_string()
        } else {
            format!("at most {} days", limits.max_span_days)
        },
        limits.max_concurrency
    );
    match paced_duration(total_requests, &limits) {
        Some(duration) => {
            let budget = [
                limits.requests_per_minute.map(|n| format!("{n}/min")),
                limits.requests_per_day.map(|n| format!("{n}/day")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            if duration.is_zero() {
                outln!("That fits in its budget ({budget}) without waiting.");
            } else {
                outln!(
                    "Under its limits ({budget}) that takes at least {} plus the answers' own time.",
                    human_duration(duration)
                );
            }
        }
        None => outln!(
            "It documents no request budget: the time is that of {total_requests} answer(s), {} at a time.",
            limits.max_concurrency
        ),
    }
    let fallbacks: Vec<&str> = cache.providers().skip(1).map(|p| p.name()).collect();
    if !fallbacks.is_empty() {
        outln!(
            "Ranges {} fails are asked of {} in that order.",
            source.name(),
            fallbacks.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_counts_whole_minutes_and_days_beyond_the_first_budget() {
        let polygon = SourceLimits {
            requests_per_minute: Some(5),
            ..SourceLimits::unmetered(366, 1)
        };
        assert_eq!(paced_duration(5, &polygon), Some(Duration::ZERO));
        assert_eq!(paced_duration(6, &polygon), Some(Duration::from_secs(60)));
        assert_eq!(
            paced_duration(73, &polygon),
            Some(Duration::from_secs(14 * 60))
        );
        let alphavantage = SourceLimits {
            requests_per_minute: Some(5),
            requests_per_day: Some(25),
            ..SourceLimits::unmetered(100, 1)
        };
        assert_eq!(
            paced_duration(26, &alphavantage),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(paced_duration(10, &SourceLimits::unmetered(182, 4)), None);
    }
}
