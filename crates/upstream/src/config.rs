//! Which providers exist, where they live, which keys they need and how fast we may ask them.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use marketcache_domain::{Dataset, RequestGate, SourceError, SourceLimits};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::http::HttpPolicy;

/// `max_span_days` of a provider that answers any range in one request (with pagination where it
/// has it). About 200 years: large enough for any history, small enough that callers adding it
/// to a date cannot overflow (`u32::MAX` days would).
pub const UNLIMITED_SPAN_DAYS: u32 = 73_000;

/// The upstream APIs this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Yahoo,
    Stooq,
    Polygon,
    Alpaca,
    Tiingo,
    AlphaVantage,
}

impl ProviderKind {
    /// Every provider, in the order `catalog` lists them.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Yahoo,
        ProviderKind::Stooq,
        ProviderKind::Polygon,
        ProviderKind::Alpaca,
        ProviderKind::Tiingo,
        ProviderKind::AlphaVantage,
    ];

    /// The provider's short name, as the coverage ledger stores it.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Yahoo => "yahoo",
            ProviderKind::Stooq => "stooq",
            ProviderKind::Polygon => "polygon",
            ProviderKind::Alpaca => "alpaca",
            ProviderKind::Tiingo => "tiingo",
            ProviderKind::AlphaVantage => "alphavantage",
        }
    }

    /// The provider called `name` (case-insensitive), if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        let wanted = name.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|kind| kind.name() == wanted)
    }

    /// The real host, used unless the URL variable overrides it.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Yahoo => "https://query1.finance.yahoo.com",
            ProviderKind::Stooq => "https://stooq.com",
            ProviderKind::Polygon => "https://api.polygon.io",
            ProviderKind::Alpaca => "https://data.alpaca.markets",
            ProviderKind::Tiingo => "https://api.tiingo.com",
            ProviderKind::AlphaVantage => "https://www.alphavantage.co",
        }
    }

    /// The variable that overrides the base URL, e.g. `MARKETCACHE_YAHOO_URL`.
    pub fn url_variable(self) -> &'static str {
        match self {
            ProviderKind::Yahoo => "MARKETCACHE_YAHOO_URL",
            ProviderKind::Stooq => "MARKETCACHE_STOOQ_URL",
            ProviderKind::Polygon => "MARKETCACHE_POLYGON_URL",
            ProviderKind::Alpaca => "MARKETCACHE_ALPACA_URL",
            ProviderKind::Tiingo => "MARKETCACHE_TIINGO_URL",
            ProviderKind::AlphaVantage => "MARKETCACHE_ALPHAVANTAGE_URL",
        }
    }

    /// The variables holding credentials: the key first, then (Alpaca) the secret.
    pub fn key_variables(self) -> &'static [&'static str] {
        match self {
            ProviderKind::Yahoo => &[],
            ProviderKind::Stooq => &["STOOQ_API_KEY"],
            ProviderKind::Polygon => &["POLYGON_API_KEY"],
            ProviderKind::Alpaca => &["APCA_API_KEY_ID", "APCA_API_SECRET_KEY"],
            ProviderKind::Tiingo => &["TIINGO_API_KEY"],
            ProviderKind::AlphaVantage => &["ALPHAVANTAGE_API_KEY"],
        }
    }

    /// Whether the provider refuses to work without its key variables set. Stooq's key is
    /// optional: sent when present, since Stooq started asking for one in 2026.
    pub fn key_required(self) -> bool {
        !matches!(self, ProviderKind::Yahoo | ProviderKind::Stooq)
    }

    /// The data set its bars are stored in: Stooq's adjusted prices apart from raw ones.
    pub fn dataset(self) -> Dataset {
        match self {
            Self::Stooq => Dataset::Adjusted,
            _ => Dataset::Market,
        }
    }

    /// The documented limits of the free plan (see the wire-format reference, section x.4/x.7).
    pub fn limits(self) -> SourceLimits {
        let (max_concurrency, requests_per_minute, requests_per_day) = match self {
            // Undocumented; bursts get 429, so stay gentle.
            ProviderKind::Yahoo => (2, None, None),
            // Undocumented daily hit quota per IP; abuse leads to IP bans.
            ProviderKind::Stooq => (1, None, None),
            ProviderKind::Polygon => (1, Some(5), None),
            ProviderKind::Alpaca => (4, Some(200), None),
            // 50 per hour and 1,000 per day (third-party numbers); no per-minute budget.
            ProviderKind::Tiingo => (1, None, Some(1_000)),
            // 25 per day since 2024; the older 5-per-minute wording still appears.
            ProviderKind::AlphaVantage => (1, Some(5), Some(25)),
        };
        SourceLimits {
            max_span_days: UNLIMITED_SPAN_DAYS,
            max_concurrency,
            requests_per_minute,
            requests_per_day,
        }
    }

    /// How fast we send by default: within the documented budget, or gently where there is none.
    pub fn default_pace(self) -> Option<RequestPace> {
        let minute = Duration::from_secs(60);
        match self {
            ProviderKind::Yahoo => RequestPace::within(30, minute, 5),
            ProviderKind::Stooq => RequestPace::within(10, minute, 1),
            ProviderKind::Polygon => RequestPace::within(5, minute, 1),
            ProviderKind::Alpaca => RequestPace::within(200, minute, 20),
            ProviderKind::Tiingo => RequestPace::within(50, Duration::from_secs(3_600), 10),
            // Pace for the per-minute wording; the daily 25 surfaces as RateLimited, since
            // waiting most of a day inside one call helps nobody.
            ProviderKind::AlphaVantage => RequestPace::within(5, minute, 1),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A request pace: up to `burst` requests at once, then one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPace {
    pub interval: Duration,
    pub burst: NonZeroU32,
}

impl RequestPace {
    /// The pace that never sends more than `limit` requests in any `window`: a burst of
    /// `burst`, then one per `window / (limit - burst)`. `None` unless `0 < burst < limit`.
    pub fn within(limit: u32, window: Duration, burst: u32) -> Option<Self> {
        let refills = limit.checked_sub(burst).filter(|n| *n > 0)?;
        Some(Self {
            interval: window / refills,
            burst: NonZeroU32::new(burst)?,
        })
    }

    /// One request per `interval`, no burst; for tests of the pacing itself.
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            burst: NonZeroU32::MIN,
        }
    }
}

/// Where a provider lives, its credentials, and how we talk to it.
///
/// `Debug` prints keys as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    /// Scheme, host and optional path prefix; the provider appends its API paths.
    pub base_url: String,
    /// The API key (Alpaca: the key id).
    pub api_key: Option<SecretString>,
    /// Alpaca's secret key.
    pub api_secret: Option<SecretString>,
    /// Client-side pacing; `None` sends as fast as asked.
    pub pace: Option<RequestPace>,
    /// Most requests sent in any 24 hours; beyond it requests are refused as rate-limited
    /// without being sent (the provider's documented daily budget by default;
    /// `MARKETCACHE_<PROVIDER>_REQUESTS_PER_DAY` for another plan).
    pub daily_budget: Option<u32>,
    /// Most requests in one minute, counted by the gate (the documented budget by default;
    /// `MARKETCACHE_<PROVIDER>_REQUESTS_PER_MINUTE` for another plan).
    pub minute_budget: Option<u32>,
    /// Where the budgets are counted for every process sharing a cache; without one, the
    /// daily budget is counted in this process's memory.
    pub gate: Option<SharedGate>,
    pub policy: HttpPolicy,
}

/// A [`RequestGate`] shared by a provider's clients; `Debug` names it only.
#[derive(Clone)]
pub struct SharedGate(pub std::sync::Arc<dyn RequestGate>);

impl fmt::Debug for SharedGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedGate")
    }
}

impl ProviderSettings {
    /// The real host, no credentials, default pace and production policy.
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            base_url: kind.default_base_url().to_string(),
            api_key: None,
            api_secret: None,
            pace: kind.default_pace(),
            daily_budget: kind.limits().requests_per_day,
            minute_budget: kind.limits().requests_per_minute,
            gate: None,
            policy: HttpPolicy::default(),
        }
    }

    /// These settings with budgets counted by `gate`, for every process sharing it.
    pub fn with_gate(mut self, gate: std::sync::Arc<dyn RequestGate>) -> Self {
        self.gate = Some(SharedGate(gate));
        self
    }

    /// These settings with at most `budget` requests in any 24 hours (`None`: no limit).
    pub fn with_daily_budget(mut self, budget: Option<u32>) -> Self {
        self.daily_budget = budget;
        self
    }

    /// Settings from variables: `MARKETCACHE_<PROVIDER>_URL` and the provider's key variables,
    /// read through `lookup` (e.g. `|name| std::env::var(name).ok()`) so tests need no
    /// process environment. Empty values count as unset.
    pub fn from_lookup(kind: ProviderKind, lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let read = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut settings = Self::new(kind);
        if let Some(url) = read(kind.url_variable()) {
            settings.base_url = url.trim().to_string();
        }
        let budget = |period: &str| {
            read(&format!(
                "MARKETCACHE_{}_REQUESTS_PER_{period}",
                kind.name().to_ascii_uppercase()
            ))
            .and_then(|value| value.trim().parse::<u32>().ok())
        };
        if let Some(per_day) = budget("DAY") {
            settings.daily_budget = Some(per_day);
        }
        if let Some(per_minute) = budget("MINUTE") {
            settings.minute_budget = Some(per_minute);
        }
        let variables = kind.key_variables();
        settings.api_key = variables
            .first()
            .and_then(|name| read(name))
            .map(|key| SecretString::from(key.trim().to_string()));
        settings.api_secret = variables
            .get(1)
            .and_then(|name| read(name))
            .map(|key| SecretString::from(key.trim().to_string()));
        settings
    }

    /// The same settings talking to `base_url`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The same settings with API key `key`.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// The same settings with API secret `secret` (Alpaca).
    pub fn with_api_secret(mut self, secret: impl Into<String>) -> Self {
        self.api_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// The same settings with pace `pace` (`None`: no client-side pacing).
    pub fn with_pace(mut self, pace: Option<RequestPace>) -> Self {
        self.pace = pace;
        self
    }

    /// The same settings with HTTP policy `policy`.
    pub fn with_policy(mut self, policy: HttpPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The parsed base URL, or a configuration error naming the variable to fix.
    pub(crate) fn parsed_base_url(&self) -> Result<Url, SourceError> {
        let invalid = |why: String| SourceError::Configuration {
            provider: self.kind.name().to_string(),
            message: format!(
                "base URL is invalid ({why}); set {} to an http(s) URL such as {}",
                self.kind.url_variable(),
                self.kind.default_base_url()
            ),
        };
        let url = Url::parse(&self.base_url).map_err(|error| invalid(error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(invalid(format!("scheme {} is not http(s)", url.scheme())));
        }
        Ok(url)
    }

    /// The key, or a configuration error naming the variable to set.
    pub(crate) fn required_key(&self) -> Result<SecretString, SourceError> {
        self.required(self.api_key.as_ref(), 0)
    }

    /// The secret (Alpaca), or a configuration error naming the variable to set.
    pub(crate) fn required_secret(&self) -> Result<SecretString, SourceError> {
        self.required(self.api_secret.as_ref(), 1)
    }

    fn required(
        &self,
        value: Option<&SecretString>,
        variable_index: usize,
    ) -> Result<SecretString, SourceError> {
        let variable = self
            .kind
            .key_variables()
            .get(variable_index)
            .copied()
            .unwrap_or("the API key variable");
        match value {
            Some(secret) if !secret.expose_secret().trim().is_empty() => Ok(secret.clone()),
            _ => Err(SourceError::Configuration {
                provider: self.kind.name().to_string(),
                message: format!("missing API key: set {variable}"),
            }),
        }
    }

    /// Every credential present, so the HTTP layer can scrub them from messages.
    pub(crate) fn secrets(&self) -> Vec<SecretString> {
        self.api_key
            .iter()
            .chain(self.api_secret.iter())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_within_a_budget_never_exceeds_it() {
        let polygon = RequestPace::within(5, Duration::from_secs(60), 1);
        assert_eq!(polygon.map(|p| p.interval), Some(Duration::from_secs(15)));
        let tiingo = RequestPace::within(50, Duration::from_secs(3_600), 10);
        assert_eq!(tiingo.map(|p| p.interval), Some(Duration::from_secs(90)));
        assert_eq!(RequestPace::within(5, Duration::from_secs(60), 5), None);
        assert_eq!(RequestPace::within(5, Duration::from_secs(60), 0), None);
    }

    #[test]
    fn every_provider_has_a_default_pace_and_round_trips_its_name() {
        for kind in ProviderKind::ALL {
            assert!(kind.default_pace().is_some(), "{kind}");
            assert_eq!(ProviderKind::parse(kind.name()), Some(kind));
        }
    }
}
