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

/// What a branch's rules ask of a pull request before it merges: the checks that must pass
/// on its head, whether merges go through a merge queue, how many approving reviews.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BranchRules {
    pub required_checks: Vec<String>,
    pub merge_queue: bool,
    pub approvals: u64,
}

impl BranchRules {
    /// Add the rules of `GET /repos/{o}/{r}/rules/branches/{b}` (REST "Get rules for a
    /// branch": an array of `{type, parameters}`; `required_status_checks` lists
    /// `parameters.required_status_checks[].context`, `merge_queue` has no list to read,
    /// `pull_request` has `parameters.required_approving_review_count`).
    pub fn add_rules(&mut self, rules: &serde_json::Value) {
        for rule in rules.as_array().map(Vec::as_slice).unwrap_or_default() {
            match rule["type"].as_str().unwrap_or_default() {
                "required_status_checks" => {
                    for c in rule["parameters"]["required_status_checks"].as_array().map(Vec::as_slice).unwrap_or_default() {
                        if let Some(name) = c["context"].as_str() {
                            self.require(name);
                        }
                    }
                }
                "merge_queue" => self.merge_queue = true,
                "pull_request" => {
                    self.approvals = self.approvals.max(rule["parameters"]["required_approving_review_count"].as_u64().unwrap_or(0));
                }
                _ => {}
            }
        }
    }

    /// Add classic branch protection as `GET /repos/{o}/{r}/branches/{b}` shows it to anyone
    /// who may read the repo: `protection.required_status_checks.contexts` (and `checks[].context`).
    pub fn add_protection(&mut self, branch: &serde_json::Value) {
        let checks = &branch["protection"]["required_status_checks"];
        for c in checks["contexts"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(name) = c.as_str() {
                self.require(name);
            }
        }
        for c in checks["checks"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(name) = c["context"].as_str() {
                self.require(name);
            }
        }
    }

    fn require(&mut self, name: &str) {
        if !name.trim().is_empty() && !self.required_checks.iter().any(|c| c == name) {
            self.required_checks.push(name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_rules_read_rulesets_and_classic_protection() {
        let rules = serde_json::json!([
            {"type": "deletion"},
            {"type": "required_status_checks", "ruleset_id": 42, "parameters": {
                "strict_required_status_checks_policy": true,
                "required_status_checks": [{"context": "ci/test", "integration_id": 15368}, {"context": "lint"}]}},
            {"type": "merge_queue", "parameters": {"merge_method": "SQUASH", "grouping_strategy": "ALLGREEN"}},
            {"type": "pull_request", "parameters": {"required_approving_review_count": 1}}
        ]);
        let mut r = BranchRules::default();
        r.add_rules(&rules);
        r.add_protection(&serde_json::json!({"name": "main", "protected": true, "protection": {"enabled": true,
            "required_status_checks": {"enforcement_level": "everyone", "contexts": ["lint", "build"], "checks": [{"context": "build", "app_id": null}]}}}));
        assert_eq!(r, BranchRules { required_checks: vec!["ci/test".into(), "lint".into(), "build".into()], merge_queue: true, approvals: 1 });
        let mut none = BranchRules::default();
        none.add_rules(&serde_json::json!([]));
        none.add_protection(&serde_json::json!({"name": "main", "protected": false}));
        assert_eq!(none, BranchRules::default());
    }

    #[test]
    fn slugs_parse_and_refuse_path_tricks() {
        assert_eq!(RepoSlug::parse("octo/site").unwrap().path(), "/repos/octo/site");
        assert_eq!(RepoSlug::parse("https://github.com/octo/site.git").unwrap().to_string(), "octo/site");
        for bad in ["octo", "/site", "octo/", "octo/../x", "octo/si te", "a/b/c", "../x", "o/..", ""] {
            assert!(RepoSlug::parse(bad).is_none(), "{bad}");
        }
    }
}
