//! The domain of marketcache: what a daily bar, a symbol and a date range are, which market a
//! symbol trades on and which days that market may trade, the arithmetic of covered and missing
//! ranges, and the ports (traits) that the storage and upstream adapters implement.
//!
//! This crate must never do I/O: no SQL, no HTTP, no files, no async runtime. Everything that
//! enters the system from a provider payload, a database row or the command line becomes a
//! domain value only through the checked constructors here (`Symbol::parse`, `DateRange::new`,
//! `Bar::try_new`).

pub mod adjustment;
pub mod bar;
pub mod calendar;
pub mod clock;
pub mod corporate_action;
pub mod coverage;
pub mod error;
pub mod exchange;
pub mod ports;
pub mod range;
pub mod symbol;

pub use adjustment::{Adjustment, adjust};
pub use bar::{Bar, DataFingerprint};
pub use clock::{Clock, FixedClock, SystemClock};
pub use corporate_action::{CorporateAction, CorporateActionKind, RecordedAction};
pub use coverage::{CoverageReason, CoverageSpan, PriceBasis, RecentCheck};
pub use error::DomainError;
pub use exchange::{Calendar, Exchange};
pub use ports::{
    Allowance, BarStore, BudgetState, ClearReport, FetchedBars, FetchedWrite, FillClaim,
    LedgerSnapshot, MigrationStep, Packed, PriceSource, ProcessClaim, RejectedRow, RequestGate,
    RequestLimits, RequestSlot, SourceError, SourceLimits, StoreError, StoreStats, SymbolStats,
};
pub use range::{DEFAULT_START, DateRange, IsoDate, parse_date};
pub use symbol::{Dataset, Symbol};
