//! The coverage ledger's entries: which days were already asked of a provider, and why a
//! covered day may hold no bar.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::{Calendar, DateRange, calendar};

/// What a provider's prices are: as traded, or adjusted for later events. A series is served
/// in one basis: bars of different bases never meet in one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceBasis {
    /// As traded (Yahoo un-adjusted from its events, Polygon `adjusted=false`, Alpaca
    /// `adjustment=raw`, Tiingo's raw columns, Alpha Vantage's daily series): reads adjust
    /// them with the stored splits and dividends.
    #[default]
    Raw,
    /// Adjusted for splits and dividends by the provider (Stooq), as of the day it answered.
    SplitAndDividendAdjusted,
}

impl PriceBasis {
    /// The basis as stored and as the API sends it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::SplitAndDividendAdjusted => "split_and_dividend_adjusted",
        }
    }

    /// The basis a stored code names, `None` for an unknown one.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Raw, Self::SplitAndDividendAdjusted]
            .into_iter()
            .find(|basis| basis.code() == code)
    }

    /// In words, as the CLI prints it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Raw => "raw (as traded)",
            Self::SplitAndDividendAdjusted => "split- and dividend-adjusted by the provider",
        }
    }
}

/// One range of days that a provider was asked for and answered, so it is never asked again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageSpan {
    pub range: DateRange,
    /// The provider that answered.
    pub provider: String,
    /// What the answer's prices were.
    pub basis: PriceBasis,
    pub fetched_at: DateTime<Utc>,
    /// How many bars the answer held for this range.
    pub bars: u32,
    /// Rows of the answer that failed the bar checks and were dropped.
    pub rejected_rows: u32,
}

/// Recent days a provider was asked for that held no final bar yet: they are not covered (the
/// provider may still publish them), but until new data can exist, asking again brings
/// nothing, so reads treat them as known until then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentCheck {
    pub range: DateRange,
    /// The provider that was asked.
    pub provider: String,
    pub checked_at: DateTime<Utc>,
    /// When the first of the days can have a final bar: its close plus the publication lag.
    pub final_from: DateTime<Utc>,
    /// The answer held a live (provisional) bar among the days.
    pub live: bool,
}

impl RecentCheck {
    /// When the days are worth asking for again, for a reader that accepts a live or late bar
    /// for `freshness`: at `final_from` when they were asked before it and no bar was live
    /// (nothing new can exist sooner); else `freshness` after the check, and never later than
    /// `final_from` for a live bar, which may then be final.
    pub fn due_at(&self, freshness: chrono::Duration) -> DateTime<Utc> {
        let again = self
            .checked_at
            .checked_add_signed(freshness)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if self.live {
            again.min(self.final_from)
        } else if self.checked_at < self.final_from {
            self.final_from
        } else {
            again
        }
    }
}

/// Why a covered day has no bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageReason {
    /// Saturday or Sunday.
    Weekend,
    /// An exchange holiday or unscheduled closure.
    Holiday(&'static str),
    /// Before the first bar the provider has for the symbol.
    BeforeFirstTrade,
    /// A trading day the provider had no bar for.
    ProviderHadNone,
}

impl CoverageReason {
    /// The reason as a machine-readable code (`before_first_trade`, `holiday`, …), as the API
    /// sends it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Weekend => "weekend",
            Self::Holiday(_) => "holiday",
            Self::BeforeFirstTrade => "before_first_trade",
            Self::ProviderHadNone => "provider_had_none",
        }
    }

    /// The reason in words, as the CLI prints it (a holiday by its name).
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Weekend => "weekend",
            Self::Holiday(name) => name,
            Self::BeforeFirstTrade => "before the first trade",
            Self::ProviderHadNone => "the provider had none",
        }
    }
}

/// Explains why `day`, covered but without a bar, has none on a market keeping `calendar`;
/// `first_bar` is the symbol's first stored bar.
pub fn reason_for_missing_bar(
    day: NaiveDate,
    first_bar: Option<NaiveDate>,
    calendar: Calendar,
) -> CoverageReason {
    if calendar::is_weekend(day) && !calendar.is_trading_day(day) {
        return CoverageReason::Weekend;
    }
    if let Some(name) = calendar.holiday_name(day) {
        return CoverageReason::Holiday(name);
    }
    match first_bar {
        Some(first) if day >= first => CoverageReason::ProviderHadNone,
        _ => CoverageReason::BeforeFirstTrade,
    }
}
