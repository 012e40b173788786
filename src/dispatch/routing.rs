//! Routing and planning: which agent and repo each task of a brief goes to, and why.

use super::*;

/// The agents by name, built from `[agents.*]`. A preset name that is not
/// configured (e.g. the default `claude`) is available with the preset's defaults.
#[derive(Clone, Default)]
pub struct Agents {
    map: BTreeMap<String, Arc<dyn AgentBackend>>,
    problems: BTreeMap<String, String>,
    supervisor: Option<PathBuf>,
    /// For presets used without an `[agents.X]` table.
    preset_env: local::AgentEnv,
}

impl Agents {
    pub fn from_config(config: &Config, supervisor: Option<PathBuf>) -> Agents {
        let preset_env = local::AgentEnv::from_agent(&crate::config::Agent::default(), &config.dispatch);
        let mut a = Agents { supervisor: supervisor.clone(), preset_env, ..Agents::default() };
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

    /// Add or replace a backend (remote backends, tests).
    pub fn insert(&mut self, name: &str, backend: Arc<dyn AgentBackend>) {
        self.problems.remove(name);
        self.map.insert(name.to_string(), backend);
    }

    /// A vendor says a run changed (a verified webhook): every backend watching that id looks now.
    pub fn poke(&self, remote_id: &str) {
        for b in self.map.values() {
            b.poke(remote_id);
        }
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn AgentBackend>, String> {
        if let Some(b) = self.map.get(name) {
            return Ok(b.clone());
        }
        if let Some(p) = self.problems.get(name) {
            return Err(p.clone());
        }
        match presets::preset(name, "acceptEdits") {
            Some(spec) => Ok(Arc::new(local::LocalBackend::new(name, spec, self.preset_env.clone(), self.supervisor.clone()))),
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
pub fn route(spec: &TaskSpec, config: &Config) -> Routed {
    if let Some(a) = spec.agent.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        return Routed { agent: a.to_string(), why: format!("you asked for {a}") };
    }
    if let Some(r) = config.routes.iter().find(|r| r.kind == spec.kind.as_str()) {
        return Routed { agent: r.agent.clone(), why: format!("the route for {} tasks", spec.kind.as_str()) };
    }
    Routed { agent: config.dispatch.default_agent.clone(), why: "the default agent".into() }
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
