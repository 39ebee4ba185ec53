//! Performance metrics, accumulated bar by bar in one pass and without allocation.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Serialize;

use crate::BacktestError;
use crate::engine::Settings;

/// Trading days per year, for annualising volatility, Sharpe and Sortino.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;

/// The summary of one backtest.
///
/// Returns are per bar: `r[i] = V[i] / V[i-1] - 1` with `V[-1]` the initial cash (as vectorbt),
/// where `V[i]` is the equity at bar `i`'s close. A metric that is undefined for the run (no
/// closed trade, no variance, no drawdown) is `None` rather than NaN or infinity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Number of bars simulated.
    pub bars: usize,
    /// Date of the first bar.
    pub first_date: NaiveDate,
    /// Date of the last bar.
    pub last_date: NaiveDate,
    /// Cash at the start.
    pub initial_cash: f64,
    /// Cash plus the position valued at the last close.
    pub final_equity: f64,
    /// `final_equity / initial_cash - 1`.
    pub total_return: f64,
    /// Compound annual growth over calendar time: `(1 + total_return)^(365.25 / days) - 1` with
    /// `days` from the first to the last date; `None` for a single day.
    pub cagr: Option<f64>,
    /// Sample standard deviation (n − 1) of the per-bar returns × √252; `None` under two bars.
    pub annualized_volatility: Option<f64>,
    /// Mean per-bar return / its sample standard deviation × √252 (risk-free rate 0).
    pub sharpe: Option<f64>,
    /// Mean per-bar return / downside deviation × √252, where the downside deviation is
    /// √(mean over all bars of min(r, 0)²) (vectorbt's); `None` without a losing bar.
    pub sortino: Option<f64>,
    /// The deepest fall from a running peak: min over bars of `V[i] / max(V[0..=i]) - 1`;
    /// 0 or negative.
    pub max_drawdown: f64,
    /// The last bar at the peak before the deepest fall; `None` without a drawdown.
    pub drawdown_peak: Option<NaiveDate>,
    /// The bar at the bottom of the deepest fall; `None` without a drawdown.
    pub drawdown_trough: Option<NaiveDate>,
    /// CAGR / |max drawdown|; `None` without a drawdown or a CAGR.
    pub calmar: Option<f64>,
    /// Entries filled, including a position still open at the end.
    pub trades: usize,
    /// Round trips whose exit filled.
    pub closed_trades: usize,
    /// Share of closed trades with a positive profit (fees included).
    pub win_rate: Option<f64>,
    /// Mean return of the closed trades, each on the cash it spent.
    pub average_trade_return: Option<f64>,
    /// Share of bars that ended in the market (entry bars count, exit bars do not).
    pub exposure: f64,
}

/// The trade counts behind [`Metrics`], kept by the engine as it fills.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TradeTally {
    pub(crate) trades: usize,
    pub(crate) closed_trades: usize,
    pub(crate) winning_trades: usize,
    pub(crate) closed_return_sum: f64,
    pub(crate) bars_in_market: usize,
}

/// Independent accumulators for the return sums: short dependency chains, in a pass run once
/// per grid cell.
const LANES: usize = 4;

/// What the equity series alone decides: per-bar return sums and the deepest drawdown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EquityStats {
    bars: usize,
    final_equity: f64,
    return_sum: f64,
    return_square_sum: f64,
    downside_square_sum: f64,
    max_drawdown: f64,
    drawdown_peak_index: usize,
    drawdown_trough_index: usize,
}

impl EquityStats {
    /// Reads the equity at each bar's close of a run that started with `initial_cash`.
    ///
    /// Variance comes from the sums of returns and of their squares rather than Welford's
    /// update, which needs a division per bar: daily returns (|r| ≪ 1, mean ≪ sd) lose nothing
    /// to cancellation at f64.
    pub(crate) fn of(initial_cash: f64, equity: &[f64]) -> Self {
        let mut sum = [0.0; LANES];
        let mut squares = [0.0; LANES];
        let mut downside = [0.0; LANES];
        let mut drawdown = DrawdownScan::new();
        // One pass for both: the returns' divisions and the running maximum's serial chain
        // overlap instead of taking a pass each.
        let mut add = |lane: usize, index: usize, current: f64, previous: f64| {
            let bar_return = current / previous - 1.0;
            sum[lane] += bar_return;
            squares[lane] += bar_return * bar_return;
            // A select rather than `min`, whose NaN rule keeps the loop scalar.
            let loss = if bar_return < 0.0 { bar_return } else { 0.0 };
            downside[lane] += loss * loss;
            drawdown.step(index, current);
        };
        if let Some(first) = equity.first() {
            add(0, 0, *first, initial_cash);
        }
        let previous = equity
            .get(..equity.len().saturating_sub(1))
            .unwrap_or_default();
        let current = equity.get(1..).unwrap_or_default();
        // Bar `offset + 1` feeds lane `offset % LANES`. Walked a group of LANES at a time, each
        // lane is a constant, so the sums stay in registers instead of an indexed array.
        let (groups, ends) = (previous.chunks_exact(LANES), current.chunks_exact(LANES));
        let (last_previous, last_current) = (groups.remainder(), ends.remainder());
        for (group, (previous, current)) in groups.zip(ends).enumerate() {
            for lane in 0..LANES {
                // An unchanged value (a day out of the market) is a return of exactly 0 and
                // cannot deepen the fall: skipping it changes no sum and no extreme.
                if current[lane] != previous[lane] {
                    add(
                        lane,
                        group * LANES + lane + 1,
                        current[lane],
                        previous[lane],
                    );
                }
            }
        }
        let grouped = previous.len() - last_previous.len();
        for (lane, (previous, current)) in last_previous.iter().zip(last_current).enumerate() {
            if current != previous {
                add(lane, grouped + lane + 1, *current, *previous);
            }
        }
        let total = |lanes: [f64; LANES]| (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        let (max_drawdown, drawdown_trough_index, deepest_peak) = drawdown.finish();
        // The peak of the deepest fall is the last bar before its trough that stood at the
        // running maximum then, i.e. whose value is that maximum: the day the fall began.
        let drawdown_peak_index = if max_drawdown < 0.0 {
            equity
                .get(..drawdown_trough_index)
                .and_then(|before| last_position(before, deepest_peak))
                .unwrap_or(0)
        } else {
            0
        };
        Self {
            bars: equity.len(),
            final_equity: equity.last().copied().unwrap_or(initial_cash),
            return_sum: total(sum),
            return_square_sum: total(squares),
            downside_square_sum: total(downside),
            max_drawdown,
            drawdown_peak_index,
            drawdown_trough_index,
        }
    }
}

/// The index of the last of `values` equal to `target`.
///
/// Eight values at a time, so the comparisons run as vector instructions: the peak of a deep
/// fall can lie years of bars before its trough.
fn last_position(values: &[f64], target: f64) -> Option<usize> {
    let mut end = values.len();
    for chunk in values.rchunks(8) {
        end -= chunk.len();
        if chunk
            .iter()
            .fold(false, |found, value| found | (*value == target))
        {
            return chunk
                .iter()
                .rposition(|value| *value == target)
                .map(|at| end + at);
        }
    }
    None
}

/// The deepest fall from a running peak, min over bars of `V[i] / max(V[0..=i]) - 1`, found
/// bar by bar.
struct DrawdownScan {
    peak: f64,
    deepest: f64,
    trough_index: usize,
    deepest_peak: f64,
    /// Below `peak * floor_factor`, and only there, `equity / peak - 1` can be below the
    /// deepest fall so far, so most bars skip the division. The 1e-12 margin exceeds the
    /// rounding of this product and of the division it stands for: no deeper fall is missed.
    floor_factor: f64,
}

impl DrawdownScan {
    fn new() -> Self {
        Self {
            peak: f64::NEG_INFINITY,
            deepest: 0.0,
            trough_index: 0,
            deepest_peak: f64::NAN,
            floor_factor: 1.0 + 1e-12,
        }
    }

    #[inline(always)]
    fn step(&mut self, index: usize, value: f64) {
        // The running maximum is the scan's one dependency chain: keep it a bare `max` (no
        // index bookkeeping; the peak's bar is found once, at the end).
        self.peak = if value > self.peak { value } else { self.peak };
        if value < self.peak * self.floor_factor {
            let fall = value / self.peak - 1.0;
            if fall < self.deepest {
                self.deepest = fall;
                self.trough_index = index;
                self.deepest_peak = self.peak;
                self.floor_factor = 1.0 + fall + 1e-12;
            }
        }
    }

    /// The deepest fall (0 or negative), its trough's bar and the peak value it fell from.
    fn finish(self) -> (f64, usize, f64) {
        (self.deepest, self.trough_index, self.deepest_peak)
    }
}

impl Metrics {
    /// The metrics of a run over at least one bar: its trades, its equity at each bar's close,
    /// the date of each bar by index, and its settings.
    pub(crate) fn new(
        trades: &TradeTally,
        equity: &[f64],
        date_of: impl Fn(usize) -> NaiveDate,
        settings: &Settings,
    ) -> Self {
        let stats = EquityStats::of(settings.initial_cash(), equity);
        let first_date = date_of(0);
        let last_date = date_of(stats.bars.saturating_sub(1));
        let initial_cash = settings.initial_cash();
        let final_equity = stats.final_equity;
        let total_return = final_equity / initial_cash - 1.0;
        let days = (last_date - first_date).num_days();
        let cagr =
            (days > 0).then(|| (final_equity / initial_cash).powf(365.25 / days as f64) - 1.0);

        let count = stats.bars as f64;
        let mean = stats.return_sum / count;
        let annualiser = TRADING_DAYS_PER_YEAR.sqrt();
        let deviation = (stats.bars >= 2).then(|| {
            let variance = (stats.return_square_sum - stats.return_sum * mean) / (count - 1.0);
            variance.max(0.0).sqrt()
        });
        let downside = (stats.downside_square_sum / count).sqrt();

        let drew_down = stats.max_drawdown < 0.0;
        let date = |index: usize| drew_down.then(|| date_of(index));
        let closed = trades.closed_trades as f64;
        Self {
            bars: stats.bars,
            first_date,
            last_date,
            initial_cash,
            final_equity,
            total_return,
            cagr,
            annualized_volatility: deviation.map(|d| d * annualiser),
            sharpe: deviation
                .filter(|d| *d > 0.0)
                .map(|d| mean / d * annualiser),
            sortino: (downside > 0.0).then(|| mean / downside * annualiser),
            max_drawdown: stats.max_drawdown,
            drawdown_peak: date(stats.drawdown_peak_index),
            drawdown_trough: date(stats.drawdown_trough_index),
            calmar: cagr
                .filter(|_| drew_down)
                .map(|c| c / stats.max_drawdown.abs()),
            trades: trades.trades,
            closed_trades: trades.closed_trades,
            win_rate: (trades.closed_trades > 0).then(|| trades.winning_trades as f64 / closed),
            average_trade_return: (trades.closed_trades > 0)
                .then(|| trades.closed_return_sum / closed),
            exposure: trades.bars_in_market as f64 / count,
        }
    }
}

/// The metric a grid is ranked by; higher is better for every one (drawdowns are negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RankMetric {
    /// [`Metrics::sharpe`], the default.
    #[default]
    Sharpe,
    /// [`Metrics::sortino`].
    Sortino,
    /// [`Metrics::calmar`].
    Calmar,
    /// [`Metrics::cagr`].
    Cagr,
    /// [`Metrics::total_return`].
    TotalReturn,
    /// [`Metrics::final_equity`].
    FinalEquity,
    /// [`Metrics::max_drawdown`] (the shallowest ranks first).
    MaxDrawdown,
    /// [`Metrics::win_rate`].
    WinRate,
    /// [`Metrics::average_trade_return`].
    AverageTradeReturn,
}

impl RankMetric {
    /// Every metric, in the order of help texts.
    pub const ALL: [RankMetric; 9] = [
        Self::Sharpe,
        Self::Sortino,
        Self::Calmar,
        Self::Cagr,
        Self::TotalReturn,
        Self::FinalEquity,
        Self::MaxDrawdown,
        Self::WinRate,
        Self::AverageTradeReturn,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sharpe => "sharpe",
            Self::Sortino => "sortino",
            Self::Calmar => "calmar",
            Self::Cagr => "cagr",
            Self::TotalReturn => "total-return",
            Self::FinalEquity => "final-equity",
            Self::MaxDrawdown => "max-drawdown",
            Self::WinRate => "win-rate",
            Self::AverageTradeReturn => "average-trade-return",
        }
    }

    /// This metric's value in `metrics`; `None` where it is undefined (ranks last).
    pub fn value(self, metrics: &Metrics) -> Option<f64> {
        match self {
            Self::Sharpe => metrics.sharpe,
            Self::Sortino => metrics.sortino,
            Self::Calmar => metrics.calmar,
            Self::Cagr => metrics.cagr,
            Self::TotalReturn => Some(metrics.total_return),
            Self::FinalEquity => Some(metrics.final_equity),
            Self::MaxDrawdown => Some(metrics.max_drawdown),
            Self::WinRate => metrics.win_rate,
            Self::AverageTradeReturn => metrics.average_trade_return,
        }
    }
}

impl fmt::Display for RankMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RankMetric {
    type Err = BacktestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|metric| metric.name() == wanted)
            .ok_or_else(|| BacktestError::UnknownMetric {
                name: text.to_owned(),
                known: Self::ALL.map(Self::name).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::run_signals;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0)
    }

    fn assert_close(actual: Option<f64>, expected: f64, what: &str) {
        assert!(
            actual.is_some_and(|a| close(a, expected)),
            "{what}: {actual:?}, expected {expected}"
        );
    }

    /// Closes 10, 11, 9, 12, 8 on 2024-01-01..05; long from bar 0's close to bar 3's close.
    /// Equity: 10000, 11000, 9000, 12000, 12000.
    fn round_trip() -> Metrics {
        run_signals(
            &[10.0, 11.0, 9.0, 12.0, 8.0],
            &[0],
            &[3],
            &Settings::default(),
        )
        .metrics
    }

    #[test]
    fn the_grouped_walk_sums_every_lane_in_the_order_of_a_plain_walk() {
        // Runs of unchanged values (out of the market) between moves, of every length mod 4.
        for bars in [1_u32, 2, 5, 8, 13, 64, 103] {
            let equity: Vec<f64> = (0..bars)
                .map(|i| {
                    let step = i / 3 + i / 7;
                    1000.0 + f64::from(step * 37 % 11) * (1.0 + f64::from(step) / 97.0)
                })
                .collect();
            let unchanged = equity.windows(2).filter(|pair| pair[0] == pair[1]).count();
            assert!(
                bars < 64 || 4 * unchanged > equity.len(),
                "{bars}: {unchanged}"
            );
            let stats = EquityStats::of(1000.5, &equity);
            let (mut sum, mut squares, mut downside) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
            let mut previous = 1000.5;
            for (bar, current) in equity.iter().enumerate() {
                if *current != previous || bar == 0 {
                    let lane = bar.saturating_sub(1) % LANES;
                    let bar_return = current / previous - 1.0;
                    sum[lane] += bar_return;
                    squares[lane] += bar_return * bar_return;
                    downside[lane] += bar_return.min(0.0) * bar_return.min(0.0);
                }
                previous = *current;
            }
            let total = |lanes: [f64; LANES]| (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            let bits = |a: f64, b: f64| a.to_bits() == b.to_bits();
            assert!(bits(stats.return_sum, total(sum)), "{bars} bars");
            assert!(bits(stats.return_square_sum, total(squares)), "{bars} bars");
            assert!(
                bits(stats.downside_square_sum, total(downside)),
                "{bars} bars"
            );
        }
    }

    #[test]
    fn the_last_position_of_a_value_is_found_across_blocks() {
        let values: Vec<f64> = (0..30).map(|i| f64::from(i % 7)).collect();
        for length in 0..values.len() {
            for target in [0.0, 3.0, 6.0, 9.0] {
                let expected = values[..length].iter().rposition(|v| *v == target);
                assert_eq!(last_position(&values[..length], target), expected);
            }
        }
    }

    #[test]
    fn total_return_and_final_equity_follow_the_last_equity() {
        let metrics = round_trip();
        assert_eq!(metrics.final_equity, 12_000.0);
        assert!(close(metrics.total_return, 0.2));
    }

    #[test]
    fn cagr_compounds_over_calendar_days() {
        // Four days from the first to the last bar.
        assert_close(round_trip().cagr, 1.2_f64.powf(365.25 / 4.0) - 1.0, "cagr");
    }

    #[test]
    fn volatility_sharpe_and_sortino_use_per_bar_returns_annualised_over_252_days() {
        let returns = [0.0, 0.1, -2.0 / 11.0, 1.0 / 3.0, 0.0];
        let mean = returns.iter().sum::<f64>() / 5.0;
        let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 4.0;
        let downside = ((2.0_f64 / 11.0).powi(2) / 5.0).sqrt();
        let metrics = round_trip();
        assert_close(
            metrics.annualized_volatility,
            variance.sqrt() * 252f64.sqrt(),
            "volatility",
        );
        assert_close(
            metrics.sharpe,
            mean / variance.sqrt() * 252f64.sqrt(),
            "sharpe",
        );
        assert_close(metrics.sortino, mean / downside * 252f64.sqrt(), "sortino");
    }

    #[test]
    fn max_drawdown_reports_its_depth_peak_and_trough_dates_and_calmar() {
        let metrics = round_trip();
        assert!(close(metrics.max_drawdown, 9000.0 / 11_000.0 - 1.0));
        assert_eq!(metrics.drawdown_peak, NaiveDate::from_ymd_opt(2024, 1, 2));
        assert_eq!(metrics.drawdown_trough, NaiveDate::from_ymd_opt(2024, 1, 3));
        let cagr = 1.2_f64.powf(365.25 / 4.0) - 1.0;
        assert_close(metrics.calmar, cagr / (2.0 / 11.0), "calmar");
    }

    #[test]
    fn the_peak_date_is_the_last_bar_at_the_peak_before_the_fall() {
        // Flat in cash for three bars, then long into a loss: the peak is the entry bar.
        let metrics = run_signals(&[5.0, 6.0, 10.0, 5.0], &[2], &[], &Settings::default()).metrics;
        assert_eq!(metrics.max_drawdown, -0.5);
        assert_eq!(metrics.drawdown_peak, NaiveDate::from_ymd_opt(2024, 1, 3));
        assert_eq!(metrics.drawdown_trough, NaiveDate::from_ymd_opt(2024, 1, 4));
    }

    #[test]
    fn trade_counts_win_rate_and_average_trade_cover_closed_trades() {
        // Win +20% (10 -> 12), loss -50% (12 -> 6), then an open trade (6 -> 9).
        let closes = [10.0, 12.0, 12.0, 6.0, 6.0, 9.0];
        let metrics = run_signals(&closes, &[0, 2, 4], &[1, 3], &Settings::default()).metrics;
        assert_eq!((metrics.trades, metrics.closed_trades), (2 + 1, 2));
        assert_close(metrics.win_rate, 0.5, "win rate");
        assert_close(
            metrics.average_trade_return,
            (0.2 - 0.5) / 2.0,
            "average trade",
        );
        assert_eq!(metrics.final_equity, 9000.0);
    }

    #[test]
    fn exposure_counts_bars_that_end_in_the_market() {
        // Long at the close of bars 1 and 2; the exit bar 3 ends flat: 2 of 5 bars.
        let metrics =
            run_signals(&[1.0, 1.0, 1.0, 1.0, 1.0], &[1], &[3], &Settings::default()).metrics;
        assert_eq!(metrics.exposure, 0.4);
    }

    #[test]
    fn metrics_without_a_meaning_for_the_run_are_none() {
        let metrics = run_signals(&[10.0, 11.0, 12.0], &[], &[], &Settings::default()).metrics;
        assert_eq!(metrics.total_return, 0.0);
        assert_eq!(metrics.annualized_volatility, Some(0.0));
        assert_eq!(
            (metrics.sharpe, metrics.sortino, metrics.calmar),
            (None, None, None)
        );
        assert_eq!(
            (metrics.win_rate, metrics.average_trade_return),
            (None, None)
        );
        assert_eq!(
            (metrics.drawdown_peak, metrics.drawdown_trough),
            (None, None)
        );
        let single = run_signals(&[10.0], &[0], &[], &Settings::default()).metrics;
        assert_eq!((single.cagr, single.annualized_volatility), (None, None));
    }

    #[test]
    fn rank_metrics_parse_by_name_and_unknown_ones_are_named() {
        assert_eq!(
            "total_return".parse::<RankMetric>(),
            Ok(RankMetric::TotalReturn)
        );
        assert_eq!("Sharpe".parse::<RankMetric>(), Ok(RankMetric::Sharpe));
        let message = "omega".parse::<RankMetric>().err().map(|e| e.to_string());
        assert!(message.as_deref().is_some_and(|m| m.contains("'omega'")));
    }
}
