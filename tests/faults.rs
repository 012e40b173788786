//! capcom under faults, each against real daemons (`capcom daemon --headless` on temp
//! data dirs), real git repos and stand-in agents (shell scripts the test writes; no
//! brief text ever goes into a shell):
//!
//! - one daemon per data dir; a stale lock never blocks;
//! - the data dir is private, and a wide one is tightened;
//! - unusable data dirs and closed pipes end with a clear message, never a panic;
//! - the secret scan reads blobs and history, so attributes, NUL bytes and a key
//!   removed in a later commit do not get past it;
//! - a chatty agent does not fill the store, and its log is capped;
//! - capcom's own tokens never reach an agent;
//! - cancel ends every process an agent started, even one that left its group;
//! - the smaller ones: a missing agent program, a missing repo, an identical rewrite in
//!   the user's checkout, config type errors, doctor's repo checks;
//! - and what held before: 50 briefs at once, all stored.
//!
//! The other guarantees that held (SIGKILL with running agents then a restart, agents that
//! finish while the daemon is down, a hung agent killed at the timeout) are in tests/dispatch.rs.

mod common;

use common::scene::{DONE, ID, Scene, dispatch, git, mode, pid_alive, read_pid, settled, sh, state, wait};
use common::{BIN, Daemon, capcom, stderr, stdout};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

// ---------------------------------------------------------------------------
// 1. One daemon per data dir

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused_and_a_stale_lock_never_blocks() {
    let scene = Scene::new();
    let mut d = Daemon::start(&scene.config("", "", ""));
    let addr_before = std::fs::read_to_string(d.data.join("api.addr")).unwrap();
    let pid = d.child.as_ref().unwrap().id();

    let second = capcom(&d.config, &d.data)
        .args(["daemon", "--headless"])
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "the second daemon must exit 1: {}", stderr(&second));
    let msg = stderr(&second);
    assert!(msg.contains("already running"), "{msg}");
    assert!(msg.contains(&format!("pid {pid}")), "names the running pid: {msg}");
    assert!(msg.contains(addr_before.trim()), "names its address: {msg}");
    assert!(!msg.contains("panicked"), "{msg}");
    // The first one is untouched and still answers the CLI.
    assert_eq!(std::fs::read_to_string(d.data.join("api.addr")).unwrap(), addr_before);
    let out = d.cli(&["tasks", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A daemon killed outright leaves its lock file behind; it never blocks the next start.
    d.kill9();
    assert!(d.data.join("daemon.lock").exists());
    d.boot(&[]);
    let out = d.cli(&["tasks", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------
// 2. The data dir is private

#[test]
fn the_data_dir_is_private_and_a_wide_one_is_tightened() {
    let scene = Scene::new();
    let mut d = Daemon::start(&scene.config("", "", ""));
    assert_eq!(mode(&d.data), 0o700, "data dir");
    assert_eq!(mode(&d.data.join("capcom.db")), 0o600, "the db holds every transcript");
    assert_eq!(mode(&d.data.join("logs")), 0o700, "logs dir");
    d.stop();
    for e in std::fs::read_dir(d.data.join("logs")).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        }
    }

    // Someone (an older capcom, a backup restore) left it wide open: the next start closes it, and says so once.
    std::fs::set_permissions(&d.data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.data.join("capcom.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(d.data.join("logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.boot(&[]);
    assert_eq!(mode(&d.data), 0o700);
    assert_eq!(mode(&d.data.join("capcom.db")), 0o600);
    assert_eq!(mode(&d.data.join("logs")), 0o700);
    let said = d.stderr();
    assert_eq!(said.matches("now private").count(), 1, "said once: {said}");
    assert!(said.contains(&format!("{} (755)", d.data.display())), "{said}");
}

// ---------------------------------------------------------------------------
// 3. Unusable data dirs and closed pipes: a clear error, never a panic

#[test]
fn a_data_dir_whose_logs_cannot_be_written_is_a_clear_error() {
    let scene = Scene::new();
    let data = scene.root().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // `logs` is a file, so no log can be opened in it.
    std::fs::write(data.join("logs"), "not a folder").unwrap();
    let config = scene.root().join("config.toml");
    std::fs::write(&config, scene.config("", "", "")).unwrap();
    let out = capcom(&config, &data).args(["daemon", "--headless"]).env("CAPCOM__API__LISTEN", "127.0.0.1:0").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains(&data.join("logs").display().to_string()), "names the path: {msg}");
    assert!(!msg.contains("panicked"), "{msg}");
}

#[test]
fn a_read_only_data_dir_is_a_clear_error() {
    let scene = Scene::new();
    let data = scene.root().join("ro");
    std::fs::create_dir_all(&data).unwrap();
    // A real read-only file system: a tmpfs mounted ro (needs root, which CI has).
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"]).arg(&data).status().map(|s| s.success()).unwrap_or(false);
    if !mounted {
        common::skip::skip("root, to mount a read-only tmpfs", "CI runs ./capcom.sh test as root");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(data.clone());
    let config = scene.root().join("config.toml");
    std::fs::write(&config, scene.config("", "", "")).unwrap();
    let out = capcom(&config, &data).args(["daemon", "--headless"]).env("CAPCOM__API__LISTEN", "127.0.0.1:0").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains(&data.display().to_string()) && msg.contains("read-only"), "{msg}");
    assert!(!msg.contains("panicked"), "{msg}");
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    // `capcom parse --json TEXT | true`: the reader is gone before capcom writes.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe { libc::close(fds[0]) };
    let write_end = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    let out = Command::new(BIN)
        .args(["parse", "--json", "Bump tailwind in the site repo, tests must pass"])
        .env("CAPCOM_DATA_DIR", tempfile::tempdir().unwrap().path())
        .stdout(write_end)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(101), "panicked: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("Broken pipe"), "quietly: {err}");
}

// ---------------------------------------------------------------------------
// 4. The secret scan cannot be walked around

fn key() -> String {
    format!("AKIA{}", "QWERTYUIOPASDFGH")
}

#[test]
fn a_key_hidden_by_attributes_a_nul_byte_or_a_later_commit_is_found() {
    let scene = Scene::new();
    let k = key();
    let agents = [
        // `* -diff` makes git diff say "Binary files differ".
        scene.agent(
            "attrs",
            &format!("set -e\nprintf '* -diff\\n' > .gitattributes\necho \"key = '{k}'\" > components/conf.txt\n{ID} add -A\n{ID} commit -qm conf\n{DONE}"),
        ),
        // A NUL byte makes the file binary.
        scene.agent(
            "nul",
            &format!("set -e\nprintf 'head\\000\\nkey = {k}\\n' > components/blob.bin\n{ID} add -A\n{ID} commit -qm blob\n{DONE}"),
        ),
        // Added in one commit, removed in the next: the diff base..head is clean.
        scene.agent(
            "history",
            &format!(
                "set -e\necho \"key = '{k}'\" > components/conf.txt\n{ID} add -A\n{ID} commit -qm add\necho 'key = from_env()' > components/conf.txt\n{ID} commit -qam remove\n{DONE}"
            ),
        ),
    ]
    .concat();
    let d = Daemon::start(&scene.config(&agents, "merge_method = \"merge\"", ""));
    let ids: Vec<(i64, &str)> = ["attrs", "nul", "history"].iter().map(|a| (dispatch(&d, a, &format!("Add {a} config")), *a)).collect();
    for (id, agent) in ids {
        let v = settled(&d, id);
        assert_eq!(state(&v), "needs_attention", "{agent}: {v}");
        let reason = v["task"]["reason"].as_str().unwrap();
        assert!(reason.contains("AWS access key"), "{agent}: {reason}");
        assert!(reason.contains("(commit "), "{agent} names the commit: {reason}");
        let path = if agent == "nul" { "components/blob.bin" } else { "components/conf.txt" };
        assert!(reason.contains(path), "{agent}: {reason}");
        if agent == "history" {
            assert!(reason.contains("history"), "{reason}");
        }
        assert!(!v.to_string().contains(&k), "{agent}: the value is never recorded");
        // And it cannot be merged.
        let out = d.cli(&["merge", &id.to_string()]);
        assert_eq!(out.status.code(), Some(1), "{agent}: {}", stdout(&out));
    }
}

#[test]
fn with_squash_merges_a_key_only_the_history_holds_is_no_bar() {
    let scene = Scene::new();
    let k = key();
    let agents = scene.agent(
        "history",
        &format!(
            "set -e\necho \"key = '{k}'\" > components/conf.txt\n{ID} add -A\n{ID} commit -qm add\necho 'key = from_env()' > components/conf.txt\n{ID} commit -qam remove\n{DONE}"
        ),
    );
    let d = Daemon::start(&scene.config(&agents, "merge_method = \"squash\"", ""));
    let id = dispatch(&d, "history", "Add config");
    let v = settled(&d, id);
    assert_eq!(state(&v), "ready", "{v}");
    let secret = v["events"].as_array().unwrap().iter().find(|e| e["kind"] == "secret").unwrap().clone();
    assert!(secret["message"].as_str().unwrap_or_default().contains("squash merge leaves it out"), "{secret}");
    // The squash puts only the final tree on main: the key is in no commit there.
    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let log = git(&scene.repo, &["log", "-p", "main"]);
    assert!(!log.contains(&k), "the key reached main's history");
}

// ---------------------------------------------------------------------------
// 5. A chatty agent

#[test]
fn a_chatty_agent_does_not_fill_the_store_and_its_log_is_capped() {
    let scene = Scene::new();
    // About 2.9 MB of output, 300,000 lines, against a 1 MiB log cap.
    let agents = scene.agent(
        "chatty",
        &format!("set -e\nseq 1 300000\necho chatty > components/c.txt\n{ID} add -A\n{ID} commit -qm chatty\necho LAST-LINE\n{DONE}"),
    );
    let d = Daemon::start(&scene.config(&agents, "max_log_mib = 1\nmax_progress_events = 50", ""));
    let id = dispatch(&d, "chatty", "Talk a lot");
    let v = settled(&d, id);
    assert_eq!(state(&v), "ready", "{v}");
    let progress = v["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "progress").count();
    assert!(progress <= 51, "{progress} progress events recorded");
    assert!(progress >= 2, "some progress is still recorded");
    let out = d.cli(&["task", &id.to_string(), "--json"]);
    assert!(out.stdout.len() < 200_000, "`capcom task --json` is {} bytes", out.stdout.len());
    // The run's log keeps its head and tail within the cap.
    let logs = d.data.join("logs/tasks");
    let log = std::fs::read_dir(&logs).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "log")).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.len() <= (1 << 20) + 4096, "the log is {} bytes", text.len());
    assert!(text.starts_with("1\n2\n3\n"), "the head is kept");
    assert!(text.contains("LAST-LINE"), "the tail is kept");
    assert!(text.contains("bytes of output were left out"), "the cut is marked");
    assert!(std::fs::metadata(d.data.join("capcom.db")).unwrap().len() < 4 << 20, "the store stays small");
}

// ---------------------------------------------------------------------------
// 6. capcom's own tokens never reach agents

#[test]
fn capcoms_own_tokens_never_reach_local_agents_or_checks() {
    let scene = Scene::new();
    let env_out = scene.root().join("agent-env.txt");
    let check_out = scene.root().join("check-env.txt");
    let agents = [
        scene.agent(
            "envy",
            &format!("set -e\nenv > '{}'\necho x > components/x.txt\n{ID} add -A\n{ID} commit -qm x\n{DONE}", env_out.display()),
        ),
        "env_deny = [\"NPM_*\"]\n".to_string(),
        // A remote agent whose key is capcom's to use, never an agent's.
        "[agents.jules]\nkind = \"jules\"\napi_url = \"http://127.0.0.1:9\"\ntoken_env = \"JULES_API_KEY\"\n".to_string(),
    ]
    .concat();
    let check = sh(scene.root(), "check.sh", &format!("env > '{}'", check_out.display()));
    let cfg = scene.config(&agents, "", "").replace("test = [\"true\"]", &format!("test = [\"{}\"]", check.display()));
    let d = Daemon::start_env(
        &cfg,
        &[
            ("GITHUB_TOKEN", "ghp_daemononly0123456789abcdefghijklmnopqrs"),
            ("JULES_API_KEY", "jules-daemon-only-0123456789"),
            ("ANTHROPIC_API_KEY", "sk-ant-agents-own-key-0123456789"),
            ("NPM_TOKEN", "npm-denied-0123456789"),
        ],
    );
    let id = dispatch(&d, "envy", "Show the env");
    let v = settled(&d, id);
    assert_eq!(state(&v), "ready", "{v}");
    let env = std::fs::read_to_string(&env_out).unwrap();
    assert!(!env.contains("GITHUB_TOKEN="), "GitHub's token reached the agent");
    assert!(!env.contains("JULES_API_KEY="), "Jules' key reached the agent");
    assert!(!env.contains("NPM_TOKEN="), "env_deny");
    assert!(env.contains("ANTHROPIC_API_KEY=sk-ant-agents-own-key"), "the agent's own key passes");
    assert!(env.contains("PATH="));
    let check_env = std::fs::read_to_string(&check_out).unwrap();
    assert!(!check_env.contains("GITHUB_TOKEN=") && !check_env.contains("JULES_API_KEY="), "a check runs the branch's code");
}

// ---------------------------------------------------------------------------
// 7. Cancel ends every process an agent started

#[test]
fn cancel_kills_a_process_that_left_the_agents_group() {
    let scene = Scene::new();
    let pidfile = scene.root().join("escaped.pid");
    // `setsid` puts the helper in a new session and process group: killpg does not reach it.
    let agents = scene.agent(
        "escaper",
        &format!("setsid sh -c 'echo $$ > \"{}\"; exec sleep 1000' &\nsleep 1000", pidfile.display()),
    );
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let id = dispatch(&d, "escaper", "Escape");
    wait(&d, id, "running", |v| state(v) == "running");
    let escaped = read_pid(&pidfile);
    assert!(pid_alive(escaped));
    let out = d.cli(&["cancel", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait(&d, id, "cancelled", |v| state(v) == "cancelled");
    let mut gone = false;
    for _ in 0..200 {
        if !pid_alive(escaped) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    if !gone {
        unsafe { libc::kill(escaped, libc::SIGKILL) };
    }
    assert!(gone, "the process that left the agent's group outlived the cancel");
}

#[test]
fn a_sandboxed_agent_writes_only_its_worktree() {
    if Command::new("bwrap").arg("--version").output().is_err() {
        panic!("bubblewrap is not installed: ./capcom.sh deps installs it");
    }
    let scene = Scene::new();
    let outside = scene.root().join("outside.txt");
    let agents = [
        scene.agent(
            "boxed",
            &format!(
                "echo inside > components/x.txt
echo escaped > '{}' 2>/dev/null && echo WROTE-OUTSIDE
{ID} add -A && {ID} commit -qm x
{DONE}",
                outside.display()
            ),
        ),
        "sandbox = \"bwrap\"\n".to_string(),
    ]
    .concat();
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let id = dispatch(&d, "boxed", "Stay inside");
    let v = settled(&d, id);
    assert_eq!(state(&v), "ready", "the worktree and the repo's git dir are writable: {v}");
    assert!(!outside.exists(), "the sandboxed agent wrote outside its worktree");
    let branch = v["task"]["branch"].as_str().unwrap().to_string();
    assert_eq!(git(&scene.repo, &["show", &format!("{branch}:components/x.txt")]), "inside");
}

// ---------------------------------------------------------------------------
// 8. The smaller ones

#[test]
fn an_agent_program_that_is_not_installed_is_named() {
    let scene = Scene::new();
    let agents = "[agents.ghost]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"capcom-ghost-agent\", \"{prompt}\"]\n";
    let d = Daemon::start(&scene.config(agents, "default_agent = \"ghost\"", ""));
    assert!(d.stderr().contains("`capcom-ghost-agent` is not installed or not on PATH"), "said at start: {}", d.stderr());
    let id = dispatch(&d, "ghost", "Do it");
    let v = settled(&d, id);
    assert_eq!(state(&v), "failed");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("`capcom-ghost-agent` is not installed or not on PATH"), "{reason}");
    assert!(!reason.contains("127"), "{reason}");
}

#[test]
fn a_repo_path_that_is_missing_or_not_a_repo_is_named() {
    let scene = Scene::new();
    let agents = scene.agent("good", &format!("set -e\necho x > components/x.txt\n{ID} add -A\n{ID} commit -qm x\n{DONE}"));
    let missing = scene.root().join("no-such-repo");
    let cfg = scene.config(&agents, "", "").replace(&scene.repo.display().to_string(), &missing.display().to_string());
    let d = Daemon::start(&cfg);
    let id = dispatch(&d, "good", "Anything");
    let v = settled(&d, id);
    assert_eq!(state(&v), "failed");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("does not exist") && reason.contains("no-such-repo") && !reason.contains("base branch"), "{reason}");

    // doctor says it too (and what the running daemon is doing), and that no repo at all is a failure.
    let out = d.cli(&["doctor"]);
    let text = stdout(&out);
    assert!(text.contains("repo site") && text.contains("no-such-repo"), "{text}");
    assert!(text.contains(&format!("daemon at http://{} (idle)", d.addr)), "{text}");
    let config = scene.root().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let out = capcom(&config, &scene.root().join("d2")).arg("doctor").output().unwrap();
    assert!(stdout(&out).contains("no repo is configured"), "{}", stdout(&out));
}

#[test]
fn rewriting_a_file_with_the_same_bytes_does_not_block_a_merge() {
    let scene = Scene::new();
    let agents = scene.agent("good", &format!("set -e\necho 'button v2' > components/button.txt\n{ID} commit -qam v2\n{DONE}"));
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let id = dispatch(&d, "good", "Button v2");
    assert_eq!(state(&settled(&d, id)), "ready");
    // An editor or formatter saves README.md unchanged: new mtime, same bytes.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(scene.repo.join("README.md"), "readme\n").unwrap();
    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let out = d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(git(&scene.repo, &["show", "main:components/button.txt"]), "button v2");
}

#[test]
fn config_type_errors_name_the_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    // (file text, expected line, expected message)
    let cases = [
        ("[dispatch]\n# how many\nmax_parallel = \"three\"\n", 3, "key dispatch.max_parallel: expected a number, got \"three\""),
        ("[voice]\nmodel = \"base.en\"\n\n[dispatch]\ntimeout = \"forever\"\n", 5, "key dispatch.timeout: bad duration"),
        ("[speech]\nannounce = 3\n", 2, "key speech.announce"),
    ];
    for (text, line, want) in cases {
        let config = tmp.path().join("c.toml");
        std::fs::write(&config, text).unwrap();
        let out = capcom(&config, &tmp.path().join("data")).args(["parse", "hello"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let msg = stderr(&out);
        assert!(msg.contains(&format!("{}:{line}: ", config.display())), "{text}: {msg}");
        assert!(msg.contains(want), "{text}: {msg}");
    }
}

// ---------------------------------------------------------------------------
// What held before, kept

#[test]
fn fifty_briefs_at_once_are_all_stored() {
    let scene = Scene::new();
    let d = Daemon::start(&scene.config("", "", ""));
    let token = d.token();
    let addr = d.addr.clone();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (token, addr) = (token.clone(), addr.clone());
            std::thread::spawn(move || {
                let body = serde_json::json!({"text": format!("what's finished? number {i}")}).to_string();
                common::http(&addr, "POST", "/v1/brief", Some(&token), Some(&body)).0
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let out = d.cli(&["history", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let texts: Vec<&str> = rows.as_array().unwrap().iter().filter_map(|r| r["transcript"].as_str()).collect();
    for i in 0..50 {
        assert!(texts.iter().any(|t| t.ends_with(&format!("number {i}"))), "brief {i} was not stored: {texts:?}");
    }
}

// ---------------------------------------------------------------------------
// Hardening: hostile HTTP

/// A raw request with any headers over a fresh connection; (status, body). `guard` bounds the wait.
fn raw(addr: &str, head: &str, body: &[u8], guard: Duration) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(guard)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    if let Err(e) = s.read_to_end(&mut resp) {
        panic!("no answer within {guard:?} ({e}); got {:?}", String::from_utf8_lossy(&resp));
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn post(addr: &str, path: &str, auth: &str, ctype: &str, body: &[u8]) -> (u16, String) {
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    raw(addr, &head, body, Duration::from_secs(60))
}

#[test]
fn briefs_too_long_for_an_agent_or_with_control_characters_are_refused_with_the_limit() {
    let scene = Scene::new();
    let mut d = Daemon::start(&scene.config("", "", ""));
    let auth = format!("Bearer {}", d.token());
    let brief = |text: &str| post(&d.addr, "/v1/brief", &auth, "application/json", serde_json::json!({"text": text}).to_string().as_bytes());

    let long = format!("Fix the footer links. {}", "Make it so. ".repeat(100 * 1024 / 12));
    let (status, body) = brief(&long);
    assert_eq!(status, 413, "{body}");
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(e["error"].as_str().unwrap().contains("at most 49152 bytes"), "the limit is named: {e}");
    let (status, body) = brief("Fix the footer\u{0}links");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("control character (U+0000"), "{body}");
    // An answer to a held task goes to the agent too: the same rule.
    let answer = serde_json::json!({"task": 1, "text": "yes\u{0}"}).to_string();
    let (status, body) = post(&d.addr, "/v1/answer", &auth, "application/json", answer.as_bytes());
    assert_eq!(status, 400, "{body}");
    // The CLI says the daemon's sentence.
    let out = d.cli(&["brief", &long]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at most 49152 bytes"), "{}", stderr(&out));
    // Nothing was stored or dispatched.
    let (_, tasks) = d.http("GET", "/v1/tasks?all=true", Some(&d.token()), None);
    assert_eq!(tasks.trim(), "[]");
    // A brief within the limit still goes through.
    assert_eq!(brief("what's finished?").0, 200);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn every_error_is_json_and_the_bearer_scheme_is_case_insensitive() {
    let scene = Scene::new();
    let mut d = Daemon::start(&scene.config("", "", ""));
    let token = d.token();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let head = format!("GET /v1/tasks HTTP/1.0\r\nHost: x\r\nAuthorization: {scheme} {token}\r\n\r\n");
        assert_eq!(raw(&d.addr, &head, b"", Duration::from_secs(60)).0, 200, "{scheme}");
    }
    let auth = format!("Bearer {token}");
    let cases: Vec<(&str, (u16, String))> = vec![
        ("malformed JSON", post(&d.addr, "/v1/brief", &auth, "application/json", b"{\"text\": ")),
        ("wrong content type", post(&d.addr, "/v1/brief", &auth, "text/plain", b"{\"text\": \"hi\"}")),
        ("wrong field type", post(&d.addr, "/v1/brief", &auth, "application/json", b"{\"text\": 42}")),
        ("unknown route", raw(&d.addr, "GET /v1/nothing HTTP/1.0\r\nHost: x\r\n\r\n", b"", Duration::from_secs(60))),
        ("wrong method", raw(&d.addr, &format!("DELETE /v1/tasks HTTP/1.0\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n"), b"", Duration::from_secs(60))),
        ("a task id that is not a number", raw(&d.addr, &format!("GET /v1/tasks/abc HTTP/1.0\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n"), b"", Duration::from_secs(60))),
        ("no token", raw(&d.addr, "GET /v1/tasks HTTP/1.0\r\nHost: x\r\n\r\n", b"", Duration::from_secs(60))),
    ];
    for (what, (status, body)) in cases {
        assert!((400..500).contains(&status), "{what}: {status} {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {v}");
    }
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn eleven_hundred_idle_connections_do_not_lock_out_the_api() {
    // This test holds 1,100 sockets itself: raise its own soft open-file limit.
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_max < 1400 {
        let missing = format!("a hard open-file limit of 1,400 (it is {})", lim.rlim_max);
        common::skip::skip(&missing, "raise it before the run: `ulimit -Hn 4096` as root");
        return;
    }
    lim.rlim_cur = lim.rlim_max.min(4096);
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);

    let scene = Scene::new();
    let mut d = Daemon::start(&scene.config("", "", ""));
    // The daemon runs as the shipped unit used to: 1,024 open files, soft and hard.
    let pid = d.child.as_ref().unwrap().id() as libc::pid_t;
    let unit = libc::rlimit { rlim_cur: 1024, rlim_max: 1024 };
    assert_eq!(unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &unit, std::ptr::null_mut()) }, 0);

    let idle: Vec<std::net::TcpStream> = (0..1100).map(|_| std::net::TcpStream::connect(&d.addr).unwrap()).collect();
    // The guard (8 s) is shorter than the header-read timeout (10 s): only making room for
    // the new connection at once passes, not waiting for the idle ones to time out.
    let started = std::time::Instant::now();
    let (status, body) = raw(&d.addr, "GET /v1/health HTTP/1.0\r\nHost: x\r\n\r\n", b"", Duration::from_secs(8));
    eprintln!("/v1/health answered in {:?} beside 1,100 idle connections", started.elapsed());
    assert_eq!(status, 200, "{body}");
    // And a request that needs the database and the token.
    let head = format!("GET /v1/tasks HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", d.token());
    assert_eq!(raw(&d.addr, &head, b"", Duration::from_secs(8)).0, 200);
    drop(idle);
    assert_eq!(d.stop(), Some(0));
}
