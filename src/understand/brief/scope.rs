//! Scope: the repo paths a brief names to touch or to leave alone, and paths outside any repo.

use super::*;

/// System folders: an absolute path under one of them is outside any repo.
pub(crate) const SYSTEM_ROOTS: &[&str] = &["etc", "usr", "var", "root", "tmp", "opt", "bin", "sbin", "dev", "proc", "sys", "boot", "mnt", "srv"];
/// Folders that are outside any repo only with more path after them ("/home/me/.ssh"; "/home" may be a route).
pub(crate) const HOME_ROOTS: &[&str] = &["home", "users", "volumes", "private"];

/// A word that names a path outside the repo: a parent reference ("../../etc"), a home path
/// ("~/.ssh"), a drive ("c:/"), or an absolute path under a system folder or under no
/// configured repo ("/etc/nginx").
pub fn outside_path(word: &str, names: &Names) -> bool {
    let w = word.trim_matches(|c: char| "\"'(),;:!?".contains(c));
    let w = w.trim_end_matches('.');
    if w.is_empty() {
        return false;
    }
    if w.split(['/', '\\']).any(|c| c == "..") || w.starts_with('~') || re!(r"^[a-z]:[/\\]").is_match(w) {
        return true;
    }
    if let Some(rest) = w.strip_prefix('/') {
        if names.repo_paths.iter().any(|p| in_repo_path(w, p).is_some()) {
            return false;
        }
        let first = rest.split('/').next().unwrap_or("");
        let nested = rest.trim_end_matches('/').contains('/');
        return SYSTEM_ROOTS.contains(&first) || (nested && HOME_ROOTS.contains(&first));
    }
    false
}

/// `path` relative to a repo at `root`, when it lies inside it.
pub(crate) fn in_repo_path<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() || rest.starts_with('/') { Some(rest.trim_start_matches('/')) } else { None }
}

/// Scope words of a task text that name no place inside the repo.
pub fn unplaced_scope(lower: &str, names: &Names) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in lower.split_whitespace() {
        // URLs are links, not scope.
        if w.contains("://") {
            continue;
        }
        let t = w.trim_end_matches([',', ';', ':', '!', '?', ')', '"']).trim_end_matches('.');
        if outside_path(t, names) && !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    }
    out
}

/// Scope from the whole task text: include/exclude paths.
pub fn scope(lower: &str, names: &Names) -> Scope {
    let mut s = Scope::default();
    let excl: [&crate::understand::pattern::Re; 6] = [
        re!(r"\b(?:leave|keep) (?:the |any |all |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+) (?:untouched|alone|as is|as-is|unchanged|intact|out of it|out of this)\b"),
        re!(r"\b(?:don't|do not|dont|never|without|no) (?:touch(?:ing)?|modify(?:ing)?|chang(?:e|ing)|edit(?:ing)?|alter(?:ing)?|mess(?:ing)? with|chang(?:e|es) to|changes (?:in|to)|go (?:into|near)|update|updating|rewrite|break|breaking) (?:anything (?:in|under|inside) |any of |any |the |our |files in )*((?:[a-z0-9_./*@-]+ ){0,3}[a-z0-9_./*@-]+)"),
        re!(r"\b(?:stay|keep) (?:out of|away from) (?:the |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+)"),
        re!(r"\b(?:except(?: for)?|excluding|but not|other than|apart from|outside of) (?:the |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+)"),
        re!(r"\b(?:the )?((?:[a-z0-9_./*@-]+ ){0,2}?[a-z0-9_./*@-]+) (?:is|are) off[- ]limits\b"),
        re!(r"\bhands off (?:the )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+)"),
    ];
    let mut excluded_spans: Vec<std::ops::Range<usize>> = Vec::new();
    for r in excl {
        for c in r.captures_iter(lower) {
            let Some(m) = c.get(1) else { continue };
            let (phrase, end) = with_list(lower, m.range(), names);
            for p in to_paths(&phrase, names, true) {
                if !s.exclude.contains(&p) {
                    s.exclude.push(p);
                }
            }
            let whole = c.get(0).map(|m| m.range()).unwrap_or(m.range());
            excluded_spans.push(whole.start..end.max(whole.end));
        }
    }
    let incl: [&crate::understand::pattern::Re; 6] = [
        re!(r"\b(?:in|inside|within|under|to|of|across) (?:the |our |a )?((?:[a-z0-9_./*@-]+ ){0,2}?[a-z0-9_./*@-]+) (?:directory|directories|folders?|dirs?|package|subtree|tree|subdirectory|subfolder|module)\b"),
        re!(r"\b(?:only|just) (?:in|inside|within|under|touch|change|modify|edit|the) (?:the |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+)"),
        re!(r"\b(?:confined|limited|restricted|scoped|constrained|restrict|limit|scope|confine|keep)(?: it| this| them| changes| the changes| everything| the fix| your changes)? (?:to|within|inside) (?:the |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+)"),
        re!(r"\b(?:in|inside|within|under) (?:the |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+) only\b"),
        re!(r"\b(?:target(?:ing)?|touch(?:ing)?) only (?:the |our )?((?:[a-z0-9_./*@-]+ ){0,3}?[a-z0-9_./*@-]+)"),
        re!(r"\b(?:in|inside|within|under) (?:the )?(/?[a-z0-9_.@-]+/[a-z0-9_./*@-]*|/[a-z0-9_.@*-]+)"),
    ];
    for r in incl {
        for c in r.captures_iter(lower) {
            let Some(m) = c.get(1) else { continue };
            if excluded_spans.iter().any(|sp| sp.contains(&m.start())) {
                continue;
            }
            let (phrase, _) = with_list(lower, m.range(), names);
            for p in to_paths(&phrase, names, false) {
                if !s.include.contains(&p) && !s.exclude.contains(&p) {
                    s.include.push(p);
                }
            }
        }
    }
    s
}

/// Folder words: "the components and stories directories".
pub(crate) const DIR_WORDS: &[&str] = &["directory", "directories", "folder", "folders", "dir", "dirs", "subfolder", "subfolders", "subdirectory", "subdirectories", "packages", "modules"];

/// A scope phrase with the list it heads: "components" in "the components and stories
/// directories" becomes "components and stories directories". Returns the phrase and where
/// it ends in `lower`.
pub(crate) fn with_list(lower: &str, range: std::ops::Range<usize>, names: &Names) -> (String, usize) {
    let mut phrase = lower[range.clone()].to_string();
    let mut end = range.end;
    // A folder word right after the phrase belongs to it.
    if let Some(c) = re!(r"^ ([a-z]+)\b").captures(&lower[end..])
        && DIR_WORDS.contains(&&c[1])
        && !phrase.split(' ').any(|w| DIR_WORDS.contains(&w))
    {
        phrase.push_str(&c[0]);
        end += c[0].len();
    }
    for _ in 0..6 {
        let Some(c) = re!(r"^(?:,\s*(?:and |or |& )?|\s+(?:and|or|&)\s+)(?:the |our |all )?([a-z0-9_./*@-]+)((?: [a-z]+)?)").captures(&lower[end..]) else { break };
        let w = &c[1];
        if is_task_verb(w) || NOT_PATH.contains(&w) || is_phrase_end(w) || names.repo_word(w).is_some() || names.agent_word(w).is_some() {
            break;
        }
        let tail = c[2].trim();
        let take = if DIR_WORDS.contains(&tail) { c[0].len() } else { c[0].len() - c[2].len() };
        phrase.push_str(" and ");
        phrase.push_str(w);
        if DIR_WORDS.contains(&tail) {
            phrase.push(' ');
            phrase.push_str(tail);
        }
        end += take;
    }
    (phrase, end)
}

/// Paths from a phrase that may list several: "components and stories directories" →
/// "components/", "stories/"; a folder word at the end applies to every item.
pub(crate) fn to_paths(phrase: &str, names: &Names, exclude: bool) -> Vec<String> {
    // A folder word ends the phrase ("the tests folder type check …").
    let mut cut = phrase.to_string();
    // A verdict run on after it ends it too ("the migrations tests green …").
    if let Some(m) = verdict_re().find(&cut).filter(|m| m.start() > 0) {
        cut.truncate(m.start());
    }
    if let Some(p) = cut.split(' ').position(|w| DIR_WORDS.contains(&w.trim_end_matches([',', '.', ';', ':']))) {
        cut = cut.split(' ').take(p + 1).collect::<Vec<_>>().join(" ");
    }
    let parts: Vec<&str> = re!(r"\s*(?:,|\band\b|\bor\b|&)\s*").split(&cut).map(str::trim).filter(|p| !p.is_empty()).collect();
    if parts.len() < 2 {
        return to_path(&cut, names, exclude).into_iter().collect();
    }
    let tail = parts.last().and_then(|p| p.rsplit(' ').next()).filter(|w| DIR_WORDS.contains(w)).map(|w| w.to_string());
    let mut out: Vec<String> = Vec::new();
    for (k, part) in parts.iter().enumerate() {
        let with_tail = match &tail {
            Some(t) if k + 1 < parts.len() && !part.split(' ').any(|w| DIR_WORDS.contains(&w)) => format!("{part} {t}"),
            _ => part.to_string(),
        };
        if let Some(p) = to_path(&with_tail, names, exclude)
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    if out.is_empty() {
        return to_path(&cut, names, exclude).into_iter().collect();
    }
    out
}

pub(crate) const GENERIC_TAIL: &[&str] = &[
    "directory", "directories", "folder", "folders", "dir", "dirs", "routes", "route", "files", "file", "code",
    "module", "modules", "package", "packages", "tree", "subtree", "stuff", "area", "logic", "layer", "pages",
    "subdirectory", "subfolder", "only", "please", "untouched", "alone", "directories", "subfolders",
    "subdirectories",
];
pub(crate) const NOT_PATH: &[&str] = &[
    "it", "them", "that", "this", "those", "these", "everything", "anything", "something", "nothing", "code",
    "codebase", "project", "repo", "repository", "app", "the", "a", "an", "and", "or", "but", "so", "to", "of",
    "is", "are", "be", "any", "all", "other", "rest", "existing", "current", "same", "way", "behavior",
    "behaviour", "api", "tests", "test", "build", "lint", "public", "interface", "scope", "global", "changes",
    "change", "things", "logic", "stuff", "files", "file", "versions", "version", "dependencies", "deps", "yet",
    "order", "place", "mind", "track", "sure", "time", "lockfile", "ui", "design", "typography", "tokens",
];

/// Words that are a folder only with a folder word after them ("app routes", "api folder").
pub(crate) const BARE_ONLY: &[&str] = &["app", "api", "public", "ui", "design", "tests", "test", "build", "scripts", "config"];

/// A repo path from a spoken phrase: "the components directory" → "components/",
/// "app routes" → "app/", "/demos/*" → "demos/", "src/lib.rs" stays a file.
pub fn to_path(phrase: &str, names: &Names, _exclude: bool) -> Option<String> {
    // The phrase ends at the first punctuation mark.
    let mut upto = Vec::new();
    for w in phrase.split_whitespace() {
        let t = w.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        upto.push(t);
        if t.len() != w.len() && !w.ends_with("/*") {
            break;
        }
    }
    let mut ws: Vec<&str> = upto
        .into_iter()
        .filter(|w| !matches!(*w, "the" | "a" | "an" | "our" | "my" | "any" | "all" | "of"))
        .collect();
    // Stop at words that end a noun phrase.
    if let Some(p) = ws.iter().position(|w| matches!(*w, "and" | "or" | "but" | "so" | "to" | "for" | "because" | "while" | "with" | "is" | "are" | "when" | "if" | "as" | "in" | "on" | "at" | "that" | "which" | "unless" | "either" | "too" | "either." | "then")) {
        ws.truncate(p);
    }
    if let Some(w) = ws.iter().find(|w| w.contains('/')) {
        if outside_path(w, names) {
            return None;
        }
        let w = names.repo_paths.iter().find_map(|root| in_repo_path(w, root)).unwrap_or(w);
        let mut p = w.trim_start_matches('/').trim_end_matches('*').trim_end_matches('.').to_string();
        if p.is_empty() {
            return None;
        }
        let last = p.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if !p.ends_with('/') && !last.contains('.') {
            p.push('/');
        }
        return Some(p);
    }
    if let Some(w) = ws.iter().find(|w| re!(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.(?:rs|ts|tsx|js|jsx|mjs|css|scss|md|json|toml|ya?ml|py|go|html|rb|java|kt|swift|sql|sh|lock)$").is_match(w)) {
        return Some(w.to_string());
    }
    let had_dir_word = ws.iter().any(|w| matches!(*w, "directory" | "folder" | "dir" | "dirs" | "directories" | "folders" | "subfolder" | "subdirectory"));
    let mut had_tail = false;
    while ws.len() > 1 && GENERIC_TAIL.contains(ws.last().unwrap_or(&"")) {
        ws.pop();
        had_tail = true;
    }
    if ws.is_empty() || ws.len() > 2 {
        return None;
    }
    // "app routes" names a folder; "the app" alone is the whole application.
    if ws.iter().any(|w| (NOT_PATH.contains(w) && !(had_tail && BARE_ONLY.contains(w))) || names.repo_word(w).is_some() || names.agent_word(w).is_some()) {
        return None;
    }
    if ws.iter().any(|w| is_task_verb(w) && !had_dir_word) {
        return None;
    }
    if ws.len() == 2 && !had_dir_word {
        return None;
    }
    if ws.iter().any(|w| !w.chars().all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c))) {
        return None;
    }
    Some(format!("{}/", ws.join("-")))
}
