//! Helpers shared by the tests: fixtures, fake credentials, sources pointed at a mock server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use marketcache_domain::{
    Clock, DateRange, FetchedBars, FixedClock, PriceSource, SourceError, Symbol,
};
use marketcache_upstream::{HttpPolicy, ProviderKind, ProviderSettings, build_from};
use wiremock::MockServer;

/// A recognisable fake key: no error, log line or Debug output may ever contain it.
pub const FAKE_KEY: &str = "fakeKEY-leakcheck-7f3a9c";
/// Alpaca's fake secret, under the same rule.
pub const FAKE_SECRET: &str = "fakeSECRET-leakcheck-b81d";

/// The bytes of `tests/fixtures/{name}`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("fixture {}: {error}", path.display()))
}

pub fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

pub fn range(start: NaiveDate, end: NaiveDate) -> DateRange {
    DateRange::new(start, end).expect("valid range")
}

pub fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("valid symbol")
}

pub fn instant(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC-3339 time")
        .with_timezone(&Utc)
}

pub fn clock_at(rfc3339: &str) -> Arc<dyn Clock> {
    Arc::new(FixedClock::new(instant(rfc3339)))
}

/// Variables as the CLI would read them: the URL override pointing at `base_url` and every
/// key variable of `kind` set to the fake credentials.
pub fn variables(kind: ProviderKind, base_url: &str) -> HashMap<String, String> {
    let mut variables = HashMap::new();
    variables.insert(kind.url_variable().to_string(), base_url.to_string());
    for (index, name) in kind.key_variables().iter().enumerate() {
        let value = if index == 0 { FAKE_KEY } else { FAKE_SECRET };
        variables.insert((*name).to_string(), value.to_string());
    }
    variables
}

/// Settings read from [`variables`] through the lookup function, with millisecond delays and
/// no pacing.
pub fn settings(kind: ProviderKind, base_url: &str) -> ProviderSettings {
    let variables = variables(kind, base_url);
    let lookup = move |name: &str| variables.get(name).cloned();
    ProviderSettings::from_lookup(kind, &lookup)
        .with_policy(HttpPolicy::for_tests())
        .with_pace(None)
}

/// A `kind` source talking to `server`, with fake credentials.
pub fn source_for(
    kind: ProviderKind,
    server: &MockServer,
    clock: Arc<dyn Clock>,
) -> Arc<dyn PriceSource> {
    build_from(settings(kind, &server.uri()), clock).expect("source builds")
}

/// Panics if any credential appears in the error's Display or Debug.
pub fn assert_no_credentials(error: &SourceError) {
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(
            !shown.contains(FAKE_KEY) && !shown.contains(FAKE_SECRET),
            "a credential leaked into an error: {shown}"
        );
    }
}

/// Fetches and checks that an error, if any, carries no credential.
pub async fn fetch(
    source: &dyn PriceSource,
    symbol_text: &str,
    range: DateRange,
) -> Result<FetchedBars, SourceError> {
    let result = source.fetch(&symbol(symbol_text), range).await;
    if let Err(error) = &result {
        assert_no_credentials(error);
    }
    result
}

/// How many requests the mock server received.
pub async fn request_count(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .map(|requests| requests.len())
        .unwrap_or(0)
}

/// The query parameters of the `index`-th request the server received.
pub async fn query_of(server: &MockServer, index: usize) -> HashMap<String, String> {
    let requests = server.received_requests().await.unwrap_or_default();
    let request = requests.get(index).expect("request was received");
    request
        .url
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The value of header `name` in the `index`-th request the server received.
pub async fn header_of(server: &MockServer, index: usize, name: &str) -> Option<String> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .get(index)?
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}
