use crate::support::Sandbox;

#[test]
fn demo_runs_offline_and_measures_the_speed_up() {
    let sandbox = Sandbox::new();

    let run = sandbox.run_bare(&["demo", "--latency-ms", "0"]);
    run.expect_code(0);

    for expected in [
        "0 ms per request",
        "Market Data Cache Migration",
        "Step 1: warm 9 tickers",
        "cold and cached",
        "API calls",
        "Speed-up:",
        "bytes per bar",
    ] {
        assert!(
            run.stdout.contains(expected),
            "demo output lacks {expected:?}:\n{}",
            run.stdout
        );
    }
    for ticker in [
        "AAPL", "GOOGL", "NVDA", "AMD", "ARM", "MSFT", "AVGO", "TSLA", "TQQQ",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|line| line.trim_start().starts_with(ticker) && line.contains("bars")),
            "no warm line for {ticker}:\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("failed"), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.contains("Subsequent runs:") && line.contains(" 0 API calls")),
        "{}",
        run.stdout
    );

    // The demo never touches the user's cache; its own database is gone afterwards.
    assert!(!sandbox.default_db_path().exists());
    let left_over: Vec<_> = std::fs::read_dir(sandbox.join("tmp"))
        .unwrap_or_else(|e| panic!("{e}"))
        .collect();
    assert!(left_over.is_empty(), "the demo left {left_over:?} behind");
}
