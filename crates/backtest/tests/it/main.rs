//! Integration tests of the backtest crate: the vectorbt cross-check, the reference-loop property
//! and the generic grid against the SMA grid.

mod fixture;
mod reference_loop;
mod strategy_grid;
mod vectorbt;
