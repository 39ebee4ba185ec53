//! Several caches over one database, each with a store of its own as separate processes have:
//! they fill each gap from upstream once between them, whoever asks first.

use std::sync::Arc;
use std::time::Duration;

use marketcache_cache::{GetOptions, MarketDataCache};
use marketcache_domain::{BarStore, Symbol};
use marketcache_testkit::on_both_backends;

use crate::harness::{Backend, Harness, date, range, symbol};

/// 2000-01-01..2009-12-31 on trading days is 21 chunks of at most 182 days.
const CHUNKS_2000S: usize = 21;

async fn caches_on_one_database_fetch_each_chunk_once_between_them(backend: Backend) {
    let harness = Harness::with_latency(backend, Duration::from_millis(20));
    let mut caches = vec![Arc::clone(&harness.cache)];
    for _ in 0..2 {
        let store = harness.backend.second_store().await;
        caches.push(Arc::new(MarketDataCache::new(
            store,
            harness.upstream.clone(),
            harness.clock.clone(),
        )));
    }
    let wanted = range(date(2000, 1, 1), date(2009, 12, 31));
    let readers = caches.iter().flat_map(|cache| {
        (0..10).map(move |_| {
            let cache = Arc::clone(cache);
            tokio::spawn(async move {
                cache
                    .get_bars(&symbol("MSFT"), wanted, GetOptions::DEFAULT)
                    .await
                    .map(|response| (response.bars, response.report.upstream_requests))
            })
        })
    });
    let answers = futures::future::join_all(readers.collect::<Vec<_>>()).await;
    let truth = harness.truth.bars_between(&symbol("MSFT"), wanted);
    let mut requests = 0;
    for answer in answers {
        let (bars, asked) = answer
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bars, truth);
        requests += asked;
    }
    assert_eq!(harness.upstream.count(), CHUNKS_2000S);
    assert_eq!(
        requests, CHUNKS_2000S,
        "the reports add up to what upstream saw"
    );
    assert!(harness.upstream.peak_in_flight() <= 4);
}

async fn a_claim_is_one_holder_at_a_time_and_free_again_once_released_or_dropped(backend: Backend) {
    let first = backend.store();
    let second = backend.second_store().await;
    let key = Symbol::parse("AAPL").unwrap_or_else(|e| panic!("{e}"));
    let claim = first
        .try_claim_fill(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a free claim was refused"));
    let other = Symbol::parse("MSFT").unwrap_or_else(|e| panic!("{e}"));
    assert!(claimed(&second, &other).await, "another symbol is free");
    assert!(
        !claimed(&second, &key).await,
        "a held claim was given twice"
    );
    claim.release().await;
    assert!(
        claimed(&second, &key).await,
        "a released claim stayed taken"
    );

    // Dropped without a release (a cancelled read): free again within seconds.
    let dropped = second
        .try_claim_fill(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(dropped.is_some());
    drop(dropped);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !claimed(&first, &key).await {
        assert!(
            std::time::Instant::now() < deadline,
            "a dropped claim was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn forty_cold_symbols_at_once_keep_to_the_provider_s_request_limit(backend: Backend) {
    let harness = Harness::with_latency(backend, Duration::from_millis(5));
    let wanted = range(date(2024, 1, 1), date(2025, 12, 31));
    let readers: Vec<_> = (0..40)
        .map(|index| {
            let cache = Arc::clone(&harness.cache);
            // Tickers S0A..S9D: forty symbols, each read cold once.
            let name = format!("S{}{}", index % 10, ["A", "B", "C", "D"][index / 10]);
            tokio::spawn(async move {
                cache
                    .get_bars(&symbol(&name), wanted, GetOptions::DEFAULT)
                    .await
                    .map(|response| response.report.upstream_requests)
            })
        })
        .collect();
    let mut requests = 0;
    for reader in futures::future::join_all(readers).await {
        requests += reader
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // 2024-01-02..2025-12-31 on trading days: 5 chunks of at most 182 days per symbol.
    assert_eq!(requests, 40 * 5);
    assert_eq!(harness.upstream.count(), 40 * 5);
    assert_eq!(
        harness.upstream.peak_in_flight(),
        4,
        "the provider allows 4 at once, whoever asks"
    );
}

async fn a_warm_keeps_within_the_provider_s_limit_across_its_symbols(backend: Backend) {
    let harness = Harness::with_latency(backend, Duration::from_millis(5));
    let symbols: Vec<Symbol> = ["AAPL", "MSFT", "NVDA", "AMD"]
        .into_iter()
        .map(symbol)
        .collect();
    let wanted = range(date(2015, 1, 1), date(2025, 12, 31));
    let warmed = harness
        .cache
        .warm(&symbols, wanted, &marketcache_cache::NoProgress)
        .await;
    let order: Vec<&Symbol> = warmed.outcomes.iter().map(|o| &o.symbol).collect();
    assert_eq!(
        order,
        symbols.iter().collect::<Vec<_>>(),
        "outcomes keep the order asked"
    );
    for outcome in &warmed.outcomes {
        let bars = outcome.result.as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bars.bars,
            harness.truth.bars_between(&outcome.symbol, wanted).len()
        );
    }
    assert_eq!(harness.upstream.peak_in_flight(), 4);
}

async fn a_provider_s_request_slot_is_one_holder_s_at_a_time_across_stores(backend: Backend) {
    let (first, second) = (backend.store(), backend.second_store().await);
    let slot = |store: Arc<dyn BarStore>, index: usize| async move {
        store
            .try_claim_request_slot("yahoo", index)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let held = slot(Arc::clone(&first), 0)
        .await
        .unwrap_or_else(|| panic!("a free slot was refused"));
    assert!(
        slot(Arc::clone(&second), 0).await.is_none(),
        "slot 0 given twice"
    );
    let other = slot(Arc::clone(&second), 1).await;
    assert!(other.is_some(), "slot 1 is free");
    held.release().await;
    let again = slot(Arc::clone(&second), 0).await;
    assert!(again.is_some(), "a released slot stayed taken");
}

/// Whether `store` gets the claim of `key` (released at once when it does).
async fn claimed(store: &Arc<dyn BarStore>, key: &Symbol) -> bool {
    match store
        .try_claim_fill(key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    {
        Some(claim) => {
            claim.release().await;
            true
        }
        None => false,
    }
}

on_both_backends!(
    a_provider_s_request_slot_is_one_holder_s_at_a_time_across_stores,
    forty_cold_symbols_at_once_keep_to_the_provider_s_request_limit,
    a_warm_keeps_within_the_provider_s_limit_across_its_symbols,
    caches_on_one_database_fetch_each_chunk_once_between_them,
    a_claim_is_one_holder_at_a_time_and_free_again_once_released_or_dropped,
);
