//! Cursor cloud agents (`kind = "cursor"`): `https://api.cursor.com`, Bearer token.
//!
//! A task becomes `POST /v0/agents` on the GitHub repo and base ref, with
//! `autoCreatePr` and the task's branch name. `GET /v0/agents/{id}` is polled:
//! CREATING / RUNNING → working, FINISHED → done (with `summary` and
//! `target.prUrl`), ERROR / EXPIRED → failed. A follow-up is
//! `POST /v0/agents/{id}/followup`; cancel is `POST /v0/agents/{id}/stop`.
//!
//! The HTTP shape (paths and bodies) sits behind one seam, [`ApiShape`]; v0 (the
//! default, and the only one with webhooks) is [`V0`]. Cursor marks v0 legacy and has
//! v1 (agents and runs) in beta: a v1 shape implements the same trait.
//!
//! `/followup` returns before the agent leaves FINISHED, so after a follow-up a
//! FINISHED with the same summary is the old result: the run waits until the agent
//! has left that state, its summary changed, or its conversation
//! (`GET /v0/agents/{id}/conversation`) holds an answer after the follow-up (v0 has no
//! update time). A status capcom does not know (for
//! example STOPPED) is "still working" only for `unknown_grace` (10 minutes by
//! default); then the task needs attention, naming the status.
//!
//! Cursor can also call a webhook on status changes; [`verify_webhook`] checks
//! its `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>` in
//! constant time, and [`webhook_router`] serves `POST /v1/webhooks/cursor`.

use super::backend::StartRequest;
use super::remote::{Cursor as Seen, Handle, Look, PrLink, RemoteAgent, RemoteError, RemoteState, task_text};
use crate::github::RepoSlug;
use crate::github::http::{Auth, HttpError, RetryPolicy, Secret, Transport, segment, token_from_env};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

pub const DEFAULT_API: &str = "https://api.cursor.com";
pub const DEFAULT_TOKEN_ENV: &str = "CURSOR_API_KEY";
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
/// The header naming one delivery (not covered by the signature).
pub const DELIVERY_HEADER: &str = "x-webhook-id";
/// Where the local API receives Cursor's webhook.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/cursor";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentTarget {
    pub branch_name: Option<String>,
    pub url: Option<String>,
    pub pr_url: Option<String>,
    pub auto_create_pr: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAgent {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub target: AgentTarget,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// CREATING / RUNNING / FINISHED / ERROR / EXPIRED → capcom's view.
pub fn map_status(agent: &CloudAgent) -> RemoteState {
    let pr = agent.target.pr_url.as_deref().and_then(PrLink::from_url);
    let summary = agent.summary.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match agent.status.as_str() {
        "CREATING" | "RUNNING" => RemoteState::Working { detail: agent.status.clone() },
        "FINISHED" => RemoteState::Done {
            summary: summary.map(String::from).unwrap_or_else(|| "Cursor's agent finished".into()),
            pr,
        },
        "ERROR" => RemoteState::Failed {
            reason: match summary {
                Some(s) => format!("Cursor's agent hit an error: {s}"),
                None => "Cursor's agent hit an error".into(),
            },
        },
        "EXPIRED" => RemoteState::Failed { reason: "Cursor's agent expired before it finished".into() },
        other => RemoteState::Working { detail: if other.is_empty() { "unknown".into() } else { other.to_string() } },
    }
}

/// The HTTP shape of Cursor's agents API: which path and body each call uses, and how
/// an agent reads. Everything else (transport, states, webhooks) is shared.
pub trait ApiShape: Send + Sync {
    /// Launch: (path, body).
    fn launch(&self, repo: &RepoSlug, base: &str, branch: &str, text: &str, webhook: Option<(&str, &str)>) -> (String, serde_json::Value);
    fn agent_path(&self, id: &str) -> String;
    /// Follow-up: (path, body).
    fn followup(&self, id: &str, text: &str) -> (String, serde_json::Value);
    fn stop_path(&self, id: &str) -> String;
    fn me_path(&self) -> String;
    fn conversation_path(&self, id: &str) -> String;
    /// The conversation's message types, oldest first ("user_message", "assistant_message").
    fn read_conversation(&self, v: &serde_json::Value) -> Vec<String>;
    /// One agent as this shape returns it.
    fn read_agent(&self, v: serde_json::Value) -> Result<CloudAgent, String>;
}

/// `v0`: `POST /v0/agents`, `GET /v0/agents/{id}`, `POST /v0/agents/{id}/followup`,
/// `POST /v0/agents/{id}/stop`, `GET /v0/me` (Cursor's "Cloud Agents API" docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct V0;

impl ApiShape for V0 {
    fn launch(&self, repo: &RepoSlug, base: &str, branch: &str, text: &str, webhook: Option<(&str, &str)>) -> (String, serde_json::Value) {
        let mut body = json!({
            "prompt": { "text": text },
            "source": { "repository": repo.https_url(), "ref": base },
            "target": { "autoCreatePr": true, "branchName": branch },
        });
        if let Some((url, secret)) = webhook {
            body["webhook"] = json!({ "url": url, "secret": secret });
        }
        ("/v0/agents".into(), body)
    }
    fn agent_path(&self, id: &str) -> String {
        format!("/v0/agents/{}", segment(id))
    }
    fn followup(&self, id: &str, text: &str) -> (String, serde_json::Value) {
        (format!("/v0/agents/{}/followup", segment(id)), json!({ "prompt": { "text": text } }))
    }
    fn stop_path(&self, id: &str) -> String {
        format!("/v0/agents/{}/stop", segment(id))
    }
    fn me_path(&self) -> String {
        "/v0/me".into()
    }
    fn conversation_path(&self, id: &str) -> String {
        format!("/v0/agents/{}/conversation", segment(id))
    }
    fn read_conversation(&self, v: &serde_json::Value) -> Vec<String> {
        v.get("messages")
            .and_then(|m| m.as_array())
            .map(|m| m.iter().map(|x| x.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
    fn read_agent(&self, v: serde_json::Value) -> Result<CloudAgent, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
}

/// What an agent looked like when a follow-up was sent to it.
#[derive(Debug, Clone)]
struct Baseline {
    status: String,
    summary: Option<String>,
    /// Messages in the conversation before the follow-up, when it could be read.
    messages: Option<usize>,
    left: bool,
}

pub struct CursorAgents {
    t: Transport,
    webhook: Option<(String, Secret)>,
    shape: Box<dyn ApiShape>,
    unknown_grace: std::time::Duration,
    /// Per agent: since when it has shown a status capcom does not know.
    unknown_since: std::sync::Mutex<std::collections::HashMap<String, (String, tokio::time::Instant)>>,
    baselines: std::sync::Mutex<std::collections::HashMap<String, Baseline>>,
    /// Per agent: the task's worktree, where a branch finished without a PR is brought.
    workdirs: std::sync::Mutex<std::collections::HashMap<String, std::path::PathBuf>>,
}

impl CursorAgents {
    pub fn new(api_url: &str, token: Option<Secret>, token_env: &str, policy: RetryPolicy) -> Result<CursorAgents, HttpError> {
        let base = if api_url.trim().is_empty() { DEFAULT_API } else { api_url };
        let t = Transport::new("Cursor", base, Auth::Bearer, token, token_env, policy)?;
        Ok(CursorAgents {
            t,
            webhook: None,
            shape: Box::new(V0),
            unknown_grace: std::time::Duration::from_secs(600),
            unknown_since: std::sync::Mutex::new(std::collections::HashMap::new()),
            baselines: std::sync::Mutex::new(std::collections::HashMap::new()),
            workdirs: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Another HTTP shape (v1 when it is out of beta).
    pub fn with_shape(mut self, shape: Box<dyn ApiShape>) -> CursorAgents {
        self.shape = shape;
        self
    }

    /// How long a status capcom does not know counts as still working.
    pub fn with_unknown_grace(mut self, grace: std::time::Duration) -> CursorAgents {
        self.unknown_grace = grace;
        self
    }

    /// From `[agents.NAME]`: `api_url` (default the public API) and `token_env` (default CURSOR_API_KEY).
    pub fn from_config(agent: &crate::config::Agent) -> Result<CursorAgents, HttpError> {
        let env = if agent.token_env.is_empty() { DEFAULT_TOKEN_ENV } else { agent.token_env.as_str() };
        CursorAgents::new(&agent.api_url, token_from_env(env), env, RetryPolicy::default())
    }

    /// Ask Cursor to call `url` on status changes, signed with `secret`.
    pub fn with_webhook(mut self, url: &str, secret: Secret) -> CursorAgents {
        self.webhook = Some((url.to_string(), secret));
        self
    }

    pub fn transport(&self) -> &Transport {
        &self.t
    }

    fn no_token(&self) -> Result<(), RemoteError> {
        if self.t.has_token() { Ok(()) } else { Err(self.t.unauthorized().into()) }
    }

    fn read(&self, v: serde_json::Value, path: &str) -> Result<CloudAgent, RemoteError> {
        self.shape
            .read_agent(v)
            .map_err(|detail| HttpError::Malformed { service: "Cursor".into(), path: path.into(), detail }.into())
    }

    /// Launch an agent (v0: `POST /v0/agents`).
    pub async fn launch_agent(&self, repo: &RepoSlug, base: &str, branch: &str, text: &str) -> Result<CloudAgent, RemoteError> {
        self.no_token()?;
        let hook = self.webhook.as_ref().map(|(u, s)| (u.as_str(), s.expose()));
        let (path, body) = self.shape.launch(repo, base, branch, text, hook);
        let v: serde_json::Value = self.t.send_json(Method::POST, &path, &body).await?.json("Cursor", &path)?;
        self.read(v, &path)
    }

    /// One agent (v0: `GET /v0/agents/{id}`, conditional).
    pub async fn agent(&self, id: &str) -> Result<CloudAgent, RemoteError> {
        self.no_token()?;
        let path = self.shape.agent_path(id);
        let v: serde_json::Value = self.t.get_json(&path).await?;
        self.read(v, &path)
    }

    /// A follow-up (v0: `POST /v0/agents/{id}/followup`).
    pub async fn followup(&self, id: &str, text: &str) -> Result<(), RemoteError> {
        self.no_token()?;
        let (path, body) = self.shape.followup(id, text);
        self.t.send_json(Method::POST, &path, &body).await?;
        Ok(())
    }

    /// One cheap authenticated call for `capcom doctor` (v0: `GET /v0/me`).
    pub async fn me(&self) -> Result<serde_json::Value, RemoteError> {
        self.no_token()?;
        Ok(self.t.get_json(&self.shape.me_path()).await?)
    }

    /// The conversation's message types, oldest first.
    pub async fn conversation(&self, id: &str) -> Result<Vec<String>, RemoteError> {
        self.no_token()?;
        let v: serde_json::Value = self.t.get_json(&self.shape.conversation_path(id)).await?;
        Ok(self.shape.read_conversation(&v))
    }

    /// A FINISHED (or ERROR) still showing what it showed before the last follow-up.
    async fn stale(&self, id: &str, a: &CloudAgent) -> bool {
        let since = {
            let mut map = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
            let Some(b) = map.get_mut(id) else { return false };
            if b.left {
                return false;
            }
            if a.status != b.status || a.summary != b.summary {
                b.left = true;
                return false;
            }
            b.messages
        };
        // Same state and summary: new only if the agent answered after the follow-up.
        let Some(before) = since else { return true };
        let answered = self
            .conversation(id)
            .await
            .is_ok_and(|m| m.len() > before + 1 && m.last().is_some_and(|t| t == "assistant_message"));
        if answered && let Some(b) = self.baselines.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            b.left = true;
        }
        !answered
    }

    /// A status capcom does not know: working for `unknown_grace`, then needs attention.
    fn unknown(&self, id: &str, status: &str) -> Option<RemoteState> {
        let now = tokio::time::Instant::now();
        let mut map = self.unknown_since.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(id.to_string()).or_insert_with(|| (status.to_string(), now));
        if entry.0 != status {
            *entry = (status.to_string(), now);
        }
        (now.duration_since(entry.1) >= self.unknown_grace).then(|| RemoteState::NeedsAttention {
            question: format!(
                "Cursor reports its agent as {status}, a status capcom does not know, for {}; look at the agent in Cursor",
                crate::config::Dur(self.unknown_grace)
            ),
        })
    }
}

/// Statuses of the v0 API ("Cloud Agents API": CREATING, RUNNING, FINISHED, ERROR, EXPIRED).
pub fn is_known_status(status: &str) -> bool {
    matches!(status, "CREATING" | "RUNNING" | "FINISHED" | "ERROR" | "EXPIRED")
}

#[async_trait]
impl RemoteAgent for CursorAgents {
    fn vendor(&self) -> &str {
        "Cursor"
    }

    async fn launch(&self, req: &StartRequest) -> Result<Handle, RemoteError> {
        let slug = req.github.as_deref().and_then(RepoSlug::parse).ok_or_else(|| {
            RemoteError::Config("Cursor cloud agents work on GitHub repos: set `github = \"owner/name\"` on the repo".into())
        })?;
        let base = if req.base.is_empty() { "main" } else { req.base.as_str() };
        let a = self.launch_agent(&slug, base, &req.branch, &task_text(req)).await?;
        Ok(Handle { id: a.id, url: a.target.url })
    }

    async fn look(&self, id: &str, _seen: &mut Seen) -> Result<Look, RemoteError> {
        let a = self.agent(id).await?;
        if self.stale(id, &a).await {
            let detail = format!("{} (Cursor has not taken up the follow-up yet)", a.status);
            return Ok(Look { state: RemoteState::Working { detail }, progress: Vec::new(), pr: None });
        }
        let state = if is_known_status(&a.status) {
            self.unknown_since.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
            map_status(&a)
        } else {
            self.unknown(id, &a.status).unwrap_or_else(|| map_status(&a))
        };
        let pr = a.target.pr_url.as_deref().and_then(PrLink::from_url);
        // Finished with a branch but no PR: its work is brought into the task's worktree and
        // reviewed locally, like a Jules change set.
        let state = match (state, a.target.branch_name.as_deref(), self.workdir_of(id)) {
            (RemoteState::Done { summary, pr: None }, Some(branch), Some(dir)) if pr.is_none() => {
                let branch = branch.to_string();
                let brought = tokio::task::spawn_blocking(move || bring_branch(&crate::git::GitCli, &dir, &branch)).await;
                match brought {
                    Ok(Ok(())) => RemoteState::Done { summary: format!("{summary}; its branch was applied to the task's worktree"), pr: None },
                    Ok(Err(e)) => RemoteState::NeedsAttention {
                        question: format!("Cursor's agent finished without a pull request, and its branch could not be brought in: {e}"),
                    },
                    Err(e) => RemoteState::Failed { reason: format!("bringing in Cursor's branch failed: {e}") },
                }
            }
            (state, _, _) => state,
        };
        Ok(Look { state, progress: Vec::new(), pr })
    }

    fn attach_workdir(&self, id: &str, workdir: &std::path::Path) {
        self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), workdir.to_path_buf());
    }

    async fn follow_up(&self, id: &str, text: &str) -> Result<String, RemoteError> {
        // The agent may read as it was for a while: remember how that was.
        if let Ok(a) = self.agent(id).await
            && matches!(a.status.as_str(), "FINISHED" | "ERROR" | "EXPIRED")
        {
            let messages = self.conversation(id).await.ok().map(|m| m.len());
            let b = Baseline { status: a.status, summary: a.summary, messages, left: false };
            self.baselines.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), b);
        }
        self.followup(id, text).await?;
        Ok(id.to_string())
    }

    async fn stop(&self, id: &str) -> Result<(), RemoteError> {
        self.no_token()?;
        let a = match self.agent(id).await {
            Ok(a) => a,
            Err(RemoteError::Http(HttpError::NotFound { .. })) => return Ok(()),
            Err(e) => return Err(e),
        };
        if !matches!(a.status.as_str(), "CREATING" | "RUNNING") {
            return Ok(());
        }
        self.t.send_json(Method::POST, &self.shape.stop_path(id), &json!({})).await?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing X-Webhook-Signature header")]
    Missing,
    #[error("X-Webhook-Signature is not `sha256=<hex>`")]
    Malformed,
    #[error("X-Webhook-Signature does not match the body")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NoSecret,
}

/// Check `X-Webhook-Signature: sha256=<hex>` against HMAC-SHA256(secret, raw body),
/// in constant time.
pub fn verify_webhook(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(WebhookError::Missing)?;
    let hex_sig = header.strip_prefix("sha256=").ok_or(WebhookError::Malformed)?;
    let given = hex::decode(hex_sig).map_err(|_| WebhookError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::NoSecret)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map_err(|_| WebhookError::Mismatch)
}

/// The signature header value Cursor would send for `body`.
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A verified webhook delivery: `{event:"statusChange", id, status, summary, target}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub target: AgentTarget,
}

impl WebhookEvent {
    pub fn state(&self) -> RemoteState {
        map_status(&CloudAgent {
            id: self.id.clone(),
            name: String::new(),
            status: self.status.clone(),
            summary: self.summary.clone(),
            target: self.target.clone(),
            created_at: None,
        })
    }
}

#[derive(Clone)]
struct WebhookState {
    secret: Secret,
    tx: tokio::sync::mpsc::Sender<WebhookEvent>,
    seen: std::sync::Arc<std::sync::Mutex<Replays>>,
}

/// How far a delivery's signed `timestamp` may be from now.
pub const WEBHOOK_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

/// Replay protection for signed deliveries. Cursor signs the body, and the body carries
/// the delivery's `timestamp` (cursor.com/docs/cloud-agent/api/webhooks: `X-Webhook-Signature`
/// over the raw body; `X-Webhook-ID` names the delivery but is not signed). A delivery is taken
/// once: its timestamp must be within [`WEBHOOK_WINDOW`] of now, and its signature (so its
/// exact body) and its delivery id must not have been seen within twice that.
#[derive(Debug, Default)]
pub struct Replays {
    seen: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>,
}

/// Why a verified delivery is not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayRefusal {
    #[error("the delivery has no `timestamp`, so it could be a replay")]
    NoTimestamp,
    #[error("the delivery's timestamp {0} is more than 5 minutes from now: a replay, or a clock far off")]
    Stale(String),
    #[error("this delivery was already taken")]
    Duplicate,
}

impl Replays {
    /// Take a delivery (its signature, its `X-Webhook-ID` if any, its signed timestamp) at `now`.
    pub fn take(&mut self, signature: &str, delivery: Option<&str>, timestamp: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Result<(), ReplayRefusal> {
        let ts = timestamp.map(str::trim).filter(|t| !t.is_empty()).ok_or(ReplayRefusal::NoTimestamp)?;
        let at = chrono::DateTime::parse_from_rfc3339(ts).map_err(|_| ReplayRefusal::Stale(ts.to_string()))?.with_timezone(&chrono::Utc);
        if (now - at).abs() > WEBHOOK_WINDOW {
            return Err(ReplayRefusal::Stale(ts.to_string()));
        }
        self.seen.retain(|_, when| now - *when <= WEBHOOK_WINDOW * 2);
        let keys: Vec<String> = std::iter::once(format!("sig:{signature}")).chain(delivery.map(|d| format!("id:{}", d.trim()))).collect();
        if keys.iter().any(|k| self.seen.contains_key(k)) {
            return Err(ReplayRefusal::Duplicate);
        }
        for k in keys {
            self.seen.insert(k, now);
        }
        Ok(())
    }
}

/// `POST /v1/webhooks/cursor`: verifies the signature over the raw body, answers
/// 401 to anything unsigned or wrongly signed, 400 to a body that is not an
/// agent event, and forwards verified events to `tx`.
pub fn webhook_router<S: Clone + Send + Sync + 'static>(secret: Secret, tx: tokio::sync::mpsc::Sender<WebhookEvent>) -> axum::Router<S> {
    use axum::routing::post;
    axum::Router::new().route(WEBHOOK_PATH, post(webhook)).with_state(WebhookState { secret, tx, seen: Default::default() })
}

async fn webhook(
    axum::extract::State(st): axum::extract::State<WebhookState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    use axum::http::StatusCode;
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = verify_webhook(st.secret.expose().as_bytes(), &body, sig) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": e.to_string() })));
    }
    let event: WebhookEvent = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": format!("not an agent event: {e}") }))),
    };
    let delivery = headers.get(DELIVERY_HEADER).and_then(|v| v.to_str().ok());
    let taken = st.seen.lock().unwrap_or_else(|p| p.into_inner()).take(sig.unwrap_or_default(), delivery, event.timestamp.as_deref(), chrono::Utc::now());
    match taken {
        Ok(()) => {}
        // Cursor retrying a delivery it thinks was lost: answered, not acted on again.
        Err(ReplayRefusal::Duplicate) => return (StatusCode::OK, axum::Json(json!({ "ok": true, "duplicate": true }))),
        Err(e) => return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": e.to_string() }))),
    }
    match st.tx.try_send(event) {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "ok": true }))),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "error": "busy; retry later" }))),
    }
}

impl CursorAgents {
    fn workdir_of(&self, id: &str) -> Option<std::path::PathBuf> {
        self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
}

/// Fetch the agent's `branch` from `origin` and apply what it changes (since it left the
/// task's base) to the worktree in `dir`, through [`super::remote::apply_patch`].
fn bring_branch(git: &dyn crate::git::Git, dir: &std::path::Path, branch: &str) -> Result<(), String> {
    let ok = git.run(dir, &["check-ref-format", "--branch", branch]).map(|o| o.code == 0).unwrap_or(false);
    if !ok || branch.starts_with('-') {
        return Err(format!("`{branch}` is not a branch name"));
    }
    let local = "refs/capcom/cursor-branch";
    let out = git.run(dir, &["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin", &format!("+refs/heads/{branch}:{local}")]).map_err(|e| e.to_string())?;
    if out.code != 0 {
        return Err(format!("cannot fetch {branch} from origin: {}", out.stderr.trim()));
    }
    let base = git.ok(dir, &["merge-base", "HEAD", local]).map_err(|e| format!("{branch} shares no history with the task's branch: {e}"))?;
    let patch = git.ok(dir, &["diff", "--binary", "--no-renames", &base, local]).map_err(|e| e.to_string())?;
    super::remote::apply_patch(git, dir, &patch, Some(&base)).map(|_| ()).map_err(|e| e.to_string())
}

/// Cursor's webhook secret must be at least this long (Cursor docs, "Webhooks": `secret`,
/// "minimum 32 characters").
pub const MIN_WEBHOOK_SECRET: usize = 32;

/// Why a webhook secret cannot be used, if it cannot (its value is never said).
pub fn webhook_secret_problem(env: &str, secret: &str) -> Option<String> {
    let n = secret.chars().count();
    (n < MIN_WEBHOOK_SECRET).then(|| {
        format!("the Cursor webhook secret in ${env} has {n} characters; Cursor requires at least {MIN_WEBHOOK_SECRET}")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_secrets_under_32_characters_are_refused() {
        assert!(super::webhook_secret_problem("S", &"x".repeat(31)).unwrap().contains("has 31 characters; Cursor requires at least 32"));
        assert_eq!(super::webhook_secret_problem("S", &"x".repeat(32)), None);
    }
    use super::*;

    fn agent(status: &str, summary: Option<&str>, pr: Option<&str>) -> CloudAgent {
        CloudAgent {
            id: "bc_1".into(),
            name: "x".into(),
            status: status.into(),
            summary: summary.map(String::from),
            target: AgentTarget { pr_url: pr.map(String::from), ..Default::default() },
            created_at: None,
        }
    }

    #[test]
    fn every_status_maps() {
        assert!(matches!(map_status(&agent("CREATING", None, None)), RemoteState::Working { .. }));
        assert!(matches!(map_status(&agent("RUNNING", None, None)), RemoteState::Working { .. }));
        match map_status(&agent("FINISHED", Some("Moved buttons to tokens"), Some("https://github.com/o/r/pull/9"))) {
            RemoteState::Done { summary, pr } => {
                assert_eq!(summary, "Moved buttons to tokens");
                assert_eq!(pr.unwrap().number, 9);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(map_status(&agent("ERROR", Some("repo not found"), None)), RemoteState::Failed { reason } if reason.contains("repo not found")));
        assert!(matches!(map_status(&agent("EXPIRED", None, None)), RemoteState::Failed { reason } if reason.contains("expired")));
    }

    #[test]
    fn a_delivery_is_taken_once_and_only_within_its_window() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let mut r = Replays::default();
        let cases: [(&str, Option<&str>, Option<&str>, i64, Result<(), ReplayRefusal>); 9] = [
            ("sha256=aa", Some("d-1"), Some("2026-11-21T10:00:00Z"), 0, Ok(())),
            ("sha256=aa", Some("d-1"), Some("2026-11-21T10:00:00Z"), 1, Err(ReplayRefusal::Duplicate)),
            ("sha256=aa", Some("d-other"), Some("2026-11-21T10:00:00Z"), 2, Err(ReplayRefusal::Duplicate)),
            ("sha256=bb", Some("d-1"), Some("2026-11-21T10:00:05Z"), 3, Err(ReplayRefusal::Duplicate)),
            ("sha256=cc", None, Some("2026-11-21T10:00:05Z"), 4, Ok(())),
            ("sha256=dd", None, Some("2026-11-21T09:54:00Z"), 5, Err(ReplayRefusal::Stale("2026-11-21T09:54:00Z".into()))),
            ("sha256=ee", None, Some("2026-11-21T10:06:00Z"), 6, Err(ReplayRefusal::Stale("2026-11-21T10:06:00Z".into()))),
            ("sha256=ff", None, None, 7, Err(ReplayRefusal::NoTimestamp)),
            ("sha256=gg", None, Some("yesterday"), 8, Err(ReplayRefusal::Stale("yesterday".into()))),
        ];
        for (sig, id, ts, secs, want) in cases {
            assert_eq!(r.take(sig, id, ts, now + chrono::Duration::seconds(secs)), want, "{sig} {id:?} {ts:?}");
        }
        // What was seen is forgotten once its timestamp could no longer pass.
        let later = now + chrono::Duration::minutes(11);
        assert_eq!(r.take("sha256=aa", Some("d-1"), Some("2026-11-21T10:11:00Z"), later), Ok(()));
        assert!(r.seen.len() <= 2, "{:?}", r.seen);
    }

    #[test]
    fn signatures_verify_only_for_the_exact_body_and_secret() {
        let body = br#"{"event":"statusChange","id":"bc_1","status":"FINISHED"}"#;
        let sig = sign_webhook(b"s3cret", body);
        assert!(sig.starts_with("sha256="));
        assert_eq!(verify_webhook(b"s3cret", body, Some(&sig)), Ok(()));
        assert_eq!(verify_webhook(b"other", body, Some(&sig)), Err(WebhookError::Mismatch));
        assert_eq!(verify_webhook(b"s3cret", b"{}", Some(&sig)), Err(WebhookError::Mismatch));
        assert_eq!(verify_webhook(b"s3cret", body, None), Err(WebhookError::Missing));
        assert_eq!(verify_webhook(b"s3cret", body, Some("")), Err(WebhookError::Missing));
        assert_eq!(verify_webhook(b"s3cret", body, Some(&sig[7..])), Err(WebhookError::Malformed));
        assert_eq!(verify_webhook(b"s3cret", body, Some("sha256=zz")), Err(WebhookError::Malformed));
        assert_eq!(verify_webhook(b"s3cret", body, Some("sha256=abcd")), Err(WebhookError::Mismatch));
        assert_eq!(verify_webhook(b"", body, Some(&sig)), Err(WebhookError::NoSecret));
    }
}
