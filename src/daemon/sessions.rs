//! Outside sessions: the agent sessions the user starts themselves (Claude Code, Codex,
//! Gemini and Copilot CLI), heard through their hooks. `capcom hook AGENT` forwards each
//! payload to `POST /v1/hooks/{agent}`; it is validated (`hooks::parse`), kept
//! (`store::sessions`), and a session that starts waiting for the user is said as a notice
//! through the coordinator, like a task becoming ready. `GET /v1/sessions` lists them.

use super::api::{ApiError, ApiResult, AppState};
use super::coordinator::Msg;
use crate::hooks::{self, Agent};
use crate::store::OutsideSession;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The routes, behind the API token.
pub fn authed_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/hooks/{agent}", post(post_hook))
        .route("/v1/sessions", get(get_sessions))
        // A hook payload is refused by `hooks::parse` beyond 64 KiB; this keeps a runaway
        // sender from making the daemon buffer more than a little past that.
        .layer(axum::extract::DefaultBodyLimit::max(2 * 1024 * 1024))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HookQuery {
    /// The event named on `capcom hook`'s command line (Copilot's `agentStop`).
    event: Option<String>,
}

#[derive(Serialize)]
struct HookAnswer {
    ok: bool,
    /// The session as kept; none when the payload came from a task capcom started.
    session: Option<OutsideSession>,
    /// Why nothing was kept, when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<String>,
    /// What was said about it, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    said: Option<String>,
}

async fn post_hook(State(st): State<AppState>, Path(agent): Path<String>, Query(q): Query<HookQuery>, body: Bytes) -> ApiResult<HookAnswer> {
    let Some(agent) = Agent::parse(&agent) else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("capcom hears claude, codex, gemini and copilot, not {agent:?}")));
    };
    let event = hooks::parse(agent, &body, q.event.as_deref()).map_err(|e| {
        tracing::warn!(%agent, "a hook payload was refused: {e}");
        let status = if matches!(e, hooks::PayloadError::TooLarge(_)) { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
        ApiError(status, e.to_string())
    })?;
    // A task capcom started runs in its own worktree and is followed as a task: the user's
    // hooks fire there too, but it is not a session of theirs.
    let worktrees = st.services.data.worktrees();
    if event.folder.as_deref().is_some_and(|f| inside(f, &worktrees)) {
        tracing::debug!(%agent, "a hook from a task's worktree; the task itself is followed");
        return Ok(Json(HookAnswer { ok: true, session: None, ignored: Some("a task capcom started".into()), said: None }));
    }
    let services = st.services.clone();
    let heard = tokio::task::spawn_blocking(move || {
        let repo = event.folder.as_deref().and_then(|f| repo_of(&services.config.repos, f));
        services.store.record_hook(&event, repo.as_deref())
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    tracing::debug!(%agent, event = %heard.session.last_event, waiting = heard.session.waiting, "hook heard");
    // Said like a task that needs attention: unless `[speech] announce` is "ready" or "none".
    let announce = matches!(st.services.config.speech.announce.trim(), "attention" | "all");
    let said = (heard.started_waiting && announce).then(|| crate::report::script::sessions::waiting_notice(&heard.session));
    if let Some(text) = &said {
        super::notify_desktop(text);
        st.coordinator.send(Msg::Notice(text.clone())).await;
    }
    Ok(Json(HookAnswer { ok: true, session: Some(heard.session), ignored: None, said }))
}

/// `folder` is `dir` or inside it (both resolved when they exist).
fn inside(folder: &str, dir: &std::path::Path) -> bool {
    let real = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    real(std::path::Path::new(folder)).starts_with(real(dir))
}

async fn get_sessions(State(st): State<AppState>) -> ApiResult<Vec<OutsideSession>> {
    let store = st.services.store.clone();
    let rows = tokio::task::spawn_blocking(move || store.outside_sessions())
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(rows))
}

/// The configured repo a folder is in (the deepest, when repos nest), by path.
pub fn repo_of(repos: &[crate::config::Repo], folder: &str) -> Option<String> {
    let real = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
    let folder = real(folder);
    repos
        .iter()
        .filter(|r| !r.path.trim().is_empty())
        .map(|r| (r, real(&r.path)))
        .filter(|(_, p)| folder.starts_with(p))
        .max_by_key(|(_, p)| p.components().count())
        .map(|(r, _)| r.name.clone())
}

/// The status answer's lines about outside sessions: those waiting, then those finished
/// since the user last asked (which are then marked as said).
pub fn status_lines(store: &crate::store::Store) -> Result<Vec<String>, crate::store::StoreError> {
    use crate::report::script::sessions::{finished_sentence, waiting_sentence};
    let waiting: Vec<OutsideSession> = store.outside_sessions()?.into_iter().filter(|s| s.waiting).collect();
    let finished = store.take_finished()?;
    Ok(waiting_sentence(&waiting).into_iter().chain(finished_sentence(&finished)).collect())
}

#[cfg(test)]
mod tests {
    use super::repo_of;
    use crate::config::Repo;

    #[test]
    fn a_folder_belongs_to_the_deepest_configured_repo_that_holds_it() {
        let repo = |name: &str, path: &str| Repo { name: name.into(), path: path.into(), ..Repo::default() };
        let repos = [repo("mono", "/nonexistent/src/mono"), repo("web", "/nonexistent/src/mono/apps/web"), repo("site", "/nonexistent/src/site"), repo("blank", "")];
        for (folder, want) in [
            ("/nonexistent/src/site", Some("site")),
            ("/nonexistent/src/site/components/ui", Some("site")),
            ("/nonexistent/src/site2", None),
            ("/nonexistent/src/mono/apps/web/src", Some("web")),
            ("/nonexistent/src/mono/apps/api", Some("mono")),
            ("/elsewhere", None),
        ] {
            assert_eq!(repo_of(&repos, folder).as_deref(), want, "{folder}");
        }
    }
}
