//! Integration tests of the backtest crate: the vectorbt cross-check and the reference-loop property.

mod fixture;
mod reference_loop;
mod vectorbt;
