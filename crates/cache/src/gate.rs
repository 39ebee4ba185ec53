//! The request gate every provider's HTTP client passes before each request: the provider's
//! budgets (per minute, per day) and the pauses it asked for, kept in the store, so that every
//! process sharing the cache spends one budget per provider and a throttling answer seen by one
//! pauses them all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marketcache_domain::error::error_chain;
use marketcache_domain::{Allowance, BarStore, Clock, RequestGate, SourceError};

/// Longest one request waits for its provider's budget (a pause, the minute's budget) before it
/// gives up as rate-limited.
pub const MAX_BUDGET_WAIT: Duration = Duration::from_secs(300);

/// A [`RequestGate`] over a store's budget rows.
pub struct StoreGate {
    store: Arc<dyn BarStore>,
    clock: Arc<dyn Clock>,
}

impl StoreGate {
    /// A gate counting in `store`, with "now" from `clock`.
    pub fn new(store: Arc<dyn BarStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl RequestGate for StoreGate {
    async fn before_request(
        &self,
        provider: &str,
        per_minute: Option<u32>,
        per_day: Option<u32>,
    ) -> Result<(), SourceError> {
        let started = Instant::now();
        loop {
            let now = self.clock.now();
            let allowance = self
                .store
                .take_upstream_request(provider, per_minute, per_day, now)
                .await
                .map_err(|error| SourceError::Transport {
                    provider: provider.to_string(),
                    message: format!(
                        "cannot count the request in the cache's database: {}",
                        error_chain(&error)
                    ),
                })?;
            let until = match allowance {
                Allowance::Send => return Ok(()),
                Allowance::SpentUntil(resets_at) => {
                    return Err(SourceError::BudgetSpent {
                        provider: provider.to_string(),
                        budget: per_day.unwrap_or(0),
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
