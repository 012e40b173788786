//! Voice out: scripts, TTS, the speech queue, changelog audio and the podcast feed.

use capcom::config::Speech;
use capcom::report::changelog;
use capcom::report::feed::{self, FeedChannel, FeedItem};
use capcom::report::playback::{Cut, NullOutput, Output, PlaybackError, SpeechEvent, SpeechQueue};
use capcom::report::script::{self, Named, Note, Refusal, Severity, StepResult};
use capcom::report::tts::{self, CommandSpeaker, Espeak, EspeakSettings, Pcm, Speaker, TtsError};
use capcom::report::{CheckView, TaskView, split_sentences};
use capcom::store::{Event, Run, Task, TaskState};
use capcom::understand::{StatusFilter, TaskSpec};
use chrono::{DateTime, Duration as CDuration, FixedOffset, TimeZone, Utc};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Fixtures

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

fn mins_ago(m: i64) -> Option<DateTime<Utc>> {
    Some(now() - CDuration::minutes(m))
}

fn paths(ps: &[&str]) -> Vec<String> {
    ps.iter().map(|p| p.to_string()).collect()
}

fn ready(id: i64, title: &str, agent: &str, pr: Option<u64>) -> TaskView {
    let mut v = TaskView::new(id, title, TaskState::Ready);
    v.agent = Some(agent.into());
    v.pr = pr;
    v.branch = Some(format!("capcom/{id}-work"));
    v.checks = vec![CheckView::new("build", true), CheckView::new("test", true)];
    v.paths = paths(&["src/components/Button.tsx", "src/components/Card.tsx", "src/components/ui/Nav.tsx"]);
    v.files_changed = Some(3);
    v.started = mins_ago(40);
    v.finished = mins_ago(28);
    v.updated = mins_ago(27);
    v
}

fn red(id: i64, title: &str, check: &str) -> TaskView {
    let mut v = ready(id, title, "cursor", None);
    v.state = TaskState::NeedsAttention;
    v.checks = vec![CheckView::new("build", true), CheckView::new(check, false)];
    v.reason = Some(format!("check {check} failed"));
    v
}

fn running(id: i64, title: &str, agent: &str, minutes: i64, progress: &str) -> TaskView {
    let mut v = TaskView::new(id, title, TaskState::Running);
    v.agent = Some(agent.into());
    v.started = mins_ago(minutes);
    v.last_progress = Some(progress.into());
    v
}

/// Spoken text must not read paths or digits the scripts made themselves.
fn assert_for_the_ear(text: &str) {
    assert!(!text.contains('/'), "a path slipped into speech: {text}");
    assert!(!text.chars().any(|c| c.is_ascii_digit()), "digits in speech: {text}");
    assert!(!text.contains("  "), "double space: {text}");
}

fn board() -> Vec<TaskView> {
    let mut secret = red(9, "Rotate the API client", "lint");
    secret.checks = vec![CheckView::new("build", true)];
    secret.secrets = 2;
    secret.reason = None;
    let mut failed = TaskView::new(8, "Add visual regression tests", TaskState::Failed);
    failed.agent = Some("jules".into());
    failed.reason = Some("Agent exited with status 1 after src/tests/visual.spec.ts timed out".into());
    vec![
        ready(4, "Upgrade Tailwind", "copilot", Some(41)),
        ready(5, "Refresh the hero copy", "claude", None),
        red(6, "Fix the header spacing", "lint"),
        secret,
        failed,
        running(7, "Migrate to React Query", "codex", 12, "Updating src/hooks/useUser.ts to the new API"),
    ]
}

// ---------------------------------------------------------------------------
// Scripts

#[test]
fn whats_finished_says_counts_items_and_attention_worst_first() {
    let text = script::finished(&board(), now());
    assert_for_the_ear(&text);
    assert!(text.starts_with("Five tasks are finished. Two are ready to merge."), "{text}");
    assert!(text.contains("Task four, Upgrade Tailwind, by Copilot, took twelve minutes."), "{text}");
    assert!(text.contains("Checks are green."), "{text}");
    assert!(text.contains("Pull request forty-one changes three files in components."), "{text}");
    assert!(text.contains("Its branch, work, changes three files in components."), "{text}");
    assert!(text.contains("Three need your attention."), "{text}");
    // Worst first: the secret, then the failure, then the red check.
    let secret = text.find("Task nine").unwrap();
    let failed = text.find("Task eight").unwrap();
    let lint = text.find("Task six").unwrap();
    assert!(secret < failed && failed < lint, "{text}");
    assert!(text.contains("the secret scan flagged two possible secrets"), "{text}");
    assert!(text.contains("Task six, Fix the header spacing, by Cursor: the lint check is red."), "{text}");
    assert!(text.contains("Task eight, Add visual regression tests, by Jules, failed: agent exited with status one"), "{text}");
    assert!(text.ends_with("One more is still running."), "{text}");
}

#[test]
fn whats_finished_with_nothing() {
    let cases: Vec<(Vec<TaskView>, &str)> = vec![
        (vec![], "Nothing is finished yet. Nothing is running either."),
        (vec![running(1, "A", "codex", 3, "x")], "Nothing is finished yet. One task is still running."),
        (
            vec![running(1, "A", "codex", 3, "x"), running(2, "B", "codex", 3, "y")],
            "Nothing is finished yet. Two tasks are still running.",
        ),
    ];
    for (tasks, want) in cases {
        assert_eq!(script::finished(&tasks, now()), want);
    }
}

#[test]
fn long_lists_say_and_n_more() {
    let tasks: Vec<TaskView> = (1..=8).map(|i| ready(i, &format!("Task {}", ["a", "b", "c", "d", "e", "f", "g", "h"][i as usize - 1]), "copilot", None)).collect();
    let text = script::finished(&tasks, now());
    assert_for_the_ear(&text);
    assert!(text.starts_with("Eight tasks are finished and ready to merge."), "{text}");
    assert!(text.ends_with("And three more are ready."), "{text}");
    assert_eq!(text.matches("Checks are green.").count(), 5, "{text}");

    let question = script::merge_all_question(&tasks, "main");
    assert!(question.contains("Merge eight ready tasks into main:"), "{question}");
    assert!(question.contains(", and three more? "), "{question}");
}

#[test]
fn whats_running_says_minutes_and_last_progress() {
    let mut tasks = board();
    let mut checking = TaskView::new(10, "Bump eslint", TaskState::Checking);
    checking.started = mins_ago(65);
    tasks.push(checking);
    tasks.push(TaskView::new(11, "Write docs", TaskState::Queued));
    let text = script::running(&tasks, now());
    assert_for_the_ear(&text);
    assert_eq!(
        text,
        "Two tasks are running. Task ten, Bump eslint, an hour and five minutes so far. The agent is done and the checks are running. \
         Task seven, Migrate to React Query, by Codex, twelve minutes so far. Last update: Updating useUser to the new API. \
         One more is waiting to start."
    );
    assert_eq!(script::running(&[], now()), "Nothing is running right now.");
    assert_eq!(script::running(&[ready(1, "A", "x", None)], now()), "Nothing is running right now. One task is ready to merge.");
}

#[test]
fn what_failed_is_worst_first() {
    let text = script::failed(&board(), now());
    assert_for_the_ear(&text);
    assert!(text.starts_with("One task failed and two need your attention."), "{text}");
    let order: Vec<usize> = ["Task nine", "Task eight", "Task six"].iter().map(|t| text.find(t).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(script::failed(&[ready(1, "A", "x", None)], now()), "Nothing has failed.");
    assert_eq!(script::status(&board(), StatusFilter::Failed, now()), text);
}

#[test]
fn overview_for_all() {
    let text = script::status(&board(), StatusFilter::All, now());
    assert_for_the_ear(&text);
    assert!(text.starts_with("Six tasks open: two ready to merge, three needing attention and one running."), "{text}");
    assert!(text.ends_with("Ready: Refresh the hero copy and Upgrade Tailwind."), "{text}");
}

#[test]
fn one_task_status() {
    let b = board();
    let cases: Vec<(&TaskView, &str)> = vec![
        (
            &b[0],
            "Task four, Upgrade Tailwind, is ready to merge. Checks are green. Pull request forty-one changes three files in components. Copilot took twelve minutes.",
        ),
        (
            &b[2],
            "Task six, Fix the header spacing, needs your attention: the lint check is red. Its branch, work, changes three files in components.",
        ),
        (
            &b[5],
            "Task seven, Migrate to React Query, by Codex, twelve minutes so far. Last update: Updating useUser to the new API.",
        ),
    ];
    for (v, want) in cases {
        let got = script::task_status(v, now());
        assert_for_the_ear(&got);
        assert_eq!(got, want);
    }
    let mut merged = b[0].clone();
    merged.state = TaskState::Merged;
    assert_eq!(
        script::task_status(&merged, now()),
        "Task four, Upgrade Tailwind, was merged. Pull request forty-one changed three files in components."
    );
}

#[test]
fn merge_question_and_outcomes() {
    let v = ready(4, "Upgrade Tailwind", "copilot", Some(41));
    assert_eq!(
        script::merge_question(&v, "main"),
        "Merge task four, Upgrade Tailwind, into main? Checks are green, three files changed. Say confirm to merge."
    );
    assert_eq!(script::merged(&v, "main"), "Merged task four, Upgrade Tailwind, into main.");
    let c = running(5, "Restyle the buttons", "cursor", 3, "x");
    assert_eq!(
        script::cancel_question(&c),
        "Cancel task five, Restyle the buttons? Cursor is still working on it. Say confirm to cancel."
    );
    let outcome = script::merge_all_outcome(
        &[
            (v.clone(), Ok(())),
            (ready(5, "Fix the footer", "jules", None), Err(Refusal::HeadMoved { task: Named { id: 5, title: "Fix the footer".into() } })),
        ],
        "main",
    );
    assert_eq!(
        outcome,
        "Merged one task into main: Upgrade Tailwind. I didn't merge task five, Fix the footer: its branch changed after I asked. Ask again to hear what's on it now."
    );
}

#[test]
fn refusals_are_sentences() {
    let t = || Named { id: 12, title: "Bump eslint in packages/web".into() };
    let cases: Vec<(Refusal, &str)> = vec![
        (Refusal::NoMatch { words: "the css one".into() }, "I couldn't find a task matching the css one. Say what's finished to hear the list."),
        (
            Refusal::Ambiguous {
                words: "the tailwind one".into(),
                candidates: vec![Named { id: 3, title: "Upgrade Tailwind".into() }, Named { id: 4, title: "Tailwind tokens".into() }],
            },
            "The tailwind one could mean two tasks: task three, Upgrade Tailwind or task four, Tailwind tokens. Which one? Say the task number.",
        ),
        (Refusal::NotReady { task: t(), state: TaskState::Running }, "I can't merge task twelve, Bump eslint in web. It is still running."),
        (Refusal::ChecksRed { task: t(), checks: vec!["lint".into(), "typecheck".into()] }, "I won't merge task twelve, Bump eslint in web: the lint and type check checks are red."),
        (Refusal::ScopeBroken { task: t(), paths: paths(&["app/page.tsx"]) }, "I won't merge task twelve, Bump eslint in web: it changed one file in app, outside its scope."),
        (Refusal::SecretFound { task: t(), count: 1 }, "I won't merge task twelve, Bump eslint in web: the secret scan flagged one possible secret."),
        (Refusal::Expired { action: "merge".into() }, "No answer, so I won't merge it. Ask again when you're ready."),
        (Refusal::Denied { action: "cancel".into() }, "Okay, I won't cancel it."),
        (Refusal::NothingPending, "There's nothing to confirm right now."),
        (Refusal::Conflict { task: t() }, "I couldn't merge task twelve, Bump eslint in web: it conflicts with the base branch."),
    ];
    for (r, want) in cases {
        let got = script::refusal(&r);
        assert_for_the_ear(&got);
        assert_eq!(got, want);
    }
}

#[test]
fn notices() {
    assert_eq!(script::notice(&ready(4, "Upgrade Tailwind", "x", None)).unwrap(), "Task four, Upgrade Tailwind, is ready to merge.");
    assert_eq!(
        script::notice(&red(6, "Fix the header", "test")).unwrap(),
        "Task six, Fix the header, needs your attention: the test check is red."
    );
    assert_eq!(script::notice(&running(1, "A", "x", 1, "y")), None);
}

#[test]
fn announcements_follow_the_setting() {
    let r = ready(4, "Upgrade Tailwind", "x", None);
    let a = red(6, "Fix the header", "test");
    let cases = [("ready", true, false), ("attention", false, true), ("all", true, true), ("none", false, false)];
    for (setting, say_ready, say_attention) in cases {
        assert_eq!(script::announcement(&r, setting).is_some(), say_ready, "{setting}");
        assert_eq!(script::announcement(&a, setting).is_some(), say_attention, "{setting}");
    }
    assert_eq!(script::announcement(&running(1, "A", "x", 1, "y"), "all"), None);
}

#[test]
fn help_lists_phrases_and_workflows() {
    use capcom::config::Workflow;
    let phrases: Vec<String> = ["what's finished?", "what's running?", "merge task four", "cancel the CSS agent", "repeat that", "what failed?"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let flows = vec![
        Workflow { name: "morning routine".into(), triggers: vec!["get me caught up".into()], steps: vec![] },
        Workflow { name: "end of day".into(), triggers: vec![], steps: vec![] },
    ];
    let text = script::help(&phrases, &flows);
    assert_for_the_ear(&text);
    assert_eq!(
        text,
        "You can say: what's finished, what's running, merge task four, cancel the CSS agent, repeat that, and one more. \
         For a workflow, say get me caught up for morning routine or say end of day."
    );
}

#[test]
fn daily_changelog_schedule() {
    let at = |h, m| local(2026, 11, 21, h, m);
    assert_eq!(changelog::next_due("07:30", at(6, 0)), Some(at(7, 30)));
    assert_eq!(changelog::next_due("07:30", at(7, 30)), Some(at(7, 30)));
    assert_eq!(changelog::next_due("07:30", at(8, 0)), Some(local(2026, 11, 22, 7, 30)));
    assert_eq!(changelog::next_due("", at(8, 0)), None);
    assert_eq!(changelog::next_due("25:00", at(8, 0)), None);
}

fn changelog_board() -> Vec<TaskView> {
    let mut merged = ready(2, "Upgrade the Tailwind config", "copilot", Some(41));
    merged.state = TaskState::Merged;
    merged.summary = Some("Bumped Tailwind to version four. Replaced the deprecated classes in `src/components`. Also ran the codemod.".into());
    merged.insertions = Some(120);
    merged.deletions = Some(43);
    merged.updated = Some(now() - CDuration::hours(3));
    let mut merged2 = ready(3, "Fix login redirect", "claude", Some(39));
    merged2.state = TaskState::Merged;
    merged2.summary = None;
    merged2.commits = vec!["fix: keep the return URL on login".into(), "test: cover the redirect".into()];
    merged2.paths = paths(&["app/login/page.tsx"]);
    merged2.files_changed = Some(1);
    merged2.updated = Some(now() - CDuration::hours(20));
    let mut old = ready(1, "Ancient change", "claude", None);
    old.state = TaskState::Merged;
    old.updated = Some(now() - CDuration::days(4));
    old.finished = Some(now() - CDuration::days(4));
    let mut b = board();
    b.extend([merged, merged2, old]);
    b
}

#[test]
fn changelog_narrative() {
    let text = script::changelog(&changelog_board(), now() - CDuration::hours(24), now());
    assert_for_the_ear(&text);
    assert!(text.starts_with("Six changes landed since yesterday: two merged and four waiting for you."), "{text}");
    assert!(!text.contains("Ancient"), "{text}");
    // Merged first, oldest first.
    assert!(text.contains("First, Fix login redirect, by Claude, merged. The commits say: keep the return URL on login; cover the redirect."), "{text}");
    assert!(text.contains("Next, Upgrade the Tailwind config, by Copilot, merged. Bumped Tailwind to version four. Replaced the deprecated classes in components."), "{text}");
    assert!(!text.contains("codemod"), "only the first two summary sentences: {text}");
    assert!(text.contains("It touched three files in components, one hundred and twenty lines added and forty-three removed, on pull request forty-one."), "{text}");
    assert!(text.contains("Build and test passed."), "{text}");
    assert!(text.contains("Finally, Rotate the API client, by Cursor, finished but needs a look."), "{text}");
    assert!(text.contains("It needs you because the secret scan flagged two possible secrets."), "{text}");
    assert!(
        text.ends_with(
            "Still needs you: two tasks to merge, Refresh the hero copy and Upgrade Tailwind. \
             Three need a look, Rotate the API client, Add visual regression tests and Fix the header spacing. \
             One task is still running."
        ),
        "{text}"
    );

    let quiet = script::changelog(&[], now() - CDuration::hours(6), now());
    assert_eq!(quiet, "Nothing landed in the last six hours. Nothing needs you right now.");
}

#[test]
fn remote_steps_name_prs_for_the_ear_and_put_red_ci_first() {
    use capcom::github::{FailedCheck, Verdict};
    use script::OpenPr;
    let red = Verdict::Failing { failed: vec![FailedCheck { name: "test".into(), conclusion: "failure".into() }] };
    let pr = |number: u64, title: &str, author: Option<&str>, task: Option<i64>, checks: Option<Verdict>| OpenPr {
        repo: "site".into(),
        number,
        title: title.into(),
        author: author.map(String::from),
        task,
        checks,
    };
    let prs = vec![
        pr(41, "Upgrade Tailwind", Some("Copilot"), Some(4), Some(Verdict::Green { passed: 3 })),
        pr(42, "Fix the header", Some("copilot-swe-agent[bot]"), None, Some(red.clone())),
        pr(43, "Docs", None, None, Some(Verdict::NeedsApproval { runs: vec!["build".into()] })),
    ];
    // (notes, the sentences in order, the keys)
    let open = script::open_pr_notes(&prs);
    let texts: Vec<&str> = open.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts[0], "Pull request forty-one, Upgrade Tailwind, by Copilot, is open.");
    assert_eq!(texts[1], "Pull request forty-two, Fix the header, by Copilot, is open.");
    assert_eq!(texts[2], "Pull request forty-three, Docs, is open.");
    let keys: Vec<&str> = open.iter().map(|n| n.key.as_deref().unwrap()).collect();
    assert_eq!(keys, ["task:4", "pr:site:42", "pr:site:43"]);

    let base = vec![("site".to_string(), "main".to_string(), red.clone()), ("api".to_string(), "main".to_string(), Verdict::Green { passed: 2 })];
    let ci = script::ci_failure_notes(&base, &prs);
    let texts: Vec<&str> = ci.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[0], "CI is red on main in site: the check test failed.");
    assert_eq!(ci[0].severity, Severity::Failure);
    assert!(texts[1].starts_with("On pull request forty-two, Fix the header"), "{}", texts[1]);
    assert!(texts[2].contains("Actions need approval"), "{}", texts[2]);
    let green = script::ci_failure_notes(&[("site".into(), "main".into(), Verdict::Green { passed: 1 })], &prs[..1]);
    assert_eq!(green.len(), 1);
    assert_eq!(green[0].text, "CI is green everywhere I looked.");
    let text = script::synthesize(&[StepResult::Notes { step: "ci".into(), notes: ci }]);
    assert_for_the_ear(&text);
}

#[test]
fn workflow_synthesis_groups_dedupes_and_puts_worst_first() {
    let b = changelog_board();
    let since = now() - CDuration::hours(24);
    let results = vec![
        StepResult::Notes { step: "changelog".into(), notes: script::changelog_notes(&b, since, now()) },
        StepResult::Notes { step: "status".into(), notes: script::status_notes(&b, now()) },
        // The same task reported twice (also by a remote step) is said once, the worst kept.
        StepResult::Notes {
            step: "status again".into(),
            notes: vec![Note::new(Severity::Info, "running", Some("task:6"), "Task six is fine.")],
        },
        StepResult::Failed { step: "open pull requests".into(), error: "GitHub answered 503".into() },
    ];
    let text = script::synthesize(&results);
    assert_for_the_ear(&text.replace("five hundred and three", ""));
    assert!(!text.contains("Task six is fine."), "{text}");
    assert_eq!(text.matches("Task six,").count(), 1, "{text}");
    let order: Vec<usize> = [
        "Task eight",                                // failed
        "Two tasks need your attention. Task nine", // the secret, worst in its group
        "Task six",
        "I couldn't get open pull requests: GitHub answered five hundred and three.",
        "Two tasks are ready to merge.",
        "Two changes were merged since yesterday",
        "Task seven", // running
    ]
    .iter()
    .map(|t| text.find(t).unwrap_or_else(|| panic!("{t} missing from: {text}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(script::synthesize(&[]), "All quiet. Nothing to report.");
}

#[test]
fn sentences_split_for_streaming() {
    let text = script::finished(&board(), now());
    let parts = split_sentences(&text);
    assert!(parts.len() > 8, "{parts:?}");
    assert_eq!(parts[0], "Five tasks are finished.");
    assert_eq!(parts.join(" "), text);
}

#[test]
fn view_from_store_folds_runs_and_events() {
    let spec = TaskSpec { title: "Upgrade Tailwind".into(), agent: Some("copilot".into()), ..TaskSpec::default() };
    let task = Task {
        id: 4,
        title: "Upgrade Tailwind".into(),
        state: TaskState::Ready,
        reason: None,
        agent: None,
        repo: Some("site".into()),
        branch: Some("capcom/4-upgrade-tailwind".into()),
        worktree: None,
        pr: None,
        head_sha: Some("abc".into()),
        utterance_id: None,
        scheduled_at: None,
        created_at: "2026-11-21T08:10:00.000Z".into(),
        updated_at: "2026-11-21T08:40:00.000Z".into(),
        spec,
    };
    let run = Run {
        id: 1,
        task_id: 4,
        agent: "copilot".into(),
        started_at: "2026-11-21T08:20:00.000Z".into(),
        ended_at: Some("2026-11-21T08:32:00.000Z".into()),
        summary: Some("Bumped Tailwind.".into()),
        ..Run::default()
    };
    let ev = |id: i64, kind: &str, msg: &str, data: serde_json::Value| Event {
        id,
        task_id: Some(4),
        at: format!("2026-11-21T08:3{id}:00.000Z"),
        kind: kind.into(),
        message: msg.into(),
        data: if data.is_null() { None } else { Some(data) },
    };
    let events = vec![
        ev(1, "progress", "Reading package.json", serde_json::Value::Null),
        ev(2, "check", "lint failed", serde_json::json!({"name":"lint","ok":false,"exit":1,"duration_ms":900,"tail":"x"})),
        ev(3, "check", "build ok", serde_json::json!({"name":"build","ok":true,"exit":0,"duration_ms":9000,"tail":""})),
        ev(4, "check", "lint ok", serde_json::json!({"name":"lint","ok":true,"exit":0,"duration_ms":800,"tail":""})),
        ev(5, "diffstat", "", serde_json::json!({"files":3,"insertions":10,"deletions":2,"paths":["src/components/a.tsx"]})),
        ev(6, "pr", "opened", serde_json::json!({"number":41,"url":"https://github.com/o/r/pull/41"})),
        ev(7, "scope", "", serde_json::json!({"violations":[]})),
        ev(8, "commit", "feat: bump tailwind\n\nbody", serde_json::Value::Null),
    ];
    let v = TaskView::from_store(&task, &[run], &events);
    assert_eq!(v.agent.as_deref(), Some("copilot"));
    assert_eq!(v.pr, Some(41));
    assert_eq!(v.checks, vec![CheckView::new("lint", true), CheckView::new("build", true)]);
    assert!(v.checks_green());
    assert_eq!((v.files_changed, v.insertions, v.deletions), (Some(3), Some(10), Some(2)));
    assert!(v.scope_violations.is_empty());
    assert_eq!(v.last_progress.as_deref(), Some("Reading package.json"));
    assert_eq!(v.summary.as_deref(), Some("Bumped Tailwind."));
    assert_eq!(v.commits, vec!["feat: bump tailwind".to_string()]);
    let at_0900 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    assert_eq!(v.elapsed(at_0900), Some(Duration::from_secs(12 * 60)));
    assert_eq!(
        script::merge_question(&v, "main"),
        "Merge task four, Upgrade Tailwind, into main? Checks are green, three files changed. Say confirm to merge."
    );
}

// ---------------------------------------------------------------------------
// TTS (real libespeak-ng)

fn espeak() -> Espeak {
    Espeak::new(EspeakSettings::default()).expect("libespeak-ng with its data is installed")
}

#[test]
fn espeak_gives_non_silent_pcm_that_grows_with_the_text() {
    let e = espeak();
    let short = e.synthesize("Three tasks are finished.").unwrap();
    let long = e
        .synthesize("Three tasks are finished. Task four, Upgrade Tailwind, by Copilot, took twelve minutes. Checks are green. Pull request forty-one changes three files in components.")
        .unwrap();
    assert_eq!(short.sample_rate, e.sample_rate());
    assert!(short.sample_rate >= 16_000);
    assert!(short.duration() > Duration::from_millis(500), "{:?}", short.duration());
    assert!(short.rms() > 0.01, "silent: rms {}", short.rms());
    assert!(short.peak() > 0.1);
    assert!(long.samples.len() > short.samples.len() * 3, "{} vs {}", long.samples.len(), short.samples.len());
    assert!(e.synthesize("").unwrap().samples.is_empty());
}

#[test]
fn espeak_is_safe_from_many_threads_and_follows_rate() {
    let fast = Espeak::new(EspeakSettings { rate: 350, ..EspeakSettings::default() }).unwrap();
    let slow = Espeak::new(EspeakSettings { rate: 100, ..EspeakSettings::default() }).unwrap();
    let text = "The build is green and the branch is ready.";
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (f, s) = (Espeak::new(fast.settings().clone()).unwrap(), Espeak::new(slow.settings().clone()).unwrap());
            std::thread::spawn(move || if i % 2 == 0 { f.synthesize(text).unwrap() } else { s.synthesize(text).unwrap() })
        })
        .collect();
    let out: Vec<Pcm> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(out[1].samples.len() > out[0].samples.len() * 2, "{} vs {}", out[1].samples.len(), out[0].samples.len());
    let (a, b) = (out[0].samples.len() as f64, out[2].samples.len() as f64);
    assert!((a - b).abs() / a < 0.1, "same text and settings, lengths {a} and {b}");
}

#[test]
fn espeak_unknown_voice_is_an_error() {
    let e = Espeak::new(EspeakSettings { voice: "no-such-voice-xx".into(), ..EspeakSettings::default() });
    assert!(matches!(e, Err(TtsError::Voice(_))), "{:?}", e.err());
    // The shared engine still works afterwards.
    assert!(espeak().synthesize("Still here.").unwrap().rms() > 0.01);
}

#[test]
fn speaker_from_config() {
    let s = tts::from_config(&Speech::default()).unwrap();
    assert!(s.name().starts_with("espeak-ng"));
    assert!(s.synthesize("Hello.").unwrap().rms() > 0.01);
}

#[test]
fn command_engine_runs_argv_and_reads_its_wav() {
    // espeak-ng's own program stands in for piper: reads a text file, writes a WAV.
    let argv: Vec<String> = ["espeak-ng", "-w", "{out}", "-f", "{text_file}"].iter().map(|s| s.to_string()).collect();
    let c = CommandSpeaker::new(argv).unwrap();
    let pcm = c.synthesize("Merge task four? Say confirm; or don't & see; $(rm -rf nothing)").unwrap();
    assert!(pcm.rms() > 0.01);
    assert!(pcm.duration() > Duration::from_secs(1));

    // Text on stdin when no argument names {text_file}.
    let argv: Vec<String> = ["espeak-ng", "--stdin", "-w", "{out}"].iter().map(|s| s.to_string()).collect();
    assert!(CommandSpeaker::new(argv).unwrap().synthesize("From standard input.").unwrap().rms() > 0.01);

    let missing = CommandSpeaker::new(vec!["capcom-no-such-tts".into(), "{out}".into()]).unwrap().synthesize("x");
    assert!(matches!(&missing, Err(TtsError::Spawn { .. })), "{missing:?}");
    assert!(missing.unwrap_err().to_string().contains("not found"));
    let fails = CommandSpeaker::new(vec!["false".into()]).unwrap().synthesize("x");
    assert!(matches!(fails, Err(TtsError::CommandFailed { .. })), "{fails:?}");
    let no_wav = CommandSpeaker::new(vec!["true".into()]).unwrap().synthesize("x");
    assert!(matches!(no_wav, Err(TtsError::Wav { .. })), "{no_wav:?}");
}

// ---------------------------------------------------------------------------
// Changelog audio

fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600).unwrap().with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn decode_all(path: &std::path::Path) -> (usize, u32, u16) {
    use rodio::Source;
    let file = std::fs::File::open(path).unwrap();
    let dec = rodio::Decoder::try_from(file).unwrap();
    let rate = dec.sample_rate().get();
    let channels = dec.channels().get();
    let n = dec.count();
    (n / channels as usize, rate, channels)
}

#[test]
fn changelog_renders_wav_and_mp3_that_decode_back() {
    let dir = tempfile::tempdir().unwrap();
    let text = script::changelog(&changelog_board(), now() - CDuration::hours(24), now());
    let at = local(2026, 11, 21, 7, 30);
    let e = espeak();
    let entry = changelog::render(&e, &text, dir.path(), at).unwrap();
    assert_eq!(entry.stem, "changelog-2026-11-21-0730");
    assert_eq!(entry.title, "Changelog for Saturday, November 21");
    assert!(entry.duration() > Duration::from_secs(20), "{:?}", entry.duration());
    let rendered = entry.duration_ms as f64 / 1000.0;

    // WAV: exact.
    let wav = hound::WavReader::open(entry.wav_path(dir.path())).unwrap();
    assert_eq!(wav.spec().sample_rate, entry.sample_rate);
    let wav_secs = wav.duration() as f64 / entry.sample_rate as f64;
    assert!((wav_secs - rendered).abs() < 0.002, "{wav_secs} vs {rendered}");
    let (frames, rate, _) = decode_all(&entry.wav_path(dir.path()));
    assert!((frames as f64 / rate as f64 - rendered).abs() < 0.002);

    // MP3: within the encoder's padding (a couple of frames).
    let mp3 = entry.mp3_path(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&mp3).unwrap().len(), entry.mp3_bytes);
    assert!(entry.mp3_bytes < entry.wav_bytes / 4, "{} vs {}", entry.mp3_bytes, entry.wav_bytes);
    let (frames, rate, _) = decode_all(&mp3);
    let mp3_secs = frames as f64 / rate as f64;
    assert!((mp3_secs - rendered).abs() < 0.15, "{mp3_secs} vs {rendered}");

    // A second one the same minute gets its own name; both are listed, newest first.
    let again = changelog::render(&e, "Nothing landed in the last hour.", dir.path(), at).unwrap();
    assert_eq!(again.stem, "changelog-2026-11-21-0730-2");
    let later = changelog::render(&e, "Nothing landed.", dir.path(), local(2026, 11, 22, 7, 30)).unwrap();
    let listed = changelog::list(dir.path());
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0], later);
    assert_eq!(changelog::latest(dir.path()).unwrap(), later);
    assert!(changelog::is_servable(&later.wav) && changelog::is_servable(later.mp3.as_ref().unwrap()));
    assert!(!changelog::is_servable("../secret.mp3") && !changelog::is_servable("changelog.json"));
}

// ---------------------------------------------------------------------------
// Feed

#[test]
fn feed_is_valid_rss_with_token_urls() {
    let dir = tempfile::tempdir().unwrap();
    let e = espeak();
    let a = changelog::render(&e, "Two changes landed since yesterday. Fix <this> & \"that\".", dir.path(), local(2026, 11, 20, 7, 30)).unwrap();
    let b = changelog::render(&e, "Nothing landed.", dir.path(), local(2026, 11, 21, 7, 30)).unwrap();
    let token = "feed-Tok3n_x";
    let mut channel = FeedChannel::new("http://192.168.1.20:7471/", token);
    channel.title = "capcom & friends <dev>".into();
    let items: Vec<FeedItem> = changelog::list(dir.path()).iter().map(FeedItem::from_entry).collect();
    let xml = feed::render(&channel, &items);

    let doc = roxmltree::Document::parse(&xml).expect("the feed is well-formed XML");
    let rss = doc.root_element();
    assert_eq!(rss.tag_name().name(), "rss");
    assert_eq!(rss.attribute("version"), Some("2.0"));
    let itunes = "http://www.itunes.com/dtds/podcast-1.0.dtd";
    let ch = rss.children().find(|n| n.has_tag_name("channel")).unwrap();
    let child_text = |n: roxmltree::Node, name: &str| n.children().find(|c| c.has_tag_name(name)).and_then(|c| c.text()).map(str::to_string);
    assert_eq!(child_text(ch, "title").as_deref(), Some("capcom & friends <dev>"));
    assert_eq!(child_text(ch, "link").unwrap(), format!("http://192.168.1.20:7471/feed/{token}/podcast.xml"));
    let items: Vec<roxmltree::Node> = ch.children().filter(|n| n.has_tag_name("item")).collect();
    assert_eq!(items.len(), 2);
    // Newest first.
    assert_eq!(child_text(items[0], "guid").unwrap(), b.stem);
    assert_eq!(child_text(items[0], "pubDate").unwrap(), "Sat, 21 Nov 2026 07:30:00 +0100");
    assert_eq!(child_text(items[1], "description").unwrap(), a.text);
    for (node, entry) in items.iter().zip([&b, &a]) {
        let enc = node.children().find(|c| c.has_tag_name("enclosure")).unwrap();
        let url = enc.attribute("url").unwrap();
        assert_eq!(url, format!("http://192.168.1.20:7471/feed/{token}/audio/{}", entry.mp3.as_ref().unwrap()));
        assert!(url.contains(token));
        assert_eq!(enc.attribute("type"), Some("audio/mpeg"));
        assert_eq!(enc.attribute("length").unwrap().parse::<u64>().unwrap(), entry.mp3_bytes);
        let dur = node.children().find(|c| c.has_tag_name((itunes, "duration"))).unwrap().text().unwrap();
        assert_eq!(dur, feed::itunes_duration(entry.duration()));
        let pub_date = child_text(*node, "pubDate").unwrap();
        assert!(DateTime::parse_from_rfc2822(&pub_date).is_ok(), "{pub_date}");
    }
    assert!(feed::audio_path(token, "x.mp3").starts_with(&feed::feed_path(token).replace("podcast.xml", "")));
}

#[test]
fn empty_feed_is_valid() {
    let xml = feed::render(&FeedChannel::new("http://127.0.0.1:7471", "t"), &[]);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("item")).count(), 0);
}

// ---------------------------------------------------------------------------
// Speech queue

/// A speaker that makes one "sample" per character, instantly.
struct FakeSpeaker {
    calls: Mutex<Vec<String>>,
    /// When set, the nth call waits (up to a few seconds) until this flag is raised.
    hold_call: Option<(usize, Arc<AtomicBool>)>,
    held_ok: AtomicBool,
}

impl FakeSpeaker {
    fn new() -> FakeSpeaker {
        FakeSpeaker { calls: Mutex::new(Vec::new()), hold_call: None, held_ok: AtomicBool::new(true) }
    }
}

impl Speaker for FakeSpeaker {
    fn synthesize(&self, text: &str) -> Result<Pcm, TtsError> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            c.push(text.to_string());
            c.len() - 1
        };
        if let Some((at, flag)) = &self.hold_call
            && n == *at
        {
            let mut waited = 0;
            while !flag.load(Ordering::SeqCst) && waited < 5000 {
                std::thread::sleep(Duration::from_millis(1));
                waited += 1;
            }
            self.held_ok.store(flag.load(Ordering::SeqCst), Ordering::SeqCst);
        }
        Ok(Pcm::new(vec![0.1; text.len()], 1000))
    }
    fn name(&self) -> String {
        "fake".into()
    }
}

/// An output that records what it played. Each clip plays until cut or released.
struct FakeOutput {
    played: Mutex<Vec<usize>>,
    started: AtomicUsize,
    /// Clips play through at once while set; otherwise they block until cut.
    release: AtomicBool,
    first_started: Arc<AtomicBool>,
}

impl FakeOutput {
    fn new(release: bool) -> FakeOutput {
        FakeOutput {
            played: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
            release: AtomicBool::new(release),
            first_started: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Output for FakeOutput {
    fn play(&self, pcm: &Pcm, cut: Cut<'_>) -> Result<(), PlaybackError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.first_started.store(true, Ordering::SeqCst);
        while !cut.is_cut() && !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !cut.is_cut() {
            self.played.lock().unwrap().push(pcm.samples.len());
        }
        Ok(())
    }
    fn name(&self) -> String {
        "fake".into()
    }
}

fn recorder() -> (Arc<Mutex<Vec<SpeechEvent>>>, capcom::report::playback::Listener) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, Arc::new(move |ev| e.lock().unwrap().push(ev)))
}

fn wait_for(cond: impl Fn() -> bool) -> bool {
    for _ in 0..5000 {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn queue_speaks_every_sentence_in_order() {
    let out = Arc::new(FakeOutput::new(true));
    let (events, listener) = recorder();
    let q = SpeechQueue::new(Some(Arc::new(FakeSpeaker::new())), out.clone(), Some(listener));
    let job = q.speak("One. Three three. Five five five.");
    assert!(q.wait_idle(Some(Duration::from_secs(10))));
    assert_eq!(*out.played.lock().unwrap(), vec![4, 12, 15]);
    let ev = events.lock().unwrap().clone();
    assert_eq!(ev.last(), Some(&SpeechEvent::Finished { job }));
    let said: Vec<String> = ev
        .iter()
        .filter_map(|e| if let SpeechEvent::Sentence { text, .. } = e { Some(text.clone()) } else { None })
        .collect();
    assert_eq!(said, vec!["One.", "Three three.", "Five five five."]);
    assert!(!q.is_speaking());
}

#[test]
fn first_sentence_plays_before_the_last_is_synthesized() {
    let out = Arc::new(FakeOutput::new(true));
    let speaker = Arc::new(FakeSpeaker {
        hold_call: Some((3, out.first_started.clone())),
        ..FakeSpeaker::new()
    });
    let q = SpeechQueue::new(Some(speaker.clone()), out.clone(), None);
    q.speak("One. Two. Three. Four. Five.");
    assert!(q.wait_idle(Some(Duration::from_secs(20))));
    assert!(speaker.held_ok.load(Ordering::SeqCst), "the fourth sentence was synthesized before any audio played");
    assert_eq!(out.played.lock().unwrap().len(), 5);
}

#[test]
fn barge_in_stops_further_sentences() {
    let out = Arc::new(FakeOutput::new(false));
    let (events, listener) = recorder();
    let speaker = Arc::new(FakeSpeaker::new());
    let q = SpeechQueue::new(Some(speaker.clone()), out.clone(), Some(listener));
    let job = q.speak("One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten.");
    assert!(wait_for(|| out.started.load(Ordering::SeqCst) == 1), "first sentence never started");
    assert!(q.is_speaking());
    q.stop();
    assert!(q.wait_idle(Some(Duration::from_secs(10))), "queue did not drain after stop");
    assert_eq!(out.started.load(Ordering::SeqCst), 1, "a sentence played after barge-in");
    assert!(out.played.lock().unwrap().is_empty(), "the cut sentence counted as played");
    let ev = events.lock().unwrap().clone();
    assert!(ev.contains(&SpeechEvent::Stopped));
    assert!(!ev.contains(&SpeechEvent::Finished { job }));
    assert!(speaker.calls.lock().unwrap().len() < 10, "all sentences synthesized despite barge-in");

    // The queue speaks again after a barge-in.
    out.release.store(true, Ordering::SeqCst);
    let next = q.speak("Okay.");
    assert!(q.wait_idle(Some(Duration::from_secs(10))));
    assert_eq!(*out.played.lock().unwrap(), vec![5]);
    assert!(events.lock().unwrap().contains(&SpeechEvent::Finished { job: next }));
}

#[test]
fn text_only_without_speaker_or_device() {
    let (events, listener) = recorder();
    let q = SpeechQueue::new(None, Arc::new(NullOutput), Some(listener));
    let job = q.speak("No audio here. Text still works.");
    assert!(q.wait_idle(Some(Duration::from_secs(10))));
    let ev = events.lock().unwrap().clone();
    assert_eq!(
        ev,
        vec![
            SpeechEvent::Sentence { job, index: 0, text: "No audio here.".into() },
            SpeechEvent::Sentence { job, index: 1, text: "Text still works.".into() },
            SpeechEvent::Finished { job },
        ]
    );
}

#[test]
fn opening_the_default_output_never_fails() {
    // With a device this is rodio ("default device, 48000 Hz, 2 channels"); without one, a
    // warning and text only ("no audio output"). Either way it plays a clip and a cut clip.
    let out = capcom::report::open_output();
    let name = out.name();
    let device = name.strip_prefix("default device, ").and_then(|rest| {
        let (hz, ch) = rest.split_once(" Hz, ")?;
        Some((hz.parse::<u32>().ok()?, ch.strip_suffix(" channels").or(ch.strip_suffix(" channel"))?.parse::<u16>().ok()?))
    });
    assert!(name == "no audio output" || device.is_some_and(|(hz, ch)| hz >= 8_000 && ch >= 1), "{name:?}");
    let generation = AtomicU64::new(0);
    let clip = Pcm { samples: vec![0.0; 800], sample_rate: 16_000 };
    out.play(&clip, Cut::new(&generation, 0)).expect("a short clip plays");
    generation.store(1, Ordering::SeqCst);
    out.play(&clip, Cut::new(&generation, 0)).expect("a cut clip returns at once");
    out.play(&Pcm { samples: Vec::new(), sample_rate: 16_000 }, Cut::new(&generation, 1)).expect("an empty clip plays");
}

#[test]
fn ready_work_no_automated_check_ran_on_is_said_to_be_untested() {
    let mut v = ready(4, "Upgrade Tailwind", "copilot", None);
    v.checks.clear();
    assert_eq!(script::notice(&v).unwrap(), "Task four, Upgrade Tailwind, is ready, but untested.");
    let one = script::task_status(&v, now());
    assert!(one.starts_with("Task four, Upgrade Tailwind, is ready, but untested"), "{one}");
    let fin = script::finished(&[v.clone(), ready(5, "Fix the header", "claude", None)], now());
    assert!(fin.contains("Task four, Upgrade Tailwind, by Copilot, ready, but untested"), "{fin}");
    assert_eq!(fin.matches("untested").count(), 1, "only the task with no check is untested: {fin}");
    let all = script::overview(&[v], now());
    assert!(all.contains("ready, but untested"), "{all}");
    assert_for_the_ear(&all);
}

// ---- the feed over real HTTP ----------------------------------------------------

mod common;

/// A raw HTTP/1.0 GET with headers; (status, head, body).
fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    common::http_raw(addr, "GET", path, headers, &[])
}

fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A daemon (espeak-ng speech) with one task landed and one changelog episode rendered.
fn daemon_with_an_episode(title: &str) -> common::Daemon {
    use capcom::store::Store;
    let d = common::Daemon::start("[speech]\nengine = \"espeak-ng\"\n");
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    let t = store.create_task(&TaskSpec { title: title.into(), ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();
    store.transition(t.id, None, TaskState::Running, None).unwrap();
    store.transition(t.id, None, TaskState::Ready, None).unwrap();
    let out = d.cli(&["changelog", "--since", "24h"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    d
}

#[test]
fn the_feed_answers_conditional_requests_with_304_and_a_stale_if_range_with_the_whole_file() {
    if !common::skip::programs(&["espeak-ng"], "apt install espeak-ng") {
        return;
    }
    let mut d = daemon_with_an_episode("Fix the footer links");
    let token = std::fs::read_to_string(d.data.join("feed.token")).unwrap().trim().to_string();
    let feed = format!("/feed/{token}/podcast.xml");
    let (status, head, xml) = get(&d.addr, &feed, &[]);
    assert_eq!(status, 200, "{head}");
    let etag = header_of(&head, "etag").expect("the feed has an ETag");
    let modified = header_of(&head, "last-modified").expect("the feed has a Last-Modified");
    let (status, head, body) = get(&d.addr, &feed, &[("If-None-Match", &etag)]);
    assert_eq!((status, body.len()), (304, 0), "{head}");
    assert_eq!(header_of(&head, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(get(&d.addr, &feed, &[("If-Modified-Since", &modified)]).0, 304);
    assert_eq!(get(&d.addr, &feed, &[("If-None-Match", "\"stale\"")]).0, 200);
    assert_eq!(get(&d.addr, &feed, &[("If-None-Match", "\"stale\""), ("If-Modified-Since", &modified)]).0, 200);
    assert_eq!(get(&d.addr, &feed, &[("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")]).0, 200);

    // the episode file: its validators, and If-Range
    let xml = String::from_utf8(xml).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let url = doc.descendants().find(|n| n.has_tag_name("enclosure")).unwrap().attribute("url").unwrap().to_string();
    let path = format!("/{}", url.trim_start_matches("http://").split_once('/').unwrap().1);
    let (status, head, whole) = get(&d.addr, &path, &[]);
    assert_eq!(status, 200);
    let file_tag = header_of(&head, "etag").expect("the episode has an ETag");
    let file_modified = header_of(&head, "last-modified").expect("the episode has a Last-Modified");
    assert_eq!(get(&d.addr, &path, &[("If-None-Match", &file_tag)]).0, 304);
    assert_eq!(get(&d.addr, &path, &[("If-Modified-Since", &file_modified)]).0, 304);
    let (status, _, part) = get(&d.addr, &path, &[("Range", "bytes=0-99"), ("If-Range", &file_tag)]);
    assert_eq!((status, part.as_slice()), (206, &whole[..100]));
    let (status, _, part) = get(&d.addr, &path, &[("Range", "bytes=0-99"), ("If-Range", &file_modified)]);
    assert_eq!((status, part.len()), (206, 100));
    for stale in ["\"0-0\"", "Thu, 01 Jan 2015 00:00:00 GMT", "W/\"weak\""] {
        let (status, head, body) = get(&d.addr, &path, &[("Range", "bytes=0-99"), ("If-Range", stale)]);
        assert_eq!(status, 200, "If-Range {stale}: {head}");
        assert_eq!(body, whole, "If-Range {stale}: the whole file");
    }

    // a new episode changes the feed: the old tag no longer matches
    let out = d.cli(&["changelog", "--since", "24h"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(get(&d.addr, &feed, &[("If-None-Match", &etag)]).0, 200);
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_second_episode_on_a_day_is_the_2nd_update_covers_only_what_is_new_and_has_a_chapter_per_task() {
    use capcom::store::Store;
    if !common::skip::programs(&["espeak-ng"], "apt install espeak-ng") {
        return;
    }
    let mut d = daemon_with_an_episode("Fix the footer links");
    let store = Store::open(&d.data.join("capcom.db")).unwrap();
    for title in ["Add a dark theme", "Speed up the search page"] {
        let t = store.create_task(&TaskSpec { title: title.into(), ..TaskSpec::default() }, TaskState::Queued, None, None, "test").unwrap();
        store.transition(t.id, None, TaskState::Running, None).unwrap();
        store.transition(t.id, None, TaskState::Ready, None).unwrap();
    }
    let out = d.cli(&["changelog", "--since", "24h"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let episodes = changelog::list(&d.data.join("changelogs"));
    assert_eq!(episodes.len(), 2, "{episodes:?}");
    let (second, first) = (&episodes[0], &episodes[1]);
    assert!(first.text.contains("footer links"), "{}", first.text);
    if first.at.date_naive() == second.at.date_naive() {
        assert!(!first.title.contains("update"), "{}", first.title);
        assert!(second.title.ends_with(", 2nd update"), "{}", second.title);
    }
    // the second speaks of what landed since the first, and nothing before it
    assert!(second.text.contains("dark theme") && second.text.contains("search page"), "{}", second.text);
    // (the closing may still list it among what waits for the user)
    let news = second.text.split("Still needs you").next().unwrap();
    assert!(!news.contains("footer"), "{}", second.text);
    assert!(news.starts_with("Two changes landed"), "{}", second.text);

    // chapters: a summary, then one per task, in the feed's JSON ...
    let titles: Vec<&str> = second.chapters.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["Summary", "Add a dark theme", "Speed up the search page"]);
    let token = std::fs::read_to_string(d.data.join("feed.token")).unwrap().trim().to_string();
    let (_, _, xml) = get(&d.addr, &format!("/feed/{token}/podcast.xml"), &[]);
    let xml = String::from_utf8(xml).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let ns = "https://podcastindex.org/namespace/1.0";
    let item = doc.descendants().find(|n| n.has_tag_name("item") && n.children().any(|c| c.has_tag_name("guid") && c.text() == Some(second.stem.as_str()))).unwrap();
    let tag = item.children().find(|n| n.tag_name().name() == "chapters" && n.tag_name().namespace() == Some(ns)).expect("podcast:chapters");
    assert_eq!(tag.attribute("type"), Some("application/json+chapters"));
    let url = tag.attribute("url").unwrap();
    let path = format!("/{}", url.trim_start_matches("http://").split_once('/').unwrap().1);
    let (status, head, body) = get(&d.addr, &path, &[]);
    assert_eq!(status, 200, "{head}");
    assert!(header_of(&head, "content-type").is_some_and(|t| t.starts_with("application/json+chapters")), "{head}");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["version"], "1.2.0");
    let chapters = json["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 3, "{json}");
    assert_eq!(chapters[0]["startTime"].as_f64(), Some(0.0));
    for (c, want) in chapters.iter().zip(&second.chapters) {
        assert_eq!(c["title"], want.title.as_str());
        assert!((c["startTime"].as_f64().unwrap() * 1000.0 - want.start_ms as f64).abs() < 1.0, "{c}");
    }
    assert!(chapters.windows(2).all(|w| w[0]["startTime"].as_f64() < w[1]["startTime"].as_f64()), "{json}");

    // ... and as ID3v2 CHAP frames (with a CTOC) in the MP3
    let mp3 = second.mp3_path(&d.data.join("changelogs")).unwrap();
    let tag = id3::Tag::read_from_path(&mp3).unwrap();
    use id3::TagLike;
    assert_eq!(tag.title(), Some(second.title.as_str()));
    let chaps: Vec<&id3::frame::Chapter> = tag.chapters().collect();
    assert_eq!(chaps.len(), 3);
    for (c, want) in chaps.iter().zip(&second.chapters) {
        assert_eq!(u64::from(c.start_time), want.start_ms);
        assert!(c.end_time > c.start_time);
        let title = c.frames.iter().find(|f| f.id() == "TIT2").and_then(|f| f.content().text()).unwrap();
        assert_eq!(title, want.title);
    }
    assert_eq!(u64::from(chaps[2].end_time), second.duration_ms);
    let toc: Vec<&id3::frame::TableOfContents> = tag.tables_of_contents().collect();
    assert_eq!(toc.len(), 1);
    assert!(toc[0].top_level && toc[0].ordered);
    assert_eq!(toc[0].elements, chaps.iter().map(|c| c.element_id.clone()).collect::<Vec<_>>());
    // the audio after the tag still decodes to the episode's length
    let (frames, rate, _) = decode_all(&mp3);
    assert!((frames as f64 / rate as f64 - second.duration_ms as f64 / 1000.0).abs() < 0.15);

    // the page's episode list: the same windows and chapters
    let pair: serde_json::Value = serde_json::from_slice(&d.cli(&["pair", "--json"]).stdout).unwrap();
    let (_, body) = common::http(&d.addr, "POST", "/app/pair", None, Some(&serde_json::json!({ "code": pair["code"], "name": "phone" }).to_string()));
    let device = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let (status, _, body) = get(&d.addr, "/app/v1/episodes", &[("X-Capcom-Device", &device)]);
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let titles = |i: usize| -> Vec<String> { list[i]["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect() };
    assert_eq!(list[0]["id"], second.stem.as_str());
    let mut newest = titles(0);
    newest.sort();
    assert_eq!(newest, ["Add a dark theme", "Speed up the search page"], "{list}");
    assert_eq!(titles(1), ["Fix the footer links"], "{list}");
    assert_eq!(list[0]["chapters"].as_array().unwrap().len(), 3);
    assert!(list[0]["chapters_url"].as_str().unwrap().ends_with("/chapters.json"));
    assert_eq!(d.stop(), Some(0));
}
