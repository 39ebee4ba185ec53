//! A folder of `SYMBOL.csv` files (date,open,high,low,close,volume) acting as an upstream.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::NaiveDate;
use marketcache_domain::{
    Bar, Dataset, DateRange, FetchedBars, PriceSource, SourceError, SourceLimits, Symbol,
};
use serde::Deserialize;

/// Reads bars from `<folder>/<SYMBOL>.csv`; a symbol can never name a file outside the folder.
#[derive(Debug, Clone)]
pub struct CsvSource {
    folder: PathBuf,
}

#[derive(Deserialize)]
struct CsvRow {
    date: String,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

impl CsvSource {
    /// A source over `folder`, which must exist.
    pub fn new(folder: impl AsRef<Path>) -> Result<Self, SourceError> {
        let folder = folder
            .as_ref()
            .canonicalize()
            .map_err(|e| SourceError::Configuration {
                provider: "csv".to_string(),
                message: format!("csv folder {} is unusable: {e}", folder.as_ref().display()),
            })?;
        Ok(Self { folder })
    }

    fn file_of(&self, symbol: &Symbol) -> Result<PathBuf, SourceError> {
        let not_found = || SourceError::NotFound {
            provider: "csv".to_string(),
            symbol: symbol.to_string(),
        };
        let candidate = self.folder.join(format!("{}.csv", symbol.as_str()));
        let resolved = candidate.canonicalize().map_err(|_| not_found())?;
        // Symbols cannot hold a slash, but a symlink inside the folder could still point away.
        if resolved.parent() != Some(self.folder.as_path()) {
            return Err(not_found());
        }
        Ok(resolved)
    }
}

fn read_bars(path: &Path, range: DateRange) -> Result<Vec<Bar>, SourceError> {
    let decode = |message: String| SourceError::Decode {
        provider: "csv".to_string(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| decode(e.to_string()))?;
    let mut bars = Vec::new();
    for (index, row) in reader.deserialize::<CsvRow>().enumerate() {
        let line = index + 2;
        let row = row.map_err(|e| decode(format!("{}: line {line}: {e}", path.display())))?;
        let date = NaiveDate::parse_from_str(&row.date, "%Y-%m-%d").map_err(|_| {
            decode(format!(
                "{}: line {line}: date '{}' is not YYYY-MM-DD",
                path.display(),
                row.date
            ))
        })?;
        if !range.contains(date) {
            continue;
        }
        if !(row.volume.is_finite() && row.volume >= 0.0) {
            return Err(decode(format!(
                "{}: line {line}: volume must be a number >= 0",
                path.display()
            )));
        }
        let bar = Bar::try_new(
            date,
            row.open,
            row.high,
            row.low,
            row.close,
            row.volume.round() as u64,
        )
        .map_err(|e| decode(format!("{}: line {line}: {e}", path.display())))?;
        bars.push(bar);
    }
    bars.sort_by_key(|bar| bar.date);
    bars.dedup_by_key(|bar| bar.date);
    Ok(bars)
}

#[async_trait]
impl PriceSource for CsvSource {
    fn name(&self) -> &str {
        "csv"
    }

    fn dataset(&self) -> Dataset {
        Dataset::Csv
    }

    fn limits(&self) -> SourceLimits {
        // A file holds its whole history, so one request per symbol is always enough.
        SourceLimits::unmetered(366 * 200, 4)
    }

    async fn fetch(&self, symbol: &Symbol, range: DateRange) -> Result<FetchedBars, SourceError> {
        let path = self.file_of(symbol)?;
        tokio::task::spawn_blocking(move || read_bars(&path, range))
            .await
            .map_err(|e| SourceError::Decode {
                provider: "csv".to_string(),
                message: e.to_string(),
            })?
            .map(FetchedBars::from_bars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[tokio::test]
    async fn reads_the_requested_days_of_a_symbol_file() {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            folder.path().join("ABC.csv"),
            "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11,200\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let source = CsvSource::new(folder.path()).unwrap_or_else(|e| panic!("{e}"));
        let symbol = Symbol::parse("abc").unwrap_or_else(|e| panic!("{e}"));
        let range =
            DateRange::new(date(2024, 1, 3), date(2024, 1, 31)).unwrap_or_else(|e| panic!("{e}"));
        let bars = source
            .fetch_daily_bars(&symbol, range)
            .await
            .unwrap_or_default();
        assert_eq!(bars.len(), 1);
        assert_eq!(
            bars.first().map(|b| (b.date, b.close, b.volume)),
            Some((date(2024, 1, 3), 11.0, 200))
        );
    }

    #[tokio::test]
    async fn missing_files_and_escaping_names_are_not_found() {
        let outer = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let folder = outer.path().join("data");
        std::fs::create_dir(&folder).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            outer.path().join("..csv"),
            "date,open,high,low,close,volume\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let source = CsvSource::new(&folder).unwrap_or_else(|e| panic!("{e}"));
        let range =
            DateRange::new(date(2024, 1, 1), date(2024, 1, 31)).unwrap_or_else(|e| panic!("{e}"));
        for name in ["MISSING", "."] {
            let symbol = Symbol::parse(name).unwrap_or_else(|e| panic!("{e}"));
            let result = source.fetch_daily_bars(&symbol, range).await;
            assert!(
                matches!(result, Err(SourceError::NotFound { .. })),
                "{name}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_row_breaking_a_bar_rule_is_a_decode_error_naming_the_line() {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            folder.path().join("BAD.csv"),
            "date,open,high,low,close,volume\n2024-01-02,10,9,9,10.5,100\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let source = CsvSource::new(folder.path()).unwrap_or_else(|e| panic!("{e}"));
        let symbol = Symbol::parse("BAD").unwrap_or_else(|e| panic!("{e}"));
        let range =
            DateRange::new(date(2024, 1, 1), date(2024, 1, 31)).unwrap_or_else(|e| panic!("{e}"));
        let message = source
            .fetch_daily_bars(&symbol, range)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("line 2"), "{message}");
    }
}
