//! Workflow synthesis: the news of several tasks, worst first.

use super::*;

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
pub(crate) fn group_rank(group: &str) -> usize {
    ["failed", "attention", "ci", "couldn't check", "ready", "pull requests", "landed", "running"]
        .iter()
        .position(|g| *g == group)
        .unwrap_or(8)
}

pub(crate) fn group_headline(group: &str, n: usize) -> Option<String> {
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
