//! Spoken scripts: pure functions of task views and "now".
//!
//! No I/O and no clock reads. Every answer capcom says is written here, for
//! the ear: numbers and durations in words, paths grouped into "three files in
//! components", lists of more than five cut with "and three more", the worst
//! news first.

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
fn more_sentence(rest: usize, what: &str) -> Option<String> {
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

// ---------------------------------------------------------------------------
// "What's finished?"

/// The answer to "what's finished?": how many, each ready task (title, agent,
/// time taken, checks, PR or branch, files), then what needs attention and why,
/// worst first, then how many are still running.
pub fn finished(tasks: &[TaskView], now: DateTime<Utc>) -> String {
    let mut ready: Vec<&TaskView> = tasks.iter().filter(|v| v.state == TaskState::Ready).collect();
    ready.sort_by(newest_first);
    let mut attention: Vec<&TaskView> = tasks.iter().filter(|v| is_attention(v)).collect();
    attention.sort_by(worst_first);

    let mut out: Vec<String> = Vec::new();
    let total = (ready.len() + attention.len()) as u64;
    match (ready.len(), attention.len()) {
        (0, 0) => out.push("Nothing is finished yet.".to_string()),
        (r, 0) => out.push(if r == 1 {
            "One task is finished and ready to merge.".to_string()
        } else {
            format!("{} tasks are finished and ready to merge.", words::number_capitalized(r as u64))
        }),
        (0, a) => out.push(if a == 1 {
            "Nothing is ready to merge. One task needs your attention.".to_string()
        } else {
            format!("Nothing is ready to merge. {} tasks need your attention.", words::number_capitalized(a as u64))
        }),
        (r, _) => out.push(format!(
            "{} tasks are finished. {} ready to merge.",
            words::number_capitalized(total),
            if r == 1 { "One is".to_string() } else { format!("{} are", words::number_capitalized(r as u64)) }
        )),
    }

    let (shown, _) = words::cap(&ready);
    for v in &shown {
        out.push(ready_item(v, now));
    }
    out.extend(more_sentence(ready.len() - shown.len(), "are ready"));

    if !attention.is_empty() {
        if !ready.is_empty() {
            out.push(if attention.len() == 1 {
                "One needs your attention.".to_string()
            } else {
                format!("{} need your attention.", words::number_capitalized(attention.len() as u64))
            });
        }
        let (shown, _) = words::cap(&attention);
        for v in &shown {
            out.push(attention_item(v));
        }
        out.extend(more_sentence(attention.len() - shown.len(), "need attention"));
    }
    if total == 0 {
        let running = tasks.iter().filter(|v| v.state.is_active()).count() as u64;
        out.push(match running {
            0 => "Nothing is running either.".to_string(),
            1 => "One task is still running.".to_string(),
            n => format!("{} tasks are still running.", words::number_capitalized(n)),
        });
    } else {
        out.extend(running_tail(tasks));
    }
    out.join(" ")
}

// ---------------------------------------------------------------------------
// "What's running?"

/// The answer to "what's running?": each running task with its agent, minutes
/// so far and last progress line; then how many wait in the queue.
pub fn running(tasks: &[TaskView], now: DateTime<Utc>) -> String {
    let mut active: Vec<&TaskView> = tasks.iter().filter(|v| v.state.is_active()).collect();
    // Longest-running first: the one most likely to be stuck.
    active.sort_by(|a, b| a.started.or(a.created).cmp(&b.started.or(b.created)).then(a.id.cmp(&b.id)));
    let pending = tasks.iter().filter(|v| is_pending(v)).count() as u64;

    let mut out: Vec<String> = Vec::new();
    out.push(match active.len() {
        0 => "Nothing is running right now.".to_string(),
        1 => "One task is running.".to_string(),
        n => format!("{} tasks are running.", words::number_capitalized(n as u64)),
    });
    let (shown, _) = words::cap(&active);
    for v in &shown {
        out.push(running_item(v, now));
    }
    out.extend(more_sentence(active.len() - shown.len(), "are running"));
    match pending {
        0 => {}
        1 => out.push("One more is waiting to start.".to_string()),
        n => out.push(format!("{} more are waiting to start.", words::number_capitalized(n))),
    }
    // Those that wait for an overlapping task, and for which.
    for v in tasks.iter().filter(|v| v.state == TaskState::Queued && !v.waiting_for.is_empty()).take(3) {
        out.push(waiting_sentence(v, &format!("{},", named_cap(v))));
    }
    if active.is_empty() && pending == 0 {
        let ready = tasks.iter().filter(|v| v.state == TaskState::Ready).count() as u64;
        if ready > 0 {
            out.push(format!("{} ready to merge.", if ready == 1 { "One task is".to_string() } else { format!("{} tasks are", words::number_capitalized(ready)) }));
        }
    }
    out.join(" ")
}

/// "Task seven, Restyle the card, waits for task three, which works in components too; it
/// starts when that one is merged or cancelled."
fn waiting_sentence(v: &TaskView, name: &str) -> String {
    let whom: Vec<String> = v.waiting_for.iter().map(|t| format!("task {}", number(*t as u64))).collect();
    let whom = words::join_and(&whom);
    let place = match v.waiting_at.as_deref() {
        Some("the whole repo") | None => String::new(),
        // Said aloud: the top folder, not a path.
        Some(at) => format!(", which works in {} too", at.split('/').next().unwrap_or(at)),
    };
    let that = if v.waiting_for.len() == 1 { "that one is" } else { "they are" };
    format!("{name} waits for {whom}{place}; it starts when {that} merged or cancelled.")
}

/// "It conflicts with task six in button.js: merging one will need the other rebased."
fn conflict_sentences(v: &TaskView) -> Vec<String> {
    v.conflicts
        .iter()
        .map(|(t, files)| {
            let place = match files.as_slice() {
                [] => String::new(),
                [one] => format!(" in {}", one.rsplit('/').next().unwrap_or(one)),
                many => format!(" in {} files", number(many.len() as u64)),
            };
            format!("It conflicts with task {}{place}: merging one will need the other rebased.", number(*t as u64))
        })
        .collect()
}

fn running_item(v: &TaskView, now: DateTime<Utc>) -> String {
    let mut s = format!("{}{}", named_cap(v), by_agent(v));
    if let Some(d) = v.elapsed(now) {
        s.push_str(&format!(", {} so far", words::duration(d)));
    }
    if v.state == TaskState::Checking {
        s.push_str(". The agent is done and the checks are running.");
    } else {
        s.push('.');
        if let Some(p) = &v.last_progress {
            let p = first_sentences(&speakable(p), 1);
            if !p.is_empty() {
                let p = p.trim_end_matches(['.', '!', ':', ';']);
                s.push_str(&format!(" Last update: {p}."));
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------
// "What failed?"

/// The answer to "what failed?": failed tasks and those needing attention, worst first.
pub fn failed(tasks: &[TaskView], _now: DateTime<Utc>) -> String {
    let mut bad: Vec<&TaskView> = tasks.iter().filter(|v| is_attention(v)).collect();
    bad.sort_by(worst_first);
    let failed_n = bad.iter().filter(|v| v.state == TaskState::Failed).count() as u64;
    let attention_n = bad.len() as u64 - failed_n;
    let mut out: Vec<String> = Vec::new();
    out.push(match (failed_n, attention_n) {
        (0, 0) => "Nothing has failed.".to_string(),
        (f, 0) => format!("{} failed.", if f == 1 { "One task".to_string() } else { format!("{} tasks", words::number_capitalized(f)) }),
        (0, a) => format!(
            "Nothing failed outright, but {} your attention.",
            if a == 1 { "one task needs".to_string() } else { format!("{} tasks need", number(a)) }
        ),
        (f, a) => format!(
            "{} failed and {} your attention.",
            if f == 1 { "One task".to_string() } else { format!("{} tasks", words::number_capitalized(f)) },
            if a == 1 { "one needs".to_string() } else { format!("{} need", number(a)) }
        ),
    });
    let (shown, _) = words::cap(&bad);
    for v in &shown {
        out.push(attention_item(v));
    }
    out.extend(more_sentence(bad.len() - shown.len(), "need attention"));
    out.join(" ")
}

/// The answer for a status filter ("finished", "running", "failed", "all").
pub fn status(tasks: &[TaskView], filter: crate::understand::StatusFilter, now: DateTime<Utc>) -> String {
    use crate::understand::StatusFilter;
    match filter {
        StatusFilter::Finished => finished(tasks, now),
        StatusFilter::Running => running(tasks, now),
        StatusFilter::Failed => failed(tasks, now),
        StatusFilter::All => overview(tasks, now),
    }
}

/// Everything in a few sentences: counts per state, then the worst item and what is ready.
pub fn overview(tasks: &[TaskView], now: DateTime<Utc>) -> String {
    let open: Vec<&TaskView> = tasks.iter().filter(|v| !v.state.is_closed()).collect();
    if open.is_empty() {
        return "No open tasks. Give me a brief whenever you're ready.".to_string();
    }
    let count = |pred: &dyn Fn(&TaskView) -> bool| open.iter().filter(|v| pred(v)).count() as u64;
    let ready = count(&|v| v.state == TaskState::Ready);
    let attention = count(&|v| is_attention(v));
    let running = count(&|v| v.state.is_active());
    let pending = count(&|v| is_pending(v));
    let mut parts: Vec<String> = Vec::new();
    if ready > 0 {
        parts.push(format!("{} ready to merge", number(ready)));
    }
    if attention > 0 {
        parts.push(format!("{} needing attention", number(attention)));
    }
    if running > 0 {
        parts.push(format!("{} running", number(running)));
    }
    if pending > 0 {
        parts.push(format!("{} waiting to start", number(pending)));
    }
    let mut out = vec![format!(
        "{} open: {}.",
        if open.len() == 1 { "One task".to_string() } else { format!("{} tasks", words::number_capitalized(open.len() as u64)) },
        words::join_and(&parts)
    )];
    let mut bad: Vec<&TaskView> = open.iter().copied().filter(|v| is_attention(v)).collect();
    bad.sort_by(worst_first);
    let (shown, _) = words::cap(&bad);
    for v in &shown {
        out.push(attention_item(v));
    }
    out.extend(more_sentence(bad.len() - shown.len(), "need attention"));
    let mut good: Vec<&TaskView> = open.iter().copied().filter(|v| v.state == TaskState::Ready).collect();
    good.sort_by(newest_first);
    if !good.is_empty() {
        let names: Vec<String> = good
            .iter()
            .map(|v| if is_untested(v) { format!("{} (ready, but untested)", plain_title(&v.title)) } else { plain_title(&v.title) })
            .collect();
        out.push(format!("Ready: {}.", words::join_capped(&names)));
    }
    let _ = now;
    out.join(" ")
}

// ---------------------------------------------------------------------------
// Held tasks: questions waiting for the user

/// Tasks held with a question, said after any status answer: "One task waits for your
/// answer: task three, Add dark mode. Which files should change? Answer it, or say
/// "dispatch it anyway"." `None` when no task is held.
pub fn held_sentence(tasks: &[TaskView]) -> Option<String> {
    let mut held: Vec<&TaskView> = tasks.iter().filter(|v| v.state == TaskState::Held).collect();
    if held.is_empty() {
        return None;
    }
    held.sort_by_key(|v| v.id);
    let (shown, _) = words::cap(&held);
    let question = |v: &TaskView| {
        let q = v.reason.as_deref().map(speakable).unwrap_or_default();
        let q = q.trim();
        if q.is_empty() {
            "It needs a word from you before it starts.".to_string()
        } else if q.ends_with(['.', '?', '!']) {
            capitalize(q)
        } else {
            format!("{}.", capitalize(q))
        }
    };
    let mut out: Vec<String> = Vec::new();
    if held.len() == 1 {
        let v = held[0];
        out.push(format!("One task waits for your answer: {}. {}", named(v), question(v)));
        out.push("Answer it, or say \"dispatch it anyway\".".to_string());
    } else {
        out.push(format!("{} tasks wait for your answer.", words::number_capitalized(held.len() as u64)));
        for v in &shown {
            out.push(format!("{}: {}", named_cap(v), question(v)));
        }
        out.extend(more_sentence(held.len() - shown.len(), "wait for an answer"));
        out.push(format!("To start one as it is, say \"dispatch {} anyway\".", words::task_name(shown[0].id)));
    }
    Some(out.join(" "))
}

// ---------------------------------------------------------------------------
// One task

/// One task's status, in a few sentences.
pub fn task_status(v: &TaskView, now: DateTime<Utc>) -> String {
    // "Task four, Upgrade Tailwind," — the title is an aside, closed by a comma before the verb.
    let name = format!("{},", named_cap(v));
    let agent = v.agent.as_deref().map(agent_name);
    let mut out: Vec<String> = Vec::new();
    match v.state {
        TaskState::Held => {
            let why = v.reason.as_deref().map(reason_clause).filter(|r| !r.is_empty());
            out.push(match why {
                Some(w) => format!("{name} is on hold: {w}."),
                None => format!("{name} is on hold, waiting for your answer."),
            });
        }
        TaskState::Queued if !v.waiting_for.is_empty() => out.push(waiting_sentence(v, &name)),
        TaskState::Queued => out.push(match &agent {
            Some(a) => format!("{name} is queued for {a}."),
            None => format!("{name} is queued."),
        }),
        TaskState::Scheduled => out.push(format!("{name} is scheduled and has not started yet.")),
        TaskState::Running | TaskState::Checking => out.push(running_item(v, now)),
        TaskState::Ready if is_untested(v) => {
            out.push(format!("{name} is ready, but untested: no automated check ran on it."));
            out.extend(where_sentence(v));
        }
        TaskState::Ready => {
            out.push(format!("{name} is ready to merge."));
            out.push(checks_sentence(v));
            out.extend(where_sentence(v));
            out.extend(conflict_sentences(v));
            if let Some(d) = v.elapsed(now) {
                out.push(match &agent {
                    Some(a) => format!("{a} took {}.", words::duration(d)),
                    None => format!("It took {}.", words::duration(d)),
                });
            }
            out.extend(spend_sentence(v));
        }
        TaskState::NeedsAttention | TaskState::Failed => {
            let what = if v.state == TaskState::Failed { "failed" } else { "needs your attention" };
            out.push(format!("{name} {what}: {}.", attention_why(v)));
            if !v.checks.is_empty() && v.red_checks().is_empty() {
                out.push(checks_sentence(v));
            }
            out.extend(where_sentence(v));
            out.extend(spend_sentence(v));
        }
        TaskState::Merged => {
            out.push(format!("{name} was merged."));
            out.extend(where_sentence(v).map(|w| w.replace(" changes ", " changed ")));
            out.extend(spend_sentence(v));
        }
        TaskState::Cancelled => out.push(format!("{name} was cancelled.")),
    }
    out.join(" ")
}

// ---------------------------------------------------------------------------
// Questions and outcomes

/// "Merge task four, Upgrade Tailwind, into main? Checks are green, three files changed. Say confirm to merge."
pub fn merge_question(v: &TaskView, base: &str) -> String {
    let mut facts: Vec<String> = Vec::new();
    facts.push(checks_sentence(v).trim_end_matches('.').to_string());
    if let Some(n) = v.files_changed.or((!v.paths.is_empty()).then_some(v.paths.len() as u64)) {
        facts.push(format!("{} changed", count_of(n, "file")));
    }
    format!("Merge {}, into {}? {}. Say confirm to merge.", named(v), path_word(base), capitalize(&facts.join(", ")))
}

/// "Merge three ready tasks into main: Upgrade Tailwind, Fix the header and Add tests? Say confirm to merge them all."
pub fn merge_all_question(tasks: &[TaskView], base: &str) -> String {
    if tasks.is_empty() {
        return refusal(&Refusal::NothingReady);
    }
    if tasks.len() == 1 {
        return merge_question(&tasks[0], base);
    }
    let names: Vec<String> = tasks.iter().map(|v| plain_title(&v.title)).collect();
    format!(
        "Merge {} ready tasks into {}: {}? Checks are green on all of them. Say confirm to merge them all.",
        number(tasks.len() as u64),
        path_word(base),
        words::join_capped(&names)
    )
}

/// "Cancel task five, Restyle the buttons? Cursor is still working on it. Say confirm to cancel."
pub fn cancel_question(v: &TaskView) -> String {
    let working = match (&v.agent, v.state.is_active()) {
        (Some(a), true) => format!(" {} is still working on it.", agent_name(a)),
        (None, true) => " An agent is still working on it.".to_string(),
        _ => String::new(),
    };
    format!("Cancel {}?{working} Say confirm to cancel.", named(v))
}

/// "Merged task four, Upgrade Tailwind, into main."
pub fn merged(v: &TaskView, base: &str) -> String {
    format!("Merged {}, into {}.", named(v), path_word(base))
}

/// "Cancelled task five, Restyle the buttons."
pub fn cancelled(v: &TaskView) -> String {
    format!("Cancelled {}.", named(v))
}

/// The outcome of "merge all ready": what was merged, then each refusal.
pub fn merge_all_outcome(results: &[(TaskView, Result<(), Refusal>)], base: &str) -> String {
    let mut failed: Vec<String> = Vec::new();
    let mut ok: Vec<String> = Vec::new();
    for (v, r) in results {
        match r {
            Ok(()) => ok.push(plain_title(&v.title)),
            Err(e) => failed.push(refusal(e)),
        }
    }
    let mut out: Vec<String> = Vec::new();
    if !ok.is_empty() {
        out.push(format!("Merged {} into {}: {}.", count_of(ok.len() as u64, "task"), path_word(base), words::join_capped(&ok)));
    }
    out.extend(failed);
    if out.is_empty() {
        out.push(refusal(&Refusal::NothingReady));
    }
    out.join(" ")
}

/// A one-line proactive notice when a task changes state.
pub fn notice(v: &TaskView) -> Option<String> {
    match v.state {
        TaskState::Ready if is_untested(v) => Some(format!("{}, is ready, but untested.", named_cap(v))),
        TaskState::Ready => Some(format!("{}, is ready to merge.", named_cap(v))),
        TaskState::NeedsAttention => Some(format!("{}, needs your attention: {}.", named_cap(v), attention_why(v))),
        TaskState::Failed => Some(format!("{}, failed: {}.", named_cap(v), attention_why(v))),
        _ => None,
    }
}

/// Whether `[speech] announce` ("ready", "attention", "all" or "none") wants a notice for this state.
/// "attention" covers needs-attention and failed tasks.
pub fn should_announce(state: TaskState, announce: &str) -> bool {
    let attention = matches!(state, TaskState::NeedsAttention | TaskState::Failed);
    match announce.trim() {
        "all" => attention || state == TaskState::Ready,
        "ready" => state == TaskState::Ready,
        "attention" => attention,
        _ => false,
    }
}

/// The notice for a state change, if `[speech] announce` asks for one.
pub fn announcement(v: &TaskView, announce: &str) -> Option<String> {
    should_announce(v.state, announce).then(|| notice(v)).flatten()
}

/// The answer to "help": example phrases (from the grammar) and the configured workflows
/// with their first trigger phrase. Lists longer than five are cut.
pub fn help(phrases: &[String], workflows: &[crate::config::Workflow]) -> String {
    let mut out = Vec::new();
    let said: Vec<String> = phrases.iter().map(|p| speakable(p).trim_end_matches(['.', '?', '!']).to_string()).collect();
    if said.is_empty() {
        out.push("Give me a brief, or ask what's finished.".to_string());
    } else {
        out.push(format!("You can say: {}.", words::join_capped(&said)));
    }
    let flows: Vec<String> = workflows
        .iter()
        .filter(|w| !w.name.trim().is_empty())
        .map(|w| match w.triggers.first() {
            Some(t) if !t.trim().is_empty() => format!("say {} for {}", plain_title(t), plain_title(&w.name)),
            _ => format!("say {}", plain_title(&w.name)),
        })
        .collect();
    if !flows.is_empty() {
        let (shown, more) = words::cap(&flows);
        let mut list = words::join_or(&shown);
        if let Some(m) = more {
            list = format!("{list}, {m}");
        }
        out.push(format!("For a workflow, {list}."));
    }
    out.join(" ")
}

/// A task named by id and title, for refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: i64,
    pub title: String,
}

impl From<&TaskView> for Named {
    fn from(v: &TaskView) -> Named {
        Named { id: v.id, title: v.title.clone() }
    }
}

impl Named {
    fn said(&self) -> String {
        format!("{}, {}", words::task_name(self.id), plain_title(&self.title))
    }
}

/// Every reason capcom gives for not doing what was asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The words matched no task.
    NoMatch { words: String },
    /// The words matched several tasks.
    Ambiguous { words: String, candidates: Vec<Named> },
    /// The task is not in a state that allows it.
    NotReady { task: Named, state: TaskState },
    ChecksRed { task: Named, checks: Vec<String> },
    NoChecks { task: Named },
    ScopeBroken { task: Named, paths: Vec<String> },
    SecretFound { task: Named, count: usize },
    /// The branch moved between the question and the answer.
    HeadMoved { task: Named },
    Conflict { task: Named },
    /// No answer came before the question expired; `action` is "merge", "cancel", ...
    Expired { action: String },
    /// The user said no.
    Denied { action: String },
    /// "confirm" with nothing asked.
    NothingPending,
    NothingReady,
    /// The merge (or other action) failed for a reason outside capcom.
    Failed { task: Named, error: String },
}

fn action_words(action: &str) -> &'static str {
    match action {
        "merge" => "merge it",
        "merge_all" => "merge them",
        "cancel" => "cancel it",
        _ => "do it",
    }
}

/// The sentence for a refusal.
pub fn refusal(r: &Refusal) -> String {
    match r {
        Refusal::NoMatch { words } => {
            format!("I couldn't find a task matching {}. Say what's finished to hear the list.", plain_title(words))
        }
        Refusal::Ambiguous { words, candidates } => {
            let names: Vec<String> = candidates.iter().map(|c| c.said()).collect();
            let (shown, more) = words::cap(&names);
            let mut list = words::join_or(&shown);
            if let Some(m) = more {
                list = format!("{list}, {m}");
            }
            format!(
                "{} could mean {} tasks: {list}. Which one? Say the task number.",
                capitalize(&plain_title(words)),
                number(candidates.len() as u64)
            )
        }
        Refusal::NotReady { task, state } => {
            let what = match state {
                TaskState::Running | TaskState::Checking => "is still running",
                TaskState::Queued | TaskState::Scheduled | TaskState::Held => "hasn't started yet",
                TaskState::NeedsAttention => "needs your attention first",
                TaskState::Failed => "failed",
                TaskState::Merged => "is already merged",
                TaskState::Cancelled => "was cancelled",
                TaskState::Ready => "is ready",
            };
            format!("I can't merge {}. It {what}.", task.said())
        }
        Refusal::ChecksRed { task, checks } => {
            let names: Vec<String> = checks.iter().map(|c| check_name(c)).collect();
            let red = match names.len() {
                0 => "a check is red".to_string(),
                1 => format!("the {} check is red", names[0]),
                _ => format!("the {} checks are red", words::join_capped(&names)),
            };
            format!("I won't merge {}: {red}.", task.said())
        }
        Refusal::NoChecks { task } => format!("I won't merge {}: no checks have passed yet.", task.said()),
        Refusal::ScopeBroken { task, paths } => {
            let place = files_phrase(paths, None).unwrap_or_else(|| "files".to_string());
            format!("I won't merge {}: it changed {place}, outside its scope.", task.said())
        }
        Refusal::SecretFound { task, count } => format!(
            "I won't merge {}: the secret scan flagged {}.",
            task.said(),
            count_of(*count as u64, "possible secret")
        ),
        Refusal::HeadMoved { task } => format!(
            "I didn't merge {}: its branch changed after I asked. Ask again to hear what's on it now.",
            task.said()
        ),
        Refusal::Conflict { task } => format!("I couldn't merge {}: it conflicts with the base branch.", task.said()),
        Refusal::Expired { action } => {
            format!("No answer, so I won't {}. Ask again when you're ready.", action_words(action))
        }
        Refusal::Denied { action } => format!("Okay, I won't {}.", action_words(action)),
        Refusal::NothingPending => "There's nothing to confirm right now.".to_string(),
        Refusal::NothingReady => "Nothing is ready to merge.".to_string(),
        Refusal::Failed { task, error } => {
            let e = reason_clause(error);
            format!("Something went wrong with {}: {e}.", task.said())
        }
    }
}

// ---------------------------------------------------------------------------
// Changelog narrative

const CHANGELOG_LIMIT: usize = 12;

/// The audio changelog's narrative: an overview of what landed in `since..now`,
/// then each change (what and why from the agent's summary or its commit
/// messages, where from the diff stat, checks, agent), then what still needs you.
///
/// `tasks` should hold the period's tasks and every open one: the period is
/// filtered here, and the closing is about tasks open now.
pub fn changelog(tasks: &[TaskView], since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let period = words::period((now - since).to_std().unwrap_or_default());
    let landed_state = |s: TaskState| matches!(s, TaskState::Merged | TaskState::Ready | TaskState::NeedsAttention);
    let mut landed: Vec<&TaskView> = tasks
        .iter()
        .filter(|v| landed_state(v.state))
        .filter(|v| v.done_at().is_some_and(|t| t >= since && t <= now))
        .collect();
    // Merged first, then ready, then the ones needing attention; oldest first inside each.
    let rank = |s: TaskState| match s {
        TaskState::Merged => 0,
        TaskState::Ready => 1,
        _ => 2,
    };
    landed.sort_by(|a, b| rank(a.state).cmp(&rank(b.state)).then(a.done_at().cmp(&b.done_at())).then(a.id.cmp(&b.id)));

    let mut out: Vec<String> = Vec::new();
    let merged_n = landed.iter().filter(|v| v.state == TaskState::Merged).count() as u64;
    let waiting_n = landed.len() as u64 - merged_n;
    if landed.is_empty() {
        out.push(format!("Nothing landed {period}."));
    } else {
        let head = if landed.len() == 1 {
            format!("One change landed {period}")
        } else {
            format!("{} changes landed {period}", words::number_capitalized(landed.len() as u64))
        };
        let split = match (merged_n, waiting_n) {
            (0, _) => ", none merged yet".to_string(),
            (_, 0) if merged_n == 1 => ", and it's merged".to_string(),
            (_, 0) => ", all merged".to_string(),
            (m, w) => format!(": {} merged and {} waiting for you", number(m), number(w)),
        };
        out.push(format!("{head}{split}."));
        out.extend(agent_time_sentence(&landed));
    }

    let (shown, _) = words::cap_at(&landed, CHANGELOG_LIMIT);
    for (i, v) in shown.iter().enumerate() {
        out.push(changelog_item(v, i, shown.len(), now));
    }
    if landed.len() > shown.len() {
        out.push(format!("There {} {} more I'll skip here.", if landed.len() - shown.len() == 1 { "is" } else { "are" }, number((landed.len() - shown.len()) as u64)));
    }
    out.push(still_needs_you(tasks));
    out.join(" ")
}

fn changelog_item(v: &TaskView, i: usize, n: usize, now: DateTime<Utc>) -> String {
    let lead = if n == 1 {
        String::new()
    } else if i == 0 {
        "First, ".to_string()
    } else if i + 1 == n {
        "Finally, ".to_string()
    } else {
        ["Next, ", "Then, ", "After that, "][(i - 1) % 3].to_string()
    };
    let title = plain_title(&v.title);
    let status = match v.state {
        TaskState::Merged => "merged",
        TaskState::Ready => "ready to merge",
        _ => "finished but needs a look",
    };
    let mut s = vec![format!("{}{}{}, {status}.", lead, if lead.is_empty() { capitalize(&title) } else { title }, by_agent(v))];
    // What and why: the agent's summary, else its commit messages.
    if let Some(summary) = &v.summary {
        let said = first_sentences(&speakable(summary), 2);
        if !said.is_empty() {
            s.push(end_sentence(&said));
        }
    } else if !v.commits.is_empty() {
        let msgs: Vec<String> = v
            .commits
            .iter()
            .map(|c| plain_title(strip_commit_prefix(c)))
            .filter(|c| !c.is_empty())
            .collect();
        let (shown, more) = words::cap_at(&msgs, 3);
        let mut line = format!("The commits say: {}", shown.join("; "));
        if let Some(m) = more {
            line.push_str(&format!("; {m}"));
        }
        s.push(end_sentence(&line));
    }
    // Where and how much.
    if let Some(files) = files_phrase(&v.paths, v.files_changed) {
        let mut line = format!("It touched {files}");
        match (v.insertions, v.deletions) {
            (Some(a), Some(d)) if a + d > 0 => {
                line.push_str(&format!(", {} added and {} removed", words::lines(a), words::lines(d).replace(" lines", "").replace(" line", "")))
            }
            (Some(a), _) if a > 0 => line.push_str(&format!(", {} added", words::lines(a))),
            _ => {}
        }
        if let Some(pr) = v.pr {
            line.push_str(&format!(", on {}", words::pull_request(pr)));
        }
        s.push(format!("{line}."));
    }
    match v.state {
        TaskState::NeedsAttention | TaskState::Failed => s.push(format!("It needs you because {}.", attention_why(v))),
        _ => {
            if v.checks.is_empty() {
                s.push("No checks ran on it.".to_string());
            } else if v.checks_green() {
                let names: Vec<String> = v.checks.iter().map(|c| check_name(&c.name)).collect();
                s.push(if names.len() == 1 {
                    format!("The {} check passed.", names[0])
                } else {
                    format!("{} passed.", capitalize(&words::join_capped(&names)))
                });
            } else {
                s.push(checks_sentence(v));
            }
        }
    }
    let cost = v.spend.cost_usd.map(words::money);
    match (v.elapsed(now).filter(|_| v.started.is_some()), cost) {
        (Some(d), Some(c)) if v.spend.cost_complete() => s.push(format!("The agent worked for {} and cost {c}.", words::duration(d))),
        (Some(d), Some(c)) => s.push(format!("The agent worked for {} and cost at least {c}.", words::duration(d))),
        (Some(d), None) => s.push(format!("The agent worked for {}.", words::duration(d))),
        (None, Some(c)) => s.push(format!("It cost {c} in agent time.")),
        (None, None) => {}
    }
    s.join(" ")
}

/// "That's four dollars and twenty cents in agent time." over the tasks that landed; nothing
/// when no agent reported a cost, "at least" when only some did.
fn agent_time_sentence(tasks: &[&TaskView]) -> Option<String> {
    let costs: Vec<f64> = tasks.iter().filter_map(|v| v.spend.cost_usd).collect();
    if costs.is_empty() {
        return None;
    }
    let amount = words::money(costs.iter().sum());
    let complete = tasks.iter().all(|v| v.spend.cost_complete());
    Some(if complete { format!("That's {amount} in agent time.") } else { format!("That's at least {amount} in agent time.") })
}

/// What a finished task cost, said only when an agent reported it: "It cost forty-two cents
/// over two runs." With no cost known, its follow-ups, if any: "It took one follow-up."
fn spend_sentence(v: &TaskView) -> Option<String> {
    let sp = &v.spend;
    match sp.cost_usd {
        Some(c) if sp.cost_complete() && sp.runs > 1 => Some(format!("It cost {} over {} runs.", words::money(c), words::number(sp.runs))),
        Some(c) if sp.cost_complete() => Some(format!("It cost {}.", words::money(c))),
        Some(c) => Some(format!("It cost at least {}.", words::money(c))),
        None if sp.follow_ups > 0 => Some(format!("It took {}.", words::count_of(sp.follow_ups, "follow-up"))),
        None => None,
    }
}

/// "fix(auth): keep the return URL" → "keep the return URL" (Conventional Commits type dropped).
fn strip_commit_prefix(msg: &str) -> &str {
    let Some((head, rest)) = msg.split_once(':') else { return msg };
    let kind = head.split('(').next().unwrap_or("").trim_end_matches('!');
    let known = ["feat", "fix", "chore", "docs", "test", "tests", "refactor", "style", "perf", "build", "ci", "revert", "deps"];
    if known.contains(&kind.to_ascii_lowercase().as_str()) && !rest.trim().is_empty() { rest.trim() } else { msg }
}

fn end_sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) { s.to_string() } else { format!("{s}.") }
}

/// The changelog's closing: ready tasks to merge, attention items, and what is still running.
fn still_needs_you(tasks: &[TaskView]) -> String {
    let mut ready: Vec<&TaskView> = tasks.iter().filter(|v| v.state == TaskState::Ready).collect();
    ready.sort_by(newest_first);
    let mut attention: Vec<&TaskView> = tasks.iter().filter(|v| is_attention(v)).collect();
    attention.sort_by(worst_first);
    let running = tasks.iter().filter(|v| v.state.is_active()).count() as u64;
    if ready.is_empty() && attention.is_empty() {
        return match running {
            0 => "Nothing needs you right now.".to_string(),
            1 => "Nothing needs you right now, and one task is still running.".to_string(),
            n => format!("Nothing needs you right now, and {} tasks are still running.", number(n)),
        };
    }
    // Names only: the reasons were given above, or are one "what failed?" away.
    let mut parts: Vec<String> = Vec::new();
    if !ready.is_empty() {
        let names: Vec<String> = ready.iter().map(|v| plain_title(&v.title)).collect();
        parts.push(format!("{} to merge, {}.", count_of(ready.len() as u64, "task"), words::join_capped(&names)));
    }
    if !attention.is_empty() {
        let names: Vec<String> = attention.iter().map(|v| plain_title(&v.title)).collect();
        let who = if attention.len() == 1 { "one needs".to_string() } else { format!("{} need", number(attention.len() as u64)) };
        parts.push(format!("{who} a look, {}.", words::join_capped(&names)));
    }
    let mut out = vec![format!("Still needs you: {}", parts[0])];
    out.extend(parts[1..].iter().map(|p| capitalize(p)));
    match running {
        0 => {}
        1 => out.push("One task is still running.".to_string()),
        n => out.push(format!("{} tasks are still running.", words::number_capitalized(n))),
    }
    out.join(" ")
}

// ---------------------------------------------------------------------------
// Workflow synthesis

/// How bad a piece of news is. Ordered: later is worse, and is said first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Background: counts, what is running.
    Info,
    /// Good news that asks nothing: merged, landed.
    Done,
    /// Waiting on the user: ready to merge.
    Ready,
    /// Needs a look: red checks, scope, a step that could not run.
    Attention,
    /// Broken: failed tasks, secrets, red CI on the base branch.
    Failure,
}

/// One thing a workflow step found.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub severity: Severity,
    /// The group it is said in: "failed", "attention", "ready", "running", "landed",
    /// "pull requests", "ci", or any other word.
    pub group: String,
    /// What it is about ("task:4", "pr:41"); notes with the same key from different
    /// steps are said once, the worst kept.
    pub key: Option<String>,
    /// A whole sentence, ready to speak.
    pub text: String,
}

impl Note {
    pub fn new(severity: Severity, group: &str, key: Option<&str>, text: &str) -> Note {
        Note { severity, group: group.to_string(), key: key.map(str::to_string), text: text.to_string() }
    }
}

/// What one workflow step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    Notes { step: String, notes: Vec<Note> },
    /// The step could not run (a remote API down, a timeout).
    Failed { step: String, error: String },
}

/// An open pull request, as a workflow's `remote open_prs` step saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenPr {
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub author: Option<String>,
    /// The task whose work it is, if capcom dispatched it.
    pub task: Option<i64>,
    /// Its checks, when they were read (`remote ci_failures`).
    pub checks: Option<crate::github::Verdict>,
}

/// Notes for `remote open_prs`: one per open PR, keyed to its task when there is one
/// (so a status step saying the same is said once).
pub fn open_pr_notes(prs: &[OpenPr]) -> Vec<Note> {
    prs.iter()
        .map(|p| {
            let by = p.author.as_deref().map(|a| format!(", by {}", agent_name(a.trim_end_matches("[bot]")))).unwrap_or_default();
            let text = format!("{}, {}{by}, is open.", capitalize(&words::pull_request(p.number)), plain_title(&p.title));
            let key = p.task.map(|t| format!("task:{t}")).unwrap_or_else(|| format!("pr:{}:{}", p.repo, p.number));
            Note { severity: Severity::Info, group: "pull requests".into(), key: Some(key), text }
        })
        .collect()
}

/// Notes for `remote ci_failures`: red CI on a base branch first, then each open PR whose
/// checks fail or wait for approval. `base` is `(repo, branch, verdict)` per repo.
pub fn ci_failure_notes(base: &[(String, String, crate::github::Verdict)], prs: &[OpenPr]) -> Vec<Note> {
    use crate::github::Verdict;
    let mut notes = Vec::new();
    for (repo, branch, v) in base {
        if let Verdict::Failing { .. } = v {
            let text = format!("CI is red on {} in {}: {}.", path_word(branch), plain_title(repo), v.spoken());
            notes.push(Note { severity: Severity::Failure, group: "ci".into(), key: Some(format!("ci:{repo}")), text });
        }
    }
    for p in prs {
        let Some(v) = &p.checks else { continue };
        if matches!(v, Verdict::Failing { .. } | Verdict::NeedsApproval { .. }) {
            let text = format!("On {}, {}: {}.", words::pull_request(p.number), plain_title(&p.title), v.spoken());
            let key = p.task.map(|t| format!("task:{t}")).unwrap_or_else(|| format!("pr:{}:{}", p.repo, p.number));
            notes.push(Note { severity: Severity::Attention, group: "ci".into(), key: Some(key), text });
        }
    }
    if notes.is_empty() && !base.is_empty() {
        notes.push(Note::new(Severity::Info, "ci", None, "CI is green everywhere I looked."));
    }
    notes
}

/// Notes for a status step: one per failed / attention / ready / running task.
pub fn status_notes(tasks: &[TaskView], now: DateTime<Utc>) -> Vec<Note> {
    let mut notes = Vec::new();
    for v in tasks {
        let key = format!("task:{}", v.id);
        let (sev, group, text) = match v.state {
            TaskState::Failed => (Severity::Failure, "failed", attention_item(v)),
            TaskState::NeedsAttention if v.secrets > 0 => (Severity::Failure, "attention", attention_item(v)),
            TaskState::NeedsAttention => (Severity::Attention, "attention", attention_item(v)),
            TaskState::Ready => (Severity::Ready, "ready", ready_item(v, now)),
            TaskState::Running | TaskState::Checking => (Severity::Info, "running", running_item(v, now)),
            _ => continue,
        };
        notes.push(Note { severity: sev, group: group.to_string(), key: Some(key), text });
    }
    notes
}

/// Notes for a changelog step: an overview of what landed, plus one note per merged task
/// (open tasks are left to the status step, and dedupe keeps the worst).
pub fn changelog_notes(tasks: &[TaskView], since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Note> {
    let period = words::period((now - since).to_std().unwrap_or_default());
    let merged: Vec<&TaskView> = tasks
        .iter()
        .filter(|v| v.state == TaskState::Merged && v.done_at().is_some_and(|t| t >= since && t <= now))
        .collect();
    if merged.is_empty() {
        return vec![Note::new(Severity::Done, "landed", None, &format!("Nothing was merged {period}."))];
    }
    let names: Vec<String> = merged.iter().map(|v| plain_title(&v.title)).collect();
    let text = format!(
        "{} merged {period}: {}.",
        if merged.len() == 1 { "One change was".to_string() } else { format!("{} changes were", words::number_capitalized(merged.len() as u64)) },
        words::join_capped(&names)
    );
    vec![Note::new(Severity::Done, "landed", Some("landed"), &text)]
}

/// Known groups in the order they are said when equally bad.
fn group_rank(group: &str) -> usize {
    ["failed", "attention", "ci", "couldn't check", "ready", "pull requests", "landed", "running"]
        .iter()
        .position(|g| *g == group)
        .unwrap_or(8)
}

fn group_headline(group: &str, n: usize) -> Option<String> {
    let n64 = n as u64;
    let many = |plural: &str| format!("{} {plural}.", words::number_capitalized(n64));
    Some(match group {
        "failed" => many("tasks failed"),
        "attention" => many("tasks need your attention"),
        "ready" => many("tasks are ready to merge"),
        "running" => many("tasks are running"),
        "pull requests" => many("pull requests are open"),
        "ci" => many("CI failures"),
        "landed" => return None,
        other => format!("{}:", capitalize(&speakable(other))),
    })
}

/// One script from several workflow steps: notes grouped, duplicates merged
/// (same key: the worst is kept), groups said worst first, steps that could
/// not run said as well. Each group of more than five is capped.
pub fn synthesize(results: &[StepResult]) -> String {
    let mut notes: Vec<Note> = Vec::new();
    for r in results {
        match r {
            StepResult::Notes { notes: ns, .. } => {
                for n in ns {
                    let dup = n.key.as_ref().and_then(|k| notes.iter().position(|m| m.key.as_ref() == Some(k)));
                    match dup {
                        Some(i) if notes[i].severity >= n.severity => {}
                        Some(i) => notes[i] = n.clone(),
                        None => {
                            if !notes.iter().any(|m| m.text == n.text) {
                                notes.push(n.clone())
                            }
                        }
                    }
                }
            }
            StepResult::Failed { step, error } => notes.push(Note::new(
                Severity::Attention,
                "couldn't check",
                None,
                &format!("I couldn't get {}: {}.", plain_title(step), reason_clause(error)),
            )),
        }
    }
    if notes.is_empty() {
        return "All quiet. Nothing to report.".to_string();
    }
    // Groups in order of their worst note; notes keep their order inside a group.
    let mut groups: Vec<(String, Severity, Vec<&Note>)> = Vec::new();
    for n in &notes {
        match groups.iter_mut().find(|(g, _, _)| *g == n.group) {
            Some((_, sev, list)) => {
                *sev = (*sev).max(n.severity);
                list.push(n);
            }
            None => groups.push((n.group.clone(), n.severity, vec![n])),
        }
    }
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(group_rank(&a.0).cmp(&group_rank(&b.0))));
    let mut out: Vec<String> = Vec::new();
    for (group, _, mut list) in groups {
        list.sort_by_key(|n| std::cmp::Reverse(n.severity));
        if list.len() > 1 {
            out.extend(group_headline(&group, list.len()));
        }
        let (shown, _) = words::cap(&list);
        for n in &shown {
            out.push(n.text.clone());
        }
        if list.len() > shown.len() {
            out.push(format!("And {} more.", number((list.len() - shown.len()) as u64)));
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod cost_tests {
    use super::*;
    use crate::report::view::Spend;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T18:00:00Z").unwrap().with_timezone(&Utc) + chrono::Duration::minutes(min)
    }

    fn merged(id: i64, title: &str, cost: Option<f64>, runs: u64, with_cost: u64) -> TaskView {
        let mut v = TaskView::new(id, title, TaskState::Merged);
        v.agent = Some("claude".into());
        v.started = Some(at(-120));
        v.finished = Some(at(-100));
        v.updated = Some(at(-90));
        v.checks = vec![crate::report::CheckView::new("test", true)];
        v.spend = Spend { runs, runs_with_cost: with_cost, cost_usd: cost, ..Spend::default() };
        v
    }

    #[test]
    fn the_changelog_says_what_the_agents_cost_and_nothing_when_unknown() {
        let now = at(0);
        let since = at(-24 * 60);
        // (tasks, what the changelog must say, what it must not)
        let cases: Vec<(Vec<TaskView>, Option<&str>, &str)> = vec![
            (
                vec![merged(1, "Bump Tailwind", Some(1.20), 1, 1), merged(2, "Fix the nav", Some(2.0), 1, 1), merged(3, "Docs", Some(1.0), 1, 1)],
                Some("Three changes landed since yesterday, all merged. That's four dollars and twenty cents in agent time."),
                "at least",
            ),
            (
                vec![merged(1, "Bump Tailwind", Some(0.42), 1, 1), merged(2, "Fix the nav", None, 1, 0)],
                Some("That's at least forty-two cents in agent time."),
                "That's forty-two",
            ),
            (vec![merged(1, "Bump Tailwind", None, 1, 0), merged(2, "Fix the nav", None, 2, 0)], None, "agent time"),
        ];
        for (tasks, want, not) in cases {
            let text = changelog(&tasks, since, now);
            if let Some(w) = want {
                assert!(text.contains(w), "{text}");
            }
            assert!(!text.contains(not), "{text}");
            assert!(!text.contains('$') && !text.chars().any(|c| c.is_ascii_digit()), "{text}");
        }
        let one = changelog(&[merged(1, "Bump Tailwind", Some(0.42), 1, 1)], since, now);
        assert!(one.contains("The agent worked for twenty minutes and cost forty-two cents."), "{one}");
    }

    #[test]
    fn one_task_answer_mentions_its_cost_only_when_known() {
        let now = at(0);
        let mut v = merged(4, "Bump Tailwind", Some(1.05), 2, 2);
        v.state = TaskState::Ready;
        assert!(task_status(&v, now).ends_with("It cost one dollar and five cents over two runs."), "{}", task_status(&v, now));
        v.spend = Spend { runs: 2, follow_ups: 1, ..Spend::default() };
        assert!(task_status(&v, now).ends_with("It took one follow-up."), "{}", task_status(&v, now));
        v.spend = Spend { runs: 1, ..Spend::default() };
        assert!(!task_status(&v, now).contains("cost"), "{}", task_status(&v, now));
        // Running: nothing about cost yet.
        v.state = TaskState::Running;
        v.spend = Spend { runs: 1, runs_with_cost: 1, cost_usd: Some(0.3), ..Spend::default() };
        assert!(!task_status(&v, now).contains("cent"), "{}", task_status(&v, now));
    }
}
