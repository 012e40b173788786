//! `capcom init [PATH]` and `capcom repos add|list|remove`: a first config without
//! hand-written TOML.
//!
//! `init` looks at the git repo around PATH (the current directory by default): its base
//! branch, the checks its manifests name (`package.json` scripts, `Cargo.toml`,
//! `pyproject.toml`, `Makefile` targets), the GitHub slug of `origin`, and which coding
//! agents are on PATH. It writes the user's config with comments when there is none (never
//! over one without `--force`), or adds the repo to the config there is. On a terminal it
//! asks at most three questions; without one it takes what it found.
//!
//! The `detect_*` and `render` functions are pure (text in, text out) and table-tested;
//! reading files, running git and asking questions happen in [`run_init`].

use super::exit;
use crate::config::edit::{self, NewRepo};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Checks named by a `package.json`'s scripts. `npm`'s placeholder test script ("no test
/// specified") is not a check. The package manager is chosen by the lock file.
pub fn checks_from_package_json(text: &str, runner: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { return out };
    let Some(scripts) = v.get("scripts").and_then(|s| s.as_object()) else { return out };
    for name in ["build", "test", "lint", "typecheck"] {
        let Some(body) = scripts.get(name).and_then(|b| b.as_str()) else { continue };
        if name == "test" && body.contains("no test specified") {
            continue;
        }
        let cmd = match (runner, name) {
            ("npm", "test") => "npm test".to_string(),
            ("npm", n) => format!("npm run {n}"),
            (r, n) => format!("{r} run {n}"),
        };
        out.insert(name.to_string(), cmd);
    }
    out
}

/// Checks for a Rust crate (any `Cargo.toml`).
pub fn checks_from_cargo() -> BTreeMap<String, String> {
    [("build", "cargo build"), ("test", "cargo test"), ("lint", "cargo clippy -- -D warnings")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Checks named by a `pyproject.toml`: pytest, ruff, mypy when it configures them.
pub fn checks_from_pyproject(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(t) = text.parse::<toml::Table>() else { return out };
    let tool = t.get("tool").and_then(|v| v.as_table());
    let has = |name: &str| tool.is_some_and(|tool| tool.contains_key(name)) || text.contains(&format!("\"{name}"));
    if has("pytest") {
        out.insert("test".into(), "pytest".into());
    }
    if has("ruff") {
        out.insert("lint".into(), "ruff check .".into());
    }
    if has("mypy") {
        out.insert("typecheck".into(), "mypy .".into());
    }
    out
}

/// Checks named by a Makefile's targets: build, test, lint, typecheck (and `check` as lint).
pub fn checks_from_makefile(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some((targets, rest)) = line.split_once(':') else { continue };
        if rest.starts_with('=') {
            continue; // `X := value`
        }
        for t in targets.split_whitespace() {
            let name = match t {
                "build" | "test" | "lint" | "typecheck" => t,
                "check" => "lint",
                _ => continue,
            };
            out.entry(name.to_string()).or_insert_with(|| format!("make {t}"));
        }
    }
    out
}

/// `owner/name` from a GitHub remote URL (https, ssh or scp-like), or None for other hosts.
pub fn github_slug(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = ["https://github.com/", "http://github.com/", "ssh://git@github.com/", "git@github.com:", "git://github.com/"]
        .iter()
        .find_map(|p| url.strip_prefix(p))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let slug = crate::config::RepoSlug::parse(rest)?;
    Some(slug.to_string())
}

/// The repo's name in capcom: its folder name, lower-case, spaces as dashes.
pub fn repo_name(path: &Path) -> String {
    let raw = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "repo".into());
    let name: String = raw.trim().to_lowercase().chars().map(|c| if c.is_whitespace() { '-' } else { c }).collect();
    if name.is_empty() { "repo".into() } else { name }
}

/// What `init` found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Found {
    pub repo: Option<NewRepo>,
    /// Agents on PATH, by capcom's preset names, in preference order.
    pub agents: Vec<String>,
    /// Where each check came from ("package.json"), for the summary.
    pub check_sources: Vec<String>,
}

impl Found {
    /// The default agent: the first one installed, else `claude` (with a note in the file).
    pub fn default_agent(&self) -> &str {
        self.agents.first().map(String::as_str).unwrap_or("claude")
    }
}

fn quote(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

/// The commented config file `init` writes.
pub fn render(found: &Found) -> String {
    let mut s = String::new();
    s.push_str("# capcom configuration, written by `capcom init`.\n");
    s.push_str("#\n");
    s.push_str("# Only what differs from the built-in defaults is here. `capcom init --defaults` prints every key\n");
    s.push_str("# with its default and what it does. `capcom repos add PATH` adds a repo; `capcom doctor` checks it\n");
    s.push_str("# all. The running daemon takes changes to this file without a restart (it says which settings\n");
    s.push_str("# need one).\n\n");
    // routes: only to agents that are installed
    let routes: Vec<(&str, &str)> = [("docs", "aider"), ("test", "codex")]
        .into_iter()
        .filter(|(_, a)| found.agents.iter().any(|x| x == a) && *a != found.default_agent())
        .collect();
    s.push_str("# Routes: a task kind to the agent that gets it, when the brief names none. Kinds: dependency-upgrade\n");
    s.push_str("# bug-fix feature refactor css copy docs test security audit infra other. Only installed agents here.\n");
    if routes.is_empty() {
        // An empty list: the built-in routes (to agents that may not be installed) are not used.
        s.push_str("# [[routes]]\n# kind = \"docs\"\n# agent = \"aider\"\nroutes = []\n\n");
    }
    for (kind, agent) in &routes {
        s.push_str(&format!("[[routes]]\nkind = {}\nagent = {}\n\n", quote(kind), quote(agent)));
    }
    s.push_str("[dispatch]\n");
    if found.agents.is_empty() {
        s.push_str("# No coding agent was found on PATH (claude, codex, gemini, aider, cursor-agent). Install one,\n");
        s.push_str("# or name yours here.\n");
    } else {
        s.push_str(&format!("# Installed: {}. The agent for a task no route above matches.\n", found.agents.join(", ")));
    }
    s.push_str(&format!("default_agent = {}\n\n", quote(found.default_agent())));

    if let Some(r) = &found.repo {
        s.push_str("\n# Repositories capcom dispatches work into. `capcom repos add PATH` adds another.\n");
        s.push_str("[[repos]]\n");
        s.push_str(&format!("name = {}\n", quote(&r.name)));
        s.push_str(&format!("path = {}\n", quote(&r.path)));
        s.push_str(&format!("base = {}                  # tasks branch from it and merge into it\n", quote(&r.base)));
        match &r.github {
            Some(gh) => s.push_str(&format!(
                "github = {}\n# review = \"github\"             # push, open a PR and merge through the API (needs GITHUB_TOKEN)\n",
                quote(gh)
            )),
            None => s.push_str("# github = \"owner/name\"        # when it is hosted on GitHub\n"),
        }
        s.push_str("# aliases = [\"the site\"]        # other names you say for it\n");
        if r.checks.is_empty() {
            s.push_str("# Acceptance checks by name (\"tests pass\" runs `test`). None were found; for example:\n");
            s.push_str("# [repos.checks]\n# test = \"npm test\"\n");
        } else {
            s.push_str(&format!("# Acceptance checks by name (\"tests pass\" runs `test`), found in {}.\n", found.check_sources.join(", ")));
            s.push_str("[repos.checks]\n");
            for (k, v) in &r.checks {
                s.push_str(&format!("{k} = {}\n", quote(v)));
            }
        }
    } else {
        s.push_str("\n# No repo yet: `capcom repos add PATH` (or `capcom init` inside the repo) adds one.\n");
    }
    s
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).stdin(std::process::Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

/// The top of the git work tree around `path`.
pub fn git_root(path: &Path) -> Option<PathBuf> {
    git(path, &["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

/// The branch tasks should start from: origin's HEAD, else `main` or `master` when they
/// exist, else the branch checked out.
pub fn base_branch(root: &Path) -> String {
    if let Some(head) = git(root, &["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"])
        && let Some(b) = head.strip_prefix("refs/remotes/origin/")
    {
        return b.to_string();
    }
    for b in ["main", "master"] {
        if git(root, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{b}")]).is_some() {
            return b.to_string();
        }
    }
    git(root, &["symbolic-ref", "--quiet", "--short", "HEAD"]).unwrap_or_else(|| "main".into())
}

/// The checks the repo's manifests name, and which files named them.
pub fn detect_checks(root: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    let read = |f: &str| std::fs::read_to_string(root.join(f)).ok();
    let mut checks = BTreeMap::new();
    let mut sources = Vec::new();
    let mut add = |found: BTreeMap<String, String>, from: &str| {
        let before = checks.len();
        for (k, v) in found {
            checks.entry(k).or_insert(v);
        }
        if checks.len() > before {
            sources.push(from.to_string());
        }
    };
    if let Some(pkg) = read("package.json") {
        let runner = if root.join("pnpm-lock.yaml").exists() {
            "pnpm"
        } else if root.join("yarn.lock").exists() {
            "yarn"
        } else if root.join("bun.lockb").exists() || root.join("bun.lock").exists() {
            "bun"
        } else {
            "npm"
        };
        add(checks_from_package_json(&pkg, runner), "package.json");
    }
    if root.join("Cargo.toml").is_file() {
        add(checks_from_cargo(), "Cargo.toml");
    }
    if let Some(py) = read("pyproject.toml") {
        add(checks_from_pyproject(&py), "pyproject.toml");
    }
    if let Some(mk) = read("Makefile").or_else(|| read("makefile")).or_else(|| read("GNUmakefile")) {
        add(checks_from_makefile(&mk), "Makefile");
    }
    (checks, sources)
}

/// The coding agents on PATH, as capcom's preset names, in preference order.
pub fn detect_agents() -> Vec<String> {
    use crate::dispatch::presets::{find_on_path, preset_program};
    crate::dispatch::routing::PRESET_AGENTS
        .iter()
        .filter(|a| preset_program(a).is_some_and(|p| find_on_path(p).is_some()))
        .map(|a| a.to_string())
        .collect()
}

/// Everything about the repo at `root`.
pub fn detect_repo(root: &Path, name: Option<&str>, base: Option<&str>) -> (NewRepo, Vec<String>) {
    let (checks, sources) = detect_checks(root);
    let repo = NewRepo {
        name: name.map(str::to_string).unwrap_or_else(|| repo_name(root)),
        path: root.display().to_string(),
        base: base.map(str::to_string).unwrap_or_else(|| base_branch(root)),
        github: git(root, &["remote", "get-url", "origin"]).as_deref().and_then(github_slug),
        checks,
    };
    (repo, sources)
}

/// Ask one question on the terminal; an empty answer keeps `default`.
fn ask(input: &mut dyn BufRead, question: &str, default: &str) -> String {
    print!("{question} [{default}]: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(n) if n > 0 && !line.trim().is_empty() => line.trim().to_string(),
        _ => default.to_string(),
    }
}

fn resolve_dir(path: Option<&Path>) -> Result<PathBuf, String> {
    let dir = match path {
        Some(p) => p.to_path_buf(),
        None => std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?,
    };
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    Ok(std::fs::canonicalize(&dir).unwrap_or(dir))
}

/// `capcom init [PATH] [--force]`.
pub fn run_init(config_path: Option<&Path>, path: Option<&Path>, force: bool) -> u8 {
    let Some(file) = config_path.map(Path::to_path_buf).or_else(crate::config::default_path) else {
        eprintln!("capcom: no HOME or XDG_CONFIG_HOME: pass --config FILE");
        return exit::USAGE;
    };
    let dir = match resolve_dir(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("capcom: {e}");
            return exit::USAGE;
        }
    };
    let root = git_root(&dir);
    if root.is_none() && path.is_some() {
        eprintln!("capcom: {} is not inside a git repository; capcom dispatches work into git repos (`git init` it first)", dir.display());
        return exit::ERROR;
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut found = Found { agents: detect_agents(), ..Found::default() };
    if let Some(root) = &root {
        let (repo, sources) = detect_repo(root, None, None);
        found.repo = Some(repo);
        found.check_sources = sources;
    }
    // At most three questions, on a terminal only: the repo's name, its base, the default agent.
    if tty {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        if let Some(r) = found.repo.as_mut() {
            r.name = ask(&mut input, &format!("Name for the repo at {}", r.path), &r.name);
            r.base = ask(&mut input, "Branch tasks start from and merge into", &r.base);
        }
        if found.agents.len() > 1 {
            let pick = ask(&mut input, &format!("Default agent ({})", found.agents.join(", ")), found.default_agent());
            if let Some(i) = found.agents.iter().position(|a| *a == pick) {
                let a = found.agents.remove(i);
                found.agents.insert(0, a);
            } else {
                eprintln!("capcom: `{pick}` is not one of {}; keeping {}", found.agents.join(", "), found.default_agent());
            }
        }
    }

    let exists = file.exists();
    let shown = file.display();
    if exists && !force {
        // Never overwritten: the repo is added to the config that is there.
        let Some(repo) = found.repo.as_ref() else {
            println!("{shown} exists; nothing to add (no git repo around {}).", dir.display());
            println!("`capcom init --force` writes a new one; `capcom repos add PATH` adds a repo.");
            return exit::OK;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if let Err(edit::EditError::SamePath { name, .. }) = edit::add_repo(&text, &shown.to_string(), repo) {
            println!("{shown} exists and already has the repo at {} (as `{name}`); nothing changed.", repo.path);
            println!("`capcom init --force` writes a new config; `capcom doctor` checks this one.");
            return exit::OK;
        }
        return add_to(&file, repo, &found.check_sources);
    }
    if exists {
        let backup = file.with_extension("toml.bak");
        if let Err(e) = std::fs::copy(&file, &backup) {
            eprintln!("capcom: cannot keep a copy of {shown} at {}: {e}; nothing written", backup.display());
            return exit::ERROR;
        }
        println!("kept the old config as {}", backup.display());
    }
    let text = render(&found);
    if let Err(e) = edit::write_file(&file, &text) {
        eprintln!("capcom: cannot write {shown}: {e}");
        return exit::ERROR;
    }
    println!("wrote {shown}");
    summary(&found);
    println!();
    if found.repo.is_some() {
        println!("Next: `capcom daemon` (or `capcom doctor` to check everything first), then hold Ctrl+Alt+Space and speak a brief,");
        println!("      or type one: capcom brief \"fix the typo in the README heading, tests pass\"");
    } else {
        println!("Next: `capcom repos add PATH` for the repo agents should work in, then `capcom daemon`.");
    }
    exit::OK
}

fn summary(found: &Found) {
    match &found.repo {
        Some(r) => {
            println!("  repo {}: {} on {}{}", r.name, r.path, r.base, r.github.as_ref().map(|g| format!(", GitHub {g}")).unwrap_or_default());
            if r.checks.is_empty() {
                println!("  checks: none found (add them under [repos.checks])");
            } else {
                for (k, v) in &r.checks {
                    println!("  check {k}: {v}");
                }
            }
        }
        None => println!("  no repo (not inside a git repository)"),
    }
    if found.agents.is_empty() {
        println!("  agents: none on PATH (claude, codex, gemini, aider, cursor-agent); default_agent = \"claude\" until you install one");
    } else {
        println!("  agents: {} (default: {})", found.agents.join(", "), found.default_agent());
    }
}

fn add_to(file: &Path, repo: &NewRepo, sources: &[String]) -> u8 {
    let shown = file.display();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            eprintln!("capcom: cannot read {shown}: {e}");
            return exit::ERROR;
        }
    };
    let new = match edit::add_repo(&text, &shown.to_string(), repo) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("capcom: {e}");
            return exit::ERROR;
        }
    };
    // What is written must load: a repo is never added at the price of a config that does not.
    if let Err(e) = crate::config::from_str(&new, &shown.to_string()) {
        eprintln!("capcom: adding the repo would leave {shown} unreadable ({e}); nothing written");
        return exit::ERROR;
    }
    if let Err(e) = edit::write_file(file, &new) {
        eprintln!("capcom: cannot write {shown}: {e}");
        return exit::ERROR;
    }
    println!("added repo {} to {shown}", repo.name);
    println!("  {} on {}{}", repo.path, repo.base, repo.github.as_ref().map(|g| format!(", GitHub {g}")).unwrap_or_default());
    for (k, v) in &repo.checks {
        println!("  check {k}: {v}{}", if sources.is_empty() { String::new() } else { format!(" (from {})", sources.join(", ")) });
    }
    println!("A running daemon takes it at once. Try: capcom brief \"in {} fix the typo in the README, tests pass\"", repo.name);
    exit::OK
}

/// `capcom repos add PATH [--name N] [--base B]`.
pub fn repos_add(config_path: Option<&Path>, path: &Path, name: Option<&str>, base: Option<&str>) -> u8 {
    let Some(file) = config_path.map(Path::to_path_buf).or_else(crate::config::default_path) else {
        eprintln!("capcom: no HOME or XDG_CONFIG_HOME: pass --config FILE");
        return exit::USAGE;
    };
    let dir = match resolve_dir(Some(path)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("capcom: {e}");
            return exit::USAGE;
        }
    };
    let Some(root) = git_root(&dir) else {
        eprintln!("capcom: {} is not inside a git repository; capcom dispatches work into git repos (`git init` it first)", dir.display());
        return exit::ERROR;
    };
    if let Some(b) = base
        && git(&root, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{b}")]).is_none()
    {
        eprintln!("capcom: {} has no branch `{b}`; pass --base with a branch it has", root.display());
        return exit::ERROR;
    }
    let (repo, sources) = detect_repo(&root, name, base);
    add_to(&file, &repo, &sources)
}

/// `capcom repos remove NAME`.
pub fn repos_remove(config_path: Option<&Path>, name: &str) -> u8 {
    let Some(file) = config_path.map(Path::to_path_buf).or_else(crate::config::default_path) else {
        eprintln!("capcom: no HOME or XDG_CONFIG_HOME: pass --config FILE");
        return exit::USAGE;
    };
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("capcom: no config file at {shown}, so no repo to remove; `capcom init` writes one");
            return exit::ERROR;
        }
        Err(e) => {
            eprintln!("capcom: cannot read {shown}: {e}");
            return exit::ERROR;
        }
    };
    match edit::remove_repo(&text, &shown, name).and_then(|new| Ok(edit::write_file(&file, &new).map_err(|e| e.to_string()))) {
        Ok(Ok(())) => {
            println!("removed repo {name} from {shown} (its tasks, branches and worktrees are untouched)");
            exit::OK
        }
        Ok(Err(e)) => {
            eprintln!("capcom: cannot write {shown}: {e}");
            exit::ERROR
        }
        Err(e) => {
            eprintln!("capcom: {e}");
            exit::ERROR
        }
    }
}

/// `capcom repos list [--json]`: the repos of the config as loaded (file and environment).
pub fn repos_list(loaded: &crate::config::Loaded, json: bool) -> u8 {
    let repos = &loaded.config.repos;
    if json {
        super::print_json(repos);
        return exit::OK;
    }
    let from = loaded.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults (no config file)".into());
    if repos.is_empty() {
        println!("No repos configured ({from}). `capcom init` in your repo, or `capcom repos add PATH`.");
        return exit::OK;
    }
    println!("Repos in {from}:");
    for r in repos {
        let checks: Vec<&str> = loaded.config.checks.keys().chain(r.checks.keys()).map(String::as_str).collect();
        println!(
            "  {:<12} {} on {}{}{}",
            r.name,
            r.path,
            r.base,
            r.github.as_ref().map(|g| format!(", GitHub {g}")).unwrap_or_default(),
            if checks.is_empty() { String::new() } else { format!("; checks: {}", checks.join(", ")) }
        );
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn package_json_scripts_become_checks() {
        let pkg = r#"{"scripts": {"build": "next build", "test": "vitest run", "lint": "eslint .", "dev": "next dev", "typecheck": "tsc --noEmit"}}"#;
        assert_eq!(
            checks_from_package_json(pkg, "npm"),
            map(&[("build", "npm run build"), ("lint", "npm run lint"), ("test", "npm test"), ("typecheck", "npm run typecheck")])
        );
        assert_eq!(checks_from_package_json(pkg, "pnpm")["test"], "pnpm run test");
        let placeholder = r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}}"#;
        assert!(checks_from_package_json(placeholder, "npm").is_empty());
        for broken in ["", "{", "[]", r#"{"scripts": 3}"#] {
            assert!(checks_from_package_json(broken, "npm").is_empty(), "{broken}");
        }
    }

    #[test]
    fn makefile_targets_become_checks() {
        let mk = "VAR := x\n.PHONY: test build\nbuild: deps\n\tcc -o x x.c\ntest lint:\n\t./t\n# typecheck: no\ncheck:\n\tmake test\ndeploy:\n";
        assert_eq!(checks_from_makefile(mk), map(&[("build", "make build"), ("lint", "make lint"), ("test", "make test")]));
        assert_eq!(checks_from_makefile("check:\n\tx\n"), map(&[("lint", "make check")]));
    }

    #[test]
    fn pyproject_tools_become_checks() {
        let py = "[project]\nname = \"x\"\n[tool.pytest.ini_options]\naddopts = \"-q\"\n[tool.ruff]\nline-length = 100\n";
        assert_eq!(checks_from_pyproject(py), map(&[("lint", "ruff check ."), ("test", "pytest")]));
        assert_eq!(checks_from_pyproject("[project]\ndependencies = [\"mypy>=1\"]\n")["typecheck"], "mypy .");
        assert!(checks_from_pyproject("not toml [").is_empty());
    }

    #[test]
    fn github_remotes_give_the_slug_and_others_none() {
        let cases = [
            ("git@github.com:acme/site.git", Some("acme/site")),
            ("https://github.com/acme/site", Some("acme/site")),
            ("https://github.com/acme/site.git/", Some("acme/site")),
            ("ssh://git@github.com/acme/my.repo.git", Some("acme/my.repo")),
            ("https://gitlab.com/acme/site.git", None),
            ("/srv/git/site.git", None),
            ("https://github.com/acme", None),
        ];
        for (url, want) in cases {
            assert_eq!(github_slug(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn the_written_config_loads_names_only_installed_agents_and_keeps_its_checks() {
        let repo = NewRepo {
            name: "site".into(),
            path: "/src/my \"site\"".into(),
            base: "trunk".into(),
            github: Some("acme/site".into()),
            checks: map(&[("test", "npm test"), ("build", "npm run build")]),
        };
        let cases: &[(&[&str], &str, &[(&str, &str)])] = &[
            (&["claude"], "claude", &[]),
            (&["codex", "aider"], "codex", &[("docs", "aider")]),
            (&["claude", "codex", "aider"], "claude", &[("docs", "aider"), ("test", "codex")]),
            (&[], "claude", &[]),
        ];
        for (agents, default, routes) in cases {
            let found = Found {
                repo: Some(repo.clone()),
                agents: agents.iter().map(|a| a.to_string()).collect(),
                check_sources: vec!["package.json".into()],
            };
            let text = render(&found);
            let (cfg, warnings) = crate::config::from_str(&text, "init.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert!(warnings.is_empty(), "{warnings:?}\n{text}");
            assert_eq!(cfg.dispatch.default_agent, *default);
            assert!(!cfg.origin.routes_builtin && !cfg.origin.default_agent_builtin, "init's choices are the user's");
            let got: Vec<(&str, &str)> = cfg.routes.iter().map(|r| (r.kind.as_str(), r.agent.as_str())).collect();
            assert_eq!(got, *routes, "{agents:?}");
            let r = cfg.repo("site").unwrap();
            assert_eq!((r.path.as_str(), r.base.as_str(), r.github.as_deref()), ("/src/my \"site\"", "trunk", Some("acme/site")));
            assert_eq!(r.checks["test"].argv().unwrap(), ["npm", "test"]);
            assert!(text.contains("# "), "commented");
        }
        let none = render(&Found::default());
        let (cfg, _) = crate::config::from_str(&none, "init.toml").unwrap();
        assert!(cfg.repos.is_empty() && cfg.routes.is_empty());
        assert!(none.contains("capcom repos add PATH"));
    }

    #[test]
    fn repo_names_come_from_the_folder() {
        assert_eq!(repo_name(Path::new("/home/me/src/My Site")), "my-site");
        assert_eq!(repo_name(Path::new("/")), "repo");
    }
}
