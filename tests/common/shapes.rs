//! The shapes speech-to-text gives the same words (lowercase without punctuation, fillers,
//! numbers as words or digits, Whisper's segments), and what of a parse must not change
//! across them. Used by the invariance tests in tests/understand.rs and by
//! `cargo run --example understand_diagnostics -- invariance`.
#![allow(dead_code)]

use capcom::understand::{Intent, TaskSpec};
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};

fn checks_of(t: &TaskSpec) -> Vec<String> {
    let mut c: Vec<String> = t.acceptance.iter().filter_map(|c| c.check.clone()).collect();
    c.sort();
    c.dedup();
    c
}

fn opt_name(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "none".into())
}

/// What must not change: intent, task count, kinds, scope, checks, repo and agent.
#[derive(Debug, PartialEq)]
pub struct Reading {
    pub intent: String,
    pub tasks: usize,
    pub kinds: Vec<String>,
    pub scope: Vec<(Vec<String>, Vec<String>)>,
    pub checks: Vec<Vec<String>>,
    pub repos: Vec<String>,
    pub agents: Vec<String>,
}

pub fn reading(i: &Intent) -> Reading {
    Reading {
        intent: i.intent.as_str().to_string(),
        tasks: i.tasks.len(),
        kinds: i.tasks.iter().map(|t| t.kind.as_str().to_string()).collect(),
        scope: i.tasks.iter().map(|t| (t.scope.include.clone(), t.scope.exclude.clone())).collect(),
        checks: i.tasks.iter().map(checks_of).collect(),
        repos: i.tasks.iter().map(|t| opt_name(&t.repo)).collect(),
        agents: i.tasks.iter().map(|t| opt_name(&t.agent)).collect(),
    }
}

/// Sentence punctuation, not the dots, slashes and dashes inside words ("Next.js", "/demos/*").
pub fn is_mark(c: char) -> bool {
    matches!(c, ',' | '.' | ';' | ':' | '!' | '?' | '"' | '\u{2014}' | '\u{2013}' | '\u{2026}')
}

/// (a) Lowercase, every punctuation mark removed.
pub fn flatten(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    for (k, &c) in chars.iter().enumerate() {
        let prev = if k > 0 { chars[k - 1] } else { ' ' };
        let next = chars.get(k + 1).copied().unwrap_or(' ');
        // A mark between two word characters is part of a word ("Next.js", "2:30").
        let inside = prev.is_alphanumeric() && next.is_alphanumeric() && matches!(c, '.' | ':');
        if is_mark(c) && !inside {
            out.push(' ');
        } else if c == '-' && prev.is_whitespace() && next.is_whitespace() {
            out.push(' ');
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub const FILLERS: &[&str] = &["um", "uh", "like", "you know"];
/// Words after which "like" or "you know" is the language itself ("would like", "do you know").
/// (The parser's `KEEP_LIKE`, and the words before a real "you know".)
pub const TAKES_LIKE: &[&str] = &[
    "would", "i'd", "we'd", "you'd", "they'd", "look", "looks", "looked", "feel", "feels", "felt", "seem", "seems", "just",
    "something", "anything", "nothing", "more", "much", "exactly", "don't", "do", "did", "doesn't", "didn't", "i", "we",
    "you", "they", "if", "what", "as", "is", "are", "was", "were", "not", "things", "stuff", "ones", "sound", "sounds",
    "be", "behave", "behaves", "work", "works", "act", "acts", "really", "let", "will", "and",
];

/// (b) Fillers at random word boundaries.
pub fn with_fillers(text: &str, rng: &mut TestRng) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    for (k, w) in words.iter().enumerate() {
        if k > 0 && rng.random_range(0..4) == 0 {
            let f = FILLERS[rng.random_range(0..FILLERS.len())];
            let prev = words[k - 1].trim_end_matches(|c: char| !c.is_alphanumeric()).to_ascii_lowercase();
            if !(matches!(f, "like" | "you know") && TAKES_LIKE.contains(&prev.as_str())) {
                out.push(f.to_string());
            }
        }
        out.push(w.to_string());
    }
    out.join(" ")
}

pub const UNITS: [&str; 20] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
pub const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

pub fn say(n: u32) -> String {
    match n {
        0..=19 => UNITS[n as usize].to_string(),
        20..=99 if n % 10 == 0 => TENS[(n / 10) as usize].to_string(),
        20..=99 => format!("{} {}", TENS[(n / 10) as usize], UNITS[(n % 10) as usize]),
        _ => format!("{} hundred{}", UNITS[(n / 100) as usize], if n % 100 == 0 { String::new() } else { format!(" and {}", say(n % 100)) }),
    }
}

/// (c) Numbers as words ("PR 41" → "PR forty one"), and number words as digits
/// ("four headline variants" → "4 headline variants").
pub fn renumber(text: &str, to_words: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        let core = w.trim_end_matches(|c: char| is_mark(c));
        let tail = &w[core.len()..];
        if to_words {
            if !core.is_empty() && core.len() <= 3 && core.chars().all(|c| c.is_ascii_digit()) {
                let n: u32 = core.parse().unwrap_or(0);
                out.push(format!("{}{tail}", say(n)));
                continue;
            }
        } else if let Some(n) = UNITS.iter().position(|u| u.eq_ignore_ascii_case(core)).filter(|&n| n >= 2) {
            out.push(format!("{n}{tail}"));
            continue;
        }
        out.push(w.to_string());
    }
    out.join(" ")
}

/// (d) Split the way Whisper splits a long utterance: a comma becomes a sentence break
/// (and the next word a capital), a sentence break becomes a comma, or a comma goes.
pub fn resegment(text: &str, rng: &mut TestRng) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut capital = false;
    for w in words {
        let mut w = w.to_string();
        if capital {
            let mut cs = w.chars();
            if let Some(f) = cs.next() {
                w = f.to_uppercase().collect::<String>() + cs.as_str();
            }
            capital = false;
        }
        if let Some(core) = w.strip_suffix(',') {
            match rng.random_range(0..3) {
                0 => {
                    w = format!("{core}.");
                    capital = true;
                }
                1 => w = core.to_string(),
                _ => {}
            }
        } else if let Some(core) = w.strip_suffix('.').filter(|c| !c.is_empty() && !c.contains('.')) {
            if rng.random_range(0..3) == 0 {
                w = format!("{core},");
            }
        }
        out.push(w);
    }
    out.join(" ")
}

pub fn variant(text: &str, which: u8, seed: u64) -> String {
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &{
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s
    });
    match which {
        0 => flatten(text),
        1 => with_fillers(text, &mut rng),
        2 => renumber(text, true),
        3 => renumber(text, false),
        _ => resegment(text, &mut rng),
    }
}

pub const NAMES: [&str; 5] = ["lowercase, no punctuation", "fillers", "numbers as words", "number words as digits", "whisper segments"];
