use crate::support::{Sandbox, csv_rows, day, stored_bars_of};
use marketcache_domain::Dataset;

const ABC_CSV: &str = "date,open,high,low,close,volume\n\
2024-01-02,10,11,9,10.5,100\n\
2024-01-03,10.5,12,10,11,200\n\
2024-01-04,11,12,10,11.5,300\n\
2024-02-01,12,13,11,12.5,400\n";

fn csv_folder(sandbox: &Sandbox) -> String {
    let folder = sandbox.join("quotes");
    std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(folder.join("ABC.csv"), ABC_CSV).unwrap_or_else(|e| panic!("{e}"));
    folder.display().to_string()
}

#[test]
fn the_csv_provider_reads_the_symbol_file_of_its_folder() {
    let sandbox = Sandbox::new();
    let folder = csv_folder(&sandbox);

    let run = sandbox.run(&[
        "--provider",
        "csv",
        "--csv-dir",
        &folder,
        "get",
        "abc",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-31",
    ]);
    run.expect_code(0);

    assert_eq!(
        run.stdout,
        "date,open,high,low,close,volume\n\
         2024-01-02,10.0,11.0,9.0,10.5,100\n\
         2024-01-03,10.5,12.0,10.0,11.0,200\n\
         2024-01-04,11.0,12.0,10.0,11.5,300\n"
    );
    assert!(
        run.stderr.contains("ABC: 3 bars (0 cached, 3 fetched)"),
        "{}",
        run.stderr
    );
    // Kept apart from market data: a market provider's request for ABC never sees these.
    assert!(
        run.stderr
            .contains("from csv (prices from local CSV files)"),
        "{}",
        run.stderr
    );
    let stored = stored_bars_of(&sandbox.db_path(), "ABC", Dataset::Csv);
    assert_eq!(stored.len(), 3);
    assert!(stored_bars_of(&sandbox.db_path(), "ABC", Dataset::Market).is_empty());
    assert_eq!(
        stored.first().map(|b| (b.date, b.volume)),
        Some((day(2024, 1, 2), 100))
    );

    // Served from the cache the second time.
    let again = sandbox.run(&[
        "--provider",
        "csv",
        "--csv-dir",
        &folder,
        "get",
        "ABC",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-31",
    ]);
    again.expect_code(0);
    assert_eq!(again.stdout, run.stdout);
    assert!(
        again.stderr.contains("0 upstream requests"),
        "{}",
        again.stderr
    );
}

#[test]
fn the_csv_provider_folder_can_come_from_the_environment() {
    let sandbox = Sandbox::new();
    let folder = csv_folder(&sandbox);
    let url = sandbox.db_url();

    let run = sandbox.output(
        sandbox
            .command()
            .env("MARKETCACHE_PROVIDER", "csv")
            .env("MARKETCACHE_CSV_DIR", &folder)
            .args([
                "--database-url",
                &url,
                "get",
                "ABC",
                "--start",
                "2024-02-01",
            ])
            .args(["--end", "2024-02-29"]),
    );
    run.expect_code(0);

    assert_eq!(csv_rows(&run.stdout).len(), 1);
}

#[test]
fn the_csv_provider_without_a_folder_is_a_usage_error_naming_csv_dir() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["--provider", "csv", "get", "ABC"]);
    run.expect_code(2);

    assert!(run.stderr.contains("--csv-dir"), "{}", run.stderr);
    assert!(run.stderr.contains("MARKETCACHE_CSV_DIR"), "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn the_csv_provider_with_a_missing_folder_is_a_usage_error_naming_the_folder() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&[
        "--provider",
        "csv",
        "--csv-dir",
        "no-such-dir",
        "get",
        "ABC",
    ]);
    run.expect_code(2);

    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
    assert!(!sandbox.db_path().exists());
}

#[test]
fn the_csv_provider_reports_a_symbol_without_a_file_as_unknown() {
    let sandbox = Sandbox::new();
    let folder = csv_folder(&sandbox);

    let run = sandbox.run(&[
        "--provider",
        "csv",
        "--csv-dir",
        &folder,
        "get",
        "XYZ",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-31",
    ]);
    run.expect_code(1);

    assert!(run.stderr.contains("XYZ"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn rows_appended_to_a_csv_file_are_served_without_a_forced_refresh() {
    let sandbox = Sandbox::new();
    let folder = csv_folder(&sandbox);
    let get = [
        "--provider",
        "csv",
        "--csv-dir",
        &folder,
        "get",
        "ABC",
        "--start",
        "2024-01-01",
        "--end",
        "2024-02-29",
    ];
    let first = sandbox.run(&get);
    first.expect_code(0);
    assert_eq!(csv_rows(&first.stdout).len(), 4);

    // The ledger keeps whole seconds: the edit comes in a later second than the read.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let file = std::path::Path::new(&folder).join("ABC.csv");
    let mut text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    text.push_str("2024-02-02,12.5,14,12,13.5,500\n");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));

    let after_edit = sandbox.run(&get);
    after_edit.expect_code(0);
    let rows = csv_rows(&after_edit.stdout);
    assert_eq!(rows.len(), 5, "{}", after_edit.stdout);
    assert_eq!(rows[4][0], "2024-02-02");
    assert!(
        after_edit.stderr.contains("1 upstream requests"),
        "{}",
        after_edit.stderr
    );
    let unchanged = sandbox.run(&get);
    assert!(
        unchanged.stderr.contains("0 upstream requests"),
        "{}",
        unchanged.stderr
    );
}
