use super::*;
use crate::config::Config;

fn names() -> Names {
    let mut c = Config::default();
    for a in ["copilot", "jules", "cursor", "claude"] {
        c.agents.insert(a.into(), Default::default());
    }
    c.repos.push(crate::config::Repo { name: "site".into(), aliases: vec!["website".into()], ..Default::default() });
    c.repos.push(crate::config::Repo { name: "api".into(), aliases: vec!["backend".into()], ..Default::default() });
    Names::from_config(&c)
}

#[test]
fn scope_table() {
    let n = names();
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("fix breaking changes in the components directory only, leave app routes untouched", &["components/"], &["app/"]),
        ("add scoping so changes stay confined to /demos", &["demos/"], &[]),
        ("don't touch the migrations", &[], &["migrations/"]),
        ("fix breaking changes in the hooks directory", &["hooks/"], &[]),
        ("target only the /demos/* routes", &["demos/"], &[]),
        ("update the footer links to match the new sitemap", &[], &[]),
        ("keep the existing typography tokens", &[], &[]),
        ("only touch src/lib.rs", &["src/lib.rs"], &[]),
    ];
    for (text, inc, exc) in cases {
        let s = scope(text, &n);
        assert_eq!(s.include, inc.iter().map(|x| x.to_string()).collect::<Vec<_>>(), "{text}");
        assert_eq!(s.exclude, exc.iter().map(|x| x.to_string()).collect::<Vec<_>>(), "{text}");
    }
}

#[test]
fn checks_table() {
    let n = names();
    let cases: &[(&str, &[&str])] = &[
        ("build passes", &["build"]),
        ("component tests green", &["test"]),
        ("all data-fetching tests pass", &["test"]),
        ("type check passes", &["typecheck"]),
        ("lint clean", &["lint"]),
        ("visual regression check on the design system page", &[]),
        ("check the demos page to verify", &[]),
    ];
    for (text, want) in cases {
        assert_eq!(checks_for(text, &n), want.iter().map(|x| x.to_string()).collect::<Vec<_>>(), "{text}");
    }
}

#[test]
fn kind_table() {
    let cases = [
        ("bump all tailwind packages to the latest stable version. fix breaking changes in the components directory only", TaskKind::DependencyUpgrade),
        ("all css in the /demos directory is leaking to global scope. add scoping so changes stay confined", TaskKind::Css),
        ("the hero section on /ml-tools needs 4 headline variants focused on learning", TaskKind::Copy),
        ("a security audit of the api routes", TaskKind::Audit),
        ("fix the login redirect loop", TaskKind::BugFix),
        ("add optimistic updates to the todo list", TaskKind::Feature),
        ("update the readme with setup steps", TaskKind::Docs),
        ("memoize the data table component", TaskKind::Refactor),
        ("fix the flaky checkout test", TaskKind::Test),
        ("add a github actions workflow that caches node modules", TaskKind::Infra),
        ("patch the xss hole in the comment form", TaskKind::Security),
    ];
    for (text, want) in cases {
        let (first, rest) = text.split_once(". ").unwrap_or((text, ""));
        assert_eq!(kind(first, rest, text), want, "{text}");
    }
}

#[test]
fn title_table() {
    let n = names();
    let cases = [
        ("have Jules bump the API dependencies", "Bump the API dependencies"),
        ("use Copilot to fix the flaky test", "Fix the flaky test"),
        ("an upgrade to Next.js 15", "Upgrade to Next.js 15"),
        ("The hero section on /ml-tools needs 4 headline variants", "Write 4 headline variants for the hero section on /ml-tools"),
        ("All CSS in the /demos directory is leaking to global scope", "Fix all CSS in the /demos directory leaking to global scope"),
        ("I need the pricing page to show annual prices", "Make the pricing page show annual prices"),
        ("can you please update the footer links", "Update the footer links"),
        ("queue a security review of the auth flow", "Security review of the auth flow"),
        ("the checkout page crashes when the cart is empty", "Fix the checkout page crashing when the cart is empty"),
    ];
    for (body, want) in cases {
        let first = body.to_ascii_lowercase();
        let k = kind(&first, "", &first);
        assert_eq!(title(&[body.to_string()], k, &n), want, "{body}");
    }
}

#[test]
fn list_items_table() {
    let cases: &[(&str, &[&str])] = &[
        ("an upgrade to Next.js 15, a security audit of the API routes, and a visual refresh of the hero", &["an upgrade to Next.js 15", "a security audit of the API routes", "a visual refresh of the hero"]),
        ("an upgrade to Next.js 15 a security audit of the API routes and a visual refresh of the hero", &["an upgrade to Next.js 15", "a security audit of the API routes", "visual refresh of the hero"]),
        ("bump lodash, fix the typo on the about page", &["bump lodash", "fix the typo on the about page"]),
    ];
    for (body, want) in cases {
        assert_eq!(list_items(body), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{body}");
    }
}

#[test]
fn path_table() {
    let n = names();
    let cases = [
        ("the components directory", false, Some("components/")),
        ("app routes", true, Some("app/")),
        ("/demos/*", false, Some("demos/")),
        ("the migrations", true, Some("migrations/")),
        ("it", true, None),
        ("the website", false, None),
    ];
    for (p, excl, want) in cases {
        assert_eq!(to_path(p, &n, excl).as_deref(), want, "{p}");
    }
}
