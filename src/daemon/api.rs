//! The local HTTP+JSON API. Loopback by default; every route but `/v1/health`
//! needs `Authorization: Bearer <token>` (the token lives in the data dir, mode 0600).

use super::actions::Answer;
use super::coordinator::Msg;
use super::{CoordinatorHandle, Services};
use crate::store::{StoreError, Task};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub token: Arc<String>,
    pub feed_token: Arc<String>,
    pub coordinator: CoordinatorHandle,
    /// The address the API is bound to.
    pub addr: std::net::SocketAddr,
    /// The phone page: pairing, device tokens, live board.
    pub web: Arc<crate::web::Web>,
}

/// An API error: a status and a message a person can act on.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoTask(id) => ApiError(StatusCode::NOT_FOUND, format!("no task {id}")),
            StoreError::WrongState { .. } => ApiError(StatusCode::CONFLICT, e.to_string()),
            other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;

pub fn router(state: AppState) -> Router {
    let authed = Router::new()
        .route("/v1/state", get(get_state))
        .route("/v1/tasks", get(list_tasks))
        .route("/v1/tasks/{id}", get(get_task))
        .route("/v1/history", get(history))
        .route("/v1/history/delete", post(super::retention::post_delete))
        .route("/v1/brief", post(post_brief))
        .route("/v1/merge", post(post_merge))
        .route("/v1/confirm", post(post_confirm))
        .route("/v1/cancel", post(post_cancel))
        .route("/v1/answer", post(post_answer))
        .route("/v1/gc", post(post_gc))
        .route("/v1/stats", get(get_stats))
        .route("/v1/listen", post(post_listen))
        .merge(super::spoken::authed_routes())
        // Outside sessions: hooks of agents the user runs themselves (issue 25).
        .merge(super::sessions::authed_routes())
        .route("/v1/pair", post(super::phone::post_pair))
        .route("/v1/devices", get(super::phone::get_devices))
        .route("/v1/devices/{name}/revoke", post(super::phone::post_revoke))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let mut open = Router::new().route("/v1/health", get(health)).merge(super::spoken::feed_routes());
    if let Some(hook) = cursor_webhook(&state) {
        open = open.merge(hook);
    }
    let page = crate::web::router(state.web.clone());
    open.merge(authed)
        .with_state(state)
        .merge(page)
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(middleware::map_response(json_errors))
}

/// Every error body is JSON `{"error": "…"}`: axum's own refusals (a malformed JSON body, a
/// missing content type, a wrong method, a path parameter that is not a number) are plain
/// text, so they are rewrapped here with their words kept.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let msg = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let mut out = ApiError(status, msg).into_response();
    for (k, v) in parts.headers.iter() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Cursor's signed webhook, when a Cursor agent has a secret (`webhook_secret_env`):
/// a verified delivery makes that run's watcher look at once. Anything unsigned or
/// wrongly signed is answered 401 (see `dispatch::cursor`).
fn cursor_webhook(state: &AppState) -> Option<Router<AppState>> {
    let secret = state
        .services
        .config
        .agents
        .values()
        .filter(|a| a.kind == "cursor")
        .find_map(|a| crate::github::http::token_from_env(&a.webhook_secret_env))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::dispatch::cursor::WebhookEvent>(64);
    let coordinator = state.coordinator.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            tracing::debug!(agent = %event.id, status = %event.status, "Cursor webhook");
            if !coordinator.send(Msg::AgentChanged(event.id)).await {
                break;
            }
        }
    });
    Some(crate::dispatch::cursor::webhook_router(secret, tx))
}

/// Constant-time comparison (`subtle`), so the token cannot be guessed byte by byte from
/// timings. Different lengths are unequal at once: the length is not the secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The credentials of an `Authorization: Bearer …` header. The scheme name is
/// case-insensitive (RFC 9110 §11.1), so `bearer` and `BEARER` do too.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

async fn require_token(State(st): State<AppState>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), st.token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError(StatusCode::UNAUTHORIZED, "wrong API token".into()).into_response(),
        None => ApiError(
            StatusCode::UNAUTHORIZED,
            "missing API token: send Authorization: Bearer <token from the data dir's api.token>".into(),
        )
        .into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GcBody {
    dry_run: bool,
}

/// `capcom gc`: the worktrees that may go (merged, cancelled, long failed, owned by no
/// task), with their sizes; removed unless `dry_run`.
async fn post_gc(State(st): State<AppState>, Json(b): Json<GcBody>) -> ApiResult<serde_json::Value> {
    let s = st.services.clone();
    let out = tokio::task::spawn_blocking(move || {
        let items = crate::dispatch::gc::plan(&crate::dispatch::worktree::GitCli, &s.store, &s.config, &s.data, chrono::Utc::now());
        let removed = if b.dry_run { Vec::new() } else { crate::dispatch::gc::sweep(&crate::dispatch::worktree::GitCli, &s.store, &s.config, &items) };
        serde_json::json!({ "dry_run": b.dry_run, "items": items, "removed": removed })
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatsQuery {
    /// `agent` or `kind`.
    by: String,
    /// "7d", "24h", or an RFC 3339 time; every task when empty.
    since: String,
}

/// `capcom stats`: green on the first try, time to ready, cost per task, runs and CPU time,
/// over every task or those created since a time, split by agent or kind (`report::stats`).
async fn get_stats(State(st): State<AppState>, Query(q): Query<StatsQuery>) -> ApiResult<crate::report::stats::Stats> {
    let by = crate::report::stats::By::parse(&q.by).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let since = match q.since.trim() {
        "" => None,
        s => Some(super::spoken::parse_since(s, chrono::Utc::now()).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?),
    };
    let store = st.services.store.clone();
    let stats = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        Ok(crate::report::stats::compute(&store.tasks(true)?, &store.all_runs()?, &store.state_events()?, by, since))
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(stats))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ListenBody {
    /// true pauses, false resumes, absent toggles.
    paused: Option<bool>,
}

/// `capcom listen --pause/--resume` and the tray's menu: the same coordinator state.
async fn post_listen(State(st): State<AppState>, Json(b): Json<ListenBody>) -> ApiResult<serde_json::Value> {
    let paused = st
        .coordinator
        .set_paused(b.paused)
        .await
        .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is stopping".into()))?;
    Ok(Json(serde_json::json!({ "paused": paused })))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") }))
}

async fn get_state(State(st): State<AppState>) -> ApiResult<serde_json::Value> {
    let snap = st
        .coordinator
        .snapshot()
        .await
        .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is stopping".into()))?;
    Ok(Json(serde_json::to_value(snap).unwrap_or_default()))
}

#[derive(Deserialize)]
struct TasksQuery {
    #[serde(default)]
    all: bool,
}

async fn list_tasks(State(st): State<AppState>, Query(q): Query<TasksQuery>) -> ApiResult<Vec<Task>> {
    let store = st.services.store.clone();
    let tasks = tokio::task::spawn_blocking(move || store.tasks(q.all))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(tasks))
}

#[derive(Serialize)]
pub struct TaskDetail {
    pub task: Task,
    pub runs: Vec<crate::store::Run>,
    pub events: Vec<crate::store::Event>,
    /// The last lines of the latest run's log (redacted).
    pub log_tail: Option<String>,
    /// What its runs cost and took, added up.
    pub spend: crate::report::Spend,
}

async fn get_task(State(st): State<AppState>, Path(id): Path<i64>) -> ApiResult<TaskDetail> {
    let store = st.services.store.clone();
    let detail = tokio::task::spawn_blocking(move || -> Result<TaskDetail, StoreError> {
        let runs = store.runs(id)?;
        let log_tail = runs
            .iter()
            .rev()
            .find_map(|r| r.log_path.as_deref())
            .map(|p| crate::dispatch::local::read_tail(std::path::Path::new(p)));
        let spend = crate::report::Spend::of_runs(&runs);
        Ok(TaskDetail { task: store.task(id)?, runs, events: store.events(id)?, log_tail, spend })
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(detail))
}

async fn history(State(st): State<AppState>) -> ApiResult<Vec<crate::store::Utterance>> {
    let store = st.services.store.clone();
    let rows = tokio::task::spawn_blocking(move || store.utterances(200))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(rows))
}

// ---- dispatch: brief, merge, confirm, cancel (all through the coordinator) ----

#[derive(Deserialize)]
struct BriefBody {
    #[serde(default)]
    text: String,
    /// An already-understood intent (the voice path, tests); `text` is still recorded.
    #[serde(default)]
    intent: Option<crate::understand::Intent>,
}

/// A task id or a reference ("4", "#4", "the tailwind one").
#[derive(Deserialize)]
struct TaskBody {
    task: serde_json::Value,
}

#[derive(Deserialize)]
struct ConfirmBody {
    #[serde(default)]
    code: Option<String>,
    /// The stronger confirmation a merge of work no automated check ran on needs.
    #[serde(default)]
    no_checks: bool,
}

fn task_ref_text(v: &serde_json::Value) -> Result<String, ApiError> {
    match v {
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(ApiError(StatusCode::BAD_REQUEST, "`task` must be a task id or a reference".into())),
    }
}

async fn ask(st: &AppState, make: impl FnOnce(oneshot::Sender<Answer>) -> Msg) -> ApiResult<Answer> {
    let (tx, rx) = oneshot::channel();
    if !st.coordinator.send(make(tx)).await {
        return Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is stopping".into()));
    }
    rx.await
        .map(Json)
        .map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "the coordinator is stopping".into()))
}

/// A brief's text as [`crate::dispatch::prompt::check_brief`] allows it, or the refusal:
/// 413 for a brief over the limit (the limit in the words), 400 for a control character.
pub fn brief_allowed(text: &str) -> Result<(), ApiError> {
    use crate::dispatch::prompt::{BriefRefusal, check_brief};
    check_brief(text).map_err(|e| match e {
        BriefRefusal::TooLong { .. } => ApiError(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        BriefRefusal::Control { .. } => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
    })
}

/// `POST /v1/brief`. With an `Idempotency-Key` header, a brief sent again gets the first
/// one's answer and makes no second task (`idem.rs`).
async fn post_brief(State(st): State<AppState>, headers: HeaderMap, Json(b): Json<BriefBody>) -> Result<Response, ApiError> {
    let key = super::idem::key_of(&headers)?;
    if b.text.trim().is_empty() && b.intent.is_none() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "say something: `text` is empty".into()));
    }
    brief_allowed(&b.text)?;
    if let Some(intent) = &b.intent {
        for t in &intent.tasks {
            brief_allowed(&t.brief)?;
            brief_allowed(&t.title)?;
        }
        if let Some(i) = &intent.instruction {
            brief_allowed(i)?;
        }
    }
    let Some(key) = key else {
        return Ok(ask(&st, |reply| Msg::Brief { text: b.text, intent: b.intent, utterance: None, reply }).await?.into_response());
    };
    let (answer, replayed) = super::idem::brief(&st.services, &st.coordinator, key, b.text, b.intent).await?;
    let mut resp = Json(answer).into_response();
    if replayed {
        resp.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    Ok(resp)
}

async fn post_merge(State(st): State<AppState>, Json(b): Json<TaskBody>) -> ApiResult<Answer> {
    let task = task_ref_text(&b.task)?;
    ask(&st, |reply| Msg::Merge { task, reply }).await
}

async fn post_confirm(State(st): State<AppState>, Json(b): Json<ConfirmBody>) -> ApiResult<Answer> {
    ask(&st, |reply| Msg::Confirm { code: b.code, no_checks: b.no_checks, reply }).await
}

#[derive(Deserialize)]
struct AnswerBody {
    task: serde_json::Value,
    #[serde(default)]
    text: String,
}

/// `capcom answer TASK TEXT`: the answer to the question a held task (or its agent) asked.
async fn post_answer(State(st): State<AppState>, Json(b): Json<AnswerBody>) -> ApiResult<Answer> {
    let task = task_ref_text(&b.task)?;
    if b.text.trim().is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "say the answer: `capcom answer TASK TEXT`".into()));
    }
    brief_allowed(&b.text)?;
    ask(&st, |reply| Msg::Answer { task, text: b.text, reply }).await
}

async fn post_cancel(State(st): State<AppState>, Json(b): Json<TaskBody>) -> ApiResult<Answer> {
    let task = task_ref_text(&b.task)?;
    ask(&st, |reply| Msg::Cancel { task, reply }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let cases = [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearerabc", None),
            ("abc", None),
        ];
        for (header, want) in cases {
            assert_eq!(bearer(header), want, "{header}");
        }
    }
}
