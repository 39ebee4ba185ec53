//! Accepting and serving connections within fixed bounds, so that slow or many clients cannot
//! take the server away from the others: at most `max_connections` open at once, each closed
//! when its client takes longer than `header_read_timeout` over a request's headers (or to
//! start its next request). A failed accept (out of file descriptors) is logged and retried
//! after a pause, never fatal.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The pause after a failed accept: the usual cause, no descriptor left, lasts until some
/// connection closes.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// The shortest header time-out, given when nearly every connection slot is taken.
const MIN_HEADER_TIMEOUT: Duration = Duration::from_millis(250);

/// File descriptors kept for everything but client connections: the listener, database
/// connections and files, upstream requests.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` is cancelled, then stops accepting and lets the
/// open connections finish their requests (the caller bounds how long it waits).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let cap = within_descriptors(limits.max_connections);
    let open = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    loop {
        // A slot first: beyond the bound, clients wait in the backlog, not in our memory.
        let slot = tokio::select! {
            slot = Arc::clone(&open).acquire_owned() => slot,
            () = stop.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection; trying again shortly");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let mut builder = http1::Builder::new();
        let header_timeout =
            header_timeout(limits.header_read_timeout, open.available_permits(), cap);
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    graceful.shutdown().await;
}

/// The header time-out of a connection accepted with `free` of `cap` slots left: the full
/// `timeout` while half the slots or more are free, then shorter in proportion, down to
/// [`MIN_HEADER_TIMEOUT`]. Slow clients that fill the server so wait less to be dropped, and the
/// clients queued behind them (ordinary ones send their headers in milliseconds) get in sooner.
fn header_timeout(timeout: Duration, free: usize, cap: usize) -> Duration {
    let half = (cap / 2).max(1);
    if free >= half {
        return timeout;
    }
    let share = free as f64 / half as f64;
    timeout.mul_f64(share).max(MIN_HEADER_TIMEOUT)
}

/// `max_connections`, lowered when the process may open fewer files than that plus what it
/// needs besides: clients beyond the bound wait in the backlog rather than take the last
/// descriptors (then the database and every other client would fail).
fn within_descriptors(max_connections: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let allowed = limit.map_or(usize::MAX, |limit| {
        usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
    });
    if allowed < max_connections {
        tracing::warn!(
            max_connections,
            allowed,
            "open-file limit too low for the connection cap; serving fewer at once"
        );
    }
    max_connections.min(allowed).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_time_out_shrinks_as_the_slots_fill() {
        let full = Duration::from_secs(10);
        assert_eq!(header_timeout(full, 100, 100), full);
        assert_eq!(header_timeout(full, 50, 100), full);
        assert_eq!(header_timeout(full, 25, 100), Duration::from_secs(5));
        assert_eq!(header_timeout(full, 10, 100), Duration::from_secs(2));
        assert_eq!(header_timeout(full, 1, 100), MIN_HEADER_TIMEOUT);
        assert_eq!(header_timeout(full, 0, 100), MIN_HEADER_TIMEOUT);
        assert_eq!(header_timeout(full, 0, 1), MIN_HEADER_TIMEOUT);
    }
}
