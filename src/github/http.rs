//! The JSON-over-HTTPS transport every remote agent API shares (GitHub, Jules, Cursor).
//!
//! It owns what all of them need and none should repeat:
//! - authentication (a bearer token or an API-key header), with the token kept
//!   out of `Debug` output and registered with the log redactor;
//! - conditional GETs: the ETag of every URL read is cached with its body, sent
//!   back as `If-None-Match`, and a `304 Not Modified` reuses the cached body
//!   (GitHub does not count those against the rate limit);
//! - waiting out rate limits (`Retry-After`, `x-ratelimit-remaining` /
//!   `x-ratelimit-reset` on 403 and 429) and retrying 5xx and network errors
//!   with a bounded exponential backoff;
//! - errors a person can act on: 401 names the environment variable to set,
//!   422 carries the service's own message, a body that is not the expected
//!   JSON says so instead of panicking;
//! - pagination through `Link: <…>; rel="next"`, following only links on the
//!   configured base URL so the token never travels elsewhere.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A token that never shows itself in `Debug` or `Display`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        crate::logging::register_secret(&value);
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Read a token from the named environment variable; empty counts as unset.
pub fn token_from_env(var: &str) -> Option<Secret> {
    if var.is_empty() {
        return None;
    }
    std::env::var(var).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).map(Secret::new)
}

/// How the token is sent.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer TOKEN` (GitHub, Cursor).
    Bearer,
    /// A header of its own, e.g. `X-Goog-Api-Key: TOKEN` (Jules).
    Header(&'static str),
}

/// Bounds on waiting and retrying. Every wait is a `tokio::time::sleep`, so tests
/// with a paused clock run through them instantly.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after a 5xx or a network error, before giving up.
    pub max_retries: u32,
    /// First backoff; it doubles on each retry.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Rate-limit waits taken before giving up with [`HttpError::RateLimited`].
    pub max_rate_waits: u32,
    /// A rate-limit wait longer than this is not taken; the error says when to retry.
    pub max_rate_wait: Duration,
    /// Per-request timeout (`None` for none).
    pub request_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_rate_waits: 2,
            max_rate_wait: Duration::from_secs(15 * 60),
            request_timeout: Some(Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum HttpError {
    #[error("{service} token missing or wrong: set ${env}")]
    Unauthorized { service: String, env: String },
    #[error("{service} has no {path} (404): {message}")]
    NotFound { service: String, path: String, message: String },
    #[error("{service} rejected the request (422): {message}")]
    Unprocessable { service: String, message: String },
    #[error("{service} rate limit reached; try again in {} s", wait.as_secs())]
    RateLimited { service: String, wait: Duration },
    #[error("{service} is failing ({status}) after {tries} tries")]
    Server { service: String, status: u16, tries: u32 },
    #[error("{service} refused {path} ({status}): {message}")]
    Status { service: String, path: String, status: u16, message: String },
    #[error("{service} sent a reply capcom cannot read from {path}: {detail}")]
    Malformed { service: String, path: String, detail: String },
    #[error("cannot reach {service} at {base}: {detail}")]
    Offline { service: String, base: String, detail: String },
    #[error("{service}: {detail}")]
    Invalid { service: String, detail: String },
}

impl HttpError {
    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Unauthorized { .. } => Some(401),
            HttpError::NotFound { .. } => Some(404),
            HttpError::Unprocessable { .. } => Some(422),
            HttpError::Server { status, .. } | HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Requests that reached the network, and how many of them came back 304.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub not_modified: u64,
    pub retries: u64,
}

impl Stats {
    /// Requests that count against a GitHub-style rate limit (a 304 does not).
    pub fn counted(&self) -> u64 {
        self.sent - self.not_modified
    }
}

/// A reply: status, body, and the next page if the service sent a `Link` header.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub next: Option<String>,
    /// True when the body came from the ETag cache after a 304.
    pub cached: bool,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, service: &str, path: &str) -> Result<T, HttpError> {
        parse_json(&self.body, service, path)
    }
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8], service: &str, path: &str) -> Result<T, HttpError> {
    serde_json::from_slice(body).map_err(|e| HttpError::Malformed {
        service: service.into(),
        path: path.into(),
        detail: e.to_string(),
    })
}

#[derive(Clone)]
struct Cached {
    etag: String,
    body: Vec<u8>,
    next: Option<String>,
}

/// The cache keeps at most this many URLs; past it, it starts over.
const CACHE_LIMIT: usize = 1024;

pub struct Transport {
    service: String,
    base: String,
    http: reqwest::Client,
    auth: Auth,
    token: Option<Secret>,
    token_env: String,
    extra: HeaderMap,
    policy: RetryPolicy,
    cache: Mutex<HashMap<String, Cached>>,
    sent: AtomicU64,
    not_modified: AtomicU64,
    retries: AtomicU64,
    /// A 403 without rate-limit signs means a wrong key (Jules answers a bad key with 403 as well as 401).
    forbidden_is_auth: bool,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("service", &self.service)
            .field("base", &self.base)
            .field("token_env", &self.token_env)
            .field("has_token", &self.token.is_some())
            .finish()
    }
}

impl Transport {
    /// `service` names the API in messages ("GitHub"); `base` is its root URL.
    pub fn new(
        service: &str,
        base: &str,
        auth: Auth,
        token: Option<Secret>,
        token_env: &str,
        policy: RetryPolicy,
    ) -> Result<Transport, HttpError> {
        let base = base.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| HttpError::Invalid {
            service: service.into(),
            detail: format!("api_url `{base}` is not a URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(HttpError::Invalid {
                service: service.into(),
                detail: format!("api_url `{base}` must be http or https"),
            });
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("capcom/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10));
        if let Some(t) = policy.request_timeout {
            builder = builder.timeout(t);
        }
        let http = builder.build().map_err(|e| HttpError::Invalid { service: service.into(), detail: e.to_string() })?;
        Ok(Transport {
            service: service.into(),
            base,
            http,
            auth,
            token,
            token_env: token_env.into(),
            extra: HeaderMap::new(),
            policy,
            cache: Mutex::new(HashMap::new()),
            sent: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            forbidden_is_auth: false,
        })
    }

    /// Read a 403 that is not a rate limit as "token missing or wrong", like a 401.
    pub fn forbidden_means_unauthorized(mut self) -> Transport {
        self.forbidden_is_auth = true;
        self
    }

    /// A header sent with every request (e.g. `Accept`, `X-GitHub-Api-Version`).
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Transport {
        self.extra.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        self
    }

    pub fn service(&self) -> &str {
        &self.service
    }
    pub fn base(&self) -> &str {
        &self.base
    }
    pub fn token_env(&self) -> &str {
        &self.token_env
    }
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sent: self.sent.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// The error for "no token configured", worded like a 401.
    pub fn unauthorized(&self) -> HttpError {
        HttpError::Unauthorized { service: self.service.clone(), env: self.token_env.clone() }
    }

    /// A path (`/repos/o/r`) or an absolute URL on the base → the full URL.
    /// Absolute URLs elsewhere are refused, so the token only goes to the configured API.
    fn url(&self, path: &str) -> Result<String, HttpError> {
        if path.starts_with("http://") || path.starts_with("https://") {
            let same = path == self.base || path.starts_with(&format!("{}/", self.base)) || path.starts_with(&format!("{}?", self.base));
            if same {
                return Ok(path.to_string());
            }
            return Err(HttpError::Invalid {
                service: self.service.clone(),
                detail: format!("refusing to follow a link off {}: {path}", self.base),
            });
        }
        let sep = if path.starts_with('/') { "" } else { "/" };
        Ok(format!("{}{sep}{path}", self.base))
    }

    /// GET with the ETag cache.
    pub async fn get(&self, path: &str) -> Result<Reply, HttpError> {
        self.send(Method::GET, path, None).await
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, HttpError> {
        self.get(path).await?.json(&self.service, path)
    }

    /// GET every page of a paginated list. `items` pulls the list out of one page
    /// (the page itself for a bare array, a field for an object). At most `max_pages`.
    pub async fn get_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        max_pages: usize,
        items: impl Fn(serde_json::Value) -> Option<serde_json::Value>,
    ) -> Result<Vec<T>, HttpError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages >= max_pages {
                break;
            }
            pages += 1;
            let reply = self.get(&url).await?;
            let page: serde_json::Value = reply.json(&self.service, path)?;
            let list = items(page).ok_or_else(|| HttpError::Malformed {
                service: self.service.clone(),
                path: path.into(),
                detail: "expected a list".into(),
            })?;
            let list: Vec<T> = serde_json::from_value(list).map_err(|e| HttpError::Malformed {
                service: self.service.clone(),
                path: path.into(),
                detail: e.to_string(),
            })?;
            out.extend(list);
            next = reply.next;
        }
        Ok(out)
    }

    /// A request with a JSON body (POST, PUT, PATCH). Never cached.
    pub async fn send_json(&self, method: Method, path: &str, body: &serde_json::Value) -> Result<Reply, HttpError> {
        self.send(method, path, Some(body)).await
    }

    /// Send with rate-limit waits and 5xx retries. Returns 2xx replies (a 304 as the
    /// cached 200); every other status becomes an [`HttpError`].
    pub async fn send(&self, method: Method, path: &str, body: Option<&serde_json::Value>) -> Result<Reply, HttpError> {
        let url = self.url(path)?;
        let mut tries = 0u32;
        let mut rate_waits = 0u32;
        loop {
            tries += 1;
            let mut req = self.http.request(method.clone(), &url).headers(self.extra.clone());
            if let Some(token) = &self.token {
                req = match self.auth {
                    Auth::Bearer => req.bearer_auth(token.expose()),
                    Auth::Header(name) => req.header(name, token.expose()),
                };
            }
            let cached = if method == Method::GET { self.cached(&url) } else { None };
            if let Some(c) = &cached {
                req = req.header(reqwest::header::IF_NONE_MATCH, c.etag.as_str());
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            // Sending and reading the body fail the same way: retry, then report offline.
            let fetched = async {
                let resp = req.send().await?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let bytes = resp.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>((status, headers, bytes))
            }
            .await;
            let (status, headers, bytes) = match fetched {
                Ok(parts) => parts,
                Err(e) => {
                    if tries <= self.policy.max_retries {
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(self.backoff(tries)).await;
                        continue;
                    }
                    return Err(HttpError::Offline {
                        service: self.service.clone(),
                        base: self.base.clone(),
                        detail: describe_reqwest(&e),
                    });
                }
            };
            let next = next_link(&headers);

            if status == StatusCode::NOT_MODIFIED {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                match cached {
                    Some(c) => return Ok(Reply { status: 200, body: c.body, next: c.next, cached: true }),
                    None => {
                        // A 304 to a request that sent no ETag: drop the cache entry and ask again once.
                        self.forget(&url);
                        if tries <= self.policy.max_retries {
                            continue;
                        }
                        return Err(HttpError::Malformed {
                            service: self.service.clone(),
                            path: path.into(),
                            detail: "304 Not Modified without a cached copy".into(),
                        });
                    }
                }
            }
            if status.is_success() {
                if method == Method::GET
                    && let Some(etag) = headers.get(reqwest::header::ETAG).and_then(|v| v.to_str().ok())
                {
                    self.remember(&url, Cached { etag: etag.to_string(), body: bytes.clone(), next: next.clone() });
                }
                return Ok(Reply { status: status.as_u16(), body: bytes, next, cached: false });
            }
            let message = error_message(&bytes);
            match status.as_u16() {
                401 => return Err(self.unauthorized()),
                403 | 429 => {
                    let code = status.as_u16();
                    let signed = rate_limit_wait(&headers, false);
                    // GitHub's secondary rate limits may answer a bare 403 or 429: wait at
                    // least a minute, longer each time (github/docs, "Rate limits for the REST API").
                    let bare = (code == 429 || is_secondary_rate_limit(&message))
                        .then(|| Duration::from_secs(60).saturating_mul(1u32 << rate_waits.min(5)));
                    if signed.is_none() && bare.is_none() && code == 403 && self.forbidden_is_auth {
                        return Err(self.unauthorized());
                    }
                    match signed.or(bare) {
                        Some(wait) => {
                            if rate_waits < self.policy.max_rate_waits && wait <= self.policy.max_rate_wait {
                                rate_waits += 1;
                                self.retries.fetch_add(1, Ordering::Relaxed);
                                tracing::info!(service = %self.service, wait_s = wait.as_secs(), "rate limited; waiting");
                                tokio::time::sleep(wait).await;
                                continue;
                            }
                            return Err(HttpError::RateLimited { service: self.service.clone(), wait });
                        }
                        None => {
                            return Err(HttpError::Status {
                                service: self.service.clone(),
                                path: path.into(),
                                status: status.as_u16(),
                                message,
                            });
                        }
                    }
                }
                404 => {
                    return Err(HttpError::NotFound { service: self.service.clone(), path: path.into(), message });
                }
                422 => return Err(HttpError::Unprocessable { service: self.service.clone(), message }),
                s if status.is_server_error() => {
                    if tries <= self.policy.max_retries {
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(service = %self.service, status = s, "server error; retrying");
                        tokio::time::sleep(self.backoff(tries)).await;
                        continue;
                    }
                    return Err(HttpError::Server { service: self.service.clone(), status: s, tries });
                }
                s => {
                    return Err(HttpError::Status { service: self.service.clone(), path: path.into(), status: s, message });
                }
            }
        }
    }

    fn backoff(&self, tries: u32) -> Duration {
        let factor = 1u32.checked_shl(tries.saturating_sub(1)).unwrap_or(u32::MAX);
        self.policy.base_backoff.saturating_mul(factor).min(self.policy.max_backoff)
    }

    fn cached(&self, url: &str) -> Option<Cached> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(url).cloned()
    }

    fn remember(&self, url: &str, c: Cached) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT && !cache.contains_key(url) {
            cache.clear();
        }
        cache.insert(url.to_string(), c);
    }

    fn forget(&self, url: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(url);
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// How long a 403/429 asks us to wait, or `None` when it is not a rate limit.
/// `Retry-After` (seconds or an HTTP date) wins; then an exhausted
/// `x-ratelimit-remaining` with its `x-ratelimit-reset` (epoch seconds); a 429
/// with neither waits a minute, as GitHub documents for secondary limits.
/// A 403 whose message says it is a (secondary) rate limit rather than a refusal.
pub fn is_secondary_rate_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("secondary rate limit") || m.contains("rate limit exceeded") || m.contains("abuse detection")
}

pub fn rate_limit_wait(headers: &HeaderMap, is_429: bool) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ra) = header("retry-after") {
        if let Ok(secs) = ra.parse::<u64>() {
            return Some(Duration::from_secs(secs.max(1)));
        }
        if let Ok(when) = chrono::DateTime::parse_from_rfc2822(ra) {
            let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(1);
            return Some(Duration::from_secs(secs as u64));
        }
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let now = chrono::Utc::now().timestamp();
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()).unwrap_or(now + 60);
        return Some(Duration::from_secs((reset - now).clamp(1, 24 * 3600) as u64));
    }
    is_429.then(|| Duration::from_secs(60))
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// The service's own words from an error body: GitHub's `message` plus its
/// `errors[]`, Google's `error.message`, or a bare `error` string.
pub fn error_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return if text.is_empty() { "no details".into() } else { text.chars().take(300).collect() };
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
        parts.push(m.to_string());
    }
    match v.get("error") {
        Some(serde_json::Value::String(s)) => parts.push(s.clone()),
        Some(e) => {
            if let Some(m) = e.get("message").and_then(|m| m.as_str()) {
                parts.push(m.to_string());
            }
        }
        None => {}
    }
    if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
        for e in errors {
            match e {
                serde_json::Value::String(s) => parts.push(s.clone()),
                other => {
                    if let Some(m) = other.get("message").and_then(|m| m.as_str()) {
                        parts.push(m.to_string());
                    } else if let Some(code) = other.get("code").and_then(|m| m.as_str()) {
                        let field = other.get("field").and_then(|f| f.as_str()).unwrap_or("");
                        parts.push(if field.is_empty() { code.to_string() } else { format!("{field} {code}") });
                    }
                }
            }
        }
    }
    if parts.is_empty() { "no details".into() } else { parts.join("; ") }
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode one path segment (branch names, ids), so user text cannot change the path.
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_finds_rel_next_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(
                "<https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=3>; rel=\"next\", <https://api.github.com/x?page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://api.github.com/x?page=3"));
        h.insert(reqwest::header::LINK, HeaderValue::from_static("<https://a/x?page=1>; rel=\"prev\""));
        assert_eq!(next_link(&h), None);
        h.insert(reqwest::header::LINK, HeaderValue::from_static("garbage"));
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn rate_limit_wait_reads_retry_after_then_reset() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h, false), None);
        assert_eq!(rate_limit_wait(&h, true), Some(Duration::from_secs(60)));
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(rate_limit_wait(&h, false), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let reset = (chrono::Utc::now().timestamp() + 120).to_string();
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        let w = rate_limit_wait(&h, false).unwrap();
        assert!(w >= Duration::from_secs(115) && w <= Duration::from_secs(120), "{w:?}");
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("12"));
        assert_eq!(rate_limit_wait(&h, false), None);
    }

    #[test]
    fn error_message_reads_each_vendor_shape() {
        let gh = br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."}]}"#;
        assert_eq!(error_message(gh), "Validation Failed; A pull request already exists for o:b.");
        let google = br#"{"error":{"code":400,"message":"Invalid source","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(error_message(google), "Invalid source");
        assert_eq!(error_message(br#"{"error":"Agent not found"}"#), "Agent not found");
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(error_message(b""), "no details");
    }

    #[test]
    fn segment_escapes_everything_but_unreserved() {
        assert_eq!(segment("copilot/fix-1"), "copilot%2Ffix-1");
        assert_eq!(segment("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let s = Secret("ghp_supersecretvalue123".into());
        assert!(!format!("{s:?}").contains("supersecret"));
        let t = Transport::new("GitHub", "http://127.0.0.1:1", Auth::Bearer, Some(s), "GITHUB_TOKEN", RetryPolicy::default())
            .unwrap();
        assert!(!format!("{t:?}").contains("supersecret"));
    }

    #[test]
    fn links_off_the_base_are_refused() {
        let t = Transport::new("GitHub", "http://127.0.0.1:9/api/v3/", Auth::Bearer, None, "T", RetryPolicy::default())
            .unwrap();
        assert_eq!(t.url("/user").unwrap(), "http://127.0.0.1:9/api/v3/user");
        assert!(t.url("http://127.0.0.1:9/api/v3/x?page=2").is_ok());
        assert!(t.url("http://evil.example/api/v3/x").is_err());
        assert!(t.url("http://127.0.0.1:9/api/v3evil/x").is_err());
        assert!(Transport::new("GitHub", "ftp://x", Auth::Bearer, None, "T", RetryPolicy::default()).is_err());
        assert!(Transport::new("GitHub", "not a url", Auth::Bearer, None, "T", RetryPolicy::default()).is_err());
    }
}
