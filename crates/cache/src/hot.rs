//! Recently read series kept in memory, each tagged with the store's version of its symbol, so
//! repeated reads (backtests, the optimizer, the server) skip the database's row decoding.
//!
//! An entry is used only while the store still reports the same version for the symbol, and
//! every write or clear in any process bumps that version in the same transaction as the data:
//! a stale entry is never served.

use std::collections::HashMap;
use std::sync::Arc;

use marketcache_domain::{Bar, CorporateAction, DateRange, Symbol};

use crate::ledger::Ledger;

/// Most bars kept in memory across all symbols (about 48 bytes each).
pub const MAX_HOT_BARS: usize = 1_000_000;

/// One symbol's series as last read.
#[derive(Debug, Clone)]
pub struct HotSeries {
    /// The store's version of the symbol when this was read.
    pub version: i64,
    /// The symbol's coverage ledger when this was read.
    pub ledger: Arc<Ledger>,
    /// The range the bars were read for.
    pub range: DateRange,
    /// The stored (raw) bars of `range`, in date order.
    pub bars: Arc<Vec<Bar>>,
    /// The symbol's splits and dividends, by ex-date.
    pub actions: Arc<Vec<CorporateAction>>,
}

impl HotSeries {
    /// Whether this series holds every bar of `wanted`.
    pub fn holds(&self, wanted: DateRange) -> bool {
        wanted.start() >= self.range.start() && wanted.end() <= self.range.end()
    }

    /// The bars of `wanted`, within the range this series was read for.
    pub fn slice(&self, wanted: DateRange) -> Vec<Bar> {
        let from = self.bars.partition_point(|bar| bar.date < wanted.start());
        let to = self.bars.partition_point(|bar| bar.date <= wanted.end());
        self.bars.get(from..to).unwrap_or_default().to_vec()
    }
}

/// The in-memory series, evicting the least recently used beyond [`MAX_HOT_BARS`].
#[derive(Debug, Default)]
pub struct HotCache {
    entries: HashMap<Symbol, (u64, HotSeries)>,
    clock: u64,
    bars_held: usize,
}

impl HotCache {
    /// The entry of `symbol` if it is still at `version`.
    pub fn get(&mut self, symbol: &Symbol, version: i64) -> Option<HotSeries> {
        self.clock += 1;
        let clock = self.clock;
        match self.entries.get_mut(symbol) {
            Some((last_used, series)) if series.version == version => {
                *last_used = clock;
                Some(series.clone())
            }
            _ => None,
        }
    }

    /// Whether anything is kept for `symbol`, at any version: when not, a read goes straight
    /// to the store's snapshot without asking for the version first.
    pub fn has(&self, symbol: &Symbol) -> bool {
        self.entries.contains_key(symbol)
    }

    /// Keeps `series` for `symbol`, replacing what was there.
    pub fn put(&mut self, symbol: &Symbol, series: HotSeries) {
        self.clock += 1;
        if let Some((_, old)) = self.entries.remove(symbol) {
            self.bars_held -= old.bars.len();
        }
        if series.bars.len() > MAX_HOT_BARS {
            return;
        }
        self.bars_held += series.bars.len();
        self.entries.insert(symbol.clone(), (self.clock, series));
        while self.bars_held > MAX_HOT_BARS {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(s, _)| s.clone())
            else {
                break;
            };
            if let Some((_, evicted)) = self.entries.remove(&oldest) {
                self.bars_held -= evicted.bars.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, d).unwrap_or_default()
    }

    fn series(version: i64, days: &[u32]) -> HotSeries {
        let bars = days
            .iter()
            .map(|d| Bar {
                date: day(*d),
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: 1,
            })
            .collect();
        let range = DateRange::new(day(1), day(31)).unwrap_or_else(|e| panic!("{e}"));
        HotSeries {
            version,
            ledger: Arc::new(Ledger::default()),
            range,
            bars: Arc::new(bars),
            actions: Arc::new(Vec::new()),
        }
    }

    #[test]
    fn an_entry_is_served_only_at_its_version() {
        let mut cache = HotCache::default();
        let symbol = Symbol::parse("AAPL").unwrap_or_else(|e| panic!("{e}"));
        cache.put(&symbol, series(3, &[2, 3, 4]));
        assert!(cache.get(&symbol, 3).is_some());
        assert!(cache.get(&symbol, 4).is_none());
    }

    #[test]
    fn slices_hold_exactly_the_wanted_days() {
        let hot = series(1, &[2, 3, 4, 5, 8]);
        let wanted = DateRange::new(day(3), day(6)).unwrap_or_else(|e| panic!("{e}"));
        assert!(hot.holds(wanted));
        let dates: Vec<_> = hot.slice(wanted).iter().map(|b| b.date).collect();
        assert_eq!(dates, vec![day(3), day(4), day(5)]);
        let beyond = DateRange::new(
            day(3),
            NaiveDate::from_ymd_opt(2024, 2, 1).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!hot.holds(beyond));
    }
}
