use super::*;
use crate::config::{Agent, Route};
use crate::understand::{Readiness, TaskKind};

fn config() -> Config {
    let mut c = Config::default();
    c.agents.insert("claude".into(), Agent { preset: "claude".into(), ..Agent::default() });
    c.agents.insert("aider".into(), Agent { preset: "aider".into(), ..Agent::default() });
    c.agents.insert("jules".into(), Agent { kind: "jules".into(), ..Agent::default() });
    c.routes.push(Route { kind: "docs".into(), agent: "aider".into() });
    c.repos.push(Repo { name: "site".into(), path: "/tmp/site".into(), aliases: vec!["website".into()], ..Repo::default() });
    c
}

#[test]
fn routing_prefers_the_brief_then_routes_then_the_default() {
    let c = config();
    let mut s = TaskSpec { kind: TaskKind::Docs, ..TaskSpec::default() };
    assert_eq!(route(&s, &c), Routed { agent: "aider".into(), why: "the route for docs tasks".into() });
    s.agent = Some("codex".into());
    assert_eq!(route(&s, &c).agent, "codex");
    assert_eq!(route(&s, &c).why, "you asked for codex");
    let other = TaskSpec { kind: TaskKind::Css, ..TaskSpec::default() };
    assert_eq!(route(&other, &c), Routed { agent: "claude".into(), why: "the default agent".into() });
}

#[test]
fn planning_holds_what_is_not_ready_or_cannot_be_placed() {
    let c = config();
    let agents = Agents::from_config(&c, None);
    let now = Utc::now();
    let ok = TaskSpec { title: "t".into(), ..TaskSpec::default() };
    assert_eq!(plan(&ok, &c, &agents, now).state, TaskState::Queued);

    let vague = TaskSpec {
        readiness: Readiness { ready: false, score: 0.2, problems: vec!["no scope".into()], question: Some("Which files?".into()) },
        ..ok.clone()
    };
    let p = plan(&vague, &c, &agents, now);
    assert_eq!((p.state, p.reason.as_deref()), (TaskState::Held, Some("Which files?")));

    let remote = TaskSpec { agent: Some("jules".into()), ..ok.clone() };
    assert_eq!(plan(&remote, &c, &agents, now).state, TaskState::Queued);
    let odd = TaskSpec { agent: Some("odd".into()), ..ok.clone() };
    let mut c2 = c.clone();
    c2.agents.insert("odd".into(), Agent { kind: "carrier-pigeon".into(), ..Agent::default() });
    let p = plan(&odd, &c2, &Agents::from_config(&c2, None), now);
    assert_eq!(p.state, TaskState::Held);
    assert!(p.reason.unwrap().contains("unknown kind"));

    let unknown_repo = TaskSpec { repo: Some("api".into()), ..ok.clone() };
    assert!(plan(&unknown_repo, &c, &agents, now).reason.unwrap().contains("Which repo is `api`"));
    let alias = TaskSpec { repo: Some("website".into()), ..ok.clone() };
    assert_eq!(plan(&alias, &c, &agents, now).repo.as_deref(), Some("site"));

    let later = TaskSpec { schedule: Some((now + chrono::Duration::hours(2)).fixed_offset()), ..ok.clone() };
    let p = plan(&later, &c, &agents, now);
    assert_eq!(p.state, TaskState::Scheduled);
    assert!(p.at.is_some());
    let past = TaskSpec { schedule: Some((now - chrono::Duration::hours(2)).fixed_offset()), ..ok };
    assert_eq!(plan(&past, &c, &agents, now).state, TaskState::Queued);
}

#[test]
fn unconfigured_preset_names_are_available() {
    let agents = Agents::from_config(&Config::default(), None);
    assert_eq!(agents.get("claude").unwrap().name(), "claude");
    assert!(agents.get("nobody").is_err());
}
