//! The strategies of the catalog, one module each.

mod buy_and_hold;
mod sma_cross;

pub use buy_and_hold::BuyAndHold;
pub(crate) use sma_cross::Crossing;
pub use sma_cross::SmaCross;
pub(crate) use sma_cross::{FAST, SLOW};
