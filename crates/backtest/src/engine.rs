//! The engine: fills signals at the close, long-only, all in and all out, and the runner around it.

use chrono::NaiveDate;
use marketcache_domain::Bar;
use serde::Serialize;

use crate::BacktestError;
use crate::metrics::{Metrics, TradeTally};
use crate::params::ParamValue;
use crate::series::PriceSeries;
use crate::strategy::{Signals, Strategy};

/// Cash and costs of a backtest; vectorbt's `from_signals` defaults unless changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    initial_cash: f64,
    fees: f64,
    slippage: f64,
}

impl Default for Settings {
    /// 10,000 of cash, no fees, no slippage.
    fn default() -> Self {
        Self {
            initial_cash: 10_000.0,
            fees: 0.0,
            slippage: 0.0,
        }
    }
}

impl Settings {
    /// The least cash a run starts with: below a unit of currency, share counts and returns
    /// lose their precision (5e-324 buys no share at all, and a trade's return is 0/0).
    pub const MIN_CASH: f64 = 1.0;
    /// The most cash a run starts with (a trillion), far from where equity would overflow.
    pub const MAX_CASH: f64 = 1e12;

    /// Checked settings: `initial_cash` from [`Self::MIN_CASH`] to [`Self::MAX_CASH`], `fees` (a fraction of the traded
    /// value, paid on both sides) and `slippage` (a fraction of the close, against the trader)
    /// in `[0, 1)`.
    pub fn new(initial_cash: f64, fees: f64, slippage: f64) -> Result<Self, BacktestError> {
        let invalid = |setting, value, rule| {
            Err(BacktestError::InvalidSetting {
                setting,
                value,
                rule,
            })
        };
        if !(Self::MIN_CASH..=Self::MAX_CASH).contains(&initial_cash) {
            return invalid("initial_cash", initial_cash, "must be from 1 to 1e12");
        }
        if !(0.0..1.0).contains(&fees) {
            return invalid("fees", fees, "must be a fraction in [0, 1)");
        }
        if !(0.0..1.0).contains(&slippage) {
            return invalid("slippage", slippage, "must be a fraction in [0, 1)");
        }
        Ok(Self {
            initial_cash,
            fees,
            slippage,
        })
    }

    /// The cash at the start.
    pub fn initial_cash(&self) -> f64 {
        self.initial_cash
    }

    /// Fees as a fraction of the traded value.
    pub fn fees(&self) -> f64 {
        self.fees
    }

    /// Slippage as a fraction of the close.
    pub fn slippage(&self) -> f64 {
        self.slippage
    }
}

/// One round trip: bought at an entry signal, sold at the next exit signal or still open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trade {
    /// The bar whose close filled the entry.
    pub entry_date: NaiveDate,
    /// The fill price of the entry, slippage included.
    pub entry_price: f64,
    /// Shares bought (fractional).
    pub shares: f64,
    /// Fees paid on entry.
    pub entry_fees: f64,
    /// The bar whose close filled the exit; `None` while the trade is open at the end.
    pub exit_date: Option<NaiveDate>,
    /// The fill price of the exit; for an open trade, the last close.
    pub exit_price: f64,
    /// Fees paid on exit (none for an open trade).
    pub exit_fees: f64,
    /// Profit or loss in cash, fees included; an open trade is valued at the last close.
    pub pnl: f64,
    /// `pnl` as a fraction of the cash spent on entry, fees included.
    pub return_rate: f64,
}

/// The account at one bar's close, after that bar's fill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EquityPoint {
    /// The bar's date.
    pub date: NaiveDate,
    /// Cash held.
    pub cash: f64,
    /// Shares held.
    pub shares: f64,
    /// `cash + shares * close` at the bar's close.
    pub equity: f64,
}

/// Everything a single backtest produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    /// The strategy's catalog name.
    pub strategy: &'static str,
    /// The strategy's parameter values.
    pub parameters: Vec<(&'static str, ParamValue)>,
    /// The settings it ran with.
    pub settings: Settings,
    /// The summary numbers.
    pub metrics: Metrics,
    /// Every round trip, the open one last.
    pub trades: Vec<Trade>,
    /// The account at every bar.
    pub equity_curve: Vec<EquityPoint>,
}

/// Backtests `strategy` over `series` with `settings`.
pub fn run(
    series: &PriceSeries<'_>,
    strategy: &dyn Strategy,
    settings: &Settings,
) -> Result<BacktestReport, BacktestError> {
    let signals = strategy.signals(series);
    check_signals(series, strategy, &signals)?;
    let closes = series.closes();
    let mut equity = vec![0.0; series.len()];
    let mut recorder = FullRecorder::new(series);
    let tally = simulate_signals(closes, settings, &signals, &mut recorder, &mut equity);
    let metrics = Metrics::new(&tally, &equity, |index| series.date(index), settings);
    // Freed before the curve (four times their size) is allocated: at the higher peak, glibc
    // handed the top of the heap back to the system after every run and the next run faulted
    // it in again, page by page, which cost more than the backtest itself.
    drop((signals, equity));
    let (trades, equity_curve) = recorder.finish(settings.initial_cash);
    Ok(BacktestReport {
        strategy: strategy.name(),
        parameters: strategy.parameters(),
        settings: *settings,
        metrics,
        trades,
        equity_curve,
    })
}

/// Refuses `signals` of `strategy` over `series` unless there is one entry and one exit flag per
/// bar (a strategy is outside code: the engine must not index past its signals).
pub(crate) fn check_signals(
    series: &PriceSeries<'_>,
    strategy: &dyn Strategy,
    signals: &Signals,
) -> Result<(), BacktestError> {
    if signals.entries.len() != series.len() || signals.exits.len() != series.len() {
        return Err(BacktestError::SignalLength {
            strategy: strategy.name().to_owned(),
            bars: series.len(),
            entries: signals.entries.len(),
            exits: signals.exits.len(),
        });
    }
    Ok(())
}

/// What a strategy asks for at one bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Hold,
    Enter,
    Exit,
}

/// Signals bar by bar; a trait so the grid can compute them on the fly without a vector.
pub(crate) trait SignalFeed {
    fn signal(&mut self, index: usize) -> Signal;
}

/// Observes fills; the grid passes `()` so the loop records nothing.
pub(crate) trait Recorder {
    fn entered(&mut self, _index: usize, _price: f64, _shares: f64, _fees: f64, _cost: f64) {}
    fn exited(&mut self, _index: usize, _price: f64, _fees: f64, _proceeds: f64) {}
}

impl Recorder for () {}

/// Cash, position and costs as the simulation walks the bars.
struct Account {
    buy_factor: f64,
    sell_factor: f64,
    fees: f64,
    cash: f64,
    shares: f64,
    long: bool,
    entry_cost: f64,
}

impl Account {
    fn new(settings: &Settings) -> Self {
        Self {
            buy_factor: 1.0 + settings.slippage,
            sell_factor: 1.0 - settings.slippage,
            fees: settings.fees,
            cash: settings.initial_cash,
            shares: 0.0,
            long: false,
            entry_cost: 0.0,
        }
    }

    /// Applies `signal` at the close of bar `index`: entry only when flat, exit only when
    /// long. Entries spend all cash on fractional shares; exits sell all.
    #[inline(always)]
    fn apply<R: Recorder>(
        &mut self,
        index: usize,
        close: f64,
        signal: Signal,
        recorder: &mut R,
        tally: &mut TradeTally,
    ) {
        match signal {
            Signal::Enter if !self.long => {
                let price = close * self.buy_factor;
                // With no fees and no slippage this is exactly cash / close, vectorbt's route.
                self.shares = self.cash / (price * (1.0 + self.fees));
                let fees = self.shares * price * self.fees;
                recorder.entered(index, price, self.shares, fees, self.cash);
                self.entry_cost = self.cash;
                self.cash = 0.0;
                self.long = true;
                tally.trades += 1;
            }
            Signal::Exit if self.long => {
                let price = close * self.sell_factor;
                let gross = self.shares * price;
                let paid = gross * self.fees;
                self.cash = gross - paid;
                recorder.exited(index, price, paid, self.cash);
                tally.closed_trades += 1;
                tally.winning_trades += usize::from(self.cash > self.entry_cost);
                tally.closed_return_sum += self.cash / self.entry_cost - 1.0;
                self.shares = 0.0;
                self.long = false;
            }
            _ => {}
        }
    }

    /// The account's value at `close`.
    #[inline(always)]
    fn value(&self, close: f64) -> f64 {
        self.cash + self.shares * close
    }
}

/// The simulation loop of the grid; writes the equity at each bar's close into `equity` (one
/// slot per close). Per bar: apply the signal at the close, then value the account there.
#[inline(always)]
pub(crate) fn simulate<F: SignalFeed, R: Recorder>(
    closes: &[f64],
    settings: &Settings,
    feed: &mut F,
    recorder: &mut R,
    equity: &mut [f64],
) -> TradeTally {
    let mut account = Account::new(settings);
    let mut tally = TradeTally::default();
    for (index, (&close, equity)) in closes.iter().zip(equity.iter_mut()).enumerate() {
        account.apply(index, close, feed.signal(index), recorder, &mut tally);
        *equity = account.value(close);
        tally.bars_in_market += usize::from(account.long);
    }
    tally
}

/// [`simulate`] over signals computed beforehand, bit for bit the same: it jumps from signal
/// to signal and values the bars between them, where cash and shares stand still, in one
/// tight loop each.
pub(crate) fn simulate_signals<R: Recorder>(
    closes: &[f64],
    settings: &Settings,
    signals: &Signals,
    recorder: &mut R,
    equity: &mut [f64],
) -> TradeTally {
    let bars = closes.len().min(equity.len());
    let entries = signals.entries.get(..bars).unwrap_or_default();
    let exits = signals.exits.get(..bars).unwrap_or_default();
    let mut account = Account::new(settings);
    let mut tally = TradeTally::default();
    let mut from = 0;
    while from < bars {
        let next = next_signal(entries, exits, from);
        for (value, close) in equity[from..next].iter_mut().zip(&closes[from..next]) {
            *value = account.value(*close);
        }
        if account.long {
            tally.bars_in_market += next - from;
        }
        if next == bars {
            break;
        }
        let signal = if entries[next] {
            Signal::Enter
        } else {
            Signal::Exit
        };
        account.apply(next, closes[next], signal, recorder, &mut tally);
        equity[next] = account.value(closes[next]);
        tally.bars_in_market += usize::from(account.long);
        from = next + 1;
    }
    tally
}

/// The first bar from `from` on with a signal, where the entry and exit flags differ (both at
/// once cancel out: vectorbt's default conflict handling); the end if there is none.
#[inline]
fn next_signal(entries: &[bool], exits: &[bool], from: usize) -> usize {
    // Signals are rare: compare whole blocks (a memory comparison, many flags per instruction)
    // and look flag by flag only inside the block that differs.
    const BLOCK: usize = 64;
    let bars = entries.len().min(exits.len());
    let mut start = from;
    while start < bars {
        let end = bars.min(start + BLOCK);
        let (entries, exits) = (&entries[start..end], &exits[start..end]);
        if entries != exits {
            let offset = entries
                .iter()
                .zip(exits)
                .position(|(entry, exit)| entry != exit);
            return start + offset.unwrap_or_default();
        }
        start = end;
    }
    bars
}

/// Records trades, and the fills from which the equity curve is rebuilt, for a
/// [`BacktestReport`].
struct FullRecorder<'a> {
    /// Dates are read from the bars where needed: the series keeps no date column.
    bars: &'a [Bar],
    closes: &'a [f64],
    trades: Vec<Trade>,
    /// `(bar, cash, shares)` after each fill.
    fills: Vec<(usize, f64, f64)>,
    open_cost: f64,
}

impl<'a> FullRecorder<'a> {
    fn new(series: &'a PriceSeries<'_>) -> Self {
        Self {
            bars: series.bars(),
            closes: series.closes(),
            trades: Vec::new(),
            fills: Vec::new(),
            open_cost: 0.0,
        }
    }

    /// The trades, a still-open one valued at the last close, and the equity curve of a run
    /// that started with `initial_cash`.
    ///
    /// Cash and shares change only at fills, so the curve is rebuilt from them after the
    /// simulation rather than recorded bar by bar inside it; each equity is the simulation's
    /// own expression, `cash + shares * close`, over the same values, so the same number.
    fn finish(mut self, initial_cash: f64) -> (Vec<Trade>, Vec<EquityPoint>) {
        if let (Some(trade), Some(last_close)) = (self.trades.last_mut(), self.closes.last())
            && trade.exit_date.is_none()
        {
            trade.exit_price = *last_close;
            trade.pnl = trade.shares * last_close - self.open_cost;
            trade.return_rate = trade.pnl / self.open_cost;
        }
        // Segments between fills hold cash and shares constant: each is one exact-size extend.
        let mut equity_curve = Vec::with_capacity(self.bars.len());
        let mut segment = |from: usize, to: usize, cash: f64, shares: f64| {
            let (bars, closes) = (&self.bars[from..to], &self.closes[from..to]);
            equity_curve.extend(bars.iter().zip(closes).map(|(bar, close)| EquityPoint {
                date: bar.date,
                cash,
                shares,
                equity: cash + shares * close,
            }));
        };
        let (mut from, mut cash, mut shares) = (0, initial_cash, 0.0);
        for (bar, cash_after, shares_after) in &self.fills {
            segment(from, *bar, cash, shares);
            (from, cash, shares) = (*bar, *cash_after, *shares_after);
        }
        segment(from, self.bars.len().min(self.closes.len()), cash, shares);
        (self.trades, equity_curve)
    }
}

impl Recorder for FullRecorder<'_> {
    fn entered(&mut self, index: usize, price: f64, shares: f64, fees: f64, cost: f64) {
        self.open_cost = cost;
        self.fills.push((index, 0.0, shares));
        self.trades.push(Trade {
            entry_date: self.bars[index].date,
            entry_price: price,
            shares,
            entry_fees: fees,
            exit_date: None,
            exit_price: f64::NAN,
            exit_fees: 0.0,
            pnl: 0.0,
            return_rate: 0.0,
        });
    }

    fn exited(&mut self, index: usize, price: f64, fees: f64, proceeds: f64) {
        self.fills.push((index, proceeds, 0.0));
        if let Some(trade) = self.trades.last_mut() {
            trade.exit_date = Some(self.bars[index].date);
            trade.exit_price = price;
            trade.exit_fees = fees;
            trade.pnl = proceeds - self.open_cost;
            trade.return_rate = proceeds / self.open_cost - 1.0;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::strategies::{BuyAndHold, SmaCross};
    use marketcache_domain::Bar;

    /// Bars on consecutive days from 2024-01-01 with the given closes (open = high = low = close).
    pub(crate) fn bars_from_closes(closes: &[f64]) -> Vec<Bar> {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
        closes
            .iter()
            .zip(start.iter_days())
            .map(|(close, date)| {
                Bar::try_new(date, *close, *close, *close, *close, 1)
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    /// A wavy series of `bars` closes, with crossings of every kind, for grid tests.
    pub(crate) fn wave(bars: usize) -> Vec<Bar> {
        let closes: Vec<f64> = (0..bars)
            .map(|i| 100.0 + 10.0 * (i as f64 / 7.0).sin() + 3.0 * (i as f64 / 2.3).cos())
            .collect();
        bars_from_closes(&closes)
    }

    /// The series of `bars`, which tests build valid.
    pub(crate) fn series(bars: &[Bar]) -> PriceSeries<'_> {
        PriceSeries::new(bars).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs hand-made signals through the engine.
    pub(crate) fn run_signals(
        closes: &[f64],
        entries: &[usize],
        exits: &[usize],
        settings: &Settings,
    ) -> BacktestReport {
        #[derive(Debug)]
        struct Fixed(Signals);
        impl Strategy for Fixed {
            fn name(&self) -> &'static str {
                "fixed"
            }
            fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
                Vec::new()
            }
            fn signals(&self, _: &PriceSeries<'_>) -> Signals {
                self.0.clone()
            }
        }
        let mut signals = Signals::none(closes.len());
        entries.iter().for_each(|i| signals.entries[*i] = true);
        exits.iter().for_each(|i| signals.exits[*i] = true);
        let bars = bars_from_closes(closes);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        run(&series, &Fixed(signals), settings).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_round_trip_buys_all_at_the_entry_close_and_sells_all_at_the_exit_close() {
        let report = run_signals(
            &[10.0, 8.0, 10.0, 12.0, 6.0],
            &[1],
            &[3],
            &Settings::default(),
        );
        let trade = report.trades[0];
        assert_eq!(trade.shares, 1250.0);
        assert_eq!(trade.exit_price, 12.0);
        assert_eq!(trade.pnl, 5000.0);
        assert_eq!(trade.return_rate, 0.5);
        let equity: Vec<f64> = report.equity_curve.iter().map(|p| p.equity).collect();
        assert_eq!(
            equity,
            vec![10_000.0, 10_000.0, 12_500.0, 15_000.0, 15_000.0]
        );
        assert_eq!(report.metrics.final_equity, 15_000.0);
    }

    #[test]
    fn the_curve_holds_to_the_bit_the_equity_the_simulation_valued() {
        let closes: Vec<f64> = (0..60).map(|i| 10.0 + f64::from(i % 9) / 7.0).collect();
        let settings = Settings::new(1234.5, 0.003, 0.0007).unwrap_or_else(|e| panic!("{e}"));
        let (entries, exits) = ([3, 20, 41], [11, 33]);
        let report = run_signals(&closes, &entries, &exits, &settings);
        let mut signals = Signals::none(closes.len());
        entries.iter().for_each(|bar| signals.entries[*bar] = true);
        exits.iter().for_each(|bar| signals.exits[*bar] = true);
        let mut equity = vec![0.0; closes.len()];
        simulate_signals(&closes, &settings, &signals, &mut (), &mut equity);
        let curve: Vec<u64> = report
            .equity_curve
            .iter()
            .map(|p| p.equity.to_bits())
            .collect();
        assert_eq!(
            curve,
            equity.iter().map(|e| e.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_next_signal_is_found_across_blocks_and_conflicts_are_skipped() {
        let mut entries = vec![false; 200];
        let mut exits = vec![false; 200];
        for bar in [5, 63, 64, 130] {
            entries[bar] = true;
        }
        for bar in [64, 127, 199] {
            exits[bar] = true;
        }
        let found: Vec<usize> = [0, 6, 64, 65, 128, 131, 200]
            .iter()
            .map(|from| next_signal(&entries, &exits, *from))
            .collect();
        // Bar 64 has both flags: no signal.
        assert_eq!(found, vec![5, 63, 127, 127, 130, 199, 200]);
    }

    #[test]
    fn entries_while_long_and_exits_while_flat_do_nothing() {
        let report = run_signals(
            &[10.0, 10.0, 20.0, 20.0, 40.0],
            &[1, 2, 4],
            &[0, 3],
            &Settings::default(),
        );
        assert_eq!(report.trades.len(), 2, "entry at 1, exit at 3, entry at 4");
        assert_eq!(
            report.trades[0].exit_date,
            Some(report.equity_curve[3].date)
        );
        assert_eq!(report.trades[0].pnl, 10_000.0);
    }

    #[test]
    fn an_entry_and_an_exit_on_the_same_bar_cancel_out() {
        let report = run_signals(
            &[10.0, 20.0, 40.0],
            &[0, 1, 2],
            &[1, 2],
            &Settings::default(),
        );
        assert_eq!(
            (report.metrics.trades, report.metrics.closed_trades),
            (1, 0)
        );
        assert_eq!(report.metrics.final_equity, 40_000.0);
    }

    #[test]
    fn an_open_position_is_valued_at_the_last_close_and_counted_as_a_trade() {
        let bars = bars_from_closes(&[10.0, 12.0, 15.0]);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let report =
            run(&series, &BuyAndHold, &Settings::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.metrics.trades, 1);
        assert_eq!(report.metrics.closed_trades, 0);
        let trade = report.trades[0];
        assert_eq!(
            (trade.exit_date, trade.exit_price, trade.pnl),
            (None, 15.0, 5000.0)
        );
        assert_eq!(report.metrics.final_equity, 15_000.0);
    }

    #[test]
    fn fees_and_slippage_are_charged_on_both_sides() {
        let settings = Settings::new(1000.0, 0.01, 0.1).unwrap_or_else(|e| panic!("{e}"));
        let report = run_signals(&[10.0, 20.0], &[0], &[1], &settings);
        let trade = report.trades[0];
        // Buy at 11 with 1% fees: 1000 / 11.11 shares; sell at 18, keep 99%.
        let shares = 1000.0 / (11.0 * 1.01);
        assert!((trade.shares - shares).abs() < 1e-12);
        assert!((trade.entry_fees - shares * 11.0 * 0.01).abs() < 1e-12);
        assert!((report.metrics.final_equity - shares * 18.0 * 0.99).abs() < 1e-9);
        // The entry bar is valued at the close, not the fill: 10 * shares.
        assert!((report.equity_curve[0].equity - shares * 10.0).abs() < 1e-9);
    }

    #[test]
    fn settings_out_of_range_are_refused_naming_the_setting() {
        for (cash, fees, slippage, named) in [
            (0.0, 0.0, 0.0, "initial_cash"),
            (f64::INFINITY, 0.0, 0.0, "initial_cash"),
            (1.0, -0.1, 0.0, "fees"),
            (1.0, 1.0, 0.0, "fees"),
            (1.0, 0.0, f64::NAN, "slippage"),
        ] {
            let message = Settings::new(cash, fees, slippage)
                .err()
                .map(|e| e.to_string());
            assert!(
                message.as_deref().is_some_and(|m| m.contains(named)),
                "{message:?}"
            );
        }
    }

    #[test]
    fn empty_or_unordered_bars_are_refused() {
        assert_eq!(PriceSeries::new(&[]), Err(BacktestError::NoBars));
        let mut bars = bars_from_closes(&[1.0, 2.0, 3.0]);
        bars.swap(1, 2);
        assert!(matches!(
            PriceSeries::new(&bars),
            Err(BacktestError::BarsOutOfOrder { previous, date }) if previous > date
        ));
        bars[2] = bars[1];
        assert!(
            PriceSeries::new(&bars).is_err(),
            "a repeated date is out of order too"
        );
    }

    #[test]
    fn a_strategy_returning_the_wrong_number_of_signals_is_refused() {
        #[derive(Debug)]
        struct Short;
        impl Strategy for Short {
            fn name(&self) -> &'static str {
                "short"
            }
            fn parameters(&self) -> Vec<(&'static str, ParamValue)> {
                Vec::new()
            }
            fn signals(&self, _: &PriceSeries<'_>) -> Signals {
                Signals::none(1)
            }
        }
        let bars = bars_from_closes(&[1.0, 2.0]);
        let series = PriceSeries::new(&bars).unwrap_or_else(|e| panic!("{e}"));
        let error = run(&series, &Short, &Settings::default()).err();
        assert!(matches!(
            error,
            Some(BacktestError::SignalLength {
                bars: 2,
                entries: 1,
                ..
            })
        ));
        let strategy = SmaCross::new(2, 3).unwrap_or_else(|e| panic!("{e}"));
        assert!(run(&series, &strategy, &Settings::default()).is_ok());
    }
}
