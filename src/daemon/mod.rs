//! The daemon: the coordinator, the local HTTP API, the dispatcher and (unless
//! headless) the voice loop and tray. `run` takes its shutdown as a future, so
//! tests and signal handlers stop it the same way.

pub mod actions;
pub mod api;
pub mod coordinator;

use crate::config::{Config, DataDir};
use crate::store::Store;
use anyhow::Context as _;
use std::future::Future;
use std::io::Write;
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
}

/// Shared services every part of the daemon may use.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub data: DataDir,
    pub store: Store,
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

    let listener = tokio::net::TcpListener::bind(&opts.config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([api] listen)", opts.config.api.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the API listens beyond loopback because [api] listen says so; every request still needs the token");
    }

    let services = Services { config: Arc::new(opts.config), data: data.clone(), store };
    let (stop_tx, stop_rx) = watch::channel(false);
    let coordinator = Coordinator::spawn(services.clone(), stop_rx.clone());

    let state = api::AppState { services: services.clone(), token: Arc::new(token), feed_token: Arc::new(feed_token), coordinator: coordinator.clone() };
    let app = api::router(state);

    write_atomic(&data.addr(), addr.to_string().as_bytes())?;
    write_atomic(&data.pid(), std::process::id().to_string().as_bytes())?;
    tracing::info!(%addr, data = %data.root().display(), headless = opts.headless, "capcom daemon listening");

    let mut stop_for_server = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { coordinator::stopped(&mut stop_for_server).await })
            .await
    });

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
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
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Ok(existing) = std::fs::read_to_string(path) {
        let t = existing.trim().to_string();
        if t.len() >= 32 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            return Ok(t);
        }
    }
    let bytes: [u8; 32] = rand::random();
    let token = hex::encode(bytes);
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(token)
}

/// Write a small file so readers never see it half-written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
