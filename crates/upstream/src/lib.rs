//! The upstreams of daily bars, each a [`PriceSource`](marketcache_domain::PriceSource): one per
//! HTTP market-data API (Yahoo, Stooq, Polygon, Alpaca, Tiingo, Alpha Vantage), all speaking
//! through one client with time-outs, pacing, bounded retries and redaction; and two offline
//! ones, [`SyntheticSource`] (deterministic made-up bars on NYSE trading days, the demo's
//! upstream and the tests' ground truth) and [`CsvSource`] (a folder of `SYMBOL.csv` files).
//!
//! This crate owns the wire formats: every payload becomes bars only through
//! [`Bar::try_new`](marketcache_domain::Bar::try_new), rows that fail go to `rejected`, and an
//! error body (HTML, quota text, JSON error) is never read as data. It must never print, log or
//! put into an error an API key, and it never decides what to cache: that is the cache's job.
//!
//! # Layout
//! * [`http`]: [`HttpPolicy`] and the shared client (retries, `Retry-After`, pacing, redaction).
//! * [`config`]: [`ProviderKind`], [`ProviderSettings`] and the environment variables they read.
//! * [`registry`]: [`catalog`] for `marketcache providers` and [`build`] for the composition root.
//! * one module per provider, each with a `…Source` struct and a pure, public parser.
//! * `synthetic` and `csv_source`: the offline sources.

pub mod alpaca;
pub mod alphavantage;
pub mod config;
mod csv_rows;
mod csv_source;
pub mod http;
pub mod polygon;
pub mod registry;
mod rows;
pub mod stooq;
mod synthetic;
pub mod tiingo;
pub mod yahoo;

pub use alpaca::AlpacaSource;
pub use alphavantage::AlphaVantageSource;
pub use config::{ProviderKind, ProviderSettings, RequestPace, UNLIMITED_SPAN_DAYS};
pub use csv_source::CsvSource;
pub use http::HttpPolicy;
pub use polygon::PolygonSource;
pub use registry::{ProviderInfo, build, build_from, build_gated, build_with, catalog};
pub use stooq::StooqSource;
pub use synthetic::{SyntheticConfig, SyntheticSource, first_trade_date};
pub use tiingo::TiingoSource;
pub use yahoo::YahooSource;
