//! Fill claims on PostgreSQL: one session per process holds the advisory lock of every symbol
//! the process is filling (and of its request slots), so claims never take the pool's
//! connections from a holder's writes, and every claim of a process ends with its session,
//! which the server ends as soon as the process dies, however it dies. The session is a pooled
//! connection taken out of the pool: a process waiting for a claim holds one connection, not
//! two, which keeps sixty waiting processes well inside a server's default 100.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Object, Pool};
use marketcache_domain::{FillClaim, StoreError};

use crate::postgres::{ConnectWait, failure_reason};

type Client = ClientWrapper;

/// The first key of every fill claim's advisory lock (the second is the symbol's hash): any
/// fixed number. Two-key locks never meet the one-key locks of migrations and writers.
const FILL_CLAIM_CLASS: i32 = 0x6d63_6663;

/// The session that holds this process's claims, opened on first use and again after it drops
/// (the claims it held ended with it).
pub(crate) struct ClaimSession {
    pool: Pool,
    target: String,
    wait: ConnectWait,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl ClaimSession {
    pub(crate) fn new(pool: Pool, target: String, wait: ConnectWait) -> Self {
        Self {
            pool,
            target,
            wait,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The session's connection when it is open: a process waiting for another's fill asks
    /// for the symbol's version on it, so waiting costs one connection, not two.
    pub(crate) fn open_client(&self) -> Option<Arc<Client>> {
        let slot = self.client.try_lock().ok()?;
        slot.as_ref()
            .filter(|client| !client.is_closed())
            .map(Arc::clone)
    }

    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let pooled = self
            .wait
            .retry_refusals(&self.target, || self.pool.get())
            .await?;
        // Out of the pool for good: the pool may open another in its place when it needs one.
        let client = Arc::new(Object::take(pooled));
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// The claim named `key` (a symbol's fill, a provider's request slot), or `None` while
    /// another session holds it.
    pub(crate) async fn try_claim(
        &self,
        key: &str,
    ) -> Result<Option<Box<dyn FillClaim>>, StoreError> {
        let client = self.client().await?;
        let key = key.to_string();
        let claimed: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&FILL_CLAIM_CLASS, &key],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| crate::backend_error("claiming a fill")(Box::new(e)))?;
        Ok(claimed.then(|| {
            Box::new(SessionLockClaim {
                client: Some(client),
                key,
            }) as Box<dyn FillClaim>
        }))
    }
}

/// One symbol's claim: the advisory lock its process's claim session holds.
struct SessionLockClaim {
    client: Option<Arc<Client>>,
    key: String,
}

async fn unlock(client: &Client, key: &str) {
    let unlocked = client
        .query_one(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&FILL_CLAIM_CLASS, &key],
        )
        .await
        .and_then(|row| row.try_get::<_, bool>(0));
    // A session that dropped already released every lock it held.
    if let Err(error) = unlocked {
        tracing::warn!(symbol = key, reason = %failure_reason(&error), "a fill claim was not released; its session ending releases it");
    }
}

#[async_trait]
impl FillClaim for SessionLockClaim {
    async fn release(mut self: Box<Self>) {
        if let Some(client) = self.client.take() {
            unlock(&client, &self.key).await;
        }
    }
}

impl Drop for SessionLockClaim {
    fn drop(&mut self) {
        // Dropped unreleased (a cancelled read): released in the background; a process that is
        // ending releases it with its session.
        if let (Some(client), Ok(runtime)) =
            (self.client.take(), tokio::runtime::Handle::try_current())
        {
            let key = std::mem::take(&mut self.key);
            runtime.spawn(async move { unlock(&client, &key).await });
        }
    }
}
