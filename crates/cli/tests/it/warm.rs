use crate::support::{Sandbox, stats_symbols, table_row};

const YEAR_2020: [&str; 4] = ["--start", "2020-01-01", "--end", "2020-12-31"];

fn warm(sandbox: &Sandbox, symbols: &[&str], extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["warm"];
    args.extend_from_slice(symbols);
    args.extend_from_slice(extra);
    sandbox.run(&args)
}

#[test]
fn warm_continues_past_a_failing_symbol_and_exits_one() {
    let sandbox = Sandbox::new();

    let run = warm(&sandbox, &["AAPL", "ZZTOP", "MSFT"], &YEAR_2020);
    run.expect_code(1);

    assert!(
        run.stdout
            .contains("Warming 3 symbol(s) from 2020-01-01 to 2020-12-31 via synthetic"),
        "{}",
        run.stdout
    );
    for symbol in ["AAPL", "MSFT"] {
        let row = table_row(&run.stdout, symbol);
        assert_eq!(row[1], "ok", "{row:?}");
        assert_eq!(row[2], "253", "{row:?}");
        assert_eq!(row[3], "2020-01-02", "{row:?}");
        assert_eq!(row[4], "2020-12-31", "{row:?}");
        let requests: u64 = row[5].parse().unwrap_or_else(|e| panic!("{row:?}: {e}"));
        assert!(requests >= 1, "{row:?}");
    }
    let failed = table_row(&run.stdout, "ZZTOP");
    assert_eq!(failed[1], "FAILED", "{failed:?}");
    assert!(failed.join(" ").contains("unknown"), "{failed:?}");
    assert!(
        run.stdout
            .contains("3 symbol(s): 2 ok, 1 failed; 506 bars in range"),
        "{}",
        run.stdout
    );

    // The symbols that worked are stored in full; the one that failed left nothing.
    assert_eq!(sandbox.stored_bars("AAPL").len(), 253);
    assert_eq!(sandbox.stored_bars("MSFT").len(), 253);
    assert_eq!(
        stats_symbols(&sandbox.stats_json()),
        ["AAPL@synthetic", "MSFT@synthetic"]
    );
}

#[test]
fn warm_again_makes_no_upstream_requests_and_exits_zero() {
    let sandbox = Sandbox::new();
    warm(&sandbox, &["AAPL", "ZZTOP", "MSFT"], &YEAR_2020).expect_code(1);

    let run = warm(&sandbox, &["AAPL", "MSFT"], &YEAR_2020);
    run.expect_code(0);

    for symbol in ["AAPL", "MSFT"] {
        let row = table_row(&run.stdout, symbol);
        assert_eq!(row[1], "ok", "{row:?}");
        assert_eq!(row[2], "253", "{row:?}");
        assert_eq!(row[5], "0", "requests column of {row:?}");
    }
    assert!(
        run.stdout
            .contains("2 symbol(s): 2 ok, 0 failed; 506 bars in range; 0 upstream requests"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("Initialised"), "{}", run.stderr);
}

#[test]
fn warm_reads_symbols_from_a_file_skipping_comments_and_blank_lines() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "tickers.txt",
        "# my watch list\n\n  aapl   # Apple, lower case on purpose\n\n# MSFT is next\nMSFT\n",
    );

    let run = warm(&sandbox, &["--file", "tickers.txt"], &YEAR_2020);
    run.expect_code(0);

    assert!(run.stdout.contains("Warming 2 symbol(s)"), "{}", run.stdout);
    assert_eq!(table_row(&run.stdout, "AAPL")[1], "ok");
    assert_eq!(table_row(&run.stdout, "MSFT")[1], "ok");
    assert_eq!(
        stats_symbols(&sandbox.stats_json()),
        ["AAPL@synthetic", "MSFT@synthetic"]
    );
}

#[test]
fn warm_with_a_bad_symbol_in_the_file_is_a_usage_error_naming_the_line() {
    let sandbox = Sandbox::new();
    sandbox.write("tickers.txt", "AAPL\n# fine so far\nMS FT\nNVDA\n");

    let run = warm(&sandbox, &["--file", "tickers.txt"], &YEAR_2020);
    run.expect_code(2);

    assert!(run.stderr.contains("tickers.txt line 3"), "{}", run.stderr);
    assert!(run.stderr.contains("'MS FT'"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        !sandbox.db_path().exists(),
        "nothing is written on bad input"
    );
}

#[test]
fn warm_with_a_missing_file_is_a_usage_error_naming_the_file() {
    let sandbox = Sandbox::new();

    let run = warm(&sandbox, &["--file", "nope.txt"], &YEAR_2020);
    run.expect_code(2);

    assert!(run.stderr.contains("--file nope.txt"), "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn warm_names_each_symbol_once_even_when_given_twice() {
    let sandbox = Sandbox::new();
    sandbox.write("tickers.txt", "MSFT\nAAPL\n");

    let run = warm(
        &sandbox,
        &["AAPL", "MSFT", "aapl", "--file", "tickers.txt"],
        &YEAR_2020,
    );
    run.expect_code(0);

    assert!(run.stdout.contains("Warming 2 symbol(s)"), "{}", run.stdout);
    // table_row asserts there is exactly one row per symbol.
    assert_eq!(table_row(&run.stdout, "AAPL")[1], "ok");
    assert_eq!(table_row(&run.stdout, "MSFT")[1], "ok");
    assert!(
        run.stdout
            .contains("2 symbol(s): 2 ok, 0 failed; 506 bars in range"),
        "{}",
        run.stdout
    );
}
