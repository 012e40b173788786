//! What each task cost, end to end: a real `capcom daemon --headless`, a real git repo, and
//! stand-in Claude Code agents (shell scripts that print Claude's stream-json and burn CPU in a
//! process they leave behind). The task shows the agent's reported cost and tokens, its wall
//! time and the CPU time of its whole process tree; `capcom stats` adds up the tasks.

mod common;

use common::scene::{make_repo, post_intent, task_json};
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A busy loop in the shell: the same work for the reference and for the agents.
const BURN: &str = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";

/// CPU time (user + sys, ms) of `sh -c BURN`, measured with wait4 on that one child.
fn reference_burn_ms() -> i64 {
    let child = std::process::Command::new("sh").args(["-c", BURN]).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 writes into the structs we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(got, pid);
    let ms = |t: libc::timeval| t.tv_sec as i64 * 1000 + t.tv_usec as i64 / 1000;
    std::mem::forget(child); // already reaped
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A shell line that starts BURN in a process the agent does not wait for (it is orphaned at
/// once, so the supervisor, its subreaper, inherits it) and waits until that process is done.
fn orphan_burn(mark: &Path) -> String {
    format!(
        "( sh -c '{BURN}; : > \"$0\"' \"{m}-$CAPCOM_TASK_ID\" & )\nwhile [ ! -f \"{m}-$CAPCOM_TASK_ID\" ]; do sleep 0.05; done\nrm -f \"{m}-$CAPCOM_TASK_ID\"",
        m = mark.display()
    )
}

/// A stand-in Claude Code: stream-json lines shaped like `claude -p --output-format stream-json
/// --verbose` (the `result` fields as in anthropics/claude-agent-sdk-python
/// `src/claude_agent_sdk/_internal/message_parser.py`), a change committed in `file`, a burn.
fn claude_agent(dir: &Path, name: &str, file: &str, cost: f64) -> PathBuf {
    let init = r#"{"type":"system","subtype":"init","cwd":".","session_id":"sess-cost","tools":["Bash","Edit"],"model":"claude-sonnet-4-5-20250929","permissionMode":"acceptEdits"}"#;
    let said = r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Editing."}],"usage":{"input_tokens":4,"cache_creation_input_tokens":100,"cache_read_input_tokens":0,"output_tokens":3}},"session_id":"sess-cost"}"#;
    let result = format!(
        r#"{{"type":"result","subtype":"success","is_error":false,"duration_ms":2100,"duration_api_ms":1900,"num_turns":3,"result":"Changed {file}.","session_id":"sess-cost","total_cost_usd":{cost},"usage":{{"input_tokens":31,"cache_creation_input_tokens":12045,"cache_read_input_tokens":88210,"output_tokens":1734}},"permission_denials":[]}}"#
    );
    write_script(
        dir,
        name,
        &format!(
            "set -e\necho '{init}'\necho '{said}'\n{}\necho \"run $$\" >> {file}\ngit -c user.name=agent -c user.email=agent@example.com commit -qam 'agent: change {file}'\necho '{result}'",
            orphan_burn(&dir.join(format!("{name}.burnt")))
        ),
    )
}

fn config(repo: &Path, agents: &Path) -> String {
    let a = claude_agent(agents, "claude-a.sh", "components/button.txt", 0.1873);
    let b = claude_agent(agents, "claude-b.sh", "app/page.txt", 0.75);
    format!(
        "[[repos]]\nname = \"site\"\npath = \"{}\"\nbase = \"main\"\n\n[checks]\ntest = [\"true\"]\n\n[dispatch]\nmax_parallel = 2\ndefault_agent = \"claude-a\"\noverlap = \"allow\"\n\n\
         [agents.claude-a]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n\n\
         [agents.claude-b]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n",
        repo.display(),
        a.display(),
        b.display()
    )
}

fn spec(title: &str, agent: &str, kind: &str, scope: &str) -> serde_json::Value {
    serde_json::json!({
        "title": title, "kind": kind, "agent": agent, "repo": "site",
        "scope": {"include": [scope], "exclude": []},
        "acceptance": [{"text": "tests pass", "check": "test"}],
        "readiness": {"ready": true, "score": 1.0, "problems": [], "question": null},
    })
}

/// Wait for `done`, then read the task as `capcom task --json` prints it.
fn wait_for(d: &Daemon, id: i64, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    common::scene::wait(d, id, what, done);
    task_json(d, id)
}

fn stats(d: &Daemon, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    let out = d.cli(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn close(a: &serde_json::Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn the_supervisor_counts_the_cpu_of_the_whole_process_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let status = tmp.path().join("run.status");
    let script = format!("CAPCOM_TASK_ID=1\n{}", orphan_burn(&tmp.path().join("mark")));
    let out = std::process::Command::new(BIN)
        .args(["__supervise", "--status"])
        .arg(&status)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert_eq!(v["code"], 0, "{v}");
    let cpu = v["cpu_ms"].as_i64().unwrap_or_else(|| panic!("no cpu_ms in {v}"));
    let reference = reference_burn_ms();
    assert!(reference > 0, "the reference burn took no CPU time");
    // The burn ran in an orphan the agent never waited for: only a subreaper that reaps it sees it.
    assert!(cpu * 2 >= reference, "the tree's CPU time {cpu} ms is less than half of the burn's own {reference} ms");
}

#[test]
fn a_task_shows_what_it_cost_and_stats_add_up_two_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = make_repo(tmp.path());
    let agents = tmp.path().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    let d = Daemon::start(&config(&repo, &agents));

    let reply = post_intent(
        &d,
        "scripted",
        serde_json::json!({"intent": "dispatch", "confidence": 1.0, "tasks": [
            spec("Restyle the button", "claude-a", "css", "components/"),
            spec("Reword the page", "claude-b", "copy", "app/"),
        ]}),
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let a = reply["tasks"][0]["id"].as_i64().unwrap();
    let b = reply["tasks"][1]["id"].as_i64().unwrap();
    let ready = |v: &serde_json::Value| v["task"]["state"] == "ready";
    let ta = wait_for(&d, a, "ready", ready);
    let tb = wait_for(&d, b, "ready", ready);
    let reference = reference_burn_ms();

    // The task: the agent's own cost and tokens, wall time, CPU time of the tree, runs.
    let sp = &ta["spend"];
    assert!(close(&sp["cost_usd"], 0.1873), "{sp}");
    assert_eq!(sp["input_tokens"], 31 + 12045 + 88210, "{sp}");
    assert_eq!(sp["output_tokens"], 1734, "{sp}");
    assert_eq!((sp["runs"].as_u64(), sp["follow_ups"].as_u64()), (Some(1), Some(0)), "{sp}");
    let run = &ta["runs"][0];
    assert_eq!(run["kind"], "start", "{run}");
    assert!(run["wall_ms"].as_i64().is_some_and(|w| w > 0), "{run}");
    let cpu = run["cpu_ms"].as_i64().unwrap_or_else(|| panic!("no CPU time recorded: {run}"));
    assert!(cpu * 2 >= reference, "CPU {cpu} ms for a run that burnt {reference} ms in a child it left behind");
    assert!(close(&tb["spend"]["cost_usd"], 0.75), "{}", tb["spend"]);

    let out = d.cli(&["task", &a.to_string()]);
    let text = stdout(&out);
    assert!(text.contains("spent:   $0.19, 100.3k tokens in, 1.7k out,"), "{text}");
    assert!(text.contains("CPU, 1 run, 0 follow-ups"), "{text}");

    // Stats over both tasks, then split.
    let s = stats(&d, &[]);
    let t = &s["total"];
    assert_eq!((t["tasks"].as_u64(), t["runs"].as_u64(), t["reviewed"].as_u64(), t["green_first_try"].as_u64()), (Some(2), Some(2), Some(2), Some(2)), "{s}");
    assert!(close(&t["green_first_try_rate"], 1.0), "{s}");
    assert!(close(&t["cost_usd"], 0.1873 + 0.75), "{s}");
    assert!(close(&t["cost_per_task_usd"], (0.1873 + 0.75) / 2.0), "{s}");
    assert_eq!(t["tasks_with_cost"], 2, "{s}");
    assert!(t["median_ready_ms"].as_i64().is_some_and(|m| m > 0), "{s}");
    assert!(t["cpu_ms"].as_i64().is_some_and(|c| c >= cpu), "{s}");
    let by_agent = stats(&d, &["--by", "agent"]);
    let mut keys: Vec<(String, f64)> = by_agent["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap().to_string(), g["cost_per_task_usd"].as_f64().unwrap()))
        .collect();
    keys.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(keys, [("claude-a".to_string(), 0.1873), ("claude-b".to_string(), 0.75)], "{by_agent}");
    let by_kind = stats(&d, &["--by", "kind", "--since", "1h"]);
    assert_eq!(by_kind["groups"].as_array().unwrap().len(), 2, "{by_kind}");
    assert_eq!(by_kind["total"]["tasks"], 2, "{by_kind}");
    let out = d.cli(&["stats", "--by", "repo"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("agent or kind"), "{}", stderr(&out));
    let out = d.cli(&["stats", "--by", "agent"]);
    let text = stdout(&out);
    assert!(text.contains("claude-a") && text.contains("$0.19") && text.contains("2/2 (100%)"), "{text}");

    // A follow-up is a second run: counted, its cost added; the first try stays green.
    let reply = post_intent(
        &d,
        "scripted",
        serde_json::json!({"intent": "follow_up", "confidence": 1.0, "target": {"task": a}, "instruction": "also darken the border"}),
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let ta = wait_for(&d, a, "a second ready", |v| ready(v) && v["runs"].as_array().is_some_and(|r| r.len() == 2));
    assert_eq!(ta["runs"][1]["kind"], "follow_up", "{}", ta["runs"]);
    assert_eq!((ta["spend"]["runs"].as_u64(), ta["spend"]["follow_ups"].as_u64()), (Some(2), Some(1)));
    assert!(close(&ta["spend"]["cost_usd"], 2.0 * 0.1873), "{}", ta["spend"]);
    let s = stats(&d, &[]);
    assert_eq!((s["total"]["runs"].as_u64(), s["total"]["follow_ups"].as_u64(), s["total"]["green_first_try"].as_u64()), (Some(3), Some(1), Some(2)), "{s}");
    assert!(close(&s["total"]["cost_usd"], 2.0 * 0.1873 + 0.75), "{s}");

    // The phone board carries the same figures.
    let out = d.cli(&["pair", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let code = serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()["code"].as_str().unwrap().to_string();
    let (status, body) = http(&d.addr, "POST", "/app/pair", None, Some(&serde_json::json!({"code": code, "name": "phone"}).to_string()));
    assert_eq!(status, 200, "{body}");
    let device = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let board = board_json(&d.addr, &device);
    let card = board["tasks"].as_array().unwrap().iter().find(|t| t["id"] == a).cloned().unwrap();
    assert!(close(&card["spend"]["cost_usd"], 2.0 * 0.1873), "{card}");
    assert_eq!(card["spend"]["follow_ups"], 1, "{card}");
}

/// `GET /app/v1/board` with a device token.
fn board_json(addr: &str, device: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET /app/v1/board HTTP/1.0\r\nHost: {addr}\r\nX-Capcom-Device: {device}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}
