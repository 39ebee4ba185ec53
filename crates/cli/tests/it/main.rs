//! Integration tests of the `marketcache` binary: each test runs the real executable in a
//! sandbox of its own (working directory, home, data and config folders, environment).

mod support;

mod backtest;
mod copy;
mod crash_loop;
mod demo;
mod disk_faults;
mod first_use;
mod get;
mod help;
mod input_errors;
mod migrate;
mod optimize;
mod output_pipes;
mod pg_restart;
mod postgres;
mod providers;
mod serve;
mod settings;
mod shared_budget;
mod shared_cache;
mod soak;
mod stats_and_clear;
mod upstream;
mod upstream_down;
mod verify;
mod warm;
mod yahoo_warm;
