//! Jules (`kind = "jules"`): Google's coding agent, through its REST API
//! (`https://jules.googleapis.com/v1alpha`, header `X-Goog-Api-Key`).
//!
//! A task becomes a session with `automationMode: AUTO_CREATE_PR` on the repo's
//! source and the starting branch. The source's name is the one `GET /sources`
//! returns for the repo (listed once, all pages; the docs show names such as
//! `sources/github-myorg-myrepo`, so capcom never builds one); a repo Jules does not
//! list must be connected to Jules first.
//! `:sendMessage` returns before the session changes state, so after a follow-up a
//! session still in its earlier COMPLETED or FAILED state is not taken for the
//! follow-up's result until it has left that state or shows a newer update or activity. The session's state maps:
//! QUEUED / PLANNING / IN_PROGRESS → working; AWAITING_PLAN_APPROVAL /
//! AWAITING_USER_FEEDBACK (and PAUSED) → needs attention, with the plan or the
//! question; COMPLETED → done, with the PR from `outputs[].pullRequest.url`;
//! FAILED → failed. Progress lines come from the session's activities.
//! A session may complete with a change set and no pull request (the API's
//! `SessionOutput` has either; jules-sdk `RestSessionOutput { pullRequest?, changeSet? }`):
//! its `changeSet.gitPatch.unidiffPatch` is applied to the task's worktree (three-way
//! from `baseCommitId`), so it is reviewed locally like a local agent's work. A patch
//! that does not apply needs attention, naming its files.
//! "Approve the plan" is `:approvePlan`; a follow-up is `:sendMessage`.

use super::backend::StartRequest;
use super::remote::{Cursor, Handle, Look, PrLink, RemoteAgent, RemoteError, RemoteState, task_text};
use crate::github::RepoSlug;
use crate::github::http::{Auth, HttpError, RetryPolicy, Secret, Transport, segment, token_from_env};
use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const DEFAULT_API: &str = "https://jules.googleapis.com/v1alpha";
pub const DEFAULT_TOKEN_ENV: &str = "JULES_API_KEY";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Session {
    pub name: String,
    pub id: String,
    pub title: String,
    pub state: String,
    pub url: String,
    pub outputs: Vec<SessionOutput>,
    pub create_time: String,
    pub update_time: String,
}

/// One connected repository (`GET /sources`, "Sources" in the Jules API reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Source {
    pub name: String,
    pub id: String,
    pub github_repo: Option<GithubRepo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct GithubRepo {
    pub owner: String,
    pub repo: String,
}

/// What a session looked like when a follow-up was sent to it.
#[derive(Debug, Clone, Default)]
struct Baseline {
    state: String,
    update_time: String,
    last_activity: String,
    /// The session has since left that state (or moved on): its states are news again.
    left: bool,
}

/// States a session ends a piece of work in.
fn is_terminal(state: &str) -> bool {
    matches!(state, "COMPLETED" | "FAILED")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionOutput {
    pub pull_request: Option<PullRequestOutput>,
    pub change_set: Option<ChangeSet>,
}

/// `outputs[].changeSet` (Jules API reference, "ChangeSet"): the work as a git patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeSet {
    pub source: String,
    pub git_patch: Option<GitPatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct GitPatch {
    pub unidiff_patch: String,
    pub base_commit_id: String,
    pub suggested_commit_message: String,
}

impl Session {
    /// The change set's patch, when the session left one.
    pub fn patch(&self) -> Option<&GitPatch> {
        self.outputs
            .iter()
            .filter_map(|o| o.change_set.as_ref()?.git_patch.as_ref())
            .rfind(|p| !p.unidiff_patch.trim().is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PullRequestOutput {
    pub url: String,
    pub title: String,
    pub description: String,
}

/// One entry of `GET /sessions/{id}/activities`. Exactly one of the event fields is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Activity {
    pub name: String,
    pub id: String,
    pub create_time: String,
    pub originator: String,
    pub description: String,
    pub plan_generated: Option<serde_json::Value>,
    pub plan_approved: Option<serde_json::Value>,
    pub user_messaged: Option<serde_json::Value>,
    pub agent_messaged: Option<serde_json::Value>,
    pub progress_updated: Option<serde_json::Value>,
    pub session_completed: Option<serde_json::Value>,
    pub session_failed: Option<serde_json::Value>,
}

impl Activity {
    fn key(&self) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else {
            format!("{}{}", self.id, self.create_time)
        }
    }

    /// A readable line, or `None` for what is not worth a line (the user's own messages).
    pub fn line(&self) -> Option<String> {
        let s = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").trim().to_string();
        if let Some(p) = &self.progress_updated {
            let (t, d) = (s(p, "title"), s(p, "description"));
            return Some(match (t.is_empty(), d.is_empty()) {
                (false, false) => format!("{t}: {d}"),
                (false, true) => t,
                (true, false) => d,
                (true, true) => self.description.clone(),
            })
            .filter(|l| !l.is_empty());
        }
        if let Some(p) = &self.plan_generated {
            let steps = plan_steps(p);
            return Some(format!("Jules has a plan of {} step{}", steps.len(), if steps.len() == 1 { "" } else { "s" }));
        }
        if self.plan_approved.is_some() {
            return Some("plan approved".into());
        }
        if let Some(m) = &self.agent_messaged {
            let text = s(m, "agentMessage");
            return (!text.is_empty()).then(|| format!("Jules says: {text}"));
        }
        if self.session_completed.is_some() {
            return Some("session completed".into());
        }
        if let Some(f) = &self.session_failed {
            let r = s(f, "reason");
            return Some(if r.is_empty() { "session failed".into() } else { format!("session failed: {r}") });
        }
        None
    }
}

fn plan_steps(plan_generated: &serde_json::Value) -> Vec<String> {
    plan_generated
        .get("plan")
        .and_then(|p| p.get("steps"))
        .and_then(|s| s.as_array())
        .map(|steps| {
            steps.iter().filter_map(|st| st.get("title").and_then(|t| t.as_str()).map(str::to_string)).collect()
        })
        .unwrap_or_default()
}

/// The session's state → capcom's view. `activities` (oldest first) supply the
/// question, the plan or the failure reason.
pub fn map_state(session: &Session, activities: &[Activity]) -> RemoteState {
    let pr = session
        .outputs
        .iter()
        .filter_map(|o| o.pull_request.as_ref())
        .find(|p| !p.url.is_empty())
        .and_then(|p| PrLink::from_url(&p.url).or(Some(PrLink { number: 0, url: p.url.clone() })))
        .filter(|p| p.number > 0);
    match session.state.as_str() {
        "QUEUED" | "PLANNING" | "IN_PROGRESS" => RemoteState::Working { detail: session.state.clone() },
        "AWAITING_PLAN_APPROVAL" => {
            let steps = activities.iter().rev().find_map(|a| a.plan_generated.as_ref()).map(plan_steps).unwrap_or_default();
            let question = if steps.is_empty() {
                "Jules has a plan ready and waits for your approval. Say \"approve the plan\" to go on.".to_string()
            } else {
                format!(
                    "Jules plans to: {}. Say \"approve the plan\" to go on.",
                    steps.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
                )
            };
            RemoteState::NeedsAttention { question }
        }
        "AWAITING_USER_FEEDBACK" => {
            let asked = activities
                .iter()
                .rev()
                .find_map(|a| a.agent_messaged.as_ref())
                .and_then(|m| m.get("agentMessage").and_then(|x| x.as_str()))
                .map(str::trim)
                .filter(|s| !s.is_empty());
            RemoteState::NeedsAttention {
                question: match asked {
                    Some(q) => format!("Jules asks: {q}"),
                    None => "Jules is waiting for your answer.".into(),
                },
            }
        }
        "PAUSED" => RemoteState::NeedsAttention { question: "Jules paused the session.".into() },
        "COMPLETED" => {
            let summary = match &pr {
                Some(p) => format!("Jules finished \"{}\" and opened pull request {}", session.title, p.number),
                None => format!("Jules finished \"{}\"", session.title),
            };
            RemoteState::Done { summary, pr }
        }
        "FAILED" => {
            let reason = activities
                .iter()
                .rev()
                .find_map(|a| a.session_failed.as_ref())
                .and_then(|f| f.get("reason").and_then(|r| r.as_str()))
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| format!("Jules failed: {r}"))
                .unwrap_or_else(|| "Jules reports the session failed".into());
            RemoteState::Failed { reason }
        }
        other => RemoteState::Working { detail: if other.is_empty() { "unknown".into() } else { other.to_string() } },
    }
}

pub struct Jules {
    t: Transport,
    require_plan_approval: bool,
    /// Source names by "owner/repo" (lowercase), once listed.
    sources: tokio::sync::Mutex<Option<std::collections::HashMap<String, String>>>,
    /// Per session: how it looked when the last follow-up was sent.
    baselines: std::sync::Mutex<std::collections::HashMap<String, Baseline>>,
    /// Per session: the task's worktree, where a change set is applied.
    workdirs: std::sync::Mutex<std::collections::HashMap<String, std::path::PathBuf>>,
}

impl Jules {
    pub fn new(api_url: &str, token: Option<Secret>, token_env: &str, policy: RetryPolicy) -> Result<Jules, HttpError> {
        let base = if api_url.trim().is_empty() { DEFAULT_API } else { api_url };
        let t = Transport::new("Jules", base, Auth::Header("x-goog-api-key"), token, token_env, policy)?
            .forbidden_means_unauthorized();
        Ok(Jules {
            t,
            require_plan_approval: false,
            sources: tokio::sync::Mutex::new(None),
            baselines: std::sync::Mutex::new(std::collections::HashMap::new()),
            workdirs: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// From `[agents.NAME]`: `api_url` (default the public API) and `token_env` (default JULES_API_KEY).
    pub fn from_config(agent: &crate::config::Agent) -> Result<Jules, HttpError> {
        let env = if agent.token_env.is_empty() { DEFAULT_TOKEN_ENV } else { agent.token_env.as_str() };
        Jules::new(&agent.api_url, token_from_env(env), env, RetryPolicy::default())
    }

    /// Ask for plan approval before Jules works (`requirePlanApproval`).
    pub fn with_plan_approval(mut self, yes: bool) -> Jules {
        self.require_plan_approval = yes;
        self
    }

    pub fn transport(&self) -> &Transport {
        &self.t
    }

    /// Every connected source, across `nextPageToken` pages (`GET /sources`).
    pub async fn list_sources(&self) -> Result<Vec<Source>, RemoteError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Page {
            sources: Vec<Source>,
            next_page_token: String,
        }
        self.no_token()?;
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..50 {
            let mut path = "/sources?pageSize=100".to_string();
            if !token.is_empty() {
                path.push_str(&format!("&pageToken={}", segment(&token)));
            }
            let page: Page = self.t.get_json(&path).await?;
            out.extend(page.sources);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        Ok(out)
    }

    /// The source name Jules uses for `repo`, from `GET /sources` (listed once; listed
    /// again when the repo is not there, in case it was connected since).
    pub async fn source_for(&self, repo: &RepoSlug) -> Result<String, RemoteError> {
        let key = format!("{}/{}", repo.owner, repo.name).to_ascii_lowercase();
        let mut cache = self.sources.lock().await;
        if let Some(name) = cache.as_ref().and_then(|m| m.get(&key)) {
            return Ok(name.clone());
        }
        let map: std::collections::HashMap<String, String> = self
            .list_sources()
            .await?
            .into_iter()
            .filter_map(|s| {
                let g = s.github_repo?;
                Some((format!("{}/{}", g.owner, g.repo).to_ascii_lowercase(), s.name))
            })
            .filter(|(_, name)| !name.is_empty())
            .collect();
        let found = map.get(&key).cloned();
        *cache = Some(map);
        found.ok_or_else(|| {
            RemoteError::Config(format!(
                "connect {}/{} to Jules first (install the Jules GitHub app for it at jules.google.com)",
                repo.owner, repo.name
            ))
        })
    }

    fn no_token(&self) -> Result<(), RemoteError> {
        if self.t.has_token() { Ok(()) } else { Err(self.t.unauthorized().into()) }
    }

    /// `POST /sessions`
    pub async fn create_session(
        &self,
        repo: &RepoSlug,
        starting_branch: &str,
        title: &str,
        prompt: &str,
    ) -> Result<Session, RemoteError> {
        self.no_token()?;
        let source = self.source_for(repo).await?;
        let body = json!({
            "prompt": prompt,
            "title": title,
            "sourceContext": {
                "source": source,
                "githubRepoContext": { "startingBranch": starting_branch }
            },
            "automationMode": "AUTO_CREATE_PR",
            "requirePlanApproval": self.require_plan_approval,
        });
        let reply = self.t.send_json(Method::POST, "/sessions", &body).await?;
        let s: Session = reply.json("Jules", "/sessions")?;
        if session_id(&s).is_empty() {
            return Err(HttpError::Malformed {
                service: "Jules".into(),
                path: "/sessions".into(),
                detail: "the new session has no id".into(),
            }
            .into());
        }
        Ok(s)
    }

    /// `GET /sessions/{id}` (conditional).
    pub async fn session(&self, id: &str) -> Result<Session, RemoteError> {
        self.no_token()?;
        Ok(self.t.get_json(&format!("/sessions/{}", segment(id))).await?)
    }

    /// Every activity of a session, oldest first, across `nextPageToken` pages.
    pub async fn activities(&self, id: &str) -> Result<Vec<Activity>, RemoteError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Page {
            activities: Vec<Activity>,
            next_page_token: String,
        }
        self.no_token()?;
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..50 {
            let mut path = format!("/sessions/{}/activities?pageSize=100", segment(id));
            if !token.is_empty() {
                path.push_str(&format!("&pageToken={}", segment(&token)));
            }
            let page: Page = self.t.get_json(&path).await?;
            out.extend(page.activities);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        Ok(out)
    }

    /// `POST /sessions/{id}:approvePlan`
    pub async fn approve_plan(&self, id: &str) -> Result<(), RemoteError> {
        self.no_token()?;
        self.t.send_json(Method::POST, &format!("/sessions/{}:approvePlan", segment(id)), &json!({})).await?;
        Ok(())
    }

    /// `POST /sessions/{id}:sendMessage {prompt}`
    pub async fn send_message(&self, id: &str, text: &str) -> Result<(), RemoteError> {
        self.no_token()?;
        self.t.send_json(Method::POST, &format!("/sessions/{}:sendMessage", segment(id)), &json!({ "prompt": text })).await?;
        Ok(())
    }

    /// One cheap authenticated call for `capcom doctor`: `GET /sessions?pageSize=1`.
    pub async fn ping(&self) -> Result<(), RemoteError> {
        self.no_token()?;
        self.t.get("/sessions?pageSize=1").await?;
        Ok(())
    }
}

impl Jules {
    /// A session done with a change set and no PR: its patch goes into the task's worktree.
    async fn apply_change_set(&self, id: &str, summary: &str, patch: &GitPatch) -> RemoteState {
        let Some(dir) = self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned() else {
            return RemoteState::Failed { reason: format!("{summary} with a patch, but capcom does not know the task's worktree to apply it to") };
        };
        let (text, base) = (patch.unidiff_patch.clone(), patch.base_commit_id.clone());
        let applied = tokio::task::spawn_blocking(move || {
            super::remote::apply_patch(&crate::git::GitCli, &dir, &text, Some(base.as_str()).filter(|b| !b.is_empty()))
        })
        .await;
        match applied {
            Ok(Ok(_)) => RemoteState::Done { summary: format!("{summary}; its patch was applied to the task's worktree"), pr: None },
            Ok(Err(e)) => RemoteState::NeedsAttention {
                question: format!("Jules finished, but its patch does not apply to the task's branch: {e}. Say what Jules should do, or retry the task."),
            },
            Err(e) => RemoteState::Failed { reason: format!("applying Jules' patch failed: {e}") },
        }
    }

    /// Whether this look still shows the state the session was in before the last
    /// follow-up: the same terminal state, no newer update time, no newer activity.
    fn stale(&self, id: &str, session: &Session, activities: &[Activity]) -> bool {
        let mut map = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = map.get_mut(id) else { return false };
        if b.left {
            return false;
        }
        let newer_update = !session.update_time.is_empty() && session.update_time > b.update_time;
        let newer_activity = newest_activity(activities).is_some_and(|t| t > b.last_activity);
        if session.state != b.state || newer_update || newer_activity {
            b.left = true;
            return false;
        }
        true
    }
}

/// The newest `createTime` among activities.
fn newest_activity(activities: &[Activity]) -> Option<String> {
    activities.iter().map(|a| a.create_time.clone()).filter(|t| !t.is_empty()).max()
}

fn session_id(s: &Session) -> String {
    if !s.id.is_empty() {
        s.id.clone()
    } else {
        s.name.strip_prefix("sessions/").unwrap_or("").to_string()
    }
}

#[async_trait]
impl RemoteAgent for Jules {
    fn vendor(&self) -> &str {
        "Jules"
    }

    async fn launch(&self, req: &StartRequest) -> Result<Handle, RemoteError> {
        let slug = req
            .github
            .as_deref()
            .and_then(RepoSlug::parse)
            .ok_or_else(|| RemoteError::Config("Jules works on GitHub repos: set `github = \"owner/name\"` on the repo".into()))?;
        let base = if req.base.is_empty() { "main" } else { req.base.as_str() };
        let s = self.create_session(&slug, base, &req.title, &task_text(req)).await?;
        Ok(Handle { id: session_id(&s), url: (!s.url.is_empty()).then(|| s.url.clone()) })
    }

    async fn look(&self, id: &str, cursor: &mut Cursor) -> Result<Look, RemoteError> {
        let session = self.session(id).await?;
        let activities = self.activities(id).await?;
        let progress = activities.iter().filter(|a| cursor.first(&a.key())).filter_map(Activity::line).collect();
        if self.stale(id, &session, &activities) {
            let detail = format!("{} (Jules has not taken up the follow-up yet)", session.state);
            return Ok(Look { state: RemoteState::Working { detail }, progress, pr: None });
        }
        let mut state = map_state(&session, &activities);
        if let RemoteState::Done { summary, pr: None } = &state
            && let Some(patch) = session.patch()
        {
            state = self.apply_change_set(id, summary, patch).await;
        }
        let pr = match &state {
            RemoteState::Done { pr, .. } => pr.clone(),
            _ => None,
        };
        Ok(Look { state, progress, pr })
    }

    fn attach_workdir(&self, id: &str, workdir: &std::path::Path) {
        self.workdirs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), workdir.to_path_buf());
    }

    async fn follow_up(&self, id: &str, text: &str) -> Result<String, RemoteError> {
        let s = self.session(id).await?;
        if s.state == "AWAITING_PLAN_APPROVAL" && is_plan_approval(text) {
            self.approve_plan(id).await?;
        } else {
            // The session may read as it was for a while: remember how that was.
            if is_terminal(&s.state) {
                let last_activity = self.activities(id).await.ok().and_then(|a| newest_activity(&a)).unwrap_or_default();
                let b = Baseline { state: s.state.clone(), update_time: s.update_time.clone(), last_activity, left: false };
                self.baselines.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), b);
            }
            self.send_message(id, text).await?;
        }
        Ok(id.to_string())
    }

    async fn stop(&self, id: &str) -> Result<(), RemoteError> {
        self.no_token()?;
        match self.t.send(Method::DELETE, &format!("/sessions/{}", segment(id)), None).await {
            Ok(_) | Err(HttpError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// "approve the plan", "approve it", "go ahead with the plan" → `:approvePlan`.
pub fn is_plan_approval(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    let t = t.trim_end_matches(['.', '!']);
    t.contains("approve") || t == "go ahead" || t == "looks good" || t == "lgtm" || t == "yes"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(state: &str, pr: Option<&str>) -> Session {
        Session {
            name: "sessions/42".into(),
            id: "42".into(),
            title: "Bump Tailwind".into(),
            state: state.into(),
            url: String::new(),
            outputs: pr
                .map(|u| vec![SessionOutput { pull_request: Some(PullRequestOutput { url: u.into(), ..Default::default() }), change_set: None }])
                .unwrap_or_default(),
            ..Session::default()
        }
    }

    #[test]
    fn every_state_maps() {
        for s in ["QUEUED", "PLANNING", "IN_PROGRESS", "STATE_UNSPECIFIED", "SOMETHING_NEW"] {
            assert!(matches!(map_state(&session(s, None), &[]), RemoteState::Working { .. }), "{s}");
        }
        for s in ["AWAITING_PLAN_APPROVAL", "AWAITING_USER_FEEDBACK", "PAUSED"] {
            assert!(matches!(map_state(&session(s, None), &[]), RemoteState::NeedsAttention { .. }), "{s}");
        }
        match map_state(&session("COMPLETED", Some("https://github.com/o/r/pull/12")), &[]) {
            RemoteState::Done { pr: Some(p), summary } => {
                assert_eq!(p.number, 12);
                assert!(summary.contains("pull request 12"), "{summary}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(map_state(&session("COMPLETED", None), &[]), RemoteState::Done { pr: None, .. }));
        assert!(matches!(map_state(&session("FAILED", None), &[]), RemoteState::Failed { .. }));
    }

    #[test]
    fn the_question_and_the_plan_are_spoken() {
        let ask = Activity {
            name: "a1".into(),
            agent_messaged: Some(json!({"agentMessage": "Should I also update the lockfile?"})),
            ..Default::default()
        };
        match map_state(&session("AWAITING_USER_FEEDBACK", None), &[ask]) {
            RemoteState::NeedsAttention { question } => assert_eq!(question, "Jules asks: Should I also update the lockfile?"),
            other => panic!("{other:?}"),
        }
        let plan = Activity {
            name: "a2".into(),
            plan_generated: Some(json!({"plan": {"id": "p", "steps": [{"id": "1", "title": "Bump tailwindcss", "index": 0}, {"id": "2", "title": "Fix the button classes", "index": 1}]}})),
            ..Default::default()
        };
        match map_state(&session("AWAITING_PLAN_APPROVAL", None), &[plan]) {
            RemoteState::NeedsAttention { question } => {
                assert!(question.contains("Bump tailwindcss; Fix the button classes"), "{question}");
                assert!(question.contains("approve the plan"), "{question}");
            }
            other => panic!("{other:?}"),
        }
        let failed = Activity { name: "a3".into(), session_failed: Some(json!({"reason": "tests would not pass"})), ..Default::default() };
        assert_eq!(
            map_state(&session("FAILED", None), &[failed]),
            RemoteState::Failed { reason: "Jules failed: tests would not pass".into() }
        );
    }

    #[test]
    fn plan_approval_words() {
        assert!(is_plan_approval("Approve the plan."));
        assert!(is_plan_approval("go ahead"));
        assert!(!is_plan_approval("also fix the footer"));
    }
}
