//! The request gate every provider's HTTP client passes before each request: the provider's
//! budgets (per minute, per day) and the pauses it asked for, kept in the store, so that every
//! process sharing the cache spends one budget per provider and a throttling answer seen by one
//! pauses them all.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marketcache_domain::error::error_chain;
use marketcache_domain::{
    Allowance, BarStore, Clock, FillClaim, RequestGate, RequestLimits, RequestSlot, SourceError,
};

/// Longest one request waits for its provider's budget (a pause, the minute's budget) before it
/// gives up as rate-limited.
pub const MAX_BUDGET_WAIT: Duration = Duration::from_secs(300);

/// A [`StoreGate`] known only once the store is open: providers are built, and their settings
/// checked, before the database is opened, so a usage error never creates one. No request is
/// sent before [`LateGate::open`] (no cache exists yet); one that were would pass ungated.
#[derive(Default)]
pub struct LateGate(OnceLock<StoreGate>);

impl LateGate {
    /// From now on, requests pass `gate`. Only the first call counts.
    pub fn open(&self, gate: StoreGate) {
        if self.0.set(gate).is_err() {
            tracing::warn!("the request gate was opened twice; the first one stays");
        }
    }
}

#[async_trait]
impl RequestGate for LateGate {
    async fn before_request(
        &self,
        provider: &str,
        limits: RequestLimits,
    ) -> Result<RequestSlot, SourceError> {
        match self.0.get() {
            Some(gate) => gate.before_request(provider, limits).await,
            None => Ok(RequestSlot::unshared()),
        }
    }

    async fn throttled(&self, provider: &str, retry_after: Duration) {
        if let Some(gate) = self.0.get() {
            gate.throttled(provider, retry_after).await;
        }
    }
}

/// A [`RequestGate`] over a store's request slots and budget rows.
pub struct StoreGate {
    store: Arc<dyn BarStore>,
    clock: Arc<dyn Clock>,
    /// The slots this process holds: a PostgreSQL session may take its own lock again, so the
    /// process never asks the store for a slot it already has.
    held: Arc<Mutex<HashSet<(String, usize)>>>,
}

impl StoreGate {
    /// A gate counting in `store`, with "now" from `clock`.
    pub fn new(store: Arc<dyn BarStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            held: Arc::default(),
        }
    }

    fn store_error(provider: &str, error: &marketcache_domain::StoreError) -> SourceError {
        SourceError::Transport {
            provider: provider.to_string(),
            message: format!(
                "cannot count the request in the cache's database: {}",
                error_chain(error)
            ),
        }
    }

    /// One of `provider`'s `max_concurrency` slots, free in every process sharing the store,
    /// waited for (polling) until one frees.
    async fn take_slot(
        &self,
        provider: &str,
        max_concurrency: usize,
    ) -> Result<RequestSlot, SourceError> {
        let started = Instant::now();
        loop {
            for slot in 0..max_concurrency.max(1) {
                let key = (provider.to_string(), slot);
                if !self.mark_held(&key) {
                    continue;
                }
                match self.store.try_claim_request_slot(provider, slot).await {
                    Ok(Some(claim)) => {
                        let guard = SlotGuard {
                            _claim: claim,
                            key,
                            held: Arc::clone(&self.held),
                        };
                        return Ok(RequestSlot::held(Box::new(guard)));
                    }
                    Ok(None) => self.unmark_held(&key),
                    Err(error) => {
                        self.unmark_held(&key);
                        return Err(Self::store_error(provider, &error));
                    }
                }
            }
            if started.elapsed() > MAX_BUDGET_WAIT {
                return Err(SourceError::RateLimited {
                    provider: provider.to_string(),
                    retry_after: None,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Marks `key` held by this process; false when it already was.
    fn mark_held(&self, key: &(String, usize)) -> bool {
        match self.held.lock() {
            Ok(mut held) => held.insert(key.clone()),
            Err(poisoned) => poisoned.into_inner().insert(key.clone()),
        }
    }

    fn unmark_held(&self, key: &(String, usize)) {
        unmark(&self.held, key);
    }
}

fn unmark(held: &Mutex<HashSet<(String, usize)>>, key: &(String, usize)) {
    match held.lock() {
        Ok(mut held) => held.remove(key),
        Err(poisoned) => poisoned.into_inner().remove(key),
    };
}

/// A request slot held by this process: its claim in the store, freed on drop.
struct SlotGuard {
    _claim: Box<dyn FillClaim>,
    key: (String, usize),
    held: Arc<Mutex<HashSet<(String, usize)>>>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        unmark(&self.held, &self.key);
    }
}

#[async_trait]
impl RequestGate for StoreGate {
    async fn before_request(
        &self,
        provider: &str,
        limits: RequestLimits,
    ) -> Result<RequestSlot, SourceError> {
        let slot = self.take_slot(provider, limits.max_concurrency).await?;
        let started = Instant::now();
        loop {
            let now = self.clock.now();
            let allowance = self
                .store
                .take_upstream_request(provider, limits.per_minute, limits.per_day, now)
                .await
                .map_err(|error| Self::store_error(provider, &error))?;
            let until = match allowance {
                Allowance::Send => return Ok(slot),
                Allowance::SpentUntil(resets_at) => {
                    return Err(SourceError::BudgetSpent {
                        provider: provider.to_string(),
                        budget: limits.per_day.unwrap_or(0),
                        resets_at,
                    });
                }
                Allowance::WaitUntil(until) => until,
            };
            let wait = (until - now).to_std().unwrap_or_default();
            if started.elapsed() + wait > MAX_BUDGET_WAIT {
                return Err(SourceError::RateLimited {
                    provider: provider.to_string(),
                    retry_after: Some(wait),
                });
            }
            tracing::info!(
                provider,
                wait_ms = wait.as_millis() as u64,
                "waiting for the provider's shared budget"
            );
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }

    async fn throttled(&self, provider: &str, retry_after: Duration) {
        let until = self.clock.now() + chrono::Duration::from_std(retry_after).unwrap_or_default();
        if let Err(error) = self.store.pause_upstream(provider, until).await {
            tracing::warn!(provider, error = %error_chain(&error), "could not share a pause the provider asked for");
        }
    }
}
