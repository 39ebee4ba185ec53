//! The settings of a marketcache process and the parts they name, resolved once for every
//! entry point that runs in its own process (the CLI, the Python package):
//!
//! * [`settings`]: [`Settings::resolve`](settings::Settings::resolve) takes a caller's
//!   [`Overrides`](settings::Overrides) (flags, keyword arguments), then the environment and a
//!   `.env` file ([`dotenv`]), then `marketcache.toml`, then defaults;
//! * [`wiring`]: the store, the providers and the cache built from them, the one place that
//!   names concrete stores and providers;
//! * [`UsageError`]: bad input from the user, told in one line before anything is opened.

pub mod dotenv;
pub mod settings;
mod text_position;
pub mod usage;
pub mod wiring;

pub use settings::{Overrides, ProviderChoice, Settings};
pub use usage::UsageError;
pub use wiring::OpenError;
