//! "That's two tasks": a brief read as one task, planned again as two.
//!
//! The user heard the read-back of one task and says it was two. The brief's words are cut
//! once, at the first "and then", "then", "and also", "and", semicolon or comma that stands
//! between two orders (the words after it open an order: a task verb before its object, or
//! an agent assignment), and each half is read as a brief of its own. A repo or agent named
//! in one half only is the other's too ("on the api fix the login and add a logout button":
//! both on the api), and so are criteria said at the end ("…, tests must pass").

use super::brief::{self, Shared};
use super::{Context, Names, TaskSpec, intents, normalize, readiness};

/// Where a brief may be cut, most telling first.
const CUTS: &[&str] = &[", and then ", " and then ", "; then ", ", then ", " then ", ", and also ", " and also ", "; ", ", and ", " and ", ", "];

/// The brief's two tasks, or `None` when no cut stands between two orders. A brief that
/// already reads as several tasks is returned as it reads.
pub fn split_in_two(text: &str, ctx: &Context) -> Option<Vec<TaskSpec>> {
    let names = Names::from_config(ctx.config);
    let whole = super::parse(text, ctx);
    if whole.tasks.len() > 1 {
        return Some(whole.tasks);
    }
    let (left, right) = cut(text, &names)?;
    let mut first = one_task(left, ctx, &names)?;
    let mut second = one_task(right, ctx, &names)?;
    let (l, r) = (left.to_lowercase(), right.to_lowercase());
    // What one half names and the other does not, the other shares; but a place said at
    // the start of the second half ("…, then on the backend add …") is its own.
    let r_polite = brief::strip_polite(r.trim());
    let r_local = brief::strip_lead_ins(r_polite, &names) != r_polite;
    if brief::repo_in(&r, &names).is_none() && brief::repo_in(&l, &names).is_some() {
        second.repo.clone_from(&first.repo);
    } else if brief::repo_in(&l, &names).is_none() && brief::repo_in(&r, &names).is_some() && !r_local {
        first.repo.clone_from(&second.repo);
    }
    if second.agent.is_none() {
        second.agent.clone_from(&first.agent);
    } else if first.agent.is_none() {
        first.agent.clone_from(&second.agent);
    }
    // "…, tests must pass" at the end is said of both.
    if first.acceptance.is_empty() {
        first.acceptance.clone_from(&second.acceptance);
    } else if second.acceptance.is_empty() {
        second.acceptance.clone_from(&first.acceptance);
    }
    for t in [&mut first, &mut second] {
        t.readiness = readiness::assess(t, ctx, &names);
    }
    Some(vec![first, second])
}

/// The first cut (in the order of [`CUTS`]) with an order on each side.
fn cut<'a>(text: &'a str, names: &Names) -> Option<(&'a str, &'a str)> {
    let lower = text.to_lowercase();
    // Lowercasing keeps byte offsets only for ASCII; other text is cut nowhere rather than wrongly.
    if lower.len() != text.len() {
        return None;
    }
    for marker in CUTS {
        for (at, _) in lower.match_indices(marker) {
            let (left, right) = (&text[..at], &text[at + marker.len()..]);
            let r = right.trim().to_lowercase();
            let r = brief::strip_lead_ins(brief::strip_polite(&r), names);
            let l = left.trim().to_lowercase();
            let l = brief::strip_lead_ins(brief::strip_polite(&l), names);
            let ordered = |s: &str| brief::order_start(s, names) || s.split(' ').next().is_some_and(brief::is_task_verb) && s.split(' ').count() >= 2;
            let left_order = ordered(l) || l.split(' ').any(brief::is_task_verb) && l.split(' ').count() >= 3;
            if left_order && ordered(r) {
                return Some((left.trim().trim_end_matches([',', ';']), right.trim()));
            }
        }
    }
    None
}

/// One half as a task of its own; its brief is the half as said.
fn one_task(text: &str, ctx: &Context, names: &Names) -> Option<TaskSpec> {
    let norm = normalize::normalize(text, &names.vocab);
    let mut tasks = intents::tasks_of(norm.text.trim(), ctx, names);
    if tasks.is_empty() {
        let t = brief::task_as_said(norm.text.trim(), &Shared::default(), ctx, names);
        tasks.push((t, brief::TaskWhy::default()));
    }
    let (mut t, _) = tasks.swap_remove(0);
    t.brief = text.trim().to_string();
    (!t.title.trim().is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> crate::config::Config {
        crate::config::from_str(
            "[[repos]]\nname = \"site\"\npath = \"/tmp/site\"\n\n[[repos]]\nname = \"api\"\npath = \"/tmp/api\"\naliases = [\"backend\"]\n\n[dispatch]\ndefault_repo = \"site\"\n\n[agents.jules]\nkind = \"jules\"\n",
            "split test",
        )
        .expect("config")
        .0
    }

    /// (brief, the two titles' key words, repo of each, agent of each); `None`: no split.
    #[test]
    fn a_brief_cut_in_two() {
        let cfg = config();
        let cx = Context { config: &cfg, tasks: &[], pending: None, now: chrono::Local::now().fixed_offset() };
        type Want = Option<[(&'static str, &'static str, Option<&'static str>); 2]>;
        let cases: &[(&str, Want)] = &[
            ("fix the login redirect and add a logout button", Some([("login", "site", None), ("logout", "site", None)])),
            ("on the api fix the rate limiter then update the docs for it", Some([("rate limiter", "api", None), ("docs", "api", None)])),
            ("have jules bump the eslint config and remove the old polyfills", Some([("eslint", "site", Some("jules")), ("polyfills", "site", Some("jules"))])),
            ("update the pricing table; refresh the snapshots", Some([("pricing", "site", None), ("snapshots", "site", None)])),
            ("clean up the footer links, rename the header component", Some([("footer", "site", None), ("header", "site", None)])),
            ("fix the login redirect, then on the backend add a health check", Some([("login", "site", None), ("health check", "api", None)])),
            ("fix the login redirect and add a health check on the backend", Some([("login", "api", None), ("health check", "api", None)])),
            ("have jules fix the login redirect and add a logout button, tests must pass", Some([("login", "site", Some("jules")), ("logout", "site", Some("jules"))])),
            // Nothing to cut between two orders.
            ("fix the bug where the cart and the wishlist both show the same item", None),
            ("add a dark mode toggle", None),
            ("make the header sticky and blue", None),
        ];
        for (text, want) in cases {
            let got = split_in_two(text, &cx);
            match (want, got) {
                (None, None) => {}
                (None, Some(t)) => panic!("{text:?}: cut where it should not be: {:?}", t.iter().map(|t| &t.title).collect::<Vec<_>>()),
                (Some(_), None) => panic!("{text:?}: not cut"),
                (Some(w), Some(t)) => {
                    assert_eq!(t.len(), 2, "{text:?}: {t:?}");
                    for (i, (key, repo, agent)) in w.iter().enumerate() {
                        assert!(t[i].title.to_lowercase().contains(key), "{text:?} task {i}: title {:?} lacks {key:?}", t[i].title);
                        assert_eq!(t[i].repo.as_deref(), Some(*repo), "{text:?} task {i} repo");
                        assert_eq!(t[i].agent.as_deref(), *agent, "{text:?} task {i} agent");
                        assert!(!t[i].brief.is_empty());
                        if text.contains("tests must pass") {
                            assert!(!t[i].acceptance.is_empty() && t[i].readiness.ready, "{text:?} task {i}: criteria shared: {:?}", t[i]);
                        }
                    }
                }
            }
        }
    }
}
