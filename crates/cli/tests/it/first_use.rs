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
