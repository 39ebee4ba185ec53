//! The bars of a response as Arrow columns, and as Parquet or Arrow IPC file bytes, for the
//! command line, the API and every later consumer alike (pandas, polars and pyarrow read both).
//!
//! One schema everywhere: `date` (Arrow `Date32`), `open`, `high`, `low`, `close` (`Float64`),
//! `volume` (`Int64`, the stores' own type), none of them nullable, an `adj_close` column
//! (`Float64`, the close adjusted for splits and dividends) after `close` when the read asked for
//! it, and a leading `symbol` (`Utf8`) column when several symbols share a file (long form); the
//! symbols, the price basis and the adjustment travel as schema metadata, so a file says what
//! its prices are.

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use chrono::NaiveDate;
use marketcache_domain::{Adjustment, Bar};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::SymbolBars;

/// Why bars could not be written as columns.
#[derive(Debug, thiserror::Error)]
pub enum ColumnarError {
    #[error("building the Arrow columns failed")]
    Arrow(#[from] ArrowError),
    #[error("writing Parquet failed")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The responses of one request (one symbol or several), with the adjustment they were read
/// with, as the file's metadata says it.
#[derive(Debug, Clone, Copy)]
pub struct Described<'a> {
    pub responses: &'a [SymbolBars],
    pub adjust: Adjustment,
}

/// Whether every response carries its adjusted closes, and so the file an `adj_close` column.
fn with_adj_close(described: Described<'_>) -> bool {
    !described.responses.is_empty()
        && described
            .responses
            .iter()
            .all(|response| response.adj_close.is_some())
}

/// Days from 1970-01-01, Arrow's `Date32`.
pub fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Whether the file holds several symbols, and so a `symbol` column.
fn long_form(described: Described<'_>) -> bool {
    described.responses.len() > 1
}

/// The schema of every file of bars, with `described`'s metadata.
fn schema(described: Described<'_>) -> Schema {
    let symbols: Vec<&str> = described
        .responses
        .iter()
        .map(|response| response.symbol.as_str())
        .collect();
    let basis = described
        .responses
        .first()
        .map_or("raw", |response| response.report.basis.code());
    let metadata: std::collections::HashMap<String, String> = [
        ("symbol", symbols.join(",")),
        ("basis", basis.to_string()),
        ("adjust", described.adjust.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (format!("marketcache.{key}"), value))
    .collect();
    let price = |name: &str| Field::new(name, DataType::Float64, false);
    let symbol = long_form(described).then(|| Field::new("symbol", DataType::Utf8, false));
    let fields: Vec<Field> = symbol
        .into_iter()
        .chain([
            Field::new("date", DataType::Date32, false),
            price("open"),
            price("high"),
            price("low"),
            price("close"),
        ])
        .chain(with_adj_close(described).then(|| price("adj_close")))
        .chain([Field::new("volume", DataType::Int64, false)])
        .collect();
    Schema::new(fields).with_metadata(metadata)
}

/// The bars as one Arrow record batch, built once, column by column.
pub fn bars_batch(described: Described<'_>) -> Result<RecordBatch, ArrowError> {
    let bars: Vec<&Bar> = described
        .responses
        .iter()
        .flat_map(|response| &response.bars)
        .collect();
    let prices = |pick: fn(&Bar) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(
            bars.iter().map(|bar| pick(bar)).collect::<Vec<f64>>(),
        ))
    };
    let symbols = long_form(described).then(|| {
        let names = described.responses.iter().flat_map(|response| {
            std::iter::repeat_n(response.symbol.as_str(), response.bars.len())
        });
        Arc::new(StringArray::from_iter_values(names)) as ArrayRef
    });
    let adj_close = with_adj_close(described).then(|| {
        let closes = described
            .responses
            .iter()
            .flat_map(|response| response.adj_close.iter().flatten().copied());
        Arc::new(Float64Array::from_iter_values(closes)) as ArrayRef
    });
    let volumes: ArrayRef = Arc::new(Int64Array::from(
        bars.iter()
            .map(|bar| i64::try_from(bar.volume).unwrap_or(i64::MAX))
            .collect::<Vec<i64>>(),
    ));
    let columns: Vec<ArrayRef> = symbols
        .into_iter()
        .chain([
            Arc::new(Date32Array::from_iter_values(
                bars.iter().map(|bar| days_since_epoch(bar.date)),
            )) as ArrayRef,
            prices(|bar| bar.open),
            prices(|bar| bar.high),
            prices(|bar| bar.low),
            prices(|bar| bar.close),
        ])
        .chain(adj_close)
        .chain([volumes])
        .collect();
    RecordBatch::try_new(Arc::new(schema(described)), columns)
}

/// The bars as a Parquet file (Snappy-compressed, one row group).
pub fn bars_parquet(described: Described<'_>) -> Result<Vec<u8>, ColumnarError> {
    let batch = bars_batch(described)?;
    // Parquet readers show the file's key-value metadata, not the Arrow schema's.
    let metadata = batch
        .schema()
        .metadata()
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
        .collect();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(metadata))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}

/// The bars as an Arrow IPC file (what `pyarrow.ipc.open_file` and `pyarrow.feather` read).
pub fn bars_arrow_ipc(described: Described<'_>) -> Result<Vec<u8>, ColumnarError> {
    let batch = bars_batch(described)?;
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema())?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FetchReport;
    use arrow_array::Array;
    use marketcache_domain::Symbol;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn response() -> SymbolBars {
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 1, d).unwrap_or_default();
        let bar = |d: u32, close: f64, volume: u64| {
            Bar::try_new(day(d), close, close + 1.0, close - 1.0, close, volume)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        SymbolBars {
            symbol: Symbol::parse("AAPL").unwrap_or_else(|e| panic!("{e}")),
            bars: vec![bar(2, 185.64, 82_488_700), bar(3, 184.25, 58_414_500)],
            report: FetchReport::default(),
            adj_close: None,
        }
    }

    #[test]
    fn parquet_and_arrow_files_read_back_as_the_bars_with_their_metadata() {
        let response = response();
        let described = Described {
            responses: std::slice::from_ref(&response),
            adjust: Adjustment::Splits,
        };
        let parquet = bars_parquet(described).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&parquet[..4], b"PAR1");
        let mut file = tempfile::tempfile().unwrap_or_else(|e| panic!("{e}"));
        std::io::Write::write_all(&mut file, &parquet).unwrap_or_else(|e| panic!("{e}"));
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
        let named = |key: &str| {
            builder
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .into_iter()
                .flatten()
                .find(|pair| pair.key == key)
                .and_then(|pair| pair.value.clone())
        };
        assert_eq!(named("marketcache.symbol").as_deref(), Some("AAPL"));
        assert_eq!(named("marketcache.basis").as_deref(), Some("raw"));
        assert_eq!(named("marketcache.adjust").as_deref(), Some("splits"));
        let batches: Vec<RecordBatch> = builder
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = bars_batch(described).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].columns(), expected.columns());

        let ipc = bars_arrow_ipc(described).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&ipc[..6], b"ARROW1");
        let mut reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(ipc), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = reader
            .next()
            .unwrap_or_else(|| panic!("no batch"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch, expected);
        let dates = batch
            .column(0)
            .as_any()
            .downcast_ref::<Date32Array>()
            .map(|dates| dates.value_as_date(0));
        assert_eq!(dates.flatten(), NaiveDate::from_ymd_opt(2024, 1, 2));
        assert_eq!(batch.column(5).len(), 2);
    }

    #[test]
    fn adjusted_closes_are_a_column_after_close_when_every_response_has_them() {
        let mut response = response();
        response.adj_close = Some(vec![180.5, 184.25]);
        let one = Described {
            responses: std::slice::from_ref(&response),
            adjust: Adjustment::Splits,
        };
        let batch = bars_batch(one).unwrap_or_else(|e| panic!("{e}"));
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "date",
                "open",
                "high",
                "low",
                "close",
                "adj_close",
                "volume"
            ]
        );
        let adjusted = batch
            .column(5)
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|column| column.values().to_vec());
        assert_eq!(adjusted, Some(vec![180.5, 184.25]));
        // A column only some symbols could fill would be half empty: all or none have it.
        let mut other = self::response();
        other.symbol = Symbol::parse("MSFT").unwrap_or_else(|e| panic!("{e}"));
        let both = [response, other];
        let mixed = Described {
            responses: &both,
            adjust: Adjustment::Splits,
        };
        let batch = bars_batch(mixed).unwrap_or_else(|e| panic!("{e}"));
        assert!(batch.schema().field_with_name("adj_close").is_err());
    }
}
