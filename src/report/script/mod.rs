//! Spoken scripts: pure functions of task views and "now".
//!
//! No I/O and no clock reads. Every answer capcom says is written here, for
//! the ear: numbers and durations in words, paths grouped into "three files in
//! components", lists of more than five cut with "and three more", the worst
//! news first.

mod changelog;
mod questions;
pub mod sessions;
mod status;
#[cfg(test)]
mod tests;
mod workflow;

pub use self::{changelog::*, questions::*, status::*, workflow::*};
use super::text::{files_phrase, first_sentences, path_word, speakable};
use super::view::TaskView;
use super::words::{self, capitalize, count_of, number};
use crate::store::TaskState;
use chrono::{DateTime, Utc};

// ---------------------------------------------------------------------------
// Pieces shared by the scripts

/// A task's title in plain words, without a closing period.
pub fn plain_title(title: &str) -> String {
    let t = speakable(title);
    let t = t.trim().trim_end_matches(['.', '!', ';', ':', ',']).trim();
    if t.is_empty() { "an untitled task".to_string() } else { t.to_string() }
}

/// An agent's name as said: "copilot" → "Copilot", "claude-code" → "Claude Code".
pub fn agent_name(agent: &str) -> String {
    let known = match agent.to_ascii_lowercase().as_str() {
        "copilot" | "github-copilot" | "copilot-swe-agent" => Some("Copilot"),
        "claude" | "claude-code" => Some("Claude"),
        "codex" | "codex-cli" => Some("Codex"),
        "codex-cloud" => Some("Codex cloud"),
        "jules" => Some("Jules"),
        "cursor" | "cursor-agent" => Some("Cursor"),
        "gemini" | "gemini-cli" => Some("Gemini"),
        "aider" => Some("Aider"),
        _ => None,
    };
    if let Some(k) = known {
        return k.to_string();
    }
    speakable(agent).split([' ', '-', '_']).filter(|w| !w.is_empty()).map(capitalize).collect::<Vec<_>>().join(" ")
}

/// "task four, Upgrade Tailwind"
fn named(v: &TaskView) -> String {
    format!("{}, {}", words::task_name(v.id), plain_title(&v.title))
}

/// "Task four, Upgrade Tailwind"
fn named_cap(v: &TaskView) -> String {
    capitalize(&named(v))
}

/// A check's name as said: "typecheck" → "type check".
fn check_name(name: &str) -> String {
    match name {
        "typecheck" | "type-check" | "tsc" => "type check".to_string(),
        "e2e" => "end to end".to_string(),
        other => speakable(other).replace(['-', '_'], " "),
    }
}

/// "Checks are green." / "The lint check is red." / "The lint and test checks are red." / "No checks ran."
fn checks_sentence(v: &TaskView) -> String {
    if v.checks.is_empty() {
        return "No checks ran.".to_string();
    }
    let red: Vec<String> = v.red_checks().iter().map(|c| check_name(c)).collect();
    match red.len() {
        0 => "Checks are green.".to_string(),
        1 => format!("The {} check is red.", red[0]),
        _ => format!("The {} checks are red.", words::join_capped(&red)),
    }
}

/// Why a task needs attention, as a clause: "the lint check is red", "it changed files outside its scope, one file in app".
fn attention_why(v: &TaskView) -> String {
    let mut why: Vec<String> = Vec::new();
    if v.secrets > 0 {
        why.push(format!("the secret scan flagged {}", count_of(v.secrets as u64, "possible secret")));
    }
    if !v.scope_violations.is_empty() {
        let place = files_phrase(&v.scope_violations, None).unwrap_or_default();
        why.push(format!("it changed files outside its scope, {place}"));
    }
    let red: Vec<String> = v.red_checks().iter().map(|c| check_name(c)).collect();
    match red.len() {
        0 => {}
        1 => why.push(format!("the {} check is red", red[0])),
        _ => why.push(format!("the {} checks are red", words::join_capped(&red))),
    }
    if why.is_empty()
        && let Some(r) = v.reason.as_deref().map(reason_clause).filter(|r| !r.is_empty())
    {
        why.push(r);
    }
    if why.is_empty() {
        why.push(match v.state {
            TaskState::Failed => "the agent stopped without finishing".to_string(),
            _ => "it needs a look".to_string(),
        });
    }
    words::join_and(&why)
}

/// A recorded reason as a clause: first sentence, cleaned, no closing period, lower-cased start.
fn reason_clause(reason: &str) -> String {
    let r = first_sentences(&speakable(reason), 1);
    let r = r.trim().trim_end_matches(['.', '!']).trim();
    // Lower-case a plain capitalised first word ("Agent exited"), not names or acronyms ("GitHub", "CI").
    let first_word = r.split_whitespace().next().unwrap_or("");
    let mut c = first_word.chars();
    match c.next() {
        Some(f) if f.is_uppercase() && !c.as_str().is_empty() && c.as_str().chars().all(|x| x.is_lowercase()) => {
            f.to_lowercase().collect::<String>() + &r[f.len_utf8()..]
        }
        _ => r.to_string(),
    }
}

/// How bad a task's state is, for ordering; bigger is worse.
pub fn severity(v: &TaskView) -> u8 {
    if v.secrets > 0 {
        return 6;
    }
    if !v.scope_violations.is_empty() {
        return 5;
    }
    match v.state {
        TaskState::Failed => 4,
        TaskState::NeedsAttention if !v.red_checks().is_empty() => 3,
        TaskState::NeedsAttention => 2,
        TaskState::Ready => 1,
        _ => 0,
    }
}

/// "Pull request forty-one changes three files in components." and its variants.
fn where_sentence(v: &TaskView) -> Option<String> {
    let files = files_phrase(&v.paths, v.files_changed);
    match (v.pr, files) {
        (Some(pr), Some(f)) => Some(format!("{} changes {f}.", capitalize(&words::pull_request(pr)))),
        (Some(pr), None) => Some(format!("It's on {}.", words::pull_request(pr))),
        (None, Some(f)) => Some(match &v.branch {
            Some(b) => format!("Its branch, {}, changes {f}.", branch_words(b)),
            None => format!("It changes {f}."),
        }),
        (None, None) => v.branch.as_ref().map(|b| format!("It's on branch {}, with no pull request yet.", branch_words(b))),
    }
}

/// A branch as said: its last part, without the task number capcom puts in front.
/// "capcom/4-upgrade-tailwind" → "upgrade tailwind".
fn branch_words(branch: &str) -> String {
    let w = path_word(branch);
    let mut parts: Vec<&str> = w.split(' ').collect();
    if parts.len() > 1 && parts[0].chars().all(|c| c.is_ascii_digit()) {
        parts.remove(0);
    }
    speakable(&parts.join(" "))
}

fn by_agent(v: &TaskView) -> String {
    v.agent.as_deref().map(|a| format!(", by {}", agent_name(a))).unwrap_or_default()
}

fn newest_first(a: &&TaskView, b: &&TaskView) -> std::cmp::Ordering {
    b.done_at().cmp(&a.done_at()).then(b.id.cmp(&a.id))
}

fn worst_first(a: &&TaskView, b: &&TaskView) -> std::cmp::Ordering {
    severity(b).cmp(&severity(a)).then(newest_first(a, b))
}

fn is_attention(v: &TaskView) -> bool {
    matches!(v.state, TaskState::NeedsAttention | TaskState::Failed)
}

fn is_pending(v: &TaskView) -> bool {
    matches!(v.state, TaskState::Queued | TaskState::Scheduled | TaskState::Held)
}

/// One attention item: "Task six, Fix the header, by Cursor: the lint check is red."
fn attention_item(v: &TaskView) -> String {
    let verb = if v.state == TaskState::Failed { ", failed" } else { "" };
    format!("{}{}{verb}: {}.", named_cap(v), by_agent(v), attention_why(v))
}

/// Ready, but no automated check ran on it: untested.
fn is_untested(v: &TaskView) -> bool {
    v.state == TaskState::Ready && v.checks.is_empty()
}

/// One finished-and-ready item, over a few short sentences.
fn ready_item(v: &TaskView, now: DateTime<Utc>) -> String {
    let mut s = format!("{}{}", named_cap(v), by_agent(v));
    if is_untested(v) {
        s.push_str(", ready, but untested");
    }
    match v.elapsed(now) {
        Some(d) => s.push_str(&format!(", took {}.", words::duration(d))),
        None => s.push('.'),
    }
    s.push(' ');
    s.push_str(&checks_sentence(v));
    if let Some(w) = where_sentence(v) {
        s.push(' ');
        s.push_str(&w);
    }
    s
}

/// Append "And three more are ready." style tails.
/// `what` in the plural ("are ready", "need attention"); one more takes the singular verb.
fn more_sentence(rest: usize, what: &str) -> Option<String> {
    let what = if rest == 1 {
        match what.split_once(' ') {
            Some(("are", tail)) => format!("is {tail}"),
            Some(("need", tail)) => format!("needs {tail}"),
            _ => what.to_string(),
        }
    } else {
        what.to_string()
    };
    (rest > 0).then(|| format!("And {} more {what}.", number(rest as u64)))
}

fn running_tail(tasks: &[TaskView]) -> Option<String> {
    let running = tasks.iter().filter(|v| v.state.is_active()).count() as u64;
    match running {
        0 => None,
        1 => Some("One more is still running.".to_string()),
        n => Some(format!("{} more are still running.", words::number_capitalized(n))),
    }
}
