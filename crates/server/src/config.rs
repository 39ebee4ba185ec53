//! How the server is exposed: the address, the API token, CORS, and the limits of a request.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The address the server binds when none is given: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// The bearer token that guards the mutating endpoints. It never appears in `Debug`, logs or
/// errors, and is compared in constant time.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text; `None` for an empty or blank one (as if it were unset).
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        if text.trim().is_empty() {
            None
        } else {
            Some(Self(text))
        }
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// Why a configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(
        "refusing to listen on {address} without a token: set MARKETCACHE_API_TOKEN, or bind a loopback address such as 127.0.0.1:8000"
    )]
    PublicWithoutToken { address: SocketAddr },
    #[error(
        "--cors-origin '{origin}' is invalid: expected an origin such as http://localhost:3000"
    )]
    InvalidCorsOrigin { origin: String },
}

/// Everything about how the API is served, checked by [`ServerConfig::new`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Required on mutating endpoints when set.
    pub token: Option<ApiToken>,
    /// The one origin allowed to call from a browser; CORS is off without it.
    pub cors_origin: Option<HeaderValue>,
    /// Largest request body accepted (413 above).
    pub body_limit_bytes: usize,
    /// Largest optimizer grid accepted, before constraints (400 above).
    pub max_grid_combinations: usize,
    /// Finished jobs kept for `GET /api/jobs/{id}`; the oldest are forgotten first.
    pub kept_finished_jobs: usize,
    /// Jobs running at once (429 above).
    pub max_running_jobs: usize,
    /// Connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers (or, between requests, to start
    /// the next one) before its connection is closed: slow clients never hold a slot for long.
    pub header_read_timeout: Duration,
    /// Longest a request's body may take to arrive (408 after).
    pub body_read_timeout: Duration,
    /// Further `Host` values (`name` or `name:port`) requests may carry, beside the bound
    /// address (and `localhost` on loopback): the names the server is reached by.
    pub allowed_hosts: Vec<String>,
}

/// Connections open at once by default: well under the usual 1,024 file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 768;
/// How long a client may take over its headers by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may take to arrive by default.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl ServerConfig {
    /// Checks the exposure: a non-loopback address needs a token, and a CORS origin must be a
    /// valid header value of the form `scheme://host[:port]`.
    pub fn new(
        bind: SocketAddr,
        token: Option<ApiToken>,
        cors_origin: Option<&str>,
    ) -> Result<Self, ConfigError> {
        if !bind.ip().is_loopback() && token.is_none() {
            return Err(ConfigError::PublicWithoutToken { address: bind });
        }
        let cors_origin = cors_origin
            .map(|origin| {
                let invalid = || ConfigError::InvalidCorsOrigin {
                    origin: origin.to_string(),
                };
                let well_formed = (origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/');
                if !well_formed {
                    return Err(invalid());
                }
                HeaderValue::from_str(origin).map_err(|_| invalid())
            })
            .transpose()?;
        Ok(Self {
            bind,
            token,
            cors_origin,
            body_limit_bytes: 64 * 1024,
            max_grid_combinations: 200_000,
            kept_finished_jobs: 100,
            max_running_jobs: 8,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            allowed_hosts: Vec::new(),
        })
    }

    /// Loopback on an ephemeral port, no token, no CORS: what tests start from.
    pub fn local_ephemeral() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            cors_origin: None,
            body_limit_bytes: 64 * 1024,
            max_grid_combinations: 200_000,
            kept_finished_jobs: 100,
            max_running_jobs: 8,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            allowed_hosts: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves_and_never_show() {
        let token = ApiToken::new("s3cret-token").unwrap_or_else(|| panic!("token"));
        assert!(token.matches("s3cret-token"));
        assert!(!token.matches("s3cret-tokeN"));
        assert!(!token.matches("s3cret"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(ApiToken::new("  ").is_none());
    }

    #[test]
    fn a_public_address_without_a_token_is_refused() {
        let public = SocketAddr::from(([0, 0, 0, 0], 8000));
        assert!(matches!(
            ServerConfig::new(public, None, None),
            Err(ConfigError::PublicWithoutToken { .. })
        ));
        assert!(ServerConfig::new(public, ApiToken::new("t"), None).is_ok());
        let loopback = SocketAddr::from(([127, 0, 0, 1], 8000));
        assert!(ServerConfig::new(loopback, None, None).is_ok());
    }

    #[test]
    fn cors_origins_must_be_origins() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 8000));
        for bad in ["localhost:3000", "http://a/", "*", "http://a\nb"] {
            assert!(
                ServerConfig::new(loopback, None, Some(bad)).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(ServerConfig::new(loopback, None, Some("http://localhost:3000")).is_ok());
    }
}
