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

#[cfg(test)]
mod tests {
    use super::*;

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
