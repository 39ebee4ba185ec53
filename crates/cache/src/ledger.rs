//! What the coverage ledger says of one symbol, in the two forms a read needs: the covered
//! ranges (to plan) and which provider answered each (to say where the bars came from).

use marketcache_domain::range::union;
use marketcache_domain::{CoverageSpan, DateRange};

/// One symbol's ledger, read once per read and kept with its in-memory series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// The union of the entries' ranges, in order.
    pub covered: Vec<DateRange>,
    /// Each entry's range and provider, in start order.
    answered_by: Vec<(DateRange, String)>,
}

impl Ledger {
    /// The ledger of the entries `spans`.
    pub fn new(spans: Vec<CoverageSpan>) -> Self {
        let covered = union(spans.iter().map(|span| span.range));
        let mut answered_by: Vec<(DateRange, String)> = spans
            .into_iter()
            .map(|span| (span.range, span.provider))
            .collect();
        answered_by.sort_by_key(|(range, _)| *range);
        Self {
            covered,
            answered_by,
        }
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
            fetched_at: Utc::now(),
            bars: 0,
            rejected_rows: 0,
        }
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
}
