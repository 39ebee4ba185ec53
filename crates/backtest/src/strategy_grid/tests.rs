//! Tests of the generic grid: its ranking against direct runs, the shared indicators, and
//! the in-place switching of strategies.

use super::*;
use std::sync::atomic::Ordering as AtomicOrdering;

use crate::engine::run;
use crate::engine::tests::{bars_from_closes, series, wave};
use crate::strategies::{Bollinger, BuyAndHold, Macd, RsiReversion};
use crate::strategy::find_strategy;
use marketcache_domain::Bar;

fn space(strategy: &str, given: &[(&str, &str)]) -> Result<GridSpace, BacktestError> {
    GridSpace::parse(find_strategy(strategy)?, given)
}

/// period 2, 3, 4 × lower 30, 50, 70 × upper 50, 70: lower < upper in 3 of 6 level pairs.
const RSI_RANGES: &[(&str, &str)] = &[
    ("period", "2..4"),
    ("lower", "30..70:20"),
    ("upper", "50..70:20"),
];

fn rsi_grid(bars: &[Bar]) -> StrategyGrid<'_> {
    let space = space("rsi", RSI_RANGES).unwrap_or_else(|e| panic!("{e}"));
    StrategyGrid::new(&series(bars), space, Settings::default())
}

/// Every accepted combination's metrics from a direct run, in combination order.
fn direct_runs(grid: &StrategyGrid<'_>, bars: &[Bar]) -> Vec<StrategyGridEntry> {
    (0..grid.space().combinations())
        .map(|index| grid.space().parameters(index))
        .filter_map(|parameters| {
            let strategy = grid.strategy(&parameters).ok()?;
            let report = run(&series(bars), strategy.as_ref(), &Settings::default());
            let metrics = report.unwrap_or_else(|e| panic!("{e}")).metrics;
            Some(StrategyGridEntry {
                parameters,
                metrics,
            })
        })
        .collect()
}

#[test]
fn an_rsi_grid_evaluates_the_accepted_combinations_and_skips_the_rest() {
    let bars = wave(200);
    let grid = rsi_grid(&bars);
    assert_eq!(grid.space().combinations(), 18);
    assert_eq!((grid.len(), grid.space().skipped()), (9, 9));
    let outcome = grid
        .rank(RankMetric::TotalReturn, 100)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (outcome.combinations, outcome.evaluated, outcome.skipped),
        (18, 9, 9)
    );
    assert_eq!(outcome.top.len(), 9);
    assert!(outcome.top.iter().all(|entry| {
        matches!(
            (entry.parameters[1].1, entry.parameters[2].1),
            (ParamValue::Float(lower), ParamValue::Float(upper)) if lower < upper
        )
    }));
}

#[test]
fn the_ranking_equals_sorting_direct_runs_of_every_combination() {
    let bars = wave(200);
    let grid = rsi_grid(&bars);
    let outcome = grid
        .rank(RankMetric::Sharpe, 4)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut expected = direct_runs(&grid, &bars);
    // A stable sort keeps combination order among ties, as the grid does.
    expected.sort_by(|a, b| {
        let value = |entry: &StrategyGridEntry| entry.metrics.sharpe;
        match (value(a), value(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (a, b) => b.is_some().cmp(&a.is_some()),
        }
    });
    assert_eq!(outcome.top, expected[..4].to_vec());
    let best = &outcome.top[0];
    let direct = RsiReversion::new(
        usize::try_from(match best.parameters[0].1 {
            ParamValue::Integer(period) => period,
            ParamValue::Float(_) => panic!("period is an integer"),
        })
        .unwrap_or_default(),
        grid_float(best.parameters[1].1),
        grid_float(best.parameters[2].1),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let report =
        run(&series(&bars), &direct, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(best.metrics, report.metrics);
    let sharpes: Vec<f64> = expected.iter().filter_map(|e| e.metrics.sharpe).collect();
    assert_eq!(outcome.summary.defined, sharpes.len());
    assert_eq!(outcome.summary.best, best.metrics.sharpe);
    assert_eq!(
        outcome.summary.worst,
        sharpes.iter().copied().reduce(f64::min)
    );
}

fn grid_float(value: ParamValue) -> f64 {
    match value {
        ParamValue::Float(value) => value,
        ParamValue::Integer(value) => value as f64,
    }
}

#[test]
fn streaming_hands_over_every_evaluated_combination_in_order_with_progress() {
    let bars = wave(200);
    let grid = rsi_grid(&bars);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut streamed = Vec::new();
    let outcome = grid
        .rank_streaming(
            RankMetric::Sharpe,
            3,
            &|n| {
                done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            },
            Some(&mut |entry: &StrategyGridEntry| streamed.push(entry.clone())),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.into_inner(), 9);
    assert_eq!(streamed, direct_runs(&grid, &bars));
    assert_eq!(
        Ok(outcome),
        grid.rank(RankMetric::Sharpe, 3),
        "streaming does not change the ranking"
    );
}

#[test]
fn float_ranges_reach_float_parameters_and_macd_skips_fast_at_or_above_slow() {
    let bars = wave(150);
    let bollinger = space(
        "bollinger",
        &[("period", "10..20:10"), ("k", "1.5..2.5:0.5")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ks: Vec<ParamValue> = (0..3).map(|i| bollinger.parameters(i)[1].1).collect();
    assert_eq!(
        ks,
        [1.5, 2.0, 2.5].map(ParamValue::Float).to_vec(),
        "the last parameter varies fastest"
    );
    let grid = StrategyGrid::new(&series(&bars), bollinger, Settings::default());
    let outcome = grid
        .rank(RankMetric::TotalReturn, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((outcome.evaluated, outcome.skipped), (6, 0));
    let best = &outcome.top[0].parameters;
    let direct = Bollinger::new(
        if best[0].1 == ParamValue::Integer(10) {
            10
        } else {
            20
        },
        grid_float(best[1].1),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let report =
        run(&series(&bars), &direct, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.top[0].metrics, report.metrics);

    // fast 5, 10, 15 × slow 10, 20 × signal 9: (10, 10), (15, 10) are refused.
    let macd = space(
        "macd",
        &[("fast", "5..15:5"), ("slow", "10..20:10"), ("signal", "9")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((macd.combinations(), macd.len()), (6, 4));
    let grid = StrategyGrid::new(&series(&bars), macd, Settings::default());
    let best = grid
        .rank(RankMetric::Sharpe, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let parameters = &best.top[0].parameters;
    let as_usize = |value: ParamValue| grid_float(value) as usize;
    let direct = Macd::new(
        as_usize(parameters[0].1),
        as_usize(parameters[1].1),
        as_usize(parameters[2].1),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let report =
        run(&series(&bars), &direct, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(best.top[0].metrics, report.metrics);
}

#[test]
fn a_strategy_without_parameters_is_a_grid_of_one() {
    let bars = wave(30);
    let space = space("buy-and-hold", &[]).unwrap_or_else(|e| panic!("{e}"));
    let grid = StrategyGrid::new(&series(&bars), space, Settings::default());
    let outcome = grid
        .rank(RankMetric::Sharpe, 5)
        .unwrap_or_else(|e| panic!("{e}"));
    let report =
        run(&series(&bars), &BuyAndHold, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.top.len(), 1);
    assert_eq!(outcome.top[0].metrics, report.metrics);
}

#[test]
fn bad_grids_are_refused_naming_the_parameter_or_the_limit() {
    let message = |strategy: &str, given: &[(&str, &str)]| {
        space(strategy, given)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    // (strategy, ranges, what the error must name)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("rsi", &[("period", "30..5")], "'period'"),
        (
            "rsi",
            &[("period", "5..30"), ("lower", "20..40:0"), ("upper", "70")],
            "'lower'",
        ),
        (
            "rsi",
            &[("period", "5..30"), ("lower", "0..40"), ("upper", "70")],
            "'lower'",
        ),
        // upper searches its default 60..80:5, all of it above lower 85.
        ("rsi", &[("period", "5..30"), ("lower", "85")], "'lower'"),
        ("rsi", &[("window", "5..30")], "'window'"),
        ("rsi", &[("period", "5.5..30")], "'period'"),
        (
            "rsi",
            &[("period", "5"), ("period", "6"), ("lower", "30")],
            "'period'",
        ),
        ("bollinger", &[("period", "20"), ("k", "1..2:-0.5")], "'k'"),
        // lower 70..80 is never below upper 50..60: every combination is refused.
        (
            "rsi",
            &[("period", "14"), ("lower", "70..80"), ("upper", "50..60")],
            "'lower'",
        ),
        (
            "rsi",
            &[
                ("period", "2..100"),
                ("lower", "1..99:0.1"),
                ("upper", "1..99:0.1"),
            ],
            "1000000",
        ),
    ];
    for (strategy, given, named) in cases {
        let text = message(strategy, given);
        assert!(
            text.contains(named),
            "{given:?}: '{text}' should name {named}"
        );
    }
}

/// A wave on a slow trend, long enough for every catalog strategy to trade several times.
fn trending_wave(bars: usize) -> Vec<Bar> {
    let closes: Vec<f64> = (0..bars)
        .map(|i| {
            let i = i as f64;
            100.0 + 0.05 * i + 10.0 * (i / 7.0).sin() + 3.0 * (i / 2.3).cos()
        })
        .collect();
    bars_from_closes(&closes)
}

/// Runs the grid of `strategy` over `ranges`, checks that every accepted combination's
/// metrics equal building that combination alone and running a single backtest, and returns
/// how many combinations it evaluated and how many indicator series it computed.
fn every_cell_equals_a_single_run(strategy: &str, ranges: &[(&str, &str)]) -> (usize, usize) {
    let bars = trending_wave(400);
    let space = space(strategy, ranges).unwrap_or_else(|e| panic!("{e}"));
    let grid = StrategyGrid::new(&series(&bars), space, Settings::default());
    let mut streamed = Vec::new();
    let outcome = grid
        .rank_streaming(
            RankMetric::Sharpe,
            3,
            &|_| {},
            Some(&mut |entry: &StrategyGridEntry| streamed.push(entry.clone())),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = direct_runs(&grid, &bars);
    assert_eq!(streamed, expected, "{strategy}");
    let trading = expected.iter().filter(|entry| entry.metrics.trades >= 1);
    assert!(
        2 * trading.count() >= expected.len(),
        "{strategy}: most combinations should trade on this series"
    );
    (outcome.evaluated, grid.indicators().computed())
}

#[test]
fn sma_cross_cells_from_shared_smas_equal_single_runs() {
    // Windows 2, 4, ..., 12 and 5, 10, ..., 30: eleven distinct, 10 shared by both ranges.
    let ranges = [("fast", "2..12:2"), ("slow", "5..30:5")];
    assert_eq!(
        every_cell_equals_a_single_run("sma-cross", &ranges),
        (30, 11)
    );
}

#[test]
fn ema_cross_cells_from_shared_emas_equal_single_runs() {
    let ranges = [("fast", "2..10:2"), ("slow", "6..30:6")];
    assert_eq!(
        every_cell_equals_a_single_run("ema-cross", &ranges),
        (22, 9)
    );
}

#[test]
fn rsi_cells_from_shared_rsis_equal_single_runs() {
    // lower 40 is not below upper 40: those combinations are skipped.
    let ranges = [
        ("period", "2..8:2"),
        ("lower", "20..40:10"),
        ("upper", "40..80:20"),
    ];
    assert_eq!(every_cell_equals_a_single_run("rsi", &ranges), (32, 4));
}

#[test]
fn bollinger_cells_from_shared_bands_equal_single_runs() {
    let ranges = [("period", "5..25:5"), ("k", "0.5..2.5:0.5")];
    assert_eq!(
        every_cell_equals_a_single_run("bollinger", &ranges),
        (25, 5)
    );
}

#[test]
fn macd_cells_from_shared_emas_equal_single_runs() {
    // EMAs 3, 6, 9, 12 (fast) and 6, 12, 18, 24 (slow): six distinct, each computed once; the
    // signal line is the only per-combination series.
    let ranges = [
        ("fast", "3..12:3"),
        ("slow", "6..24:6"),
        ("signal", "3..9:3"),
    ];
    assert_eq!(every_cell_equals_a_single_run("macd", &ranges), (36, 6));
}

#[test]
fn a_buy_and_hold_cell_needs_no_indicator_and_equals_a_single_run() {
    assert_eq!(every_cell_equals_a_single_run("buy-and-hold", &[]), (1, 0));
}

#[test]
fn each_distinct_rsi_is_computed_once_for_the_whole_grid() {
    let bars = wave(200);
    let ranges = [
        ("period", "5..20"),
        ("lower", "20..40:10"),
        ("upper", "60..80:10"),
    ];
    let space = space("rsi", &ranges).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(space.len(), 16 * 3 * 3);
    let periods: Vec<Indicator> = (5..=20).map(Indicator::Rsi).collect();
    assert_eq!(space.indicators(), periods.as_slice());
    let grid = StrategyGrid::new(&series(&bars), space, Settings::default());
    assert_eq!(grid.indicators().computed(), 16);
    assert_eq!(grid.indicators().indicators(), periods.as_slice());
}

#[test]
fn switching_a_strategy_in_place_accepts_exactly_what_the_catalog_builds() {
    let grids: &[(&str, &[(&str, &str)])] = &[
        ("sma-cross", &[("fast", "5..30:5"), ("slow", "10..30:10")]),
        ("ema-cross", &[("fast", "5..30:5"), ("slow", "10..30:10")]),
        (
            "macd",
            &[("fast", "5..15:5"), ("slow", "5..15:5"), ("signal", "3..4")],
        ),
        (
            "rsi",
            &[
                ("period", "2..3"),
                ("lower", "20..60:20"),
                ("upper", "40..80:20"),
            ],
        ),
        ("bollinger", &[("period", "2..4"), ("k", "0.5..1:0.5")]),
        ("buy-and-hold", &[]),
    ];
    for (strategy, ranges) in grids {
        let space = space(strategy, ranges).unwrap_or_else(|e| panic!("{e}"));
        let mut cursor = Cursor::new(&space);
        // Backwards, so each switch starts from a strategy with other values.
        for index in (0..space.combinations()).rev() {
            let switched = cursor.select(index).map(|strategy| strategy.parameters());
            let built = space
                .build(index)
                .ok()
                .map(|strategy| strategy.parameters());
            assert_eq!(switched, built, "{strategy} combination {index}");
        }
        assert!(cursor.reused.is_some(), "{strategy} switches in place");
    }
}

/// A strategy outside the catalog that implements only the required methods of [`Strategy`]:
/// in every `period` bars out of `2 * period`; odd periods only.
#[derive(Debug)]
struct Alternating {
    period: usize,
}

const PERIOD: crate::ParamSpec = crate::ParamSpec {
    name: "period",
    description: "bars in, then bars out",
    default: "5",
    default_range: "1..10",
    kind: crate::ParamKind::Integer { min: 1, max: 50 },
};

static ALTERNATING: StrategyInfo = StrategyInfo {
    name: "alternating",
    description: "In for period bars, out for period bars",
    parameters: &[PERIOD],
    ordered: &[],
    build: |params: &Params| -> Result<Box<dyn Strategy>, BacktestError> {
        let period = params
            .integer(PERIOD.name)
            .and_then(|period| usize::try_from(period).ok())
            .filter(|period| period % 2 == 1)
            .ok_or(BacktestError::Constraint {
                parameter: PERIOD.name,
                reason: "must be odd".to_owned(),
            })?;
        Ok(Box::new(Alternating { period }))
    },
};

impl Strategy for Alternating {
    fn name(&self) -> &'static str {
        ALTERNATING.name
    }

    fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
        vec![(PERIOD.name, ParamValue::Integer(self.period as i64))]
    }

    fn signals(&self, series: &PriceSeries<'_>) -> Signals {
        let mut signals = Signals::none(series.len());
        for bar in 0..series.len() {
            signals.entries[bar] = bar % (2 * self.period) == 0;
            signals.exits[bar] = bar % (2 * self.period) == self.period;
        }
        signals
    }
}

#[test]
fn a_strategy_that_does_not_opt_in_runs_through_its_own_signals() {
    let bars = trending_wave(120);
    let space =
        GridSpace::parse(&ALTERNATING, &[("period", "1..12")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((space.len(), space.skipped()), (6, 6));
    assert!(space.indicators().is_empty());
    let grid = StrategyGrid::new(&series(&bars), space, Settings::default());
    let mut streamed = Vec::new();
    grid.rank_streaming(
        RankMetric::TotalReturn,
        1,
        &|_| {},
        Some(&mut |entry: &StrategyGridEntry| streamed.push(entry.clone())),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(streamed, direct_runs(&grid, &bars));
    assert_eq!(grid.indicators().computed(), 0);
}

#[test]
fn a_stopped_ranking_starts_no_further_combination() {
    let bars = wave(200);
    let flag = Arc::new(AtomicBool::new(true));
    let stopped = rsi_grid(&bars).stop_when(Arc::clone(&flag));
    let outcome = stopped
        .rank(RankMetric::TotalReturn, 10)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.evaluated, 0);
    assert!(outcome.top.is_empty());
    // Set mid-way (here by the first finished combination), the rest are skipped.
    flag.store(false, AtomicOrdering::Relaxed);
    let outcome = stopped
        .rank_with_progress(RankMetric::TotalReturn, 10, &|_| {
            flag.store(true, AtomicOrdering::Relaxed);
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (1..9).contains(&outcome.evaluated),
        "{} of 9 evaluated",
        outcome.evaluated
    );
}
