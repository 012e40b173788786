use super::*;
use proptest::prelude::*;

/// The vendors' documented payloads (tests/fixtures/hooks/, each naming its source).
fn fixture(name: &str) -> (Agent, Vec<u8>) {
    let path = format!("{}/tests/fixtures/hooks/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(v["source"].as_str().is_some_and(|s| !s.is_empty()), "{name} names its source");
    let agent = Agent::parse(v["agent"].as_str().unwrap()).unwrap();
    (agent, serde_json::to_vec(&v["payload"]).unwrap())
}

#[test]
fn documented_payloads_mean_what_the_agents_say() {
    use Meaning::*;
    // (fixture, hint, session, folder, event, meaning, message)
    type Case = (&'static str, Option<&'static str>, &'static str, Option<&'static str>, &'static str, Meaning, Option<&'static str>);
    let cases: &[Case] = &[
        ("claude_notification_permission", None, "abc123", Some("/Users/..."), "Notification:permission_prompt", NeedsPermission, Some("Claude needs your permission to use Bash")),
        ("claude_notification_elicitation", None, "abc123", Some("/Users/..."), "Notification:elicitation_dialog", Asks, Some("Which database should the migration target?")),
        ("claude_notification_idle", None, "abc123", Some("/Users/..."), "Notification:idle_prompt", Notice, None),
        ("claude_stop", None, "abc123", Some("/Users/..."), "Stop", Finished, Some("I've completed the refactoring. Here's a summary...")),
        ("claude_subagent_stop", None, "abc123", Some("/Users/..."), "SubagentStop", Activity, None),
        ("codex_agent_turn_complete", None, "b5f6c1c2-1111-2222-3333-444455556666", Some("/Users/example/project"), "agent-turn-complete", Finished, Some("Rename complete and verified `cargo build` succeeds.")),
        ("codex_agent_turn_start", None, "b5f6c1c2-1111-2222-3333-444455556666", Some("/Users/example/project"), "agent-turn-start", Activity, None),
        ("gemini_notification", None, "8f3a2c1e-5b7d-4e9f-a1c2-3d4e5f6a7b8c", Some("/home/user/project"), "Notification:ToolPermission", NeedsPermission, Some("Allow run_shell_command: npm test?")),
        ("gemini_after_agent", None, "8f3a2c1e-5b7d-4e9f-a1c2-3d4e5f6a7b8c", Some("/home/user/project"), "AfterAgent", Finished, Some("The test now passes: the date parser handles time zones.")),
        ("copilot_agent_stop", Some("agentStop"), "01HW2X3Y4Z5", Some("/path/to/project"), "agentStop", Finished, None),
        ("copilot_agent_stop", None, "01HW2X3Y4Z5", Some("/path/to/project"), "agentStop", Finished, None),
        ("copilot_notification", Some("notification"), "01HW2X3Y4Z5", Some("/path/to/project"), "Notification:permission_prompt", NeedsPermission, Some("Copilot wants to run: npm install")),
    ];
    for (name, hint, session, folder, event, meaning, message) in cases {
        let (agent, bytes) = fixture(name);
        let e = parse(agent, &bytes, *hint).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(e.session_id, *session, "{name}");
        assert_eq!(e.folder.as_deref(), *folder, "{name}");
        assert_eq!(e.event, *event, "{name}");
        assert_eq!(e.meaning, *meaning, "{name}");
        assert_eq!(e.message.as_deref(), *message, "{name}");
    }
}

#[test]
fn only_the_listed_fields_are_kept() {
    // Prompts, transcripts and tool details never leave `parse`.
    for name in ["gemini_after_agent", "codex_agent_turn_complete", "claude_stop", "gemini_notification"] {
        let (agent, bytes) = fixture(name);
        let kept = serde_json::to_string(&parse(agent, &bytes, None).unwrap()).unwrap();
        for secret in ["transcript", "Fix the failing test", "Rename `foo` to `bar` and update", "run_shell_command\"", ".jsonl"] {
            assert!(!kept.contains(secret), "{name} kept {secret:?}: {kept}");
        }
    }
}

#[test]
fn bad_payloads_are_refused_with_a_reason() {
    let big = format!("{{\"session_id\":\"a\",\"message\":\"{}\"}}", "x".repeat(MAX_PAYLOAD));
    let cases: Vec<(Agent, Vec<u8>, PayloadError)> = vec![
        (Agent::Claude, big.clone().into_bytes(), PayloadError::TooLarge(big.len())),
        (Agent::Claude, b"".to_vec(), PayloadError::Empty),
        (Agent::Claude, b"  \n".to_vec(), PayloadError::Empty),
        (Agent::Claude, b"[1,2]".to_vec(), PayloadError::NotObject),
        (Agent::Claude, b"\"Stop\"".to_vec(), PayloadError::NotObject),
        (Agent::Claude, br#"{"hook_event_name":"Stop"}"#.to_vec(), PayloadError::NoSession("session_id")),
        (Agent::Claude, br#"{"session_id":"  "}"#.to_vec(), PayloadError::NoSession("session_id")),
        (Agent::Claude, br#"{"session_id":42}"#.to_vec(), PayloadError::NoSession("session_id")),
        (Agent::Codex, br#"{"type":"agent-turn-complete"}"#.to_vec(), PayloadError::NoSession("thread-id")),
        (Agent::Copilot, br#"{"stopReason":"end_turn"}"#.to_vec(), PayloadError::NoSession("sessionId")),
        (Agent::Claude, br#"{"session_id":"a\nb"}"#.to_vec(), PayloadError::BadSession),
        (Agent::Claude, format!(r#"{{"session_id":"{}"}}"#, "s".repeat(201)).into_bytes(), PayloadError::BadSession),
    ];
    for (agent, bytes, want) in cases {
        assert_eq!(parse(agent, &bytes, None), Err(want.clone()), "{}", String::from_utf8_lossy(&bytes[..bytes.len().min(60)]));
    }
    assert!(matches!(parse(Agent::Claude, b"{not json", None), Err(PayloadError::NotJson(_))));
}

#[test]
fn folders_must_be_absolute_and_messages_are_capped() {
    let e = parse(Agent::Claude, br#"{"session_id":"s","cwd":"relative/dir","hook_event_name":"Stop"}"#, None).unwrap();
    assert_eq!(e.folder, None);
    let e = parse(Agent::Claude, br#"{"session_id":"s","cwd":"/home/me/site/","hook_event_name":"Stop"}"#, None).unwrap();
    assert_eq!(e.folder.as_deref(), Some("/home/me/site"));
    let long = "word ".repeat(300);
    let body = serde_json::json!({"session_id": "s", "hook_event_name": "Stop", "last_assistant_message": format!("Done.\n\n{long}")});
    let e = parse(Agent::Claude, body.to_string().as_bytes(), None).unwrap();
    let m = e.message.unwrap();
    assert_eq!(m.chars().count(), MAX_MESSAGE);
    assert!(m.starts_with("Done. word word") && m.ends_with('…'), "{m}");
    assert_eq!(cap_message("  a\tb\u{7}c \n d "), "a bc d");
}

#[test]
fn agents_are_named_as_the_user_types_them() {
    for (name, want) in [("claude", Some(Agent::Claude)), ("Claude-Code", Some(Agent::Claude)), ("codex", Some(Agent::Codex)), ("gemini", Some(Agent::Gemini)), ("copilot", Some(Agent::Copilot)), ("aider", None), ("", None)] {
        assert_eq!(Agent::parse(name), want, "{name}");
    }
}

proptest! {
    /// Whatever a hook sends, `parse` answers (an event or a reason) and never panics.
    #[test]
    fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..512), agent in 0usize..4) {
        let _ = parse(Agent::ALL[agent], &bytes, None);
    }

    #[test]
    fn any_object_with_a_session_is_kept_bounded(session in "[a-zA-Z0-9-]{1,40}", msg in ".{0,2000}", event in "[A-Za-z]{0,30}") {
        let body = serde_json::json!({"session_id": session, "hook_event_name": event, "last_assistant_message": msg, "message": msg});
        let e = parse(Agent::Claude, body.to_string().as_bytes(), None).unwrap();
        prop_assert!(e.message.as_deref().is_none_or(|m| m.chars().count() <= MAX_MESSAGE));
        prop_assert!(e.event.chars().count() <= 60);
    }
}
