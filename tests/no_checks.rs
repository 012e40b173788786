//! "No checks is never green" for work reviewed locally: a task no automated check ran
//! on is ready, but untested. Its merge question says so, a plain "confirm" does not
//! merge it, and only the stronger confirmation does ("confirm without checks",
//! `capcom confirm --no-checks CODE`), unless the repo sets `require_checks = false`.
//! A real daemon, a real git repo and an agent that edits one file and commits.

mod common;

use common::{Daemon, stderr, stdout};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=u", "-c", "user.email=u@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Lab {
    _tmp: tempfile::TempDir,
    repo: std::path::PathBuf,
    d: Daemon,
}

fn lab(require_checks: Option<bool>) -> Lab {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("components")).unwrap();
    std::fs::write(repo.join("components/button.txt"), "button v1\n").unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "initial"]);
    // The user's checkout is on another branch, so the merge only moves refs.
    git(&repo, &["checkout", "--quiet", "-b", "mine"]);
    let agent = root.join("agent.sh");
    std::fs::write(
        &agent,
        concat!(
            "#!/bin/sh\nset -e\n",
            "echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s1\"}'\n",
            "echo 'button v2' > components/button.txt\n",
            "git -c user.name=agent -c user.email=agent@example.com commit -qam 'agent: button v2'\n",
            "echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"Updated the button.\",\"session_id\":\"s1\"}'\n",
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let opt = match require_checks {
        Some(b) => format!("require_checks = {b}\n"),
        None => String::new(),
    };
    let cfg = format!(
        r#"
[[repos]]
name = "site"
path = "{repo}"
base = "main"
{opt}
[agents.good]
kind = "local"
preset = "claude"
command = ["{agent}", "{{prompt_file}}"]

[dispatch]
default_agent = "good"
confirm_ttl = "60s"
"#,
        repo = repo.display(),
        agent = agent.display(),
    );
    let d = Daemon::start(&cfg);
    Lab { _tmp: tmp, repo, d }
}

impl Lab {
    /// A brief whose one criterion names no automated check.
    fn brief(&self) -> i64 {
        let spec = json!({
            "title": "Restyle the button", "kind": "css", "repo": "site", "agent": "good",
            "scope": {"include": ["components/"], "exclude": []},
            "acceptance": [{"text": "the button looks right", "check": null}],
            "readiness": {"ready": true, "score": 1.0, "problems": []},
        });
        let body = json!({"text": "scripted brief", "intent": {"intent": "dispatch", "tasks": [spec], "confidence": 1.0}});
        let (status, reply) = self.d.http("POST", "/v1/brief", Some(&self.d.token()), Some(&body.to_string()));
        assert_eq!(status, 200, "{reply}");
        let v: Value = serde_json::from_str(&reply).unwrap();
        v["tasks"][0]["id"].as_i64().unwrap()
    }

    fn state(&self, id: i64) -> String {
        let (_, body) = self.d.http("GET", &format!("/v1/tasks/{id}"), Some(&self.d.token()), None);
        let v: Value = serde_json::from_str(&body).unwrap();
        v["task"]["state"].as_str().unwrap_or("").to_string()
    }

    /// Poll until ready (a guard against a hang, not a timing assertion).
    fn wait_ready(&self, id: i64) {
        for _ in 0..2400 {
            if self.state(id) == "ready" {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("task {id} never became ready: {}\n{}", self.state(id), self.d.stderr());
    }

    fn ask(&self, id: i64) -> Value {
        let out = self.d.cli(&["merge", &id.to_string(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }
}

#[test]
fn untested_work_needs_the_stronger_confirmation_to_merge() {
    let lab = lab(None);
    let id = lab.brief();
    lab.wait_ready(id);
    let main_before = git(&lab.repo, &["rev-parse", "main"]);

    // "What's finished?" says it is untested.
    let out = lab.d.cli(&["status", "--filter", "finished"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ready, but untested"), "{}", stdout(&out));

    let q = lab.ask(id);
    let question = q["question"].as_str().unwrap();
    assert!(question.contains("No automated check ran on this change."), "{question}");
    assert!(question.contains("confirm without checks"), "{question}");
    let code = q["code"].as_str().unwrap();

    // A plain confirm, even with the right code, merges nothing and keeps the question.
    let out = lab.d.cli(&["confirm", code]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("confirm without checks"), "{}", stderr(&out));
    assert_eq!(git(&lab.repo, &["rev-parse", "main"]), main_before);
    assert_eq!(lab.state(id), "ready");

    // The stronger confirmation merges.
    let out = lab.d.cli(&["confirm", "--no-checks", code]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_ne!(git(&lab.repo, &["rev-parse", "main"]), main_before);
    assert_eq!(git(&lab.repo, &["show", "main:components/button.txt"]), "button v2");
    assert_eq!(lab.state(id), "merged");
}

#[test]
fn confirm_without_checks_said_out_loud_merges() {
    let lab = lab(None);
    let id = lab.brief();
    lab.wait_ready(id);
    lab.ask(id);
    let out = lab.d.cli(&["brief", "confirm"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = lab.d.cli(&["brief", "Confirm without checks."]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(lab.state(id), "merged");
}

#[test]
fn a_repo_that_opts_out_merges_untested_work_on_a_plain_confirm() {
    let lab = lab(Some(false));
    let id = lab.brief();
    lab.wait_ready(id);
    let q = lab.ask(id);
    let question = q["question"].as_str().unwrap();
    assert!(question.contains("No automated check ran on this change."), "{question}");
    assert!(!question.contains("confirm without checks"), "{question}");
    let out = lab.d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(lab.state(id), "merged");
}

#[test]
fn the_confirmation_grammar_takes_confirm_without_checks() {
    use capcom::transcribe::grammar::{CONFIRM, Grammar};
    let g = Grammar::parse(CONFIRM).unwrap();
    for said in [" Confirm without checks.", " confirm without checks", " Confirm without checks 4 7 1 2."] {
        assert!(g.accepts(said), "{said:?}");
    }
    assert!(g.accepts(" Yes, confirm."), "the plain answers still parse");
}
