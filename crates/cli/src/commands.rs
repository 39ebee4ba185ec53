//! One function per subcommand, over the cache built from the resolved settings.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use indicatif::{MultiProgress, ProgressDrawTarget};
use marketcache_cache::{CacheError, FetchReport, GetOptions, MarketDataCache, WarmedBars};
use marketcache_domain::{
    BarStore, Clock, Dataset, DateRange, MigrationStep, PriceSource, Symbol, SystemClock,
};
use marketcache_upstream::{CsvSource, SyntheticSource};

use crate::UsageError;
use crate::args::{ClearArgs, Cli, Command, Format, GetArgs, ServeArgs, StatsArgs, WarmArgs};
use crate::output::{bars_json, human_bytes, human_duration, packing_line};
use crate::progress::WarmBars;
use crate::settings::{ProviderChoice, Settings};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    dispatch(cli).await.map_err(with_offline_hint)
}

/// An error that comes from an unreachable provider, with what the user can do instead.
fn with_offline_hint(error: anyhow::Error) -> anyhow::Error {
    let unavailable = error.chain().any(|cause| {
        cause
            .downcast_ref::<CacheError>()
            .is_some_and(CacheError::is_upstream_unavailable)
    });
    if unavailable {
        anyhow::anyhow!(
            "{error:#}; what is cached is served with --offline, and `marketcache demo` runs offline"
        )
    } else {
        error
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::resolve(&cli.global)?;
    match cli.command {
        Command::Migrate => migrate(&settings).await,
        Command::Warm(args) => warm(&settings, args).await,
        Command::Get(args) => get(&settings, args).await,
        Command::Stats(args) => stats(&settings, args).await,
        Command::Clear(args) => clear(&settings, args).await,
        Command::Compact => compact(&settings).await,
        Command::Providers(args) => crate::providers::list(&settings, args),
        Command::Backtest(args) => crate::backtest::backtest(&settings, args).await,
        Command::Optimize(args) => crate::backtest::optimize(&settings, args).await,
        Command::Serve(args) => serve(&settings, args).await,
        Command::Demo => crate::demo::run(&cli.global, &settings).await,
    }
}

/// `start..=end`, with the defaults filled in; an inverted range is a usage error.
pub fn requested_range(
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    clock: &dyn Clock,
) -> Result<DateRange, UsageError> {
    DateRange::requested(start, end, clock.today_in_new_york())
        .map_err(|e| UsageError(e.to_string()))
}

/// Opens the configured store, bringing an empty or old schema up to date (and saying so once).
pub async fn open_store(database_url: &str) -> Result<Arc<dyn BarStore>> {
    let store = marketcache_store::connect(database_url).await?;
    let steps = store.migrate().await?;
    if steps.iter().any(|step| step.applied_now) {
        let version = steps.iter().map(|step| step.version).max().unwrap_or(0);
        eprintln!(
            "Initialised the database {} (schema version {version})",
            store.describe()
        );
    }
    Ok(store)
}

/// One configured upstream.
pub fn build_source(
    settings: &Settings,
    choice: ProviderChoice,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn PriceSource>> {
    Ok(match choice {
        ProviderChoice::Synthetic => Arc::new(SyntheticSource::new(settings.synthetic, clock)),
        ProviderChoice::Csv => {
            let folder = settings.csv_dir.as_deref().ok_or_else(|| {
                UsageError(
                    "csv provider needs a folder: set --csv-dir or MARKETCACHE_CSV_DIR".to_string(),
                )
            })?;
            Arc::new(CsvSource::new(folder).map_err(|e| UsageError(e.to_string()))?)
        }
        // A missing key is the user's to fix: a usage error naming the variable.
        ProviderChoice::Upstream(kind) => marketcache_upstream::build_with(
            kind.name(),
            &|name: &str| settings.upstream_value(name),
            clock,
            marketcache_upstream::HttpPolicy::default(),
        )
        .map_err(|e| UsageError(e.to_string()))?,
    })
}

pub async fn open_cache(settings: &Settings) -> Result<MarketDataCache> {
    open_cache_with_clock(settings, Arc::new(SystemClock)).await
}

/// [`open_cache`] with "today" from `clock`, for callers that need the cache's clock too.
pub async fn open_cache_with_clock(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<MarketDataCache> {
    let source = build_source(settings, settings.provider, clock.clone())?;
    let fallbacks = settings
        .fallbacks
        .iter()
        .map(|choice| build_source(settings, *choice, clock.clone()))
        .collect::<Result<Vec<_>>>()?;
    let store = open_store(&settings.database_url).await?;
    Ok(MarketDataCache::new(store, source, clock).with_fallbacks(fallbacks))
}

/// `marketcache serve`: the HTTP API until Ctrl-C or SIGTERM.
async fn serve(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    // The exposure is checked before the database is opened: a public address needs a token.
    let token = std::env::var("MARKETCACHE_API_TOKEN")
        .ok()
        .and_then(marketcache_server::ApiToken::new);
    let config =
        marketcache_server::ServerConfig::new(args.bind, token, args.cors_origin.as_deref())
            .map_err(|e| UsageError(e.to_string()))?;
    // Installed before the address is printed, so a signal sent right after it is not lost.
    let shutdown =
        marketcache_server::shutdown_signal().context("cannot install signal handlers")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cache = Arc::new(open_cache_with_clock(settings, clock.clone()).await?);
    let server = marketcache_server::Server::bind(cache, clock, config).await?;
    println!("Listening on http://{}", server.local_addr());
    std::io::stdout().flush()?;
    server.run_until_stopped(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the migration steps, each with the tables and indexes it creates.
pub fn print_migration(target: &str, steps: &[MigrationStep]) {
    let rule = "=".repeat(60);
    println!("{rule}\nMarket Data Cache Migration\n{rule}\nDatabase: {target}");
    for step in steps {
        if step.applied_now {
            println!("Applying {:04} {}...", step.version, step.name);
            for created in &step.creates {
                println!("✓ Created {created}");
            }
        } else {
            println!("✓ {:04} {} already applied", step.version, step.name);
        }
    }
    let version = steps.iter().map(|step| step.version).max().unwrap_or(0);
    let applied = steps.iter().filter(|step| step.applied_now).count();
    if applied == 0 {
        println!("✅ Database already up to date (schema version {version}); nothing to do.");
    } else {
        println!(
            "✅ Migration completed successfully! ({applied} applied, schema version {version})"
        );
    }
}

async fn migrate(settings: &Settings) -> Result<ExitCode> {
    let store = marketcache_store::connect(&settings.database_url).await?;
    let steps = store.migrate().await?;
    print_migration(&store.describe(), &steps);
    Ok(ExitCode::SUCCESS)
}

fn read_ticker_file(path: &Path) -> Result<Vec<Symbol>, UsageError> {
    let file = std::fs::File::open(path)
        .map_err(|e| UsageError(format!("--file {}: {e}", path.display())))?;
    let mut symbols = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| UsageError(format!("--file {}: {e}", path.display())))?;
        let text = line.split('#').next().unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        let symbol = Symbol::parse(text).map_err(|e| {
            UsageError(format!("--file {} line {}: {e}", path.display(), index + 1))
        })?;
        symbols.push(symbol);
    }
    Ok(symbols)
}

async fn warm(settings: &Settings, args: WarmArgs) -> Result<ExitCode> {
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let mut symbols = args.symbols;
    if let Some(path) = &args.file {
        symbols.extend(read_ticker_file(path)?);
    }
    if symbols.is_empty() {
        symbols = settings.tickers.clone();
    }
    // Drop repeats wherever they are (arguments and --file may both name a symbol), keeping order.
    let mut seen = std::collections::HashSet::new();
    symbols.retain(|symbol| seen.insert(symbol.clone()));
    let cache = open_cache(settings).await?;
    if args.plan {
        return crate::providers::plan_warm(&cache, &symbols, range).await;
    }
    println!(
        "Warming {} symbol(s) from {} to {} via {} into {}",
        symbols.len(),
        range.start(),
        range.end(),
        cache.source().name(),
        cache.describe_store()
    );
    let group = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let started = Instant::now();
    let warmed = cache.warm(&symbols, range, &WarmBars::new(group)).await;
    let outcomes = warmed.outcomes;
    let elapsed = started.elapsed();
    println!();
    println!(
        "{:<8} {:<7} {:>7} {:<10}  {:<10}  {:>8} {:>9}",
        "symbol", "status", "bars", "first", "last", "requests", "time"
    );
    let (mut failed, mut total_bars, mut total_requests) = (0usize, 0usize, 0usize);
    let mut total_rejected = 0usize;
    for outcome in &outcomes {
        match &outcome.result {
            Ok(WarmedBars {
                bars,
                first_date: first,
                last_date: last,
                report,
            }) => {
                total_bars += bars;
                total_requests += report.upstream_requests;
                let day =
                    |d: &Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{:<8} {:<7} {:>7} {:<10}  {:<10}  {:>8} {:>9}",
                    outcome.symbol.as_str(),
                    "ok",
                    bars,
                    day(first),
                    day(last),
                    report.upstream_requests,
                    human_duration(report.elapsed)
                );
                total_rejected += report.rejected_rows;
                if report.rejected_rows > 0 {
                    println!(
                        "{:<8} {} upstream rows rejected (failed the bar checks, not stored)",
                        "", report.rejected_rows
                    );
                }
            }
            Err(error) => {
                failed += 1;
                println!("{:<8} {:<7} {error}", outcome.symbol.as_str(), "FAILED");
            }
        }
    }
    println!(
        "\n{} symbol(s): {} ok, {failed} failed; {total_bars} bars in range; {total_requests} upstream requests; {}",
        outcomes.len(),
        outcomes.len() - failed,
        human_duration(elapsed)
    );
    if total_rejected > 0 {
        println!("{total_rejected} upstream rows rejected in all (see `marketcache stats`)");
    }
    if let Some(line) = packing_line(&warmed.packed) {
        println!("{line}");
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn get(settings: &Settings, args: GetArgs) -> Result<ExitCode> {
    let range = requested_range(args.start, args.end, &SystemClock)?;
    let format = Format::resolve(args.format, args.output.as_deref()).map_err(UsageError)?;
    let cache = open_cache(settings).await?;
    let options = GetOptions {
        force_refresh: args.force_refresh,
        offline: args.offline,
        adjust: args.adjust,
        closed_only: args.closed_only,
    };
    let response = cache.get_bars(&args.symbol, range, options).await?;
    let text = match format {
        Format::Csv => marketcache_cache::bar_text::bars_csv(&response.bars)?,
        Format::Json => bars_json(&response)?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            if let Err(error) = stdout.write_all(&text).and_then(|()| stdout.flush()) {
                if error.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(error.into());
                }
            }
        }
    }
    let report = &response.report;
    let mut summary = format!(
        "{}: {} bars ({} cached, {} fetched) from {}, {} upstream requests, {}",
        response.symbol,
        response.bars.len(),
        report.cached_bars,
        report.fetched_bars,
        served_by(report, cache.dataset()),
        report.upstream_requests,
        human_duration(report.elapsed)
    );
    if report.provisional_bars > 0 {
        summary.push_str(&format!(
            "; {} provisional (not final yet; --closed-only leaves them out)",
            report.provisional_bars
        ));
    }
    if report.rejected_rows > 0 {
        summary.push_str(&format!(
            "; {} upstream rows rejected (failed the bar checks, not stored)",
            report.rejected_rows
        ));
    }
    if !report.missing.is_empty() {
        let missing: Vec<String> = report.missing.iter().map(ToString::to_string).collect();
        summary.push_str(&format!("; missing (offline): {}", missing.join(", ")));
    }
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// Who served a read's bars, for its summary line: the providers, and what kind of prices
/// they are when they are not market data.
pub fn served_by(report: &FetchReport, dataset: Dataset) -> String {
    let providers = if report.providers.is_empty() {
        "no provider".to_string()
    } else {
        report.providers.join(", ")
    };
    match dataset {
        Dataset::Market => providers,
        other => format!("{providers} ({})", other.describe()),
    }
}

async fn stats(settings: &Settings, args: StatsArgs) -> Result<ExitCode> {
    if let Some(symbol) = &args.symbol {
        return symbol_coverage(settings, symbol, args.json).await;
    }
    let store = open_store(&settings.database_url).await?;
    let stats = store.stats().await?;
    if args.json {
        let value = serde_json::json!({
            "database": store.describe(),
            "symbols": stats.symbols,
            "total_bars": stats.total_bars,
            "bytes_on_disk": stats.bytes_on_disk,
            "bar_table_bytes": stats.bar_table_bytes,
            "bytes_per_bar": stats.bytes_per_bar(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
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
    println!(
        "{:<width$} {:>7} {:<10}  {:<10}  {:<20}  covered",
        "symbol", "bars", "first", "last", "last update (UTC)"
    );
    for symbol in &stats.symbols {
        let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        let updated = symbol
            .last_update
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        let covered: Vec<String> = symbol.covered.iter().map(ToString::to_string).collect();
        println!(
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
            println!("{:<width$} {}", symbol.symbol, notes.join(", "));
        }
    }
    println!(
        "\nTotal: {} symbol(s), {} bars\nDatabase: {}, {} on disk (bars table {}, {:.1} bytes per bar)",
        stats.symbols.len(),
        stats.total_bars,
        store.describe(),
        human_bytes(stats.bytes_on_disk),
        human_bytes(stats.bar_table_bytes),
        stats.bytes_per_bar()
    );
    Ok(ExitCode::SUCCESS)
}

async fn compact(settings: &Settings) -> Result<ExitCode> {
    let store = open_store(&settings.database_url).await?;
    let before = store.stats().await?;
    let started = Instant::now();
    store.compact().await?;
    let after = store.stats().await?;
    println!(
        "Compacted {} in {}: {} -> {} on disk; bars table {:.1} -> {:.1} bytes per bar ({} bars)",
        store.describe(),
        human_duration(started.elapsed()),
        human_bytes(before.bytes_on_disk),
        human_bytes(after.bytes_on_disk),
        before.bytes_per_bar(),
        after.bytes_per_bar(),
        after.total_bars
    );
    Ok(ExitCode::SUCCESS)
}

async fn clear(settings: &Settings, args: ClearArgs) -> Result<ExitCode> {
    let what = match (&args.symbol, args.before) {
        (Some(symbol), Some(before)) => {
            format!("the bars and coverage of {symbol} (every source) before {before}")
        }
        (Some(symbol), None) => format!("all bars and coverage of {symbol} (every source)"),
        (None, Some(before)) => format!("the bars and coverage of every symbol before {before}"),
        (None, None) => "every cached bar and all coverage".to_string(),
    };
    let store = open_store(&settings.database_url).await?;
    if !args.yes {
        eprint!("Delete {what} from {}? [y/N] ", store.describe());
        let mut answer = String::new();
        // End of input (no terminal, nothing piped) reads as "no".
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            eprintln!("\nAborted: nothing deleted (pass --yes to skip the question).");
            return Ok(ExitCode::from(1));
        }
    }
    let report =
        marketcache_cache::clear(store.as_ref(), args.symbol.as_ref(), args.before).await?;
    println!(
        "Deleted {what}: {} bars, {} coverage entries changed.",
        report.bars_deleted, report.coverage_spans_changed
    );
    Ok(ExitCode::SUCCESS)
}

async fn symbol_coverage(settings: &Settings, symbol: &Symbol, json: bool) -> Result<ExitCode> {
    let cache = open_cache(settings).await?;
    let explanation = cache.explain_coverage(symbol).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
        return Ok(ExitCode::SUCCESS);
    }
    let covered: Vec<String> = explanation
        .covered
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "{symbol}: covered {}",
        if covered.is_empty() {
            "nothing".to_string()
        } else {
            covered.join(", ")
        }
    );
    println!("\nLedger ({} entries):", explanation.spans.len());
    println!(
        "  {:<23}  {:<10}  {:<19}  {:>5}",
        "range", "provider", "fetched at (UTC)", "bars"
    );
    for span in &explanation.spans {
        println!(
            "  {:<23}  {:<10}  {:<19}  {:>5}",
            span.range.to_string(),
            span.provider,
            span.fetched_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            span.bars
        );
    }
    println!(
        "\nCovered days without a bar: {} weekend days, {} holidays",
        explanation.weekend_days, explanation.holidays
    );
    for days in &explanation.barless {
        let reason = days.reason.describe();
        println!(
            "  {:<23}  {:>5} trading days: {reason}",
            days.range.to_string(),
            days.trading_days
        );
    }
    Ok(ExitCode::SUCCESS)
}
