//! The coordinator's handling of briefs, merges, confirmations and cancels.
//!
//! Everything here runs inside the coordinator's message loop. What the conversation
//! decides (which question a "confirm" answers, whether it is still open, the grace window)
//! is the pure [`super::dialogue`]; this file does the I/O those decisions call for.

pub use super::answer::{Answer, Queued};
use super::coordinator::{Coordinator, Msg, Stage};
use super::dialogue::{self, Effect, Event, Heard};
pub use super::dialogue::read_back;
use crate::dispatch::{self, DispatchHandle};
use crate::report::TaskView;
use crate::review::merge::{Action, Gate, Pending};
use crate::store::{Task, TaskState, TaskUpdate};
use crate::understand::{self, Intent, IntentKind, Target, TaskRef};

impl Coordinator {
    pub(super) fn dispatcher(&self) -> Result<&DispatchHandle, String> {
        self.dispatch.as_ref().ok_or_else(|| "the dispatcher is not running".to_string())
    }

    fn gate(&self) -> Result<Gate, String> {
        let d = self.dispatcher()?;
        let c = d.ctx();
        Ok(Gate { store: c.store.clone(), git: c.git.clone(), config: c.config.get(), github: c.github.clone() })
    }

    /// `capcom brief TEXT`: record it, understand it, act on it.
    /// A spoken brief arrives with its `utterance` already stored (audio first, then the transcript).
    pub(super) async fn brief(&mut self, text: String, given: Option<Intent>, utterance: Option<i64>) -> Answer {
        // A question whose time ran out expires; an agent whose window closed starts.
        self.step(Event::Tick).await;
        let store = self.services.store.clone();
        // What the user said is stored before anything acts on it.
        let utterance = match utterance {
            Some(id) => Some(id),
            None => match store.insert_utterance(0, None, "text") {
                Ok(id) => {
                    let _ = store.set_transcript(id, &text, None);
                    Some(id)
                }
                Err(e) => return Answer::no("unknown", format!("cannot record the brief: {e}")),
            },
        };
        // Within a grace window: "undo that" drops the brief, "actually give that to Jules"
        // corrects it; anything else is a new utterance.
        if given.is_none() && !self.dialogue.graced().is_empty() {
            let heard = dialogue::heard(&text, &understand::Names::from_config(&self.services.config));
            if heard != Heard::Other {
                let effects = self.step(Event::Heard(heard)).await;
                if let Some(answer) = self.graced(effects).await {
                    self.step(Event::Replied).await;
                    return answer;
                }
            }
        }
        let intent = match given {
            Some(i) => i,
            None => {
                let tasks: Vec<TaskRef> = store.tasks(true).unwrap_or_default().iter().rev().take(50).rev().map(Task::to_ref).collect();
                // A merge or cancel question first; else a held task's question just asked.
                let pending = self
                    .dialogue
                    .pending()
                    .map(|p| understand::Pending { action: p.action.as_str().into(), question: p.question.clone(), task: Some(p.task) })
                    .or_else(|| self.clarify_pending());
                let cx = understand::Context {
                    config: &self.services.config,
                    tasks: &tasks,
                    pending: pending.as_ref(),
                    now: chrono::Local::now().fixed_offset(),
                };
                understand::parse(&text, &cx)
            }
        };
        // "Confirm without checks" answers a pending question whatever the parser made of "without checks".
        let mut intent = intent;
        if self.dialogue.pending().is_some() && intent.intent != IntentKind::Confirm && confirms_without_checks(&text) {
            intent.intent = IntentKind::Confirm;
        }
        let mut answer = match intent.intent {
            // "Stop the train" (heard as a cancel with no task, or as anything else).
            _ if dispatch::train::asks_to_stop(&text) && (self.train.is_some() || intent.target.as_ref().is_none_or(|t| t.task.is_none())) => {
                self.stop_train()
            }
            IntentKind::Dispatch => self.dispatch_tasks(&intent, utterance).await,
            IntentKind::Merge if intent.target.as_ref().is_some_and(|t| t.all) => {
                let only = intent.target.as_ref().map(|t| t.tasks.clone()).unwrap_or_default();
                self.merge_all(&only).await
            }
            IntentKind::Merge => match self.target_of(&intent) {
                Ok(id) => self.merge(id).await,
                Err(q) => Answer::no("merge", q),
            },
            // "Dispatch it anyway" (or a yes) to a held task's question releases it as it stands.
            IntentKind::Confirm if self.held_for_yes_no(&text).is_some() => {
                let task = self.held_for_yes_no(&text).expect("checked by the guard");
                let words = if text.to_lowercase().contains("anyway") { text.clone() } else { dialogue::ANYWAY.to_string() };
                self.release_held(task, &words).await
            }
            IntentKind::Confirm if self.dialogue.pending().is_none() && text.to_lowercase().contains("anyway") && self.which_held().is_some() => {
                Answer::no("confirm", self.which_held().unwrap_or_default())
            }
            IntentKind::Deny if self.held_for_yes_no(&text).is_some() => {
                let task = self.held_for_yes_no(&text).expect("checked by the guard");
                self.keep_held(&task).await
            }
            IntentKind::Confirm => {
                // A confirmation that names another task than the one asked about changes nothing.
                let named = intent.target.as_ref().and_then(|t| t.task);
                self.confirm_named(named, None, says_without_checks(&text)).await
            }
            IntentKind::Deny => {
                let mut answer = Answer::ok("deny", "Nothing was waiting for an answer.");
                for effect in self.step(Event::Deny).await {
                    match effect {
                        Effect::Denied(p) => {
                            self.stage = Stage::Idle;
                            let _ = self.services.store.audit("deny", Some(p.task), "user", Some(p.action.as_str()));
                            answer = Answer::ok("deny", match p.action {
                                Action::Merge => format!("Okay, task {} stays unmerged.", p.task),
                                Action::MergeAll => "Okay, nothing merged.".to_string(),
                                Action::Cancel => format!("Okay, task {} keeps going.", p.task),
                            });
                        }
                        Effect::Refuse(say) => answer = Answer::ok("deny", say),
                        _ => {}
                    }
                }
                answer
            }
            // Spoken (or typed) words cancel only after a confirmation; `capcom cancel ID` acts at once.
            IntentKind::Cancel => match self.target_of(&intent) {
                Ok(id) => self.ask_cancel(id).await,
                Err(q) => Answer::no("cancel", q),
            },
            // "Run task 7 anyway": a task that waits for an overlapping one starts now.
            IntentKind::Retry | IntentKind::FollowUp if self.waiting_target(&intent, &text).is_some() => {
                let id = self.waiting_target(&intent, &text).unwrap_or_default();
                match self.dispatcher() {
                    Ok(d) => match d.start_anyway(id).await {
                        Ok(s) => Answer::ok("retry", s),
                        Err(e) => Answer::no("retry", e),
                    },
                    Err(q) => Answer::no("retry", q),
                }
            }
            // "Dispatch task 1 anyway", "retry task 1": a held task starts as it stands.
            IntentKind::Retry if self.held_target(&intent).is_some() => {
                let task = self.held_target(&intent).expect("checked by the guard");
                self.release_held(task, dialogue::ANYWAY).await
            }
            IntentKind::Retry => match (self.target_of(&intent), self.dispatcher()) {
                (Ok(id), Ok(d)) => match d.retry(id).await {
                    Ok(s) => Answer::ok("retry", s),
                    Err(e) => Answer::no("retry", e),
                },
                (Err(q), _) | (_, Err(q)) => Answer::no("retry", q),
            },
            IntentKind::FollowUp if self.held_target(&intent).is_some() => {
                let task = self.held_target(&intent).expect("checked by the guard");
                self.release_held(task, intent.instruction.as_deref().unwrap_or(&text)).await
            }
            IntentKind::FollowUp => {
                let instruction = intent.instruction.clone().unwrap_or_default();
                match (self.target_of(&intent), self.dispatcher()) {
                    (Ok(id), Ok(d)) => match d.follow_up(id, &instruction).await {
                        Ok(s) => Answer::ok("follow_up", s),
                        Err(e) => Answer::no("follow_up", e),
                    },
                    (Err(q), _) | (_, Err(q)) => Answer::no("follow_up", q),
                }
            }
            IntentKind::Status | IntentKind::Changelog | IntentKind::Workflow | IntentKind::Repeat | IntentKind::Help => {
                self.spoken(&intent).await
            }
            other => {
                let say = intent
                    .question
                    .clone()
                    .or_else(|| intent.reason.clone())
                    .unwrap_or_else(|| format!("Understood a {} request; use `capcom {}` for it.", other.as_str(), other.as_str()));
                Answer { ok: other != IntentKind::Unknown, ..Answer::ok(other.as_str(), say) }
            }
        };
        answer.intent = intent.intent.as_str().to_string();
        // While a merge train runs, a status question hears where it stands first.
        if intent.intent == IntentKind::Status
            && let Some(t) = &self.train
        {
            answer.say = format!("{} {}", t.progress.said(), answer.say);
        }
        // The question a held task asked stays open for one reply; status answers may open it again.
        match intent.intent {
            IntentKind::Status => self.ask_again_after_status(&intent).await,
            IntentKind::Help | IntentKind::Repeat | IntentKind::Changelog => {}
            _ => self.note_asked(&answer).await,
        }
        answer.parsed = Some(intent);
        answer
    }

    /// Create the tasks of a dispatch intent and queue the ready ones.
    async fn dispatch_tasks(&mut self, intent: &Intent, utterance: Option<i64>) -> Answer {
        let d = match self.dispatcher() {
            Ok(d) => d.clone(),
            Err(e) => return Answer::no("dispatch", e),
        };
        if intent.tasks.is_empty() {
            return Answer::no("dispatch", intent.question.clone().unwrap_or_else(|| "I heard a brief but no task in it.".into()));
        }
        let store = d.ctx().store.clone();
        let mut queued = Vec::new();
        // Each task's line: as it stands, or (a queued task's) read back once the dialogue says when it starts.
        let mut lines: Vec<Result<String, (i64, String)>> = Vec::new();
        let mut ready = Vec::new();
        let now = chrono::Utc::now();
        for spec in &intent.tasks {
            let plan = dispatch::plan(spec, &d.ctx().config.get(), &d.ctx().agents, now);
            let mut spec = spec.clone();
            if spec.repo.is_none() {
                spec.repo.clone_from(&plan.repo);
            }
            let task = match store.create_task(&spec, plan.state, plan.reason.as_deref(), utterance, "user") {
                Ok(t) => t,
                Err(e) => return Answer::no("dispatch", format!("cannot record the task: {e}")),
            };
            let update = TaskUpdate {
                agent: plan.agent.as_ref().map(|a| a.agent.clone()),
                repo: plan.repo.clone(),
                ..TaskUpdate::default()
            };
            let task = store.update_task(task.id, &update).unwrap_or(task);
            if let Some(a) = &plan.agent {
                let _ = store.add_event(Some(task.id), "routed", &format!("{} ({})", a.agent, a.why), None);
            }
            let agent = plan.agent.as_ref().map(|a| (a.agent.as_str(), a.why.as_str()));
            match plan.state {
                // Its agent starts when its grace window closes (the dialogue says when).
                TaskState::Queued => {
                    ready.push(task.id);
                    // A task that will wait for an overlapping one says so, not when it starts.
                    match dispatch::lease::behind(&d.ctx().config.get(), &store, &task) {
                        Some(behind) => lines.push(Ok(read_back(task.id, &task.title, agent, plan.repo.as_deref(), &format!("is {behind}")))),
                        None => lines.push(Err((task.id, read_back(task.id, &task.title, agent, plan.repo.as_deref(), WHEN)))),
                    }
                }
                TaskState::Scheduled => {
                    d.submit(&task).await;
                    let when = match &plan.at {
                        Some(t) => format!("starts {}", t.with_timezone(&chrono::Local).format("%a %H:%M")),
                        None => "starts now".to_string(),
                    };
                    lines.push(Ok(read_back(task.id, &task.title, agent, plan.repo.as_deref(), &when)));
                }
                _ => lines.push(Ok(format!("Task {}, '{}', is on hold: {}", task.id, task.title, plan.reason.clone().unwrap_or_default()))),
            }
            queued.push(Queued {
                id: task.id,
                title: task.title.clone(),
                state: task.state,
                agent: plan.agent.as_ref().map(|a| a.agent.clone()),
                why: plan.agent.as_ref().map(|a| a.why.clone()),
                repo: plan.repo.clone(),
                question: plan.reason.clone(),
                scheduled_at: task.scheduled_at.clone(),
            });
        }
        // The dialogue decides when each queued task's agent starts: now, or when its grace window closes.
        let mut waits = std::collections::HashMap::new();
        let mut unsure = false;
        for effect in self.step(Event::Dispatched { tasks: ready, confidence: intent.confidence }).await {
            if let Effect::Wait { task, wait, unsure: u } = effect {
                waits.insert(task, wait);
                unsure |= u;
            }
        }
        let mut say: Vec<String> = lines
            .into_iter()
            .map(|l| match l {
                Ok(line) => line,
                Err((id, line)) => line.replace(WHEN, &dialogue::starts_in(waits.get(&id).copied().unwrap_or_default())),
            })
            .collect();
        if unsure {
            say.push("Did I get that right?".into());
        }
        // A held task is an answer too (its question), not an error.
        Answer { tasks: queued, ..Answer::ok("dispatch", say.join(" ")) }
    }

    /// Carry out what words heard in a grace window did: tasks undone before their agents
    /// started, or a task corrected and read back. `None` when they did neither (the window
    /// had closed): the words are then understood as usual.
    async fn graced(&mut self, effects: Vec<Effect>) -> Option<Answer> {
        let store = self.services.store.clone();
        let mut said = Vec::new();
        let mut tasks = Vec::new();
        let mut intent = None;
        for effect in effects {
            match effect {
                Effect::Undo(id) => {
                    intent = Some("cancel");
                    match store.transition(id, Some(&[TaskState::Queued]), TaskState::Cancelled, Some(UNDONE)) {
                        Ok(t) => {
                            let _ = store.audit("undo", Some(id), "user", None);
                            let _ = store.add_event(Some(id), "cancel", UNDONE, None);
                            said.push(format!("Undone: task {id}, '{}', is cancelled; its agent never started.", t.title));
                        }
                        Err(e) => said.push(format!("Task {id} could not be undone: {e}")),
                    }
                }
                Effect::Correct { task, agent, repo, wait, unsure } => {
                    intent = Some("dispatch");
                    match self.correct(task, agent, repo, wait, unsure).await {
                        Ok((line, q)) => {
                            said.push(line);
                            tasks.push(q);
                        }
                        Err(e) => said.push(e),
                    }
                }
                // "That's two tasks": the brief planned again as two, both read back.
                Effect::Split { task, wait, unsure } => {
                    intent = Some("dispatch");
                    match self.split(task, wait, unsure).await {
                        Ok((line, q)) => {
                            said.push(line);
                            tasks.extend(q);
                        }
                        Err(e) => said.push(e),
                    }
                }
                Effect::Refuse(why) => {
                    intent = Some("dispatch");
                    said.push(why);
                }
                _ => {}
            }
        }
        let intent = intent?;
        Some(Answer { tasks, ..Answer::ok(intent, said.join(" ")) })
    }

    /// "Actually give that to Jules", "make that the api repo": a task in its grace window is
    /// planned again with the new agent or repo and read back; its window started again.
    async fn correct(&mut self, id: i64, agent: Option<String>, repo: Option<String>, wait: std::time::Duration, unsure: bool) -> Result<(String, Queued), String> {
        let d = self.dispatcher()?.clone();
        let store = d.ctx().store.clone();
        let task = store.task(id).map_err(|e| e.to_string())?;
        let mut spec = task.spec.clone();
        if agent.is_some() {
            spec.agent.clone_from(&agent);
        }
        if repo.is_some() {
            spec.repo.clone_from(&repo);
        }
        let plan = dispatch::plan(&spec, &d.ctx().config.get(), &d.ctx().agents, chrono::Utc::now());
        let update = TaskUpdate { agent: plan.agent.as_ref().map(|a| a.agent.clone()), repo: plan.repo.clone(), spec: Some(spec), ..TaskUpdate::default() };
        let task = store.update_task(id, &update).map_err(|e| format!("cannot correct task {id}: {e}"))?;
        let what = [agent.as_deref(), repo.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ");
        let _ = store.add_event(Some(id), "corrected", &what, None);
        if plan.state != TaskState::Queued {
            // The correction made it a task that cannot start (a repo not configured): it waits for an answer.
            let q = plan.reason.clone().unwrap_or_else(|| "It needs an answer.".into());
            let t = store.transition(id, Some(&[TaskState::Queued]), TaskState::Held, Some(&q)).map_err(|e| e.to_string())?;
            self.step(Event::Gone(id)).await;
            let mut queued = queued_of(&t, &plan);
            queued.question = Some(q.clone());
            return Ok((format!("Task {id}, '{}', is on hold: {q}", t.title), queued));
        }
        let who = plan.agent.as_ref().map(|a| (a.agent.as_str(), a.why.as_str()));
        let mut line = read_back(id, &task.title, who, plan.repo.as_deref(), &dialogue::starts_in(wait));
        if unsure {
            line.push_str(" Did I get that right?");
        }
        Ok((line, queued_of(&task, &plan)))
    }

    /// A task id from an intent's target, or the question to ask.
    pub(super) fn target_of(&self, intent: &Intent) -> Result<i64, String> {
        let t: Target = intent.target.clone().ok_or_else(|| {
            intent.question.clone().unwrap_or_else(|| "Which task?".to_string())
        })?;
        if t.all {
            return Err("One task at a time, please: which one?".into());
        }
        if let Some(id) = t.task {
            return Ok(id);
        }
        let tasks = self.services.store.tasks(true).map_err(|e| e.to_string())?;
        if let Some(pr) = t.pr {
            return tasks.iter().find(|x| x.pr == Some(pr)).map(|x| x.id).ok_or_else(|| format!("No task has PR {pr}."));
        }
        match t.text {
            Some(text) => self.resolve(&text),
            None => Err(intent.question.clone().unwrap_or_else(|| "Which task?".to_string())),
        }
    }

    /// "4", "#4", "task 4" or words of a title → a task id.
    pub(super) fn resolve(&self, text: &str) -> Result<i64, String> {
        let t = text.trim();
        let bare = t.strip_prefix("task").map(str::trim).unwrap_or(t).trim_start_matches('#').trim();
        if let Ok(id) = bare.parse::<i64>() {
            return Ok(id);
        }
        if bare.is_empty() {
            return Err("Which task?".into());
        }
        let needle = bare.to_lowercase();
        let tasks = self.services.store.tasks(false).map_err(|e| e.to_string())?;
        let hits: Vec<&Task> = tasks.iter().filter(|x| x.title.to_lowercase().contains(&needle)).collect();
        match hits.as_slice() {
            [one] => Ok(one.id),
            [] => Err(format!("No open task matches '{bare}'.")),
            many => Err(format!(
                "Which one: {}?",
                many.iter().map(|x| format!("task {}, '{}'", x.id, x.title)).collect::<Vec<_>>().join(", or ")
            )),
        }
    }

    /// `capcom merge TASK`: ask, and keep the confirmation.
    pub(super) async fn merge(&mut self, id: i64) -> Answer {
        let gate = match self.gate() {
            Ok(g) => g,
            Err(e) => return Answer::no("merge", e),
        };
        match self.ask_fresh(&gate, id).await {
            Ok((p, note)) => {
                self.ask(p.clone()).await;
                let say = match note {
                    Some(n) => format!("{n} {}", p.question),
                    None => p.question.clone(),
                };
                Answer { pending: Some(p), ..Answer::ok("merge", say) }
            }
            Err(say) => Answer::no("merge", say),
        }
    }

    /// Ask through the gate. A merge question is only asked about a head reviewed against the
    /// current base: a task whose base moved is brought up to date and checked again first
    /// (the merge train's step for one task), and what that did is said before the question.
    async fn ask_fresh(&self, gate: &Gate, id: i64) -> Result<(Pending, Option<String>), String> {
        match gate.ask(id, chrono::Utc::now(), tokio::time::Instant::now()).await {
            Ok(p) => Ok((p, None)),
            Err(r) if r.stale => {
                let d = self.dispatcher()?.clone();
                let up = d.update_task(id).await;
                if !up.ready() {
                    return Err(up.said());
                }
                let note = up.said();
                match gate.ask(id, chrono::Utc::now(), tokio::time::Instant::now()).await {
                    Ok(p) => Ok((p, Some(note))),
                    Err(r) => Err(format!("{note} {}", r.reason)),
                }
            }
            Err(r) => Err(r.reason),
        }
    }

    /// The pending merge question's base branch moved: withdraw it, and ask again about
    /// the head brought up to date (said to the user).
    pub(super) async fn withdraw_if_base_moved(&mut self) -> Option<Answer> {
        let p = self.dialogue.pending()?.clone();
        self.reask_if_base_moved(&p).await
    }

    /// `p`'s base branch moved: withdraw it and ask again (the answer says so).
    async fn reask_if_base_moved(&mut self, p: &Pending) -> Option<Answer> {
        if p.action == Action::Cancel {
            return None;
        }
        let gate = self.gate().ok()?;
        let probe = (gate.clone(), p.clone());
        let moved = tokio::task::spawn_blocking(move || probe.0.base_moved(&probe.1)).await.unwrap_or(false);
        if !moved {
            return None;
        }
        Some(self.reask(p).await)
    }

    /// Withdraw `p` (its base moved) and ask again.
    async fn reask(&mut self, p: &Pending) -> Answer {
        self.step(Event::Withdraw).await;
        self.stage = Stage::Idle;
        let store = self.services.store.clone();
        let tasks: Vec<Task> = std::iter::once(p.task).chain(p.batch.iter().map(|b| b.task)).filter_map(|id| store.task(id).ok()).collect();
        let base = self.base_name(&tasks);
        let why = format!("{base} moved since I asked, so that question is withdrawn.");
        let _ = store.audit("confirm_withdrawn", Some(p.task), "base_moved", Some(p.action.as_str()));
        let _ = store.add_event(Some(p.task), "merge", &format!("the merge question was withdrawn: {base} moved since it was asked"), None);
        let mut a = match p.action {
            Action::MergeAll => {
                let ids: Vec<i64> = p.batch.iter().map(|b| b.task).collect();
                self.merge_all(&ids).await
            }
            _ => self.merge(p.task).await,
        };
        a.say = format!("{why} {}", a.say);
        a.ok = false;
        a
    }

    /// After a merge into a repo's base: bring its other ready tasks up to date, off the
    /// coordinator's loop (it runs their checks); what happens comes back as a notice.
    /// What the answer says about it, when there are any.
    fn start_train(&self, merged: i64) -> Option<String> {
        let d = self.dispatch.clone()?;
        let store = self.services.store.clone();
        let task = store.task(merged).ok()?;
        let repo = dispatch::resolve_repo(&self.services.config, task.repo.as_deref().or(task.spec.repo.as_deref())).ok()?.clone();
        let others = store
            .tasks_in(&[TaskState::Ready])
            .ok()?
            .into_iter()
            .filter(|t| t.id != merged && dispatch::resolve_repo(&self.services.config, t.repo.as_deref().or(t.spec.repo.as_deref())).is_ok_and(|r| r.name == repo.name))
            .count();
        if others == 0 {
            return None;
        }
        let inbox = self.inbox.clone();
        let name = repo.name.clone();
        tokio::spawn(async move {
            let ups = d.update_ready(&name, &[merged]).await;
            let said: Vec<String> = ups.iter().filter(|u| u.step != dispatch::train::Step::UpToDate).map(|u| u.said()).collect();
            for line in &said {
                tracing::info!(train = %line);
            }
            if let (false, Some(tx)) = (said.is_empty(), inbox) {
                let _ = tx.send(Msg::Notice(said.join(" "))).await;
            }
        });
        let what = if others == 1 { "the other ready task".to_string() } else { format!("the other {others} ready tasks") };
        Some(format!("I'm bringing {what} up to date with {} and checking {} again.", repo.base, if others == 1 { "it" } else { "them" }))
    }

    /// Ask before cancelling a task named in words.
    async fn ask_cancel(&mut self, id: i64) -> Answer {
        let store = &self.services.store;
        let task = match store.task(id) {
            Ok(t) => t,
            Err(e) => return Answer::no("cancel", e.to_string()),
        };
        if task.state.is_closed() {
            return Answer::no("cancel", format!("Task {id} is already {}.", task.state));
        }
        let v = TaskView::from_store(&task, &store.runs(id).unwrap_or_default(), &store.events(id).unwrap_or_default());
        let question = crate::report::script::cancel_question(&v);
        let ttl = self.services.config.dispatch.confirm_ttl.get();
        let p = Pending::about(Action::Cancel, id, question, chrono::Utc::now(), tokio::time::Instant::now(), ttl);
        self.ask(p.clone()).await;
        Answer { pending: Some(p.clone()), ..Answer::ok("cancel", p.question) }
    }

    /// "Merge all ready": ask about each ready task through the gate (each bound to its own
    /// head), then ask once about all that may be merged, saying why the others may not.
    async fn merge_all(&mut self, only: &[i64]) -> Answer {
        if let Some(t) = &self.train {
            return Answer::no("merge", format!("A merge train is running; ask again when it is done. {}", t.progress.said()));
        }
        let gate = match self.gate() {
            Ok(g) => g,
            Err(e) => return Answer::no("merge", e),
        };
        let store = self.services.store.clone();
        let ready: Vec<Task> = match store.tasks_in(&[TaskState::Ready]) {
            Ok(t) => t.into_iter().filter(|t| only.is_empty() || only.contains(&t.id)).collect(),
            Err(e) => return Answer::no("merge", e.to_string()),
        };
        let mut asks: Vec<Pending> = Vec::new();
        let mut views: Vec<TaskView> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        for t in &ready {
            match self.ask_fresh(&gate, t.id).await {
                Ok((p, note)) => {
                    refused.extend(note);
                    views.push(TaskView::from_store(t, &store.runs(t.id).unwrap_or_default(), &store.events(t.id).unwrap_or_default()));
                    asks.push(p);
                }
                Err(r) => refused.push(format!("{}.", r.trim_end_matches('.'))),
            }
        }
        // Every question of the batch expires together, counted from the last one asked.
        if let Some(last) = asks.iter().map(|a| (a.expires_at, a.deadline)).max_by_key(|(_, d)| *d) {
            for a in &mut asks {
                (a.expires_at, a.deadline) = last;
            }
        }
        if asks.is_empty() {
            let mut say = vec![crate::report::script::refusal(&crate::report::Refusal::NothingReady)];
            say.extend(refused);
            return Answer::no("merge", say.join(" "));
        }
        if asks.len() == 1 {
            let p = asks.remove(0);
            self.ask(p.clone()).await;
            let say = std::iter::once(p.question.clone()).chain(refused).collect::<Vec<_>>().join(" ");
            return Answer { pending: Some(p), ..Answer::ok("merge", say) };
        }
        let base = self.base_name(&ready);
        let question = crate::report::script::merge_all_question(&views, &base);
        let first = asks[0].clone();
        let no_checks = asks.iter().any(|a| a.no_checks);
        let p = Pending {
            question,
            action: Action::MergeAll,
            batch: asks,
            pr: None,
            no_checks,
            ..first
        };
        self.ask(p.clone()).await;
        let say = std::iter::once(p.question.clone()).chain(refused).collect::<Vec<_>>().join(" ");
        Answer { pending: Some(p), ..Answer::ok("merge", say) }
    }

    /// The base branch the tasks merge into, when they share one ("main" otherwise said per task).
    fn base_name(&self, tasks: &[Task]) -> String {
        let cfg = &self.services.config;
        let bases: std::collections::BTreeSet<String> = tasks
            .iter()
            .filter_map(|t| t.repo.as_deref().and_then(|r| cfg.repo(r)).map(|r| r.base.clone()))
            .collect();
        match bases.len() {
            1 => bases.into_iter().next().unwrap_or_default(),
            _ => "their base branches".into(),
        }
    }

    /// `capcom confirm [--no-checks] [CODE]`: do what the pending question asked, if every
    /// condition holds. `without_checks` is the stronger confirmation ("confirm without
    /// checks") a merge of work no automated check ran on needs.
    pub(super) async fn confirm(&mut self, code: Option<String>, without_checks: bool) -> Answer {
        self.confirm_named(None, code, without_checks).await
    }

    /// A confirmation, naming the task it means (or not). The dialogue decides which question
    /// it answers; the gate then checks it is still live and what it was bound to.
    async fn confirm_named(&mut self, named: Option<i64>, code: Option<String>, without_checks: bool) -> Answer {
        let mut proceed = None;
        for effect in self.step(Event::Confirm { named }).await {
            match effect {
                Effect::Proceed(p) => proceed = Some(p),
                Effect::Refuse(say) => return Answer::no("confirm", say),
                _ => {}
            }
        }
        let Some(asked) = proceed else {
            return Answer::no("confirm", "Nothing is waiting for confirmation; nothing was done.");
        };
        let clock = tokio::time::Instant::now();
        if let Err(r) = Gate::live(&asked, code.as_deref(), clock) {
            if r.reason.starts_with("Code ") {
                // A wrong code leaves the question open.
                self.step(Event::Ask(asked)).await;
            } else {
                self.stage = Stage::Idle;
            }
            return Answer::no("confirm", r.reason);
        }
        // A plain "confirm" of untested work is refused and the question stays open.
        let mut pending = asked.clone();
        pending.without_checks = without_checks;
        for item in &mut pending.batch {
            item.without_checks = without_checks;
        }
        if let Err(r) = Gate::checks_waived(&pending) {
            self.step(Event::Ask(asked)).await;
            return Answer::no("confirm", r.reason);
        }
        match pending.action {
            Action::Merge => {}
            Action::Cancel => {
                self.stage = Stage::Idle;
                let mut a = self.cancel(pending.task).await;
                a.intent = "confirm".into();
                return a;
            }
            Action::MergeAll => {
                if let Some(mut a) = self.reask_if_base_moved(&asked).await {
                    a.intent = "confirm".into();
                    return a;
                }
                self.stage = Stage::Idle;
                return self.confirm_all(&pending, clock).await;
            }
        }
        let gate = match self.gate() {
            Ok(g) => g,
            Err(e) => {
                self.step(Event::Ask(asked)).await;
                return Answer::no("confirm", e);
            }
        };
        if let Some(mut a) = self.reask_if_base_moved(&asked).await {
            a.intent = "confirm".into();
            return a;
        }
        // A confirmation is used once, whatever happens (the code was checked above).
        self.stage = Stage::Idle;
        let res = gate.merge(&pending, code.as_deref(), clock).await;
        match res {
            Ok(m) => {
                let mut say = match m.pr {
                    Some(n) if m.queued => format!("Put task {}, pull request {n}, in the merge queue of {}.", m.task, m.base),
                    Some(n) => format!("Merged task {}, pull request {n}, into {}.", m.task, m.base),
                    None => format!("Merged task {} into {}.", m.task, m.base),
                };
                if let Some(n) = &m.note {
                    say.push(' ');
                    say.push_str(n);
                }
                // A queued PR is not merged yet: the others wait for the queue to merge it.
                let train = if m.queued { None } else { self.start_train(m.task) };
                if let Some(t) = train {
                    say.push(' ');
                    say.push_str(&t);
                }
                Answer { merged: Some(m), ..Answer::ok("confirm", say) }
            }
            Err(refusal) => Answer::no("confirm", refusal.reason),
        }
    }

    /// A confirmed "merge all": the train runs as a task of its own, beside the conversation
    /// (one at a time), and tells the coordinator what it does (`Msg::Train`). Each merge goes
    /// through the gate, bound to its question's head and to the combined tree the train
    /// checked (see `dispatch::train`). The request that confirmed it is answered with the
    /// outcome when the train ends; a spoken confirm hears that it started, each merge as it
    /// lands, and what was left out.
    async fn confirm_all(&mut self, pending: &Pending, clock: tokio::time::Instant) -> Answer {
        let gate = match self.gate() {
            Ok(g) => g,
            Err(e) => return Answer::no("confirm", e),
        };
        let d = match self.dispatcher() {
            Ok(d) => d.clone(),
            Err(e) => return Answer::no("confirm", e),
        };
        if let Some(t) = &self.train {
            return Answer::no("confirm", format!("A merge train is already running; nothing else merged. {}", t.progress.said()));
        }
        let store = self.services.store.clone();
        let batch: Vec<Pending> = pending.batch.clone();
        let ids: Vec<i64> = batch.iter().map(|p| p.task).collect();
        let tasks: Vec<Task> = ids.iter().filter_map(|id| store.task(*id).ok()).collect();
        let base = self.base_name(&tasks);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<dispatch::train::News>(64);
        let Some(inbox) = self.inbox.clone() else {
            // No loop to report to: ride here and answer at the end.
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let fin = d.ride(gate, batch, clock, tx, stop).await;
            let _ = drain.await;
            return self.train_outcome(&fin, true);
        };
        let forward = inbox.clone();
        tokio::spawn(async move {
            while let Some(news) = rx.recv().await {
                if forward.send(Msg::Train(news)).await.is_err() {
                    break;
                }
            }
        });
        let rider = stop.clone();
        tokio::spawn(async move {
            let ride = tokio::spawn(async move { d.ride(gate, batch, clock, tx, rider).await });
            // A train that ended without its last word (a panic) still lets the next one run.
            if let Err(e) = ride.await {
                tracing::error!(error = %e, "the merge train ended early");
                let _ = inbox.send(Msg::Train(dispatch::train::News::Done(dispatch::train::Finished::default()))).await;
            }
        });
        self.train = Some(Riding {
            progress: dispatch::train::Progress::new(ids.len(), &base),
            stop,
            waiters: Vec::new(),
            reply_due: true,
        });
        let n = crate::report::words::count_of(ids.len() as u64, "task");
        Answer::ok(
            "confirm",
            format!("Merging {n} into {base}, one at a time; I'll say each as it lands. Say \"stop the train\" to stop it between merges."),
        )
    }

    /// What the train said it did.
    pub(super) fn train_news(&mut self, news: dispatch::train::News) {
        use dispatch::train::News;
        match news {
            News::Progress(p) => {
                if let Some(t) = self.train.as_mut() {
                    let stopping = t.progress.doing == dispatch::train::Doing::Stopping;
                    t.progress = p;
                    if stopping {
                        t.progress.doing = dispatch::train::Doing::Stopping;
                    }
                }
            }
            News::Done(fin) => {
                let waiters = self.train.take().map(|t| t.waiters).unwrap_or_default();
                let answer = self.train_outcome(&fin, !waiters.is_empty());
                if waiters.is_empty() {
                    self.notice(answer.say.clone());
                }
                for w in waiters {
                    let _ = w.send(answer.clone());
                }
            }
            landed_or_dropped => {
                if let Some(t) = self.train.as_mut() {
                    match &landed_or_dropped {
                        News::Landed { merged, .. } if !t.progress.merged.contains(&merged.task) => t.progress.merged.push(merged.task),
                        News::Dropped { task, .. } if !t.progress.dropped.contains(task) => t.progress.dropped.push(*task),
                        _ => {}
                    }
                }
                if let Some(said) = landed_or_dropped.said() {
                    self.notice(said);
                }
            }
        }
    }

    /// The outcome of a train. `whole`: every task's outcome (the answer to the request that
    /// confirmed it); otherwise only what was not said as it happened.
    fn train_outcome(&self, fin: &dispatch::train::Finished, whole: bool) -> Answer {
        use dispatch::train::NotMerged;
        let store = self.services.store.clone();
        let tasks: Vec<Task> = fin.results.iter().filter_map(|(id, _)| store.task(*id).ok()).collect();
        let base = self.base_name(&tasks);
        let mut say = if whole {
            let results: Vec<(TaskView, Result<(), crate::report::Refusal>)> = fin
                .results
                .iter()
                .map(|(id, r)| {
                    let view = store
                        .task(*id)
                        .map(|t| TaskView::from_store(&t, &store.runs(t.id).unwrap_or_default(), &store.events(t.id).unwrap_or_default()))
                        .unwrap_or_else(|_| TaskView::new(*id, "", TaskState::Ready));
                    let named = crate::report::script::Named::from(&view);
                    let r = r.clone().map_err(|e| match e {
                        NotMerged::Refused(error) => crate::report::Refusal::Failed { task: named, error },
                        NotMerged::LeftOut(why) => crate::report::Refusal::LeftOut { task: named, why },
                        NotMerged::Stopped => crate::report::Refusal::LeftOut { task: named, why: "the train was stopped before its turn".into() },
                    });
                    (view, r)
                })
                .collect();
            crate::report::script::merge_all_outcome(&results, &base)
        } else {
            let n = crate::report::words::count_of(fin.merged.len() as u64, "task");
            let mut s = format!("The merge train is done: {n} merged into {base}.");
            let refused: Vec<String> = fin
                .results
                .iter()
                .filter_map(|(_, r)| match r {
                    Err(NotMerged::Refused(why)) => Some(format!("{}.", why.trim_end_matches('.'))),
                    _ => None,
                })
                .collect();
            if !refused.is_empty() {
                s = format!("{s} {}", refused.join(" "));
            }
            s
        };
        if fin.stopped {
            let left = fin.results.iter().filter(|(_, r)| matches!(r, Err(NotMerged::Stopped))).count() as u64;
            say = format!("{say} The train was stopped as you asked; {} not merged.", crate::report::words::count_of(left, "task"));
        }
        if !fin.updates.is_empty() {
            say = format!("{say} {}", fin.updates.join(" "));
        }
        let ok = !fin.merged.is_empty();
        Answer { ok, merged: fin.merged.first().cloned(), ..Answer::ok("confirm", say) }
    }

    /// Answer a request, or, when it started a merge train, when the train ends.
    pub(super) fn reply(&mut self, answer: Answer, reply: tokio::sync::oneshot::Sender<Answer>) {
        match self.train.as_mut() {
            Some(t) if t.reply_due => {
                t.reply_due = false;
                t.waiters.push(reply);
            }
            _ => {
                let _ = reply.send(answer);
            }
        }
    }

    /// "Stop the train": the running train stops before its next merge.
    fn stop_train(&mut self) -> Answer {
        match self.train.as_mut() {
            Some(t) => {
                t.stop.store(true, std::sync::atomic::Ordering::SeqCst);
                t.progress.doing = dispatch::train::Doing::Stopping;
                let so_far = if t.progress.merged.is_empty() {
                    "Nothing has merged yet.".to_string()
                } else {
                    format!("{} merged so far.", crate::report::words::count_of(t.progress.merged.len() as u64, "task"))
                };
                Answer::ok("cancel", format!("Okay, the merge train stops before its next merge. {so_far}"))
            }
            None => Answer::no("cancel", "No merge train is running; nothing to stop."),
        }
    }

    /// `capcom cancel TASK`.
    pub(super) async fn cancel(&mut self, id: i64) -> Answer {
        let d = match self.dispatcher() {
            Ok(d) => d.clone(),
            Err(e) => return Answer::no("cancel", e),
        };
        if self.dialogue.pending().is_some_and(|p| p.task == id) {
            self.stage = Stage::Idle;
        }
        self.step(Event::Gone(id)).await;
        match d.cancel(id).await {
            Ok(s) => Answer::ok("cancel", s),
            Err(e) => Answer::no("cancel", e),
        }
    }
}

impl Coordinator {
    /// The task a "…anyway" starts: one that waits (or is held) for an overlapping task.
    fn waiting_target(&self, intent: &Intent, text: &str) -> Option<i64> {
        let lower = text.to_lowercase();
        if !["anyway", "right now", "start it now", "run it now"].iter().any(|w| lower.contains(w)) {
            return None;
        }
        let id = self.target_of(intent).ok()?;
        self.services.store.task(id).ok().filter(dispatch::lease::is_waiting).map(|t| t.id)
    }

    /// The held task a follow-up answers, if it targets one.
    fn held_target(&self, intent: &Intent) -> Option<Task> {
        let id = self.target_of(intent).ok()?;
        self.services.store.task(id).ok().filter(|t| t.state == TaskState::Held)
    }

    /// The user answered a held task's question (or said "dispatch anyway"): fold the answer
    /// into the task, plan it again, and queue it when it is ready now.
    pub(super) async fn release_held(&mut self, task: Task, answer: &str) -> Answer {
        let d = match self.dispatcher() {
            Ok(d) => d.clone(),
            Err(e) => return Answer::no("follow_up", e),
        };
        let ctx = d.ctx();
        let tasks: Vec<TaskRef> = Vec::new();
        let config = ctx.config.get();
        let cx = understand::Context {
            config: &config,
            tasks: &tasks,
            pending: None,
            now: chrono::Local::now().fixed_offset(),
        };
        let mut spec = understand::answer_clarification(&task.spec, answer, &cx);
        let lower = answer.to_lowercase();
        if ["anyway", "go ahead", "just do it", "as is"].iter().any(|w| lower.contains(w)) {
            spec.readiness.ready = true;
        }
        let plan = dispatch::plan(&spec, &config, &ctx.agents, chrono::Utc::now());
        let store = ctx.store.clone();
        let update = TaskUpdate {
            agent: plan.agent.as_ref().map(|a| a.agent.clone()),
            repo: plan.repo.clone(),
            spec: Some(spec),
            ..TaskUpdate::default()
        };
        if let Err(e) = store.update_task(task.id, &update) {
            return Answer::no("follow_up", format!("cannot update task {}: {e}", task.id));
        }
        let _ = store.add_event(Some(task.id), "answer", answer, None);
        match plan.state {
            TaskState::Queued | TaskState::Scheduled => {
                match store.transition(task.id, Some(&[TaskState::Held]), plan.state, None) {
                    Ok(t) => {
                        d.submit(&t).await;
                        let queued = queued_of(&t, &plan);
                        let agent = plan.agent.map(|a| a.agent).unwrap_or_else(|| "an agent".into());
                        Answer { tasks: vec![queued], ..Answer::ok("follow_up", format!("Thanks. Task {} is queued for {agent}.", task.id)) }
                    }
                    Err(e) => Answer::no("follow_up", e.to_string()),
                }
            }
            _ => {
                let q = plan.reason.clone().unwrap_or_else(|| "It still needs an answer.".into());
                let t = store.transition(task.id, Some(&[TaskState::Held]), TaskState::Held, Some(&q)).unwrap_or(task);
                let mut queued = queued_of(&t, &plan);
                queued.question = Some(q.clone());
                Answer { tasks: vec![queued], ..Answer::no("follow_up", format!("Task {} is still on hold: {q}", t.id)) }
            }
        }
    }
}

/// The merge train running now, as the coordinator knows it.
pub struct Riding {
    /// Where it stands (what a status question hears while it runs).
    pub(super) progress: dispatch::train::Progress,
    /// Set by "stop the train": it stops before its next merge.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Requests answered with the outcome when it ends.
    waiters: Vec<tokio::sync::oneshot::Sender<Answer>>,
    /// The request being handled started it: its answer waits for the outcome.
    pub(super) reply_due: bool,
}

/// Stands for when a queued task starts, in its read-back, until the dialogue says.
const WHEN: &str = "\u{0}when\u{0}";

/// Why a task undone in its grace window is cancelled.
pub const UNDONE: &str = "undone by the user before its agent started";

/// What an answer says about one task and its plan.
pub(super) fn queued_of(t: &Task, plan: &dispatch::Plan) -> Queued {
    Queued {
        id: t.id,
        title: t.title.clone(),
        state: t.state,
        agent: plan.agent.as_ref().map(|a| a.agent.clone()),
        why: plan.agent.as_ref().map(|a| a.why.clone()),
        repo: plan.repo.clone(),
        question: plan.reason.clone().filter(|_| t.state == TaskState::Held),
        scheduled_at: t.scheduled_at.clone(),
    }
}

/// "confirm without checks" (and "confirm, no checks", "confirm without tests"): the
/// stronger confirmation a merge of work no automated check ran on needs.
pub(super) fn says_without_checks(text: &str) -> bool {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    let checks = has("checks") || has("check") || has("tests") || has("ci");
    (has("without") || has("no") || has("untested")) && checks || has("untested")
}

/// A yes that carries "without checks": "confirm without checks", "yes, merge it untested".
pub(super) fn confirms_without_checks(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
    let yes = words.iter().any(|w| matches!(*w, "confirm" | "confirmed" | "yes" | "merge" | "approve" | "ok" | "okay"));
    let no = words.iter().any(|w| matches!(*w, "don't" | "dont" | "cancel" | "stop" | "not"));
    yes && !no && says_without_checks(text)
}

#[cfg(test)]
mod no_checks_tests {
    use super::{confirms_without_checks, says_without_checks};

    #[test]
    fn a_yes_without_checks_is_a_confirmation() {
        assert!(confirms_without_checks("Confirm without checks."));
        assert!(confirms_without_checks("yes, merge it untested"));
        assert!(!confirms_without_checks("don't merge without checks"));
        assert!(!confirms_without_checks("without checks"));
    }

    #[test]
    fn the_stronger_confirmation_is_heard() {
        for yes in ["confirm without checks", "Confirm, without checks.", "confirm with no checks", "yes, merge it untested", "confirm without tests"] {
            assert!(says_without_checks(yes), "{yes}");
        }
        for no in ["confirm", "yes", "confirm it", "merge it", "go ahead"] {
            assert!(!says_without_checks(no), "{no}");
        }
    }
}
