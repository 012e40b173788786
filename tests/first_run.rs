//! A newcomer's first run: `capcom init`, `capcom repos`, a daemon that takes a changed
//! config file without a restart, routes that only name installed agents, and a doctor
//! that says which config file it read.

mod common;

use common::scene::{self, DONE, Scene, git, sh};
use common::{BIN, Daemon, capcom, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A PATH with only this folder and the system's own programs (git, sh): no agent the
/// machine running the tests may have installed in a user folder.
fn system_path_with(bin: &Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())
}

fn init(config: &Path, data: &Path, args: &[&str], path: &str) -> std::process::Output {
    capcom(config, data).arg("init").args(args).env("PATH", path).stdin(Stdio::null()).output().unwrap()
}

/// `repo` with a package.json naming its checks and a GitHub `origin`.
fn node_repo(root: &Path) -> PathBuf {
    let repo = scene::make_repo(root);
    std::fs::write(
        repo.join("package.json"),
        r#"{"scripts": {"build": "vite build", "test": "vitest run", "lint": "eslint .", "dev": "vite"}}"#,
    )
    .unwrap();
    git(&repo, &["remote", "add", "origin", "git@github.com:acme/site.git"]);
    repo
}

#[test]
fn init_writes_a_config_that_loads_and_never_overwrites_one() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = node_repo(tmp.path());
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    sh(&bin, "codex", "exit 0");
    let (config, data) = (tmp.path().join("cfg/config.toml"), tmp.path().join("data"));
    let path = system_path_with(&bin);

    // --config must name an existing file for everything but init, which writes it.
    let out = init(&config, &data, &[repo.to_str().unwrap()], &path);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let said = stdout(&out);
    assert!(said.contains(&format!("wrote {}", config.display())), "{said}");
    assert!(said.contains("Next: `capcom daemon`"), "the next command is named: {said}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("default_agent = \"codex\""), "the installed agent is the default:\n{text}");
    assert!(!text.lines().any(|l| l.starts_with("agent = ")), "no route to an agent that is not installed:\n{text}");
    assert!(text.contains("\nroutes = []\n"), "nor the built-in ones:\n{text}");
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 5, "commented:\n{text}");

    let out = capcom(&config, &data).args(["repos", "list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let repos: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &repos[0];
    assert_eq!(r["name"], "repo");
    assert_eq!(r["path"], std::fs::canonicalize(&repo).unwrap().display().to_string());
    assert_eq!(r["base"], "main");
    assert_eq!(r["github"], "acme/site");
    assert_eq!(r["checks"]["test"], "npm test");
    assert_eq!(r["checks"]["build"], "npm run build");
    assert!(r["checks"].get("dev").is_none());

    // again: nothing is overwritten
    let out = init(&config, &data, &[repo.to_str().unwrap()], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already has the repo"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text, "the config is untouched");

    // --force writes a new one and keeps the old
    std::fs::write(&config, format!("{text}\n# my own note\n")).unwrap();
    let out = init(&config, &data, &["--force", repo.to_str().unwrap()], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(config.with_extension("toml.bak")).unwrap().contains("# my own note"));
    assert!(!std::fs::read_to_string(&config).unwrap().contains("# my own note"));

    // not a repo: said, nothing written
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let other = tmp.path().join("other.toml");
    let out = init(&other, &data, &[plain.to_str().unwrap()], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not inside a git repository"), "{}", stderr(&out));
    assert!(!other.exists());
}

#[test]
fn repos_add_list_and_remove_edit_the_file_in_place() {
    let s = Scene::new();
    let config = s.root().join("config.toml");
    let data = s.root().join("data");
    let mine = "# my setup, by hand\n\n[dispatch]\n# two at once is plenty\nmax_parallel = 2\n";
    std::fs::write(&config, mine).unwrap();
    let other = s.root().join("api");
    std::fs::create_dir_all(&other).unwrap();
    git(&other, &["init", "--quiet", "-b", "develop"]);
    std::fs::write(other.join("Cargo.toml"), "[package]\nname = \"api\"\n").unwrap();
    git(&other, &["add", "-A"]);
    git(&other, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "--quiet", "-m", "init"]);

    let run = |args: &[&str]| capcom(&config, &data).args(args).stdin(Stdio::null()).output().unwrap();
    let out = run(&["repos", "add", s.repo.to_str().unwrap(), "--name", "site"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["repos", "add", other.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with(mine), "the user's text stays as it was:\n{text}");

    let out = run(&["repos", "list"]);
    let listed = stdout(&out);
    assert!(listed.contains("site") && listed.contains("api") && listed.contains("develop"), "{listed}");
    let out = run(&["repos", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[1]["checks"]["test"], "cargo test", "checks found in Cargo.toml: {v}");

    // a name taken, a branch that is not there, a path that is no repo: refused, file unchanged
    for (args, want) in [
        (vec!["repos", "add", other.to_str().unwrap(), "--name", "site"], "already configured"),
        (vec!["repos", "add", s.repo.to_str().unwrap(), "--name", "x", "--base", "nope"], "has no branch `nope`"),
        (vec!["repos", "add", s.root().join("missing").to_str().unwrap()], "is not a directory"),
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);

    let out = run(&["repos", "remove", "site"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(after.contains("# two at once is plenty") && !after.contains(s.repo.to_str().unwrap()), "{after}");
    let out = run(&["repos", "remove", "site"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no repo named `site` is configured (configured: api)"), "{}", stderr(&out));
}

/// Wait (a guard against a hang, not a timing assertion) until the daemon has written what it
/// made of the config file's latest change, and return it.
fn config_status(d: &Daemon, ok: bool) -> serde_json::Value {
    for _ in 0..1200 {
        if let Ok(t) = std::fs::read_to_string(d.data.join("config.status.json"))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
            && v["ok"] == ok
        {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the daemon never took the changed config (ok = {ok}):\n{}", d.stderr());
}

fn brief_to(d: &Daemon, repo: &str) -> serde_json::Value {
    let spec = serde_json::json!({
        "title": "Fix the typo in the README", "kind": "docs", "repo": repo, "agent": "good",
        "scope": {"include": [], "exclude": []},
        "acceptance": [{"text": "tests pass", "check": "test"}],
        "brief": "fix the typo in the README",
    });
    scene::post_intent(d, "fix the typo", serde_json::json!({"intent": "dispatch", "tasks": [spec], "confidence": 1.0}))
}

#[test]
fn a_running_daemon_takes_a_changed_config_and_keeps_the_old_one_when_the_new_one_is_broken() {
    let s = Scene::new();
    let agent = s.agent("good", &format!("echo fixed >> README.md\n{DONE}"));
    let mut d = Daemon::start(&s.config(&agent, "", ""));
    // a second repo, added while the daemon runs
    let docs = s.root().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    scene::make_repo(&docs);
    let docs = docs.join("repo");
    let out = d.cli(&["repos", "add", docs.to_str().unwrap(), "--name", "docs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("A running daemon takes it at once"), "{}", stdout(&out));
    config_status(&d, true);

    let answer = brief_to(&d, "docs");
    let id = answer["tasks"][0]["id"].as_i64().unwrap_or_else(|| panic!("{answer}"));
    let v = scene::settled(&d, id);
    assert_eq!(scene::state(&v), "ready", "the task ran in the repo added to the file: {v}");
    assert_eq!(v["task"]["repo"], "docs");

    // a broken file: the daemon keeps what it had, and says why (log and doctor)
    let good = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, format!("{good}\n[dispatch\nmax_parallel = 2\n")).unwrap();
    let status = config_status(&d, false);
    assert!(status["error"].as_str().unwrap().contains("config.toml:"), "names the file and line: {status}");
    let answer = brief_to(&d, "docs");
    assert!(answer["tasks"][0]["id"].as_i64().is_some(), "the old config still works: {answer}");
    let out = d.cli(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let checks = report["checks"].as_array().unwrap();
    let daemon = checks.iter().find(|c| c["name"] == "config (daemon)").unwrap_or_else(|| panic!("{report}"));
    assert!(daemon["detail"].as_str().unwrap().contains("keeps the config it had"), "{daemon}");
    let file = checks.iter().find(|c| c["name"] == "config").unwrap();
    assert_eq!(file["level"], "fail", "doctor reports the broken file itself: {file}");
    assert!(d.stderr().contains("the daemon keeps the config it had"), "the log says why");

    // what cannot change live is said
    std::fs::write(&d.config, good.replace("[dispatch]\n", "[dispatch]\nagent_nice = 5\n")).unwrap();
    let status = config_status(&d, true);
    assert_eq!(status["restart"], serde_json::json!(["[dispatch] agent_nice"]), "{status}");
    d.stop();
}

#[test]
fn built_in_routes_and_default_only_name_installed_agents() {
    let s = Scene::new();
    let bin = s.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // The only agent installed: a stand-in `codex` that finishes at once (not claude, the
    // built-in default, nor aider, the built-in route for docs).
    sh(&bin, "codex", "exit 0");
    let cfg = format!(
        "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"true\"]\n",
        s.repo.display()
    );
    let path = system_path_with(&bin);
    let mut d = Daemon::start_env(&cfg, &[("PATH", &path)]);
    let spec = serde_json::json!({
        "title": "Fix the typo in the README heading", "kind": "docs", "repo": "site", "agent": null,
        "scope": {"include": [], "exclude": []},
        "acceptance": [{"text": "tests pass", "check": "test"}],
        "brief": "fix the typo in the README heading",
    });
    let answer = scene::post_intent(&d, "fix the typo", serde_json::json!({"intent": "dispatch", "tasks": [spec], "confidence": 1.0}));
    let id = answer["tasks"][0]["id"].as_i64().unwrap_or_else(|| panic!("{answer}"));
    let v = scene::task(&d, id);
    assert_eq!(v["task"]["agent"], "codex", "docs would go to aider and the rest to claude; neither is installed: {v}");

    // doctor lists what fell back
    let out = capcom(&d.config, &d.data).args(["doctor", "--json"]).env("PATH", &path).output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let routing: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "routing")
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(routing.iter().any(|r| r.contains("docs tasks names `aider`, which is not installed; they go to `codex`")), "{routing:?}");
    assert!(routing.iter().any(|r| r.contains("default agent `claude` is not installed")), "{routing:?}");
    d.stop();
}

#[test]
fn doctor_names_the_config_file_it_read_or_says_to_run_init() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let doctor = || {
        let out = Command::new(BIN)
            .args(["--data-dir", tmp.path().join("data").to_str().unwrap(), "doctor", "--json"])
            .env_remove("CAPCOM_CONFIG")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(!text.contains("config/default.toml"), "no path into the source tree:\n{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["checks"].as_array().unwrap().iter().find(|c| c["name"] == "config").cloned().unwrap()
    };
    let c = doctor();
    assert_eq!(c["detail"].as_str().unwrap().split(" (it writes").next().unwrap(), "no config file: built-in defaults; run `capcom init`");
    let repos_fix = {
        let out = Command::new(BIN)
            .args(["--data-dir", tmp.path().join("data").to_str().unwrap(), "doctor"])
            .env_remove("CAPCOM_CONFIG")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .output()
            .unwrap();
        stdout(&out)
    };
    assert!(repos_fix.contains("run `capcom init` inside your repo, or `capcom repos add PATH`"), "{repos_fix}");

    let file = home.join(".config/capcom/config.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "[dispatch]\nmax_parallel = 2\n").unwrap();
    assert_eq!(doctor()["detail"], format!("read {}", file.display()));
}

#[test]
fn init_on_a_terminal_asks_at_most_three_questions() {
    if !common::skip::programs(&["script"], "bsdutils, installed by ./capcom.sh test") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = node_repo(tmp.path());
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    sh(&bin, "claude", "exit 0");
    sh(&bin, "codex", "exit 0");
    let config = tmp.path().join("config.toml");
    let line = format!("{BIN} --config {} --data-dir {} init {}", config.display(), tmp.path().join("data").display(), repo.display());
    // `script` runs capcom on a pseudo-terminal and types what it reads on its own stdin
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("PATH", system_path_with(&bin))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // the repo's name, its base (kept), the default agent
        stdin.write_all(b"web\n\ncodex\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    for q in ["Name for the repo at", "Branch tasks start from and merge into [main]", "Default agent (claude, codex) [claude]"] {
        assert!(said.contains(q), "asks {q:?}:\n{said}");
    }
    assert_eq!(said.matches("]: ").count(), 3, "three questions:\n{said}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("name = \"web\"") && text.contains("base = \"main\"") && text.contains("default_agent = \"codex\""), "{text}");
}

#[test]
fn listen_signals_do_not_end_a_headless_daemon() {
    // A compositor's press and release bindings run `capcom listen --start|--stop` whatever
    // daemon runs; one without a microphone says so in its log and keeps serving.
    let mut d = Daemon::start("");
    for flag in ["--start", "--stop", "--toggle", "--start"] {
        let out = d.cli(&["listen", flag]);
        assert!(out.status.success(), "listen {flag}: {}", stderr(&out));
    }
    for _ in 0..600 {
        if d.stderr().contains("does nothing in a headless daemon") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.stderr().contains("`capcom listen` does nothing in a headless daemon"), "{}", d.stderr());
    let out = d.cli(&["tasks", "--json"]);
    assert!(out.status.success(), "the daemon still answers: {}", stderr(&out));
    assert_eq!(d.stop(), Some(0));
}
