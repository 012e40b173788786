//! Vocabulary correction: near-misses of configured names are pulled back to the name.
//!
//! The names come from the config (repos and aliases, agents, checks, `[voice] vocabulary`)
//! plus a short built-in list of tools engineers name in briefs. A correction is one of:
//! - a join: up to three spoken words that spell a name once spaces, dots and hyphens are
//!   dropped ("tail wind" → Tailwind, "co-pilot" → copilot, "next js" → Next.js);
//! - a bounded edit: one edit for names of five to seven letters, two from eight letters,
//!   with the same first letter ("tailwin" → Tailwind);
//! - a phonetic match on a simplified consonant key ("jewels" → Jules, "clawed" → Claude).
//!
//! Common English words that sit near a name ("rules", "clause", "cloud") are never changed.

use crate::config::Config;
use std::collections::HashMap;

/// Tool and product names that briefs mention; canonical spelling.
const BUILTIN: &[&str] = &[
    "Tailwind", "React Query", "Next.js", "Node.js", "TypeScript", "JavaScript", "GitHub",
    "ESLint", "Prettier", "Storybook", "Playwright", "Vitest", "Jest", "webpack", "GraphQL",
    "PostgreSQL", "Postgres", "Redis", "Docker", "Kubernetes", "Terraform", "README", "OAuth",
    "Copilot", "Jules", "Cursor", "Codex", "Claude", "Gemini", "Aider", "Lighthouse", "Vercel",
    "Supabase", "Prisma", "Django", "Svelte", "Angular", "Vue", "Node", "React", "Redux",
    "Sentry", "Stripe", "npm", "pnpm", "Vite", "CSS", "HTML", "API", "CI", "SDK", "JSON",
];

/// Command words: only joined ("change log" → changelog), never fuzzily matched.
const JOIN_ONLY: &[&str] = &[
    "changelog", "typecheck", "retry", "rerun", "PR", "am", "pm", "website", "backend",
    "frontend", "codebase", "dark mode", "end to end", "e2e",
];

/// Words that look like a name but are ordinary English; never corrected.
const STOP: &[&str] = &[
    "clause", "cloud", "clouds", "rules", "ruled", "cause", "close", "closed", "codec", "coder",
    "coded", "codes", "course", "cursed", "curse", "nodes", "noted", "notes", "tests", "tested",
    "jest", "just", "reach", "reacts", "reacted", "react", "redo", "ready", "radix", "reader",
    "reads", "pilot", "pilots", "aided", "aides", "julia", "jewel", "claim", "claims", "clued",
    "clear", "cursory", "sender", "senior", "setter", "better", "letter", "later", "water",
    "winder", "window", "windows", "tailor", "trail", "detail", "details", "retain", "gemini",
    "viewed", "views", "there", "their", "where", "these", "those", "every", "other", "after",
    "under", "build", "built", "builds", "light", "house", "posts", "poster", "stripe", "stripes",
    "redux", "docker", "prism", "angle", "angles", "angular", "sentry", "entry", "query",
    "queries", "queue", "queued", "cluster", "python", "routes", "route", "router", "reduce", "ready",
];

#[derive(Debug, Clone)]
struct Entry {
    canon: String,
    key: String,
    phon: String,
    fuzzy: bool,
}

/// The names the parser corrects towards.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    entries: Vec<Entry>,
    by_key: HashMap<String, usize>,
}

/// Lowercase ASCII letters and digits only: "Next.js" → "nextjs", "co-pilot" → "copilot".
pub fn key_of(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

impl Vocab {
    pub fn from_config(config: &Config) -> Vocab {
        let mut v = Vocab::default();
        for w in &config.voice.vocabulary {
            v.add(w, true);
        }
        for w in BUILTIN {
            v.add(w, true);
        }
        for w in JOIN_ONLY {
            v.add(w, false);
        }
        for r in &config.repos {
            v.add(&r.name, true);
            for a in &r.aliases {
                v.add(a, true);
            }
        }
        for name in config.agents.keys() {
            v.add(name, true);
        }
        for name in config.check_names() {
            v.add(&name, true);
        }
        v
    }

    fn add(&mut self, word: &str, fuzzy: bool) {
        let key = key_of(word);
        if key.len() < 2 || self.by_key.contains_key(&key) {
            return;
        }
        // Names with spaces or of fewer than five letters are joined, not fuzzily matched.
        let fuzzy = fuzzy && !word.contains(' ') && key.len() >= 5 && key.chars().all(|c| c.is_ascii_alphabetic());
        self.by_key.insert(key.clone(), self.entries.len());
        self.entries.push(Entry { canon: word.to_string(), phon: phonetic(&key), key, fuzzy });
    }

    /// The canonical spelling of an exact key (letters and digits only, lowercase).
    pub fn exact(&self, key: &str) -> Option<&str> {
        self.by_key.get(key).map(|&i| self.entries[i].canon.as_str())
    }

    /// A correction for one spoken word that is not itself a name, or `None`.
    pub fn fuzzy(&self, word: &str) -> Option<&str> {
        let lower = word.to_ascii_lowercase();
        if lower.len() < 5 || lower.len() > 24 || !lower.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        if STOP.contains(&lower.as_str()) {
            return None;
        }
        let ph = phonetic(&lower);
        let mut best: Option<(usize, usize)> = None;
        for (i, e) in self.entries.iter().enumerate() {
            if !e.fuzzy || e.key == lower {
                continue;
            }
            // Inflections of a name stay as spoken: "tailwinds", "cursors".
            if lower.starts_with(&e.key) && matches!(&lower[e.key.len()..], "s" | "es" | "ed" | "ing" | "'s") {
                continue;
            }
            if lower.len().abs_diff(e.key.len()) > 2 {
                continue;
            }
            let limit = if e.key.len() >= 8 { 2 } else { 1 };
            let same_first = lower.as_bytes()[0] == e.key.as_bytes()[0];
            if !same_first {
                continue;
            }
            let d = bounded_edit(&lower, &e.key, 4);
            let ok = d <= limit || (ph.len() >= 3 && ph == e.phon && d <= 3);
            if ok && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, i));
            }
        }
        best.map(|(_, i)| self.entries[i].canon.as_str())
    }
}

impl Vocab {
    /// A name that `joined` (two spoken words run together) sounds like: the same
    /// consonant key, the same first letter, and at most two edits away.
    pub fn fuzzy_sound(&self, joined: &str) -> Option<&str> {
        if STOP.contains(&joined) {
            return None;
        }
        let ph = phonetic(joined);
        if ph.len() < 3 {
            return None;
        }
        self.entries
            .iter()
            .filter(|e| e.fuzzy && e.key.len() >= 6 && e.key.len().abs_diff(joined.len()) <= 1 && e.phon == ph && e.key.as_bytes()[0] == joined.as_bytes()[0])
            .find(|e| bounded_edit(joined, &e.key, 3) <= 2)
            .map(|e| e.canon.as_str())
    }
}

/// Levenshtein distance, giving up (returning `cap`) once it must exceed `cap - 1`.
pub fn bounded_edit(a: &str, b: &str, cap: usize) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    if a.len().abs_diff(b.len()) >= cap {
        return cap;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
            row_min = row_min.min(cur[j]);
        }
        if row_min >= cap {
            return cap;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(cap)
}

/// A simplified consonant key: vowels dropped after the first letter, sound-alike
/// consonants merged, doubles collapsed. "jules" and "jewels" → "JLS"; "claude" → "KLT".
pub fn phonetic(word: &str) -> String {
    let w: Vec<u8> = word.bytes().filter(|b| b.is_ascii_alphabetic()).map(|b| b.to_ascii_lowercase()).collect();
    let mut out = String::new();
    let mut last = 0u8;
    let mut i = 0;
    while i < w.len() {
        let c = w[i];
        let next = w.get(i + 1).copied().unwrap_or(0);
        let prev = if i > 0 { w[i - 1] } else { 0 };
        let code = match c {
            // An "h" that opens a syllable after a consonant is heard: "webhook" is not "webpack".
            b'h' if i > 0 && !matches!(prev, b'a' | b'e' | b'i' | b'o' | b'u' | b'y' | b'w' | b'g' | b'c' | b's' | b'p' | b't') && matches!(next, b'a' | b'e' | b'i' | b'o' | b'u') => b'H',
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y' | b'h' | b'w'
                if i == 0 => {
                    b'A'
                }
            b'c' if next == b'h' => {
                i += 1;
                b'X'
            }
            b's' if next == b'h' => {
                i += 1;
                b'X'
            }
            b'p' if next == b'h' => {
                i += 1;
                b'F'
            }
            b'c' if matches!(next, b'e' | b'i' | b'y') => b'S',
            b'c' | b'k' | b'q' => b'K',
            b'g' if next == b'h' && i > 0 => {
                // "caught", "night": silent.
                i += 1;
                0
            }
            b'g' if matches!(next, b'e' | b'i' | b'y') => b'J',
            b'g' => b'K',
            b'j' => b'J',
            b'x' => b'K',
            b'z' | b's' => b'S',
            b'd' | b't' => b'T',
            b'b' => b'B',
            b'p' => b'P',
            b'v' | b'f' => b'F',
            b'm' | b'n' => b'N',
            b'l' => b'L',
            b'r' => b'R',
            _ => 0,
        };
        if code != 0 && code != last {
            out.push(code as char);
        }
        if code != 0 {
            last = code;
        } else if i > 0 {
            last = 0;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        let mut c = Config::default();
        c.voice.vocabulary = vec!["Tailwind".into(), "React Query".into(), "webpack".into()];
        c.agents.insert("copilot".into(), Default::default());
        c.agents.insert("jules".into(), Default::default());
        c.agents.insert("claude".into(), Default::default());
        Vocab::from_config(&c)
    }

    #[test]
    fn fuzzy_table() {
        let v = vocab();
        let cases: &[(&str, Option<&str>)] = &[
            ("tailwin", Some("Tailwind")),
            ("tailwinds", None),
            ("jewels", Some("Jules")),
            ("clawed", Some("Claude")),
            ("rules", None),
            ("clause", None),
            ("cloud", None),
            ("copilet", Some("Copilot")),
            ("house", None),
            ("webhook", None),
            ("button", None),
        ];
        for (word, want) in cases {
            assert_eq!(v.fuzzy(word), *want, "{word}");
        }
    }

    #[test]
    fn exact_keys() {
        let v = vocab();
        for (spoken, want) in [("tail wind", "Tailwind"), ("co-pilot", "Copilot"), ("next js", "Next.js"), ("react query", "React Query")] {
            assert_eq!(v.exact(&key_of(spoken)), Some(want), "{spoken}");
        }
    }

    #[test]
    fn edit_distance_table() {
        for (a, b, cap, want) in [("merge", "merch", 5, 2), ("abc", "abc", 3, 0), ("kitten", "sitting", 9, 3), ("a", "abcdef", 2, 2)] {
            assert_eq!(bounded_edit(a, b, cap), want, "{a} {b}");
        }
    }
}
