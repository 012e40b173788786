//! The phone page in a real browser: Debian's headless Chromium, driven over the
//! DevTools protocol by tests/browser/phone.mjs (puppeteer-core), against a real
//! `capcom daemon --headless` with a git repo, a scripted agent, espeak-ng speech
//! and a generated (random-weight) Whisper model.
//!
//! Needs chromium, node with tests/browser/node_modules (`npm ci --prefix tests/browser`;
//! `./capcom.sh test` installs both) and espeak-ng. Without them it skips through
//! `tests/common/skip.rs`, which fails it under CI.

mod common;

use common::scene::make_repo;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(bin)).find(|p| p.is_file()))
}

/// A stand-in for Claude Code: its stream-json lines (the `claude` preset's format) and a commit in scope.
fn agent_script(dir: &Path) -> PathBuf {
    let p = dir.join("good.sh");
    let body = r#"#!/bin/sh
set -e
echo '{"type":"system","subtype":"init","session_id":"sess-1"}'
echo "button v2" > components/button.txt
echo "$CAPCOM_TASK_ID" > components/t$CAPCOM_TASK_ID.txt
git -c user.name=agent -c user.email=agent@example.com add -A
git -c user.name=agent -c user.email=agent@example.com commit -qm "agent: button v2"
echo '{"type":"result","subtype":"success","is_error":false,"result":"Updated the button.","session_id":"sess-1","total_cost_usd":0.02}'
"#;
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn brief_intent(d: &Daemon, title: &str) -> i64 {
    let spec = serde_json::json!({
        "title": title, "kind": "css", "agent": "good", "repo": "site",
        "scope": {"include": ["components/"], "exclude": ["app/"]},
        "acceptance": [{"text": "tests pass", "check": "test"}],
    });
    let intent = serde_json::json!({"intent": "dispatch", "tasks": [spec], "confidence": 1.0});
    let body = serde_json::json!({"text": "scripted brief", "intent": intent}).to_string();
    let (status, reply) = d.http("POST", "/v1/brief", Some(&d.token()), Some(&body));
    assert_eq!(status, 200, "{reply}");
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    v["tasks"][0]["id"].as_i64().unwrap_or_else(|| panic!("no task: {v}"))
}

fn wait_ready(d: &Daemon, id: i64) {
    for _ in 0..2400 {
        let (_, body) = d.http("GET", &format!("/v1/tasks/{id}"), Some(&d.token()), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match v["task"]["state"].as_str() {
            Some("ready") => return,
            Some("failed" | "needs_attention") => panic!("task {id} did not become ready: {v}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    panic!("task {id} never became ready");
}

#[test]
fn the_phone_page_in_headless_chromium() {
    let Some((chromium, node)) = browser_tools() else { return };
    if !skip::programs(&["espeak-ng"], "./capcom.sh test installs espeak-ng") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    let agent = agent_script(tmp.path());
    let model = tmp.path().join("ggml-test-tiny.bin");
    capcom::transcribe::testmodel::TestModel::tiny().write(&model).unwrap();
    let config = format!(
        "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"true\"]\n\n[dispatch]\ndefault_agent = \"good\"\nconfirm_ttl = \"60s\"\ngrace = \"0s\"\n# two tasks in components/ side by side; scope leases are tested in tests/many.rs\noverlap = \"allow\"\n\n[speech]\nengine = \"espeak-ng\"\n\n[voice]\nmodel = \"{}\"\n\n[agents.good]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n\n[[routes]]\nkind = \"dependency-upgrade\"\nagent = \"good\"\n",
        repo.display(),
        model.display(),
        agent.display()
    );
    let mut d = Daemon::start(&config);
    let good = brief_intent(&d, "Tidy the button styles");
    wait_ready(&d, good);
    let moved = brief_intent(&d, "Scope the demo CSS");
    wait_ready(&d, moved);
    // something landed: the changelog has an episode to play
    let out = d.cli(&["changelog", "--since", "24h"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // the microphone's input: espeak-ng speaking a brief, as a WAV file
    let brief_text = "Bump all Tailwind packages to the latest stable version. Fix breaking changes in the components directory only, leave app routes untouched. Acceptance criteria: tests pass.";
    let wav = tmp.path().join("brief.wav");
    let st = Command::new("espeak-ng").arg("-w").arg(&wav).arg("Upgrade Tailwind in the components directory only.").status().unwrap();
    assert!(st.success());
    let r = hound::WavReader::open(&wav).unwrap();
    let hold_ms = (r.duration() as u64 * 1000 / r.spec().sample_rate as u64) + 400;

    let out = d.cli(&["pair", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pairing: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let shots = std::env::var_os("CAPCOM_SHOTS").map(PathBuf::from).unwrap_or_else(|| tmp.path().join("shots"));
    let input = serde_json::json!({
        "addr": d.addr, "token": d.token(), "pair_url": pairing["url"], "chromium": chromium,
        "profile": tmp.path().join("chromium-profile"), "brief_wav": wav, "hold_ms": hold_ms,
        "brief_text": brief_text, "ready": [good, moved], "repo": repo, "shots": shots,
        "bin": BIN, "config": d.config, "data": d.data,
    });
    let result = run_script(&node, "phone.mjs", &input, &|| d.stderr());
    println!("browser steps: {}", result["steps"]);
    println!(
        "push-to-talk: release → answer {} ms, release → answer audio playing {} ms (server {} ms); heard {:?}",
        result["talk"]["answer_ms"], result["talk"]["spoken_ms"], result["talk"]["server_ms"], result["talk"]["transcript"]
    );
    println!("screenshots (412×915): {} — {}", shots.display(), result["shots"]);
    assert_eq!(result["steps"].as_array().unwrap().last().unwrap(), "done");
    assert!(shots.join("board.png").is_file() && shots.join("task.png").is_file());
    // the task made from the page's brief and the merged one are in the store
    let (_, tasks) = d.http("GET", "/v1/tasks?all=true", Some(&d.token()), None);
    let tasks: serde_json::Value = serde_json::from_str(&tasks).unwrap();
    let state = |id: i64| tasks.as_array().unwrap().iter().find(|t| t["id"] == id).map(|t| t["state"].clone());
    assert_eq!(state(good), Some(serde_json::json!("merged")));
    assert_eq!(state(moved), Some(serde_json::json!("ready")));
    assert_eq!(d.stop(), Some(0));
}

/// Chromium, node and puppeteer-core, or why the test skips (through `tests/common/skip.rs`,
/// which fails it under CI).
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !skip::programs(&["chromium", "node"], "./capcom.sh test installs chromium and nodejs") {
        return None;
    }
    if !root.join("tests/browser/node_modules/puppeteer-core").is_dir() {
        skip::skip("tests/browser/node_modules/puppeteer-core", "./capcom.sh test runs `npm ci` in tests/browser");
        return None;
    }
    Some((which("chromium").unwrap(), which("node").unwrap()))
}

/// Runs one of tests/browser's scripts with its input (CAPCOM_BROWSER_TEST) and returns the JSON
/// line it printed last; a failed run shows the script's log, what it printed and the daemon's
/// last lines.
fn run_script(node: &Path, script: &str, input: &serde_json::Value, daemon_log: &dyn Fn() -> String) -> serde_json::Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let run = Command::new(node)
        .arg(root.join("tests/browser").join(script))
        .env("CAPCOM_BROWSER_TEST", input.to_string())
        .env_remove("CAPCOM_CONFIG")
        .env_remove("CAPCOM_DATA_DIR")
        .current_dir(root.join("tests/browser"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout).to_string();
    let log = String::from_utf8_lossy(&run.stderr).to_string();
    let daemon = daemon_log();
    let tail: String = daemon.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(run.status.success(), "the browser run failed:\n{log}\n{said}\n--- daemon (last lines) ---\n{tail}");
    serde_json::from_str(said.trim().lines().last().unwrap_or("{}")).unwrap()
}

#[test]
fn the_page_keeps_a_clip_the_daemon_did_not_take_and_sends_it_when_it_is_back() {
    let Some((chromium, node)) = browser_tools() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "[speech]\nengine = \"none\"\n").unwrap();
    let data = tmp.path().join("data");
    // The page's origin (and so its IndexedDB) is the port: the daemon comes back on the same one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let input = serde_json::json!({
        "port": port, "chromium": chromium, "profile": tmp.path().join("chromium-profile"),
        "bin": BIN, "config": config, "data": data, "daemon_log": tmp.path().join("daemon.stderr"),
    });
    let log = tmp.path().join("daemon.stderr");
    let result = run_script(&node, "outbox.mjs", &input, &|| std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!(result["steps"].as_array().unwrap().last().unwrap(), "done", "{result}");
}

/// A stand-in agent with the `claude` preset's stream-json lines (Claude Code's `--output-format
/// stream-json`: `system`/`assistant`/`result` objects, as in tests/fixtures and dispatch's parser).
fn agent(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.sh"));
    std::fs::write(&p, format!("#!/bin/sh\nset -e\necho '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"sess-{name}\"}}'\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn the_phone_page_fits_the_screen_works_offline_and_is_in_thumb_reach() {
    let Some((chromium, node)) = browser_tools() else { return };
    if !skip::programs(&["espeak-ng"], "./capcom.sh test installs espeak-ng") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !root.join("tests/browser/node_modules/axe-core").is_dir() {
        skip::skip("tests/browser/node_modules/axe-core", "./capcom.sh test runs `npm ci` in tests/browser");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    // 2,000 characters with no break: a path, a hash or a minified line an agent printed
    let long: String = "x".repeat(2000);
    let good = agent(
        tmp.path(),
        "good",
        &format!(
            r#"echo '{{"type":"assistant","message":{{"content":[{{"type":"text","text":"{long}"}}]}}}}'
echo "button v2" > components/button.txt
git -c user.name=agent -c user.email=agent@example.com add -A
git -c user.name=agent -c user.email=agent@example.com commit -qm "agent: button v2"
echo '{{"type":"result","subtype":"success","is_error":false,"result":"Updated the button.","session_id":"sess-good"}}'
"#
        ),
    );
    let bad = agent(tmp.path(), "bad", &format!("echo '{{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,\"result\":\"{long}\"}}'\nexit 1\n"));
    // still working when the test ends; the daemon's stop ends it
    let slow = agent(tmp.path(), "slow", "sleep 600\n");
    let config = format!(
        "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"true\"]\n\n[dispatch]\ndefault_agent = \"good\"\nconfirm_ttl = \"20s\"\ngrace = \"0s\"\noverlap = \"allow\"\n\n[speech]\nengine = \"espeak-ng\"\n\n{}",
        repo.display(),
        [("good", &good), ("bad", &bad), ("slow", &slow)]
            .iter()
            .map(|(n, p)| format!("[agents.{n}]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n\n", p.display()))
            .collect::<String>()
    );
    let config_path = tmp.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let shots = std::env::var_os("CAPCOM_SHOTS").map(PathBuf::from).unwrap_or_else(|| tmp.path().join("shots"));
    let input = serde_json::json!({
        "port": port, "chromium": chromium, "profile": tmp.path().join("chromium-profile"), "long": long,
        "bin": BIN, "config": config_path, "data": tmp.path().join("data"), "daemon_log": tmp.path().join("daemon.stderr"),
        "repo": repo, "shots": shots,
    });
    let log = tmp.path().join("daemon.stderr");
    let result = run_script(&node, "polish.mjs", &input, &|| std::fs::read_to_string(&log).unwrap_or_default());
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    assert_eq!(result["steps"].as_array().unwrap().last().unwrap(), "done", "{result}");
}
