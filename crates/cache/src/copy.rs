//! Copying a cache from one store to another (a laptop's SQLite file to a team's PostgreSQL,
//! or back): bars, ledger entries, corporate actions, provisional marks and recent checks, one
//! symbol at a time, one ledger entry per write. The one copy that the CLI's `copy` runs.
//!
//! A copy adds and replaces, it never deletes: days the target holds beyond the source's stay
//! (and are counted). Made again, a copy changes nothing (every write is an upsert and a ledger entry already there
//! is not recorded twice), so a copy killed half-way is resumed by running it again: symbols the
//! target already holds whole (same bars, every ledger entry) are skipped. At the end each
//! symbol's bars are read back from the target and compared, on the source's days, by count
//! and checksum.

use chrono::Utc;
use marketcache_domain::bar::fingerprint;
use marketcache_domain::{Bar, BarStore, CorporateAction, CoverageSpan, FetchedWrite, Symbol};
use serde::Serialize;

use crate::CacheError;
use crate::verify::{all_days, stored_keys};

/// Follows a copy.
pub trait CopyProgress: Send + Sync {
    /// The copy will go through `symbols` symbols.
    fn planned(&self, _symbols: usize) {}
    /// One symbol is done.
    fn copied(&self, _symbol: &CopiedSymbol) {}
}

/// A copy that shows nothing.
impl CopyProgress for crate::NoProgress {}

/// What happened to one symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopiedSymbol {
    /// The store key (`SYMBOL@name` for an offline data set).
    pub symbol: String,
    /// Bars the source holds (and the target now holds too).
    pub bars: usize,
    /// Ledger entries the source holds.
    pub ledger_entries: usize,
    /// The target held it whole already: nothing was written.
    pub skipped: bool,
    /// Whether the target's bars of the source's days read back equal the source's, by count
    /// and checksum.
    pub matches: bool,
    /// Days the target holds beyond the source's (from before the copy: a copy adds and
    /// replaces, it never deletes).
    pub extra_in_target: usize,
    /// The checksum of the source's bars ([`fingerprint`]), in hex.
    pub checksum: String,
}

/// What a copy did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyReport {
    pub symbols: Vec<CopiedSymbol>,
    /// Bars the copied symbols hold.
    pub bars: usize,
}

impl CopyReport {
    /// The symbols whose bars do not read back equal from the target.
    pub fn mismatched(&self) -> impl Iterator<Item = &CopiedSymbol> {
        self.symbols.iter().filter(|symbol| !symbol.matches)
    }
}

/// Copies everything `from` holds into `to` (see the module's documentation).
pub async fn copy_store(
    from: &dyn BarStore,
    to: &dyn BarStore,
    progress: &dyn CopyProgress,
) -> Result<CopyReport, CacheError> {
    let keys = stored_keys(from).await?;
    progress.planned(keys.len());
    let mut report = CopyReport::default();
    for key in keys {
        let copied = copy_symbol(from, to, &key).await?;
        progress.copied(&copied);
        report.bars += copied.bars;
        report.symbols.push(copied);
    }
    Ok(report)
}

async fn copy_symbol(
    from: &dyn BarStore,
    to: &dyn BarStore,
    key: &Symbol,
) -> Result<CopiedSymbol, CacheError> {
    let ledger = from.read_ledger(key).await?;
    let bars = from.read_bars(key, all_days()).await?;
    let checksum = fingerprint(&bars);
    let skipped = holds_whole(to, key, &bars, checksum, &ledger.coverage).await?;
    if !skipped {
        let mut spans = ledger.coverage.clone();
        spans.sort_by_key(|span| span.fetched_at);
        for span in &spans {
            let inside: Vec<Bar> = bars
                .iter()
                .filter(|bar| span.range.contains(bar.date))
                .copied()
                .collect();
            let write = FetchedWrite::bars(&span.provider, &inside, Some(span));
            to.write_fetched(key, &write, span.fetched_at).await?;
        }
        let outside: Vec<Bar> = bars
            .iter()
            .filter(|bar| !spans.iter().any(|span| span.range.contains(bar.date)))
            .copied()
            .collect();
        let provider = spans.last().map_or("copy", |span| span.provider.as_str());
        let rest = FetchedWrite {
            provider,
            bars: &outside,
            coverage: None,
            actions: &[],
            provisional: &ledger.provisional,
            recheck: None,
            // The market a provider named goes along (recorded as named by the last entry's).
            exchange: ledger.exchange.as_ref(),
        };
        to.write_fetched(key, &rest, Utc::now()).await?;
        // Each corporate action goes with the provider that reported it.
        let recorded = from.read_actions(key).await?;
        let mut providers: Vec<&str> = recorded.iter().map(|r| r.provider.as_str()).collect();
        providers.sort_unstable();
        providers.dedup();
        for provider in providers {
            let actions: Vec<CorporateAction> = recorded
                .iter()
                .filter(|r| r.provider == provider)
                .map(|r| r.action)
                .collect();
            let write = FetchedWrite {
                actions: &actions,
                ..FetchedWrite::bars(provider, &[], None)
            };
            to.write_fetched(key, &write, Utc::now()).await?;
        }
        for check in &ledger.recent_checks {
            let write = FetchedWrite {
                recheck: Some(check),
                ..FetchedWrite::bars(&check.provider, &[], None)
            };
            to.write_fetched(key, &write, check.checked_at).await?;
        }
    }
    let held = to.read_bars(key, all_days()).await?;
    let copied = on_days_of(&bars, &held);
    Ok(CopiedSymbol {
        symbol: key.as_str().to_string(),
        bars: bars.len(),
        ledger_entries: ledger.coverage.len(),
        skipped,
        matches: copied.len() == bars.len() && fingerprint(&copied) == checksum,
        extra_in_target: held.len() - copied.len(),
        checksum: format!("{checksum:016x}"),
    })
}

/// The bars of `held` on the days `source` has a bar (both in date order).
fn on_days_of(source: &[Bar], held: &[Bar]) -> Vec<Bar> {
    held.iter()
        .filter(|bar| {
            source
                .binary_search_by_key(&bar.date, |ours| ours.date)
                .is_ok()
        })
        .copied()
        .collect()
}

/// Whether `to` holds `key` whole already: on the days of `bars`, bars with `checksum`; and
/// every entry of `spans`.
async fn holds_whole(
    to: &dyn BarStore,
    key: &Symbol,
    bars: &[Bar],
    checksum: u64,
    spans: &[CoverageSpan],
) -> Result<bool, CacheError> {
    let held = on_days_of(bars, &to.read_bars(key, all_days()).await?);
    if held.len() != bars.len() || fingerprint(&held) != checksum {
        return Ok(false);
    }
    let held = to.read_coverage(key).await?;
    // Seconds: SQLite keeps no finer time.
    let same = |a: &CoverageSpan, b: &CoverageSpan| {
        a.range == b.range
            && a.provider == b.provider
            && a.fetched_at.timestamp() == b.fetched_at.timestamp()
    };
    Ok(spans
        .iter()
        .all(|span| held.iter().any(|target| same(span, target))))
}
