//! The checks every request passes before its handler: its `Host` must name this server (the
//! bound address, `localhost` on loopback, or a configured name), so a page whose DNS name was
//! rebound to this address cannot reach it; and a write that carries an `Origin` must come
//! from this server's own origin or the one CORS origin, so another site cannot post to it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::routes::AppState;

/// The `Host` values (lower-case) a server listening on `address` accepts: `None` (no check)
/// for a wildcard address without configured names, where the token is the guard.
pub(crate) fn allowed_hosts(
    address: SocketAddr,
    configured: &[String],
) -> Option<Arc<Vec<String>>> {
    let port = address.port();
    let mut hosts: Vec<String> = Vec::new();
    for name in configured {
        let name = name.trim().to_ascii_lowercase();
        if !name.ends_with(']')
            && name
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            hosts.push(name);
        } else {
            hosts.push(format!("{name}:{port}"));
            hosts.push(name);
        }
    }
    if address.ip().is_unspecified() {
        return (!hosts.is_empty()).then(|| Arc::new(hosts));
    }
    hosts.push(address.to_string());
    if address.ip().is_loopback() {
        for name in ["localhost", "127.0.0.1", "[::1]"] {
            hosts.push(format!("{name}:{port}"));
        }
    }
    Some(Arc::new(hosts))
}

/// Refuses (403) a request whose `Host` is not this server's, and a write whose `Origin` is
/// neither this server's nor the CORS origin.
pub(crate) async fn check_host_and_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(allowed) = &state.allowed_hosts
        && !host.as_ref().is_some_and(|host| allowed.contains(host))
    {
        let shown = host.as_deref().unwrap_or("(none)");
        let message = format!(
            "Host {shown} is not this server's address; reach it by its address, or add the name with --allowed-host"
        );
        return ApiError::new(StatusCode::FORBIDDEN, "host_not_allowed", message).into_response();
    }
    let reads = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let (false, Some(origin)) = (reads, origin) {
        let own = host.as_ref().is_some_and(|host| {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        });
        if !own && state.cors_origin.as_deref() != Some(origin.as_str()) {
            let message = format!(
                "writes from origin {origin} are not allowed; only this server's own pages and the CORS origin may write"
            );
            return ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", message)
                .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(address: &str, configured: &[&str]) -> Option<Vec<String>> {
        let address: SocketAddr = address.parse().unwrap_or_else(|e| panic!("{e}"));
        let configured: Vec<String> = configured.iter().map(|name| name.to_string()).collect();
        allowed_hosts(address, &configured).map(|hosts| hosts.to_vec())
    }

    #[test]
    fn loopback_accepts_its_address_and_localhost_and_configured_names_with_or_without_port() {
        let allowed =
            hosts("127.0.0.1:8000", &["Cache.Internal", "proxy.example:443"]).unwrap_or_default();
        for host in [
            "127.0.0.1:8000",
            "localhost:8000",
            "[::1]:8000",
            "cache.internal",
            "cache.internal:8000",
            "proxy.example:443",
        ] {
            assert!(allowed.contains(&host.to_string()), "{host}: {allowed:?}");
        }
        for host in ["localhost:9000", "attacker.example", "proxy.example"] {
            assert!(!allowed.contains(&host.to_string()), "{host}: {allowed:?}");
        }
    }

    #[test]
    fn a_wildcard_address_checks_only_configured_names() {
        assert_eq!(hosts("0.0.0.0:8000", &[]), None);
        assert_eq!(
            hosts("0.0.0.0:8000", &["cache.internal"]),
            Some(vec![
                "cache.internal:8000".to_string(),
                "cache.internal".to_string()
            ])
        );
        let specific = hosts("10.0.0.5:8000", &[]).unwrap_or_default();
        assert_eq!(specific, ["10.0.0.5:8000"]);
    }
}
