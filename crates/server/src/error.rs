//! The one error type of the API and how every failure becomes a status code.
//!
//! # Policy
//! - Bad input is a 400 whose `field` names the query parameter, path segment or body field at
//!   fault, with a message saying the rule; an unknown symbol is a 404, an unknown job too.
//! - Upstream trouble is the upstream's: 429 when it rate limits us (with `Retry-After` when
//!   it said), 502 when it failed or sent nonsense, 503 when it is not configured; a database
//!   we cannot reach is a 503.
//! - Anything else is our fault: a 500 with an opaque message; the cause goes to the log only.
//! - No message ever carries a secret: the token is never echoed, database targets are the
//!   stores' redacted ones, and providers redact keys from their own errors.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marketcache_backtest::BacktestError;
use marketcache_cache::CacheError;
use marketcache_domain::error::error_chain;
use marketcache_domain::{DomainError, SourceError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and, for bad input, which field.
    pub error: ErrorDetail,
}

/// One error: a stable code, a message for people, and the input field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_input`, `unknown_symbol`, `not_found`,
    /// `unauthorized`, `payload_too_large`, `rate_limited`, `upstream_failed`,
    /// `upstream_unavailable`, `database_unavailable`, `fill_in_progress`, `too_many_jobs`, `internal`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The query parameter, path segment or body field at fault (`start`, `params.fast`).
    pub field: Option<String>,
}

/// A failed request: the status and the body it answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
                field: None,
            },
            retry_after_seconds: None,
        }
    }

    /// Bad input in `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid_input", message);
        error.detail.field = Some(field.into());
        error
    }

    /// Bad input not tied to one field (a body that is not JSON).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// Something the client named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A missing or wrong bearer token; the message never echoes what was sent.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs the header Authorization: Bearer <MARKETCACHE_API_TOKEN>",
        )
    }

    /// Too many jobs running at once.
    pub fn too_many_jobs(limit: usize) -> Self {
        let mut busy = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_jobs",
            format!("{limit} jobs are already running; wait for one to finish"),
        );
        busy.retry_after_seconds = Some(JOB_RETRY_AFTER_SECONDS);
        busy
    }

    /// A method the endpoint does not take: 405 in the JSON error shape (axum adds `Allow`).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method; the Allow header lists those it takes",
        )
    }

    /// Our own fault: logged with its cause, answered with an opaque message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed on our side");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; the cause is in its log",
        )
    }

    /// An error with any status, as an extractor's rejection reports it.
    /// A query string that does not fit the endpoint's parameters (an unknown name, a
    /// repeated one): 400, worded as axum words it.
    pub fn invalid_query(error: &dyn std::fmt::Display) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            format!("Failed to deserialize query string: {error}"),
        )
    }

    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            status if status.is_server_error() => "internal",
            _ => "invalid_input",
        };
        // Extractors answer 422 for well-formed JSON of the wrong shape; to a client that is
        // bad input like any other.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        Self::new(status, code, message)
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body answered.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.detail.clone(),
        }
    }

    /// Replaces the field named (the same domain error can come from different fields).
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }

    /// A backtest crate refusal, naming the field in the request: parameters and ranges sit
    /// under `parameters_field` (`params` or `ranges`).
    pub fn from_backtest(error: BacktestError, parameters_field: &str) -> Self {
        let message = error.to_string();
        let field = match &error {
            BacktestError::UnknownStrategy { .. } => "strategy".to_string(),
            BacktestError::UnknownParameter { parameter, .. }
            | BacktestError::DuplicateParameter { parameter, .. }
            | BacktestError::InvalidValue { parameter, .. }
            | BacktestError::OutOfRange { parameter, .. }
            | BacktestError::InvalidRange { parameter, .. } => {
                format!("{parameters_field}.{parameter}")
            }
            BacktestError::MissingParameter { parameter, .. }
            | BacktestError::Constraint { parameter, .. } => {
                format!("{parameters_field}.{parameter}")
            }
            BacktestError::MalformedAssignment { .. }
            | BacktestError::EmptyGrid { .. }
            | BacktestError::TooManyCombinations { .. } => parameters_field.to_string(),
            BacktestError::InvalidSetting { setting, .. } => (*setting).to_string(),
            BacktestError::UnknownMetric { .. } => "metric".to_string(),
            BacktestError::NoBars => {
                return Self::not_found(message);
            }
            BacktestError::EmptySplit { .. } => "train_until".to_string(),
            BacktestError::NotInGrid { .. }
            | BacktestError::BarsOutOfOrder { .. }
            | BacktestError::SignalLength { .. } => return Self::internal(&error),
        };
        Self::invalid(field, message)
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let field = match &error {
            DomainError::InvalidSymbol { .. } => "symbol",
            DomainError::InvalidDate { field, .. }
            | DomainError::NonexistentDate { field, .. }
            | DomainError::DateOutOfRange { field, .. } => field,
            DomainError::InvertedRange { .. } => "start",
            // A bar that breaks a rule never comes from a request: it is a provider's or
            // store's fault that escaped their checks.
            DomainError::InvalidBar { .. } => return Self::internal(&error),
        };
        Self::invalid(field, error.to_string())
    }
}

impl From<CacheError> for ApiError {
    fn from(error: CacheError) -> Self {
        match error {
            CacheError::Source(source) => source.into(),
            CacheError::Store(store) => store.into(),
            CacheError::NoBars { .. } => Self::not_found(error.to_string()),
            // Another process is filling the symbol and seems stuck: worth asking again later.
            CacheError::FillStalled { .. } => {
                let mut busy = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "fill_in_progress",
                    error.to_string(),
                );
                busy.retry_after_seconds = Some(30);
                busy
            }
            // A read is stopped only by a job being cancelled, which never answers with it.
            CacheError::Stopped => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopped",
                error.to_string(),
            ),
        }
    }
}

impl From<SourceError> for ApiError {
    fn from(error: SourceError) -> Self {
        let message = error.to_string();
        match error {
            SourceError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_symbol", message).in_field("symbol")
            }
            SourceError::RateLimited { retry_after, .. } => {
                let mut limited = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                // Without the provider's own hint, a minute: the window of per-minute budgets.
                limited.retry_after_seconds = Some(
                    retry_after.map_or(UPSTREAM_RETRY_AFTER_SECONDS, |wait| wait.as_secs().max(1)),
                );
                limited
            }
            SourceError::BudgetSpent { resets_at, .. } => {
                let mut spent = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                let wait = (resets_at - chrono::Utc::now()).num_seconds().max(1);
                spent.retry_after_seconds = u64::try_from(wait).ok();
                spent
            }
            SourceError::Transport { .. } | SourceError::Decode { .. } => {
                tracing::warn!(%message, "upstream failed");
                Self::new(StatusCode::BAD_GATEWAY, "upstream_failed", message)
            }
            SourceError::Configuration { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                message,
            ),
            SourceError::Unauthorized { .. } => {
                tracing::warn!(%message, "upstream refused access");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream_unauthorized",
                    message,
                )
            }
            SourceError::Rejected { .. } => {
                tracing::warn!(%message, "upstream answered with an error");
                Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unreachable { .. } => {
                tracing::warn!(%error, "database unreachable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    error.to_string(),
                )
            }
            other => Self::internal(&error_chain(&other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_seconds
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// When a client refused for too many running jobs may ask again: jobs take seconds.
const JOB_RETRY_AFTER_SECONDS: u64 = 5;

/// When a client may ask again after the provider throttled us without saying for how long.
const UPSTREAM_RETRY_AFTER_SECONDS: u64 = 60;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Refused configuration (a public address without a token, a bad CORS origin).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The address could not be bound or the listener failed.
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The store could not start what a long-running server needs of it.
    #[error(transparent)]
    Store(#[from] marketcache_cache::CacheError),
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    fn retry_after(error: ApiError) -> Option<String> {
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn every_429_says_when_to_ask_again() {
        assert_eq!(
            retry_after(ApiError::too_many_jobs(4)).as_deref(),
            Some("5")
        );
        let unsaid = SourceError::RateLimited {
            provider: "yahoo".to_string(),
            retry_after: None,
        };
        assert_eq!(retry_after(unsaid.into()).as_deref(), Some("60"));
        let said = SourceError::RateLimited {
            provider: "yahoo".to_string(),
            retry_after: Some(std::time::Duration::from_secs(7)),
        };
        assert_eq!(retry_after(said.into()).as_deref(), Some("7"));
    }
}
