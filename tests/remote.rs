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

/// GitHub's secondary rate limits may answer a bare 403 or 429, with no `retry-after`
/// and no `x-ratelimit-*` headers (github/docs, "Rate limits for the REST API": wait at
/// least one minute, longer each time). Both are waited out, a minute and then two.
#[tokio::test(start_paused = true)]
async fn bare_secondary_rate_limits_wait_at_least_a_minute_with_backoff() {
    for status in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route(
                "/repos/{o}/{r}/pulls/{n}",
                get(move |State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                    if s.hit(&h, None) <= 2 {
                        let msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";
                        return err(status, json!({"message": msg, "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}));
                    }
                    Json(pr_json(41, json!(true), SHA)).into_response()
                }),
            )
            .with_state(seen.clone());
        let base = serve(app).await;
        let start = tokio::time::Instant::now();
        let pr = gh(&base).pull(&slug(), 41).await.unwrap();
        assert_eq!(pr.number, 41);
        assert_eq!(seen.count(), 3);
        assert!(start.elapsed() >= Duration::from_secs(180), "{status}: waited {:?}", start.elapsed());
    }
}

/// A rate limit seen while watching a run is said in its progress and waited out; it is
/// not an error that fails the run.
#[tokio::test(start_paused = true)]
async fn a_rate_limited_watch_says_so_and_keeps_watching() {
    struct Limited(AtomicUsize);
    #[async_trait::async_trait]
    impl RemoteAgent for Limited {
        fn vendor(&self) -> &str {
            "Copilot"
        }
        async fn launch(&self, _req: &StartRequest) -> Result<capcom::dispatch::remote::Handle, capcom::dispatch::remote::RemoteError> {
            Ok(capcom::dispatch::remote::Handle { id: "octo/site#12".into(), url: None })
        }
        async fn look(&self, _id: &str, _c: &mut LookCursor) -> Result<capcom::dispatch::remote::Look, capcom::dispatch::remote::RemoteError> {
            if self.0.fetch_add(1, Ordering::SeqCst) < 8 {
                return Err(HttpError::RateLimited { service: "GitHub".into(), wait: Duration::from_secs(5) }.into());
            }
            Ok(capcom::dispatch::remote::Look::state(RemoteState::Done { summary: "done".into(), pr: None }))
        }
        async fn follow_up(&self, id: &str, _t: &str) -> Result<String, capcom::dispatch::remote::RemoteError> {
            Ok(id.into())
        }
        async fn stop(&self, _id: &str) -> Result<(), capcom::dispatch::remote::RemoteError> {
            Ok(())
        }
    }
    let backend = RemoteBackend::new("copilot", Arc::new(Limited(AtomicUsize::new(0))), fast());
    let start = tokio::time::Instant::now();
    let mut launched = backend.start(request(Behaviour::Succeed)).await.unwrap();
    let events = drain_paused(&mut launched.events).await;
    assert!(matches!(events.last(), Some(AgentEvent::Finished { .. })), "{events:?}");
    let said = events.iter().filter(|e| matches!(e, AgentEvent::Progress(p) if p.contains("GitHub rate limit reached; waiting 60 s"))).count();
    assert_eq!(said, 8, "{events:?}");
    assert!(start.elapsed() >= Duration::from_secs(8 * 60), "at least a minute each: {:?}", start.elapsed());
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

// ================================================================ remote agents

use capcom::dispatch::backend::{AgentBackend, AgentEvent, RunRef, StartRequest};
use capcom::dispatch::contract::{Behaviour, Fixture, drain};
use capcom::dispatch::remote::{Cursor as LookCursor, RemoteAgent, RemoteBackend, RemoteState, WatchOptions};
use std::collections::HashMap;

/// Serve from a synchronous context inside a runtime (the contract macro builds
/// fixtures without `.await`).
fn serve_now(app: Router) -> String {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn behaviour_of(text: &str) -> Behaviour {
    if text.contains("[fail]") {
        Behaviour::Fail
    } else if text.contains("[hang]") {
        Behaviour::Hang
    } else {
        Behaviour::Succeed
    }
}

fn request(behaviour: Behaviour) -> StartRequest {
    let tag = match behaviour {
        Behaviour::Succeed => "",
        Behaviour::Fail => " [fail]",
        Behaviour::Hang => " [hang]",
    };
    StartRequest {
        task_id: 7,
        title: "Upgrade Tailwind".into(),
        prompt: format!("Upgrade Tailwind in components/ only.{tag}\nAcceptance: build passes."),
        branch: "capcom/7-upgrade-tailwind".into(),
        base: "main".into(),
        github: Some("octo/site".into()),
        ..StartRequest::default()
    }
}

/// All events until the stream ends; on a paused clock a hang still fails (after a virtual day).
async fn drain_paused(rx: &mut tokio::sync::mpsc::Receiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut out = Vec::new();
    let day = Duration::from_secs(24 * 3600);
    while let Some(e) = tokio::time::timeout(day, rx.recv()).await.expect("the stream ended within a virtual day") {
        out.push(e);
    }
    out
}

fn fast() -> WatchOptions {
    WatchOptions { poll: Duration::from_millis(10), timeout: None, max_errors: 5 }
}

// ---------------------------------------------------------------- Jules fake

#[derive(Clone)]
struct JulesSession {
    behaviour: Behaviour,
    polls: usize,
    state: String,
    deleted: bool,
    messages: Vec<String>,
    approved: bool,
    /// Reads after `:sendMessage` that still show the state before it (the call returns
    /// before the session moves on, as the real service does).
    stale_reads: usize,
    /// A message waits to be taken up once the stale reads are over.
    resume: bool,
    /// Bumped on each state change; `updateTime` follows it.
    updated: usize,
}

impl JulesSession {
    fn new(behaviour: Behaviour, state: &str) -> JulesSession {
        JulesSession { behaviour, polls: 0, state: state.into(), deleted: false, messages: vec![], approved: false, stale_reads: 0, resume: false, updated: 0 }
    }
    fn set_state(&mut self, state: &str) {
        if self.state != state {
            self.state = state.into();
            self.updated += 1;
        }
    }
}

#[derive(Default)]
struct JulesFake {
    sessions: Mutex<HashMap<String, JulesSession>>,
    created: Mutex<Vec<(HeaderMap, Value)>>,
    next: AtomicUsize,
    /// octo/site is not among the connected sources.
    unconnected: std::sync::atomic::AtomicBool,
    /// After a follow-up, the session completes again at once (a newer `updateTime`,
    /// the same state): the other reading of "the state has not changed yet".
    quick: std::sync::atomic::AtomicBool,
}

impl JulesFake {
    fn session_json(id: &str, s: &JulesSession) -> Value {
        let mut v = json!({
            "name": format!("sessions/{id}"), "id": id, "title": "Upgrade Tailwind",
            "state": s.state, "url": format!("https://jules.google.com/session/{id}"),
            "createTime": "2026-11-21T10:00:00Z", "updateTime": format!("2026-11-21T10:{:02}:00Z", s.updated)
        });
        if s.state == "COMPLETED" {
            // Each follow-up ends in a PR of its own: 77, then 78, …
            let pr = 77 + s.messages.len() - usize::from(s.resume);
            v["outputs"] = json!([{"pullRequest": {"url": format!("https://github.com/octo/site/pull/{pr}"), "title": "Upgrade Tailwind", "description": "d"}}]);
        }
        v
    }
}

/// A wrong key: Google APIs answer 401 UNAUTHENTICATED, and also 403 PERMISSION_DENIED
/// (a key of another project or one without the API): both readings are served. The Jules
/// API takes its key in `X-Goog-Api-Key` on every call (developers.google.com/jules/api,
/// "Authentication"); the error body is Google's (cloud.google.com/apis/design/errors).
fn jules_key_refused(h: &HeaderMap) -> Option<Response> {
    let key = h.get("x-goog-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
    if key == "jules-key-0123456789" {
        return None;
    }
    if key.starts_with("forbidden-") {
        return Some(err(StatusCode::FORBIDDEN, json!({"error": {"code": 403, "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "status": "PERMISSION_DENIED"}})));
    }
    Some(err(StatusCode::UNAUTHORIZED, json!({"error": {"code": 401, "message": "API key not valid", "status": "UNAUTHENTICATED"}})))
}

/// `GET /v1alpha/sources`: two pages (`nextPageToken`), named as the Jules API reference
/// ("Sources") shows them: `sources/github-OWNER-REPO` with `githubRepo {owner, repo}`.
async fn jules_sources(State(f): State<Arc<JulesFake>>, h: HeaderMap, uri: axum::http::Uri) -> Response {
    if let Some(r) = jules_key_refused(&h) {
        return r;
    }
    let src = |owner: &str, repo: &str| {
        json!({"name": format!("sources/github-{owner}-{repo}"), "id": format!("github-{owner}-{repo}"),
               "githubRepo": {"owner": owner, "repo": repo, "isPrivate": false, "defaultBranch": {"displayName": "main"}}})
    };
    if uri.query().unwrap_or("").contains("pageToken=p2") {
        let mut list = vec![src("octo", "docs")];
        if !f.unconnected.load(Ordering::SeqCst) {
            list.push(src("octo", "site"));
        }
        return Json(json!({"sources": list})).into_response();
    }
    Json(json!({"sources": [src("someone", "else")], "nextPageToken": "p2"})).into_response()
}

async fn jules_create(State(f): State<Arc<JulesFake>>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    if let Some(r) = jules_key_refused(&h) {
        return r;
    }
    let known = ["sources/github-octo-site", "sources/github-octo-docs", "sources/github-someone-else"];
    if !known.contains(&b["sourceContext"]["source"].as_str().unwrap_or("")) {
        return err(StatusCode::NOT_FOUND, json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}));
    }
    let id = (31415 + f.next.fetch_add(1, Ordering::SeqCst)).to_string();
    let behaviour = behaviour_of(b["prompt"].as_str().unwrap_or(""));
    let s = JulesSession::new(behaviour, "QUEUED");
    let body = JulesFake::session_json(&id, &s);
    f.sessions.lock().unwrap().insert(id, s);
    f.created.lock().unwrap().push((h, b));
    Json(body).into_response()
}

async fn jules_get(State(f): State<Arc<JulesFake>>, Path(id): Path<String>) -> Response {
    let mut map = f.sessions.lock().unwrap();
    let Some(s) = map.get_mut(&id).filter(|s| !s.deleted) else {
        return err(StatusCode::NOT_FOUND, json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}));
    };
    if s.stale_reads > 0 {
        s.stale_reads -= 1;
        return Json(JulesFake::session_json(&id, s)).into_response();
    }
    if s.resume {
        s.resume = false;
        s.set_state("IN_PROGRESS");
        s.polls = 1;
    }
    s.polls += 1;
    if matches!(s.state.as_str(), "QUEUED" | "PLANNING" | "IN_PROGRESS") {
        let next = match (s.behaviour, s.polls) {
            (_, 1) => "PLANNING",
            (Behaviour::Hang, _) => "IN_PROGRESS",
            (_, 2) => "IN_PROGRESS",
            (Behaviour::Fail, _) => "FAILED",
            (Behaviour::Succeed, _) => "COMPLETED",
        };
        s.set_state(next);
    }
    Json(JulesFake::session_json(&id, s)).into_response()
}

async fn jules_action(State(f): State<Arc<JulesFake>>, Path(rest): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, action) = rest.split_once(':').unwrap_or((rest.as_str(), ""));
    let mut map = f.sessions.lock().unwrap();
    let Some(s) = map.get_mut(id).filter(|s| !s.deleted) else {
        return err(StatusCode::NOT_FOUND, json!({"error": {"message": "Requested entity was not found."}}));
    };
    let b: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match action {
        "sendMessage" => {
            s.messages.push(b["prompt"].as_str().unwrap_or("").to_string());
            s.behaviour = behaviour_of(b["prompt"].as_str().unwrap_or(""));
            if f.quick.load(Ordering::SeqCst) && s.state == "COMPLETED" {
                // Done again before the next read: same state, newer update time.
                s.updated += 1;
            } else if matches!(s.state.as_str(), "COMPLETED" | "FAILED") {
                // The call returns first; the session still reads as before for two reads.
                s.stale_reads = 2;
                s.resume = true;
            } else {
                s.set_state("IN_PROGRESS");
                s.polls = 1;
            }
        }
        "approvePlan" => {
            s.approved = true;
            s.set_state("IN_PROGRESS");
            s.polls = 1;
        }
        _ => return err(StatusCode::BAD_REQUEST, json!({"error": {"message": "unknown action"}})),
    }
    Json(json!({})).into_response()
}

async fn jules_delete(State(f): State<Arc<JulesFake>>, Path(id): Path<String>) -> Response {
    match f.sessions.lock().unwrap().get_mut(&id) {
        Some(s) => {
            s.deleted = true;
            Json(json!({})).into_response()
        }
        None => err(StatusCode::NOT_FOUND, json!({"error": {"message": "not found"}})),
    }
}

/// Activities over two pages (nextPageToken), as the API documents them.
async fn jules_activities(State(f): State<Arc<JulesFake>>, Path(id): Path<String>, uri: axum::http::Uri) -> Response {
    let map = f.sessions.lock().unwrap();
    let Some(s) = map.get(&id) else { return err(StatusCode::NOT_FOUND, json!({"error": {"message": "no"}})) };
    let mut all = vec![
        json!({"name": format!("sessions/{id}/activities/1"), "id": "1", "originator": "agent", "createTime": "2026-11-21T10:00:01Z",
               "planGenerated": {"plan": {"id": "p1", "steps": [{"id": "s1", "title": "Bump tailwindcss", "index": 0}, {"id": "s2", "title": "Fix class names", "index": 1}]}}}),
        json!({"name": format!("sessions/{id}/activities/2"), "id": "2", "originator": "agent", "createTime": "2026-11-21T10:00:02Z",
               "progressUpdated": {"title": "Running the build", "description": "npm run build"}}),
    ];
    if s.state == "FAILED" {
        all.push(json!({"name": format!("sessions/{id}/activities/3"), "id": "3", "originator": "system",
                         "sessionFailed": {"reason": "the build kept failing"}}));
    }
    if s.state == "AWAITING_USER_FEEDBACK" {
        all.push(json!({"name": format!("sessions/{id}/activities/4"), "id": "4", "originator": "agent",
                         "agentMessaged": {"agentMessage": "Should I also upgrade PostCSS?"}}));
    }
    let second = uri.query().unwrap_or("").contains("pageToken=page2");
    let (items, next) = if second { (all[1..].to_vec(), None) } else { (all[..1].to_vec(), Some("page2")) };
    let mut body = json!({"activities": items});
    if let Some(n) = next {
        body["nextPageToken"] = json!(n);
    }
    Json(body).into_response()
}

fn jules_app(f: Arc<JulesFake>) -> Router {
    Router::new()
        .route(
            "/v1alpha/sessions",
            post(jules_create).get(|h: HeaderMap| async move {
                if h.get("x-goog-api-key").and_then(|v| v.to_str().ok()) == Some("jules-key-0123456789") {
                    Json(json!({"sessions": [], "nextPageToken": ""})).into_response()
                } else {
                    err(StatusCode::UNAUTHORIZED, json!({"error": {"code": 401, "message": "API key not valid"}}))
                }
            }),
        )
        .route("/v1alpha/sessions/{id}", get(jules_get).post(jules_action).delete(jules_delete))
        .route("/v1alpha/sessions/{id}/activities", get(jules_activities))
        .route("/v1alpha/sources", get(jules_sources))
        // every route checks the key first, as every Google API method does
        .layer(axum::middleware::from_fn(|req: axum::extract::Request, next: axum::middleware::Next| async move {
            match jules_key_refused(req.headers()) {
                Some(refused) => refused,
                None => next.run(req).await,
            }
        }))
        .with_state(f)
}

fn jules_client(base: &str, key: Option<&str>) -> capcom::dispatch::jules::Jules {
    capcom::dispatch::jules::Jules::new(&format!("{base}/v1alpha"), key.map(Secret::new), "JULES_API_KEY", policy()).unwrap()
}

struct JulesFixture {
    fake: Arc<JulesFake>,
    backend: Arc<RemoteBackend>,
}

impl JulesFixture {
    fn new() -> JulesFixture {
        let fake = Arc::new(JulesFake::default());
        let base = serve_now(jules_app(fake.clone()));
        let jules = jules_client(&base, Some("jules-key-0123456789"));
        JulesFixture { fake, backend: Arc::new(RemoteBackend::new("jules", Arc::new(jules), fast())) }
    }
}

#[async_trait::async_trait]
impl Fixture for JulesFixture {
    fn backend(&self) -> Arc<dyn AgentBackend> {
        self.backend.clone()
    }
    fn request(&self, behaviour: Behaviour) -> StartRequest {
        request(behaviour)
    }
    async fn still_running(&self, run: &RunRef) -> bool {
        let id = run.remote_id.clone().unwrap_or_default();
        self.fake
            .sessions
            .lock()
            .unwrap()
            .get(&id)
            .is_some_and(|s| !s.deleted && matches!(s.state.as_str(), "QUEUED" | "PLANNING" | "IN_PROGRESS"))
    }
}

capcom::agent_backend_contract!(jules_contract, super::JulesFixture::new());

#[tokio::test]
async fn jules_sessions_are_created_as_documented() {
    let f = JulesFixture::new();
    let mut launched = f.backend.start(request(Behaviour::Succeed)).await.unwrap();
    let events = drain(&mut launched.events).await;
    let (h, b) = f.fake.created.lock().unwrap()[0].clone();
    assert_eq!(h["x-goog-api-key"], "jules-key-0123456789");
    assert!(h.get("authorization").is_none());
    assert_eq!(b["automationMode"], "AUTO_CREATE_PR");
    // The name `GET /sources` returned for octo/site, not one capcom made up.
    assert_eq!(b["sourceContext"]["source"], "sources/github-octo-site");
    assert_eq!(b["sourceContext"]["githubRepoContext"]["startingBranch"], "main");
    assert_eq!(b["title"], "Upgrade Tailwind");
    assert!(b["prompt"].as_str().unwrap().contains("components/"));
    // Progress from activities (both pages), the PR, then Finished.
    assert!(events.contains(&AgentEvent::Progress("Jules has a plan of 2 steps".into())), "{events:?}");
    assert!(events.contains(&AgentEvent::Progress("Running the build: npm run build".into())), "{events:?}");
    assert!(events.contains(&AgentEvent::PrOpened { number: 77, url: "https://github.com/octo/site/pull/77".into() }), "{events:?}");
    match events.last() {
        Some(AgentEvent::Finished { summary: Some(s), session_id: Some(id), .. }) if id == "31415" => {
            assert!(s.contains("pull request 77"), "{s}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn jules_states_map_through_the_api() {
    let fake = Arc::new(JulesFake::default());
    let base = serve(jules_app(fake.clone())).await;
    let j = jules_client(&base, Some("jules-key-0123456789"));
    let cases = [
        ("QUEUED", "working"),
        ("PLANNING", "working"),
        ("IN_PROGRESS", "working"),
        ("AWAITING_PLAN_APPROVAL", "Jules plans to: Bump tailwindcss; Fix class names"),
        ("AWAITING_USER_FEEDBACK", "Jules asks: Should I also upgrade PostCSS?"),
        ("PAUSED", "paused"),
        ("COMPLETED", "done"),
        ("FAILED", "Jules failed: the build kept failing"),
    ];
    for (state, expect) in cases {
        // Pin the state: a session the fake will not advance.
        let pinned = JulesSession::new(Behaviour::Hang, state);
        fake.sessions.lock().unwrap().insert("9".into(), pinned);
        let look = j.look("9", &mut LookCursor::default()).await.unwrap();
        let got = match &look.state {
            RemoteState::Working { .. } => "working".to_string(),
            RemoteState::NeedsAttention { question } => question.clone(),
            RemoteState::Done { pr, .. } => {
                assert_eq!(pr.as_ref().map(|p| p.number), Some(77));
                "done".into()
            }
            RemoteState::Failed { reason } => reason.clone(),
        };
        let ok = match state {
            "QUEUED" | "PLANNING" | "IN_PROGRESS" => got == "working",
            "PAUSED" => got.contains("paused"),
            _ => got.contains(expect),
        };
        // The fake advances QUEUED → PLANNING on a read, so QUEUED reads as working too.
        assert!(ok, "{state}: {got}");
    }
}

#[tokio::test]
async fn jules_plan_approval_and_follow_ups_use_their_endpoints() {
    let fake = Arc::new(JulesFake::default());
    let base = serve(jules_app(fake.clone())).await;
    let j = jules_client(&base, Some("jules-key-0123456789"));
    let waiting = JulesSession::new(Behaviour::Succeed, "AWAITING_PLAN_APPROVAL");
    fake.sessions.lock().unwrap().insert("5".into(), waiting);
    j.follow_up("5", "approve the plan").await.unwrap();
    assert!(fake.sessions.lock().unwrap()["5"].approved);
    j.follow_up("5", "also bump PostCSS").await.unwrap();
    assert_eq!(fake.sessions.lock().unwrap()["5"].messages, vec!["also bump PostCSS".to_string()]);
}

#[tokio::test]
async fn jules_errors_name_the_key_and_the_session() {
    let fake = Arc::new(JulesFake::default());
    let base = serve(jules_app(fake)).await;
    let wrong = jules_client(&base, Some("wrong-key-0123456789"));
    let e = wrong.launch(&request(Behaviour::Succeed)).await.unwrap_err();
    assert_eq!(e.to_string(), "Jules token missing or wrong: set $JULES_API_KEY");
    let none = jules_client(&base, None);
    assert_eq!(none.ping().await.unwrap_err().to_string(), "Jules token missing or wrong: set $JULES_API_KEY");
    let j = jules_client(&base, Some("jules-key-0123456789"));
    let e = j.session("nope").await.unwrap_err();
    assert!(e.to_string().contains("Requested entity was not found."), "{e}");
    let no_repo = StartRequest { github: None, ..request(Behaviour::Succeed) };
    assert!(j.launch(&no_repo).await.unwrap_err().to_string().contains("github = \"owner/name\""));
    // A key Jules refuses with 403 is as wrong as one refused with 401.
    let forbidden = jules_client(&base, Some("forbidden-key-0123456789"));
    assert_eq!(forbidden.ping().await.unwrap_err().to_string(), "Jules token missing or wrong: set $JULES_API_KEY");
    let e = forbidden.launch(&request(Behaviour::Succeed)).await.unwrap_err();
    assert_eq!(e.to_string(), "Jules token missing or wrong: set $JULES_API_KEY");
    assert!(e.is_permanent());
}

#[tokio::test]
async fn jules_sources_are_looked_up_and_an_unconnected_repo_is_named() {
    let fake = Arc::new(JulesFake::default());
    let base = serve(jules_app(fake.clone())).await;
    let j = jules_client(&base, Some("jules-key-0123456789"));
    let slug = RepoSlug::parse("Octo/Site").unwrap();
    assert_eq!(j.source_for(&slug).await.unwrap(), "sources/github-octo-site", "found on the second page, any case");
    assert_eq!(j.list_sources().await.unwrap().len(), 3);

    let fake = Arc::new(JulesFake::default());
    fake.unconnected.store(true, Ordering::SeqCst);
    let base = serve(jules_app(fake.clone())).await;
    let j = jules_client(&base, Some("jules-key-0123456789"));
    let e = j.launch(&request(Behaviour::Succeed)).await.unwrap_err();
    assert!(e.to_string().starts_with("connect octo/site to Jules first"), "{e}");
    assert!(e.is_permanent());
    assert!(fake.created.lock().unwrap().is_empty(), "no session for a repo Jules cannot see");
    // Connected since: the next launch lists the sources again and finds it.
    fake.unconnected.store(false, Ordering::SeqCst);
    assert!(j.launch(&request(Behaviour::Succeed)).await.is_ok());
}

/// `:sendMessage` returns before the session leaves COMPLETED: the follow-up's run must
/// not finish on the old state and the old PR. Both readings: the session goes back to
/// work (the old state is read twice first), or completes again at once (same state,
/// newer `updateTime`).
#[tokio::test]
async fn a_jules_follow_up_does_not_finish_on_the_stale_completed_state() {
    for quick in [false, true] {
        let fake = Arc::new(JulesFake::default());
        fake.quick.store(quick, Ordering::SeqCst);
        let base = serve(jules_app(fake.clone())).await;
        let backend = RemoteBackend::new("jules", Arc::new(jules_client(&base, Some("jules-key-0123456789"))), fast());
        let mut launched = backend.start(request(Behaviour::Succeed)).await.unwrap();
        let first = drain(&mut launched.events).await;
        assert!(first.contains(&AgentEvent::PrOpened { number: 77, url: "https://github.com/octo/site/pull/77".into() }), "{first:?}");
        let mut again = backend
            .follow_up(&launched.run, StartRequest { prompt: "also bump PostCSS".into(), ..request(Behaviour::Succeed) })
            .await
            .unwrap();
        let events = drain(&mut again.events).await;
        let prs: Vec<u64> = events.iter().filter_map(|e| if let AgentEvent::PrOpened { number, .. } = e { Some(*number) } else { None }).collect();
        assert_eq!(prs, vec![78], "quick {quick}: the follow-up's PR, not the old one: {events:?}");
        assert!(matches!(events.last(), Some(AgentEvent::Finished { .. })), "{events:?}");
        assert_eq!(fake.sessions.lock().unwrap()["31415"].stale_reads, 0, "it waited out the stale reads");
    }
}

#[tokio::test(start_paused = true)]
async fn a_session_that_never_finishes_times_out_and_is_stopped() {
    let fake = Arc::new(JulesFake::default());
    let base = serve(jules_app(fake.clone())).await;
    let j = Arc::new(jules_client(&base, Some("jules-key-0123456789")));
    let opts = WatchOptions { poll: Duration::from_secs(60), timeout: Some(Duration::from_secs(30 * 60)), max_errors: 5 };
    let backend = RemoteBackend::new("jules", j, opts);
    let mut launched = backend.start(request(Behaviour::Hang)).await.unwrap();
    let events = drain_paused(&mut launched.events).await;
    match events.last() {
        Some(AgentEvent::Failed { reason, .. }) => {
            assert!(reason.starts_with("timed out after 30m"), "{reason}");
            assert!(reason.contains("IN_PROGRESS"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let s = fake.sessions.lock().unwrap()["31415"].clone();
    assert!(s.deleted, "the session is stopped at Jules");
    assert!((29..=31).contains(&s.polls), "about one poll a minute for 30 minutes: {}", s.polls);
}

// ---------------------------------------------------------------- Cursor fake

#[derive(Clone)]
struct CursorRun {
    behaviour: Behaviour,
    polls: usize,
    status: String,
    followups: Vec<String>,
    /// Reads after `/followup` that still show the status before it (the call returns
    /// before the agent moves on); then it runs again.
    stale_reads: usize,
    resume: bool,
    /// Runs that finished (the first prompt's and each follow-up's): one assistant message each.
    answers: usize,
    /// It finishes with its branch pushed and no PR (`target.prUrl` absent).
    no_pr: bool,
}

impl CursorRun {
    fn new(behaviour: Behaviour, polls: usize, status: &str) -> CursorRun {
        CursorRun { behaviour, polls, status: status.into(), followups: vec![], stale_reads: 0, resume: false, answers: 0, no_pr: false }
    }
}

/// `GET /v0/agents/{id}/conversation` ("Cloud Agents API"): `{id, messages: [{id, type, text}]}`,
/// the prompt and each follow-up a `user_message`, each finished run an `assistant_message`.
async fn cursor_conversation(State(f): State<Arc<CursorFake>>, Path(id): Path<String>) -> Response {
    let map = f.agents.lock().unwrap();
    let Some(a) = map.get(&id) else { return err(StatusCode::NOT_FOUND, json!({"error": "Agent not found"})) };
    let mut messages = vec![json!({"id": "m0", "type": "user_message", "text": "Upgrade Tailwind"})];
    if a.answers >= 1 {
        messages.push(json!({"id": "a0", "type": "assistant_message", "text": "Done."}));
    }
    for (i, text) in a.followups.iter().enumerate() {
        messages.push(json!({"id": format!("m{}", i + 1), "type": "user_message", "text": text}));
        if a.answers >= i + 2 {
            messages.push(json!({"id": format!("a{}", i + 1), "type": "assistant_message", "text": "Done."}));
        }
    }
    Json(json!({"id": id, "messages": messages})).into_response()
}

#[derive(Default)]
struct CursorFake {
    agents: Mutex<HashMap<String, CursorRun>>,
    created: Mutex<Vec<Value>>,
    next: AtomicUsize,
    /// Agents finish without a PR (the v0 docs make `target.prUrl` optional).
    no_pr: std::sync::atomic::AtomicBool,
}

fn cursor_authed(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer key_cursor_0123456789")
}

fn cursor_json(id: &str, a: &CursorRun) -> Value {
    let mut v = json!({
        "id": id, "name": "Upgrade Tailwind", "status": a.status,
        "source": {"repository": "https://github.com/octo/site", "ref": "main"},
        "target": {"branchName": "capcom/7-upgrade-tailwind", "url": format!("https://cursor.com/agents?id={id}"), "autoCreatePr": true},
        "createdAt": "2026-11-21T10:00:00Z"
    });
    match a.status.as_str() {
        "FINISHED" => {
            v["summary"] = json!("Moved the button classes to design tokens");
            // Each follow-up ends in a PR of its own: 88, then 89, …
            let pr = 88 + a.followups.len() - usize::from(a.resume);
            if !a.no_pr {
                v["target"]["prUrl"] = json!(format!("https://github.com/octo/site/pull/{pr}"));
            }
        }
        "ERROR" => v["summary"] = json!("could not install dependencies"),
        _ => {}
    }
    v
}

async fn cursor_create(State(f): State<Arc<CursorFake>>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    if !cursor_authed(&h) {
        return err(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}));
    }
    let id = format!("bc_{}", 1000 + f.next.fetch_add(1, Ordering::SeqCst));
    let behaviour = behaviour_of(b["prompt"]["text"].as_str().unwrap_or(""));
    let a = CursorRun { no_pr: f.no_pr.load(Ordering::SeqCst), ..CursorRun::new(behaviour, 0, "CREATING") };
    let body = cursor_json(&id, &a);
    f.agents.lock().unwrap().insert(id, a);
    f.created.lock().unwrap().push(b);
    Json(body).into_response()
}

async fn cursor_get(State(f): State<Arc<CursorFake>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if !cursor_authed(&h) {
        return err(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}));
    }
    let mut map = f.agents.lock().unwrap();
    let Some(a) = map.get_mut(&id) else { return err(StatusCode::NOT_FOUND, json!({"error": "Agent not found"})) };
    if a.stale_reads > 0 {
        a.stale_reads -= 1;
        return Json(cursor_json(&id, a)).into_response();
    }
    if a.resume {
        a.resume = false;
        a.status = "RUNNING".into();
        a.polls = 1;
    }
    a.polls += 1;
    if matches!(a.status.as_str(), "CREATING" | "RUNNING") {
        a.status = match (a.behaviour, a.polls) {
            (_, 1) | (Behaviour::Hang, _) => "RUNNING".into(),
            (Behaviour::Fail, _) => "ERROR".into(),
            (Behaviour::Succeed, _) => "FINISHED".into(),
        };
        if a.status == "FINISHED" {
            a.answers += 1;
        }
    }
    Json(cursor_json(&id, a)).into_response()
}

async fn cursor_followup(State(f): State<Arc<CursorFake>>, Path(id): Path<String>, Json(b): Json<Value>) -> Response {
    let mut map = f.agents.lock().unwrap();
    let Some(a) = map.get_mut(&id) else { return err(StatusCode::NOT_FOUND, json!({"error": "Agent not found"})) };
    let text = b["prompt"]["text"].as_str().unwrap_or("").to_string();
    a.behaviour = behaviour_of(&text);
    a.followups.push(text);
    if matches!(a.status.as_str(), "FINISHED" | "ERROR") {
        // Accepted; the agent still reads as it was for two more reads.
        a.stale_reads = 2;
        a.resume = true;
    } else {
        a.status = "RUNNING".into();
        a.polls = 1;
    }
    Json(json!({"id": id})).into_response()
}

async fn cursor_stop(State(f): State<Arc<CursorFake>>, Path(id): Path<String>) -> Response {
    let mut map = f.agents.lock().unwrap();
    let Some(a) = map.get_mut(&id) else { return err(StatusCode::NOT_FOUND, json!({"error": "Agent not found"})) };
    if !matches!(a.status.as_str(), "CREATING" | "RUNNING") {
        return err(StatusCode::BAD_REQUEST, json!({"error": "Agent is not running"}));
    }
    a.status = "FINISHED".into();
    a.behaviour = Behaviour::Fail;
    Json(json!({"id": id})).into_response()
}

fn cursor_app(f: Arc<CursorFake>) -> Router {
    Router::new()
        .route("/v0/agents", post(cursor_create))
        .route("/v0/agents/{id}", get(cursor_get))
        .route("/v0/agents/{id}/followup", post(cursor_followup))
        .route("/v0/agents/{id}/stop", post(cursor_stop))
        .route("/v0/agents/{id}/conversation", get(cursor_conversation))
        // Every Cloud Agents endpoint takes the API key (docs.cursor.com/background-agent/api/overview,
        // "Authentication"); a missing or wrong one is 401 on every route.
        .layer(axum::middleware::from_fn(|req: axum::extract::Request, next: axum::middleware::Next| async move {
            if cursor_authed(req.headers()) {
                next.run(req).await
            } else {
                err(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}))
            }
        }))
        .route(
            "/v0/me",
            get(|h: HeaderMap| async move {
                if cursor_authed(&h) {
                    Json(json!({"apiKeyName": "capcom", "createdAt": "2026-01-01T00:00:00Z", "userEmail": "me@example.com"})).into_response()
                } else {
                    err(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}))
                }
            }),
        )
        .with_state(f)
}

fn cursor_client(base: &str, key: Option<&str>) -> capcom::dispatch::cursor::CursorAgents {
    capcom::dispatch::cursor::CursorAgents::new(base, key.map(Secret::new), "CURSOR_API_KEY", policy()).unwrap()
}

struct CursorFixture {
    fake: Arc<CursorFake>,
    backend: Arc<RemoteBackend>,
}

impl CursorFixture {
    fn new() -> CursorFixture {
        let fake = Arc::new(CursorFake::default());
        let base = serve_now(cursor_app(fake.clone()));
        let c = cursor_client(&base, Some("key_cursor_0123456789"));
        CursorFixture { fake, backend: Arc::new(RemoteBackend::new("cursor", Arc::new(c), fast())) }
    }
}

#[async_trait::async_trait]
impl Fixture for CursorFixture {
    fn backend(&self) -> Arc<dyn AgentBackend> {
        self.backend.clone()
    }
    fn request(&self, behaviour: Behaviour) -> StartRequest {
        request(behaviour)
    }
    async fn still_running(&self, run: &RunRef) -> bool {
        let id = run.remote_id.clone().unwrap_or_default();
        self.fake.agents.lock().unwrap().get(&id).is_some_and(|a| matches!(a.status.as_str(), "CREATING" | "RUNNING"))
    }
}

capcom::agent_backend_contract!(cursor_contract, super::CursorFixture::new());

#[tokio::test]
async fn cursor_agents_are_launched_as_documented_and_report_their_pr() {
    let f = CursorFixture::new();
    let mut launched = f.backend.start(request(Behaviour::Succeed)).await.unwrap();
    let events = drain(&mut launched.events).await;
    let b = f.fake.created.lock().unwrap()[0].clone();
    assert!(b["prompt"]["text"].as_str().unwrap().starts_with("Upgrade Tailwind in components/ only."));
    assert_eq!(b["source"], json!({"repository": "https://github.com/octo/site", "ref": "main"}));
    assert_eq!(b["target"], json!({"autoCreatePr": true, "branchName": "capcom/7-upgrade-tailwind"}));
    assert!(events.contains(&AgentEvent::PrOpened { number: 88, url: "https://github.com/octo/site/pull/88".into() }));
    match events.last() {
        Some(AgentEvent::Finished { summary: Some(s), .. }) => assert_eq!(s, "Moved the button classes to design tokens"),
        other => panic!("{other:?}"),
    }
    // A follow-up goes to /followup on the same agent.
    let id = launched.run.remote_id.clone().unwrap();
    let mut again = f.backend.follow_up(&launched.run, StartRequest { prompt: "also the footer".into(), ..request(Behaviour::Succeed) }).await.unwrap();
    drain(&mut again.events).await;
    assert_eq!(f.fake.agents.lock().unwrap()[&id].followups, vec!["also the footer".to_string()]);
}

#[tokio::test]
async fn cursor_statuses_map_through_the_api() {
    let fake = Arc::new(CursorFake::default());
    let base = serve(cursor_app(fake.clone())).await;
    let c = cursor_client(&base, Some("key_cursor_0123456789"));
    for (status, expect) in [
        ("CREATING", "working"),
        ("RUNNING", "working"),
        ("FINISHED", "Moved the button classes"),
        ("ERROR", "could not install dependencies"),
        ("EXPIRED", "expired"),
    ] {
        // polls = 5 and a Hang behaviour: the fake leaves the status alone.
        let pinned = CursorRun::new(Behaviour::Hang, 5, status);
        fake.agents.lock().unwrap().insert("bc_9".into(), pinned);
        let look = c.look("bc_9", &mut LookCursor::default()).await.unwrap();
        let got = match look.state {
            RemoteState::Working { .. } => "working".to_string(),
            RemoteState::Done { summary, .. } => summary,
            RemoteState::Failed { reason } => reason,
            RemoteState::NeedsAttention { question } => question,
        };
        assert!(got.contains(expect), "{status}: {got}");
    }
    assert_eq!(c.me().await.unwrap()["apiKeyName"], "capcom");
    let wrong = cursor_client(&base, Some("wrong_0123456789"));
    assert_eq!(wrong.me().await.unwrap_err().to_string(), "Cursor token missing or wrong: set $CURSOR_API_KEY");
    let e = c.agent("bc_nope").await.unwrap_err();
    assert!(e.to_string().contains("Agent not found"), "{e}");
}

/// A status the v0 docs do not list (STOPPED) is not "running forever": after the
/// grace it needs attention, naming the status; a known status again clears it.
#[tokio::test(start_paused = true)]
async fn an_unknown_cursor_status_needs_attention_after_a_bounded_time() {
    let fake = Arc::new(CursorFake::default());
    let base = serve(cursor_app(fake.clone())).await;
    let c = cursor_client(&base, Some("key_cursor_0123456789"));
    fake.agents.lock().unwrap().insert("bc_7".into(), CursorRun::new(Behaviour::Hang, 5, "STOPPED"));
    let look = c.look("bc_7", &mut LookCursor::default()).await.unwrap();
    assert!(matches!(look.state, RemoteState::Working { .. }), "{look:?}");
    tokio::time::advance(Duration::from_secs(9 * 60)).await;
    let look = c.look("bc_7", &mut LookCursor::default()).await.unwrap();
    assert!(matches!(look.state, RemoteState::Working { .. }), "{look:?}");
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    match c.look("bc_7", &mut LookCursor::default()).await.unwrap().state {
        RemoteState::NeedsAttention { question } => assert!(question.contains("STOPPED"), "{question}"),
        other => panic!("{other:?}"),
    }
    fake.agents.lock().unwrap().get_mut("bc_7").unwrap().status = "RUNNING".into();
    assert!(matches!(c.look("bc_7", &mut LookCursor::default()).await.unwrap().state, RemoteState::Working { .. }));
}

/// `/followup` returns before the agent leaves FINISHED: the follow-up's run must not
/// finish on the old FINISHED and its old PR.
#[tokio::test]
async fn a_cursor_follow_up_does_not_finish_on_the_stale_finished_state() {
    let fake = Arc::new(CursorFake::default());
    let base = serve(cursor_app(fake.clone())).await;
    let backend = RemoteBackend::new("cursor", Arc::new(cursor_client(&base, Some("key_cursor_0123456789"))), fast());
    let mut launched = backend.start(request(Behaviour::Succeed)).await.unwrap();
    let first = drain(&mut launched.events).await;
    assert!(first.iter().any(|e| matches!(e, AgentEvent::PrOpened { number: 88, .. })), "{first:?}");
    let mut again = backend
        .follow_up(&launched.run, StartRequest { prompt: "also the footer".into(), ..request(Behaviour::Succeed) })
        .await
        .unwrap();
    let events = drain(&mut again.events).await;
    let prs: Vec<u64> = events.iter().filter_map(|e| if let AgentEvent::PrOpened { number, .. } = e { Some(*number) } else { None }).collect();
    assert_eq!(prs, vec![89], "the follow-up's PR, not the old one: {events:?}");
    assert!(matches!(events.last(), Some(AgentEvent::Finished { .. })), "{events:?}");
}

#[tokio::test]
async fn the_cursor_webhook_accepts_only_signed_deliveries() {
    use capcom::dispatch::cursor::{sign_webhook, webhook_router};
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let base = serve(webhook_router(Secret::new("whsec_0123456789abcdef"), tx)).await;
    // Deliveries carry their time (signed with the body); one far from now is refused.
    let body: &'static str = format!(
        r#"{{"event":"statusChange","timestamp":"{}","id":"bc_1000","status":"FINISHED","summary":"done","target":{{"prUrl":"https://github.com/octo/site/pull/88"}}}}"#,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
    .leak();
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/webhooks/cursor");
    let send = |sig: Option<String>, body: &'static str| {
        let mut r = http.post(&url).header("content-type", "application/json").body(body);
        if let Some(s) = sig {
            r = r.header("X-Webhook-Signature", s);
        }
        r.send()
    };
    // Valid.
    let ok = send(Some(sign_webhook(b"whsec_0123456789abcdef", body.as_bytes())), body).await.unwrap();
    assert_eq!(ok.status(), 200);
    let ev = rx.try_recv().unwrap();
    assert_eq!(ev.id, "bc_1000");
    assert!(matches!(ev.state(), RemoteState::Done { pr: Some(_), .. }));
    // The same signed delivery again (a replay, or Cursor retrying) is answered, not acted on.
    let again = send(Some(sign_webhook(b"whsec_0123456789abcdef", body.as_bytes())), body).await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("duplicate"));
    assert!(rx.try_recv().is_err(), "a replayed delivery is not forwarded");
    // A validly signed delivery from long ago is refused.
    let old = r#"{"event":"statusChange","timestamp":"2026-11-21T10:00:00Z","id":"bc_1001","status":"FINISHED"}"#;
    let stale = send(Some(sign_webhook(b"whsec_0123456789abcdef", old.as_bytes())), old).await.unwrap();
    assert_eq!(stale.status(), 401);
    assert!(stale.text().await.unwrap().contains("more than 5 minutes"));
    assert!(rx.try_recv().is_err(), "a stale delivery is not forwarded");
    // Signed with another secret, signed for another body, missing, malformed.
    let bad = send(Some(sign_webhook(b"another-secret", body.as_bytes())), body).await.unwrap();
    assert_eq!(bad.status(), 401);
    let tampered = body.replace("FINISHED", "ERROR").leak();
    let swapped = send(Some(sign_webhook(b"whsec_0123456789abcdef", body.as_bytes())), tampered).await.unwrap();
    assert_eq!(swapped.status(), 401);
    let missing = send(None, body).await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(missing.text().await.unwrap().contains("missing X-Webhook-Signature"));
    let malformed = send(Some("md5=abc".into()), body).await.unwrap();
    assert_eq!(malformed.status(), 401);
    assert!(rx.try_recv().is_err(), "nothing unverified is forwarded");
    // Signed but not an agent event.
    let junk = "[1,2,3]";
    let r = send(Some(sign_webhook(b"whsec_0123456789abcdef", junk.as_bytes())), junk).await.unwrap();
    assert_eq!(r.status(), 400);
}

// ---------------------------------------------------------------- Copilot fake (GitHub)

#[derive(Clone, Default)]
struct FakeIssue {
    title: String,
    body: String,
    behaviour: Option<Behaviour>,
    state: String,
    assignees: Vec<String>,
    assignment: Value,
    polls: usize,
    pr: Option<u64>,
}

#[derive(Clone, Default)]
struct FakePr {
    issue: u64,
    state: String,
    polls: usize,
    review_requested_at: Option<String>,
    comments: Vec<String>,
    hang: bool,
    /// Copilot's session events instead of a review request: `copilot_work_started`, then
    /// `copilot_work_finished` (or `copilot_work_finished_failure` with `fails`).
    lifecycle: bool,
    fails: bool,
    /// The `copilot_work_*` events so far: (event, created_at).
    sessions: Vec<(String, String)>,
}

#[derive(Default)]
struct CopilotFake {
    issues: Mutex<HashMap<u64, FakeIssue>>,
    prs: Mutex<HashMap<u64, FakePr>>,
    clock: AtomicUsize,
    next: AtomicUsize,
    /// The coding agent is not enabled for the repo: GitHub ignores the assignee silently.
    disabled: std::sync::atomic::AtomicBool,
    /// Copilot is assigned but never starts a session.
    stalled: std::sync::atomic::AtomicBool,
}

impl CopilotFake {
    fn ts(&self) -> String {
        let n = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        format!("2026-11-21T10:{:02}:{:02}Z", (n / 60) % 60, n % 60)
    }
    fn issue_json(n: u64, i: &FakeIssue) -> Value {
        json!({
            "number": n, "title": i.title, "body": i.body, "state": i.state,
            "html_url": format!("https://github.com/octo/site/issues/{n}"),
            "user": {"login": "octocat"},
            "assignees": i.assignees.iter().map(|a| json!({"login": a, "type": "Bot"})).collect::<Vec<_>>()
        })
    }
}

fn copilot_pr_json(n: u64, p: &FakePr) -> Value {
    let mut v = pr_json(n, json!(true), SHA);
    v["head"]["ref"] = json!(format!("copilot/fix-{}", p.issue));
    v["state"] = json!(p.state);
    v["body"] = json!(format!("Fixes #{}", p.issue));
    v["user"] = json!({"login": "Copilot", "type": "Bot"});
    v["draft"] = json!(true);
    v
}

async fn cp_create_issue(State(f): State<Arc<CopilotFake>>, Json(b): Json<Value>) -> Response {
    let n = 12 + f.next.fetch_add(1, Ordering::SeqCst) as u64;
    let i = FakeIssue {
        title: b["title"].as_str().unwrap_or("").into(),
        body: b["body"].as_str().unwrap_or("").into(),
        state: "open".into(),
        ..FakeIssue::default()
    };
    let body = CopilotFake::issue_json(n, &i);
    f.issues.lock().unwrap().insert(n, i);
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn cp_assign(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>, Json(b): Json<Value>) -> Response {
    let mut issues = f.issues.lock().unwrap();
    let Some(i) = issues.get_mut(&n) else { return err(StatusCode::NOT_FOUND, json!({"message": "Not Found"})) };
    if b["assignees"] != json!(["copilot-swe-agent[bot]"]) {
        return err(StatusCode::UNPROCESSABLE_ENTITY, json!({"message": "Validation Failed"}));
    }
    // "Add assignees to an issue" (REST): "Users who don't have permission to be assigned are
    // silently ignored". The answer is 201 with the issue as it is.
    if f.disabled.load(Ordering::SeqCst) {
        return (StatusCode::CREATED, Json(CopilotFake::issue_json(n, i))).into_response();
    }
    i.assignees = vec!["Copilot".into()];
    i.assignment = b["agent_assignment"].clone();
    i.behaviour = Some(behaviour_of(&i.body));
    (StatusCode::CREATED, Json(CopilotFake::issue_json(n, i))).into_response()
}

async fn cp_unassign(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>) -> Response {
    let mut issues = f.issues.lock().unwrap();
    let Some(i) = issues.get_mut(&n) else { return err(StatusCode::NOT_FOUND, json!({"message": "Not Found"})) };
    i.assignees.clear();
    Json(CopilotFake::issue_json(n, i)).into_response()
}

async fn cp_issue(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>) -> Response {
    match f.issues.lock().unwrap().get(&n) {
        Some(i) => Json(CopilotFake::issue_json(n, i)).into_response(),
        None => err(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

async fn cp_patch_issue(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>, Json(b): Json<Value>) -> Response {
    let mut issues = f.issues.lock().unwrap();
    let Some(i) = issues.get_mut(&n) else { return err(StatusCode::NOT_FOUND, json!({"message": "Not Found"})) };
    if let Some(s) = b["state"].as_str() {
        i.state = s.into();
    }
    Json(CopilotFake::issue_json(n, i)).into_response()
}

async fn cp_timeline(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>) -> Response {
    let mut issues = f.issues.lock().unwrap();
    let mut prs = f.prs.lock().unwrap();
    if let Some(i) = issues.get_mut(&n) {
        i.polls += 1;
        let mut events = vec![json!({"event": "assigned", "actor": {"login": "octocat"}, "created_at": "2026-11-21T09:00:00Z"})];
        let stalled = f.stalled.load(Ordering::SeqCst);
        if i.pr.is_none() && i.polls >= 2 && i.assignees.iter().any(|a| a == "Copilot") && !stalled {
            // Copilot opens a draft PR as it starts and records its session on the PR's timeline;
            // a session that fails ends with `copilot_work_finished_failure` there (GitHub Docs,
            // "About Copilot coding agent": it works in a PR and reports its progress there).
            if let Some(b) = i.behaviour {
                let pr = n + 100;
                i.pr = Some(pr);
                let fails = b == Behaviour::Fail || i.body.contains("[copilot-fail]");
                let lifecycle = fails || i.body.contains("[events]");
                prs.insert(pr, FakePr { issue: n, state: "open".into(), hang: b == Behaviour::Hang, lifecycle, fails, ..FakePr::default() });
            }
        }
        if let Some(pr) = i.pr {
            events.push(json!({
                "event": "cross-referenced", "actor": {"login": "Copilot", "type": "Bot"}, "created_at": "2026-11-21T09:01:00Z",
                "source": {"type": "issue", "issue": {"number": pr, "title": "[WIP] Upgrade Tailwind", "user": {"login": "Copilot"},
                           "pull_request": {"url": format!("https://api.github.com/repos/octo/site/pulls/{pr}")}}}
            }));
        }
        return Json(Value::Array(events)).into_response();
    }
    if let Some(p) = prs.get_mut(&n) {
        p.polls += 1;
        if p.lifecycle {
            // As GitHub records a coding agent session on the PR's timeline (public integrations
            // read `copilot_work_started` / `copilot_work_finished` / `copilot_work_finished_failure`).
            let open = p.sessions.last().is_none_or(|(e, _)| e != "copilot_work_started");
            if open && (p.sessions.is_empty() || p.polls == 1) {
                p.sessions.push(("copilot_work_started".into(), f.ts()));
            } else if !open && p.polls >= 2 && !p.hang {
                let end = if p.fails { "copilot_work_finished_failure" } else { "copilot_work_finished" };
                p.sessions.push((end.into(), f.ts()));
            }
        } else if p.polls >= 2 && !p.hang && p.review_requested_at.is_none() && p.state == "open" {
            p.review_requested_at = Some(f.ts());
        }
        let mut events = vec![json!({"event": "committed", "sha": format!("c0ffee{}", p.polls.min(2)), "message": "Bump tailwindcss to 4.1\n\nbody"})];
        for c in &p.comments {
            events.push(json!({"event": "commented", "body": c, "actor": {"login": "octocat"}}));
        }
        for (e, at) in &p.sessions {
            events.push(json!({"event": e, "created_at": at, "actor": {"login": "Copilot", "type": "Bot"}}));
        }
        if let Some(at) = &p.review_requested_at {
            events.push(json!({"event": "review_requested", "created_at": at,
                               "review_requester": {"login": "Copilot"}, "requested_reviewer": {"login": "octocat"}}));
        }
        return Json(Value::Array(events)).into_response();
    }
    err(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

async fn cp_pull(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>) -> Response {
    match f.prs.lock().unwrap().get(&n) {
        Some(p) => Json(copilot_pr_json(n, p)).into_response(),
        None => err(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

async fn cp_pulls(State(f): State<Arc<CopilotFake>>) -> Response {
    let prs = f.prs.lock().unwrap();
    Json(Value::Array(prs.iter().filter(|(_, p)| p.state == "open").map(|(n, p)| copilot_pr_json(*n, p)).collect())).into_response()
}

async fn cp_comment(State(f): State<Arc<CopilotFake>>, Path((_, _, n)): Path<(String, String, u64)>, Json(b): Json<Value>) -> Response {
    let mut prs = f.prs.lock().unwrap();
    let Some(p) = prs.get_mut(&n) else { return err(StatusCode::NOT_FOUND, json!({"message": "Not Found"})) };
    let text = b["body"].as_str().unwrap_or("").to_string();
    p.comments.push(text.clone());
    p.review_requested_at = None;
    p.polls = 0;
    p.hang = text.contains("[hang]");
    let at = f.ts();
    (StatusCode::CREATED, Json(json!({"id": 900 + p.comments.len(), "body": text, "created_at": at,
        "html_url": format!("https://github.com/octo/site/pull/{n}#issuecomment-1")}))).into_response()
}

fn copilot_app(f: Arc<CopilotFake>) -> Router {
    Router::new()
        .route("/repos/{o}/{r}/issues", post(cp_create_issue))
        .route("/repos/{o}/{r}/issues/{n}", get(cp_issue).patch(cp_patch_issue))
        .route("/repos/{o}/{r}/issues/{n}/assignees", post(cp_assign).delete(cp_unassign))
        .route("/repos/{o}/{r}/issues/{n}/timeline", get(cp_timeline))
        .route("/repos/{o}/{r}/issues/{n}/comments", post(cp_comment))
        .route("/repos/{o}/{r}/pulls", get(cp_pulls))
        .route("/repos/{o}/{r}/pulls/{n}", get(cp_pull))
        // A wrong token is 401 "Bad credentials" on every GitHub REST route
        // (docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api).
        .layer(axum::middleware::from_fn(|req: axum::extract::Request, next: axum::middleware::Next| async move {
            if req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer ghp_test_token_0123456789") {
                next.run(req).await
            } else {
                err(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}))
            }
        }))
        .with_state(f)
}

struct CopilotFixture {
    fake: Arc<CopilotFake>,
    backend: Arc<RemoteBackend>,
}

impl CopilotFixture {
    fn new() -> CopilotFixture {
        let fake = Arc::new(CopilotFake::default());
        let base = serve_now(copilot_app(fake.clone()));
        let copilot = capcom::dispatch::copilot::Copilot::new(Arc::new(gh(&base))).with_instructions("Run npm test before asking for review.");
        CopilotFixture { fake, backend: Arc::new(RemoteBackend::new("copilot", Arc::new(copilot), fast())) }
    }
}

#[async_trait::async_trait]
impl Fixture for CopilotFixture {
    fn backend(&self) -> Arc<dyn AgentBackend> {
        self.backend.clone()
    }
    fn request(&self, behaviour: Behaviour) -> StartRequest {
        request(behaviour)
    }
    async fn still_running(&self, run: &RunRef) -> bool {
        let id = capcom::dispatch::copilot::RunId::parse(run.remote_id.as_deref().unwrap_or("")).unwrap();
        let issues = self.fake.issues.lock().unwrap();
        let Some(i) = issues.get(&id.issue) else { return false };
        let working_pr = i.pr.and_then(|n| self.fake.prs.lock().unwrap().get(&n).cloned()).is_none_or(|p| p.review_requested_at.is_none());
        i.state == "open" && i.assignees.iter().any(|a| a == "Copilot") && working_pr
    }
}

capcom::agent_backend_contract!(copilot_contract, super::CopilotFixture::new());

/// A Cursor agent that finishes with its branch pushed and no PR: the branch's work is brought
/// into the task's worktree (to be reviewed locally), not lost as "changed nothing".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_agent_that_finishes_without_a_pr_has_its_branch_brought_into_the_worktree() {
    let tmp = tempfile::tempdir().unwrap();
    let sh = |dir: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("git").args(["-c", "user.name=u", "-c", "user.email=u@example.com"]).args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (origin, wt) = (tmp.path().join("origin.git"), tmp.path().join("wt"));
    sh(tmp.path(), &["init", "-q", "--bare", "-b", "main", origin.to_str().unwrap()]);
    sh(tmp.path(), &["clone", "-q", origin.to_str().unwrap(), wt.to_str().unwrap()]);
    std::fs::write(wt.join("button.css"), ".btn { color: red; }\n").unwrap();
    sh(&wt, &["add", "-A"]);
    sh(&wt, &["commit", "-qm", "base"]);
    sh(&wt, &["push", "-q", "origin", "HEAD:main"]);
    // Cursor's agent pushes its branch (the name capcom asked for) to GitHub.
    sh(&wt, &["switch", "-q", "-c", "agent"]);
    std::fs::write(wt.join("button.css"), ".btn { color: var(--brand); }\n").unwrap();
    sh(&wt, &["commit", "-qam", "tokens"]);
    sh(&wt, &["push", "-q", "origin", "agent:capcom/7-upgrade-tailwind"]);
    sh(&wt, &["switch", "-q", "main"]);
    sh(&wt, &["branch", "-q", "-D", "agent"]);

    let fake = Arc::new(CursorFake::default());
    fake.no_pr.store(true, Ordering::SeqCst);
    let base = serve_now(cursor_app(fake.clone()));
    let backend = RemoteBackend::new("cursor", Arc::new(cursor_client(&base, Some("key_cursor_0123456789"))), fast());
    let mut launched = backend.start(StartRequest { workdir: wt.clone(), ..request(Behaviour::Succeed) }).await.unwrap();
    let events = drain(&mut launched.events).await;
    match events.last() {
        Some(AgentEvent::Finished { summary: Some(s), .. }) => assert!(s.contains("its branch was applied to the task's worktree"), "{s}"),
        other => panic!("{other:?}\n{events:?}"),
    }
    assert_eq!(std::fs::read_to_string(wt.join("button.css")).unwrap(), ".btn { color: var(--brand); }\n");
}

/// GitHub silently ignores an assignee it cannot assign: capcom reads the issue back and says
/// why, at start, instead of "Copilot is no longer assigned" later.
#[tokio::test]
async fn copilot_that_github_does_not_assign_is_refused_at_start_with_the_reason() {
    let f = CopilotFixture::new();
    f.fake.disabled.store(true, Ordering::SeqCst);
    let e = f.backend.start(request(Behaviour::Succeed)).await.err().expect("no run starts");
    let e = e.to_string();
    assert!(e.contains("Copilot coding agent is not enabled for octo/site, or your plan lacks it"), "{e}");
}

/// Assigned, but Copilot never starts: after `copilot_start_grace` the run needs attention
/// (and is still watched), instead of a silent wait for the whole timeout.
#[tokio::test]
async fn copilot_that_does_not_start_within_the_grace_needs_attention() {
    let fake = Arc::new(CopilotFake::default());
    fake.stalled.store(true, Ordering::SeqCst);
    let base = serve_now(copilot_app(fake.clone()));
    let copilot = capcom::dispatch::copilot::Copilot::new(Arc::new(gh(&base))).with_start_grace(Duration::ZERO);
    let backend = RemoteBackend::new("copilot", Arc::new(copilot), fast());
    let mut launched = backend.start(request(Behaviour::Succeed)).await.unwrap();
    let mut said = None;
    while let Some(e) = launched.events.recv().await {
        if let AgentEvent::NeedsAttention { question } = e {
            said = Some(question);
            break;
        }
        assert!(!e.is_terminal(), "{e:?}");
    }
    let q = said.expect("a needs-attention event");
    assert!(q.contains("Copilot has not started on issue #12") && q.contains("not be enabled for octo/site"), "{q}");
    backend.cancel(&launched.run).await.unwrap();
}

#[tokio::test]
async fn copilot_gets_an_assigned_issue_and_finishes_when_it_requests_review() {
    let f = CopilotFixture::new();
    let mut launched = f.backend.start(request(Behaviour::Succeed)).await.unwrap();
    assert_eq!(launched.run.remote_id.as_deref(), Some("octo/site#12"));
    let events = drain(&mut launched.events).await;
    {
        let issues = f.fake.issues.lock().unwrap();
        let i = &issues[&12];
        assert_eq!(i.title, "Upgrade Tailwind");
        assert!(i.body.contains("Acceptance: build passes."));
        assert_eq!(i.assignment, json!({"base_branch": "main", "custom_instructions": "Run npm test before asking for review."}));
    }
    assert!(events.contains(&AgentEvent::PrOpened { number: 112, url: "https://github.com/octo/site/pull/112".into() }), "{events:?}");
    assert!(events.contains(&AgentEvent::Progress("Copilot committed: Bump tailwindcss to 4.1".into())), "{events:?}");
    match events.last() {
        Some(AgentEvent::Finished { summary: Some(s), .. }) => assert!(s.contains("asked for your review on pull request 112"), "{s}"),
        other => panic!("{other:?}"),
    }
    // A follow-up is a PR comment mentioning @copilot; only a newer review request finishes it again.
    let mut again = f
        .backend
        .follow_up(&launched.run, StartRequest { prompt: "also update the README".into(), ..request(Behaviour::Succeed) })
        .await
        .unwrap();
    assert!(again.run.remote_id.as_deref().unwrap().starts_with("octo/site#12@"));
    let events = drain(&mut again.events).await;
    assert!(matches!(events.last(), Some(AgentEvent::Finished { .. })), "{events:?}");
    assert_eq!(f.fake.prs.lock().unwrap()[&112].comments, vec!["@copilot also update the README".to_string()]);
    assert!(f.fake.prs.lock().unwrap()[&112].polls >= 2, "it waited for the new review request");
}

#[tokio::test]
async fn copilot_finished_and_failed_session_events_end_the_run() {
    // Finished: `copilot_work_finished`, with no review request at all.
    let f = CopilotFixture::new();
    let req = StartRequest { prompt: "Upgrade Tailwind [events]".into(), ..request(Behaviour::Succeed) };
    let mut launched = f.backend.start(req).await.unwrap();
    let events = drain(&mut launched.events).await;
    match events.last() {
        Some(AgentEvent::Finished { summary: Some(s), .. }) => assert!(s.contains("Copilot finished"), "{s}"),
        other => panic!("{other:?}"),
    }
    assert!(f.fake.prs.lock().unwrap()[&112].review_requested_at.is_none());

    // After a follow-up, the earlier finish is not this run's: it waits for the next one.
    let mut again = f
        .backend
        .follow_up(&launched.run, StartRequest { prompt: "also update the README".into(), ..request(Behaviour::Succeed) })
        .await
        .unwrap();
    let events = drain(&mut again.events).await;
    assert!(matches!(events.last(), Some(AgentEvent::Finished { .. })), "{events:?}");
    let sessions = f.fake.prs.lock().unwrap()[&112].sessions.clone();
    assert_eq!(sessions.iter().filter(|(e, _)| e == "copilot_work_finished").count(), 2, "{sessions:?}");

    // Failed: `copilot_work_finished_failure` fails the run at once, with its reason.
    let f = CopilotFixture::new();
    let req = StartRequest { prompt: "Upgrade Tailwind [copilot-fail]".into(), ..request(Behaviour::Succeed) };
    let mut launched = f.backend.start(req).await.unwrap();
    let events = drain(&mut launched.events).await;
    match events.last() {
        Some(AgentEvent::Failed { reason, .. }) => {
            assert!(reason.contains("pull request 112") && reason.contains("failure"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cancelling_copilot_says_what_it_did_and_no_more() {
    let f = CopilotFixture::new();
    let mut launched = f.backend.start(request(Behaviour::Hang)).await.unwrap();
    // Wait until its PR is open, then cancel.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), launched.events.recv()).await.unwrap() {
            Some(AgentEvent::PrOpened { .. }) => break,
            Some(_) => {}
            None => panic!("ended before the PR opened"),
        }
    }
    f.backend.cancel(&launched.run).await.unwrap();
    let events = drain(&mut launched.events).await;
    match events.last() {
        Some(AgentEvent::Failed { reason, .. }) => {
            assert!(reason.contains("Copilot was unassigned and the issue closed; it may still push to its branch"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let issues = f.fake.issues.lock().unwrap();
    assert_eq!(issues[&12].state, "closed");
    assert!(issues[&12].assignees.is_empty());
}

// ---------------------------------------------------------------- Codex cloud stand-in

/// A stand-in `codex` executable for the `cloud` subcommands, behaving as the real
/// CLI does (openai/codex `codex-rs/cloud-tasks/src/cli.rs` and `lib.rs`; statuses from
/// `codex-rs/cloud-tasks-client/src/api.rs`):
/// - `exec --env ENV [--branch B] [--attempts N] QUERY` prints the task's URL;
/// - `status ID` prints `[STATUS] title`, the environment and a diff summary, and
///   exits 1 for every status but READY (`run_status_command`);
/// - `list [--json] [--env E] [--limit 1..20] [--cursor C]` prints
///   `{"tasks":[{id,url,title,status,updated_at,environment_id,environment_label,summary,…}],"cursor":…}`,
///   newest first (`run_list_command`);
/// - `apply ID` applies a ready task's diff in the current directory, exits 1 otherwise.
///
/// It keeps its tasks as files in `$CODEX_FAKE_DIR` (`behaviour reads applied env`)
/// and records each call's argv (NUL-separated) and working directory. A task is
/// pending for its first read (`[slow]`: its first 25, twenty-five minutes at the
/// default one-minute poll; `[hang]`: always), then ready (`[fail]`: error). With a
/// file `unlisted` in the state dir, `list` lists nothing, so `status` is what is read.
const CODEX_STANDIN: &str = r#"#!/bin/sh
dir="$CODEX_FAKE_DIR"
n=$(ls "$dir" | grep -c '^call\.')
for a in "$@"; do printf '%s\0' "$a"; done > "$dir/call.$n"
pwd > "$dir/cwd.$n"
# The real CLI appends its diagnostics, the account id included, to error.log in its current
# directory (openai/codex codex-rs/cloud-tasks/src/util.rs, append_error_log).
echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] cloud $2: account_id=acct_7f3e9c2a user_id=user-4411" >> error.log
[ "$1" = cloud ] || { echo "error: unrecognized subcommand '$1'" >&2; exit 2; }
sub="$2"
shift 2
# read_task ID: one more read of the task; sets b, reads, applied, tenv and s.
read_task() {
  read b reads applied tenv < "$dir/$1"
  reads=$((reads + 1))
  echo "$b $reads $applied $tenv" > "$dir/$1"
  if [ "$applied" = 1 ]; then s=applied
  elif [ "$b" = hang ]; then s=pending
  elif [ "$b" = slow ] && [ "$reads" -le 25 ]; then s=pending
  elif [ "$reads" -lt 2 ]; then s=pending
  elif [ "$b" = fail ]; then s=error
  else s=ready; fi
}
case "$sub" in
  exec)
    env=""; branch=""; prompt=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --env) env="$2"; shift 2 ;;
        --branch) branch="$2"; shift 2 ;;
        --attempts) shift 2 ;;
        --) prompt="$2"; shift 2 ;;
        -*) echo "error: unexpected argument '$1' found" >&2; exit 2 ;;
        *) prompt="$1"; shift ;;
      esac
    done
    [ -n "$env" ] || { echo "error: the following required arguments were not provided:\n  --env <ENV_ID>" >&2; exit 2; }
    count=$(ls "$dir" | grep -c '^task_e_[0-9]*$')
    id="task_e_$((count + 1))"
    case "$prompt" in
      *"[fail]"*) b=fail ;;
      *"[hang]"*) b=hang ;;
      *"[slow]"*) b=slow ;;
      *) b=ok ;;
    esac
    echo "$b 0 0 $env" > "$dir/$id"
    printf '%s' "$prompt" > "$dir/$id.prompt"
    printf '%s' "${branch:-main}" > "$dir/$id.branch"
    echo "https://chatgpt.com/codex/tasks/$id"
    ;;
  status)
    id="$1"
    [ -f "$dir/$id" ] || { echo "Error: http error: 404 Not Found: task $id not found" >&2; exit 1; }
    read_task "$id"
    echo "[$(echo $s | tr a-z A-Z)] Upgrade Tailwind"
    echo "$tenv  •  just now"
    if [ "$s" = ready ] || [ "$s" = applied ]; then echo "+10/-3 • 2 files"; else echo "no diff"; fi
    [ "$s" = ready ] || exit 1
    ;;
  list)
    json=0; env=""; limit=20; cursor=0
    while [ $# -gt 0 ]; do
      case "$1" in
        --json) json=1; shift ;;
        --env) env="$2"; shift 2 ;;
        --limit) limit="$2"; shift 2 ;;
        --cursor) cursor="$2"; shift 2 ;;
        *) echo "error: unexpected argument '$1' found" >&2; exit 2 ;;
      esac
    done
    if [ "$limit" -lt 1 ] || [ "$limit" -gt 20 ]; then
      echo "error: invalid value '$limit' for '--limit <N>': limit must be between 1 and 20" >&2; exit 2
    fi
    [ "$json" = 1 ] || { echo "No tasks found."; exit 0; }
    ids=""
    if [ ! -f "$dir/unlisted" ]; then
      ids=$(ls "$dir" | grep '^task_e_[0-9]*$' | sed 's/task_e_//' | sort -rn | sed 's/^/task_e_/')
    fi
    printf '{\n  "tasks": ['
    i=0; shown=0; sep=""
    for id in $ids; do
      read b reads applied tenv < "$dir/$id"
      [ -z "$env" ] || [ "$env" = "$tenv" ] || continue
      i=$((i + 1))
      [ "$i" -gt "$cursor" ] || continue
      [ "$shown" -lt "$limit" ] || break
      shown=$((shown + 1))
      read_task "$id"
      if [ "$s" = ready ] || [ "$s" = applied ]; then f=2; a=10; r=3; else f=0; a=0; r=0; fi
      printf '%s\n    {\n      "id": "%s",\n      "url": "https://chatgpt.com/codex/tasks/%s",\n      "title": "Upgrade Tailwind",\n      "status": "%s",\n      "updated_at": "2026-11-21T10:00:00Z",\n      "environment_id": "%s",\n      "environment_label": null,\n      "summary": {\n        "files_changed": %s,\n        "lines_added": %s,\n        "lines_removed": %s\n      },\n      "is_review": false,\n      "attempt_total": 1\n    }' "$sep" "$id" "$id" "$s" "$tenv" "$f" "$a" "$r"
      sep=","
    done
    total=$(echo "$ids" | grep -c task_e_)
    next=$((cursor + shown))
    if [ "$next" -lt "$total" ] && [ "$shown" -gt 0 ]; then c="\"$next\""; else c=null; fi
    printf '\n  ],\n  "cursor": %s\n}\n' "$c"
    ;;
  diff)
    id="$1"
    [ -f "$dir/$id" ] || { echo "Error: http error: 404 Not Found: task $id not found" >&2; exit 1; }
    read b reads applied tenv < "$dir/$id"
    if [ "$b" = fail ] || [ "$b" = hang ] || [ "$reads" -lt 2 ]; then
      echo "Error: No diff available for task $id; it may still be running." >&2; exit 1
    fi
    printf 'diff --git a/codex-%s.patched b/codex-%s.patched\nnew file mode 100644\n--- /dev/null\n+++ b/codex-%s.patched\n@@ -0,0 +1 @@\n+applied %s\n' "$id" "$id" "$id" "$id"
    ;;
  apply)
    id="$1"
    [ -f "$dir/$id" ] || { echo "Error: http error: 404 Not Found: task $id not found" >&2; exit 1; }
    read b reads applied tenv < "$dir/$id"
    if [ "$b" = fail ] || [ "$b" = hang ] || [ "$reads" -lt 2 ]; then
      echo "Error: No diff available for task $id; it may still be running." >&2; exit 1
    fi
    echo "applied $id" > "codex-$id.patched"
    echo "$b $reads 1 $tenv" > "$dir/$id"
    echo "Applied task $id locally (2 files changed)"
    ;;
  *) echo "error: unrecognized subcommand '$sub'" >&2; exit 2 ;;
esac
"#;

struct CodexFixture {
    dir: tempfile::TempDir,
    backend: Arc<RemoteBackend>,
}

impl CodexFixture {
    fn new() -> CodexFixture {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let wt = dir.path().join("wt");
        std::fs::create_dir_all(&wt).unwrap();
        // The task's worktree is a git checkout, as the dispatcher's are.
        for args in [&["init", "-q", "-b", "main"][..], &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-q", "--allow-empty", "-m", "base"][..]] {
            assert!(std::process::Command::new("git").args(args).current_dir(&wt).status().unwrap().success());
        }
        let codex = bin.join("codex");
        std::fs::write(&codex, CODEX_STANDIN).unwrap();
        std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
        let agent = capcom::config::Agent {
            kind: "codex-cloud".into(),
            environment: "env_web".into(),
            command: vec![codex.to_string_lossy().into_owned()],
            env: [("CODEX_FAKE_DIR".to_string(), state.to_string_lossy().into_owned())].into(),
            ..capcom::config::Agent::default()
        };
        let cc = capcom::dispatch::codex_cloud::CodexCloud::from_config(&agent).unwrap();
        CodexFixture { dir, backend: Arc::new(RemoteBackend::new("codex-cloud", Arc::new(cc), fast())) }
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn calls(&self) -> Vec<Vec<String>> {
        let mut names: Vec<_> = std::fs::read_dir(self.state())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("call."))
            .collect();
        names.sort_by_key(|n| n[5..].parse::<usize>().unwrap_or(0));
        names
            .iter()
            .map(|n| {
                let raw = std::fs::read(self.state().join(n)).unwrap();
                raw.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Fixture for CodexFixture {
    fn backend(&self) -> Arc<dyn AgentBackend> {
        self.backend.clone()
    }
    fn request(&self, behaviour: Behaviour) -> StartRequest {
        StartRequest { workdir: self.dir.path().join("wt"), github: None, ..request(behaviour) }
    }
    async fn still_running(&self, run: &RunRef) -> bool {
        let id = run.remote_id.clone().unwrap_or_default();
        let line = std::fs::read_to_string(self.state().join(&id)).unwrap_or_default();
        let mut parts = line.split_whitespace();
        let (b, polls) = (parts.next().unwrap_or(""), parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0));
        b == "hang" || (!b.is_empty() && polls < 2)
    }
}

// The Codex CLI has no cancel, so the contract's cancel and re-attach cases (which
// require the service to stop the run) do not apply; these three do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cloud_contract_success() {
    capcom::dispatch::contract::success_ends_with_finished(&CodexFixture::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cloud_contract_failure() {
    capcom::dispatch::contract::failure_ends_with_failed(&CodexFixture::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cloud_contract_follow_up() {
    capcom::dispatch::contract::follow_up_continues(&CodexFixture::new()).await;
}

#[tokio::test]
async fn codex_cloud_runs_argv_only_and_applies_the_result_to_the_worktree() {
    let f = CodexFixture::new();
    let nasty = "Fix \"quotes\" and $(touch pwned) `touch pwned2`; rm -rf / && echo hi\n--not-a-flag";
    let req = StartRequest { prompt: nasty.into(), ..f.request(Behaviour::Succeed) };
    let mut launched = f.backend.start(req).await.unwrap();
    assert_eq!(launched.run.remote_id.as_deref(), Some("task_e_1"));
    let events = drain(&mut launched.events).await;
    match events.last() {
        Some(AgentEvent::Finished { summary: Some(s), .. }) => {
            assert!(s.contains("2 files, +10 −3"), "{s}");
            assert!(s.contains("applied to the task's worktree"), "{s}");
        }
        other => panic!("{other:?}"),
    }
    // The prompt arrived as exactly one argument, untouched; nothing ran it through a shell.
    assert_eq!(std::fs::read_to_string(f.state().join("task_e_1.prompt")).unwrap(), nasty);
    let calls = f.calls();
    assert_eq!(calls[0], vec!["cloud", "exec", "--env", "env_web", "--branch", "main", nasty]);
    assert!(calls.iter().any(|c| c == &["cloud", "list", "--json", "--env", "env_web", "--limit", "20"]), "{calls:?}");
    assert!(calls.iter().any(|c| c == &["cloud", "diff", "task_e_1"]), "{calls:?}");
    assert!(!f.dir.path().join("wt/pwned").exists() && !f.state().join("pwned").exists());
    assert!(f.dir.path().join("wt/codex-task_e_1.patched").exists(), "the diff was applied to the worktree");

    // A prompt that starts with a dash cannot be read as a flag.
    let dash = StartRequest { prompt: "--help me".into(), ..f.request(Behaviour::Succeed) };
    let mut l = f.backend.start(dash).await.unwrap();
    drain(&mut l.events).await;
    assert!(f.calls().iter().any(|c| c == &["cloud", "exec", "--env", "env_web", "--branch", "main", "--", "--help me"]));
}

/// The Codex CLI writes `error.log` (with the account id) into its current directory on
/// `codex cloud` calls. Every call runs in a private scratch directory of the task: the
/// worktree, the branch and the process's own directory never get it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cloud_runs_the_cli_in_a_private_scratch_dir_so_its_error_log_never_reaches_the_branch() {
    let f = CodexFixture::new();
    let own_log = std::env::current_dir().unwrap().join("error.log");
    let own_before = std::fs::metadata(&own_log).map(|m| m.len()).ok();
    let mut launched = f.backend.start(f.request(Behaviour::Succeed)).await.unwrap();
    let events = drain(&mut launched.events).await;
    assert!(matches!(events.last(), Some(AgentEvent::Finished { .. })), "{events:?}");
    let wt = f.dir.path().join("wt");
    assert!(wt.join("codex-task_e_1.patched").exists());
    assert!(!wt.join("error.log").exists(), "the CLI's log is not in the worktree");
    let staged = std::process::Command::new("git").args(["status", "--porcelain"]).current_dir(&wt).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&staged.stdout).trim(), "A  codex-task_e_1.patched", "only the result is there to commit");
    assert_eq!(std::fs::metadata(&own_log).map(|m| m.len()).ok(), own_before, "the daemon's own directory got no log");
    // Every call ran somewhere private: not the worktree, not the process's directory.
    let wt = wt.canonicalize().unwrap();
    let here = std::env::current_dir().unwrap().canonicalize().unwrap();
    let n = f.calls().len();
    assert!(n >= 3, "exec, a status read and the diff at least");
    for i in 0..n {
        let cwd = std::path::PathBuf::from(std::fs::read_to_string(f.state().join(format!("cwd.{i}"))).unwrap().trim());
        let cwd = cwd.canonicalize().unwrap_or(cwd);
        assert!(!cwd.starts_with(&wt) && cwd != here, "call {i} ran in {}", cwd.display());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cwd).unwrap().permissions().mode() & 0o777, 0o700, "{}", cwd.display());
    }
}

impl CodexFixture {
    fn backend_with(&self, opts: WatchOptions) -> Arc<RemoteBackend> {
        let agent = capcom::config::Agent {
            kind: "codex-cloud".into(),
            environment: "env_web".into(),
            command: vec![self.dir.path().join("bin/codex").to_string_lossy().into_owned()],
            env: [("CODEX_FAKE_DIR".to_string(), self.state().to_string_lossy().into_owned())].into(),
            ..capcom::config::Agent::default()
        };
        let cc = capcom::dispatch::codex_cloud::CodexCloud::from_config(&agent).unwrap();
        Arc::new(RemoteBackend::new("codex-cloud", Arc::new(cc), opts))
    }
}

/// Twenty-five reads of PENDING (twenty-five minutes at the default one-minute poll),
/// each a `codex cloud status` that exits 1 as the real CLI does, then READY: the run
/// finishes and the result is applied in the task's worktree. Both ways the status is
/// read: the `list --json` page and, for a task the list does not show, `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cloud_a_task_pending_for_twenty_minutes_finishes_ready_and_is_applied() {
    for listed in [false, true] {
        let f = CodexFixture::new();
        if !listed {
            std::fs::write(f.state().join("unlisted"), "").unwrap();
        }
        // The dispatcher's defaults: ten errors in a row fail a run. Only the interval is short.
        let backend = f.backend_with(WatchOptions { poll: Duration::from_millis(5), ..WatchOptions::default() });
        let req = StartRequest { prompt: "Upgrade Tailwind [slow]".into(), base: "develop".into(), ..f.request(Behaviour::Succeed) };
        let mut launched = backend.start(req).await.unwrap();
        let events = drain(&mut launched.events).await;
        match events.last() {
            Some(AgentEvent::Finished { summary: Some(s), .. }) => assert!(s.contains("applied to the task's worktree"), "{s}"),
            other => panic!("listed {listed}: {other:?}\n{events:?}"),
        }
        assert!(!events.iter().any(|e| matches!(e, AgentEvent::Progress(p) if p.contains("unreachable"))), "{events:?}");
        assert!(f.dir.path().join("wt/codex-task_e_1.patched").exists(), "apply ran in the worktree");
        let calls = f.calls();
        let statuses = calls.iter().filter(|c| c[..2] == ["cloud", "status"]).count();
        if listed {
            assert_eq!(statuses, 0, "the JSON list answered: {calls:?}");
        } else {
            assert!(statuses > 25, "read through `status` ({statuses} reads)");
        }
        // On the repo's base branch, named on the command line.
        assert_eq!(calls[0][..6], ["cloud", "exec", "--env", "env_web", "--branch", "develop"]);
        assert_eq!(std::fs::read_to_string(f.state().join("task_e_1.branch")).unwrap(), "develop");
    }
}

/// Each status the Codex cloud API has, read as the real CLI reports it: `status`
/// prints `[STATUS] title` and exits 1 unless READY; `list --json` says the same in JSON.
#[tokio::test]
async fn codex_cloud_statuses_are_read_whatever_the_exit_code() {
    use capcom::dispatch::codex_cloud::{CodexCloud, map_status};
    use capcom::dispatch::remote::RemoteState;
    for listed in [false, true] {
        let f = CodexFixture::new();
        if !listed {
            std::fs::write(f.state().join("unlisted"), "").unwrap();
        }
        let cc = CodexCloud::from_config(&capcom::config::Agent {
            kind: "codex-cloud".into(),
            environment: "env_web".into(),
            command: vec![f.dir.path().join("bin/codex").to_string_lossy().into_owned()],
            env: [("CODEX_FAKE_DIR".to_string(), f.state().to_string_lossy().into_owned())].into(),
            ..capcom::config::Agent::default()
        })
        .unwrap();
        let ok = cc.exec_on("Upgrade Tailwind", "main", None).await.unwrap();
        let bad = cc.exec_on("Upgrade Tailwind [fail]", "main", None).await.unwrap();
        let read = |id: String| {
            let cc = &cc;
            async move { cc.status(&id).await.unwrap_or_else(|e| panic!("listed {listed}: {e}")) }
        };
        let t = read(ok.clone()).await;
        assert_eq!(t.status, "pending");
        assert!(matches!(map_status(&t), RemoteState::Working { .. }));
        let t = read(ok.clone()).await;
        assert_eq!(t.status, "ready");
        assert!(matches!(map_status(&t), RemoteState::Done { .. }));
        let wt = f.dir.path().join("wt");
        cc.apply(&ok, &wt).await.unwrap();
        assert!(wt.join(format!("codex-{ok}.patched")).exists());
        // Applied here, through git: the cloud still says READY, and a second apply (a
        // restart) finds it already there.
        let t = read(ok.clone()).await;
        assert!(matches!(map_status(&t), RemoteState::Done { .. }));
        cc.apply(&ok, &wt).await.unwrap();
        read(bad.clone()).await;
        let t = read(bad.clone()).await;
        assert_eq!(t.status, "error");
        assert!(matches!(map_status(&t), RemoteState::Failed { .. }));
        if !listed {
            // The real exit codes: 1 unless READY, and capcom read through them.
            let out = std::process::Command::new(f.dir.path().join("bin/codex"))
                .args(["cloud", "status", &bad])
                .env("CODEX_FAKE_DIR", f.state())
                .current_dir(f.dir.path())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1));
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("[ERROR] "));
        }
    }
}

#[tokio::test]
async fn codex_cloud_cli_errors_are_reported() {
    use capcom::dispatch::codex_cloud::CodexCloud;
    let f = CodexFixture::new();
    let cc = CodexCloud::from_config(&capcom::config::Agent {
        kind: "codex-cloud".into(),
        environment: "env_web".into(),
        command: vec![f.dir.path().join("bin/codex").to_string_lossy().into_owned()],
        env: [("CODEX_FAKE_DIR".to_string(), f.state().to_string_lossy().into_owned())].into(),
        ..capcom::config::Agent::default()
    })
    .unwrap();
    let e = cc.status("task_e_404").await.unwrap_err();
    assert!(e.to_string().contains("task task_e_404 not found"), "{e}");
    assert!(cc.status("--all").await.is_err(), "an id that looks like a flag is refused");
    assert!(cc.diff("task_e_1").await.unwrap_err().to_string().contains("not found"), "no such task yet");
    let id = cc.exec_on("Upgrade Tailwind", "main", None).await.unwrap();
    cc.status(&id).await.unwrap();
    cc.status(&id).await.unwrap();
    assert!(cc.diff(&id).await.unwrap().contains("diff --git"));
    let missing = CodexCloud::new("/nonexistent/codex", "env_web");
    assert!(missing.exec("x").await.unwrap_err().to_string().contains("cannot run"));
    let no_env = CodexCloud::from_config(&capcom::config::Agent { kind: "codex-cloud".into(), ..Default::default() });
    assert!(no_env.is_err());
}

// ---------------------------------------------------------------- rate: one PR polled for an hour

/// A PR whose state changes a few times in an hour: checks queued, running,
/// green; a new push at minute 30 (new head, checks again). Every GET carries an
/// ETag and answers 304 when it still matches.
struct HourOfPr {
    start: tokio::time::Instant,
    full: AtomicUsize,
    not_modified: AtomicUsize,
}

impl HourOfPr {
    fn minute(&self) -> u64 {
        self.start.elapsed().as_secs() / 60
    }
    fn head(&self) -> String {
        if self.minute() < 30 { SHA.to_string() } else { "2222222222222222222222222222222222222222".to_string() }
    }
    fn checks(&self) -> (&'static str, Value) {
        let m = self.minute() % 30;
        if m < 5 {
            ("queued", Value::Null)
        } else if m < 12 {
            ("in_progress", Value::Null)
        } else {
            ("completed", json!("success"))
        }
    }
    fn answer(&self, h: &HeaderMap, body: Value) -> Response {
        let etag = format!("\"{:x}\"", { use std::hash::{Hash, Hasher}; let mut s = std::collections::hash_map::DefaultHasher::new(); body.to_string().hash(&mut s); s.finish() });
        if h.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            let mut hm = HeaderMap::new();
            hm.insert("etag", etag.parse().unwrap());
            return (StatusCode::NOT_MODIFIED, hm).into_response();
        }
        self.full.fetch_add(1, Ordering::SeqCst);
        let mut hm = HeaderMap::new();
        hm.insert("etag", etag.parse().unwrap());
        (hm, Json(body)).into_response()
    }
}

#[tokio::test(start_paused = true)]
async fn polling_a_pr_for_an_hour_with_etags_costs_a_handful_of_counted_requests() {
    let hour = Arc::new(HourOfPr { start: tokio::time::Instant::now(), full: AtomicUsize::new(0), not_modified: AtomicUsize::new(0) });
    let app = Router::new()
        .route(
            "/repos/{o}/{r}/pulls/{n}",
            get(|State(s): State<Arc<HourOfPr>>, h: HeaderMap| async move {
                let body = pr_json(41, json!(true), &s.head());
                s.answer(&h, body)
            }),
        )
        .route(
            "/repos/{o}/{r}/commits/{sha}/check-runs",
            get(|State(s): State<Arc<HourOfPr>>, h: HeaderMap| async move {
                let (status, conclusion) = s.checks();
                let body = json!({"total_count": 2, "check_runs": [
                    check_run(1, "build", status, conclusion.clone()), check_run(2, "test", status, conclusion)]});
                s.answer(&h, body)
            }),
        )
        .route(
            "/repos/{o}/{r}/commits/{sha}/status",
            get(|State(s): State<Arc<HourOfPr>>, h: HeaderMap| async move {
                s.answer(&h, json!({"state": "pending", "sha": s.head(), "total_count": 0, "statuses": []}))
            }),
        )
        .route(
            "/repos/{o}/{r}/actions/runs",
            get(|State(s): State<Arc<HourOfPr>>, h: HeaderMap| async move {
                // REST "List workflow runs for a repository", filtered by head_sha.
                let (status, conclusion) = s.checks();
                let body = json!({"total_count": 1, "workflow_runs": [{"id": 9, "name": "CI", "head_sha": s.head(),
                    "event": "pull_request", "status": status, "conclusion": conclusion}]});
                s.answer(&h, body)
            }),
        )
        .with_state(hour.clone());
    let base = serve(app).await;
    let g = gh(&base);
    let poll = capcom::config::Github::default().poll.get();
    assert_eq!(poll, Duration::from_secs(60), "the default poll interval");
    let mut states = Vec::new();
    while hour.start.elapsed() < Duration::from_secs(3600) {
        let r = g.report(&slug(), 41).await.unwrap();
        let s = r.verdict.task_state().as_str();
        if states.last() != Some(&s) {
            states.push(s);
        }
        tokio::time::sleep(poll).await;
    }
    let stats = g.stats();
    let (full, not_modified) = (hour.full.load(Ordering::SeqCst), hour.not_modified.load(Ordering::SeqCst));
    println!(
        "one PR polled for an hour every {}s with ETags: {} requests, {} answered 304 (free), {} counted against the rate limit",
        poll.as_secs(),
        stats.sent,
        not_modified,
        full
    );
    assert_eq!(stats.sent as usize, full + not_modified);
    assert_eq!(stats.sent, 240, "four conditional GETs per poll (PR, check runs, status, workflow runs), sixty polls");
    // Counted: the first read of each URL, and a re-read only when something changed.
    assert!(full <= 20, "{full} counted requests");
    assert_eq!(states, vec!["checking", "ready", "checking", "ready"]);
}

// ---------------------------------------------------------------- doctor

#[tokio::test]
async fn doctor_checks_each_remote_agent_with_one_cheap_call() {
    use capcom::dispatch::remote::{CheckLevel, remote_checks_with};
    let jules = serve(jules_app(Arc::new(JulesFake::default()))).await;
    let cursor = serve(cursor_app(Arc::new(CursorFake::default()))).await;
    let github = serve(Router::new().route(
        "/user",
        get(|h: HeaderMap| async move {
            if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer ghp_test_token_0123456789") {
                Json(json!({"login": "octocat", "id": 1})).into_response()
            } else {
                err(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}))
            }
        }),
    ))
    .await;
    let offline = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let toml = format!(
        r#"
[github]
api_url = "{github}"
token_env = "GH_OK"
[[repos]]
name = "site"
path = "/tmp/site"
github = "octo/site"
review = "github"
[[repos]]
name = "blog"
path = "/tmp/blog"
github = "octo/blog"
[agents.copilot]
kind = "github-copilot"
token_env = "GH_BAD"
[agents.jules-forbidden]
kind = "jules"
api_url = "{jules}/v1alpha"
token_env = "JULES_FORBIDDEN"
[agents.jules]
kind = "jules"
api_url = "{jules}/v1alpha"
token_env = "JULES_OK"
[agents.cursor]
kind = "cursor"
api_url = "{cursor}"
token_env = "CURSOR_OK"
[agents.cursor-short]
kind = "cursor"
api_url = "{cursor}"
token_env = "CURSOR_OK"
webhook_secret_env = "HOOK_SHORT"
[agents.cursor-offline]
kind = "cursor"
api_url = "{offline}"
token_env = "CURSOR_OK"
[agents.jules-unset]
kind = "jules"
api_url = "{jules}/v1alpha"
token_env = "NOT_SET"
[agents.codex-cloud]
kind = "codex-cloud"
command = ["/nonexistent/codex"]
environment = "env_web"
"#
    );
    let (config, _) = capcom::config::from_str(&toml, "doctor.toml").unwrap();
    let tokens = |var: &str| -> Option<Secret> {
        match var {
            "GH_OK" => Some(Secret::new("ghp_test_token_0123456789")),
            "GH_BAD" => Some(Secret::new("ghp_revoked_token_0123456789")),
            "JULES_OK" => Some(Secret::new("jules-key-0123456789")),
            "JULES_FORBIDDEN" => Some(Secret::new("forbidden-key-0123456789")),
            "CURSOR_OK" => Some(Secret::new("key_cursor_0123456789")),
            "HOOK_SHORT" => Some(Secret::new("whsec_short_01234567")),
            _ => None,
        }
    };
    let checks = remote_checks_with(&config, &tokens).await;
    let find = |name: &str| checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} in {checks:?}"));
    assert_eq!(find("github").level, CheckLevel::Ok);
    assert!(find("github").detail.contains("octocat"));
    assert_eq!(find("agent copilot").level, CheckLevel::Fail);
    assert_eq!(find("agent copilot").detail, "GitHub token missing or wrong: set $GH_BAD");
    assert_eq!(find("agent jules").level, CheckLevel::Ok, "{:?}", find("agent jules"));
    // octo/site is connected to Jules; octo/blog is not, and doctor says what to do.
    let unconnected: Vec<_> = checks.iter().filter(|c| c.name == "agent jules" && c.level == CheckLevel::Warn).collect();
    assert_eq!(unconnected.len(), 1, "{checks:?}");
    assert!(unconnected[0].detail.starts_with("connect octo/blog to Jules first"), "{:?}", unconnected[0]);
    // A key Jules answers with 403 is a wrong key, as with 401.
    assert_eq!(find("agent jules-forbidden").level, CheckLevel::Fail);
    assert_eq!(find("agent jules-forbidden").detail, "Jules token missing or wrong: set $JULES_FORBIDDEN");
    assert_eq!(find("agent cursor").level, CheckLevel::Ok);
    assert!(find("agent cursor").detail.contains("me@example.com"));
    // Cursor requires webhook secrets of at least 32 characters; a shorter one fails doctor.
    let short = checks.iter().find(|c| c.name == "agent cursor-short" && c.level == CheckLevel::Fail).unwrap_or_else(|| panic!("{checks:?}"));
    assert!(short.detail.contains("has 20 characters; Cursor requires at least 32"), "{short:?}");
    assert!(!short.detail.contains("whsec_short"), "the secret is never said");
    assert_eq!(find("agent cursor-offline").level, CheckLevel::Warn);
    assert!(find("agent cursor-offline").detail.contains("cannot reach Cursor"), "{:?}", find("agent cursor-offline"));
    assert_eq!(find("agent jules-unset").level, CheckLevel::Warn);
    assert_eq!(find("agent jules-unset").detail, "$NOT_SET is not set");
    assert_eq!(find("agent codex-cloud").level, CheckLevel::Warn);
    for c in &checks {
        assert!(!c.detail.contains("ghp_") && !c.detail.contains("key_cursor"), "no token in {c:?}");
    }
}

// ---------------------------------------------------------------- a poke looks at once

/// A remote agent that reports working until told it finished.
struct Flag(Arc<std::sync::atomic::AtomicBool>);

#[async_trait::async_trait]
impl RemoteAgent for Flag {
    fn vendor(&self) -> &str {
        "Flag"
    }
    async fn launch(&self, _req: &StartRequest) -> Result<capcom::dispatch::remote::Handle, capcom::dispatch::remote::RemoteError> {
        Ok(capcom::dispatch::remote::Handle { id: "bc_poke".into(), url: None })
    }
    async fn look(&self, _id: &str, _c: &mut LookCursor) -> Result<capcom::dispatch::remote::Look, capcom::dispatch::remote::RemoteError> {
        let state = if self.0.load(Ordering::SeqCst) {
            RemoteState::Done { summary: "done".into(), pr: None }
        } else {
            RemoteState::Working { detail: "RUNNING".into() }
        };
        Ok(capcom::dispatch::remote::Look::state(state))
    }
    async fn follow_up(&self, id: &str, _text: &str) -> Result<String, capcom::dispatch::remote::RemoteError> {
        Ok(id.to_string())
    }
    async fn stop(&self, _id: &str) -> Result<(), capcom::dispatch::remote::RemoteError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_webhook_poke_makes_the_watcher_look_before_the_next_poll() {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // An hour between polls: only the poke can make the watcher see the change.
    let opts = WatchOptions { poll: Duration::from_secs(3600), ..WatchOptions::default() };
    let b = RemoteBackend::new("cursor", Arc::new(Flag(done.clone())), opts);
    let mut launched = b.start(request(Behaviour::Succeed)).await.unwrap();
    assert!(matches!(launched.events.recv().await, Some(AgentEvent::Started { .. })));
    done.store(true, Ordering::SeqCst);
    b.poke("some-other-run");
    b.poke("bc_poke");
    // A guard against a hang, not a timing assertion: without the poke this waits an hour.
    let ev = tokio::time::timeout(Duration::from_secs(60), launched.events.recv()).await.expect("the poke woke the watcher");
    assert!(matches!(ev, Some(AgentEvent::Finished { .. })), "{ev:?}");
    // The watcher is gone, and with it what it shared.
    assert!(launched.events.recv().await.is_none());
    for _ in 0..100 {
        if b.watching() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(b.watching(), 0, "a finished run leaves nothing behind");
}

// ---------------------------------------------------------------- wrong credentials, every call

/// Each `(method, path)` of a stand-in, called with `header` (or no credential at all): every
/// one answers `want` before it does anything.
async fn every_route_refuses(base: &str, routes: &[(&str, &str)], header: Option<(&str, &str)>, want: u16) {
    let http = reqwest::Client::new();
    for (method, path) in routes {
        let mut req = http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}{path}"))
            .header("content-type", "application/json")
            .body("{}");
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let status = req.send().await.unwrap().status().as_u16();
        assert_eq!(status, want, "{method} {path} with {header:?}");
    }
}

/// The client with a wrong (or no) key on each call the backend makes: create, poll,
/// follow-up, cancel. Every one fails with the error that names the variable, permanently.
async fn every_call_refused(agent: &dyn RemoteAgent, run: &str, names: &str) {
    let calls = [
        ("create", agent.launch(&request(Behaviour::Succeed)).await.map(|_| ())),
        ("poll", agent.look(run, &mut LookCursor::default()).await.map(|_| ())),
        ("follow-up", agent.follow_up(run, "also bump PostCSS").await.map(|_| ())),
        ("cancel", agent.stop(run).await),
    ];
    for (call, result) in calls {
        let e = result.expect_err(call);
        assert!(e.to_string().contains(names), "{call}: {e}");
        assert!(e.is_permanent(), "{call}: a wrong key is not retried: {e}");
    }
}

#[tokio::test]
async fn jules_refuses_a_wrong_key_on_every_call() {
    let fake = Arc::new(JulesFake::default());
    let base = serve(jules_app(fake.clone())).await;
    let run = jules_client(&base, Some("jules-key-0123456789")).launch(&request(Behaviour::Hang)).await.unwrap().id;
    for key in [Some("wrong-key-0123456789"), Some("forbidden-key-0123456789"), None] {
        every_call_refused(&jules_client(&base, key), &run, "Jules token missing or wrong: set $JULES_API_KEY").await;
    }
    {
        let sessions = fake.sessions.lock().unwrap();
        assert_eq!(sessions.len(), 1, "no session was made with a wrong key");
        let s = &sessions[&run];
        assert!(s.messages.is_empty() && !s.approved && !s.deleted, "a refused call changed nothing");
    }
    let routes = [
        ("POST", "/v1alpha/sessions".to_string()),
        ("GET", "/v1alpha/sessions".to_string()),
        ("GET", format!("/v1alpha/sessions/{run}")),
        ("POST", format!("/v1alpha/sessions/{run}:sendMessage")),
        ("POST", format!("/v1alpha/sessions/{run}:approvePlan")),
        ("DELETE", format!("/v1alpha/sessions/{run}")),
        ("GET", format!("/v1alpha/sessions/{run}/activities")),
        ("GET", "/v1alpha/sources".to_string()),
    ];
    let routes: Vec<(&str, &str)> = routes.iter().map(|(m, p)| (*m, p.as_str())).collect();
    every_route_refuses(&base, &routes, Some(("x-goog-api-key", "wrong-key-0123456789")), 401).await;
    every_route_refuses(&base, &routes, Some(("x-goog-api-key", "forbidden-key-0123456789")), 403).await;
    every_route_refuses(&base, &routes, None, 401).await;
    // the key as a bearer token is not how Jules takes it
    every_route_refuses(&base, &routes, Some(("authorization", "Bearer jules-key-0123456789")), 401).await;
}

#[tokio::test]
async fn cursor_refuses_a_wrong_key_on_every_call() {
    let fake = Arc::new(CursorFake::default());
    let base = serve(cursor_app(fake.clone())).await;
    let run = cursor_client(&base, Some("key_cursor_0123456789")).launch(&request(Behaviour::Hang)).await.unwrap().id;
    for key in [Some("wrong_0123456789"), None] {
        every_call_refused(&cursor_client(&base, key), &run, "Cursor token missing or wrong: set $CURSOR_API_KEY").await;
    }
    {
        let agents = fake.agents.lock().unwrap();
        assert_eq!(agents.len(), 1, "no agent was made with a wrong key");
        let a = &agents[&run];
        assert!(a.followups.is_empty() && a.status == "CREATING", "a refused call changed nothing: {}", a.status);
    }
    let routes = [
        ("POST", "/v0/agents".to_string()),
        ("GET", format!("/v0/agents/{run}")),
        ("POST", format!("/v0/agents/{run}/followup")),
        ("POST", format!("/v0/agents/{run}/stop")),
        ("GET", format!("/v0/agents/{run}/conversation")),
        ("GET", "/v0/me".to_string()),
    ];
    let routes: Vec<(&str, &str)> = routes.iter().map(|(m, p)| (*m, p.as_str())).collect();
    every_route_refuses(&base, &routes, Some(("authorization", "Bearer wrong_0123456789")), 401).await;
    every_route_refuses(&base, &routes, None, 401).await;
    every_route_refuses(&base, &routes, Some(("authorization", "key_cursor_0123456789")), 401).await;
}

#[tokio::test]
async fn copilot_refuses_a_wrong_token_on_every_call() {
    let fake = Arc::new(CopilotFake::default());
    let base = serve(copilot_app(fake.clone())).await;
    let copilot = |token: Option<&str>| {
        let gh = GitHub::new(&base, token.map(Secret::new), "GITHUB_TOKEN", "squash", policy()).unwrap();
        capcom::dispatch::copilot::Copilot::new(Arc::new(gh))
    };
    let run = copilot(Some("ghp_test_token_0123456789")).launch(&request(Behaviour::Hang)).await.unwrap().id;
    for token in [Some("ghp_wrong_token_0123456789"), None] {
        every_call_refused(&copilot(token), &run, "GitHub token missing or wrong: set $GITHUB_TOKEN").await;
    }
    {
        let issues = fake.issues.lock().unwrap();
        assert_eq!(issues.len(), 1, "no issue was opened with a wrong token");
        let i = issues.values().next().unwrap();
        assert_eq!(i.assignees, vec!["Copilot".to_string()], "a refused cancel unassigned nothing");
        assert_eq!(i.state, "open");
    }
    let routes = [
        ("POST", "/repos/octo/site/issues"),
        ("GET", "/repos/octo/site/issues/12"),
        ("PATCH", "/repos/octo/site/issues/12"),
        ("POST", "/repos/octo/site/issues/12/assignees"),
        ("DELETE", "/repos/octo/site/issues/12/assignees"),
        ("GET", "/repos/octo/site/issues/12/timeline"),
        ("POST", "/repos/octo/site/issues/12/comments"),
        ("GET", "/repos/octo/site/pulls"),
        ("GET", "/repos/octo/site/pulls/112"),
    ];
    every_route_refuses(&base, &routes, Some(("authorization", "Bearer ghp_wrong_token_0123456789")), 401).await;
    every_route_refuses(&base, &routes, None, 401).await;
}
