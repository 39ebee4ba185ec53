//! Fill claims on PostgreSQL: one session per process holds the advisory lock of every symbol
//! the process is filling, so a claim costs no pooled connection (a holder's writes need the
//! pool) and every claim of a process ends with its session, which the server ends as soon as
//! the process dies, however it dies.

use std::sync::Arc;

use async_trait::async_trait;
use marketcache_domain::{FillClaim, StoreError};
use tokio_postgres::{Client, NoTls};

use crate::postgres::{ConnectWait, failure_reason};

/// The first key of every fill claim's advisory lock (the second is the symbol's hash): any
/// fixed number. Two-key locks never meet the one-key locks of migrations and writers.
const FILL_CLAIM_CLASS: i32 = 0x6d63_6663;

/// The session that holds this process's claims, opened on first use and again after it drops
/// (the claims it held ended with it).
pub(crate) struct ClaimSession {
    config: tokio_postgres::Config,
    target: String,
    wait: ConnectWait,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl ClaimSession {
    pub(crate) fn new(config: tokio_postgres::Config, target: String, wait: ConnectWait) -> Self {
        Self {
            config,
            target,
            wait,
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let client = self
            .wait
            .retry_refusals(&self.target, || async {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::warn!(reason = %failure_reason(&error), "the session holding fill claims ended");
                    }
                });
                Ok::<_, tokio_postgres::Error>(client)
            })
            .await?;
        let client = Arc::new(client);
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
