//! The `BarStore` contract, written once and run on SQLite and on PostgreSQL: what the cache
//! above relies on each store to do.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use marketcache_domain::calendar::trading_days;
use marketcache_domain::{
    Bar, BarStore, ClearReport, CorporateAction, CorporateActionKind, CoverageSpan, Dataset,
    DateRange, FetchedWrite, LedgerSnapshot, RecentCheck, Symbol, SymbolStats,
};
use marketcache_testkit::{Backend, on_both_backends};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
}

fn range(start: NaiveDate, end: NaiveDate) -> DateRange {
    DateRange::new(start, end).unwrap_or_else(|e| panic!("{e}"))
}

fn symbol(name: &str) -> Symbol {
    Symbol::parse(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A moment in whole seconds, which both backends keep exactly (SQLite stores seconds).
fn at(y: i32, m: u32, d: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, hour, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad time {y}-{m}-{d} {hour}:00"))
}

/// 1990-01-01..2025-12-31: 35 years, a typical "analyze AAPL" request.
fn thirty_five_years() -> DateRange {
    range(date(1990, 1, 1), date(2025, 12, 31))
}

/// Made-up bars on each trading day of `days`. A day's values depend on `seed` and the day
/// alone, so the bars of a sub-range are a slice of the whole range's; the prices carry every
/// bit of an `f64` and the volumes exceed 32 bits, so only an exact round trip reads them back.
fn made_up_bars(seed: u32, days: DateRange) -> Vec<Bar> {
    trading_days(days)
        .map(|day| {
            let step = f64::from(day.num_days_from_ce());
            let open = 20.0 + f64::from(seed) * 7.3 + (step * 0.37).sin() * 3.1 + step * 0.0011;
            let close = open * (1.0 + (step * 0.53).cos() * 0.013);
            let high = open.max(close) * 1.0071;
            let low = open.min(close) / 1.0093;
            let volume = (1 << 33) + u64::from(seed) * 1_000_003 + u64::from(day.ordinal()) * 7919;
            Bar::try_new(day, open, high, low, close, volume).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// The ledger entry of an answer of `provider` for `days` holding `bars`.
fn span(
    provider: &str,
    days: DateRange,
    bars: &[Bar],
    rejected_rows: u32,
    fetched_at: DateTime<Utc>,
) -> CoverageSpan {
    CoverageSpan {
        range: days,
        provider: provider.to_string(),
        basis: marketcache_domain::PriceBasis::Raw,
        fetched_at,
        bars: u32::try_from(bars.len()).unwrap_or(u32::MAX),
        rejected_rows,
    }
}

async fn write(store: &dyn BarStore, name: &str, write: FetchedWrite<'_>, at: DateTime<Utc>) {
    store
        .write_fetched(&symbol(name), &write, at)
        .await
        .unwrap_or_else(|e| panic!("writing {name}: {e}"));
}

/// Writes `bars` of `name` as yahoo's answer for `days`, with the ledger entry covering them.
async fn write_answer(
    store: &dyn BarStore,
    name: &str,
    days: DateRange,
    bars: &[Bar],
    at: DateTime<Utc>,
) {
    let coverage = span("yahoo", days, bars, 0, at);
    write(
        store,
        name,
        FetchedWrite::bars("yahoo", bars, Some(&coverage)),
        at,
    )
    .await;
}

/// Writes `name` as a warm would: answers of at most 182 days in date order, each with its
/// ledger entry, holding bars from `listed` on. Returns every bar written.
async fn load_like_a_warm(
    store: &dyn BarStore,
    name: &str,
    seed: u32,
    years: DateRange,
    listed: NaiveDate,
) -> Vec<Bar> {
    let mut written = Vec::new();
    for chunk in years.chunks(182) {
        let bars: Vec<Bar> = made_up_bars(seed, chunk)
            .into_iter()
            .filter(|bar| bar.date >= listed)
            .collect();
        write_answer(store, name, chunk, &bars, at(2026, 1, 5, 12)).await;
        written.extend(bars);
    }
    written
}

async fn bars_of(store: &dyn BarStore, name: &str, days: DateRange) -> Vec<Bar> {
    store
        .read_bars(&symbol(name), days)
        .await
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

async fn coverage_of(store: &dyn BarStore, name: &str) -> Vec<CoverageSpan> {
    store
        .read_coverage(&symbol(name))
        .await
        .unwrap_or_else(|e| panic!("reading the coverage of {name}: {e}"))
}

async fn actions_of(store: &dyn BarStore, name: &str) -> Vec<CorporateAction> {
    store
        .read_actions(&symbol(name))
        .await
        .unwrap_or_else(|e| panic!("reading the actions of {name}: {e}"))
        .into_iter()
        .map(|recorded| recorded.action)
        .collect()
}

async fn provisional_of(store: &dyn BarStore, name: &str) -> Vec<NaiveDate> {
    store
        .read_provisional(&symbol(name))
        .await
        .unwrap_or_else(|e| panic!("reading the provisional marks of {name}: {e}"))
}

async fn version_of(store: &dyn BarStore, name: &str) -> i64 {
    store
        .symbol_version(&symbol(name))
        .await
        .unwrap_or_else(|e| panic!("reading the version of {name}: {e}"))
}

async fn change_count(store: &dyn BarStore) -> i64 {
    store.change_count().await.unwrap_or_else(|e| panic!("{e}"))
}

async fn clear(store: &dyn BarStore, name: Option<&str>, before: Option<NaiveDate>) -> ClearReport {
    store
        .clear(name.map(symbol).as_ref(), before)
        .await
        .unwrap_or_else(|e| panic!("clearing {name:?} before {before:?}: {e}"))
}

/// One value of a one-row, one-column query, as the backend's own client prints it.
async fn single_value(backend: &Backend, sql: &str) -> String {
    let rows = backend.query_text(sql).await;
    match rows.as_slice() {
        [row] if row.len() == 1 => row[0].clone(),
        _ => panic!("{sql} gave {rows:?}"),
    }
}

fn split(ex_date: NaiveDate, ratio: f64) -> CorporateAction {
    CorporateAction {
        ex_date,
        kind: CorporateActionKind::Split { ratio },
    }
}

fn dividend(ex_date: NaiveDate, cash: f64) -> CorporateAction {
    CorporateAction {
        ex_date,
        kind: CorporateActionKind::Dividend { cash },
    }
}

async fn written_bars_read_back_in_date_order_with_every_value_exact(backend: Backend) {
    let store = backend.store();
    let winter = range(date(2024, 1, 1), date(2024, 3, 31));
    let spring = range(date(2024, 4, 1), date(2024, 6, 30));
    let half = range(winter.start(), spring.end());
    let first_quarter = made_up_bars(1, winter);
    let second_quarter = made_up_bars(1, spring);
    let msft = made_up_bars(2, half);
    let made_up_aapl = made_up_bars(3, half);
    // The later answer is written first: reads follow the dates, not the order of writes.
    let written_at = at(2024, 7, 1, 22);
    write_answer(store.as_ref(), "AAPL", spring, &second_quarter, written_at).await;
    write_answer(store.as_ref(), "AAPL", winter, &first_quarter, written_at).await;
    write_answer(store.as_ref(), "MSFT", half, &msft, written_at).await;
    let synthetic_key = symbol("AAPL").stored_as(Dataset::Synthetic);
    let made_up_coverage = span("synthetic", half, &made_up_aapl, 0, written_at);
    store
        .write_fetched(
            &synthetic_key,
            &FetchedWrite::bars("synthetic", &made_up_aapl, Some(&made_up_coverage)),
            written_at,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let read = bars_of(store.as_ref(), "AAPL", half).await;
    assert_eq!(read.len(), 124, "trading days of the first half of 2024");
    assert_eq!(read, [first_quarter.clone(), second_quarter].concat());
    assert!(read.windows(2).all(|pair| pair[0].date < pair[1].date));
    assert!(read.iter().all(|bar| bar.volume > u64::from(u32::MAX)));

    // Both ends of the requested range are included.
    let inside = range(read[5].date, read[first_quarter.len() + 3].date);
    assert_eq!(
        bars_of(store.as_ref(), "AAPL", inside).await,
        read[5..=first_quarter.len() + 3]
    );
    let one_day = DateRange::single(read[40].date);
    assert_eq!(
        bars_of(store.as_ref(), "AAPL", one_day).await,
        vec![read[40]]
    );
    let later = range(date(2024, 7, 1), date(2024, 12, 31));
    assert!(bars_of(store.as_ref(), "AAPL", later).await.is_empty());
    // Each symbol, and each data set's key, reads only its own bars.
    assert_eq!(bars_of(store.as_ref(), "MSFT", half).await, msft);
    assert_eq!(
        store
            .read_bars(&synthetic_key, half)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        made_up_aapl
    );
    assert!(bars_of(store.as_ref(), "NVDA", half).await.is_empty());
}

async fn coverage_entries_read_back_with_their_range_provider_bars_and_rejected_rows(
    backend: Backend,
) {
    let store = backend.store();
    let second_quarter = range(date(2024, 4, 1), date(2024, 6, 30));
    let first_quarter = range(date(2024, 1, 1), date(2024, 3, 31));
    let before_listing = range(date(2023, 1, 1), date(2023, 12, 31));
    let spring = made_up_bars(1, second_quarter);
    let winter = made_up_bars(1, first_quarter);
    let entries = [
        span("stooq", second_quarter, &spring, 2, at(2024, 7, 2, 9)),
        span("yahoo", first_quarter, &winter, 0, at(2024, 7, 1, 21)),
        // Days asked for and answered with no bar at all are covered all the same.
        span("polygon", before_listing, &[], 0, at(2024, 7, 3, 15)),
    ];
    let no_bars: Vec<Bar> = Vec::new();
    for (entry, bars) in entries.iter().zip([&spring, &winter, &no_bars]) {
        write(
            store.as_ref(),
            "ARM",
            FetchedWrite::bars(&entry.provider, bars, Some(entry)),
            entry.fetched_at,
        )
        .await;
    }
    // An answer that settles no day (all of it still recent) adds no entry.
    let recent = made_up_bars(1, range(date(2024, 7, 1), date(2024, 7, 3)));
    write(
        store.as_ref(),
        "ARM",
        FetchedWrite::bars("yahoo", &recent, None),
        at(2024, 7, 3, 16),
    )
    .await;

    let ledger = coverage_of(store.as_ref(), "ARM").await;
    let by_start = vec![entries[2].clone(), entries[1].clone(), entries[0].clone()];
    assert_eq!(ledger, by_start);
    assert_eq!(
        (ledger[0].bars, ledger[1].bars, ledger[2].bars),
        (0, 61, 63),
        "trading days of 2023 before the listing, and of each quarter of 2024"
    );
    assert_eq!(ledger[2].rejected_rows, 2);
    assert_eq!(
        bars_of(
            store.as_ref(),
            "ARM",
            range(date(2024, 7, 1), date(2024, 7, 31))
        )
        .await,
        recent,
        "bars of an answer without coverage are stored all the same"
    );
    assert!(coverage_of(store.as_ref(), "AAPL").await.is_empty());
}

async fn provisional_marks_and_corporate_actions_are_stored_and_read_back(backend: Backend) {
    let store = backend.store();
    let week = range(date(2024, 6, 3), date(2024, 6, 7));
    let bars = made_up_bars(1, week);
    let friday = date(2024, 6, 7);
    let settled = range(date(2024, 6, 3), date(2024, 6, 6));
    let coverage = span("yahoo", settled, &bars[..4], 0, at(2024, 6, 7, 15));
    // Given out of date order: they are read back by ex-date.
    let actions = [
        split(date(2024, 6, 5), 4.0),
        dividend(date(2024, 6, 3), 0.24),
    ];
    // The market a provider names is kept with the symbol and read back with its ledger.
    let named = marketcache_domain::Exchange::of(&symbol("UNIR.MI"));
    let live = FetchedWrite {
        provider: "yahoo",
        bars: &bars,
        coverage: Some(&coverage),
        actions: &actions,
        provisional: &[friday],
        recheck: None,
        exchange: Some(&named),
    };
    write(store.as_ref(), "NVDA", live, at(2024, 6, 7, 15)).await;
    let ledger = store
        .read_ledger(&symbol("NVDA"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ledger.exchange, Some(named));
    assert_eq!(provisional_of(store.as_ref(), "NVDA").await, vec![friday]);
    assert_eq!(
        actions_of(store.as_ref(), "NVDA").await,
        vec![actions[1], actions[0]]
    );
    assert_eq!(bars_of(store.as_ref(), "NVDA", week).await, bars);

    // Friday's final bar ends its mark; a dividend reported again with a new amount replaces
    // the first report (the last report wins) and the split stays.
    let final_friday = made_up_bars(2, DateRange::single(friday));
    let friday_coverage = span(
        "polygon",
        DateRange::single(friday),
        &final_friday,
        0,
        at(2024, 6, 8, 1),
    );
    let corrected_dividend = [dividend(date(2024, 6, 3), 0.25)];
    let settled_answer = FetchedWrite {
        provider: "polygon",
        bars: &final_friday,
        coverage: Some(&friday_coverage),
        actions: &corrected_dividend,
        provisional: &[],
        recheck: None,
        exchange: None,
    };
    write(store.as_ref(), "NVDA", settled_answer, at(2024, 6, 8, 1)).await;
    assert!(provisional_of(store.as_ref(), "NVDA").await.is_empty());
    assert_eq!(
        actions_of(store.as_ref(), "NVDA").await,
        vec![corrected_dividend[0], actions[0]]
    );
    let read = bars_of(store.as_ref(), "NVDA", week).await;
    assert_eq!(read[..4], bars[..4]);
    assert_eq!(read[4], final_friday[0]);
    assert!(actions_of(store.as_ref(), "AAPL").await.is_empty());
    assert!(provisional_of(store.as_ref(), "AAPL").await.is_empty());
}

async fn rewriting_the_same_days_keeps_one_row_per_day_and_its_created_at(backend: Backend) {
    let store = backend.store();
    let january = range(date(2024, 1, 1), date(2024, 1, 31));
    let first_answer = made_up_bars(1, january);
    write_answer(
        store.as_ref(),
        "AAPL",
        january,
        &first_answer,
        at(2024, 2, 1, 12),
    )
    .await;
    let stamps_sql = "SELECT created_at, updated_at FROM market_data_cache \
                      WHERE symbol = 'AAPL' AND date = '2024-01-17'";
    let stamps_before = backend.query_text(stamps_sql).await;
    assert_eq!(stamps_before.len(), 1, "{stamps_before:?}");

    // The same days again with other values, then an answer overlapping their end.
    let corrected = made_up_bars(2, january);
    write_answer(
        store.as_ref(),
        "AAPL",
        january,
        &corrected,
        at(2024, 3, 1, 12),
    )
    .await;
    let overlapping = range(date(2024, 1, 22), date(2024, 2, 9));
    let overlapping_bars = made_up_bars(3, overlapping);
    write_answer(
        store.as_ref(),
        "AAPL",
        overlapping,
        &overlapping_bars,
        at(2024, 3, 2, 12),
    )
    .await;

    let expected: Vec<Bar> = corrected
        .iter()
        .filter(|bar| bar.date < overlapping.start())
        .chain(&overlapping_bars)
        .copied()
        .collect();
    let january_and_february = range(date(2024, 1, 1), date(2024, 2, 29));
    assert_eq!(
        bars_of(store.as_ref(), "AAPL", january_and_february).await,
        expected
    );
    assert_eq!(
        single_value(
            &backend,
            "SELECT COUNT(*) FROM market_data_cache WHERE symbol = 'AAPL'"
        )
        .await,
        expected.len().to_string()
    );
    let duplicates = backend
        .query_text(
            "SELECT symbol, date FROM market_data_cache GROUP BY symbol, date HAVING COUNT(*) > 1",
        )
        .await;
    assert!(duplicates.is_empty(), "{duplicates:?}");
    let stamps_after = backend.query_text(stamps_sql).await;
    assert_eq!(
        stamps_after[0][0], stamps_before[0][0],
        "created_at must be kept"
    );
    assert_ne!(
        stamps_after[0][1], stamps_before[0][1],
        "updated_at must move"
    );
}

async fn symbol_version_grows_with_every_write_and_clear_and_not_with_a_read(backend: Backend) {
    let store = backend.store();
    let store = store.as_ref();
    let january = range(date(2024, 1, 1), date(2024, 1, 31));
    let february = range(date(2024, 2, 1), date(2024, 2, 29));
    assert_eq!(version_of(store, "AAPL").await, 0, "never written");
    // The store-wide change count grows with every write and clear of any symbol.
    let mut changes = change_count(store).await;
    assert_eq!(changes, 0);
    let mut grew = async |store: &dyn BarStore| {
        let now = change_count(store).await;
        let before = std::mem::replace(&mut changes, now);
        now > before
    };

    write_answer(
        store,
        "AAPL",
        january,
        &made_up_bars(1, january),
        at(2024, 2, 1, 12),
    )
    .await;
    let written = version_of(store, "AAPL").await;
    assert!(written > 0);
    assert!(grew(store).await);
    bars_of(store, "AAPL", january).await;
    coverage_of(store, "AAPL").await;
    actions_of(store, "AAPL").await;
    provisional_of(store, "AAPL").await;
    store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        version_of(store, "AAPL").await,
        written,
        "reads change nothing"
    );
    assert!(!grew(store).await, "reads change nothing");

    write_answer(
        store,
        "AAPL",
        february,
        &made_up_bars(1, february),
        at(2024, 3, 1, 12),
    )
    .await;
    let rewritten = version_of(store, "AAPL").await;
    assert!(rewritten > written);
    assert!(grew(store).await);
    // Another symbol's changes leave AAPL's version, and so what is known of AAPL, alone.
    write_answer(
        store,
        "MSFT",
        january,
        &made_up_bars(2, january),
        at(2024, 3, 1, 12),
    )
    .await;
    assert_eq!(version_of(store, "AAPL").await, rewritten);
    assert!(grew(store).await);

    clear(store, Some("AAPL"), Some(february.start())).await;
    let cleared_before = version_of(store, "AAPL").await;
    assert!(cleared_before > rewritten);
    assert!(grew(store).await);
    clear(store, Some("MSFT"), None).await;
    assert!(grew(store).await);
    assert_eq!(version_of(store, "AAPL").await, cleared_before);
    let msft_cleared = version_of(store, "MSFT").await;
    clear(store, None, None).await;
    assert!(version_of(store, "AAPL").await > cleared_before);
    assert!(version_of(store, "MSFT").await > msft_cleared);
    assert!(grew(store).await);
}

/// Writes two answers of AAPL (with a split and a provisional last day) and one of MSFT (with
/// a dividend) over the first half of 2024; returns the bars of AAPL and of MSFT.
async fn write_two_symbols(store: &dyn BarStore) -> (Vec<Bar>, Vec<Bar>) {
    let first_quarter = range(date(2024, 1, 1), date(2024, 3, 31));
    let second_quarter = range(date(2024, 4, 1), date(2024, 6, 30));
    let half = range(date(2024, 1, 1), date(2024, 6, 30));
    let aapl_winter = made_up_bars(1, first_quarter);
    write_answer(
        store,
        "AAPL",
        first_quarter,
        &aapl_winter,
        at(2024, 4, 1, 12),
    )
    .await;
    let aapl_spring = made_up_bars(1, second_quarter);
    let spring_coverage = span("yahoo", second_quarter, &aapl_spring, 1, at(2024, 7, 1, 12));
    let last_day = [date(2024, 6, 28)];
    let aapl_split = [split(date(2024, 6, 10), 4.0)];
    let spring = FetchedWrite {
        provider: "yahoo",
        bars: &aapl_spring,
        coverage: Some(&spring_coverage),
        actions: &aapl_split,
        provisional: &last_day,
        recheck: None,
        exchange: None,
    };
    write(store, "AAPL", spring, at(2024, 7, 1, 12)).await;
    let msft = made_up_bars(2, half);
    let msft_coverage = span("yahoo", half, &msft, 0, at(2024, 7, 1, 12));
    let msft_dividend = [dividend(date(2024, 5, 15), 0.75)];
    let msft_answer = FetchedWrite {
        actions: &msft_dividend,
        ..FetchedWrite::bars("yahoo", &msft, Some(&msft_coverage))
    };
    write(store, "MSFT", msft_answer, at(2024, 7, 1, 12)).await;
    ([aapl_winter, aapl_spring].concat(), msft)
}

async fn clearing_one_symbol_removes_all_it_stored_and_nothing_of_the_others(backend: Backend) {
    let store = backend.store();
    let store = store.as_ref();
    let (aapl, msft) = write_two_symbols(store).await;
    let msft_ledger = coverage_of(store, "MSFT").await;
    let msft_actions = actions_of(store, "MSFT").await;

    let report = clear(store, Some("AAPL"), None).await;
    assert_eq!(
        report,
        ClearReport {
            bars_deleted: aapl.len() as u64,
            coverage_spans_changed: 2
        }
    );
    let half = range(date(2024, 1, 1), date(2024, 6, 30));
    assert!(bars_of(store, "AAPL", half).await.is_empty());
    assert!(coverage_of(store, "AAPL").await.is_empty());
    assert!(actions_of(store, "AAPL").await.is_empty());
    assert!(provisional_of(store, "AAPL").await.is_empty());
    assert_eq!(bars_of(store, "MSFT", half).await, msft);
    assert_eq!(coverage_of(store, "MSFT").await, msft_ledger);
    assert_eq!(actions_of(store, "MSFT").await, msft_actions);
    let stats = store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = stats.symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(names, vec!["MSFT"]);
    assert_eq!(stats.total_bars, msft.len() as u64);
}

async fn clearing_everything_leaves_an_empty_store(backend: Backend) {
    let store = backend.store();
    let (aapl, msft) = write_two_symbols(store.as_ref()).await;
    let report = clear(store.as_ref(), None, None).await;
    assert_eq!(
        report,
        ClearReport {
            bars_deleted: (aapl.len() + msft.len()) as u64,
            coverage_spans_changed: 3
        }
    );
    for table in [
        "market_data_cache",
        "coverage_ledger",
        "corporate_actions",
        "provisional_bars",
    ] {
        let rows = single_value(&backend, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(rows, "0", "{table}");
    }
    let stats = store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stats.symbols.is_empty(), "{:?}", stats.symbols);
    assert_eq!(stats.total_bars, 0);
    assert_eq!(stats.bytes_per_bar(), 0.0);
}

async fn clearing_before_a_date_keeps_the_days_from_it_and_trims_coverage_across_it(
    backend: Backend,
) {
    let store = backend.store();
    let store = store.as_ref();
    let (aapl, msft) = write_two_symbols(store).await;
    let half = range(date(2024, 1, 1), date(2024, 6, 30));
    // Splits the second answer of AAPL: the first one ends before it.
    let cut = date(2024, 4, 16);
    let report = clear(store, Some("AAPL"), Some(cut)).await;
    let kept_aapl: Vec<Bar> = aapl.iter().filter(|b| b.date >= cut).copied().collect();
    assert_eq!(
        report,
        ClearReport {
            bars_deleted: (aapl.len() - kept_aapl.len()) as u64,
            coverage_spans_changed: 2
        }
    );
    assert_eq!(bars_of(store, "AAPL", half).await, kept_aapl);
    let ledger = coverage_of(store, "AAPL").await;
    let ranges: Vec<(DateRange, &str)> = ledger
        .iter()
        .map(|entry| (entry.range, entry.provider.as_str()))
        .collect();
    assert_eq!(ranges, vec![(range(cut, date(2024, 6, 30)), "yahoo")]);
    // The trimmed entry counts only the bars it still holds.
    let still_held = bars_of(store, "AAPL", ledger[0].range).await.len();
    assert!(ledger[0].bars as usize <= still_held, "{:?}", ledger[0]);
    assert_eq!(
        actions_of(store, "AAPL").await,
        vec![split(date(2024, 6, 10), 4.0)]
    );
    assert_eq!(provisional_of(store, "AAPL").await, vec![date(2024, 6, 28)]);
    assert_eq!(
        bars_of(store, "MSFT", half).await,
        msft,
        "MSFT was not cleared"
    );

    // Every symbol before a later date; MSFT's dividend is after it and stays.
    let later_cut = date(2024, 5, 1);
    let report = clear(store, None, Some(later_cut)).await;
    let before_later_cut = |bars: &[Bar], from: NaiveDate| {
        bars.iter()
            .filter(|b| b.date >= from && b.date < later_cut)
            .count() as u64
    };
    assert_eq!(
        report,
        ClearReport {
            bars_deleted: before_later_cut(&aapl, cut) + before_later_cut(&msft, half.start()),
            coverage_spans_changed: 2
        }
    );
    for (name, bars) in [("AAPL", &aapl), ("MSFT", &msft)] {
        let kept: Vec<Bar> = bars
            .iter()
            .filter(|b| b.date >= later_cut)
            .copied()
            .collect();
        assert_eq!(bars_of(store, name, half).await, kept, "{name}");
        let ledger = coverage_of(store, name).await;
        assert_eq!(
            ledger.iter().map(|entry| entry.range).collect::<Vec<_>>(),
            vec![range(later_cut, date(2024, 6, 30))],
            "{name}"
        );
    }
    assert_eq!(
        actions_of(store, "MSFT").await,
        vec![dividend(date(2024, 5, 15), 0.75)]
    );
}

async fn stats_give_each_symbol_its_figures_and_the_bytes_per_bar(backend: Backend) {
    let store = backend.store();
    let empty = store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(empty.symbols.is_empty());
    assert_eq!((empty.total_bars, empty.bytes_per_bar()), (0, 0.0));

    let (aapl, msft) = write_two_symbols(store.as_ref()).await;
    // A range asked for before the listing: covered, without a bar.
    let before_listing = range(date(2023, 1, 1), date(2023, 6, 30));
    let nothing = span("yahoo", before_listing, &[], 3, at(2023, 7, 1, 12));
    write(
        store.as_ref(),
        "ARM",
        FetchedWrite::bars("yahoo", &[], Some(&nothing)),
        at(2023, 7, 1, 12),
    )
    .await;

    let stats = store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    let half = range(date(2024, 1, 1), date(2024, 6, 30));
    let expected = vec![
        SymbolStats {
            symbol: "AAPL".to_string(),
            bars: aapl.len() as u64,
            first_date: Some(date(2024, 1, 2)),
            last_date: Some(date(2024, 6, 28)),
            // The two answers' entries touch: one covered range.
            covered: vec![half],
            last_update: Some(at(2024, 7, 1, 12)),
            rejected_rows: 1,
            provisional_bars: 1,
            // The cache fills in the days; the store gives the count.
            provisional: Vec::new(),
            corporate_actions: 1,
        },
        SymbolStats {
            symbol: "ARM".to_string(),
            bars: 0,
            first_date: None,
            last_date: None,
            covered: vec![before_listing],
            last_update: None,
            rejected_rows: 3,
            provisional_bars: 0,
            // The cache fills in the days; the store gives the count.
            provisional: Vec::new(),
            corporate_actions: 0,
        },
        SymbolStats {
            symbol: "MSFT".to_string(),
            bars: msft.len() as u64,
            first_date: Some(date(2024, 1, 2)),
            last_date: Some(date(2024, 6, 28)),
            covered: vec![half],
            last_update: Some(at(2024, 7, 1, 12)),
            rejected_rows: 0,
            provisional_bars: 0,
            // The cache fills in the days; the store gives the count.
            provisional: Vec::new(),
            corporate_actions: 1,
        },
    ];
    assert_eq!(stats.symbols, expected);
    assert_eq!(stats.total_bars, (aapl.len() + msft.len()) as u64);
    assert!(stats.bar_table_bytes > 0);
    assert!(
        stats.bytes_on_disk >= stats.bar_table_bytes,
        "{} bytes in all, {} of bars",
        stats.bytes_on_disk,
        stats.bar_table_bytes
    );
    assert!(stats.bytes_per_bar() > 0.0);
}

async fn compacting_keeps_every_bar_and_never_grows_the_bars_table(backend: Backend) {
    let store = backend.store();
    let mut written = Vec::new();
    for (seed, name) in [(1, "AAPL"), (2, "MSFT"), (3, "NVDA")] {
        let bars = load_like_a_warm(
            store.as_ref(),
            name,
            seed,
            thirty_five_years(),
            date(1980, 1, 1),
        )
        .await;
        let ledger = coverage_of(store.as_ref(), name).await;
        written.push((name, bars, ledger));
    }
    let before = store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.total_bars, 3 * 9067);
    store.compact().await.unwrap_or_else(|e| panic!("{e}"));
    let after = store.stats().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.total_bars, before.total_bars);
    assert_eq!(after.symbols, before.symbols);
    assert!(
        after.bar_table_bytes <= before.bar_table_bytes,
        "{} -> {}",
        before.bar_table_bytes,
        after.bar_table_bytes
    );
    // Every bar reads back as written, and the ledger still covers every day, so nothing
    // would be asked upstream again.
    for (name, bars, ledger) in written {
        assert_eq!(
            bars_of(store.as_ref(), name, thirty_five_years()).await,
            bars
        );
        assert_eq!(coverage_of(store.as_ref(), name).await, ledger, "{name}");
    }
}

/// The query the README gives for checking a cache by hand, in `sqlite3` or `psql`.
async fn the_documented_verification_sql_runs_unchanged_after_a_warm(backend: Backend) {
    let store = backend.store();
    let early = date(1980, 1, 1);
    let nine = [
        ("AAPL", early),
        ("GOOGL", date(2004, 8, 19)),
        ("NVDA", early),
        ("AMD", early),
        ("ARM", date(2023, 9, 14)),
        ("MSFT", early),
        ("AVGO", date(2009, 8, 6)),
        ("TSLA", date(2010, 6, 29)),
        ("TQQQ", date(2010, 2, 11)),
    ];
    let mut expected = Vec::new();
    for (seed, (name, listed)) in (1..).zip(nine) {
        let bars = load_like_a_warm(store.as_ref(), name, seed, thirty_five_years(), listed).await;
        let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
            panic!("{name} has no bars")
        };
        expected.push(vec![
            name.to_string(),
            bars.len().to_string(),
            first.date.to_string(),
            last.date.to_string(),
        ]);
    }
    expected.sort();
    let per_symbol = backend
        .query_text(
            "SELECT \n    symbol,\n    COUNT(*) as bars,\n    MIN(date) as start_date,\n    MAX(date) as end_date\nFROM market_data_cache\nGROUP BY symbol\nORDER BY symbol;",
        )
        .await;
    assert_eq!(per_symbol.len(), 9);
    assert_eq!(
        per_symbol[0],
        vec!["AAPL", "9067", "1990-01-02", "2025-12-31"]
    );
    let arm = per_symbol
        .iter()
        .find(|row| row[0] == "ARM")
        .unwrap_or_else(|| panic!("ARM missing"));
    assert_eq!(arm[2], "2023-09-14");
    assert_eq!(per_symbol, expected);
    let total: usize = per_symbol
        .iter()
        .map(|row| row[1].parse::<usize>().unwrap_or(0))
        .sum();
    let count = backend
        .query_text("SELECT COUNT(*) FROM market_data_cache;")
        .await;
    assert_eq!(count, vec![vec![total.to_string()]]);
}

async fn a_second_store_on_the_same_database_sees_writes_and_versions_at_once(backend: Backend) {
    let first = backend.store();
    let second = backend.second_store().await;
    let (first, second) = (first.as_ref(), second.as_ref());
    let half = range(date(2024, 1, 1), date(2024, 6, 30));
    let first_quarter = range(date(2024, 1, 1), date(2024, 3, 31));
    let second_quarter = range(date(2024, 4, 1), date(2024, 6, 30));

    let winter = made_up_bars(1, first_quarter);
    write_answer(first, "AAPL", first_quarter, &winter, at(2024, 4, 1, 12)).await;
    assert_eq!(bars_of(second, "AAPL", half).await, winter);
    assert_eq!(
        coverage_of(second, "AAPL").await,
        coverage_of(first, "AAPL").await
    );
    let after_first_write = version_of(first, "AAPL").await;
    assert!(after_first_write > 0);
    assert_eq!(version_of(second, "AAPL").await, after_first_write);

    // And the other way round.
    let spring = made_up_bars(1, second_quarter);
    write_answer(second, "AAPL", second_quarter, &spring, at(2024, 7, 1, 12)).await;
    let after_second_write = version_of(first, "AAPL").await;
    assert!(after_second_write > after_first_write);
    assert_eq!(version_of(second, "AAPL").await, after_second_write);
    assert_eq!(
        bars_of(first, "AAPL", half).await,
        [winter, spring].concat()
    );

    clear(second, Some("AAPL"), None).await;
    assert!(bars_of(first, "AAPL", half).await.is_empty());
    assert!(coverage_of(first, "AAPL").await.is_empty());
    let after_clear = version_of(first, "AAPL").await;
    assert!(after_clear > after_second_write);
    assert_eq!(version_of(second, "AAPL").await, after_clear);
}

/// Polls `store` until the version of `name` differs from `stale`, for at most five seconds,
/// and returns it: notifications from another process arrive shortly after its commit, not
/// with it.
async fn wait_for_new_version(store: &dyn BarStore, name: &str, stale: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let version = version_of(store, name).await;
        if version != stale {
            return version;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the version of {name} stayed at {stale} after another process wrote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_store_watching_versions_follows_writes_of_other_processes(backend: Backend) {
    let store = backend.store();
    store
        .watch_versions()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let year = range(date(2020, 1, 1), date(2020, 12, 31));
    let bars = made_up_bars(1, year);
    write_answer(store.as_ref(), "AAPL", year, &bars, at(2021, 1, 4, 12)).await;
    // Our own write is known at once.
    let written = version_of(store.as_ref(), "AAPL").await;
    assert!(written > 0);
    assert_eq!(bars_of(store.as_ref(), "AAPL", year).await.len(), 253);

    let other_process = backend.second_store().await;
    let other_process = other_process.as_ref();
    let refill_by_other = || write_answer(other_process, "AAPL", year, &bars, at(2021, 1, 5, 12));

    clear(other_process, Some("AAPL"), None).await;
    let after_clear = wait_for_new_version(store.as_ref(), "AAPL", written).await;
    assert!(after_clear > written, "versions only grow");
    assert!(bars_of(store.as_ref(), "AAPL", year).await.is_empty());

    refill_by_other().await;
    let before_drop = wait_for_new_version(store.as_ref(), "AAPL", after_clear).await;
    assert!(before_drop > after_clear, "versions only grow");
    if let Backend::Postgres(_) = backend {
        // The listening connection dies: nothing in memory may be trusted until it is back,
        // and what is written meanwhile must still be seen.
        let terminated = backend
            .query_text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = 'marketcache version watch' AND datname = current_database();",
            )
            .await;
        assert_eq!(terminated, vec![vec!["t".to_string()]]);
    }
    clear(other_process, Some("AAPL"), None).await;
    let after_second_clear = wait_for_new_version(store.as_ref(), "AAPL", before_drop).await;
    assert!(after_second_clear > before_drop, "versions only grow");
    assert!(bars_of(store.as_ref(), "AAPL", year).await.is_empty());
    refill_by_other().await;
    let refilled = wait_for_new_version(store.as_ref(), "AAPL", after_second_clear).await;
    assert_eq!(refilled, version_of(other_process, "AAPL").await);
    assert_eq!(bars_of(store.as_ref(), "AAPL", year).await, bars);
}

fn check(days: DateRange, checked_at: DateTime<Utc>, live: bool) -> RecentCheck {
    RecentCheck {
        range: days,
        provider: "yahoo".to_string(),
        checked_at,
        final_from: at(
            days.start().year(),
            days.start().month(),
            days.start().day(),
            23,
        ),
        live,
    }
}

/// A write that stores nothing but the recent check `check`.
async fn write_check(store: &dyn BarStore, name: &str, check: &RecentCheck) {
    let answer = FetchedWrite {
        recheck: Some(check),
        ..FetchedWrite::bars("yahoo", &[], None)
    };
    write(store, name, answer, check.checked_at).await;
}

async fn recent_checks_replace_those_of_days_up_to_theirs_and_go_with_a_clear(backend: Backend) {
    let store = backend.store();
    let store = store.as_ref();
    let (mon, tue, wed, thu) = (
        date(2026, 11, 16),
        date(2026, 11, 17),
        date(2026, 11, 18),
        date(2026, 11, 19),
    );
    let monday = check(range(mon, mon), at(2026, 11, 16, 15), true);
    write_check(store, "TSLA", &monday).await;
    write_check(store, "NVDA", &monday).await;
    let snapshot = store
        .read_ledger(&symbol("TSLA"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        snapshot,
        LedgerSnapshot {
            version: version_of(store, "TSLA").await,
            coverage: Vec::new(),
            provisional: Vec::new(),
            recent_checks: vec![monday.clone()],
            exchange: None,
        }
    );
    let checks = |name: &'static str| async move {
        store
            .read_recent_checks(&symbol(name))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // A later check of days from Tuesday replaces Monday's, which it follows.
    let tuesday = check(range(tue, wed), at(2026, 11, 18, 15), false);
    write_check(store, "TSLA", &tuesday).await;
    assert_eq!(checks("TSLA").await, vec![tuesday.clone()]);
    // A check of days after Thursday leaves Thursday's alone; one of days up to it replaces it.
    let thursday = check(range(thu, thu), at(2026, 11, 19, 15), false);
    let earlier = check(range(mon, tue), at(2026, 11, 19, 16), false);
    write_check(store, "TSLA", &thursday).await;
    assert_eq!(checks("TSLA").await, vec![thursday.clone()]);
    write_check(store, "TSLA", &earlier).await;
    assert_eq!(checks("TSLA").await, vec![earlier, thursday]);
    clear(store, Some("TSLA"), None).await;
    assert!(checks("TSLA").await.is_empty());
    assert_eq!(
        checks("NVDA").await,
        vec![monday],
        "another symbol's check stays"
    );
}

async fn a_bulk_load_leaves_postgresql_s_planner_statistics_fresh(backend: Backend) {
    let store = backend.store();
    let listed = date(2000, 1, 3);
    let written = load_like_a_warm(store.as_ref(), "AAPL", 7, thirty_five_years(), listed).await;
    let written_bars = u64::try_from(written.len()).unwrap_or(u64::MAX);
    store
        .pack_after_bulk_load(written_bars)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bars_of(store.as_ref(), "AAPL", thirty_five_years()).await,
        written
    );
    if let Backend::Postgres(_) = backend {
        // ANALYZE counts a table this small exactly; before it, the planner had no estimate.
        let estimate = single_value(
            &backend,
            "SELECT reltuples::int8 FROM pg_class WHERE relname = 'market_data_cache'",
        )
        .await;
        assert_eq!(estimate, written.len().to_string());
    }
}

async fn two_stores_on_one_database_spend_one_budget_and_share_a_pause(backend: Backend) {
    let (first, second) = (backend.store(), backend.second_store().await);
    let now = Utc::now();
    let mut sent = 0;
    for store in [&first, &second, &first, &second]
        .into_iter()
        .cycle()
        .take(14)
    {
        let allowance = store
            .take_upstream_request("tiingo", None, Some(10), now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        match allowance {
            marketcache_domain::Allowance::Send => sent += 1,
            marketcache_domain::Allowance::SpentUntil(resets_at) => {
                let midnight = now
                    .date_naive()
                    .succ_opt()
                    .and_then(|d| d.and_hms_opt(0, 0, 0));
                assert_eq!(Some(resets_at), midnight.map(|m| m.and_utc()));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 10);
    // Another provider has a budget of its own; a pause asked by one store holds the other.
    let until = now + chrono::Duration::seconds(30);
    first
        .pause_upstream("yahoo", until)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let held = second
        .take_upstream_request("yahoo", None, None, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let marketcache_domain::Allowance::WaitUntil(held_until) = held else {
        panic!("{held:?}");
    };
    assert!(held_until >= until && held_until < until + chrono::Duration::seconds(1));
    let later = second
        .take_upstream_request("yahoo", None, None, held_until)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(later, marketcache_domain::Allowance::Send);
}

on_both_backends!(
    two_stores_on_one_database_spend_one_budget_and_share_a_pause,
    a_bulk_load_leaves_postgresql_s_planner_statistics_fresh,
    recent_checks_replace_those_of_days_up_to_theirs_and_go_with_a_clear,
    written_bars_read_back_in_date_order_with_every_value_exact,
    coverage_entries_read_back_with_their_range_provider_bars_and_rejected_rows,
    provisional_marks_and_corporate_actions_are_stored_and_read_back,
    rewriting_the_same_days_keeps_one_row_per_day_and_its_created_at,
    symbol_version_grows_with_every_write_and_clear_and_not_with_a_read,
    clearing_one_symbol_removes_all_it_stored_and_nothing_of_the_others,
    clearing_everything_leaves_an_empty_store,
    clearing_before_a_date_keeps_the_days_from_it_and_trims_coverage_across_it,
    stats_give_each_symbol_its_figures_and_the_bytes_per_bar,
    compacting_keeps_every_bar_and_never_grows_the_bars_table,
    the_documented_verification_sql_runs_unchanged_after_a_warm,
    a_second_store_on_the_same_database_sees_writes_and_versions_at_once,
    a_store_watching_versions_follows_writes_of_other_processes,
);
