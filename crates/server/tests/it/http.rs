//! HTTP as clients and caches expect it: compressed bodies, the form the `Accept` header asks
//! for, 405 in the JSON error shape, `/` leading to the dashboard, `Retry-After` on every 429,
//! and CORS letting a page read the report headers.

use std::io::Read;

use crate::harness::{Backend, Options, TestApp};

const BARS: &str = "/api/bars/AAPL?start=2015-01-01&end=2020-12-31";

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not gzip: {e}"));
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not brotli: {e}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_come_compressed_as_the_client_accepts_and_decode_to_the_same_bars() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let plain = app.get(BARS).await;
    plain.expect(200);
    assert_eq!(plain.header("content-encoding"), None);
    for (encoding, decode) in [("gzip", gunzip as fn(&[u8]) -> Vec<u8>), ("br", unbrotli)] {
        let reply = app
            .send(
                app.client
                    .get(app.url(BARS))
                    .header("accept-encoding", encoding),
            )
            .await;
        reply.expect(200);
        assert_eq!(reply.header("content-encoding"), Some(encoding));
        assert!(
            reply.bytes.len() * 3 < plain.bytes.len(),
            "{encoding}: {} of {} bytes",
            reply.bytes.len(),
            plain.bytes.len()
        );
        let decoded: serde_json::Value = serde_json::from_slice(&decode(&reply.bytes))
            .unwrap_or_else(|e| panic!("{encoding}: {e}"));
        assert_eq!(decoded["bars"], plain.json()["bars"], "{encoding}");
        // CSV, the OpenAPI document and the dashboard's scripts too.
        for path in [
            "/api/bars/AAPL?start=2015-01-01&end=2020-12-31&format=csv",
            "/api/openapi.json",
            "/dashboard/optimizer",
        ] {
            let reply = app
                .send(
                    app.client
                        .get(app.url(path))
                        .header("accept-encoding", encoding),
                )
                .await;
            reply.expect(200);
            assert_eq!(reply.header("content-encoding"), Some(encoding), "{path}");
            assert!(!decode(&reply.bytes).is_empty(), "{path}");
        }
    }
    // Parquet is compressed inside already: sent as it is.
    let parquet = app
        .send(
            app.client
                .get(app.url(&format!("{BARS}&format=parquet")))
                .header("accept-encoding", "gzip, br"),
        )
        .await;
    parquet.expect(200);
    assert_eq!(parquet.header("content-encoding"), None);
    assert_eq!(&parquet.bytes[..4], b"PAR1");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_header_chooses_the_form_unless_format_does() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let ask = |accept: &'static str, path: &'static str| {
        app.send(app.client.get(app.url(path)).header("accept", accept))
    };
    let csv = ask("text/csv", BARS).await;
    csv.expect(200);
    assert!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv"))
    );
    assert!(
        csv.text.starts_with("date,open,high,low,close,volume\n"),
        "{}",
        &csv.text[..60]
    );
    let preferred = ask("application/json;q=0.5, text/csv;q=0.9", BARS).await;
    assert!(preferred.text.starts_with("date,"));
    let parquet = ask("application/vnd.apache.parquet", BARS).await;
    assert_eq!(&parquet.bytes[..4], b"PAR1");
    let arrow = ask("application/vnd.apache.arrow.file", BARS).await;
    assert_eq!(&arrow.bytes[..6], b"ARROW1");
    for accept in ["*/*", "text/html", "text/csv;q=0"] {
        let json = ask(accept, BARS).await;
        assert!(json.text.starts_with("{\"symbol\""), "{accept}");
    }
    let explicit = app
        .send(
            app.client
                .get(app.url(&format!("{BARS}&format=json")))
                .header("accept", "text/csv"),
        )
        .await;
    assert!(explicit.text.starts_with("{\"symbol\""));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_405_in_the_error_shape_and_the_root_leads_to_the_dashboard() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let reply = app.send(app.client.put(app.url("/api/bars/AAPL"))).await;
    reply.expect_error(405, "method_not_allowed", None);
    assert!(
        reply
            .header("allow")
            .is_some_and(|allow| allow.contains("GET")),
        "{:?}",
        reply.headers
    );
    let reply = app.post_json("/api/health", &serde_json::json!({})).await;
    reply.expect_error(405, "method_not_allowed", None);

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let root = app.send(no_redirects.get(app.url("/"))).await;
    assert!((300..400).contains(&root.status), "{}", root.status);
    assert_eq!(root.header("location"), Some("/dashboard"));
    let followed = app.get("/").await;
    followed.expect(200);
    assert!(
        followed.text.contains("<html"),
        "{}",
        &followed.text[..80.min(followed.text.len())]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_the_allowed_origin_read_the_report_headers() {
    let options = Options {
        cors_origin: Some("http://dashboard.example"),
        ..Options::default()
    };
    let app = TestApp::start_with(Backend::sqlite().await, options).await;
    let reply = app
        .send(
            app.client
                .get(app.url(&format!("{BARS}&format=csv")))
                .header("origin", "http://dashboard.example"),
        )
        .await;
    reply.expect(200);
    let exposed = reply
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in [
        "x-cached-bars",
        "x-fetched-bars",
        "x-upstream-requests",
        "x-elapsed-ms",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_carry_a_validator_and_the_same_data_is_the_same_bytes() {
    let app = TestApp::start(Backend::sqlite().await).await;
    app.get(BARS).await.expect(200);
    let second = app.get(BARS).await;
    second.expect(200);
    let tag = second
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {:?}", second.headers));
    assert!(tag.starts_with("W/\""), "{tag}");
    assert_eq!(second.header("cache-control"), Some("no-cache"));
    assert!(second.header("x-elapsed-ms").is_some());
    let third = app.get(BARS).await;
    assert_eq!(third.bytes, second.bytes, "the same data, the same bytes");
    assert_eq!(third.header("etag"), Some(tag));

    let revalidate = |path: String, tag: String| {
        app.send(app.client.get(app.url(&path)).header("if-none-match", tag))
    };
    let unchanged = revalidate(BARS.to_string(), tag.to_string()).await;
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.bytes.is_empty());
    assert_eq!(unchanged.header("etag"), Some(tag));
    let listed = revalidate(BARS.to_string(), format!("\"other\", {tag}")).await;
    assert_eq!(listed.status, 304);
    // Another question about the same data is another answer.
    for other in [
        format!("{BARS}&format=csv"),
        format!("{BARS}&adjust=all"),
        "/api/bars/AAPL?start=2016-01-01&end=2020-12-31".to_string(),
    ] {
        let reply = revalidate(other.clone(), tag.to_string()).await;
        assert_eq!(reply.status, 200, "{other}");
        assert_ne!(reply.header("etag"), Some(tag), "{other}");
    }
    // Changed data is a new answer.
    app.delete("/api/cache?symbol=AAPL&before=2016-01-01")
        .await
        .expect(200);
    let changed = revalidate(BARS.to_string(), tag.to_string()).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(tag));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_query_parameters_are_absent_but_a_bare_flag_is_set() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let plain = app.get(BARS).await;
    plain.expect(200);
    let empty = app.get(&format!("{BARS}&adjust=&format=&offline=")).await;
    empty.expect(200);
    assert_eq!(empty.json()["bars"], plain.json()["bars"]);
    // `offline=` is a flag: present, so set; the range is cached, so nothing is missing.
    assert_eq!(empty.json()["report"]["upstream_requests"], 0);
    let dates = app.get("/api/bars/AAPL?start=&end=2020-01-10").await;
    dates.expect(200);
    assert_eq!(dates.json()["bars"][0]["date"], "1990-01-02");
    // An unknown parameter with a value is still refused (a typo must not go unnoticed).
    app.get(&format!("{BARS}&bogus=1"))
        .await
        .expect_error(400, "invalid_input", None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_say_what_the_server_served_since_it_started() {
    let app = TestApp::start(Backend::sqlite().await).await;
    let before = app.get("/api/cache/stats").await.json();
    assert_eq!(before["since_start"]["reads"], 0);
    assert!(before["since_start"]["hit_ratio"].is_null());
    let cold = app.get(BARS).await.json();
    let warm = app.get(BARS).await.json();
    let bars = cold["bars"].as_array().map(Vec::len).unwrap_or_default() as u64;
    let after = app.get("/api/cache/stats").await.json();
    let totals = &after["since_start"];
    assert_eq!(totals["reads"], 2, "{totals}");
    assert_eq!(totals["fetched_bars"].as_u64(), Some(bars));
    assert_eq!(totals["cached_bars"].as_u64(), Some(bars));
    assert_eq!(
        totals["upstream_requests"],
        cold["report"]["upstream_requests"]
    );
    assert_eq!(warm["report"]["upstream_requests"], 0);
    assert_eq!(totals["hit_ratio"].as_f64(), Some(0.5));
    app.stop().await;
}
