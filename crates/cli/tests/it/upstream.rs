//! Real upstream providers from the command line: the list, keys, plans, fallbacks and a
//! warm that resumes after being killed.

use std::time::{Duration, Instant};

use crate::support::{Sandbox, table_row};

#[test]
fn providers_lists_every_upstream_with_its_key_limits_and_whether_it_is_configured() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["providers"]);
    run.expect_code(0);
    for name in [
        "synthetic",
        "csv",
        "yahoo",
        "stooq",
        "polygon",
        "alpaca",
        "tiingo",
        "alphavantage",
    ] {
        assert!(
            !table_row(&run.stdout, name).is_empty(),
            "{name}: {}",
            run.stdout
        );
    }
    let polygon = table_row(&run.stdout, "polygon").join(" ");
    assert!(polygon.contains("no: set POLYGON_API_KEY"), "{polygon}");
    assert!(polygon.contains(" 5 "), "5 requests a minute: {polygon}");

    let configured = sandbox
        .output(
            sandbox
                .command()
                .args(["--provider", "polygon,yahoo", "providers", "--json"])
                .env("POLYGON_API_KEY", "pk_test_0123456789"),
        )
        .expect_code(0)
        .stdout_json();
    let rows = configured.as_array().cloned().unwrap_or_default();
    let row = |name: &str| {
        rows.iter()
            .find(|row| row["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(row("polygon")["configured"], true);
    assert_eq!(row("polygon")["order"], 1);
    assert_eq!(row("yahoo")["order"], 2);
    assert_eq!(row("polygon")["requests_per_minute"], 5);
    assert_eq!(row("alpaca")["configured"], false);
    assert!(
        !configured.to_string().contains("pk_test_0123456789"),
        "a key is never printed"
    );
}

#[test]
fn a_provider_without_its_key_fails_at_once_naming_the_variable_and_stores_nothing() {
    let sandbox = Sandbox::new();
    for (provider, variable) in [
        ("polygon", "POLYGON_API_KEY"),
        ("alpaca", "APCA_API_KEY_ID"),
        ("tiingo", "TIINGO_API_KEY"),
        ("alphavantage", "ALPHAVANTAGE_API_KEY"),
    ] {
        let run = sandbox.run(&["--provider", provider, "get", "AAPL"]);
        run.expect_code(2);
        assert!(run.stderr.contains(variable), "{provider}: {}", run.stderr);
    }
    let run = sandbox.run(&["--provider", "yahoo,nasdaq", "get", "AAPL"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("provider 'nasdaq' is invalid")
            && run.stderr.contains("yahoo")
            && run.stderr.contains("alphavantage"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.db_path().exists(), "nothing was created");
}

#[test]
fn keys_in_the_config_file_configure_a_provider_and_never_show() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "marketcache.toml",
        "provider = \"tiingo\"\n[upstream]\nTIINGO_API_KEY = \"tk_file_secret_42\"\nMARKETCACHE_TIINGO_URL = \"http://127.0.0.1:9\"\n",
    );
    let run = sandbox.run(&["providers", "--json"]);
    run.expect_code(0);
    let rows = run.stdout_json();
    let tiingo = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["name"] == "tiingo"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(tiingo["configured"], true, "{tiingo}");
    assert_eq!(tiingo["base_url"], "http://127.0.0.1:9");
    assert!(!run.stdout.contains("tk_file_secret_42"));
    // Nothing listens on port 9: the error names the provider, never the key.
    // The config file names the provider: the environment must not.
    let failed = sandbox.output(
        sandbox
            .command()
            .env_remove("MARKETCACHE_PROVIDER")
            .args(["--database-url", &sandbox.db_url()])
            .args([
                "-v",
                "get",
                "AAPL",
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-31",
            ]),
    );
    failed.expect_code(1);
    assert!(failed.stderr.contains("tiingo"), "{}", failed.stderr);
    assert!(
        !failed.stderr.contains("tk_file_secret_42")
            && !failed.stdout.contains("tk_file_secret_42"),
        "{}",
        failed.stderr
    );
}

#[test]
fn warm_plan_counts_the_requests_after_coverage_and_fetches_nothing() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL"]);
    let before = sandbox.stats_json();
    let run = sandbox.run(&[
        "--max-span-days",
        "30",
        "warm",
        "--plan",
        "AAPL",
        "MSFT",
        "--start",
        "2020-01-01",
        "--end",
        "2021-12-31",
    ]);
    run.expect_code(0);
    let aapl = table_row(&run.stdout, "AAPL");
    assert_eq!(aapl[1], "253", "2020 is cached: {aapl:?}");
    assert_eq!(aapl[2], "1", "only 2021 is missing: {aapl:?}");
    // 2021-01-04..2021-12-31 is 362 days: 13 requests of at most 30.
    assert_eq!(aapl[3], "13", "{aapl:?}");
    let msft = table_row(&run.stdout, "MSFT");
    // 2020-01-02..2021-12-31 is 730 days.
    assert_eq!((msft[1], msft[3]), ("0", "25"), "{msft:?}");
    assert!(
        run.stdout.contains("synthetic: 38 request(s)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("nothing is fetched"), "{}", run.stdout);
    assert_eq!(sandbox.stats_json(), before, "the plan changed nothing");
}

#[test]
fn a_warm_killed_half_way_resumes_where_it_stopped() {
    let sandbox = Sandbox::new();
    let settings = [
        "--latency-ms",
        "150",
        "--max-span-days",
        "30",
        "--concurrency",
        "1",
    ];
    let range = ["--start", "2015-01-01", "--end", "2019-12-31"];
    let mut child = sandbox
        .command()
        .arg("--database-url")
        .arg(sandbox.db_url())
        .args(settings)
        .arg("warm")
        .arg("AAPL")
        .args(range)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start marketcache: {e}"));
    // 61 requests of 150 ms take about 9 s: stop it once about a third is stored.
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let stored = if sandbox.db_path().exists() {
            sandbox.stored_bars("AAPL").len()
        } else {
            0
        };
        if stored >= 300 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    child.wait().unwrap_or_else(|e| panic!("{e}"));
    let stored_at_kill = sandbox.stored_bars("AAPL").len();
    assert!(
        (300..1258).contains(&stored_at_kill),
        "killed half-way: {stored_at_kill} bars"
    );

    let mut args: Vec<&str> = settings.to_vec();
    args.extend(["warm", "AAPL"]);
    args.extend(range);
    let resumed = sandbox.run(&args);
    resumed.expect_code(0);
    let row = table_row(&resumed.stdout, "AAPL");
    assert_eq!(row[2], "1258", "every bar of 2015-2019: {row:?}");
    let requests: usize = row[5].parse().unwrap_or_else(|e| panic!("{row:?}: {e}"));
    assert!(
        (1..61).contains(&requests),
        "the second warm asks only what the first did not store: {requests} of 61"
    );
    let again = sandbox.run(&args);
    again.expect_code(0);
    assert_eq!(table_row(&again.stdout, "AAPL")[5], "0");
}

#[test]
fn a_warning_logged_to_a_captured_stderr_carries_no_colour_codes() {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    // Yahoo does not know the symbol, so the next provider is tried, with a warning.
    let server = runtime.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .respond_with(wiremock::ResponseTemplate::new(404).set_body_raw(
                include_str!("../../../upstream/tests/fixtures/yahoo_not_found.json"),
                "application/json",
            ))
            .mount(&server)
            .await;
        server
    });
    let sandbox = Sandbox::new();
    let run = sandbox.output(
        sandbox
            .command()
            .env_remove("NO_COLOR")
            .env("MARKETCACHE_YAHOO_URL", server.uri())
            .env("MARKETCACHE_POLYGON_URL", server.uri())
            .env("POLYGON_API_KEY", "pk_test_0123456789")
            .args([
                "--database-url",
                &sandbox.db_url(),
                "--provider",
                "yahoo,polygon",
            ])
            .args([
                "get",
                "ZZGONE",
                "--start",
                "2020-01-02",
                "--end",
                "2020-01-10",
            ]),
    );
    run.expect_code(1);

    let warning = run
        .stderr_lines()
        .into_iter()
        .find(|line| line.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning logged:\n{}", run.stderr));
    assert!(warning.contains("trying the next one"), "{warning}");
    assert!(!run.stderr.contains("\x1b["), "{:?}", run.stderr);
}
