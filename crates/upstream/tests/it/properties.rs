//! Property tests: no parser panics on any input, and whatever a parser accepts keeps the
//! `FetchedBars` promises (bars in range, in order, unique; provisional dates are bar dates).

use chrono::{DateTime, Utc};
use marketcache_domain::{DateRange, FetchedBars};
use marketcache_upstream::{alpaca, alphavantage, polygon, stooq, tiingo, yahoo};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::support::{date, fixture, instant, range};

fn wide_range() -> DateRange {
    range(date(1990, 1, 1), date(2030, 12, 31))
}

fn now() -> DateTime<Utc> {
    instant("2025-10-29T20:00:30Z")
}

/// `body` cut at `cut` with the byte at `at` replaced: near-valid input that reaches deep
/// into the parsers.
fn damaged(body: &[u8], cut: usize, at: usize, byte: u8) -> Vec<u8> {
    let mut damaged = body[..cut.min(body.len())].to_vec();
    if !damaged.is_empty() {
        let index = at % damaged.len();
        damaged[index] = byte;
    }
    damaged
}

fn assert_promises(fetched: &FetchedBars, range: DateRange) -> Result<(), TestCaseError> {
    for pair in fetched.bars.windows(2) {
        prop_assert!(
            pair[0].date < pair[1].date,
            "bars out of order or duplicated"
        );
    }
    for bar in &fetched.bars {
        prop_assert!(range.contains(bar.date));
        prop_assert!(bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close));
    }
    for day in &fetched.provisional {
        prop_assert!(fetched.bars.iter().any(|bar| bar.date == *day));
    }
    Ok(())
}

proptest! {
    #[test]
    fn yahoo_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..400), status in 100u16..600) {
        let _ = yahoo::parse_chart(status, &body, "AAPL", wide_range(), now());
    }

    #[test]
    fn yahoo_keeps_its_promises_on_damaged_answers(cut in 0usize..4000, at in any::<usize>(), byte in any::<u8>()) {
        for name in ["yahoo_aapl_split.json", "yahoo_live_aapl.json", "yahoo_nulls.json"] {
            let body = damaged(&fixture(name), cut, at, byte);
            if let Ok(fetched) = yahoo::parse_chart(200, &body, "AAPL", wide_range(), now()) {
                assert_promises(&fetched, wide_range())?;
            }
        }
    }

    #[test]
    fn stooq_never_panics_on_arbitrary_text(body in ".{0,300}", status in 100u16..600, key_sent in any::<bool>()) {
        let _ = stooq::parse_csv(status, body.as_bytes(), "AAPL", wide_range(), key_sent);
    }

    #[test]
    fn stooq_keeps_its_promises_on_damaged_answers(cut in 0usize..300, at in any::<usize>(), byte in any::<u8>()) {
        let body = damaged(&fixture("stooq_daily.csv"), cut, at, byte);
        if let Ok(fetched) = stooq::parse_csv(200, &body, "AAPL", wide_range(), true) {
            assert_promises(&fetched, wide_range())?;
        }
    }

    #[test]
    fn polygon_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..400), status in 100u16..600) {
        let _ = polygon::parse_aggregates(status, &body, wide_range());
    }

    #[test]
    fn polygon_keeps_its_promises_on_damaged_answers(cut in 0usize..900, at in any::<usize>(), byte in any::<u8>()) {
        for name in ["polygon_page1_raw.json", "polygon_page2.json"] {
            let body = damaged(&fixture(name), cut, at, byte);
            if let Ok(page) = polygon::parse_aggregates(200, &body, wide_range()) {
                assert_promises(&page.fetched, wide_range())?;
            }
        }
    }

    #[test]
    fn alpaca_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..400), status in 100u16..600) {
        let _ = alpaca::parse_bars(status, &body, "AAPL", wide_range());
    }

    #[test]
    fn alpaca_keeps_its_promises_on_damaged_answers(cut in 0usize..700, at in any::<usize>(), byte in any::<u8>()) {
        let body = damaged(&fixture("alpaca_page1.json"), cut, at, byte);
        if let Ok(page) = alpaca::parse_bars(200, &body, "AAPL", wide_range()) {
            assert_promises(&page.fetched, wide_range())?;
        }
    }

    #[test]
    fn tiingo_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..400), status in 100u16..600) {
        let _ = tiingo::parse_prices(status, &body, "AAPL", wide_range());
    }

    #[test]
    fn tiingo_keeps_its_promises_on_damaged_answers(cut in 0usize..1100, at in any::<usize>(), byte in any::<u8>()) {
        let body = damaged(&fixture("tiingo_split_dividend.json"), cut, at, byte);
        if let Ok(fetched) = tiingo::parse_prices(200, &body, "AAPL", wide_range()) {
            assert_promises(&fetched, wide_range())?;
        }
    }

    #[test]
    fn alphavantage_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..400), status in 100u16..600) {
        let _ = alphavantage::parse_daily(status, &body, "IBM", wide_range());
    }

    #[test]
    fn alphavantage_keeps_its_promises_on_damaged_answers(cut in 0usize..1300, at in any::<usize>(), byte in any::<u8>()) {
        let body = damaged(&fixture("alphavantage_daily_adjusted_live.json"), cut, at, byte);
        if let Ok(fetched) = alphavantage::parse_daily(200, &body, "MSFT", wide_range()) {
            assert_promises(&fetched, wide_range())?;
        }
    }
}
