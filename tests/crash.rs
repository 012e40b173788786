//! The daemon killed (SIGKILL) at every step of a dispatch, then started again on the same
//! data dir: each crash point has exactly one right recovery, and a finished agent's work is
//! never judged `interrupted`.
//!
//! The daemon kills itself at a named step through `CAPCOM_TEST_KILL_AT`, a hook compiled
//! into debug builds only (`process::crash_point`). The agent is a stand-in for Claude Code
//! (its stream-json result line) that counts its starts in a file outside the worktree, so
//! the test sees whether a recovery ran it again.
//!
//! The recoveries themselves are decided by `dispatch::recover::decide` (table-tested there);
//! this table proves the daemon gathers the right facts and carries the decision out.

mod common;

use common::Daemon;
use common::scene::{DONE, ID, Scene, settled, state, task};
use std::time::Duration;

/// One crash point: where the daemon dies, what the restart must find (words of the
/// `recovered` event, or none for a step whose state alone says what to do), how often the
/// agent must have started in all, and the end state.
struct Kill {
    step: &'static str,
    found: Option<&'static str>,
    recovery: Option<&'static str>,
    starts: usize,
}

const TABLE: &[Kill] = &[
    // queued, with a worktree: started again (the worktree is made afresh)
    Kill { step: "worktree", found: None, recovery: None, starts: 1 },
    // running, no run recorded: the agent never started
    Kill { step: "running", found: Some("no run recorded"), recovery: Some("restart"), starts: 1 },
    // an open run with no process, no pid file, no output, no commits
    Kill { step: "run-row", found: Some("an open run, no pid recorded, no pid file, no exit status file, 0 commit(s)"), recovery: Some("restart"), starts: 1 },
    // the supervisor and agent run, but the pid is not recorded: found by the supervisor's pid file
    Kill { step: "spawned", found: Some("an open run, no pid recorded, the supervisor's pid file"), recovery: Some("reattach"), starts: 1 },
    // the pid recorded: watched again (or its status file read)
    Kill { step: "pid-recorded", found: Some("an open run, its pid recorded, the supervisor's pid file"), recovery: Some("reattach"), starts: 1 },
    // the agent's exit (status 0) recorded, the review not begun: reviewed
    Kill { step: "exit-recorded", found: Some("the run ended with status 0"), recovery: Some("review"), starts: 1 },
    // `checking`, the review not done: reviewed again
    Kill { step: "checking", found: None, recovery: None, starts: 1 },
];

fn agent(scene: &Scene) -> String {
    let starts = scene.root().join("starts.txt");
    scene.agent(
        "counted",
        &format!(
            "echo started >> '{}'\necho '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\"}}'\necho v2 > components/button.txt\n{ID} add -A\n{ID} commit -qm 'agent: button v2'\n{DONE}",
            starts.display()
        ),
    )
}

fn starts(scene: &Scene) -> usize {
    std::fs::read_to_string(scene.root().join("starts.txt")).unwrap_or_default().lines().count()
}

/// Post a brief for one task without waiting for the answer: the daemon may die before it answers.
fn brief_and_die(d: &mut Daemon) {
    let spec = serde_json::json!({
        "title": "Update the button", "kind": "feature", "repo": "site", "agent": "counted",
        "scope": {"include": ["components/"], "exclude": []},
        "acceptance": [{"text": "tests pass", "check": "test"}], "brief": "Update the button",
    });
    let body = serde_json::json!({"text": "Update the button", "intent": {"intent": "dispatch", "tasks": [spec], "confidence": 1.0}}).to_string();
    let addr = d.addr.clone();
    let token = d.token();
    // The answer may never come: the daemon dies at the step, perhaps before it answers.
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
            let _ = write!(
                s,
                "POST /v1/brief HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    });
    d.wait_for_crash_point();
}

#[test]
fn a_daemon_killed_at_every_step_of_a_dispatch_recovers_each_task_rightly() {
    let mut report = Vec::new();
    for k in TABLE {
        let scene = Scene::new();
        let config = scene.config(&agent(&scene), "default_agent = \"counted\"", "");
        let mut d = Daemon::start_env(&config, &[("CAPCOM_TEST_KILL_AT", k.step)]);
        brief_and_die(&mut d);
        // Started again, as after a crash: without the hook.
        d.boot(&[]);
        let v = settled(&d, 1);
        let events = v["events"].as_array().unwrap();
        let recovered = events.iter().find(|e| e["kind"] == "recovered");
        let found = recovered.map(|e| e["data"]["found"].as_str().unwrap_or("").to_string());
        let recovery = recovered.map(|e| e["data"]["recovery"].as_str().unwrap_or("").to_string());
        report.push(format!(
            "{:<14} found: {:<100} recovery: {:<9} → {} (agent started {}×)",
            k.step,
            found.clone().unwrap_or_else(|| format!("task `{}` from its state", if k.step == "worktree" { "queued" } else { "checking" })),
            recovery.clone().unwrap_or_else(|| "by state".into()),
            state(&v),
            starts(&scene)
        ));
        assert_eq!(state(&v), "ready", "{}: {}\n{}", k.step, v["task"], d.stderr());
        assert_eq!(starts(&scene), k.starts, "{}: the agent ran {} times", k.step, starts(&scene));
        match (k.found, &found) {
            (Some(want), Some(got)) => assert!(got.starts_with(want), "{}: found {got:?}, expected {want:?}", k.step),
            (Some(want), None) => panic!("{}: no `recovered` event (expected {want:?}): {}", k.step, serde_json::Value::Array(events.clone())),
            (None, _) => {}
        }
        assert_eq!(recovery.as_deref(), k.recovery, "{}", k.step);
        // The branch holds the agent's one commit.
        let t = task(&d, 1);
        assert!(t["task"]["head_sha"].is_string(), "{}: {t}", k.step);
        assert_eq!(d.stop(), Some(0));
    }
    eprintln!("kill table:\n{}", report.join("\n"));
}
