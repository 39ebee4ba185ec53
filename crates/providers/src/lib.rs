//! Upstream sources of daily bars, each implementing the domain's `PriceSource` port.
//!
//! - [`SyntheticSource`]: deterministic made-up bars on NYSE trading days, with configurable
//!   latency, request span and concurrency. The demo's upstream and the tests' ground truth.
//! - [`CsvSource`]: a folder of `SYMBOL.csv` files acting as an upstream.
//!
//! Providers never touch the store: they answer one request for one symbol and range.

mod csv_source;
mod synthetic;

pub use csv_source::CsvSource;
pub use synthetic::{SyntheticConfig, SyntheticSource, first_trade_date};
