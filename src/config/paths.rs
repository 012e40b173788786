//! The data dir: database, audio, worktrees, logs, changelogs and the API's token and address.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// `--data-dir` / `CAPCOM_DATA_DIR` when given, else `$XDG_DATA_HOME/capcom`
    /// (or `~/.local/share/capcom`).
    pub fn resolve(explicit: Option<&Path>) -> DataDir {
        if let Some(p) = explicit {
            return DataDir(p.to_path_buf());
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        DataDir(base.join("capcom"))
    }

    pub fn new(p: impl Into<PathBuf>) -> DataDir {
        DataDir(p.into())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }
    pub fn db(&self) -> PathBuf {
        self.0.join("capcom.db")
    }
    /// The bearer token for the local API (mode 0600).
    pub fn token(&self) -> PathBuf {
        self.0.join("api.token")
    }
    /// The read-only token that podcast apps put in the feed URL.
    pub fn feed_token(&self) -> PathBuf {
        self.0.join("feed.token")
    }
    /// The address the API actually bound (so port 0 works).
    pub fn addr(&self) -> PathBuf {
        self.0.join("api.addr")
    }
    pub fn pid(&self) -> PathBuf {
        self.0.join("daemon.pid")
    }
    pub fn audio(&self) -> PathBuf {
        self.0.join("audio")
    }
    pub fn worktrees(&self) -> PathBuf {
        self.0.join("worktrees")
    }
    pub fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }
    pub fn changelogs(&self) -> PathBuf {
        self.0.join("changelogs")
    }
    pub fn models(&self) -> PathBuf {
        self.0.join("models")
    }
}
