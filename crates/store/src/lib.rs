//! The storage adapters of marketcache: [`SqliteStore`] (the embedded default) and
//! [`PostgresStore`] (for a cache shared by several processes or machines), both implementing
//! the domain's `BarStore` port over the same schema, with embedded versioned migrations.
//!
//! All SQL of the project lives here, always with bound parameters. This crate knows nothing
//! of providers, HTTP or the command line.

mod migrations;
mod pg_claims;
mod postgres;
mod reconnecting;
mod sqlite;
mod version_watch;

use std::sync::Arc;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use marketcache_domain::range::union;
use marketcache_domain::{
    BarStore, CorporateAction, CorporateActionKind, DateRange, PriceBasis, StoreError, SymbolStats,
};

pub use postgres::PostgresStore;
pub use reconnecting::{RECONNECT_LIMIT, Reconnecting};

/// Pooled connections a process opens to PostgreSQL unless told otherwise: enough for a
/// command's reads and writes; a server serving many cold reads at once may want more.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// The fewest pooled connections that work: a fill's writes and a read beside them.
pub const MIN_POOL_SIZE: usize = 2;

/// How a store uses the database's connections (SQLite opens its own and ignores these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Most pooled connections this process opens to PostgreSQL; a process filling gaps opens
    /// one more, which holds its fill claims.
    pub pool_size: usize,
    /// How long an operation goes on asking while PostgreSQL refuses connections for a reason
    /// that passes (too many clients, starting up, shutting down), before it fails naming it.
    pub refused_wait: std::time::Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            refused_wait: std::time::Duration::from_secs(30),
        }
    }
}
pub use sqlite::SqliteStore;

/// Whether `url` names a database this crate can open: `sqlite://…` or `postgres(ql)://…`.
pub fn is_supported_url(url: &str) -> bool {
    ["sqlite://", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}

/// Opens the store a database URL names: `sqlite://PATH` (or a bare path) or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn BarStore>, StoreError> {
    connect_with(url, ConnectOptions::default()).await
}

/// [`connect`] with the given connection options.
pub async fn connect_with(
    url: &str,
    options: ConnectOptions,
) -> Result<Arc<dyn BarStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // A connection lost mid-call (a restart, a terminated backend) is ridden out.
        let store = PostgresStore::connect_with(url, options).await?;
        Ok(Arc::new(Reconnecting::new(store)))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        Ok(Arc::new(SqliteStore::open(path).await?))
    }
}

/// Hides the password of a database URL (in the credentials or a `password=` parameter) so it
/// can be shown in messages.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = redact_credentials(base);
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => parameter.to_string(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

fn redact_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}")
        }
        None => url.to_string(),
    }
}

/// Adds each symbol's covered ranges (their union) to its figures, creating figures for symbols
/// that have coverage but no bar (a range asked before the listing, say).
fn attach_coverage(
    per_symbol: &mut BTreeMap<String, SymbolStats>,
    ranges: BTreeMap<String, Vec<DateRange>>,
) {
    for (symbol, symbol_ranges) in ranges {
        let entry = per_symbol
            .entry(symbol.clone())
            .or_insert_with(|| empty_stats(symbol));
        entry.covered = union(symbol_ranges);
    }
}

fn empty_stats(symbol: String) -> SymbolStats {
    SymbolStats {
        symbol,
        bars: 0,
        first_date: None,
        last_date: None,
        covered: Vec::new(),
        last_update: None,
        rejected_rows: 0,
        provisional_bars: 0,
        provisional: Vec::new(),
        corporate_actions: 0,
    }
}

/// A per-symbol figure of [`SymbolStats`] that a [`COUNT_QUERIES`] query counts.
#[derive(Debug, Clone, Copy)]
enum Count {
    RejectedRows,
    ProvisionalBars,
    CorporateActions,
}

/// `(symbol, count)` queries, identical on both backends.
const COUNT_QUERIES: &[(Count, &str)] = &[
    (
        Count::RejectedRows,
        "SELECT symbol, SUM(rejected_rows) FROM coverage_ledger GROUP BY symbol HAVING SUM(rejected_rows) > 0",
    ),
    (
        Count::ProvisionalBars,
        "SELECT symbol, COUNT(*) FROM provisional_bars GROUP BY symbol",
    ),
    (
        Count::CorporateActions,
        "SELECT symbol, COUNT(*) FROM corporate_actions GROUP BY symbol",
    ),
];

/// Adds the counted figures to each symbol's.
fn attach_counts(
    per_symbol: &mut BTreeMap<String, SymbolStats>,
    counts: Vec<(Count, String, u64)>,
) {
    for (kind, symbol, count) in counts {
        let entry = per_symbol
            .entry(symbol.clone())
            .or_insert_with(|| empty_stats(symbol));
        match kind {
            Count::RejectedRows => entry.rejected_rows = count,
            Count::ProvisionalBars => entry.provisional_bars = count,
            Count::CorporateActions => entry.corporate_actions = count,
        }
    }
}

/// The `(kind, value)` columns of a corporate action.
fn action_columns(action: &CorporateAction) -> (&'static str, f64) {
    match action.kind {
        CorporateActionKind::Split { ratio } => ("split", ratio),
        CorporateActionKind::Dividend { cash } => ("dividend", cash),
    }
}

/// A corporate action from its stored columns.
/// The price basis a ledger row names.
fn basis_column(symbol: &str, date: &str, code: &str) -> Result<PriceBasis, StoreError> {
    PriceBasis::from_code(code).ok_or_else(|| StoreError::InvalidRow {
        symbol: symbol.to_string(),
        date: date.to_string(),
        message: format!("unknown price basis {code:?}"),
    })
}

fn action_from_row(
    symbol: &str,
    ex_date: NaiveDate,
    kind: &str,
    value: f64,
) -> Result<CorporateAction, StoreError> {
    let kind = match kind {
        "split" => CorporateActionKind::Split { ratio: value },
        "dividend" => CorporateActionKind::Dividend { cash: value },
        other => {
            return Err(StoreError::InvalidRow {
                symbol: symbol.to_string(),
                date: ex_date.to_string(),
                message: format!("unknown corporate action kind {other:?}"),
            });
        }
    };
    Ok(CorporateAction { ex_date, kind })
}

fn backend_error(
    context: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    move |source| StoreError::Backend { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=disable&password=s3cret"),
            "postgres://u@h/db?sslmode=disable&password=***"
        );
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/cache"),
            "postgres://app:***@db:5432/cache"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
        assert_eq!(
            redact_url("sqlite:///tmp/x.sqlite"),
            "sqlite:///tmp/x.sqlite"
        );
    }
}
