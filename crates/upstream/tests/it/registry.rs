//! The catalog, building providers by name, and configuration read from variables.

use std::collections::HashMap;

use marketcache_domain::SourceError;
use marketcache_upstream::{ProviderKind, ProviderSettings, build, catalog};

#[test]
fn the_catalog_lists_every_provider_with_its_needs_and_limits() {
    let entries = catalog();
    let names: Vec<_> = entries.iter().map(|entry| entry.name).collect();
    assert_eq!(
        names,
        [
            "yahoo",
            "stooq",
            "polygon",
            "alpaca",
            "tiingo",
            "alphavantage"
        ]
    );
    let by_name: HashMap<_, _> = entries.iter().map(|entry| (entry.name, entry)).collect();

    let polygon = by_name["polygon"];
    assert!(polygon.needs_key);
    assert_eq!(polygon.key_variables, ["POLYGON_API_KEY"]);
    assert_eq!(polygon.requests_per_minute, Some(5));
    assert_eq!(polygon.pagination, "next_url");
    assert_eq!(polygon.max_span_days, None);

    let alpaca = by_name["alpaca"];
    assert_eq!(
        alpaca.key_variables,
        ["APCA_API_KEY_ID", "APCA_API_SECRET_KEY"]
    );
    assert_eq!(alpaca.pagination, "next_page_token");
    assert_eq!(alpaca.requests_per_minute, Some(200));

    assert!(!by_name["yahoo"].needs_key && by_name["yahoo"].key_variables.is_empty());
    assert!(!by_name["stooq"].needs_key, "Stooq's key is optional");
    assert_eq!(by_name["alphavantage"].requests_per_day, Some(25));
    assert_eq!(by_name["tiingo"].requests_per_day, Some(1_000));
    assert_eq!(by_name["yahoo"].url_variable, "MARKETCACHE_YAHOO_URL");
    assert_eq!(
        by_name["alphavantage"].url_variable,
        "MARKETCACHE_ALPHAVANTAGE_URL"
    );
    assert!(entries.iter().all(|entry| !entry.prices.is_empty()));
}

#[test]
fn a_missing_key_fails_at_construction_naming_the_variable() {
    let no_variables = |_: &str| None;
    for (name, variable) in [
        ("polygon", "POLYGON_API_KEY"),
        ("alpaca", "APCA_API_KEY_ID"),
        ("tiingo", "TIINGO_API_KEY"),
        ("alphavantage", "ALPHAVANTAGE_API_KEY"),
    ] {
        let error = build(name, &no_variables).err().expect("a key is required");
        assert!(
            matches!(&error, SourceError::Configuration { message, .. } if message.contains(variable)),
            "{name}: {error:?}"
        );
    }
    for name in ["yahoo", "stooq"] {
        let source = build(name, &no_variables).expect("no key needed");
        assert_eq!(source.name(), name);
    }
}

#[test]
fn an_empty_key_counts_as_missing() {
    let lookup = |name: &str| (name == "POLYGON_API_KEY").then(|| "  ".to_string());
    let error = build("polygon", &lookup).err().expect("blank key");
    assert!(error.to_string().contains("POLYGON_API_KEY"), "{error}");
}

#[test]
fn an_unknown_provider_is_refused_naming_the_known_ones() {
    let error = build("bloomberg", &|_: &str| None).err().expect("unknown");
    let message = error.to_string();
    assert!(
        message.contains("yahoo") && message.contains("alphavantage"),
        "{message}"
    );
}

#[test]
fn the_url_variable_overrides_the_real_host() {
    let lookup =
        |name: &str| (name == "MARKETCACHE_YAHOO_URL").then(|| "http://127.0.0.1:4010".to_string());
    let overridden = ProviderSettings::from_lookup(ProviderKind::Yahoo, &lookup);
    assert_eq!(overridden.base_url, "http://127.0.0.1:4010");
    let default = ProviderSettings::from_lookup(ProviderKind::Yahoo, &|_: &str| None);
    assert_eq!(default.base_url, "https://query1.finance.yahoo.com");
}

#[test]
fn an_invalid_base_url_is_a_configuration_error_naming_the_variable() {
    let lookup = |name: &str| match name {
        "MARKETCACHE_POLYGON_URL" => Some("not a url".to_string()),
        "POLYGON_API_KEY" => Some("k".to_string()),
        _ => None,
    };
    let error = build("polygon", &lookup).err().expect("invalid URL");
    assert!(
        error.to_string().contains("MARKETCACHE_POLYGON_URL"),
        "{error}"
    );
}
