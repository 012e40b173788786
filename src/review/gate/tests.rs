//! The gate's rules as tables (one row per rule, boundaries included) and as properties over
//! every combination of facts: no git, no store, no daemon.

use super::*;
use crate::github::checks::{FailedCheck, Verdict, verdict};
use crate::github::types::CheckRun;
use crate::review::merge::Action;
use proptest::prelude::*;
use std::time::Duration;

const H1: &str = "1111111111111111111111111111111111111111";
const H2: &str = "2222222222222222222222222222222222222222";
const H3: &str = "3333333333333333333333333333333333333333";
const B1: &str = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
const B2: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const TTL: Duration = Duration::from_secs(30);

/// A question asked at `t0` about task 7 at head H1 on base B1, with the code 1234.
fn pending(t0: Instant) -> Pending {
    let mut p = Pending::about(Action::Merge, 7, "Merge task 7?".into(), chrono::Utc::now(), t0, TTL);
    p.code = "1234".into();
    p.head = H1.into();
    p.base = B1.into();
    p
}

fn task() -> Task {
    Task {
        id: 7,
        title: "Restyle the button".into(),
        state: TaskState::Ready,
        branch: Some("capcom/7-restyle".into()),
        head_sha: Some(H1.into()),
        ..Default::default()
    }
}

fn green(head: &str) -> Reviewed {
    Reviewed { head: head.into(), checks_total: 2, checks_ok: 2, ..Default::default() }
}

/// Every fact of a local merge, owned, so a row can change any of them.
#[derive(Clone, Debug)]
struct World {
    pending: Pending,
    code: Option<String>,
    now: Instant,
    task: Task,
    head: Option<String>,
    base: Option<String>,
    train_base: Option<String>,
    same_change: bool,
    review: Option<Reviewed>,
    require_checks: bool,
    method: String,
    checkouts: Vec<(PathBuf, Option<String>)>,
    fast_forward: bool,
}

impl World {
    /// Everything in order: asked 10 s ago, confirmed with the right code.
    fn good(t0: Instant) -> World {
        World {
            pending: pending(t0),
            code: Some("1234".into()),
            now: t0 + Duration::from_secs(10),
            task: task(),
            head: Some(H1.into()),
            base: Some(B1.into()),
            train_base: None,
            same_change: false,
            review: Some(green(H1)),
            require_checks: true,
            method: "merge".into(),
            checkouts: Vec::new(),
            fast_forward: true,
        }
    }

    fn decide(&self) -> Result<Plan, Refusal> {
        let c = Confirmation { pending: &self.pending, code: self.code.as_deref(), now: self.now };
        local(
            &c,
            &Local {
                task: &self.task,
                base_branch: "main",
                head: self.head.as_deref(),
                base: self.base.as_deref(),
                train_base: self.train_base.as_deref(),
                same_change: self.same_change,
                review: self.review.as_ref(),
                require_checks: self.require_checks,
                method: &self.method,
                checkouts: &self.checkouts,
                fast_forward: self.fast_forward,
            },
        )
    }
}

/// What a row expects: a merge with this method and head, or a refusal whose reason holds
/// this text (and is stale or not).
enum Want {
    Merge(Method, &'static str),
    Refuse(&'static str),
    Stale(&'static str),
}

fn check_rows(rows: Vec<(&str, World, Want)>) {
    for (name, w, want) in rows {
        let got = w.decide();
        match (&want, &got) {
            (Want::Merge(m, head), Ok(plan)) => {
                assert_eq!((plan.method, plan.head.as_str()), (*m, *head), "{name}");
                assert_eq!(Some(plan.old.as_str()), w.base.as_deref(), "{name}: merges onto the base as it is");
            }
            (Want::Refuse(text) | Want::Stale(text), Err(r)) => {
                assert!(r.reason.contains(text), "{name}: {:?} lacks {text:?}", r.reason);
                assert!(r.reason.contains("nothing merged") || r.reason.contains("Nothing merged"), "{name}: {:?}", r.reason);
                assert_eq!(r.stale, matches!(want, Want::Stale(_)), "{name}: {r:?}");
                assert!(!r.needs_attention, "{name}: deciding moves no task");
            }
            _ => panic!("{name}: got {got:?}"),
        }
    }
}

#[test]
fn the_local_gate_table() {
    let t0 = Instant::now();
    let good = || World::good(t0);
    let with = |f: &dyn Fn(&mut World)| {
        let mut w = good();
        f(&mut w);
        w
    };
    let deadline = t0 + TTL;
    let rows: Vec<(&str, World, Want)> = vec![
        ("everything in order", good(), Want::Merge(Method::Merge, H1)),
        // the confirmation: its code and its expiry, to the second and below
        ("no code given", with(&|w| w.code = None), Want::Merge(Method::Merge, H1)),
        ("a blank code is no code", with(&|w| w.code = Some("  ".into())), Want::Merge(Method::Merge, H1)),
        ("the code with spaces", with(&|w| w.code = Some(" 1234 ".into())), Want::Merge(Method::Merge, H1)),
        ("a wrong code", with(&|w| w.code = Some("4321".into())), Want::Refuse("Code 4321 does not match")),
        ("one second before expiry", with(&|w| w.now = deadline - Duration::from_secs(1)), Want::Merge(Method::Merge, H1)),
        ("a nanosecond before expiry", with(&|w| w.now = deadline - Duration::from_nanos(1)), Want::Merge(Method::Merge, H1)),
        ("at the expiry", with(&|w| w.now = deadline), Want::Refuse("expired")),
        ("one second after expiry", with(&|w| w.now = deadline + Duration::from_secs(1)), Want::Refuse("expired")),
        ("expired with the right code", with(&|w| w.now = deadline + Duration::from_secs(3600)), Want::Refuse("Ask again")),
        // the task
        ("the task is running", with(&|w| w.task.state = TaskState::Running), Want::Refuse("Task 7 is running, not ready")),
        ("the task is checking", with(&|w| w.task.state = TaskState::Checking), Want::Refuse("is checking, not ready")),
        (
            "the task needs attention",
            with(&|w| {
                w.task.state = TaskState::NeedsAttention;
                w.task.reason = Some("check `test` failed".into());
            }),
            Want::Refuse("needs attention: check `test` failed"),
        ),
        ("the task is merged", with(&|w| w.task.state = TaskState::Merged), Want::Refuse("already merged")),
        ("the task is cancelled", with(&|w| w.task.state = TaskState::Cancelled), Want::Refuse("cancelled, not ready")),
        // the heads
        ("the branch is gone", with(&|w| w.head = None), Want::Refuse("the branch capcom/7-restyle of task 7 is gone")),
        (
            "the task has no branch",
            with(&|w| {
                w.head = None;
                w.task.branch = None;
            }),
            Want::Refuse("has no branch"),
        ),
        ("the base is gone", with(&|w| w.base = None), Want::Refuse("the base branch main is gone")),
        ("the base moved", with(&|w| w.base = Some(B2.into())), Want::Stale("main moved since you were asked")),
        (
            "the base moved by this train's own merge",
            with(&|w| {
                w.base = Some(B2.into());
                w.train_base = Some(B2.into());
            }),
            Want::Merge(Method::Merge, H1),
        ),
        (
            "the base moved, but not to the train's merge",
            with(&|w| {
                w.base = Some(B2.into());
                w.train_base = Some(B1.into());
            }),
            Want::Stale("main moved"),
        ),
        (
            "a question asked without a base (no local base read)",
            with(&|w| {
                w.pending.base.clear();
                w.base = Some(B2.into());
            }),
            Want::Merge(Method::Merge, H1),
        ),
        ("the head moved", with(&|w| w.head = Some(H2.into())), Want::Refuse("moved since you were asked (asked about 1111111, now 2222222)")),
        (
            "the head moved and the review followed it",
            with(&|w| {
                w.head = Some(H2.into());
                w.task.head_sha = Some(H2.into());
                w.review = Some(green(H2));
            }),
            Want::Refuse("moved since you were asked"),
        ),
        // moved to H2 and back to H1: the branch is what was asked about, and so is the review
        ("the head moved and moved back", good(), Want::Merge(Method::Merge, H1)),
        (
            "moved back, but the task recorded the other head",
            with(&|w| w.task.head_sha = Some(H2.into())),
            Want::Refuse("moved since you were asked"),
        ),
        (
            "moved back, but the last review ran on the other head",
            with(&|w| w.review = Some(green(H2))),
            Want::Refuse("reviewed at 2222222, not at its head 1111111"),
        ),
        (
            "a train's rebase of the same change",
            with(&|w| {
                w.base = Some(B2.into());
                w.train_base = Some(B2.into());
                w.head = Some(H3.into());
                w.task.head_sha = Some(H3.into());
                w.same_change = true;
                w.review = Some(green(H3));
            }),
            Want::Merge(Method::Merge, H3),
        ),
        (
            "a rebase that is not the same change",
            with(&|w| {
                w.base = Some(B2.into());
                w.train_base = Some(B2.into());
                w.head = Some(H3.into());
                w.task.head_sha = Some(H3.into());
                w.review = Some(green(H3));
            }),
            Want::Refuse("moved since you were asked"),
        ),
        (
            "the same change, but outside a train",
            with(&|w| {
                w.head = Some(H3.into());
                w.task.head_sha = Some(H3.into());
                w.same_change = true;
                w.review = Some(green(H3));
            }),
            Want::Refuse("moved since you were asked"),
        ),
        // the checks
        ("no review", with(&|w| w.review = None), Want::Refuse("has no review")),
        (
            "a red check",
            with(&|w| w.review = Some(Reviewed { checks_ok: 1, ..green(H1) })),
            Want::Refuse("checks are not green (1 of 2 passed)"),
        ),
        (
            "every check red",
            with(&|w| w.review = Some(Reviewed { checks_ok: 0, ..green(H1) })),
            Want::Refuse("not green (0 of 2"),
        ),
        (
            "zero checks",
            with(&|w| w.review = Some(Reviewed { checks_total: 0, checks_ok: 0, ..green(H1) })),
            Want::Refuse("No automated check ran on the change of task 7"),
        ),
        (
            "zero checks, asked as untested, plain confirm",
            with(&|w| {
                w.review = Some(Reviewed { checks_total: 0, checks_ok: 0, ..green(H1) });
                w.pending.no_checks = true;
            }),
            Want::Refuse("a plain confirm doesn't merge it"),
        ),
        (
            "zero checks, confirmed without checks",
            with(&|w| {
                w.review = Some(Reviewed { checks_total: 0, checks_ok: 0, ..green(H1) });
                w.pending.no_checks = true;
                w.pending.without_checks = true;
            }),
            Want::Merge(Method::Merge, H1),
        ),
        (
            "zero checks in a repo that does not require them",
            with(&|w| {
                w.review = Some(Reviewed { checks_total: 0, checks_ok: 0, ..green(H1) });
                w.require_checks = false;
            }),
            Want::Merge(Method::Merge, H1),
        ),
        (
            "a red check is not waived by \"without checks\"",
            with(&|w| {
                w.review = Some(Reviewed { checks_ok: 1, ..green(H1) });
                w.pending.without_checks = true;
            }),
            Want::Refuse("not green"),
        ),
        // scope and secrets
        (
            "a file out of scope",
            with(&|w| w.review = Some(Reviewed { scope_violations: vec!["app/page.tsx".into()], ..green(H1) })),
            Want::Refuse("outside its scope: app/page.tsx"),
        ),
        ("a secret", with(&|w| w.review = Some(Reviewed { secrets: 1, ..green(H1) })), Want::Refuse("A secret was found")),
        // the user's checkout of the base
        (
            "a clean checkout of the base",
            with(&|w| w.checkouts = vec![(PathBuf::from("/home/u/site"), Some(B1.into()))]),
            Want::Merge(Method::Merge, H1),
        ),
        (
            "a dirty checkout of the base",
            with(&|w| w.checkouts = vec![(PathBuf::from("/home/u/site"), Some(B1.into())), (PathBuf::from("/home/u/site-2"), None)]),
            Want::Refuse("main is checked out in /home/u/site-2 with uncommitted changes"),
        ),
        // the merge method
        ("squash", with(&|w| w.method = "squash".into()), Want::Merge(Method::Squash, H1)),
        ("fast-forward", with(&|w| w.method = "fast-forward".into()), Want::Merge(Method::FastForward, H1)),
        (
            "fast-forward over a base that moved on",
            with(&|w| {
                w.method = "ff".into();
                w.fast_forward = false;
            }),
            Want::Refuse("a fast-forward is impossible"),
        ),
        (
            "a merge over a base that moved on",
            with(&|w| w.fast_forward = false),
            Want::Merge(Method::Merge, H1),
        ),
        ("an unknown method", with(&|w| w.method = "rebase".into()), Want::Refuse("merge_method `rebase` is not")),
        ("no method", with(&|w| w.method = String::new()), Want::Refuse("merge_method `` is not")),
    ];
    check_rows(rows);
}

/// A fresh read of pull request 41 at head H1, open, two checks green.
fn report() -> PrReport {
    PrReport {
        number: 41,
        url: "https://github.com/octo/site/pull/41".into(),
        head_sha: H1.into(),
        state: "open".into(),
        merged: false,
        mergeable: Some(true),
        mergeable_state: Some("clean".into()),
        draft: false,
        node_id: "PR_kwDO".into(),
        verdict: Verdict::Green { passed: 2 },
        checks: Vec::new(),
        base: "main".into(),
        rules: Default::default(),
    }
}

fn runs(list: &[(&str, &str, Option<&str>)]) -> Vec<CheckRun> {
    list.iter()
        .map(|(name, status, conclusion)| {
            serde_json::from_value(serde_json::json!({"name": name, "status": status, "conclusion": conclusion})).unwrap()
        })
        .collect()
}

#[test]
fn the_pull_request_gate_table() {
    let t0 = Instant::now();
    let mut p = pending(t0);
    p.pr = Some(41);
    p.base.clear();
    let now = t0 + Duration::from_secs(10);
    let with = |f: &dyn Fn(&mut PrReport)| {
        let mut r = report();
        f(&mut r);
        r
    };
    let v = |list: &[(&str, &str, Option<&str>)]| verdict(&runs(list), None);
    // (name, report, [github] merge_method, Ok(mark ready) or the refusal's text)
    let rows: Vec<(&str, PrReport, &str, Result<bool, &str>)> = vec![
        ("open, green, clean", report(), "squash", Ok(false)),
        ("a draft is marked ready first", with(&|r| r.draft = true), "squash", Ok(true)),
        ("mergeability still computing", with(&|r| r.mergeable = None), "merge", Ok(false)),
        ("the head moved", with(&|r| r.head_sha = H2.into()), "squash", Err("changed since you were asked")),
        ("the head moved and moved back", report(), "squash", Ok(false)),
        ("zero checks", with(&|r| r.verdict = v(&[])), "squash", Err("is not green")),
        ("green with zero passed", with(&|r| r.verdict = Verdict::Green { passed: 0 }), "squash", Err("is not green")),
        ("a red check", with(&|r| r.verdict = v(&[("build", "completed", Some("success")), ("test", "completed", Some("failure"))])), "squash", Err("is not green")),
        ("a check still running", with(&|r| r.verdict = v(&[("build", "in_progress", None)])), "squash", Err("is not green")),
        ("runs waiting for approval", with(&|r| r.verdict = v(&[("CI", "completed", Some("action_required"))])), "squash", Err("is not green")),
        // GitHub counts a skipped check as passed for required checks; so does the gate
        ("a skipped check beside a green one", with(&|r| r.verdict = v(&[("build", "completed", Some("success")), ("e2e", "completed", Some("skipped"))])), "squash", Ok(false)),
        ("only a skipped check", with(&|r| r.verdict = v(&[("e2e", "completed", Some("skipped"))])), "squash", Ok(false)),
        ("a cancelled check", with(&|r| r.verdict = Verdict::Failing { failed: vec![FailedCheck { name: "build".into(), conclusion: "cancelled".into() }] }), "squash", Err("is not green")),
        ("already merged", with(&|r| r.merged = true), "squash", Err("already merged")),
        ("closed", with(&|r| r.state = "closed".into()), "squash", Err("is closed")),
        ("conflicts", with(&|r| r.mergeable = Some(false)), "squash", Err("has conflicts")),
        ("merge method rebase", report(), "rebase", Ok(false)),
        ("merge method merge", report(), "merge", Ok(false)),
        ("a method GitHub does not know", report(), "fast-forward", Err("merge_method `fast-forward`")),
        ("another pull request", with(&|r| r.number = 42), "squash", Err("not about pull request 42")),
    ];
    for (name, r, method, want) in rows {
        let got = pull_request(&Confirmation { pending: &p, code: Some("1234"), now }, &task(), &r, method);
        match (want, got) {
            (Ok(mark), Ok(plan)) => assert_eq!(plan, PrPlan { head: H1.into(), mark_ready: mark }, "{name}"),
            (Err(text), Err(refusal)) => {
                assert!(refusal.reason.contains(text), "{name}: {:?} lacks {text:?}", refusal.reason);
                assert!(refusal.reason.ends_with("nothing merged"), "{name}: {:?}", refusal.reason);
            }
            (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
    // the confirmation and the task, through the same door
    let c = |code: Option<&'static str>, now: Instant| Confirmation { pending: &p, code, now };
    let expired = pull_request(&c(Some("1234"), t0 + TTL), &task(), &report(), "squash").unwrap_err();
    assert!(expired.reason.contains("expired"), "{expired:?}");
    assert!(pull_request(&c(Some("1234"), t0 + TTL - Duration::from_secs(1)), &task(), &report(), "squash").is_ok());
    let wrong = pull_request(&c(Some("9999"), now), &task(), &report(), "squash").unwrap_err();
    assert!(wrong.reason.contains("does not match"), "{wrong:?}");
    let running = Task { state: TaskState::Running, ..task() };
    let not_ready = pull_request(&c(None, now), &running, &report(), "squash").unwrap_err();
    assert!(not_ready.reason.contains("not ready"), "{not_ready:?}");
    let mut headless = p.clone();
    headless.head.clear();
    let unbound = pull_request(&Confirmation { pending: &headless, code: None, now }, &task(), &with(&|r| r.head_sha.clear()), "squash");
    assert!(unbound.is_err(), "a question bound to no head merges nothing: {unbound:?}");
}

// A generated world is the good one with some of its facts replaced by generated ones (each
// with a chance of 20 %), and the generated facts lean towards a good merge (H1, B1, ready,
// green): a fair share of the worlds merges, so the property is not true for want of merges
// (`the_generated_worlds_merge_often_enough`).

fn sha() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(H1.to_string()), 1 => Just(H2.to_string()), 1 => Just(H3.to_string())]
}

fn base_sha() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(B1.to_string()), 1 => Just(B2.to_string())]
}

fn state() -> impl Strategy<Value = TaskState> {
    prop_oneof![
        6 => Just(TaskState::Ready),
        1 => Just(TaskState::Running),
        1 => Just(TaskState::Checking),
        1 => Just(TaskState::NeedsAttention),
        1 => Just(TaskState::Merged),
        1 => Just(TaskState::Cancelled),
        1 => Just(TaskState::Failed),
    ]
}

fn review() -> impl Strategy<Value = Option<Reviewed>> {
    let some = prop_oneof![4 => Just(0usize), 1 => 1usize..3];
    let red = prop_oneof![3 => Just(None), 1 => (0u64..4).prop_map(Some)];
    proptest::option::weighted(0.9, (sha(), 0u64..4, red, some.clone(), some).prop_map(|(head, total, ok, scope, secrets)| Reviewed {
        head,
        checks_total: total,
        checks_ok: ok.map_or(total, |o| o.min(total)),
        scope_violations: (0..scope).map(|i| format!("app/{i}.ts")).collect(),
        secrets,
    }))
}

prop_compose! {
    fn world()(
        (code, offset_ms, no_checks, without_checks) in (
            prop_oneof![2 => Just(None), 4 => Just(Some("1234".to_string())), 1 => Just(Some("4321".to_string())), 1 => Just(Some(String::new()))],
            // milliseconds from the deadline: well before, well after, and the last moments either side
            prop_oneof![4 => -40_000i64..0, 2 => 0i64..40_000, 1 => -2i64..2],
            proptest::bool::weighted(0.2),
            proptest::bool::weighted(0.3),
        ),
        (state, task_head, pending_head, pending_base) in (
            state(),
            proptest::option::weighted(0.9, sha()),
            sha(),
            prop_oneof![1 => Just(String::new()), 4 => base_sha()],
        ),
        (head, base, train_base, same_change) in (
            proptest::option::weighted(0.9, sha()),
            proptest::option::weighted(0.9, base_sha()),
            proptest::option::weighted(0.3, base_sha()),
            any::<bool>(),
        ),
        (review, require_checks, method, dirty, fast_forward) in (
            review(),
            any::<bool>(),
            prop_oneof![4 => Just("merge"), 1 => Just("squash"), 1 => Just("ff"), 1 => Just("rebase"), 1 => Just("")],
            proptest::collection::vec(proptest::bool::weighted(0.2), 0..3),
            proptest::bool::weighted(0.8),
        ),
        keep in proptest::collection::vec(proptest::bool::weighted(0.8), 17),
    ) -> World {
        let t0 = Instant::now();
        let mut w = World::good(t0);
        // each fact keeps the good world's value, or takes the generated one
        let mut k = keep.into_iter();
        let mut change = || !k.next().unwrap_or(true);
        if change() { w.code = code; }
        let deadline = t0 + TTL;
        if change() {
            w.now = if offset_ms >= 0 { deadline + Duration::from_millis(offset_ms as u64) } else { deadline - Duration::from_millis((-offset_ms) as u64) };
        }
        if change() { w.pending.no_checks = no_checks; }
        if change() { w.pending.without_checks = without_checks; }
        if change() { w.pending.head = pending_head; }
        if change() { w.pending.base = pending_base; }
        if change() { w.task.state = state; }
        if change() { w.task.head_sha = task_head; }
        if change() { w.head = head; }
        if change() { w.base = base; }
        if change() { w.train_base = train_base; }
        if change() { w.same_change = same_change; }
        if change() { w.review = review; }
        if change() { w.require_checks = require_checks; }
        if change() { w.method = method.to_string(); }
        if change() {
            w.checkouts = dirty.iter().enumerate().map(|(i, d)| (PathBuf::from(format!("/wt/{i}")), (!d).then(|| B1.to_string()))).collect();
        }
        if change() { w.fast_forward = fast_forward; }
        w
    }
}

type PrWorld = (Pending, Option<String>, Instant, Task, PrReport, String);

prop_compose! {
    /// A question about PR 41 and a fresh read of it, leaning towards a good merge.
    fn pr_world()(
        code in prop_oneof![2 => Just(None), 4 => Just(Some("1234".to_string())), 1 => Just(Some("4321".to_string()))],
        offset_ms in prop_oneof![4 => -40_000i64..0, 2 => 0i64..40_000, 1 => -2i64..2],
        asked in sha(),
        (moved, other) in (proptest::bool::weighted(0.2), sha()),
        (merged, closed, mergeable, draft) in (
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.1),
            prop_oneof![4 => Just(Some(true)), 1 => Just(None), 1 => Just(Some(false))],
            any::<bool>(),
        ),
        verdict in prop_oneof![
            6 => (0usize..3).prop_map(|passed| Verdict::Green { passed }),
            1 => Just(Verdict::NoChecks),
            1 => Just(Verdict::Pending { waiting: vec!["build".into()] }),
            1 => Just(Verdict::NeedsApproval { runs: vec!["CI".into()] }),
            1 => Just(Verdict::Failing { failed: vec![FailedCheck { name: "test".into(), conclusion: "failure".into() }] }),
        ],
        state in state(),
        method in prop_oneof![3 => Just("squash"), 1 => Just("merge"), 1 => Just("rebase"), 1 => Just("ff")],
    ) -> PrWorld {
        let t0 = Instant::now();
        let mut p = pending(t0);
        p.pr = Some(41);
        p.base.clear();
        p.head = asked.clone();
        let deadline = t0 + TTL;
        let now = if offset_ms >= 0 { deadline + Duration::from_millis(offset_ms as u64) } else { deadline - Duration::from_millis((-offset_ms) as u64) };
        let r = PrReport {
            head_sha: if moved { other } else { asked },
            merged,
            state: if closed { "closed".into() } else { "open".into() },
            mergeable,
            draft,
            verdict,
            ..report()
        };
        (p, code, now, Task { state, ..task() }, r, method.to_string())
    }
}

/// The property below is only as good as the merges it sees: a fair share of the generated
/// worlds must merge (and most must not).
#[test]
fn the_generated_worlds_merge_often_enough() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = world();
    let n = 4096;
    let merged = (0..n).filter(|_| strategy.new_tree(&mut runner).unwrap().current().decide().is_ok()).count();
    assert!(merged >= n / 10 && merged <= n / 2, "{merged} of {n} generated worlds merged");
    let strategy = pr_world();
    let merged = (0..n)
        .filter(|_| {
            let (p, code, now, t, r, method) = strategy.new_tree(&mut runner).unwrap().current();
            pull_request(&Confirmation { pending: &p, code: code.as_deref(), now }, &t, &r, &method).is_ok()
        })
        .count();
    assert!(merged >= n / 20 && merged <= n / 2, "{merged} of {n} generated pull request worlds merged");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// No input merges without a live confirmation bound to the current head whose review is
    /// green, in scope and free of secrets (the one exception: a merge train's own rebase of the
    /// very change asked about).
    #[test]
    fn nothing_merges_without_a_live_confirmation_of_the_current_green_head(w in world()) {
        let Ok(plan) = w.decide() else { return Ok(()) };
        let p = &w.pending;
        // live
        prop_assert!(w.now < p.deadline);
        prop_assert!(w.code.as_deref().is_none_or(|c| c.trim().is_empty() || c.trim() == p.code));
        prop_assert_eq!(w.task.state, TaskState::Ready);
        // bound to the current head
        prop_assert_eq!(Some(plan.head.as_str()), w.head.as_deref());
        prop_assert_eq!(Some(plan.old.as_str()), w.base.as_deref());
        let train = w.train_base.is_some() && w.train_base == w.base;
        prop_assert!(
            (plan.head == p.head && w.task.head_sha.as_deref() == Some(p.head.as_str())) || (train && w.same_change),
            "merged {} asked about {}", plan.head, p.head
        );
        prop_assert!(p.base.is_empty() || Some(p.base.as_str()) == w.base.as_deref() || train);
        // green, in scope, no secret
        let r = w.review.as_ref().expect("a review");
        prop_assert_eq!(&r.head, &plan.head);
        prop_assert_eq!(r.checks_ok, r.checks_total);
        prop_assert!(r.checks_total > 0 || p.without_checks || !w.require_checks);
        prop_assert!(!p.no_checks || p.without_checks);
        prop_assert!(r.scope_violations.is_empty() && r.secrets == 0);
        // the user's checkouts and the method
        prop_assert!(w.checkouts.iter().all(|(_, at)| at.is_some()));
        prop_assert_eq!(Some(plan.method), Method::parse(&w.method));
        prop_assert!(plan.method != Method::FastForward || w.fast_forward);
    }

    /// Outside a merge train the merged head is exactly the one asked about.
    #[test]
    fn outside_a_train_only_the_head_asked_about_merges(mut w in world()) {
        w.train_base = None;
        if let Ok(plan) = w.decide() {
            prop_assert_eq!(plan.head, w.pending.head);
        }
    }

    /// Through GitHub: only a live confirmation of the PR's current head, green and open, merges.
    #[test]
    fn a_pull_request_merges_only_live_bound_and_green(w in pr_world()) {
        let (p, code, now, t, r, method) = &w;
        if let Ok(plan) = pull_request(&Confirmation { pending: p, code: code.as_deref(), now: *now }, t, r, method) {
            prop_assert!(*now < p.deadline);
            prop_assert!(code.as_deref().is_none_or(|c| c == p.code));
            prop_assert_eq!(t.state, TaskState::Ready);
            prop_assert_eq!(&plan.head, &r.head_sha);
            prop_assert_eq!(&plan.head, &p.head);
            prop_assert!(r.verdict.is_green());
            prop_assert!(!r.merged && r.state == "open" && r.mergeable != Some(false));
            prop_assert!(GITHUB_METHODS.contains(&method.as_str()));
            prop_assert_eq!(plan.mark_ready, r.draft);
        }
    }
}
