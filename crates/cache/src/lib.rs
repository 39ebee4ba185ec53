//! The use cases of marketcache over the domain's ports: [`MarketDataCache::get_bars`], the
//! one read path that the CLI, the server, backtests and the optimizer share. It serves what
//! the store holds and fetches only what is missing, in provider-sized chunks, never twice,
//! and never for days the exchange was closed; plus warm, stats, clear, verify and copy.
//!
//! This crate knows the ports only: it never names SQLite, PostgreSQL or an HTTP provider.

pub mod analysis;
pub mod bar_columns;
pub mod bar_text;
mod copy;
mod error;
mod gate;
mod hot;
mod ledger;
mod service;
mod verify;
mod warm;

pub use copy::{CopiedSymbol, CopyProgress, CopyReport, copy_store};
pub use error::CacheError;
pub use gate::{LateGate, MAX_BUDGET_WAIT, StoreGate};
pub use service::{
    BarlessDays, CoverageExplanation, DEFAULT_FRESHNESS, FetchProgress, FetchReport, GetOptions,
    MarketDataCache, NoProgress, ReadTotals, SETTLING_DAYS, STATS_KEPT_FOR, SymbolBars,
};
pub use verify::{CLOSE_TOLERANCE, Problem, VOLUME_TOLERANCE, VerifyOptions, VerifyReport};
pub use warm::{WarmOutcome, WarmProgress, Warmed, WarmedBars};
