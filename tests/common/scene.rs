//! A repo, a config and stand-in agents for daemon tests: what a scene needs.

use super::Daemon;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn sh(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

pub const ID: &str = "git -c user.name=agent -c user.email=agent@example.com";
pub const DONE: &str = r#"echo '{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-1"}'"#;

/// `<dir>/repo` with `main` checked out: components/button.txt, app/page.txt, README.md.
pub fn make_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("components")).unwrap();
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(repo.join("components/button.txt"), "button v1\n").unwrap();
    std::fs::write(repo.join("app/page.txt"), "page v1\n").unwrap();
    std::fs::write(repo.join("README.md"), "readme\n").unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "--quiet", "-m", "initial"]);
    repo
}

/// A temp dir with a repo (`main`: components/, app/, README.md) and a config for it.
pub struct Scene {
    pub tmp: tempfile::TempDir,
    pub repo: PathBuf,
}

impl Scene {
    pub fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let repo = make_repo(tmp.path());
        Scene { tmp, repo }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// An agent script named `name` running `body` in its worktree.
    pub fn agent(&self, name: &str, body: &str) -> String {
        let script = sh(self.root(), &format!("{name}.sh"), body);
        format!("[agents.{name}]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n", script.display())
    }

    /// The config: the repo, a green `test` check, `agents` and `extra` (more sections).
    /// Agents start at once (`grace = "0s"`) unless `dispatch_extra` sets a grace window.
    pub fn config(&self, agents: &str, dispatch_extra: &str, extra: &str) -> String {
        let grace = if dispatch_extra.contains("grace") { "" } else { "grace = \"0s\"\n" };
        format!(
            "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"true\"]\n\n[dispatch]\nmax_parallel = 3\nconfirm_ttl = \"30s\"\n{grace}{dispatch_extra}\n\n{agents}\n{extra}\n",
            self.repo.display()
        )
    }
}

/// Dispatch one task to `agent` through the API (an already-understood brief).
pub fn dispatch(d: &Daemon, agent: &str, title: &str) -> i64 {
    dispatch_scoped(d, agent, title, &[])
}

/// The same, with a scope (include paths).
pub fn dispatch_scoped(d: &Daemon, agent: &str, title: &str, include: &[&str]) -> i64 {
    let spec = serde_json::json!({
        "title": title, "kind": "feature", "repo": "site", "agent": agent,
        "scope": {"include": include, "exclude": []},
        "acceptance": [{"text": "tests pass", "check": "test"}],
        "brief": title,
    });
    let intent = serde_json::json!({"intent": "dispatch", "tasks": [spec], "confidence": 1.0});
    let v = post_intent(d, title, intent);
    v["tasks"][0]["id"].as_i64().unwrap_or_else(|| panic!("no task in {v}"))
}

/// Post an already-understood brief (`text` and its `intent`); the daemon's reply.
pub fn post_intent(d: &Daemon, text: &str, intent: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"text": text, "intent": intent}).to_string();
    let (status, reply) = d.http("POST", "/v1/brief", Some(&d.token()), Some(&body));
    assert_eq!(status, 200, "{reply}");
    serde_json::from_str(&reply).unwrap()
}

/// The task as `capcom task --json` prints it.
pub fn task_json(d: &Daemon, id: i64) -> serde_json::Value {
    let out = d.cli(&["task", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", super::stderr(&out));
    serde_json::from_str(&super::stdout(&out)).unwrap()
}

pub fn task(d: &Daemon, id: i64) -> serde_json::Value {
    let (status, body) = d.http("GET", &format!("/v1/tasks/{id}"), Some(&d.token()), None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

pub fn state(v: &serde_json::Value) -> &str {
    v["task"]["state"].as_str().unwrap_or("")
}

/// Wait (a guard against a hang, not a timing assertion) until `done` holds.
pub fn wait(d: &Daemon, id: i64, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..2400 {
        let v = task(d, id);
        if done(&v) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("task {id} never reached {what}: {}\n{}", task(d, id), d.stderr());
}

pub fn settled(d: &Daemon, id: i64) -> serde_json::Value {
    wait(d, id, "a settled state", |v| !matches!(state(v), "queued" | "running" | "checking" | ""))
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub fn pid_alive(pid: i32) -> bool {
    // Zombies count as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(s.rsplit(')').next().and_then(|r| r.split_whitespace().next()), Some("Z") | Some("X")),
        Err(_) => false,
    }
}

pub fn read_pid(p: &Path) -> i32 {
    for _ in 0..2400 {
        if let Ok(s) = std::fs::read_to_string(p)
            && let Ok(n) = s.trim().parse()
        {
            return n;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{} never appeared", p.display());
}

