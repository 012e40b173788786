//! The questions capcom asks (merge, merge all, cancel) and the outcomes it says.

use super::*;

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
    let foretold = foretold_conflicts(tasks);
    if foretold.is_empty() {
        return format!(
            "Merge {} ready tasks into {}: {}? Checks are green on all of them. Say confirm to merge them all.",
            number(tasks.len() as u64),
            path_word(base),
            words::join_capped(&names)
        );
    }
    // A conflict capcom already foretold is said here, with what merging all will do about it.
    let said: Vec<String> = foretold.iter().map(|c| c.sentence("will be")).collect();
    format!(
        "Merge {} ready tasks into {}: {}? Checks are green on all of them, but {} Say confirm to merge the rest.",
        number(tasks.len() as u64),
        path_word(base),
        words::join_capped(&names),
        lowercase_first(&said.join(" "))
    )
}

/// A conflict foretold between two tasks of one batch: the later one (in merge order) cannot
/// be merged after the earlier one as it stands.
pub(crate) struct Foretold {
    pub task: i64,
    pub with: i64,
    pub files: Vec<String>,
}

impl Foretold {
    /// "Task four conflicts with task three in button.js; it will be left for you."
    pub(crate) fn sentence(&self, tense: &str) -> String {
        let place = match self.files.as_slice() {
            [] => String::new(),
            [one] => format!(" in {}", one.rsplit('/').next().unwrap_or(one)),
            many => format!(" in {} files", number(many.len() as u64)),
        };
        format!(
            "{} conflicts with {}{place}; it {tense} left for you.",
            capitalize(&words::task_name(self.task)),
            words::task_name(self.with)
        )
    }
}

/// The conflicts foretold among `tasks`, each pair once, named on the later task.
pub(crate) fn foretold_conflicts(tasks: &[TaskView]) -> Vec<Foretold> {
    let mut out = Vec::new();
    for (i, v) in tasks.iter().enumerate() {
        for (other, files) in &v.conflicts {
            if tasks[..i].iter().any(|e| e.id == *other) {
                out.push(Foretold { task: v.id, with: *other, files: files.clone() });
            }
        }
    }
    out
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
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
    let views: Vec<TaskView> = results.iter().map(|(v, _)| v.clone()).collect();
    let foretold = foretold_conflicts(&views);
    for (v, r) in results {
        match r {
            Ok(()) => ok.push(plain_title(&v.title)),
            // A foretold conflict is said in the words the question used.
            Err(e @ (Refusal::Failed { .. } | Refusal::Conflict { .. } | Refusal::LeftOut { .. }))
                if foretold.iter().any(|c| c.task == v.id)
                    && (matches!(e, Refusal::Conflict { .. }) || refusal(e).contains("conflict")) =>
            {
                failed.extend(foretold.iter().filter(|c| c.task == v.id).map(|c| c.sentence("was")))
            }
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

/// How the reason the merge train gives a task it leaves out begins (`dispatch::train`,
/// `drop_task`; tests/many.rs checks the two agree).
pub const LEFT_OUT_OF_THE_TRAIN: &str = "Left out of the merge train";

/// Whether a state change's notice would repeat what the merge train already said: a task
/// the train leaves out is said as it happens ("Task 4, …, is left out of the merge train:
/// …"), so its move to needs-attention is not said a second time.
pub fn said_by_the_train(v: &TaskView) -> bool {
    v.state == TaskState::NeedsAttention && v.reason.as_deref().is_some_and(|r| r.starts_with(LEFT_OUT_OF_THE_TRAIN))
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
    /// Left out of a merge train, and why (a red combined check, a conflict, a refusal of the
    /// gate), or not reached because the train was stopped.
    LeftOut { task: Named, why: String },
}

pub(crate) fn action_words(action: &str) -> &'static str {
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
        Refusal::LeftOut { task, why } => {
            format!("{}, was left out: {}.", capitalize(&task.said()), why.trim_end_matches('.'))
        }
    }
}
