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
    let spec = serde_json::json!({
        "title": "Restyle the card", "kind": "feature", "repo": "site", "agent": "cards",
        "scope": {"include": ["components/card.txt"], "exclude": []},
        "acceptance": [{"text": "tests pass", "check": "test"}], "brief": "Restyle the card",
    });
    let answer = common::scene::post_intent(&d, "Restyle the card", serde_json::json!({"intent": "dispatch", "tasks": [spec], "confidence": 1.0}));
    let second = answer["tasks"][0]["id"].as_i64().unwrap();
    // The answer says it waits, and for whom, rather than when it starts.
    let said = answer["say"].as_str().unwrap();
    assert!(said.contains(&format!("is queued behind task {first} (both change components")), "{said}");
    assert!(!said.contains("starts"), "{said}");
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

// ---------------------------------------------------------------------------
// The merge train

fn events_of<'a>(v: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    v["events"].as_array().unwrap().iter().filter(|e| e["kind"] == kind).collect()
}

#[test]
fn after_a_merge_a_ready_task_that_touches_the_same_line_is_rebased_and_needs_attention_naming_the_file() {
    let scene = Scene::new();
    let write = |name: &str, text: &str| scene.agent(name, &format!("set -e\necho '{text}' > components/button.txt\n{ID} commit -qam {name}\n{DONE}"));
    let agents = [write("red", "button red"), write("blue", "button blue")].concat();
    let d = Daemon::start(&scene.config(&agents, "overlap = \"allow\"", ""));
    let red = dispatch_scoped(&d, "red", "Red button", &["components/"]);
    assert_eq!(state(&settled(&d, red)), "ready");
    let blue = dispatch_scoped(&d, "blue", "Blue button", &["components/"]);
    let v = settled(&d, blue);
    assert_eq!(state(&v), "ready");
    assert_eq!(events_of(&v, "conflict").len(), 1, "the conflict is foretold");
    let blue_head = v["task"]["head_sha"].as_str().unwrap().to_string();
    let wt = std::path::PathBuf::from(v["task"]["worktree"].as_str().unwrap());

    merge(&d, red);
    let v = wait(&d, blue, "needs_attention", |v| state(v) == "needs_attention");
    let reason = v["task"]["reason"].as_str().unwrap();
    assert!(reason.contains("Rebasing onto main conflicts in components/button.txt"), "{reason}");
    let train = events_of(&v, "train");
    assert_eq!(train.last().unwrap()["data"]["conflicts"], serde_json::json!(["components/button.txt"]), "{v}");
    // Aborted: never left mid-rebase, the branch and files as they were.
    assert_eq!(git(&wt, &["rev-parse", "HEAD"]), blue_head);
    assert_eq!(git(&wt, &["status", "--porcelain"]), "");
    assert!(!std::path::Path::new(&git(&wt, &["rev-parse", "--git-path", "rebase-merge"])).exists());
    assert_eq!(std::fs::read_to_string(wt.join("components/button.txt")).unwrap(), "button blue\n");
    // The status says it.
    let said = common::stdout(&d.cli(&["status"]));
    assert!(said.contains("Blue button") && said.contains("conflicts"), "{said}");
}

#[test]
fn merge_all_checks_the_combined_tip_and_merges_both_without_rebasing_either_and_says_both() {
    let scene = Scene::new();
    let write = |name: &str, file: &str| scene.agent(name, &format!("set -e\necho '{name}' > {file}\n{ID} add -A\n{ID} commit -qm {name}\n{DONE}"));
    let agents = [write("buttons", "components/button.txt"), write("pages", "app/page.txt")].concat();
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let a = dispatch_scoped(&d, "buttons", "Restyle the button", &["components/"]);
    let b = dispatch_scoped(&d, "pages", "Fix the page", &["app/"]);
    assert_eq!(state(&settled(&d, a)), "ready");
    assert_eq!(state(&settled(&d, b)), "ready");
    let b_head = task(&d, b)["task"]["head_sha"].as_str().unwrap().to_string();

    let out = d.cli(&["brief", "merge all ready"]);
    assert!(out.status.success(), "{}{}", common::stdout(&out), common::stderr(&out));
    assert!(common::stdout(&out).contains("Merge two ready tasks into main"), "{}", common::stdout(&out));
    let out = d.cli(&["brief", "confirm"]);
    let said = common::stdout(&out);
    assert!(out.status.success(), "{said}{}", common::stderr(&out));
    assert!(said.contains("Merged two tasks into main") && said.contains("Restyle the button") && said.contains("Fix the page"), "{said}");
    assert_eq!(state(&task(&d, a)), "merged");
    let v = task(&d, b);
    assert_eq!(state(&v), "merged", "{v}");
    // The second was not rebased: its combined tip with the first was checked, and main
    // holds exactly that tree.
    assert_eq!(v["task"]["head_sha"].as_str().unwrap(), b_head);
    let merged = events_of(&v, "train").into_iter().find(|e| e["data"]["new"].is_string()).cloned().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(git(&scene.repo, &["rev-parse", "main^{tree}"]), merged["data"]["tree"].as_str().unwrap());
    assert!(events_of(&v, "train").iter().any(|e| e["message"].as_str().unwrap().starts_with("checking the combined tip")), "{v}");
    assert_eq!(git(&scene.repo, &["show", "main:components/button.txt"]), "buttons");
    assert_eq!(git(&scene.repo, &["show", "main:app/page.txt"]), "pages");
    // Each merge was said as it landed.
    let log = d.stderr();
    assert!(log.contains(&format!("Merged task {a}, 'Restyle the button', into main (1 of 2).")), "{log}");
    assert!(log.contains(&format!("Merged task {b}, 'Fix the page', into main (2 of 2).")), "{log}");
    // No scratch worktree is left behind.
    let list = git(&scene.repo, &["worktree", "list", "--porcelain"]);
    assert!(!list.contains("/train/"), "{list}");
}

/// A check that counts its runs in `<root>/checks.log`, waits while `<root>/hold` exists,
/// and fails when the tree holds both `removed.txt` and a file under `uses/` (a change that
/// removes what another uses: each alone is green, together they break the build).
fn counted_check(scene: &Scene) -> std::path::PathBuf {
    let root = scene.root().display().to_string();
    common::scene::sh(
        scene.root(),
        "check.sh",
        &format!(
            "echo run >> '{root}/checks.log'\nwhile [ -e '{root}/hold' ]; do sleep 0.05; done\nif [ -e removed.txt ] && [ -n \"$(ls uses 2>/dev/null)\" ]; then echo 'uses/ needs what removed.txt took away' >&2; exit 1; fi\nexit 0\n"
        ),
    )
}

fn check_runs(scene: &Scene) -> usize {
    std::fs::read_to_string(scene.root().join("checks.log")).map(|s| s.lines().count()).unwrap_or(0)
}

/// Ask until the answer holds `what` (a guard against a hang, not a timing assertion).
fn asked_until(d: &Daemon, question: &str, what: &[&str]) -> String {
    let mut said = String::new();
    for _ in 0..2400 {
        let out = d.cli(&["brief", question]);
        assert!(out.status.success(), "{}{}", common::stdout(&out), common::stderr(&out));
        said = common::stdout(&out);
        if what.iter().all(|w| said.contains(w)) {
            return said;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("never heard {what:?} to {question:?}; last: {said}\n{}", d.stderr());
}

#[test]
fn while_the_merge_train_runs_what_is_finished_hears_its_progress_and_stop_the_train_stops_it_between_merges() {
    let scene = Scene::new();
    let check = counted_check(&scene);
    let write = |name: &str| scene.agent(name, &format!("set -e\necho $CAPCOM_TASK_ID > {name}-$CAPCOM_TASK_ID.txt\n{ID} add -A\n{ID} commit -qm {name}\n{DONE}"));
    let agents = [write("one"), write("two"), write("three")].concat();
    let config = scene.config(&agents, "overlap = \"allow\"", "").replace("test = [\"true\"]", &format!("test = [\"{}\"]", check.display()));
    let d = Daemon::start(&config);
    let ids: Vec<i64> = ["one", "two", "three"].iter().map(|a| dispatch_scoped(&d, a, &format!("Task {a}"), &[])).collect();
    for id in &ids {
        assert_eq!(state(&settled(&d, *id)), "ready");
    }
    let out = d.cli(&["brief", "merge all ready"]);
    assert!(common::stdout(&out).contains("Merge three ready tasks into main"), "{}", common::stdout(&out));

    // The checks of the combined tips wait on a file this test holds.
    std::fs::write(scene.root().join("hold"), "").unwrap();
    std::thread::scope(|s| {
        let confirm = s.spawn(|| d.cli(&["brief", "confirm"]));
        // The first tip is the first task's own reviewed tree: it merges without a new check;
        // the second and third wait on their checks. The conversation goes on meanwhile.
        let said = asked_until(&d, "what's finished?", &["Merging 2 of 3 into main", &format!("Merged so far: task {}.", ids[0])]);
        assert!(said.contains(&format!("tasks {} and {} are being checked", ids[1], ids[2])), "{said}");
        assert_eq!(state(&task(&d, ids[0])), "merged");
        assert_eq!(state(&task(&d, ids[1])), "ready", "not merged before its combined tip is green");
        assert!(d.stderr().contains(&format!("Merged task {}, 'Task one', into main (1 of 3).", ids[0])), "said as it landed: {}", d.stderr());

        let out = d.cli(&["brief", "stop the train"]);
        let stop = common::stdout(&out);
        assert!(out.status.success() && stop.contains("stops before its next merge"), "{stop}{}", common::stderr(&out));
        std::fs::remove_file(scene.root().join("hold")).unwrap();

        let out = confirm.join().unwrap();
        let said = common::stdout(&out);
        assert!(out.status.success(), "{said}{}", common::stderr(&out));
        assert!(said.contains("Merged one task into main: Task one."), "{said}");
        assert!(said.contains("The train was stopped as you asked; two tasks not merged."), "{said}");
    });
    assert_eq!(state(&task(&d, ids[1])), "ready");
    assert_eq!(state(&task(&d, ids[2])), "ready");
    assert_eq!(git(&scene.repo, &["show", &format!("main:one-{}.txt", ids[0])]), ids[0].to_string());
    assert!(git(&scene.repo, &["ls-tree", "--name-only", "main"]).lines().all(|f| !f.starts_with("two-")), "the stopped ones stay out");
}

#[test]
fn a_train_of_five_where_the_third_breaks_the_build_merges_the_other_four_and_checks_in_linear_time() {
    let scene = Scene::new();
    let check = counted_check(&scene);
    let agents = [
        scene.agent("user", &format!("set -e\nmkdir -p uses\necho $CAPCOM_TASK_ID > uses/t$CAPCOM_TASK_ID.txt\n{ID} add -A\n{ID} commit -qm use\n{DONE}")),
        scene.agent("remover", &format!("set -e\necho gone > removed.txt\n{ID} add -A\n{ID} commit -qm remove\n{DONE}")),
    ]
    .concat();
    let config = scene.config(&agents, "overlap = \"allow\"", "").replace("test = [\"true\"]", &format!("test = [\"{}\"]", check.display()));
    let d = Daemon::start(&config);
    let ids: Vec<i64> = ["user", "user", "remover", "user", "user"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = dispatch_scoped(&d, a, &format!("Change {}", i + 1), &[]);
            assert_eq!(state(&settled(&d, id)), "ready", "each alone is green");
            id
        })
        .collect();
    let before = check_runs(&scene);
    assert_eq!(before, 5, "one check per task's own review");

    let out = d.cli(&["brief", "merge all ready"]);
    assert!(common::stdout(&out).contains("Merge five ready tasks into main"), "{}", common::stdout(&out));
    let out = d.cli(&["brief", "confirm"]);
    let said = common::stdout(&out);
    assert!(out.status.success(), "{said}{}", common::stderr(&out));
    assert!(said.contains("Merged four tasks into main"), "{said}");
    assert!(said.contains("Merged four tasks into main: Change one, Change two, Change four and Change five."), "{said}");
    let left = format!("Task three, Change three, was left out: on top of main with tasks {} and {}, check `test` failed (exit 1).", ids[0], ids[1]);
    assert!(said.contains(&left), "{said}");
    for i in [0, 1, 3, 4] {
        assert_eq!(state(&task(&d, ids[i])), "merged", "task {}", ids[i]);
        assert_eq!(git(&scene.repo, &["show", &format!("main:uses/t{}.txt", ids[i])]), ids[i].to_string());
    }
    let v = task(&d, ids[2]);
    assert_eq!(state(&v), "needs_attention");
    assert!(v["task"]["reason"].as_str().unwrap().contains("check `test` failed"), "{v}");
    assert!(git(&scene.repo, &["ls-tree", "--name-only", "main"]).lines().all(|f| f != "removed.txt"));
    assert!(d.stderr().contains(&format!("Task {}, 'Change 3', is left out of the merge train", ids[2])), "said at once: {}", d.stderr());
    // Said once: its move to needs-attention is not announced again (the reason is the one
    // `report::script::said_by_the_train` knows). A question after the train lets any held
    // notice be said first.
    assert!(v["task"]["reason"].as_str().unwrap().starts_with(capcom::report::script::LEFT_OUT_OF_THE_TRAIN), "{v}");
    let out = d.cli(&["brief", "what's finished?"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let log = d.stderr();
    assert!(!log.contains("needs your attention: left out of the merge train"), "said twice: {log}");
    // Checks of combined tips: the first tip is the first task's own reviewed tree; the second
    // and third (red) run side by side; without the third, the fourth and fifth run once each.
    // The old train ran N(N-1)/2 = 10 re-checks for five tasks.
    let runs = check_runs(&scene) - before;
    assert_eq!(runs, 4, "check runs in the train");
}

#[test]
fn a_pending_merge_question_is_withdrawn_and_asked_again_when_the_base_moves() {
    let scene = Scene::new();
    let agents = scene.agent("pages", &format!("set -e\necho pages > app/page.txt\n{ID} commit -qam pages\n{DONE}"));
    let d = Daemon::start(&scene.config(&agents, "", ""));
    let id = dispatch_scoped(&d, "pages", "Fix the page", &["app/"]);
    assert_eq!(state(&settled(&d, id)), "ready");
    let out = d.cli(&["merge", &id.to_string(), "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    let first_code = q["code"].as_str().unwrap().to_string();
    assert!(q["question"].as_str().unwrap().starts_with(&format!("Merge task {id}")));

    // Someone commits to main while the question waits.
    std::fs::write(scene.repo.join("README.md"), "readme v2\n").unwrap();
    git(&scene.repo, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qam", "by hand"]);
    let main_by_hand = git(&scene.repo, &["rev-parse", "main"]);

    // Withdrawn, the task brought up to date and checked again, and asked again (said).
    let mut question = String::new();
    for _ in 0..2400 {
        let (_, body) = d.http("GET", "/v1/state", Some(&d.token()), None);
        let s: serde_json::Value = serde_json::from_str(&body).unwrap();
        question = s["question"].as_str().unwrap_or("").to_string();
        let withdrawn = events_of(&task(&d, id), "merge").iter().any(|e| e["message"].as_str().unwrap_or("").contains("withdrawn"));
        if withdrawn && !question.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(question.starts_with(&format!("Merge task {id}")), "asked again: {question}\n{}", d.stderr());
    let v = task(&d, id);
    assert!(events_of(&v, "merge").iter().any(|e| e["message"].as_str().unwrap().contains("withdrawn: main moved")), "{v}");
    assert!(d.stderr().contains("main moved since I asked, so that question is withdrawn"), "said: {}", d.stderr());
    let head = v["task"]["head_sha"].as_str().unwrap().to_string();
    git(&scene.repo, &["merge-base", "--is-ancestor", &main_by_hand, &head]);

    // The old question's code no longer merges; the new question does.
    let out = d.cli(&["confirm", &first_code]);
    assert!(!out.status.success(), "{}", common::stdout(&out));
    assert_eq!(state(&task(&d, id)), "ready");
    let out = d.cli(&["brief", "confirm"]);
    assert!(out.status.success(), "{}{}", common::stdout(&out), common::stderr(&out));
    assert_eq!(state(&task(&d, id)), "merged");
    assert_eq!(git(&scene.repo, &["show", "main:README.md"]), "readme v2");
    assert_eq!(git(&scene.repo, &["show", "main:app/page.txt"]), "pages");
}

#[test]
fn a_daemon_killed_mid_cleanup_or_mid_update_leaves_nothing_broken_and_the_next_start_finishes() {
    use capcom::store::{Store, TaskState};
    let scene = Scene::new();
    let go = scene.root().join("go");
    std::fs::create_dir_all(&go).unwrap();
    let agents = [
        gated(&scene, "a", &go, "components/a.txt"),
        gated(&scene, "b", &go, "app/b.txt"),
        gated(&scene, "c", &go, "README.md"),
        scene.agent("blue", &format!("set -e\necho 'button blue' > components/button.txt\n{ID} commit -qam blue\n{DONE}")),
    ]
    .concat();
    let mut d = Daemon::start(&scene.config(&agents, "overlap = \"allow\"", ""));
    let merged = dispatch_scoped(&d, "a", "Merged one", &["components/a.txt"]);
    let cancelled = dispatch_scoped(&d, "b", "Cancelled one", &["app/"]);
    let torn = dispatch_scoped(&d, "c", "Torn one", &["README.md"]);
    let mid = dispatch_scoped(&d, "blue", "Mid rebase", &["components/button.txt"]);
    for id in [merged, cancelled, torn] {
        release(&go, id);
    }
    for id in [merged, cancelled, torn, mid] {
        assert_eq!(state(&settled(&d, id)), "ready");
    }
    let info = |id: i64| {
        let v = task(&d, id);
        (std::path::PathBuf::from(v["task"]["worktree"].as_str().unwrap()), v["task"]["branch"].as_str().unwrap().to_string())
    };
    let (merged_wt, merged_branch) = info(merged);
    let (cancelled_wt, cancelled_branch) = info(cancelled);
    let (torn_wt, _) = info(torn);
    let (mid_wt, _) = info(mid);
    let mid_head = git(&mid_wt, &["rev-parse", "HEAD"]);
    d.kill9();

    // What a kill -9 at each step leaves behind:
    // - a merge that moved main and removed the worktree, killed before the branch was deleted;
    let merged_head = git(&merged_wt, &["rev-parse", "HEAD"]);
    git(&scene.repo, &["-c", "user.name=u", "-c", "user.email=u@example.com", "merge", "-q", "--no-ff", "-m", "merge", &merged_branch]);
    git(&scene.repo, &["worktree", "remove", "--force", merged_wt.to_str().unwrap()]);
    // - a cancel recorded, killed before its worktree was cleaned up (uncommitted work inside);
    std::fs::write(cancelled_wt.join("app/half.txt"), "half done\n").unwrap();
    // - a removal cut short: the worktree's .git file and some files already gone;
    std::fs::remove_file(torn_wt.join(".git")).unwrap();
    std::fs::remove_dir_all(torn_wt.join("components")).unwrap();
    // - a merge-train rebase killed mid-way (the conflict not yet aborted).
    std::fs::write(scene.repo.join("components/button.txt"), "button by hand\n").unwrap();
    git(&scene.repo, &["-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qam", "by hand"]);
    let out = std::process::Command::new("git").args(["-c", "user.name=u", "-c", "user.email=u@example.com", "rebase", "main"]).current_dir(&mid_wt).output().unwrap();
    assert!(!out.status.success());
    {
        let store = Store::open(&d.data.join("capcom.db")).unwrap();
        store.transition(merged, Some(&[TaskState::Ready]), TaskState::Merged, Some("merged")).unwrap();
        store.transition(cancelled, Some(&[TaskState::Ready]), TaskState::Cancelled, Some("cancelled by the user")).unwrap();
        store.transition(torn, Some(&[TaskState::Ready]), TaskState::Cancelled, Some("cancelled by the user")).unwrap();
        store.transition(mid, Some(&[TaskState::Ready]), TaskState::Checking, Some("bringing it up to date with main")).unwrap();
    }

    d.boot(&[]);
    // The next start finishes every job.
    let v = wait(&d, mid, "reviewed again", |v| state(v) != "checking");
    assert!(events_of(&v, "train").iter().any(|e| e["message"].as_str().unwrap().contains("aborted a rebase left half done")), "{v}");
    assert!(!std::path::Path::new(&git(&mid_wt, &["rev-parse", "--path-format=absolute", "--git-path", "rebase-merge"])).exists(), "no rebase left in progress");
    assert_eq!(git(&mid_wt, &["rev-parse", "HEAD"]), mid_head);
    for _ in 0..2400 {
        if !cancelled_wt.exists() && !torn_wt.exists() && git(&scene.repo, &["branch", "--list", &merged_branch]).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!cancelled_wt.exists() && !torn_wt.exists(), "{}", d.stderr());
    assert_eq!(git(&scene.repo, &["branch", "--list", &merged_branch]), "", "the merged task's branch is deleted");
    assert_eq!(git(&scene.repo, &["show", &format!("{cancelled_branch}:app/half.txt")]), "half done", "the cancelled work is on its branch");
    assert_eq!(git(&scene.repo, &["rev-parse", "main~1^2"]), merged_head);
    let listed = git(&scene.repo, &["worktree", "list", "--porcelain"]);
    assert!(!listed.contains(torn_wt.to_str().unwrap()) && !listed.contains(cancelled_wt.to_str().unwrap()), "{listed}");
    let out = d.cli(&["gc", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 0, "nothing left to clean: {v}");
}

#[test]
fn a_task_that_becomes_ready_is_announced_once() {
    let scene = Scene::new();
    let agents = scene.agent("quick", &format!("set -e\necho 'button quick' > components/button.txt\n{ID} commit -qam quick\n{DONE}"));
    let d = Daemon::start(&scene.config(&agents, "", "[speech]\nannounce = \"ready\"\n"));
    let id = dispatch_scoped(&d, "quick", "Quick button", &[]);
    assert_eq!(state(&settled(&d, id)), "ready");
    // the notice goes to the coordinator, which (headless, no speech) logs what it would say
    let said = |d: &Daemon| d.stderr().matches("is ready to merge").count();
    for _ in 0..2400 {
        if said(&d) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(said(&d), 1, "one notice for one task becoming ready:\n{}", d.stderr());
    assert!(d.stderr().contains("Quick button"), "{}", d.stderr());
}

/// Agents and checks run at a lower CPU priority than capcom (`[dispatch] agent_nice`,
/// 10 by default), so several agents building at once do not slow transcription down.
#[test]
fn agents_and_checks_run_at_a_lower_cpu_priority_than_capcom() {
    let scene = Scene::new();
    let agent_nice = scene.root().join("agent-nice.txt");
    let check_nice = scene.root().join("check-nice.txt");
    let agents = scene.agent(
        "niced",
        &format!("set -e\nnice > '{}'\necho x > components/x.txt\n{ID} add -A\n{ID} commit -qm x\n{DONE}", agent_nice.display()),
    );
    let check = common::scene::sh(scene.root(), "check.sh", &format!("nice > '{}'", check_nice.display()));
    let cfg = scene.config(&agents, "", "").replace("test = [\"true\"]", &format!("test = [\"{}\"]", check.display()));
    let d = Daemon::start(&cfg);
    let id = common::scene::dispatch(&d, "niced", "Say how nice");
    let v = settled(&d, id);
    assert_eq!(state(&v), "ready", "{v}");
    // the daemon runs at this test's own nice value
    let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap().trim().parse::<i32>().unwrap();
    assert_eq!(read(&agent_nice), (own + 10).min(19), "the agent's nice value");
    assert_eq!(read(&check_nice), (own + 10).min(19), "the check's nice value");
}

/// A relative `--data-dir` (or `CAPCOM_DATA_DIR`) names one place for the daemon, its agents
/// and git: before it was made absolute at start, every task failed with "cannot run git" and
/// the user's repo gained an untracked `data/` holding a worktree.
#[test]
fn a_relative_data_dir_works_for_every_task_and_leaves_the_repo_alone() {
    use std::process::Stdio;
    let scene = Scene::new();
    let agents = scene.agent("rel", &format!("set -e\necho x > components/x.txt\n{ID} add -A\n{ID} commit -qm x\n{DONE}"));
    let config = scene.root().join("config.toml");
    std::fs::write(&config, scene.config(&agents, "", "")).unwrap();
    let data = scene.root().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let log = std::fs::File::create(scene.root().join("daemon.stderr")).unwrap();
    // The daemon starts in the scene's folder with `--data-dir data`: relative.
    let child = std::process::Command::new(common::BIN)
        .current_dir(scene.root())
        .args(["--config", "config.toml", "--data-dir", "data", "daemon", "--headless"])
        .env_remove("CAPCOM_CONFIG")
        .env_remove("CAPCOM_DATA_DIR")
        .env("CAPCOM__API__LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut d = Daemon { child: Some(child), data: data.clone(), config, addr: String::new(), _dir: None };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while d.addr.is_empty() {
        if let Ok(a) = std::fs::read_to_string(data.join("api.addr")) {
            d.addr = a.trim().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no api.addr: {}", std::fs::read_to_string(scene.root().join("daemon.stderr")).unwrap_or_default());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = common::scene::dispatch(&d, "rel", "Add x");
    let v = settled(&d, id);
    assert_eq!(state(&v), "ready", "{v}");
    assert_eq!(git(&scene.repo, &["status", "--porcelain"]), "", "the user's repo is untouched");
    assert!(!scene.repo.join("data").exists(), "no data dir inside the repo");
    d.kill9();
}
