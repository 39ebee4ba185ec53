//! Credentials never show in logs. A test binary of its own because it installs the global
//! tracing subscriber: tests on other threads of a shared binary could otherwise race it for
//! tracing's per-callsite cache and hide the very log lines it checks.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use marketcache_upstream::ProviderKind;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{FAKE_KEY, FAKE_SECRET, clock_at, date, fetch, fixture, range, source_for};

fn assert_hidden(shown: &str) {
    assert!(
        !shown.contains(FAKE_KEY) && !shown.contains(FAKE_SECRET),
        "a credential leaked: {shown}"
    );
}

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keys_never_appear_in_logs() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber of this binary");

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("alphavantage_daily.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let source = source_for(
        ProviderKind::AlphaVantage,
        &server,
        clock_at("2020-09-01T12:00:00Z"),
    );
    fetch(
        source.as_ref(),
        "IBM",
        range(date(2020, 8, 1), date(2020, 8, 31)),
    )
    .await
    .expect("the retry succeeds");

    let text =
        String::from_utf8_lossy(&logs.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned();
    assert!(text.contains("retrying"), "the retry was logged: {text}");
    assert!(
        text.contains("apikey=REDACTED"),
        "URLs are logged redacted: {text}"
    );
    assert_hidden(&text);
}
