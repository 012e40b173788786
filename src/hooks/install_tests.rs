use super::*;

fn cmd() -> HookCommand {
    HookCommand::new("/opt/my tools/capcom", Some(Path::new("/home/me/.local/share/capcom")))
}

fn apply(agent: Agent, text: Option<&str>) -> String {
    install(agent, "settings", text, &cmd()).unwrap().expect("a change").0.expect("a file")
}

/// A user's Claude Code settings: their own keys, their own hooks on the same events,
/// odd spacing.
const CLAUDE_USER: &str = r#"{"model":"opus",   "permissions": {"allow": ["Bash(npm test)"]},
  "hooks": {
      "Stop": [ {"hooks": [{"type": "command", "command": "afplay /System/Library/Sounds/Glass.aiff"}]} ],
      "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check.sh"}]}]
  }
}"#;

fn count_ours(v: &Value, agent: Agent, event: &str) -> usize {
    v["hooks"][event]
        .as_array()
        .map(|g| {
            g.iter()
                .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
                .filter(|h| h["command"].as_str().is_some_and(|c| is_ours(c, agent)))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn claude_install_keeps_the_users_settings_and_installs_once() {
    let once = apply(Agent::Claude, Some(CLAUDE_USER));
    let v: Value = serde_json::from_str(&once).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["permissions"]["allow"][0], "Bash(npm test)");
    assert_eq!(v["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "./check.sh");
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "afplay /System/Library/Sounds/Glass.aiff", "the user's Stop hook is first, as it was");
    assert_eq!(count_ours(&v, Agent::Claude, "Stop"), 1);
    assert_eq!(count_ours(&v, Agent::Claude, "Notification"), 1);
    let ours = v["hooks"]["Stop"][1]["hooks"][0]["command"].as_str().unwrap();
    assert_eq!(ours, "'/opt/my tools/capcom' --data-dir /home/me/.local/share/capcom hook claude");
    assert!(is_installed(Agent::Claude, &once));
    assert!(!is_installed(Agent::Claude, CLAUDE_USER));
    // Installing again changes nothing.
    assert_eq!(install(Agent::Claude, "settings", Some(&once), &cmd()).unwrap(), None);
    // Uninstalling gives back exactly the user's settings.
    let back = uninstall(Agent::Claude, "settings", Some(&once)).unwrap().unwrap().0.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&back).unwrap(), serde_json::from_str::<Value>(CLAUDE_USER).unwrap());
    assert_eq!(uninstall(Agent::Claude, "settings", Some(&back)).unwrap(), None, "nothing of capcom's is left");
}

#[test]
fn claude_install_into_no_file_or_an_empty_one() {
    for start in [None, Some(""), Some("{}\n")] {
        let t = apply(Agent::Claude, start);
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(count_ours(&v, Agent::Claude, "Stop"), 1, "{start:?}");
        let back = uninstall(Agent::Claude, "settings", Some(&t)).unwrap().unwrap().0.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&back).unwrap(), json!({}), "{start:?}");
    }
    assert_eq!(uninstall(Agent::Claude, "settings", None).unwrap(), None);
}

#[test]
fn a_moved_capcom_is_updated_in_place() {
    let old = install(Agent::Claude, "s", None, &HookCommand::new("/old/capcom", None)).unwrap().unwrap().0.unwrap();
    let new = apply(Agent::Claude, Some(&old));
    let v: Value = serde_json::from_str(&new).unwrap();
    assert_eq!(count_ours(&v, Agent::Claude, "Stop"), 1);
    assert!(v["hooks"]["Stop"][0]["hooks"][0]["command"].as_str().unwrap().starts_with("'/opt/my tools/capcom'"));
}

#[test]
fn broken_or_odd_settings_are_refused_and_left_alone() {
    for (text, want) in [
        ("{\"hooks\": ", "not valid JSON"),
        ("[1]", "the file"),
        ("{\"hooks\": []}", "`hooks` is not an object"),
        ("{\"hooks\": {\"Stop\": {}}}", "`hooks.Stop` is not a list"),
    ] {
        let e = install(Agent::Claude, "/home/me/.claude/settings.json", Some(text), &cmd()).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("/home/me/.claude/settings.json"), "{text}: {e}");
    }
}

#[test]
fn gemini_gets_its_own_events_and_milliseconds() {
    let user = r#"{"theme": "GitHub", "hooks": {"AfterAgent": [{"matcher": "*", "hooks": [{"name": "log", "type": "command", "command": "./log.sh"}]}]}}"#;
    let t = apply(Agent::Gemini, Some(user));
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["theme"], "GitHub");
    assert_eq!(v["hooks"]["AfterAgent"][0]["hooks"][0]["command"], "./log.sh");
    assert_eq!(count_ours(&v, Agent::Gemini, "AfterAgent"), 1);
    assert_eq!(count_ours(&v, Agent::Gemini, "Notification"), 1);
    assert_eq!(v["hooks"]["Notification"][0]["hooks"][0]["timeout"], 5000);
    assert_eq!(count_ours(&v, Agent::Claude, "AfterAgent"), 0, "claude's hook and gemini's are told apart");
    assert_eq!(install(Agent::Gemini, "s", Some(&t), &cmd()).unwrap(), None);
    let back = uninstall(Agent::Gemini, "s", Some(&t)).unwrap().unwrap().0.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&back).unwrap(), serde_json::from_str::<Value>(user).unwrap());
}

const CODEX_USER: &str = "# my Codex settings\nmodel = \"o3\"   # the big one\napproval_policy = \"on-request\"\n\n[mcp_servers.docs]\n# docs server\ncommand = \"npx\"\nargs = [\"-y\", \"docs-mcp\"]\n";

#[test]
fn codex_notify_is_added_keeping_comments_and_tables() {
    let t = apply(Agent::Codex, Some(CODEX_USER));
    assert!(t.contains("# my Codex settings\nmodel = \"o3\"   # the big one\n"), "{t}");
    assert!(t.contains("[mcp_servers.docs]\n# docs server\ncommand = \"npx\""), "{t}");
    let doc: toml_edit::DocumentMut = t.parse().unwrap();
    let notify: Vec<&str> = doc["notify"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(notify, ["/opt/my tools/capcom", "--data-dir", "/home/me/.local/share/capcom", "hook", "codex"]);
    assert!(t.find("notify").unwrap() < t.find("[mcp_servers.docs]").unwrap(), "notify stays a top-level key: {t}");
    assert!(is_installed(Agent::Codex, &t));
    assert_eq!(install(Agent::Codex, "c", Some(&t), &cmd()).unwrap(), None, "installed twice: one notify");
    let back = uninstall(Agent::Codex, "c", Some(&t)).unwrap().unwrap().0.unwrap();
    assert_eq!(back, CODEX_USER, "uninstall gives the file back byte for byte");
}

#[test]
fn codex_users_own_notify_program_is_never_replaced() {
    let user = "notify = [\"python3\", \"/Users/me/notify.py\"]\n";
    let e = install(Agent::Codex, "/home/me/.codex/config.toml", Some(user), &cmd()).unwrap_err().to_string();
    assert!(e.contains("your own program") && e.contains("notify.py"), "{e}");
    assert_eq!(uninstall(Agent::Codex, "c", Some(user)).unwrap(), None, "uninstall leaves the user's notify");
    assert!(install(Agent::Codex, "c", Some("model = \n"), &cmd()).unwrap_err().to_string().contains("not valid TOML"));
}

#[test]
fn copilot_gets_a_file_of_its_own() {
    let t = apply(Agent::Copilot, None);
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["hooks"]["agentStop"][0]["bash"], "'/opt/my tools/capcom' --data-dir /home/me/.local/share/capcom hook copilot agentStop");
    assert_eq!(v["hooks"]["notification"][0]["bash"], "'/opt/my tools/capcom' --data-dir /home/me/.local/share/capcom hook copilot notification");
    assert!(is_installed(Agent::Copilot, &t));
    assert_eq!(install(Agent::Copilot, "f", Some(&t), &cmd()).unwrap(), None);
    assert_eq!(uninstall(Agent::Copilot, "f", Some(&t)).unwrap(), Some(NewText(None)), "uninstall removes capcom's file");
    let theirs = r#"{"version": 1, "hooks": {"agentStop": [{"type": "command", "bash": "./mine.sh"}]}}"#;
    assert!(matches!(install(Agent::Copilot, "f", Some(theirs), &cmd()), Err(InstallError::NotOurs(_))));
    assert_eq!(uninstall(Agent::Copilot, "f", Some(theirs)).unwrap(), None);
}

#[test]
fn settings_live_where_each_agent_reads_them() {
    let home = Path::new("/home/me");
    let proj = Path::new("/src/site");
    let none = |_: &str| None;
    let cases = [
        (Agent::Claude, None, "/home/me/.claude/settings.json"),
        (Agent::Claude, Some(proj), "/src/site/.claude/settings.json"),
        (Agent::Codex, None, "/home/me/.codex/config.toml"),
        (Agent::Gemini, None, "/home/me/.gemini/settings.json"),
        (Agent::Gemini, Some(proj), "/src/site/.gemini/settings.json"),
        (Agent::Copilot, None, "/home/me/.copilot/hooks/capcom.json"),
        (Agent::Copilot, Some(proj), "/src/site/.github/hooks/capcom.json"),
    ];
    for (agent, project, want) in cases {
        assert_eq!(settings_path(agent, home, project, none).unwrap(), PathBuf::from(want), "{agent} {project:?}");
    }
    assert_eq!(settings_path(Agent::Codex, home, Some(proj), none), Err(InstallError::NoProjectFile));
    let env = |k: &str| (k == "CODEX_HOME").then(|| "/etc/codex".to_string());
    assert_eq!(settings_path(Agent::Codex, home, None, env).unwrap(), PathBuf::from("/etc/codex/config.toml"));
}

#[test]
fn the_diff_shows_only_what_changes() {
    assert_eq!(diff("a\nb\nc\n", "a\nb\nx\nc\n"), "+ x\n");
    assert_eq!(diff("a\nb\n", "a\n"), "- b\n");
    assert_eq!(diff("", "a\n"), "+ a\n");
    assert_eq!(diff("same\n", "same\n"), "");
}

#[test]
fn commands_are_quoted_for_the_shell() {
    for (word, want) in [("capcom", "capcom"), ("/a b/capcom", "'/a b/capcom'"), ("it's", r"'it'\''s'"), ("", "''")] {
        assert_eq!(shell_quote(word), want);
        assert_eq!(shell_words(&format!("{} hook", shell_quote(word))), [word, "hook"], "{word}");
    }
    assert_eq!(shell_words(r#"a "b c" d\ e"#), ["a", "b c", "d e"]);
    assert!(is_ours("'/a b/capcom' hook claude", Agent::Claude));
    assert!(is_ours("capcom --data-dir /d hook claude", Agent::Claude));
    assert!(!is_ours("capcom hook gemini", Agent::Claude));
    assert!(!is_ours("notcapcom hook claude", Agent::Claude));
    assert!(!is_ours("echo capcom hook claude", Agent::Claude));
}
