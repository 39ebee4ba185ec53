//! Background jobs over HTTP: starting a warm, a job's status, and its progress as events.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use futures::Stream;
use marketcache_cache::{FetchProgress, MarketDataCache, WarmOutcome, WarmProgress};
use marketcache_domain::{DateRange, Packed, Symbol};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiJson, ApiPath, AppState, Authorized, parse_symbol, requested_range};
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::jobs::{JobContext, JobEnd, JobKind, JobSnapshot};

/// Most symbols one warm request may name.
const MAX_WARM_SYMBOLS: usize = 1_000;

/// The body of `POST /api/cache/warm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WarmRequest {
    /// Symbols to warm, e.g. ["AAPL", "MSFT"].
    #[schema(min_items = 1, max_items = 1000)]
    symbols: Vec<String>,
    /// First day, YYYY-MM-DD [default: 1990-01-01]
    start: Option<String>,
    /// Last day, YYYY-MM-DD [default: today in New York]
    end: Option<String>,
}

/// A job was started; follow it at `/api/jobs/{job_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobAccepted {
    job_id: u64,
}

/// A 202 naming the job, with its status URL in `Location`.
pub(crate) fn accepted(job_id: u64) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(JobAccepted { job_id })).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/jobs/{job_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Starts fetching the missing bars of several symbols in the background.
#[utoipa::path(post, path = "/api/cache/warm", tag = "jobs", request_body = WarmRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The warm job started", body = JobAccepted),
        (status = 400, description = "Bad symbol or date", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 429, description = "Too many jobs are running", body = ErrorBody),
    ))]
pub(crate) async fn warm(
    _authorized: Authorized,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<WarmRequest>,
) -> Result<Response, ApiError> {
    if request.symbols.is_empty() {
        return Err(ApiError::invalid("symbols", "name at least one symbol"));
    }
    if request.symbols.len() > MAX_WARM_SYMBOLS {
        return Err(ApiError::invalid(
            "symbols",
            format!("at most {MAX_WARM_SYMBOLS} symbols per warm"),
        ));
    }
    let mut symbols: Vec<Symbol> = Vec::with_capacity(request.symbols.len());
    for (index, text) in request.symbols.iter().enumerate() {
        let symbol = parse_symbol(&format!("symbols[{index}]"), text)?;
        // Repeats are warmed once, in the order first named.
        if !symbols.contains(&symbol) {
            symbols.push(symbol);
        }
    }
    let range = requested_range(
        request.start.as_deref(),
        request.end.as_deref(),
        state.clock.as_ref(),
    )?;
    let cache = Arc::clone(&state.cache);
    let total = symbols.len() as u64;
    let id = state.jobs.start(JobKind::Warm, total, move |context| {
        warm_job(cache, symbols, range, context)
    })?;
    tracing::info!(id, symbols = total, %range, "warm job started");
    Ok(accepted(id))
}

/// One symbol's part of a warm job's result.
#[derive(Debug, Serialize, ToSchema)]
struct WarmedSymbol {
    #[schema(value_type = String)]
    symbol: Symbol,
    /// `ok` or `failed`.
    status: &'static str,
    /// Bars stored for the range.
    bars: usize,
    first_date: Option<NaiveDate>,
    last_date: Option<NaiveDate>,
    cached_bars: usize,
    fetched_bars: usize,
    upstream_requests: usize,
    rejected_rows: usize,
    elapsed_ms: f64,
    /// Why the symbol failed.
    error: Option<ErrorDetail>,
}

/// The result of a warm job.
#[derive(Debug, Serialize, ToSchema)]
struct WarmResult {
    #[schema(value_type = crate::openapi::DateRangeDoc)]
    range: DateRange,
    symbols: Vec<WarmedSymbol>,
    /// Bytes on disk before and after, when the warm wrote at least half of a SQLite file and
    /// packed it (as `compact` does); `null` otherwise.
    #[schema(value_type = Option<Object>)]
    packed: Option<Packed>,
    ok: usize,
    failed: usize,
}

/// Runs the cache's warm as a job: each finished symbol is progress, cancelling the job stops
/// the warm after the answer it is storing (what it stored stays).
async fn warm_job(
    cache: Arc<MarketDataCache>,
    symbols: Vec<Symbol>,
    range: DateRange,
    context: JobContext,
) -> JobEnd {
    let progress = JobWarmProgress {
        context: &context,
        total: symbols.len() as u64,
    };
    let warm = cache.warm(&symbols, range, &progress).await;
    if warm.stopped {
        return JobEnd::Cancelled;
    }
    let warmed: Vec<WarmedSymbol> = warm.outcomes.into_iter().map(warmed_symbol).collect();
    let failed = warmed.iter().filter(|entry| entry.status != "ok").count();
    let packed = warm.packed.unwrap_or_else(|error| {
        tracing::warn!(%error, "the database was not packed after a bulk load");
        None
    });
    let result = WarmResult {
        range,
        ok: warmed.len() - failed,
        failed,
        symbols: warmed,
        packed,
    };
    let value = match serde_json::to_value(&result) {
        Ok(value) => value,
        Err(error) => {
            return JobEnd::Failed {
                result: None,
                error: ApiError::internal(&error),
            };
        }
    };
    if failed == 0 {
        JobEnd::Succeeded(value)
    } else {
        let message = format!("{failed} of {} symbols failed", result.symbols.len());
        JobEnd::Failed {
            result: Some(value),
            error: ApiError::new(StatusCode::BAD_GATEWAY, "symbols_failed", message),
        }
    }
}

/// A warm job's view of the warm: finished symbols are its progress, each symbol's upstream
/// requests its `requests`, cancelling it a stop.
struct JobWarmProgress<'a> {
    context: &'a JobContext,
    total: u64,
}

impl WarmProgress for JobWarmProgress<'_> {
    fn for_symbol(&self, _symbol: &Symbol) -> Box<dyn FetchProgress> {
        Box::new(self.context.clone())
    }

    fn symbol_done(&self, done: usize, _outcome: &WarmOutcome) {
        self.context.progress(done as u64, self.total);
    }

    fn stop_requested(&self) -> bool {
        self.context.cancelled().is_cancelled()
    }
}

/// One symbol's line of a warm job's result.
fn warmed_symbol(outcome: WarmOutcome) -> WarmedSymbol {
    let elapsed_ms = outcome.elapsed.as_secs_f64() * 1000.0;
    match outcome.result {
        Ok(warmed) => WarmedSymbol {
            symbol: outcome.symbol,
            status: "ok",
            bars: warmed.bars,
            first_date: warmed.first_date,
            last_date: warmed.last_date,
            cached_bars: warmed.report.cached_bars,
            fetched_bars: warmed.report.fetched_bars,
            upstream_requests: warmed.report.upstream_requests,
            rejected_rows: warmed.report.rejected_rows,
            elapsed_ms,
            error: None,
        },
        Err(error) => {
            tracing::warn!(symbol = %outcome.symbol, %error, "warm failed for a symbol");
            WarmedSymbol {
                symbol: outcome.symbol,
                status: "failed",
                bars: 0,
                first_date: None,
                last_date: None,
                cached_bars: 0,
                fetched_bars: 0,
                upstream_requests: 0,
                rejected_rows: 0,
                elapsed_ms,
                error: Some(ApiError::from(error).body().error),
            }
        }
    }
}

/// The job's id from the path; an id that is not a number names no job.
fn job_id(text: &str) -> Result<u64, ApiError> {
    text.trim()
        .parse()
        .map_err(|_| ApiError::not_found(format!("no job {text:?}")))
}

/// A job's state, progress and, once finished, result or error.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = u64, Path, description = "The job id returned by the request that started it")),
    responses(
        (status = 200, description = "The job", body = JobSnapshot),
        (status = 404, description = "No such job (or forgotten)", body = ErrorBody),
    ))]
pub(crate) async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobSnapshot>, ApiError> {
    let id = job_id(&id)?;
    state
        .jobs
        .snapshot(id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

/// Cancels a running job. A warm stops before its next batch of requests (what it stored
/// stays, each batch whole), an optimize at once; the job then ends `cancelled` and stays
/// visible until forgotten.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "The job id")),
    responses(
        (status = 202, description = "Cancellation requested; the job ends `cancelled` shortly", body = JobSnapshot),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such job (or forgotten)", body = ErrorBody),
        (status = 409, description = "The job has already finished", body = ErrorBody),
    ))]
pub(crate) async fn cancel(
    _authorized: Authorized,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let unknown = || ApiError::not_found(format!("no job {id}"));
    let snapshot = state.jobs.snapshot(id).ok_or_else(unknown)?;
    if snapshot.state.is_finished() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_finished",
            format!("job {id} has already finished ({})", snapshot.state.name()),
        ));
    }
    if !state.jobs.cancel(id) {
        return Err(unknown());
    }
    tracing::info!(id, "job cancellation requested");
    Ok((StatusCode::ACCEPTED, Json(snapshot)).into_response())
}

/// Forgets a job: a running one is cancelled first (as `POST /api/jobs/{id}/cancel` does), and
/// either way its status answers 404 from then on. Event streams already open still end with
/// its final state.
#[utoipa::path(delete, path = "/api/jobs/{id}", tag = "jobs",
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "The job id")),
    responses(
        (status = 204, description = "Forgotten (and cancelled, if it was running)"),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such job (or forgotten already)", body = ErrorBody),
    ))]
pub(crate) async fn forget(
    _authorized: Authorized,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = job_id(&id)?;
    if !state.jobs.forget(id) {
        return Err(ApiError::not_found(format!("no job {id}")));
    }
    tracing::info!(id, "job forgotten");
    Ok(StatusCode::NO_CONTENT)
}

/// A job's progress as server-sent events: `progress` events with the job as JSON while it
/// runs, then one `done` event with its final state, after which the stream ends.
#[utoipa::path(get, path = "/api/jobs/{id}/events", tag = "jobs",
    params(("id" = u64, Path, description = "The job id")),
    responses(
        (status = 200, description = "Server-sent events: `progress` (the job as JSON), then `done`", content_type = "text/event-stream", body = JobSnapshot),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub(crate) async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = job_id(&id)?;
    let receiver = state
        .jobs
        .watch(id)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    // The first event is the state at subscription; then one per change (changes in between
    // coalesce, which is what a progress bar wants); the final state ends the stream.
    let stream = futures::stream::unfold(
        (receiver, true, false),
        |(mut receiver, first, ended)| async move {
            if ended {
                return None;
            }
            if !first && receiver.changed().await.is_err() {
                return None;
            }
            let snapshot = receiver.borrow_and_update().clone();
            let finished = snapshot.state.is_finished();
            let name = if finished { "done" } else { "progress" };
            let event = Event::default()
                .event(name)
                .json_data(&snapshot)
                .unwrap_or_else(|_| Event::default().event(name));
            Some((Ok(event), (receiver, false, finished)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobState;

    #[test]
    fn job_ids_that_are_not_numbers_name_no_job() {
        assert_eq!(job_id("12").ok(), Some(12));
        assert_eq!(
            job_id("abc").err().map(|e| e.status()),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            job_id("-1").err().map(|e| e.status()),
            Some(StatusCode::NOT_FOUND)
        );
    }

    #[test]
    fn finished_states_are_the_terminal_ones() {
        assert!(!JobState::Running.is_finished());
        for state in [JobState::Succeeded, JobState::Failed, JobState::Cancelled] {
            assert!(state.is_finished());
        }
    }
}
