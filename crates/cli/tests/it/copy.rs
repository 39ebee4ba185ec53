//! `marketcache copy`: a whole cache moved between SQLite and PostgreSQL and back, equal at
//! every step; made again it changes nothing; killed half-way, run again it finishes.

use std::time::Duration;

use crate::support::{Sandbox, finish, spawn};

fn ledger_entries(report: &serde_json::Value) -> u64 {
    report["symbols"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|symbol| symbol["ledger_entries"].as_u64())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_goes_to_postgresql_and_back_unchanged() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT", "ARM"]);
    let first = sandbox.db_url();
    let back = format!("sqlite://{}", sandbox.join("back.sqlite").display());
    let copy = |from: &str, to: &str| {
        let run = sandbox.run_bare(&["copy", "--from", from, "--to", to, "--json"]);
        run.expect_code(0);
        run.stdout_json()
    };
    let there = copy(&first, &pg.url);
    assert_eq!(
        there["symbols"].as_array().map(Vec::len),
        Some(3),
        "{there}"
    );
    assert!(
        there["symbols"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|symbol| symbol["matches"] == true && symbol["skipped"] == false)
    );
    // Made again: everything is there already, nothing is written twice.
    let again = copy(&first, &pg.url);
    assert!(
        again["symbols"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|symbol| symbol["skipped"] == true)
    );
    let returned = copy(&pg.url, &back);
    assert_eq!(ledger_entries(&returned), ledger_entries(&there));
    let (original, returned_file) = (sandbox.db_path(), sandbox.join("back.sqlite"));
    tokio::task::spawn_blocking(move || {
        for symbol in ["AAPL", "MSFT", "ARM"] {
            let before = crate::support::stored_bars(&original, symbol);
            // ARM was listed in 2023: its 2020 is covered without bars.
            assert_eq!(before.is_empty(), symbol == "ARM", "{symbol}");
            assert_eq!(
                crate::support::stored_bars(&returned_file, symbol),
                before,
                "{symbol}"
            );
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for url in [&pg.url, &back] {
        let verify = sandbox.verify_against_synthetic(url);
        assert!(
            verify.stdout.contains("3 symbol(s), 506"),
            "{}",
            verify.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_killed_half_way_finishes_when_run_again() {
    let Some(pg) = marketcache_testkit::fresh_postgres().await else {
        return;
    };
    let sandbox = Sandbox::new();
    let symbols: Vec<String> = (1..=24).map(|n| format!("K{n:02}")).collect();
    let mut warm = vec!["warm", "--start", "1995-01-01", "--end", "2025-12-31"];
    warm.extend(symbols.iter().map(String::as_str));
    sandbox.run(&warm).expect_code(0);
    let source = sandbox.db_url();
    let mut copying = sandbox.command();
    copying.args(["copy", "--from", &source, "--to", &pg.url]);
    let child = spawn(&mut copying);
    tokio::time::sleep(Duration::from_millis(900)).await;
    // SIGKILL: no chance to tidy up.
    let mut child = child;
    let _ = child.kill();
    let killed = finish(child);
    assert_ne!(killed.code, Some(0), "the copy ended before it was killed");
    let resumed = sandbox.run_bare(&["copy", "--from", &source, "--to", &pg.url, "--json"]);
    resumed.expect_code(0);
    let report = resumed.stdout_json();
    let done: Vec<&serde_json::Value> =
        report["symbols"].as_array().into_iter().flatten().collect();
    assert_eq!(done.len(), 24);
    assert!(
        done.iter().all(|symbol| symbol["matches"] == true),
        "{report}"
    );
    assert!(
        done.iter().any(|symbol| symbol["skipped"] == true),
        "the killed copy had finished no symbol: {report}"
    );
    // No ledger entry twice, nothing missing: the target verifies clean.
    let verify = sandbox.run_bare(&["--database-url", &pg.url, "verify"]);
    verify.expect_code(0);
}

#[test]
fn bad_urls_are_named_and_nothing_is_created() {
    let sandbox = Sandbox::new();
    let target = sandbox.join("never.sqlite");
    let to = format!("sqlite://{}", target.display());
    let run = sandbox.run_bare(&["copy", "--from", "ftp://example/x", "--to", &to]);
    run.expect_code(2);
    assert!(run.stderr.contains("--from is invalid"), "{}", run.stderr);
    let same = sandbox.run_bare(&["copy", "--from", &to, "--to", &to]);
    same.expect_code(2);
    assert!(
        same.stderr.contains("--to must name another database"),
        "{}",
        same.stderr
    );
    assert!(!target.exists());
}
