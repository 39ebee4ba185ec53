//! Verifying a cache: what the store holds checked against itself, the exchange calendar and,
//! on request, the provider. The one verify that the CLI's `verify` and the API run.
//!
//! A problem is something a read could serve wrong or never repair by itself: a bar that breaks
//! the OHLC rules or sits on a closed day, a covered trading day with no bar and no recorded
//! reason, fewer bars than the ledger says were stored, ledger entries that repeat or overlap
//! in part, a provisional bar that is past due, a stored bar the provider now answers
//! differently (a missed split, a restated bar).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use marketcache_domain::range::union;
use marketcache_domain::{
    Bar, BarStore, Calendar, CoverageSpan, DateRange, Exchange, PriceSource, Symbol,
};
use serde::Serialize;

use crate::{CacheError, MarketDataCache};

/// Largest relative difference of a close price from the provider's that is not a problem.
pub const CLOSE_TOLERANCE: f64 = 1e-4;
/// Largest relative difference of a volume from the provider's that is not a problem.
pub const VOLUME_TOLERANCE: f64 = 0.005;
/// Dates listed in one problem's detail at most.
const DATES_SHOWN: usize = 5;
/// The most consecutive weekdays a market's holidays close it for (Golden Week, the Lunar New
/// Year): on a market whose holidays the calendar does not know, a shorter run without bars
/// may be closed days, a longer one is a fault.
const UNKNOWN_HOLIDAYS_LONGEST: usize = 5;

/// What to verify.
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// One symbol (in this cache's data set), or every symbol stored.
    pub symbol: Option<Symbol>,
    /// Re-fetch a sample of each symbol's covered ranges from this provider and compare.
    pub against: Option<Arc<dyn PriceSource>>,
    /// Covered ranges re-fetched per symbol with `against`.
    pub sample: usize,
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The store's key of the symbol (`SYMBOL@name` for an offline data set).
    pub symbol: String,
    /// A machine-readable code: `invalid_bar`, `bar_on_closed_day`, `trading_day_without_bar`,
    /// `bars_missing_from_ledger_entry`, `unreadable_bars`, `duplicate_ledger_entry`, `overlapping_ledger_entries`,
    /// `provisional_past_due`, `differs_from_provider`.
    pub kind: &'static str,
    /// The days it concerns, when it concerns some days.
    pub range: Option<DateRange>,
    /// What is wrong, for people.
    pub detail: String,
}

/// What a verify looked at and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Store keys verified.
    pub symbols: usize,
    /// Bars checked.
    pub bars: usize,
    /// Ledger entries checked.
    pub ledger_entries: usize,
    /// Ranges re-fetched and compared with the provider.
    pub ranges_compared: usize,
    /// Upstream requests the comparison took.
    pub upstream_requests: usize,
    pub problems: Vec<Problem>,
}

/// One symbol's stored state, read once.
struct Stored {
    key: String,
    /// The market of the key's symbol, whose calendar says which days may trade.
    exchange: Exchange,
    bars: Vec<Bar>,
    spans: Vec<CoverageSpan>,
    covered: Vec<DateRange>,
    provisional: Vec<NaiveDate>,
}

impl MarketDataCache {
    /// Verifies the store (see the module's documentation); problems are found, never fixed.
    pub async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport, CacheError> {
        let keys = match &options.symbol {
            Some(symbol) => vec![self.key(symbol)],
            None => stored_keys(self.store.as_ref()).await?,
        };
        let mut report = VerifyReport::default();
        let now = self.clock.now();
        for key in keys {
            report.symbols += 1;
            let stored = match self.read_stored(&key).await {
                Ok(stored) => stored,
                // The store refuses rows that break the bar rules: the symbol can't be read.
                Err(CacheError::Store(error)) => {
                    report.problems.push(unreadable(&key, &error));
                    continue;
                }
                Err(error) => return Err(error),
            };
            report.bars += stored.bars.len();
            report.ledger_entries += stored.spans.len();
            let found = &mut report.problems;
            found.extend(bar_problems(&stored));
            found.extend(ledger_problems(&stored));
            found.extend(coverage_problems(&stored));
            found.extend(provisional_problems(&stored, now));
            if let Some(source) = &options.against {
                self.compare_sample(source.as_ref(), &stored, options.sample, &mut report)
                    .await?;
            }
        }
        Ok(report)
    }

    async fn read_stored(&self, key: &Symbol) -> Result<Stored, CacheError> {
        let ledger = self.store.read_ledger(key).await?;
        let covered = union(ledger.coverage.iter().map(|span| span.range));
        let exchange = ledger.exchange.unwrap_or_else(|| {
            Symbol::from_stored_key(key.as_str())
                .map_or(Exchange::NYSE, |(symbol, _)| Exchange::of(&symbol))
        });
        Ok(Stored {
            key: key.as_str().to_string(),
            exchange,
            bars: self.store.read_bars(key, all_days()).await?,
            spans: ledger.coverage,
            covered,
            provisional: ledger.provisional,
        })
    }

    /// Re-fetches `sample` covered ranges of `stored` from `source` (spread evenly over what is
    /// covered, each one request long) and reports the days that differ.
    async fn compare_sample(
        &self,
        source: &dyn PriceSource,
        stored: &Stored,
        sample: usize,
        report: &mut VerifyReport,
    ) -> Result<(), CacheError> {
        // Another data set's bars are never compared with this provider's.
        let symbol = match Symbol::from_stored_key(&stored.key) {
            Some((symbol, dataset)) if dataset == source.dataset() => symbol,
            _ => return Ok(()),
        };
        let chunks: Vec<DateRange> = stored
            .covered
            .iter()
            .flat_map(|range| range.chunks(source.limits().max_span_days))
            .collect();
        for chunk in spread(&chunks, sample) {
            let answer = source.fetch(&symbol, chunk).await?;
            report.upstream_requests += 1;
            report.ranges_compared += 1;
            let ours: Vec<Bar> = stored
                .bars
                .iter()
                .filter(|bar| chunk.contains(bar.date))
                .copied()
                .collect();
            report
                .problems
                .extend(differences(&stored.key, chunk, &ours, &answer.bars));
        }
        Ok(())
    }
}

/// Every store key with bars or ledger entries.
pub(crate) async fn stored_keys(store: &dyn BarStore) -> Result<Vec<Symbol>, CacheError> {
    let stats = store.stats().await?;
    Ok(stats
        .symbols
        .iter()
        .filter_map(|symbol| Symbol::from_stored_key(&symbol.symbol))
        .map(|(symbol, dataset)| symbol.stored_as(dataset))
        .collect())
}

/// Every day a bar can be stored on, even one dated absurdly early or late.
pub(crate) fn all_days() -> DateRange {
    NaiveDate::from_ymd_opt(1800, 1, 1)
        .zip(NaiveDate::from_ymd_opt(9999, 12, 31))
        .and_then(|(first, last)| DateRange::new(first, last).ok())
        .unwrap_or(DateRange::single(NaiveDate::MIN))
}

/// Bars that break the OHLC rules or sit on a day the exchange was closed.
fn bar_problems(stored: &Stored) -> Vec<Problem> {
    let mut problems = Vec::new();
    for bar in &stored.bars {
        let checked = Bar::try_new(bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume);
        if let Err(error) = checked {
            problems.push(problem(
                stored,
                "invalid_bar",
                DateRange::single(bar.date),
                error.to_string(),
            ));
        }
        if !stored.exchange.calendar.is_trading_day(bar.date) {
            let detail = format!(
                "a bar on {}, a day {} was closed",
                bar.date, stored.exchange.code
            );
            problems.push(problem(
                stored,
                "bar_on_closed_day",
                DateRange::single(bar.date),
                detail,
            ));
        }
    }
    problems
}

/// Ledger entries that repeat one another, or overlap without one holding the other (a
/// refresh of part of a range lies inside the older entry, which is how it should be).
fn ledger_problems(stored: &Stored) -> Vec<Problem> {
    let mut spans: Vec<&CoverageSpan> = stored.spans.iter().collect();
    spans.sort_by_key(|span| (span.range.start(), span.range.end()));
    let mut problems = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        for later in spans.iter().skip(index + 1) {
            if later.range.start() > span.range.end() {
                break;
            }
            // Days of another price basis are fetched again in the series' own: by design.
            if later.basis != span.basis {
                continue;
            }
            let (a, b) = (span.range, later.range);
            if a == b {
                let detail = format!(
                    "the ledger holds {a} twice ({} and {})",
                    span.fetched_at, later.fetched_at
                );
                problems.push(problem(stored, "duplicate_ledger_entry", a, detail));
            } else if !(holds(a, b) || holds(b, a)) {
                let overlap = a.intersect(&b).unwrap_or(a);
                let detail = format!("ledger entries {a} and {b} overlap in part");
                problems.push(problem(
                    stored,
                    "overlapping_ledger_entries",
                    overlap,
                    detail,
                ));
            }
        }
    }
    problems
}

/// Covered trading days without a bar and without a recorded reason: after the symbol's first
/// bar, in a ledger entry that recorded bars and no rejected rows. And entries that recorded
/// more bars than their days now hold.
fn coverage_problems(stored: &Stored) -> Vec<Problem> {
    let first_bar = stored.bars.first().map(|bar| bar.date);
    let has_bar = |day: NaiveDate| {
        stored
            .bars
            .binary_search_by_key(&day, |bar| bar.date)
            .is_ok()
    };
    let explained = |day: NaiveDate| {
        first_bar.is_none_or(|first| day < first)
            || stored
                .spans
                .iter()
                .any(|span| span.range.contains(day) && (span.bars == 0 || span.rejected_rows > 0))
    };
    let calendar = stored.exchange.calendar;
    // Where the calendar does not know the market's holidays, a few weekdays without bars may
    // be one: only a longer run is a fault.
    let shortest_fault = if calendar.knows_holidays() {
        1
    } else {
        UNKNOWN_HOLIDAYS_LONGEST + 1
    };
    let mut problems = Vec::new();
    for range in &stored.covered {
        let unexplained: Vec<NaiveDate> = calendar
            .trading_days(*range)
            .filter(|day| !has_bar(*day) && !explained(*day))
            .collect();
        for run in runs(&unexplained, calendar) {
            let days = calendar.trading_days(run).count();
            if days < shortest_fault {
                continue;
            }
            let detail = format!(
                "{days} covered trading day(s) without a bar and without a recorded reason"
            );
            problems.push(problem(stored, "trading_day_without_bar", run, detail));
        }
    }
    for span in &stored.spans {
        let held = stored
            .bars
            .iter()
            .filter(|bar| span.range.contains(bar.date))
            .count();
        if held < span.bars as usize {
            let detail = format!(
                "{} bars recorded from {} at {}, {held} stored",
                span.bars, span.provider, span.fetched_at
            );
            problems.push(problem(
                stored,
                "bars_missing_from_ledger_entry",
                span.range,
                detail,
            ));
        }
    }
    problems
}

/// Provisional bars whose final value could have been fetched for a day already.
fn provisional_problems(stored: &Stored, now: DateTime<Utc>) -> Vec<Problem> {
    let past_due: Vec<NaiveDate> = stored
        .provisional
        .iter()
        .copied()
        .filter(|day| now - stored.exchange.bar_final_at(*day) > chrono::Duration::days(1))
        .collect();
    let calendar = stored.exchange.calendar;
    runs(&past_due, calendar)
        .into_iter()
        .map(|run| {
            let detail = format!(
                "{} provisional bar(s) final for over a day; the next read of them fetches them again",
                calendar.trading_days(run).count()
            );
            problem(stored, "provisional_past_due", run, detail)
        })
        .collect()
}

/// How `ours` (stored) differs from `theirs` (the provider's answer for `chunk`).
fn differences(key: &str, chunk: DateRange, ours: &[Bar], theirs: &[Bar]) -> Option<Problem> {
    let theirs: Vec<&Bar> = theirs
        .iter()
        .filter(|bar| chunk.contains(bar.date))
        .collect();
    let mut differing: Vec<String> = Vec::new();
    for bar in ours {
        match theirs.iter().find(|their| their.date == bar.date) {
            None => differing.push(format!("{}: the provider has no bar", bar.date)),
            Some(their) if !close_enough(bar, their) => differing.push(format!(
                "{}: close {} vs {}, volume {} vs {}",
                bar.date, bar.close, their.close, bar.volume, their.volume
            )),
            Some(_) => {}
        }
    }
    for their in &theirs {
        if !ours.iter().any(|bar| bar.date == their.date) {
            differing.push(format!(
                "{}: the provider has a bar, the cache none",
                their.date
            ));
        }
    }
    if differing.is_empty() {
        return None;
    }
    let shown: Vec<&str> = differing
        .iter()
        .take(DATES_SHOWN)
        .map(String::as_str)
        .collect();
    Some(Problem {
        symbol: key.to_string(),
        kind: "differs_from_provider",
        range: Some(chunk),
        detail: format!("{} day(s) differ: {}", differing.len(), shown.join("; ")),
    })
}

fn close_enough(ours: &Bar, theirs: &Bar) -> bool {
    let relative = |a: f64, b: f64| (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
    let volume_off = relative(ours.volume as f64, theirs.volume as f64);
    relative(ours.close, theirs.close) <= CLOSE_TOLERANCE
        && (ours.volume == theirs.volume || volume_off <= VOLUME_TOLERANCE)
}

/// Whether `outer` holds every day of `inner`.
fn holds(outer: DateRange, inner: DateRange) -> bool {
    outer.start() <= inner.start() && inner.end() <= outer.end()
}

/// Sorted days grouped into ranges of consecutive trading days of `calendar`.
fn runs(days: &[NaiveDate], calendar: Calendar) -> Vec<DateRange> {
    let mut runs: Vec<DateRange> = Vec::new();
    for day in days {
        match runs.last_mut() {
            Some(run) if no_trading_day_between(run.end(), *day, calendar) => {
                *run = DateRange::new(run.start(), *day).unwrap_or(*run);
            }
            _ => runs.push(DateRange::single(*day)),
        }
    }
    runs
}

/// Whether no trading day lies strictly between `before` and `after`.
fn no_trading_day_between(before: NaiveDate, after: NaiveDate, calendar: Calendar) -> bool {
    let between = before.succ_opt().zip(after.pred_opt());
    match between.and_then(|(from, to)| DateRange::new(from, to).ok()) {
        Some(range) => calendar.trading_days(range).next().is_none(),
        None => true,
    }
}

/// `count` of `chunks`, spread evenly from the first to the last.
fn spread(chunks: &[DateRange], count: usize) -> Vec<DateRange> {
    if count == 0 || chunks.is_empty() {
        return Vec::new();
    }
    if count >= chunks.len() {
        return chunks.to_vec();
    }
    (0..count)
        .map(|index| chunks[index * (chunks.len() - 1) / (count - 1).max(1)])
        .collect()
}

/// The problem of a symbol whose rows the store could not read.
fn unreadable(key: &Symbol, error: &marketcache_domain::StoreError) -> Problem {
    Problem {
        symbol: key.as_str().to_string(),
        kind: "unreadable_bars",
        range: None,
        detail: marketcache_domain::error::error_chain(error),
    }
}

fn problem(stored: &Stored, kind: &'static str, range: DateRange, detail: String) -> Problem {
    Problem {
        symbol: stored.key.clone(),
        kind,
        range: Some(range),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn span(from: NaiveDate, to: NaiveDate) -> CoverageSpan {
        CoverageSpan {
            range: DateRange::new(from, to).unwrap_or(DateRange::single(from)),
            provider: "synthetic".to_string(),
            basis: marketcache_domain::PriceBasis::Raw,
            fetched_at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
            bars: 0,
            rejected_rows: 0,
        }
    }

    fn stored(spans: Vec<CoverageSpan>) -> Stored {
        Stored {
            key: "X".to_string(),
            exchange: Exchange::NYSE,
            bars: Vec::new(),
            covered: union(spans.iter().map(|span| span.range)),
            spans,
            provisional: Vec::new(),
        }
    }

    #[test]
    fn a_refresh_inside_an_entry_is_sound_a_repeat_or_a_partial_overlap_is_not() {
        let inside = stored(vec![
            span(date(2020, 1, 1), date(2020, 6, 30)),
            span(date(2020, 3, 1), date(2020, 3, 31)),
        ]);
        assert!(ledger_problems(&inside).is_empty());
        let repeated = stored(vec![
            span(date(2020, 1, 1), date(2020, 6, 30)),
            span(date(2020, 1, 1), date(2020, 6, 30)),
        ]);
        let kinds: Vec<_> = ledger_problems(&repeated).iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["duplicate_ledger_entry"]);
        let partial = stored(vec![
            span(date(2020, 1, 1), date(2020, 6, 30)),
            span(date(2020, 6, 1), date(2020, 12, 31)),
        ]);
        let found = ledger_problems(&partial);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "overlapping_ledger_entries");
        assert_eq!(
            found[0].range,
            DateRange::new(date(2020, 6, 1), date(2020, 6, 30)).ok()
        );
    }

    #[test]
    fn days_group_into_runs_across_weekends_and_a_sample_spreads_first_to_last() {
        // Friday 2020-03-06 and Monday 2020-03-09 are one run; Wednesday 2020-03-11 another.
        let days = [date(2020, 3, 6), date(2020, 3, 9), date(2020, 3, 11)];
        assert_eq!(
            runs(&days, Calendar::Nyse),
            [
                DateRange::new(date(2020, 3, 6), date(2020, 3, 9))
                    .unwrap_or(DateRange::single(days[0])),
                DateRange::single(date(2020, 3, 11)),
            ]
        );
        let chunks: Vec<DateRange> = (1..=10)
            .map(|day| DateRange::single(date(2020, 1, day)))
            .collect();
        let sample = spread(&chunks, 3);
        assert_eq!(sample, [chunks[0], chunks[4], chunks[9]]);
        assert_eq!(spread(&chunks, 20).len(), 10);
        assert!(spread(&chunks, 0).is_empty());
    }
}
