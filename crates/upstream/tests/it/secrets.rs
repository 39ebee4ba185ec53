//! Credentials never show: not in Debug, not in any error's text, not in logs.

use marketcache_domain::SourceError;
use marketcache_upstream::{
    AlpacaSource, AlphaVantageSource, PolygonSource, ProviderKind, StooqSource, TiingoSource,
    YahooSource, build_from,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{FAKE_KEY, FAKE_SECRET, clock_at, date, fetch, range, settings, source_for};

fn assert_hidden(shown: &str) {
    assert!(
        !shown.contains(FAKE_KEY) && !shown.contains(FAKE_SECRET),
        "a credential leaked: {shown}"
    );
}

#[test]
fn keys_never_appear_in_the_debug_of_settings_or_of_any_provider() {
    let base = "http://127.0.0.1:9";
    let clock = clock_at("2025-01-01T00:00:00Z");
    for kind in ProviderKind::ALL {
        assert_hidden(&format!("{:?}", settings(kind, base)));
    }
    let shown = [
        format!(
            "{:?}",
            YahooSource::new(settings(ProviderKind::Yahoo, base), clock.clone())
        ),
        format!(
            "{:?}",
            StooqSource::new(settings(ProviderKind::Stooq, base))
        ),
        format!(
            "{:?}",
            PolygonSource::new(settings(ProviderKind::Polygon, base))
        ),
        format!(
            "{:?}",
            AlpacaSource::new(settings(ProviderKind::Alpaca, base))
        ),
        format!(
            "{:?}",
            TiingoSource::new(settings(ProviderKind::Tiingo, base))
        ),
        format!(
            "{:?}",
            AlphaVantageSource::new(settings(ProviderKind::AlphaVantage, base), clock.clone())
        ),
    ];
    for debug in &shown {
        assert!(debug.starts_with("Ok("), "provider did not build: {debug}");
        assert_hidden(debug);
    }
    assert!(
        shown[1].contains("REDACTED"),
        "the Stooq key prints as redacted: {}",
        shown[1]
    );
}

#[tokio::test]
async fn keys_never_appear_in_errors_from_an_unreachable_host() {
    // Nothing listens on port 9 here: every attempt is refused.
    let base = "http://127.0.0.1:9";
    for kind in ProviderKind::ALL {
        let source = build_from(settings(kind, base), clock_at("2025-01-01T00:00:00Z"))
            .expect("source builds");
        let error = fetch(
            source.as_ref(),
            "AAPL",
            range(date(2024, 1, 1), date(2024, 1, 31)),
        )
        .await
        .expect_err("unreachable");
        assert!(
            matches!(error, SourceError::Transport { .. }),
            "{kind}: {error:?}"
        );
        if matches!(kind, ProviderKind::AlphaVantage | ProviderKind::Stooq) {
            // The key travels in the query: the URL in the message shows it redacted.
            assert!(error.to_string().contains("apikey=REDACTED"), "{error}");
        }
    }
}

#[tokio::test]
async fn keys_echoed_back_in_error_bodies_are_scrubbed() {
    let keyed = [
        ProviderKind::Stooq,
        ProviderKind::Polygon,
        ProviderKind::Alpaca,
        ProviderKind::Tiingo,
        ProviderKind::AlphaVantage,
    ];
    for status in [200, 401] {
        for kind in keyed {
            // A server echoing the request back, cut off: each provider's own credentials.
            let echo = match kind {
                ProviderKind::Alpaca => {
                    format!("{{\"echo\": \"id={FAKE_KEY}&secret={FAKE_SECRET}\", \"cut")
                }
                _ => format!("{{\"echo\": \"apikey={FAKE_KEY}\", \"cut"),
            };
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(
                    ResponseTemplate::new(status).set_body_raw(echo.clone(), "application/json"),
                )
                .mount(&server)
                .await;
            let source = source_for(kind, &server, clock_at("2025-01-01T00:00:00Z"));
            let error = fetch(
                source.as_ref(),
                "AAPL",
                range(date(2024, 1, 1), date(2024, 1, 31)),
            )
            .await
            .expect_err("an echo is no data");
            assert!(
                error.to_string().contains("[REDACTED]"),
                "{kind} HTTP {status}: the echo should show, scrubbed: {error}"
            );
        }
    }
}
