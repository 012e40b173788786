//! Scoring the understanding corpus: what a case expects (`Case`, the fields of
//! `tests/fixtures/briefs.toml`), every way a parse differs from it, and field accuracy
//! (the share of the fields a case checks that came out right). Shared by the corpus
//! tests and `cargo bench --bench understand`.

use super::briefs::{self, PendingCase};
use capcom::understand::{Context, Intent, TaskSpec, parse};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Case {
    pub text: String,
    pub pending: Option<PendingCase>,
    pub intent: String,
    pub tasks: Option<usize>,
    pub kind: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub repo: Option<String>,
    pub repos: Option<Vec<String>>,
    pub agent: Option<String>,
    pub agents: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub checks: Option<Vec<String>>,
    pub all_checks: Option<Vec<String>>,
    pub manual: Option<usize>,
    pub ready: Option<bool>,
    pub question: Option<bool>,
    pub question_has: Option<Vec<String>>,
    pub target_task: Option<i64>,
    pub target_pr: Option<u64>,
    pub target_all: Option<bool>,
    pub no_target: bool,
    pub filter: Option<String>,
    pub since: Option<String>,
    pub no_since: bool,
    pub schedule: Option<String>,
    pub schedules: Option<Vec<String>>,
    pub instruction: Option<String>,
    pub workflow: Option<String>,
    pub title: Option<String>,
    pub titles: Option<Vec<String>>,
    pub constraints: Option<Vec<String>>,
    pub deliverables: Option<Vec<String>>,
    pub max_confidence: Option<f32>,
    pub min_confidence: Option<f32>,
}


pub fn checks_of(t: &TaskSpec) -> Vec<String> {
    let mut c: Vec<String> = t.acceptance.iter().filter_map(|c| c.check.clone()).collect();
    c.sort();
    c.dedup();
    c
}

pub fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

pub fn opt_name(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "none".into())
}

fn check(d: &mut Vec<String>, ok: bool, what: String) {
    if !ok {
        d.push(what);
    }
}

/// Every way `got` differs from what `case` expects.
pub fn differences(case: &Case, got: &Intent) -> Vec<String> {
    let mut d = Vec::new();
    check(&mut d, got.intent.as_str() == case.intent, format!("intent {} (want {})", got.intent.as_str(), case.intent));
    if let Some(n) = case.tasks {
        check(&mut d, got.tasks.len() == n, format!("{} tasks (want {n})", got.tasks.len()));
    }
    let t0 = got.tasks.first();
    let q = got.question.clone().or_else(|| got.tasks.iter().find_map(|t| t.readiness.question.clone()));
    if let Some(t) = t0 {
        if let Some(k) = &case.kind {
            check(&mut d, t.kind.as_str() == k, format!("kind {} (want {k})", t.kind.as_str()));
        }
        if let Some(r) = &case.repo {
            check(&mut d, opt_name(&t.repo) == *r, format!("repo {} (want {r})", opt_name(&t.repo)));
        }
        if let Some(a) = &case.agent {
            check(&mut d, opt_name(&t.agent) == *a, format!("agent {} (want {a})", opt_name(&t.agent)));
        }
        if let Some(i) = &case.include {
            check(&mut d, t.scope.include == *i, format!("include {:?} (want {i:?})", t.scope.include));
        }
        if let Some(e) = &case.exclude {
            check(&mut d, t.scope.exclude == *e, format!("exclude {:?} (want {e:?})", t.scope.exclude));
        }
        if let Some(c) = &case.checks {
            check(&mut d, checks_of(t) == *c, format!("checks {:?} (want {c:?})", checks_of(t)));
        }
        if let Some(m) = case.manual {
            let n = t.acceptance.iter().filter(|c| c.check.is_none()).count();
            check(&mut d, n == m, format!("{n} manual criteria (want {m}): {:?}", t.acceptance));
        }
        if let Some(r) = case.ready {
            check(&mut d, t.readiness.ready == r, format!("ready {} (want {r}): {:?}", t.readiness.ready, t.readiness));
        }
        if let Some(s) = &case.schedule {
            let got_s = t.schedule.map(|s| s.to_rfc3339());
            check(&mut d, got_s.as_deref() == Some(s.as_str()), format!("schedule {got_s:?} (want {s})"));
        }
        if let Some(w) = &case.title {
            check(&mut d, contains_ci(&t.title, w), format!("title {:?} (want it to contain {w:?})", t.title));
        }
        for c in case.constraints.iter().flatten() {
            check(&mut d, t.constraints.iter().any(|x| contains_ci(x, c)), format!("constraints {:?} (want {c:?})", t.constraints));
        }
        for c in case.deliverables.iter().flatten() {
            check(&mut d, t.deliverables.iter().any(|x| contains_ci(x, c)), format!("deliverables {:?} (want {c:?})", t.deliverables));
        }
    } else if case.kind.is_some() || case.repo.is_some() || case.checks.is_some() || case.ready.is_some() {
        d.push("no task".into());
    }
    let per_task = |want: &Option<Vec<String>>, f: &dyn Fn(&TaskSpec) -> String, what: &str, d: &mut Vec<String>| {
        if let Some(w) = want {
            let g: Vec<String> = got.tasks.iter().map(f).collect();
            if g != *w {
                d.push(format!("{what} {g:?} (want {w:?})"));
            }
        }
    };
    per_task(&case.kinds, &|t| t.kind.as_str().to_string(), "kinds", &mut d);
    per_task(&case.agents, &|t| opt_name(&t.agent), "agents", &mut d);
    per_task(&case.repos, &|t| opt_name(&t.repo), "repos", &mut d);
    per_task(&case.schedules, &|t| t.schedule.map(|s| s.to_rfc3339()).unwrap_or_default(), "schedules", &mut d);
    if let Some(ws) = &case.titles {
        let ok = ws.len() == got.tasks.len() && ws.iter().zip(&got.tasks).all(|(w, t)| contains_ci(&t.title, w));
        if !ok {
            d.push(format!("titles {:?} (want {ws:?})", got.tasks.iter().map(|t| t.title.clone()).collect::<Vec<_>>()));
        }
    }
    if let Some(c) = &case.all_checks {
        for t in &got.tasks {
            if checks_of(t) != *c {
                d.push(format!("checks of {:?}: {:?} (want {c:?})", t.title, checks_of(t)));
            }
        }
    }
    if let Some(w) = case.question {
        let got_q = got.question.is_some();
        if got_q != w {
            d.push(format!("question {:?} (want one: {w})", got.question));
        }
    }
    for w in case.question_has.iter().flatten() {
        if !q.as_deref().is_some_and(|q| contains_ci(q, w)) {
            d.push(format!("question {q:?} (want it to contain {w:?})"));
        }
    }
    let target = got.target.as_ref();
    if let Some(t) = case.target_task {
        check(&mut d, target.and_then(|x| x.task) == Some(t), format!("target {target:?} (want task {t})"));
    }
    if let Some(p) = case.target_pr {
        check(&mut d, target.and_then(|x| x.pr) == Some(p), format!("target {target:?} (want PR {p})"));
    }
    if let Some(a) = case.target_all {
        check(&mut d, target.is_some_and(|x| x.all) == a, format!("target {target:?} (want all: {a})"));
    }
    if case.no_target {
        check(&mut d, target.is_none(), format!("target {target:?} (want none)"));
    }
    if let Some(f) = &case.filter {
        let g = got.filter.map(|f| serde_json::to_value(f).unwrap().as_str().unwrap().to_string());
        check(&mut d, g.as_deref() == Some(f.as_str()), format!("filter {g:?} (want {f})"));
    }
    if let Some(s) = &case.since {
        let g = got.since.map(|s| s.to_rfc3339());
        check(&mut d, g.as_deref() == Some(s.as_str()), format!("since {g:?} (want {s})"));
    }
    if case.no_since {
        check(&mut d, got.since.is_none(), format!("since {:?} (want none)", got.since));
    }
    if let Some(i) = &case.instruction {
        check(&mut d, got.instruction.as_deref().is_some_and(|x| contains_ci(x, i)), format!("instruction {:?} (want {i:?})", got.instruction));
    }
    if let Some(w) = &case.workflow {
        check(&mut d, got.workflow.as_deref() == Some(w.as_str()), format!("workflow {:?} (want {w})", got.workflow));
    }
    if let Some(m) = case.max_confidence {
        check(&mut d, got.confidence <= m, format!("confidence {} (want at most {m})", got.confidence));
    }
    if let Some(m) = case.min_confidence {
        check(&mut d, got.confidence >= m, format!("confidence {} (want at least {m})", got.confidence));
    }
    d
}

/// How many fields a case checks (its intent always).
pub fn fields(case: &Case) -> usize {
    let c = case;
    1 + [
        c.tasks.is_some(), c.kind.is_some(), c.kinds.is_some(), c.repo.is_some(), c.repos.is_some(), c.agent.is_some(),
        c.agents.is_some(), c.include.is_some(), c.exclude.is_some(), c.checks.is_some(), c.all_checks.is_some(),
        c.manual.is_some(), c.ready.is_some(), c.question.is_some(), c.target_task.is_some(), c.target_pr.is_some(),
        c.target_all.is_some(), c.no_target, c.filter.is_some(), c.since.is_some(), c.no_since, c.schedule.is_some(),
        c.schedules.is_some(), c.instruction.is_some(), c.workflow.is_some(), c.title.is_some(), c.titles.is_some(),
        c.max_confidence.is_some(), c.min_confidence.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count()
        + c.question_has.as_ref().map_or(0, Vec::len)
        + c.constraints.as_ref().map_or(0, Vec::len)
        + c.deliverables.as_ref().map_or(0, Vec::len)
}

/// A split's result: cases fully right, fields right, and each miss described.
pub struct Score {
    pub cases: usize,
    pub cases_right: usize,
    pub fields: usize,
    pub fields_right: usize,
    pub misses: Vec<String>,
}

impl Score {
    pub fn field_accuracy(&self) -> f64 {
        if self.fields == 0 { 1.0 } else { self.fields_right as f64 / self.fields as f64 }
    }
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: {:.1} % of fields right ({} of {}), {} of {} utterances wholly right",
            self.field_accuracy() * 100.0,
            self.fields_right,
            self.fields,
            self.cases_right,
            self.cases
        )
    }
}

/// Parse every case against the corpus world and score it.
pub fn score(world: &briefs::Corpus<Case>, cases: &[Case]) -> Score {
    let mut s = Score { cases: cases.len(), cases_right: 0, fields: 0, fields_right: 0, misses: Vec::new() };
    for case in cases {
        let pending = case.pending.as_ref().map(PendingCase::to_pending);
        let ctx = Context { config: &world.config, tasks: &world.tasks, pending: pending.as_ref(), now: world.now };
        let got = parse(&case.text, &ctx);
        let d = differences(case, &got);
        let n = fields(case);
        s.fields += n;
        s.fields_right += n.saturating_sub(d.len());
        if d.is_empty() {
            s.cases_right += 1;
        } else {
            s.misses.push(format!("{:?}\n    {}\n    got: {}", case.text, d.join("\n    "), serde_json::to_string(&got).unwrap_or_default()));
        }
    }
    s
}

#[derive(Deserialize)]
struct HeldOut {
    case: Vec<Case>,
}

/// The held-out split (`tests/fixtures/briefs_heldout.toml` and `tests/understand/heldout_more.toml`):
/// cases only, read against the corpus's config, tasks and "now".
pub fn held_out() -> Vec<Case> {
    let f: HeldOut = toml::from_str(include_str!("../fixtures/briefs_heldout.toml")).expect("held-out fixture parses");
    let more: HeldOut = toml::from_str(include_str!("heldout_more.toml")).expect("more held-out cases parse");
    f.case.into_iter().chain(more.case).collect()
}

/// The calibration split (`tests/understand/calibration.toml`): with the corpus, what the
/// confidence calibration is fitted on.
pub fn calibration() -> Vec<Case> {
    let f: HeldOut = toml::from_str(include_str!("calibration.toml")).expect("calibration cases parse");
    f.case
}
