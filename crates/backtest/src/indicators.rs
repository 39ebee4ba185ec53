//! Indicator series over closes, computed along vectorbt's exact floating-point route.

/// Running sums of `values`: `sums[i] = sums[i - 1] + values[i]`, in f64, left to right.
pub fn prefix_sums(values: &[f64]) -> Vec<f64> {
    let mut total = 0.0;
    values
        .iter()
        .map(|value| {
            total += value;
            total
        })
        .collect()
}

/// The simple moving average over `window` bars from running sums; `NaN` before bar
/// `window - 1`, where it is not yet defined.
///
/// `sma[i] = (sums[i] - sums[i - window]) / window`, and `sums[window - 1] / window` at the first
/// defined bar. This is vectorbt's rolling mean to the last bit; a sliding-window sum or pandas'
/// rolling mean rounds differently and flips crossovers on near-tie bars.
pub fn sma_from_prefix_sums(sums: &[f64], window: usize) -> Vec<f64> {
    (0..sums.len())
        .map(|bar| sma_at(sums, window, bar))
        .collect()
}

/// The simple moving average over `window` bars at one `bar`, from running sums; `NaN` where
/// it is not defined. Bit for bit the value of [`sma_from_prefix_sums`] at that bar.
#[inline(always)]
pub fn sma_at(sums: &[f64], window: usize, bar: usize) -> f64 {
    if window == 0 || bar + 1 < window {
        f64::NAN
    } else if bar + 1 == window {
        sums[bar] / window as f64
    } else {
        (sums[bar] - sums[bar - window]) / window as f64
    }
}

/// The simple moving average of `values` over `window` bars (see [`sma_from_prefix_sums`]).
pub fn sma(values: &[f64], window: usize) -> Vec<f64> {
    sma_from_prefix_sums(&prefix_sums(values), window)
}

/// An exponential moving average fed one value at a time, with `alpha = 2 / (period + 1)`.
///
/// It is seeded with the simple mean of the first `period` values, at the `period`-th value,
/// and is `NaN` before that; after it, `ema = alpha * value + (1 - alpha) * previous`. This is
/// the classic (TA-Lib) definition. pandas' `ewm(span=period, adjust=False)` instead starts at
/// the first value and is defined from the first bar, so early values differ; the SMA seed is
/// chosen so that no value depends on how the series happened to start.
#[derive(Debug, Clone, Copy)]
pub struct Ema {
    period: usize,
    alpha: f64,
    seen: usize,
    sum: f64,
    value: f64,
}

impl Ema {
    /// An EMA over `period` values (never defined if `period` is 0).
    pub fn new(period: usize) -> Self {
        Self {
            period,
            alpha: 2.0 / (period as f64 + 1.0),
            seen: 0,
            sum: 0.0,
            value: f64::NAN,
        }
    }

    /// Feeds the next value; returns the EMA at it, `NaN` while still warming up.
    #[inline]
    pub fn next(&mut self, value: f64) -> f64 {
        if self.seen < self.period {
            self.seen += 1;
            self.sum += value;
            if self.seen == self.period {
                self.value = self.sum / self.period as f64;
            }
        } else if self.period > 0 {
            self.value = self.alpha * value + (1.0 - self.alpha) * self.value;
        }
        self.value
    }
}

/// The EMA of `values` over `period` bars (see [`Ema`]); `NaN` before bar `period - 1`.
pub fn ema(values: &[f64], period: usize) -> Vec<f64> {
    let mut ema = Ema::new(period);
    values.iter().map(|value| ema.next(*value)).collect()
}

/// Wilder's relative strength index fed one close at a time, on a 0..=100 scale.
///
/// The first average gain and loss are the simple means of the first `period` close-to-close
/// changes, so the RSI is defined from the bar with index `period`; after that each average
/// is smoothed as `(previous * (period - 1) + current) / period`. The RSI is
/// `100 * gain / (gain + loss)`, which is `100 - 100 / (1 + gain / loss)` without dividing by a
/// zero loss; when the closes did not move at all (both averages 0) it is 50, neither
/// overbought nor oversold.
#[derive(Debug, Clone, Copy)]
pub struct Rsi {
    period: usize,
    previous_close: f64,
    changes: usize,
    gain: f64,
    loss: f64,
}

impl Rsi {
    /// An RSI over `period` changes (never defined if `period` is 0).
    pub fn new(period: usize) -> Self {
        Self {
            period,
            previous_close: f64::NAN,
            changes: 0,
            gain: 0.0,
            loss: 0.0,
        }
    }

    /// Feeds the next close; returns the RSI at it, `NaN` while still warming up.
    #[inline]
    pub fn next(&mut self, close: f64) -> f64 {
        let change = close - self.previous_close;
        let first = self.previous_close.is_nan();
        self.previous_close = close;
        if first || self.period == 0 {
            return f64::NAN;
        }
        let (gain, loss) = (change.max(0.0), (-change).max(0.0));
        let period = self.period as f64;
        self.changes += 1;
        if self.changes < self.period {
            // Summed, then divided once the first `period` changes are in: a simple mean.
            self.gain += gain;
            self.loss += loss;
            return f64::NAN;
        }
        if self.changes == self.period {
            self.gain = (self.gain + gain) / period;
            self.loss = (self.loss + loss) / period;
        } else {
            self.gain = (self.gain * (period - 1.0) + gain) / period;
            self.loss = (self.loss * (period - 1.0) + loss) / period;
        }
        let total = self.gain + self.loss;
        if total == 0.0 {
            50.0
        } else {
            100.0 * self.gain / total
        }
    }
}

/// Wilder's RSI of `closes` over `period` (see [`Rsi`]); `NaN` before bar `period`.
pub fn rsi(closes: &[f64], period: usize) -> Vec<f64> {
    let mut rsi = Rsi::new(period);
    closes.iter().map(|close| rsi.next(*close)).collect()
}

/// The mean and population standard deviation of the `window` values ending at `bar`;
/// `(NaN, NaN)` where the window does not fit.
///
/// Two passes over the window, not running sums of squares: the variance of prices far from
/// zero would otherwise lose most of its digits to cancellation.
#[inline]
pub fn mean_and_std_at(values: &[f64], window: usize, bar: usize) -> (f64, f64) {
    if window == 0 || bar + 1 < window || bar >= values.len() {
        return (f64::NAN, f64::NAN);
    }
    let values = &values[bar + 1 - window..=bar];
    let count = window as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values
        .iter()
        .map(|value| (value - mean) * (value - mean))
        .sum::<f64>()
        / count;
    (mean, variance.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= 1e-12
    }

    #[test]
    fn ema_is_seeded_with_the_sma_then_smoothed() {
        // Period 3, alpha 0.5: seed (1 + 2 + 3) / 3 = 2 at bar 2, then 0.5 * 4 + 0.5 * 2 = 3,
        // then 0.5 * 8 + 0.5 * 3 = 5.5.
        let ema = ema(&[1.0, 2.0, 3.0, 4.0, 8.0], 3);
        assert!(ema[0].is_nan() && ema[1].is_nan());
        for (actual, expected) in ema[2..].iter().zip([2.0, 3.0, 5.5]) {
            assert!(close(*actual, expected), "{actual} != {expected}");
        }
        assert!(super::ema(&[1.0, 2.0], 3).iter().all(|v| v.is_nan()));
        assert!(super::ema(&[1.0, 2.0], 0).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn rsi_follows_wilders_smoothing() {
        // Changes +1 -1 +2 -1 -2 +3, period 2. Bar 2: gain 0.5, loss 0.5 -> 50. Bar 3: gain
        // (0.5 + 2) / 2 = 1.25, loss 0.25 -> 250/3. Bar 4: 0.625 and 0.625 -> 50. Bar 5:
        // 0.3125 and 1.3125 -> 250/13. Bar 6: 1.65625 and 0.65625 -> 2650/37.
        let rsi = rsi(&[10.0, 11.0, 10.0, 12.0, 11.0, 9.0, 12.0], 2);
        assert!(rsi[0].is_nan() && rsi[1].is_nan());
        let expected = [50.0, 250.0 / 3.0, 50.0, 250.0 / 13.0, 2650.0 / 37.0];
        for (actual, expected) in rsi[2..].iter().zip(expected) {
            assert!(close(*actual, expected), "{actual} != {expected}");
        }
        assert_eq!(
            super::rsi(&[5.0, 5.0, 5.0], 2)[2],
            50.0,
            "no movement is neutral"
        );
        assert_eq!(super::rsi(&[5.0, 6.0, 7.0], 2)[2], 100.0, "no loss is 100");
    }

    #[test]
    fn mean_and_std_are_the_population_moments_of_the_window() {
        let values = [7.0, 1.0, 2.0, 3.0];
        let (mean, std) = mean_and_std_at(&values, 3, 3);
        assert!(close(mean, 2.0) && close(std, (2.0_f64 / 3.0).sqrt()));
        let (mean, std) = mean_and_std_at(&values, 3, 1);
        assert!(mean.is_nan() && std.is_nan());
    }

    #[test]
    fn sma_is_undefined_during_warm_up_and_the_window_mean_after() {
        let sma = sma(&[1.0, 2.0, 3.0, 4.0, 6.0], 3);
        assert!(sma[0].is_nan() && sma[1].is_nan());
        assert_eq!(&sma[2..], &[2.0, 3.0, 13.0 / 3.0]);
    }

    #[test]
    fn sma_longer_than_the_series_is_never_defined() {
        assert!(sma(&[1.0, 2.0], 3).iter().all(|v| v.is_nan()));
        assert!(sma(&[1.0, 2.0], 0).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn sma_follows_the_running_sum_route_to_the_last_bit() {
        // (0.1 + 0.2 + 0.3) - 0.1 is not 0.2 + 0.3 in f64: the route decides the last bit.
        let values = [0.1, 0.2, 0.3];
        let sma = sma(&values, 2);
        assert_eq!(sma[2], ((0.1 + 0.2 + 0.3) - 0.1) / 2.0);
        assert_ne!(sma[2], (0.2 + 0.3) / 2.0);
    }
}
