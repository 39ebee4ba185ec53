//! Settings from flags, then the environment (and a `.env` file), then `marketcache.toml`
//! (working directory, then the platform config directory), then defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use marketcache_domain::{Dataset, Symbol};
use marketcache_upstream::ProviderKind;
use marketcache_upstream::SyntheticConfig;
use serde::Deserialize;

use crate::text_position::line_and_column;
use crate::usage::UsageError;

/// What a caller chose over the environment and the config file: the CLI's global flags, the
/// Python package's `Cache(...)` arguments. `None` leaves the setting to the environment, the
/// file and the defaults. `Debug` hides the database password.
#[derive(Clone, Default)]
pub struct Overrides {
    /// sqlite://PATH or postgres://USER@HOST/DB.
    pub database_url: Option<String>,
    /// A provider name, or a list with fallbacks (`yahoo,tiingo`).
    pub provider: Option<String>,
    /// Folder of SYMBOL.csv files for the csv provider.
    pub csv_dir: Option<PathBuf>,
    /// Synthetic provider: latency of each request, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Synthetic provider: most calendar days per request.
    pub max_span_days: Option<u32>,
    /// Synthetic provider: most requests in flight.
    pub concurrency: Option<u16>,
    /// Most pooled PostgreSQL connections, as typed (checked when resolved).
    pub pool_size: Option<String>,
    /// How long a live or late recent bar is served before asking again, as typed (`15m`).
    pub freshness: Option<String>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(marketcache_store::redact_url),
            )
            .field("provider", &self.provider)
            .field("csv_dir", &self.csv_dir)
            .field("latency_ms", &self.latency_ms)
            .field("max_span_days", &self.max_span_days)
            .field("concurrency", &self.concurrency)
            .field("pool_size", &self.pool_size)
            .field("freshness", &self.freshness)
            .finish()
    }
}

/// The tickers `warm` warms when given none and marketcache.toml lists none.
pub const DEFAULT_TICKERS: [&str; 9] = [
    "AAPL", "GOOGL", "NVDA", "AMD", "ARM", "MSFT", "AVGO", "TSLA", "TQQQ",
];

/// An upstream to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderChoice {
    /// Made-up bars, offline (the demo's; never a default).
    Synthetic,
    /// A folder of CSV files.
    Csv,
    /// A real market-data API.
    Upstream(ProviderKind),
}

impl ProviderChoice {
    /// Every name `--provider` accepts.
    pub fn names() -> Vec<&'static str> {
        let mut names = vec!["synthetic", "csv"];
        names.extend(ProviderKind::ALL.iter().map(|kind| kind.name()));
        names
    }

    /// The data set its bars belong to.
    pub fn dataset(self) -> Dataset {
        match self {
            Self::Synthetic => Dataset::Synthetic,
            Self::Csv => Dataset::Csv,
            Self::Upstream(kind) => kind.dataset(),
        }
    }

    /// The provider named `name` (any case), or a usage error listing the names.
    pub fn parse(name: &str) -> Result<Self, UsageError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "synthetic" => Ok(Self::Synthetic),
            "csv" => Ok(Self::Csv),
            other => ProviderKind::parse(other)
                .map(Self::Upstream)
                .ok_or_else(|| {
                    UsageError(format!(
                        "provider '{other}' is invalid: must be one of {}",
                        Self::names().join(", ")
                    ))
                }),
        }
    }
}

/// Everything a command needs to know, resolved once. `Debug` hides the database password.
#[derive(Clone)]
pub struct Settings {
    /// Database URL (may hold a password: show it only through `redact_url`).
    pub database_url: String,
    /// The primary upstream.
    pub provider: ProviderChoice,
    /// Upstreams tried in order when the one before fails for a range.
    pub fallbacks: Vec<ProviderChoice>,
    /// Provider keys and URLs from the `[upstream]` table of the config file, by variable name;
    /// the environment wins over them. Values are secrets: never shown.
    pub upstream_file_values: std::collections::BTreeMap<String, String>,
    pub synthetic: SyntheticConfig,
    pub csv_dir: Option<PathBuf>,
    /// Symbols `warm` uses when given none.
    pub tickers: Vec<Symbol>,
    /// Whether the synthetic latency was configured anywhere (the demo has its own default).
    pub latency_configured: bool,
    /// How long a live or late recent bar is served before the provider is asked again.
    pub freshness: Duration,
    /// Most pooled PostgreSQL connections of this process, when configured.
    pub pool_size: Option<usize>,
    /// Longest one attempt of an upstream request may take, its body included.
    pub upstream_timeout: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "database_url",
                &marketcache_store::redact_url(&self.database_url),
            )
            .field("provider", &self.provider)
            .field("fallbacks", &self.fallbacks)
            .field(
                "upstream_file_values",
                &self.upstream_file_values.keys().collect::<Vec<_>>(),
            )
            .field("synthetic", &self.synthetic)
            .field("csv_dir", &self.csv_dir)
            .field("tickers", &self.tickers)
            .field("latency_configured", &self.latency_configured)
            .field("freshness", &self.freshness)
            .field("pool_size", &self.pool_size)
            .field("upstream_timeout", &self.upstream_timeout)
            .finish()
    }
}

/// The shape of `marketcache.toml`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    database_url: Option<String>,
    provider: Option<String>,
    csv_dir: Option<PathBuf>,
    tickers: Option<Vec<String>>,
    /// e.g. "15m": see `--freshness`.
    freshness: Option<String>,
    pool_size: Option<u32>,
    /// e.g. "30s": see `MARKETCACHE_UPSTREAM_TIMEOUT`.
    upstream_timeout: Option<String>,
    synthetic: Option<SyntheticSection>,
    /// Provider keys and base URLs by environment variable name, e.g. `POLYGON_API_KEY`.
    upstream: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyntheticSection {
    latency_ms: Option<u64>,
    max_span_days: Option<u32>,
    concurrency: Option<u16>,
}

/// The provider used when none is configured: real market data.
pub const DEFAULT_PROVIDER: &str = "yahoo";

/// Refuses a provider list whose fallbacks would fill a range with another kind of data than
/// the primary's (made-up, file or market data).
fn check_one_dataset(list: &str, chosen: &[ProviderChoice]) -> Result<(), UsageError> {
    let Some(first) = chosen.first() else {
        return Ok(());
    };
    match chosen
        .iter()
        .find(|choice| choice.dataset() != first.dataset())
    {
        None => Ok(()),
        Some(other) => Err(UsageError(format!(
            "provider '{list}' is invalid: it mixes {} with {}; fallbacks must be of the same kind as the first provider",
            first.dataset().describe(),
            other.dataset().describe()
        ))),
    }
}

/// Where a default SQLite file lives when nothing else is configured.
pub fn default_database_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("marketcache")
        .join("marketcache.sqlite")
}

fn config_file_path() -> Option<PathBuf> {
    let local = PathBuf::from("marketcache.toml");
    if local.is_file() {
        return Some(local);
    }
    dirs::config_dir()
        .map(|dir| dir.join("marketcache").join("marketcache.toml"))
        .filter(|path| path.is_file())
}

fn read_config(path: &Path) -> Result<ConfigFile, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|error| config_error(path, &text, &error))
}

/// A syntax error or unknown key of the config file, at the line and column toml points at.
fn config_error(path: &Path, text: &str, error: &toml::de::Error) -> UsageError {
    // toml's messages can run over several lines ("invalid string\nexpected `\"`, `'`").
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            UsageError(format!(
                "{} line {line}, column {column}: {message}",
                path.display()
            ))
        }
        None => UsageError(format!("{}: {message}", path.display())),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn env_number<T: std::str::FromStr>(name: &str, rule: &str) -> Result<Option<T>, UsageError> {
    match env_var(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| UsageError(format!("{name}='{value}' is invalid: must be {rule}"))),
    }
}

impl Settings {
    /// The value of a provider variable (key or base URL): the environment, else the config
    /// file's `[upstream]` table.
    pub fn upstream_value(&self, name: &str) -> Option<String> {
        env_var(name).or_else(|| self.upstream_file_values.get(name).cloned())
    }

    /// Resolves every setting; the `.env` file must already be loaded into the environment.
    pub fn resolve(flags: &Overrides) -> Result<Self, UsageError> {
        let config_file = config_file_path();
        let file = match &config_file {
            Some(path) => read_config(path)?,
            None => ConfigFile::default(),
        };
        let database_url = resolve_database_url(flags, file.database_url)?;
        let (provider, fallbacks) = resolve_providers(flags, file.provider)?;
        let (synthetic, latency_configured) =
            resolve_synthetic(flags, file.synthetic.unwrap_or_default())?;
        let csv_dir = flags
            .csv_dir
            .clone()
            .or_else(|| env_var("MARKETCACHE_CSV_DIR").map(PathBuf::from))
            .or(file.csv_dir);
        let tickers = resolve_tickers(file.tickers)?;
        let freshness = resolve_freshness(flags, file.freshness)?;
        let pool_size = resolve_pool_size(flags, file.pool_size)?;
        let upstream_timeout = resolve_upstream_timeout(file.upstream_timeout)?;
        if let Some(path) = &config_file {
            tracing::info!(config_file = %path.display(), "read settings from the config file");
        }
        Ok(Self {
            database_url,
            provider,
            fallbacks,
            upstream_file_values: file
                .upstream
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name.to_ascii_uppercase(), value))
                .collect(),
            synthetic,
            csv_dir,
            tickers,
            latency_configured,
            freshness,
            pool_size,
            upstream_timeout,
        })
    }
}

/// The database URL: the flag, `DATABASE_URL`, the config file, else the default SQLite file.
fn resolve_database_url(
    flags: &Overrides,
    from_file: Option<String>,
) -> Result<String, UsageError> {
    let database_url = flags
        .database_url
        .clone()
        .or_else(|| env_var("DATABASE_URL"))
        .or(from_file)
        .unwrap_or_else(|| format!("sqlite://{}", default_database_path().display()));
    if !marketcache_store::is_supported_url(&database_url) {
        return Err(UsageError(
            "database URL is invalid: must start with sqlite:// or postgres://".to_string(),
        ));
    }
    Ok(database_url)
}

/// The primary provider and its fallbacks: "yahoo,tiingo" names the primary first, then the
/// others in the order they are tried.
fn resolve_providers(
    flags: &Overrides,
    from_file: Option<String>,
) -> Result<(ProviderChoice, Vec<ProviderChoice>), UsageError> {
    let provider_name = flags
        .provider
        .clone()
        .or_else(|| env_var("MARKETCACHE_PROVIDER"))
        .or(from_file)
        .unwrap_or_else(|| DEFAULT_PROVIDER.into());
    let mut chosen = provider_name
        .split(',')
        .filter(|name| !name.trim().is_empty())
        .map(ProviderChoice::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if chosen.is_empty() {
        return Err(UsageError(format!(
            "provider is invalid: name at least one of {}",
            ProviderChoice::names().join(", ")
        )));
    }
    let mut seen = std::collections::HashSet::new();
    chosen.retain(|choice| seen.insert(*choice));
    check_one_dataset(&provider_name, &chosen)?;
    let provider = chosen.remove(0);
    Ok((provider, chosen))
}

/// The synthetic provider's settings, and whether its latency was configured anywhere.
fn resolve_synthetic(
    flags: &Overrides,
    section: SyntheticSection,
) -> Result<(SyntheticConfig, bool), UsageError> {
    let defaults = SyntheticConfig::default();
    let latency_ms = match flags.latency_ms {
        Some(ms) => Some(ms),
        None => env_number::<u64>(
            "MARKETCACHE_SYNTHETIC_LATENCY_MS",
            "a whole number of milliseconds",
        )?
        .or(section.latency_ms),
    };
    let max_span_days = match flags.max_span_days {
        Some(days) => days,
        None => env_number::<u32>(
            "MARKETCACHE_SYNTHETIC_MAX_SPAN_DAYS",
            "a whole number of days >= 1",
        )?
        .or(section.max_span_days)
        .unwrap_or(defaults.max_span_days),
    };
    let concurrency = match flags.concurrency {
        Some(n) => n,
        None => env_number::<u16>("MARKETCACHE_SYNTHETIC_CONCURRENCY", "a whole number >= 1")?
            .or(section.concurrency)
            .unwrap_or(u16::try_from(defaults.concurrency).unwrap_or(4)),
    };
    if max_span_days == 0 || concurrency == 0 {
        return Err(UsageError(
            "synthetic max_span_days and concurrency are invalid: must be >= 1".to_string(),
        ));
    }
    let synthetic = SyntheticConfig {
        latency: Duration::from_millis(latency_ms.unwrap_or(0)),
        max_span_days,
        concurrency: usize::from(concurrency),
    };
    Ok((synthetic, latency_ms.is_some()))
}

/// How long a live or late recent bar is served as it is: the flag, `MARKETCACHE_FRESHNESS`,
/// the config file, else the cache's default.
fn resolve_freshness(flags: &Overrides, from_file: Option<String>) -> Result<Duration, UsageError> {
    let Some(text) = flags
        .freshness
        .clone()
        .or_else(|| env_var("MARKETCACHE_FRESHNESS"))
        .or(from_file)
    else {
        return Ok(marketcache_cache::DEFAULT_FRESHNESS);
    };
    humantime::parse_duration(text.trim()).map_err(|e| {
        UsageError(format!(
            "freshness '{text}' is invalid: must be a duration such as 30s, 15m or 1h ({e})"
        ))
    })
}

/// How long one attempt of an upstream request may take: `MARKETCACHE_UPSTREAM_TIMEOUT`, the
/// config file's `upstream_timeout`, else the HTTP client's default (30 s).
fn resolve_upstream_timeout(from_file: Option<String>) -> Result<Duration, UsageError> {
    let Some(text) = env_var("MARKETCACHE_UPSTREAM_TIMEOUT").or(from_file) else {
        return Ok(marketcache_upstream::HttpPolicy::default().request_timeout);
    };
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            UsageError(format!(
                "upstream_timeout '{text}' is invalid: must be a duration above zero such as 500ms, 10s or 1m"
            ))
        })
}

/// Most pooled PostgreSQL connections: the flag, `MARKETCACHE_POOL_SIZE`, the config file;
/// `None` leaves the choice to the command.
fn resolve_pool_size(
    flags: &Overrides,
    from_file: Option<u32>,
) -> Result<Option<usize>, UsageError> {
    let text = flags
        .pool_size
        .clone()
        .or_else(|| env_var("MARKETCACHE_POOL_SIZE"))
        .or(from_file.map(|size| size.to_string()));
    let Some(text) = text else {
        return Ok(None);
    };
    let min = marketcache_store::MIN_POOL_SIZE;
    match text.trim().parse::<usize>() {
        Ok(size) if (min..=1_000).contains(&size) => Ok(Some(size)),
        _ => Err(UsageError(format!(
            "pool_size '{text}' is invalid: must be a whole number from {min} to 1000"
        ))),
    }
}

/// The tickers `warm` warms when given none: the config file's list, else the default nine.
fn resolve_tickers(from_file: Option<Vec<String>>) -> Result<Vec<Symbol>, UsageError> {
    match from_file {
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                Symbol::parse(name).map_err(|e| UsageError(format!("config tickers[{index}]: {e}")))
            })
            .collect(),
        None => Ok(DEFAULT_TICKERS
            .iter()
            .filter_map(|name| Symbol::parse(name).ok())
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let settings = Settings {
            database_url: "postgres://app:s3cret@db/cache".to_string(),
            provider: ProviderChoice::Synthetic,
            fallbacks: vec![ProviderChoice::Upstream(ProviderKind::Polygon)],
            upstream_file_values: [("POLYGON_API_KEY".to_string(), "pk_s3cret".to_string())]
                .into_iter()
                .collect(),
            synthetic: SyntheticConfig::default(),
            csv_dir: None,
            tickers: Vec::new(),
            latency_configured: false,
            freshness: Duration::from_secs(60),
            pool_size: None,
            upstream_timeout: Duration::from_secs(30),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("POLYGON_API_KEY"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/cache"), "{shown}");
    }

    #[test]
    fn overrides_never_show_the_database_password_either() {
        let overrides = Overrides {
            database_url: Some("postgres://app:s3cret@db/cache".to_string()),
            provider: Some("tiingo".to_string()),
            ..Overrides::default()
        };
        let shown = format!("{overrides:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/cache"), "{shown}");
        assert!(shown.contains("tiingo"), "{shown}");
    }
}
