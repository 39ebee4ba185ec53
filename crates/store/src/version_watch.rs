//! Symbol versions kept in memory for a long-running process on PostgreSQL, kept current by
//! `LISTEN`/`NOTIFY`.
//!
//! Every read through the cache first asks for the symbol's version, to know whether its copy
//! in memory is current; on PostgreSQL that is a network round trip per request, the largest
//! cost of serving cached bars. Every write (from any process sharing the database) notifies
//! the new versions on [`CHANNEL`] when it commits, so a process that listens can answer from
//! memory. The versions only grow, so a late answer never replaces a newer one.
//!
//! What is in memory is trusted only while the listening connection is up: when it drops, the
//! memory is emptied and every lookup goes to the database until a new connection listens
//! again. Each such change starts a new generation; a lookup that began in an earlier one is
//! not remembered, because a notification may have been missed while it ran.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

/// The channel every write notifies; its payload is `schema TAB version TAB symbol`.
pub(crate) const CHANNEL: &str = "marketcache_versions";

/// The longest wait between two attempts to listen again after the connection dropped.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

/// The versions known in memory and the generation they belong to.
#[derive(Debug, Default)]
struct Known {
    /// Odd while a connection listens (memory trusted), even otherwise.
    generation: u64,
    versions: HashMap<String, i64>,
}

/// The shared state of a watch: read by lookups, written by the listener and by writes.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    known: RwLock<Known>,
}

impl Versions {
    /// The version of `symbol` if memory can be trusted for it.
    pub(crate) fn known(&self, symbol: &str) -> Option<i64> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        if known.generation % 2 == 1 {
            known.versions.get(symbol).copied()
        } else {
            None
        }
    }

    /// The generation to hand to [`Self::remember`] after a lookup in the database.
    pub(crate) fn generation(&self) -> u64 {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// Keeps `version` of `symbol`, read from the database during `generation`, unless the
    /// listening connection changed since (a notification may have been missed meanwhile).
    pub(crate) fn remember(&self, symbol: &str, version: i64, generation: u64) {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if known.generation == generation && generation % 2 == 1 {
            let entry = known.versions.entry(symbol.to_string()).or_insert(version);
            *entry = (*entry).max(version);
        }
    }

    /// Keeps a version notified by a writer (this process or another).
    pub(crate) fn observe(&self, symbol: &str, version: i64) {
        let generation = self.generation();
        self.remember(symbol, version, generation);
    }

    /// The listening connection came up (`true`) or went down (`false`).
    fn set_listening(&self, listening: bool) {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if (known.generation % 2 == 1) != listening {
            known.generation += 1;
            known.versions.clear();
        }
    }
}

/// A running watch; dropping it stops listening.
#[derive(Debug)]
pub(crate) struct VersionWatch {
    versions: Arc<Versions>,
    listener: JoinHandle<()>,
}

impl Drop for VersionWatch {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl VersionWatch {
    /// Connects with `config`, listens on [`CHANNEL`], and keeps listening (reconnecting when
    /// the connection drops) until dropped. Fails only if the first connection fails.
    pub(crate) async fn start(config: Config) -> Result<Self, tokio_postgres::Error> {
        let versions = Arc::new(Versions::default());
        let first = Listener::connect(&config).await?;
        versions.set_listening(true);
        let listener = tokio::spawn(keep_listening(config, Arc::clone(&versions), first));
        Ok(Self { versions, listener })
    }

    pub(crate) fn versions(&self) -> &Versions {
        &self.versions
    }
}

/// One listening connection: its notifications, and its client, kept so the session lasts.
struct Listener {
    schema: String,
    notifications: mpsc::UnboundedReceiver<tokio_postgres::Notification>,
    _client: Client,
}

impl Listener {
    async fn connect(config: &Config) -> Result<Self, tokio_postgres::Error> {
        let mut config = config.clone();
        config.application_name("marketcache version watch");
        let (client, mut connection) = config.connect(NoTls).await?;
        let (sender, notifications) = mpsc::unbounded_channel();
        // The connection must be driven for the client's queries to complete; its other
        // messages (notices) are of no interest here.
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(notification) = message
                    && sender.send(notification).is_err()
                {
                    break;
                }
            }
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await?
            .get(0);
        Ok(Self {
            schema,
            notifications,
            _client: client,
        })
    }
}

/// Applies notifications while the connection lasts; then empties memory and reconnects with
/// a growing delay.
async fn keep_listening(config: Config, versions: Arc<Versions>, mut listener: Listener) {
    loop {
        while let Some(notification) = listener.notifications.recv().await {
            if let Some((symbol, version)) = parse_payload(notification.payload(), &listener.schema)
            {
                versions.observe(symbol, version);
            }
        }
        versions.set_listening(false);
        tracing::warn!("lost the connection that listens for version changes; reconnecting");
        let mut delay = Duration::from_millis(250);
        listener = loop {
            tokio::time::sleep(delay).await;
            match Listener::connect(&config).await {
                Ok(listener) => break listener,
                Err(error) => {
                    let error = crate::postgres::failure_reason(&error);
                    tracing::warn!(%error, "cannot listen for version changes yet");
                    delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                }
            }
        };
        versions.set_listening(true);
        tracing::info!("listening for version changes again");
    }
}

/// `(symbol, version)` from a payload `schema TAB version TAB symbol` about `schema`.
fn parse_payload<'a>(payload: &'a str, schema: &str) -> Option<(&'a str, i64)> {
    let (payload_schema, rest) = payload.split_once('\t')?;
    let (version, symbol) = rest.split_once('\t')?;
    (payload_schema == schema)
        .then(|| version.parse().ok().map(|version| (symbol, version)))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_schema_version_and_symbol() {
        assert_eq!(
            parse_payload("public\t7\tBRK.B", "public"),
            Some(("BRK.B", 7))
        );
        assert_eq!(parse_payload("other\t7\tAAPL", "public"), None);
        assert_eq!(parse_payload("public\tseven\tAAPL", "public"), None);
        assert_eq!(parse_payload("public 7 AAPL", "public"), None);
    }

    #[test]
    fn memory_is_trusted_only_while_listening_and_never_goes_back() {
        let versions = Versions::default();
        versions.observe("AAPL", 3);
        assert_eq!(versions.known("AAPL"), None, "not listening yet");

        versions.set_listening(true);
        let generation = versions.generation();
        versions.remember("AAPL", 3, generation);
        versions.observe("AAPL", 5);
        versions.remember("AAPL", 4, generation);
        assert_eq!(versions.known("AAPL"), Some(5), "a late answer never wins");

        // A lookup that began before the connection dropped and came back is not kept.
        versions.set_listening(false);
        assert_eq!(versions.known("AAPL"), None);
        versions.set_listening(true);
        versions.remember("MSFT", 2, generation);
        assert_eq!(versions.known("MSFT"), None);
        versions.remember("MSFT", 2, versions.generation());
        assert_eq!(versions.known("MSFT"), Some(2));
    }
}
