//! The changelog narrative: what landed, what is waiting, what it cost.

use super::*;

// ---------------------------------------------------------------------------
// Changelog narrative

pub(crate) const CHANGELOG_LIMIT: usize = 12;

/// The audio changelog's narrative: an overview of what landed in `since..now`,
/// then each change (what and why from the agent's summary or its commit
/// messages, where from the diff stat, checks, agent), then what still needs you.
///
/// `tasks` should hold the period's tasks and every open one: the period is
/// filtered here, and the closing is about tasks open now.
pub fn changelog(tasks: &[TaskView], since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    changelog_segments(tasks, since, now).iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// A stretch of the changelog: the summary, one task, or the closing. An episode's chapters
/// start where each segment with a `title` starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The chapter's title; `None` continues the chapter before.
    pub title: Option<String>,
    /// The task the chapter is about.
    pub task: Option<i64>,
    pub text: String,
}

/// The changelog narrative as segments: "Summary", then one per task it speaks of (the
/// task's title), then the closing, which belongs to the last chapter.
pub fn changelog_segments(tasks: &[TaskView], since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Segment> {
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

    let mut segs = vec![Segment { title: Some("Summary".into()), task: None, text: out.join(" ") }];
    let (shown, _) = words::cap_at(&landed, CHANGELOG_LIMIT);
    for (i, v) in shown.iter().enumerate() {
        segs.push(Segment { title: Some(plain_title(&v.title)), task: Some(v.id), text: changelog_item(v, i, shown.len(), now) });
    }
    let mut close = Vec::new();
    if landed.len() > shown.len() {
        close.push(format!("There {} {} more I'll skip here.", if landed.len() - shown.len() == 1 { "is" } else { "are" }, number((landed.len() - shown.len()) as u64)));
    }
    close.push(still_needs_you(tasks));
    segs.push(Segment { title: None, task: None, text: close.join(" ") });
    segs
}

pub(crate) fn changelog_item(v: &TaskView, i: usize, n: usize, now: DateTime<Utc>) -> String {
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
pub(crate) fn agent_time_sentence(tasks: &[&TaskView]) -> Option<String> {
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
pub(crate) fn spend_sentence(v: &TaskView) -> Option<String> {
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
pub(crate) fn strip_commit_prefix(msg: &str) -> &str {
    let Some((head, rest)) = msg.split_once(':') else { return msg };
    let kind = head.split('(').next().unwrap_or("").trim_end_matches('!');
    let known = ["feat", "fix", "chore", "docs", "test", "tests", "refactor", "style", "perf", "build", "ci", "revert", "deps"];
    if known.contains(&kind.to_ascii_lowercase().as_str()) && !rest.trim().is_empty() { rest.trim() } else { msg }
}

pub(crate) fn end_sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) { s.to_string() } else { format!("{s}.") }
}

/// The changelog's closing: ready tasks to merge, attention items, and what is still running.
pub(crate) fn still_needs_you(tasks: &[TaskView]) -> String {
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
