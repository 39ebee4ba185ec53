//! The one HTTP client every provider uses: time-outs, pacing, bounded retries and redaction.
//!
//! Retry policy: time-outs, connection errors (except a host name that does not resolve) and
//! 5xx are retried with exponential backoff and jitter; 429 is retried after its `Retry-After`
//! (or the backoff when it has none) unless the body names a long quota (hourly, daily) or the
//! wait would overrun the time budget, in which case it becomes [`SourceError::RateLimited`].
//! Any other 4xx goes back to the provider, which knows what its statuses mean. Attempts and
//! total time are both bounded by [`HttpPolicy`].
//!
//! Redaction policy: URLs in messages and logs have credential query values replaced, reqwest
//! errors are stripped of their URL, and every message a provider returns passes through
//! `HttpClient::scrub`, which removes any credential text that slipped through.

use std::time::{Duration, Instant, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use marketcache_domain::{RequestLimits, RequestSlot, SourceError};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ProviderKind, ProviderSettings};

/// Time-outs and retry bounds of one logical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for one attempt, body included.
    pub request_timeout: Duration,
    /// Most attempts, the first included.
    pub max_attempts: u32,
    /// First backoff delay; it doubles per retry, plus up to 100 % jitter.
    pub backoff_base: Duration,
    /// Ceiling of one backoff delay (before jitter).
    pub backoff_max: Duration,
    /// Budget for all attempts and waits of one request, client-side pacing excluded.
    pub max_total_time: Duration,
}

impl Default for HttpPolicy {
    /// Production values: patient enough for a slow upstream, bounded at a minute per request.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_total_time: Duration::from_secs(60),
        }
    }
}

impl HttpPolicy {
    /// Millisecond delays for tests against local mock servers, so a suite full of retries and
    /// time-outs stays fast.
    pub fn for_tests() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_millis(500),
            max_attempts: 3,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            max_total_time: Duration::from_secs(3),
        }
    }
}

/// A response the HTTP layer did not turn into an error: any 2xx, or a 4xx other than 429.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What went wrong with one attempt, and whether another may help.
enum AttemptFailure {
    Retryable {
        message: String,
        retry_after: Option<Duration>,
        throttled: bool,
    },
    Final(SourceError),
}

/// A provider's HTTP client: one connection pool, one pacer, one set of secrets to scrub.
pub(crate) struct HttpClient {
    kind: ProviderKind,
    client: reqwest::Client,
    policy: HttpPolicy,
    pacer: Option<DefaultDirectRateLimiter>,
    /// Send times within the last 24 hours, when the provider has a daily budget.
    daily: Option<(
        u32,
        std::sync::Mutex<std::collections::VecDeque<std::time::Instant>>,
    )>,
    /// Counts each request for every process sharing the cache, when there is one.
    gate: Option<crate::config::SharedGate>,
    minute_budget: Option<u32>,
    secrets: Vec<SecretString>,
    /// Phrases in a 429 body that mean a quota retrying now cannot help (hourly, daily).
    long_quota_phrases: &'static [&'static str],
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // reqwest's Debug lists default headers; keep it (and the secrets) out entirely.
        f.debug_struct("HttpClient")
            .field("provider", &self.kind.name())
            .field("policy", &self.policy)
            .field("paced", &self.pacer.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for `settings`, sending `user_agent` (or reqwest's default) on every request.
    pub fn new(
        settings: &ProviderSettings,
        user_agent: Option<&str>,
        long_quota_phrases: &'static [&'static str],
    ) -> Result<Self, SourceError> {
        let mut default_headers = HeaderMap::new();
        if let Some(agent) = user_agent {
            // The agent is one of our constants; an invalid one falls back to reqwest's own.
            if let Ok(value) = HeaderValue::from_str(agent) {
                default_headers.insert(USER_AGENT, value);
            }
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.policy.connect_timeout)
            .default_headers(default_headers)
            .build()
            .map_err(|error| SourceError::Configuration {
                provider: settings.kind.name().to_string(),
                message: format!("cannot build the HTTP client: {}", describe(error)),
            })?;
        let pacer = settings.pace.and_then(|pace| {
            Quota::with_period(pace.interval)
                .map(|quota| RateLimiter::direct(quota.allow_burst(pace.burst)))
        });
        Ok(Self {
            kind: settings.kind,
            client,
            policy: settings.policy,
            pacer,
            daily: settings
                .daily_budget
                .map(|budget| (budget, std::sync::Mutex::default())),
            gate: settings.gate.clone(),
            minute_budget: settings.minute_budget,
            secrets: settings.secrets(),
            long_quota_phrases,
        })
    }

    fn provider(&self) -> String {
        self.kind.name().to_string()
    }

    /// Counts one request against the daily budget, or refuses it, unsent, as rate-limited
    /// until the oldest request of the last 24 hours ages out: waiting most of a day inside a
    /// call helps nobody, and sending it would only earn the provider's own refusal.
    fn spend_daily_budget(&self) -> Result<(), SourceError> {
        let Some((budget, sent)) = &self.daily else {
            return Ok(());
        };
        const DAY: Duration = Duration::from_secs(24 * 60 * 60);
        let now = std::time::Instant::now();
        let mut sent = match sent.lock() {
            Ok(sent) => sent,
            Err(poisoned) => poisoned.into_inner(),
        };
        while sent
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= DAY)
        {
            sent.pop_front();
        }
        if sent.len() >= *budget as usize {
            let retry_after = sent
                .front()
                .map(|oldest| DAY.saturating_sub(now.duration_since(*oldest)));
            tracing::warn!(
                provider = self.kind.name(),
                budget,
                "daily request budget spent"
            );
            return Err(SourceError::RateLimited {
                provider: self.provider(),
                retry_after,
            });
        }
        sent.push_back(now);
        Ok(())
    }

    /// GETs `url` with `headers`, pacing, retrying and classifying transport-level failures.
    pub async fn get(&self, url: Url, headers: HeaderMap) -> Result<HttpAnswer, SourceError> {
        let shown_url = redacted_url(&url);
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.backoff_base)
            .with_max_delay(self.policy.backoff_max)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.policy.max_attempts.saturating_sub(1) as usize)
            .build();
        // Time spent on attempts and retry waits; waits for our own pacer are not failures
        // and do not count.
        let mut spent = Duration::ZERO;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if let Some(pacer) = &self.pacer {
                pacer.until_ready().await;
            }
            // Held until this attempt ends: one of the provider's slots in every process.
            let slot = match &self.gate {
                Some(gate) => {
                    let limits = RequestLimits {
                        max_concurrency: self.kind.limits().max_concurrency,
                        per_minute: self.minute_budget,
                        per_day: self.daily.as_ref().map(|(budget, _)| *budget),
                    };
                    gate.0
                        .before_request(self.kind.name(), limits)
                        .await
                        .map_err(|error| self.scrub(error))?
                }
                None => {
                    self.spend_daily_budget()?;
                    RequestSlot::unshared()
                }
            };
            let remaining = self.policy.max_total_time.saturating_sub(spent);
            let timeout = self
                .policy
                .request_timeout
                .min(remaining)
                .max(Duration::from_millis(1));
            tracing::debug!(provider = self.kind.name(), url = %shown_url, attempt, "GET");
            let started = Instant::now();
            let outcome = self.attempt(&url, &headers, timeout, &shown_url).await;
            drop(slot);
            spent += started.elapsed();
            let (message, retry_after, throttled) = match outcome {
                Ok(answer) => return Ok(answer),
                Err(AttemptFailure::Final(error)) => {
                    if let SourceError::RateLimited {
                        retry_after: Some(wait),
                        ..
                    } = &error
                    {
                        self.tell_throttled(true, Some(*wait)).await;
                    }
                    return Err(self.scrub(error));
                }
                Err(AttemptFailure::Retryable {
                    message,
                    retry_after,
                    throttled,
                }) => (message, retry_after, throttled),
            };
            let give_up = |message: String| {
                let error = if throttled {
                    SourceError::RateLimited {
                        provider: self.provider(),
                        retry_after,
                    }
                } else {
                    SourceError::Transport {
                        provider: self.provider(),
                        message: format!("{message} (after {attempt} attempts)"),
                    }
                };
                self.scrub(error)
            };
            let Some(backoff_delay) = backoff.next() else {
                self.tell_throttled(throttled, retry_after).await;
                return Err(give_up(message));
            };
            let delay = retry_after.unwrap_or(backoff_delay);
            self.tell_throttled(throttled, Some(delay)).await;
            if spent + delay > self.policy.max_total_time {
                return Err(give_up(message));
            }
            tracing::warn!(
                provider = self.kind.name(),
                url = %shown_url,
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason = %self.scrub_text(message),
                "retrying"
            );
            tokio::time::sleep(delay).await;
            spent += delay;
        }
    }

    /// Tells the gate, when there is one, that the provider throttled us for `retry_after`, so
    /// that no process sharing the cache asks it before then.
    async fn tell_throttled(&self, throttled: bool, retry_after: Option<Duration>) {
        if let (true, Some(gate), Some(wait)) = (throttled, &self.gate, retry_after) {
            gate.0.throttled(self.kind.name(), wait).await;
        }
    }

    /// One attempt: send, read the body, sort the outcome into answer, retry or final error.
    async fn attempt(
        &self,
        url: &Url,
        headers: &HeaderMap,
        timeout: Duration,
        shown_url: &str,
    ) -> Result<HttpAnswer, AttemptFailure> {
        let transport = |error: reqwest::Error| {
            let what = if error.is_timeout() {
                format!("GET {shown_url} timed out")
            } else {
                format!("GET {shown_url} failed")
            };
            let transient =
                error.is_timeout() || error.is_connect() || error.is_request() || error.is_body();
            let message = format!("{what}: {}", describe(error));
            // A host name that does not resolve means no network (or a wrong URL): retrying
            // only makes an offline user wait several seconds for the same answer.
            let retryable = transient && !message.contains("dns error");
            if retryable {
                AttemptFailure::Retryable {
                    message,
                    retry_after: None,
                    throttled: false,
                }
            } else {
                AttemptFailure::Final(SourceError::Transport {
                    provider: self.provider(),
                    message,
                })
            }
        };
        let response = self
            .client
            .get(url.clone())
            .headers(headers.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if status.as_u16() == 429 {
            let text = String::from_utf8_lossy(&body).to_ascii_lowercase();
            let long_quota = self
                .long_quota_phrases
                .iter()
                .any(|phrase| text.contains(&phrase.to_ascii_lowercase()));
            if long_quota {
                return Err(AttemptFailure::Final(SourceError::RateLimited {
                    provider: self.provider(),
                    retry_after,
                }));
            }
            return Err(AttemptFailure::Retryable {
                message: format!("GET {shown_url}: HTTP 429 {}", snippet(&body)),
                retry_after,
                throttled: true,
            });
        }
        if status.is_server_error() {
            return Err(AttemptFailure::Retryable {
                message: format!("GET {shown_url}: HTTP {status}: {}", snippet(&body)),
                retry_after: None,
                throttled: false,
            });
        }
        Ok(HttpAnswer {
            status: status.as_u16(),
            body,
        })
    }

    /// `error` with every credential removed from its text.
    pub fn scrub(&self, error: SourceError) -> SourceError {
        match error {
            SourceError::Transport { provider, message } => SourceError::Transport {
                provider,
                message: self.scrub_text(message),
            },
            SourceError::Decode { provider, message } => SourceError::Decode {
                provider,
                message: self.scrub_text(message),
            },
            SourceError::Configuration { provider, message } => SourceError::Configuration {
                provider,
                message: self.scrub_text(message),
            },
            SourceError::Unauthorized { provider, message } => SourceError::Unauthorized {
                provider,
                message: self.scrub_text(message),
            },
            SourceError::Rejected { provider, message } => SourceError::Rejected {
                provider,
                message: self.scrub_text(message),
            },
            // No text from the provider in these: listed so that a new kind must be added here.
            unchanged @ (SourceError::NotFound { .. }
            | SourceError::RateLimited { .. }
            | SourceError::BudgetSpent { .. }) => unchanged,
        }
    }

    /// `text` with every credential (raw or URL-encoded) replaced by `[REDACTED]`.
    pub fn scrub_text(&self, text: String) -> String {
        self.secrets.iter().fold(text, |text, secret| {
            let secret = secret.expose_secret();
            if secret.is_empty() {
                return text;
            }
            let encoded = url_encode(secret);
            text.replace(secret, "[REDACTED]")
                .replace(&encoded, "[REDACTED]")
        })
    }
}

/// Builds a header value that holds a credential: marked sensitive so reqwest and `http` never
/// print it. The error says which variable holds the bad value, never the value.
pub(crate) fn credential_header(
    kind: ProviderKind,
    variable: &str,
    value: String,
) -> Result<HeaderValue, SourceError> {
    let mut header = HeaderValue::from_str(&value).map_err(|_| SourceError::Configuration {
        provider: kind.name().to_string(),
        message: format!("{variable} holds characters that cannot be sent in an HTTP header"),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The delay a `Retry-After` value asks for: delta-seconds, or an HTTP-date (past dates mean
/// "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `url` fit for messages and logs: no user info, and the values of credential-like query
/// parameters replaced.
pub fn redacted_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                let secret = ["key", "token", "secret", "password"]
                    .iter()
                    .any(|word| lower.contains(word));
                let value = if secret {
                    "REDACTED".to_string()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// A reqwest error and its causes on one line, without the URL (which may carry a key).
fn describe(error: reqwest::Error) -> String {
    marketcache_domain::error::error_chain(&error.without_url())
}

/// The start of a body, on one line, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    const LIMIT: usize = 160;
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "(empty body)".to_string();
    }
    match one_line.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Percent-encodes `text` the way `application/x-www-form-urlencoded` query strings do, so a
/// key that needed encoding in a URL is found in messages too.
fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").expect("date");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn redacted_urls_hide_credential_parameters_only() {
        let url = Url::parse("https://user:pw@x.test/query?function=DAILY&apikey=SeCrEt&token=t")
            .expect("url");
        let shown = redacted_url(&url);
        assert!(
            !shown.contains("SeCrEt") && !shown.contains("pw"),
            "{shown}"
        );
        assert!(shown.contains("function=DAILY"), "{shown}");
        assert!(shown.contains("apikey=REDACTED"), "{shown}");
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet(b"  a\n  b "), "a b");
        assert_eq!(snippet(b""), "(empty body)");
        assert!(snippet("é".repeat(500).as_bytes()).chars().count() <= 161);
    }
}
