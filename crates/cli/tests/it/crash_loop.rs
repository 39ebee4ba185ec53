//! A warm killed with SIGKILL at ten different moments, then run to its end, leaves the same
//! cache as one fetch that was never interrupted: every covered chunk equals the provider's
//! answer, no covered day lacks its bar, and the ledger holds no entry twice.

use std::time::Duration;

use crate::support::{Sandbox, finish, spawn};

const WARM: [&str; 10] = [
    "--latency-ms",
    "120",
    "warm",
    "K1",
    "K2",
    "K3",
    "--start",
    "2008-01-01",
    "--end",
    "2025-12-31",
];

fn killed_ten_times_then_finished(sandbox: &Sandbox, url: &str) {
    let mut finished_early = 0;
    for round in 0..10_u64 {
        let mut warm = sandbox.command();
        warm.args(["--database-url", url]).args(WARM);
        let mut child = spawn(&mut warm);
        // Moments spread over the warm's first second, differently each round.
        std::thread::sleep(Duration::from_millis(60 + (round * 97) % 700));
        let _ = child.kill();
        if finish(child).code == Some(0) {
            finished_early += 1;
        }
    }
    // About 27 rounds of 120 ms requests: most of the ten are killed mid-way.
    assert!(
        finished_early <= 3,
        "{finished_early} of the 10 warms ended before their kill"
    );
    let last = sandbox.output(sandbox.command().args(["--database-url", url]).args(WARM));
    last.expect_code(0);
    assert!(
        last.stdout.contains("3 symbol(s): 3 ok, 0 failed"),
        "{}",
        last.stdout
    );
    let verify = sandbox.verify_against_synthetic(url);
    assert!(
        verify.stdout.contains("3 symbol(s), 13"),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_warm_killed_ten_times_on_sqlite_ends_as_one_never_interrupted() {
    let sandbox = Sandbox::new();
    killed_ten_times_then_finished(&sandbox, &sandbox.db_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_killed_ten_times_on_postgres_ends_as_one_never_interrupted() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let url = pg.url.clone();
    tokio::task::spawn_blocking(move || {
        let sandbox = Sandbox::new();
        killed_ten_times_then_finished(&sandbox, &url);
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
