//! Many `marketcache` processes sharing one cache, as a team's machines and jobs do: each
//! missing chunk is fetched from upstream once between them all, none fails, and a holder that
//! is killed mid-fetch leaves the rest to the others without blocking them.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use marketcache_domain::{Dataset, Symbol};

use crate::support::{Run, Sandbox, finish, spawn};

/// Taken by each test here that fills the PostgreSQL server with processes (sixty `get`s,
/// three servers): run together, they would hold more connections than the server allows, and
/// each would measure the other's load.
static MANY_CLIENTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// MSFT over 2000..2009: 21 chunks of at most 182 days.
const GET_2000S: [&str; 6] = [
    "get",
    "MSFT",
    "--start",
    "2000-01-01",
    "--end",
    "2009-12-31",
];
const CHUNKS_2000S: usize = 21;

/// The `N upstream requests` of a `get` summary line.
fn upstream_requests(run: &Run) -> usize {
    let summary = run
        .stderr_lines()
        .into_iter()
        .find(|line| line.contains(" upstream requests"))
        .unwrap_or_else(|| panic!("no summary line in:\n{}", run.stderr));
    summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" upstream requests"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no request count in: {summary}"))
}

/// `count` concurrent cold `get`s of the same range on `database_url`: all succeed with the
/// same bars, and their upstream requests add up to the chunks of the range.
fn racing_processes_fetch_each_chunk_once(database_url: &str, count: usize) {
    let sandbox = Sandbox::new();
    let started = Instant::now();
    let children: Vec<Child> = (0..count)
        .map(|_| {
            spawn(
                sandbox
                    .command()
                    .args(["--database-url", database_url, "--latency-ms", "150"])
                    .args(GET_2000S),
            )
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let elapsed = started.elapsed();
    for run in &runs {
        run.expect_code(0);
    }
    let total: usize = runs.iter().map(upstream_requests).sum();
    assert_eq!(total, CHUNKS_2000S, "{count} processes in {elapsed:?}");
    assert!(
        runs.iter().all(|run| run.stdout == runs[0].stdout),
        "every process served the same bars"
    );
    assert_eq!(runs[0].stdout.lines().count(), 1 + 2_515);
}

#[test]
fn twenty_processes_on_one_sqlite_file_fetch_each_chunk_once() {
    let sandbox = Sandbox::new();
    racing_processes_fetch_each_chunk_once(&sandbox.db_url(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_processes_on_one_postgres_database_fetch_each_chunk_once() {
    let _alone = MANY_CLIENTS.lock().await;
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let url = pg.url.clone();
    tokio::task::spawn_blocking(move || racing_processes_fetch_each_chunk_once(&url, 60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Ledger entries of MSFT's made-up bars: one per chunk stored; 0 before the schema exists.
async fn chunks_stored(database_url: &str) -> usize {
    let key = Symbol::parse("MSFT")
        .unwrap_or_else(|e| panic!("{e}"))
        .stored_as(Dataset::Synthetic);
    match marketcache_store::connect(database_url).await {
        Ok(store) => store
            .read_coverage(&key)
            .await
            .map_or(0, |spans| spans.len()),
        Err(_) => 0,
    }
}

/// Sends `signal` (`STOP`, `KILL`) to the process `child`.
fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(sent.success(), "kill -{signal} failed");
}

async fn wait_for_chunks(database_url: &str, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while chunks_stored(database_url).await < at_least {
        assert!(
            Instant::now() < deadline,
            "fewer than {at_least} chunks stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A holder killed with SIGKILL after storing some chunks: the processes waiting for it finish,
/// and fetch only what it had not stored.
async fn a_killed_holder_leaves_the_rest_to_the_waiters(database_url: &str) {
    let sandbox = Sandbox::new();
    let slow = |sandbox: &Sandbox| {
        let mut command = sandbox.command();
        command
            .args(["--database-url", database_url])
            .args(["--latency-ms", "200", "--concurrency", "1"])
            .args(GET_2000S);
        command
    };
    let holder = spawn(&mut slow(&sandbox));
    wait_for_chunks(database_url, 1).await;
    let waiters: Vec<Child> = (0..3).map(|_| spawn(&mut slow(&sandbox))).collect();
    wait_for_chunks(database_url, 4).await;
    // Frozen first, so that a write it had sent lands before the count, then killed: its claim
    // holds until the kill, and the waiters wait for it meanwhile.
    signal(&holder, "STOP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored_by_holder = chunks_stored(database_url).await;
    signal(&holder, "KILL");
    let killed = finish(holder);
    assert_eq!(killed.code, None, "the holder was killed by a signal");
    assert!(stored_by_holder < CHUNKS_2000S, "the holder finished first");
    let runs: Vec<Run> =
        tokio::task::spawn_blocking(move || waiters.into_iter().map(finish).collect())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    for run in &runs {
        run.expect_code(0);
        assert_eq!(run.stdout.lines().count(), 1 + 2_515);
    }
    let fetched_by_waiters: usize = runs.iter().map(upstream_requests).sum();
    assert_eq!(
        fetched_by_waiters,
        CHUNKS_2000S - stored_by_holder,
        "the holder stored {stored_by_holder} chunks"
    );
    assert_eq!(chunks_stored(database_url).await, CHUNKS_2000S);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_on_sqlite_leaves_the_rest_to_the_waiters() {
    let sandbox = Sandbox::new();
    a_killed_holder_leaves_the_rest_to_the_waiters(&sandbox.db_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_on_postgres_leaves_the_rest_to_the_waiters() {
    let _alone = MANY_CLIENTS.lock().await;
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    a_killed_holder_leaves_the_rest_to_the_waiters(&pg.url).await;
}

/// A `serve` process on `database_url` and the address it listens on.
fn start_server(sandbox: &Sandbox, database_url: &str) -> (Child, String) {
    use std::io::BufRead;
    let mut child = spawn(
        sandbox
            .command()
            .args(["--database-url", database_url, "--latency-ms", "150"])
            .args(["serve", "--bind", "127.0.0.1:0"]),
    );
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut first_line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first_line)
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(address) = first_line.trim().strip_prefix("Listening on http://") else {
        let _ = child.kill();
        let failed = finish(child);
        panic!("serve did not start: {first_line:?}\n{}", failed.stderr);
    };
    let address = address.to_string();
    (child, address)
}

/// Three servers on one database, twenty identical cold requests to each at once: the
/// reports add up to one request per chunk, and every answer holds the same bars.
fn three_servers_fetch_each_chunk_once(database_url: &str) {
    let sandbox = Sandbox::new();
    let servers: Vec<(Child, String)> = (0..3)
        .map(|_| start_server(&sandbox, database_url))
        .collect();
    let path = "/api/bars/MSFT?start=2000-01-01&end=2009-12-31";
    let answers: Vec<(String, String)> = std::thread::scope(|scope| {
        let requests: Vec<_> = servers
            .iter()
            .flat_map(|(_, address)| {
                (0..20).map(move |_| scope.spawn(move || crate::serve::http_get(address, path)))
            })
            .collect();
        requests
            .into_iter()
            .map(|request| {
                request
                    .join()
                    .unwrap_or_else(|_| panic!("a request panicked"))
            })
            .collect()
    });
    for (mut child, _) in servers {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut requests = 0;
    let mut bars = None;
    for (status, body) in &answers {
        assert!(status.contains("200"), "{status}\n{body}");
        let answer: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        requests += answer["report"]["upstream_requests"]
            .as_u64()
            .unwrap_or(u64::MAX);
        let these = answer["bars"].as_array().map(Vec::len);
        assert_eq!(*bars.get_or_insert(these), these);
    }
    assert_eq!(bars, Some(Some(2_515)));
    assert_eq!(requests, CHUNKS_2000S as u64);
}

#[test]
fn three_servers_on_one_sqlite_file_fetch_each_chunk_once() {
    let sandbox = Sandbox::new();
    three_servers_fetch_each_chunk_once(&sandbox.db_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_postgres_database_fetch_each_chunk_once() {
    let _alone = MANY_CLIENTS.lock().await;
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let url = pg.url.clone();
    tokio::task::spawn_blocking(move || three_servers_fetch_each_chunk_once(&url))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
