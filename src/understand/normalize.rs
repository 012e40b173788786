//! Transcript clean-up before any reading: what Whisper writes becomes one tidy line.
//!
//! In order:
//! 1. typographic punctuation is mapped to plain ASCII; dashes become commas;
//! 2. the text is split into words and punctuation marks;
//! 3. fillers ("um", "uh", "you know", a loose "like") and stutters ("the the") go;
//! 4. false starts are repaired: "fix the, no wait, upgrade the packages" keeps only the repair;
//! 5. names are corrected against the vocabulary ([`super::vocab`]) and a few common
//!    mishearings are fixed ("merch PR 12" → "merge PR 12", "what's finish" → "what's finished");
//! 6. number words become digits ("forty two" → 42, "v five" → v5), except a lone "one"
//!    that is not a number ("the second one").
//!
//! Input is capped at [`MAX_BYTES`] and [`MAX_WORDS`]; every step is linear in the words.

use super::vocab::{Vocab, key_of};

/// Longest transcript read, in bytes (a two-minute brief is about 2 kB).
pub const MAX_BYTES: usize = 16 * 1024;
/// Most words read.
pub const MAX_WORDS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word, with the byte range of the transcript it came from (`None` for a word the
    /// clean-up made up).
    Word { text: String, lower: String, span: Option<(usize, usize)> },
    Punct(char),
}

impl Tok {
    /// A word standing for the transcript words `from..=to` (tokens), spanning their bytes.
    fn word_over(text: impl Into<String>, from: &[Tok]) -> Tok {
        let text = text.into();
        let lower = text.to_ascii_lowercase();
        let spans: Vec<(usize, usize)> = from.iter().filter_map(Tok::span).collect();
        let span = match (spans.first(), spans.last()) {
            (Some(a), Some(b)) => Some((a.0, b.1)),
            _ => None,
        };
        Tok::Word { text, lower, span }
    }
    fn span(&self) -> Option<(usize, usize)> {
        match self {
            Tok::Word { span, .. } => *span,
            Tok::Punct(_) => None,
        }
    }
    fn lower(&self) -> Option<&str> {
        match self {
            Tok::Word { lower, .. } => Some(lower),
            Tok::Punct(_) => None,
        }
    }
    fn is_word(&self) -> bool {
        matches!(self, Tok::Word { .. })
    }
}

/// The cleaned transcript.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Cleaned text with the speaker's casing (names in their canonical spelling).
    pub text: String,
    /// `text` with ASCII lowercased: byte offsets are the same as in `text`.
    pub lower: String,
    /// How many words were corrected (vocabulary, mishearings) or repaired (false starts).
    pub corrections: u32,
    /// How many filler words were dropped.
    pub fillers: u32,
    /// For each word of `text`: its byte range there and the byte range of the transcript
    /// it came from, so a stretch of `text` can be quoted from the transcript verbatim.
    pub map: Vec<(usize, usize, usize, usize)>,
}

impl Normalized {
    /// The transcript's own words for a stretch of the cleaned text (`part` is a substring of
    /// `text`, or starts and ends with words of it): what the user said, byte for byte, from
    /// the first word of `part` to its last, with the punctuation that closes it.
    pub fn verbatim<'r>(&self, raw: &'r str, part: &str) -> Option<&'r str> {
        let part = part.trim();
        if part.is_empty() {
            return None;
        }
        let (a, b) = match self.text.find(part) {
            Some(a) => (a, a + part.len()),
            None => {
                // Rejoined pieces: find the first words, then the last words after them.
                let ws: Vec<&str> = part.split_whitespace().collect();
                let head = ws[..ws.len().min(3)].join(" ");
                let tail = ws[ws.len().saturating_sub(3)..].join(" ");
                let head = head.trim_end_matches(|c: char| ",.;:!?".contains(c));
                let tail = tail.trim_end_matches(|c: char| ",.;:!?".contains(c));
                let a = self.text.find(head)?;
                let b = a + self.text[a..].rfind(tail)? + tail.len();
                (a, b)
            }
        };
        let inside: Vec<&(usize, usize, usize, usize)> = self.map.iter().filter(|m| m.0 >= a && m.1 <= b).collect();
        let rs = inside.iter().map(|m| m.2).min()?;
        let mut re = inside.iter().map(|m| m.3).max()?;
        let capped = cap(raw);
        if rs >= re || re > capped.len() {
            return None;
        }
        // The closing marks said right after the last word ("… the footer.").
        while let Some(c) = capped[re..].chars().next()
            && matches!(c, '.' | '!' | '?' | '"' | ')' | '\u{201D}')
        {
            re += c.len_utf8();
        }
        Some(capped[rs..re].trim())
    }
}

pub fn normalize(raw: &str, vocab: &Vocab) -> Normalized {
    let mut n = Normalized::default();
    let capped = cap(raw);
    let toks = tokenize(capped);
    let toks = drop_fillers(toks, &mut n.fillers);
    let toks = repair_false_starts(toks, &mut n.corrections);
    let toks = correct_names(toks, vocab, &mut n.corrections);
    let toks = numbers(toks);
    let toks = fix_mishearings(toks, &mut n.corrections);
    let toks = spoken_symbols(toks);
    let (text, map) = join(&toks);
    n.text = text;
    n.map = map;
    n.lower = n.text.to_ascii_lowercase();
    n
}

/// Extensions a spoken "dot" joins to a file name ("readme dot md").
const EXTENSIONS: &[&str] = &[
    "md", "rs", "ts", "tsx", "js", "jsx", "mjs", "css", "scss", "json", "toml", "yml", "yaml", "py", "go", "html",
    "rb", "sql", "sh", "lock", "txt", "env",
];

/// Symbols said as words: "slash demos" → "/demos", "src slash lib dot rs" → "src/lib.rs".
fn spoken_symbols(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let w = toks[i].lower().unwrap_or("");
        let next = toks.get(i + 1).and_then(Tok::lower);
        let path_word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "_-.*/".contains(c));
        if w == "slash" && next.is_some_and(path_word) {
            let nt = match &toks[i + 1] {
                Tok::Word { text, .. } => text.clone(),
                Tok::Punct(_) => String::new(),
            };
            // "src slash lib": join onto the word before; "slash demos": a rooted path.
            let joined = match out.last() {
                Some(Tok::Word { text, .. }) if path_word(&text.to_ascii_lowercase()) && i > 0 && toks[i - 1].is_word() && !matches!(text.to_ascii_lowercase().as_str(), "the" | "a" | "in" | "to" | "under" | "on" | "of" | "only" | "touch" | "and" | "or") => {
                    let prev = out.pop().expect("a word before");
                    let pt = match &prev {
                        Tok::Word { text, .. } => text.clone(),
                        Tok::Punct(_) => String::new(),
                    };
                    Tok::word_over(format!("{pt}/{nt}"), &[prev, toks[i].clone(), toks[i + 1].clone()])
                }
                _ => Tok::word_over(format!("/{nt}"), &toks[i..i + 2]),
            };
            out.push(joined);
            i += 2;
            continue;
        }
        if w == "dot"
            && let Some(ext) = next.filter(|n| EXTENSIONS.contains(n))
            && let Some(Tok::Word { text, .. }) = out.last()
            && path_word(&text.to_ascii_lowercase())
        {
            let pt = text.clone();
            let prev = out.pop().expect("a word before");
            out.push(Tok::word_over(format!("{pt}.{ext}"), &[prev, toks[i].clone(), toks[i + 1].clone()]));
            i += 2;
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

fn cap(raw: &str) -> &str {
    if raw.len() <= MAX_BYTES {
        return raw;
    }
    let mut end = MAX_BYTES;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

fn map_char(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}' => '\'',
        '\u{201C}' | '\u{201D}' => '"',
        '\u{2014}' | '\u{2013}' | '\u{2012}' | '\u{2015}' => ',',
        '\u{2026}' => '.',
        _ => c,
    }
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut chars: Vec<char> = Vec::with_capacity(s.len());
    let mut offs: Vec<usize> = Vec::with_capacity(s.len() + 1);
    for (o, c) in s.char_indices() {
        chars.push(map_char(c));
        offs.push(o);
    }
    offs.push(s.len());
    let mut out = Vec::new();
    let mut words = 0usize;
    let mut i = 0;
    let at = |k: usize| chars.get(k).copied().unwrap_or(' ');
    let push = |out: &mut Vec<Tok>, w: String, from: usize, to: usize| {
        let lower = w.to_ascii_lowercase();
        out.push(Tok::Word { text: w, lower, span: Some((offs[from], offs[to])) });
    };
    while i < chars.len() && words < MAX_WORDS {
        let c = chars[i];
        let after_space = i == 0 || at(i - 1).is_whitespace() || matches!(at(i - 1), '(' | '"' | '\'');
        // A URL, a flag ("--brand-blue") or a home path ("~/src") is one word, kept whole.
        let url = c.is_ascii_alphabetic() && {
            let mut k = i;
            while k < chars.len() && (chars[k].is_ascii_alphanumeric() || matches!(chars[k], '+' | '.' | '-')) && k - i < 12 {
                k += 1;
            }
            at(k) == ':' && at(k + 1) == '/' && at(k + 2) == '/'
        };
        let flag = c == '-' && after_space && (at(i + 1).is_ascii_alphanumeric() || (at(i + 1) == '-' && at(i + 2).is_ascii_alphanumeric()));
        let home = c == '~' && after_space && (at(i + 1) == '/' || at(i + 1).is_whitespace() || i + 1 == chars.len());
        let parent = c == '.' && after_space && at(i + 1) == '.' && matches!(at(i + 2), '/' | '\\');
        if url || flag || home || parent {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '"' | '<' | '>') {
                i += 1;
            }
            // Closing punctuation is the sentence's, not the URL's.
            while i > start + 1 && matches!(chars[i - 1], '.' | ',' | ';' | ':' | '!' | '?' | ')' | '\'') {
                i -= 1;
            }
            words += 1;
            push(&mut out, chars[start..i].iter().collect(), start, i);
            continue;
        }
        let starts_word = c.is_alphanumeric()
            || (matches!(c, '/' | '#' | '@' | '.' | '$') && at(i + 1).is_alphanumeric());
        if starts_word {
            let start = i;
            let mut w = String::new();
            w.push(c);
            i += 1;
            while i < chars.len() {
                let c = chars[i];
                let next = at(i + 1);
                let prev = at(i.wrapping_sub(1));
                if c.is_alphanumeric() {
                    w.push(c);
                } else if matches!(c, '.' | '-' | '_' | '\'' | '@' | '+' | ':') && next.is_alphanumeric() {
                    // "Next.js", "co-pilot", "don't", "2:30"; a colon only between digits.
                    if c == ':' && !(prev.is_ascii_digit() && next.is_ascii_digit()) && prev != '/' {
                        break;
                    }
                    w.push(c);
                } else if c == '/' {
                    w.push(c);
                } else if c == '*' && (prev == '/' || prev == '.') {
                    w.push(c);
                } else {
                    break;
                }
                i += 1;
            }
            words += 1;
            push(&mut out, w, start, i);
            continue;
        }
        match c {
            ',' | ';' | ':' | '.' | '?' | '!' => out.push(Tok::Punct(c)),
            '-' if at(i + 1).is_whitespace() && at(i.wrapping_sub(1)).is_whitespace() => out.push(Tok::Punct(',')),
            _ => {}
        }
        i += 1;
    }
    out
}

const FILLERS: &[&str] = &["um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "hmm", "mm", "mhm", "eh"];
const LOOSE: &[&str] = &["basically", "literally", "honestly", "obviously", "anyways"];
/// Words after which "like" means something: "would like", "looks like", "something like".
pub const KEEP_LIKE: &[&str] = &[
    "would", "i'd", "we'd", "you'd", "they'd", "look", "looks", "looked", "feel", "feels", "felt", "seem", "seems", "just",
    "something", "anything", "nothing", "more", "much", "exactly", "don't", "do", "did", "doesn't", "didn't", "i", "we",
    "you", "they", "if", "what", "as", "is", "are", "was", "were", "not", "things", "stuff", "ones", "sound", "sounds",
    "be", "behave", "behaves", "work", "works", "act", "acts", "nothing", "really",
];

fn is_boundary(t: Option<&Tok>) -> bool {
    match t {
        None => true,
        Some(Tok::Punct(_)) => true,
        Some(Tok::Word { .. }) => false,
    }
}

fn drop_fillers(toks: Vec<Tok>, count: &mut u32) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let n = toks.len();
    let mut i = 0;
    while i < n {
        let lw = toks[i].lower().unwrap_or("");
        let next = toks.get(i + 1).and_then(Tok::lower).unwrap_or("");
        let sentence_start = out.last().is_none_or(|t| matches!(t, Tok::Punct('.' | '?' | '!')));
        if FILLERS.contains(&lw) || LOOSE.contains(&lw) {
            *count += 1;
            i += 1;
            continue;
        }
        let prev_w = out.last().and_then(Tok::lower).unwrap_or("");
        // "like" is language after the words that take it ("would like", "looks like",
        // "something like"), and a filler anywhere else.
        let verb_next = CLAUSE_VERBS.contains(&next) && !matches!(next, "what" | "what's" | "how" | "how's") && !matches!(prev_w, "would" | "i'd" | "we'd" | "you'd" | "they'd");
        if lw == "like" && (is_boundary(out.last()) || is_boundary(toks.get(i + 1)) || FILLERS.contains(&next) || verb_next || !KEEP_LIKE.contains(&prev_w)) {
            *count += 1;
            i += 1;
            continue;
        }
        if lw == "you" && next == "know" {
            let prev = out.last().and_then(Tok::lower).unwrap_or("");
            if !matches!(prev, "do" | "if" | "let" | "did" | "would" | "will" | "don't" | "didn't" | "as" | "and" | "what") {
                *count += 2;
                i += 2;
                continue;
            }
        }
        if lw == "sort" && next == "of" {
            *count += 2;
            i += 2;
            continue;
        }
        if lw == "kind" && next == "of" {
            let prev = out.last().and_then(Tok::lower).unwrap_or("");
            if !matches!(prev, "what" | "which" | "this" | "that" | "any" | "some" | "a" | "the" | "every" | "same") {
                *count += 2;
                i += 2;
                continue;
            }
        }
        // Openers at the start of a sentence: "so", "okay so", "well", "hey capcom".
        if sentence_start && toks.get(i + 2).is_some() {
            let opener = matches!(lw, "so" | "well" | "right" | "alright" | "okay" | "ok" | "hey" | "capcom")
                && toks.get(i + 1).is_some_and(Tok::is_word);
            if opener && !(matches!(lw, "okay" | "ok" | "alright") && matches!(next, "then" | "to" | "with" | "so")) {
                *count += 1;
                i += 1;
                continue;
            }
        }
        // Stutter: the same word twice in a row.
        if let (Some(Tok::Word { lower: prev, .. }), Tok::Word { lower, .. }) = (out.last(), &toks[i])
            && prev == lower
            && !lower.chars().any(|c| c.is_ascii_digit())
            && !matches!(lower.as_str(), "no" | "yes" | "very" | "that" | "had")
        {
            *count += 1;
            i += 1;
            continue;
        }
        // Drop a comma left dangling at the start.
        if matches!(toks[i], Tok::Punct(',')) && matches!(out.last(), None | Some(Tok::Punct(_))) {
            i += 1;
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// Self-correction markers, as lowercase word sequences.
const MARKERS: &[&[&str]] = &[
    &["no", "wait"],
    &["wait", "no"],
    &["no", "sorry"],
    &["sorry", "no"],
    &["no", "actually"],
    &["actually", "no"],
    &["wait", "actually"],
    &["or", "rather"],
    &["scratch", "that"],
    &["strike", "that"],
    &["let", "me", "rephrase"],
    &["correction"],
    &["sorry", "i", "mean"],
    &["i", "mean"],
    &["sorry"],
    &["no"],
];

/// Words that begin a whole new clause, so a repair starting with one replaces the clause.
pub const CLAUSE_VERBS: &[&str] = &[
    "add", "fix", "upgrade", "bump", "update", "refactor", "rewrite", "write", "create", "implement",
    "remove", "delete", "migrate", "replace", "rename", "move", "extract", "convert", "port", "clean",
    "improve", "optimize", "optimise", "make", "change", "set", "configure", "enable", "disable",
    "investigate", "debug", "audit", "review", "document", "scope", "patch", "harden", "merge",
    "cancel", "stop", "retry", "tell", "ask", "have", "use", "queue", "dispatch", "schedule",
    "what's", "what", "how's", "how", "show", "give", "run", "check", "build", "bump", "install",
];

fn marker_at(toks: &[Tok], i: usize) -> Option<usize> {
    for m in MARKERS {
        if i + m.len() > toks.len() {
            continue;
        }
        if m.iter().enumerate().all(|(k, w)| toks[i + k].lower() == Some(w)) {
            let prev_comma = i > 0 && matches!(toks[i - 1], Tok::Punct(','));
            let next_comma = matches!(toks.get(i + m.len()), Some(Tok::Punct(',')));
            // "i mean" and a bare "sorry" count only when set off by commas.
            if (m == &["i", "mean"] || m == &["sorry"]) && !(prev_comma && (next_comma || m.len() == 2)) {
                continue;
            }
            // A bare "no" repairs only between commas ("add the, no, remove …"), or before a
            // new verb when what came before was left unfinished ("add the no remove …").
            if m == &["no"] {
                let prev = if i > 0 { toks[i - 1].lower() } else { None };
                let next = toks.get(i + 1).and_then(Tok::lower).unwrap_or("");
                let unfinished = matches!(prev, Some("the" | "a" | "an" | "to" | "in" | "on" | "of" | "for" | "my" | "our" | "this" | "that" | "with" | "and" | "from" | "into"));
                let verb_next = CLAUSE_VERBS.contains(&next) && !matches!(next, "what" | "what's" | "how" | "how's");
                let ok = i > 0 && ((prev_comma && next_comma) || (verb_next && (prev_comma || unfinished)));
                if !ok {
                    continue;
                }
            }
            // "no" markers need something before them to repair.
            return Some(m.len());
        }
    }
    None
}

fn repair_false_starts(toks: Vec<Tok>, count: &mut u32) -> Vec<Tok> {
    const LOOKBACK: usize = 40;
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut clause_start = 0usize;
    let mut prev_sentence_start = 0usize;
    let mut i = 0;
    while i < toks.len() {
        if let Some(len) = marker_at(&toks, i) {
            let scratch = matches!(toks[i].lower(), Some("scratch" | "strike"));
            let mut j = i + len;
            while matches!(toks.get(j), Some(Tok::Punct(_))) {
                j += 1;
            }
            // Trim trailing commas before the marker.
            while matches!(out.last(), Some(Tok::Punct(','))) && out.len() > clause_start {
                out.pop();
            }
            // "Fix the header. Scratch that." drops the sentence before the marker.
            let start = if scratch && out.len() <= clause_start { prev_sentence_start } else { clause_start };
            let first = toks.get(j).and_then(Tok::lower).unwrap_or("");
            // "…, no wait, make that Copilot" re-assigns the whole brief: nothing is cut, and
            // the brief reads the correction (`brief::correction`).
            let second = toks.get(j + 1).and_then(Tok::lower).unwrap_or("");
            if matches!(first, "make" | "give" | "hand" | "switch" | "change" | "send" | "assign" | "move") && matches!(second, "that" | "it" | "this") {
                out.push(toks[i].clone());
                i += 1;
                continue;
            }
            let lo = out.len().saturating_sub(LOOKBACK).max(start);
            let cut = if scratch || first.is_empty() || CLAUSE_VERBS.contains(&first) {
                start
            } else if let Some(p) = (lo..out.len()).rev().find(|&p| out[p].lower() == Some(first)) {
                p
            } else if first.chars().all(|c| c.is_ascii_digit())
                && let Some(p) = (lo..out.len()).rev().find(|&p| out[p].lower().is_some_and(|w| w.chars().all(|c| c.is_ascii_digit())))
            {
                p
            } else if let Some(p) = (lo..out.len()).rev().find(|&p| out[p].is_word()) {
                p
            } else {
                start
            };
            *count += 1;
            out.truncate(cut.max(start.min(out.len())));
            if out.len() < clause_start {
                clause_start = out.len();
            }
            if out.len() < prev_sentence_start {
                prev_sentence_start = out.len();
            }
            i = j;
            continue;
        }
        let t = toks[i].clone();
        let ends_sentence = matches!(t, Tok::Punct('.' | '?' | '!'));
        out.push(t);
        if ends_sentence {
            prev_sentence_start = clause_start;
            clause_start = out.len();
        }
        i += 1;
    }
    out
}

fn correct_names(toks: Vec<Tok>, vocab: &Vocab, count: &mut u32) -> Vec<Tok> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    'outer: while i < toks.len() {
        if !toks[i].is_word() {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        // Joins of three, two, then one spoken word.
        for n in (1..=3).rev() {
            if i + n > toks.len() || !toks[i..i + n].iter().all(Tok::is_word) {
                continue;
            }
            let mut key = String::new();
            for t in &toks[i..i + n] {
                key.push_str(&key_of(t.lower().unwrap_or("")));
            }
            // Two spoken words that sound like one name: "tale wind" → Tailwind.
            let parts_ok = n == 2
                && toks[i..i + 2].iter().all(|t| t.lower().is_some_and(|w| w.len() >= 3 && vocab.exact(&key_of(w)).is_none()));
            let sounds_like = if parts_ok && vocab.exact(&key).is_none() && key.len() >= 6 && key.chars().all(|c| c.is_ascii_alphabetic()) {
                vocab.fuzzy_sound(&key)
            } else {
                None
            };
            if let Some(canon) = vocab.exact(&key).or(sounds_like) {
                let spoken: Vec<&str> = toks[i..i + n].iter().filter_map(|t| match t {
                    Tok::Word { text, .. } => Some(text.as_str()),
                    _ => None,
                }).collect();
                let spoken = spoken.join(" ");
                // Keep a path or a version the speaker gave ("components/", "v5") as written.
                let keep = n == 1 && (spoken.contains('/') || spoken.eq_ignore_ascii_case(canon));
                if keep && spoken != canon && !spoken.contains('/') {
                    out.push(Tok::word_over(canon, &toks[i..i + n]));
                } else if keep {
                    out.push(toks[i].clone());
                } else {
                    *count += 1;
                    out.push(Tok::word_over(canon, &toks[i..i + n]));
                }
                i += n;
                continue 'outer;
            }
        }
        if let Tok::Word { text, .. } = &toks[i]
            && let Some(canon) = vocab.fuzzy(text)
        {
            *count += 1;
            out.push(Tok::word_over(canon, &toks[i..i + 1]));
            i += 1;
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

fn unit(w: &str) -> Option<u64> {
    Some(match w {
        "zero" => 0,
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        _ => return None,
    })
}

fn teen(w: &str) -> Option<u64> {
    Some(match w {
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn tens(w: &str) -> Option<u64> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

fn is_number_word(w: &str) -> bool {
    unit(w).is_some() || teen(w).is_some() || tens(w).is_some() || matches!(w, "hundred" | "thousand")
}

#[derive(PartialEq, Clone, Copy)]
enum Last {
    None,
    Unit,
    Teen,
    Tens,
    Hundred,
    Thousand,
}

/// A run of number words from the start of `words`: its value and how many words it took.
fn number_run(words: &[&str]) -> Option<(u64, usize)> {
    let (mut total, mut cur, mut used) = (0u64, 0u64, 0usize);
    let mut last = Last::None;
    let mut k = 0;
    while k < words.len() && k < 12 {
        let w = words[k];
        if let Some(u) = unit(w) {
            if matches!(last, Last::Unit | Last::Teen) {
                break;
            }
            cur += u;
            last = Last::Unit;
        } else if let Some(t) = teen(w) {
            if matches!(last, Last::Unit | Last::Teen | Last::Tens) {
                break;
            }
            cur += t;
            last = Last::Teen;
        } else if let Some(t) = tens(w) {
            if matches!(last, Last::Unit | Last::Teen | Last::Tens) {
                break;
            }
            cur += t;
            last = Last::Tens;
        } else if w == "hundred" && matches!(last, Last::Unit | Last::Teen | Last::Tens) {
            cur = cur.max(1) * 100;
            last = Last::Hundred;
        } else if w == "thousand" && last != Last::None && last != Last::Thousand {
            total += cur.max(1) * 1000;
            cur = 0;
            last = Last::Thousand;
        } else if w == "and" && last == Last::Hundred && words.get(k + 1).is_some_and(|n| is_number_word(n)) {
            // "one hundred and five"
        } else {
            break;
        }
        k += 1;
        used = k;
    }
    (used > 0).then_some((total + cur, used))
}

/// Words after which a lone "one" is the number 1.
const ONE_BEFORE: &[&str] = &["pr", "task", "number", "issue", "ticket", "version", "v", "at", "job", "item", "#", "no", "step", "point"];
const ONE_AFTER: &[&str] = &["am", "pm", "o'clock", "oclock", "hour", "minute", "point", "thirty", "fifteen", "forty", "oh"];

fn numbers(toks: Vec<Tok>) -> Vec<Tok> {
    // Split hyphenated number words ("forty-two") first.
    let mut flat: Vec<Tok> = Vec::with_capacity(toks.len());
    for t in toks {
        if let Tok::Word { lower, .. } = &t
            && lower.contains('-')
            && lower.split('-').all(is_number_word)
        {
            let parts: Vec<String> = lower.split('-').map(str::to_string).collect();
            let one = std::slice::from_ref(&t);
            flat.extend(parts.into_iter().map(|p| Tok::word_over(p, one)));
            continue;
        }
        flat.push(t);
    }
    let mut out: Vec<Tok> = Vec::with_capacity(flat.len());
    let mut i = 0;
    while i < flat.len() {
        let Some(w) = flat[i].lower() else {
            out.push(flat[i].clone());
            i += 1;
            continue;
        };
        if is_number_word(w) && !matches!(w, "hundred" | "thousand") {
            let mut words: Vec<&str> = Vec::new();
            for t in flat[i..].iter().take(12) {
                match t.lower() {
                    Some(l) => words.push(l),
                    None => break,
                }
            }
            if let Some((value, used)) = number_run(&words) {
                let prev = out.last().and_then(Tok::lower).unwrap_or("");
                let next = flat.get(i + used).and_then(Tok::lower).unwrap_or("");
                let lone_one = used == 1 && w == "one";
                if lone_one && !(ONE_BEFORE.contains(&prev) || ONE_AFTER.contains(&next)) {
                    out.push(flat[i].clone());
                    i += 1;
                    continue;
                }
                // "v five" → "v5".
                if prev == "v" {
                    let v = out.pop().expect("the v before");
                    let mut from = vec![v];
                    from.extend_from_slice(&flat[i..i + used]);
                    out.push(Tok::word_over(format!("v{value}"), &from));
                } else {
                    out.push(Tok::word_over(value.to_string(), &flat[i..i + used]));
                }
                i += used;
                continue;
            }
        }
        out.push(flat[i].clone());
        i += 1;
    }
    // "2 point 5" → "2.5"; "v 5" → "v5".
    let mut merged: Vec<Tok> = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        let digits = |t: Option<&Tok>| t.and_then(Tok::lower).is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()));
        if digits(out.get(i)) && out.get(i + 1).and_then(Tok::lower) == Some("point") && digits(out.get(i + 2)) {
            let a = out[i].lower().unwrap_or("").to_string();
            let b = out[i + 2].lower().unwrap_or("").to_string();
            merged.push(Tok::word_over(format!("{a}.{b}"), &out[i..i + 3]));
            i += 3;
            continue;
        }
        if out[i].lower() == Some("v") && digits(out.get(i + 1)) {
            let b = out[i + 1].lower().unwrap_or("").to_string();
            merged.push(Tok::word_over(format!("v{b}"), &out[i..i + 2]));
            i += 2;
            continue;
        }
        merged.push(out[i].clone());
        i += 1;
    }
    merged
}

/// Words after "merge" that make a misheard "merch" a command.
const MERGE_OBJECTS: &[&str] = &["pr", "it", "that", "this", "the", "all", "everything", "task", "number", "them", "both", "everything's"];

/// The last word now also stands for `t` (a word it swallowed).
fn absorb(out: &mut [Tok], t: &Tok) {
    if let (Some(Tok::Word { span: Some(s), .. }), Some((_, b))) = (out.last_mut(), t.span()) {
        s.1 = s.1.max(b);
    }
}

fn fix_mishearings(toks: Vec<Tok>, count: &mut u32) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    for i in 0..toks.len() {
        let t = &toks[i];
        let Some(w) = t.lower() else {
            out.push(t.clone());
            continue;
        };
        let prev = out.last().and_then(Tok::lower).unwrap_or("");
        let next_tok = toks.get(i + 1);
        let next = next_tok.and_then(Tok::lower).unwrap_or("");
        let fixed: Option<&str> = match w {
            "merch" | "murch" | "marge" | "emerge" | "merj" => {
                let at_start = is_boundary(out.last()) || matches!(prev, "please" | "and" | "then" | "now" | "you" | "to" | "go");
                let obj = MERGE_OBJECTS.contains(&next) || next.starts_with('#') || next.chars().all(|c| c.is_ascii_digit()) && !next.is_empty();
                (at_start && (obj || next.is_empty())).then_some("merge")
            }
            "finish" | "finnish" | "finish'" => {
                let asks = matches!(prev, "what's" | "whats" | "is" | "are" | "anything" | "everything" | "has" | "have" | "been" | "what");
                (asks && (next.is_empty() || matches!(next, "yet" | "already" | "now"))).then_some("finished")
            }
            "whats" => Some("what's"),
            "hows" => Some("how's"),
            "statues" | "stasis" => Some("status"),
            "a.m" | "a.m." => Some("am"),
            "p.m" | "p.m." => Some("pm"),
            "p.r" | "p.r." | "pr's" | "prs" => Some("PR"),
            "pull" if next == "request" || next == "requests" => Some("PR"),
            "request" | "requests" if prev == "pr" && matches!(out.last(), Some(Tok::Word { text, .. }) if text == "PR") => {
                absorb(&mut out, t);
                continue;
            }
            "chain" | "change" if next == "log" => Some("changelog"),
            "log" if prev == "changelog" => {
                absorb(&mut out, t);
                continue;
            }
            "re" if next == "try" => Some("retry"),
            "try" if prev == "retry" && matches!(out.last(), Some(Tok::Word { text, .. }) if text == "retry") => {
                absorb(&mut out, t);
                continue;
            }
            _ => None,
        };
        match fixed {
            Some(f) => {
                *count += 1;
                out.push(Tok::word_over(f, std::slice::from_ref(t)));
            }
            None => out.push(t.clone()),
        }
    }
    out
}

fn join(toks: &[Tok]) -> (String, Vec<(usize, usize, usize, usize)>) {
    let mut s = String::new();
    let mut map = Vec::new();
    for t in toks {
        match t {
            Tok::Word { text, span, .. } => {
                if !s.is_empty() {
                    s.push(' ');
                }
                let a = s.len();
                s.push_str(text);
                if let Some((ra, rb)) = span {
                    map.push((a, s.len(), *ra, *rb));
                }
            }
            Tok::Punct(c) => {
                // Collapse runs of punctuation: keep the strongest.
                if let Some(last) = s.chars().last()
                    && matches!(last, ',' | ';' | ':' | '.' | '?' | '!')
                {
                    if matches!(c, '.' | '?' | '!') && last == ',' {
                        s.pop();
                        s.push(*c);
                    }
                    continue;
                }
                if !s.is_empty() {
                    s.push(*c);
                }
            }
        }
    }
    while s.ends_with(',') || s.ends_with(';') || s.ends_with(':') {
        s.pop();
    }
    (s, map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn norm(s: &str) -> String {
        let mut c = Config::default();
        c.voice.vocabulary = vec!["Tailwind".into(), "React Query".into(), "Next.js".into()];
        c.agents.insert("copilot".into(), Default::default());
        normalize(s, &Vocab::from_config(&c)).text
    }

    #[test]
    fn normalize_table() {
        let cases = [
            ("um so uh upgrade tail wind", "upgrade Tailwind"),
            ("fix the, no wait, upgrade the tailwind packages", "upgrade the Tailwind packages"),
            ("merge PR 12, no wait, 13", "merge PR 13"),
            ("fix the header, no wait, the footer", "fix the footer"),
            ("merch PR twelve", "merge PR 12"),
            ("what's finish", "what's finished"),
            ("upgrade react query to v five", "upgrade React Query to v5"),
            ("use co-pilot to fix it", "use Copilot to fix it"),
            ("the second one", "the second one"),
            ("task one", "task 1"),
            ("at two thirty am", "at 2 30 am"),
            ("forty-two", "42"),
            ("PR number forty two", "PR number 42"),
            ("next js fifteen", "Next.js 15"),
            ("the the build", "the build"),
            ("it's, like, broken", "it's, broken"),
            ("I would like a button", "I would like a button"),
            ("Fix the header. Scratch that. Update the footer.", "Update the footer."),
            ("upgrade to version two point five", "upgrade to version 2.5"),
            ("Bump all Tailwind packages—leave app routes untouched", "Bump all Tailwind packages, leave app routes untouched"),
            ("/demos/* routes", "/demos/* routes"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "input: {input}");
        }
    }

    #[test]
    fn number_runs() {
        let cases: &[(&[&str], Option<(u64, usize)>)] = &[
            (&["forty", "two"], Some((42, 2))),
            (&["nine", "thirty"], Some((9, 1))),
            (&["one", "hundred", "and", "five"], Some((105, 4))),
            (&["two", "thousand"], Some((2000, 2))),
            (&["twelve", "three"], Some((12, 1))),
            (&["cat"], None),
        ];
        for (words, want) in cases {
            assert_eq!(number_run(words), *want, "{words:?}");
        }
    }
}
