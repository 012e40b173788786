//! A GitHub repository as `owner/name`, as the config names it.

use serde::{Deserialize, Serialize};

/// `owner/name`, checked so that neither part can change an API path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl RepoSlug {
    pub fn parse(s: &str) -> Option<RepoSlug> {
        let s = s.trim().trim_end_matches(".git");
        let s = s
            .strip_prefix("https://github.com/")
            .or_else(|| s.strip_prefix("github.com/"))
            .unwrap_or(s);
        let (owner, name) = s.split_once('/')?;
        let ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        (ok(owner) && ok(name)).then(|| RepoSlug { owner: owner.into(), name: name.into() })
    }

    /// `/repos/OWNER/NAME`
    pub fn path(&self) -> String {
        format!("/repos/{}/{}", self.owner, self.name)
    }

    pub fn https_url(&self) -> String {
        format!("https://github.com/{}/{}", self.owner, self.name)
    }
}

impl std::fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}
