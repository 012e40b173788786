//! What capcom says about the agent sessions the user runs themselves (heard through their
//! hooks): the notice when one starts waiting, and the status answer's lines for those that
//! wait and those that finished since the user last asked.

use super::speakable;
use crate::report::words::{self, capitalize};
use crate::store::OutsideSession;

/// The most sessions named one by one in a status answer.
const NAMED: usize = 3;

/// "Claude in site": the agent and the repo, else the folder's last part.
pub fn session_name(s: &OutsideSession) -> String {
    let agent = super::agent_name(&s.agent);
    let place = s.repo.clone().or_else(|| {
        s.folder.as_deref().and_then(|f| std::path::Path::new(f).file_name()).and_then(|n| n.to_str()).map(String::from)
    });
    match place.map(|p| speakable_words(&p)) {
        Some(p) if !p.trim().is_empty() => format!("{agent} in {p}"),
        _ => format!("a {agent} session"),
    }
}

/// A name said as words: "my_api-v2" → "my api v2".
fn speakable_words(name: &str) -> String {
    name.split(['_', '-', '.']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A message as a sentence: "Claude needs your permission to use Bash." (or nothing).
fn said(message: Option<&str>) -> Option<String> {
    let m = speakable(message?);
    let m = m.trim();
    if m.is_empty() {
        return None;
    }
    Some(if m.ends_with(['.', '?', '!']) { m.to_string() } else { format!("{m}.") })
}

fn asks(s: &OutsideSession) -> bool {
    s.last_event.contains("elicitation")
}

/// The notice said when a session starts waiting: "Claude in site needs your permission:
/// Claude needs your permission to use Bash." / "Codex in api asks: Which database?"
pub fn waiting_notice(s: &OutsideSession) -> String {
    let who = capitalize(&session_name(s));
    let what = if asks(s) { "asks" } else { "needs your permission" };
    match said(s.last_message.as_deref()) {
        Some(m) => format!("{who} {what}: {m}"),
        None if asks(s) => format!("{who} asks you something."),
        None => format!("{who} needs your permission."),
    }
}

/// The status answer's line for sessions waiting for the user, if any.
pub fn waiting_sentence(waiting: &[OutsideSession]) -> Option<String> {
    match waiting {
        [] => None,
        [one] => Some(waiting_notice(one)),
        many => {
            let (shown, more) = words::cap_at(many, NAMED);
            let mut out = vec![format!("{} sessions wait for you.", words::number_capitalized(many.len() as u64))];
            out.extend(shown.iter().map(waiting_notice));
            out.extend(more.map(|m| format!("{}.", capitalize(&m))));
            Some(out.join(" "))
        }
    }
}

/// "Claude in api finished: All tests pass."
pub fn finished_notice(s: &OutsideSession) -> String {
    let who = capitalize(&session_name(s));
    match said(s.last_message.as_deref()) {
        Some(m) => format!("{who} finished: {m}"),
        None => format!("{who} finished."),
    }
}

/// The status answer's line for sessions that finished since the user last asked, if any.
pub fn finished_sentence(finished: &[OutsideSession]) -> Option<String> {
    if finished.is_empty() {
        return None;
    }
    let (shown, more) = words::cap_at(finished, NAMED);
    let mut out: Vec<String> = shown.iter().map(finished_notice).collect();
    if let Some(m) = more {
        out.push(format!("{} finished too.", capitalize(&m)));
    }
    Some(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(agent: &str, repo: Option<&str>, folder: Option<&str>, event: &str, message: Option<&str>) -> OutsideSession {
        OutsideSession {
            agent: agent.into(),
            session_id: "x".into(),
            folder: folder.map(String::from),
            repo: repo.map(String::from),
            last_event: event.into(),
            last_message: message.map(String::from),
            waiting: true,
            finished_at: None,
            events: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn notices_name_the_agent_and_the_place() {
        let cases = [
            (s("claude", Some("site"), Some("/src/site"), "Notification:permission_prompt", Some("Claude needs your permission to use Bash")), "Claude in site needs your permission: Claude needs your permission to use Bash."),
            (s("codex", None, Some("/home/me/my_api"), "Notification:elicitation_dialog", Some("Which database?")), "Codex in my api asks: Which database?"),
            (s("gemini", None, None, "Notification:ToolPermission", None), "A Gemini session needs your permission."),
            (s("copilot", None, Some("/"), "notification:elicitation_dialog", None), "A Copilot session asks you something."),
            (s("claude", None, Some("/Users/..."), "Notification:permission_prompt", None), "A Claude session needs your permission."),
        ];
        for (session, want) in cases {
            assert_eq!(waiting_notice(&session), want);
        }
    }

    #[test]
    fn status_lines_for_waiting_and_finished_sessions() {
        assert_eq!(waiting_sentence(&[]), None);
        assert_eq!(finished_sentence(&[]), None);
        let api = s("claude", Some("api"), None, "Stop", Some("All tests pass"));
        assert_eq!(finished_sentence(std::slice::from_ref(&api)).unwrap(), "Claude in api finished: All tests pass.");
        let two = [s("claude", Some("site"), None, "Notification:permission_prompt", Some("May I run npm install?")), s("codex", Some("api"), None, "Notification:elicitation_dialog", None)];
        assert_eq!(
            waiting_sentence(&two).unwrap(),
            "Two sessions wait for you. Claude in site needs your permission: May I run npm install? Codex in api asks you something."
        );
        let five: Vec<OutsideSession> = (0..5).map(|_| api.clone()).collect();
        let said = finished_sentence(&five).unwrap();
        assert_eq!(said.matches("finished: All tests pass.").count(), 3, "{said}");
        assert!(said.ends_with("finished too."), "{said}");
    }
}
