//! A repo reviewed on GitHub (`review = "github"`), end to end: a real
//! `capcom daemon --headless`, a real git remote (a bare repo in a temp dir) and
//! a local HTTP server that answers GitHub's REST API the way GitHub documents
//! it, reading each PR's head from the bare repo, so a push really moves it.
//!
//! A brief ends as a pushed branch and a PR with a body from the spec; its checks
//! on the current head are followed (pending → checking, red → needs attention,
//! green → ready); "what's finished?" names the PR; a confirmed merge goes through
//! `PUT /pulls/{n}/merge` with the confirmed head, and a push in between or a
//! protected branch is refused in words.

mod common;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use common::{Daemon, stderr, stdout};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=u", "-c", "user.email=u@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A file a commit writes (`Some(content)`) or deletes (`None`).
type FileEdit = (String, Option<String>);

/// The fake GitHub: PRs over a bare repo, scripted checks, a scripted merge answer.
#[derive(Default)]
struct Hub {
    origin: PathBuf,
    /// `{number, head, base, title, body, merged}` per PR.
    pulls: Mutex<Vec<Value>>,
    /// Bodies of `PUT .../merge`.
    merges: Mutex<Vec<Value>>,
    /// Check-run reads still answered "in progress".
    pending_reads: AtomicUsize,
    /// A check to report as failed.
    red: Mutex<Option<String>>,
    /// A merge refusal to answer with: (status, message).
    refuse: Mutex<Option<(u16, String)>>,
    /// No check run and no status ever reports on the head.
    no_checks: std::sync::atomic::AtomicBool,
    /// Actions runs wait for a maintainer's approval: no jobs ran, so no check runs,
    /// and the workflow run's status is `action_required`.
    approval: std::sync::atomic::AtomicBool,
    /// PRs are opened as drafts (as Copilot's are).
    draft: std::sync::atomic::AtomicBool,
    /// GraphQL mutations received (`markPullRequestReadyForReview` ids).
    ready_marks: Mutex<Vec<String>>,
    /// The one Jules session: its state, and the bodies it was sent.
    jules_state: Mutex<String>,
    /// Required checks from the base branch's rulesets, and from its classic protection.
    required: Mutex<Vec<String>>,
    classic_required: Mutex<Vec<String>>,
    /// More check runs that report green on every head (e.g. a required one).
    extra_checks: Mutex<Vec<String>>,
    /// Approving reviews the rules require (none is ever given here).
    approvals: AtomicUsize,
    /// The base branch requires a merge queue.
    merge_queue: std::sync::atomic::AtomicBool,
    /// PR numbers in the merge queue.
    queue: Mutex<Vec<u64>>,
    /// `expectedHeadOid`s of `enqueuePullRequest`, and `expected_head_sha`s of `update-branch`.
    enqueued: Mutex<Vec<String>>,
    updates: Mutex<Vec<String>>,
    /// The commits Jules pushes to its branch, each a list of (path, content; `None`
    /// deletes). Empty: one commit that restyles components/button.txt.
    jules_commits: Mutex<Vec<Vec<FileEdit>>>,
    /// Jules completes with this change set (unidiff patch, base commit) and no pull request.
    jules_change_set: Mutex<Option<(String, String)>>,
    jules_calls: Mutex<Vec<String>>,
}

impl Hub {
    fn head_of(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&self.origin)
            .args(["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn git(&self, args: &[&str]) -> std::process::Output {
        Command::new("git").arg("--git-dir").arg(&self.origin).args(args).env("GIT_AUTHOR_NAME", "GitHub").env("GIT_AUTHOR_EMAIL", "noreply@github.com")
            .env("GIT_COMMITTER_NAME", "GitHub").env("GIT_COMMITTER_EMAIL", "noreply@github.com").output().unwrap()
    }

    /// A squash merge as GitHub makes one: one new commit on the base with the PR's tree
    /// merged in, titled "title (#n)"; a conflict is "not mergeable" (405), as the REST docs say
    /// for `PUT /repos/{owner}/{repo}/pulls/{n}/merge`.
    fn squash_merge(&self, base: &str, head: &str, title: &str, n: u64) -> Result<String, Response> {
        let tip = self.head_of(base).unwrap_or_default();
        let out = self.git(&["merge-tree", "--write-tree", &tip, head]);
        if !out.status.success() {
            return Err(gh_error(405, "Pull Request is not mergeable"));
        }
        let tree = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string();
        let out = self.git(&["commit-tree", &tree, "-p", &tip, "-m", &format!("{title} (#{n})")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = self.git(&["update-ref", &format!("refs/heads/{base}"), &sha, &tip]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Ok(sha)
    }

    /// A commit on top of `parent` in the bare repo, writing (or with `None` deleting) files.
    fn commit(&self, parent: &str, files: &[(String, Option<String>)], msg: &str) -> String {
        let tmp = tempfile::tempdir().unwrap();
        let index = tmp.path().join("index");
        let with_index = |args: &[&str]| {
            let out = Command::new("git").arg("--git-dir").arg(&self.origin).args(args).env("GIT_INDEX_FILE", &index).env("GIT_WORK_TREE", tmp.path()).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        with_index(&["read-tree", parent]);
        for (path, content) in files {
            match content {
                Some(c) => {
                    let f = tmp.path().join("blob");
                    std::fs::write(&f, c).unwrap();
                    let blob = with_index(&["hash-object", "-w", f.to_str().unwrap()]);
                    with_index(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{path}")]);
                }
                None => {
                    with_index(&["update-index", "--force-remove", path]);
                }
            }
        }
        let tree = with_index(&["write-tree"]);
        let out = self.git(&["commit-tree", &tree, "-p", parent, "-m", msg]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The check runs on a head: (name, conclusion).
    fn checks_on(&self) -> Vec<(String, &'static str)> {
        let red = self.red.lock().unwrap().clone();
        let mut out = vec![
            ("ci/test".to_string(), if red.as_deref() == Some("ci/test") { "failure" } else { "success" }),
            ("build".to_string(), "success"),
        ];
        out.extend(self.extra_checks.lock().unwrap().iter().map(|n| (n.clone(), "success")));
        out
    }

    fn all_required(&self) -> Vec<String> {
        let mut all = self.required.lock().unwrap().clone();
        all.extend(self.classic_required.lock().unwrap().iter().cloned());
        all
    }

    /// `mergeable_state` as GitHub computes it (REST "Get a pull request"; the values are
    /// GitHub's `MergeStateStatus` in the GraphQL reference): `draft`; `dirty` on conflicts;
    /// `behind` when the head is out of date with a base whose required checks are strict;
    /// `blocked` while a required check has not passed or a required review is missing;
    /// `unstable` when a check that is not required failed; else `clean`.
    fn mergeable_state(&self, p: &Value) -> String {
        if p["draft"] == true {
            return "draft".into();
        }
        let head = self.head_of(p["head"].as_str().unwrap()).unwrap_or_default();
        let base = self.head_of(p["base"].as_str().unwrap_or("main")).unwrap_or_default();
        if !self.git(&["merge-tree", "--write-tree", &base, &head]).status.success() {
            return "dirty".into();
        }
        let required = self.all_required();
        if !required.is_empty() && !self.git(&["merge-base", "--is-ancestor", &base, &head]).status.success() {
            return "behind".into();
        }
        let checks = self.checks_on();
        let passed = |name: &str| checks.iter().any(|(n, c)| n == name && *c == "success");
        if required.iter().any(|r| !passed(r)) || self.approvals.load(Ordering::SeqCst) > 0 {
            return "blocked".into();
        }
        if checks.iter().any(|(_, c)| *c != "success") {
            return "unstable".into();
        }
        "clean".into()
    }

    fn pr_json(&self, p: &Value) -> Value {
        let n = p["number"].as_u64().unwrap();
        let head = p["head"].as_str().unwrap();
        // GitHub keeps `refs/pull/N/head` at every PR's head, so `git fetch origin pull/N/head`
        // reads any PR's commits ("Checking out pull requests locally", GitHub Docs).
        if let Some(sha) = self.head_of(head) {
            let _ = self.git(&["update-ref", &format!("refs/pull/{n}/head"), &sha]);
        }
        let merged = p["merged"].as_bool().unwrap_or(false);
        let mergeable_state = if merged { "unknown".to_string() } else { self.mergeable_state(p) };
        json!({
            "url": format!("https://api.github.com/repos/octo/site/pulls/{n}"),
            "id": 1000 + n, "number": n,
            "state": if merged { "closed" } else { "open" },
            "title": p["title"], "body": p["body"],
            "html_url": format!("https://github.com/octo/site/pull/{n}"),
            "node_id": format!("PR_kwDOnode{n}"),
            "draft": p["draft"].as_bool().unwrap_or(false), "merged": merged, "mergeable": true,
            "mergeable_state": mergeable_state,
            "user": {"login": "me", "id": 1, "type": "User"},
            "head": {"label": format!("octo:{head}"), "ref": head, "sha": self.head_of(head).unwrap_or_default()},
            "base": {"label": "octo:main", "ref": p["base"], "sha": self.head_of("main").unwrap_or_default()},
            "requested_reviewers": []
        })
    }
}

fn gh_error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    (code, Json(json!({"message": message, "documentation_url": "https://docs.github.com/rest"}))).into_response()
}

async fn create_pull(State(h): State<Arc<Hub>>, Json(b): Json<Value>) -> Response {
    let head = b["head"].as_str().unwrap_or_default().to_string();
    if h.head_of(&head).is_none() {
        return gh_error(422, "Validation Failed: head does not exist");
    }
    let mut pulls = h.pulls.lock().unwrap();
    if pulls.iter().any(|p| p["head"] == head.as_str() && p["merged"] == false) {
        return gh_error(422, &format!("A pull request already exists for octo:{head}."));
    }
    let draft = h.draft.load(Ordering::SeqCst);
    let p = json!({"number": pulls.len() as u64 + 1, "head": head, "base": b["base"], "title": b["title"], "body": b["body"], "merged": false, "draft": draft});
    pulls.push(p.clone());
    drop(pulls);
    (StatusCode::CREATED, Json(h.pr_json(&p))).into_response()
}

async fn list_pulls(State(h): State<Arc<Hub>>) -> Response {
    let pulls = h.pulls.lock().unwrap().clone();
    Json(pulls.iter().map(|p| h.pr_json(p)).collect::<Vec<_>>()).into_response()
}

async fn get_pull(State(h): State<Arc<Hub>>, UrlPath((_, _, n)): UrlPath<(String, String, u64)>) -> Response {
    let p = h.pulls.lock().unwrap().iter().find(|p| p["number"] == n).cloned();
    match p {
        Some(p) => Json(h.pr_json(&p)).into_response(),
        None => gh_error(404, "Not Found"),
    }
}

async fn check_runs(State(h): State<Arc<Hub>>, UrlPath((_, _, sha)): UrlPath<(String, String, String)>) -> Response {
    let run = |name: &str, status: &str, conclusion: Value| {
        json!({"id": 1, "head_sha": sha, "name": name, "status": status, "conclusion": conclusion, "app": {"slug": "github-actions"}})
    };
    let pending = h.pending_reads.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let runs = if h.no_checks.load(Ordering::SeqCst) || h.approval.load(Ordering::SeqCst) {
        // Nothing ran on this head (or Actions wait for approval, which creates no jobs).
        vec![]
    } else if pending {
        vec![run("ci/test", "in_progress", Value::Null), run("build", "completed", json!("success"))]
    } else {
        h.checks_on().into_iter().map(|(name, c)| run(&name, "completed", json!(c))).collect()
    };
    Json(json!({"total_count": runs.len(), "check_runs": runs})).into_response()
}

async fn combined_status(UrlPath((_, _, sha)): UrlPath<(String, String, String)>) -> Response {
    Json(json!({"state": "pending", "sha": sha, "total_count": 0, "statuses": []})).into_response()
}

/// `GET /repos/{o}/{r}/actions/runs?head_sha=…` (REST "List workflow runs for a
/// repository"): a run held for approval has status `action_required` and no jobs.
async fn workflow_runs(State(h): State<Arc<Hub>>, uri: axum::http::Uri) -> Response {
    let sha = uri.query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("head_sha=")).unwrap_or("").to_string();
    let runs = if h.approval.load(Ordering::SeqCst) {
        vec![json!({"id": 30433642, "name": "CI", "head_branch": "copilot/fix-1", "head_sha": sha, "event": "pull_request",
                    "status": "action_required", "conclusion": "action_required", "workflow_id": 159038,
                    "html_url": "https://github.com/octo/site/actions/runs/30433642"})]
    } else if h.no_checks.load(Ordering::SeqCst) {
        vec![]
    } else {
        vec![json!({"id": 30433643, "name": "CI", "head_sha": sha, "event": "pull_request", "status": "completed", "conclusion": "success"})]
    };
    Json(json!({"total_count": runs.len(), "workflow_runs": runs})).into_response()
}

/// `POST /graphql` with `markPullRequestReadyForReview` (GraphQL reference, mutations):
/// the PR leaves draft.
async fn graphql(State(h): State<Arc<Hub>>, Json(b): Json<Value>) -> Response {
    let query = b["query"].as_str().unwrap_or("");
    let id = b["variables"]["id"].as_str().unwrap_or("").to_string();
    // `enqueuePullRequest(input: {pullRequestId, expectedHeadOid})` and
    // `pullRequest.mergeQueueEntry` (GraphQL reference: mutations; objects MergeQueueEntry).
    if query.contains("enqueuePullRequest") {
        let n: u64 = id.trim_start_matches("PR_kwDOnode").parse().unwrap_or(0);
        let p = h.pulls.lock().unwrap().iter().find(|p| p["number"] == n).cloned();
        let Some(p) = p else {
            return Json(json!({"data": null, "errors": [{"type": "NOT_FOUND", "message": format!("Could not resolve to a node with the global id of '{id}'")}]})).into_response();
        };
        let expected = b["variables"]["head"].as_str().unwrap_or("").to_string();
        if h.head_of(p["head"].as_str().unwrap()).as_deref() != Some(expected.as_str()) {
            return Json(json!({"data": {"enqueuePullRequest": null}, "errors": [{"message": "Head sha didn't match expected head oid"}]})).into_response();
        }
        h.enqueued.lock().unwrap().push(expected);
        h.queue.lock().unwrap().push(n);
        return Json(json!({"data": {"enqueuePullRequest": {"mergeQueueEntry": {"state": "QUEUED"}}}})).into_response();
    }
    if query.contains("mergeQueueEntry") {
        let n = b["variables"]["n"].as_u64().unwrap_or(0);
        let entry = if h.queue.lock().unwrap().contains(&n) { json!({"state": "AWAITING_CHECKS"}) } else { Value::Null };
        return Json(json!({"data": {"repository": {"pullRequest": {"mergeQueueEntry": entry}}}})).into_response();
    }
    if !query.contains("markPullRequestReadyForReview") {
        return Json(json!({"errors": [{"message": "unknown mutation"}]})).into_response();
    }
    let n: u64 = id.trim_start_matches("PR_kwDOnode").parse().unwrap_or(0);
    let mut pulls = h.pulls.lock().unwrap();
    let Some(p) = pulls.iter_mut().find(|p| p["number"] == n) else {
        return Json(json!({"data": null, "errors": [{"type": "NOT_FOUND", "message": format!("Could not resolve to a node with the global id of '{id}'")}]})).into_response();
    };
    p["draft"] = json!(false);
    h.ready_marks.lock().unwrap().push(id);
    Json(json!({"data": {"markPullRequestReadyForReview": {"pullRequest": {"isDraft": false}}}})).into_response()
}

async fn merge_pull(
    State(h): State<Arc<Hub>>,
    UrlPath((_, _, n)): UrlPath<(String, String, u64)>,
    Json(b): Json<Value>,
) -> Response {
    h.merges.lock().unwrap().push(b.clone());
    if let Some((status, msg)) = h.refuse.lock().unwrap().clone() {
        return gh_error(status, &msg);
    }
    let mut pulls = h.pulls.lock().unwrap();
    let Some(p) = pulls.iter_mut().find(|p| p["number"] == n) else { return gh_error(404, "Not Found") };
    if p["draft"] == true {
        return gh_error(405, "Pull Request is still a draft");
    }
    if h.merge_queue.load(Ordering::SeqCst) {
        return gh_error(405, "Changes must be made through the merge queue");
    }
    if h.mergeable_state(p) == "blocked" {
        return gh_error(405, "Repository rule violations found");
    }
    let head = h.head_of(p["head"].as_str().unwrap()).unwrap_or_default();
    if b["sha"].as_str() != Some(head.as_str()) {
        return gh_error(409, "Head branch was modified. Review and try the merge again.");
    }
    let base = p["base"].as_str().unwrap_or("main").to_string();
    let sha = match h.squash_merge(&base, &head, p["title"].as_str().unwrap_or(""), n) {
        Ok(sha) => sha,
        Err(r) => return r,
    };
    p["merged"] = json!(true);
    Json(json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"})).into_response()
}

// Jules, as its REST API documents it: a session that presents a plan, waits for
// `:approvePlan`, works, then completes with a PR (which the hub opens on a branch
// of its own in the bare repo, as Jules would on GitHub).

fn jules_session(h: &Hub) -> Value {
    let state = h.jules_state.lock().unwrap().clone();
    let mut outputs = json!([]);
    let change_set = h.jules_change_set.lock().unwrap().clone();
    if let (Some((patch, base)), "COMPLETED") = (change_set, state.as_str()) {
        // A session may complete with a change set and no PR (Jules API `SessionOutput`:
        // `pullRequest` or `changeSet`; jules-sdk `RestSessionOutput { pullRequest?, changeSet? }`).
        outputs = json!([{"changeSet": {"source": "sources/github-octo-site",
            "gitPatch": {"unidiffPatch": patch, "baseCommitId": base, "suggestedCommitMessage": "Restyle the button"}}}]);
    } else if state == "COMPLETED" {
        let n = h.pulls.lock().unwrap().iter().find(|p| p["head"] == "jules/restyle").map(|p| p["number"].clone());
        if let Some(n) = n {
            outputs = json!([{"pullRequest": {"url": format!("https://github.com/octo/site/pull/{n}"), "title": "Restyle", "description": ""}}]);
        }
    }
    json!({"name": "sessions/31415", "id": "31415", "title": "Restyle the button", "state": state, "url": "https://jules.google.com/session/31415", "outputs": outputs})
}

async fn jules_create(State(h): State<Arc<Hub>>, Json(b): Json<Value>) -> Response {
    assert_eq!(b["sourceContext"]["source"], "sources/github-octo-site", "the name GET /sources returned");
    h.jules_calls.lock().unwrap().push(format!("create {}", b["requirePlanApproval"]));
    *h.jules_state.lock().unwrap() = if b["requirePlanApproval"] == true { "AWAITING_PLAN_APPROVAL" } else { "IN_PROGRESS" }.into();
    Json(jules_session(&h)).into_response()
}

async fn jules_get(State(h): State<Arc<Hub>>) -> Response {
    let state = h.jules_state.lock().unwrap().clone();
    if state == "IN_PROGRESS" && h.jules_change_set.lock().unwrap().is_some() {
        *h.jules_state.lock().unwrap() = "COMPLETED".into();
        return Json(json!({"name": "sessions/31415", "id": "31415", "title": "Restyle the button", "state": "IN_PROGRESS", "outputs": []})).into_response();
    }
    if state == "IN_PROGRESS" {
        // Jules works, pushes its branch, opens its PR and completes on the next read.
        let mut tip = h.head_of("main").unwrap();
        let mut commits = h.jules_commits.lock().unwrap().clone();
        if commits.is_empty() {
            commits.push(vec![("components/button.txt".to_string(), Some("button by jules\n".to_string()))]);
        }
        for (i, files) in commits.iter().enumerate() {
            tip = h.commit(&tip, files, &format!("jules: step {}", i + 1));
        }
        let out = Command::new("git").arg("--git-dir").arg(&h.origin).args(["update-ref", "refs/heads/jules/restyle", &tip]).output().unwrap();
        assert!(out.status.success());
        let mut pulls = h.pulls.lock().unwrap();
        let n = pulls.len() as u64 + 1;
        pulls.push(json!({"number": n, "head": "jules/restyle", "base": "main", "title": "Restyle the button", "body": "by Jules", "merged": false}));
        drop(pulls);
        *h.jules_state.lock().unwrap() = "COMPLETED".into();
        return Json(json!({"name": "sessions/31415", "id": "31415", "title": "Restyle the button", "state": "IN_PROGRESS", "outputs": []})).into_response();
    }
    Json(jules_session(&h)).into_response()
}

/// `GET /sources` (Jules API reference, "Sources"): the repos connected to Jules.
async fn jules_sources() -> Response {
    Json(json!({"sources": [{"name": "sources/github-octo-site", "id": "github-octo-site",
                             "githubRepo": {"owner": "octo", "repo": "site", "isPrivate": false}}]}))
    .into_response()
}

async fn jules_activities() -> Response {
    Json(json!({"activities": [{
        "name": "sessions/31415/activities/1", "id": "1", "createTime": "2026-11-21T10:00:00Z", "originator": "agent",
        "planGenerated": {"plan": {"id": "p1", "steps": [{"title": "Restyle the button in components/button"}, {"title": "Run the tests"}]}}
    }]}))
    .into_response()
}

async fn jules_action(State(h): State<Arc<Hub>>, UrlPath(rest): UrlPath<String>, body: String) -> Response {
    h.jules_calls.lock().unwrap().push(format!("{rest} {body}"));
    if rest.ends_with(":approvePlan") {
        *h.jules_state.lock().unwrap() = "IN_PROGRESS".into();
    }
    Json(json!({})).into_response()
}

/// `GET /repos/{o}/{r}/rules/branches/{b}` (REST "Get rules for a branch"): the active rules,
/// each `{type, parameters}`.
async fn branch_rules(State(h): State<Arc<Hub>>) -> Response {
    let mut rules = vec![json!({"type": "deletion", "ruleset_source_type": "Repository", "ruleset_source": "octo/site", "ruleset_id": 7})];
    let required = h.required.lock().unwrap().clone();
    if !required.is_empty() {
        let checks: Vec<Value> = required.iter().map(|c| json!({"context": c, "integration_id": 15368})).collect();
        rules.push(json!({"type": "required_status_checks", "ruleset_source_type": "Repository", "ruleset_source": "octo/site", "ruleset_id": 7,
            "parameters": {"strict_required_status_checks_policy": true, "required_status_checks": checks}}));
    }
    if h.merge_queue.load(Ordering::SeqCst) {
        rules.push(json!({"type": "merge_queue", "ruleset_id": 7, "parameters": {"merge_method": "SQUASH", "grouping_strategy": "ALLGREEN",
            "max_entries_to_build": 5, "min_entries_to_merge": 1, "check_response_timeout_minutes": 60}}));
    }
    let approvals = h.approvals.load(Ordering::SeqCst);
    if approvals > 0 {
        rules.push(json!({"type": "pull_request", "ruleset_id": 7, "parameters": {"required_approving_review_count": approvals,
            "dismiss_stale_reviews_on_push": false, "require_code_owner_review": false, "require_last_push_approval": false,
            "required_review_thread_resolution": false}}));
    }
    Json(Value::Array(rules)).into_response()
}

/// `GET /repos/{o}/{r}/branches/{b}` (REST "Get a branch"): classic protection's required
/// status checks, as anyone who may read the repo sees them.
async fn get_branch(State(h): State<Arc<Hub>>, UrlPath((_, _, b)): UrlPath<(String, String, String)>) -> Response {
    let Some(sha) = h.head_of(&b) else { return gh_error(404, "Branch not found") };
    let classic = h.classic_required.lock().unwrap().clone();
    let protection = if classic.is_empty() {
        json!({"enabled": false, "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}})
    } else {
        let checks: Vec<Value> = classic.iter().map(|c| json!({"context": c, "app_id": null})).collect();
        json!({"enabled": true, "required_status_checks": {"enforcement_level": "everyone", "contexts": classic, "checks": checks}})
    };
    Json(json!({"name": b, "commit": {"sha": sha}, "protected": !classic.is_empty(), "protection": protection})).into_response()
}

/// `PUT /repos/{o}/{r}/pulls/{n}/update-branch` (REST "Update a pull request branch"): merges
/// the base into the head branch; 422 when `expected_head_sha` is not the head; 202 otherwise.
async fn update_branch(State(h): State<Arc<Hub>>, UrlPath((_, _, n)): UrlPath<(String, String, u64)>, Json(b): Json<Value>) -> Response {
    let p = h.pulls.lock().unwrap().iter().find(|p| p["number"] == n).cloned();
    let Some(p) = p else { return gh_error(404, "Not Found") };
    let branch = p["head"].as_str().unwrap().to_string();
    let head = h.head_of(&branch).unwrap_or_default();
    let expected = b["expected_head_sha"].as_str().unwrap_or("").to_string();
    if !expected.is_empty() && expected != head {
        return gh_error(422, "expected head sha didn't match current head ref.");
    }
    h.updates.lock().unwrap().push(expected);
    let base = h.head_of(p["base"].as_str().unwrap_or("main")).unwrap_or_default();
    let out = h.git(&["merge-tree", "--write-tree", &head, &base]);
    if !out.status.success() {
        return gh_error(422, "merge conflict between base and head");
    }
    let tree = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string();
    let out = h.git(&["commit-tree", &tree, "-p", &head, "-p", &base, "-m", "Merge branch 'main' into the PR"]);
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(h.git(&["update-ref", &format!("refs/heads/{branch}"), &sha, &head]).status.success());
    (StatusCode::ACCEPTED, Json(json!({"message": "Updating pull request branch.", "url": format!("https://github.com/octo/site/pull/{n}")}))).into_response()
}

/// Serve the hub on its own thread (the daemon is another process).
fn serve(hub: Arc<Hub>) -> String {
    let app = Router::new()
        .route("/jules/sessions", axum::routing::post(jules_create))
        .route("/jules/sessions/{rest}", get(jules_get).post(jules_action))
        .route("/jules/sessions/{id}/activities", get(jules_activities))
        .route("/jules/sources", get(jules_sources))
        .route("/repos/{o}/{r}/pulls", get(list_pulls).post(create_pull))
        .route("/repos/{o}/{r}/pulls/{n}", get(get_pull))
        .route("/repos/{o}/{r}/pulls/{n}/merge", put(merge_pull))
        .route("/repos/{o}/{r}/pulls/{n}/update-branch", put(update_branch))
        .route("/repos/{o}/{r}/rules/branches/{b}", get(branch_rules))
        .route("/repos/{o}/{r}/branches/{b}", get(get_branch))
        .route("/repos/{o}/{r}/commits/{sha}/check-runs", get(check_runs))
        .route("/repos/{o}/{r}/commits/{sha}/status", get(combined_status))
        .route("/repos/{o}/{r}/actions/runs", get(workflow_runs))
        .route("/graphql", axum::routing::post(graphql))
        .with_state(hub);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(l, app).await;
        });
    });
    format!("http://{addr}")
}

struct Lab {
    _tmp: tempfile::TempDir,
    hub: Arc<Hub>,
    d: Daemon,
}

/// A repo with an `origin` (bare, in the temp dir), an agent that edits one file in
/// scope and commits, and a daemon whose GitHub is the hub.
fn lab(with_remote: bool) -> Lab {
    lab_with(with_remote, |_| {})
}

/// A lab whose hub is set up by `setup` before the daemon starts.
fn lab_with(with_remote: bool, setup: impl FnOnce(&Hub)) -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let origin = root.join("origin.git");
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("components")).unwrap();
    std::fs::write(repo.join("components/button.txt"), "button v1\n").unwrap();
    std::fs::write(repo.join("README.md"), "readme\n").unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "initial"]);
    git(root, &["init", "--quiet", "--bare", "-b", "main", origin.to_str().unwrap()]);
    if with_remote {
        git(&repo, &["remote", "add", "origin", origin.to_str().unwrap()]);
        git(&repo, &["push", "--quiet", "origin", "main"]);
    }
    let agent = root.join("agent.sh");
    std::fs::write(
        &agent,
        concat!(
            "#!/bin/sh\nset -e\n",
            "echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s1\"}'\n",
            "echo 'button v2' > components/button.txt\n",
            "git -c user.name=agent -c user.email=agent@example.com commit -qam 'agent: button v2'\n",
            "echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"Updated the button.\",\"session_id\":\"s1\"}'\n",
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let other = root.join("other.sh");
    std::fs::write(
        &other,
        concat!(
            "#!/bin/sh\nset -e\n",
            "echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s2\"}'\n",
            "echo 'a card' > components/card.txt\n",
            "git add components/card.txt\n",
            "git -c user.name=agent -c user.email=agent@example.com commit -qm 'agent: a card'\n",
            "echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"Added the card.\",\"session_id\":\"s2\"}'\n",
        ),
    )
    .unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hub = Hub { origin: origin.clone(), ..Hub::default() };
    setup(&hub);
    let hub = Arc::new(hub);
    let api = serve(hub.clone());
    let cfg = format!(
        r#"
[[repos]]
name = "site"
path = "{repo}"
base = "main"
github = "octo/site"
review = "github"

[agents.jules]
kind = "jules"
api_url = "{api}/jules"
plan_approval = true

[agents.good]
kind = "local"
preset = "claude"
command = ["{agent}", "{{prompt_file}}"]

[agents.other]
kind = "local"
preset = "claude"
command = ["{other}", "{{prompt_file}}"]

[checks]
test = ["true"]

[github]
api_url = "{api}"
poll = "150ms"
merge_method = "squash"
checks_grace = "2s"

[dispatch]
default_agent = "good"
confirm_ttl = "60s"
# two tasks in components/ side by side; scope leases are tested in tests/many.rs
overlap = "allow"
"#,
        repo = repo.display(),
        agent = agent.display(),
        other = other.display(),
    );
    let d = Daemon::start_env(
        &cfg,
        &[("GITHUB_TOKEN", "ghp_review_test_token_0123456789"), ("JULES_API_KEY", "jules-test-key-0123456789")],
    );
    Lab { _tmp: tmp, hub, d }
}

impl Lab {
    /// The user's repo.
    fn task_repo(&self) -> String {
        self._tmp.path().join("repo").to_string_lossy().into_owned()
    }

    fn brief(&self, title: &str) -> i64 {
        self.brief_to(title, "good")
    }

    fn brief_to(&self, title: &str, agent: &str) -> i64 {
        let spec = json!({
            "title": title, "kind": "css", "repo": "site", "agent": agent,
            "scope": {"include": ["components/"], "exclude": []},
            "acceptance": [{"text": "tests pass", "check": "test"}],
            "readiness": {"ready": true, "score": 1.0, "problems": []},
        });
        let body = json!({"text": "scripted brief", "intent": {"intent": "dispatch", "tasks": [spec], "confidence": 1.0}});
        let (status, reply) = self.d.http("POST", "/v1/brief", Some(&self.d.token()), Some(&body.to_string()));
        assert_eq!(status, 200, "{reply}");
        let v: Value = serde_json::from_str(&reply).unwrap();
        v["tasks"][0]["id"].as_i64().unwrap_or_else(|| panic!("no task in {v}"))
    }

    fn task(&self, id: i64) -> Value {
        let (status, body) = self.d.http("GET", &format!("/v1/tasks/{id}"), Some(&self.d.token()), None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Poll until `done` (a guard of two minutes against a hang, not a timing assertion).
    fn wait(&self, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..2400 {
            let v = self.task(id);
            if done(&v) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("task {id} never reached {what}: {}\n{}", serde_json::to_string_pretty(&self.task(id)).unwrap(), self.d.stderr());
    }

    /// Poll until the task needs attention, failing if it is ever called ready on the way.
    fn needs_attention_never_ready(&self, id: i64) -> Value {
        self.wait(id, "needs_attention", |v| {
            assert_ne!(state(v), "ready", "a PR GitHub would not merge is not ready: {}", v["task"]["reason"]);
            state(v) == "needs_attention"
        })
    }

    fn events(&self, id: i64, kind: &str) -> Vec<Value> {
        let v = self.task(id);
        v["events"].as_array().unwrap().iter().filter(|e| e["kind"] == kind).cloned().collect()
    }
}

fn state(v: &Value) -> &str {
    v["task"]["state"].as_str().unwrap_or("")
}

#[test]
fn a_brief_ends_as_a_pr_whose_green_checks_gate_a_confirmed_merge_through_the_api() {
    let lab = lab(true);
    lab.hub.pending_reads.store(2, Ordering::SeqCst);
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "ready", |v| state(v) == "ready");

    // Pushed: the remote branch is the reviewed head, and the PR is the task's.
    let branch = v["task"]["branch"].as_str().unwrap().to_string();
    let head = v["task"]["head_sha"].as_str().unwrap().to_string();
    assert_eq!(lab.hub.head_of(&branch).as_deref(), Some(head.as_str()));
    assert_eq!(v["task"]["pr"], 1);
    let pr = lab.hub.pulls.lock().unwrap()[0].clone();
    assert_eq!((pr["head"].as_str(), pr["base"].as_str(), pr["title"].as_str()), (Some(branch.as_str()), Some("main"), Some("Restyle the button")));
    let body = pr["body"].as_str().unwrap();
    for want in ["- in: `components/`", "- tests pass (check `test`)", "- check `test` passed", "1 file changed", "`components/button.txt`"] {
        assert!(body.contains(want), "PR body lacks {want:?}:\n{body}");
    }

    // The pending check was followed as "checking" before green made it ready.
    let followed: Vec<String> = lab.events(id, "pr_checks").iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert!(followed.iter().any(|m| m.contains("ci/test still running")), "{followed:?}");
    assert!(followed.last().unwrap().contains("all 2 checks passed"), "{followed:?}");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("pull request 1"), "{reason}");

    // "What's finished?" names the pull request.
    let out = lab.d.cli(&["status", "--filter", "finished"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.to_lowercase().contains("pull request one"), "{said}");
    assert!(!said.contains("components/button.txt"), "{said}");

    // The question is about the PR and its checks; the confirm merges through the API.
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(q["question"], format!("Merge task {id}, 'Restyle the button', pull request 1, into main? All 2 checks passed, 1 file changed."));
    assert_eq!(q["head"], head.as_str());
    assert_eq!(q["pr"], 1);
    assert!(lab.hub.merges.lock().unwrap().is_empty(), "a question must not merge");
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("Merged task {id}, pull request 1, into main.")), "{}", stdout(&out));
    let merges = lab.hub.merges.lock().unwrap().clone();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0]["sha"], head.as_str());
    assert_eq!(merges[0]["merge_method"], "squash");
    let v = lab.wait(id, "merged", |v| state(v) == "merged");
    assert!(v["task"]["reason"].as_str().unwrap().contains("pull request 1"), "{v}");
    let log = lab.d.stderr();
    assert!(!log.contains("ghp_review_test_token"), "the token reached the log");
}

#[test]
fn red_checks_a_moved_head_and_branch_protection_are_refused_in_words() {
    let lab = lab(true);
    *lab.hub.red.lock().unwrap() = Some("ci/test".into());
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("the check ci/test failed"), "{reason}");
    let out = lab.d.cli(&["merge", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("needs attention"), "{}", stderr(&out));

    // A re-run goes green: the follower brings the task back to ready.
    *lab.hub.red.lock().unwrap() = None;
    lab.wait(id, "ready again", |v| state(v) == "ready");

    // Someone pushes to the PR between the question and the confirm.
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let branch = lab.task(id)["task"]["branch"].as_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("c");
    git(tmp.path(), &["clone", "--quiet", "--branch", &branch, lab.hub.origin.to_str().unwrap(), clone.to_str().unwrap()]);
    git(&clone, &["commit", "--quiet", "--allow-empty", "-m", "a reviewer's fixup"]);
    git(&clone, &["push", "--quiet", "origin", &branch]);
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // Refused in words whichever saw the push first: the confirm's fresh read ("changed since you
    // were asked") or the PR follower, which puts the task back to checking while it reviews the new
    // head ("… moved while it was read").
    let said = stderr(&out);
    assert!(said.contains("changed since you were asked") || said.contains("moved while it was read"), "{said}");
    assert!(lab.hub.merges.lock().unwrap().is_empty(), "nothing may be sent for a moved head");

    // Asked again about the new head once the follower has reviewed it (capcom's own review of every
    // head: until then the task is `checking`); branch protection wants a review (405).
    lab.wait(id, "ready on the pushed head", |v| {
        v["task"]["state"] == "ready" && v["task"]["head_sha"].as_str().is_some_and(|h| h != q["head"].as_str().unwrap_or_default())
    });
    *lab.hub.refuse.lock().unwrap() = Some((405, "At least 1 approving review is required by reviewers with write access.".into()));
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q2: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_ne!(q2["head"], q["head"]);
    let out = lab.d.cli(&["confirm", q2["code"].as_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("needs an approving review"), "{}", stderr(&out));
    assert_eq!(lab.hub.merges.lock().unwrap()[0]["sha"], q2["head"]);
    assert_eq!(state(&lab.task(id)), "ready", "a refused merge changes nothing");
}

#[test]
fn a_push_that_fails_needs_attention_and_opens_no_pr() {
    let lab = lab(false);
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("the local review passed, but could not push"), "{reason}");
    assert!(lab.hub.pulls.lock().unwrap().is_empty());
}

#[test]
fn jules_waits_for_plan_approval_then_its_pr_is_followed_and_merged() {
    let lab = lab(true);
    let id = lab.brief_to("Restyle the button", "jules");

    // The plan is a question to the user: the task needs attention, the run stays alive.
    let v = lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("Jules plans to: Restyle the button in components/button; Run the tests"), "{reason}");
    assert!(v["runs"][0]["ended_at"].is_null(), "the session is still running: {v}");
    assert_eq!(lab.hub.jules_calls.lock().unwrap()[0], "create true");

    // Said out loud, understood, and sent as :approvePlan.
    let out = lab.d.cli(&["brief", "approve the plan"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Sent your answer to jules"), "{}", stdout(&out));
    assert!(lab.hub.jules_calls.lock().unwrap().iter().any(|c| c.starts_with("31415:approvePlan")), "{:?}", lab.hub.jules_calls.lock().unwrap());

    // Jules works, opens its PR; the PR's checks are followed on GitHub.
    let v = lab.wait(id, "ready", |v| state(v) == "ready");
    assert_eq!(v["task"]["pr"], 1);
    let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["question", "answer", "pr", "pr_follow", "pr_checks"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert!(!kinds.contains(&"review"), "Jules' work is reviewed on GitHub, not in an empty worktree: {kinds:?}");
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(q["head"].as_str(), lab.hub.head_of("jules/restyle").as_deref());
    let out = lab.d.cli(&["confirm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lab.hub.merges.lock().unwrap()[0]["sha"], q["head"]);
    lab.wait(id, "merged", |v| state(v) == "merged");
}

#[test]
fn a_cloud_agents_pr_gets_capcoms_own_scope_guard_and_secret_scan_on_every_commit() {
    let key = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let lab = lab_with(true, |h| {
        *h.jules_commits.lock().unwrap() = vec![
            // A key added in one commit and removed in the next: only the PR's history holds it.
            vec![("components/config.js".to_string(), Some(format!("const key = '{key}';\n")))],
            vec![("components/config.js".to_string(), None), ("app/page.txt".to_string(), Some("page by jules\n".to_string()))],
        ];
    });
    let id = lab.brief_to("Restyle the button", "jules");
    lab.wait(id, "the plan question", |v| state(v) == "needs_attention");
    let out = lab.d.cli(&["brief", "approve the plan"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // GitHub's checks are green, but capcom's own review of the PR's commits is not.
    let v = lab.wait(id, "needs_attention on the PR", |v| state(v) == "needs_attention" && v["task"]["pr"] == 1);
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("1 file outside the scope: app/page.txt"), "{reason}");
    assert!(reason.contains("AWS access key in components/config.js"), "{reason}");
    assert!(reason.contains("still in the branch's history"), "{reason}");
    assert!(!v.to_string().contains(&key), "the key's value is never recorded");
    // The merge question is refused with the same words, and nothing is sent to GitHub.
    let out = lab.d.cli(&["merge", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("outside the scope: app/page.txt"), "{}", stderr(&out));
    assert!(lab.hub.merges.lock().unwrap().is_empty());
}

#[test]
fn required_checks_from_rulesets_and_protection_gate_ready_and_a_missing_one_blocks() {
    let lab = lab_with(true, |h| {
        *h.required.lock().unwrap() = vec!["ci/test".into(), "ci/lint".into()];
        *h.classic_required.lock().unwrap() = vec!["build".into()];
    });
    let id = lab.brief("Restyle the button");
    // ci/test and build pass, but the required ci/lint never reports: never ready.
    let v = lab.needs_attention_never_ready(id);
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("a required check is missing: ci/lint"), "{reason}");
    let out = lab.d.cli(&["merge", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("a required check is missing: ci/lint"), "{}", stderr(&out));
    // The required check reports green: ready, and the merge goes through.
    h_extra(&lab, "ci/lint");
    lab.wait(id, "ready", |v| state(v) == "ready");
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    lab.wait(id, "merged", |v| state(v) == "merged");
}

fn h_extra(lab: &Lab, name: &str) {
    lab.hub.extra_checks.lock().unwrap().push(name.to_string());
}

#[test]
fn a_pr_that_needs_an_approving_review_is_said_to_be_blocked() {
    let lab = lab_with(true, |h| h.approvals.store(1, Ordering::SeqCst));
    let id = lab.brief("Restyle the button");
    let v = lab.needs_attention_never_ready(id);
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("blocked: it needs an approving review"), "{reason}");
    assert!(lab.hub.merges.lock().unwrap().is_empty());
}

#[test]
fn a_pr_behind_its_base_is_updated_through_github_and_checked_again() {
    let lab = lab_with(true, |h| *h.required.lock().unwrap() = vec!["ci/test".into()]);
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "ready", |v| state(v) == "ready");
    let branch = v["task"]["branch"].as_str().unwrap().to_string();
    let before = v["task"]["head_sha"].as_str().unwrap().to_string();
    // main moves on GitHub: the PR is `behind` (its required checks are strict).
    let main = lab.hub.head_of("main").unwrap();
    let moved = lab.hub.commit(&main, &[("README.md".to_string(), Some("readme v2\n".to_string()))], "docs");
    assert!(lab.hub.git(&["update-ref", "refs/heads/main", &moved, &main]).status.success());
    let v = lab.wait(id, "ready on the updated head", |v| state(v) == "ready" && v["task"]["head_sha"].as_str() != Some(before.as_str()));
    assert_eq!(*lab.hub.updates.lock().unwrap(), vec![before.clone()], "update-branch was asked once, bound to the head read");
    let after = v["task"]["head_sha"].as_str().unwrap();
    assert_eq!(lab.hub.head_of(&branch).as_deref(), Some(after));
    assert!(lab.hub.git(&["merge-base", "--is-ancestor", &moved, after]).status.success(), "the PR now holds the new main");
    let said: Vec<String> = lab.events(id, "pr_checks").iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert!(said.iter().any(|m| m.contains("main moved; capcom will update the branch")), "{said:?}");
    assert!(!lab.events(id, "pr_update").is_empty());
}

#[test]
fn on_a_merge_queue_branch_a_confirm_enqueues_the_confirmed_head_and_the_task_waits_for_the_queue() {
    let lab = lab_with(true, |h| h.merge_queue.store(true, Ordering::SeqCst));
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "ready", |v| state(v) == "ready");
    assert!(v["task"]["reason"].as_str().unwrap().contains("merge queue"), "{}", v["task"]["reason"]);
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(q["question"].as_str().unwrap().contains("merge queue"), "{}", q["question"]);
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("in the merge queue"), "{}", stdout(&out));
    assert_eq!(*lab.hub.enqueued.lock().unwrap(), vec![q["head"].as_str().unwrap().to_string()]);
    assert!(lab.hub.merges.lock().unwrap().is_empty(), "no REST merge on a merge-queue branch");
    let v = lab.wait(id, "checking in the queue", |v| state(v) == "checking");
    assert!(v["task"]["reason"].as_str().unwrap().contains("is in the merge queue"), "{}", v["task"]["reason"]);
    // The queue's checks pass and GitHub merges it.
    {
        let mut pulls = lab.hub.pulls.lock().unwrap();
        let p = pulls.iter_mut().find(|p| p["number"] == 1).unwrap();
        let head = lab.hub.head_of(p["head"].as_str().unwrap()).unwrap();
        lab.hub.squash_merge("main", &head, "Restyle the button", 1).unwrap_or_else(|_| panic!("the queue could not merge"));
        p["merged"] = json!(true);
        lab.hub.queue.lock().unwrap().clear();
    }
    lab.wait(id, "merged", |v| state(v) == "merged");
}

/// Jules' change set: the patch of `files` on top of origin's main, and that base.
fn change_set(h: &Hub, files: &[FileEdit]) -> (String, String) {
    let main = h.head_of("main").unwrap();
    let done = h.commit(&main, files, "jules");
    let out = h.git(&["diff", &main, &done]);
    assert!(out.status.success());
    (String::from_utf8_lossy(&out.stdout).into_owned(), main)
}

/// Approve Jules' plan once it asks.
fn approve_jules(lab: &Lab, id: i64) {
    lab.wait(id, "the plan question", |v| state(v) == "needs_attention");
    let out = lab.d.cli(&["brief", "approve the plan"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn a_jules_session_that_completes_with_only_a_change_set_is_applied_and_reviewed_locally() {
    let lab = lab_with(true, |h| {
        let cs = change_set(h, &[("components/button.txt".to_string(), Some("button by jules\n".to_string()))]);
        *h.jules_change_set.lock().unwrap() = Some(cs);
    });
    let id = lab.brief_to("Restyle the button", "jules");
    approve_jules(&lab, id);
    // Applied to the task's branch, reviewed locally (then, with review = "github", pushed
    // and opened as a PR like a local agent's work), never "the agent changed nothing".
    let v = lab.wait(id, "ready", |v| {
        let reason = v["task"]["reason"].as_str().unwrap_or("");
        assert!(!reason.contains("changed nothing"), "{reason}");
        state(v) == "ready"
    });
    let kinds: Vec<&str> = v["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"review"), "reviewed locally: {kinds:?}");
    let branch = v["task"]["branch"].as_str().unwrap();
    let head = lab.hub.head_of(branch).expect("the branch was pushed");
    let file = lab.hub.git(&["show", &format!("{head}:components/button.txt")]);
    assert_eq!(String::from_utf8_lossy(&file.stdout), "button by jules\n");
}

#[test]
fn a_jules_change_set_that_does_not_apply_needs_attention_naming_its_files() {
    let lab = lab_with(true, |h| {
        let cs = change_set(h, &[("README.md".to_string(), Some("readme by jules\n".to_string()))]);
        *h.jules_change_set.lock().unwrap() = Some(cs);
    });
    // The local main changed the same line since (not pushed): the patch conflicts even three-way.
    let repo = PathBuf::from(lab.task_repo());
    std::fs::write(repo.join("README.md"), "readme by hand\n").unwrap();
    git(&repo, &["commit", "-qam", "by hand"]);
    let id = lab.brief_to("Restyle the button", "jules");
    approve_jules(&lab, id);
    let v = lab.wait(id, "needs_attention on the patch", |v| {
        state(v) == "needs_attention" && v["task"]["reason"].as_str().unwrap_or("").contains("patch")
    });
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("does not apply") && reason.contains("README.md"), "{reason}");
}

#[test]
fn a_pr_the_merge_queue_drops_needs_attention() {
    let lab = lab_with(true, |h| h.merge_queue.store(true, Ordering::SeqCst));
    let id = lab.brief("Restyle the button");
    lab.wait(id, "ready", |v| state(v) == "ready");
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    lab.wait(id, "checking in the queue", |v| state(v) == "checking" && v["task"]["reason"].as_str().unwrap_or("").contains("merge queue"));
    // The queue's own checks fail: GitHub removes the PR from the queue, unmerged.
    lab.hub.queue.lock().unwrap().clear();
    let v = lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    assert!(v["task"]["reason"].as_str().unwrap().contains("left the merge queue without merging"), "{}", v["task"]["reason"]);
    assert!(lab.hub.merges.lock().unwrap().is_empty());
}

#[test]
fn the_daemon_serves_cursors_webhook_only_to_signed_deliveries() {
    use capcom::dispatch::cursor::sign_webhook;
    let cfg = "[agents.cursor]\nkind = \"cursor\"\nwebhook_secret_env = \"CURSOR_WEBHOOK_SECRET\"\n\n[dispatch]\ndefault_agent = \"cursor\"\n";
    let d = Daemon::start_env(cfg, &[("CURSOR_WEBHOOK_SECRET", "whsec_daemon_0123456789abcdef01234567"), ("CURSOR_API_KEY", "key_0123456789")]);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = &format!(r#"{{"event":"statusChange","timestamp":"{now}","id":"bc_1","status":"FINISHED","summary":"done"}}"#);
    let post = |sig: Option<String>, body: &str| {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "content-type: application/json"]);
        if let Some(s) = sig {
            c.args(["-H", &format!("x-webhook-signature: {s}")]);
        }
        c.args(["--data-binary", body, &format!("http://{}/v1/webhooks/cursor", d.addr)]);
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert_eq!(post(Some(sign_webhook(b"whsec_daemon_0123456789abcdef01234567", body.as_bytes())), body), "200");
    assert_eq!(post(Some(sign_webhook(b"wrong", body.as_bytes())), body), "401");
    assert_eq!(post(None, body), "401");
    // The webhook secret opens nothing else.
    let (status, _) = d.http("GET", "/v1/tasks", Some("whsec_daemon_0123456789abcdef01234567"), None);
    assert_eq!(status, 401);
    assert!(!d.stderr().contains("whsec_daemon_0123456789abcdef01234567"), "the secret reached the log");
}

#[test]
fn get_me_caught_up_asks_github_for_ci_failures_alongside_the_tasks() {
    let lab = lab(true);
    *lab.hub.red.lock().unwrap() = Some("ci/test".into());
    let id = lab.brief("Restyle the button");
    lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    let out = lab.d.cli(&["brief", "get me caught up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    // Red CI on the base branch is the worst news, so it comes first.
    let ci = said.find("CI is red on main in site").unwrap_or_else(|| panic!("{said}"));
    let task = said.find("Restyle the button").unwrap_or_else(|| panic!("{said}"));
    assert!(ci < task, "{said}");
    // The PR's failure and the task's attention are one thing, said once.
    assert_eq!(said.matches("Restyle the button").count(), 1, "{said}");
}

#[test]
fn a_pr_with_no_checks_waits_then_needs_attention_and_is_never_merged() {
    let lab = lab_with(true, |h| h.no_checks.store(true, Ordering::SeqCst));
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("no checks have run on PR 1"), "{reason}");
    // It waited in `checking` first, and was never ready.
    let followed: Vec<String> = lab.events(id, "pr_checks").iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert!(followed[0].contains("waiting for checks to report"), "{followed:?}");
    let out = lab.d.cli(&["merge", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(lab.hub.merges.lock().unwrap().is_empty());
    // Checks report after all: green makes it ready.
    lab.hub.no_checks.store(false, Ordering::SeqCst);
    lab.wait(id, "ready", |v| state(v) == "ready");
}

#[test]
fn a_pr_whose_actions_wait_for_approval_needs_attention_and_is_never_merged() {
    let lab = lab_with(true, |h| h.approval.store(true, Ordering::SeqCst));
    let id = lab.brief("Restyle the button");
    let v = lab.wait(id, "needs_attention", |v| state(v) == "needs_attention");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("Actions on PR 1 wait for your approval on GitHub"), "{reason}");
    let out = lab.d.cli(&["merge", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(lab.hub.merges.lock().unwrap().is_empty());
    // Approved and green: ready.
    lab.hub.approval.store(false, Ordering::SeqCst);
    lab.wait(id, "ready", |v| state(v) == "ready");
}

#[test]
fn a_draft_pr_is_said_to_be_one_and_marked_ready_before_the_confirmed_merge() {
    let lab = lab_with(true, |h| h.draft.store(true, Ordering::SeqCst));
    let id = lab.brief("Restyle the button");
    lab.wait(id, "ready", |v| state(v) == "ready");
    let out = lab.d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let question = q["question"].as_str().unwrap();
    assert!(question.contains("It is a draft"), "{question}");
    assert!(lab.hub.ready_marks.lock().unwrap().is_empty(), "a question changes nothing");
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(*lab.hub.ready_marks.lock().unwrap(), vec!["PR_kwDOnode1".to_string()]);
    assert_eq!(lab.hub.merges.lock().unwrap()[0]["sha"], q["head"]);
    lab.wait(id, "merged", |v| state(v) == "merged");
}

#[test]
fn after_a_pr_is_merged_the_other_ready_pr_is_rebased_onto_the_new_main_pushed_and_followed_again() {
    let lab = lab(true);
    let a = lab.brief("Restyle the button");
    lab.wait(a, "ready", |v| state(v) == "ready");
    let b = lab.brief_to("Add a card", "other");
    let vb = lab.wait(b, "ready", |v| state(v) == "ready");
    let b_branch = vb["task"]["branch"].as_str().unwrap().to_string();
    let b_before = vb["task"]["head_sha"].as_str().unwrap().to_string();
    assert_eq!(lab.hub.head_of(&b_branch).as_deref(), Some(b_before.as_str()));

    let out = lab.d.cli(&["merge", &a.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait(a, "merged", |v| state(v) == "merged");
    // GitHub squashed it onto main.
    let main = lab.hub.head_of("main").unwrap();
    assert_eq!(String::from_utf8_lossy(&lab.hub.git(&["show", &format!("{main}:components/button.txt")]).stdout), "button v2\n");

    // The other PR's branch is brought up to date with that main, checked again, pushed,
    // and its PR followed again until GitHub's checks are green.
    let vb = lab.wait(b, "ready on a new head", |v| state(v) == "ready" && v["task"]["head_sha"].as_str() != Some(b_before.as_str()));
    let b_after = vb["task"]["head_sha"].as_str().unwrap().to_string();
    assert_eq!(lab.hub.head_of(&b_branch).as_deref(), Some(b_after.as_str()), "the update was pushed to the PR");
    assert!(lab.hub.git(&["merge-base", "--is-ancestor", &main, &b_after]).status.success(), "the PR sits on the new main");
    assert!(!lab.events(b, "pushed").is_empty(), "{vb}");

    // And it merges cleanly: main ends with both changes.
    let out = lab.d.cli(&["merge", &b.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(q["head"], b_after.as_str(), "the question is about the updated head");
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait(b, "merged", |v| state(v) == "merged");
    let main = lab.hub.head_of("main").unwrap();
    assert_eq!(String::from_utf8_lossy(&lab.hub.git(&["show", &format!("{main}:components/card.txt")]).stdout), "a card\n");
    assert_eq!(String::from_utf8_lossy(&lab.hub.git(&["show", &format!("{main}:components/button.txt")]).stdout), "button v2\n");
}
