//! Remote agents and GitHub, against local HTTP servers on 127.0.0.1 that answer
//! with the JSON the vendors document. No test asserts on wall-clock time: waits
//! (backoff, Retry-After, poll intervals, timeouts) run on tokio's paused clock.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use capcom::github::http::RetryPolicy;
use capcom::github::{GitHub, HttpError, MergeRefusal, NewPull, RepoSlug, Secret, Verdict};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------- helpers

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// What the fake server saw.
#[derive(Default)]
struct Seen {
    hits: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    headers: Mutex<Vec<HeaderMap>>,
}

impl Seen {
    fn hit(&self, headers: &HeaderMap, body: Option<Value>) -> usize {
        self.headers.lock().unwrap().push(headers.clone());
        if let Some(b) = body {
            self.bodies.lock().unwrap().push(b);
        }
        self.hits.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn count(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    fn last_body(&self) -> Value {
        self.bodies.lock().unwrap().last().cloned().unwrap_or(Value::Null)
    }
}

/// Waits run instantly on a paused clock; no request timeout, so a paused clock
/// that jumps ahead cannot fire one.
fn policy() -> RetryPolicy {
    RetryPolicy { request_timeout: None, ..RetryPolicy::default() }
}

fn gh(base: &str) -> GitHub {
    GitHub::new(base, Some(Secret::new("ghp_test_token_0123456789")), "GITHUB_TOKEN", "squash", policy()).unwrap()
}

fn slug() -> RepoSlug {
    RepoSlug::parse("octo/site").unwrap()
}

const SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

fn pr_json(number: u64, mergeable: Value, sha: &str) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/octo/site/pulls/{number}"),
        "id": 1, "number": number, "state": "open", "locked": false,
        "title": "Upgrade Tailwind", "body": "scope: components/",
        "html_url": format!("https://github.com/octo/site/pull/{number}"),
        "draft": false, "merged": false, "mergeable": mergeable, "mergeable_state": "clean",
        "user": {"login": "octocat", "id": 1, "type": "User"},
        "head": {"label": "octo:capcom/7-tailwind", "ref": "capcom/7-tailwind", "sha": sha, "repo": null},
        "base": {"label": "octo:main", "ref": "main", "sha": "9f1e0d", "repo": null},
        "requested_reviewers": []
    })
}

fn check_run(id: u64, name: &str, status: &str, conclusion: Value) -> Value {
    json!({
        "id": id, "head_sha": SHA, "name": name, "status": status, "conclusion": conclusion,
        "html_url": format!("https://github.com/octo/site/runs/{id}"),
        "details_url": "https://example.com", "started_at": "2026-11-21T10:00:00Z",
        "app": {"slug": "github-actions"}
    })
}

fn err(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

// ---------------------------------------------------------------- GitHub: PRs

#[tokio::test]
async fn a_pull_request_is_opened_with_title_body_head_and_base() {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls",
            post(|State(s): State<Arc<Seen>>, h: HeaderMap, Json(b): Json<Value>| async move {
                s.hit(&h, Some(b));
                (StatusCode::CREATED, Json(pr_json(41, Value::Null, SHA)))
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let pr = gh(&base)
        .create_pull(
            &slug(),
            &NewPull {
                title: "Upgrade Tailwind".into(),
                head: "capcom/7-tailwind".into(),
                base: "main".into(),
                body: "Scope: components/".into(),
                draft: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(pr.number, 41);
    assert_eq!(pr.head.sha, SHA);
    let b = seen.last_body();
    assert_eq!(b["title"], "Upgrade Tailwind");
    assert_eq!(b["head"], "capcom/7-tailwind");
    assert_eq!(b["base"], "main");
    let h = &seen.headers.lock().unwrap()[0];
    assert_eq!(h["authorization"], "Bearer ghp_test_token_0123456789");
    assert_eq!(h["accept"], "application/vnd.github+json");
    assert_eq!(h["x-github-api-version"], "2022-11-28");
}

#[tokio::test(start_paused = true)]
async fn mergeable_null_is_polled_again_with_backoff() {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                let n = s.hit(&h, None);
                let m = if n < 3 { Value::Null } else { json!(true) };
                Json(pr_json(41, m, SHA))
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let start = tokio::time::Instant::now();
    let pr = gh(&base).pull_settled(&slug(), 41, 10).await.unwrap();
    assert_eq!(pr.mergeable, Some(true));
    assert_eq!(seen.count(), 3);
    // 1 s then 2 s of (virtual) backoff between the reads.
    assert!(start.elapsed() >= Duration::from_secs(3));

    // Still null after the last poll: the last read comes back, mergeable unknown.
    let seen2 = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                s.hit(&h, None);
                Json(pr_json(41, Value::Null, SHA))
            }),
        )
        .with_state(seen2.clone());
    let base = serve(app).await;
    let pr = gh(&base).pull_settled(&slug(), 41, 4).await.unwrap();
    assert_eq!(pr.mergeable, None);
    assert_eq!(seen2.count(), 4);
}

// ---------------------------------------------------------------- GitHub: checks

/// Check runs over three pages (Link: rel="next"), plus the combined status.
fn checks_app(runs: Vec<Value>, statuses: Vec<Value>, seen: Arc<Seen>) -> Router {
    let runs = Arc::new(runs);
    let statuses = Arc::new(statuses);
    Router::new()
        .route(
            "/repos/{o}/{r}/commits/{sha}/check-runs",
            get({
                let runs = runs.clone();
                move |State(s): State<Arc<Seen>>, h: HeaderMap, uri: axum::http::Uri| {
                    let runs = runs.clone();
                    async move {
                        s.hit(&h, None);
                        let page: usize = uri
                            .query()
                            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("page=")))
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(1);
                        let per = 2;
                        let chunk: Vec<Value> = runs.iter().skip((page - 1) * per).take(per).cloned().collect();
                        let mut headers = HeaderMap::new();
                        let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        if page * per < runs.len() {
                            let next = format!("<http://{host}{}?per_page=100&page={}>; rel=\"next\"", uri.path(), page + 1);
                            headers.insert("link", next.parse().unwrap());
                        }
                        (headers, Json(json!({"total_count": runs.len(), "check_runs": chunk})))
                    }
                }
            }),
        )
        .route(
            "/repos/{o}/{r}/commits/{sha}/status",
            get(move |h: HeaderMap| {
                let statuses = statuses.clone();
                async move {
                    let _ = h;
                    let state = if statuses.is_empty() { "pending" } else { "success" };
                    Json(json!({"state": state, "sha": SHA, "total_count": statuses.len(), "statuses": *statuses}))
                }
            }),
        )
        .with_state(seen)
}

#[tokio::test]
async fn check_runs_are_read_across_pages() {
    let seen = Arc::new(Seen::default());
    let runs = vec![
        check_run(1, "build", "completed", json!("success")),
        check_run(2, "lint", "completed", json!("success")),
        check_run(3, "test", "completed", json!("neutral")),
        check_run(4, "e2e", "completed", json!("success")),
        check_run(5, "deploy-preview", "completed", json!("skipped")),
    ];
    let base = serve(checks_app(runs, vec![], seen.clone())).await;
    let g = gh(&base);
    let all = g.check_runs(&slug(), SHA).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(seen.count(), 3, "three pages");
    assert_eq!(all[4].name, "deploy-preview");
    // No legacy statuses: GitHub's "pending" with zero statuses is not a pending check.
    assert_eq!(g.checks(&slug(), SHA).await.unwrap(), Verdict::Green { passed: 5 });
}

#[tokio::test]
async fn a_pending_check_is_checking_and_a_failing_one_is_named() {
    let cases = vec![
        (
            vec![check_run(1, "build", "completed", json!("success")), check_run(2, "test", "in_progress", Value::Null)],
            vec![],
            "checking",
            "test",
        ),
        (
            vec![check_run(1, "build", "completed", json!("failure")), check_run(2, "test", "in_progress", Value::Null)],
            vec![],
            "needs_attention",
            "the check build failed",
        ),
        (
            vec![check_run(1, "e2e", "completed", json!("timed_out"))],
            vec![],
            "needs_attention",
            "e2e (timed out)",
        ),
        (
            vec![check_run(1, "build", "completed", json!("success"))],
            vec![json!({"context": "ci/circleci", "state": "failure", "description": "2 failed"})],
            "needs_attention",
            "ci/circleci",
        ),
        (
            vec![check_run(1, "build", "completed", json!("action_required")), check_run(2, "lint", "waiting", Value::Null)],
            vec![],
            "needs_attention",
            "Actions need approval",
        ),
    ];
    for (runs, statuses, state, words) in cases {
        let base = serve(checks_app(runs, statuses, Arc::new(Seen::default()))).await;
        let v = gh(&base).checks(&slug(), SHA).await.unwrap();
        assert_eq!(v.task_state().as_str(), state, "{v:?}");
        assert!(v.spoken().contains(words), "{} lacks {words}", v.spoken());
    }
}

#[tokio::test]
async fn a_report_reads_the_checks_of_the_current_head() {
    let new_head = "1111111111111111111111111111111111111111";
    let seen = Arc::new(Seen::default());
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let app = Router::new()
        .route("/repos/{o}/{r}/pulls/{n}", get(move || async move { Json(pr_json(41, json!(true), new_head)) }))
        .route(
            "/repos/{o}/{r}/commits/{sha}/check-runs",
            get({
                let asked = asked.clone();
                move |Path((_, _, sha)): Path<(String, String, String)>| {
                    let asked = asked.clone();
                    async move {
                        asked.lock().unwrap().push(sha);
                        Json(json!({"total_count": 1, "check_runs": [check_run(1, "build", "queued", Value::Null)]}))
                    }
                }
            }),
        )
        .route(
            "/repos/{o}/{r}/commits/{sha}/status",
            get(|| async { Json(json!({"state": "pending", "statuses": [], "total_count": 0})) }),
        )
        .with_state(seen);
    let base = serve(app).await;
    let r = gh(&base).report(&slug(), 41).await.unwrap();
    assert_eq!(r.head_sha, new_head);
    assert_eq!(asked.lock().unwrap().as_slice(), &[new_head.to_string()]);
    assert_eq!(r.verdict.task_state().as_str(), "checking");
}

// ---------------------------------------------------------------- GitHub: merge

fn merge_app(status: StatusCode, body: Value, seen: Arc<Seen>) -> Router {
    Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}/merge",
            put(move |State(s): State<Arc<Seen>>, h: HeaderMap, Json(b): Json<Value>| {
                let body = body.clone();
                async move {
                    s.hit(&h, Some(b));
                    (status, Json(body))
                }
            }),
        )
        .with_state(seen)
}

#[tokio::test]
async fn merge_sends_the_confirmed_head_and_the_configured_method() {
    let seen = Arc::new(Seen::default());
    let ok = json!({"sha": "abc123merge", "merged": true, "message": "Pull Request successfully merged"});
    let base = serve(merge_app(StatusCode::OK, ok, seen.clone())).await;
    let r = gh(&base).merge(&slug(), 41, SHA).await.unwrap();
    assert!(r.merged);
    assert_eq!(seen.last_body(), json!({"sha": SHA, "merge_method": "squash"}));
}

#[tokio::test]
async fn merge_refusals_are_typed_and_speakable() {
    let cases = vec![
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "At least 1 approving review is required by reviewers with write access.",
            "review",
        ),
        (StatusCode::METHOD_NOT_ALLOWED, "Required status check \"build\" is expected.", "protected"),
        (StatusCode::METHOD_NOT_ALLOWED, "Pull Request is not mergeable", "not mergeable"),
        (StatusCode::CONFLICT, "Head branch was modified. Review and try the merge again.", "moved"),
    ];
    for (status, message, kind) in cases {
        let seen = Arc::new(Seen::default());
        let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest"});
        let base = serve(merge_app(status, body, seen.clone())).await;
        let refusal = gh(&base).merge(&slug(), 41, SHA).await.unwrap_err();
        let spoken = refusal.spoken();
        match kind {
            "review" => assert!(matches!(refusal, MergeRefusal::ReviewRequired { .. }), "{refusal:?}"),
            "protected" => assert!(matches!(refusal, MergeRefusal::Protected { .. }), "{refusal:?}"),
            "not mergeable" => assert!(matches!(refusal, MergeRefusal::NotMergeable { .. }), "{refusal:?}"),
            _ => {
                assert!(matches!(refusal, MergeRefusal::HeadMoved { .. }), "{refusal:?}");
                assert!(spoken.contains("changed since you confirmed"), "{spoken}");
            }
        }
        assert!(spoken.contains("pull request 41"), "{spoken}");
        assert_eq!(seen.count(), 1, "a refusal is not retried");
    }
}

#[tokio::test]
async fn merge_without_a_confirmed_head_sends_nothing() {
    let seen = Arc::new(Seen::default());
    let base = serve(merge_app(StatusCode::OK, json!({"merged": true}), seen.clone())).await;
    for sha in ["", "   ", "not-a-sha", "abc"] {
        let r = gh(&base).merge(&slug(), 41, sha).await.unwrap_err();
        assert!(matches!(r, MergeRefusal::NoConfirmedHead { pr: 41 }), "{r:?}");
    }
    assert_eq!(seen.count(), 0);
}

// ---------------------------------------------------------------- GitHub: errors

fn status_app(status: StatusCode, body: Value) -> Router {
    Router::new().route("/{*rest}", get(move || async move { err(status, body.clone()) }).post(move || async move {
        err(status, json!({"message": "nope"}))
    }))
}

#[tokio::test]
async fn a_401_names_the_token_variable() {
    let base = serve(status_app(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}))).await;
    let g = GitHub::new(&base, Some(Secret::new("ghp_wrong_token_0123456789")), "MY_GH_TOKEN", "merge", policy()).unwrap();
    let e = g.pull(&slug(), 1).await.unwrap_err();
    assert_eq!(e.to_string(), "GitHub token missing or wrong: set $MY_GH_TOKEN");
    assert!(!format!("{e:?} {e}").contains("ghp_wrong"), "the token never appears in an error");

    // No token at all: doctor's check says the same without a request.
    let g = GitHub::new(&base, None, "MY_GH_TOKEN", "merge", policy()).unwrap();
    assert_eq!(g.whoami().await.unwrap_err().to_string(), "GitHub token missing or wrong: set $MY_GH_TOKEN");
}

#[tokio::test]
async fn a_404_and_a_422_carry_githubs_message() {
    let base = serve(status_app(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))).await;
    let e = gh(&base).pull(&slug(), 999).await.unwrap_err();
    assert!(matches!(e, HttpError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("/repos/octo/site/pulls/999"), "{e}");

    let body = json!({
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for octo:capcom/7-tailwind."}],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
    });
    let app = Router::new().route("/repos/{o}/{r}/pulls", post(move || async move { err(StatusCode::UNPROCESSABLE_ENTITY, body.clone()) }));
    let base = serve(app).await;
    let e = gh(&base)
        .create_pull(&slug(), &NewPull { title: "t".into(), head: "h".into(), base: "main".into(), body: String::new(), draft: false })
        .await
        .unwrap_err();
    assert!(matches!(e, HttpError::Unprocessable { .. }), "{e:?}");
    assert!(e.to_string().contains("A pull request already exists for octo:capcom/7-tailwind."), "{e}");
}

#[tokio::test]
async fn malformed_json_is_an_error_not_a_panic() {
    for body in ["<html>502 Bad Gateway</html>", "{\"number\": \"forty-one\"}", "", "[1,2"] {
        let app = Router::new().route("/{*rest}", get(move || async move { (StatusCode::OK, body) }));
        let base = serve(app).await;
        let e = gh(&base).pull(&slug(), 41).await.unwrap_err();
        assert!(matches!(e, HttpError::Malformed { .. }), "{body}: {e:?}");
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                if s.hit(&h, None) == 1 {
                    let mut hm = HeaderMap::new();
                    hm.insert("retry-after", "30".parse().unwrap());
                    return (StatusCode::TOO_MANY_REQUESTS, hm, Json(json!({"message": "secondary rate limit"}))).into_response();
                }
                Json(pr_json(41, json!(true), SHA)).into_response()
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let start = tokio::time::Instant::now();
    let pr = gh(&base).pull(&slug(), 41).await.unwrap();
    assert_eq!(pr.number, 41);
    assert_eq!(seen.count(), 2);
    assert!(start.elapsed() >= Duration::from_secs(30), "waited {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_rate_limit_waits_for_the_reset() {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                if s.hit(&h, None) == 1 {
                    let reset = chrono::Utc::now().timestamp() + 120;
                    let mut hm = HeaderMap::new();
                    hm.insert("x-ratelimit-remaining", "0".parse().unwrap());
                    hm.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
                    return (StatusCode::FORBIDDEN, hm, Json(json!({"message": "API rate limit exceeded"}))).into_response();
                }
                Json(pr_json(41, json!(true), SHA)).into_response()
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let start = tokio::time::Instant::now();
    gh(&base).pull(&slug(), 41).await.unwrap();
    assert_eq!(seen.count(), 2);
    assert!(start.elapsed() >= Duration::from_secs(100), "waited {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_that_will_not_lift_is_reported_with_the_wait() {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/{*rest}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                s.hit(&h, None);
                let mut hm = HeaderMap::new();
                hm.insert("retry-after", "3600".parse().unwrap());
                (StatusCode::TOO_MANY_REQUESTS, hm, Json(json!({"message": "slow down"})))
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let e = gh(&base).pull(&slug(), 41).await.unwrap_err();
    assert_eq!(e, HttpError::RateLimited { service: "GitHub".into(), wait: Duration::from_secs(3600) });
    assert_eq!(seen.count(), 1, "an hour is longer than capcom waits in line");
}

#[tokio::test]
async fn a_403_without_rate_limit_headers_is_a_refusal_not_a_wait() {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/{*rest}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                s.hit(&h, None);
                err(StatusCode::FORBIDDEN, json!({"message": "Resource not accessible by integration"}))
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let e = gh(&base).pull(&slug(), 41).await.unwrap_err();
    assert!(e.to_string().contains("Resource not accessible by integration"), "{e}");
    assert_eq!(seen.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_a_bound() {
    // Two 502s, then an answer.
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                if s.hit(&h, None) <= 2 {
                    return (StatusCode::BAD_GATEWAY, "bad gateway").into_response();
                }
                Json(pr_json(41, json!(true), SHA)).into_response()
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let g = gh(&base);
    g.pull(&slug(), 41).await.unwrap();
    assert_eq!(seen.count(), 3);
    assert_eq!(g.stats().retries, 2);

    // Always 500: gives up after 1 + max_retries tries.
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/{*rest}",
            get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                s.hit(&h, None);
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .with_state(seen.clone());
    let base = serve(app).await;
    let e = gh(&base).pull(&slug(), 41).await.unwrap_err();
    assert_eq!(e, HttpError::Server { service: "GitHub".into(), status: 500, tries: 4 });
    assert_eq!(seen.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn offline_is_reported_not_panicked() {
    // Bind then drop: nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = gh(&format!("http://127.0.0.1:{port}")).pull(&slug(), 41).await.unwrap_err();
    assert!(matches!(e, HttpError::Offline { .. }), "{e:?}");
    assert!(e.to_string().starts_with("cannot reach GitHub"), "{e}");
}

// ---------------------------------------------------------------- GitHub: ETags

/// A server that answers 304 when `If-None-Match` matches the current ETag, and
/// counts the two paths apart.
#[derive(Default)]
struct Conditional {
    full: AtomicUsize,
    not_modified: AtomicUsize,
    version: AtomicUsize,
}

async fn conditional_pull(State(c): State<Arc<Conditional>>, h: HeaderMap) -> Response {
    let v = c.version.load(Ordering::SeqCst);
    let etag = format!("\"pr-v{v}\"");
    if h.get("if-none-match").and_then(|x| x.to_str().ok()) == Some(etag.as_str()) {
        c.not_modified.fetch_add(1, Ordering::SeqCst);
        let mut hm = HeaderMap::new();
        hm.insert("etag", etag.parse().unwrap());
        return (StatusCode::NOT_MODIFIED, hm).into_response();
    }
    c.full.fetch_add(1, Ordering::SeqCst);
    let mut hm = HeaderMap::new();
    hm.insert("etag", etag.parse().unwrap());
    hm.insert("x-ratelimit-remaining", "4999".parse().unwrap());
    let sha = if v == 0 { SHA.to_string() } else { format!("{v:040}") };
    (hm, Json(pr_json(41, json!(true), &sha))).into_response()
}

#[tokio::test]
async fn a_304_reuses_the_cached_body() {
    let c = Arc::new(Conditional::default());
    let app = Router::new().route("/repos/{o}/{r}/pulls/{n}", get(conditional_pull)).with_state(c.clone());
    let base = serve(app).await;
    let g = gh(&base);
    let first = g.pull(&slug(), 41).await.unwrap();
    for _ in 0..4 {
        assert_eq!(g.pull(&slug(), 41).await.unwrap(), first);
    }
    assert_eq!(c.full.load(Ordering::SeqCst), 1);
    assert_eq!(c.not_modified.load(Ordering::SeqCst), 4);
    let stats = g.stats();
    assert_eq!((stats.sent, stats.not_modified, stats.counted()), (5, 4, 1));

    // The PR changes: a new ETag, the full path again, the new head.
    c.version.store(1, Ordering::SeqCst);
    let changed = g.pull(&slug(), 41).await.unwrap();
    assert_ne!(changed.head.sha, first.head.sha);
    assert_eq!(c.full.load(Ordering::SeqCst), 2);
    assert_eq!(g.pull(&slug(), 41).await.unwrap(), changed);
    assert_eq!(c.not_modified.load(Ordering::SeqCst), 5);
}
