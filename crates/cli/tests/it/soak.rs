//! A bounded soak: readers, warmers, clears and copies, all separate processes, against one
//! PostgreSQL database for a few seconds; afterwards `verify` finds no problem and every stored
//! day equals the provider's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::Sandbox;

/// How long the soak runs; `MARKETCACHE_SOAK_SECONDS` runs it longer.
fn soak_time() -> Duration {
    let seconds = std::env::var("MARKETCACHE_SOAK_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(8);
    Duration::from_secs(seconds)
}

const SYMBOLS: [&str; 6] = ["W01", "W02", "W03", "W04", "W05", "W06"];

/// One kind of work, run again and again until `until`; returns how many runs failed, with
/// the first failure's output.
fn keep_running(
    sandbox: &Sandbox,
    url: &str,
    until: Instant,
    runs: &AtomicUsize,
    work: impl Fn(usize) -> Vec<String>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut round = 0;
    while Instant::now() < until {
        let args = work(round);
        let run = sandbox.output(sandbox.command().args(["--database-url", url]).args(&args));
        runs.fetch_add(1, Ordering::Relaxed);
        if run.code != Some(0) {
            failures.push(format!("{args:?}: {}{}", run.stdout, run.stderr));
        }
        round += 1;
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_warmers_clears_and_copies_together_leave_a_sound_cache() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let sandbox = Arc::new(Sandbox::new());
    let url = pg.url.clone();
    let until = Instant::now() + soak_time();
    let runs = Arc::new(AtomicUsize::new(0));
    let copy_target = format!("sqlite://{}", sandbox.join("copy.sqlite").display());
    type Work = Box<dyn Fn(usize) -> Vec<String> + Send>;
    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| arg.to_string()).collect()
    }
    let kinds: Vec<Work> = vec![
        Box::new(move |_| {
            let mut args = strings(&["--latency-ms", "5", "warm", "--start", "2012-01-01"]);
            args.extend(SYMBOLS.iter().map(|symbol| symbol.to_string()));
            args
        }),
        Box::new(move |round| {
            let symbol = SYMBOLS[(round * 5 + 3) % SYMBOLS.len()];
            strings(&["--latency-ms", "5", "warm", symbol, "--start", "2016-01-01"])
        }),
        Box::new(move |round| {
            let symbol = SYMBOLS[round % SYMBOLS.len()];
            strings(&[
                "get",
                symbol,
                "--start",
                "2014-01-01",
                "--end",
                "2025-12-31",
                "-o",
                "/dev/null",
            ])
        }),
        Box::new(move |round| {
            let symbol = SYMBOLS[(round * 7 + 1) % SYMBOLS.len()];
            strings(&[
                "get",
                symbol,
                "--offline",
                "--start",
                "2010-01-01",
                "--format",
                "json",
                "-o",
                "/dev/null",
            ])
        }),
        Box::new(move |round| {
            std::thread::sleep(Duration::from_millis(400));
            let symbol = SYMBOLS[(round * 11 + 2) % SYMBOLS.len()];
            if round % 2 == 0 {
                strings(&["clear", "--symbol", symbol, "--yes"])
            } else {
                strings(&[
                    "clear",
                    "--symbol",
                    symbol,
                    "--before",
                    "2018-01-01",
                    "--yes",
                ])
            }
        }),
        // The copy reads from the database under soak into a file of its own.
        Box::new(move |_| strings(&["copy", "--from", &url, "--to", &copy_target])),
    ];
    let workers: Vec<_> = kinds
        .into_iter()
        .map(|work| {
            let (sandbox, url, runs) = (Arc::clone(&sandbox), pg.url.clone(), Arc::clone(&runs));
            std::thread::spawn(move || keep_running(&sandbox, &url, until, &runs, work))
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| vec!["a worker panicked".into()])
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed runs, the first: {}",
        failures.len(),
        failures[0]
    );
    let total = runs.load(Ordering::Relaxed);
    assert!(total >= 12, "only {total} runs in the soak");

    // Filled once more, the cache verifies clean and equals the provider day by day.
    let mut warm = vec!["--database-url", &pg.url, "warm", "--start", "2012-01-01"];
    warm.extend(SYMBOLS);
    sandbox.output(sandbox.command().args(&warm)).expect_code(0);
    sandbox.verify_against_synthetic(&pg.url);
}
