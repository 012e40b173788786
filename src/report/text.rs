//! Text made fit for the ear: free text cleaned for speech, paths grouped
//! into "three files in components", and sentence splitting for streaming.
//!
//! Pure. Free text (titles, agent summaries, progress lines, commit messages)
//! comes from agents and users; it may hold paths, URLs, Markdown and PR
//! numbers, none of which should be read out character by character.

use super::words;

/// Clean free text for speech:
/// - URLs become "a link";
/// - a token with a `/` (a path, a branch) is said as its last part, without a file extension;
/// - "PR #41", "PR 41" and "#41" become "pull request forty-one" / "number forty-one";
/// - Markdown marks (backticks, emphasis, headings, bullets) are dropped;
/// - `_` and `-` joining words become spaces; runs of whitespace collapse;
/// - lines without closing punctuation are ended with a period so they read as sentences.
pub fn speakable(text: &str) -> String {
    let mut sentences: Vec<String> = Vec::new();
    for raw_line in text.lines() {
        let line = raw_line.trim();
        let line = line.trim_start_matches('#').trim_start();
        let line = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")).unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let cleaned = clean_line(line);
        if cleaned.is_empty() {
            continue;
        }
        sentences.push(cleaned);
    }
    let n = sentences.len();
    let mut out = String::new();
    for s in sentences {
        if !out.is_empty() {
            out.push(' ');
        }
        let ends = s.ends_with(['.', '!', '?', ':', ';', ',']);
        out.push_str(&s);
        if n > 1 && !ends {
            out.push('.');
        }
    }
    out
}

fn clean_line(line: &str) -> String {
    let line = line.replace(['`', '*', '\\'], "").replace("__", "");
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        let (lead, core, trail) = split_punct(tok);
        let lower = core.to_ascii_lowercase();
        // "PR #41", "PR 41", "pull request #41"
        if (lower == "pr" || lower == "mr") && i + 1 < tokens.len() {
            let (_, next, next_trail) = split_punct(tokens[i + 1]);
            if let Some(n) = parse_number_ref(next) {
                out.push(format!("{lead}{}{next_trail}", words::pull_request(n)));
                i += 2;
                continue;
            }
        }
        if let Some(n) = core.strip_prefix('#').and_then(|d| d.parse::<u64>().ok()) {
            out.push(format!("{lead}number {}{trail}", words::number(n)));
            i += 1;
            continue;
        }
        if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
            out.push(format!("{lead}a link{trail}"));
            i += 1;
            continue;
        }
        if core.contains('/') {
            let said = path_word(core);
            if !said.is_empty() {
                out.push(format!("{lead}{said}{trail}"));
            }
            i += 1;
            continue;
        }
        // Plain whole numbers are said as words; versions ("4.1") are left to the engine.
        if !core.is_empty()
            && core.len() <= 9
            && core.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = core.parse::<u64>()
        {
            out.push(format!("{lead}{}{trail}", words::number(n)));
            i += 1;
            continue;
        }
        let word = if core.contains('_') { core.replace('_', " ") } else { core.to_string() };
        out.push(format!("{lead}{word}{trail}"));
        i += 1;
    }
    let joined = out.join(" ");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_number_ref(s: &str) -> Option<u64> {
    s.strip_prefix('#').unwrap_or(s).parse().ok()
}

/// Split leading and trailing punctuation off a token.
fn split_punct(tok: &str) -> (&str, &str, &str) {
    let lead_len = tok.len() - tok.trim_start_matches(['(', '[', '"', '\'', '<']).len();
    let rest = &tok[lead_len..];
    let core = rest.trim_end_matches([')', ']', '"', '\'', '>', '.', ',', ';', ':', '!', '?']);
    // Keep a trailing dot that belongs to the core, e.g. "e.g." - rare in paths; fine to drop.
    let trail = &rest[core.len()..];
    (&tok[..lead_len], core, trail)
}

/// How a path or branch is said: its last meaningful part, no extension, words split.
/// "src/components/Button.tsx" → "Button"; "components/" → "components";
/// "capcom/4-upgrade-tailwind" → "4 upgrade tailwind"; "and/or" → "and or".
pub fn path_word(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() == 2 && parts[0].eq_ignore_ascii_case("and") && parts[1].eq_ignore_ascii_case("or") {
        return "and or".to_string();
    }
    let Some(last) = parts.last() else { return String::new() };
    name_words(last)
}

/// A file or folder name as words: extension dropped, `_`, `-` and `.` split.
pub fn name_words(name: &str) -> String {
    let stem = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 5 => &name[..i],
        _ => name,
    };
    let stem = stem.trim_start_matches('.');
    stem.split(['_', '-', '.'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Folder names that say nothing about where a change is.
const GENERIC_DIRS: [&str; 4] = ["src", "lib", "source", "."];

/// "three files in components", "one file in the top folder",
/// "five files, three in components and two in app".
/// `files` overrides the number of paths when the diff stat counted more than it listed.
pub fn files_phrase(paths: &[String], files: Option<u64>) -> Option<String> {
    let total = files.unwrap_or(paths.len() as u64);
    if total == 0 {
        return None;
    }
    let count = words::count_of(total, "file");
    if paths.is_empty() {
        return Some(count);
    }
    // The deepest folder every path shares.
    let dirs: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
            parts[..parts.len().saturating_sub(1)].to_vec()
        })
        .collect();
    let mut common: Vec<&str> = dirs[0].clone();
    for d in &dirs[1..] {
        let n = common.iter().zip(d.iter()).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    // A generic folder is skipped when a better name is beside it, but a path that has only
    // generic folders (`lib/x.js`) is still in that folder, not in the top one.
    let meaningful = |parts: &[&str]| {
        parts.iter().rev().find(|p| !GENERIC_DIRS.contains(p)).or(parts.last()).map(|p| name_words(p))
    };
    if let Some(place) = meaningful(&common) {
        return Some(format!("{count} in {place}"));
    }
    // No shared folder: group by the first meaningful folder of each path.
    let mut groups: Vec<(String, u64)> = Vec::new();
    for d in &dirs {
        let first = d.iter().find(|p| !GENERIC_DIRS.contains(p)).or(d.first()).map(|p| name_words(p));
        let key = first.unwrap_or_else(|| "the top folder".to_string());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => groups.push((key, 1)),
        }
    }
    if groups.len() == 1 {
        return Some(format!("{count} in {}", groups[0].0));
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    if groups.len() > 3 {
        let spread = words::count_of(groups.len() as u64, "folder");
        return Some(format!("{count} across {spread}"));
    }
    let parts: Vec<String> = groups.iter().map(|(k, n)| format!("{} in {k}", words::number(*n))).collect();
    Some(format!("{count}, {}", words::join_and(&parts)))
}

/// The first `max` sentences of a text (for agent summaries that run on).
pub fn first_sentences(text: &str, max: usize) -> String {
    split_sentences(text).into_iter().take(max).collect::<Vec<_>>().join(" ")
}

const ABBREVIATIONS: [&str; 8] = ["e.g.", "i.e.", "etc.", "vs.", "mr.", "dr.", "no.", "approx."];

/// Split a script into sentences for streaming synthesis. A sentence ends at
/// `.`, `!` or `?` followed by whitespace (not after "e.g." and friends, not in "1.5"),
/// and at line breaks. Very long sentences are split again at `;` or `:`.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            current.push(c);
            let at_end = i + 1 == chars.len();
            let next_space = !at_end && chars[i + 1].is_whitespace();
            if matches!(c, '.' | '!' | '?') && (at_end || next_space) {
                // Swallow closing quotes or brackets right after the mark.
                let lower = current.to_lowercase();
                let last_word = lower.split_whitespace().last().unwrap_or("");
                let is_abbrev = c == '.' && ABBREVIATIONS.contains(&last_word);
                if !is_abbrev {
                    push_sentence(&mut out, &current);
                    current.clear();
                }
            }
            i += 1;
        }
        push_sentence(&mut out, &current);
    }
    out
}

const LONG_SENTENCE: usize = 220;

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.trim();
    if s.is_empty() {
        return;
    }
    if s.len() <= LONG_SENTENCE {
        out.push(s.to_string());
        return;
    }
    // Split a long sentence at clause marks so the first audio is not held back.
    let mut current = String::new();
    for part in s.split_inclusive([';', ':']) {
        if !current.is_empty() && current.len() + part.len() > LONG_SENTENCE {
            out.push(current.trim().to_string());
            current.clear();
        }
        current.push_str(part);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn speakable_cleans_free_text() {
        let cases: &[(&str, &str)] = &[
            ("Fix the header in src/components/Header.tsx", "Fix the header in Header"),
            ("Update `package.json` and **README**", "Update package.json and README"),
            ("Opened PR #41 for review.", "Opened pull request forty-one for review."),
            ("see https://example.com/x/y for details", "see a link for details"),
            ("Closes #12.", "Closes number twelve."),
            ("bumped deps\nfixed tests", "bumped deps. fixed tests."),
            ("- one\n- two", "one. two."),
            ("use the snake_case_name", "use the snake case name"),
            ("work on capcom/4-upgrade-tailwind", "work on 4 upgrade tailwind"),
            ("exited with status 1 after 30 s", "exited with status one after thirty s"),
            ("(see components/)", "(see components)"),
        ];
        for (input, want) in cases {
            let got = speakable(input);
            assert_eq!(got, *want, "{input}");
            assert!(!got.contains('/'), "{got}");
        }
    }

    #[test]
    fn files_are_grouped_not_read() {
        let cases: &[(&[&str], Option<u64>, &str)] = &[
            (&["src/components/a.tsx", "src/components/b.tsx", "src/components/ui/c.tsx"], None, "three files in components"),
            (&["components/Button.tsx"], None, "one file in components"),
            (&["package.json", "package-lock.json"], None, "two files in the top folder"),
            (
                &["src/components/a.tsx", "src/components/b.tsx", "src/components/c.tsx", "app/page.tsx", "app/x.tsx"],
                None,
                "five files, three in components and two in app",
            ),
            (&["a/x", "b/x", "c/x", "d/x"], None, "four files across four folders"),
            (&[], Some(7), "seven files"),
            (&["src/components/a.tsx"], Some(12), "twelve files in components"),
            // a top-level generic folder is still that folder, not the top one
            (&["lib/a.js", "lib/b.js"], None, "two files in lib"),
            (&["lib/a.js", "README.md"], None, "two files, one in lib and one in the top folder"),
            (&["src/a.rs"], None, "one file in src"),
        ];
        for (paths, files, want) in cases {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            assert_eq!(files_phrase(&paths, *files).unwrap(), *want);
        }
        assert_eq!(files_phrase(&[], None), None);
    }

    #[test]
    fn sentences_split_for_streaming() {
        assert_eq!(
            split_sentences("Three tasks are finished. Task four, Upgrade Tailwind? Yes! Done"),
            s(&["Three tasks are finished.", "Task four, Upgrade Tailwind?", "Yes!", "Done"])
        );
        assert_eq!(split_sentences("Version 1.5 is out, e.g. today. Next."), s(&["Version 1.5 is out, e.g. today.", "Next."]));
        assert_eq!(split_sentences("one\n\ntwo."), s(&["one", "two."]));
        let long = format!("{}; {}", "word ".repeat(40).trim(), "more ".repeat(40).trim());
        let parts = split_sentences(&long);
        assert_eq!(parts.len(), 2, "{parts:?}");
    }
}
