//! Arbitrary query strings and path segments never make the server fail on its side (5xx) or
//! panic: whatever a client sends is either served or refused as bad input.

use std::sync::OnceLock;

use proptest::prelude::*;

use crate::harness::{Backend, TestApp};

/// One server for every case: starting one per case would dominate the run.
struct Shared {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let app = runtime.block_on(async { TestApp::start(Backend::sqlite().await).await });
        Shared { runtime, app }
    })
}

/// Text that is sometimes a valid value (so the served paths run too) and often not.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,12}",
        "20(19|20|21)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
        Just(String::new()),
        prop::sample::select(vec![
            "none", "splits", "all", "json", "csv", "true", "false", "1"
        ])
        .prop_map(String::from),
    ]
}

fn symbol() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_filter("a path segment is never empty", |s| !s.is_empty()),
        prop::sample::select(vec!["AAPL", "msft", "ZZNOPE", "BRK.B", "^GSPC"])
            .prop_map(String::from),
        "[A-Z.^=-]{1,25}",
    ]
}

const KEYS: [&str; 7] = [
    "start",
    "end",
    "adjust",
    "format",
    "closed_only",
    "offline",
    "bogus",
];

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(KEYS.to_vec()).prop_map(String::from),
                any::<String>()
            ],
            value(),
        ),
        0..5,
    )
}

fn status_of(path_segments: &[&str], query: &[(String, String)]) -> (u16, String) {
    let shared = shared();
    let mut url = reqwest::Url::parse(&shared.app.base).unwrap_or_else(|e| panic!("{e}"));
    url.path_segments_mut()
        .unwrap_or_else(|()| panic!("base URL"))
        .extend(path_segments);
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in query {
            pairs.append_pair(key, value);
        }
    }
    shared.runtime.block_on(async {
        let reply = shared.app.send(shared.app.client.get(url.clone())).await;
        (reply.status, format!("{url} -> {}", reply.text))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn bar_queries_never_fail_on_our_side(symbol in symbol(), query in query()) {
        let (status, context) = status_of(&["api", "bars", &symbol], &query);
        prop_assert!(status < 500, "{status}: {context}");
        prop_assert!([200, 400, 404].contains(&status), "{status}: {context}");
    }

    #[test]
    fn coverage_queries_never_fail_on_our_side(symbol in symbol(), query in query()) {
        let (status, context) = status_of(&["api", "cache", "coverage", &symbol], &query);
        prop_assert!([200, 400, 404].contains(&status), "{status}: {context}");
    }
}
