//! Loads the vectorbt fixture series (used by the tests and, through `#[path]`, the bench).

use std::path::PathBuf;

use chrono::NaiveDate;
use marketcache_domain::Bar;

/// The folder of the vectorbt cross-check fixture, in the repository (see its README.md).
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectorbt-sma")
}

/// One row of `AAPL.csv`.
#[derive(Debug, serde::Deserialize)]
struct Row {
    date: NaiveDate,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: u64,
}

/// The 9,067 bars of `AAPL.csv`, each through `Bar::try_new`; panics loudly if the file is missing.
pub fn aapl_bars() -> Vec<Bar> {
    let path = fixture_dir().join("AAPL.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| {
        panic!(
            "the vectorbt fixture {} is missing or unreadable: {e}",
            path.display()
        )
    });
    reader
        .deserialize::<Row>()
        .map(|row| {
            let row = row.unwrap_or_else(|e| panic!("{}: bad row: {e}", path.display()));
            Bar::try_new(row.date, row.open, row.high, row.low, row.close, row.volume)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}
