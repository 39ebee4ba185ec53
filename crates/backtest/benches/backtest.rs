//! Where the backtest CPU goes, on the shared 9,067-bar fixture: one SMA-crossover backtest,
//! the whole 11,900-combination grid (fast 5..100 × slow 10..300:2, fast < slow), and
//! 650-combination RSI, Bollinger and MACD grids through the generic strategy grid.

#[path = "../tests/it/fixture.rs"]
mod fixture;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketcache_backtest::{
    GridSpace, ParamRange, PriceSeries, RankMetric, Settings, SmaCross, SmaCrossGrid, StrategyGrid,
    find_strategy, run,
};

fn single_backtest(c: &mut Criterion) {
    let bars = fixture::aapl_bars();
    let strategy = SmaCross::new(50, 200).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("sma_cross_backtest_9067_bars");
    group.throughput(Throughput::Elements(bars.len() as u64));
    group.bench_function("fast_50_slow_200", |b| {
        b.iter(|| {
            let series = PriceSeries::new(black_box(&bars));
            let report = series.and_then(|series| run(&series, &strategy, &Settings::default()));
            assert!(report.is_ok_and(|r| r.metrics.trades == 22));
        })
    });
    let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("series_only", |b| {
        b.iter(|| PriceSeries::new(black_box(&bars)).map(|s| s.len()))
    });
    group.bench_function("signals_only", |b| {
        b.iter(|| marketcache_backtest::Strategy::signals(&strategy, black_box(&series)))
    });
    group.bench_function("run_only", |b| {
        b.iter(|| {
            run(black_box(&series), &strategy, &Settings::default()).map(|r| r.metrics.trades)
        })
    });
    group.finish();
}

fn whole_grid(c: &mut Criterion) {
    let bars = fixture::aapl_bars();
    let range = |parameter: &str, text: &str| {
        ParamRange::parse(parameter, text).unwrap_or_else(|e| panic!("{e}"))
    };
    let (fast, slow) = (range("fast", "5..100"), range("slow", "10..300:2"));
    let mut group = c.benchmark_group("sma_cross_grid_11900_combinations");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    // Elements are combinations, so criterion's throughput reads as combinations per second.
    group.throughput(Throughput::Elements(11_900));
    group.bench_function("build_and_rank_top_10_by_sharpe", |b| {
        b.iter(|| {
            let series = PriceSeries::new(black_box(&bars)).unwrap_or_else(|e| panic!("{e}"));
            let grid = SmaCrossGrid::new(&series, fast, slow, Settings::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let outcome = grid.rank(RankMetric::Sharpe, 10);
            assert_eq!(outcome.evaluated, 11_900);
            outcome
        })
    });
    group.finish();
}

/// The generic grid of `strategy` over `ranges` (all `combinations` of them valid), ranked by
/// Sharpe from the bars up, as `optimize` runs it.
fn generic_grid(
    c: &mut Criterion,
    group_name: &str,
    strategy: &str,
    ranges: &[(&str, &str)],
    combinations: usize,
) {
    let bars = fixture::aapl_bars();
    let info = find_strategy(strategy).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    // Elements are combinations, so criterion's throughput reads as combinations per second.
    group.throughput(Throughput::Elements(combinations as u64));
    group.bench_function("build_and_rank_top_10_by_sharpe", |b| {
        b.iter(|| {
            let series = PriceSeries::new(black_box(&bars)).unwrap_or_else(|e| panic!("{e}"));
            let space = GridSpace::parse(info, ranges).unwrap_or_else(|e| panic!("{e}"));
            let grid = StrategyGrid::new(&series, space, Settings::default());
            let outcome = grid
                .rank(RankMetric::Sharpe, 10)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(outcome.evaluated, combinations);
            outcome
        })
    });
    group.finish();
}

fn rsi_grid(c: &mut Criterion) {
    // 26 periods × 5 lower × 5 upper levels, all valid (lower < upper).
    let ranges = [
        ("period", "5..30"),
        ("lower", "20..40:5"),
        ("upper", "60..80:5"),
    ];
    generic_grid(c, "rsi_grid_650_combinations", "rsi", &ranges, 650);
}

fn bollinger_grid(c: &mut Criterion) {
    // 26 periods × 25 band widths.
    let ranges = [("period", "10..60:2"), ("k", "0.6..3.0:0.1")];
    generic_grid(
        c,
        "bollinger_grid_650_combinations",
        "bollinger",
        &ranges,
        650,
    );
}

fn macd_grid(c: &mut Criterion) {
    // 10 fast × 5 slow × 13 signal periods, all valid (fast < slow).
    let ranges = [("fast", "6..15"), ("slow", "20..40:5"), ("signal", "5..17")];
    generic_grid(c, "macd_grid_650_combinations", "macd", &ranges, 650);
}

criterion_group!(
    benches,
    single_backtest,
    whole_grid,
    rsi_grid,
    bollinger_grid,
    macd_grid
);
criterion_main!(benches);
