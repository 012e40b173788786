//! The daemon: the coordinator, the local HTTP API, the dispatcher and (unless
//! headless) the voice loop and tray. `run` takes its shutdown as a future, so
//! tests and signal handlers stop it the same way.

pub mod actions;
pub mod answer;
pub mod api;
pub mod coordinator;
pub mod dialogue;
mod held;
pub mod idem;
pub mod retention;
pub mod phone;
pub mod sessions;
pub mod spoken;
mod split;
pub mod tray;
pub mod voice;

use crate::config::{Config, DataDir};
use crate::store::Store;
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

pub use coordinator::{Coordinator, CoordinatorHandle, Stage};

/// What the daemon needs to start.
pub struct Options {
    pub config: Config,
    pub data: DataDir,
    /// API and dispatcher only: no audio, hotkey or tray.
    pub headless: bool,
    /// The config file the daemon follows (read again when it changes): `--config`, or the
    /// user's file whether or not it exists yet. `None`: the config never changes.
    pub config_file: Option<ConfigFile>,
}

/// Where the config came from, to read it again the same way.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// `--config` / `CAPCOM_CONFIG` (must exist), or `None` for the user's default file.
    pub explicit: Option<std::path::PathBuf>,
    /// The file to watch.
    pub path: std::path::PathBuf,
}

/// Shared services every part of the daemon may use.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub data: DataDir,
    pub store: Store,
    /// Text to speech for changelogs and answers; `None` when `[speech] engine = "none"` or it failed to start.
    pub speaker: Option<Arc<dyn crate::report::Speaker>>,
}

/// Start everything, serve until `shutdown` resolves, then drain and return.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let data = opts.data.clone();
    create_private_dir(data.root())?;
    let store = Store::open(&data.db()).with_context(|| format!("opening the store in {}", data.root().display()))?;
    let token = ensure_token(&data.token())?;
    crate::logging::register_secret(&token);
    let feed_token = ensure_token(&data.feed_token())?;
    crate::logging::register_secret(&feed_token);
    for agent in opts.config.agents.values() {
        if let Ok(v) = std::env::var(&agent.token_env) {
            crate::logging::register_secret(&v);
        }
    }
    if let Ok(v) = std::env::var(&opts.config.github.token_env) {
        crate::logging::register_secret(&v);
    }
    for name in opts.config.own_token_vars() {
        if let Ok(v) = std::env::var(&name) {
            crate::logging::register_secret(&v);
        }
        crate::private::register_own_env(&name);
    }

    // Room for many connections, agents and logs (systemd's soft limit is 1,024).
    crate::web::serve::raise_fd_limit(8192);
    warn_missing_agents(&opts.config);
    crate::process::set_background_nice(opts.config.dispatch.agent_nice);
    let listener = tokio::net::TcpListener::bind(&opts.config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([api] listen)", opts.config.api.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the API listens beyond loopback because [api] listen says so; every request still needs the token");
    }

    let speaker = match crate::report::tts::from_config(&opts.config.speech) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("speech output is off: {e}; answers are text only");
            None
        }
    };
    let services = Services { config: Arc::new(opts.config), data: data.clone(), store, speaker };
    let (stop_tx, stop_rx) = watch::channel(false);
    // Answers are spoken by the desktop daemon; a headless one stays silent (the CLI can speak).
    let speech = match (&services.speaker, opts.headless) {
        (Some(sp), false) => {
            Some(Arc::new(crate::report::SpeechQueue::new(Some(sp.clone()), crate::report::open_output(), None)))
        }
        _ => None,
    };
    let coordinator = Coordinator::spawn(services.clone(), stop_rx.clone(), speech);

    // Beyond loopback the page needs HTTPS (browsers give the microphone only to a secure context).
    let tls = if crate::web::tls::needs_tls(addr) {
        let cert = crate::web::tls::ensure(data.root(), addr)?;
        tracing::info!(fingerprint = %cert.fingerprint, created = cert.created, "serving HTTPS with the self-signed certificate in the data dir");
        eprintln!("capcom: HTTPS on {addr}; certificate SHA-256 fingerprint {}", cert.fingerprint);
        Some(cert)
    } else {
        None
    };
    let base_url = crate::web::base_url(&services.config.api.public_url, addr, tls.is_some());
    // What a changelog cut short by a crash or a full disk left behind (one daemon per data
    // dir, so nothing is being written now).
    for p in crate::report::changelog::sweep_orphans(&spoken::changelog_dir_of(&services)) {
        tracing::info!(path = %p.display(), "removed an incomplete changelog file");
    }
    // Web Push: the daemon's VAPID key, made once in the data dir. Without it the page still
    // works; it only cannot subscribe.
    let vapid = match crate::web::push::Vapid::load_or_create(&data.root().join("vapid.p8")) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            tracing::warn!(error = %e, "Web Push is off");
            None
        }
    };
    let web = crate::web::Web::new(
        services.store.clone(),
        spoken::changelog_dir_of(&services),
        feed_token.clone(),
        base_url,
        phone::DaemonBackend::new(services.clone(), coordinator.clone()),
        services.config.voice.max_utterance.0,
        stop_rx.clone(),
    );
    if let Some(v) = &vapid {
        let _once = web.push_key.set(v.public_key());
    }
    let web_watcher = web.spawn_watcher(stop_rx.clone());
    let push_notifier = vapid.map(|vapid| {
        let contact = Some(services.config.api.push_contact.trim().to_string()).filter(|c| c.starts_with("mailto:") || c.starts_with("https://"));
        if contact.is_none() && !services.config.api.push_contact.trim().is_empty() {
            tracing::warn!("[api] push_contact must be a mailto: or https: URL; using {}", crate::web::push::DEFAULT_CONTACT);
        }
        crate::web::push::Notifier {
            store: services.store.clone(),
            vapid,
            sender: Arc::new(crate::web::push::HttpSender(reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default())),
            contact: contact.unwrap_or_else(|| crate::web::push::DEFAULT_CONTACT.into()),
        }
        .spawn(stop_rx.clone())
    });
    let state = api::AppState { services: services.clone(), token: Arc::new(token), feed_token: Arc::new(feed_token), coordinator: coordinator.clone(), addr, web };
    let app = api::router(state.clone());
    let mut background = vec![
        tokio::spawn(announce_changes(services.clone(), coordinator.clone())),
        tokio::spawn(daily_changelog(state.clone())),
        tokio::spawn(retention::run_sweeps(services.clone())),
        web_watcher,
    ];
    background.extend(push_notifier);

    // Installed before the daemon says it is up (a signal nobody watches would end it); the
    // voice loop watches them itself, a headless daemon says they do nothing.
    let listen_signals = ignore_listen_signals();
    if opts.headless {
        background.push(tokio::spawn(listen_signals));
    } else {
        drop(listen_signals);
    }
    let _ = std::fs::remove_file(data.config_status());
    if let Some(file) = opts.config_file.clone() {
        background.push(tokio::spawn(follow_config(file, services.config.clone(), data.clone(), coordinator.clone())));
    }
    write_atomic(&data.addr(), addr.to_string().as_bytes())?;
    write_atomic(&data.pid(), std::process::id().to_string().as_bytes())?;
    tracing::info!(%addr, data = %data.root().display(), headless = opts.headless, "capcom daemon listening");
    // The key the hotkey path bound, for the tray's tooltip.
    let (hotkey_tx, hotkey_rx) = watch::channel(None::<String>);
    let voice_loop = (!opts.headless).then(|| {
        let mut devices = voice::Devices::real(&services.config);
        devices.bound = Some(hotkey_tx);
        tokio::spawn(voice::run(services.clone(), coordinator.clone(), stop_rx.clone(), devices))
    });

    let tray_task = if opts.headless { None } else { Some(tokio::spawn(run_tray(services.clone(), coordinator.clone(), stop_tx.clone(), stop_rx.clone(), addr, state.feed_token.to_string(), state.web.clone(), hotkey_rx))) };

    let stop_for_server = stop_rx.clone();
    let server = tokio::spawn(async move {
        let limits = crate::web::serve::Limits::default();
        crate::web::serve::serve(listener, app, tls.map(|c| c.acceptor), limits, stop_for_server).await
    });

    let mut stop_wait = stop_rx.clone();
    tokio::select! {
        _ = shutdown => {}
        _ = coordinator::stopped(&mut stop_wait) => {}
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    if let Some(t) = tray_task {
        let _ = t.await;
    }
    for t in background {
        t.abort();
    }
    if let Some(v) = voice_loop {
        // finishes the clips already recorded (they are in the store either way)
        if tokio::time::timeout(std::time::Duration::from_secs(40), v).await.is_err() {
            tracing::warn!("the voice loop did not stop within 40 s");
        }
    }
    coordinator.join().await;
    match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "API server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "API server task failed"),
        Err(_) => tracing::warn!("API server did not stop within 10 s"),
        Ok(Ok(Ok(()))) => {}
    }
    let _ = std::fs::remove_file(data.addr());
    let _ = std::fs::remove_file(data.pid());
    tracing::info!("stopped");
    Ok(())
}

/// A headless daemon has no microphone: `capcom listen --start|--stop|--toggle` reach it as
/// signals whose default action would end it. They are said and ignored. The handlers are
/// installed when this is called (tokio keeps a signal's handler for the life of the process,
/// so the voice loop's own streams find it in place).
fn ignore_listen_signals() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [SignalKind::user_defined1(), SignalKind::from_raw(voice::start_signal()), SignalKind::from_raw(voice::stop_signal())];
    let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
    async move {
        while !streams.is_empty() {
            let nexts = streams.iter_mut().map(|s| Box::pin(s.recv()));
            let _ = futures_util::future::select_all(nexts).await;
            tracing::info!("`capcom listen` does nothing in a headless daemon: it has no microphone");
        }
    }
}

/// How often the config file is looked at (size, mtime and a hash of its text: cheap).
const CONFIG_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Follow the user's config file: a change that loads and validates goes to the coordinator
/// (the next brief, merge or task uses it); one that does not keeps the config the daemon
/// has, and the log and `capcom doctor` (through `config.status.json` in the data dir) say
/// why. Settings that only take effect at the next start are said.
async fn follow_config(file: ConfigFile, mut current: Arc<Config>, data: DataDir, coordinator: CoordinatorHandle) {
    let mut watch = crate::config::live::FileWatch::new(file.path.clone());
    let mut tick = tokio::time::interval(CONFIG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !watch.changed() {
            continue;
        }
        let explicit = file.explicit.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::config::load(explicit.as_deref(), std::env::vars())).await;
        let shown = file.path.display().to_string();
        let status = match loaded {
            Ok(Ok(l)) => {
                for w in &l.warnings {
                    tracing::warn!("{w}");
                }
                let new = Arc::new(l.config);
                let restart = crate::config::live::changes(&current, &new);
                if *new != *current {
                    coordinator.send(coordinator::Msg::Config(new.clone())).await;
                    tracing::info!(file = %shown, "config reloaded: repos, checks, agents, routes and [dispatch] apply from the next brief");
                }
                if !restart.is_empty() {
                    tracing::warn!(file = %shown, "{} changed: restart the daemon to use the new value", restart.join(", "));
                }
                current = new;
                serde_json::json!({ "ok": true, "file": shown, "at": chrono::Utc::now(), "restart": restart, "warnings": l.warnings })
            }
            Ok(Err(e)) => {
                tracing::warn!("{e}; the daemon keeps the config it had until the file loads again");
                serde_json::json!({ "ok": false, "file": shown, "at": chrono::Utc::now(), "error": e.to_string() })
            }
            Err(e) => {
                tracing::warn!("reading the config again failed: {e}");
                continue;
            }
        };
        if let Err(e) = write_atomic(&data.config_status(), status.to_string().as_bytes()) {
            tracing::debug!(error = %e, "cannot record the config status");
        }
    }
}

/// The local agents that tasks go to (the default and the routes' agents) must be installed:
/// say so at start, not only when a task fails. Built-in routes fall back to an installed agent.
fn warn_missing_agents(config: &crate::config::Config) {
    use crate::dispatch::presets::{agent_program, find_on_path};
    use crate::dispatch::routing;
    for f in routing::fallbacks(config, &routing::on_path) {
        tracing::info!("{f}");
    }
    let default = routing::default_agent(config, &routing::on_path);
    let mut used: Vec<&str> = vec![default.as_str()];
    if !config.origin.routes_builtin {
        used.extend(config.routes.iter().map(|r| r.agent.as_str()));
    }
    used.sort();
    used.dedup();
    for name in used {
        let Some(agent) = config.agents.get(name) else { continue };
        if agent.kind != "local" {
            continue;
        }
        if let Some(program) = agent_program(agent)
            && find_on_path(&program).is_none()
        {
            tracing::warn!("agent {name}: `{program}` is not installed or not on PATH; its tasks will fail until it is");
        }
    }
}

/// Watch task states; when one becomes ready or needs attention, hand the coordinator a
/// one-line notice (`[speech] announce`) and send a desktop notification (best effort).
async fn announce_changes(services: Services, coordinator: CoordinatorHandle) {
    use crate::store::TaskState;
    use std::collections::HashMap;
    let announce = services.config.speech.announce.clone();
    let mut seen: HashMap<i64, TaskState> = HashMap::new();
    let mut first = true;
    // Woken by every task write (created, moved, updated), as the tray is: no polling.
    let mut writes = services.store.task_writes();
    loop {
        let store = services.store.clone();
        if let Ok(Ok(views)) = tokio::task::spawn_blocking(move || spoken::views(&store, false)).await {
            for v in views {
                let before = seen.insert(v.id, v.state);
                if first || before == Some(v.state) {
                    continue;
                }
                if let Some(line) = crate::report::script::announcement(&v, &announce) {
                    notify_desktop(&line);
                    // The train said it as it happened; say each thing once.
                    if !crate::report::script::said_by_the_train(&v) {
                        coordinator.send(coordinator::Msg::Notice(line)).await;
                    }
                }
            }
            first = false;
        }
        if writes.changed().await.is_err() {
            return;
        }
    }
}

fn notify_desktop(line: &str) {
    let line = line.to_string();
    // A desktop without a notification service is fine: the notice is still spoken and logged.
    std::thread::spawn(move || {
        if let Err(e) = notify_rust::Notification::new().summary("capcom").body(&line).timeout(8000).show() {
            tracing::debug!(error = %e, "no desktop notification");
        }
    });
}

/// Build the changelog every day at `[speech] changelog_at` (local time), for the feed.
async fn daily_changelog(state: api::AppState) {
    let at = state.services.config.speech.changelog_at.trim().to_string();
    if at.is_empty() {
        return;
    }
    loop {
        let now_local = chrono::Local::now().fixed_offset();
        let Some(due) = crate::report::changelog::next_due(&at, now_local) else {
            tracing::warn!(%at, "[speech] changelog_at is not a time like \"07:30\"; no daily changelog");
            return;
        };
        let wait = (due - now_local).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        let now = chrono::Utc::now();
        // An empty day makes no episode.
        let store = state.services.store.clone();
        // a day back, or from the last episode when one was made since
        let since = spoken::episode_since(&spoken::changelog_dir(&state), now - chrono::Duration::hours(24));
        if let Ok(Ok(false)) = tokio::task::spawn_blocking(move || spoken::anything_landed(&store, since, now)).await {
            tracing::info!("nothing landed in the last 24 hours; no changelog episode today");
            tokio::time::sleep(std::time::Duration::from_secs(61)).await;
            continue;
        }
        match spoken::render_changelog(&state, since, now).await {
            Ok(a) => tracing::info!(file = ?a.entry.map(|e| e.wav), "daily changelog rendered"),
            Err(e) => tracing::warn!(error = %e.1, "daily changelog failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    }
}

/// Keep the tray in step with the stage and the tasks; act on its menu. Driven by changes,
/// not a timer: the coordinator's published stage and pause state, and the store's task writes.
async fn run_tray(
    services: Services,
    coordinator: CoordinatorHandle,
    stop_tx: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
    addr: SocketAddr,
    feed_token: String,
    web: Arc<crate::web::Web>,
    mut hotkey: watch::Receiver<Option<String>>,
) {
    use tray::{TrayAction, TrayModel, TrayStatus};
    let (tx, mut actions) = tokio::sync::mpsc::unbounded_channel();
    let mut published = coordinator.watch();
    let mut task_writes = services.store.task_writes();
    let tray = match tray::spawn(TrayModel::default(), tx).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("{e}; capcom keeps running without a tray icon");
            return;
        }
    };
    let feed_url = spoken::feed_url_of(&services, &addr, &feed_token);
    let page_url = loopback_page_url(addr);
    let (mut following, mut watching_tasks, mut watching_key) = (true, true, true);
    loop {
        let now = published.borrow_and_update().clone();
        let status = match now.stage {
            Some(Stage::Recording) => TrayStatus::Recording,
            Some(Stage::Transcribing) => TrayStatus::Thinking,
            Some(Stage::Speaking) => TrayStatus::Speaking,
            _ => TrayStatus::Idle,
        };
        task_writes.mark_unchanged();
        let store = services.store.clone();
        let tasks = tokio::task::spawn_blocking(move || store.tasks(true)).await.ok().and_then(|r| r.ok()).unwrap_or_default();
        let store = services.store.clone();
        let sessions_waiting = tokio::task::spawn_blocking(move || store.sessions_waiting()).await.ok().and_then(|r| r.ok()).unwrap_or(0);
        let has_changelog = crate::report::changelog::latest(&spoken::changelog_dir_of(&services)).is_some();
        let bound = hotkey.borrow_and_update().clone();
        let model = TrayModel { status, listening_paused: now.paused, feed_url: feed_url.clone(), has_changelog, hotkey: bound, sessions_waiting, ..TrayModel::default() }
            .with_tasks(&tasks);
        tray.set(model).await;

        tokio::select! {
            _ = coordinator::stopped(&mut stop) => break,
            changed = published.changed(), if following => if changed.is_err() { following = false },
            changed = task_writes.changed(), if watching_tasks => if changed.is_err() { watching_tasks = false },
            changed = hotkey.changed(), if watching_key => if changed.is_err() { watching_key = false },
            Some(action) = actions.recv() => match action {
                TrayAction::Quit => { let _ = stop_tx.send(true); break; }
                TrayAction::TogglePause => { coordinator.set_paused(None).await; }
                TrayAction::OpenPage => open_url(&page_url, "the capcom page"),
                TrayAction::ShowTask(id) => {
                    let store = services.store.clone();
                    let said = tokio::task::spawn_blocking(move || {
                        spoken::status_text(&store, crate::understand::StatusFilter::All, Some(id), chrono::Utc::now())
                    })
                    .await;
                    if let Ok(Ok(text)) = said {
                        coordinator.send(coordinator::Msg::Notice(text)).await;
                    }
                }
                TrayAction::PlayLatestChangelog => {
                    let dir = spoken::changelog_dir_of(&services);
                    match crate::report::changelog::latest(&dir) {
                        Some(e) => { coordinator.send(coordinator::Msg::PlayFile(e.wav_path(&dir))).await; }
                        None => tracing::info!("no changelog yet: `capcom changelog` makes one"),
                    }
                }
                TrayAction::PairPhone => {
                    // A page with the QR code and link, opened in the desktop browser (an argv, never a shell).
                    let (web, file) = (web.clone(), services.data.root().join("pair.html"));
                    let made = tokio::task::spawn_blocking(move || -> Result<std::path::PathBuf, String> {
                        let p = web.start_pairing()?;
                        let expires = p.expires_at.with_timezone(&chrono::Local).format("%H:%M:%S").to_string();
                        let html = match &p.local_only {
                            Some(why) => crate::web::qr::local_only_html(&p.url, why, &expires),
                            None => crate::web::qr::html(&p.url, &expires)?,
                        };
                        std::fs::write(&file, html).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                        Ok(file)
                    })
                    .await;
                    match made {
                        Ok(Ok(file)) => {
                            if let Err(e) = std::process::Command::new("xdg-open").arg(&file).spawn() {
                                tracing::warn!(error = %e, "cannot open the pairing page; `capcom pair` shows the code in a terminal");
                            }
                        }
                        Ok(Err(e)) => tracing::warn!("cannot pair a phone: {e}"),
                        Err(e) => tracing::warn!("cannot pair a phone: {e}"),
                    }
                }
                TrayAction::OpenFeedUrl => {
                    if let Some(url) = feed_url.clone() {
                        open_url(&url, "the feed URL");
                    }
                }
            },
        }
    }
    tray.shutdown().await;
}

/// The page as this computer reaches it: the bound address, with loopback in place of a
/// wildcard, over HTTPS when the API serves it (anything beyond loopback).
pub fn loopback_page_url(addr: SocketAddr) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let scheme = if crate::web::tls::needs_tls(addr) { "https" } else { "http" };
    match addr.ip() {
        IpAddr::V4(v4) => format!("{scheme}://{}:{}/", if v4.is_unspecified() { Ipv4Addr::LOCALHOST } else { v4 }, addr.port()),
        IpAddr::V6(v6) => format!("{scheme}://[{}]:{}/", if v6.is_unspecified() { Ipv6Addr::LOCALHOST } else { v6 }, addr.port()),
    }
}

/// Open a URL in the desktop's browser: `xdg-open` with the URL as its one argument, never
/// through a shell. A desktop without xdg-open just logs the URL.
fn open_url(url: &str, what: &str) {
    match std::process::Command::new("xdg-open").arg(url).stdin(std::process::Stdio::null()).spawn() {
        Ok(mut child) => {
            // reap it, so no zombie is left behind
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!(error = %e, %url, "cannot open {what} (xdg-open)"),
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called,
/// not when the future is first polled, so a signal that arrives while the daemon is
/// still starting (after it wrote `api.addr`) stops it cleanly instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            (Ok(mut t), Err(_)) => {
                let _ = t.recv().await;
            }
            (Err(e), _) => {
                tracing::error!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))
}

/// Read the token at `path`, or create one (32 random bytes, hex) with mode 0600.
pub fn ensure_token(path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(existing) = std::fs::read_to_string(path) {
        let t = existing.trim().to_string();
        if t.len() >= 32 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            return Ok(t);
        }
    }
    let bytes: [u8; 32] = rand::random();
    let token = hex::encode(bytes);
    crate::private::write_private(path, token.as_bytes())?;
    Ok(token)
}

/// Write a small file so readers never see it half-written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod page_url_tests {
    #[test]
    fn the_tray_opens_the_page_on_this_computer() {
        for (bound, want) in [
            ("127.0.0.1:7471", "http://127.0.0.1:7471/"),
            ("0.0.0.0:7471", "https://127.0.0.1:7471/"),
            ("[::]:9000", "https://[::1]:9000/"),
            ("192.168.1.20:7471", "https://192.168.1.20:7471/"),
            ("[::1]:7471", "http://[::1]:7471/"),
        ] {
            assert_eq!(super::loopback_page_url(bound.parse().unwrap()), want, "{bound}");
        }
    }
}
