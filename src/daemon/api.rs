//! The local HTTP+JSON API. Loopback by default; every route but `/v1/health`
//! needs `Authorization: Bearer <token>` (the token lives in the data dir, mode 0600).

use super::{CoordinatorHandle, Services};
use crate::store::{StoreError, Task};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub token: Arc<String>,
    pub feed_token: Arc<String>,
    pub coordinator: CoordinatorHandle,
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
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new().route("/v1/health", get(health)).merge(authed).with_state(state)
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(st): State<AppState>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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
}

async fn get_task(State(st): State<AppState>, Path(id): Path<i64>) -> ApiResult<TaskDetail> {
    let store = st.services.store.clone();
    let detail = tokio::task::spawn_blocking(move || -> Result<TaskDetail, StoreError> {
        Ok(TaskDetail { task: store.task(id)?, runs: store.runs(id)?, events: store.events(id)? })
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
