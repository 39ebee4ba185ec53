//! A sandbox per test: a temporary working directory with its own home, data and config
//! folders, and a clean environment, in which the real `marketcache` binary runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chrono::NaiveDate;
use marketcache_domain::{Bar, BarStore, Dataset, DateRange, Symbol};
use marketcache_store::SqliteStore;
use tempfile::TempDir;

/// Variables that would let the user's own configuration leak into a test.
const CLEARED_VARIABLES: [&str; 23] = [
    "DATABASE_URL",
    "MARKETCACHE_PROVIDER",
    "MARKETCACHE_CSV_DIR",
    "MARKETCACHE_SYNTHETIC_LATENCY_MS",
    "MARKETCACHE_SYNTHETIC_MAX_SPAN_DAYS",
    "MARKETCACHE_SYNTHETIC_CONCURRENCY",
    "MARKETCACHE_FRESHNESS",
    "MARKETCACHE_POOL_SIZE",
    "MARKETCACHE_UPSTREAM_TIMEOUT",
    "RUST_LOG",
    "POLYGON_API_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "TIINGO_API_KEY",
    "ALPHAVANTAGE_API_KEY",
    "STOOQ_API_KEY",
    "MARKETCACHE_YAHOO_URL",
    "MARKETCACHE_STOOQ_URL",
    "MARKETCACHE_POLYGON_URL",
    "MARKETCACHE_ALPACA_URL",
    "MARKETCACHE_TIINGO_URL",
    "MARKETCACHE_ALPHAVANTAGE_URL",
    // Any proxy would send the mock servers' requests elsewhere.
    "HTTP_PROXY",
];

/// A local address nothing listens on (the discard port): requests to it are refused at once.
pub const CLOSED_LOCAL_URL: &str = "http://127.0.0.1:9";

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The non-empty lines of standard error.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect()
    }

    /// Standard output parsed as JSON.
    #[track_caller]
    pub fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A temporary working directory and clean environment for one test.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir =
            tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"));
        for folder in ["home", "data", "config", "tmp"] {
            std::fs::create_dir_all(dir.path().join(folder))
                .unwrap_or_else(|e| panic!("cannot create {folder}: {e}"));
        }
        Self { dir }
    }

    /// The working directory of every run.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the working directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file inside the working directory.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// The SQLite file most tests use.
    pub fn db_path(&self) -> PathBuf {
        self.join("c.sqlite")
    }

    /// `sqlite://<sandbox>/c.sqlite`.
    pub fn db_url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }

    /// Where the binary puts its database when nothing names one.
    pub fn default_db_path(&self) -> PathBuf {
        self.join("data")
            .join("marketcache")
            .join("marketcache.sqlite")
    }

    /// The binary, with the sandbox as working directory and a clean environment.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_marketcache"));
        command
            .current_dir(self.path())
            .env("HOME", self.join("home"))
            .env("XDG_DATA_HOME", self.join("data"))
            .env("XDG_CONFIG_HOME", self.join("config"))
            .env("TMPDIR", self.join("tmp"))
            .stdin(Stdio::null());
        for name in CLEARED_VARIABLES {
            command.env_remove(name);
        }
        // Tests choose the offline provider explicitly (the default is Yahoo), and a test that
        // reaches Yahoo by mistake meets a closed local port, never the internet.
        command
            .env("MARKETCACHE_PROVIDER", "synthetic")
            .env("MARKETCACHE_YAHOO_URL", CLOSED_LOCAL_URL);
        command
    }

    /// Runs the binary with `args` only (no database named).
    pub fn run_bare(&self, args: &[&str]) -> Run {
        self.output(self.command().args(args))
    }

    /// Runs the binary on the sandbox's SQLite file.
    pub fn run(&self, args: &[&str]) -> Run {
        let url = self.db_url();
        self.output(self.command().arg("--database-url").arg(url).args(args))
    }

    /// Runs the binary on the sandbox's SQLite file, feeding `input` to standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command()
            .arg("--database-url")
            .arg(self.db_url())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start marketcache: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("cannot write to marketcache: {e}"));
        }
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("marketcache did not finish: {e}"));
        Run::from_output(output)
    }

    /// Runs a prepared command.
    pub fn output(&self, command: &mut Command) -> Run {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run marketcache: {e}"));
        Run::from_output(output)
    }

    /// Warms `symbols` over 2020 on the sandbox's database, expecting success.
    pub fn warm_2020(&self, symbols: &[&str]) {
        let mut args = vec!["warm"];
        args.extend_from_slice(symbols);
        args.extend_from_slice(&["--start", "2020-01-01", "--end", "2020-12-31"]);
        self.run(&args).expect_code(0);
    }

    /// The bars the sandbox's SQLite file holds for `symbol`, read directly from the store.
    pub fn stored_bars(&self, symbol: &str) -> Vec<Bar> {
        stored_bars(&self.db_path(), symbol)
    }

    /// `verify --against synthetic` of the database at `url`, comparing every covered chunk
    /// (up to 1,000 a symbol) with the provider: expects exit 0 and no problem.
    #[track_caller]
    pub fn verify_against_synthetic(&self, url: &str) -> Run {
        let args = [
            "--database-url",
            url,
            "verify",
            "--against",
            "synthetic",
            "--sample",
            "1000",
        ];
        let run = self.run_bare(&args);
        run.expect_code(0);
        assert!(run.stdout.contains(": 0 problem(s)"), "{}", run.stdout);
        run
    }

    /// `stats --json` of the sandbox's database.
    pub fn stats_json(&self) -> serde_json::Value {
        self.run(&["stats", "--json"]).expect_code(0).stdout_json()
    }
}

/// Starts a prepared command with both streams captured, to run beside others.
pub fn spawn(command: &mut Command) -> std::process::Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start marketcache: {e}"))
}

/// Waits for a started command and reads what it did.
pub fn finish(child: std::process::Child) -> Run {
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("marketcache did not finish: {e}"));
    Run::from_output(output)
}

/// A date from literal parts.
pub fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day)
        .unwrap_or_else(|| panic!("{year}-{month}-{day} is not a date"))
}

/// Every bar the synthetic provider stored for `symbol` in a SQLite file (the tests' provider).
pub fn stored_bars(path: &Path, symbol: &str) -> Vec<Bar> {
    stored_bars_of(path, symbol, Dataset::Synthetic)
}

/// Every bar a SQLite file holds for `symbol` in `dataset`, opened with the project's own store.
pub fn stored_bars_of(path: &Path, symbol: &str, dataset: Dataset) -> Vec<Bar> {
    assert!(path.is_file(), "{} does not exist", path.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let store = SqliteStore::open(path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let symbol = Symbol::parse(symbol)
            .unwrap_or_else(|e| panic!("{e}"))
            .stored_as(dataset);
        let everything =
            DateRange::new(day(1900, 1, 1), day(2100, 12, 31)).unwrap_or_else(|e| panic!("{e}"));
        store
            .read_bars(&symbol, everything)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The data rows of `date,open,high,low,close,volume` CSV, after checking the header.
#[track_caller]
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("date,open,high,low,close,volume"),
        "CSV header is wrong:\n{text}"
    );
    lines
        .map(|line| {
            let fields: Vec<String> = line.split(',').map(str::to_string).collect();
            assert_eq!(
                fields.len(),
                6,
                "CSV row has {} fields: {line}",
                fields.len()
            );
            fields
        })
        .collect()
}

/// The line of a `warm` table that starts with `symbol`, split on whitespace.
#[track_caller]
pub fn table_row<'a>(text: &'a str, symbol: &str) -> Vec<&'a str> {
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.first() == Some(&symbol))
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "expected one table row for {symbol} in:\n{text}"
    );
    rows.into_iter().next().unwrap_or_default()
}

/// The symbols `stats --json` lists.
pub fn stats_symbols(stats: &serde_json::Value) -> Vec<String> {
    stats["symbols"]
        .as_array()
        .map(|symbols| {
            symbols
                .iter()
                .filter_map(|s| s["symbol"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
