//! GitHub as the place work is reviewed: pull requests, their checks on the
//! current head SHA, the merge API with its head-SHA guard, and the issues,
//! assignees, timeline and comments the Copilot coding agent works through.
//!
//! [`http`] is the transport the remote agent APIs share (ETag cache, rate
//! limits, retries, errors); [`checks`] turns check runs and statuses into a
//! verdict; [`types`] is the JSON capcom reads.

pub mod checks;
pub mod http;
pub mod types;

pub use checks::{CheckResult, FailedCheck, Verdict, finished, verdict, verdict_with_workflows};
pub use http::{HttpError, RetryPolicy, Secret, Stats};
pub use types::*;

use http::{Auth, Transport, segment};
use reqwest::Method;
use serde::Serialize;
use std::time::Duration;

/// The assignee that hands an issue to the Copilot coding agent.
pub const COPILOT_ASSIGNEE: &str = "copilot-swe-agent[bot]";

/// Why a merge through the API did not happen, in words fit to be spoken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeRefusal {
    /// No head SHA was confirmed: capcom never merges without one.
    #[error("I won't merge pull request {pr} without the head commit you confirmed")]
    NoConfirmedHead { pr: u64 },
    /// 409: the branch moved after the user confirmed.
    #[error("pull request {pr} changed since you confirmed it, so I didn't merge; ask me again to merge the new head")]
    HeadMoved { pr: u64, message: String },
    /// 405 because reviews are required.
    #[error("pull request {pr} needs an approving review before it can merge: {message}")]
    ReviewRequired { pr: u64, message: String },
    /// 405 because of branch protection or a ruleset (required checks and the like).
    #[error("branch protection blocks merging pull request {pr}: {message}")]
    Protected { pr: u64, message: String },
    /// 405 for any other reason (conflicts, draft, closed).
    #[error("pull request {pr} can't be merged: {message}")]
    NotMergeable { pr: u64, message: String },
    /// Anything else: auth, network, rate limit, ...
    #[error("the merge of pull request {pr} failed: {error}")]
    Failed { pr: u64, error: HttpError },
}

impl MergeRefusal {
    pub fn spoken(&self) -> String {
        self.to_string()
    }
}

/// Classify a 405's message from GitHub. Reviews and protection are reported, never worked around.
pub fn classify_405(pr: u64, message: &str) -> MergeRefusal {
    let m = message.to_ascii_lowercase();
    let message = message.to_string();
    if m.contains("review") {
        MergeRefusal::ReviewRequired { pr, message }
    } else if m.contains("protected branch")
        || m.contains("status check")
        || m.contains("rule")
        || m.contains("required")
        || m.contains("protection")
    {
        MergeRefusal::Protected { pr, message }
    } else {
        MergeRefusal::NotMergeable { pr, message }
    }
}

/// The state of a PR and the checks on its current head, in one read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrReport {
    pub number: u64,
    pub url: String,
    /// The base branch's name.
    #[serde(default)]
    pub base: String,
    pub head_sha: String,
    pub state: String,
    pub merged: bool,
    pub mergeable: Option<bool>,
    pub mergeable_state: Option<String>,
    /// A draft PR (Copilot's are) must be marked ready for review before it can merge.
    #[serde(default)]
    pub draft: bool,
    /// The PR's GraphQL node id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_id: String,
    pub verdict: Verdict,
    /// The checks that have reported on the head, by name.
    pub checks: Vec<CheckResult>,
    /// What the base branch's rules ask (required checks, merge queue), when read
    /// ([`GitHub::report_with_rules`]).
    #[serde(default)]
    pub rules: BranchRules,
}

impl PrReport {
    /// The required checks that have not passed on the head (not reported yet, or red).
    pub fn missing_required(&self) -> Vec<String> {
        self.rules
            .required_checks
            .iter()
            .filter(|name| !self.checks.iter().any(|c| &c.name == *name && c.ok))
            .cloned()
            .collect()
    }
}

/// A GitHub REST client.
#[derive(Debug)]
pub struct GitHub {
    t: Transport,
    merge_method: String,
}

impl GitHub {
    /// From `[github]`: the base URL, the token from `token_env`, the merge method.
    pub fn from_config(cfg: &crate::config::Github) -> Result<GitHub, HttpError> {
        let env = if cfg.token_env.is_empty() { "GITHUB_TOKEN" } else { cfg.token_env.as_str() };
        GitHub::new(&cfg.api_url, http::token_from_env(env), env, &cfg.merge_method, RetryPolicy::default())
    }

    pub fn new(
        api_url: &str,
        token: Option<Secret>,
        token_env: &str,
        merge_method: &str,
        policy: RetryPolicy,
    ) -> Result<GitHub, HttpError> {
        let t = Transport::new("GitHub", api_url, Auth::Bearer, token, token_env, policy)?
            .with_header("accept", "application/vnd.github+json")
            .with_header("x-github-api-version", "2022-11-28");
        let merge_method = match merge_method {
            "merge" | "squash" | "rebase" => merge_method.to_string(),
            _ => "merge".to_string(),
        };
        Ok(GitHub { t, merge_method })
    }

    pub fn transport(&self) -> &Transport {
        &self.t
    }

    /// Requests sent so far, and how many were answered 304 from the cache.
    pub fn stats(&self) -> Stats {
        self.t.stats()
    }

    /// The token's owner: one cheap authenticated call (`GET /user`), for `capcom doctor`.
    pub async fn whoami(&self) -> Result<User, HttpError> {
        if !self.t.has_token() {
            return Err(self.t.unauthorized());
        }
        self.t.get_json("/user").await
    }

    /// `POST /repos/{o}/{r}/pulls`
    pub async fn create_pull(&self, repo: &RepoSlug, pr: &NewPull) -> Result<PullRequest, HttpError> {
        let path = format!("{}/pulls", repo.path());
        let body = serde_json::to_value(pr).unwrap_or_default();
        self.t.send_json(Method::POST, &path, &body).await?.json(self.t.service(), &path)
    }

    /// `GET /repos/{o}/{r}/pulls/{n}` (conditional).
    pub async fn pull(&self, repo: &RepoSlug, number: u64) -> Result<PullRequest, HttpError> {
        self.t.get_json(&format!("{}/pulls/{number}", repo.path())).await
    }

    /// Read a PR until GitHub has computed `mergeable`, backing off 1 s, 2 s, 4 s …
    /// for at most `polls` reads. Returns the last read either way.
    pub async fn pull_settled(&self, repo: &RepoSlug, number: u64, polls: u32) -> Result<PullRequest, HttpError> {
        let mut wait = Duration::from_secs(1);
        let mut pr = self.pull(repo, number).await?;
        for _ in 1..polls.max(1) {
            if pr.mergeable.is_some() || pr.merged || pr.state == "closed" {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
            pr = self.pull(repo, number).await?;
        }
        Ok(pr)
    }

    /// Open PRs whose head branch starts with `prefix` (e.g. `copilot/`).
    pub async fn pulls_with_head_prefix(&self, repo: &RepoSlug, prefix: &str) -> Result<Vec<PullRequest>, HttpError> {
        let path = format!("{}/pulls?state=open&per_page=100", repo.path());
        let all: Vec<PullRequest> = self.t.get_pages(&path, 10, Some).await?;
        Ok(all.into_iter().filter(|p| p.head.name.starts_with(prefix)).collect())
    }

    /// The open PR whose head is `branch` in the repo itself, if there is one.
    pub async fn open_pull_for_branch(&self, repo: &RepoSlug, branch: &str) -> Result<Option<PullRequest>, HttpError> {
        let head = format!("{}:{branch}", repo.owner);
        let path = format!("{}/pulls?state=open&head={}&per_page=100", repo.path(), segment(&head));
        let all: Vec<PullRequest> = self.t.get_pages(&path, 2, Some).await?;
        Ok(all.into_iter().find(|p| p.head.name == branch))
    }

    /// Every check run on a SHA, across pages.
    pub async fn check_runs(&self, repo: &RepoSlug, sha: &str) -> Result<Vec<CheckRun>, HttpError> {
        let path = format!("{}/commits/{}/check-runs?per_page=100", repo.path(), segment(sha));
        self.t.get_pages(&path, 20, |mut page| page.get_mut("check_runs").map(serde_json::Value::take)).await
    }

    /// The legacy combined status of a SHA.
    pub async fn combined_status(&self, repo: &RepoSlug, sha: &str) -> Result<CombinedStatus, HttpError> {
        self.t.get_json(&format!("{}/commits/{}/status", repo.path(), segment(sha))).await
    }

    /// The Actions workflow runs of a SHA (`GET /repos/{o}/{r}/actions/runs?head_sha=…`).
    /// A token that may not read Actions (403 without rate-limit signs) or a repo
    /// without them (404) has none to report: the check runs still decide.
    pub async fn workflow_runs(&self, repo: &RepoSlug, sha: &str) -> Result<Vec<WorkflowRun>, HttpError> {
        let path = format!("{}/actions/runs?head_sha={}&per_page=100", repo.path(), segment(sha));
        match self.t.get_pages(&path, 5, |mut page| page.get_mut("workflow_runs").map(serde_json::Value::take)).await {
            Ok(runs) => Ok(runs),
            Err(HttpError::NotFound { .. }) | Err(HttpError::Status { status: 403, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Check runs, combined status and workflow runs of a SHA, as a verdict.
    pub async fn checks(&self, repo: &RepoSlug, sha: &str) -> Result<Verdict, HttpError> {
        let runs = self.check_runs(repo, sha).await?;
        let status = self.combined_status(repo, sha).await?;
        let workflows = self.workflow_runs(repo, sha).await?;
        Ok(verdict_with_workflows(&runs, Some(&status), &workflows))
    }

    /// One poll of a PR: its state and the checks on its current head SHA, Actions
    /// runs waiting for approval included.
    pub async fn report(&self, repo: &RepoSlug, number: u64) -> Result<PrReport, HttpError> {
        let pr = self.pull(repo, number).await?;
        let runs = self.check_runs(repo, &pr.head.sha).await?;
        let status = self.combined_status(repo, &pr.head.sha).await?;
        let workflows = self.workflow_runs(repo, &pr.head.sha).await?;
        let verdict = verdict_with_workflows(&runs, Some(&status), &workflows);
        let checks = finished(&runs, Some(&status));
        Ok(PrReport {
            number: pr.number,
            url: pr.html_url,
            base: pr.base.name,
            head_sha: pr.head.sha,
            state: pr.state,
            merged: pr.merged,
            mergeable: pr.mergeable,
            mergeable_state: pr.mergeable_state,
            draft: pr.draft,
            node_id: pr.node_id,
            verdict,
            checks,
            rules: BranchRules::default(),
        })
    }

    /// The rules of a branch: rulesets (`GET /repos/{o}/{r}/rules/branches/{b}`, readable
    /// with metadata access) and classic protection as the branch shows it
    /// (`GET /repos/{o}/{r}/branches/{b}`). A 403 or 404 on either has nothing to add.
    pub async fn branch_rules(&self, repo: &RepoSlug, branch: &str) -> Result<BranchRules, HttpError> {
        let mut rules = BranchRules::default();
        let quiet = |r: Result<serde_json::Value, HttpError>| match r {
            Ok(v) => Ok(Some(v)),
            Err(HttpError::NotFound { .. }) | Err(HttpError::Status { status: 403 | 404, .. }) => Ok(None),
            Err(e) => Err(e),
        };
        let b = segment(branch);
        if let Some(v) = quiet(self.t.get_json(&format!("{}/rules/branches/{b}?per_page=100", repo.path())).await)? {
            rules.add_rules(&v);
        }
        if let Some(v) = quiet(self.t.get_json(&format!("{}/branches/{b}", repo.path())).await)? {
            rules.add_protection(&v);
        }
        Ok(rules)
    }

    /// [`GitHub::report`] plus the rules of the PR's base branch.
    pub async fn report_with_rules(&self, repo: &RepoSlug, number: u64) -> Result<PrReport, HttpError> {
        let mut r = self.report(repo, number).await?;
        r.rules = self.branch_rules(repo, &r.base).await?;
        Ok(r)
    }

    /// `PUT /repos/{o}/{r}/pulls/{n}/update-branch` with the head it was read at: GitHub
    /// merges the base into a PR that is `behind`, and refuses (422) when the head moved.
    pub async fn update_branch(&self, repo: &RepoSlug, number: u64, expected_head: &str) -> Result<(), HttpError> {
        let path = format!("{}/pulls/{number}/update-branch", repo.path());
        self.t.send_json(Method::PUT, &path, &serde_json::json!({ "expected_head_sha": expected_head })).await?;
        Ok(())
    }

    /// The GraphQL endpoint beside the REST base (`https://HOST/api/graphql` for GitHub
    /// Enterprise's `…/api/v3`); a URL's `..` is resolved when it is parsed.
    fn graphql_path(&self) -> &'static str {
        if self.t.base().trim_end_matches('/').ends_with("/api/v3") { "/../graphql" } else { "/graphql" }
    }

    /// One GraphQL call; its `data`, or its `errors` as an error.
    async fn graphql(&self, query: &str, variables: serde_json::Value) -> Result<serde_json::Value, HttpError> {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let v: serde_json::Value = self.t.send_json(Method::POST, self.graphql_path(), &body).await?.json(self.t.service(), "/graphql")?;
        if let Some(errors) = v.get("errors").and_then(|e| e.as_array()).filter(|e| !e.is_empty()) {
            let msg: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
            return Err(HttpError::Status { service: self.t.service().into(), path: "/graphql".into(), status: 200, message: msg.join("; ") });
        }
        Ok(v["data"].clone())
    }

    /// Put a PR in its base branch's merge queue, bound to the head the user confirmed
    /// (GraphQL `enqueuePullRequest(input: {pullRequestId, expectedHeadOid})`; the REST
    /// merge is refused on a branch that requires a merge queue).
    pub async fn enqueue(&self, node_id: &str, expected_head: &str) -> Result<(), HttpError> {
        let q = "mutation($id: ID!, $head: GitObjectID) { enqueuePullRequest(input: {pullRequestId: $id, expectedHeadOid: $head}) { mergeQueueEntry { state } } }";
        let d = self.graphql(q, serde_json::json!({ "id": node_id, "head": expected_head })).await?;
        if d["enqueuePullRequest"]["mergeQueueEntry"].is_null() {
            return Err(HttpError::Malformed {
                service: self.t.service().into(),
                path: "/graphql".into(),
                detail: "enqueuePullRequest returned no merge queue entry".into(),
            });
        }
        Ok(())
    }

    /// Whether a PR is in its merge queue now (GraphQL `pullRequest.mergeQueueEntry`).
    pub async fn in_merge_queue(&self, repo: &RepoSlug, number: u64) -> Result<bool, HttpError> {
        let q = "query($owner: String!, $name: String!, $n: Int!) { repository(owner: $owner, name: $name) { pullRequest(number: $n) { mergeQueueEntry { state } } } }";
        let d = self.graphql(q, serde_json::json!({ "owner": repo.owner, "name": repo.name, "n": number })).await?;
        Ok(!d["repository"]["pullRequest"]["mergeQueueEntry"].is_null())
    }

    /// `PUT /pulls/{n}/merge` with the head SHA the user confirmed and the configured
    /// method. Call it only from the merge gate. 405 and 409 become [`MergeRefusal`]s.
    pub async fn merge(&self, repo: &RepoSlug, number: u64, confirmed_sha: &str) -> Result<MergeResult, MergeRefusal> {
        let sha = confirmed_sha.trim();
        if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MergeRefusal::NoConfirmedHead { pr: number });
        }
        let path = format!("{}/pulls/{number}/merge", repo.path());
        let body = serde_json::json!({ "sha": sha, "merge_method": self.merge_method });
        match self.t.send_json(Method::PUT, &path, &body).await {
            Ok(reply) => {
                let r: MergeResult =
                    reply.json(self.t.service(), &path).map_err(|error| MergeRefusal::Failed { pr: number, error })?;
                if r.merged {
                    Ok(r)
                } else {
                    Err(MergeRefusal::NotMergeable { pr: number, message: r.message })
                }
            }
            Err(HttpError::Status { status: 405, message, .. }) => Err(classify_405(number, &message)),
            Err(HttpError::Status { status: 409, message, .. }) => Err(MergeRefusal::HeadMoved { pr: number, message }),
            Err(error) => Err(MergeRefusal::Failed { pr: number, error }),
        }
    }

    /// Mark a draft PR ready for review. REST cannot; GraphQL's
    /// `markPullRequestReadyForReview` mutation does (github/docs, "Changing the stage of
    /// a pull request"; GraphQL reference, mutations). The endpoint is `/graphql` beside
    /// the REST base (`https://HOST/api/graphql` for GitHub Enterprise's `…/api/v3`).
    pub async fn mark_ready_for_review(&self, node_id: &str) -> Result<(), HttpError> {
        if node_id.trim().is_empty() {
            return Err(HttpError::Invalid { service: self.t.service().into(), detail: "the pull request has no node id".into() });
        }
        // On the same host as the REST base; a URL's `..` is resolved when it is parsed.
        let path = if self.t.base().trim_end_matches('/').ends_with("/api/v3") { "/../graphql" } else { "/graphql" };
        let q = "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }";
        let body = serde_json::json!({ "query": q, "variables": { "id": node_id } });
        let v: serde_json::Value = self.t.send_json(Method::POST, path, &body).await?.json(self.t.service(), "/graphql")?;
        if let Some(errors) = v.get("errors").and_then(|e| e.as_array()).filter(|e| !e.is_empty()) {
            let msg: Vec<&str> = errors.iter().filter_map(|e| e["message"].as_str()).collect();
            return Err(HttpError::Status {
                service: self.t.service().into(),
                path: "/graphql".into(),
                status: 200,
                message: msg.join("; "),
            });
        }
        match v["data"]["markPullRequestReadyForReview"]["pullRequest"]["isDraft"].as_bool() {
            Some(false) => Ok(()),
            _ => Err(HttpError::Malformed {
                service: self.t.service().into(),
                path: "/graphql".into(),
                detail: "markPullRequestReadyForReview did not say the PR left draft".into(),
            }),
        }
    }

    /// `POST /repos/{o}/{r}/issues`
    pub async fn create_issue(&self, repo: &RepoSlug, title: &str, body: &str) -> Result<Issue, HttpError> {
        let path = format!("{}/issues", repo.path());
        let v = serde_json::json!({ "title": title, "body": body });
        self.t.send_json(Method::POST, &path, &v).await?.json(self.t.service(), &path)
    }

    /// `POST /repos/{o}/{r}/issues/{n}/assignees`, with `agent_assignment` when it says anything.
    pub async fn assign(
        &self,
        repo: &RepoSlug,
        issue: u64,
        assignees: &[&str],
        agent: Option<&AgentAssignment>,
    ) -> Result<Issue, HttpError> {
        let path = format!("{}/issues/{issue}/assignees", repo.path());
        let mut v = serde_json::json!({ "assignees": assignees });
        if let Some(a) = agent.filter(|a| !a.is_empty()) {
            v["agent_assignment"] = serde_json::to_value(a).unwrap_or_default();
        }
        self.t.send_json(Method::POST, &path, &v).await?.json(self.t.service(), &path)
    }

    /// `GET /repos/{o}/{r}/issues/{n}` (conditional).
    pub async fn issue(&self, repo: &RepoSlug, number: u64) -> Result<Issue, HttpError> {
        self.t.get_json(&format!("{}/issues/{number}", repo.path())).await
    }

    /// Close an issue capcom opened (`state_reason: not_planned`).
    pub async fn close_issue(&self, repo: &RepoSlug, number: u64) -> Result<Issue, HttpError> {
        let path = format!("{}/issues/{number}", repo.path());
        let v = serde_json::json!({ "state": "closed", "state_reason": "not_planned" });
        self.t.send_json(Method::PATCH, &path, &v).await?.json(self.t.service(), &path)
    }

    /// `DELETE /repos/{o}/{r}/issues/{n}/assignees`
    pub async fn unassign(&self, repo: &RepoSlug, issue: u64, assignees: &[&str]) -> Result<(), HttpError> {
        let path = format!("{}/issues/{issue}/assignees", repo.path());
        self.t.send_json(Method::DELETE, &path, &serde_json::json!({ "assignees": assignees })).await?;
        Ok(())
    }

    /// The timeline of an issue or PR, across pages (conditional).
    pub async fn timeline(&self, repo: &RepoSlug, number: u64) -> Result<Vec<TimelineEvent>, HttpError> {
        let path = format!("{}/issues/{number}/timeline?per_page=100", repo.path());
        self.t.get_pages(&path, 20, Some).await
    }

    /// `POST /repos/{o}/{r}/issues/{n}/comments` (PRs are issues here).
    pub async fn comment(&self, repo: &RepoSlug, number: u64, body: &str) -> Result<Comment, HttpError> {
        let path = format!("{}/issues/{number}/comments", repo.path());
        let v = serde_json::json!({ "body": body });
        self.t.send_json(Method::POST, &path, &v).await?.json(self.t.service(), &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_405_is_classified_from_githubs_words() {
        assert!(matches!(
            classify_405(4, "At least 1 approving review is required by reviewers with write access."),
            MergeRefusal::ReviewRequired { .. }
        ));
        assert!(matches!(classify_405(4, "Required status check \"ci\" is expected."), MergeRefusal::Protected { .. }));
        assert!(matches!(classify_405(4, "Repository rule violations found"), MergeRefusal::Protected { .. }));
        assert!(matches!(classify_405(4, "Pull Request is not mergeable"), MergeRefusal::NotMergeable { .. }));
        let spoken = classify_405(4, "Pull Request is not mergeable").spoken();
        assert!(spoken.contains("pull request 4"), "{spoken}");
    }
}
