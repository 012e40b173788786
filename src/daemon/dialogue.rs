//! The conversation as a pure machine: `Dialogue::step(event, now) -> effects`.
//!
//! It owns the conversation's state: the pending confirmation question (a merge bound to a
//! head, a merge of all ready bound to each head of its batch, a cancel), the question that
//! expired last, the held task whose question was said last, and the grace window of tasks
//! just dispatched. It does no I/O: no tokio, no store, no git. The coordinator turns what
//! happens (a brief dispatched, words heard, a confirmation, a tick of the clock) into
//! [`Event`]s, and carries out the [`Effect`]s: start an agent, cancel a task before its agent
//! starts, correct a task and read it back, merge what a confirmation was bound to.
//!
//! The grace window (`[dispatch] grace`): a dispatched task is `queued`, but its agent starts
//! only when the window closes. Within it "undo that", "cancel that", "wait, no" drop the
//! brief's tasks, and "actually give that to Jules", "make that the api repo" correct its last
//! task and start the window again; anything else is a new utterance. A brief understood with
//! low confidence waits twice as long and its read-back asks "did I get that right?".

use crate::review::merge::{Action, Pending};
use crate::understand::Names;
use regex::Regex;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// How long the next words are read as the answer to a held task's question.
pub const ASKED_TTL: Duration = Duration::from_secs(5 * 60);

/// The words that release a held task as it stands.
pub const ANYWAY: &str = "dispatch it anyway";

/// Under this confidence a brief's grace window is twice as long, and its read-back asks.
pub const UNSURE_BELOW: f32 = 0.75;

/// The held task whose question was said last.
#[derive(Debug, Clone)]
pub struct Asked {
    pub task: i64,
    pub question: String,
    pub at: Instant,
}

/// A held task as the store has it now: what the dialogue's decisions about held tasks read.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldTask {
    pub id: i64,
    pub title: String,
    /// Its question (the reason it is held).
    pub question: Option<String>,
}

/// A task in its grace window: queued, its agent not started.
#[derive(Debug, Clone, PartialEq)]
pub struct Graced {
    pub task: i64,
    /// The brief it came from: "undo that" drops the whole brief.
    pub brief: u64,
    pub until: Instant,
    pub unsure: bool,
}

/// What the words heard during a grace window are.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// "undo that", "cancel that", "wait, no".
    Undo,
    /// "actually give that to Jules", "make that the api repo".
    Correct { agent: Option<String>, repo: Option<String> },
    /// "that's two tasks", "split that", "make that two tasks".
    Split,
    /// Anything else: a new utterance.
    Other,
}

/// What happened, in arrival order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A brief's tasks were recorded `queued`; `confidence` is how sure the parser was.
    Dispatched { tasks: Vec<i64>, confidence: f32 },
    /// A brief's tasks were still in their grace window when the daemon stopped; `left` of it
    /// remains. They wait it out (no read-back is said again), and "undo that" still drops them.
    Resumed { tasks: Vec<i64>, left: Duration, unsure: bool },
    /// A held task's question was said: the next words answer it.
    AskedHeld { task: i64, question: String },
    /// The held task's question had its reply (or the conversation moved on): close it.
    Replied,
    /// A status answer was given (about `named`, if it named a task): a held task it spoke of
    /// (the one named, or the only held task) is the question the next words answer.
    Status { named: Option<i64>, held: Vec<HeldTask> },
    /// Words were heard (already classified by [`heard`]).
    Heard(Heard),
    /// A task was added to the brief `like` is part of (the second half of a split): it waits
    /// for the same window.
    Added { task: i64, like: i64 },
    /// A task left the conversation elsewhere (cancelled by id, say): forget it.
    Gone(i64),
    /// Time passed.
    Tick,
    /// A confirmation question was asked (bound to its head, or to each head of its batch).
    Ask(Pending),
    /// "confirm" (naming a task, or not).
    Confirm { named: Option<i64> },
    /// "no" to the pending question.
    Deny,
    /// The pending question is dropped without an answer (its task was cancelled, its base moved).
    Withdraw,
}

/// What the coordinator does.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start the task's agent: its grace window closed (or there is none).
    Start(i64),
    /// The task waits `wait` before its agent starts; the read-back says so.
    Wait { task: i64, wait: Duration, unsure: bool },
    /// Cancel the task before its agent starts (the user said "undo that").
    Undo(i64),
    /// Re-assign the task (agent or repo) and read it back; its window started again.
    Correct { task: i64, agent: Option<String>, repo: Option<String>, wait: Duration, unsure: bool },
    /// Plan the brief of this one task again as two tasks, and read both back; the window
    /// started again.
    Split { task: i64, wait: Duration, unsure: bool },
    /// Carry out the confirmed question (a merge bound to its head, a merge of all, a cancel).
    Proceed(Pending),
    /// Say why nothing happened.
    Refuse(String),
    /// The user said no to the pending question.
    Denied(Pending),
    /// The pending question's time ran out.
    Expired { task: i64, action: Action },
}

/// The conversation's state.
#[derive(Debug, Default)]
pub struct Dialogue {
    /// `[dispatch] grace`; zero starts agents at once.
    pub grace: Duration,
    graced: Vec<Graced>,
    briefs: u64,
    /// The confirmation question waiting for "confirm".
    pending: Option<Pending>,
    /// The task whose question expired last, so a late "confirm" is told why nothing happened.
    expired: Option<i64>,
    /// The held task whose question was said last: the next words answer it.
    asked: Option<Asked>,
}

impl Dialogue {
    pub fn new(grace: Duration) -> Dialogue {
        Dialogue { grace, ..Dialogue::default() }
    }

    /// The pending confirmation question.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// Tasks in their grace window.
    pub fn graced(&self) -> &[Graced] {
        &self.graced
    }

    /// When the next thing is due (a window closes, a question expires).
    pub fn next_deadline(&self) -> Option<Instant> {
        let q = self.pending.as_ref().map(|p| p.deadline.into_std());
        self.graced.iter().map(|g| g.until).chain(q).min()
    }

    /// The held task asked about last, while its question is open.
    pub fn asked_open(&self, now: Instant) -> Option<&Asked> {
        self.asked.as_ref().filter(|a| now.saturating_duration_since(a.at) < ASKED_TTL)
    }

    /// The held task the next words answer, with its question: the one asked about last while
    /// its question is open and it is still held, unless a merge or cancel question is
    /// pending (that comes first).
    pub fn clarifying<'h>(&self, now: Instant, held: &'h [HeldTask]) -> Option<(&'h HeldTask, String)> {
        if self.pending.is_some() {
            return None;
        }
        let a = self.asked_open(now)?;
        let t = held.iter().find(|h| h.id == a.task)?;
        Some((t, t.question.clone().unwrap_or_else(|| a.question.clone())))
    }

    /// The held task a yes ("dispatch it anyway") or a no is about, when no merge or cancel
    /// question is pending: the one just asked about, else, when the words say "anyway", the
    /// only held task.
    pub fn yes_no_about<'h>(&self, text: &str, now: Instant, held: &'h [HeldTask]) -> Option<&'h HeldTask> {
        if self.pending.is_some() {
            return None;
        }
        if let Some((t, _)) = self.clarifying(now, held) {
            return Some(t);
        }
        // Without an open question only an explicit "anyway" reaches a held task.
        if !text.to_lowercase().contains("anyway") {
            return None;
        }
        match held {
            [one] => Some(one),
            _ => None,
        }
    }

    pub fn step(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        // What is due happens first: a window that closed has started its agent before
        // any words heard after it are read.
        let mut out = self.due(now);
        match event {
            Event::Tick => {}
            Event::Dispatched { tasks, confidence } => {
                let unsure = confidence < UNSURE_BELOW;
                if self.grace.is_zero() {
                    out.extend(tasks.into_iter().map(Effect::Start));
                } else {
                    self.briefs += 1;
                    let wait = self.window(unsure);
                    for task in tasks {
                        self.graced.push(Graced { task, brief: self.briefs, until: now + wait, unsure });
                        out.push(Effect::Wait { task, wait, unsure });
                    }
                }
            }
            Event::Resumed { tasks, left, unsure } => {
                if self.grace.is_zero() || left.is_zero() {
                    out.extend(tasks.into_iter().map(Effect::Start));
                } else {
                    self.briefs += 1;
                    for task in tasks {
                        self.graced.push(Graced { task, brief: self.briefs, until: now + left, unsure });
                    }
                }
            }
            Event::AskedHeld { task, question } => self.asked = Some(Asked { task, question, at: now }),
            Event::Replied => self.asked = None,
            Event::Status { named, held } => {
                if self.pending.is_none() {
                    let task = match named {
                        Some(id) => held.iter().find(|h| h.id == id),
                        None => match held.as_slice() {
                            [one] => Some(one),
                            _ => None,
                        },
                    };
                    if let Some(t) = task {
                        self.asked = Some(Asked { task: t.id, question: t.question.clone().unwrap_or_default(), at: now });
                    }
                }
            }
            Event::Heard(Heard::Other) => {}
            Event::Heard(Heard::Undo) => {
                if let Some(last) = self.graced.iter().map(|g| g.brief).max() {
                    let (gone, kept): (Vec<Graced>, Vec<Graced>) = std::mem::take(&mut self.graced).into_iter().partition(|g| g.brief == last);
                    self.graced = kept;
                    out.extend(gone.into_iter().map(|g| Effect::Undo(g.task)));
                }
            }
            Event::Heard(Heard::Correct { agent, repo }) => {
                // A correction re-assigns the last task of the last brief.
                let last = self.graced.iter().map(|g| g.brief).max();
                let grace = self.grace;
                if let Some(g) = self.graced.iter_mut().rev().find(|g| Some(g.brief) == last) {
                    let wait = if g.unsure { grace * 2 } else { grace };
                    g.until = now + wait;
                    out.push(Effect::Correct { task: g.task, agent, repo, wait, unsure: g.unsure });
                }
            }
            Event::Heard(Heard::Split) => {
                // "That's two tasks" is about the last brief, when it was one task.
                let last = self.graced.iter().map(|g| g.brief).max();
                let wait_for = |g: &Graced| if g.unsure { self.grace * 2 } else { self.grace };
                let of_last: Vec<&Graced> = self.graced.iter().filter(|g| Some(g.brief) == last).collect();
                match of_last.as_slice() {
                    [] => {}
                    [g] => {
                        let (task, wait, unsure) = (g.task, wait_for(g), g.unsure);
                        if let Some(g) = self.graced.iter_mut().find(|g| g.task == task) {
                            g.until = now + wait;
                        }
                        out.push(Effect::Split { task, wait, unsure });
                    }
                    many => out.push(Effect::Refuse(format!(
                        "That brief is already {} tasks ({}); nothing changed.",
                        many.len(),
                        many.iter().map(|g| format!("task {}", g.task)).collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
            Event::Added { task, like } => {
                if let Some(g) = self.graced.iter().find(|g| g.task == like).cloned() {
                    self.graced.push(Graced { task, ..g });
                } else {
                    // Its window already closed: it starts now, as the first half did.
                    out.push(Effect::Start(task));
                }
            }
            Event::Gone(task) => {
                self.graced.retain(|g| g.task != task);
                if self.pending.as_ref().is_some_and(|p| p.task == task) {
                    self.pending = None;
                }
            }
            Event::Ask(p) => {
                self.pending = Some(p);
                self.expired = None;
            }
            Event::Withdraw => self.pending = None,
            Event::Deny => match self.pending.take() {
                Some(p) => out.push(Effect::Denied(p)),
                None => out.push(Effect::Refuse("Nothing was waiting for an answer.".into())),
            },
            Event::Confirm { named } => match self.pending.take() {
                None => out.push(Effect::Refuse(match self.expired.take() {
                    Some(task) => format!("The question about task {task} expired; nothing was done. Ask again when you're ready."),
                    None => "Nothing is waiting for confirmation; nothing was done.".into(),
                })),
                // A confirmation that names another task than the one asked about changes nothing.
                Some(p) if named.is_some_and(|t| t != p.task) => {
                    out.push(Effect::Refuse(format!("That is not what I asked about, so nothing changed. I'm waiting on: {}", p.question)));
                    self.pending = Some(p);
                }
                Some(p) => out.push(Effect::Proceed(p)),
            },
        }
        out
    }

    /// The window for a brief: twice as long when the parser was unsure.
    fn window(&self, unsure: bool) -> Duration {
        if unsure { self.grace * 2 } else { self.grace }
    }

    /// Windows that closed start their agents; a question whose time ran out expires.
    fn due(&mut self, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        let (done, open): (Vec<Graced>, Vec<Graced>) = std::mem::take(&mut self.graced).into_iter().partition(|g| g.until <= now);
        self.graced = open;
        out.extend(done.into_iter().map(|g| Effect::Start(g.task)));
        if let Some(p) = self.pending.as_ref().filter(|p| p.deadline.into_std() <= now) {
            out.push(Effect::Expired { task: p.task, action: p.action });
            self.expired = Some(p.task);
            self.pending = None;
        }
        out
    }
}

/// Several held tasks and an "anyway" that names none: the question that asks which.
pub fn which_held(held: &[HeldTask]) -> Option<String> {
    if held.len() < 2 {
        return None;
    }
    let names: Vec<String> = held.iter().map(|t| format!("task {}, '{}'", t.id, t.title)).collect();
    Some(format!("Which one: {}? Say \"dispatch task {} anyway\", for example.", names.join(", or "), held[0].id))
}

/// What is said to a "no" to a held task's question: it stays held.
pub fn kept_held(task: i64) -> String {
    format!("Okay, task {task} stays on hold. Answer its question when you're ready, say \"dispatch task {task} anyway\", or cancel it.")
}

/// Read words heard while tasks are in their grace window: an undo, a correction naming a
/// known agent or a configured repo, or a new utterance.
pub fn heard(text: &str, names: &Names) -> Heard {
    static UNDO: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:(?:oh|no|wait|hold on|sorry|actually|hmm)\s+)*(?:(?:undo|cancel|scrap|scratch|drop|stop|forget|kill|abort)(?:\s+(?:that|it|this))?(?:\s+(?:one|task|please|now))*|wait\s+no|no\s+wait|no\s+no|never\s*mind|nevermind)(?:\s+(?:please|sorry))*$").expect("undo pattern")
    });
    static SPLIT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:(?:oh|no|wait|hold on|sorry|actually|hmm|hang on)\s+)*(?:(?:that's|that is|that was|that should be|those are|these are|it's|it is|it was|it should be)\s+(?:two|2|2 separate|two separate|two different)\s+(?:tasks|jobs|things)|(?:please\s+)?(?:split|separate)\s+(?:that|it|this|them)(?:\s+(?:up|in two|into two(?:\s+tasks)?|in half))?|(?:please\s+)?make\s+(?:that|it|this)\s+(?:two|2)(?:\s+separate)?\s+(?:tasks|jobs))(?:\s+(?:please|not one|instead))*$").expect("split pattern")
    });
    static CORRECT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:(?:actually|no|wait|sorry|i mean|oh|hmm|on second thought|or rather)\s+)*(?:(?:please\s+)?(?:make (?:that|it|this)|give (?:that|it|this)(?: one)?(?: over)? to|hand (?:that|it|this)(?: over| off)? to|switch (?:that|it|this)(?: over)? to|change (?:that|it|this) to|move (?:that|it|this) to|send (?:that|it|this)(?: over)? to|assign (?:that|it|this) to|put (?:that|it|this) (?:on|in))\s+)?(?:the\s+)?([a-z][a-z0-9-]*)(?:\s+(?:repo|repository|codebase|agent|instead|please|one))*$").expect("correction pattern")
    });
    let words: String = text
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if words.is_empty() {
        return Heard::Other;
    }
    if UNDO.is_match(&words) {
        return Heard::Undo;
    }
    if SPLIT.is_match(&words) {
        return Heard::Split;
    }
    if let Some(c) = CORRECT.captures(&words) {
        // A bare name is a correction only after a marker ("actually, Jules").
        let whole = c.get(0).map_or("", |m| m.as_str());
        let name = c.get(1).map_or("", |m| m.as_str());
        let marked = whole.split(' ').next().is_some_and(|w| matches!(w, "actually" | "no" | "wait" | "sorry" | "i" | "oh" | "hmm" | "on" | "or"));
        let verb = whole.contains(" that ") || whole.contains(" it ") || whole.contains(" this ") || whole.starts_with("make ") || whole.starts_with("give ") || whole.starts_with("hand ") || whole.starts_with("switch ") || whole.starts_with("change ") || whole.starts_with("move ") || whole.starts_with("send ") || whole.starts_with("assign ") || whole.starts_with("put ") || whole.starts_with("please ");
        if marked || verb {
            let agent = names.agent_word(name).or_else(|| names.known_agent(name)).map(str::to_string);
            let repo = if agent.is_none() { names.repo_word(name).map(str::to_string) } else { None };
            if agent.is_some() || repo.is_some() {
                return Heard::Correct { agent, repo };
            }
        }
    }
    Heard::Other
}

/// When a read-back says the agent starts: "starts in 8 seconds", or "starts now".
pub fn starts_in(wait: Duration) -> String {
    match wait.as_secs() {
        0 => "starts now".into(),
        1 => "starts in 1 second".into(),
        s if s < 120 => format!("starts in {s} seconds"),
        s => format!("starts in {} minutes", s / 60),
    }
}

/// What capcom understood of one dispatched task, in one short sentence that is spoken, shown
/// on the phone and printed by the CLI: "Task 7, fix the pricing table, for claude on site
/// (as you asked), starts in 8 seconds." The agent's reason is the route when it was not asked for.
pub fn read_back(id: i64, title: &str, agent: Option<(&str, &str)>, repo: Option<&str>, when: &str) -> String {
    let mut chars = title.trim().trim_end_matches('.').chars();
    let title = match (chars.next(), title.trim().chars().nth(1)) {
        // Keep acronyms and names as spoken ("CSS …", "README …").
        (Some(f), Some(s)) if !s.is_uppercase() => f.to_lowercase().collect::<String>() + chars.as_str(),
        (Some(f), _) => f.to_string() + chars.as_str(),
        (None, _) => String::new(),
    };
    let who = match agent {
        Some((a, why)) if why.starts_with("you asked") => format!(", for {a}"),
        Some((a, why)) if !why.is_empty() => format!(", for {a} ({why})"),
        Some((a, _)) => format!(", for {a}"),
        None => String::new(),
    };
    let place = repo.map(|r| format!(" on {r}")).unwrap_or_default();
    format!("Task {id}, {title}{who}{place}, {when}.")
}

#[cfg(test)]
mod tests;
