//! The status answers: "what's finished?", "what's running?", "what failed?", the overview,
//! held tasks, and one task's status.

use super::*;

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
        (0, 0) => out.push(match merged_lately(tasks, now) {
            (0, _) => "Nothing is finished yet.".to_string(),
            (1, span) => format!("Nothing is waiting for you: one task was merged {} ago.", words::duration(span)),
            (n, span) => format!("Nothing is waiting for you: {} tasks were merged, the first {} ago.", number(n), words::duration(span)),
        }),
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
    // a foretold conflict is said once, on the first of its two tasks the answer names
    let mut said: Vec<(i64, i64)> = Vec::new();
    for v in &shown {
        let mut item = ready_item(v, now);
        for (other, files) in &v.conflicts {
            let pair = (v.id.min(*other), v.id.max(*other));
            if !said.contains(&pair) {
                said.push(pair);
                item.push(' ');
                item.push_str(&conflict_sentence(*other, files));
            }
        }
        out.push(item);
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

/// Tasks merged in the last few hours, and how long ago the first of them was merged (at
/// least a minute): right after a merge train, "nothing is finished" alone would mislead.
fn merged_lately(tasks: &[TaskView], now: DateTime<Utc>) -> (u64, std::time::Duration) {
    let window = chrono::Duration::hours(6);
    let times: Vec<DateTime<Utc>> = tasks
        .iter()
        .filter(|v| v.state == TaskState::Merged)
        .filter_map(|v| v.done_at())
        .filter(|t| *t <= now && now - *t <= window)
        .collect();
    let oldest = times.iter().min().map(|t| (now - *t).to_std().unwrap_or_default()).unwrap_or_default();
    (times.len() as u64, oldest.max(std::time::Duration::from_secs(60)))
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
pub(crate) fn waiting_sentence(v: &TaskView, name: &str) -> String {
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
pub(crate) fn conflict_sentences(v: &TaskView) -> Vec<String> {
    v.conflicts.iter().map(|(t, files)| conflict_sentence(*t, files)).collect()
}

fn conflict_sentence(other: i64, files: &[String]) -> String {
    let place = match files {
        [] => String::new(),
        [one] => format!(" in {}", one.rsplit('/').next().unwrap_or(one)),
        many => format!(" in {} files", number(many.len() as u64)),
    };
    format!("It conflicts with task {}{place}: merging one will need the other rebased.", number(other as u64))
}

pub(crate) fn running_item(v: &TaskView, now: DateTime<Utc>) -> String {
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
