//! Integration tests of the stores against real servers.

mod contract;
mod migrations;
mod postgres_errors;
