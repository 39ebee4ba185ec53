//! The required read-through behaviour: how many upstream requests each situation costs.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::DateRange;

use crate::harness::{Backend, Harness, date, range, symbol, thirty_five_years};
use marketcache_testkit::on_both_backends;

const CACHED: GetOptions = GetOptions {
    force_refresh: false,
    offline: false,
    ..GetOptions::DEFAULT
};

async fn get(harness: &Harness, name: &str, requested: DateRange) -> marketcache_cache::SymbolBars {
    harness
        .cache
        .get_bars(&symbol(name), requested, CACHED)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn stats_of(harness: &Harness) -> marketcache_domain::StoreStats {
    harness
        .cache
        .stats()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn cold_35_years_takes_one_request_per_182_day_chunk_within_the_concurrency_limit(
    backend: Backend,
) {
    let harness = Harness::with_latency(backend, Duration::from_millis(3));
    let response = get(&harness, "AAPL", thirty_five_years()).await;
    assert_eq!(harness.upstream.count(), 73);
    assert_eq!(response.report.upstream_requests, 73);
    assert!(
        harness
            .upstream
            .requested_ranges()
            .iter()
            .all(|r| r.len_days() <= 182)
    );
    let peak = harness.upstream.peak_in_flight();
    assert!(
        (2..=4).contains(&peak),
        "requests in flight peaked at {peak}, limit 4"
    );
    let truth = harness
        .truth
        .bars_between(&symbol("AAPL"), thirty_five_years());
    assert_eq!(truth.len(), 9067);
    assert_eq!(response.bars, truth);
    assert_eq!(response.report.fetched_bars, 9067);
    assert_eq!(response.report.cached_bars, 0);
}

async fn the_same_request_again_asks_nothing_upstream(backend: Backend) {
    let harness = Harness::new(backend);
    let first = get(&harness, "AAPL", thirty_five_years()).await;
    harness.upstream.reset();
    let second = get(&harness, "AAPL", thirty_five_years()).await;
    assert_eq!(harness.upstream.count(), 0);
    assert_eq!(second.report.upstream_requests, 0);
    assert_eq!(second.report.cached_bars, 9067);
    assert_eq!(second.bars, first.bars);
}

async fn a_sub_range_of_the_cache_asks_nothing_upstream(backend: Backend) {
    let harness = Harness::new(backend);
    get(&harness, "AAPL", thirty_five_years()).await;
    harness.upstream.reset();
    let part = range(date(2003, 3, 3), date(2011, 7, 15));
    let response = get(&harness, "AAPL", part).await;
    assert_eq!(harness.upstream.count(), 0);
    assert_eq!(
        response.bars,
        harness.truth.bars_between(&symbol("AAPL"), part)
    );
}

async fn extending_the_end_by_30_days_fetches_only_the_new_days(backend: Backend) {
    let harness = Harness::new(backend);
    get(&harness, "AAPL", range(date(1990, 1, 1), date(2025, 6, 30))).await;
    harness.upstream.reset();
    let extended = range(date(1990, 1, 1), date(2025, 7, 30));
    let response = get(&harness, "AAPL", extended).await;
    assert_eq!(
        harness.upstream.requested_ranges(),
        vec![range(date(2025, 7, 1), date(2025, 7, 30))]
    );
    assert_eq!(response.report.fetched_bars, 21);
    assert_eq!(
        response.bars,
        harness.truth.bars_between(&symbol("AAPL"), extended)
    );
}

async fn extending_both_ends_takes_two_requests(backend: Backend) {
    let harness = Harness::new(backend);
    get(&harness, "MSFT", range(date(2020, 1, 1), date(2020, 3, 31))).await;
    harness.upstream.reset();
    let wider = range(date(2019, 12, 1), date(2020, 4, 30));
    let response = get(&harness, "MSFT", wider).await;
    assert_eq!(
        harness.upstream.requested_ranges(),
        vec![
            range(date(2019, 12, 2), date(2019, 12, 31)),
            range(date(2020, 4, 1), date(2020, 4, 30))
        ]
    );
    assert_eq!(
        response.bars,
        harness.truth.bars_between(&symbol("MSFT"), wider)
    );
}

async fn uncovered_weekends_and_holidays_are_never_asked_for(backend: Backend) {
    let harness = Harness::new(backend);
    // Thursday 3 July 2025; Friday 4 July is Independence Day, then a weekend.
    get(&harness, "AAPL", range(date(2025, 1, 2), date(2025, 7, 3))).await;
    harness.upstream.reset();
    get(&harness, "AAPL", range(date(2025, 1, 2), date(2025, 7, 6))).await;
    // New Year's Day 2025, the day before the cached start.
    get(&harness, "AAPL", range(date(2025, 1, 1), date(2025, 7, 6))).await;
    assert_eq!(harness.upstream.count(), 0);
}

async fn a_symbol_listed_in_2023_is_not_asked_again_for_the_years_before(backend: Backend) {
    let harness = Harness::new(backend);
    let first = get(&harness, "ARM", thirty_five_years()).await;
    // The oldest chunk alone, whose answer names ARM's first trading day, then only the
    // chunks from it on: 1 + 6 requests instead of all 73.
    let asked = harness.upstream.requested_ranges();
    assert_eq!(asked.len(), 7, "{asked:?}");
    assert_eq!(asked[0].start(), date(1990, 1, 2));
    assert!(
        asked[1..]
            .iter()
            .all(|chunk| chunk.start() >= date(2023, 9, 14)),
        "{asked:?}"
    );
    assert_eq!(first.report.upstream_requests, 7);
    assert_eq!(
        first.bars,
        harness
            .truth
            .bars_between(&symbol("ARM"), thirty_five_years())
    );
    assert_eq!(first.bars.first().map(|b| b.date), Some(date(2023, 9, 14)));
    harness.upstream.reset();
    let second = get(&harness, "ARM", thirty_five_years()).await;
    assert_eq!(harness.upstream.count(), 0);
    assert_eq!(second.bars, first.bars);
    let explanation = harness
        .cache
        .explain_coverage(&symbol("ARM"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The whole range asked, New Year's Day 1990 included: only the request skips it.
    assert_eq!(explanation.covered, vec![thirty_five_years()]);
    assert_eq!(explanation.barless.len(), 1, "{:?}", explanation.barless);
    assert_eq!(
        explanation.barless[0].range,
        range(date(1990, 1, 2), date(2023, 9, 13))
    );
    assert_eq!(
        explanation.barless[0].reason,
        marketcache_domain::CoverageReason::BeforeFirstTrade
    );
}

async fn force_refresh_fetches_every_chunk_again_without_duplicating_rows(backend: Backend) {
    let harness = Harness::new(backend);
    get(&harness, "AAPL", thirty_five_years()).await;
    let created_before = harness
        .backend
        .query_text("SELECT created_at, updated_at FROM market_data_cache WHERE symbol = 'AAPL' AND date = '2000-03-01'")
        .await;
    harness.upstream.reset();
    harness.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 26, 18, 0, 0)
            .single()
            .unwrap_or_default(),
    );
    let forced = GetOptions {
        force_refresh: true,
        offline: false,
        ..GetOptions::DEFAULT
    };
    let response = harness
        .cache
        .get_bars(&symbol("AAPL"), thirty_five_years(), forced)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(harness.upstream.count(), 73);
    assert_eq!(response.bars.len(), 9067);
    let rows = harness
        .backend
        .query_text("SELECT COUNT(*) FROM market_data_cache WHERE symbol = 'AAPL'")
        .await;
    assert_eq!(rows, vec![vec!["9067".to_string()]]);
    let duplicates = harness
        .backend
        .query_text(
            "SELECT symbol, date FROM market_data_cache GROUP BY symbol, date HAVING COUNT(*) > 1",
        )
        .await;
    assert!(duplicates.is_empty());
    let created_after = harness
        .backend
        .query_text("SELECT created_at, updated_at FROM market_data_cache WHERE symbol = 'AAPL' AND date = '2000-03-01'")
        .await;
    assert_eq!(
        created_after[0][0], created_before[0][0],
        "created_at must be kept"
    );
    assert_ne!(
        created_after[0][1], created_before[0][1],
        "updated_at must move"
    );
}

async fn offline_mode_serves_the_cache_and_reports_what_is_missing(backend: Backend) {
    let harness = Harness::new(backend);
    get(
        &harness,
        "NVDA",
        range(date(2020, 1, 1), date(2020, 12, 31)),
    )
    .await;
    harness.upstream.reset();
    let offline = GetOptions {
        force_refresh: false,
        offline: true,
        ..GetOptions::DEFAULT
    };
    let wider = range(date(2019, 1, 1), date(2021, 1, 10));
    let response = harness
        .cache
        .get_bars(&symbol("NVDA"), wider, offline)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(harness.upstream.count(), 0);
    assert_eq!(
        response.bars,
        harness
            .truth
            .bars_between(&symbol("NVDA"), range(date(2020, 1, 1), date(2020, 12, 31)))
    );
    assert_eq!(
        response.report.missing,
        vec![
            range(date(2019, 1, 2), date(2019, 12, 31)),
            range(date(2021, 1, 4), date(2021, 1, 8))
        ]
    );
}

async fn days_a_provider_may_still_publish_stay_uncovered(backend: Backend) {
    let harness = Harness::new(backend);
    // Friday 20 November 2026, before the close: the provider has bars up to Thursday.
    harness.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0)
            .single()
            .unwrap_or_default(),
    );
    let up_to_today = range(date(2026, 10, 1), date(2026, 11, 20));
    let first = get(&harness, "TSLA", up_to_today).await;
    assert_eq!(first.bars.last().map(|b| b.date), Some(date(2026, 11, 19)));
    let covered = harness
        .cache
        .explain_coverage(&symbol("TSLA"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .covered;
    assert_eq!(covered.last().map(|c| c.end()), Some(date(2026, 11, 19)));
    // Friday's bar cannot exist before Friday's close plus the publication lag: not asked again.
    harness.upstream.reset();
    get(&harness, "TSLA", up_to_today).await;
    assert_eq!(harness.upstream.count(), 0);
    // After it (20:00 in New York), Friday is asked for again, alone.
    harness.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 21, 1, 0, 0)
            .single()
            .unwrap_or_default(),
    );
    get(&harness, "TSLA", up_to_today).await;
    assert_eq!(
        harness.upstream.requested_ranges(),
        vec![range(date(2026, 11, 20), date(2026, 11, 20))]
    );
    // On Monday the provider has published Friday's bar.
    harness.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0)
            .single()
            .unwrap_or_default(),
    );
    let later = get(&harness, "TSLA", up_to_today).await;
    assert_eq!(later.bars.last().map(|b| b.date), Some(date(2026, 11, 20)));
    assert_eq!(
        later.bars,
        harness.truth.bars_between(&symbol("TSLA"), up_to_today)
    );
}

async fn a_range_ending_today_asks_once_per_new_session_not_once_per_read(backend: Backend) {
    let harness = Harness::new(backend);
    // Wednesday 25 November 2026, 13:00 in New York: today's bar cannot be final before 19:00.
    let to_today = range(date(2026, 1, 1), date(2026, 11, 25));
    let first = get(&harness, "MSFT", to_today).await;
    assert_eq!(first.report.upstream_requests, 2);
    let key = symbol("MSFT");
    let store = harness.backend.store();
    let version = store
        .symbol_version(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    harness.upstream.reset();
    for _ in 0..500 {
        let again = get(&harness, "MSFT", to_today).await;
        assert_eq!(again.bars, first.bars);
    }
    assert_eq!(harness.upstream.count(), 0, "500 reads asked upstream");
    assert_eq!(
        store
            .symbol_version(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        version,
        "a read that asked nobody wrote nothing"
    );
    // 19:30 in New York: the day's bar could be published now, so it is asked for, once.
    harness.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0)
            .single()
            .unwrap_or_default(),
    );
    for _ in 0..50 {
        get(&harness, "MSFT", to_today).await;
    }
    assert_eq!(
        harness.upstream.requested_ranges(),
        vec![range(date(2026, 11, 25), date(2026, 11, 25))]
    );
    // The provider has not published it yet: asked again after the freshness interval only.
    harness.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 26, 0, 46, 0)
            .single()
            .unwrap_or_default(),
    );
    get(&harness, "MSFT", to_today).await;
    assert_eq!(harness.upstream.count(), 2);
}

async fn a_range_ending_in_the_future_is_asked_up_to_today_then_never_again(backend: Backend) {
    let harness = Harness::new(backend);
    let to_2199 = range(date(2026, 1, 1), date(2199, 12, 31));
    let first = get(&harness, "NVDA", to_2199).await;
    assert_eq!(first.report.clipped_to, Some(date(2026, 11, 25)));
    assert_eq!(first.report.upstream_requests, 2);
    assert!(
        harness
            .upstream
            .requested_ranges()
            .iter()
            .all(|asked| asked.end() <= date(2026, 11, 25)),
        "{:?}",
        harness.upstream.requested_ranges()
    );
    assert!(first.report.missing.is_empty());
    harness.upstream.reset();
    let second = get(&harness, "NVDA", to_2199).await;
    assert_eq!(second.report.upstream_requests, 0);
    assert_eq!(harness.upstream.count(), 0);
    assert_eq!(second.bars, first.bars);
    let offline = harness
        .cache
        .get_bars(
            &symbol("NVDA"),
            to_2199,
            GetOptions {
                offline: true,
                ..GetOptions::DEFAULT
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        offline.report.missing.is_empty(),
        "{:?}",
        offline.report.missing
    );
}

async fn an_unknown_symbol_is_an_error_naming_it_and_stores_nothing(backend: Backend) {
    let harness = Harness::new(backend);
    let result = harness
        .cache
        .get_bars(
            &symbol("ZZTOP"),
            range(date(2020, 1, 1), date(2021, 12, 31)),
            CACHED,
        )
        .await;
    let error = result
        .err()
        .unwrap_or_else(|| panic!("an unknown symbol must fail"));
    assert!(error.is_not_found());
    assert!(error.to_string().contains("ZZTOP"), "{error}");
    assert_eq!(
        harness
            .backend
            .query_text("SELECT COUNT(*) FROM market_data_cache")
            .await,
        vec![vec!["0".to_string()]]
    );
    assert_eq!(
        harness
            .backend
            .query_text("SELECT COUNT(*) FROM coverage_ledger")
            .await,
        vec![vec!["0".to_string()]]
    );
}

async fn clearing_a_symbol_makes_the_cleared_range_fetch_again_exactly(backend: Backend) {
    let harness = Harness::new(backend);
    let years = range(date(2015, 1, 1), date(2018, 12, 31));
    get(&harness, "AAPL", years).await;
    get(&harness, "MSFT", years).await;
    let first_requests = harness.upstream.requested_ranges();
    harness.upstream.reset();
    let cleared = harness
        .cache
        .clear(Some(&symbol("AAPL")), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cleared.bars_deleted, 1006);
    let again = get(&harness, "AAPL", years).await;
    let mut expected: Vec<DateRange> = first_requests;
    expected.dedup();
    assert_eq!(harness.upstream.requested_ranges(), expected);
    assert_eq!(
        again.bars,
        harness.truth.bars_between(&symbol("AAPL"), years)
    );
    harness.upstream.reset();
    get(&harness, "MSFT", years).await;
    assert_eq!(harness.upstream.count(), 0, "MSFT was not cleared");
}

async fn clearing_before_2000_refetches_only_the_nineties(backend: Backend) {
    let harness = Harness::new(backend);
    get(&harness, "AAPL", thirty_five_years()).await;
    harness.upstream.reset();
    harness
        .cache
        .clear(None, Some(date(2000, 1, 1)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = get(&harness, "AAPL", thirty_five_years()).await;
    let nineties = range(date(1990, 1, 2), date(1999, 12, 31));
    let requested = harness.upstream.requested_ranges();
    assert_eq!(requested.len(), nineties.chunks(182).len());
    assert_eq!(requested.first().map(|r| r.start()), Some(date(1990, 1, 2)));
    assert!(
        requested.iter().all(|r| r.end() <= date(1999, 12, 31)),
        "{requested:?}"
    );
    assert_eq!(
        response.bars,
        harness
            .truth
            .bars_between(&symbol("AAPL"), thirty_five_years())
    );
}

async fn fifty_concurrent_cold_requests_share_one_fetch_per_chunk(backend: Backend) {
    let harness = Harness::with_latency(backend, Duration::from_millis(2));
    let cache: Arc<MarketDataCache> = harness.cache.clone();
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_bars(&symbol("AAPL"), thirty_five_years(), CACHED)
                    .await
            })
        })
        .collect();
    for caller in callers {
        let response = caller
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.bars.len(), 9067);
    }
    assert_eq!(harness.upstream.count(), 73);
}

async fn changes_made_by_another_process_are_seen_at_once(backend: Backend) {
    let harness = Harness::new(backend);
    let year = range(date(2020, 1, 1), date(2020, 12, 31));
    get(&harness, "AAPL", year).await;
    let repeated = get(&harness, "AAPL", year).await;
    assert_eq!(repeated.bars.len(), 253);
    let other_process = harness.backend.second_store().await;
    other_process
        .clear(Some(&symbol("AAPL")), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let offline = GetOptions {
        force_refresh: false,
        offline: true,
        ..GetOptions::DEFAULT
    };
    let after_clear = harness
        .cache
        .get_bars(&symbol("AAPL"), year, offline)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        after_clear.bars.is_empty(),
        "a cleared symbol must not be served from memory"
    );
    assert_eq!(
        after_clear.report.missing,
        vec![range(date(2020, 1, 2), date(2020, 12, 31))]
    );
    let other_cache = MarketDataCache::new(
        other_process,
        harness.upstream.clone(),
        harness.clock.clone(),
    );
    other_cache
        .get_bars(&symbol("AAPL"), year, CACHED)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refilled = harness
        .cache
        .get_bars(&symbol("AAPL"), year, offline)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        refilled.bars,
        harness.truth.bars_between(&symbol("AAPL"), year)
    );
}

async fn after_two_ranges_of_a_symbol_every_range_is_served_from_memory(backend: Backend) {
    let harness = Harness::new(backend);
    get(
        &harness,
        "AAPL",
        range(date(2000, 1, 1), date(2020, 12, 31)),
    )
    .await;
    let first = get(
        &harness,
        "AAPL",
        range(date(2019, 1, 1), date(2019, 12, 31)),
    )
    .await;
    let second = get(
        &harness,
        "AAPL",
        range(date(2005, 1, 1), date(2005, 12, 31)),
    )
    .await;
    assert_eq!((first.bars.len(), second.bars.len()), (252, 252));
    // Rows removed behind the store's back (its version unchanged) are still served: the
    // whole stored span is in memory after the second range, so no read reaches the table.
    harness
        .backend
        .query_text(
            "DELETE FROM market_data_cache WHERE date BETWEEN '2010-01-01' AND '2010-12-31';",
        )
        .await;
    let third = get(
        &harness,
        "AAPL",
        range(date(2010, 1, 1), date(2010, 12, 31)),
    )
    .await;
    assert_eq!(
        third.bars,
        harness
            .truth
            .bars_between(&symbol("AAPL"), range(date(2010, 1, 1), date(2010, 12, 31)))
    );
    assert_eq!(third.report.upstream_requests, 0);
}

async fn a_warm_that_wrote_most_of_the_database_leaves_it_packed(backend: Backend) {
    let harness = Harness::new(backend);
    let embedded = matches!(harness.backend, Backend::Sqlite(_));
    let warm = |names: &'static [&'static str]| {
        let symbols: Vec<_> = names.iter().map(|name| symbol(name)).collect();
        let cache = &harness.cache;
        async move {
            let warmed = cache
                .warm(
                    &symbols,
                    thirty_five_years(),
                    &marketcache_cache::NoProgress,
                )
                .await;
            for outcome in &warmed.outcomes {
                assert!(outcome.result.is_ok(), "{:?}", outcome.result);
            }
            warmed.packed.unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let stats = || stats_of(&harness);

    // AMD's bars go in between AAPL's and GOOGL's: unpacked, the SQLite file takes about 13%
    // more (pages 7/8 full), PostgreSQL's primary key about 29% more (pages split in half).
    let first = warm(&["AAPL", "GOOGL", "AMD"]).await;
    let after_warm = stats().await;
    if embedded {
        let packed = first.unwrap_or_else(|| panic!("a warm into an empty file was not packed"));
        assert!(packed.bytes_after < packed.bytes_before, "{packed:?}");
        assert_eq!(packed.bytes_after, after_warm.bytes_on_disk);
        let per_bar = after_warm.bar_table_bytes as f64 / after_warm.total_bars as f64;
        assert!(
            per_bar < 76.0,
            "{per_bar:.1} bytes per bar after a packed warm"
        );
        // VACUUM packs nothing more.
        harness
            .cache
            .compact()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats().await.bar_table_bytes, after_warm.bar_table_bytes);
    } else {
        // A table other processes share is never rewritten behind their backs.
        assert_eq!(first, None);
    }

    // Nothing new, or little beside what is stored: no packing.
    assert_eq!(warm(&["AAPL", "GOOGL", "AMD"]).await, None);
    assert_eq!(warm(&["ARM"]).await, None);
    for name in ["AAPL", "AMD", "ARM"] {
        let bars = get(&harness, name, thirty_five_years()).await.bars;
        assert_eq!(
            bars,
            harness
                .truth
                .bars_between(&symbol(name), thirty_five_years())
        );
    }
}

/// The figures of `stats` are kept between calls, yet follow every change at once: this
/// process's writes, another process's clear, and packing.
async fn stats_follow_every_change_at_once(backend: Backend) {
    let harness = Harness::new(backend);
    let year = range(date(2020, 1, 1), date(2020, 12, 31));
    let symbols_of = |stats: &marketcache_domain::StoreStats| -> Vec<(String, u64)> {
        stats
            .symbols
            .iter()
            .map(|figures| (figures.symbol.clone(), figures.bars))
            .collect()
    };
    let stats = || stats_of(&harness);
    assert!(stats().await.symbols.is_empty());
    get(&harness, "AAPL", year).await;
    assert_eq!(symbols_of(&stats().await), [("AAPL".to_string(), 253)]);
    get(&harness, "MSFT", range(date(2020, 1, 1), date(2020, 1, 31))).await;
    assert_eq!(
        symbols_of(&stats().await),
        [("AAPL".to_string(), 253), ("MSFT".to_string(), 21)]
    );
    let other_process = harness.backend.second_store().await;
    other_process
        .clear(Some(&symbol("AAPL")), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(symbols_of(&stats().await), [("MSFT".to_string(), 21)]);
}

on_both_backends!(
    stats_follow_every_change_at_once,
    a_warm_that_wrote_most_of_the_database_leaves_it_packed,
    after_two_ranges_of_a_symbol_every_range_is_served_from_memory,
    changes_made_by_another_process_are_seen_at_once,
    cold_35_years_takes_one_request_per_182_day_chunk_within_the_concurrency_limit,
    the_same_request_again_asks_nothing_upstream,
    a_sub_range_of_the_cache_asks_nothing_upstream,
    extending_the_end_by_30_days_fetches_only_the_new_days,
    extending_both_ends_takes_two_requests,
    uncovered_weekends_and_holidays_are_never_asked_for,
    a_symbol_listed_in_2023_is_not_asked_again_for_the_years_before,
    force_refresh_fetches_every_chunk_again_without_duplicating_rows,
    offline_mode_serves_the_cache_and_reports_what_is_missing,
    days_a_provider_may_still_publish_stay_uncovered,
    a_range_ending_today_asks_once_per_new_session_not_once_per_read,
    a_range_ending_in_the_future_is_asked_up_to_today_then_never_again,
    an_unknown_symbol_is_an_error_naming_it_and_stores_nothing,
    clearing_a_symbol_makes_the_cleared_range_fetch_again_exactly,
    clearing_before_2000_refetches_only_the_nineties,
    fifty_concurrent_cold_requests_share_one_fetch_per_chunk,
);
