use crate::support::{Run, Sandbox};

/// Runs `args` on a fresh sandbox and checks the usage-error contract: exit code 2, the
/// message names `names`, and neither the named database nor the default one was created.
#[track_caller]
fn rejects(args: &[&str], names: &[&str]) -> Run {
    let sandbox = Sandbox::new();
    let run = sandbox.run(args);
    run.expect_code(2);
    for name in names {
        assert!(
            run.stderr.contains(name),
            "stderr of {args:?} does not name {name}:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.starts_with("error:"),
        "stderr of {args:?}:\n{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "stdout of {args:?}");
    assert!(
        !sandbox.db_path().exists(),
        "{args:?} created the database file"
    );
    assert!(
        !sandbox.default_db_path().exists(),
        "{args:?} created the default database file"
    );
    run
}

#[test]
fn a_date_that_does_not_exist_is_a_usage_error_naming_the_field() {
    rejects(
        &["get", "AAPL", "--start", "2020-13-01"],
        &["--start", "2020-13-01", "YYYY-MM-DD"],
    );
    rejects(
        &["warm", "AAPL", "--end", "2020-02-30"],
        &["end", "2020-02-30"],
    );
    rejects(
        &["clear", "--before", "yesterday", "--yes"],
        &["before", "yesterday"],
    );
}

#[test]
fn a_well_shaped_date_missing_from_the_calendar_is_called_not_a_real_date() {
    let run = rejects(
        &["get", "AAPL", "--start", "2020-02-30"],
        &["start '2020-02-30' is not a real date: February 2020 has 29 days"],
    );
    assert!(!run.stderr.contains("YYYY-MM-DD"), "{}", run.stderr);
    rejects(
        &["warm", "AAPL", "--end", "2023-04-31"],
        &["end '2023-04-31' is not a real date: April 2023 has 30 days"],
    );
}

#[test]
fn a_date_in_the_wrong_shape_is_told_the_format() {
    for input in ["2020/02/03", "3 Feb 2020", "2020-2-3"] {
        let run = rejects(&["get", "AAPL", "--start", input], &[input, "YYYY-MM-DD"]);
        assert!(!run.stderr.contains("not a real date"), "{}", run.stderr);
    }
}

#[test]
fn a_start_after_the_end_is_a_usage_error_naming_both_days() {
    let run = rejects(
        &[
            "get",
            "AAPL",
            "--start",
            "2020-06-01",
            "--end",
            "2020-01-01",
        ],
        &["start 2020-06-01", "end 2020-01-01"],
    );
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    rejects(
        &[
            "warm",
            "AAPL",
            "--start",
            "2020-06-01",
            "--end",
            "2020-01-01",
        ],
        &["start 2020-06-01", "end 2020-01-01"],
    );
}

#[test]
fn a_symbol_outside_the_safe_alphabet_is_a_usage_error_naming_the_symbol() {
    rejects(&["get", "AA PL"], &["symbol", "'AA PL'"]);
    rejects(&["get", "../x"], &["symbol", "'../x'"]);
    rejects(&["warm", "AAPL", "MS/FT"], &["symbol", "'MS/FT'"]);
    rejects(&["clear", "--symbol", "a;b", "--yes"], &["symbol", "'a;b'"]);
    rejects(
        &["get", "ABCDEFGHIJKLMNOPQRSTU"],
        &["symbol", "1-20 characters"],
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_naming_it() {
    let run = rejects(&["frobnicate"], &["frobnicate", "subcommand"]);
    assert!(!run.stderr.contains("tip:"), "{}", run.stderr);
}

#[test]
fn a_subcommand_with_swapped_letters_suggests_the_one_meant() {
    for (typed, meant) in [("gte", "get"), ("wram", "warm"), ("stast", "stats")] {
        let run = rejects(&[typed, "AAPL"], &[]);
        assert!(
            run.stderr.starts_with(&format!(
                "error: unrecognized subcommand '{typed}'\n\n  tip: a similar subcommand exists: '{meant}'\n"
            )),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("Usage: marketcache"), "{}", run.stderr);
    }
}

#[test]
fn clap_s_own_subcommand_suggestion_is_kept() {
    let run = rejects(&["stat"], &[]);
    assert!(
        run.stderr
            .contains("  tip: a similar subcommand exists: 'stats'\n"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("tip:").count(), 1, "{}", run.stderr);
}

#[test]
fn a_missing_subcommand_or_symbol_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[]);
    run.expect_code(2);
    assert!(run.stderr.contains("Usage: marketcache"), "{}", run.stderr);
    assert!(!sandbox.db_path().exists());

    rejects(&["get"], &["required", "<SYMBOL>"]);
}

#[test]
fn an_unknown_format_or_flag_is_a_usage_error_naming_it() {
    rejects(&["get", "AAPL", "--format", "xml"], &["--format", "xml"]);
    rejects(&["get", "AAPL", "--colour"], &["--colour"]);
    rejects(
        &["get", "AAPL", "--offline", "--force-refresh"],
        &["--offline", "--force-refresh"],
    );
}

#[test]
fn an_unknown_provider_is_a_usage_error_naming_the_provider() {
    rejects(
        &["--provider", "nope", "get", "AAPL"],
        &["provider 'nope'", "synthetic, csv"],
    );
    rejects(&["migrate", "--provider", "nope"], &["provider 'nope'"]);
}

#[test]
fn a_chain_joining_adjusted_prices_to_raw_ones_is_a_usage_error() {
    // Stooq's prices are adjusted for splits and dividends: as a fallback of Yahoo's raw prices
    // it would put a jump in the series where nothing happened.
    rejects(
        &["--provider", "yahoo,stooq", "get", "AAPL"],
        &[
            "provider 'yahoo,stooq'",
            "market data adjusted for splits and dividends by the provider",
        ],
    );
}

#[test]
fn a_database_url_with_an_unknown_scheme_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_bare(&["--database-url", "mysql://localhost/x", "migrate"]);
    run.expect_code(2);
    assert!(run.stderr.contains("database URL"), "{}", run.stderr);
    assert!(run.stderr.contains("sqlite://"), "{}", run.stderr);
}

#[test]
fn out_of_range_synthetic_flags_are_usage_errors_naming_the_flag() {
    rejects(&["get", "AAPL", "--concurrency", "0"], &["--concurrency"]);
    rejects(
        &["get", "AAPL", "--max-span-days", "0"],
        &["--max-span-days"],
    );
    rejects(&["get", "AAPL", "--latency-ms", "-5"], &["-5"]);
}

#[test]
fn help_and_version_exit_zero_without_touching_a_database() {
    let sandbox = Sandbox::new();
    let help = sandbox.run(&["--help"]);
    help.expect_code(0);
    for command in ["migrate", "warm", "get", "stats", "clear", "demo"] {
        assert!(help.stdout.contains(command), "{}", help.stdout);
    }
    let version = sandbox.run(&["--version"]);
    version.expect_code(0);
    assert!(
        version.stdout.starts_with("marketcache "),
        "{}",
        version.stdout
    );
    assert!(!sandbox.db_path().exists());
    assert!(!sandbox.default_db_path().exists());
}

#[test]
fn dates_before_1900_are_rejected_naming_the_field_and_the_rule() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["get", "AAPL", "--start", "1899-12-31"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("start 1899-12-31 is out of range"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("between 1900-01-01 and 2199-12-31"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.db_path().exists());
}

#[test]
fn a_freshness_or_pool_size_out_of_its_rule_is_a_usage_error_naming_it() {
    rejects(
        &["get", "AAPL", "--freshness", "15x"],
        &["freshness '15x' is invalid", "30s, 15m or 1h"],
    );
    rejects(
        &["get", "AAPL", "--pool-size", "1"],
        &["pool_size '1' is invalid", "from 2 to 1000"],
    );
    rejects(
        &["get", "AAPL", "--pool-size", "many"],
        &["pool_size 'many' is invalid"],
    );
}

#[test]
fn an_upstream_timeout_out_of_its_rule_is_a_usage_error_naming_it() {
    for bad in ["0s", "soon"] {
        let sandbox = Sandbox::new();
        let run = sandbox.output(
            sandbox
                .command()
                .env("MARKETCACHE_UPSTREAM_TIMEOUT", bad)
                .args(["--database-url", &sandbox.db_url(), "get", "AAPL"]),
        );
        run.expect_code(2);
        assert!(
            run.stderr
                .contains(&format!("upstream_timeout '{bad}' is invalid")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("above zero"), "{}", run.stderr);
        assert!(!sandbox.db_path().exists(), "nothing is created");
    }
}
