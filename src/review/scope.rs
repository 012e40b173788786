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
    let guard = Guard::new(scope);
    changed.iter().filter(|p| !guard.allows(p)).cloned().collect()
}

pub fn allowed(scope: &Scope, path: &str) -> bool {
    Guard::new(scope).allows(path)
}

/// A scope made ready to match many paths: each pattern compiled once.
struct Guard {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Guard {
    fn new(scope: &Scope) -> Guard {
        let compile = |ps: &[String]| ps.iter().filter_map(|p| Pattern::new(p)).collect::<Vec<_>>();
        Guard { include: compile(&scope.include), exclude: compile(&scope.exclude) }
    }

    fn allows(&self, path: &str) -> bool {
        let path = normalize(path);
        let included = self.include.is_empty() || self.include.iter().any(|p| p.covers(&path));
        included && !self.exclude.iter().any(|p| p.covers(&path))
    }
}

/// One scope pattern: a directory or file, or a glob (`globset`, with `*` and `?` kept
/// inside one path segment and `**` spanning segments).
enum Pattern {
    Literal(String),
    Glob(globset::GlobMatcher),
    /// A glob globset cannot read: it covers nothing (said in the log).
    Nothing,
}

impl Pattern {
    /// `None` for an empty pattern (it says nothing).
    fn new(pattern: &str) -> Option<Pattern> {
        let pat = normalize(pattern);
        if pat.is_empty() {
            return None;
        }
        if !pat.contains(['*', '?']) {
            return Some(Pattern::Literal(pat.trim_end_matches('/').to_string()));
        }
        // Only `*`, `**` and `?` are special: brackets and braces are path characters
        // (`app/[id]/*.tsx`), and so is a backslash.
        let mut glob = String::with_capacity(pat.len());
        for c in pat.trim_end_matches('/').chars() {
            match c {
                '[' | ']' | '{' | '}' => {
                    glob.push('[');
                    glob.push(c);
                    glob.push(']');
                }
                c => glob.push(c),
            }
        }
        match globset::GlobBuilder::new(&glob).literal_separator(true).backslash_escape(false).build() {
            Ok(g) => Some(Pattern::Glob(g.compile_matcher())),
            Err(e) => {
                tracing::warn!(pattern, error = %e, "a scope glob that cannot be read covers no file");
                Some(Pattern::Nothing)
            }
        }
    }

    /// Does it cover `path` (normalized)? A glob covers what it matches and everything
    /// under a matched directory; a literal covers itself and everything under it.
    fn covers(&self, path: &str) -> bool {
        match self {
            Pattern::Literal(dir) => path == dir || path.strip_prefix(dir.as_str()).is_some_and(|rest| rest.starts_with('/')),
            Pattern::Glob(g) => {
                let mut end = 0;
                loop {
                    let next = path[end..].find('/').map(|i| end + i);
                    let prefix = &path[..next.unwrap_or(path.len())];
                    if g.is_match(prefix) {
                        return true;
                    }
                    match next {
                        Some(i) => end = i + 1,
                        None => return false,
                    }
                }
            }
            Pattern::Nothing => false,
        }
    }
}

fn normalize(p: &str) -> String {
    let p = p.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    p.trim_start_matches('/').to_ascii_lowercase()
}

/// Does `pattern` cover `path`?
pub fn matches(pattern: &str, path: &str) -> bool {
    Pattern::new(pattern).is_some_and(|p| p.covers(&normalize(path)))
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
            // Brackets and braces are path characters (Next.js routes), even in a glob.
            (&["app/[id]/"], &[], "app/[id]/page.tsx", true),
            (&["app/[id]/*.tsx"], &[], "app/[id]/page.tsx", true),
            (&["app/[id]/*.tsx"], &[], "app/i/page.tsx", false),
            (&["src/{a,b}/*"], &[], "src/{a,b}/x", true),
            (&["src/{a,b}/*"], &[], "src/a/x", false),
            // `?` and `*` never cross a slash; `**` does.
            (&["src?x"], &[], "src/x", false),
            (&["src*"], &[], "src/x", true),
            (&["*.md"], &[], "docs/a.md", false),
            (&["**/*.md"], &[], "docs/deep/a.md", true),
            (&["docs/**"], &[], "docs/deep/a.md", true),
            (&["**"], &["*.lock"], "Cargo.lock", false),
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
