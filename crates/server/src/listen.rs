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
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
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
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
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
