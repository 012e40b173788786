use super::*;
use crate::report::view::Spend;

fn at(min: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T18:00:00Z").unwrap().with_timezone(&Utc) + chrono::Duration::minutes(min)
}

fn merged(id: i64, title: &str, cost: Option<f64>, runs: u64, with_cost: u64) -> TaskView {
    let mut v = TaskView::new(id, title, TaskState::Merged);
    v.agent = Some("claude".into());
    v.started = Some(at(-120));
    v.finished = Some(at(-100));
    v.updated = Some(at(-90));
    v.checks = vec![crate::report::CheckView::new("test", true)];
    v.spend = Spend { runs, runs_with_cost: with_cost, cost_usd: cost, ..Spend::default() };
    v
}

#[test]
fn the_changelog_says_what_the_agents_cost_and_nothing_when_unknown() {
    let now = at(0);
    let since = at(-24 * 60);
    // (tasks, what the changelog must say, what it must not)
    let cases: Vec<(Vec<TaskView>, Option<&str>, &str)> = vec![
        (
            vec![merged(1, "Bump Tailwind", Some(1.20), 1, 1), merged(2, "Fix the nav", Some(2.0), 1, 1), merged(3, "Docs", Some(1.0), 1, 1)],
            Some("Three changes landed since yesterday, all merged. That's four dollars and twenty cents in agent time."),
            "at least",
        ),
        (
            vec![merged(1, "Bump Tailwind", Some(0.42), 1, 1), merged(2, "Fix the nav", None, 1, 0)],
            Some("That's at least forty-two cents in agent time."),
            "That's forty-two",
        ),
        (vec![merged(1, "Bump Tailwind", None, 1, 0), merged(2, "Fix the nav", None, 2, 0)], None, "agent time"),
    ];
    for (tasks, want, not) in cases {
        let text = changelog(&tasks, since, now);
        if let Some(w) = want {
            assert!(text.contains(w), "{text}");
        }
        assert!(!text.contains(not), "{text}");
        assert!(!text.contains('$') && !text.chars().any(|c| c.is_ascii_digit()), "{text}");
    }
    let one = changelog(&[merged(1, "Bump Tailwind", Some(0.42), 1, 1)], since, now);
    assert!(one.contains("The agent worked for twenty minutes and cost forty-two cents."), "{one}");
}

#[test]
fn one_task_answer_mentions_its_cost_only_when_known() {
    let now = at(0);
    let mut v = merged(4, "Bump Tailwind", Some(1.05), 2, 2);
    v.state = TaskState::Ready;
    assert!(task_status(&v, now).ends_with("It cost one dollar and five cents over two runs."), "{}", task_status(&v, now));
    v.spend = Spend { runs: 2, follow_ups: 1, ..Spend::default() };
    assert!(task_status(&v, now).ends_with("It took one follow-up."), "{}", task_status(&v, now));
    v.spend = Spend { runs: 1, ..Spend::default() };
    assert!(!task_status(&v, now).contains("cost"), "{}", task_status(&v, now));
    // Running: nothing about cost yet.
    v.state = TaskState::Running;
    v.spend = Spend { runs: 1, runs_with_cost: 1, cost_usd: Some(0.3), ..Spend::default() };
    assert!(!task_status(&v, now).contains("cent"), "{}", task_status(&v, now));
}

/// Each spoken sentence as a table: what the tasks are, what must be said, what must not.
#[test]
fn the_finished_answer_agrees_in_number_and_mentions_a_fresh_merge_train() {
    let now = at(0);
    let ready = |id: i64| {
        let mut v = merged(id, &format!("Task {id} title"), None, 1, 0);
        v.state = TaskState::Ready;
        v
    };
    let running = |id: i64| {
        let mut v = TaskView::new(id, "Still going", TaskState::Running);
        v.started = Some(at(-5));
        v
    };
    // The merged fixture landed 90 minutes ago.
    let cases: Vec<(Vec<TaskView>, &str, &str)> = vec![
        (vec![], "Nothing is finished yet.", "merged"),
        (
            (1..=6).map(|i| merged(i, "Merged one", None, 1, 0)).collect(),
            "Nothing is waiting for you: six tasks were merged, the first an hour and a half ago.",
            "Nothing is finished yet",
        ),
        (vec![merged(1, "Merged one", None, 1, 0)], "Nothing is waiting for you: one task was merged an hour and a half ago.", "tasks were"),
        ((1..=6).map(ready).collect(), "And one more is ready.", "more are ready"),
        ((1..=7).map(ready).collect(), "And two more are ready.", "more is ready"),
        (vec![ready(1), running(2)], "One more is still running.", "more are still"),
    ];
    for (tasks, want, not) in cases {
        let text = finished(&tasks, now);
        assert!(text.contains(want), "want {want:?} in: {text}");
        assert!(!text.contains(not), "not {not:?} in: {text}");
    }
    // A merge from yesterday is not news.
    let mut old = merged(1, "Old one", None, 1, 0);
    old.updated = Some(at(-24 * 60));
    assert_eq!(finished(&[old], now).split_once(' ').map(|x| x.0), Some("Nothing"));
    assert!(finished(&[merged(1, "Old", None, 1, 0)], at(-24 * 60)).starts_with("Nothing is finished yet."));
}

/// "What's finished?" names a conflict capcom foretold between two ready tasks, once.
#[test]
fn whats_finished_names_a_foretold_conflict_once() {
    let ready = |id: i64, title: &str, min: i64| {
        let mut v = merged(id, title, None, 1, 0);
        v.state = TaskState::Ready;
        v.updated = Some(at(min));
        v
    };
    let mut three = ready(3, "Make the header red", -10);
    three.conflicts = vec![(4, vec!["src/theme.js".to_string()])];
    let mut four = ready(4, "Make the header green", -5);
    four.conflicts = vec![(3, vec!["src/theme.js".to_string()])];
    let seven = ready(7, "Fix the typo", -1);
    let said = finished(&[three, four, seven.clone()], at(0));
    assert_eq!(said.matches("conflicts with task").count(), 1, "{said}");
    assert!(said.contains("It conflicts with task three in theme.js: merging one will need the other rebased."), "{said}");
    assert!(!finished(&[seven], at(0)).contains("conflicts"));
}

/// A conflict capcom foretold is named in the merge-all question, with what will happen, and
/// the outcome uses the same words (not "something went wrong").
#[test]
fn merge_all_names_each_foretold_conflict_in_the_question_and_the_outcome() {
    let ready = |id: i64, title: &str| {
        let mut v = merged(id, title, None, 1, 0);
        v.state = TaskState::Ready;
        v
    };
    let three = ready(3, "Restyle the button");
    let mut four = ready(4, "Round the button");
    four.conflicts = vec![(3, vec!["components/button.js".to_string()])];
    let five = ready(5, "Fix the footer");
    let batch = vec![three.clone(), four.clone(), five.clone()];

    let q = merge_all_question(&batch, "main");
    assert!(q.contains("task four conflicts with task three in button.js; it will be left for you."), "{q}");
    assert!(!q.contains("merge them all"), "{q}");
    // Without a foretold conflict, the question is as before.
    let plain = merge_all_question(&[three.clone(), five.clone()], "main");
    assert!(plain.contains("Checks are green on all of them. Say confirm to merge them all."), "{plain}");
    // A conflict with a task outside the batch is not this batch's to foretell.
    let mut lone = five.clone();
    lone.conflicts = vec![(9, vec!["a.js".into()])];
    assert!(!merge_all_question(&[three.clone(), lone], "main").contains("conflicts"));

    let failed = |v: &TaskView, error: &str| Refusal::Failed { task: Named::from(v), error: error.to_string() };
    let results = vec![
        (three.clone(), Ok(())),
        (four.clone(), Err(failed(&four, "the rebase onto main conflicts in components/button.js"))),
        (five.clone(), Ok(())),
    ];
    let out = merge_all_outcome(&results, "main");
    assert!(out.contains("Task four conflicts with task three in button.js; it was left for you."), "{out}");
    assert!(!out.contains("Something went wrong"), "{out}");
    // Another failure of a task that also has a foretold conflict keeps its own words.
    let results = vec![(three.clone(), Ok(())), (four.clone(), Err(failed(&four, "the test check is red")))];
    assert!(merge_all_outcome(&results, "main").contains("Something went wrong"));

    // A task the merge train left out is said with why, in the train's words; a foretold
    // conflict keeps the question's words.
    let left = |v: &TaskView, why: &str| Refusal::LeftOut { task: Named::from(v), why: why.to_string() };
    let results = vec![
        (three.clone(), Ok(())),
        (five.clone(), Err(left(&five, "on top of main with tasks 1 and 3, check `test` failed (exit 1)"))),
    ];
    let out = merge_all_outcome(&results, "main");
    assert!(out.ends_with("Task five, Fix the footer, was left out: on top of main with tasks 1 and 3, check `test` failed (exit 1)."), "{out}");
    let results = vec![(three.clone(), Ok(())), (four.clone(), Err(left(&four, "it conflicts with main in components/button.js")))];
    let out = merge_all_outcome(&results, "main");
    assert!(out.contains("Task four conflicts with task three in button.js; it was left for you."), "{out}");
}

#[test]
fn a_task_the_train_left_out_is_not_announced_again() {
    // (state, reason, already said by the train)
    let cases = [
        (TaskState::NeedsAttention, Some("Left out of the merge train: it conflicts with main in src/theme.js"), true),
        (TaskState::NeedsAttention, Some("Left out of the merge train: on top of main with task 1, check `test` failed (exit 2)"), true),
        (TaskState::NeedsAttention, Some("1 file outside the scope: src/theme.js"), false),
        (TaskState::NeedsAttention, Some("Check `test` failed (exit 2)"), false),
        (TaskState::NeedsAttention, None, false),
        (TaskState::Ready, Some("Left out of the merge train: it conflicts with main in a.js"), false),
    ];
    for (state, reason, want) in cases {
        let mut v = TaskView::new(4, "Make the header green", state);
        v.reason = reason.map(String::from);
        assert_eq!(said_by_the_train(&v), want, "{state:?} {reason:?}");
    }
}
