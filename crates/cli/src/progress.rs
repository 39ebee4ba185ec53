//! Progress bars for upstream requests, one per symbol.

use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use marketcache_cache::{FetchProgress, WarmProgress};
use marketcache_domain::Symbol;

/// A warm's progress: one bar per symbol, stacked in one group on stderr.
pub struct WarmBars {
    group: MultiProgress,
}

impl WarmBars {
    /// Bars drawn inside `group`.
    pub fn new(group: MultiProgress) -> Self {
        Self { group }
    }
}

impl WarmProgress for WarmBars {
    fn for_symbol(&self, symbol: &Symbol) -> Box<dyn FetchProgress> {
        Box::new(SymbolProgress::new(&self.group, symbol))
    }
}

/// A progress bar counting one symbol's requests and the bars they brought.
pub struct SymbolProgress {
    bar: ProgressBar,
    bars: AtomicUsize,
}

impl SymbolProgress {
    /// A bar for `symbol` inside `group`.
    pub fn new(group: &MultiProgress, symbol: &Symbol) -> Self {
        let style = ProgressStyle::with_template(
            "{prefix:>6} [{bar:30.cyan/blue}] {pos}/{len} requests, {msg} ({elapsed}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = group.add(
            ProgressBar::new(0)
                .with_style(style)
                .with_prefix(symbol.to_string()),
        );
        bar.set_message("0 bars");
        Self {
            bar,
            bars: AtomicUsize::new(0),
        }
    }
}

impl FetchProgress for SymbolProgress {
    fn planned(&self, requests: usize) {
        self.bar.set_length(requests as u64);
        if requests == 0 {
            self.bar.finish_with_message("cached, nothing to fetch");
        }
    }

    fn waiting_for_another_process(&self) {
        self.bar
            .set_message("waiting: another process is fetching it".to_string());
        self.bar.tick();
    }

    fn request_done(&self, bars: usize) {
        let total = self.bars.fetch_add(bars, Ordering::Relaxed) + bars;
        self.bar.set_message(format!("{total} bars"));
        self.bar.inc(1);
        if self
            .bar
            .length()
            .is_some_and(|length| self.bar.position() >= length)
        {
            self.bar.finish();
        }
    }
}

impl Drop for SymbolProgress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.abandon();
        }
    }
}
