//! `capcom parse TEXT --json`: understanding only. Needs no daemon; when one is
//! running, its tasks are used to resolve references ("the tailwind one"). `--explain`
//! prints which words decided each field (`understand::explain`).

use super::client::Client;
use super::{exit, print_json};
use crate::config::{Config, DataDir};
use crate::store::Task;
use crate::understand::{self, Context, TaskRef};

pub async fn run(config: &Config, data: &DataDir, text: &str, json: bool, explain: bool) -> u8 {
    if text.trim().is_empty() {
        eprintln!("capcom: parse needs some words, e.g. capcom parse \"what's finished?\" --json");
        return exit::USAGE;
    }
    let tasks: Vec<TaskRef> = match Client::connect(data) {
        Ok(c) => c.get::<Vec<Task>>("/v1/tasks?all=true").await.map(|v| v.iter().map(Task::to_ref).collect()).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let ctx = Context { config, tasks: &tasks, pending: None, now: chrono::Local::now().fixed_offset() };
    if explain {
        // What the rules decided, word by word; the language-model refiner is not asked.
        let (_, lines) = understand::explain(text, &ctx);
        for l in lines {
            println!("{l}");
        }
        return exit::OK;
    }
    let mut intent = understand::parse(text, &ctx);
    if let Some(llm) = &config.understand.llm
        && intent.confidence < llm.threshold {
            let summary = understand::context_summary(&ctx);
            intent = crate::refine::refine(intent, text, &summary, llm).await;
        }
    if json {
        print_json(&intent);
    } else {
        println!("intent: {}", intent.intent.as_str());
        for (i, t) in intent.tasks.iter().enumerate() {
            println!("task {}: {} [{}]", i + 1, t.title, t.kind.as_str());
            if !t.scope.include.is_empty() || !t.scope.exclude.is_empty() {
                println!("  scope: include {:?} exclude {:?}", t.scope.include, t.scope.exclude);
            }
            for a in &t.acceptance {
                println!("  accept: {} [{}]", a.text, a.check.as_deref().unwrap_or("manual"));
            }
            if let Some(q) = &t.readiness.question {
                println!("  question: {q}");
            }
        }
        if let Some(q) = intent.question.as_ref().or(intent.reason.as_ref()) {
            println!("{q}");
        }
    }
    exit::OK
}
