//! What the ledger says of one symbol, in the forms a read needs: the covered ranges and the
//! recent checks (to plan), the provisional days, and which provider answered each range (to
//! say where the bars came from).

use chrono::{DateTime, NaiveDate, Utc};
use marketcache_domain::range::{subtract, union};
use marketcache_domain::{
    Calendar, CoverageSpan, DateRange, Exchange, LedgerSnapshot, PriceBasis, RecentCheck,
};

/// One symbol's ledger, read once per read and kept with its in-memory series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// The union of the entries' ranges, in order.
    pub covered: Vec<DateRange>,
    /// Dates of the provisional bars, in order.
    pub provisional: Vec<NaiveDate>,
    /// Recent days asked for without a final bar, and when to ask again.
    recent_checks: Vec<RecentCheck>,
    /// Each entry's range and provider, in start order.
    answered_by: Vec<(DateRange, String)>,
    /// When the newest entry was fetched.
    pub last_fetched_at: Option<DateTime<Utc>>,
    /// Days covered only by entries of another price basis: their stored bars are never
    /// served with this basis's, and the days are asked for again.
    pub foreign: Vec<DateRange>,
    /// The market a provider named for the symbol, if one did.
    pub exchange: Option<Exchange>,
}

impl Ledger {
    /// The ledger of a snapshot for a series of `basis`, with the version it was taken at:
    /// entries of another basis cover nothing, and their days are [`Self::foreign`].
    pub fn from_snapshot(snapshot: LedgerSnapshot, basis: PriceBasis) -> (i64, Self) {
        let (own, other): (Vec<CoverageSpan>, Vec<CoverageSpan>) = snapshot
            .coverage
            .into_iter()
            .partition(|span| span.basis == basis);
        let mut ledger = Self::new(own);
        ledger.exchange = snapshot.exchange;
        ledger.foreign = union(other.iter().map(|span| span.range))
            .into_iter()
            .flat_map(|range| subtract(range, &ledger.covered))
            .collect();
        ledger.provisional = snapshot.provisional;
        ledger.recent_checks = snapshot.recent_checks;
        (snapshot.version, ledger)
    }

    /// The parts of `range` to ask upstream at `now`: those neither covered nor held by a
    /// recent check that is not due yet for a reader accepting `freshness`, and holding a day
    /// the symbol's market may trade on (its `calendar`). A part keeps its closed edges (the
    /// weekend before it, say): only the request is trimmed to the trading days, so a bar the
    /// provider sends for a day our calendar calls closed is kept, and the ledger entry spans
    /// the weekends between parts rather than stopping at each.
    pub fn plan(
        &self,
        range: DateRange,
        now: DateTime<Utc>,
        freshness: chrono::Duration,
        calendar: Calendar,
    ) -> Vec<DateRange> {
        let standing = self
            .recent_checks
            .iter()
            .filter(|check| now < check.due_at(freshness))
            .map(|check| check.range);
        let known = union(self.covered.iter().copied().chain(standing));
        subtract(range, &known)
            .into_iter()
            .filter(|part| calendar.trim(*part).is_some())
            .collect()
    }

    /// The ledger of the entries `spans`.
    pub fn new(spans: Vec<CoverageSpan>) -> Self {
        let covered = union(spans.iter().map(|span| span.range));
        let last_fetched_at = spans.iter().map(|span| span.fetched_at).max();
        let mut answered_by: Vec<(DateRange, String)> = spans
            .into_iter()
            .map(|span| (span.range, span.provider))
            .collect();
        answered_by.sort_by_key(|(range, _)| *range);
        Self {
            covered,
            answered_by,
            last_fetched_at,
            ..Self::default()
        }
    }

    /// Whether `day` is covered only in another price basis.
    pub fn is_foreign(&self, day: NaiveDate) -> bool {
        self.foreign.iter().any(|range| range.contains(day))
    }

    /// The providers whose entries overlap `range`, each once, in date order.
    pub fn providers_in(&self, range: DateRange) -> Vec<String> {
        let mut providers: Vec<String> = Vec::new();
        for (entry, provider) in &self.answered_by {
            let overlaps = entry.start() <= range.end() && entry.end() >= range.start();
            if overlaps && !providers.contains(provider) {
                providers.push(provider.clone());
            }
        }
        providers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};

    fn span(from: u32, to: u32, provider: &str) -> CoverageSpan {
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 1, d).unwrap_or_default();
        CoverageSpan {
            range: DateRange::new(day(from), day(to)).unwrap_or_else(|e| panic!("{e}")),
            provider: provider.to_string(),
            basis: if provider == "stooq" {
                PriceBasis::SplitAndDividendAdjusted
            } else {
                PriceBasis::Raw
            },
            fetched_at: Utc::now(),
            bars: 0,
            rejected_rows: 0,
        }
    }

    fn snapshot(coverage: Vec<CoverageSpan>) -> LedgerSnapshot {
        LedgerSnapshot {
            version: 1,
            coverage,
            provisional: Vec::new(),
            recent_checks: Vec::new(),
            exchange: None,
        }
    }

    #[test]
    fn entries_of_another_price_basis_cover_nothing_and_are_foreign() {
        let entries = vec![span(1, 9, "stooq"), span(5, 20, "yahoo")];
        let (_, raw) = Ledger::from_snapshot(snapshot(entries.clone()), PriceBasis::Raw);
        assert_eq!(raw.covered, vec![span(5, 20, "").range]);
        assert_eq!(raw.foreign, vec![span(1, 4, "").range]);
        assert!(raw.is_foreign(span(2, 2, "").range.start()));
        assert_eq!(raw.providers_in(span(1, 31, "").range), ["yahoo"]);
        // 2024-01-01..04 are asked again in raw prices, and 21..31, never asked.
        let plan = raw.plan(
            span(1, 31, "").range,
            Utc::now(),
            chrono::Duration::zero(),
            Calendar::Nyse,
        );
        assert_eq!(plan, vec![span(1, 4, "").range, span(21, 31, "").range]);
        let (_, adjusted) =
            Ledger::from_snapshot(snapshot(entries), PriceBasis::SplitAndDividendAdjusted);
        assert_eq!(adjusted.covered, vec![span(1, 9, "").range]);
        assert_eq!(adjusted.foreign, vec![span(10, 20, "").range]);
    }

    #[test]
    fn providers_are_named_once_each_for_the_entries_a_range_overlaps() {
        let ledger = Ledger::new(vec![
            span(20, 31, "yahoo"),
            span(1, 9, "stooq"),
            span(10, 19, "yahoo"),
        ]);
        assert_eq!(ledger.covered, vec![span(1, 31, "").range]);
        assert_eq!(
            ledger.providers_in(span(5, 12, "").range),
            ["stooq", "yahoo"]
        );
        assert_eq!(ledger.providers_in(span(21, 22, "").range), ["yahoo"]);
    }

    #[test]
    fn a_late_day_s_check_holds_its_days_for_the_reader_s_freshness_only() {
        let final_from = Utc::now();
        let checked_at = final_from + chrono::Duration::hours(1);
        let freshness = chrono::Duration::minutes(15);
        let (_, ledger) = Ledger::from_snapshot(
            LedgerSnapshot {
                version: 3,
                coverage: vec![span(1, 9, "yahoo")],
                provisional: Vec::new(),
                recent_checks: vec![RecentCheck {
                    range: span(10, 12, "").range,
                    provider: "yahoo".to_string(),
                    checked_at,
                    final_from,
                    live: false,
                }],
                exchange: None,
            },
            PriceBasis::Raw,
        );
        let wanted = span(1, 12, "").range;
        let later = checked_at + freshness;
        assert_eq!(
            ledger.plan(wanted, checked_at, freshness, Calendar::Nyse),
            Vec::<DateRange>::new()
        );
        // 2024-01-10..12 are Wednesday to Friday: all three asked once the check is due.
        assert_eq!(
            ledger.plan(wanted, later, freshness, Calendar::Nyse),
            vec![span(10, 12, "").range]
        );
        // A reader accepting no delay asks at once.
        assert_eq!(
            ledger.plan(wanted, checked_at, chrono::Duration::zero(), Calendar::Nyse),
            vec![span(10, 12, "").range]
        );
    }
}
