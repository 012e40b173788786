//! The phone/desktop page: static assets compiled into the binary, the page's
//! own API, pairing and device tokens, and live updates (Server-Sent Events).
//!
//! * `GET /` serves the page; it asks nothing of the daemon until it holds a
//!   device token.
//! * `POST /app/pair {code, name}` exchanges a one-time pairing code (made by
//!   `capcom pair`) for a device token. Codes expire and are used once.
//! * Every other `/app/v1/…` route needs `X-Capcom-Device: <token>`: a header,
//!   never a cookie (so no CSRF), and never the master API token. Repeated wrong
//!   tokens or codes from one address are answered 429 for a while.
//! * Merges, confirmations, briefs and spoken clips go to the daemon through the
//!   small [`Backend`] trait, so they take exactly the paths `/v1/merge`,
//!   `/v1/confirm` and the hotkey take. This module does not import the daemon.

pub mod board;
pub mod push;
pub mod qr;
pub mod serve;
pub mod tls;

use crate::report::TaskView;
use crate::store::{PairRefusal, Store};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The header a paired device sends its token in.
pub const DEVICE_HEADER: &str = "x-capcom-device";
/// How long a pairing code lives.
pub const PAIR_TTL: Duration = Duration::from_secs(300);
/// Wrong tokens or codes allowed from one address per window, before 429.
const MAX_FAILURES: u32 = 8;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const RECORDER_JS: &str = include_str!("assets/recorder.js");
/// The service worker (at the root, so its scope is the whole page) and the web app manifest.
const SW_JS: &str = include_str!("assets/sw.js");
const MANIFEST: &str = include_str!("assets/manifest.webmanifest");
/// The page's icon and the podcast's artwork.
pub const ICON_PNG: &[u8] = include_bytes!("assets/icon.png");

/// What a spoken clip became.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Heard {
    /// The stored utterance (the WAV and its row), when it was stored.
    pub utterance_id: Option<i64>,
    /// What the model heard; `None` when nothing was heard or no model is loaded.
    pub transcript: Option<String>,
    /// The coordinator's answer (the same JSON `/v1/brief` returns), or why nothing was done.
    pub answer: serde_json::Value,
    /// The answer's words.
    pub say: String,
}

/// The daemon, as the page sees it.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The coordinator's stage and pending question (as JSON).
    async fn snapshot(&self) -> serde_json::Value;
    /// The same path `POST /v1/merge` takes.
    async fn merge(&self, task: String) -> Result<serde_json::Value, String>;
    /// The same path `POST /v1/confirm` takes.
    async fn confirm(&self, code: Option<String>) -> Result<serde_json::Value, String>;
    /// The same path `POST /v1/brief` takes, with its `Idempotency-Key` if the page sent one.
    async fn brief(&self, text: String, key: Option<String>) -> Result<serde_json::Value, (StatusCode, String)>;
    /// A clip (16 kHz mono) handled exactly like a hotkey clip: stored, transcribed, understood, acted on.
    /// With a key, a clip sent again (its answer lost) gets the first answer and is not acted on twice.
    async fn heard(&self, samples: Vec<f32>, key: Option<String>) -> Result<Heard, (StatusCode, String)>;
    /// The answer as a WAV file, from the same text-to-speech; `None` when speech is off.
    async fn speak(&self, text: String) -> Option<Vec<u8>>;
    /// One task in full (the same JSON as `GET /v1/tasks/{id}`, plus its diff).
    async fn task(&self, id: i64) -> Result<serde_json::Value, (StatusCode, String)>;
}

/// The page's shared state.
pub struct Web {
    pub store: Store,
    pub changelog_dir: PathBuf,
    pub feed_token: String,
    /// The URL the phone opens (public_url, the LAN address, or loopback).
    pub base_url: String,
    pub backend: Arc<dyn Backend>,
    /// The largest push-to-talk upload: [`clip_limit`] of `[voice] max_utterance`.
    pub max_clip_bytes: usize,
    /// The VAPID public key the page subscribes to Web Push with (base64url), once the daemon has one.
    pub push_key: std::sync::OnceLock<String>,
    limiter: Limiter,
    /// The board as last built, and the patches the live streams follow.
    live: Mutex<Arc<board::Board>>,
    patches: tokio::sync::broadcast::Sender<Arc<board::Patch>>,
    /// What the board was last built from (serialises rebuilds).
    built: tokio::sync::Mutex<Built>,
    /// Turns true when the daemon stops; live streams end then.
    stop: watch::Receiver<bool>,
}

impl Web {
    pub fn new(
        store: Store,
        changelog_dir: PathBuf,
        feed_token: String,
        base_url: String,
        backend: Arc<dyn Backend>,
        max_utterance: Duration,
        stop: watch::Receiver<bool>,
    ) -> Arc<Web> {
        let max_clip_bytes = clip_limit(max_utterance);
        let (patches, _) = tokio::sync::broadcast::channel(64);
        Arc::new(Web {
            store,
            changelog_dir,
            feed_token,
            base_url,
            backend,
            max_clip_bytes,
            push_key: std::sync::OnceLock::new(),
            limiter: Limiter::default(),
            live: Mutex::new(Arc::default()),
            patches,
            built: tokio::sync::Mutex::new(Built::default()),
            stop,
        })
    }

    /// A fresh pairing code and the URL that carries it (in the fragment, so it never reaches a log).
    pub fn start_pairing(&self) -> Result<Pairing, String> {
        let code = random_code();
        let expires = Utc::now() + chrono::Duration::from_std(PAIR_TTL).unwrap_or_default();
        self.store.add_pairing_code(&code, expires).map_err(|e| e.to_string())?;
        let url = format!("{}/#pair={code}", self.base_url.trim_end_matches('/'));
        Ok(Pairing { local_only: local_only_hint(&self.base_url), url, code, expires_at: expires })
    }

    /// The live board now (rebuilt first if the store changed), as the stream's first event sends it.
    pub async fn board(&self) -> Arc<board::Board> {
        self.refresh(false).await;
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Bring the board up to date and send the streams what changed. The tasks are read
    /// again only when the store changed since they were last read ([`Store::change_stamp`],
    /// one short query), or when `force`, or every few minutes so finished tasks age off;
    /// the coordinator's stage and question are asked each time (a message, no I/O).
    pub async fn refresh(&self, force: bool) {
        let mut built = self.built.lock().await;
        let store = self.store.clone();
        let stamp = tokio::task::spawn_blocking(move || store.change_stamp()).await.ok().and_then(|r| r.ok());
        let coordinator: Arc<str> = Arc::from(self.backend.snapshot().await.to_string());
        let current = self.live.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut next = board::Board { coordinator, ..(*current).clone() };
        let stale = force || stamp.is_none() || built.stamp != stamp || built.at.is_none_or(|t| t.elapsed() >= AGE_OFF_EVERY);
        if stale {
            let store = self.store.clone();
            let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
                let (tasks, hidden) = store.board_tasks(Utc::now() - board::WINDOW)?;
                let mut out = std::collections::BTreeMap::new();
                for t in tasks {
                    let view = TaskView::from_store(&t, &store.runs(t.id)?, &store.events(t.id)?);
                    out.insert(t.id, Arc::<str>::from(serde_json::to_string(&view).unwrap_or_else(|_| "null".into())));
                }
                let waiting: Vec<crate::store::OutsideSession> = store.outside_sessions()?.into_iter().filter(|s| s.waiting).collect();
                Ok((out, Arc::<str>::from(serde_json::to_string(&waiting).unwrap_or_else(|_| "[]".into())), hidden))
            })
            .await;
            match read {
                Ok(Ok((tasks, needs_you, hidden))) => {
                    (next.tasks, next.needs_you, next.hidden) = (tasks, needs_you, hidden);
                    (built.stamp, built.at) = (stamp, Some(Instant::now()));
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the board"),
                Err(e) => tracing::warn!(error = %e, "cannot read the board"),
            }
        }
        let patch = board::diff(&current, &next);
        if patch.is_empty() {
            return;
        }
        next.rev = patch.rev;
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        let _none_watching = self.patches.send(Arc::new(patch));
    }

    /// Keep the board current for the live streams: while anyone watches, look twice a second
    /// whether the store or the coordinator changed, and send a patch when something did.
    pub fn spawn_watcher(self: &Arc<Web>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => if *stop.borrow() { break },
                }
                if me.patches.receiver_count() == 0 {
                    continue;
                }
                me.refresh(false).await;
            }
        })
    }
}

/// How often the board is read again with no change seen, so merged tasks leave it after a day.
const AGE_OFF_EVERY: Duration = Duration::from_secs(300);

/// What the board was last read from.
#[derive(Default)]
struct Built {
    stamp: Option<(i64, i64)>,
    at: Option<Instant>,
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ok = stop.wait_for(|s| *s).await.is_ok();
}

/// A pairing code as `capcom pair` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pairing {
    pub url: String,
    pub code: String,
    pub expires_at: chrono::DateTime<Utc>,
    /// Set when the link names this computer only (the daemon listens on loopback and no
    /// `public_url` is set): a phone cannot open it, and this says how to make it reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_only: Option<String>,
}

/// Why a phone cannot open `base_url` and what to set instead, when it names this computer only.
pub fn local_only_hint(base_url: &str) -> Option<String> {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback.then(|| {
        format!(
            "{base_url} is this computer's own address: a phone cannot open it. To reach the daemon from a phone, \
             set [api] public_url to an address the phone reaches (for example an HTTPS name from Tailscale or a \
             reverse proxy), or set [api] listen = \"0.0.0.0:7471\" to listen on the local network (the daemon then \
             serves HTTPS with its own certificate), restart the daemon, and run `capcom pair` again"
        )
    })
}

/// Eight characters from an alphabet without look-alikes (about 40 bits), for a five-minute code.
fn random_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..8).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

/// 32 random bytes, hex: a device token.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

// ---- rate limiting ---------------------------------------------------------------

#[derive(Default)]
struct Limiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Limiter {
    fn blocked(&self, ip: IpAddr) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }
    fn failed(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        if map.len() > 4096 {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
    }
}

fn peer(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

fn too_many() -> Response {
    err(StatusCode::TOO_MANY_REQUESTS, "too many wrong tokens or codes from this address; wait a few minutes")
}

// ---- routes -----------------------------------------------------------------------

/// The page and its API. Merge into the daemon's router.
pub fn router(web: Arc<Web>) -> Router {
    let device = Router::new()
        .route("/app/v1/me", get(me))
        .route("/app/v1/board", get(board))
        .route("/app/v1/events", get(events))
        .route("/app/v1/tasks/{id}", get(task))
        .route("/app/v1/merge", post(merge))
        .route("/app/v1/confirm", post(confirm))
        .route("/app/v1/brief", post(brief))
        // axum's default body limit (2 MiB, 22 s at 48 kHz) would refuse a long clip first
        .route("/app/v1/talk", post(talk).layer(axum::extract::DefaultBodyLimit::max(web.max_clip_bytes)))
        .route("/app/v1/episodes", get(episodes))
        .route("/app/v1/push/key", get(push_key))
        .route("/app/v1/push/subscribe", post(push_subscribe))
        .route_layer(middleware::from_fn_with_state(web.clone(), require_device));
    Router::new()
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX_HTML) }))
        .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_JS) }))
        .route("/recorder.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], RECORDER_JS) }))
        .route("/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_CSS) }))
        .route("/icon.png", get(|| async { ([(header::CONTENT_TYPE, "image/png")], ICON_PNG) }))
        .route("/sw.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SW_JS) }))
        .route("/manifest.webmanifest", get(|| async { ([(header::CONTENT_TYPE, "application/manifest+json"), (header::CACHE_CONTROL, "no-cache")], MANIFEST) }))
        .route("/app/pair", post(pair))
        .merge(device)
        .with_state(web)
}

/// The device a request was made by.
#[derive(Clone)]
struct DeviceName(String);

/// Its id, so a live stream can end when it is revoked.
#[derive(Clone, Copy)]
struct DeviceId(i64);

async fn require_device(State(web): State<Arc<Web>>, headers: HeaderMap, mut req: Request, next: Next) -> Response {
    let ip = peer(&req);
    if web.limiter.blocked(ip) {
        return too_many();
    }
    let Some(token) = headers.get(DEVICE_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty()) else {
        return err(StatusCode::UNAUTHORIZED, "this device is not paired: run `capcom pair` on the computer and open its link");
    };
    let store = web.store.clone();
    let token = token.to_string();
    match tokio::task::spawn_blocking(move || store.device_for_token(&token)).await {
        Ok(Ok(Some(dev))) => {
            req.extensions_mut().insert(DeviceName(dev.name));
            req.extensions_mut().insert(DeviceId(dev.id));
            next.run(req).await
        }
        Ok(Ok(None)) => {
            web.limiter.failed(ip);
            err(StatusCode::UNAUTHORIZED, "unknown or revoked device token: pair again with `capcom pair`")
        }
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct PairBody {
    code: String,
    #[serde(default)]
    name: String,
}

async fn pair(State(web): State<Arc<Web>>, req: Request) -> Response {
    let ip = peer(&req);
    if web.limiter.blocked(ip) {
        return too_many();
    }
    let body = match axum::body::to_bytes(req.into_body(), 4096).await {
        Ok(b) => b,
        Err(_) => return err(StatusCode::PAYLOAD_TOO_LARGE, "the pairing request is too large"),
    };
    let Ok(b) = serde_json::from_slice::<PairBody>(&body) else {
        return err(StatusCode::BAD_REQUEST, "send {\"code\": \"…\", \"name\": \"my phone\"}");
    };
    let name: String = b.name.chars().filter(|c| !c.is_control()).take(40).collect();
    let code = b.code.trim().to_ascii_uppercase();
    let token = random_token();
    let store = web.store.clone();
    let t2 = token.clone();
    let res = tokio::task::spawn_blocking(move || store.redeem_pairing_code(&code, &name, &t2, Utc::now())).await;
    match res {
        Ok(Ok(Ok(dev))) => {
            tracing::info!(device = %dev.name, "a device was paired");
            Json(serde_json::json!({ "token": token, "name": dev.name })).into_response()
        }
        Ok(Ok(Err(why))) => {
            web.limiter.failed(ip);
            let msg = match why {
                PairRefusal::Unknown => "unknown pairing code: run `capcom pair` again",
                PairRefusal::Expired => "this pairing code expired: run `capcom pair` again",
                PairRefusal::Used => "this pairing code was already used: run `capcom pair` again",
            };
            err(StatusCode::UNAUTHORIZED, msg)
        }
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn me(State(web): State<Arc<Web>>, req: Request) -> Response {
    let name = req.extensions().get::<DeviceName>().map(|d| d.0.clone()).unwrap_or_default();
    // The page stops a recording at the longest clip the daemon takes.
    let max_clip_ms = (web.max_clip_bytes.saturating_sub(64 * 1024) / 2) as u64 * 1000 / u64::from(PAGE_RATE);
    Json(serde_json::json!({ "device": name, "max_clip_ms": max_clip_ms, "rate": PAGE_RATE })).into_response()
}

/// `GET /app/v1/push/key`: the key the page subscribes to Web Push with (`applicationServerKey`).
async fn push_key(State(web): State<Arc<Web>>) -> Response {
    match web.push_key.get() {
        Some(k) => Json(serde_json::json!({ "key": k })).into_response(),
        None => err(StatusCode::SERVICE_UNAVAILABLE, "Web Push is off: the daemon has no VAPID key (see its log)"),
    }
}

/// `POST /app/v1/push/subscribe` with the browser's `PushSubscription` JSON: kept for this
/// device, which is then sent "needs you" messages.
async fn push_subscribe(State(web): State<Arc<Web>>, req: Request) -> Response {
    let Some(device) = req.extensions().get::<DeviceId>().copied() else {
        return err(StatusCode::UNAUTHORIZED, "this device is not paired");
    };
    let body = match axum::body::to_bytes(req.into_body(), 8192).await {
        Ok(b) => b,
        Err(_) => return err(StatusCode::PAYLOAD_TOO_LARGE, "a push subscription is at most 8 KiB"),
    };
    let sub: push::Subscription = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("send the browser's PushSubscription: {{\"endpoint\": \"https://…\", \"keys\": {{\"p256dh\": \"…\", \"auth\": \"…\"}}}} ({e})")),
    };
    if let Err(why) = push::check(&sub) {
        return err(StatusCode::UNPROCESSABLE_ENTITY, why);
    }
    let store = web.store.clone();
    match tokio::task::spawn_blocking(move || store.add_push_subscription(device.0, &sub)).await {
        Ok(Ok(())) => (StatusCode::CREATED, Json(serde_json::json!({ "subscribed": true }))).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct BoardQuery {
    #[serde(default, deserialize_with = "flag")]
    all: bool,
    before: Option<i64>,
    limit: Option<usize>,
}

/// A query flag: `1`, `true`, `yes` or empty (`?all`) turn it on.
pub fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(matches!(s.trim().to_ascii_lowercase().as_str(), "" | "1" | "true" | "yes"))
}

/// The live board; with `all=1`, every task, old ones included, newest first, a page at a
/// time (`before`, `limit`; `next_before` names the next page).
async fn board(State(web): State<Arc<Web>>, axum::extract::Query(q): axum::extract::Query<BoardQuery>) -> Response {
    if !q.all {
        let b = web.board().await;
        return ([(header::CONTENT_TYPE, "application/json")], b.json(Utc::now())).into_response();
    }
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let store = web.store.clone();
    let page = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let tasks = store.tasks_page(q.before, limit + 1)?;
        let more = tasks.len() > limit;
        let mut views = Vec::new();
        for t in tasks.iter().take(limit) {
            views.push(TaskView::from_store(t, &store.runs(t.id)?, &store.events(t.id)?));
        }
        let next = more.then(|| views.last().map(|v| v.id)).flatten();
        Ok((views, next))
    })
    .await;
    match page {
        Ok(Ok((tasks, next))) => Json(serde_json::json!({ "tasks": tasks, "next_before": next, "now": Utc::now() })).into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The board as Server-Sent Events: one `event: board` (the whole live board) when the
/// stream opens, then `event: patch` with only what changed (see [`board::Patch::json`]).
/// A stream that fell behind gets the whole board again.
async fn events(State(web): State<Arc<Web>>, req: Request) -> Response {
    let Some(device) = req.extensions().get::<DeviceId>().copied() else {
        return err(StatusCode::UNAUTHORIZED, "this device is not paired");
    };
    // subscribed before the board is read, so no patch after it is missed
    let rx = web.patches.subscribe();
    let first = web.board().await;
    let stream = async_stream(first, rx, web.clone(), device);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

fn async_stream(
    first: Arc<board::Board>,
    rx: tokio::sync::broadcast::Receiver<Arc<board::Patch>>,
    web: Arc<Web>,
    device: DeviceId,
) -> impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>> {
    use futures_util::StreamExt;
    use tokio::sync::broadcast::error::RecvError;
    let sent = first.rev;
    let head = futures_util::stream::once(async move { Ok(Event::default().event("board").data(first.json(Utc::now()))) });
    let rest = futures_util::stream::unfold((rx, web, sent), move |(mut rx, web, mut sent)| async move {
        let mut stop = web.stop.clone();
        if *stop.borrow() {
            return None;
        }
        // a revoked device's stream ends within a few seconds
        let mut recheck = tokio::time::interval(Duration::from_secs(3));
        recheck.tick().await;
        let event = loop {
            let got = tokio::select! {
                r = rx.recv() => Some(r),
                _ = stopped(&mut stop) => return None,
                _ = recheck.tick() => None,
            };
            let store = web.store.clone();
            if !matches!(tokio::task::spawn_blocking(move || store.device_live(device.0)).await, Ok(Ok(true))) {
                return None;
            }
            match got {
                None => continue,
                Some(Ok(p)) if p.rev <= sent => continue,
                Some(Ok(p)) => {
                    sent = p.rev;
                    break Event::default().event("patch").data(p.json(Utc::now()));
                }
                Some(Err(RecvError::Lagged(_))) => {
                    let b = web.live.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    sent = b.rev;
                    break Event::default().event("board").data(b.json(Utc::now()));
                }
                Some(Err(RecvError::Closed)) => return None,
            }
        };
        Some((Ok(event), (rx, web, sent)))
    });
    head.chain(rest)
}

async fn task(State(web): State<Arc<Web>>, Path(id): Path<i64>) -> Response {
    match web.backend.task(id).await {
        Ok(v) => Json(v).into_response(),
        Err((s, m)) => err(s, m),
    }
}

#[derive(Deserialize)]
struct MergeBody {
    task: serde_json::Value,
}

async fn merge(State(web): State<Arc<Web>>, Json(b): Json<MergeBody>) -> Response {
    let task = match &b.task {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if !s.trim().is_empty() => s.clone(),
        _ => return err(StatusCode::BAD_REQUEST, "`task` must be a task id or a reference"),
    };
    answer(web.backend.merge(task).await)
}

#[derive(Deserialize)]
struct ConfirmBody {
    #[serde(default)]
    code: Option<String>,
}

async fn confirm(State(web): State<Arc<Web>>, Json(b): Json<ConfirmBody>) -> Response {
    answer(web.backend.confirm(b.code).await)
}

#[derive(Deserialize)]
struct BriefBody {
    text: String,
}

/// The request's `Idempotency-Key` (`store::check_key`), or the 400 that says what is wrong with it.
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err("send one Idempotency-Key header, not several".into());
    }
    crate::store::check_key(first.as_bytes()).map(Some)
}

async fn brief(State(web): State<Arc<Web>>, headers: axum::http::HeaderMap, Json(b): Json<BriefBody>) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    if b.text.trim().is_empty() {
        return err(StatusCode::BAD_REQUEST, "say something: `text` is empty");
    }
    use crate::dispatch::prompt::{BriefRefusal, check_brief};
    if let Err(e) = check_brief(&b.text) {
        let status = if matches!(e, BriefRefusal::TooLong { .. }) { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
        return err(status, e.to_string());
    }
    match web.backend.brief(b.text, key).await {
        Ok(v) => Json(v).into_response(),
        Err((status, e)) => err(status, e),
    }
}

fn answer(r: Result<serde_json::Value, String>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => err(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// The rate the page records at (`recorder.js` asks the browser for it).
pub const PAGE_RATE: u32 = 48_000;

/// The largest clip the page may send: `max_utterance` of 16-bit mono at [`PAGE_RATE`],
/// plus room for the WAV header.
pub fn clip_limit(max_utterance: Duration) -> usize {
    let samples = max_utterance.as_secs_f64() * f64::from(PAGE_RATE);
    (samples.ceil() as usize).saturating_mul(2).saturating_add(64 * 1024)
}

/// A push-to-talk clip: a WAV file (16-bit PCM or float, any rate, any channels).
async fn talk(State(web): State<Arc<Web>>, req: Request) -> Response {
    let received = Instant::now();
    let key = match idempotency_key(req.headers()) {
        Ok(k) => k,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let limit = web.max_clip_bytes;
    let too_long = || {
        let secs = (limit.saturating_sub(64 * 1024) / 2) as u64 / u64::from(PAGE_RATE);
        err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the clip is too long: at most {secs} s ({limit} bytes) of 16-bit mono at 48 kHz ([voice] max_utterance)"),
        )
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_long();
    }
    let body: Bytes = match axum::body::to_bytes(req.into_body(), limit).await {
        Ok(b) => b,
        Err(e) if e.to_string().contains("length limit") => return too_long(),
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("the clip did not arrive whole ({e}); send it again")),
    };
    let samples = match tokio::task::spawn_blocking(move || decode_wav(&body)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return err(StatusCode::BAD_REQUEST, e),
        Err(e) => return err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let heard = match web.backend.heard(samples, key).await {
        Ok(h) => h,
        Err((status, e)) => return err(status, e),
    };
    let audio = if heard.say.trim().is_empty() { None } else { web.backend.speak(heard.say.clone()).await };
    use base64::Engine as _;
    Json(serde_json::json!({
        "utterance_id": heard.utterance_id,
        "transcript": heard.transcript,
        "say": heard.say,
        "answer": heard.answer,
        "audio_wav_base64": audio.map(|a| base64::engine::general_purpose::STANDARD.encode(a)),
        "server_ms": received.elapsed().as_millis() as u64,
    }))
    .into_response()
}

/// A WAV upload as 16 kHz mono samples. The page records 16-bit PCM WAV, so no Opus decoder is needed.
pub fn decode_wav(bytes: &[u8]) -> Result<Vec<f32>, String> {
    use crate::capture::resample::{i16_to_f32, i32_to_f32};
    let bad = |e: hound::Error| format!("the clip is not a readable WAV file: {e}");
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let spec = r.spec();
    if spec.channels == 0 || spec.sample_rate < 8_000 || spec.sample_rate > 192_000 {
        return Err(format!("the clip's format is not usable ({} channels at {} Hz)", spec.channels, spec.sample_rate));
    }
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => r.samples::<i16>().map(|s| s.map(i16_to_f32)).collect::<Result<_, _>>().map_err(bad)?,
        (hound::SampleFormat::Int, 32) => r.samples::<i32>().map(|s| s.map(i32_to_f32)).collect::<Result<_, _>>().map_err(bad)?,
        (hound::SampleFormat::Float, 32) => r.samples::<f32>().collect::<Result<_, _>>().map_err(bad)?,
        (f, b) => return Err(format!("the clip's format is not supported ({f:?}, {b} bits): send 16-bit PCM WAV")),
    };
    if samples.is_empty() {
        return Err("the clip is empty".into());
    }
    crate::capture::resample::to_16k_mono(&samples, spec.sample_rate, spec.channels)
}

#[derive(Serialize)]
struct Episode {
    /// The episode's id (its file stem).
    id: String,
    title: String,
    at: String,
    duration_ms: u64,
    text: String,
    /// The audio, through the podcast feed's read-only URL (so the player can stream and seek).
    url: String,
    mime: String,
    /// The tasks it speaks of: those that landed after the episode before it (or in the day
    /// before it, for the first) and by the time it was made.
    tasks: Vec<EpisodeTask>,
    /// Where each task's part starts (`startTime` in seconds, as in the feed's JSON chapters).
    chapters: Vec<serde_json::Value>,
    /// The same chapters as Podcasting 2.0 JSON, through the feed's read-only URL.
    chapters_url: Option<String>,
}

#[derive(Serialize)]
struct EpisodeTask {
    id: i64,
    title: String,
    state: crate::store::TaskState,
}

async fn episodes(State(web): State<Arc<Web>>) -> Response {
    let dir = web.changelog_dir.clone();
    let store = web.store.clone();
    let (list, views) = tokio::task::spawn_blocking(move || {
        let list = crate::report::changelog::list(&dir);
        // Only tasks that can have landed inside an episode's window: every open one, and the
        // merged ones changed since the oldest window began (not every task ever made).
        let oldest = list.last().map(|e| e.at.with_timezone(&Utc) - chrono::Duration::hours(24));
        let tasks = match oldest {
            Some(from) => store.board_tasks(from).map(|(t, _)| t).unwrap_or_default(),
            None => Vec::new(),
        };
        let views: Vec<TaskView> = tasks
            .iter()
            .map(|t| TaskView::from_store(t, &store.runs(t.id).unwrap_or_default(), &store.events(t.id).unwrap_or_default()))
            .collect();
        (list, views)
    })
    .await
    .unwrap_or_default();
    use crate::store::TaskState;
    let covered = |from: chrono::DateTime<Utc>, at: chrono::DateTime<Utc>| -> Vec<EpisodeTask> {
        views
            .iter()
            .filter(|v| matches!(v.state, TaskState::Merged | TaskState::Ready | TaskState::NeedsAttention))
            .filter(|v| v.done_at().is_some_and(|d| d <= at && d > from))
            .map(|v| EpisodeTask { id: v.id, title: v.title.clone(), state: v.state })
            .collect()
    };
    // `list` is newest first: the episode before each is the next in it.
    let out: Vec<Episode> = list
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let item = crate::report::FeedItem::from_entry(e);
            let at = e.at.with_timezone(&Utc);
            let from = list.get(i + 1).map(|p| p.at.with_timezone(&Utc)).unwrap_or(at - chrono::Duration::hours(24));
            Episode {
                id: e.stem.clone(),
                title: e.title.clone(),
                at: e.at.to_rfc3339(),
                duration_ms: e.duration_ms,
                text: e.text.clone(),
                url: crate::report::feed::audio_path(&web.feed_token, &item.file_name),
                mime: item.mime,
                tasks: covered(from, at),
                chapters: crate::report::feed::chapters_json(e)["chapters"].as_array().cloned().unwrap_or_default(),
                chapters_url: item.chapters.then(|| crate::report::feed::chapters_path(&web.feed_token, &e.stem)),
            }
        })
        .collect();
    Json(out).into_response()
}

/// The URL a phone should open: `public_url` when set; otherwise the bound address, with
/// the machine's LAN address in place of 0.0.0.0 or [::] (never a wildcard).
pub fn base_url(public_url: &str, bound: SocketAddr, tls: bool) -> String {
    let public = public_url.trim().trim_end_matches('/');
    if !public.is_empty() {
        return public.to_string();
    }
    let scheme = if tls { "https" } else { "http" };
    let ip = if bound.ip().is_unspecified() { lan_ip().unwrap_or(bound.ip()) } else { bound.ip() };
    match ip {
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{}", bound.port()),
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{}", bound.port()),
    }
}

/// The address this machine uses toward a private network (no packet is sent: a UDP
/// "connect" only picks the route).
pub fn lan_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.168.0.1:9").or_else(|_| s.connect("10.0.0.1:9")).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_never_name_a_wildcard() {
        let cases = [
            ("https://box.tail1234.ts.net/", "127.0.0.1:7471", false, "https://box.tail1234.ts.net"),
            ("", "127.0.0.1:7471", false, "http://127.0.0.1:7471"),
            ("", "192.168.1.20:7471", true, "https://192.168.1.20:7471"),
        ];
        for (public, bound, tls, want) in cases {
            assert_eq!(base_url(public, bound.parse().unwrap(), tls), want);
        }
        let any = base_url("", "0.0.0.0:7471".parse().unwrap(), true);
        assert!(!any.contains("0.0.0.0"), "{any}");
    }

    #[test]
    fn only_loopback_links_are_called_local_only() {
        let cases = [
            ("http://127.0.0.1:7471", true),
            ("http://127.0.0.2:9", true),
            ("http://[::1]:7471", true),
            ("http://localhost:7471/", true),
            ("https://192.168.1.20:7471", false),
            ("https://box.tail1234.ts.net", false),
            ("https://[fd00::2]:7471", false),
            ("https://localhost.example.com", false),
        ];
        for (url, local) in cases {
            let hint = local_only_hint(url);
            assert_eq!(hint.is_some(), local, "{url}");
            if let Some(h) = hint {
                assert!(h.contains("public_url") && h.contains("listen"), "{h}");
            }
        }
    }

    #[test]
    fn codes_and_tokens_look_right() {
        let c = random_code();
        assert_eq!(c.len(), 8);
        assert!(c.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()));
        assert!(!c.contains('0') && !c.contains('O') && !c.contains('1') && !c.contains('I'));
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }

    #[test]
    fn the_limiter_blocks_after_repeated_failures() {
        let l = Limiter::default();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let other: IpAddr = "10.1.2.4".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!l.blocked(ip));
            l.failed(ip);
        }
        assert!(l.blocked(ip));
        assert!(!l.blocked(other));
    }

    #[test]
    fn the_clip_limit_follows_max_utterance_at_the_page_rate() {
        for (secs, at_least) in [(120, 120 * 48_000 * 2), (60, 60 * 48_000 * 2), (30, 30 * 48_000 * 2)] {
            let limit = clip_limit(Duration::from_secs(secs));
            assert!(limit >= at_least + 44, "{secs} s: {limit}");
            assert!(limit < at_least + 128 * 1024, "{secs} s: {limit}");
        }
        // far above axum's default 2 MiB for the default two minutes
        assert!(clip_limit(Duration::from_secs(120)) > 11 * 1024 * 1024);
    }

    #[test]
    fn wav_uploads_decode_or_explain() {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let spec = hound::WavSpec { channels: 1, sample_rate: 48_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
            let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
            for i in 0..48_000 {
                w.write_sample(((i as f32 * 0.05).sin() * 8000.0) as i16).unwrap();
            }
            w.finalize().unwrap();
        }
        let s = decode_wav(buf.get_ref()).unwrap();
        assert!((15_000..=17_000).contains(&s.len()), "{}", s.len());
        assert!(decode_wav(b"OggS not a wav").unwrap_err().contains("not a readable WAV"));
        assert!(decode_wav(b"").is_err());
    }
}
