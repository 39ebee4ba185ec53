//! `marketcache verify`: a sound cache passes; damage done behind the cache's back is found,
//! named and dated, with exit 1, and verifying changes nothing.

use crate::support::Sandbox;

/// Runs `sql` on the sandbox's SQLite file, as damage from outside the cache.
fn damage(sandbox: &Sandbox, sql: &str) {
    let connection = rusqlite::Connection::open(sandbox.db_path())
        .unwrap_or_else(|e| panic!("cannot open the cache file: {e}"));
    connection
        .execute_batch(sql)
        .unwrap_or_else(|e| panic!("cannot run {sql}: {e}"));
}

fn problem_kinds(report: &serde_json::Value, symbol: &str) -> Vec<String> {
    report["problems"]
        .as_array()
        .map(|problems| {
            problems
                .iter()
                .filter(|problem| problem["symbol"] == symbol)
                .filter_map(|problem| problem["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_sound_cache_passes_and_against_its_provider_shows_no_difference() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);
    let run = sandbox.run(&["verify"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("2 symbol(s), 506 bars"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(": 0 problem(s)"), "{}", run.stdout);
    let report = sandbox
        .run(&[
            "verify",
            "--against",
            "synthetic",
            "--sample",
            "10",
            "--json",
        ])
        .expect_code(0)
        .stdout_json();
    // 2020 is three 182-day chunks per symbol: every one is compared, one request each.
    assert_eq!(report["ranges_compared"], 6, "{report}");
    assert_eq!(report["upstream_requests"], 6, "{report}");
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_lost_bar_a_restated_close_and_a_repeated_ledger_entry_are_found() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);
    damage(
        &sandbox,
        "DELETE FROM market_data_cache WHERE symbol = 'MSFT@synthetic' AND date = '2020-03-02';
         UPDATE market_data_cache SET close = (open + close) / 2
             WHERE symbol = 'AAPL@synthetic' AND date = '2020-06-01';
         INSERT INTO coverage_ledger (symbol, start_date, end_date, provider, fetched_at, bars, rejected_rows)
             SELECT symbol, start_date, end_date, provider, fetched_at, bars, rejected_rows
             FROM coverage_ledger WHERE symbol = 'AAPL@synthetic' AND start_date = '2020-01-01';",
    );
    let before = sandbox.stats_json();
    let run = sandbox.run(&[
        "verify",
        "--against",
        "synthetic",
        "--sample",
        "10",
        "--json",
    ]);
    run.expect_code(1);
    let report = run.stdout_json();
    let msft = problem_kinds(&report, "MSFT@synthetic");
    assert!(
        msft.contains(&"trading_day_without_bar".to_string()),
        "{report}"
    );
    assert!(
        msft.contains(&"bars_missing_from_ledger_entry".to_string()),
        "{report}"
    );
    assert!(
        msft.contains(&"differs_from_provider".to_string()),
        "{report}"
    );
    let aapl = problem_kinds(&report, "AAPL@synthetic");
    assert!(
        aapl.contains(&"duplicate_ledger_entry".to_string()),
        "{report}"
    );
    assert!(
        aapl.contains(&"differs_from_provider".to_string()),
        "{report}"
    );
    let restated = report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|problem| {
            problem["symbol"] == "AAPL@synthetic" && problem["kind"] == "differs_from_provider"
        })
        .map(|problem| problem["detail"].to_string())
        .unwrap_or_default();
    assert!(restated.contains("2020-06-01: close"), "{restated}");
    // Without --against, the text names the symbol, the kind and the day.
    let text = sandbox.run(&["verify", "--symbol", "MSFT"]);
    text.expect_code(1);
    assert!(
        text.stdout
            .contains("MSFT@synthetic trading_day_without_bar 2020-03-02"),
        "{}",
        text.stdout
    );
    // Verifying found, and fixed nothing.
    assert_eq!(sandbox.stats_json()["symbols"], before["symbols"]);
}

#[test]
fn a_row_breaking_the_bar_rules_is_reported_and_the_other_symbols_still_verified() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);
    damage(
        &sandbox,
        "UPDATE market_data_cache SET high = low / 2
             WHERE symbol = 'AAPL@synthetic' AND date = '2020-05-01';",
    );
    let run = sandbox.run(&["verify", "--json"]);
    run.expect_code(1);
    let report = run.stdout_json();
    assert_eq!(
        problem_kinds(&report, "AAPL@synthetic"),
        ["unreadable_bars"]
    );
    assert!(
        problem_kinds(&report, "MSFT@synthetic").is_empty(),
        "{report}"
    );
    assert!(
        report["problems"][0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("2020-05-01"))
    );
    assert_eq!(report["symbols"], 2);
}

#[test]
fn an_unknown_provider_to_compare_against_is_a_usage_error() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL"]);
    let run = sandbox.run(&["verify", "--against", "nosuch"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("provider 'nosuch' is invalid"),
        "{}",
        run.stderr
    );
}
