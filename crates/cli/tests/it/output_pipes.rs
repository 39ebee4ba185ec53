//! Output into a pipe whose reader has gone (`marketcache stats | head`): the command ends
//! quietly with exit 0, as Unix tools do, never with a panic.

use std::process::Stdio;

use crate::support::{Run, Sandbox};

/// Runs `args` on the sandbox's database with stdout a pipe closed before anything is written.
fn run_into_closed_pipe(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut child = sandbox
        .command()
        .arg("--database-url")
        .arg(sandbox.db_url())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start marketcache: {e}"));
    // The reader goes away at once: every write the command makes meets a broken pipe.
    drop(child.stdout.take());
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("marketcache did not finish: {e}"));
    Run::from_output(output)
}

#[test]
fn text_json_and_tables_into_a_closed_pipe_end_quietly_with_exit_0() {
    let sandbox = Sandbox::new();
    sandbox.warm_2020(&["AAPL"]);
    for args in [
        &["providers"][..],
        &["stats"],
        &["stats", "--symbol", "AAPL", "--json"],
        &[
            "backtest",
            "AAPL",
            "--start",
            "2020-01-01",
            "--end",
            "2020-12-31",
        ],
        &[
            "optimize",
            "AAPL",
            "--start",
            "2020-01-01",
            "--end",
            "2020-12-31",
            "--json",
        ],
    ] {
        let run = run_into_closed_pipe(&sandbox, args);
        run.expect_code(0);
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("Broken pipe"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
