//! Each conversation as a table of events and the effects they must have, and a property
//! over random event sequences. No tokio: the clock is a plain `Instant` moved by hand.

use super::*;
use crate::review::merge::Pending;
use proptest::prelude::*;

const GRACE: Duration = Duration::from_secs(8);

fn names() -> Names {
    let cfg = crate::config::from_str(
        "[[repos]]\nname = \"site\"\npath = \"/tmp/site\"\n\n[[repos]]\nname = \"api\"\npath = \"/tmp/api\"\naliases = [\"backend\"]\n\n[agents.jules]\nkind = \"jules\"\n",
        "dialogue test",
    )
    .expect("config")
    .0;
    Names::from_config(&cfg)
}

fn question(task: i64, head: &str, at: Instant, ttl: Duration) -> Pending {
    let mut p = Pending::about(Action::Merge, task, format!("Merge task {task}?"), chrono::Utc::now(), tokio::time::Instant::from_std(at), ttl);
    p.head = head.into();
    p
}

fn brief(tasks: &[i64], confidence: f32) -> Event {
    Event::Dispatched { tasks: tasks.to_vec(), confidence }
}

#[test]
fn what_is_heard_in_a_grace_window() {
    let n = names();
    let undo = Heard::Undo;
    let jules = Heard::Correct { agent: Some("jules".into()), repo: None };
    let api = Heard::Correct { agent: None, repo: Some("api".into()) };
    let cases: &[(&str, Heard)] = &[
        ("undo that", undo.clone()),
        ("Undo that.", undo.clone()),
        ("cancel that", undo.clone()),
        ("wait, no", undo.clone()),
        ("Wait no!", undo.clone()),
        ("no wait, cancel that please", undo.clone()),
        ("scratch that", undo.clone()),
        ("never mind", undo.clone()),
        ("actually give that to Jules", jules.clone()),
        ("Actually, make that Jules.", jules.clone()),
        ("give it to jules instead", jules.clone()),
        ("actually, Jules", jules.clone()),
        ("make that the api repo", api.clone()),
        ("no, put it on the backend repo", api.clone()),
        // Anything else is a new utterance.
        ("jules", Heard::Other),
        ("fix the login bug on site", Heard::Other),
        ("cancel task 5", Heard::Other),
        ("make that the nowhere repo", Heard::Other),
        ("what's running", Heard::Other),
        ("", Heard::Other),
        ("use jules for the docs", Heard::Other),
        // "That's two tasks" and its kin.
        ("that's two tasks", Heard::Split),
        ("That's two tasks.", Heard::Split),
        ("no wait, that's two tasks", Heard::Split),
        ("actually that is two separate tasks", Heard::Split),
        ("those are two different jobs", Heard::Split),
        ("split that", Heard::Split),
        ("Split that up, please.", Heard::Split),
        ("split it into two tasks", Heard::Split),
        ("make that two tasks", Heard::Split),
        ("make it two separate tasks please", Heard::Split),
        ("split the login page into two components", Heard::Other),
        ("make that two columns", Heard::Other),
        ("there are two tasks running", Heard::Other),
    ];
    for (text, want) in cases {
        assert_eq!(&heard(text, &n), want, "{text:?}");
    }
}

/// One conversation: (seconds since the start, event, the effects it must have).
type Script = Vec<(u64, Event, Vec<Effect>)>;

fn play(grace: Duration, script: Script) {
    let t0 = Instant::now();
    let mut d = Dialogue::new(grace);
    for (i, (at, event, want)) in script.into_iter().enumerate() {
        let got = d.step(event.clone(), t0 + Duration::from_secs(at));
        assert_eq!(got, want, "step {i}: {event:?}");
    }
}

#[test]
fn conversations_about_tasks_just_dispatched() {
    let wait = |task| Effect::Wait { task, wait: GRACE, unsure: false };
    let jules = || Heard::Correct { agent: Some("jules".into()), repo: None };
    let table: Vec<(&str, Duration, Script)> = vec![
        ("no window: the agent starts at once", Duration::ZERO, vec![(0, brief(&[1], 0.9), vec![Effect::Start(1)])]),
        (
            "the window closes: the agent starts",
            GRACE,
            vec![(0, brief(&[1], 0.9), vec![wait(1)]), (7, Event::Tick, vec![]), (8, Event::Tick, vec![Effect::Start(1)]), (9, Event::Tick, vec![])],
        ),
        (
            "undo within the window drops the whole brief, and nothing starts",
            GRACE,
            vec![
                (0, brief(&[1, 2], 0.9), vec![wait(1), wait(2)]),
                (3, Event::Heard(Heard::Undo), vec![Effect::Undo(1), Effect::Undo(2)]),
                (20, Event::Tick, vec![]),
            ],
        ),
        (
            "undo after the window is not a grace undo: the agent already started",
            GRACE,
            vec![(0, brief(&[1], 0.9), vec![wait(1)]), (9, Event::Heard(Heard::Undo), vec![Effect::Start(1)])],
        ),
        (
            "undo takes the last brief only",
            GRACE,
            vec![
                (0, brief(&[1], 0.9), vec![wait(1)]),
                (2, brief(&[2], 0.9), vec![wait(2)]),
                (3, Event::Heard(Heard::Undo), vec![Effect::Undo(2)]),
                (8, Event::Tick, vec![Effect::Start(1)]),
            ],
        ),
        (
            "a correction re-assigns the last task and starts its window again",
            GRACE,
            vec![
                (0, brief(&[1, 2], 0.9), vec![wait(1), wait(2)]),
                (5, Event::Heard(jules()), vec![Effect::Correct { task: 2, agent: Some("jules".into()), repo: None, wait: GRACE, unsure: false }]),
                (8, Event::Tick, vec![Effect::Start(1)]),
                (12, Event::Tick, vec![]),
                (13, Event::Tick, vec![Effect::Start(2)]),
            ],
        ),
        (
            "anything else is a new utterance and leaves the window alone",
            GRACE,
            vec![(0, brief(&[1], 0.9), vec![wait(1)]), (2, Event::Heard(Heard::Other), vec![]), (8, Event::Tick, vec![Effect::Start(1)])],
        ),
        (
            "a brief capcom was unsure of waits twice as long",
            GRACE,
            vec![
                (0, brief(&[1], 0.5), vec![Effect::Wait { task: 1, wait: GRACE * 2, unsure: true }]),
                (8, Event::Tick, vec![]),
                (16, Event::Tick, vec![Effect::Start(1)]),
            ],
        ),
        (
            "a task cancelled by id leaves the window",
            GRACE,
            vec![(0, brief(&[1], 0.9), vec![wait(1)]), (1, Event::Gone(1), vec![]), (8, Event::Tick, vec![])],
        ),
        (
            "that's two tasks: the last brief's one task is split, and its window starts again",
            GRACE,
            vec![
                (0, brief(&[1], 0.9), vec![wait(1)]),
                (2, brief(&[2], 0.9), vec![wait(2)]),
                (5, Event::Heard(Heard::Split), vec![Effect::Split { task: 2, wait: GRACE, unsure: false }]),
                (6, Event::Added { task: 3, like: 2 }, vec![]),
                (8, Event::Tick, vec![Effect::Start(1)]),
                (12, Event::Tick, vec![]),
                (13, Event::Tick, vec![Effect::Start(2), Effect::Start(3)]),
            ],
        ),
        (
            "the second half of a split is undone with the first",
            GRACE,
            vec![
                (0, brief(&[1], 0.9), vec![wait(1)]),
                (1, Event::Heard(Heard::Split), vec![Effect::Split { task: 1, wait: GRACE, unsure: false }]),
                (1, Event::Added { task: 2, like: 1 }, vec![]),
                (3, Event::Heard(Heard::Undo), vec![Effect::Undo(1), Effect::Undo(2)]),
                (30, Event::Tick, vec![]),
            ],
        ),
        (
            "an unsure brief split keeps its longer window",
            GRACE,
            vec![
                (0, brief(&[1], 0.5), vec![Effect::Wait { task: 1, wait: GRACE * 2, unsure: true }]),
                (4, Event::Heard(Heard::Split), vec![Effect::Split { task: 1, wait: GRACE * 2, unsure: true }]),
                (19, Event::Tick, vec![]),
                (20, Event::Tick, vec![Effect::Start(1)]),
            ],
        ),
        (
            "a brief of two tasks is not split again",
            GRACE,
            vec![
                (0, brief(&[1, 2], 0.9), vec![wait(1), wait(2)]),
                (1, Event::Heard(Heard::Split), vec![Effect::Refuse("That brief is already 2 tasks (task 1, task 2); nothing changed.".into())]),
                (8, Event::Tick, vec![Effect::Start(1), Effect::Start(2)]),
            ],
        ),
        (
            "after the window, that's two tasks splits nothing: the agent already started",
            GRACE,
            vec![(0, brief(&[1], 0.9), vec![wait(1)]), (9, Event::Heard(Heard::Split), vec![Effect::Start(1)])],
        ),
        (
            "a half added after the window closed starts at once",
            GRACE,
            vec![(0, brief(&[1], 0.9), vec![wait(1)]), (9, Event::Added { task: 2, like: 1 }, vec![Effect::Start(1), Effect::Start(2)])],
        ),
        (
            "after a restart: the rest of the window is waited out, and undo still works",
            GRACE,
            vec![
                (0, Event::Resumed { tasks: vec![4, 5], left: Duration::from_secs(3), unsure: false }, vec![]),
                (2, Event::Tick, vec![]),
                (3, Event::Tick, vec![Effect::Start(4), Effect::Start(5)]),
            ],
        ),
        (
            "after a restart: undo drops the resumed brief",
            GRACE,
            vec![
                (0, Event::Resumed { tasks: vec![4], left: Duration::from_secs(3), unsure: false }, vec![]),
                (1, Event::Heard(Heard::Undo), vec![Effect::Undo(4)]),
                (5, Event::Tick, vec![]),
            ],
        ),
        ("after a restart with no window left: it starts", GRACE, vec![(0, Event::Resumed { tasks: vec![4], left: Duration::ZERO, unsure: false }, vec![Effect::Start(4)])]),
        ("nothing to undo: no effect", GRACE, vec![(0, Event::Heard(Heard::Undo), vec![]), (0, Event::Heard(jules()), vec![])]),
    ];
    for (name, grace, script) in table {
        eprintln!("{name}");
        play(grace, script);
    }
}

#[test]
fn conversations_about_a_confirmation_question() {
    let t0 = Instant::now();
    let ttl = Duration::from_secs(30);
    let q = question(4, "abc", t0, ttl);
    let refuse_nothing = Effect::Refuse("Nothing is waiting for confirmation; nothing was done.".into());
    let table: Vec<(&str, Script)> = vec![
        ("a confirm with nothing asked", vec![(0, Event::Confirm { named: None }, vec![refuse_nothing.clone()])]),
        ("asked, then confirmed", vec![(0, Event::Ask(q.clone()), vec![]), (5, Event::Confirm { named: None }, vec![Effect::Proceed(q.clone())]), (6, Event::Confirm { named: None }, vec![refuse_nothing.clone()])]),
        ("a confirm naming the task asked about", vec![(0, Event::Ask(q.clone()), vec![]), (5, Event::Confirm { named: Some(4) }, vec![Effect::Proceed(q.clone())])]),
        (
            "a confirm naming another task changes nothing",
            vec![
                (0, Event::Ask(q.clone()), vec![]),
                (1, Event::Confirm { named: Some(5) }, vec![Effect::Refuse(format!("That is not what I asked about, so nothing changed. I'm waiting on: {}", q.question))]),
                (2, Event::Confirm { named: None }, vec![Effect::Proceed(q.clone())]),
            ],
        ),
        (
            "nobody answers: it expires, and a late confirm is told why",
            vec![
                (0, Event::Ask(q.clone()), vec![]),
                (29, Event::Tick, vec![]),
                (30, Event::Tick, vec![Effect::Expired { task: 4, action: Action::Merge }]),
                (31, Event::Confirm { named: None }, vec![Effect::Refuse("The question about task 4 expired; nothing was done. Ask again when you're ready.".into())]),
            ],
        ),
        (
            "a confirm after the deadline, before any tick, does not merge",
            vec![(0, Event::Ask(q.clone()), vec![]), (40, Event::Confirm { named: None }, vec![Effect::Expired { task: 4, action: Action::Merge }, Effect::Refuse("The question about task 4 expired; nothing was done. Ask again when you're ready.".into())])],
        ),
        ("a no denies it", vec![(0, Event::Ask(q.clone()), vec![]), (1, Event::Deny, vec![Effect::Denied(q.clone())]), (2, Event::Confirm { named: None }, vec![refuse_nothing.clone()])]),
        ("a no with nothing asked", vec![(0, Event::Deny, vec![Effect::Refuse("Nothing was waiting for an answer.".into())])]),
        ("a withdrawn question cannot be confirmed", vec![(0, Event::Ask(q.clone()), vec![]), (1, Event::Withdraw, vec![]), (2, Event::Confirm { named: None }, vec![refuse_nothing.clone()])]),
        ("its task cancelled: the question goes", vec![(0, Event::Ask(q.clone()), vec![]), (1, Event::Gone(4), vec![]), (2, Event::Confirm { named: None }, vec![refuse_nothing.clone()])]),
    ];
    for (name, script) in table {
        eprintln!("{name}");
        let mut d = Dialogue::new(GRACE);
        for (i, (at, event, want)) in script.into_iter().enumerate() {
            assert_eq!(d.step(event.clone(), t0 + Duration::from_secs(at)), want, "{name}, step {i}: {event:?}");
        }
    }
}

/// A random event, at a random later time.
#[derive(Debug, Clone)]
enum Op {
    Brief { n: u8, confidence: f32 },
    Undo,
    Correct,
    Split,
    Resumed { n: u8, left: u8 },
    Other,
    Gone(u8),
    Ask { task: u8, head: u8 },
    Confirm { named: Option<u8> },
    Deny,
    Withdraw,
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..4, 0.3f32..1.0).prop_map(|(n, confidence)| Op::Brief { n, confidence }),
        Just(Op::Undo),
        Just(Op::Correct),
        Just(Op::Split),
        (1u8..3, 0u8..10).prop_map(|(n, left)| Op::Resumed { n, left }),
        Just(Op::Other),
        (0u8..12).prop_map(Op::Gone),
        (1u8..6, 0u8..3).prop_map(|(task, head)| Op::Ask { task, head }),
        proptest::option::of(1u8..6).prop_map(|named| Op::Confirm { named }),
        Just(Op::Deny),
        Just(Op::Withdraw),
        Just(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Over any sequence of events: no merge without a confirmation bound to the same head,
    /// asked and neither answered, withdrawn nor expired since; nothing started inside its grace
    /// window, nor started twice, nor started once undone; a correction never starts an agent.
    #[test]
    fn the_dialogue_keeps_its_promises(grace in 0u64..10, steps in proptest::collection::vec((op(), 0u64..6), 1..60)) {
        let t0 = Instant::now();
        let grace = Duration::from_secs(grace);
        let mut d = Dialogue::new(grace);
        let mut now = t0;
        let mut next_task = 100i64;
        // The model: the open question, when each task may start, what started, what was undone.
        let mut open: Option<Pending> = None;
        let mut earliest: std::collections::HashMap<i64, Instant> = Default::default();
        let mut started: std::collections::HashSet<i64> = Default::default();
        let mut undone: std::collections::HashSet<i64> = Default::default();
        let mut split_added: Vec<(i64, i64)> = Vec::new();
        let ttl = Duration::from_secs(20);
        for (op, dt) in steps {
            now += Duration::from_secs(dt);
            // What the model expires first.
            if open.as_ref().is_some_and(|p| p.deadline.into_std() <= now) {
                open = None;
            }
            let is_correct = matches!(op, Op::Correct);
            let event = match op {
                Op::Brief { n, confidence } => {
                    let tasks: Vec<i64> = (0..n).map(|_| { next_task += 1; next_task }).collect();
                    let wait = if confidence < UNSURE_BELOW { grace * 2 } else { grace };
                    for t in &tasks {
                        earliest.insert(*t, now + wait);
                    }
                    Event::Dispatched { tasks, confidence }
                }
                Op::Resumed { n, left } => {
                    let tasks: Vec<i64> = (0..n).map(|_| { next_task += 1; next_task }).collect();
                    let left = if grace.is_zero() { Duration::ZERO } else { Duration::from_secs(u64::from(left)) };
                    for t in &tasks {
                        earliest.insert(*t, now + left);
                    }
                    Event::Resumed { tasks, left, unsure: false }
                }
                Op::Split => Event::Heard(Heard::Split),
                Op::Undo => Event::Heard(Heard::Undo),
                Op::Correct => Event::Heard(Heard::Correct { agent: Some("jules".into()), repo: None }),
                Op::Other => Event::Heard(Heard::Other),
                Op::Gone(i) => Event::Gone(100 + i64::from(i)),
                Op::Ask { task, head } => {
                    let p = question(i64::from(task), &format!("head{head}"), now, ttl);
                    open = Some(p.clone());
                    Event::Ask(p)
                }
                Op::Confirm { named } => Event::Confirm { named: named.map(i64::from) },
                Op::Deny => Event::Deny,
                Op::Withdraw => Event::Withdraw,
                Op::Tick => Event::Tick,
            };
            if let Event::Gone(id) = &event {
                if open.as_ref().is_some_and(|p| p.task == *id) {
                    open = None;
                }
                // A task cancelled by id (once dispatched, not yet started) never starts from the window.
                if earliest.get(id).is_some_and(|e| *e > now) && !started.contains(id) {
                    undone.insert(*id);
                }
            }
            let confirm_named = if let Event::Confirm { named } = &event { Some(*named) } else { None };
            let effects = d.step(event, now);
            let mut proceeded = false;
            for e in &effects {
                match e {
                    Effect::Proceed(p) => {
                        let asked = open.take();
                        prop_assert!(asked.is_some(), "a merge with no open question: {p:?}");
                        let asked = asked.unwrap();
                        prop_assert_eq!(&asked.head, &p.head, "bound to another head");
                        prop_assert_eq!(asked.task, p.task);
                        prop_assert_eq!(&asked.code, &p.code);
                        prop_assert!(p.deadline.into_std() > now, "an expired question was used");
                        prop_assert!(confirm_named.is_some_and(|n| n.is_none_or(|t| t == p.task)), "proceeded without a confirm naming it");
                        proceeded = true;
                    }
                    Effect::Denied(_) => { open = None; }
                    Effect::Start(t) => {
                        prop_assert!(!is_correct || grace.is_zero() || earliest.get(t).is_some_and(|e| *e <= now), "a correction started an agent early");
                        prop_assert!(earliest.get(t).is_some_and(|e| *e <= now), "task {} started inside its grace window", t);
                        prop_assert!(started.insert(*t), "task {} started twice", t);
                        prop_assert!(!undone.contains(t), "task {} started after it was undone", t);
                    }
                    Effect::Undo(t) => {
                        prop_assert!(!started.contains(t), "task {} undone after its agent started", t);
                        undone.insert(*t);
                    }
                    Effect::Correct { task, wait, .. } => {
                        prop_assert!(!started.contains(task), "a started task was corrected");
                        earliest.insert(*task, now + *wait);
                    }
                    Effect::Split { task, wait, .. } => {
                        prop_assert!(!started.contains(task), "a started task was split");
                        earliest.insert(*task, now + *wait);
                        // The coordinator adds the second half to the same window.
                        next_task += 1;
                        earliest.insert(next_task, now + *wait);
                        split_added.push((next_task, *task));
                    }
                    _ => {}
                }
            }
            if matches!(confirm_named, Some(_)) && !proceeded && open.is_some() {
                // Refused: the question is still open unless the dialogue dropped it (it must not have).
                prop_assert!(d.pending().is_some());
            }
            if matches!(confirm_named, Some(_)) && proceeded {
                prop_assert!(d.pending().is_none(), "a confirmation is used once");
            }
            if d.pending().is_none() { open = None; }
            let corrected = effects.iter().filter(|e| matches!(e, Effect::Correct { .. } | Effect::Split { .. })).count();
            prop_assert!(corrected <= 1, "one correction re-assigns one task");
            // The second half of a split joins its window: it starts with the first, never before.
            for (task, like) in std::mem::take(&mut split_added) {
                for e in d.step(Event::Added { task, like }, now) {
                    if let Effect::Start(t) = e {
                        prop_assert!(earliest.get(&t).is_some_and(|e| *e <= now), "task {} started inside its grace window", t);
                        prop_assert!(started.insert(t), "task {} started twice", t);
                    }
                }
            }
        }
    }
}

#[test]
fn the_read_back_names_the_task_the_work_the_agent_the_repo_and_when() {
    let cases: &[(i64, &str, Option<(&str, &str)>, Option<&str>, &str, &str)] = &[
        (7, "Fix the pricing table", Some(("claude", "you asked for claude")), Some("site"), "starts now", "Task 7, fix the pricing table, for claude on site, starts now."),
        (3, "Scope the demos CSS", Some(("cursor", "the route for css tasks")), Some("site"), "starts Sat 02:00", "Task 3, scope the demos CSS, for cursor (the route for css tasks) on site, starts Sat 02:00."),
        (4, "README typo.", Some(("claude", "the default agent")), None, "starts now", "Task 4, README typo, for claude (the default agent), starts now."),
        (5, "Bump lodash", None, Some("api"), "starts now", "Task 5, bump lodash on api, starts now."),
    ];
    for (id, title, agent, repo, when, want) in cases {
        assert_eq!(read_back(*id, title, *agent, *repo, when), *want);
    }
}

#[test]
fn the_read_back_says_when_the_agent_starts() {
    for (secs, want) in [(0, "starts now"), (1, "starts in 1 second"), (8, "starts in 8 seconds"), (16, "starts in 16 seconds"), (180, "starts in 3 minutes")] {
        assert_eq!(starts_in(Duration::from_secs(secs)), want);
    }
}

fn held(id: i64, q: &str) -> HeldTask {
    HeldTask { id, title: format!("task {id}"), question: Some(q.into()) }
}

/// Which held task the next words answer, and which one a yes or no is about.
#[test]
fn conversations_about_held_tasks() {
    let t0 = Instant::now();
    let later = |s: u64| t0 + Duration::from_secs(s);
    let one = vec![held(3, "Which files?")];
    let two = vec![held(3, "Which files?"), held(4, "Which repo?")];

    // Asked about task 3: the next words answer it, while it is held and the question is open.
    let mut d = Dialogue::new(GRACE);
    d.step(Event::AskedHeld { task: 3, question: "Which files?".into() }, t0);
    assert_eq!(d.clarifying(later(1), &one).map(|(t, q)| (t.id, q)), Some((3, "Which files?".to_string())));
    assert_eq!(d.clarifying(later(1), &[]).map(|(t, _)| t.id), None, "no longer held");
    assert_eq!(d.clarifying(t0 + ASKED_TTL, &one).map(|(t, _)| t.id), None, "the question timed out");
    assert_eq!(d.yes_no_about("yes", later(1), &two).map(|t| t.id), Some(3), "the one asked about, among several");
    // A merge question pending comes first.
    d.step(Event::Ask(question(9, "abc", later(1), Duration::from_secs(30))), later(1));
    assert!(d.clarifying(later(2), &one).is_none() && d.yes_no_about("dispatch it anyway", later(2), &one).is_none());
    d.step(Event::Withdraw, later(2));
    // Its reply closes it.
    d.step(Event::Replied, later(3));
    assert!(d.clarifying(later(3), &one).is_none());
    // Without an open question, only "anyway" reaches a held task, and only the only one.
    assert_eq!(d.yes_no_about("yes", later(3), &one).map(|t| t.id), None);
    assert_eq!(d.yes_no_about("dispatch it anyway", later(3), &one).map(|t| t.id), Some(3));
    assert_eq!(d.yes_no_about("dispatch it anyway", later(3), &two).map(|t| t.id), None);
    assert_eq!(which_held(&two).as_deref(), Some("Which one: task 3, 'task 3', or task 4, 'task 4'? Say \"dispatch task 3 anyway\", for example."));
    assert_eq!(which_held(&one), None);

    // A status answer opens the question of the task it named, or of the only held task.
    let mut d = Dialogue::new(GRACE);
    d.step(Event::Status { named: Some(4), held: two.clone() }, t0);
    assert_eq!(d.clarifying(later(1), &two).map(|(t, _)| t.id), Some(4));
    let mut d = Dialogue::new(GRACE);
    d.step(Event::Status { named: None, held: two.clone() }, t0);
    assert!(d.clarifying(later(1), &two).is_none(), "several held, none named: no question opens");
    d.step(Event::Status { named: None, held: one.clone() }, t0);
    assert_eq!(d.clarifying(later(1), &one).map(|(t, _)| t.id), Some(3));
    d.step(Event::Status { named: Some(7), held: one.clone() }, later(2));
    assert_eq!(d.clarifying(later(2), &one).map(|(t, _)| t.id), Some(3), "a named task that is not held changes nothing");
    assert_eq!(kept_held(3), "Okay, task 3 stays on hold. Answer its question when you're ready, say \"dispatch task 3 anyway\", or cancel it.");
}
