//! References to tasks the user already has: "PR 41", "task 3", "the tailwind one",
//! "the CSS agent", "the Copilot one", "the second one", "it", "all ready".
//!
//! A reference is resolved against the context's tasks. Features (title words, agent, kind)
//! score each task; the best unique match wins. A tie is broken only by what the command
//! can act on (merge: ready tasks; cancel: active ones; retry: failed ones). Anything still
//! tied is ambiguous, and the answer is a question naming the candidates, never a guess.

use super::{Context, Names, TaskRef, Target, TaskKind};

/// Which tasks a command can act on, used to break ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    Any,
    /// merge: tasks whose checks are green.
    Ready,
    /// cancel, follow-up: tasks still in flight.
    Active,
    /// retry: tasks that failed or need attention.
    Failed,
}

impl Prefer {
    pub fn accepts(self, state: &str) -> bool {
        match self {
            Prefer::Any => true,
            Prefer::Ready => state == "ready",
            Prefer::Active => matches!(state, "queued" | "scheduled" | "running" | "checking"),
            Prefer::Failed => matches!(state, "failed" | "needs_attention"),
        }
    }
}

/// The outcome of resolving a reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    pub target: Option<Target>,
    /// Set when the reference is ambiguous or matches nothing.
    pub question: Option<String>,
    pub reason: Option<String>,
    /// True when the phrase held something recognisable as a reference.
    pub referential: bool,
}

const STOP: &[&str] = &[
    "the", "a", "an", "one", "ones", "task", "tasks", "job", "jobs", "agent", "agents", "pr", "prs", "thing",
    "things", "that", "this", "it", "its", "it's", "on", "of", "for", "to", "in", "with", "and", "or", "please",
    "now", "up", "going", "doing", "is", "are", "was", "which", "working", "who", "run", "branch", "work", "my",
    "our", "i", "me", "we", "you", "your", "about", "from", "by", "at", "as", "be", "been", "get", "got", "just",
    "guy", "bot", "there", "then", "again", "too", "also", "yet", "so", "far", "what", "how", "how's", "what's",
    "status", "coming", "along", "doing", "done", "finished", "ready", "complete", "completed", "going", "progress",
    "update", "updates", "change", "changes", "fixes", "stuff", "thingy", "request", "currently", "right", "still", "did", "do", "does", "has",
    "have", "had", "can", "could", "would", "should", "will", "all", "any", "some", "new", "latest", "last",
    "first", "second", "third", "fourth", "fifth", "one's", "where", "when", "we're", "repo", "okay", "ok",
];

/// Loose word equality: same word, same stem, or a long shared prefix.
pub fn word_match(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let stem = |w: &str| -> String {
        let w = w.trim_end_matches("'s");
        for suf in ["ing", "es", "ed", "s"] {
            if w.len() > suf.len() + 3
                && let Some(s) = w.strip_suffix(suf)
            {
                return s.to_string();
            }
        }
        w.to_string()
    };
    let (sa, sb) = (stem(a), stem(b));
    if sa == sb {
        return true;
    }
    let common = sa.bytes().zip(sb.bytes()).take_while(|(x, y)| x == y).count();
    common >= 5 && (common == sa.len() || common == sb.len())
}

fn kind_word(w: &str) -> Option<TaskKind> {
    Some(match w {
        "css" | "style" | "styles" | "styling" | "scss" => TaskKind::Css,
        "docs" | "doc" | "documentation" | "readme" => TaskKind::Docs,
        "security" => TaskKind::Security,
        "test" | "tests" | "testing" | "flaky" => TaskKind::Test,
        "copy" | "headline" | "headlines" | "wording" => TaskKind::Copy,
        "refactor" | "refactoring" | "cleanup" => TaskKind::Refactor,
        "audit" => TaskKind::Audit,
        "infra" | "ci" | "pipeline" => TaskKind::Infra,
        "upgrade" | "bump" | "dependency" | "dependencies" => TaskKind::DependencyUpgrade,
        "bug" | "bugfix" | "fix" => TaskKind::BugFix,
        "feature" => TaskKind::Feature,
        _ => return None,
    })
}

const ORDINALS: &[(&str, usize)] = &[
    ("first", 1), ("1st", 1), ("second", 2), ("2nd", 2), ("third", 3), ("3rd", 3), ("fourth", 4), ("4th", 4),
    ("fifth", 5), ("5th", 5), ("sixth", 6), ("6th", 6), ("seventh", 7), ("eighth", 8), ("ninth", 9), ("tenth", 10),
];

fn describe(t: &TaskRef) -> String {
    match t.pr {
        Some(pr) => format!("task {}, {} (PR {pr})", t.id, t.title),
        None => format!("task {}, {}", t.id, t.title),
    }
}

/// "Which one do you mean: task 1, Upgrade Tailwind, or task 7, Tailwind dark mode?"
pub fn which_question(cands: &[&TaskRef]) -> String {
    let shown: Vec<String> = cands.iter().take(3).map(|t| describe(t)).collect();
    let list = match shown.len() {
        0 => return "Which task do you mean?".to_string(),
        1 => shown[0].clone(),
        2 => format!("{} or {}", shown[0], shown[1]),
        _ => format!("{}, {} or {}", shown[0], shown[1], shown[2]),
    };
    if cands.len() > 3 {
        format!("Which one do you mean? For example {list}.")
    } else {
        format!("Which one do you mean: {list}?")
    }
}

fn tidy(phrase: &str) -> &str {
    phrase.trim_matches(|c: char| c.is_whitespace() || ",.;:?!".contains(c))
}

/// Resolve `phrase` (the words naming the task, any case) against the context's tasks.
pub fn resolve(phrase: &str, ctx: &Context, names: &Names, prefer: Prefer) -> Resolved {
    let text = tidy(phrase);
    let full = text.to_ascii_lowercase();
    let head = re!(r"^(?:please |just |now |go ahead and )+").find(&full).map(|m| m.end()).unwrap_or(0);
    let tail = re!(r"(?: please| now| for me| right now| again| too| as well| then| already| yet| there)+$").find(&full[head..]).map(|m| m.start() + head).unwrap_or(full.len());
    let text = text[head..tail.max(head)].trim();
    let lower = full[head..tail.max(head)].trim().to_string();
    let lower = lower.as_str();
    let tasks = ctx.tasks;
    let mut out = Resolved::default();
    let mk = |task: Option<i64>, pr: Option<u64>, all: bool| Target {
        task,
        pr,
        text: (!text.is_empty()).then(|| text.to_string()),
        all,
        tasks: Vec::new(),
    };

    // Everything, or every task of a kind: "all ready", "everything that's green",
    // "both of them", "the failed ones", "the jules ones".
    let plural = re!(r"\b(?:ones|tasks|jobs|agents|prs|pull requests|of them)$").is_match(lower) && !re!(r"\b\d").is_match(lower);
    let everything = re!(r"^(?:all|everything|every|each|both|them all|all of them|the lot)\b|\b(?:all (?:the |of the )?(?:ready|green|finished|done|passing|completed)|everything (?:that's|that is|which is) (?:ready|green|done|finished))\b|^(?:them|those|these)$").is_match(lower);
    if everything || plural {
        out.referential = true;
        let state: Option<fn(&str) -> bool> = if re!(r"\b(?:ready|green|finished|done|passing|completed|mergeable)\b").is_match(lower) {
            Some(|s| s == "ready")
        } else if re!(r"\b(?:failed|failing|broken|red|stuck)\b").is_match(lower) {
            Some(|s| matches!(s, "failed" | "needs_attention"))
        } else if re!(r"\b(?:running|active|in progress|queued|pending|open)\b").is_match(lower) {
            Some(|s| matches!(s, "queued" | "scheduled" | "running" | "checking"))
        } else {
            None
        };
        let agent = lower.split_whitespace().find_map(|w| names.agent_word(w));
        let kind = lower.split_whitespace().find_map(kind_word);
        let ids: Vec<i64> = tasks
            .iter()
            .filter(|t| state.map_or(prefer.accepts(&t.state), |f| f(&t.state)))
            .filter(|t| agent.is_none_or(|a| t.agent.as_deref().is_some_and(|ta| ta.eq_ignore_ascii_case(a))))
            .filter(|t| kind.is_none_or(|k| t.kind == k))
            .map(|t| t.id)
            .collect();
        if plural && !everything && agent.is_none() && kind.is_none() && state.is_none() {
            // "the other ones": not enough to go on.
            out.question = Some(which_question(&tasks.iter().collect::<Vec<_>>()));
            out.target = Some(mk(None, None, false));
            return out;
        }
        let mut t = mk(None, None, true);
        t.tasks = ids;
        out.target = Some(t);
        return out;
    }

    // Several numbers: one at a time.
    let nums: Vec<&str> = re!(r"\b\d{1,9}\b").find_iter(lower).map(|m| m.as_str()).collect();
    if nums.len() >= 2 && re!(r"^(?:(?:prs?|pull requests?|tasks?|numbers?|and|,|#|the|\d+)\s*)+$").is_match(lower) {
        out.referential = true;
        out.reason = Some("several tasks named at once".into());
        out.question = Some(format!("One at a time: which first, {}?", nums.join(" or ")));
        out.target = Some(mk(None, None, false));
        return out;
    }

    // Numbers: "PR 41", "pull request #41", "task 3", "number 3", "#3", "3".
    if let Some(c) = re!(r"\b(?:pr|pull request)s? ?(?:number |no\.? )?#?(\d{1,9})\b").captures(lower) {
        out.referential = true;
        let pr: u64 = c[1].parse().unwrap_or(0);
        let task = tasks.iter().find(|t| t.pr == Some(pr)).map(|t| t.id);
        if task.is_none() && !tasks.is_empty() {
            out.reason = Some(format!("no task has PR {pr}"));
        }
        out.target = Some(mk(task, Some(pr), false));
        return out;
    }
    if let Some(c) = re!(r"\b(?:task|job|ticket|item|issue) ?(?:number |no\.? )?#?(\d{1,9})\b").captures(lower) {
        out.referential = true;
        let id: i64 = c[1].parse().unwrap_or(0);
        let found = tasks.iter().find(|t| t.id == id);
        if found.is_none() && !tasks.is_empty() {
            out.reason = Some(format!("there is no task {id}"));
            out.question = Some(format!("I don't have a task {id}. Which task do you mean?"));
        }
        out.target = Some(mk(Some(id), found.and_then(|t| t.pr), false));
        return out;
    }
    if let Some(c) = re!(r"^(?:the |number |no\.? |#)?#?(\d{1,9})$").captures(lower) {
        out.referential = true;
        let n: i64 = c[1].parse().unwrap_or(0);
        let by_id = tasks.iter().find(|t| t.id == n);
        let by_pr = tasks.iter().find(|t| t.pr == Some(n as u64));
        match (by_id, by_pr) {
            (Some(a), Some(b)) if a.id != b.id => {
                out.question = Some(format!("Do you mean task {n}, {}, or PR {n}, {}?", a.title, b.title));
                out.reason = Some(format!("{n} is both a task number and a PR number"));
                out.target = Some(mk(None, None, false));
            }
            (Some(a), _) => out.target = Some(mk(Some(a.id), a.pr, false)),
            (None, Some(b)) => out.target = Some(mk(Some(b.id), b.pr, false)),
            (None, None) => {
                if !tasks.is_empty() {
                    out.reason = Some(format!("no task or PR {n}"));
                    out.question = Some(format!("I don't have a task or PR {n}. Which one do you mean?"));
                }
                out.target = Some(mk(Some(n), None, false));
            }
        }
        return out;
    }

    // Features: agent names, kind words, title words, an ordinal.
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '\'' || c == '.' || c == '-'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let mut agent: Option<String> = None;
    let mut kinds: Vec<TaskKind> = Vec::new();
    let mut content: Vec<&str> = Vec::new();
    let mut ordinal: Option<usize> = None;
    let mut last = false;
    for (i, w) in words.iter().enumerate() {
        if let Some(&(_, n)) = ORDINALS.iter().find(|(o, _)| o == w) {
            ordinal = Some(n);
            continue;
        }
        if matches!(*w, "last" | "latest" | "newest" | "previous") || (*w == "recent" && i > 0 && words[i - 1] == "most") {
            last = true;
            continue;
        }
        if let Some(a) = names.agent_word(w) {
            agent = Some(a.to_string());
            continue;
        }
        if let Some(k) = kind_word(w) {
            kinds.push(k);
        }
        if !STOP.contains(w) && w.len() >= 2 {
            content.push(w);
        }
    }
    let deictic = re!(r"^(?:it|that|this|that one|this one|that task|this task|that pr|this pr|the pr|the task|the one|one|same one|the same one)?$").is_match(lower);
    if deictic && agent.is_none() && ordinal.is_none() && !last {
        out.referential = !lower.is_empty();
        if let Some(id) = ctx.pending.and_then(|p| p.task) {
            let pr = tasks.iter().find(|t| t.id == id).and_then(|t| t.pr);
            out.target = Some(mk(Some(id), pr, false));
            out.referential = true;
            return out;
        }
        let preferred: Vec<&TaskRef> = tasks.iter().filter(|t| prefer.accepts(&t.state)).collect();
        let pick = if tasks.len() == 1 {
            Some(&tasks[0])
        } else if preferred.len() == 1 {
            Some(preferred[0])
        } else {
            None
        };
        match pick {
            Some(t) => out.target = Some(mk(Some(t.id), t.pr, false)),
            None if tasks.is_empty() => {
                out.target = Some(mk(None, None, false));
                out.reason = Some("no task to refer to".into());
            }
            None => {
                let cands: Vec<&TaskRef> = if preferred.is_empty() { tasks.iter().rev().collect() } else { preferred };
                out.question = Some(which_question(&cands));
                out.reason = Some("the reference could mean several tasks".into());
                out.target = Some(mk(None, None, false));
            }
        }
        return out;
    }
    out.referential = true;

    if tasks.is_empty() {
        out.target = Some(mk(None, None, false));
        out.reason = Some("no tasks to match the reference against".into());
        return out;
    }

    // Score every task on the features named.
    let has_features = agent.is_some() || !content.is_empty();
    let mut scored: Vec<(u32, &TaskRef)> = Vec::new();
    for t in tasks {
        if let Some(a) = &agent
            && t.agent.as_deref().is_none_or(|ta| !ta.eq_ignore_ascii_case(a))
        {
            continue;
        }
        let mut score = if agent.is_some() { 3 } else { 0 };
        let title_lower = t.title.to_ascii_lowercase();
        let title_words: Vec<&str> = title_lower
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .map(|w| w.trim_matches('.'))
            .filter(|w| !w.is_empty())
            .collect();
        for w in &content {
            if title_words.iter().any(|tw| word_match(w, tw)) {
                score += 2;
            } else if kind_word(w).is_some_and(|k| k == t.kind) {
                score += 1;
            } else if t.repo.as_deref().is_some_and(|r| names.repo_word(w).is_some_and(|n| n.eq_ignore_ascii_case(r))) {
                score += 1;
            }
        }
        if !has_features || score > 0 {
            scored.push((score, t));
        }
    }
    let mut cands: Vec<&TaskRef> = if has_features {
        let best = scored.iter().map(|(s, _)| *s).max().unwrap_or(0);
        scored.iter().filter(|(s, _)| *s == best && best > 0).map(|(_, t)| *t).collect()
    } else {
        scored.iter().map(|(_, t)| *t).collect()
    };

    if let Some(n) = ordinal.filter(|_| !last) {
        // An ordinal counts within what the other words selected, in list order; for merge
        // and retry, within the tasks the command can act on when there are enough of them.
        let mut base: Vec<&TaskRef> = if has_features { cands.clone() } else { tasks.iter().collect() };
        if matches!(prefer, Prefer::Ready | Prefer::Failed) {
            let narrowed: Vec<&TaskRef> = base.iter().copied().filter(|t| prefer.accepts(&t.state)).collect();
            if narrowed.len() >= n {
                base = narrowed;
            }
        }
        match base.get(n - 1) {
            Some(t) => out.target = Some(mk(Some(t.id), t.pr, false)),
            None => {
                out.reason = Some(format!("there are only {} matching tasks", base.len()));
                out.question = Some(which_question(&base));
                out.target = Some(mk(None, None, false));
            }
        }
        return out;
    }
    if last {
        let base: Vec<&TaskRef> = if has_features { cands.clone() } else { tasks.iter().collect() };
        if let Some(t) = base.last() {
            out.target = Some(mk(Some(t.id), t.pr, false));
            return out;
        }
    }

    if cands.len() > 1 {
        let narrowed: Vec<&TaskRef> = cands.iter().copied().filter(|t| prefer.accepts(&t.state)).collect();
        if narrowed.len() == 1 || (!narrowed.is_empty() && prefer != Prefer::Any) {
            cands = narrowed;
        }
    }
    match cands.len() {
        1 => out.target = Some(mk(Some(cands[0].id), cands[0].pr, false)),
        0 => {
            let what = if content.is_empty() { text.to_string() } else { content.join(" ") };
            out.reason = Some(format!("no task matches \"{what}\""));
            out.question = Some(format!("I don't see a task about {what}. Which task do you mean?"));
            out.target = Some(mk(None, None, false));
        }
        _ => {
            out.reason = Some("the reference could mean several tasks".into());
            out.question = Some(which_question(&cands));
            out.target = Some(mk(None, None, false));
        }
    }
    out
}

/// Whether `phrase` reads as naming existing work rather than describing new work.
pub fn looks_referential(phrase: &str, names: &Names) -> bool {
    let l = phrase.to_ascii_lowercase();
    let l = l.trim();
    if l.is_empty() {
        return true;
    }
    if re!(r"^(?:it|that|this|them|those|these|all|everything|both|the lot)\b|\b(?:pr|pull request|task|job|ticket)s? ?#?\d|^#?\d+$|\b(?:one|ones|agent|task|job|pr|run)$|\bthe (?:first|second|third|fourth|fifth|last|latest|newest)\b|\ball (?:ready|green|finished|done|passing)\b").is_match(l) {
        return true;
    }
    let first_words: Vec<&str> = l.split_whitespace().take(3).collect();
    first_words.iter().any(|w| names.agent_word(w).is_some()) && l.split_whitespace().count() <= 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use chrono::DateTime;

    fn task(id: i64, title: &str, kind: TaskKind, agent: &str, state: &str, pr: Option<u64>) -> TaskRef {
        TaskRef { id, title: title.into(), kind, agent: Some(agent.into()), repo: Some("site".into()), state: state.into(), pr }
    }

    #[test]
    fn resolve_table() {
        let mut config = Config::default();
        for a in ["copilot", "jules", "cursor", "claude"] {
            config.agents.insert(a.into(), Default::default());
        }
        let tasks = vec![
            task(1, "Upgrade Tailwind to v4", TaskKind::DependencyUpgrade, "copilot", "ready", Some(41)),
            task(2, "Scope the demos CSS", TaskKind::Css, "cursor", "running", None),
            task(3, "Security audit of the API routes", TaskKind::Audit, "jules", "running", Some(42)),
            task(4, "Tailwind dark mode toggle", TaskKind::Feature, "claude", "queued", None),
        ];
        let ctx = Context { config: &config, tasks: &tasks, pending: None, now: DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap() };
        let names = Names::from_config(&config);
        let cases: &[(&str, Prefer, Option<i64>, bool)] = &[
            ("PR 41", Prefer::Any, Some(1), false),
            ("task 3", Prefer::Any, Some(3), false),
            ("the CSS agent", Prefer::Active, Some(2), false),
            ("the copilot one", Prefer::Any, Some(1), false),
            ("the tailwind one", Prefer::Any, None, true),
            ("the tailwind one", Prefer::Ready, Some(1), false),
            ("the tailwind upgrade", Prefer::Any, Some(1), false),
            ("the second one", Prefer::Any, Some(2), false),
            ("the audit", Prefer::Any, Some(3), false),
            ("the dark mode one", Prefer::Any, Some(4), false),
            ("the kubernetes one", Prefer::Any, None, true),
            ("it", Prefer::Ready, Some(1), false),
            ("it", Prefer::Active, None, true),
        ];
        for (phrase, prefer, want, question) in cases {
            let r = resolve(phrase, &ctx, &names, *prefer);
            let got = r.target.as_ref().and_then(|t| t.task);
            assert_eq!(got, *want, "{phrase}: {r:?}");
            assert_eq!(r.question.is_some(), *question, "{phrase}: {r:?}");
        }
        assert!(resolve("all ready", &ctx, &names, Prefer::Ready).target.unwrap().all);
    }
}
