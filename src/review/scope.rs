//! The scope guard: which changed files fall outside a task's scope. Pure.
//!
//! Patterns: `components/` (a directory and everything under it), `src/lib.rs`
//! (a file, or a directory of that name), and globs with `*` (within one path
//! segment), `**` (any number of segments) and `?`. A leading `./` or `/` is ignored.
//! An empty include list means "anywhere"; exclude always wins. Matching ignores
//! ASCII case: scopes come from speech, which carries none ("readme.md" is README.md).

use crate::understand::Scope;

/// Paths that break the scope, in the order given.
pub fn violations(scope: &Scope, changed: &[String]) -> Vec<String> {
    changed.iter().filter(|p| !allowed(scope, p)).cloned().collect()
}

pub fn allowed(scope: &Scope, path: &str) -> bool {
    let path = normalize(path);
    let included = scope.include.iter().filter(|p| !normalize(p).is_empty()).count() == 0
        || scope.include.iter().any(|p| matches(p, &path));
    included && !scope.exclude.iter().any(|p| matches(p, &path))
}

fn normalize(p: &str) -> String {
    let p = p.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    p.trim_start_matches('/').to_ascii_lowercase()
}

/// Does `pattern` cover `path`?
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat = normalize(pattern);
    if pat.is_empty() {
        return false;
    }
    let path = normalize(path);
    if pat.contains(['*', '?']) {
        let pat = pat.trim_end_matches('/');
        // A glob covers what it matches and everything under a matched directory.
        let segs: Vec<&str> = path.split('/').collect();
        return (1..=segs.len()).any(|n| glob(pat, &segs[..n].join("/")));
    }
    let dir = pat.trim_end_matches('/');
    path == dir || path.starts_with(&format!("{dir}/"))
}

/// The literal directory (or file) a pattern starts with: `src/**/*.css` → `src`,
/// `components/` → `components`, `*.md` → `` (the whole repo).
fn literal_root(pattern: &str) -> String {
    let p = normalize(pattern);
    match p.find(['*', '?', '[']) {
        Some(i) => p[..i].rsplit_once('/').map(|(dir, _)| dir.to_string()).unwrap_or_default(),
        None => p.trim_end_matches('/').to_string(),
    }
}

/// Where two scopes may touch the same files, if they may: the narrower of two
/// overlapping roots (`components`), or "the whole repo" when either has no include.
/// Conservative: globs under one folder overlap even if their files differ.
pub fn overlap(a: &Scope, b: &Scope) -> Option<String> {
    let roots = |s: &Scope| -> Vec<String> {
        let r: Vec<String> = s.include.iter().filter(|p| !normalize(p).is_empty()).map(|p| literal_root(p)).collect();
        if r.is_empty() || r.iter().any(String::is_empty) { vec![String::new()] } else { r }
    };
    let (ra, rb) = (roots(a), roots(b));
    let under = |inner: &str, outer: &str| outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"));
    for x in &ra {
        for y in &rb {
            let narrower = if under(x, y) {
                x
            } else if under(y, x) {
                y
            } else {
                continue;
            };
            return Some(if narrower.is_empty() { "the whole repo".to_string() } else { narrower.clone() });
        }
    }
    None
}

/// Glob match of a whole path: `**` spans segments, `*` and `?` stay within one.
/// Memoised, so no pattern can take exponential time.
fn glob(pat: &str, path: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = path.chars().collect();
    let mut memo = vec![None; (p.len() + 1) * (s.len() + 1)];
    glob_at(&p, &s, 0, 0, &mut memo)
}

fn glob_at(p: &[char], s: &[char], i: usize, j: usize, memo: &mut Vec<Option<bool>>) -> bool {
    let key = i * (s.len() + 1) + j;
    if let Some(v) = memo[key] {
        return v;
    }
    let v = match p.get(i) {
        None => j == s.len(),
        Some('*') if p.get(i + 1) == Some(&'*') => {
            // `**/` may also match nothing at all.
            let slash = p.get(i + 2) == Some(&'/');
            let after = if slash { i + 3 } else { i + 2 };
            (j..=s.len()).any(|k| (!slash || k == j || s[k - 1] == '/') && glob_at(p, s, after, k, memo))
        }
        Some('*') => {
            let mut k = j;
            loop {
                if glob_at(p, s, i + 1, k, memo) {
                    break true;
                }
                if k >= s.len() || s[k] == '/' {
                    break false;
                }
                k += 1;
            }
        }
        Some('?') => s.get(j).is_some_and(|c| *c != '/') && glob_at(p, s, i + 1, j + 1, memo),
        Some(c) => s.get(j) == Some(c) && glob_at(p, s, i + 1, j + 1, memo),
    };
    memo[key] = Some(v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(include: &[&str], exclude: &[&str]) -> Scope {
        Scope {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn table() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&["components/"], &[], "components/Button.tsx", true),
            (&["components/"], &[], "components", true),
            (&["components/"], &[], "componentsX/a.ts", false),
            (&["components/"], &["app/"], "app/page.tsx", false),
            (&[], &["app/"], "lib/x.ts", true),
            (&[], &["app/"], "app/x.ts", false),
            (&[], &[], "anything/at/all", true),
            (&["./src/"], &[], "src/main.rs", true),
            (&["src/*.rs"], &[], "src/main.rs", true),
            (&["src/*.rs"], &[], "src/a/main.rs", false),
            (&["src/**/*.rs"], &[], "src/a/b/main.rs", true),
            (&["src/**/*.rs"], &[], "src/main.rs", true),
            (&["**/*.css"], &[], "deep/in/here.css", true),
            (&["**/*.css"], &[], "x.css", true),
            (&["**/x"], &[], "ax", false),
            (&["docs/"], &["docs/private/"], "docs/private/a.md", false),
            (&["README.md"], &[], "README.md", true),
            (&["README.md"], &[], "README.md.bak", false),
            (&["readme.md"], &[], "README.md", true),
            (&["Components/"], &[], "components/x", true),
            (&["comp?nents/"], &[], "components/a", true),
            (&["components/*"], &[], "components/deep/a.tsx", true),
            (&[""], &[], "x", true),
        ];
        for (inc, exc, path, want) in cases {
            assert_eq!(allowed(&scope(inc, exc), path), *want, "include {inc:?} exclude {exc:?} path {path}");
        }
    }

    #[test]
    fn violations_list_paths_in_order() {
        let s = scope(&["components/"], &["app/"]);
        let changed = vec!["components/a".to_string(), "app/page.tsx".to_string(), "README.md".to_string()];
        assert_eq!(violations(&s, &changed), ["app/page.tsx", "README.md"]);
    }

    #[test]
    fn pathological_globs_terminate() {
        assert!(!matches("**/**/**/**/**/x", &"a/".repeat(12)));
        assert!(!matches("*a*a*a*a*a*b", &"a".repeat(30)));
    }

    #[test]
    fn overlap_table() {
        let sc = |inc: &[&str]| Scope { include: inc.iter().map(|s| s.to_string()).collect(), exclude: vec![] };
        let cases: &[(&[&str], &[&str], Option<&str>)] = &[
            (&["components/"], &["components/button.js"], Some("components/button.js")),
            (&["components/"], &["app/"], None),
            (&["components/"], &[], Some("components")),
            (&[], &[], Some("the whole repo")),
            (&["src/**/*.css"], &["src/app/main.rs"], Some("src/app/main.rs")),
            (&["src/**/*.css"], &["docs/"], None),
            (&["*.md"], &["docs/"], Some("docs")),
            (&["Components/"], &["components/ui/"], Some("components/ui")),
            (&["app/"], &["application/"], None),
            (&["docs/", "app/"], &["lib/", "app/routes/"], Some("app/routes")),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlap(&sc(a), &sc(b)).as_deref(), *want, "{a:?} vs {b:?}");
            assert_eq!(overlap(&sc(b), &sc(a)).as_deref(), *want, "symmetric: {b:?} vs {a:?}");
        }
    }
}
