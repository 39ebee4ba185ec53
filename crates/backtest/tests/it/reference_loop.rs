//! Property: the engine (single run and grid cell) equals a plain bar-by-bar loop written here.

use chrono::NaiveDate;
use marketcache_backtest::{ParamRange, PriceSeries, Settings, SmaCross, SmaCrossGrid, run};
use marketcache_domain::Bar;
use proptest::prelude::*;

/// What the plain loop found.
#[derive(Debug)]
struct Expected {
    /// `(entry bar, exit bar)` of each round trip, the open one with `None`.
    trades: Vec<(usize, Option<usize>)>,
    equity: Vec<f64>,
    final_equity: f64,
}

/// The rules restated as directly as possible, sharing no code with the crate.
fn reference_loop(
    closes: &[f64],
    fast: usize,
    slow: usize,
    cash: f64,
    fees: f64,
    slippage: f64,
) -> Expected {
    let mut running = Vec::with_capacity(closes.len());
    let mut total = 0.0;
    for close in closes {
        total += close;
        running.push(total);
    }
    let sma = |window: usize, bar: usize| -> Option<f64> {
        if bar + 1 < window {
            None
        } else if bar + 1 == window {
            Some(running[bar] / window as f64)
        } else {
            Some((running[bar] - running[bar - window]) / window as f64)
        }
    };
    let (mut cash, mut shares, mut long) = (cash, 0.0, false);
    let (mut was_below, mut was_above) = (false, false);
    let mut trades: Vec<(usize, Option<usize>)> = Vec::new();
    let mut equity = Vec::new();
    for (bar, close) in closes.iter().copied().enumerate() {
        let previous = if bar == 0 {
            None
        } else {
            sma(fast, bar - 1).zip(sma(slow, bar - 1))
        };
        let (mut entry, mut exit) = (false, false);
        if let (Some(f), Some(s)) = (sma(fast, bar), sma(slow, bar)) {
            entry = f > s && previous.is_some_and(|(pf, ps)| pf <= ps) && was_below;
            exit = f < s && previous.is_some_and(|(pf, ps)| pf >= ps) && was_above;
            was_below = was_below || f < s;
            was_above = was_above || f > s;
        }
        if entry && !long {
            let price = close * (1.0 + slippage);
            shares = cash / (price * (1.0 + fees));
            cash = 0.0;
            long = true;
            trades.push((bar, None));
        } else if exit && long {
            cash = shares * close * (1.0 - slippage) * (1.0 - fees);
            shares = 0.0;
            long = false;
            if let Some(trade) = trades.last_mut() {
                trade.1 = Some(bar);
            }
        }
        equity.push(cash + shares * close);
    }
    Expected {
        trades,
        final_equity: equity.last().copied().unwrap_or(cash),
        equity,
    }
}

fn bars(closes: &[f64]) -> Vec<Bar> {
    let start = NaiveDate::from_ymd_opt(2000, 1, 3).unwrap_or_default();
    closes
        .iter()
        .zip(start.iter_days())
        .map(|(close, date)| {
            Bar::try_new(date, *close, *close, *close, *close, 0).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn relative(actual: f64, expected: f64) -> f64 {
    ((actual - expected) / expected).abs()
}

/// Random walks: smooth ones, and ones on a coarse tick grid that make SMAs tie exactly.
fn closes() -> impl Strategy<Value = Vec<f64>> {
    let smooth = (
        1.0..500.0_f64,
        prop::collection::vec(-0.08..0.08_f64, 2..400),
    )
        .prop_map(|(start, steps)| {
            steps
                .iter()
                .scan(start, |price, step| {
                    *price *= 1.0 + step;
                    Some(*price)
                })
                .collect()
        });
    let ticks = prop::collection::vec(-2..=2_i32, 2..400).prop_map(|steps| {
        steps
            .iter()
            .scan(100_i32, |price, step| {
                *price = (*price + step).max(1);
                Some(f64::from(*price) / 4.0)
            })
            .collect()
    });
    prop_oneof![smooth, ticks]
}

fn costs() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![Just((0.0, 0.0)), (0.0..0.01_f64, 0.0..0.01_f64)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_engine_equals_a_plain_bar_by_bar_loop(
        closes in closes(),
        fast in 1..30_usize,
        gap in 1..60_usize,
        (fees, slippage) in costs(),
    ) {
        let slow = fast + gap;
        let settings = Settings::new(10_000.0, fees, slippage).unwrap_or_else(|e| panic!("{e}"));
        let expected = reference_loop(&closes, fast, slow, 10_000.0, fees, slippage);
        let strategy = SmaCross::new(fast, slow).unwrap_or_else(|e| panic!("{e}"));
        let bars = bars(&closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let report = run(&series, &strategy, &settings).unwrap_or_else(|e| panic!("{e}"));

        let index = |date: NaiveDate| bars.iter().position(|bar| bar.date == date);
        let trades: Vec<(usize, Option<usize>)> = report
            .trades
            .iter()
            .map(|t| (index(t.entry_date).unwrap_or(usize::MAX), t.exit_date.and_then(index)))
            .collect();
        prop_assert_eq!(&trades, &expected.trades);
        prop_assert_eq!(report.metrics.trades, expected.trades.len());
        prop_assert!(relative(report.metrics.final_equity, expected.final_equity) <= 1e-9);

        for ((point, expected_equity), close) in report.equity_curve.iter().zip(&expected.equity).zip(&closes) {
            let valued = point.cash + point.shares * close;
            prop_assert!(relative(point.equity, valued) <= 1e-12, "equity {} != cash + position {}", point.equity, valued);
            prop_assert!(relative(point.equity, *expected_equity) <= 1e-9);
        }
        prop_assert_eq!(report.equity_curve.len(), closes.len());

        // The grid's allocation-free path gives the same numbers as the single run.
        let range = |name: &str, window: usize| ParamRange::new(name, window, window, 1).unwrap_or_else(|e| panic!("{e}"));
        let grid = SmaCrossGrid::new(&series, range("fast", fast), range("slow", slow), settings)
            .unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(grid.evaluate(fast, slow), Ok(report.metrics));
    }
}
