//! Routing and planning: which agent and repo each task of a brief goes to, and why.

use super::*;

/// The agents by name, built from `[agents.*]`. A preset name that is not
/// configured (e.g. the default `claude`) is available with the preset's defaults.
/// Clones share one map, which [`Agents::reload`] replaces when the config changes.
#[derive(Clone, Default)]
pub struct Agents {
    inner: Arc<std::sync::RwLock<AgentMap>>,
}

#[derive(Clone, Default)]
struct AgentMap {
    map: BTreeMap<String, Arc<dyn AgentBackend>>,
    problems: BTreeMap<String, String>,
    supervisor: Option<PathBuf>,
    /// For presets used without an `[agents.X]` table.
    preset_env: local::AgentEnv,
}

impl AgentMap {
    fn build(config: &Config, supervisor: Option<PathBuf>) -> AgentMap {
        let preset_env = local::AgentEnv::from_agent(&crate::config::Agent::default(), &config.dispatch);
        let mut a = AgentMap { supervisor: supervisor.clone(), preset_env, ..AgentMap::default() };
        for (name, agent) in &config.agents {
            if agent.kind != "local" {
                match remote::backend_for(name, agent, config) {
                    Ok(b) => {
                        a.map.insert(name.clone(), b);
                    }
                    Err(e) => {
                        a.problems.insert(name.clone(), e);
                    }
                }
                continue;
            }
            match presets::resolve(name, agent) {
                Ok(spec) => {
                    let b = local::LocalBackend::new(name, spec, local::AgentEnv::from_agent(agent, &config.dispatch), supervisor.clone());
                    a.map.insert(name.clone(), Arc::new(b));
                }
                Err(e) => {
                    a.problems.insert(name.clone(), e);
                }
            }
        }
        a
    }
}

impl Agents {
    pub fn from_config(config: &Config, supervisor: Option<PathBuf>) -> Agents {
        Agents { inner: Arc::new(std::sync::RwLock::new(AgentMap::build(config, supervisor))) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, AgentMap> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The config changed: agents whose table (and `[dispatch]`, which shapes their
    /// environment) are unchanged keep their backend, and with it what it watches; the
    /// others are built again. Backends added by [`insert`](Self::insert) stay.
    pub fn reload(&self, old: &Config, new: &Config) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut next = AgentMap::build(new, inner.supervisor.clone());
        for (name, backend) in &inner.map {
            let unchanged = old.agents.get(name) == new.agents.get(name) && old.dispatch == new.dispatch;
            let inserted = !old.agents.contains_key(name) && !new.agents.contains_key(name);
            if unchanged || inserted {
                next.problems.remove(name);
                next.map.insert(name.clone(), backend.clone());
            }
        }
        *inner = next;
    }

    /// Add or replace a backend (remote backends, tests).
    pub fn insert(&mut self, name: &str, backend: Arc<dyn AgentBackend>) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.problems.remove(name);
        inner.map.insert(name.to_string(), backend);
    }

    /// A vendor says a run changed (a verified webhook): every backend watching that id looks now.
    pub fn poke(&self, remote_id: &str) {
        for b in self.read().map.values() {
            b.poke(remote_id);
        }
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn AgentBackend>, String> {
        let inner = self.read();
        if let Some(b) = inner.map.get(name) {
            return Ok(b.clone());
        }
        if let Some(p) = inner.problems.get(name) {
            return Err(p.clone());
        }
        match presets::preset(name, "acceptEdits") {
            Some(spec) => Ok(Arc::new(local::LocalBackend::new(name, spec, inner.preset_env.clone(), inner.supervisor.clone()))),
            None => Err(format!("no agent named `{name}` is configured")),
        }
    }
}

/// Which agent takes a task, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Routed {
    pub agent: String,
    pub why: String,
}

/// The brief's choice, then `[[routes]]` by kind, then `[dispatch] default_agent`.
/// Built-in routes and the built-in default agent only name installed agents: one whose
/// program is not on PATH falls back (see [`route_with`]).
pub fn route(spec: &TaskSpec, config: &Config) -> Routed {
    route_with(spec, config, &on_path)
}

/// Whether a configured or preset agent's program is installed (remote agents always are).
pub fn on_path(config: &Config, agent: &str) -> bool {
    let program = match config.agents.get(agent) {
        Some(a) if a.kind != "local" => return true,
        Some(a) => presets::agent_program(a),
        None => presets::preset_program(agent).map(String::from),
    };
    program.is_some_and(|p| presets::find_on_path(&p).is_some())
}

/// The agents capcom knows how to run, in the order a default is chosen from those installed.
pub const PRESET_AGENTS: &[&str] = &["claude", "codex", "gemini", "aider", "cursor-cli"];

/// `[dispatch] default_agent`; when that is the built-in one and it is not installed, the
/// first installed agent of [`PRESET_AGENTS`] (or it, when none is).
pub fn default_agent(config: &Config, installed: &dyn Fn(&Config, &str) -> bool) -> String {
    let configured = &config.dispatch.default_agent;
    if !config.origin.default_agent_builtin || installed(config, configured) {
        return configured.clone();
    }
    PRESET_AGENTS
        .iter()
        .find(|a| installed(config, a))
        .map(|a| a.to_string())
        .unwrap_or_else(|| configured.clone())
}

/// [`route`] with the test for "installed" passed in.
pub fn route_with(spec: &TaskSpec, config: &Config, installed: &dyn Fn(&Config, &str) -> bool) -> Routed {
    if let Some(a) = spec.agent.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        return Routed { agent: a.to_string(), why: format!("you asked for {a}") };
    }
    let default = default_agent(config, installed);
    if let Some(r) = config.routes.iter().find(|r| r.kind == spec.kind.as_str()) {
        if config.origin.routes_builtin && !installed(config, &r.agent) && r.agent != default {
            return Routed {
                agent: default.clone(),
                why: format!("the default agent ({} tasks would go to {}, which is not installed)", spec.kind.as_str(), r.agent),
            };
        }
        return Routed { agent: r.agent.clone(), why: format!("the route for {} tasks", spec.kind.as_str()) };
    }
    Routed { agent: default, why: "the default agent".into() }
}

/// The built-in routes and default agent that name an agent that is not installed, and what
/// tasks go to instead (for `capcom doctor`).
pub fn fallbacks(config: &Config, installed: &dyn Fn(&Config, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let default = default_agent(config, installed);
    if default != config.dispatch.default_agent {
        out.push(format!(
            "the built-in default agent `{}` is not installed; tasks no route matches go to `{default}`",
            config.dispatch.default_agent
        ));
    }
    if config.origin.routes_builtin {
        for r in &config.routes {
            if !installed(config, &r.agent) && r.agent != default {
                out.push(format!("the built-in route for {} tasks names `{}`, which is not installed; they go to `{default}`", r.kind, r.agent));
            }
        }
    }
    out
}

/// The repo a task works in: named, or the only one configured.
pub fn resolve_repo<'a>(config: &'a Config, name: Option<&str>) -> Result<&'a Repo, String> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => config.repo(n).ok_or_else(|| {
            let known: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
            format!("Which repo is `{n}`? I know {}.", if known.is_empty() { "none".into() } else { known.join(", ") })
        }),
        // `[dispatch] default_repo`, or the only repo.
        None => match crate::understand::default_repo(config).and_then(|d| config.repo(&d)) {
            Some(r) => Ok(r),
            None => match config.repos.as_slice() {
            [only] => Ok(only),
            [] => Err("No repos are configured: add a [[repos]] entry to the config.".into()),
            many => Err(format!(
                "Which repo should this go to: {}?",
                many.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
            )),
            },
        },
    }
}

/// How a brief's task enters the system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub state: TaskState,
    /// The question for a held task.
    pub reason: Option<String>,
    pub agent: Option<Routed>,
    pub repo: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// Decide a new task's first state: held (not ready, unknown repo or agent, with
/// the question to ask), scheduled (a future start) or queued.
pub fn plan(spec: &TaskSpec, config: &Config, agents: &Agents, now: DateTime<Utc>) -> Plan {
    let routed = route(spec, config);
    let repo = resolve_repo(config, spec.repo.as_deref());
    let held = |reason: String, agent: Option<Routed>, repo: Option<String>| Plan {
        state: TaskState::Held,
        reason: Some(reason),
        agent,
        repo,
        at: None,
    };
    if !spec.readiness.ready {
        let q = spec
            .readiness
            .question
            .clone()
            .filter(|q| !q.trim().is_empty())
            .unwrap_or_else(|| format!("The brief is not ready: {}.", spec.readiness.problems.join("; ")));
        return held(q, Some(routed), repo.ok().map(|r| r.name.clone()));
    }
    let repo = match repo {
        Ok(r) => r.name.clone(),
        Err(q) => return held(q, Some(routed), None),
    };
    if let Err(e) = agents.get(&routed.agent) {
        return held(format!("{e}. Which agent should take it?"), None, Some(repo));
    }
    let at = spec.schedule.map(|s| s.with_timezone(&Utc));
    let state = if at.is_some_and(|t| t > now) { TaskState::Scheduled } else { TaskState::Queued };
    Plan { state, reason: None, agent: Some(routed), repo: Some(repo), at: at.filter(|t| *t > now) }
}

#[cfg(test)]
mod fallback_tests {
    use super::*;
    use crate::understand::TaskKind;

    fn spec(kind: TaskKind, agent: Option<&str>) -> TaskSpec {
        TaskSpec { kind, agent: agent.map(String::from), ..TaskSpec::default() }
    }

    fn only(installed: &'static [&'static str]) -> impl Fn(&Config, &str) -> bool {
        move |_, a| installed.contains(&a)
    }

    #[test]
    fn built_in_routes_and_default_fall_back_to_installed_agents_and_the_users_own_do_not() {
        let (builtin, _) = crate::config::from_str("", "c.toml").unwrap();
        let (own_routes, _) = crate::config::from_str("[[routes]]\nkind = \"docs\"\nagent = \"aider\"\n", "c.toml").unwrap();
        let (own_default, _) = crate::config::from_str("[dispatch]\ndefault_agent = \"claude\"\n", "c.toml").unwrap();
        // (config, installed, kind, named agent) → agent
        let cases: &[(&Config, &'static [&'static str], TaskKind, Option<&str>, &str)] = &[
            (&builtin, &["claude", "aider", "codex"], TaskKind::Docs, None, "aider"),
            (&builtin, &["claude"], TaskKind::Docs, None, "claude"),
            (&builtin, &["claude"], TaskKind::Test, None, "claude"),
            (&builtin, &["claude"], TaskKind::Feature, None, "claude"),
            (&builtin, &["codex"], TaskKind::Docs, None, "codex"),
            (&builtin, &["codex"], TaskKind::Test, None, "codex"),
            (&builtin, &["gemini", "aider"], TaskKind::Feature, None, "gemini"),
            (&builtin, &["gemini", "aider"], TaskKind::Docs, None, "aider"),
            (&builtin, &[], TaskKind::Docs, None, "claude"),
            (&builtin, &["claude"], TaskKind::Docs, Some("aider"), "aider"),
            (&own_routes, &["claude"], TaskKind::Docs, None, "aider"),
            (&own_default, &["codex"], TaskKind::Feature, None, "claude"),
            (&own_default, &["codex"], TaskKind::Test, None, "codex"),
        ];
        for (config, installed, kind, named, want) in cases {
            let got = route_with(&spec(*kind, *named), config, &only(installed));
            assert_eq!(got.agent, *want, "{kind:?} with {installed:?} installed, named {named:?}: {}", got.why);
        }
        let why = route_with(&spec(TaskKind::Docs, None), &builtin, &only(&["claude"])).why;
        assert!(why.contains("aider, which is not installed"), "{why}");
    }

    #[test]
    fn doctor_lists_what_fell_back() {
        let (builtin, _) = crate::config::from_str("", "c.toml").unwrap();
        assert!(fallbacks(&builtin, &only(&["claude", "aider", "codex"])).is_empty());
        let got = fallbacks(&builtin, &only(&["gemini"]));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("default agent `claude` is not installed; tasks no route matches go to `gemini`"), "{got:?}");
        assert!(got.iter().any(|f| f.contains("docs tasks names `aider`")), "{got:?}");
        let (own, _) = crate::config::from_str("[[routes]]\nkind = \"docs\"\nagent = \"aider\"\n", "c.toml").unwrap();
        assert_eq!(fallbacks(&own, &only(&["claude"])), Vec::<String>::new(), "the user's own routes are theirs");
    }
}
