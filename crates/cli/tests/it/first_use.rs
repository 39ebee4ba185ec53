//! What a new user meets first: the real default provider, an offline machine, and made-up
//! bars that never pass for market data.

use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{CLOSED_LOCAL_URL, Run, Sandbox, csv_rows};

/// A local Yahoo chart API answering AAPL with the reference capture around the 2020 split.
fn yahoo_mock(runtime: &tokio::runtime::Runtime) -> MockServer {
    runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v8/finance/chart/AAPL"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                include_str!("../../../upstream/tests/fixtures/yahoo_aapl_split.json"),
                "application/json",
            ))
            .mount(&server)
            .await;
        server
    })
}

/// Runs `args` on the sandbox's database with no provider configured anywhere, Yahoo at `yahoo_url`.
fn with_defaults(sandbox: &Sandbox, yahoo_url: &str, args: &[&str]) -> Run {
    sandbox.output(
        sandbox
            .command()
            .env_remove("MARKETCACHE_PROVIDER")
            .env("MARKETCACHE_YAHOO_URL", yahoo_url)
            .args(["--database-url", &sandbox.db_url()])
            .args(args),
    )
}

fn closes(run: &Run) -> Vec<(String, String)> {
    csv_rows(&run.stdout)
        .into_iter()
        .map(|row| (row[0].clone(), row[4].clone()))
        .collect()
}

const RANGE: [&str; 4] = ["--start", "2020-08-03", "--end", "2020-09-04"];

#[test]
fn made_up_bars_never_answer_a_request_for_market_data_nor_the_reverse() {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let server = yahoo_mock(&runtime);
    let sandbox = Sandbox::new();
    let mut get = vec!["get", "AAPL"];
    get.extend(RANGE);

    let made_up = sandbox.run(&get);
    made_up.expect_code(0);
    assert!(
        made_up
            .stderr
            .contains("from synthetic (made-up prices, not market data)"),
        "{}",
        made_up.stderr
    );

    // The default provider is Yahoo: it is asked, although synthetic bars of these days are stored.
    let market = with_defaults(&sandbox, &server.uri(), &get);
    market.expect_code(0);
    assert!(
        market
            .stderr
            .contains("(0 cached, 6 fetched) from yahoo, 1 upstream requests"),
        "{}",
        market.stderr
    );
    assert_eq!(closes(&market).len(), 6);
    assert_ne!(closes(&market), closes(&made_up));
    let requests = runtime
        .block_on(server.received_requests())
        .unwrap_or_default();
    assert_eq!(requests.len(), 1);

    // Each is served from the cache afterwards, still apart.
    let made_up_again = sandbox.run(&get);
    made_up_again.expect_code(0);
    assert_eq!(closes(&made_up_again), closes(&made_up));
    assert!(
        made_up_again.stderr.contains("0 fetched) from synthetic"),
        "{}",
        made_up_again.stderr
    );
    let market_again = with_defaults(&sandbox, &server.uri(), &get);
    assert_eq!(closes(&market_again), closes(&market));
    assert!(
        market_again
            .stderr
            .contains("(6 cached, 0 fetched) from yahoo, 0 upstream"),
        "{}",
        market_again.stderr
    );
    let mut json = get.clone();
    json.extend(["--format", "json", "--offline"]);
    let report = with_defaults(&sandbox, CLOSED_LOCAL_URL, &json).stdout_json();
    assert_eq!(report["report"]["providers"], serde_json::json!(["yahoo"]));
}

#[test]
fn without_a_network_the_default_provider_fails_in_one_line_that_says_what_to_do() {
    let sandbox = Sandbox::new();
    let mut get = vec!["get", "AAPL"];
    get.extend(RANGE);
    let started = Instant::now();
    let run = with_defaults(&sandbox, CLOSED_LOCAL_URL, &get);
    let took = started.elapsed();
    run.expect_code(1);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    for needed in ["yahoo", "127.0.0.1:9", "--offline", "marketcache demo"] {
        assert!(
            errors[0].contains(needed),
            "{needed} missing: {}",
            errors[0]
        );
    }
    // A refused connection is retried a few times with backoff; bounded well below a minute.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn a_backtest_needs_no_parameters_and_a_search_no_ranges() {
    let sandbox = Sandbox::new();
    let range = ["--start", "2010-01-01", "--end", "2020-12-31"];
    let mut backtest = vec!["backtest", "AAPL"];
    backtest.extend(range);
    let run = sandbox.run(&backtest);
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with("AAPL sma-cross fast=50 slow=200 from"),
        "{}",
        run.stdout
    );
    let mut rsi = vec![
        "backtest",
        "AAPL",
        "--strategy",
        "rsi",
        "--param",
        "period=10",
    ];
    rsi.extend(range);
    let run = sandbox.run(&rsi);
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with("AAPL rsi period=10 lower=30 upper=70"),
        "{}",
        run.stdout
    );

    let mut optimize = vec!["optimize", "AAPL", "--strategy", "rsi", "--json"];
    optimize.extend(range);
    let searched = sandbox.run(&optimize).stdout_json();
    assert_eq!(
        searched["ranges"],
        serde_json::json!({"period": "5..30", "lower": "20..40:5", "upper": "60..80:5"})
    );
    assert_eq!(searched["evaluated"], 26 * 5 * 5);

    let help = sandbox.run(&["backtest", "--help"]);
    for default in [
        "sma-cross     fast=50 slow=200",
        "rsi           period=14 lower=30 upper=70",
    ] {
        assert!(help.stdout.contains(default), "{default}:\n{}", help.stdout);
    }
}

#[test]
fn a_split_search_labels_its_out_of_sample_columns_on_every_path() {
    let sandbox = Sandbox::new();
    for strategy in ["sma-cross", "ema-cross"] {
        let run = sandbox.run(&[
            "optimize",
            "AAPL",
            "--strategy",
            strategy,
            "--fast",
            "5..10",
            "--slow",
            "20..30",
            "--start",
            "2010-01-01",
            "--end",
            "2020-12-31",
            "--train-until",
            "2018-12-31",
        ]);
        run.expect_code(0);
        let split = run
            .stdout
            .lines()
            .find(|line| line.starts_with("In-sample:"))
            .unwrap_or_else(|| panic!("no split line:\n{}", run.stdout));
        // 2019 and 2020 held 252 and 253 sessions.
        assert!(split.ends_with("the 505 bars after it"), "{split}");
        let header = run
            .stdout
            .lines()
            .find(|line| line.trim_start().starts_with("rank"))
            .unwrap_or_else(|| panic!("no header:\n{}", run.stdout));
        let labels: Vec<&str> = header.split_whitespace().collect();
        assert_eq!(
            labels,
            [
                "rank", "fast", "slow", "sharpe", "return", "max", "dd", "trades", "OOS", "Sharpe",
                "OOS", "return"
            ],
            "{strategy}: {header}"
        );
        let first_row: Vec<&str> = run
            .stdout
            .lines()
            .find(|line| line.trim_start().starts_with("1 "))
            .map(|line| line.split_whitespace().collect())
            .unwrap_or_default();
        // rank, fast, slow, sharpe, return, max dd, trades, OOS Sharpe, OOS return.
        assert_eq!(
            first_row.len(),
            9,
            "a value under each label: {first_row:?}"
        );
    }
}

/// A Yahoo chart answer for AAPL with one bar per weekday from `first` to `last`.
fn recent_chart(first: chrono::NaiveDate, last: chrono::NaiveDate) -> String {
    let days: Vec<chrono::NaiveDate> = first
        .iter_days()
        .take_while(|day| *day <= last)
        .filter(|day| chrono::Datelike::weekday(day).number_from_monday() <= 5)
        .collect();
    // 14:30 UTC: the opening bell in New York in winter, when Yahoo stamps daily bars.
    let stamps: Vec<i64> = days
        .iter()
        .filter_map(|day| day.and_hms_opt(14, 30, 0))
        .map(|time| time.and_utc().timestamp())
        .collect();
    let prices: Vec<f64> = (0..days.len()).map(|i| 100.0 + i as f64).collect();
    let mut chart: serde_json::Value = serde_json::from_str(include_str!(
        "../../../upstream/tests/fixtures/yahoo_aapl_split.json"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let result = &mut chart["chart"]["result"][0];
    result["timestamp"] = serde_json::json!(stamps);
    result["events"] = serde_json::json!({});
    result["indicators"] = serde_json::json!({
        "quote": [{"open": prices, "high": prices, "low": prices, "close": prices,
                   "volume": vec![1_000; days.len()]}],
        "adjclose": [{"adjclose": prices}],
    });
    chart.to_string()
}

/// The dates in "ran on the cached bars without 2026-12-02..2026-12-04, 2026-12-07 (...": every
/// `YYYY-MM-DD` before the parenthesised reason.
fn days_named_missing(warning: &str) -> Vec<chrono::NaiveDate> {
    let named = warning.split(" (").next().unwrap_or_default();
    named
        .split([' ', ',', '.'])
        .filter_map(|word| chrono::NaiveDate::parse_from_str(word, "%Y-%m-%d").ok())
        .collect()
}

#[test]
fn a_cached_symbol_stays_usable_when_the_provider_is_down() {
    let today = chrono::Utc::now().date_naive();
    let first = today - chrono::Duration::days(60);
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v8/finance/chart/AAPL"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                recent_chart(first, today - chrono::Duration::days(4)),
                "application/json",
            ))
            .mount(&server)
            .await;
        server
    });
    let sandbox = Sandbox::new();
    let start = first.to_string();
    with_defaults(&sandbox, &server.uri(), &["get", "AAPL", "--start", &start]).expect_code(0);

    // Yahoo is gone: the backtest runs on the cached bars and names the days they lack. (Those
    // days were asked for a moment ago; freshness 0 makes them due again at once.)
    let backtest = [
        "backtest",
        "AAPL",
        "--param",
        "fast=2",
        "--param",
        "slow=5",
        "--start",
        &start,
        "--freshness",
        "0s",
    ];
    let run = with_defaults(&sandbox, CLOSED_LOCAL_URL, &backtest);
    run.expect_code(0);
    let warning = run
        .stderr
        .lines()
        .find(|line| line.starts_with("warning: ran on the cached bars without"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(warning.contains("could not be reached"), "{warning}");
    // The days named run from after the cached end up to the last trading day so far: today on a
    // trading day, the Friday before on a weekend, the day before on a holiday.
    let last_named = days_named_missing(warning)
        .last()
        .copied()
        .unwrap_or_else(|| panic!("no days named: {warning}"));
    let cached_end = today - chrono::Duration::days(4);
    assert!(
        last_named > cached_end && last_named <= today,
        "{last_named} is not a missing recent day: {warning}"
    );
    assert!(run.stdout.contains("from yahoo"), "{}", run.stdout);

    let mut strict = backtest.to_vec();
    strict.push("--strict");
    let refused = with_defaults(&sandbox, CLOSED_LOCAL_URL, &strict);
    refused.expect_code(1);
    assert!(refused.stderr.contains("--offline"), "{}", refused.stderr);

    let mut offline = backtest.to_vec();
    offline.push("--offline");
    let served = with_defaults(&sandbox, CLOSED_LOCAL_URL, &offline);
    served.expect_code(0);
    assert!(served.stderr.contains("(offline)"), "{}", served.stderr);

    // Years missing are not "the last few days": that still fails.
    let early = [
        "backtest",
        "AAPL",
        "--param",
        "fast=2",
        "--param",
        "slow=5",
        "--start",
        "2020-01-01",
    ];
    with_defaults(&sandbox, CLOSED_LOCAL_URL, &early).expect_code(1);
}

#[test]
fn stats_of_a_symbol_lists_its_market_and_the_splits_and_dividends_stored() {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let server = yahoo_mock(&runtime);
    let sandbox = Sandbox::new();
    let mut get = vec!["get", "AAPL"];
    get.extend(RANGE);
    with_defaults(&sandbox, &server.uri(), &get).expect_code(0);

    let text = with_defaults(&sandbox, &server.uri(), &["stats", "--symbol", "AAPL"]);
    text.expect_code(0);
    for expected in [
        "Market: XNYS (America/New_York, NYSE calendar)",
        "yahoo       ",
        "raw (as traded)",
        "Splits and dividends (2):",
        // Yahoo states the dividend in post-split terms (0.205); it is stored as paid then.
        "2020-08-07  dividend 0.82",
        "2020-08-31  split 4:1",
    ] {
        assert!(
            text.stdout.contains(expected),
            "{expected}:\n{}",
            text.stdout
        );
    }
    let lines: Vec<&str> = text.stdout.lines().collect();
    let split = lines.iter().find(|line| line.contains("split 4:1"));
    assert!(
        split.is_some_and(|line| line.trim_end().ends_with("yahoo")),
        "{lines:?}"
    );

    let json = with_defaults(
        &sandbox,
        &server.uri(),
        &["stats", "--symbol", "AAPL", "--json"],
    );
    json.expect_code(0);
    let value = json.stdout_json();
    assert_eq!(value["exchange"]["code"], "XNYS");
    assert_eq!(value["spans"][0]["basis"], "raw");
    assert_eq!(value["exchange"]["calendar"], "nyse");
    assert_eq!(
        value["actions"],
        serde_json::json!([
            {"ex_date": "2020-08-07", "kind": "dividend", "cash": 0.82, "provider": "yahoo"},
            {"ex_date": "2020-08-31", "kind": "split", "ratio": 4.0, "provider": "yahoo"},
        ])
    );
}
