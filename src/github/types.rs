//! The parts of GitHub's REST JSON that capcom reads. Every struct tolerates
//! missing optional fields; a missing required one is a "malformed reply" error.

use serde::{Deserialize, Serialize};

/// `owner/name`: the type lives with the config that names it; GitHub's client re-exports it.
pub use crate::config::RepoSlug;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct User {
    pub login: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    /// The GraphQL node id (what `markPullRequestReadyForReview` takes).
    #[serde(default)]
    pub node_id: String,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub merged: bool,
    /// `null` while GitHub is still computing it.
    #[serde(default)]
    pub mergeable: Option<bool>,
    #[serde(default)]
    pub mergeable_state: Option<String>,
    pub head: GitRef,
    pub base: GitRef,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub requested_reviewers: Vec<User>,
}

/// `POST /repos/{o}/{r}/pulls`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewPull {
    pub title: String,
    pub head: String,
    pub base: String,
    pub body: String,
    pub draft: bool,
}

/// One Actions workflow run (`GET /repos/{o}/{r}/actions/runs?head_sha=…`, REST
/// "List workflow runs for a repository").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRun {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    /// requested | in_progress | completed | queued | pending | waiting | action_required | …
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub head_sha: String,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

impl WorkflowRun {
    /// Its name, or "workflow run ID".
    pub fn label(&self) -> String {
        self.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("workflow run {}", self.id))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    #[serde(default)]
    pub id: u64,
    pub name: String,
    /// queued | in_progress | completed | waiting | requested | pending
    pub status: String,
    /// success | failure | neutral | cancelled | skipped | timed_out | action_required | stale | startup_failure
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub details_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    /// error | failure | pending | success
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub target_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinedStatus {
    /// failure | pending | success (pending also when there are no statuses at all)
    pub state: String,
    #[serde(default)]
    pub sha: String,
    #[serde(default)]
    pub total_count: u64,
    #[serde(default)]
    pub statuses: Vec<CommitStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub assignees: Vec<User>,
    /// Present when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub body: Option<String>,
}

/// `agent_assignment` on `POST /issues/{n}/assignees` for the Copilot coding agent.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct AgentAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_repo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_instructions: Option<String>,
}

impl AgentAssignment {
    pub fn is_empty(&self) -> bool {
        self.target_repo.is_none() && self.base_branch.is_none() && self.custom_instructions.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossRefSource {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub issue: Option<Issue>,
}

/// One entry of `GET /repos/{o}/{r}/issues/{n}/timeline`. Events vary in shape;
/// only the fields capcom uses are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub actor: Option<User>,
    #[serde(default)]
    pub created_at: Option<String>,
    /// `cross-referenced`: the issue or PR that mentioned this one.
    #[serde(default)]
    pub source: Option<CrossRefSource>,
    /// `review_requested`: who was asked.
    #[serde(default)]
    pub requested_reviewer: Option<User>,
    #[serde(default)]
    pub review_requester: Option<User>,
    /// `commented`
    #[serde(default)]
    pub body: Option<String>,
    /// `committed`: the commit message and SHA.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub html_url: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeResult {
    #[serde(default)]
    pub sha: String,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_parse_and_refuse_path_tricks() {
        assert_eq!(RepoSlug::parse("octo/site").unwrap().path(), "/repos/octo/site");
        assert_eq!(RepoSlug::parse("https://github.com/octo/site.git").unwrap().to_string(), "octo/site");
        for bad in ["octo", "/site", "octo/", "octo/../x", "octo/si te", "a/b/c", "../x", "o/..", ""] {
            assert!(RepoSlug::parse(bad).is_none(), "{bad}");
        }
    }
}
