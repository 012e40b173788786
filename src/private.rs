//! The data dir is private and has one daemon.
//!
//! - The daemon's process umask is `077`, so everything it creates in the data dir
//!   (the database and its WAL, recorded WAVs, logs, changelogs, tokens) is `0600`
//!   and every folder `0700`. Programs it starts (agents, checks, git) get the
//!   user's own umask back ([`user_umask`]), so files in a repo keep their usual modes.
//! - A data dir that exists with wider modes is tightened, and that is said once.
//! - One daemon per data dir: an exclusive `flock` on `<data dir>/daemon.lock`, held
//!   for the life of the process. The kernel drops it when the process ends, however
//!   it ends, so a lock file left by a killed daemon never blocks a start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The umask the process started with; `u32::MAX` until [`make_private`] ran.
static USER_UMASK: AtomicU32 = AtomicU32::new(u32::MAX);

#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    #[error("the data dir {path} cannot be used: {message}")]
    Unusable { path: PathBuf, message: String },
    #[error(
        "another capcom daemon is already running on the data dir {dir} (pid {pid}{addr}); \
         stop it first (`kill {pid}`), or start this one with another --data-dir"
    )]
    Running { dir: PathBuf, pid: String, addr: String },
}

/// What [`make_private`] changed, to be logged once logging is up.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tightened {
    pub paths: Vec<(PathBuf, u32)>,
}

impl Tightened {
    /// One line for all of it.
    pub fn log(&self) {
        if self.paths.is_empty() {
            return;
        }
        let list: Vec<String> = self.paths.iter().map(|(p, old)| format!("{} ({old:o})", p.display())).collect();
        tracing::warn!("the data dir was readable by others; it is now private (0700, files 0600): {}", list.join(", "));
    }
}

fn unusable(path: &Path, e: impl std::fmt::Display) -> PrivateError {
    let message = e.to_string();
    let hint = if message.contains("Read-only file system") {
        " (it is on a read-only file system; choose another with --data-dir or $CAPCOM_DATA_DIR)"
    } else if message.contains("No space left") {
        " (the disk is full; free some space or choose another --data-dir)"
    } else if message.contains("Permission denied") {
        " (you may not write there; choose another with --data-dir)"
    } else {
        ""
    };
    PrivateError::Unusable { path: path.to_path_buf(), message: format!("{message}{hint}") }
}

/// Set the process umask to `077` (remembering the user's), create the data dir `0700`
/// if it is missing, and tighten it and what capcom keeps in it if their modes are wider.
pub fn make_private(root: &Path) -> Result<Tightened, PrivateError> {
    // SAFETY: umask only swaps the process's file mode mask.
    let old = unsafe { libc::umask(0o077) } as u32;
    let _ = USER_UMASK.compare_exchange(u32::MAX, old, Ordering::SeqCst, Ordering::SeqCst);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(|e| unusable(root, e))?;
    let mut tightened = Tightened::default();
    let mut tighten = |p: PathBuf, want: u32| -> Result<(), PrivateError> {
        let Ok(meta) = std::fs::symlink_metadata(&p) else { return Ok(()) };
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want)).map_err(|e| unusable(&p, e))?;
            tightened.paths.push((p, mode));
        }
        Ok(())
    };
    tighten(root.to_path_buf(), 0o700)?;
    for dir in ["logs", "audio", "changelogs", "models", "worktrees"] {
        tighten(root.join(dir), 0o700)?;
    }
    for file in ["capcom.db", "capcom.db-wal", "capcom.db-shm", "api.token", "feed.token"] {
        tighten(root.join(file), 0o600)?;
    }
    // Files already in the folders that hold what the user said and heard.
    for dir in ["logs", "audio", "changelogs"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                tighten(e.path(), 0o600)?;
            }
        }
    }
    Ok(tightened)
}

/// Write a file only its owner may read (mode 0600), whole or not at all: a temp file,
/// synced, then renamed over `path`.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The user's own umask, for the programs capcom starts; `022` if it was never read.
pub fn user_mask() -> u32 {
    match USER_UMASK.load(Ordering::SeqCst) {
        u32::MAX => 0o022,
        m => m,
    }
}

/// Give a child process the user's umask back (the daemon's own is `077`).
pub fn user_umask(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    if USER_UMASK.load(Ordering::SeqCst) == u32::MAX {
        return;
    }
    let mask = user_mask() as libc::mode_t;
    // SAFETY: umask is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask);
            Ok(())
        });
    }
}

/// Names of the environment variables that hold capcom's own tokens (GitHub, remote agents,
/// webhook secrets, the refiner). Programs capcom starts never see them.
static OWN_ENV: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Mark an environment variable as one of capcom's own tokens.
pub fn register_own_env(name: &str) {
    let name = name.trim();
    if name.is_empty() {
        return;
    }
    let mut v = OWN_ENV.write().unwrap_or_else(|p| p.into_inner());
    if !v.iter().any(|n| n == name) {
        v.push(name.to_string());
    }
}

/// The variables registered with [`register_own_env`].
pub fn own_env() -> Vec<String> {
    OWN_ENV.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Remove capcom's own tokens from a child's environment.
pub fn scrub_env(cmd: &mut std::process::Command) {
    for name in own_env() {
        cmd.env_remove(name);
    }
}

/// The lock that makes a daemon the only one on its data dir. Dropping it (or the
/// process ending) releases it.
pub struct DaemonLock {
    _lock: nix::fcntl::Flock<File>,
}

/// Take the data dir's daemon lock, or say which daemon holds it.
pub fn lock_daemon(root: &Path) -> Result<DaemonLock, PrivateError> {
    let path = root.join("daemon.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| unusable(&path, e))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            // The holder's pid, for the message a second start prints.
            let _ = lock.set_len(0);
            let _ = lock.seek(SeekFrom::Start(0));
            let _ = write!(lock, "{}", std::process::id());
            let _ = lock.flush();
            Ok(DaemonLock { _lock: lock })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let pid = if pid.is_empty() { "unknown".to_string() } else { pid.to_string() };
            let addr = std::fs::read_to_string(root.join("api.addr"))
                .ok()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .map(|a| format!(", API at {a}"))
                .unwrap_or_default();
            Err(PrivateError::Running { dir: root.to_path_buf(), pid, addr })
        }
        Err((_, errno)) => Err(unusable(&path, format!("cannot lock it: {errno}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_and_names_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("api.addr"), "127.0.0.1:4545").unwrap();
        let first = lock_daemon(tmp.path()).unwrap();
        let err = lock_daemon(tmp.path()).err().expect("a second lock is refused");
        let msg = err.to_string();
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        assert!(msg.contains("127.0.0.1:4545"), "{msg}");
        drop(first);
        lock_daemon(tmp.path()).expect("free again once the holder is gone");
    }

    #[test]
    fn a_stale_lock_file_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("daemon.lock"), "999999").unwrap();
        lock_daemon(tmp.path()).expect("a lock file nobody holds is no lock");
    }
}
