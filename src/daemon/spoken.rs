//! What the daemon says and serves: status answers, changelogs (text, audio and
//! the podcast feed), workflow summaries and help. The words come from
//! `report::script` (pure); this module reads the store and the clock and
//! hands the scripts plain data.

use super::api::{ApiError, ApiResult, AppState, constant_time_eq};
use crate::config::Workflow;
use crate::report::{self, ChangelogEntry, FeedChannel, FeedItem, Note, Severity, StepResult, TaskView};
use crate::store::{Store, StoreError};
use crate::understand::StatusFilter;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Every task (open ones, or all) folded with its runs and events into what the scripts read.
pub fn views(store: &Store, all: bool) -> Result<Vec<TaskView>, StoreError> {
    let tasks = store.tasks(all)?;
    if all {
        // every task: all runs and events in two queries, not two per task
        let (mut runs, mut events) = store.runs_and_events_by_task()?;
        return Ok(tasks
            .iter()
            .map(|t| TaskView::from_store(t, &runs.remove(&t.id).unwrap_or_default(), &events.remove(&t.id).unwrap_or_default()))
            .collect());
    }
    let mut out = Vec::new();
    for t in tasks {
        let runs = store.runs(t.id)?;
        let events = store.events(t.id)?;
        out.push(TaskView::from_store(&t, &runs, &events));
    }
    Ok(out)
}

/// The spoken answer for a status question (a filter, or one task).
pub fn status_text(store: &Store, filter: StatusFilter, task: Option<i64>, now: DateTime<Utc>) -> Result<String, StoreError> {
    if let Some(id) = task {
        let t = store.task(id)?;
        let v = TaskView::from_store(&t, &store.runs(id)?, &store.events(id)?);
        return Ok(report::script::task_status(&v, now));
    }
    let all = views(store, filter == StatusFilter::All || filter == StatusFilter::Finished)?;
    let mut say = report::script::status(&all, filter, now);
    // Whatever was asked about, a task waiting on the user's answer is said too.
    if let Some(held) = report::script::held_sentence(&all) {
        say.push(' ');
        say.push_str(&held);
    }
    // And the sessions the user runs themselves: waiting, or finished since last asked.
    for line in super::sessions::status_lines(store)? {
        say.push(' ');
        say.push_str(&line);
    }
    Ok(say)
}

/// The changelog narrative for work finished and merged since `since`.
pub fn changelog_text(store: &Store, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<String, StoreError> {
    Ok(report::script::changelog(&views(store, true)?, since, now))
}

/// Whether any task landed (merged, or finished and waiting) between `since` and `now`:
/// the same tasks the changelog speaks of. An empty day makes no feed episode.
pub fn anything_landed(store: &Store, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool, StoreError> {
    use crate::store::TaskState;
    Ok(views(store, true)?.iter().any(|v| {
        matches!(v.state, TaskState::Merged | TaskState::Ready | TaskState::NeedsAttention)
            && v.done_at().is_some_and(|t| t >= since && t <= now)
    }))
}

/// "24h", "30m", "7d" back from `now`, or an RFC 3339 time.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = crate::config::Dur::parse(text).map_err(|e| format!("{e}; use a period like \"24h\" or an RFC 3339 time"))?;
    let d = ChronoDuration::from_std(d.get()).map_err(|e| e.to_string())?;
    Ok(now - d)
}

pub fn filter_of(text: &str) -> Result<StatusFilter, String> {
    match text {
        "" | "finished" => Ok(StatusFilter::Finished),
        "running" => Ok(StatusFilter::Running),
        "failed" => Ok(StatusFilter::Failed),
        "all" => Ok(StatusFilter::All),
        other => Err(format!("unknown status filter `{other}`: use finished, running, failed or all")),
    }
}

/// The folder changelogs are written to.
pub fn changelog_dir(state: &AppState) -> PathBuf {
    changelog_dir_of(&state.services)
}

pub fn changelog_dir_of(services: &super::Services) -> PathBuf {
    let configured = &services.config.speech.changelog_dir;
    if configured.trim().is_empty() { services.data.changelogs() } else { PathBuf::from(configured) }
}

/// The podcast feed's full URL, with its read-only token: `public_url`, or the address the
/// API listens on (the LAN address in place of 0.0.0.0; HTTPS beyond loopback).
pub fn feed_url_of(services: &super::Services, addr: &std::net::SocketAddr, feed_token: &str) -> Option<String> {
    let base = crate::web::base_url(&services.config.api.public_url, *addr, crate::web::tls::needs_tls(*addr));
    Some(report::feed::feed_url(&FeedChannel::new(&base, feed_token)))
}

/// Run a workflow's read-only steps in parallel and speak one summary, worst news first.
/// `brief` steps are returned for the caller (the coordinator) to dispatch.
pub async fn workflow(
    store: Store,
    wf: &Workflow,
    now: DateTime<Utc>,
    github: Option<(std::sync::Arc<crate::github::GitHub>, std::sync::Arc<crate::config::Config>)>,
) -> (String, Vec<String>) {
    let mut jobs = Vec::new();
    let mut briefs = Vec::new();
    for step in &wf.steps {
        let name = format!("{} {}", step.kind, step.arg).trim().to_string();
        match step.kind.as_str() {
            "status" | "changelog" => {
                let store = store.clone();
                let kind = step.kind.clone();
                let arg = step.arg.clone();
                jobs.push(tokio::task::spawn_blocking(move || -> StepResult {
                    let tasks = match views(&store, true) {
                        Ok(v) => v,
                        Err(e) => return StepResult::Failed { step: name, error: e.to_string() },
                    };
                    if kind == "status" {
                        let filter = filter_of(&arg).unwrap_or(StatusFilter::All);
                        let keep = |v: &TaskView| match filter {
                            StatusFilter::All => true,
                            StatusFilter::Running => v.state.is_active(),
                            StatusFilter::Failed => v.state == crate::store::TaskState::Failed,
                            StatusFilter::Finished => matches!(
                                v.state,
                                crate::store::TaskState::Ready | crate::store::TaskState::NeedsAttention
                            ),
                        };
                        let chosen: Vec<TaskView> = tasks.into_iter().filter(keep).collect();
                        StepResult::Notes { step: name, notes: report::script::status_notes(&chosen, now) }
                    } else {
                        match parse_since(if arg.is_empty() { "24h" } else { &arg }, now) {
                            Ok(since) => {
                                StepResult::Notes { step: name, notes: report::script::changelog_notes(&tasks, since, now) }
                            }
                            Err(e) => StepResult::Failed { step: name, error: e },
                        }
                    }
                }));
            }
            "brief" => briefs.push(step.arg.clone()),
            "remote" => {
                let arg = step.arg.clone();
                let (store, github) = (store.clone(), github.clone());
                jobs.push(tokio::spawn(async move {
                    match github {
                        Some((gh, config)) => remote_step(&gh, &config, &store, name, &arg).await,
                        None => StepResult::Failed { step: name, error: "GitHub is not set up ([github])".into() },
                    }
                }));
            }
            other => {
                let other = other.to_string();
                jobs.push(tokio::spawn(async move { StepResult::Failed { step: name, error: format!("unknown step kind `{other}`") } }));
            }
        }
    }
    let mut results = Vec::new();
    for j in jobs {
        match j.await {
            Ok(r) => results.push(r),
            Err(e) => results.push(StepResult::Failed { step: "a step".into(), error: e.to_string() }),
        }
    }
    if !briefs.is_empty() {
        let text = format!("Dispatching {} from the {} workflow.", report::words::count(briefs.len() as u64, "brief", "briefs"), wf.name);
        results.push(StepResult::Notes { step: "briefs".into(), notes: vec![Note::new(Severity::Info, "briefs", None, &text)] });
    }
    (report::script::synthesize(&results), briefs)
}

/// A `remote` workflow step: `open_prs` or `ci_failures`, across every repo on GitHub.
async fn remote_step(gh: &crate::github::GitHub, config: &crate::config::Config, store: &Store, name: String, arg: &str) -> StepResult {
    use report::script::OpenPr;
    let repos: Vec<(&crate::config::Repo, crate::github::RepoSlug)> =
        config.repos.iter().filter_map(|r| r.github_slug().map(|s| (r, s))).collect();
    if repos.is_empty() {
        return StepResult::Failed { step: name, error: "no repo has github = \"owner/name\"".into() };
    }
    let want_checks = match arg {
        "open_prs" | "prs" | "pull_requests" => false,
        "ci_failures" | "ci" => true,
        other => return StepResult::Failed { step: name, error: format!("unknown remote step `{other}` (open_prs or ci_failures)") },
    };
    let tasks = store.tasks(true).unwrap_or_default();
    let mut prs = Vec::new();
    let mut base = Vec::new();
    for (repo, slug) in &repos {
        let open = match gh.pulls_with_head_prefix(slug, "").await {
            Ok(p) => p,
            Err(e) => return StepResult::Failed { step: name, error: format!("cannot list pull requests of {slug}: {e}") },
        };
        if want_checks {
            match gh.checks(slug, &repo.base).await {
                Ok(v) => base.push((repo.name.clone(), repo.base.clone(), v)),
                Err(e) => return StepResult::Failed { step: name, error: format!("cannot read the checks of {} in {slug}: {e}", repo.base) },
            }
        }
        for pr in open {
            let checks = if want_checks { gh.checks(slug, &pr.head.sha).await.ok() } else { None };
            let task = tasks.iter().find(|t| t.pr == Some(pr.number) && t.repo.as_deref() == Some(repo.name.as_str())).map(|t| t.id);
            prs.push(OpenPr {
                repo: repo.name.clone(),
                number: pr.number,
                title: pr.title.clone(),
                author: pr.user.as_ref().map(|u| u.login.clone()),
                task,
                checks,
            });
        }
    }
    let notes = if want_checks { report::script::ci_failure_notes(&base, &prs) } else { report::script::open_pr_notes(&prs) };
    StepResult::Notes { step: name, notes }
}

// ---- API --------------------------------------------------------------------

#[derive(Deserialize)]
struct StatusQuery {
    #[serde(default)]
    filter: String,
    task: Option<i64>,
    /// Every task, old merged and cancelled ones included.
    #[serde(default, deserialize_with = "crate::web::flag")]
    all: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct StatusAnswer {
    pub say: String,
    pub filter: StatusFilter,
    /// The board's tasks: all but merged and cancelled ones last changed more than a day
    /// ago (those with `?all=true`).
    pub tasks: Vec<TaskView>,
    /// How many old tasks were left out of `tasks`.
    #[serde(default)]
    pub hidden: usize,
}

async fn get_status(State(st): State<AppState>, Query(q): Query<StatusQuery>) -> ApiResult<StatusAnswer> {
    let filter = filter_of(&q.filter).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let store = st.services.store.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<StatusAnswer, StoreError> {
        let now = Utc::now();
        let say = status_text(&store, filter, q.task, now)?;
        let (tasks, hidden) = if q.all {
            (views(&store, true)?, 0)
        } else {
            let (tasks, hidden) = store.board_tasks(now - crate::web::board::WINDOW)?;
            let mut out = Vec::with_capacity(tasks.len());
            for t in &tasks {
                out.push(TaskView::from_store(t, &store.runs(t.id)?, &store.events(t.id)?));
            }
            (out, hidden)
        };
        Ok(StatusAnswer { say, filter, tasks, hidden })
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct ChangelogQuery {
    #[serde(default = "default_since")]
    since: String,
}

fn default_since() -> String {
    "24h".into()
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ChangelogAnswer {
    pub since: DateTime<Utc>,
    pub text: String,
    /// Set when the daemon rendered audio.
    pub entry: Option<ChangelogEntry>,
    pub dir: Option<String>,
}

async fn get_changelog(State(st): State<AppState>, Query(q): Query<ChangelogQuery>) -> ApiResult<ChangelogAnswer> {
    let now = Utc::now();
    let since = parse_since(&q.since, now).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let store = st.services.store.clone();
    let text = tokio::task::spawn_blocking(move || changelog_text(&store, since, now))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(ChangelogAnswer { since, text, entry: None, dir: None }))
}

/// Render the changelog to audio in the changelog folder (WAV + MP3), for the feed.
async fn post_changelog(State(st): State<AppState>, Query(q): Query<ChangelogQuery>) -> ApiResult<ChangelogAnswer> {
    let now = Utc::now();
    let since = parse_since(&q.since, now).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let answer = render_changelog(&st, since, now).await?;
    Ok(Json(answer))
}

/// Build a changelog narrative and render it to files. Used by the API and the daily schedule.
pub async fn render_changelog(st: &AppState, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<ChangelogAnswer, ApiError> {
    let speaker = st.services.speaker.clone().ok_or_else(|| {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "speech is off ([speech] engine = \"none\" or unavailable); use --text".into())
    })?;
    let store = st.services.store.clone();
    let dir = changelog_dir(st);
    let local_now: DateTime<FixedOffset> = now.with_timezone(&chrono::Local).fixed_offset();
    let dir2 = dir.clone();
    tokio::task::spawn_blocking(move || -> Result<ChangelogAnswer, ApiError> {
        // An episode covers only what the one before it did not.
        let since = episode_since(&dir2, since);
        let segments = report::script::changelog_segments(&views(&store, true)?, since, now);
        std::fs::create_dir_all(&dir2)
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot create {}: {e}", dir2.display())))?;
        let entry = report::changelog::render_segments(speaker.as_ref(), &segments, &dir2, local_now)
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let text = entry.text.clone();
        Ok(ChangelogAnswer { since, text, entry: Some(entry), dir: Some(dir2.display().to_string()) })
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// Where the next episode starts: `since`, or where the newest episode ended when that is later.
pub fn episode_since(dir: &std::path::Path, since: DateTime<Utc>) -> DateTime<Utc> {
    report::changelog::latest(dir).map(|e| e.at.with_timezone(&Utc)).map_or(since, |last| last.max(since))
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FeedInfo {
    pub url: String,
    pub episodes: usize,
}

fn channel(st: &AppState) -> FeedChannel {
    FeedChannel::new(&st.web.base_url, &st.feed_token)
}

/// The feed's URL (with its read-only token), for the tray and `capcom doctor`.
async fn get_feed_info(State(st): State<AppState>) -> ApiResult<FeedInfo> {
    let ch = channel(&st);
    let episodes = report::changelog::list(&changelog_dir(&st)).len();
    Ok(Json(FeedInfo { url: report::feed::feed_url(&ch), episodes }))
}

fn feed_token_ok(st: &AppState, token: &str) -> Result<(), ApiError> {
    if constant_time_eq(token.as_bytes(), st.feed_token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError(StatusCode::UNAUTHORIZED, "wrong feed token".into()))
    }
}

async fn get_feed(State(st): State<AppState>, Path(token): Path<String>, headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    feed_token_ok(&st, &token)?;
    let ch = channel(&st);
    let items: Vec<FeedItem> = report::changelog::list(&changelog_dir(&st)).iter().map(FeedItem::from_entry).collect();
    let xml = report::feed::render(&ch, &items);
    // The document's own hash: it changes with any episode, title or address in it.
    use sha2::Digest;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(xml.as_bytes())[..16]));
    let modified = items.iter().map(|i| i.pub_date.with_timezone(&Utc)).max();
    let mut validators = vec![(header::ETAG, etag.clone()), (header::CACHE_CONTROL, "no-cache".to_string())];
    if let Some(m) = modified {
        validators.push((header::LAST_MODIFIED, report::feed::http_date(m)));
    }
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    if report::feed::not_modified(get(header::IF_NONE_MATCH), get(header::IF_MODIFIED_SINCE), &etag, modified) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        for (k, v) in validators {
            if let Ok(v) = v.parse() {
                resp.headers_mut().insert(k, v);
            }
        }
        return Ok(resp);
    }
    let mut resp = ([(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")], xml).into_response();
    for (k, v) in validators {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

/// An episode's audio, served by tower-http's `ServeFile` (`Range`, 206, `Accept-Ranges`,
/// `Last-Modified`) without reading the whole file into memory. The validators it does not
/// apply are applied here first: `If-None-Match` (304), and `If-Range`: a range asked for
/// under a stale validator gets the whole file (200), as RFC 9110 13.1.5 says.
async fn get_audio(
    State(st): State<AppState>,
    Path((token, file)): Path<(String, String)>,
    mut req: axum::extract::Request,
) -> Result<Response, ApiError> {
    feed_token_ok(&st, &token)?;
    // Only regular files of the folder itself: never a link out of it.
    let dir = changelog_dir(&st);
    let name = file.clone();
    let path = tokio::task::spawn_blocking(move || report::changelog::servable_path(&dir, &name))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such episode".into()))?;
    let meta = tokio::fs::metadata(&path).await.map_err(|_| ApiError(StatusCode::NOT_FOUND, "no such episode".into()))?;
    let mime = if file.ends_with(".mp3") {
        "audio/mpeg"
    } else if file.ends_with(".wav") {
        "audio/wav"
    } else {
        "audio/ogg"
    };
    let etag = audio_etag(&meta);
    let modified = meta.modified().ok().map(DateTime::<Utc>::from);
    let headers = req.headers().clone();
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    if get(header::IF_NONE_MATCH).is_some() {
        if report::feed::not_modified(get(header::IF_NONE_MATCH), None, &etag, modified) {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
        }
        // If-None-Match decides alone (RFC 9110 13.2.2); ServeFile would look at the date.
        req.headers_mut().remove(header::IF_MODIFIED_SINCE);
    }
    if !report::feed::if_range_holds(get(header::IF_RANGE), &etag, modified) {
        req.headers_mut().remove(header::RANGE);
    }
    req.headers_mut().remove(header::IF_RANGE);
    let served = tower_http::services::ServeFile::new_with_mime(&path, &mime.parse().expect("a valid mime type"))
        .try_call(req)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut resp = served.into_response();
    if let Ok(v) = etag.parse() {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// A strong validator from the file's size and modification time.
fn audio_etag(meta: &std::fs::Metadata) -> String {
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    format!("\"{:x}-{:x}\"", meta.len(), mtime.as_nanos())
}

/// An episode's chapters as Podcasting 2.0 JSON chapters; `guid` is the episode's stem.
async fn get_chapters(State(st): State<AppState>, Path((token, guid)): Path<(String, String)>) -> Result<Response, ApiError> {
    feed_token_ok(&st, &token)?;
    let dir = changelog_dir(&st);
    let entry = tokio::task::spawn_blocking(move || report::changelog::list(&dir).into_iter().find(|e| e.stem == guid))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "no such episode".into()))?;
    let body = report::feed::chapters_json(&entry).to_string();
    use sha2::Digest;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(body.as_bytes())[..16]));
    Ok(([(header::CONTENT_TYPE, report::feed::CHAPTERS_TYPE.to_string()), (header::ETAG, etag)], body).into_response())
}

/// The show's artwork (a PNG compiled into the binary).
async fn get_artwork(State(st): State<AppState>, Path(token): Path<String>) -> Result<Response, ApiError> {
    feed_token_ok(&st, &token)?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "max-age=86400")], crate::web::ICON_PNG).into_response())
}

/// Routes that need the API token.
pub fn authed_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/status", get(get_status))
        .route("/v1/changelog", get(get_changelog).post(post_changelog))
        .route("/v1/feed", get(get_feed_info))
}

/// Routes a podcast app reaches with the read-only feed token in the URL.
pub fn feed_routes() -> Router<AppState> {
    Router::new()
        .route("/feed/{token}/podcast.xml", get(get_feed))
        .route("/feed/{token}/audio/{file}", get(get_audio))
        .route("/feed/{token}/artwork.png", get(get_artwork))
        .route("/feed/{token}/episodes/{guid}/chapters.json", get(get_chapters))
}

// ---- the coordinator's spoken intents -------------------------------------------

impl super::coordinator::Coordinator {
    /// Answer status, changelog, workflow, repeat and help intents.
    pub(super) async fn spoken(&mut self, intent: &crate::understand::Intent) -> super::actions::Answer {
        use crate::understand::IntentKind;
        use super::actions::Answer;
        let store = self.services.store.clone();
        let now = Utc::now();
        let kind = intent.intent.as_str();
        let blocking = |f: Box<dyn FnOnce() -> Result<String, StoreError> + Send>| async move {
            match tokio::task::spawn_blocking(f).await {
                Ok(Ok(s)) => Answer { ok: true, say: s, ..Answer::default() },
                Ok(Err(e)) => Answer { ok: false, say: format!("I could not read the tasks: {e}"), ..Answer::default() },
                Err(e) => Answer { ok: false, say: e.to_string(), ..Answer::default() },
            }
        };
        let mut answer = match intent.intent {
            IntentKind::Status => {
                let filter = intent.filter.unwrap_or(StatusFilter::Finished);
                let task = match &intent.target {
                    Some(t) if t.task.is_some() || t.pr.is_some() || t.text.is_some() => match self.target_of(intent) {
                        Ok(id) => Some(id),
                        Err(q) => return Answer { ok: false, intent: kind.into(), say: q, ..Answer::default() },
                    },
                    _ => None,
                };
                blocking(Box::new(move || status_text(&store, filter, task, now))).await
            }
            IntentKind::Changelog => {
                let since = intent.since.map(|s| s.with_timezone(&Utc)).unwrap_or(now - ChronoDuration::hours(24));
                blocking(Box::new(move || changelog_text(&store, since, now))).await
            }
            IntentKind::Repeat => match self.last_said.clone() {
                Some(s) => Answer { ok: true, say: s, ..Answer::default() },
                None => Answer { ok: false, say: "I haven't said anything yet.".into(), ..Answer::default() },
            },
            IntentKind::Help => {
                let tasks: Vec<crate::understand::TaskRef> = Vec::new();
                let cx = crate::understand::Context {
                    config: &self.services.config,
                    tasks: &tasks,
                    pending: None,
                    now: now.with_timezone(&chrono::Local).fixed_offset(),
                };
                let phrases = crate::understand::help_phrases(&cx);
                Answer { ok: true, say: report::script::help(&phrases, &self.services.config.workflows), ..Answer::default() }
            }
            IntentKind::Workflow => {
                let name = intent.workflow.clone().unwrap_or_default();
                let Some(wf) = self.services.config.workflows.iter().find(|w| w.name.eq_ignore_ascii_case(&name)).cloned() else {
                    return Answer { ok: false, intent: kind.into(), say: format!("There is no workflow called {name}."), ..Answer::default() };
                };
                let github = self
                    .dispatch
                    .as_ref()
                    .and_then(|d| d.ctx().github.clone())
                    .map(|gh| (gh, self.services.config.clone()));
                let (summary, briefs) = workflow(store, &wf, now, github).await;
                let mut said = vec![summary];
                for b in briefs {
                    let a = Box::pin(self.brief(b, None, None)).await;
                    said.push(a.say);
                }
                Answer { ok: true, say: said.join(" "), ..Answer::default() }
            }
            _ => Answer { ok: false, say: "That is not something I can answer out loud.".into(), ..Answer::default() },
        };
        answer.intent = kind.to_string();
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_periods_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").unwrap().with_timezone(&Utc);
        let cases = [
            ("24h", "2026-11-20T12:00:00+00:00"),
            ("30m", "2026-11-21T11:30:00+00:00"),
            ("7d", "2026-11-14T12:00:00+00:00"),
            ("2026-11-21T08:00:00+01:00", "2026-11-21T07:00:00+00:00"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_since(text, now).unwrap().to_rfc3339(), want, "{text}");
        }
        assert!(parse_since("yesterday-ish", now).is_err());
    }

    #[test]
    fn filters_parse_or_explain() {
        assert_eq!(filter_of("").unwrap(), StatusFilter::Finished);
        assert_eq!(filter_of("running").unwrap(), StatusFilter::Running);
        assert!(filter_of("done").unwrap_err().contains("finished, running, failed or all"));
    }
}
