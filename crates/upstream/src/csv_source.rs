//! A folder of `SYMBOL.csv` files acting as an upstream. It reads the files users already
//! have: our own `date,open,high,low,close,volume`; yfinance's `to_csv`
//! (`Date,Open,High,Low,Close,Adj Close,Volume`, dates with or without a time and zone, and the
//! `Price` / `Ticker` header rows of newer versions); and Stooq's downloads (volume optional).
//! Column names are matched without regard to case; other columns are ignored.
//!
//! Rows follow the HTTP providers' rules ([`crate::rows`]): a row that is not a valid bar (a
//! bad date, NaN, a negative price, high below low, a volume that does not fit) is dropped and
//! counted, the later of two rows for one date is kept and the earlier counted, and a bar on a
//! day its market is closed is kept. Errors name the file by its name in the folder, never by
//! its path on the machine.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketcache_domain::{
    Dataset, DateRange, FetchedBars, PriceSource, SourceError, SourceLimits, Symbol,
};

const PROVIDER: &str = "csv";

/// Reads bars from `<folder>/<SYMBOL>.csv`; a symbol can never name a file outside the folder.
#[derive(Debug, Clone)]
pub struct CsvSource {
    folder: PathBuf,
}

impl CsvSource {
    /// A source over `folder`, which must exist.
    pub fn new(folder: impl AsRef<Path>) -> Result<Self, SourceError> {
        let folder = folder
            .as_ref()
            .canonicalize()
            .map_err(|e| SourceError::Configuration {
                provider: PROVIDER.to_string(),
                message: format!("csv folder {} is unusable: {e}", folder.as_ref().display()),
            })?;
        Ok(Self { folder })
    }

    /// The regular file holding `symbol`'s bars.
    fn file_of(&self, symbol: &Symbol) -> Result<PathBuf, SourceError> {
        let not_found = || SourceError::NotFound {
            provider: PROVIDER.to_string(),
            symbol: symbol.to_string(),
        };
        let candidate = self.folder.join(file_name(symbol));
        let resolved = candidate.canonicalize().map_err(|_| not_found())?;
        // Symbols cannot hold a slash, but a symlink inside the folder could still point away.
        if resolved.parent() != Some(self.folder.as_path()) {
            return Err(not_found());
        }
        if !resolved.metadata().is_ok_and(|meta| meta.is_file()) {
            return Err(SourceError::Configuration {
                provider: PROVIDER.to_string(),
                message: format!(
                    "{} in the csv folder is not a regular file",
                    file_name(symbol)
                ),
            });
        }
        Ok(resolved)
    }
}

fn file_name(symbol: &Symbol) -> String {
    format!("{}.csv", symbol.as_str())
}

/// The rows of `file` (named `shown` in errors) within `range`.
fn read_file(file: &Path, shown: &str, range: DateRange) -> Result<FetchedBars, SourceError> {
    let decode = |message: String| SourceError::Decode {
        provider: PROVIDER.to_string(),
        message: format!("{shown}: {message}"),
    };
    let input = std::fs::File::open(file).map_err(|e| decode(e.to_string()))?;
    crate::csv_rows::read_rows(input, shown, range).map_err(decode)
}

#[async_trait]
impl PriceSource for CsvSource {
    fn name(&self) -> &str {
        PROVIDER
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
        let shown = file_name(symbol);
        tokio::task::spawn_blocking(move || read_file(&path, &shown, range))
            .await
            .map_err(|e| SourceError::Decode {
                provider: PROVIDER.to_string(),
                message: e.to_string(),
            })?
    }

    /// The file's modification time: ranges read before it are read again.
    async fn changed_at(&self, symbol: &Symbol) -> Option<DateTime<Utc>> {
        let modified = self
            .file_of(symbol)
            .ok()?
            .metadata()
            .ok()?
            .modified()
            .ok()?;
        Some(DateTime::<Utc>::from(modified))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

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

    fn source_with(name: &str, text: &str) -> (tempfile::TempDir, CsvSource, Symbol) {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(folder.path().join(format!("{name}.csv")), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let source = CsvSource::new(folder.path()).unwrap_or_else(|e| panic!("{e}"));
        let symbol = Symbol::parse(name).unwrap_or_else(|e| panic!("{e}"));
        (folder, source, symbol)
    }

    fn january_2024() -> DateRange {
        DateRange::new(date(2024, 1, 1), date(2024, 1, 31)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn bad_rows_are_dropped_and_counted_and_the_later_of_two_rows_for_a_date_kept() {
        let (_folder, source, symbol) = source_with(
            "RULES",
            "date,open,high,low,close,volume\n\
             2024-01-02,10,11,9,10.5,100\n\
             2024-01-03,NaN,11,9,10.5,100\n\
             2024-01-04,-1,11,9,10.5,100\n\
             2024-01-05,10,9,11,10,100\n\
             2024-13-01,10,11,9,10.5,100\n\
             2024-01-08,10,11,9,10.5,1e30\n\
             2024-01-09,10,11,9,10.5\n\
             2024-01-10,10,11,9,10.5,100\n\
             2024-01-10,10,12,9,11.5,300\n\
             2024-01-13,10,11,9,10.5,50\n",
        );
        let answer = source
            .fetch(&symbol, january_2024())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let kept: Vec<(NaiveDate, f64, u64)> = answer
            .bars
            .iter()
            .map(|bar| (bar.date, bar.close, bar.volume))
            .collect();
        // A missing volume is 0; the Saturday bar is kept (days are the calendar's business
        // only when planning what to ask).
        assert_eq!(
            kept,
            [
                (date(2024, 1, 2), 10.5, 100),
                (date(2024, 1, 9), 10.5, 0),
                (date(2024, 1, 10), 11.5, 300),
                (date(2024, 1, 13), 10.5, 50),
            ]
        );
        let reasons: Vec<&str> = answer.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(answer.rejected.len(), 6, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("RULES.csv line 6") && r.contains("2024-13-01")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("too large")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("duplicate date")),
            "{reasons:?}"
        );
    }

    #[tokio::test]
    async fn yfinance_and_stooq_files_are_read_as_they_are_written() {
        let (_folder, source, symbol) = source_with(
            "YF",
            "Date,Open,High,Low,Close,Adj Close,Volume\n\
             2024-01-02 00:00:00-05:00,187.15,188.44,183.89,185.64,184.73,82488700\n\
             2024-01-03 00:00:00-05:00,184.22,185.88,183.43,184.25,183.35,58414500\n",
        );
        let bars = source
            .fetch_daily_bars(&symbol, january_2024())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bars.iter().map(|b| (b.date, b.close)).collect::<Vec<_>>(),
            [(date(2024, 1, 2), 185.64), (date(2024, 1, 3), 184.25)]
        );

        // yfinance 0.2.48 on: a Price row, a Ticker row and a Date row before the data.
        let (_folder, source, symbol) = source_with(
            "YFNEW",
            "Price,Close,High,Low,Open,Volume\n\
             Ticker,AAPL,AAPL,AAPL,AAPL,AAPL\n\
             Date,,,,,\n\
             2024-01-02,185.64,188.44,183.89,187.15,82488700\n",
        );
        let bars = source
            .fetch_daily_bars(&symbol, january_2024())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bars.iter()
                .map(|b| (b.date, b.open, b.close))
                .collect::<Vec<_>>(),
            [(date(2024, 1, 2), 187.15, 185.64)]
        );

        // Stooq: no volume column for currencies.
        let (_folder, source, symbol) = source_with(
            "EURUSD",
            "Date,Open,High,Low,Close\n2024-01-02,1.1038,1.1046,1.0937,1.0942\n",
        );
        let bars = source
            .fetch_daily_bars(&symbol, january_2024())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bars.iter().map(|b| b.volume).collect::<Vec<_>>(), [0]);
    }

    #[tokio::test]
    async fn a_folder_named_like_a_file_is_an_error_that_shows_no_path() {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(folder.path().join("DIR.csv")).unwrap_or_else(|e| panic!("{e}"));
        let source = CsvSource::new(folder.path()).unwrap_or_else(|e| panic!("{e}"));
        let symbol = Symbol::parse("DIR").unwrap_or_else(|e| panic!("{e}"));
        let error = source.fetch(&symbol, january_2024()).await.err();
        let shown = error.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            matches!(error, Some(SourceError::Configuration { .. }))
                && shown.contains("DIR.csv in the csv folder is not a regular file"),
            "{shown}"
        );
        let folder_text = folder.path().display().to_string();
        assert!(!shown.contains(&folder_text), "{shown}");
    }

    #[tokio::test]
    async fn a_file_without_the_price_columns_is_an_error_naming_the_column() {
        let (folder, source, symbol) =
            source_with("COLS", "date,open,high,low\n2024-01-02,1,1,1\n");
        let shown = source
            .fetch(&symbol, january_2024())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            shown.contains("COLS.csv: line 1: no close column"),
            "{shown}"
        );
        assert!(
            !shown.contains(&folder.path().display().to_string()),
            "{shown}"
        );
    }
}
