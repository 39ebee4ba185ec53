//! `backtest` and `optimize` over bars read through the cache.

use crate::support::Sandbox;

/// The 35-year fixture series of the repository, served by the csv provider.
fn fixture_folder() -> String {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectorbt-sma");
    assert!(
        std::path::Path::new(folder).join("AAPL.csv").is_file(),
        "fixture {folder}/AAPL.csv is missing"
    );
    folder.to_string()
}

fn relative_difference(ours: f64, theirs: f64) -> f64 {
    ((ours - theirs) / theirs).abs()
}

#[test]
fn a_backtest_through_the_cache_matches_vectorbt_on_the_fixture() {
    let sandbox = Sandbox::new();
    let folder = fixture_folder();
    let args = [
        "--provider",
        "csv",
        "--csv-dir",
        &folder,
        "backtest",
        "AAPL",
        "--param",
        "fast=10",
        "--param",
        "slow=50",
        "--start",
        "1990-01-01",
        "--end",
        "2025-12-31",
        "--json",
    ];
    let first = sandbox.run(&args);
    first.expect_code(0);
    let value = first.stdout_json();
    // vectorbt 1.0's Portfolio.from_signals on the same series (reference.json, 10/50).
    let final_equity = value["metrics"]["final_equity"]
        .as_f64()
        .unwrap_or_default();
    assert!(
        relative_difference(final_equity, 25788.365855695716) < 1e-9,
        "{final_equity}"
    );
    assert_eq!(value["metrics"]["trades"], 131);
    assert_eq!(value["data"]["upstream_requests"], 1);
    assert_eq!(value["buy_and_hold"]["trades"], 1);

    let again = sandbox.run(&args);
    again.expect_code(0);
    assert_eq!(
        again.stdout_json()["data"]["upstream_requests"],
        0,
        "the second run reads the cache"
    );
}

#[test]
fn a_backtest_prints_metrics_beside_buy_and_hold_and_its_trades() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[
        "backtest",
        "MSFT",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--start",
        "2020-01-01",
        "--end",
        "2020-12-31",
        "--trades",
    ]);
    run.expect_code(0);
    assert!(run.stdout.contains("buy-and-hold"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Sharpe") && run.stdout.contains("max drawdown"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("entry px"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Data: MSFT, 253 bars"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_strategy_parameters_are_usage_errors_naming_them_before_anything_is_written() {
    let sandbox = Sandbox::new();
    let cases: [(&[&str], &str); 5] = [
        (&["backtest", "AAPL", "--strategy", "nope"], "'nope'"),
        (
            &[
                "backtest", "AAPL", "--param", "fast=50", "--param", "slow=20",
            ],
            "'fast'",
        ),
        (
            &[
                "backtest", "AAPL", "--param", "speed=5", "--param", "slow=20",
            ],
            "'speed'",
        ),
        (&["optimize", "AAPL", "--fast", "50..10"], "fast"),
        (&["optimize", "AAPL", "--metric", "luck"], "luck"),
    ];
    for (args, named) in cases {
        let run = sandbox.run(args);
        run.expect_code(2);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
        assert!(!sandbox.db_path().exists(), "{args:?} created the database");
    }
}

#[test]
fn optimize_ranks_the_grid_and_writes_every_combination() {
    let sandbox = Sandbox::new();
    let output = sandbox.join("all.csv");
    let output_text = output.display().to_string();
    let run = sandbox.run(&[
        "optimize",
        "AAPL",
        "--fast",
        "5..20:5",
        "--slow",
        "20..60:10",
        "--start",
        "2015-01-01",
        "--end",
        "2020-12-31",
        "--top",
        "3",
        "--json",
        "--output",
        &output_text,
    ]);
    run.expect_code(0);
    let value = run.stdout_json();
    // fast 5, 10, 15, 20 × slow 20..60 step 10, keeping fast < slow: 3 + 4 × 4 = 19.
    assert_eq!(value["evaluated"], 19);
    let top = value["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 3);
    let sharpe = |entry: &serde_json::Value| {
        entry["metrics"]["sharpe"]
            .as_f64()
            .unwrap_or(f64::NEG_INFINITY)
    };
    assert!(sharpe(&top[0]) >= sharpe(&top[1]) && sharpe(&top[1]) >= sharpe(&top[2]));
    let csv = std::fs::read_to_string(&output).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv.lines().count(), 20, "header and 19 combinations");
    assert!(csv.starts_with("fast,slow,trades,"));
}

#[test]
fn optimize_ranks_only_combinations_with_the_minimum_number_of_trades() {
    let sandbox = Sandbox::new();
    let search = |min_trades: &str| {
        let run = sandbox.run(&[
            "optimize",
            "AAPL",
            "--fast",
            "5..50:5",
            "--slow",
            "60..200:20",
            "--start",
            "2015-01-01",
            "--end",
            "2020-12-31",
            "--top",
            "100",
            "--min-trades",
            min_trades,
            "--json",
        ]);
        run.expect_code(0);
        run.stdout_json()
    };
    let trades = |value: &serde_json::Value| -> Vec<u64> {
        value["top"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["metrics"]["trades"].as_u64())
            .collect()
    };
    let all = trades(&search("0"));
    assert_eq!(all.len(), 80);
    let cut = (all.iter().min().copied().unwrap_or_default()
        + all.iter().max().copied().unwrap_or_default())
    .div_ceil(2);
    let kept = search(&cut.to_string());
    assert_eq!(kept["min_trades"], cut);
    let kept = trades(&kept);
    assert_eq!(
        kept.len(),
        all.iter().filter(|count| **count >= cut).count()
    );
    assert!(kept.len() < all.len() && kept.iter().all(|count| *count >= cut));
    let refused = sandbox.run(&["optimize", "AAPL", "--min-trades", "-1"]);
    refused.expect_code(2);
}

#[test]
fn optimize_with_a_train_until_date_tests_the_winners_on_the_later_bars() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[
        "optimize",
        "AAPL",
        "--fast",
        "5..20:5",
        "--slow",
        "20..60:10",
        "--start",
        "2015-01-01",
        "--end",
        "2020-12-31",
        "--train-until",
        "2018-12-31",
        "--top",
        "2",
        "--json",
    ]);
    run.expect_code(0);
    let value = run.stdout_json();
    let top = value["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 2);
    for entry in &top {
        assert_eq!(
            entry["metrics"]["last_date"], "2018-12-31",
            "in-sample ends at the split"
        );
        assert_eq!(
            entry["out_of_sample"]["first_date"], "2019-01-02",
            "out-of-sample starts after it"
        );
        assert_eq!(entry["out_of_sample"]["last_date"], "2020-12-31");
    }

    let outside = sandbox.run(&[
        "optimize",
        "AAPL",
        "--fast",
        "5..20:5",
        "--slow",
        "20..60:10",
        "--start",
        "2015-01-01",
        "--end",
        "2020-12-31",
        "--train-until",
        "2021-06-30",
    ]);
    outside.expect_code(2);
    assert!(
        outside.stderr.contains("train-until 2021-06-30 is invalid"),
        "{}",
        outside.stderr
    );
}

#[test]
fn every_run_records_a_fingerprint_of_the_bars_it_read() {
    let sandbox = Sandbox::new();
    let backtest = |end: &str| {
        let run = sandbox.run(&[
            "backtest",
            "AAPL",
            "--param",
            "fast=5",
            "--param",
            "slow=20",
            "--start",
            "2020-01-01",
            "--end",
            end,
            "--json",
        ]);
        run.expect_code(0);
        run.stdout_json()["fingerprint"].clone()
    };
    let first = backtest("2020-12-31");
    let again = backtest("2020-12-31");
    let shorter = backtest("2020-06-30");
    assert_eq!(first["bars"], 253);
    assert_eq!(first["first_date"], "2020-01-02");
    assert_eq!(first["hash"].as_str().map(str::len), Some(16));
    assert_eq!(first, again, "the same bars give the same fingerprint");
    assert_ne!(first["hash"], shorter["hash"]);
}

#[test]
fn every_strategy_of_the_catalog_runs_through_the_cli() {
    let sandbox = Sandbox::new();
    let strategies: [(&str, &[&str]); 5] = [
        ("ema-cross", &["fast=12", "slow=26"]),
        ("rsi", &["period=14", "lower=30", "upper=70"]),
        ("bollinger", &["period=20", "k=2"]),
        ("macd", &["fast=12", "slow=26", "signal=9"]),
        ("buy-and-hold", &[]),
    ];
    for (strategy, params) in strategies {
        let mut args = vec![
            "backtest",
            "MSFT",
            "--strategy",
            strategy,
            "--start",
            "2015-01-01",
            "--end",
            "2020-12-31",
        ];
        for param in params {
            args.extend(["--param", param]);
        }
        args.push("--json");
        let run = sandbox.run(&args);
        run.expect_code(0);
        let value = run.stdout_json();
        assert_eq!(value["strategy"], strategy);
        assert_eq!(value["metrics"]["bars"], 1511, "{strategy}");
        assert!(
            value["metrics"]["final_equity"]
                .as_f64()
                .is_some_and(|equity| equity > 0.0),
            "{strategy}"
        );
    }
}
