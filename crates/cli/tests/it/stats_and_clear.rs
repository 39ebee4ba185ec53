use std::process::Stdio;

use crate::support::{Sandbox, day, stats_symbols};

/// The whitespace-split row of the `stats` table for the synthetic bars of `symbol`, if any.
fn stats_row(stdout: &str, symbol: &str) -> Option<Vec<String>> {
    let key = format!("{symbol}@synthetic");
    stdout
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .find(|fields| fields.first() == Some(&key))
}

#[test]
fn stats_lists_each_symbol_with_its_bars_and_dates_and_the_bytes_per_bar() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);
    sandbox
        .run(&[
            "get",
            "NVDA",
            "--start",
            "2020-03-01",
            "--end",
            "2020-03-31",
        ])
        .expect_code(0);

    let run = sandbox.run(&["stats"]);
    run.expect_code(0);

    for symbol in ["AAPL", "MSFT"] {
        let row = stats_row(&run.stdout, symbol)
            .unwrap_or_else(|| panic!("no row for {symbol}:\n{}", run.stdout));
        assert_eq!(row[1], "253", "{row:?}");
        assert_eq!(row[2], "2020-01-02", "{row:?}");
        assert_eq!(row[3], "2020-12-31", "{row:?}");
        assert!(
            // Covered from the first day asked, New Year's Day, to the last.
            row.last().map(String::as_str) == Some("2020-01-01..2020-12-31"),
            "covered column of {row:?}"
        );
    }
    let nvda = stats_row(&run.stdout, "NVDA")
        .unwrap_or_else(|| panic!("no row for NVDA:\n{}", run.stdout));
    assert_eq!(nvda[1..4], ["22", "2020-03-02", "2020-03-31"]);
    assert!(
        run.stdout.contains("Total: 3 symbol(s), 528 bars"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("bytes per bar"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("Database: {}", sandbox.db_url())),
        "{}",
        run.stdout
    );
}

#[test]
fn stats_as_json_parses_and_its_total_matches_the_symbols() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);

    let stats = sandbox.stats_json();

    assert_eq!(stats["total_bars"], 506);
    assert_eq!(stats["database"], sandbox.db_url());
    assert_eq!(stats_symbols(&stats), ["AAPL@synthetic", "MSFT@synthetic"]);
    let per_symbol: u64 = stats["symbols"]
        .as_array()
        .map(|symbols| symbols.iter().filter_map(|s| s["bars"].as_u64()).sum())
        .unwrap_or_default();
    assert_eq!(per_symbol, 506);
    for symbol in stats["symbols"].as_array().into_iter().flatten() {
        assert_eq!(symbol["first_date"], "2020-01-02", "{symbol}");
        assert_eq!(symbol["last_date"], "2020-12-31", "{symbol}");
        assert_eq!(
            symbol["covered"],
            serde_json::json!([{ "start": "2020-01-01", "end": "2020-12-31" }]),
            "{symbol}"
        );
    }
    let bytes_on_disk = stats["bytes_on_disk"].as_u64().unwrap_or_default();
    assert!(bytes_on_disk > 0, "{stats}");
    assert!(
        stats["bar_table_bytes"].as_u64().unwrap_or_default() <= bytes_on_disk,
        "{stats}"
    );
    assert!(
        stats["bytes_per_bar"].as_f64().unwrap_or_default() > 0.0,
        "{stats}"
    );
}

#[test]
fn stats_on_an_empty_database_shows_no_symbols() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["stats"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Total: 0 symbol(s), 0 bars"),
        "{}",
        run.stdout
    );

    let stats = sandbox.stats_json();
    assert_eq!(stats["total_bars"], 0);
    assert_eq!(stats["symbols"], serde_json::json!([]));
}

#[test]
fn clear_of_one_symbol_with_yes_deletes_only_that_symbol() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);

    let run = sandbox.run(&["clear", "--symbol", "aapl", "--yes"]);
    run.expect_code(0);

    assert!(
        run.stdout
            .contains("Deleted all bars and coverage of AAPL (every source): 253 bars"),
        "{}",
        run.stdout
    );
    let stats = sandbox.run(&["stats"]);
    stats.expect_code(0);
    assert!(
        stats_row(&stats.stdout, "AAPL").is_none(),
        "{}",
        stats.stdout
    );
    assert!(
        stats_row(&stats.stdout, "MSFT").is_some(),
        "{}",
        stats.stdout
    );
    assert!(sandbox.stored_bars("AAPL").is_empty());
    assert_eq!(sandbox.stored_bars("MSFT").len(), 253);

    // The coverage went too: the next get fetches AAPL again.
    let again = sandbox.run(&[
        "get",
        "AAPL",
        "--start",
        "2020-01-01",
        "--end",
        "2020-12-31",
    ]);
    again.expect_code(0);
    assert!(
        again.stderr.contains("0 cached, 253 fetched"),
        "{}",
        again.stderr
    );
}

#[test]
fn clear_without_yes_and_without_an_answer_aborts_and_deletes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);

    let url = sandbox.db_url();
    let run = sandbox.output(
        sandbox
            .command()
            .args(["--database-url", &url, "clear"])
            .stdin(Stdio::null()),
    );
    run.expect_code(1);

    assert!(run.stderr.contains("[y/N]"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Aborted: nothing deleted"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("Deleted"), "{}", run.stdout);
    assert_eq!(sandbox.stats_json()["total_bars"], 506);
}

#[test]
fn clear_without_yes_and_answered_no_deletes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL"]);

    let run = sandbox.run_with_input(&["clear", "--symbol", "AAPL"], "n\n");
    run.expect_code(1);

    assert!(run.stderr.contains("Aborted"), "{}", run.stderr);
    assert_eq!(sandbox.stored_bars("AAPL").len(), 253);
}

#[test]
fn clear_without_yes_and_answered_yes_deletes() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);

    let run = sandbox.run_with_input(&["clear", "--symbol", "MSFT"], "y\n");
    run.expect_code(0);

    assert!(
        run.stderr.contains("Delete all bars and coverage of MSFT"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("Deleted all bars and coverage of MSFT (every source): 253 bars"),
        "{}",
        run.stdout
    );
    assert!(sandbox.stored_bars("MSFT").is_empty());
    assert_eq!(sandbox.stored_bars("AAPL").len(), 253);
    assert_eq!(stats_symbols(&sandbox.stats_json()), ["AAPL@synthetic"]);
}

#[test]
fn clear_before_a_day_removes_only_earlier_bars() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);
    let before: Vec<_> = sandbox.stored_bars("AAPL");
    let earlier = before.iter().filter(|b| b.date < day(2020, 7, 1)).count();

    let run = sandbox.run(&["clear", "--before", "2020-07-01", "--yes"]);
    run.expect_code(0);

    assert!(
        run.stdout.contains(&format!(
            "Deleted the bars and coverage of every symbol before 2020-07-01: {} bars",
            2 * earlier
        )),
        "{}",
        run.stdout
    );
    for symbol in ["AAPL", "MSFT"] {
        let left = sandbox.stored_bars(symbol);
        assert_eq!(left.len(), 253 - earlier, "{symbol}");
        assert_eq!(
            left.first().map(|b| b.date),
            Some(day(2020, 7, 1)),
            "{symbol}"
        );
        assert_eq!(
            left.last().map(|b| b.date),
            Some(day(2020, 12, 31)),
            "{symbol}"
        );
    }
    // What is left is unchanged.
    let kept: Vec<_> = before
        .into_iter()
        .filter(|b| b.date >= day(2020, 7, 1))
        .collect();
    assert_eq!(sandbox.stored_bars("AAPL"), kept);

    let stats = sandbox.stats_json();
    for symbol in stats["symbols"].as_array().into_iter().flatten() {
        assert_eq!(symbol["first_date"], "2020-07-01", "{symbol}");
        assert_eq!(
            symbol["covered"],
            serde_json::json!([{ "start": "2020-07-01", "end": "2020-12-31" }]),
            "{symbol}"
        );
    }
}

#[test]
fn clear_of_one_symbol_before_a_day_leaves_other_symbols_alone() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL", "MSFT"]);

    sandbox
        .run(&["clear", "--symbol", "AAPL", "--before", "2020-07-01", "-y"])
        .expect_code(0);

    assert_eq!(
        sandbox.stored_bars("AAPL").first().map(|b| b.date),
        Some(day(2020, 7, 1))
    );
    assert_eq!(sandbox.stored_bars("MSFT").len(), 253);
}

#[test]
fn stats_for_one_symbol_explains_the_days_before_its_listing() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["get", "ARM", "--start", "2023-01-01", "--end", "2023-12-31"])
        .expect_code(0);

    let run = sandbox.run(&["stats", "--symbol", "arm"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("ARM: covered 2023-01-01..2023-12-31"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("synthetic"), "{}", run.stdout);
    assert!(
        run.stdout.contains("2023-01-03..2023-09-13")
            && run.stdout.contains("before the first trade"),
        "{}",
        run.stdout
    );

    let json = sandbox.run(&["stats", "--symbol", "ARM", "--json"]);
    json.expect_code(0);
    let value = json.stdout_json();
    assert_eq!(value["barless"][0]["reason"], "before_first_trade");
    assert_eq!(value["barless"][0]["range"]["end"], "2023-09-13");
    // The first half-year was asked; its answer named ARM's first trading day, so the days up
    // to it were recorded without a request; then the rest of the year was asked.
    assert_eq!(value["spans"].as_array().map(Vec::len), Some(3));
    assert_eq!(value["spans"][1]["range"]["start"], "2023-07-04");
    assert_eq!(value["spans"][1]["range"]["end"], "2023-09-13");
    assert_eq!(value["spans"][1]["bars"], 0);
    assert_eq!(value["spans"][2]["range"]["start"], "2023-09-14");
}

#[test]
fn compact_packs_the_pages_and_keeps_every_bar() {
    let sandbox = Sandbox::new();
    // A first warm packs the file itself; bars fetched by `get` afterwards are not packed.
    let warm = sandbox.run(&[
        "warm",
        "AAPL",
        "--start",
        "2000-01-01",
        "--end",
        "2020-12-31",
    ]);
    warm.expect_code(0);
    assert!(
        warm.stdout
            .contains("Packed the database after this bulk load: "),
        "{}",
        warm.stdout
    );
    let packed = sandbox.stats_json();
    sandbox
        .run(&[
            "get",
            "MSFT",
            "--start",
            "2000-01-01",
            "--end",
            "2020-12-31",
        ])
        .expect_code(0);
    let before = sandbox.stats_json();
    let per_bar = |stats: &serde_json::Value| stats["bytes_per_bar"].as_f64().unwrap_or(f64::NAN);
    // Synthetic bars are keyed `AAPL@synthetic`: 10 bytes per row more than a ticker's key.
    assert!(per_bar(&packed) <= 85.0, "{}", per_bar(&packed));
    let run = sandbox.run(&["compact"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("Compacted sqlite://"),
        "{}",
        run.stdout
    );
    let after = sandbox.stats_json();
    assert_eq!(after["total_bars"], before["total_bars"]);
    assert_eq!(after["symbols"], before["symbols"]);
    assert!(
        per_bar(&after) < per_bar(&before) && per_bar(&after) <= 90.0,
        "{} -> {}",
        per_bar(&before),
        per_bar(&after)
    );
}

#[test]
fn stats_compact_and_clear_never_need_the_provider_configured() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL"]);
    // Polygon without its key cannot fetch, but the store's own commands do not ask it.
    for args in [
        &["--provider", "polygon", "stats"][..],
        &["--provider", "polygon", "compact"][..],
        &[
            "--provider",
            "polygon",
            "clear",
            "--symbol",
            "AAPL",
            "--yes",
        ][..],
    ] {
        let run = sandbox.run(args);
        run.expect_code(0);
        assert!(
            !run.stderr.contains("POLYGON_API_KEY"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(sandbox.stored_bars("AAPL").is_empty());
    // A command that reads bars does need it, and says which variable is missing.
    let get = sandbox.run(&["--provider", "polygon", "get", "AAPL"]);
    get.expect_code(2);
    assert!(get.stderr.contains("POLYGON_API_KEY"), "{}", get.stderr);
}
