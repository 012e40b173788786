//! The running daemon's config, swapped whole when the user's file changes.
//!
//! * [`Live`] holds the current config. Readers take one snapshot (`get`) per piece of
//!   work, so a task, a brief or a merge sees one consistent config even when the file
//!   changes halfway through it.
//! * [`FileWatch`] notices a changed file by a cheap poll (size, mtime and a hash of the
//!   text, so an edit within the same second is seen too), including a file that did not
//!   exist when the daemon started (`capcom init` while it runs).
//! * [`changes`] says which changed settings only take effect at the next start (the API
//!   listen address, voice and speech output): they are said, not silently ignored.

use super::Config;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// The current config; clones share it.
#[derive(Clone, Debug)]
pub struct Live {
    tx: Arc<watch::Sender<Arc<Config>>>,
}

impl Live {
    pub fn new(config: Arc<Config>) -> Live {
        Live { tx: Arc::new(watch::Sender::new(config)) }
    }

    /// The config now: one consistent snapshot.
    pub fn get(&self) -> Arc<Config> {
        self.tx.borrow().clone()
    }

    /// Replace the config; every clone sees the new one from its next `get`.
    pub fn set(&self, config: Arc<Config>) {
        self.tx.send_replace(config);
    }

    /// Follow changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.tx.subscribe()
    }
}

impl From<Arc<Config>> for Live {
    fn from(c: Arc<Config>) -> Live {
        Live::new(c)
    }
}

impl From<Config> for Live {
    fn from(c: Config) -> Live {
        Live::new(Arc::new(c))
    }
}

/// What a file looked like when last read: absent, or its size, mtime and text hash.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    Absent,
    Present { len: u64, mtime: Option<std::time::SystemTime>, hash: u64 },
}

fn stamp(path: &Path) -> Stamp {
    use std::hash::{Hash, Hasher};
    let Ok(meta) = std::fs::metadata(path) else { return Stamp::Absent };
    let Ok(bytes) = std::fs::read(path) else { return Stamp::Absent };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Stamp::Present { len: meta.len(), mtime: meta.modified().ok(), hash: h.finish() }
}

/// A poll of one config file.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    last: Stamp,
}

impl FileWatch {
    /// Watch `path` from its state now.
    pub fn new(path: PathBuf) -> FileWatch {
        let last = stamp(&path);
        FileWatch { path, last }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file changed (appeared, vanished or was edited) since the last call.
    pub fn changed(&mut self) -> bool {
        let now = stamp(&self.path);
        if now == self.last {
            return false;
        }
        self.last = now;
        true
    }
}

/// The changed settings the running daemon cannot take without a restart, as the
/// sentence a person reads ("[api] listen changed (…): restart the daemon to use it").
pub fn changes(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |changed: bool, what: &str| {
        if changed {
            out.push(what.to_string());
        }
    };
    need(old.api.listen != new.api.listen, "[api] listen");
    need(old.api.public_url != new.api.public_url, "[api] public_url");
    need(old.voice != new.voice, "[voice]");
    need(old.hotkey != new.hotkey, "[hotkey]");
    need(old.speech != new.speech, "[speech]");
    need(old.store != new.store, "[store]");
    need(old.github.api_url != new.github.api_url || old.github.token_env != new.github.token_env, "[github] api_url and token_env");
    need(old.dispatch.max_parallel != new.dispatch.max_parallel, "[dispatch] max_parallel");
    need(old.dispatch.agent_nice != new.dispatch.agent_nice, "[dispatch] agent_nice");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_sees_the_new_config_and_a_snapshot_stays_whole() {
        let live = Live::from(Config::default());
        let other = live.clone();
        let before = other.get();
        let mut c = Config::default();
        c.dispatch.max_parallel = 9;
        live.set(Arc::new(c));
        assert_eq!(other.get().dispatch.max_parallel, 9);
        assert_eq!(before.dispatch.max_parallel, 3, "a snapshot taken before keeps its values");
    }

    #[test]
    fn the_watch_sees_creation_edits_in_the_same_second_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        let mut w = FileWatch::new(p.clone());
        assert!(!w.changed(), "nothing there, nothing changed");
        std::fs::write(&p, "[dispatch]\nmax_parallel = 1\n").unwrap();
        assert!(w.changed(), "a file that appears is a change");
        assert!(!w.changed());
        // same length, same second: the hash tells them apart
        std::fs::write(&p, "[dispatch]\nmax_parallel = 2\n").unwrap();
        assert!(w.changed());
        std::fs::remove_file(&p).unwrap();
        assert!(w.changed());
    }

    #[test]
    fn settings_that_need_a_restart_are_named() {
        let old = Config::default();
        let mut new = Config::default();
        new.repos.push(crate::config::Repo { name: "x".into(), ..Default::default() });
        new.dispatch.timeout = crate::config::Dur::from_secs(5);
        assert!(changes(&old, &new).is_empty(), "repos and dispatch timeouts change live");
        new.api.listen = "127.0.0.1:9".into();
        new.voice.hotkey = "F9".into();
        assert_eq!(changes(&old, &new), ["[api] listen", "[voice]"]);
    }
}
