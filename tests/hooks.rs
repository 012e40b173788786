//! Hearing the agents the user runs themselves: `capcom hook AGENT` against a real daemon,
//! with the vendors' documented payloads (tests/fixtures/hooks/, each naming its source), and
//! `capcom hooks install|uninstall` against settings files a user wrote.

mod common;

use common::scene::Scene;
use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A documented payload, with its folder set to `cwd` when given.
fn fixture(name: &str, cwd: Option<&Path>) -> Value {
    let path = format!("{}/tests/fixtures/hooks/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(v["source"].as_str().is_some_and(|s| !s.is_empty()), "{name} names its source");
    let mut p = v["payload"].clone();
    if let Some(c) = cwd {
        p["cwd"] = json!(c.display().to_string());
    }
    p
}

/// Run `cmd` with `stdin` written to it and closed.
fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // A refused payload may be left unread: a broken pipe here is the hook's business.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// `capcom hook AGENT ARGS…` as the agent runs it, the payload on stdin.
fn hook(d: &Daemon, agent: &str, args: &[&str], payload: &Value) -> Output {
    let mut c = capcom(&d.config, &d.data);
    c.arg("hook").arg(agent).args(args);
    run_with_stdin(c, payload.to_string().as_bytes())
}

fn sessions(d: &Daemon) -> Vec<Value> {
    let out = d.cli(&["sessions", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn status(d: &Daemon) -> String {
    let out = d.cli(&["status", "--filter", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The phone page's board, read with a freshly paired device's token.
fn phone_board(d: &Daemon) -> Value {
    let out = d.cli(&["pair", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let code = serde_json::from_slice::<Value>(&out.stdout).unwrap()["code"].as_str().unwrap().to_string();
    let (status, body) = d.http("POST", "/app/pair", None, Some(&json!({"code": code, "name": "phone"}).to_string()));
    assert_eq!(status, 200, "{body}");
    let device = serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let mut s = std::net::TcpStream::connect(&d.addr).unwrap();
    write!(s, "GET /app/v1/board HTTP/1.0\r\nHost: x\r\nX-Capcom-Device: {device}\r\n\r\n").unwrap();
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut s, &mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(" 200 "), "{head}");
    serde_json::from_str(body).unwrap()
}

#[test]
fn with_no_daemon_capcom_hook_does_nothing_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("never-started");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let payload = fixture("claude_notification_permission", None).to_string();
    for (agent, args, stdin) in [
        ("claude", vec![], payload.as_str()),
        ("copilot", vec!["agentStop"], "{\"sessionId\": \"s\"}"),
        ("claude", vec![], "not json at all"),
        ("nobody", vec![], payload.as_str()),
    ] {
        let mut c = capcom(&config, &data);
        c.arg("hook").arg(agent).args(&args);
        let out = run_with_stdin(c, stdin.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{agent} {args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "an agent's hook prints nothing on stdout");
    }
    // Codex's payload is its last argument.
    let out = capcom(&config, &data).args(["hook", "codex", &fixture("codex_agent_turn_complete", None).to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!data.exists(), "nothing is written where no daemon ever ran");

    // A data dir whose daemon stopped: still nothing, still 0.
    let mut d = Daemon::start("");
    assert_eq!(d.stop(), Some(0));
    let out = hook(&d, "claude", &[], &fixture("claude_stop", None));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_hook_that_never_gets_its_payload_gives_up_with_zero() {
    let d = Daemon::start("");
    // The agent never closes stdin: capcom gives up after a second, exits 0, and notes why.
    let mut child = capcom(&d.config, &d.data).args(["hook", "claude"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let _held_open = child.stdin.take();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(d.data.join("logs/hooks.log")).unwrap();
    assert!(log.contains("capcom hook claude: gave up"), "{log}");
}

#[test]
fn a_permission_prompt_is_said_listed_and_in_the_status_answer_until_the_session_moves_on() {
    let scene = Scene::new();
    let d = Daemon::start(&scene.config("", "", ""));
    let inside = scene.repo.join("components");
    let out = hook(&d, "claude", &[], &fixture("claude_notification_permission", Some(&inside)));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let s = sessions(&d);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["agent"], "claude");
    assert_eq!(s[0]["session_id"], "abc123");
    assert_eq!(s[0]["repo"], "site", "the folder is inside the configured repo");
    assert_eq!(s[0]["waiting"], true);
    assert_eq!(s[0]["last_event"], "Notification:permission_prompt");
    assert_eq!(s[0]["last_message"], "Claude needs your permission to use Bash");
    let listed = stdout(&d.cli(&["sessions"]));
    assert!(listed.contains("WAITS") && listed.contains("site"), "{listed}");

    // Said as a notice through the coordinator (headless: logged and kept for "say that again").
    let notice = "Claude in site needs your permission: Claude needs your permission to use Bash.";
    let again = d.cli(&["brief", "--json", "say that again"]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["say"], notice, "{again}");
    assert!(d.stderr().contains(notice), "the daemon's log has the notice");

    // The phone's board has it in its "Needs you" group.
    let board = phone_board(&d);
    assert_eq!(board["needs_you"][0]["session_id"], "abc123", "{board}");
    assert_eq!(board["needs_you"][0]["repo"], "site");

    // The status answer says it, every time, while the session waits.
    assert!(status(&d).contains(notice));
    assert!(status(&d).contains(notice));

    // An idle notice keeps it waiting; the next real event clears it.
    hook(&d, "claude", &[], &fixture("claude_notification_idle", Some(&inside)));
    assert_eq!(sessions(&d)[0]["waiting"], true);
    hook(&d, "claude", &[], &json!({"session_id": "abc123", "cwd": inside, "hook_event_name": "PostToolUse", "tool_name": "Bash"}));
    assert_eq!(sessions(&d)[0]["waiting"], false);
    assert!(!status(&d).contains("needs your permission"));
    assert_eq!(phone_board(&d)["needs_you"], json!([]));
    // Nothing but the listed fields are kept.
    let kept = serde_json::to_string(&sessions(&d)).unwrap();
    assert!(!kept.contains("transcript") && !kept.contains(".jsonl") && !kept.contains("permission_mode"), "{kept}");
}

#[test]
fn with_announce_none_a_waiting_session_is_shown_but_not_said() {
    let d = Daemon::start("[speech]\nannounce = \"none\"\n");
    let out = hook(&d, "claude", &[], &fixture("claude_notification_permission", None));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(sessions(&d)[0]["waiting"], true);
    assert!(status(&d).contains("needs your permission"), "the status answer still says it");
    assert!(!d.stderr().contains("needs your permission:"), "no notice was said");
}

#[test]
fn a_stop_names_the_sessions_folder_once_in_the_status_answer() {
    let scene = Scene::new();
    let d = Daemon::start(&scene.config("", "", ""));
    let api = scene.root().join("api");
    std::fs::create_dir_all(&api).unwrap();
    let mut stop = fixture("claude_stop", Some(&api));
    stop["last_assistant_message"] = json!("All tests pass.");
    assert_eq!(hook(&d, "claude", &[], &stop).status.code(), Some(0));
    let s = sessions(&d);
    assert_eq!(s[0]["repo"], Value::Null, "api is not a configured repo");
    assert_eq!(s[0]["folder"], api.display().to_string());
    assert!(status(&d).contains("Claude in api finished: All tests pass."));
    assert!(!status(&d).contains("Claude in api finished"), "said once: it finished since last asked");

    // Each agent's documented finish, through the same path.
    let gemini = scene.root().join("gemini-work");
    let copilot = scene.root().join("copilot-work");
    std::fs::create_dir_all(&gemini).unwrap();
    std::fs::create_dir_all(&copilot).unwrap();
    assert_eq!(hook(&d, "gemini", &[], &fixture("gemini_after_agent", Some(&gemini))).status.code(), Some(0));
    assert_eq!(hook(&d, "copilot", &["agentStop"], &fixture("copilot_agent_stop", Some(&copilot))).status.code(), Some(0));
    let codex = fixture("codex_agent_turn_complete", Some(&scene.repo)).to_string();
    let out = capcom(&d.config, &d.data).args(["hook", "codex", &codex]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let said = status(&d);
    for want in [
        "Gemini in gemini work finished: The test now passes: the date parser handles time zones.",
        "Copilot in copilot work finished.",
        "Codex in site finished: Rename complete and verified cargo build succeeds.",
    ] {
        assert!(said.contains(want), "{want:?} in {said}");
    }
    assert_eq!(sessions(&d).len(), 4);
}

#[test]
fn oversized_and_malformed_payloads_are_refused_and_logged() {
    let d = Daemon::start("");
    let token = d.token();
    let mib = format!("{{\"session_id\":\"big\",\"hook_event_name\":\"Stop\",\"last_assistant_message\":\"{}\"}}", "x".repeat(1024 * 1024));
    let (code, body) = d.http("POST", "/v1/hooks/claude", Some(&token), Some(&mib));
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("at most 65536"), "{body}");
    let (code, body) = d.http("POST", "/v1/hooks/claude", Some(&token), Some("{\"hook_event_name\":\"Stop\"}"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("no session id"), "{body}");
    // A task capcom started (in its own worktree) is followed as a task, not as a session of the user's.
    let worktree = d.data.join("worktrees/site-1");
    std::fs::create_dir_all(&worktree).unwrap();
    let (code, body) = d.http("POST", "/v1/hooks/claude", Some(&token), Some(&fixture("claude_stop", Some(&worktree)).to_string()));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("a task capcom started"), "{body}");
    let (code, _) = d.http("POST", "/v1/hooks/aider", Some(&token), Some("{}"));
    assert_eq!(code, 404);
    let (code, _) = d.http("POST", "/v1/hooks/claude", None, Some("{\"session_id\":\"x\"}"));
    assert_eq!(code, 401, "the hook route needs the API token");

    // Through `capcom hook`: refused before it leaves, exit 0, the reason noted, never the payload.
    let mut c = capcom(&d.config, &d.data);
    c.args(["hook", "claude"]);
    let out = run_with_stdin(c, mib.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    let mut c = capcom(&d.config, &d.data);
    c.args(["hook", "claude"]);
    assert_eq!(run_with_stdin(c, b"{\"session_id\": \"s\", \"message\": \"secret words\"").status.code(), Some(0));
    let log = std::fs::read_to_string(d.data.join("logs/hooks.log")).unwrap();
    assert!(log.contains("more than 65536 bytes"), "{log}");
    assert!(log.contains("not JSON"), "{log}");
    assert!(!log.contains("secret words") && !log.contains("xxxx"), "the payload is never logged: {log}");
    assert!(sessions(&d).is_empty());
    assert!(d.stderr().contains("a hook payload was refused"), "the daemon logs a refusal");
}

#[test]
fn a_hundred_payloads_a_second_for_ten_seconds_lose_none() {
    let d = Daemon::start("");
    let token = d.token();
    let addr = d.addr.clone();
    // Four senders, 250 payloads each, one every 40 ms: about 100 a second for 10 seconds.
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (addr, token) = (addr.clone(), token.clone());
            std::thread::spawn(move || {
                let mut refused = Vec::new();
                for i in 0..250 {
                    let session = format!("s{t}-{}", i % 10);
                    let body = match i % 5 {
                        0 => json!({"session_id": session, "cwd": "/tmp/load", "hook_event_name": "Notification", "notification_type": "permission_prompt", "message": format!("May I run step {i}?")}),
                        4 => json!({"session_id": session, "cwd": "/tmp/load", "hook_event_name": "Stop", "last_assistant_message": format!("Step {i} done.")}),
                        _ => json!({"session_id": session, "cwd": "/tmp/load", "hook_event_name": "PostToolUse"}),
                    };
                    let (code, reply) = http(&addr, "POST", "/v1/hooks/claude", Some(&token), Some(&body.to_string()));
                    if code != 200 {
                        refused.push(format!("{code} {reply}"));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(40));
                }
                refused
            })
        })
        .collect();
    // The daemon keeps answering while it is busy.
    let mid = d.cli(&["status"]);
    assert!(mid.status.success(), "{}", stderr(&mid));
    let refused: Vec<String> = senders.into_iter().flat_map(|s| s.join().unwrap()).collect();
    assert!(refused.is_empty(), "{refused:?}");
    let all = sessions(&d);
    assert_eq!(all.len(), 40);
    let heard: i64 = all.iter().map(|s| s["events"].as_i64().unwrap()).sum();
    assert_eq!(heard, 1000, "every payload was kept");
    let (code, _) = d.http("GET", "/v1/health", None, None);
    assert_eq!(code, 200);
}

/// A user's own Claude Code settings: their keys, their own Stop hook, odd spacing.
const CLAUDE_SETTINGS: &str = "{\"model\":\"opus\",   \"hooks\": {\n  \"Stop\": [ {\"hooks\": [{\"type\": \"command\", \"command\": \"afplay /System/Library/Sounds/Glass.aiff\"}]} ]\n}}\n";
const CODEX_CONFIG: &str = "# my Codex settings\nmodel = \"o3\"   # the big one\n\n[mcp_servers.docs]\ncommand = \"npx\"\n";

fn home_cmd(d: &Daemon, home: &Path, args: &[&str]) -> Output {
    capcom(&d.config, &d.data).env("HOME", home).env_remove("CODEX_HOME").env_remove("COPILOT_HOME").args(args).output().unwrap()
}

#[test]
fn hooks_install_keeps_the_users_settings_and_the_installed_hook_is_heard() {
    let d = Daemon::start("");
    let home = d.data.parent().unwrap().join("home");
    let claude = home.join(".claude/settings.json");
    let codex = home.join(".codex/config.toml");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::create_dir_all(codex.parent().unwrap()).unwrap();
    std::fs::write(&claude, CLAUDE_SETTINGS).unwrap();
    std::fs::write(&codex, CODEX_CONFIG).unwrap();

    // --dry-run prints the change and writes nothing.
    let out = home_cmd(&d, &home, &["hooks", "install", "claude", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("+ ") && stdout(&out).contains("hook claude"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&claude).unwrap(), CLAUDE_SETTINGS);

    for _ in 0..2 {
        let out = home_cmd(&d, &home, &["hooks", "install", "claude"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = home_cmd(&d, &home, &["hooks", "install", "codex"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let backup = home.join(".claude/settings.json.capcom-backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), CLAUDE_SETTINGS, "backed up before the first change");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&claude).unwrap()).unwrap();
    assert_eq!(v["model"], "opus");
    let stops = v["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(stops.len(), 2, "the user's hook and capcom's, once: {v}");
    assert_eq!(stops[0]["hooks"][0]["command"], "afplay /System/Library/Sounds/Glass.aiff");
    let toml = std::fs::read_to_string(&codex).unwrap();
    assert!(toml.starts_with("# my Codex settings\nmodel = \"o3\"   # the big one\n"), "{toml}");
    assert_eq!(toml.matches("notify").count(), 1, "{toml}");

    // `capcom doctor` says which agents have capcom's hooks.
    let out = home_cmd(&d, &home, &["doctor", "--json"]);
    let doctor: Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = doctor["checks"].as_array().unwrap().iter().find(|c| c["name"] == "agent hooks").cloned().unwrap();
    assert_eq!(line["detail"], "capcom hears claude, codex sessions you run yourself", "{line}");

    // The hook exactly as Claude Code would run it: through a shell, the payload on stdin.
    let command = stops[1]["hooks"][0]["command"].as_str().unwrap().to_string();
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(&command).env_remove("CAPCOM_DATA_DIR");
    let out = run_with_stdin(sh, fixture("claude_notification_permission", Some(&home)).to_string().as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sessions(&d).len(), 1, "the installed command reached this daemon");

    // Uninstall takes out only capcom's entries.
    for agent in ["claude", "codex"] {
        let out = home_cmd(&d, &home, &["hooks", "uninstall", agent]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let back: Value = serde_json::from_str(&std::fs::read_to_string(&claude).unwrap()).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(CLAUDE_SETTINGS).unwrap());
    assert_eq!(std::fs::read_to_string(&codex).unwrap(), CODEX_CONFIG, "byte for byte, comments included");

    // A Codex user's own notify program is never replaced.
    std::fs::write(&codex, "notify = [\"python3\", \"/home/me/notify.py\"]\n").unwrap();
    let out = home_cmd(&d, &home, &["hooks", "install", "codex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("your own program"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&codex).unwrap(), "notify = [\"python3\", \"/home/me/notify.py\"]\n");
    // A broken settings file is left alone with an actionable error.
    std::fs::write(&claude, "{\"model\": ").unwrap();
    let out = home_cmd(&d, &home, &["hooks", "install", "claude"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not valid JSON") && stderr(&out).contains("nothing was changed"), "{}", stderr(&out));
    assert_eq!(home_cmd(&d, &home, &["hooks", "install", "aider"]).status.code(), Some(2));
}

#[test]
fn project_hooks_and_copilots_own_file() {
    let d = Daemon::start("");
    let home = d.data.parent().unwrap().join("home");
    let project = d.data.parent().unwrap().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let p = project.display().to_string();
    for agent in ["claude", "gemini", "copilot"] {
        let out = home_cmd(&d, &home, &["hooks", "install", agent, "--project", &p]);
        assert!(out.status.success(), "{agent}: {}", stderr(&out));
    }
    assert!(project.join(".claude/settings.json").is_file());
    assert!(project.join(".gemini/settings.json").is_file());
    let copilot = project.join(".github/hooks/capcom.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&copilot).unwrap()).unwrap();
    assert!(v["hooks"]["agentStop"][0]["bash"].as_str().unwrap().ends_with("hook copilot agentStop"));
    let out = home_cmd(&d, &home, &["hooks", "uninstall", "copilot", "--project", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!copilot.exists(), "capcom's own file is removed");
    let out = home_cmd(&d, &home, &["hooks", "install", "codex", "--project", &p]);
    assert_eq!(out.status.code(), Some(1), "Codex has no project file for notify");
}

/// Processes to stop when the test ends, however it ends.
struct Stop(Vec<std::process::Child>, Vec<Box<dyn FnMut()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        for f in &mut self.1 {
            f();
        }
    }
}

/// The desktop daemon (Xvfb, PulseAudio with a null sink, as tests/voice_e2e.rs sets them up)
/// says a session's permission prompt out loud: the sink's monitor hears speech.
#[test]
fn a_waiting_session_is_said_aloud_on_the_null_sink() {
    let have = |b: &str| Command::new("sh").arg("-c").arg(format!("command -v {b}")).output().is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = ["Xvfb", "pulseaudio", "pactl", "parec", "espeak-ng"].into_iter().filter(|b| !have(b)).collect();
    if !missing.is_empty() {
        assert!(std::env::var_os("CI").is_none_or(|v| v.is_empty()), "the spoken-notice test needs {}", missing.join(", "));
        eprintln!("\n\n!!!!! SKIPPING the spoken notice: missing {} (apt-get install xvfb pulseaudio pulseaudio-utils libasound2-plugins espeak-ng) !!!!!\n", missing.join(", "));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (home, runtime, data) = (root.join("home"), root.join("run"), root.join("data"));
    for d in [&home, &runtime, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let display = (90..400)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists())
        .expect("a free X display");
    let vars: Vec<(String, String)> = vec![
        ("HOME".into(), home.display().to_string()),
        ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
        ("XDG_CONFIG_HOME".into(), home.join(".config").display().to_string()),
        ("DISPLAY".into(), format!(":{display}")),
    ];
    let cmd = |program: &str| {
        let mut c = Command::new(program);
        c.env_remove("DBUS_SESSION_BUS_ADDRESS").env_remove("PULSE_SERVER");
        for (k, v) in &vars {
            c.env(k, v);
        }
        c
    };
    let wait_until = |what: &str, mut ok: Box<dyn FnMut() -> bool + '_>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !ok() {
            assert!(std::time::Instant::now() < deadline, "waited too long for {what}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let mut stop = Stop(Vec::new(), Vec::new());
    stop.0.push(cmd("Xvfb").args([format!(":{display}").as_str(), "-nolisten", "tcp"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    wait_until("Xvfb", Box::new(|| Path::new(&format!("/tmp/.X11-unix/X{display}")).exists()));
    let out = cmd("pulseaudio").args(["-D", "--exit-idle-time=-1", "--log-target=stderr"]).output().unwrap();
    assert!(out.status.success(), "pulseaudio: {}", String::from_utf8_lossy(&out.stderr));
    {
        let kill = cmd("pulseaudio");
        let mut kill = Some(kill);
        stop.1.push(Box::new(move || {
            if let Some(mut k) = kill.take() {
                let _ = k.arg("--kill").output();
            }
        }));
    }
    wait_until("pulseaudio", Box::new(|| cmd("pactl").arg("info").output().is_ok_and(|o| o.status.success())));
    let out = cmd("pactl").args(["load-module", "module-null-sink", "sink_name=speaker", "rate=16000", "channels=1"]).output().unwrap();
    assert!(out.status.success(), "null sink: {}", String::from_utf8_lossy(&out.stderr));
    assert!(cmd("pactl").args(["set-default-sink", "speaker"]).status().unwrap().success());
    let recorded = root.join("monitor.raw");
    stop.0.push(
        cmd("parec")
            .args(["-d", "speaker.monitor", "--format=s16le", "--rate=16000", "--channels=1", "--latency-msec=20"])
            .stdout(std::fs::File::create(&recorded).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = root.join("config.toml");
    std::fs::write(&config, "").unwrap();
    let bin = env!("CARGO_BIN_EXE_capcom");
    let log = std::fs::File::create(root.join("daemon.stderr")).unwrap();
    stop.0.insert(
        0,
        cmd(bin)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .arg("daemon")
            .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
            .env("CAPCOM__VOICE__MODEL", root.join("no-model.bin"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until("the daemon's API", Box::new(|| data.join("api.addr").exists()));
    // The null sink's monitor gives about two seconds of nothing first (DESIGN.md).
    std::thread::sleep(std::time::Duration::from_secs(3));
    let before = std::fs::metadata(&recorded).map(|m| m.len()).unwrap_or(0) as usize;

    let mut hook = cmd(bin);
    hook.arg("--config").arg(&config).arg("--data-dir").arg(&data).args(["hook", "claude"]);
    let out = run_with_stdin(hook, fixture("claude_notification_permission", Some(&home)).to_string().as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Speech-loud for at least half a second of 10 ms windows.
    let loud = || {
        let bytes = std::fs::read(&recorded).unwrap_or_default();
        bytes.get(before..).unwrap_or_default().chunks_exact(320).filter(|w| {
            let rms = (w.chunks_exact(2).map(|b| (i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).powi(2)).sum::<f32>() / 160.0).sqrt();
            rms > 0.01
        }).count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while loud() < 50 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let daemon_log = std::fs::read_to_string(root.join("daemon.stderr")).unwrap_or_default();
    assert!(loud() >= 50, "the null sink heard {} loud 10 ms windows; daemon log: {}", loud(), &daemon_log[daemon_log.len().saturating_sub(3000)..]);
}
