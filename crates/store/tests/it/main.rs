//! Integration tests of the stores against real servers.

mod migrations;
mod postgres_errors;
