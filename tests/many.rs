//! Many agents on one repo, against a real daemon, a real git repo and stand-in agents:
//! scope leases at dispatch. A task whose scope overlaps a running or ready task waits
//! (and says what for), starts when that task is merged, and can be started anyway;
//! tasks with disjoint scopes run side by side.

mod common;

use common::Daemon;
use common::scene::{DONE, ID, Scene, dispatch_scoped, git, settled, state, task, wait};
use std::path::Path;

/// An agent that waits for `<go>/go-<task id>`, then writes `file` and commits.
fn gated(scene: &Scene, name: &str, go: &Path, file: &str) -> String {
    scene.agent(
        name,
        &format!(
            "set -e\nwhile [ ! -e '{}/go-'$CAPCOM_TASK_ID ]; do sleep 0.05; done\necho \"task $CAPCOM_TASK_ID\" > {file}\n{ID} add -A\n{ID} commit -qm \"task $CAPCOM_TASK_ID\"\n{DONE}",
            go.display()
        ),
    )
}

fn release(go: &Path, id: i64) {
    std::fs::write(go.join(format!("go-{id}")), "").unwrap();
}

fn merge(d: &Daemon, id: i64) {
    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let out = d.cli(&["confirm", q["code"].as_str().unwrap()]);
    assert!(out.status.success(), "{}{}", common::stdout(&out), common::stderr(&out));
}

#[test]
fn an_overlapping_task_waits_until_the_first_is_merged_and_a_disjoint_one_runs_alongside() {
    let scene = Scene::new();
    let go = scene.root().join("go");
    std::fs::create_dir_all(&go).unwrap();
    let agents = [
        gated(&scene, "buttons", &go, "components/button.txt"),
        gated(&scene, "cards", &go, "components/card.txt"),
        gated(&scene, "pages", &go, "app/page.txt"),
    ]
    .concat();
    let d = Daemon::start(&scene.config(&agents, "", ""));

    let first = dispatch_scoped(&d, "buttons", "Restyle the button", &["components/"]);
    wait(&d, first, "running", |v| state(v) == "running");
    let second = dispatch_scoped(&d, "cards", "Restyle the card", &["components/card.txt"]);
    let disjoint = dispatch_scoped(&d, "pages", "Fix the page", &["app/"]);

    // The disjoint task runs while the first does; the overlapping one waits, and says why.
    wait(&d, disjoint, "running", |v| state(v) == "running");
    let v = wait(&d, second, "waiting", |v| v["task"]["reason"].as_str().is_some_and(|r| r.contains("overlaps")));
    assert_eq!(state(&v), "queued");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("overlaps task {first} in components")), "{reason}");
    assert!(reason.contains(&format!("run task {second} anyway")), "{reason}");
    assert!(v["runs"].as_array().unwrap().is_empty(), "it did not start");
    // "What's running?" says who waits for whom.
    let said = common::stdout(&d.cli(&["status", "--filter", "running"]));
    assert!(said.contains("Restyle the card, waits for task one, which works in components too"), "{said}");

    // The first is done and ready: a ready task still holds its scope.
    release(&go, first);
    release(&go, disjoint);
    assert_eq!(state(&settled(&d, first)), "ready");
    assert_eq!(state(&settled(&d, disjoint)), "ready");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(state(&task(&d, second)), "queued", "a ready task holds its scope until it is merged");

    // Merged: the second starts on its own, from the new base.
    merge(&d, first);
    wait(&d, second, "running", |v| state(v) == "running");
    release(&go, second);
    assert_eq!(state(&settled(&d, second)), "ready");
    let branch = task(&d, second)["task"]["branch"].as_str().unwrap().to_string();
    assert_eq!(git(&scene.repo, &["show", &format!("{branch}:components/button.txt")]), format!("task {first}"), "based on the merged work");
}

#[test]
fn run_it_anyway_starts_a_waiting_task_now() {
    let scene = Scene::new();
    let go = scene.root().join("go");
    std::fs::create_dir_all(&go).unwrap();
    let agents = [gated(&scene, "a", &go, "components/a.txt"), gated(&scene, "b", &go, "components/b.txt")].concat();
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let first = dispatch_scoped(&d, "a", "First", &[]);
    wait(&d, first, "running", |v| state(v) == "running");
    let second = dispatch_scoped(&d, "b", "Second", &["components/"]);
    wait(&d, second, "waiting", |v| v["task"]["reason"].as_str().is_some_and(|r| r.contains("overlaps")));
    let out = d.cli(&["brief", &format!("run task {second} anyway")]);
    assert!(out.status.success(), "{}{}", common::stdout(&out), common::stderr(&out));
    wait(&d, second, "running", |v| state(v) == "running");
    release(&go, first);
    release(&go, second);
    assert_eq!(state(&settled(&d, first)), "ready");
    assert_eq!(state(&settled(&d, second)), "ready");
}

#[test]
fn with_overlap_ask_the_task_is_held_with_the_question() {
    let scene = Scene::new();
    let go = scene.root().join("go");
    std::fs::create_dir_all(&go).unwrap();
    let agents = [gated(&scene, "a", &go, "components/a.txt"), gated(&scene, "b", &go, "components/b.txt")].concat();
    let d = Daemon::start(&scene.config(&agents, "overlap = \"ask\"", ""));
    let first = dispatch_scoped(&d, "a", "First", &["components/"]);
    wait(&d, first, "running", |v| state(v) == "running");
    let second = dispatch_scoped(&d, "b", "Second", &["components/"]);
    let v = wait(&d, second, "held", |v| state(v) == "held");
    assert!(v["task"]["reason"].as_str().unwrap().contains(&format!("overlaps task {first}")), "{v}");
    release(&go, first);
    assert_eq!(state(&settled(&d, first)), "ready");
}

#[test]
fn worktrees_go_on_cancel_and_merge_and_gc_lists_then_removes_the_rest() {
    let scene = Scene::new();
    let go = scene.root().join("go");
    std::fs::create_dir_all(&go).unwrap();
    let agents = [gated(&scene, "a", &go, "components/a.txt"), gated(&scene, "b", &go, "app/b.txt")].concat();
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let wt = |id: i64| std::path::PathBuf::from(task(&d, id)["task"]["worktree"].as_str().unwrap().to_string());

    // Cancel: what the agent left uncommitted is committed to the branch, then the worktree goes.
    let cancelled = dispatch_scoped(&d, "a", "Cancel me", &["components/"]);
    wait(&d, cancelled, "running", |v| state(v) == "running");
    std::fs::write(wt(cancelled).join("components/half.txt"), "half done\n").unwrap();
    let out = d.cli(&["cancel", &cancelled.to_string()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!wt(cancelled).exists(), "the cancelled task's worktree is gone");
    let branch = task(&d, cancelled)["task"]["branch"].as_str().unwrap().to_string();
    assert_eq!(git(&scene.repo, &["show", &format!("{branch}:components/half.txt")]), "half done", "its work is on its branch");

    // Merge: worktree and local branch go.
    let merged = dispatch_scoped(&d, "b", "Merge me", &["app/"]);
    release(&go, merged);
    assert_eq!(state(&settled(&d, merged)), "ready");
    let merged_wt = wt(merged);
    merge(&d, merged);
    assert!(!merged_wt.exists());

    // A folder no task owns (a crash mid-cleanup, an old version): gc lists it, then removes it.
    let stray = d.data.join("worktrees").join("site-999");
    std::fs::create_dir_all(stray.join("deep")).unwrap();
    std::fs::write(stray.join("deep/file.bin"), vec![0u8; 200_000]).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(stray.join("deep/file.bin")).unwrap().set_modified(old).unwrap();
    std::fs::File::open(&stray).unwrap().set_modified(old).unwrap();
    let out = d.cli(&["gc", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["why"], "no task owns it");
    assert!(items[0]["bytes"].as_u64().unwrap() >= 200_000);
    assert!(stray.exists(), "a dry run removes nothing");
    let out = d.cli(&["gc"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("removed"), "{}", common::stdout(&out));
    assert!(!stray.exists());
    let out = d.cli(&["doctor"]);
    assert!(common::stdout(&out).contains("disk: worktrees"), "{}", common::stdout(&out));
}

#[test]
fn two_ready_tasks_that_touch_the_same_line_are_predicted_to_conflict() {
    let scene = Scene::new();
    let write = |name: &str, text: &str| scene.agent(name, &format!("set -e\necho '{text}' > components/button.txt\n{ID} commit -qam {name}\n{DONE}"));
    let agents = [write("red", "button red"), write("blue", "button blue"), scene.agent("docs", &format!("set -e\necho docs > README.md\n{ID} commit -qam docs\n{DONE}"))].concat();
    let d = Daemon::start(&scene.config(&agents, "overlap = \"allow\"", ""));
    let red = dispatch_scoped(&d, "red", "Red button", &["components/"]);
    assert_eq!(state(&settled(&d, red)), "ready");
    let docs = dispatch_scoped(&d, "docs", "Docs", &[]);
    assert_eq!(state(&settled(&d, docs)), "ready");
    let blue = dispatch_scoped(&d, "blue", "Blue button", &["components/"]);
    let v = settled(&d, blue);
    assert_eq!(state(&v), "ready");
    let conflicts: Vec<String> = v["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "conflict").map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert_eq!(conflicts, vec![format!("tasks {red} and {blue} both change components/button.txt; merging one will need the other rebased")], "only the one that touches the same line");
    let on_red: Vec<serde_json::Value> = task(&d, red)["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "conflict").cloned().collect();
    assert_eq!(on_red.len(), 1, "recorded on both");
}
