//! Integration tests of the HTTP API: a real server on an ephemeral loopback port, a real
//! SQLite file or PostgreSQL database, and the synthetic upstream as ground truth.

mod harness;

mod abuse;
mod browser;
mod dashboard;
mod endpoints;
mod errors;
mod failures;
mod http;
mod jobs;
mod openapi;
mod properties;
mod security;
mod verify;
