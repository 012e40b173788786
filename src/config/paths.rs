//! The data dir: database, audio, worktrees, logs, changelogs and the API's token and address.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf, Option<PathBuf>);

impl DataDir {
    /// `--data-dir` / `CAPCOM_DATA_DIR` when given, else `$XDG_DATA_HOME/capcom`
    /// (or `~/.local/share/capcom`), made absolute once, here: agents, checks and git run in
    /// other directories (a worktree, the repo), where a relative data dir would name another
    /// place (git would make a worktree inside the user's repo).
    pub fn resolve(explicit: Option<&Path>) -> DataDir {
        DataDir::resolve_with(explicit, |k| std::env::var_os(k)).absolute()
    }

    /// Both paths made absolute against the current directory (lexically: the data dir may
    /// not exist yet, and a symlink in it stays as the user named it).
    fn absolute(self) -> DataDir {
        let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        DataDir(abs(self.0), self.1.map(abs))
    }

    /// [`resolve`](Self::resolve) with the environment passed in.
    pub fn resolve_with(explicit: Option<&Path>, env: impl Fn(&str) -> Option<std::ffi::OsString>) -> DataDir {
        if let Some(p) = explicit {
            return DataDir(p.to_path_buf(), None);
        }
        let xdg = |var: &str, fallback: &str| {
            env(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(fallback)))
        };
        let base = xdg("XDG_DATA_HOME", ".local/share").unwrap_or_else(|| PathBuf::from("."));
        let state = xdg("XDG_STATE_HOME", ".local/state");
        DataDir(base.join("capcom"), state.map(|s| s.join("capcom")))
    }

    /// A data dir given by path: everything, the daemon's log included, stays inside it.
    pub fn new(p: impl Into<PathBuf>) -> DataDir {
        DataDir(p.into(), None)
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
    /// What the running daemon made of the config file when it last changed (JSON).
    pub fn config_status(&self) -> PathBuf {
        self.0.join("config.status.json")
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
    /// Task run logs (with the task's other files).
    pub fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }
    /// Where the daemon writes `capcom.log.YYYY-MM-DD`: `$XDG_STATE_HOME/capcom`
    /// (`~/.local/state/capcom`) for the default data dir; `<data dir>/logs` when the data
    /// dir was given (`--data-dir`, `CAPCOM_DATA_DIR`), so a given dir holds everything.
    pub fn daemon_logs(&self) -> PathBuf {
        self.1.clone().unwrap_or_else(|| self.logs())
    }
    pub fn changelogs(&self) -> PathBuf {
        self.0.join("changelogs")
    }
    pub fn models(&self) -> PathBuf {
        self.0.join("models")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_log_is_state_unless_the_data_dir_was_given() {
        // (explicit, XDG_DATA_HOME, XDG_STATE_HOME, HOME) -> (root, daemon logs)
        let cases: [(Option<&str>, Option<&str>, Option<&str>, Option<&str>, &str, &str); 5] = [
            (None, None, None, Some("/home/a"), "/home/a/.local/share/capcom", "/home/a/.local/state/capcom"),
            (None, Some("/d"), Some("/s"), Some("/home/a"), "/d/capcom", "/s/capcom"),
            (None, Some(""), Some(""), Some("/home/a"), "/home/a/.local/share/capcom", "/home/a/.local/state/capcom"),
            (Some("/tmp/x"), Some("/d"), Some("/s"), Some("/home/a"), "/tmp/x", "/tmp/x/logs"),
            (None, None, None, None, "./capcom", "./capcom/logs"),
        ];
        for (explicit, data, state, home, root, logs) in cases {
            let env = |k: &str| {
                match k {
                    "XDG_DATA_HOME" => data,
                    "XDG_STATE_HOME" => state,
                    "HOME" => home,
                    _ => None,
                }
                .map(std::ffi::OsString::from)
            };
            let d = DataDir::resolve_with(explicit.map(Path::new), env);
            assert_eq!(d.root(), Path::new(root), "{explicit:?} {data:?} {state:?}");
            assert_eq!(d.daemon_logs(), PathBuf::from(logs), "{explicit:?} {data:?} {state:?}");
        }
        assert_eq!(DataDir::new("/t").daemon_logs(), PathBuf::from("/t/logs"));
    }

    #[test]
    fn a_relative_data_dir_is_made_absolute_once() {
        let cwd = std::env::current_dir().unwrap();
        for given in ["data", "./data", "a/../data", "data/"] {
            let d = DataDir::resolve(Some(Path::new(given)));
            assert!(d.root().is_absolute(), "{given}: {:?}", d.root());
            assert!(d.root().starts_with(&cwd), "{given}: {:?}", d.root());
            assert!(d.worktrees().is_absolute() && d.db().is_absolute(), "{given}");
        }
        assert_eq!(DataDir::resolve(Some(Path::new("/abs/x"))).root(), Path::new("/abs/x"));
    }
}
