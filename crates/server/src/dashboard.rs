//! The web dashboard: two HTML pages and their scripts, styles and charting library, all
//! embedded in the binary (no build step, no CDN), so it works offline.
//!
//! Assets are served with `Cache-Control: public, max-age=…` and a strong `ETag` (a hash of the
//! bytes, computed once); pages are revalidated on every load (`no-cache` with the same kind of
//! `ETag`), so a new binary's pages are seen at once while the library is fetched once. A
//! `Content-Security-Policy` of `'self'` makes the browser refuse any script or connection to
//! another host, which is how "works offline" is kept true.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;

/// How long a browser may reuse an asset without asking again.
pub const ASSET_MAX_AGE_SECONDS: u32 = 86_400;

/// Only our own origin; inline `style` attributes are allowed because the charting library
/// positions its canvases with them, and `data:` images because it draws its logo from one.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// One embedded file and its validator.
struct Embedded {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    etag: HeaderValue,
}

impl Embedded {
    fn new(name: &'static str, content_type: &'static str, bytes: &'static [u8]) -> Self {
        Self {
            name,
            content_type,
            bytes,
            etag: etag_of(bytes),
        }
    }
}

/// A strong ETag: FNV-1a over the bytes, quoted as RFC 9110 wants.
fn etag_of(bytes: &[u8]) -> HeaderValue {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    HeaderValue::from_str(&format!("\"{hash:016x}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The files under `/assets/`.
static ASSETS: LazyLock<Vec<Embedded>> = LazyLock::new(|| {
    vec![
        Embedded::new(
            "dashboard.css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/dashboard.css"),
        ),
        Embedded::new(
            "common.js",
            JAVASCRIPT,
            include_bytes!("../assets/common.js"),
        ),
        Embedded::new(
            "optimizer.js",
            JAVASCRIPT,
            include_bytes!("../assets/optimizer.js"),
        ),
        Embedded::new("cache.js", JAVASCRIPT, include_bytes!("../assets/cache.js")),
        Embedded::new(
            "lightweight-charts.js",
            JAVASCRIPT,
            include_bytes!("../assets/vendor/lightweight-charts.standalone.production.js"),
        ),
        Embedded::new(
            "LICENSE-lightweight-charts.txt",
            "text/plain; charset=utf-8",
            include_bytes!("../assets/vendor/LICENSE-lightweight-charts.txt"),
        ),
    ]
});

const HTML: &str = "text/html; charset=utf-8";

static OPTIMIZER_PAGE: LazyLock<Embedded> = LazyLock::new(|| {
    Embedded::new(
        "optimizer.html",
        HTML,
        include_bytes!("../assets/optimizer.html"),
    )
});

static CACHE_PAGE: LazyLock<Embedded> =
    LazyLock::new(|| Embedded::new("cache.html", HTML, include_bytes!("../assets/cache.html")));

/// `/dashboard`: the optimizer is the landing page.
pub(crate) async fn index() -> Redirect {
    Redirect::to("/dashboard/optimizer")
}

/// `/dashboard/optimizer`.
pub(crate) async fn optimizer_page(headers: HeaderMap) -> Response {
    serve(&OPTIMIZER_PAGE, "no-cache", &headers)
}

/// `/dashboard/cache`.
pub(crate) async fn cache_page(headers: HeaderMap) -> Response {
    serve(&CACHE_PAGE, "no-cache", &headers)
}

/// `/assets/{name}`: one embedded file, or a JSON 404.
pub(crate) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => serve(
            asset,
            &format!("public, max-age={ASSET_MAX_AGE_SECONDS}"),
            &headers,
        ),
        None => ApiError::not_found(format!("no asset {name:?}")).into_response(),
    }
}

/// The file, or `304 Not Modified` when the browser's copy has the same ETag.
fn serve(file: &Embedded, cache_control: &str, request: &HeaderMap) -> Response {
    let mut response = if if_none_match(request, &file.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            )],
            file.bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, file.etag.clone());
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn if_none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_for_different_bytes_and_are_quoted() {
        let one = etag_of(b"one");
        assert_ne!(one, etag_of(b"two"));
        let text = one.to_str().unwrap_or_default();
        assert!(text.starts_with('"') && text.ends_with('"'), "{text}");
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            if_none_match(&headers, &etag)
        };
        assert!(with("\"x\", \"abc\""));
        assert!(with("W/\"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
        assert!(!if_none_match(&HeaderMap::new(), &etag));
    }

    #[test]
    fn every_asset_a_page_names_is_served() {
        for page in [&*OPTIMIZER_PAGE, &*CACHE_PAGE] {
            let text = String::from_utf8_lossy(page.bytes);
            for reference in text.split("/assets/").skip(1) {
                let name: String = reference
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                assert!(
                    ASSETS.iter().any(|asset| asset.name == name),
                    "{} names /assets/{name}, which is not embedded",
                    page.name
                );
            }
        }
    }
}
