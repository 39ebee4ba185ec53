//! The provider down (connections refused, every answer a 5xx, or no answer in time): what is
//! cached is still
//! served, what is missing is reported, and nothing is recorded as covered that was not
//! answered.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{CLOSED_LOCAL_URL, Sandbox, csv_rows};

/// Yahoo's chart answer for AAPL in August 2020 (six sessions, 2020-08-07..2020-09-02).
const CHART: &str = include_str!("../../../upstream/tests/fixtures/yahoo_aapl_split.json");

fn yahoo_at(sandbox: &Sandbox, url: &str, args: &[&str]) -> crate::support::Run {
    sandbox.output(
        sandbox
            .command()
            .env("MARKETCACHE_YAHOO_URL", url)
            // A provider that does not answer is given up on within seconds.
            .env("MARKETCACHE_UPSTREAM_TIMEOUT", "300ms")
            .args(["--database-url", &sandbox.db_url(), "--provider", "yahoo"])
            .args(args),
    )
}

#[test]
fn with_the_provider_down_the_cache_serves_what_it_has_and_records_nothing_more() {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let (up, failing, silent) = runtime.block_on(async {
        let up = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v8/finance/chart/AAPL"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(CHART, "application/json"))
            .mount(&up)
            .await;
        let failing = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).set_body_raw("upstream down", "text/plain"))
            .mount(&failing)
            .await;
        let silent = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(CHART, "application/json")
                    .set_delay(std::time::Duration::from_secs(5)),
            )
            .mount(&silent)
            .await;
        (up, failing, silent)
    });
    let sandbox = Sandbox::new();
    let august = ["--start", "2020-08-03", "--end", "2020-09-04"];
    let mut get_august = vec!["get", "AAPL"];
    get_august.extend(august);
    yahoo_at(&sandbox, &up.uri(), &get_august).expect_code(0);
    let ledger = |url: &str| {
        let run = yahoo_at(&sandbox, url, &["stats", "--symbol", "AAPL", "--json"]);
        run.expect_code(0);
        run.stdout_json()["spans"].clone()
    };
    let ledger_before = ledger(&up.uri());

    let wider = [
        "get",
        "AAPL",
        "--start",
        "2020-06-01",
        "--end",
        "2020-09-04",
    ];
    for (down, how) in [
        (CLOSED_LOCAL_URL.to_string(), "refused"),
        (failing.uri(), "5xx"),
        (silent.uri(), "time-out"),
    ] {
        // The cached range is served without asking.
        let cached = yahoo_at(&sandbox, &down, &get_august);
        cached.expect_code(0);
        assert_eq!(
            csv_rows(&cached.stdout).len(),
            6,
            "{how}: {}",
            cached.stderr
        );
        // A range reaching beyond it fails, naming the provider and pointing to --offline.
        let beyond = yahoo_at(&sandbox, &down, &wider);
        assert_eq!(beyond.code, Some(1), "{how}: {}", beyond.stderr);
        assert!(beyond.stderr.contains("yahoo"), "{how}: {}", beyond.stderr);
        assert!(
            beyond.stderr.contains("--offline"),
            "{how}: {}",
            beyond.stderr
        );
        // Offline, the cached part is served and the rest reported missing.
        let mut offline = wider.to_vec();
        offline.push("--offline");
        let served = yahoo_at(&sandbox, &down, &offline);
        served.expect_code(0);
        assert_eq!(csv_rows(&served.stdout).len(), 6, "{how}");
        assert!(
            served.stderr.contains("missing"),
            "{how}: {}",
            served.stderr
        );
        // Nothing was recorded as covered.
        assert_eq!(ledger(&down), ledger_before, "{how}");
    }
    let asked_failing = runtime
        .block_on(failing.received_requests())
        .unwrap_or_default()
        .len();
    assert!(asked_failing >= 1, "the failing provider was never asked");
}
