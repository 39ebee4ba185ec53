//! Cross-check against vectorbt: three SMA crossovers on the shared 35-year fixture series.

use chrono::NaiveDate;
use marketcache_backtest::{
    ParamRange, PriceSeries, RankMetric, Settings, SmaCross, SmaCrossGrid, Trade, run,
};
use serde::Deserialize;

use crate::fixture::{aapl_bars, fixture_dir};

#[derive(Debug, Deserialize)]
struct Reference {
    bars: usize,
    init_cash: f64,
    combinations: std::collections::BTreeMap<String, Combination>,
}

#[derive(Debug, Deserialize)]
struct Combination {
    fast: usize,
    slow: usize,
    trades: usize,
    closed_trades: usize,
    total_return: f64,
    final_equity: f64,
    max_drawdown: f64,
    first_trade: TradeDates,
    last_trade: TradeDates,
}

#[derive(Debug, Deserialize)]
struct TradeDates {
    entry_date: NaiveDate,
    exit_date: NaiveDate,
}

fn reference() -> Reference {
    let path = fixture_dir().join("reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the vectorbt reference {} is missing or unreadable: {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_relative(actual: f64, expected: f64, what: &str) {
    let error = ((actual - expected) / expected).abs();
    assert!(
        error <= 1e-9,
        "{what}: {actual} vs vectorbt {expected} (relative error {error:e})"
    );
}

#[test]
fn sma_crossovers_match_vectorbt_on_the_35_year_fixture() {
    let bars = aapl_bars();
    let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
    let reference = reference();
    assert_eq!(bars.len(), reference.bars);
    assert_eq!(reference.combinations.len(), 3);
    let settings = Settings::new(reference.init_cash, 0.0, 0.0).unwrap_or_else(|e| panic!("{e}"));
    for (name, expected) in &reference.combinations {
        let strategy =
            SmaCross::new(expected.fast, expected.slow).unwrap_or_else(|e| panic!("{e}"));
        let report = run(&series, &strategy, &settings).unwrap_or_else(|e| panic!("{e}"));
        let metrics = report.metrics;
        assert_eq!(metrics.trades, expected.trades, "{name}: trades");
        assert_eq!(
            metrics.closed_trades, expected.closed_trades,
            "{name}: closed trades"
        );
        assert_relative(
            metrics.total_return,
            expected.total_return,
            &format!("{name}: total return"),
        );
        assert_relative(
            metrics.final_equity,
            expected.final_equity,
            &format!("{name}: final equity"),
        );
        assert_relative(
            metrics.max_drawdown,
            expected.max_drawdown,
            &format!("{name}: max drawdown"),
        );
        let (first, last) = (report.trades.first(), report.trades.last());
        let dates = |trade: Option<&Trade>| trade.map(|t| (t.entry_date, t.exit_date));
        assert_eq!(
            dates(first),
            Some((
                expected.first_trade.entry_date,
                Some(expected.first_trade.exit_date)
            )),
            "{name}: first trade"
        );
        assert_eq!(
            dates(last),
            Some((
                expected.last_trade.entry_date,
                Some(expected.last_trade.exit_date)
            )),
            "{name}: last trade"
        );
    }
}

#[test]
fn the_grid_gives_vectorbt_results_for_the_reference_cells() {
    let bars = aapl_bars();
    let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
    let reference = reference();
    let range = |parameter: &str, text: &str| {
        ParamRange::parse(parameter, text).unwrap_or_else(|e| panic!("{e}"))
    };
    let grid = SmaCrossGrid::new(
        &series,
        range("fast", "5..100"),
        range("slow", "10..300:2"),
        Settings::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(grid.len(), 11_900);
    for (name, expected) in &reference.combinations {
        let metrics = grid
            .evaluate(expected.fast, expected.slow)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(metrics.trades, expected.trades, "{name}: trades");
        assert_relative(
            metrics.final_equity,
            expected.final_equity,
            &format!("{name}: final equity"),
        );
        assert_relative(
            metrics.max_drawdown,
            expected.max_drawdown,
            &format!("{name}: max drawdown"),
        );
    }
    let outcome = grid.rank(RankMetric::Sharpe, 10);
    assert_eq!(
        (outcome.evaluated, outcome.top.len(), outcome.bars),
        (11_900, 10, 9067)
    );
}
