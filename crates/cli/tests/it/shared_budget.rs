//! One request budget per provider for every process sharing a cache: a daily budget spent by
//! two processes together, and a throttling answer seen by one process that holds the other.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{Sandbox, finish, spawn};

/// Answers with `answer(n)` for the n-th request (from 1) and notes when each came.
struct Recorder {
    seen: Arc<Mutex<Vec<Instant>>>,
    answer: fn(usize) -> ResponseTemplate,
}

impl Respond for Recorder {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let count = match self.seen.lock() {
            Ok(mut seen) => {
                seen.push(Instant::now());
                seen.len()
            }
            Err(_) => 0,
        };
        (self.answer)(count)
    }
}

/// A mock provider answering every request under `pattern`, and the times requests came.
fn recording_server(
    pattern: &str,
    answer: fn(usize) -> ResponseTemplate,
) -> (
    tokio::runtime::Runtime,
    MockServer,
    Arc<Mutex<Vec<Instant>>>,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        seen: Arc::clone(&seen),
        answer,
    };
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path_regex(pattern))
            .respond_with(recorder)
            .mount(&server)
            .await;
        server
    });
    (runtime, server, seen)
}

fn tiingo_prices(_: usize) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        include_str!("../../../upstream/tests/fixtures/tiingo_prices.json"),
        "application/json",
    )
}

/// Two processes warming ten symbols each against a provider allowing ten requests a day.
fn two_processes_share_one_daily_budget(database_url: &str) {
    let (_runtime, server, seen) = recording_server(r"^/tiingo/daily/.+/prices$", tiingo_prices);
    let sandbox = Sandbox::new();
    let warm = |prefix: char| {
        let mut command = sandbox.command();
        command
            .env("MARKETCACHE_TIINGO_URL", server.uri())
            .env("TIINGO_API_KEY", "tk_budget_test")
            .env("MARKETCACHE_TIINGO_REQUESTS_PER_DAY", "10")
            .args([
                "--database-url",
                database_url,
                "--provider",
                "tiingo",
                "warm",
            ])
            .args(("ABCDEFGHIJ".chars()).map(|letter| format!("{prefix}{letter}")))
            .args(["--start", "2015-01-01", "--end", "2015-01-31"]);
        spawn(&mut command)
    };
    let (first, second) = (warm('S'), warm('T'));
    let runs = [finish(first), finish(second)];
    let sent = seen.lock().map(|seen| seen.len()).unwrap_or_default();
    assert_eq!(sent, 10, "requests the provider saw");
    let ok_rows: usize = runs
        .iter()
        .map(|run| {
            run.stdout
                .lines()
                .filter(|line| line.split_whitespace().nth(1) == Some("ok"))
                .count()
        })
        .sum();
    assert_eq!(ok_rows, 10, "{runs:?}");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let refusal = format!(
        "the daily request budget of provider tiingo (10) is spent; it resets at {tomorrow} 00:00 UTC"
    );
    let refused: usize = runs
        .iter()
        .map(|run| run.stdout.matches(&refusal).count())
        .sum();
    assert_eq!(refused, 10, "{runs:?}");
    assert!(
        runs.iter()
            .all(|run| !run.stdout.contains("tk_budget_test")
                && !run.stderr.contains("tk_budget_test")),
        "the key leaked"
    );
}

#[test]
fn two_processes_on_one_sqlite_file_share_one_daily_budget() {
    let sandbox = Sandbox::new();
    two_processes_share_one_daily_budget(&sandbox.db_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_share_one_daily_budget() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let url = pg.url.clone();
    tokio::task::spawn_blocking(move || two_processes_share_one_daily_budget(&url))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Yahoo's chart answer, throttled once first with `Retry-After: 2`.
fn throttled_once(count: usize) -> ResponseTemplate {
    if count == 1 {
        return ResponseTemplate::new(429)
            .insert_header("Retry-After", "2")
            .set_body_raw("Edge: Too Many Requests", "text/plain");
    }
    ResponseTemplate::new(200).set_body_raw(
        include_str!("../../../upstream/tests/fixtures/yahoo_aapl_split.json"),
        "application/json",
    )
}

#[test]
fn a_retry_after_seen_by_one_process_holds_every_process_for_its_length() {
    let (_runtime, server, seen) = recording_server(r"^/v8/finance/chart/.+$", throttled_once);
    let sandbox = Sandbox::new();
    let get = |symbol: &str| {
        let mut command = sandbox.command();
        command
            .env("MARKETCACHE_YAHOO_URL", server.uri())
            .args([
                "--database-url",
                &sandbox.db_url(),
                "--provider",
                "yahoo",
                "get",
                symbol,
            ])
            .args(["--start", "2020-08-03", "--end", "2020-09-04"]);
        spawn(&mut command)
    };
    let first = get("AAPL");
    let deadline = Instant::now() + Duration::from_secs(20);
    let throttled_at = loop {
        if let Some(at) = seen.lock().ok().and_then(|seen| seen.first().copied()) {
            break at;
        }
        assert!(Instant::now() < deadline, "the first process sent nothing");
        std::thread::sleep(Duration::from_millis(5));
    };
    // The second process starts while the pause holds, and must not send before it ends.
    std::thread::sleep(Duration::from_millis(300));
    let second = get("MSFT");
    for run in [finish(first), finish(second)] {
        run.expect_code(0);
    }
    let times = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
    assert_eq!(
        times.len(),
        3,
        "the throttled request, its retry, the second process's"
    );
    for later in &times[1..] {
        let after = later.duration_since(throttled_at);
        assert!(
            after >= Duration::from_secs(2),
            "a request {after:?} after the 429"
        );
    }
}

/// Yahoo's chart answer after 300 ms.
fn slow_chart(_: usize) -> ResponseTemplate {
    throttled_once(2).set_delay(ANSWER_DELAY)
}

const ANSWER_DELAY: Duration = Duration::from_millis(300);

/// The most requests in flight at once, each taking `ANSWER_DELAY` from its arrival.
fn peak_in_flight(arrivals: &[Instant]) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|other| *other <= start && start.duration_since(**other) < ANSWER_DELAY)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn three_processes_keep_to_the_provider_s_two_requests_at_once() {
    let (_runtime, server, seen) = recording_server(r"^/v8/finance/chart/.+$", slow_chart);
    let sandbox = Sandbox::new();
    let warm = |symbols: [&str; 2]| {
        let mut command = sandbox.command();
        command
            .env("MARKETCACHE_YAHOO_URL", server.uri())
            .args([
                "--database-url",
                &sandbox.db_url(),
                "--provider",
                "yahoo",
                "warm",
            ])
            .args(symbols)
            .args(["--start", "2020-08-03", "--end", "2020-09-04"]);
        spawn(&mut command)
    };
    let children = [
        warm(["AAPL", "MSFT"]),
        warm(["NVDA", "AMD"]),
        warm(["TSLA", "AVGO"]),
    ];
    for child in children {
        finish(child).expect_code(0);
    }
    let arrivals = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
    assert_eq!(arrivals.len(), 6);
    // Yahoo takes 2 at once: each process alone would send its two symbols together.
    assert_eq!(peak_in_flight(&arrivals), 2, "{arrivals:?}");
}
