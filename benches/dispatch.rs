//! Dispatch overhead: the time from a brief's tasks being recorded to every agent
//! process started, for 10 tasks on a repo of 5,000 files (worktree creation
//! included). Prints each round and the median. Target: under 1 s in total.
//!
//! Then the merge train: 10 ready tasks on the same repo merged the way "merge all"
//! does it (one confirmation; merge one, bring the rest up to date and check them again,
//! merge the next), with the time per task; and the time to predict conflicts among 10
//! ready tasks. Each figure is printed beside the git-only floor of the same work, measured
//! in the same run.
//!
//! Then the merge train against the old one: 6 and 12 ready tasks whose check takes 1 s
//! (and 10 s with `CAPCOM_BENCH_SLOW_CHECKS=1`, where the old train is given by its count of
//! re-checks rather than run), merged by today's speculative train (the
//! combined tips checked side by side, up to `max_parallel = 4`), by the old train (merge
//! one, rebase the rest and check them again: N(N-1)/2 re-checks, still callable as
//! `Gate::confirm_in_train` + `DispatchHandle::update_ready`), and the git floor (plain git
//! merges and one check per merge), each with its count of check runs.
//!
//! `cargo bench --bench dispatch` (`CAPCOM_BENCH_FILES=N` for a smaller repo;
//! `CAPCOM_BENCH_ONLY=trains` for the train comparison alone)

use capcom::config::{Config, DataDir};
use capcom::dispatch::worktree::{Git, GitCli};
use capcom::dispatch::{self, Agents, Ctx, DispatchHandle};
use capcom::store::{Store, TaskState, TaskUpdate};
use capcom::understand::{Scope, TaskSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 10;
const FILES_DEFAULT: usize = 5_000;

fn files() -> usize {
    std::env::var("CAPCOM_BENCH_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(FILES_DEFAULT)
}
const ROUNDS: usize = 3;

fn make_repo(root: &Path) -> std::path::PathBuf {
    let repo = root.join("repo");
    for i in 0..files() {
        let dir = repo.join(format!("src/m{:02}", i % 50));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let g = GitCli;
    g.ok(&repo, &["init", "--quiet", "-b", "main"]).unwrap();
    g.ok(&repo, &["add", "-A"]).unwrap();
    g.ok(&repo, &["-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "--quiet", "-m", "5000 files"]).unwrap();
    repo
}

async fn round(root: &Path, repo: &Path, n: usize) -> Duration {
    let agent = root.join("agent.sh");
    std::fs::write(&agent, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "[[repos]]\nname = \"big\"\npath = \"{}\"\n\n[dispatch]\nmax_parallel = {TASKS}\ndefault_agent = \"sleepy\"\n\n\
         [agents.sleepy]\nkind = \"local\"\ncommand = [\"{}\"]\n",
        repo.display(),
        agent.display()
    );
    let (config, _) = capcom::config::from_str(&text, "bench.toml").unwrap();
    let config = Arc::new(config);
    let data = DataDir::new(root.join(format!("data-{n}")));
    let store = Store::open(&data.db()).unwrap();
    let agents = Agents::from_config(&config, None);
    let ctx = Ctx { config: config.clone().into(), data, store: store.clone(), git: Arc::new(GitCli), agents: agents.clone(), github: None };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let handle = DispatchHandle::start(ctx, stop).await;

    let t0 = Instant::now();
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let spec = TaskSpec {
            title: format!("Bench task {i}"),
            scope: Scope { include: vec![format!("src/m{i:02}/")], exclude: vec![] },
            ..TaskSpec::default()
        };
        ids.push(submit(&store, &handle, &config, &agents, &spec).await);
    }
    // Every agent process started (its pid recorded).
    loop {
        let started = ids
            .iter()
            .filter(|id| store.runs(**id).map(|r| r.iter().any(|r| r.pid.is_some())).unwrap_or(false))
            .count();
        if started == TASKS {
            break;
        }
        for id in &ids {
            let t = store.task(*id).unwrap();
            assert!(!matches!(t.state, TaskState::Failed | TaskState::Held), "task {id} did not start: {:?}", t.reason);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = t0.elapsed();
    for id in &ids {
        let _ = handle.cancel(*id).await;
    }
    for id in &ids {
        let t = store.task(*id).unwrap();
        assert_eq!(t.state, TaskState::Cancelled);
        if let Some(w) = t.worktree.as_deref() {
            capcom::dispatch::worktree::remove(&GitCli, repo, Path::new(w));
        }
        if let Some(b) = t.branch.as_deref() {
            let _ = GitCli.run(repo, &["branch", "-D", b]);
        }
    }
    elapsed
}

/// The floor: `git worktree add` alone, ten times, as capcom makes them (bookkeeping
/// serialised, checkouts in parallel).
fn git_alone(root: &Path, repo: &Path, n: usize) -> Duration {
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for i in 0..TASKS {
            let path = root.join(format!("floor-{n}/{i}"));
            s.spawn(move || capcom::dispatch::worktree::create(&GitCli, repo, "main", &format!("floor/{n}-{i}"), &path).unwrap());
        }
    });
    let d = t0.elapsed();
    for i in 0..TASKS {
        capcom::dispatch::worktree::remove(&GitCli, repo, &root.join(format!("floor-{n}/{i}")));
        let _ = GitCli.run(repo, &["branch", "-D", &format!("floor/{n}-{i}")]);
    }
    d
}

/// Plan a task as the daemon does, store it, and hand it to the dispatcher; its id.
async fn submit(store: &Store, handle: &DispatchHandle, config: &Config, agents: &Agents, spec: &TaskSpec) -> i64 {
    let plan = dispatch::plan(spec, config, agents, chrono::Utc::now());
    let task = store.create_task(spec, plan.state, None, None, "bench").unwrap();
    let task = store
        .update_task(task.id, &TaskUpdate { agent: plan.agent.map(|a| a.agent), repo: plan.repo, ..TaskUpdate::default() })
        .unwrap();
    handle.submit(&task).await;
    task.id
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let repo = make_repo(tmp.path());
    println!("repo of {} files made in {:?}", files(), t.elapsed());
    if std::env::var("CAPCOM_BENCH_ONLY").as_deref() == Ok("trains") {
        trains(&rt, tmp.path(), &repo);
        return;
    }
    let mut times: Vec<Duration> = Vec::new();
    let mut floors: Vec<Duration> = Vec::new();
    for n in 0..ROUNDS {
        let f = git_alone(tmp.path(), &repo, n);
        let d = rt.block_on(round(tmp.path(), &repo, n));
        println!(
            "round {}: {TASKS} tasks, brief → all agents started: {:.0} ms (the {TASKS} worktrees alone: {:.0} ms)",
            n + 1,
            d.as_secs_f64() * 1000.0,
            f.as_secs_f64() * 1000.0
        );
        times.push(d);
        floors.push(f);
    }
    floors.sort();
    println!("median of the worktrees alone: {:.0} ms", floors[floors.len() / 2].as_secs_f64() * 1000.0);
    times.sort();
    let median = times[times.len() / 2];
    println!("median: {:.0} ms for {TASKS} tasks ({:.0} ms per task); target < 1000 ms", median.as_secs_f64() * 1000.0, median.as_secs_f64() * 1000.0 / TASKS as f64);

    // The merge train and conflict prediction, each beside its git-only floor.
    let (pf, tf) = train_floor(tmp.path(), &repo);
    let (p, t) = rt.block_on(train_round(tmp.path(), &repo));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pairs = TASKS * (TASKS - 1) / 2;
    println!(
        "conflict prediction among {TASKS} ready tasks ({pairs} pairs, as each became ready): {:.0} ms; git merge-tree alone: {:.0} ms",
        ms(p),
        ms(pf)
    );
    println!(
        "old merge train, {TASKS} ready tasks (merge one, rebase and re-check the rest): {:.0} ms ({:.0} ms per task); git alone (merge, rebase the rest): {:.0} ms ({:.0} ms per task)",
        ms(t),
        ms(t) / TASKS as f64,
        ms(tf),
        ms(tf) / TASKS as f64
    );
    trains(&rt, tmp.path(), &repo);
}

/// The train comparison: for each task count and check length, the speculative train, the
/// old train and the git floor, each on fresh ready tasks of the same repo.
fn trains(rt: &tokio::runtime::Runtime, root: &Path, repo: &Path) {
    let mut lengths = vec![1u64];
    if std::env::var("CAPCOM_BENCH_SLOW_CHECKS").is_ok_and(|v| v == "1") {
        lengths.push(10);
    }
    let mut round = 0;
    for secs in lengths {
        for n in [6usize, 12] {
            round += 1;
            let (new, new_runs) = rt.block_on(speculative_train(root, repo, &format!("s{round}"), n, secs));
            if std::env::var("CAPCOM_BENCH_TRACE").is_ok() {
                continue;
            }
            let (floor, floor_runs) = git_floor(root, repo, &format!("f{round}"), n, secs);
            if secs > 1 {
                // The old train's re-checks alone take N(N-1)/2 × the check: not run here.
                println!(
                    "merge train, {n} tasks, {secs} s check: speculative {:.1} s ({new_runs} check runs); old: N(N-1)/2 = {} re-checks, at least {} s; git floor {:.1} s ({floor_runs} checks); speculative/floor {:.2}x",
                    new.as_secs_f64(),
                    n * (n - 1) / 2,
                    n * (n - 1) / 2 * secs as usize,
                    floor.as_secs_f64(),
                    new.as_secs_f64() / floor.as_secs_f64(),
                );
                continue;
            }
            let (old, old_runs) = rt.block_on(old_train(root, repo, &format!("o{round}"), n, secs));
            println!(
                "merge train, {n} tasks, {secs} s check: speculative {:.1} s ({new_runs} check runs); old {:.1} s ({old_runs} check runs; N(N-1)/2 = {}); git floor {:.1} s ({floor_runs} checks); speculative/floor {:.2}x, old/floor {:.2}x",
                new.as_secs_f64(),
                old.as_secs_f64(),
                n * (n - 1) / 2,
                floor.as_secs_f64(),
                new.as_secs_f64() / floor.as_secs_f64(),
                old.as_secs_f64() / floor.as_secs_f64(),
            );
        }
    }
    if std::env::var("CAPCOM_BENCH_SLOW_CHECKS").is_err() {
        println!("(10 s checks: set CAPCOM_BENCH_SLOW_CHECKS=1; the old train is then given by its N(N-1)/2 re-checks: 150 s for 6 tasks and 660 s for 12)");
    }
}

/// A check that takes `secs` and counts its runs in `counter`.
fn slow_check(root: &Path, tag: &str, secs: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let counter = root.join(format!("checks-{tag}.log"));
    let check = root.join(format!("check-{tag}.sh"));
    std::fs::write(&check, format!("#!/bin/sh
echo run >> '{}'
sleep {secs}
", counter.display())).unwrap();
    std::fs::set_permissions(&check, std::fs::Permissions::from_mode(0o755)).unwrap();
    (check, counter)
}

fn runs(counter: &Path) -> usize {
    std::fs::read_to_string(counter).map(|s| s.lines().count()).unwrap_or(0)
}

/// `n` ready tasks (each changes a file of its own; reviewed with the slow check), on a
/// dispatcher of their own; the check's counter is emptied once they are ready.
async fn ready_tasks(root: &Path, repo: &Path, tag: &str, n: usize, secs: u64) -> (DispatchHandle, capcom::review::merge::Gate, Vec<i64>, std::path::PathBuf) {
    let (check, counter) = slow_check(root, tag, secs);
    let agent = root.join(format!("editor-{tag}.sh"));
    let done = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-1"}"#;
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nset -e\nf=$(printf 'src/m%02d/f%d.txt' $((CAPCOM_TASK_ID % 50)) $CAPCOM_TASK_ID)\necho \"changed by {tag}-$CAPCOM_TASK_ID\" > $f\ngit -c user.name=a -c user.email=a@example.com commit -qam change\necho '{done}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "[[repos]]\nname = \"big\"\npath = \"{}\"\n\n[checks]\ntest = [\"{}\"]\n\n[dispatch]\nmax_parallel = 4\ndefault_agent = \"editor\"\n\
         overlap = \"allow\"\nmerge_method = \"merge\"\nupdate = \"rebase\"\nconfirm_ttl = \"1h\"\n\n[agents.editor]\nkind = \"local\"\npreset = \"claude\"\ncommand = [\"{}\", \"{{prompt_file}}\"]\n",
        repo.display(),
        check.display(),
        agent.display()
    );
    let (config, _) = capcom::config::from_str(&text, "bench.toml").unwrap();
    let config = Arc::new(config);
    let data = DataDir::new(root.join(format!("data-{tag}")));
    let store = Store::open(&data.db()).unwrap();
    let agents = Agents::from_config(&config, None);
    let git: Arc<dyn Git> = Arc::new(GitCli);
    let ctx = Ctx { config: config.clone().into(), data, store: store.clone(), git: git.clone(), agents: agents.clone(), github: None };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    std::mem::forget(stop_tx);
    let handle = DispatchHandle::start(ctx, stop).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let spec = TaskSpec {
            title: format!("Train task {tag} {i}"),
            repo: Some("big".into()),
            scope: Scope { include: vec!["src/".into()], exclude: vec![] },
            acceptance: vec![capcom::understand::Criterion { text: "tests pass".into(), check: Some("test".into()) }],
            ..TaskSpec::default()
        };
        ids.push(submit(&store, &handle, &config, &agents, &spec).await);
    }
    loop {
        let tasks: Vec<_> = ids.iter().map(|id| store.task(*id).unwrap()).collect();
        if tasks.iter().all(|t| t.state == TaskState::Ready) {
            break;
        }
        for t in &tasks {
            assert!(!matches!(t.state, TaskState::Failed | TaskState::NeedsAttention | TaskState::Held), "task {} is {}: {:?}", t.id, t.state, t.reason);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(&counter);
    let gate = capcom::review::merge::Gate { store: store.clone(), git, config, github: None };
    (handle, gate, ids, counter)
}

/// Today's train: the batch a "merge all" confirms, ridden to the end.
async fn speculative_train(root: &Path, repo: &Path, tag: &str, n: usize, secs: u64) -> (Duration, usize) {
    let (handle, gate, ids, counter) = ready_tasks(root, repo, tag, n, secs).await;
    let (now, clock) = (chrono::Utc::now(), tokio::time::Instant::now());
    let batch: Vec<_> = ids.iter().map(|id| gate.propose(*id, now, clock).unwrap()).collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let t0 = Instant::now();
    let trace = std::env::var("CAPCOM_BENCH_TRACE").is_ok();
    let drain = tokio::spawn(async move {
        while let Some(news) = rx.recv().await {
            if trace {
                println!("  {:>6.2} s  {news:?}", t0.elapsed().as_secs_f64());
            }
        }
    });
    let fin = handle.ride(gate.clone(), batch, clock, tx, Arc::default()).await;
    let took = t0.elapsed();
    let _ = drain.await;
    assert_eq!(fin.merged.len(), n, "{:?}", fin.results);
    (took, runs(&counter))
}

/// The old train: merge one through the gate, bring the rest up to date and check them again.
async fn old_train(root: &Path, repo: &Path, tag: &str, n: usize, secs: u64) -> (Duration, usize) {
    let (handle, gate, ids, counter) = ready_tasks(root, repo, tag, n, secs).await;
    let (now, clock) = (chrono::Utc::now(), tokio::time::Instant::now());
    let asks: Vec<_> = ids.iter().map(|id| gate.propose(*id, now, clock).unwrap()).collect();
    let t0 = Instant::now();
    let mut base: Option<String> = None;
    for p in &asks {
        let m = gate.confirm_in_train(p, None, clock, base.as_deref()).unwrap_or_else(|r| panic!("task {}: {}", p.task, r.reason));
        base = Some(m.new);
        for up in handle.update_ready("big", &[p.task]).await {
            assert!(up.ready(), "{}", up.said());
        }
    }
    (t0.elapsed(), runs(&counter))
}

/// The floor: `n` branches merged with plain git plumbing into a ref of their own, and the
/// check run once after each merge.
fn git_floor(root: &Path, repo: &Path, tag: &str, n: usize, secs: u64) -> (Duration, usize) {
    let (check, counter) = slow_check(root, tag, secs);
    let g = GitCli;
    let base_ref = format!("refs/heads/floor-{tag}");
    let main = g.ok(repo, &["rev-parse", "main"]).unwrap();
    g.ok(repo, &["update-ref", &base_ref, &main]).unwrap();
    let mut heads = Vec::new();
    let mut wts = Vec::new();
    for i in 0..n {
        let branch = format!("floor-{tag}-task-{i}");
        let path = root.join(format!("floor-{tag}/{i}"));
        capcom::dispatch::worktree::create(&g, repo, &format!("floor-{tag}"), &branch, &path).unwrap();
        std::fs::write(path.join(task_file(i + 1)), format!("changed by {tag}-{i}\n")).unwrap();
        let mut args = GIT_ID.to_vec();
        args.extend(["commit", "-qam", "change"]);
        g.ok(&path, &args).unwrap();
        heads.push(g.ok(&path, &["rev-parse", "HEAD"]).unwrap());
        wts.push((path, branch));
    }
    let t0 = Instant::now();
    for head in &heads {
        let old = g.ok(repo, &["rev-parse", &base_ref]).unwrap();
        let tree = g.ok(repo, &["merge-tree", "--write-tree", &old, head]).unwrap();
        let tree = tree.lines().next().unwrap().to_string();
        let mut args = GIT_ID.to_vec();
        args.extend(["commit-tree", &tree, "-p", &old, "-p", head, "-m", "merge"]);
        let new = g.ok(repo, &args).unwrap();
        g.ok(repo, &["update-ref", &base_ref, &new, &old]).unwrap();
        assert!(std::process::Command::new(&check).status().unwrap().success());
    }
    let took = t0.elapsed();
    for (wt, branch) in &wts {
        capcom::dispatch::worktree::remove(&g, repo, wt);
        let _ = g.run(repo, &["branch", "-D", branch]);
    }
    let _ = g.run(repo, &["update-ref", "-d", &base_ref]);
    (took, runs(&counter))
}

const GIT_ID: [&str; 4] = ["-c", "user.name=b", "-c", "user.email=b@example.com"];

/// The file task `i` changes: one file of its own.
fn task_file(i: usize) -> String {
    format!("src/m{:02}/f{i}.txt", i % 50)
}

/// The git-only floor, on branches of their own and a base ref of its own (`floor-main`):
/// the 45 `merge-tree`s of prediction; then the train's git work, merge one with plumbing
/// (`merge-tree --write-tree`, `commit-tree`, `update-ref`) and rebase every remaining
/// branch in its worktree, ten times.
fn train_floor(root: &Path, repo: &Path) -> (Duration, Duration) {
    let g = GitCli;
    let main = g.ok(repo, &["rev-parse", "main"]).unwrap();
    g.ok(repo, &["update-ref", "refs/heads/floor-main", &main]).unwrap();
    let mut wts = Vec::new();
    let mut heads = Vec::new();
    for i in 0..TASKS {
        let path = root.join(format!("floor-train/{i}"));
        capcom::dispatch::worktree::create(&g, repo, "floor-main", &format!("floor-train/{i}"), &path).unwrap();
        std::fs::write(path.join(task_file(i + 1)), format!("changed by {i}\n")).unwrap();
        let mut args = GIT_ID.to_vec();
        args.extend(["commit", "-qam", "change"]);
        g.ok(&path, &args).unwrap();
        heads.push(g.ok(&path, &["rev-parse", "HEAD"]).unwrap());
        wts.push(path);
    }
    let t0 = Instant::now();
    for k in 0..TASKS {
        for j in 0..k {
            let out = g.run(repo, &["merge-tree", "--write-tree", "--name-only", "--no-messages", &heads[k], &heads[j]]).unwrap();
            assert_eq!(out.code, 0);
        }
    }
    let predict = t0.elapsed();
    let t0 = Instant::now();
    for i in 0..TASKS {
        let old = g.ok(repo, &["rev-parse", "floor-main"]).unwrap();
        let head = g.ok(&wts[i], &["rev-parse", "HEAD"]).unwrap();
        let tree = g.ok(repo, &["merge-tree", "--write-tree", &old, &head]).unwrap();
        let tree = tree.lines().next().unwrap().to_string();
        let mut args = GIT_ID.to_vec();
        args.extend(["commit-tree", &tree, "-p", &old, "-p", &head, "-m", "merge"]);
        let new = g.ok(repo, &args).unwrap();
        g.ok(repo, &["update-ref", "refs/heads/floor-main", &new, &old]).unwrap();
        for wt in &wts[i + 1..] {
            let mut args = GIT_ID.to_vec();
            args.extend(["rebase", "--quiet", &new]);
            g.ok(wt, &args).unwrap();
        }
    }
    let train = t0.elapsed();
    for (i, wt) in wts.iter().enumerate() {
        capcom::dispatch::worktree::remove(&g, repo, wt);
        let _ = g.run(repo, &["branch", "-D", &format!("floor-train/{i}")]);
    }
    let _ = g.run(repo, &["branch", "-D", "floor-main"]);
    (predict, train)
}

/// capcom's own: 10 tasks run by a stand-in agent (each changes one file of its own and
/// commits) and reviewed (a `true` check, scope guard, secret scan); conflict prediction as
/// each became ready in turn; then "merge all": one confirmation, each merge through the gate,
/// the rest brought up to date (rebased in their worktrees) and reviewed again after each.
async fn train_round(root: &Path, repo: &Path) -> (Duration, Duration) {
    let (handle, gate, ids, _) = ready_tasks(root, repo, "round", TASKS, 0).await;
    let (store, git) = (gate.store.clone(), gate.git.clone());
    let repo_cfg = gate.config.repo("big").unwrap().clone();
    let tasks: Vec<_> = ids.iter().map(|id| store.task(*id).unwrap()).collect();
    let t0 = Instant::now();
    for k in 0..TASKS {
        let head = tasks[k].head_sha.clone().unwrap();
        let found = dispatch::predict_conflicts(git.clone(), &store, ids[k], &repo_cfg, &head, &tasks[..k]).await;
        assert_eq!(found, 0);
    }
    let predict = t0.elapsed();

    let t0 = Instant::now();
    let (now, clock) = (chrono::Utc::now(), tokio::time::Instant::now());
    let asks: Vec<_> = ids.iter().map(|id| gate.propose(*id, now, clock).unwrap()).collect();
    let mut base: Option<String> = None;
    for p in &asks {
        let m = gate.confirm_in_train(p, None, clock, base.as_deref()).unwrap_or_else(|r| panic!("task {}: {}", p.task, r.reason));
        base = Some(m.new);
        for up in handle.update_ready("big", &[p.task]).await {
            assert!(up.ready(), "{}", up.said());
        }
    }
    let train = t0.elapsed();
    for id in &ids {
        assert_eq!(store.task(*id).unwrap().state, TaskState::Merged);
    }
    (predict, train)
}
