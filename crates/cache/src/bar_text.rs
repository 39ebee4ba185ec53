//! The bars of a response written straight into bytes, as JSON or CSV, for the API and the
//! command line alike.
//!
//! A 35-year series is 9,000 bars; through the generic serializers most of a response's time
//! went to formatting each date character by character and to growing the buffer. Here the
//! buffer is sized once, dates are written from their digits, and numbers go through
//! `serde_json`'s own formatting, so the JSON is byte for byte what `serde_json` would write
//! (a test holds that).

use chrono::NaiveDate;
use marketcache_domain::{Bar, IsoDate};

use crate::SymbolBars;

/// Bytes a bar takes at most in either form, in practice, so the buffer is sized once.
const BYTES_PER_BAR: usize = 120;

/// `response` as the JSON object `{"symbol", "bars": [{"date", "open", …}], "report"}`.
pub fn symbol_bars_json(response: &SymbolBars) -> Result<Vec<u8>, serde_json::Error> {
    symbol_bars_json_timed(response, true)
}

/// [`symbol_bars_json`] with the report's `elapsed_ms` left out (`timed` false), so the same
/// data is always the same bytes: what the API sends, with the time in a header.
pub fn symbol_bars_json_timed(
    response: &SymbolBars,
    timed: bool,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(BYTES_PER_BAR * response.bars.len() + 512);
    out.extend_from_slice(b"{\"symbol\":");
    serde_json::to_writer(&mut out, &response.symbol)?;
    out.extend_from_slice(b",\"bars\":[");
    for (index, bar) in response.bars.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let adj_close = response.adj_close.as_ref().and_then(|all| all.get(index));
        push_bar_json(&mut out, bar, adj_close.copied())?;
    }
    out.extend_from_slice(b"],\"report\":");
    if timed {
        serde_json::to_writer(&mut out, &response.report)?;
    } else {
        let mut report = serde_json::to_value(&response.report)?;
        if let Some(fields) = report.as_object_mut() {
            fields.remove("elapsed_ms");
        }
        serde_json::to_writer(&mut out, &report)?;
    }
    out.push(b'}');
    Ok(out)
}

fn push_bar_json(
    out: &mut Vec<u8>,
    bar: &Bar,
    adj_close: Option<f64>,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"date\":\"");
    push_date(out, bar.date);
    for (key, price) in [
        (&b"\",\"open\":"[..], bar.open),
        (b",\"high\":", bar.high),
        (b",\"low\":", bar.low),
        (b",\"close\":", bar.close),
    ] {
        out.extend_from_slice(key);
        serde_json::to_writer(&mut *out, &price)?;
    }
    if let Some(adj_close) = adj_close {
        out.extend_from_slice(b",\"adj_close\":");
        serde_json::to_writer(&mut *out, &adj_close)?;
    }
    out.extend_from_slice(b",\"volume\":");
    serde_json::to_writer(&mut *out, &bar.volume)?;
    out.push(b'}');
    Ok(())
}

/// The first line of the CSV form, with the `adj_close` column when the rows have it.
pub fn csv_header(adj_close: bool) -> &'static [u8] {
    if adj_close {
        b"date,open,high,low,close,adj_close,volume\n"
    } else {
        b"date,open,high,low,close,volume\n"
    }
}

/// One response's bars as CSV under [`csv_header`]; numbers as in the JSON.
pub fn response_csv(response: &SymbolBars) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = csv_header(response.adj_close.is_some()).to_vec();
    out.extend(csv_rows(&response.bars, response.adj_close.as_deref())?);
    Ok(out)
}

/// Several symbols' bars as one CSV in long form, `symbol` first: what `pandas.read_csv` then
/// `pivot` or polars' `partition_by` take.
pub fn series_csv(responses: &[SymbolBars]) -> Result<Vec<u8>, serde_json::Error> {
    let bars: usize = responses.iter().map(|response| response.bars.len()).sum();
    let mut out = Vec::with_capacity((BYTES_PER_BAR + 8) * bars + 64);
    // A column only some symbols could fill would be half empty: all or none have it.
    let adj_close = responses
        .iter()
        .all(|response| response.adj_close.is_some());
    out.extend_from_slice(b"symbol,");
    out.extend_from_slice(csv_header(adj_close));
    for response in responses {
        let adjusted = response.adj_close.as_deref().filter(|_| adj_close);
        let rows = csv_rows(&response.bars, adjusted)?;
        for line in rows.split_inclusive(|byte| *byte == b'\n') {
            out.extend_from_slice(response.symbol.as_str().as_bytes());
            out.push(b',');
            out.extend_from_slice(line);
        }
    }
    Ok(out)
}

/// Several symbols' responses as a JSON array of [`symbol_bars_json`] objects, in order.
pub fn series_json(responses: &[SymbolBars]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = vec![b'['];
    for (index, response) in responses.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend(symbol_bars_json(response)?);
    }
    out.push(b']');
    Ok(out)
}

/// The CSV lines of `bars`, without the header; with `adj_close` (one per bar), that column
/// after `close`.
pub fn csv_rows(bars: &[Bar], adj_close: Option<&[f64]>) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(BYTES_PER_BAR * bars.len());
    for (index, bar) in bars.iter().enumerate() {
        push_date(&mut out, bar.date);
        for price in [bar.open, bar.high, bar.low, bar.close] {
            out.push(b',');
            serde_json::to_writer(&mut out, &price)?;
        }
        if let Some(adjusted) = adj_close.and_then(|all| all.get(index)) {
            out.push(b',');
            serde_json::to_writer(&mut out, adjusted)?;
        }
        out.push(b',');
        serde_json::to_writer(&mut out, &bar.volume)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// `YYYY-MM-DD`, as chrono writes it.
fn push_date(out: &mut Vec<u8>, date: NaiveDate) {
    match IsoDate::new(date) {
        Some(text) => out.extend_from_slice(text.as_bytes()),
        // Years chrono writes with a sign; never a market's, but written as chrono would.
        None => out.extend_from_slice(date.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use marketcache_domain::{DateRange, Symbol};

    use super::*;
    use crate::FetchReport;

    fn bar(date: NaiveDate, open: f64, close: f64, volume: u64) -> Bar {
        Bar::try_new(
            date,
            open,
            open.max(close) * 1.5,
            open.min(close) / 3.0,
            close,
            volume,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("{y}-{m}-{d}"))
    }

    fn sample() -> SymbolBars {
        let bars = vec![
            bar(day(1990, 1, 2), 0.1, 0.30000000000000004, 0),
            bar(
                day(2020, 12, 31),
                125.0,
                124.8075,
                18_446_744_073_709_551_615,
            ),
            bar(day(9999, 12, 31), 1e-7, 3.5e21, 42),
            bar(day(10_000, 1, 1), 1.0, 2.0, 1),
            bar(day(5, 6, 7), 7.25, 7.5, 12),
        ];
        SymbolBars {
            symbol: Symbol::parse("BRK.B").unwrap_or_else(|e| panic!("{e}")),
            bars,
            report: FetchReport {
                cached_bars: 3,
                fetched_bars: 2,
                upstream_requests: 1,
                elapsed: Duration::from_micros(1234),
                missing: vec![
                    DateRange::new(day(2021, 1, 4), day(2021, 1, 8))
                        .unwrap_or_else(|e| panic!("{e}")),
                ],
                rejected_rows: 1,
                provisional_bars: 0,
                providers: vec!["yahoo".to_string(), "stooq".to_string()],
                upstream_unavailable: None,
                clipped_to: None,
                basis: marketcache_domain::PriceBasis::Raw,
            },
            adj_close: None,
        }
    }

    #[test]
    fn the_json_is_what_serde_json_writes() {
        let response = sample();
        let written = symbol_bars_json(&response).unwrap_or_else(|e| panic!("{e}"));
        let expected = serde_json::to_vec(&response).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&expected)
        );
        let empty = SymbolBars {
            bars: Vec::new(),
            ..response
        };
        assert_eq!(
            symbol_bars_json(&empty).unwrap_or_else(|e| panic!("{e}")),
            serde_json::to_vec(&empty).unwrap_or_else(|e| panic!("{e}"))
        );
    }

    #[test]
    fn csv_rows_read_back_to_the_same_bars() {
        let response = sample();
        let text = String::from_utf8(response_csv(&response).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("date,open,high,low,close,volume"));
        let parsed: Vec<Bar> = lines
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let price = |i: usize| fields[i].parse::<f64>().unwrap_or_else(|e| panic!("{e}"));
                Bar::try_new(
                    fields[0].parse().unwrap_or_else(|e| panic!("{line}: {e}")),
                    price(1),
                    price(2),
                    price(3),
                    price(4),
                    fields[5].parse().unwrap_or_else(|e| panic!("{e}")),
                )
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        assert_eq!(parsed, response.bars);
        assert!(text.contains("\n2020-12-31,125.0,"), "{text}");
        assert!(text.contains("\n0005-06-07,"), "{text}");
    }

    #[test]
    fn adjusted_closes_are_a_column_after_close_in_csv_and_json() {
        let mut response = sample();
        let adjusted: Vec<f64> = (0..response.bars.len()).map(|i| 0.5 + i as f64).collect();
        response.adj_close = Some(adjusted.clone());
        let csv = String::from_utf8(response_csv(&response).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("date,open,high,low,close,adj_close,volume")
        );
        let sixth: Vec<f64> = lines
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                assert_eq!(fields.len(), 7, "{line}");
                fields[5].parse().unwrap_or_else(|e| panic!("{line}: {e}"))
            })
            .collect();
        assert_eq!(sixth, adjusted);

        let json = symbol_bars_json(&response).unwrap_or_else(|e| panic!("{e}"));
        let value: serde_json::Value =
            serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{e}"));
        let from_json: Vec<f64> = value["bars"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|bar| bar["adj_close"].as_f64().unwrap_or(f64::NAN))
            .collect();
        assert_eq!(from_json, adjusted);

        // Long form: all symbols have the column, or none does.
        let both = series_csv(&[response.clone(), sample()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(both.starts_with(b"symbol,date,open,high,low,close,volume\n"));
        let two = series_csv(&[response.clone(), response]).unwrap_or_else(|e| panic!("{e}"));
        assert!(two.starts_with(b"symbol,date,open,high,low,close,adj_close,volume\n"));
    }
}
