//! The generic grid against the specialised SMA-crossover grid on the fixture series.

use marketcache_backtest::{
    GridSpace, ParamRange, ParamValue, PriceSeries, RankMetric, Settings, SmaCrossGrid,
    StrategyGrid, find_strategy,
};

use crate::fixture::aapl_bars;

#[test]
fn the_generic_grid_ranks_sma_cross_exactly_as_the_sma_grid_does() {
    let bars = aapl_bars();
    let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
    let (fast, slow) = ("5..50:5", "20..120:20");
    let range =
        |name: &str, text: &str| ParamRange::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
    let sma = SmaCrossGrid::new(
        &series,
        range("fast", fast),
        range("slow", slow),
        Settings::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let info = find_strategy("sma-cross").unwrap_or_else(|e| panic!("{e}"));
    let space =
        GridSpace::parse(info, &[("fast", fast), ("slow", slow)]).unwrap_or_else(|e| panic!("{e}"));
    // fast 5..50 (10 values) × slow 20..120 (6 values), of which fast >= slow are refused.
    assert_eq!(space.combinations(), 60);
    let generic = StrategyGrid::new(&series, space, Settings::default());
    assert_eq!(generic.len(), sma.len());

    for metric in [
        RankMetric::Sharpe,
        RankMetric::TotalReturn,
        RankMetric::MaxDrawdown,
    ] {
        let expected = sma.rank(metric, 10);
        let outcome = generic.rank(metric, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.evaluated, expected.evaluated, "{metric}");
        assert_eq!(outcome.skipped, 60 - expected.evaluated, "{metric}");
        assert_eq!(outcome.bars, 9067);
        let ours: Vec<_> = outcome
            .top
            .iter()
            .map(|entry| (entry.parameters.clone(), entry.metrics))
            .collect();
        let theirs: Vec<_> = expected
            .top
            .iter()
            .map(|entry| {
                let window = |w: usize| ParamValue::Integer(i64::try_from(w).unwrap_or(i64::MAX));
                (
                    vec![("fast", window(entry.fast)), ("slow", window(entry.slow))],
                    entry.metrics,
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{metric}");
    }
}
