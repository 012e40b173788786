//! Dispatch overhead: the time from a brief's tasks being recorded to every agent
//! process started, for 10 tasks on a repo of 5,000 files (worktree creation
//! included). Prints each round and the median. Target: under 1 s in total.
//!
//! `cargo bench --bench dispatch`

use capcom::config::DataDir;
use capcom::dispatch::worktree::{Git, GitCli};
use capcom::dispatch::{self, Agents, Ctx, DispatchHandle};
use capcom::store::{Store, TaskState, TaskUpdate};
use capcom::understand::{Scope, TaskSpec};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 10;
const FILES: usize = 5_000;
const ROUNDS: usize = 3;

fn make_repo(root: &Path) -> std::path::PathBuf {
    let repo = root.join("repo");
    for i in 0..FILES {
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
    let ctx = Ctx { config: config.clone(), data, store: store.clone(), git: Arc::new(GitCli), agents: agents.clone(), github: None };
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
        let plan = dispatch::plan(&spec, &config, &agents, chrono::Utc::now());
        let task = store.create_task(&spec, plan.state, None, None, "bench").unwrap();
        let task = store
            .update_task(task.id, &TaskUpdate { agent: plan.agent.map(|a| a.agent), repo: plan.repo, ..TaskUpdate::default() })
            .unwrap();
        handle.submit(&task).await;
        ids.push(task.id);
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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let repo = make_repo(tmp.path());
    println!("repo of {FILES} files made in {:?}", t.elapsed());
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
}
