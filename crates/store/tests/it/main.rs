//! Integration tests of the stores against real servers.

mod postgres_errors;
