//! The GitHub Copilot coding agent (`kind = "github-copilot"`).
//!
//! A task becomes an issue (title; body with scope and acceptance criteria)
//! assigned to `copilot-swe-agent[bot]`, with `agent_assignment` carrying the
//! base branch and custom instructions. Copilot works on a `copilot/*` branch
//! and links its PR from the issue's timeline (a `cross-referenced` event); that,
//! or an open `copilot/*` PR whose body names the issue, is how capcom finds it.
//! Copilot's sessions leave `copilot_work_started`, `copilot_work_finished` and
//! `copilot_work_finished_failure` events on the PR's timeline (the REST timeline,
//! as public integrations of the coding agent read it): the latest of them says
//! whether it works, is done, or failed (failed at once, with its reason). A review
//! request from Copilot (`review_requested`) also counts as done.
//! A follow-up is a PR comment mentioning `@copilot`; after one, only events newer
//! than the comment count, so the run waits for the next finished event.
//! Cancelling unassigns Copilot and closes the issue; that may not stop a session
//! already running (GitHub documents "Stop session" in its UI for that), so capcom
//! says so rather than claim more.
//!
//! The run id is `OWNER/NAME#ISSUE`, plus `@TIME` after a follow-up.

use super::backend::StartRequest;
use super::remote::{Cursor, Handle, Look, PrLink, RemoteAgent, RemoteError, RemoteState, task_text};
use crate::github::{AgentAssignment, COPILOT_ASSIGNEE, GitHub, HttpError, PullRequest, RepoSlug, TimelineEvent};
use async_trait::async_trait;
use std::sync::Arc;

/// Logins the Copilot coding agent acts under (`Copilot`, `copilot-swe-agent[bot]`).
pub fn is_copilot(login: &str) -> bool {
    let l = login.to_ascii_lowercase();
    l == "copilot" || l.starts_with("copilot-swe-agent") || l == "copilot[bot]"
}

/// What a cancel did, and no more: GitHub documents "Stop session" in its UI as the way
/// to stop a running session; unassigning and closing may leave it running.
pub const STOPPED: &str = "Copilot was unassigned and the issue closed; it may still push to its branch";

pub struct Copilot {
    gh: Arc<GitHub>,
    custom_instructions: Option<String>,
    /// `[github] copilot_start_grace`.
    start_grace: std::time::Duration,
    /// Per issue: when capcom first saw it waiting for Copilot (this process's clock).
    waiting_since: std::sync::Mutex<std::collections::HashMap<u64, std::time::Instant>>,
}

/// A Copilot run: the repo, the issue, and the time of the last follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct RunId {
    pub repo: RepoSlug,
    pub issue: u64,
    pub since: Option<String>,
}

impl RunId {
    pub fn parse(id: &str) -> Result<RunId, RemoteError> {
        let bad = || RemoteError::Config(format!("`{id}` is not a Copilot run id (OWNER/NAME#ISSUE)"));
        let (head, since) = match id.split_once('@') {
            Some((h, s)) => (h, Some(s.to_string())),
            None => (id, None),
        };
        let (repo, n) = head.rsplit_once('#').ok_or_else(bad)?;
        let repo = RepoSlug::parse(repo).ok_or_else(bad)?;
        let issue = n.trim().parse::<u64>().map_err(|_| bad())?;
        Ok(RunId { repo, issue, since })
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.repo, self.issue)?;
        if let Some(s) = &self.since {
            write!(f, "@{s}")?;
        }
        Ok(())
    }
}

impl Copilot {
    pub fn new(gh: Arc<GitHub>) -> Copilot {
        Copilot {
            gh,
            custom_instructions: None,
            start_grace: std::time::Duration::from_secs(300),
            waiting_since: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `[github] copilot_start_grace`: how long Copilot may take to start on an assigned issue.
    pub fn with_start_grace(mut self, grace: std::time::Duration) -> Copilot {
        self.start_grace = grace;
        self
    }

    /// Instructions passed in `agent_assignment.custom_instructions`.
    pub fn with_instructions(mut self, text: &str) -> Copilot {
        self.custom_instructions = Some(text.to_string()).filter(|t| !t.trim().is_empty());
        self
    }

    /// Open the issue and hand it to Copilot. Returns the issue number and URL.
    pub async fn assign_task(&self, repo: &RepoSlug, title: &str, body: &str, base: &str) -> Result<(u64, String), HttpError> {
        let issue = self.gh.create_issue(repo, title, body).await?;
        let assignment = AgentAssignment {
            target_repo: None,
            base_branch: Some(base.to_string()).filter(|b| !b.is_empty()),
            custom_instructions: self.custom_instructions.clone(),
        };
        let assigned = self.gh.assign(repo, issue.number, &[COPILOT_ASSIGNEE], Some(&assignment)).await?;
        // GitHub ignores an assignee it cannot assign, silently (no 422): read it back.
        if !assigned.assignees.iter().any(|a| is_copilot(&a.login)) {
            let again = self.gh.issue(repo, issue.number).await?;
            if !again.assignees.iter().any(|a| is_copilot(&a.login)) {
                return Err(HttpError::Invalid {
                    service: "GitHub".into(),
                    detail: format!(
                        "Copilot coding agent is not enabled for {repo}, or your plan lacks it: GitHub did not assign issue #{} to Copilot",
                        issue.number
                    ),
                });
            }
        }
        Ok((issue.number, issue.html_url))
    }

    /// Copilot's PR for an issue: from the timeline's cross-reference, else an open
    /// `copilot/*` PR whose body names the issue.
    pub async fn find_pr(&self, repo: &RepoSlug, issue: u64) -> Result<Option<PullRequest>, HttpError> {
        let timeline = self.gh.timeline(repo, issue).await?;
        if let Some(n) = pr_from_timeline(&timeline) {
            return Ok(Some(self.gh.pull(repo, n).await?));
        }
        let mention = format!("#{issue}");
        let prs = self.gh.pulls_with_head_prefix(repo, "copilot/").await?;
        Ok(prs.into_iter().find(|p| {
            let body = p.body.as_deref().unwrap_or("");
            body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#')).any(|w| w == mention)
        }))
    }
}

/// The PR a Copilot cross-reference on an issue's timeline points at.
pub fn pr_from_timeline(events: &[TimelineEvent]) -> Option<u64> {
    events.iter().filter(|e| e.event == "cross-referenced").find_map(|e| {
        let src = e.source.as_ref()?.issue.as_ref()?;
        src.pull_request.as_ref()?;
        let by_copilot = e.actor.as_ref().is_some_and(|a| is_copilot(&a.login))
            || src.user.as_ref().is_some_and(|u| is_copilot(&u.login));
        by_copilot.then_some(src.number)
    })
}

/// Where Copilot's latest session stands, from its timeline events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    Working,
    Finished,
    Failed,
}

/// The latest `copilot_work_*` event after `since` (a follow-up), as a [`Session`].
pub fn copilot_session(events: &[TimelineEvent], since: Option<&str>) -> Option<Session> {
    let after = |e: &&TimelineEvent| match (since, e.created_at.as_deref()) {
        (Some(s), Some(at)) => at > s,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let kind = |e: &TimelineEvent| match e.event.as_str() {
        "copilot_work_started" => Some(Session::Working),
        "copilot_work_finished" => Some(Session::Finished),
        "copilot_work_finished_failure" => Some(Session::Failed),
        _ => None,
    };
    // The timeline is oldest first; equal times keep their order.
    let mut last: Option<(&str, usize, Session)> = None;
    for (i, e) in events.iter().enumerate().filter(|(_, e)| after(e)) {
        if let Some(k) = kind(e) {
            let at = e.created_at.as_deref().unwrap_or("");
            if last.as_ref().is_none_or(|(t, j, _)| (at, i) >= (*t, *j)) {
                last = Some((at, i, k));
            }
        }
    }
    last.map(|(_, _, k)| k)
}

/// Copilot asked for a review (after `since`, when a follow-up was sent).
pub fn review_requested(events: &[TimelineEvent], since: Option<&str>) -> bool {
    events.iter().any(|e| {
        e.event == "review_requested"
            && e.review_requester.as_ref().is_none_or(|r| is_copilot(&r.login))
            && match (since, e.created_at.as_deref()) {
                (Some(s), Some(at)) => at > s,
                (Some(_), None) => false,
                (None, _) => true,
            }
    })
}

#[async_trait]
impl RemoteAgent for Copilot {
    fn vendor(&self) -> &str {
        "Copilot"
    }

    async fn launch(&self, req: &StartRequest) -> Result<Handle, RemoteError> {
        let repo = req.github.as_deref().and_then(RepoSlug::parse).ok_or_else(|| {
            RemoteError::Config("the Copilot coding agent works on GitHub repos: set `github = \"owner/name\"` on the repo".into())
        })?;
        let (issue, url) = self.assign_task(&repo, &req.title, &task_text(req), &req.base).await?;
        Ok(Handle { id: RunId { repo, issue, since: None }.to_string(), url: Some(url) })
    }

    async fn look(&self, id: &str, cursor: &mut Cursor) -> Result<Look, RemoteError> {
        let RunId { repo, issue: issue_n, since } = RunId::parse(id)?;
        let Some(pr) = self.find_pr(&repo, issue_n).await? else {
            let issue = self.gh.issue(&repo, issue_n).await?;
            if issue.state == "closed" {
                return Ok(Look::state(RemoteState::Failed {
                    reason: format!("issue #{issue_n} was closed before Copilot opened a pull request"),
                }));
            }
            if !issue.assignees.iter().any(|a| is_copilot(&a.login)) {
                return Ok(Look::state(RemoteState::Failed {
                    reason: format!("Copilot is no longer assigned to issue #{issue_n}"),
                }));
            }
            // Assigned, but no session and no PR yet: wait `copilot_start_grace`, then say so.
            let since = *self.waiting_since.lock().unwrap_or_else(|p| p.into_inner()).entry(issue_n).or_insert_with(std::time::Instant::now);
            if since.elapsed() >= self.start_grace {
                return Ok(Look::state(RemoteState::NeedsAttention {
                    question: format!(
                        "Copilot has not started on issue #{issue_n} within {}: the Copilot coding agent may not be enabled for {repo}, or your plan lacks it",
                        crate::config::Dur(self.start_grace)
                    ),
                }));
            }
            return Ok(Look::state(RemoteState::Working { detail: format!("working on issue #{issue_n}") }));
        };
        self.waiting_since.lock().unwrap_or_else(|p| p.into_inner()).remove(&issue_n);
        let link = PrLink { number: pr.number, url: pr.html_url.clone() };
        let timeline = self.gh.timeline(&repo, pr.number).await?;
        let progress: Vec<String> = timeline
            .iter()
            .filter(|e| e.event == "committed")
            .filter_map(|e| {
                let key = format!("commit:{}", e.sha.as_deref().unwrap_or(""));
                let msg = e.message.as_deref()?.lines().next()?.trim().to_string();
                (cursor.first(&key) && !msg.is_empty()).then(|| format!("Copilot committed: {msg}"))
            })
            .collect();
        let state = if pr.merged {
            RemoteState::Done { summary: format!("pull request {} was merged", pr.number), pr: Some(link.clone()) }
        } else if pr.state == "closed" {
            RemoteState::Failed { reason: format!("Copilot's pull request {} was closed without merging", pr.number) }
        } else if let Some(session) = copilot_session(&timeline, since.as_deref()) {
            match session {
                Session::Finished => RemoteState::Done {
                    summary: format!("Copilot finished \"{}\" on pull request {}", pr.title, pr.number),
                    pr: Some(link.clone()),
                },
                Session::Failed => RemoteState::Failed {
                    reason: format!(
                        "Copilot's session on pull request {} ended in failure (copilot_work_finished_failure); see the PR on GitHub",
                        pr.number
                    ),
                },
                Session::Working => RemoteState::Working { detail: format!("working on pull request {}", pr.number) },
            }
        } else if review_requested(&timeline, since.as_deref()) {
            RemoteState::Done {
                summary: format!("Copilot finished \"{}\" and asked for your review on pull request {}", pr.title, pr.number),
                pr: Some(link.clone()),
            }
        } else {
            RemoteState::Working { detail: format!("working on pull request {}", pr.number) }
        };
        Ok(Look { state, progress, pr: Some(link) })
    }

    async fn follow_up(&self, id: &str, text: &str) -> Result<String, RemoteError> {
        let run = RunId::parse(id)?;
        let pr = self.find_pr(&run.repo, run.issue).await?.ok_or_else(|| {
            RemoteError::Config(format!("Copilot has not opened a pull request for issue #{} yet", run.issue))
        })?;
        let body = format!("@copilot {}", text.trim());
        let c = self.gh.comment(&run.repo, pr.number, &body).await?;
        let at = c.created_at.unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        Ok(RunId { since: Some(at), ..run }.to_string())
    }

    fn stopped_words(&self, _id: &str) -> String {
        STOPPED.to_string()
    }

    fn session_of(&self, id: &str) -> String {
        RunId::parse(id).map(|r| RunId { since: None, ..r }.to_string()).unwrap_or_else(|_| id.to_string())
    }

    async fn stop(&self, id: &str) -> Result<(), RemoteError> {
        let RunId { repo, issue: issue_n, .. } = RunId::parse(id)?;
        let issue = match self.gh.issue(&repo, issue_n).await {
            Ok(i) => i,
            Err(HttpError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if issue.assignees.iter().any(|a| is_copilot(&a.login)) {
            self.gh.unassign(&repo, issue_n, &[COPILOT_ASSIGNEE]).await?;
        }
        if issue.state != "closed" {
            self.gh.close_issue(&repo, issue_n).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(v: serde_json::Value) -> Vec<TimelineEvent> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_pr_comes_from_copilots_cross_reference() {
        let t = events(json!([
            {"event": "assigned", "actor": {"login": "octocat"}},
            {"event": "cross-referenced", "actor": {"login": "someone"},
             "source": {"type": "issue", "issue": {"number": 3, "user": {"login": "someone"}, "pull_request": {"url": "x"}}}},
            {"event": "cross-referenced", "actor": {"login": "Copilot", "type": "Bot"},
             "source": {"type": "issue", "issue": {"number": 12, "user": {"login": "Copilot"}, "pull_request": {"url": "y"}}}}
        ]));
        assert_eq!(pr_from_timeline(&t), Some(12));
        let only_issue = events(json!([
            {"event": "cross-referenced", "actor": {"login": "Copilot"},
             "source": {"type": "issue", "issue": {"number": 5, "user": {"login": "Copilot"}}}}
        ]));
        assert_eq!(pr_from_timeline(&only_issue), None);
    }

    #[test]
    fn the_latest_session_event_after_the_follow_up_decides() {
        let t = events(json!([
            {"event": "copilot_work_started", "created_at": "2026-11-21T10:00:00Z", "actor": {"login": "Copilot"}},
            {"event": "committed", "sha": "a1", "message": "WIP"},
            {"event": "copilot_work_finished", "created_at": "2026-11-21T10:20:00Z", "actor": {"login": "Copilot"}},
            {"event": "commented", "created_at": "2026-11-21T10:30:00Z", "body": "@copilot also the README"},
            {"event": "copilot_work_started", "created_at": "2026-11-21T10:31:00Z", "actor": {"login": "Copilot"}},
        ]));
        let cases: Vec<(&[TimelineEvent], Option<&str>, Option<Session>)> = vec![
            (&t[..3], None, Some(Session::Finished)),
            (&t[..1], None, Some(Session::Working)),
            (&t, None, Some(Session::Working)),
            // After a follow-up, the earlier finish is not this run's.
            (&t[..4], Some("2026-11-21T10:30:00Z"), None),
            (&t, Some("2026-11-21T10:30:00Z"), Some(Session::Working)),
            (&[], None, None),
        ];
        for (evs, since, want) in cases {
            assert_eq!(copilot_session(evs, since), want, "{since:?} over {} events", evs.len());
        }
        let failed = events(json!([
            {"event": "copilot_work_started", "created_at": "2026-11-21T10:00:00Z"},
            {"event": "copilot_work_finished_failure", "created_at": "2026-11-21T10:05:00Z"},
        ]));
        assert_eq!(copilot_session(&failed, None), Some(Session::Failed));
    }

    #[test]
    fn finished_means_a_review_request_after_the_last_follow_up() {
        let t = events(json!([
            {"event": "review_requested", "created_at": "2026-11-21T10:00:00Z",
             "review_requester": {"login": "Copilot"}, "requested_reviewer": {"login": "octocat"}}
        ]));
        assert!(review_requested(&t, None));
        assert!(review_requested(&t, Some("2026-11-21T09:00:00Z")));
        assert!(!review_requested(&t, Some("2026-11-21T11:00:00Z")));
        assert!(!review_requested(&events(json!([{"event": "labeled"}])), None));
        assert!(is_copilot("copilot-swe-agent[bot]") && is_copilot("Copilot") && !is_copilot("octocat"));
        let id = RunId::parse("octo/site#12@2026-11-21T10:00:00Z").unwrap();
        assert_eq!((id.repo.to_string(), id.issue, id.since.as_deref()), ("octo/site".into(), 12, Some("2026-11-21T10:00:00Z")));
        assert_eq!(id.to_string(), "octo/site#12@2026-11-21T10:00:00Z");
        for bad in ["abc", "12", "octo/site#x", "../x#1"] {
            assert!(RunId::parse(bad).is_err(), "{bad}");
        }
    }
}
