//! End to end against a local mock of Yahoo's chart API: a warm of three symbols where one is
//! unknown and one is throttled once.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Sandbox, csv_rows, table_row};

/// A chart answer shaped exactly like Yahoo's (the shared reference's AAPL capture around the
/// 2020 4:1 split), for `symbol`.
fn chart(symbol: &str) -> String {
    include_str!("../../../upstream/tests/fixtures/yahoo_aapl_split.json")
        .replace("\"symbol\": \"AAPL\"", &format!("\"symbol\": \"{symbol}\""))
}

const NOT_FOUND: &str = include_str!("../../../upstream/tests/fixtures/yahoo_not_found.json");

#[test]
fn a_warm_against_yahoo_stores_the_known_reports_the_unknown_and_rides_out_a_throttle() {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        for symbol in ["AAPL", "MSFT"] {
            Mock::given(method("GET"))
                .and(path(format!("/v8/finance/chart/{symbol}")))
                .respond_with(
                    ResponseTemplate::new(200).set_body_raw(chart(symbol), "application/json"),
                )
                .mount(&server)
                .await;
        }
        // MSFT is throttled once before the answer above; this mock wins while it lasts.
        Mock::given(method("GET"))
            .and(path("/v8/finance/chart/MSFT"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "1")
                    .set_body_raw("Edge: Too Many Requests", "text/plain"),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v8/finance/chart/ZZGONE"))
            .respond_with(ResponseTemplate::new(404).set_body_raw(NOT_FOUND, "application/json"))
            .mount(&server)
            .await;
        server
    });
    let sandbox = Sandbox::new();
    let yahoo = |args: &[&str]| {
        sandbox.output(
            sandbox
                .command()
                .env("MARKETCACHE_YAHOO_URL", server.uri())
                .args(["--database-url", &sandbox.db_url(), "--provider", "yahoo"])
                .args(args),
        )
    };
    let range = ["--start", "2020-08-03", "--end", "2020-09-04"];

    let mut args = vec!["warm", "AAPL", "ZZGONE", "MSFT"];
    args.extend(range);
    let warm = yahoo(&args);
    warm.expect_code(1);
    for symbol in ["AAPL", "MSFT"] {
        let row = table_row(&warm.stdout, symbol);
        assert_eq!(row[1], "ok", "{row:?}\n{}", warm.stdout);
        assert_eq!(row[2], "6", "{row:?}");
        assert_eq!((row[3], row[4]), ("2020-08-07", "2020-09-02"), "{row:?}");
    }
    let failed = table_row(&warm.stdout, "ZZGONE").join(" ");
    assert!(
        failed.contains("FAILED") && failed.contains("unknown"),
        "{failed}"
    );
    assert!(
        warm.stdout
            .contains("3 symbol(s): 2 ok, 1 failed; 12 bars in range"),
        "{}",
        warm.stdout
    );
    let requests = runtime
        .block_on(server.received_requests())
        .unwrap_or_default();
    let asked = |symbol: &str| {
        requests
            .iter()
            .filter(|request| request.url.path().ends_with(symbol))
            .count()
    };
    assert_eq!((asked("AAPL"), asked("MSFT"), asked("ZZGONE")), (1, 2, 1));

    // Stored raw: the bars before the 31 August ex-date are 4 times Yahoo's split-adjusted ones.
    let mut raw_args = vec!["get", "AAPL", "--adjust", "none", "--offline"];
    raw_args.extend(range);
    let raw = yahoo(&raw_args);
    raw.expect_code(0);
    let mut adjusted_args = vec!["get", "AAPL", "--offline"];
    adjusted_args.extend(range);
    let adjusted = yahoo(&adjusted_args);
    adjusted.expect_code(0);
    let close = |text: &str, date: &str| -> f64 {
        csv_rows(text)
            .into_iter()
            .find(|row| row[0] == date)
            .and_then(|row| row[4].parse().ok())
            .unwrap_or_else(|| panic!("no {date} in\n{text}"))
    };
    assert_eq!(close(&adjusted.stdout, "2020-08-28"), 124.8075);
    assert_eq!(close(&raw.stdout, "2020-08-28"), 124.8075 * 4.0);
    assert_eq!(
        close(&raw.stdout, "2020-09-01"),
        close(&adjusted.stdout, "2020-09-01")
    );
    let stats = yahoo(&["stats", "--json"]);
    stats.expect_code(0);
    let stats = stats.stdout_json();
    let aapl = stats["symbols"]
        .as_array()
        .and_then(|symbols| symbols.iter().find(|s| s["symbol"] == "AAPL"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        aapl["corporate_actions"], 2,
        "the split and the dividend: {aapl}"
    );
    assert!(
        stats["symbols"]
            .as_array()
            .is_some_and(|symbols| symbols.iter().all(|s| s["symbol"] != "ZZGONE")),
        "nothing stored for the unknown symbol"
    );
    let again = yahoo(&args);
    again.expect_code(1);
    assert_eq!(table_row(&again.stdout, "AAPL")[5], "0", "{}", again.stdout);
}
