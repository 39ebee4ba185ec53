//! `optimize` over every strategy of the catalog: ranges per parameter, skipped combinations,
//! the strategy's own columns in the table, JSON and CSV, and ranges refused before anything runs.

use crate::support::Sandbox;

const YEARS: [&str; 4] = ["--start", "2015-01-01", "--end", "2020-12-31"];

/// `optimize AAPL` over 2015..2020 with `args`.
fn optimize(sandbox: &Sandbox, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["optimize", "AAPL"];
    all.extend_from_slice(&YEARS);
    all.extend_from_slice(args);
    sandbox.run(&all)
}

fn sharpe(entry: &serde_json::Value) -> f64 {
    entry["metrics"]["sharpe"]
        .as_f64()
        .unwrap_or(f64::NEG_INFINITY)
}

#[test]
fn optimize_ranks_an_rsi_grid_in_a_table_with_its_own_parameter_columns() {
    let sandbox = Sandbox::new();
    let output = sandbox.join("rsi.csv");
    let output_text = output.display().to_string();
    let run = optimize(
        &sandbox,
        &[
            "--strategy",
            "rsi",
            "--range",
            "period=5..15:5",
            "--range",
            "lower=20..40:10",
            "--range",
            "upper=60..80:10",
            "--top",
            "3",
            "--output",
            &output_text,
        ],
    );
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let header = lines
        .iter()
        .find(|line| line.trim_start().starts_with("rank"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(
        header.get(..5),
        Some(&["rank", "period", "lower", "upper", "sharpe"][..]),
        "{}",
        run.stdout
    );
    // period 5, 10, 15 × lower 20, 30, 40 × upper 60, 70, 80: lower is always below upper.
    assert!(
        run.stdout.contains("27 combinations over 1511 bars"),
        "{}",
        run.stdout
    );
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|columns| columns.len() >= 8 && ["1", "2", "3"].contains(&columns[0]))
        .collect();
    assert_eq!(rows.len(), 3, "{}", run.stdout);
    let sharpes: Vec<f64> = rows
        .iter()
        .map(|columns| columns[4].parse().unwrap_or(f64::NEG_INFINITY))
        .collect();
    assert!(
        sharpes.windows(2).all(|pair| pair[0] >= pair[1]),
        "{sharpes:?}"
    );
    for columns in &rows {
        assert!(["5", "10", "15"].contains(&columns[1]), "{columns:?}");
        assert!(["20", "30", "40"].contains(&columns[2]), "{columns:?}");
        assert!(["60", "70", "80"].contains(&columns[3]), "{columns:?}");
    }
    let csv = std::fs::read_to_string(&output).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv.lines().count(), 28, "header and 27 combinations");
    assert!(csv.starts_with("period,lower,upper,trades,"), "{csv}");
}

#[test]
fn optimize_macd_as_json_skips_fast_at_or_above_slow_and_tests_the_winners_out_of_sample() {
    let sandbox = Sandbox::new();
    let run = optimize(
        &sandbox,
        &[
            "--strategy",
            "macd",
            "--range",
            "fast=5..15:5",
            "--range",
            "slow=10..30:10",
            "--range",
            "signal=9",
            "--train-until",
            "2018-12-31",
            "--top",
            "3",
            "--json",
        ],
    );
    run.expect_code(0);
    let value = run.stdout_json();
    assert_eq!(value["strategy"], "macd");
    assert_eq!(
        value["parameters"],
        serde_json::json!(["fast", "slow", "signal"])
    );
    // fast 5, 10, 15 × slow 10, 20, 30: (10, 10) and (15, 10) are refused.
    assert_eq!(
        (
            &value["combinations"],
            &value["evaluated"],
            &value["skipped"]
        ),
        (
            &serde_json::json!(9),
            &serde_json::json!(7),
            &serde_json::json!(2)
        )
    );
    let top = value["top"].as_array().cloned().unwrap_or_default();
    assert_eq!(top.len(), 3);
    for entry in &top {
        let window = |name: &str| entry[name].as_i64().unwrap_or_default();
        assert!(window("fast") < window("slow"), "{entry}");
        assert_eq!(window("signal"), 9);
        assert_eq!(entry["metrics"]["last_date"], "2018-12-31");
        assert_eq!(entry["out_of_sample"]["first_date"], "2019-01-02");
    }
    assert!(sharpe(&top[0]) >= sharpe(&top[1]) && sharpe(&top[1]) >= sharpe(&top[2]));
    assert_eq!(value["summary"]["best"].as_f64(), Some(sharpe(&top[0])));
}

#[test]
fn optimize_bollinger_takes_a_float_range_for_its_band_width() {
    let sandbox = Sandbox::new();
    let run = optimize(
        &sandbox,
        &[
            "--strategy",
            "bollinger",
            "--range",
            "period=10..30:10",
            "--range",
            "k=1.5..2.5:0.5",
            "--json",
        ],
    );
    run.expect_code(0);
    let value = run.stdout_json();
    assert_eq!(
        (value["evaluated"].as_u64(), value["skipped"].as_u64()),
        (Some(9), Some(0))
    );
    assert_eq!(value["ranges"]["k"], "1.5..2.5:0.5");
    let widths: Vec<f64> = value["top"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| entry["k"].as_f64())
        .collect();
    assert_eq!(widths.len(), 9);
    assert!(
        widths.iter().all(|k| [1.5, 2.0, 2.5].contains(k)),
        "{widths:?}"
    );
}

#[test]
fn sma_cross_takes_ranges_as_well_as_its_fast_and_slow_flags() {
    let sandbox = Sandbox::new();
    let top = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--top", "5", "--json"]);
        let run = optimize(&sandbox, &all);
        run.expect_code(0);
        let value = run.stdout_json();
        assert_eq!(value["evaluated"], 19);
        value["top"].clone()
    };
    let flags = top(&["--fast", "5..20:5", "--slow", "20..60:10"]);
    let ranges = top(&["--range", "fast=5..20:5", "--range", "slow=20..60:10"]);
    assert_eq!(flags, ranges);
    assert!(
        flags[0]["fast"].is_u64() && flags[0]["slow"].is_u64(),
        "{flags}"
    );
}

#[test]
fn bad_ranges_are_usage_errors_naming_the_parameter_before_anything_runs() {
    let sandbox = Sandbox::new();
    let cases: [(&[&str], &str); 11] = [
        (
            &["--strategy", "rsi", "--range", "period=30..5"],
            "'period'",
        ),
        (
            &[
                "--strategy",
                "rsi",
                "--range",
                "period=5..30",
                "--range",
                "lower=20..40:0",
                "--range",
                "upper=70",
            ],
            "'lower'",
        ),
        // upper searches its default 60..80:5, never above lower 85..90.
        (
            &[
                "--strategy",
                "rsi",
                "--range",
                "period=5..30",
                "--range",
                "lower=85..90",
            ],
            "'lower'",
        ),
        (
            &["--strategy", "rsi", "--range", "window=5..30"],
            "'window'",
        ),
        (&["--strategy", "rsi", "--fast", "5..10"], "'fast'"),
        (
            &[
                "--strategy",
                "bollinger",
                "--range",
                "period=20",
                "--range",
                "k=0..2:0.5",
            ],
            "'k'",
        ),
        (&["--strategy", "nope"], "'nope'"),
        (
            &[
                "--strategy",
                "macd",
                "--range",
                "fast=30..40",
                "--range",
                "slow=10..20",
                "--range",
                "signal=9",
            ],
            "'fast'",
        ),
        (&["--fast", "5..10", "--range", "fast=5..10"], "'fast'"),
        (&["--fast", "50..60", "--slow", "10..20"], "fast window"),
        (
            &[
                "--strategy",
                "rsi",
                "--range",
                "period=2..100",
                "--range",
                "lower=1..99:0.1",
                "--range",
                "upper=1..99:0.1",
            ],
            "1000000",
        ),
    ];
    for (args, named) in cases {
        let run = optimize(&sandbox, args);
        run.expect_code(2);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
        assert!(!sandbox.db_path().exists(), "{args:?} created the database");
    }
}
