//! Integration tests of the read-through cache, each run on SQLite and on PostgreSQL.

mod basis;
mod harness;
mod markets;
mod properties;
mod read_through;
mod shared_store;
mod upstream_answers;
