//! Integration tests of the HTTP providers against local mock servers (wiremock on 127.0.0.1);
//! nothing here reaches the internet. One binary, one module per concern.

mod alpaca;
mod alphavantage;
mod common;
mod errors;
mod polygon;
mod properties;
mod registry;
mod retries;
mod secrets;
mod stooq;
mod support;
mod tiingo;
mod yahoo;
