//! Slow and many clients: a connection that never finishes its headers or its body is closed
//! after the read time-out, and while the connection cap is full of them the others are
//! served as soon as they go.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use marketcache_testkit::Backend;

use crate::harness::{Options, TestApp};

const READ_TIMEOUT: Duration = Duration::from_millis(500);
const MAX_CONNECTIONS: usize = 16;

async fn bounded_app() -> TestApp {
    let options = Options {
        connection_limits: Some((MAX_CONNECTIONS, READ_TIMEOUT)),
        ..Options::default()
    };
    TestApp::start_with(Backend::sqlite().await, options).await
}

/// A connection to `base` (`http://host:port`) that has sent `bytes` (`{host}` replaced by
/// the server's address) and then nothing.
fn stalled(base: &str, bytes: &str) -> TcpStream {
    let address = base.trim_start_matches("http://");
    let bytes = bytes.replace("{host}", address);
    let mut stream =
        TcpStream::connect(address).unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
    stream
        .write_all(bytes.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write: {e}"));
    stream
}

/// Reads until the server closes `stream`; returns what it sent and when it closed.
fn until_closed(mut stream: TcpStream) -> (String, Instant) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        Instant::now(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_their_headers_are_closed_and_others_served() {
    let app = bounded_app().await;
    let base = app.base.clone();
    let started = Instant::now();
    // Twice as many slow clients as the server takes at once.
    let slow: Vec<TcpStream> = (0..2 * MAX_CONNECTIONS)
        .map(|_| {
            stalled(
                &base,
                "GET /api/health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ",
            )
        })
        .collect();
    let health = app.get("/api/health").await;
    health.expect(200);
    let served_after = started.elapsed();
    // The first slow batch must time out before the cap frees; then the second batch's turn.
    assert!(
        served_after < READ_TIMEOUT * 6,
        "served only after {served_after:?}"
    );
    let closing =
        tokio::task::spawn_blocking(move || slow.into_iter().map(until_closed).collect::<Vec<_>>())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    for (answer, closed_at) in closing {
        assert!(!answer.contains("200 OK"), "{answer}");
        let open_for = closed_at - started;
        assert!(
            open_for < READ_TIMEOUT * 8,
            "a slow client stayed {open_for:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_ends_the_request() {
    let app = bounded_app().await;
    let sent_at = Instant::now();
    let stream = stalled(
        &app.base,
        "POST /api/backtest HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"symbol\":",
    );
    let (answer, closed_at) = tokio::task::spawn_blocking(move || until_closed(stream))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let open_for = closed_at - sent_at;
    assert!(
        open_for >= READ_TIMEOUT && open_for < READ_TIMEOUT * 6,
        "closed after {open_for:?}: {answer}"
    );
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    // Others are served meanwhile and after.
    app.get("/api/health").await.expect(200);
    app.stop().await;
}
