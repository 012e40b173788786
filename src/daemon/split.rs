//! "That's two tasks", carried out: within its grace window, a brief read as one task is
//! planned again as two ([`crate::understand::two`]), and both are read back. The dialogue
//! decided it (`Effect::Split`) and started the window again; this file does the store work.

use super::actions::{queued_of, read_back};
use super::answer::Queued;
use super::coordinator::Coordinator;
use super::dialogue::{self, Event};
use crate::dispatch;
use crate::store::{Task, TaskState, TaskUpdate};
use crate::understand::{self, TaskRef};
use std::time::Duration;

impl Coordinator {
    /// Split task `id` in two: it becomes the first half, a new task of the same utterance the
    /// second. Both wait for the window (`wait`) the dialogue started again. `Err` says why
    /// nothing changed.
    pub(super) async fn split(&mut self, id: i64, wait: Duration, unsure: bool) -> Result<(String, Vec<Queued>), String> {
        let d = self.dispatcher()?.clone();
        let store = d.ctx().store.clone();
        let config = d.ctx().config.get();
        let task = store.task(id).map_err(|e| e.to_string())?;
        if task.state != TaskState::Queued {
            return Err(format!("Task {id} is {} now, so it stays as it is.", task.state));
        }
        let text = if task.spec.brief.trim().is_empty() { task.title.clone() } else { task.spec.brief.clone() };
        let tasks: Vec<TaskRef> = store.tasks(true).unwrap_or_default().iter().rev().take(50).rev().map(Task::to_ref).collect();
        let cx = understand::Context { config: &config, tasks: &tasks, pending: None, now: chrono::Local::now().fixed_offset() };
        let Some(mut specs) = understand::two::split_in_two(&text, &cx).filter(|s| s.len() == 2) else {
            return Err(format!(
                "I can't find two orders in \"{}\", so task {id} stays one task and {}. Say the second one on its own.",
                text.trim(),
                dialogue::starts_in(wait)
            ));
        };
        // An agent or repo corrected since ("actually give that to Jules") holds for both halves.
        let said = understand::parse(&text, &cx).tasks.into_iter().next();
        for s in &mut specs {
            if task.spec.agent.is_some() && said.as_ref().is_some_and(|w| w.agent != task.spec.agent) {
                s.agent.clone_from(&task.spec.agent);
            }
            if task.spec.repo.is_some() && said.as_ref().is_some_and(|w| w.repo != task.spec.repo) {
                s.repo.clone_from(&task.spec.repo);
            }
        }
        let second_spec = specs.pop().expect("two specs");
        let first_spec = specs.pop().expect("two specs");
        let now = chrono::Utc::now();
        let mut said = Vec::new();
        let mut queued = Vec::new();

        // The first half keeps the task's id.
        let plan = dispatch::plan(&first_spec, &config, &d.ctx().agents, now);
        let update = TaskUpdate { agent: plan.agent.as_ref().map(|a| a.agent.clone()), repo: plan.repo.clone(), spec: Some(first_spec), ..TaskUpdate::default() };
        let first = store.update_task(id, &update).map_err(|e| format!("cannot split task {id}: {e}"))?;
        let first = if plan.state == TaskState::Queued {
            first
        } else {
            let q = plan.reason.clone().unwrap_or_else(|| "It needs an answer.".into());
            self.step(Event::Gone(id)).await;
            store.transition(id, Some(&[TaskState::Queued]), TaskState::Held, Some(&q)).map_err(|e| e.to_string())?
        };
        said.push(self.line(&first, &plan, wait));
        queued.push(queued_of(&first, &plan));

        // The second half is a new task of the same utterance, in the same window.
        let plan = dispatch::plan(&second_spec, &config, &d.ctx().agents, now);
        let mut spec = second_spec;
        if spec.repo.is_none() {
            spec.repo.clone_from(&plan.repo);
        }
        let second = store.create_task(&spec, plan.state, plan.reason.as_deref(), task.utterance_id, "user").map_err(|e| format!("cannot record the second task: {e}"))?;
        let update = TaskUpdate { agent: plan.agent.as_ref().map(|a| a.agent.clone()), repo: plan.repo.clone(), ..TaskUpdate::default() };
        let second = store.update_task(second.id, &update).unwrap_or(second);
        if let Some(a) = &plan.agent {
            let _ = store.add_event(Some(second.id), "routed", &format!("{} ({})", a.agent, a.why), None);
        }
        match plan.state {
            TaskState::Queued if first.state == TaskState::Queued => {
                self.record_window(second.id, wait, unsure);
                self.step(Event::Added { task: second.id, like: id }).await;
            }
            TaskState::Queued => {
                // The first half is held, so the window is gone with it: the second has its own.
                self.step(Event::Dispatched { tasks: vec![second.id], confidence: if unsure { 0.0 } else { 1.0 } }).await;
            }
            TaskState::Scheduled => d.submit(&second).await,
            _ => {}
        }
        said.push(self.line(&second, &plan, wait));
        queued.push(queued_of(&second, &plan));
        let what = format!("split in two: tasks {id} and {}", second.id);
        let _ = store.add_event(Some(id), "split", &what, None);
        let _ = store.add_event(Some(second.id), "split", &what, None);
        let _ = store.audit("split", Some(id), "user", Some(&second.id.to_string()));
        if unsure {
            said.push("Did I get that right?".into());
        }
        Ok((format!("Two tasks, then. {}", said.join(" ")), queued))
    }

    /// One task's line after a split: its read-back, or its question when it is held.
    fn line(&self, t: &Task, plan: &dispatch::Plan, wait: Duration) -> String {
        match t.state {
            TaskState::Held => format!("Task {}, '{}', is on hold: {}", t.id, t.title, t.reason.clone().unwrap_or_default()),
            TaskState::Scheduled => {
                let when = t.scheduled_at.clone().unwrap_or_default();
                read_back(t.id, &t.title, plan.agent.as_ref().map(|a| (a.agent.as_str(), a.why.as_str())), plan.repo.as_deref(), &format!("starts at {when}"))
            }
            _ => read_back(t.id, &t.title, plan.agent.as_ref().map(|a| (a.agent.as_str(), a.why.as_str())), plan.repo.as_deref(), &dialogue::starts_in(wait)),
        }
    }
}
