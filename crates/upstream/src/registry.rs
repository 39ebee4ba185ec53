//! The providers by name: what each needs and how fast it may be asked (`catalog`), and the
//! constructor the composition root uses (`build`).

use std::sync::Arc;

use marketcache_domain::{Clock, PriceSource, RequestGate, SourceError, SystemClock};
use serde::Serialize;

use crate::config::{ProviderKind, ProviderSettings, UNLIMITED_SPAN_DAYS};
use crate::http::HttpPolicy;
use crate::{
    AlpacaSource, AlphaVantageSource, PolygonSource, StooqSource, TiingoSource, YahooSource,
};

/// What `marketcache providers` shows about one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderInfo {
    pub name: &'static str,
    /// Whether the provider refuses to start without its key variables.
    pub needs_key: bool,
    /// Credential variables, required or (Stooq) optional.
    pub key_variables: Vec<&'static str>,
    /// Variable that overrides the base URL.
    pub url_variable: &'static str,
    pub default_base_url: &'static str,
    /// Most calendar days per request; `None` when one request (with its pages) covers any range.
    pub max_span_days: Option<u32>,
    /// How long answers are split, if they are.
    pub pagination: &'static str,
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    pub requests_per_day: Option<u32>,
    /// Budgets that fit neither column (Tiingo's hourly one) and other plan notes.
    pub budget_note: &'static str,
    /// Whether stored prices are raw or adjusted, and how.
    pub prices: &'static str,
}

/// Every provider this crate can build, with its needs and limits.
pub fn catalog() -> Vec<ProviderInfo> {
    ProviderKind::ALL.into_iter().map(info).collect()
}

fn info(kind: ProviderKind) -> ProviderInfo {
    let limits = kind.limits();
    let (pagination, budget_note, prices) = match kind {
        ProviderKind::Yahoo => (
            "none (whole history in one answer)",
            "undocumented; bursts or bot-like clients get 429",
            "raw: Yahoo's split-adjusted quotes are un-adjusted with the splits it reports",
        ),
        ProviderKind::Stooq => (
            "none",
            "undocumented daily hit quota per IP; blocks automated clients since 2026",
            "as Stooq sends them (adjustment undocumented)",
        ),
        ProviderKind::Polygon => (
            "next_url",
            "free plan: 5/min, about 2 years of history",
            "raw (adjusted=false)",
        ),
        ProviderKind::Alpaca => (
            "next_page_token",
            "free plan: 200/min; IEX feed (a fraction of consolidated volume)",
            "raw (adjustment=raw)",
        ),
        ProviderKind::Tiingo => (
            "none",
            "free plan: 50/hour, 1,000/day, 500 symbols/month (third-party figures)",
            "raw open/high/low/close/volume columns; splits and dividends reported",
        ),
        ProviderKind::AlphaVantage => (
            "none (compact: latest 100 days; full: premium)",
            "free plan: 25/day; full history is premium",
            "raw (TIME_SERIES_DAILY)",
        ),
    };
    ProviderInfo {
        name: kind.name(),
        needs_key: kind.key_required(),
        key_variables: kind.key_variables().to_vec(),
        url_variable: kind.url_variable(),
        default_base_url: kind.default_base_url(),
        max_span_days: (limits.max_span_days < UNLIMITED_SPAN_DAYS).then_some(limits.max_span_days),
        pagination,
        max_concurrency: limits.max_concurrency,
        requests_per_minute: limits.requests_per_minute,
        requests_per_day: limits.requests_per_day,
        budget_note,
        prices,
    }
}

/// The provider called `name`, configured from variables read through `lookup` (e.g.
/// `&|name: &str| std::env::var(name).ok()`), on the wall clock with production HTTP policy.
pub fn build(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn PriceSource>, SourceError> {
    build_with(name, lookup, Arc::new(SystemClock), HttpPolicy::default())
}

/// Like [`build`], with the clock and HTTP policy given.
pub fn build_with(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    clock: Arc<dyn Clock>,
    policy: HttpPolicy,
) -> Result<Arc<dyn PriceSource>, SourceError> {
    build_gated(name, lookup, clock, policy, None)
}

/// Like [`build_with`], with the provider's budgets counted by `gate` when given: one budget
/// per provider for every process sharing it.
pub fn build_gated(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    clock: Arc<dyn Clock>,
    policy: HttpPolicy,
    gate: Option<Arc<dyn RequestGate>>,
) -> Result<Arc<dyn PriceSource>, SourceError> {
    let Some(kind) = ProviderKind::parse(name) else {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|kind| kind.name()).collect();
        return Err(SourceError::Configuration {
            provider: name.to_string(),
            message: format!("no such provider; known providers: {}", known.join(", ")),
        });
    };
    let mut settings = ProviderSettings::from_lookup(kind, lookup).with_policy(policy);
    if let Some(gate) = gate {
        settings = settings.with_gate(gate);
    }
    build_from(settings, clock)
}

/// The provider `settings.kind` with exactly these settings; fails (naming the variable) when a
/// required key is missing or the base URL is invalid.
pub fn build_from(
    settings: ProviderSettings,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn PriceSource>, SourceError> {
    Ok(match settings.kind {
        ProviderKind::Yahoo => Arc::new(YahooSource::new(settings, clock)?),
        ProviderKind::Stooq => Arc::new(StooqSource::new(settings)?),
        ProviderKind::Polygon => Arc::new(PolygonSource::new(settings)?),
        ProviderKind::Alpaca => Arc::new(AlpacaSource::new(settings)?),
        ProviderKind::Tiingo => Arc::new(TiingoSource::new(settings)?),
        ProviderKind::AlphaVantage => Arc::new(AlphaVantageSource::new(settings, clock)?),
    })
}
