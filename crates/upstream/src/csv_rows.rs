//! Daily rows from CSV text, for the providers that send or keep CSV (Stooq's downloads, the
//! user's files): the header names the columns (in any case, in any order, other columns
//! ignored) and every row goes through [`BarBuilder`], so bad rows are dropped and counted.

use chrono::NaiveDate;
use marketcache_domain::{DateRange, FetchedBars};

use crate::rows::{BarBuilder, RawRow, parse_decimal};

/// Where each column of interest is in a header row.
struct Columns {
    date: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
}

impl Columns {
    /// The columns of a header row, or which one it lacks.
    fn of(header: &csv::StringRecord) -> Result<Columns, String> {
        let find = |names: &[&str]| {
            header
                .iter()
                .position(|cell| names.iter().any(|name| cell.eq_ignore_ascii_case(name)))
        };
        let needed = |name: &str| find(&[name]).ok_or_else(|| format!("no {name} column"));
        Ok(Columns {
            // yfinance's newer layout names the price columns in a row starting `Price`, then
            // has a `Ticker` row and a `Date` row before the data.
            date: find(&["date", "datetime", "timestamp", "price"]).ok_or("no date column")?,
            open: needed("open")?,
            high: needed("high")?,
            low: needed("low")?,
            close: needed("close")?,
            volume: find(&["volume"]),
        })
    }

    fn row(&self, record: &csv::StringRecord, date: NaiveDate) -> RawRow {
        let number = |index: usize| {
            record
                .get(index)
                .filter(|cell| !cell.is_empty())
                .map(parse_decimal)
        };
        RawRow {
            date,
            open: number(self.open),
            high: number(self.high),
            low: number(self.low),
            close: number(self.close),
            volume: self.volume.and_then(number),
        }
    }
}

/// The trading date a cell names: `YYYY-MM-DD`, alone or followed by a time and zone (the
/// local date of the session, as yfinance writes it), or `YYYYMMDD`.
fn date_of(cell: &str) -> Option<NaiveDate> {
    let day = cell.get(..10).unwrap_or(cell);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(cell, "%Y%m%d"))
        .ok()
}

/// The rows of CSV `input` within `range`; `shown` names the input in rejection reasons. An
/// input without a usable header is an error saying what the first line lacks.
pub(crate) fn read_rows(
    input: impl std::io::Read,
    shown: &str,
    range: DateRange,
) -> Result<FetchedBars, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut records = reader.records();
    let columns = match records.next() {
        None => return Err("no header row".to_string()),
        Some(Err(error)) => return Err(error.to_string()),
        Some(Ok(header)) => Columns::of(&header).map_err(|why| format!("line 1: {why}"))?,
    };
    let mut builder = BarBuilder::new(range);
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                builder.reject(None, format!("{shown}: unreadable CSV row: {error}"));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        let cell = record.get(columns.date).unwrap_or_default();
        match date_of(cell) {
            Some(date) => builder.push(columns.row(&record, date)),
            // The `Ticker` and `Date` rows under yfinance's newer header hold no bar.
            None if cell.eq_ignore_ascii_case("ticker") || cell.eq_ignore_ascii_case("date") => {}
            None => builder.reject(
                None,
                format!("{shown} line {line}: date {cell:?} is not a date"),
            ),
        }
    }
    Ok(builder.finish())
}
