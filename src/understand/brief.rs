//! Briefs → tasks: title, kind, repo, agent, scope, acceptance, constraints, deliverables
//! and schedule, for each task a brief holds.
//!
//! A brief is split into tasks only on explicit signs: a list after a header ("Queue these
//! for tonight: A, B, and C"), counted items ("Two things. First … Second …"), or a second
//! agent assignment ("have Jules … and have Copilot …"). A header's schedule, agent and repo
//! are shared by its items. Inside a task, each clause is read as one of: acceptance
//! criterion, constraint, deliverable, or the body that says what to do.

use super::normalize::CLAUSE_VERBS;
use super::{Context, Criterion, Names, Scope, TaskKind, TaskSpec, when};
use chrono::{DateTime, FixedOffset};

/// What a header gives every task of a list.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub schedule: Option<DateTime<FixedOffset>>,
    pub agent: Option<String>,
    pub repo: Option<String>,
    pub acceptance: Vec<Criterion>,
}

/// The brief split into task texts, plus what they share.
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub items: Vec<String>,
    pub shared: Shared,
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Split a normalized brief into the texts of its tasks.
pub fn split(text: &str, ctx: &Context, names: &Names) -> Split {
    let lower = text.to_ascii_lowercase();
    let mut out = Split::default();

    // Counted items with ordinal markers: "Two things. First, … Second, …".
    let ord = re!(r"(?:^|[.,;:!?] )(?:and )?(?:(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|fourth|fifth|next|then|finally|lastly|last|and then|number (?:one|two|three|\d))\b[,:]?|(?:one|two|three|four|five|[1-5])[,:.)]) ?");
    let counted = re!(r"^(?:(?:okay|so|alright)[, ]+)?(?:(?:i have|i've got|here are|there are|we have|we've got|queue(?: up)?|dispatch|do|handle)? ?(?:\d+|two|three|four|five|a couple of|a couple|a few|several|some) (?:(?:quick|small|little|short|easy|more|other|separate|different|tiny|big|new) )?(?:things|tasks|jobs|items|briefs|changes|ones|fixes|bits|requests|chores|tweaks)\b|(?:queue|dispatch|schedule|kick off|line up|run|start)(?: up)? (?:these|the following|this list|both|all of these)\b|(?:here's|here is|here are) (?:the|some|a few|my) (?:tasks|things|jobs)\b|(?:the following|these) (?:tasks|things|jobs)\b)");
    if let Some(hm) = counted.find(&lower) {
        // The header runs to the first colon or sentence end after the counted phrase.
        let rest_start = hm.end();
        // A colon, or a sentence mark followed by a space ("Next.js" is not a sentence end).
        let mut end_rel = lower[rest_start..]
            .char_indices()
            .find(|&(p, c)| c == ':' || (matches!(c, '.' | '?' | '!') && lower[rest_start + p + 1..].chars().next().is_none_or(char::is_whitespace)))
            .map(|(p, _)| rest_start + p);
        // "Two things, first. Fix …": the list starts at its first marker.
        if let Some(m) = re!(r"[,;]?\s(?:first(?:ly)?|number one|one)\b").find(&lower[rest_start..])
            && end_rel.is_none_or(|e| rest_start + m.start() < e)
            && !lower[rest_start + m.end()..].starts_with(" thing")
        {
            end_rel = Some(rest_start + m.start());
        }
        let (header_end, body_start) = match end_rel {
            Some(p) if words(&lower[rest_start..p]) <= 8 => (p, p + 1),
            _ => {
                // No colon: the header runs on while it only says when, who or where.
                let mut end = rest_start;
                let tail = &lower[rest_start..];
                let mut off = 0;
                for w in tail.split(' ') {
                    let bare = w.trim_matches(|c: char| ",.;:".contains(c));
                    let keep = matches!(bare, "" | "for" | "tonight" | "overnight" | "tomorrow" | "morning" | "evening" | "afternoon" | "night" | "on" | "the" | "at" | "am" | "pm" | "to" | "with" | "using" | "via" | "by" | "in" | "repo" | "please" | "today" | "later" | "this")
                        || bare.chars().all(|c| c.is_ascii_digit())
                        || names.agent_word(bare).is_some()
                        || names.repo_word(bare).is_some();
                    if !keep {
                        break;
                    }
                    off += w.len() + 1;
                    end = (rest_start + off).min(lower.len());
                }
                // "…, all of them type check clean": a verdict for every item ends the header.
                if let Some(m) = re!(r"^,?\s*(?:and )?(?:(?:all|each|both|every one) of them|for (?:all|both|each) of them|for all|for both|all)\s+(?:(?:must|should|need to|needs to|have to|has to) (?:be |stay |pass )?)?(?:[a-z-]+ ){0,3}?(?:clean|green|pass(?:es|ing)?|passing)\b[,:]?\s*").find(&lower[end..]) {
                    end += m.end();
                }
                (end, end)
            }
        };
        let header = &text[..header_end];
        let body = text[body_start..].trim();
        let body_lower = body.to_ascii_lowercase();
        let mut items: Vec<String> = Vec::new();
        let marks = ordinal_marks(&body_lower, ord);
        if marks.len() >= 2 || (marks.len() == 1 && marks[0].0 == 0) {
            let mut starts: Vec<(usize, usize)> = marks;
            if starts[0].0 != 0 && words(&body[..starts[0].0]) >= 3 {
                starts.insert(0, (0, 0));
            }
            for (k, &(_, e)) in starts.iter().enumerate() {
                let stop = starts.get(k + 1).map(|n| n.0).unwrap_or(body.len());
                let item = body[e.min(stop)..stop].trim().trim_matches(|c: char| ",.;: ".contains(c));
                if !item.is_empty() {
                    items.push(item.to_string());
                }
            }
        } else {
            items = list_items(body);
        }
        items.retain(|i| words(i) >= 2);
        if items.len() >= 2 {
            let hl = header.to_ascii_lowercase();
            out.shared.schedule = when::schedule(&hl, ctx.now).map(|f| f.at);
            out.shared.agent = agent_in(&hl, names);
            out.shared.repo = repo_in(&hl, names);
            // "…, all of them lint clean:" — a verdict in the header is every item's.
            for span in verdict_spans(header) {
                for c in criteria_pieces(span, names) {
                    if !out.shared.acceptance.contains(&c) {
                        out.shared.acceptance.push(c);
                    }
                }
            }
            out.items = items;
            pull_trailing_criteria(&mut out, names);
            pull_shared_acceptance(&mut out, names);
            return out;
        }
    }

    // Ordinal markers without a header: "First, fix … Second, add …".
    let marks = ordinal_marks(&lower, ord);
    let starts_first = re!(r"^(?:first(?:ly)?|number one|1st|one|1)\b").is_match(&lower);
    if starts_first && marks.len() >= 2 {
        let mut items = Vec::new();
        for (k, &(_, e)) in marks.iter().enumerate() {
            let stop = marks.get(k + 1).map(|n| n.0 + 1).unwrap_or(text.len()).min(text.len());
            let item = text[e.min(stop)..stop].trim().trim_matches(|c: char| ",.;: ".contains(c));
            if words(item) >= 2 {
                items.push(item.to_string());
            }
        }
        if items.len() >= 2 {
            out.items = items;
            pull_trailing_criteria(&mut out, names);
            pull_shared_acceptance(&mut out, names);
            return out;
        }
    }

    // Two agent assignments: "have Jules fix X, and have Copilot add Y".
    let assign = re!(r"(?:^|[.,;!?] |\band |\bthen |\balso )(?:(?:have|ask|get|tell|use|let) ([a-z][a-z0-9-]*)\b|([a-z][a-z0-9-]*)(?: should| can| could| will| is going to|,|:) )");
    let mut cuts: Vec<usize> = Vec::new();
    for c in assign.captures_iter(&lower) {
        let name = c.get(1).or(c.get(2)).map(|m| m.as_str()).unwrap_or("");
        if names.agent_word(name).is_some() {
            cuts.push(c.get(0).map(|m| m.start()).unwrap_or(0));
        }
    }
    // Separate tasks said one after another: "Also, …", "Another task: …", "Separately, …".
    for m in re!(r"[.!?] (?:also|another (?:task|thing|one)|separately|and another thing|next task|new task|one more thing|plus)\b[,:]?").find_iter(&lower) {
        cuts.push(m.start() + 1);
    }
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.iter().any(|&c| c > 0) {
        let mut bounds: Vec<usize> = cuts.into_iter().filter(|&c| c > 0).collect();
        bounds.insert(0, 0);
        let mut items = Vec::new();
        for (k, &s) in bounds.iter().enumerate() {
            let e = bounds.get(k + 1).copied().unwrap_or(text.len());
            let mut item = text[s..e].trim().trim_start_matches(|c: char| ",.;:!? ".contains(c)).trim();
            item = strip_prefix_ci(item, &["and then ", "and ", "then ", "also, ", "also ", "plus ", "separately, ", "another task: ", "another task ", "another thing: ", "next task: ", "new task: ", "one more thing: ", "and another thing: "]);
            let item = item.trim_end_matches(|c: char| ",;: ".contains(c));
            if words(item) >= 3 {
                items.push(item.to_string());
            }
        }
        if items.len() >= 2 && items.iter().all(|i| starts_with_task_verb(i, names)) {
            out.items = items;
            pull_trailing_criteria(&mut out, names);
            pull_shared_acceptance(&mut out, names);
            return out;
        }
    }

    out.items = vec![text.to_string()];
    out
}

/// Ordinal markers: after punctuation, or (in unpunctuated speech) before a task verb.
fn ordinal_marks(lower: &str, ord: &super::pattern::Re) -> Vec<(usize, usize)> {
    let mut marks: Vec<(usize, usize)> = ord.find_iter(lower).map(|m| (m.start(), m.end())).collect();
    for m in re!(r" (?:first(?:ly)?|second(?:ly)?|third(?:ly)?|fourth|fifth|finally|lastly|and then|then) ").find_iter(lower) {
        let next = lower[m.end()..].split_whitespace().next().unwrap_or("");
        if is_task_verb(next) && !marks.iter().any(|&(s, e)| m.start() < e && s < m.end()) {
            marks.push((m.start(), m.end()));
        }
    }
    // Spoken list markers: "one fix … two add … and three remove …" (numbers read as
    // digits by now), counted up from 1 and each before a task verb.
    let mut spoken: Vec<(usize, usize)> = Vec::new();
    let mut want = 1u32;
    for c in re!(r"(?:^|\s)((?:and |then |number )?(\d|one)[,:.)]?)\s").captures_iter(lower) {
        let (Some(m), Some(d)) = (c.get(1), c.get(2)) else { continue };
        let n: u32 = if d.as_str() == "one" { 1 } else { d.as_str().parse().unwrap_or(0) };
        let end = c.get(0).map_or(m.end(), |x| x.end());
        let next = lower[end..].split_whitespace().next().unwrap_or("");
        if n == want && (is_task_verb(next) || matches!(next, "the" | "a" | "an")) {
            spoken.push((m.start(), end));
            want += 1;
        }
    }
    if spoken.len() >= 2 {
        for m in spoken {
            if !marks.iter().any(|&(s, e)| m.0 < e && s < m.1) {
                marks.push(m);
            }
        }
    }
    marks.sort_unstable();
    marks
}

fn strip_prefix_ci<'a>(s: &'a str, prefixes: &[&str]) -> &'a str {
    let mut s = s;
    loop {
        let l = s.to_ascii_lowercase();
        match prefixes.iter().find(|p| l.starts_with(*p)) {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s,
        }
    }
}

fn starts_with_task_verb(item: &str, names: &Names) -> bool {
    let l = item.to_ascii_lowercase();
    let l = strip_polite(&l);
    let first = l.split_whitespace().next().unwrap_or("");
    is_task_verb(first) || names.agent_word(first.trim_end_matches([',', ':'])).is_some() || re!(r"^(?:have|use|ask|get|let|tell) ").is_match(l)
}

/// Items of a list: "an upgrade to Next.js 15, a security audit of the API routes, and a
/// visual refresh of the landing page hero"; without commas, split before each article.
fn list_items(body: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for piece in re!(r"\s*(?:[,;]\s*(?:and |then |also |plus )?|\.\s+|\s+and (?:then )?(?:a |an |the |to |also )?|\s+also\s+|\s+plus\s+)").split(body) {
        let p = piece.trim().trim_matches(|c: char| ",.;: ".contains(c));
        if !p.is_empty() {
            items.push(p.to_string());
        }
    }
    // Re-attach pieces that were split by an "and" inside one item ("red and green runs").
    let mut merged: Vec<String> = Vec::new();
    for it in items {
        if words(&it) < 2 && let Some(last) = merged.last_mut() {
            last.push_str(" and ");
            last.push_str(&it);
            continue;
        }
        merged.push(it);
    }
    // Without commas, an article, or a verb that is rarely a noun, after two or more words
    // starts a new item ("bump lodash fix the typo on the about page"). With commas (some
    // of them lost), a piece is split only the way it starts: at articles when it starts
    // with one ("an upgrade to Next.js 15 a security audit …"), at verbs when it starts
    // with a verb.
    let commas = body.contains(',');
    let mut out: Vec<String> = Vec::new();
    for item in merged {
        let lower = item.to_ascii_lowercase();
        let mut last = 0;
        let opener = lower.split_whitespace().next().unwrap_or("");
        let (articles, verbs) = if commas { (matches!(opener, "a" | "an"), is_task_verb(opener)) } else { (true, true) };
        for m in re!(r" (?:a|an|add|fix|bump|upgrade|remove|delete|rename|refactor|migrate|replace|write|create|implement|extract|convert|enable|disable|investigate|audit|document|patch|harden|compress|translate|deprecate|memoize|optimize|optimise|restyle|redesign|scope|pin|unpin|install|uninstall) ").find_iter(&lower)
            .collect::<Vec<_>>()
        {
            let before = lower[..m.start()].rsplit(' ').next().unwrap_or("");
            let article = matches!(m.as_str().trim(), "a" | "an");
            if (article && !articles) || (!article && !verbs) {
                continue;
            }
            // A verb starts an item only after an item that began with its own verb.
            let seg_first = lower[last..m.start()].split_whitespace().next().unwrap_or("");
            let verb_ok = is_task_verb(seg_first)
                && !matches!(before, "the" | "a" | "an" | "to" | "for" | "of" | "and" | "or" | "no" | "not" | "will" | "should" | "can" | "could" | "must" | "please" | "i" | "we" | "you" | "it" | "they" | "don't" | "would");
            if !(article || verb_ok) {
                continue;
            }
            if words(&item[last..m.start()]) >= 2 {
                out.push(item[last..m.start()].trim().to_string());
                last = m.start() + 1;
            }
        }
        out.push(item[last..].trim().to_string());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// A criterion said on its own: "Tests pass.", "make sure the build is green",
/// "acceptance criteria: lint clean".
fn criterion_only(l: &str) -> bool {
    let l = l.trim().trim_end_matches(['.', '!', '?']).trim_start_matches("and ").trim_start_matches("also ");
    if re!(r"^(?:acceptance(?: criteria| criterion)?|success criteria|criteria|definition of done|done when|it's done when)\b").is_match(l) {
        return true;
    }
    let first = l.split_whitespace().next().unwrap_or("");
    let cue = re!(r"^(?:make sure|ensure|verify|check that|confirm that|so that)\b").is_match(l);
    let verdict_first = verdict_re().find(l).is_some_and(|m| m.start() == 0);
    is_criterion_clause(l) && (cue || verdict_first || !is_task_verb(first))
}

/// A criterion said after the last task of a list is every task's ("Two things: bump
/// express, and fix the typo in the readme. Tests pass.").
fn pull_trailing_criteria(split: &mut Split, names: &Names) {
    if split.items.len() < 2 {
        return;
    }
    let mut moved: Vec<String> = Vec::new();
    let mut keep: Vec<String> = Vec::new();
    for (k, it) in split.items.iter().enumerate() {
        if k > 0 && criterion_only(&it.to_ascii_lowercase()) {
            moved.push(it.clone());
        } else {
            keep.push(it.clone());
        }
    }
    split.items = keep;
    if let Some(item) = split.items.last_mut() {
        let sents: Vec<String> = sentences(item).into_iter().map(str::to_string).collect();
        let mut k = sents.len();
        while k > 1 && criterion_only(&sents[k - 1].to_ascii_lowercase()) {
            k -= 1;
        }
        moved.extend(sents[k..].iter().cloned());
        let mut kept = sents[..k].join(" ");
        // A verdict run on at the very end: "… in the readme tests pass".
        let kl = kept.to_ascii_lowercase();
        if let Some(m) = verdict_ranges(&kl).last().cloned()
            && re!(r"^[,.;:!? ]*(?:(?:for (?:both|all|each|every one)(?: of them| tasks| of these)?|on (?:both|all)|all of them|each of them|both of them|across (?:all|both)(?: of them)?|too|as well)[,.;:!? ]*)?$").is_match(&kl[m.end..])
            && words(&kept[..m.start]) >= 3
        {
            moved.push(kept[m.start..].to_string());
            kept.truncate(m.start);
            loop {
                let t = kept.trim_end().trim_end_matches([',', ';', ':']).trim_end().to_string();
                let lw = t.rsplit(' ').next().unwrap_or("").to_ascii_lowercase();
                let cue = matches!(lw.as_str(), "and" | "so" | "with" | "then" | "make" | "sure" | "ensure" | "that" | "verify" | "check" | "the" | "all" | "acceptance" | "criteria");
                if cue && t.contains(' ') {
                    kept.truncate(t.len() - lw.len());
                } else {
                    kept = t;
                    break;
                }
            }
        }
        *item = kept.trim().to_string();
    }
    for m in moved {
        let ml = m.to_ascii_lowercase();
        let body = match re!(r"^(?:and |also )?(?:acceptance(?: criteria| criterion)?|success criteria|criteria|definition of done|done when|it's done when)\b[:,]?\s*").find(&ml) {
            Some(x) => &m[x.end()..],
            None => &m,
        };
        for c in criteria_pieces(body, names) {
            if !split.shared.acceptance.contains(&c) {
                split.shared.acceptance.push(c);
            }
        }
    }
    split.items.retain(|i| words(i) >= 2);
}

/// Acceptance said once for all the items ("Build must pass for all of them").
fn pull_shared_acceptance(split: &mut Split, names: &Names) {
    let shared_re = re!(r"\b(?:for (?:both|all|each)(?: of them| tasks)?|all of them|each of them|every one|all three|both of them|across all)\b");
    for item in split.items.iter_mut() {
        let sentences: Vec<String> = sentences(item).into_iter().map(str::to_string).collect();
        let mut keep = Vec::new();
        for s in sentences {
            let l = s.to_ascii_lowercase();
            if shared_re.is_match(&l) && is_criterion_clause(&l) {
                let piece = shared_re.replace_all(&s, "").to_string();
                if criterion_only(&piece.to_ascii_lowercase()) {
                    for c in criteria_pieces(&piece, names) {
                        if !split.shared.acceptance.contains(&c) {
                            split.shared.acceptance.push(c);
                        }
                    }
                } else {
                    // "write tests for the invoice service tests must pass for both": the
                    // verdict is shared, the work stays.
                    let pl = piece.to_ascii_lowercase();
                    let mut rest = piece.clone();
                    for m in verdict_re().find_iter(&pl).collect::<Vec<_>>().into_iter().rev() {
                        for c in criteria_pieces(&piece[m.range()], names) {
                            if !split.shared.acceptance.contains(&c) {
                                split.shared.acceptance.push(c);
                            }
                        }
                        rest.replace_range(m.range(), "");
                    }
                    keep.push(rest.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            } else {
                keep.push(s);
            }
        }
        *item = keep.join(" ");
    }
    split.items.retain(|i| words(i) >= 2);
}

/// Sentences of a text (each with its closing mark).
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut start = 0;
    for i in 0..b.len() {
        if matches!(b[i], b'.' | b'?' | b'!') && (i + 1 == b.len() || b[i + 1] == b' ') {
            let s = text[start..=i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Clauses of a sentence: split at commas, semicolons, colons, and before "and make sure" etc.
fn clauses(sentence: &str) -> Vec<&str> {
    let s = sentence.trim_end_matches(['.', '?', '!']);
    let mut out = Vec::new();
    let lower = s.to_ascii_lowercase();
    let mut last = 0;
    for m in re!(r"[,;:] |[,;:]$| (?:acceptance criteria|acceptance criterion|done when|definition of done|success criteria|it's done when)\b| (?:and|but|then|so) (?:also )?(?:make sure|ensure|verify|check|confirm|keep|leave|don't|do not|dont|never|avoid|without|only|show|include|make it|it should|acceptance|write up|write (?:me )?(?:a|an|up)|report back|summari[sz]e|share|give me|send me|post|no (?:\w+ ){0,3}changes?|add (?:a |an |some )?(?:new )?(?:regression |unit |integration |e2e )?tests?)\b| (?:without|except) ").find_iter(&lower) {
        let piece = s[last..m.start()].trim();
        if !piece.is_empty() {
            out.push(piece);
        }
        // Keep the cue word ("make sure", "without") with the next clause.
        let t = m.as_str();
        last = if t.starts_with([',', ';', ':']) {
            m.end()
        } else {
            let skip = ["and ", "but ", "then ", "so "].iter().find(|p| t.trim_start().starts_with(*p)).map(|p| p.len()).unwrap_or(0);
            m.start() + 1 + skip
        };
    }
    let piece = s[last.min(s.len())..].trim();
    if !piece.is_empty() {
        out.push(piece);
    }
    out
}

const TASK_VERBS: &[&str] = &[
    "add", "fix", "upgrade", "bump", "update", "refactor", "rewrite", "write", "create", "implement", "build",
    "remove", "delete", "migrate", "replace", "rename", "move", "extract", "convert", "port", "clean", "tidy",
    "improve", "optimize", "optimise", "speed", "make", "change", "set", "configure", "enable", "disable",
    "investigate", "debug", "audit", "review", "document", "scope", "patch", "harden", "sanitize", "sanitise",
    "memoize", "translate", "polish", "redesign", "restyle", "generate", "draft", "prepare", "deprecate",
    "install", "integrate", "support", "introduce", "split", "consolidate", "dedupe", "deduplicate", "reduce",
    "increase", "adjust", "tweak", "align", "swap", "pin", "unpin", "format", "profile", "cache", "test",
    "upgrade", "bump", "lint", "fix", "look", "find", "figure", "check", "verify", "ensure", "add", "raise",
    "lower", "limit", "rate-limit", "validate", "handle", "bring", "get", "switch", "drop", "wire", "hook",
    "expose", "deploy", "ship", "revert", "roll", "backport", "localize", "localise", "rework", "modernize",
    "revamp", "simplify", "restructure", "reorganize", "reorganise", "decouple", "inline", "split", "paginate",
    "redirect", "resize", "compress", "lazy-load", "preload", "prefetch", "stub", "mock", "seed", "scaffold",
    "automate", "schedule", "queue", "dispatch", "start", "kick", "research", "explore", "prototype", "try",
    "design", "style", "rephrase", "reword", "proofread", "correct", "address", "resolve", "close", "archive",
    "publish", "release", "tag", "bundle", "containerize", "dockerize", "parallelize", "batch", "throttle",
    "debounce", "retry", "log", "instrument", "monitor", "alert", "track", "measure", "benchmark", "run", "bootstrap",
    "reload", "touch", "delete", "tighten", "loosen", "reword", "refresh", "regenerate", "rebuild", "reset", "rotate",
];

pub fn is_task_verb(w: &str) -> bool {
    TASK_VERBS.contains(&w) || CLAUSE_VERBS.contains(&w) && !matches!(w, "what's" | "what" | "how's" | "how")
}

/// Politeness and framing before the real request.
pub fn strip_polite(lower: &str) -> &str {
    let re = re!(r"^(?:(?:please|ok|okay|alright|so|now|hey|hi|hello|capcom|right|and|also|then|next|just|quickly|kindly|sorry|(?:so )?what (?:i|we) (?:need|want|would like) is(?: for (?:someone|somebody|you|an agent|one of the agents) to| to)?|(?:so )?what (?:i|we)'d like is(?: for (?:someone|somebody|you|an agent) to| to)?|yeah|yes|well|um|i think|i guess|i suppose|maybe|probably|perhaps|we should probably|we should|we could|we might want to|we may want to|it would be (?:nice|good|great) to|at some point|when you get a chance|if you can|if possible|(?:please )?(?:schedule|queue|dispatch|send|kick off)(?: up)? (?:it|this|these|them|that)(?: (?:for|at|on|by))*|go ahead and|can you|could you|would you|will you|can we|could we|let's|lets|let us|i want you to|i'd like you to|i would like you to|i need you to|i want to|i'd like to|i need to|we need to|we should|you should|i want|i'd like|we need|i need|someone should|somebody should|someone needs to|have someone|get someone to|time to|it's time to|new task|task|a task to|create a task to|open a task to|make a task to|queue (?:up )?(?:a task|a job|something) to|dispatch (?:a task|an agent|a job|someone|an agent) to|send (?:an agent|someone) to|spin up (?:an agent|a task) to|start (?:an agent|a task) (?:to|that)|i've got a task|here's a task|brief)[,:]?\s+)+");
    match re.find(lower) {
        Some(m) => &lower[m.end()..],
        None => lower,
    }
}

/// An agent named with an assignment cue: "use Copilot to", "have Jules", "ask Cursor to",
/// "with Copilot", "Jules, …", "for Claude".
pub fn agent_in(lower: &str, names: &Names) -> Option<String> {
    let cue = re!(r"(?:\b(?:use|using|have|has|ask|get|let|with|via|through|by|for|to|on|tell|want|need|would like|'d like|assign(?:ed)?(?: (?:it|this|that|these|them))? to|send(?: (?:it|this|that|these|them))?(?: over| off| across)? to|give(?: (?:it|this|that|these|them))?(?: over)? to|hand(?: (?:it|this|that|these|them))?(?: off| over)? to|pass(?: (?:it|this|that|these|them))?(?: over| along)? to|forward(?: (?:it|this|that|these|them))? to|dispatch(?: (?:it|this|that|these|them))? to|route(?: (?:it|this|that|these|them))? to|put)\s+)(?:the\s+)?([a-z][a-z0-9-]*(?: (?:code|cli|agent|cloud))?)\b");
    for c in cue.captures_iter(lower) {
        let w = &c[1];
        let first = w.split(' ').next().unwrap_or(w);
        if let Some(a) = names.agent_word(w).or_else(|| names.agent_word(first)).or_else(|| names.known_agent(first)) {
            let whole = c.get(0).map(|m| m.as_str()).unwrap_or("");
            // "the cursor position" is not an agent: after "the", the name must end the phrase
            // or be followed by "agent".
            let after = &lower[c.get(0).map(|m| m.end()).unwrap_or(0)..];
            let next = after.split_whitespace().next().unwrap_or("");
            if whole.contains("the ") && !(w.ends_with("agent") || next == "agent" || next.is_empty()) {
                continue;
            }
            // "for cursor" / "on cursor" / "to cursor" need the name to stand alone.
            let weak = re!(r"^(?:for|to|on|by) ").is_match(whole.trim_start_matches(|ch: char| !ch.is_ascii_alphabetic()));
            if weak && !(next.is_empty() || matches!(next, "to" | "and" | "please" | "tonight" | "tomorrow" | "overnight") || after.trim_start().starts_with([',', '.', ';', '!', '?'])) {
                continue;
            }
            return Some(a.to_string());
        }
    }
    // "give Cursor the job of …", "hand Jules this one", "let Copilot take it".
    for c in re!(r"\b(?:give|hand|pass|assign|let|put) ([a-z][a-z0-9-]*)(?: (?:code|cli|cloud))? (?:the (?:job|task|work|ticket)|this|that|it|on it|take)\b").captures_iter(lower) {
        if let Some(a) = names.agent_word(&c[1]).or_else(|| names.known_agent(&c[1])) {
            return Some(a.to_string());
        }
    }
    // "Jules: …", "Copilot, …", "Jules should …", "can Jules …" at the start.
    if let Some(c) = re!(r"^(?:(?:hey|ok|okay|so|please|can|could|would|will) )?([a-z][a-z0-9-]*)(?:[,:.]| should| can| could| will| please|\s)\s*").captures(lower)
        && let Some(a) = names.agent_word(&c[1]).or_else(|| names.known_agent(&c[1]))
    {
        return Some(a.to_string());
    }
    None
}

/// A repo named with a cue: "on the website", "in the api repo", "for backend", "site repo",
/// "migrate the api from …".
pub fn repo_in(lower: &str, names: &Names) -> Option<String> {
    // Words with a flag for punctuation right after them.
    let toks: Vec<(&str, bool)> = lower
        .split_whitespace()
        .map(|w| {
            let t = w.trim_end_matches(|c: char| ",.;:!?\"".contains(c));
            (t.trim_start_matches('"'), t.len() != w.len())
        })
        .collect();
    const PREPS: &[&str] = &["in", "on", "for", "to", "against", "inside", "within", "at", "from", "of", "into", "across", "over"];
    const MODIFIED: &[&str] = &[
        "routes", "route", "docs", "doc", "keys", "key", "client", "clients", "calls", "call", "endpoint", "endpoints",
        "layer", "gateway", "spec", "specs", "schema", "version", "versions", "reference", "design", "copy", "header",
        "footer", "team", "contract", "response", "responses", "request", "requests", "token", "tokens", "limits",
        "limit", "usage", "surface", "wrapper", "types", "logs", "traffic", "page", "pages", "redesign", "launch",
        "hero", "nav", "navigation", "menu", "theme", "styles", "components", "folder", "directory",
    ];
    const SUFFIX: &[&str] = &["repo", "repository", "project", "codebase", "side", "service", "monorepo", "app", "code", "repos"];
    let word = |i: usize| toks.get(i).map(|t| t.0).unwrap_or("");
    let stops_after = |i: usize| toks.get(i).is_none_or(|t| t.1) || is_phrase_end(word(i + 1));
    for i in 0..toks.len() {
        let w = word(i);
        let lead = PREPS.contains(&w) || (w == "the" && i > 0);
        if !lead {
            continue;
        }
        let mut j = i + 1;
        while matches!(word(j), "the" | "our" | "my") {
            j += 1;
        }
        if j >= toks.len() {
            break;
        }
        // A two-word alias ("web app").
        if !toks[j].1 && let Some(r) = names.repo_word(&format!("{} {}", word(j), word(j + 1))) {
            return Some(r.to_string());
        }
        if let Some(r) = names.repo_word(word(j)) {
            let suffix = !toks[j].1 && SUFFIX.contains(&word(j + 1));
            let bare_ok = if w == "the" {
                // "migrate the api from express": only before a preposition or the end.
                toks[j].1 || matches!(word(j + 1), "" | "from" | "to" | "so" | "and" | "with" | "repo" | "repository" | "codebase" | "project")
            } else {
                // "on the website crashes …" names the repo; "in the api routes" names a part.
                stops_after(j) || !MODIFIED.contains(&word(j + 1))
            };
            if suffix || bare_ok {
                return Some(r.to_string());
            }
        }
    }
    // "the backend's package.json", "website's footer": a possessive names the repo.
    for (w, _) in &toks {
        if let Some(stem) = w.strip_suffix("'s").or_else(|| w.strip_suffix("s'"))
            && let Some(r) = names.repo_word(stem)
        {
            return Some(r.to_string());
        }
    }
    // "the api repo", "website repo" anywhere.
    for i in 0..toks.len().saturating_sub(1) {
        if !toks[i].1
            && matches!(word(i + 1), "repo" | "repository" | "codebase" | "project")
            && let Some(r) = names.repo_word(word(i))
        {
            return Some(r.to_string());
        }
    }
    None
}

fn is_phrase_end(w: &str) -> bool {
    w.is_empty()
        || matches!(
            w,
            "build" | "builds" | "tests" | "test" | "lint" | "typecheck" | "type" | "ci" | "make" | "ensure" | "acceptance"
                | "it" | "they" | "we" | "i" | "you" | "someone" | "somebody" | "can" | "could" | "should" | "would" | "will"
                | "must" | "needs" | "is" | "are" | "has" | "was" | "there" | "everything" | "also"
                | "keep" | "leave" | "don't" | "do" | "until" | "while" | "without" | "except" | "because" |
            "and" | "to" | "so" | "but" | "then" | "with" | "only" | "please" | "tonight" | "tomorrow" | "overnight" | "at"
                | "in" | "on" | "for" | "using" | "via" | "by" | "before" | "after" | "when" | "which" | "that" | "where"
                | "too" | "as" | "first" | "today" | "this" | "next" | "asap" | "now" | "use" | "have" | "ask"
        )
}

/// Build one task from its text.
/// In a long brief spoken without any punctuation, put a pause before the words that start a
/// new clause ("… latest version fix breaking changes … leave app routes untouched …").
fn add_pauses(text: &str) -> String {
    if text.contains([',', '.', ';', ':', '?', '!']) || words(text) < 12 {
        return text.to_string();
    }
    const CUES: &[&str] = &[
        "fix", "leave", "keep", "don't", "ensure", "check", "verify", "show", "add", "acceptance", "make", "do",
        "also", "then", "update", "remove", "write", "include", "avoid", "never", "only", "the", "no",
    ];
    // Verbs that are also nouns ("a security audit of …") open a clause only before an object.
    const VERBS: &[&str] = &[
        "bump", "upgrade", "delete", "rename", "refactor", "migrate", "replace", "create", "implement", "extract",
        "convert", "investigate", "audit", "patch", "harden", "swap",
    ];
    const NO_PAUSE_AFTER: &[&str] = &[
        "to", "and", "or", "then", "will", "should", "can", "must", "please", "i", "we", "you", "it", "they", "not",
        "also", "would", "could", "the", "a", "an", "and", "but", "so", "that", "which", "who", "don't", "do", "just",
        "of", "in", "on", "for", "with", "by", "at", "from", "is", "are", "be", "let's", "me", "us", "them", "make", "sure",
    ];
    let ws: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    // Where a verdict starts ("… no visual changes build passes"), by word.
    let joined = ws.join(" ").to_ascii_lowercase();
    let verdict_words: Vec<usize> = verdict_ranges(&joined).iter().map(|r| joined[..r.start].split(' ').filter(|w| !w.is_empty()).count()).collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_criteria = false;
    for (k, w) in ws.iter().enumerate() {
        let lw = w.to_ascii_lowercase();
        let prev = if k > 0 { ws[k - 1].to_ascii_lowercase() } else { String::new() };
        let next = ws.get(k + 1).map(|n| n.to_ascii_lowercase()).unwrap_or_default();
        // Which cue words open a clause, judged with the word after them.
        let opens = match lw.as_str() {
            "the" => matches!(next.as_str(), "build" | "tests") && matches!(ws.get(k + 2).map(|x| x.to_ascii_lowercase()).as_deref(), Some("must" | "should" | "passes" | "pass" | "is" | "are" | "still" | "stays")),
            "check" => matches!(next.as_str(), "the" | "that" | "it" | "on" | "in") && !matches!(prev.as_str(), "regression" | "visual" | "manual" | "quick" | "design" | "type" | "a"),
            "make" => next == "sure",
            "do" => next == "not",
            "acceptance" => next == "criteria" || next == "criterion",
            // "… no visual changes …", "… no new dependencies …".
            "no" => ws[k + 1..ws.len().min(k + 4)].iter().any(|x| x.to_ascii_lowercase().starts_with("change"))
                || matches!(next.as_str(), "new" | "breaking" | "behaviour" | "behavior" | "public" | "visual" | "schema"),
            v if VERBS.contains(&v) => matches!(next.as_str(), "the" | "a" | "an" | "all" | "our" | "my" | "this" | "that" | "these" | "those" | "any" | "some" | "it" | "them" | "every" | "out" | "up"),
            _ => CUES.contains(&lw.as_str()),
        };
        let opens = opens || verdict_words.contains(&k);
        if k > 2 && opens && !in_criteria && !NO_PAUSE_AFTER.contains(&prev.as_str()) {
            out.push(',');
        }
        // Criteria after "acceptance criteria" are split by their verdicts instead.
        if lw == "acceptance" || (lw == "done" && next == "when") {
            in_criteria = true;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

pub fn task(text: &str, shared: &Shared, ctx: &Context, names: &Names) -> TaskSpec {
    // `brief` keeps the item's words as found in the cleaned text, so `parse` can quote the
    // transcript for them; the pauses below are for reading only.
    let mut spec = TaskSpec { brief: text.to_string(), ..TaskSpec::default() };
    let paused = add_pauses(text);
    let text = paused.as_str();
    let lower = text.to_ascii_lowercase();

    let found = when::schedule(&lower, ctx.now);
    spec.schedule = found.as_ref().map(|f| f.at).or(shared.schedule);
    // Blank the time words so they stay out of the title and the clauses.
    let mut body_text = text.to_string();
    if let Some(f) = &found {
        for r in &f.spans {
            if r.end <= body_text.len() && body_text.is_char_boundary(r.start) && body_text.is_char_boundary(r.end) {
                body_text.replace_range(r.clone(), &" ".repeat(r.len()));
            }
        }
    }
    spec.agent = agent_in(&lower, names).or_else(|| shared.agent.clone());
    spec.repo = repo_in(&lower, names).or_else(|| shared.repo.clone()).or_else(|| super::default_repo(ctx.config));
    spec.scope = scope(&lower, names);
    spec.scope_unplaced = unplaced_scope(&lower, names);

    let mut body: Vec<String> = Vec::new();
    let mut first = true;
    // "No behaviour changes and no public API changes, refactor the auth middleware": a
    // constraint said before the work.
    let lead_constraint = sentences(&body_text).first().is_some_and(|s| {
        let cs = clauses(s);
        cs.len() > 1
            && is_constraint_clause(&cs[0].to_ascii_lowercase())
            && cs[1..].iter().any(|c| c.split_whitespace().next().is_some_and(|w| is_task_verb(&w.to_ascii_lowercase())))
    });
    for sentence in sentences(&body_text) {
        let mut in_criteria = false;
        for clause in clauses(sentence) {
            let c = clause.trim();
            let cl = c.to_ascii_lowercase();
            let cl = cl.trim();
            if cl.is_empty() {
                continue;
            }
            // "Cursor: fix …" — the name alone is an address, not the work.
            let addr = cl.trim_start_matches("hey ").trim_end_matches(" please");
            if first && words(addr) <= 2 && names.agent_word(addr).is_some() {
                continue;
            }
            // "Send this over to Jules: …", "give it to Codex cloud, …" — only who does it.
            if first
                && let Some(c) = re!(r"^(?:please |ok |okay |so )?(?:send|give|hand|pass|assign|route|dispatch|forward)(?: (?:this|it|that|these|them|the following)(?: one)?)?(?: over| off| along| across)? to (?:the )?([a-z][a-z0-9-]*)(?:[ -](?:code|cli|cloud|agent))?$").captures(cl)
                && (names.agent_word(&c[1]).is_some() || names.known_agent(&c[1]).is_some())
            {
                continue;
            }
            if re!(r"^(?:hi|hello|hey|hey there|good morning|morning|ok|okay|thanks|thank you|cheers|so|right|alright)(?: capcom)?[!.]?$").is_match(cl) {
                continue;
            }
            // "can you," on its own before the request.
            if first && strip_polite(&format!("{cl} x")) == "x" {
                continue;
            }
            // "Okay, here's a big one." — framing before the brief.
            if first && re!(r"^(?:okay |ok |so |alright )?(?:here's|here is|i have|i've got|got|this is) (?:a|an|one|another) (?:big |small |quick |new |more |last |tricky |easy )?(?:one|task|thing|brief|job|request)$").is_match(cl) {
                continue;
            }
            // "Queue this for tomorrow at 8:" — framing whose time words were taken out.
            if first && re!(r"^(?:please )?(?:queue|schedule|dispatch|run|do|start|kick off|send)(?: up)?(?: this| it| these| that| the following)?(?: one)?(?: for| at| on| by)?(?: (?:for|at|on|by))*\s*$").is_match(cl) {
                continue;
            }
            // "In the backend, investigate …" — a lead-in that only says where.
            if first && re!(r"^(?:in|on|for|at|inside|within|across|over|from|regarding|about|over in|on the side of) (?:the |our |my )?\S+(?: \S+){0,3}$").is_match(cl) && !verdict(cl) {
                continue;
            }
            let opens_criteria = re!(r"^(?:and |also |the )?(?:acceptance(?: criteria| criterion)?|success criteria|criteria|definition of done|done when|it's done when|it is done when|done means|success (?:is|means)|we're done when|to verify|verification)\b").find(cl);
            if let Some(m) = opens_criteria {
                in_criteria = true;
                let rest = c[m.end()..].trim_start_matches(|ch: char| ch == ':' || ch == ',' || ch.is_whitespace());
                let rest = strip_prefix_ci(rest, &["is ", "are ", "that ", "are that ", "is that "]);
                if !rest.is_empty() {
                    push_criteria(&mut spec.acceptance, rest, names);
                }
                continue;
            }
            if in_criteria {
                push_criteria(&mut spec.acceptance, c, names);
                continue;
            }
            let criterion = is_criterion_clause(cl);
            if criterion && !first {
                push_criteria(&mut spec.acceptance, c, names);
                continue;
            }
            if !first && is_constraint_clause(cl) {
                spec.constraints.push(lower_first(strip_prefix_ci(c, &["and ", "but ", "also ", "please "])));
                continue;
            }
            // "Test it with …", "verify by …", "show red and green runs", "check the demos
            // page": how to accept the work, a check when a verdict names one, else a person.
            if !first && re!(r"^(?:and |also |then |please )?(?:test (?:it |this |that |them |the fix |the change )?(?:with|by|using|against|on)|verify (?:it |this |that |the fix )?(?:by|with|using|on|against)|to verify|show (?:me )?(?:the )?(?:red(?:/| and | then | to )green|failing and passing|before and after|a failing then passing)|check (?:the |that )[a-z0-9/ -]+ (?:page|screen|view|route)s?|prove (?:it|that))\b").is_match(cl) {
                let text = lower_first(strip_prefix_ci(c, &["and ", "also ", "then ", "please "]));
                let checks = if verdict(cl) { checks_for(cl, names) } else { Vec::new() };
                if checks.is_empty() {
                    let crit = Criterion { text, check: None };
                    if !spec.acceptance.contains(&crit) {
                        spec.acceptance.push(crit);
                    }
                } else {
                    for ch in checks {
                        let crit = Criterion { text: text.clone(), check: Some(ch) };
                        if !spec.acceptance.contains(&crit) {
                            spec.acceptance.push(crit);
                        }
                    }
                }
                continue;
            }
            // "add a test for it": more work, checked by the test suite.
            if !first && re!(r"^(?:and |also |then |please )?(?:add|write|include|cover (?:it|this) with) (?:a |an |some |the )?(?:new )?(?:regression |unit |integration |e2e |end to end |snapshot )?(?:tests?|specs?)\b").is_match(cl) {
                let text = lower_first(strip_prefix_ci(c, &["and ", "also ", "then ", "please "]));
                spec.deliverables.push(text.clone());
                let crit = Criterion { text, check: Some("test".into()) };
                if !spec.acceptance.contains(&crit) {
                    spec.acceptance.push(crit);
                }
                continue;
            }
            if !first && is_deliverable_clause(cl) {
                spec.deliverables.push(lower_first(strip_prefix_ci(c, &["and ", "also ", "then ", "please "])));
                continue;
            }
            if first && criterion {
                // "Make the failing tests pass" is both the goal and how to check it; in a
                // run-on clause only the verdict phrases count ("… in the site repo tests green").
                for span in verdict_spans(c) {
                    for crit in criteria_pieces(span, names) {
                        if crit.check.is_some() && !spec.acceptance.contains(&crit) {
                            spec.acceptance.push(crit);
                        }
                    }
                }
            }
            if first && is_constraint_clause(cl) && (!body.is_empty() || lead_constraint) {
                spec.constraints.push(lower_first(c));
                continue;
            }
            body.push(c.to_string());
            first = false;
        }
    }
    for c in &shared.acceptance {
        if !spec.acceptance.contains(c) {
            spec.acceptance.push(c.clone());
        }
    }
    // Counted deliverables anywhere: "four headline variants".
    for m in re!(r"\b(\d+|two|three|four|five|six|several|a few|a couple of) ((?:[a-z-]+ ){0,2}(?:variants?|options?|versions?|alternatives?|proposals?|drafts?|mockups?|examples?|screenshots?|ideas?|designs?|headlines?|suggestions?|approaches|candidates?|taglines?|layouts?))\b").find_iter(&lower) {
        let d = text[m.range()].to_string();
        if !spec.deliverables.iter().any(|x| x.to_ascii_lowercase().contains(&d.to_ascii_lowercase())) {
            spec.deliverables.push(d);
        }
    }
    let first_l = body.first().map(|b| b.to_ascii_lowercase()).unwrap_or_default();
    let rest_l = body.iter().skip(1).map(|b| b.to_ascii_lowercase()).collect::<Vec<_>>().join(". ");
    spec.kind = kind(&first_l, &rest_l, &lower);
    spec.title = title(&body, spec.kind, names);
    spec
}

/// "fixing the navbar" → "fix the navbar"; other words as they are.
fn imperative_of_gerund(t: &str) -> String {
    let first = t.split_whitespace().next().unwrap_or("");
    let fl = first.to_ascii_lowercase();
    let Some(stem) = fl.strip_suffix("ing") else { return t.to_string() };
    let base = [stem.to_string(), format!("{stem}e"), stem[..stem.len().saturating_sub(1)].to_string()]
        .into_iter()
        .find(|b| !b.is_empty() && is_task_verb(b));
    match base {
        Some(b) => format!("{b}{}", &t[first.len()..]),
        None => t.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let s = s.trim().trim_end_matches(['.', ',', ';']);
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => {
            let second = s.chars().nth(1);
            // Keep acronyms ("CSS", "API") and names as spoken.
            if second.is_some_and(|c| c.is_uppercase()) {
                s.to_string()
            } else {
                f.to_lowercase().collect::<String>() + cs.as_str()
            }
        }
        None => String::new(),
    }
}

pub fn is_criterion_clause(cl: &str) -> bool {
    let cl = cl.trim_start_matches("and ").trim_start_matches("also ");
    if re!(r"^(?:(?:with |and )?(?:a |an )?(?:visual|manual|quick) (?:regression )?(?:check|review|test|inspection|pass))\b").is_match(cl) {
        return true;
    }
    if re!(r"^(?:make sure|ensure|verify|confirm that|check that|check the|check it|validate|so that|until|it should pass|should pass|must pass)\b").is_match(cl) {
        return !re!(r"^(?:make sure|ensure) (?:to |you |we |that you |it doesn't |nothing|no )").is_match(cl) || verdict(cl);
    }
    verdict(cl)
}

fn verdict(cl: &str) -> bool {
    verdict_re().is_match(cl)
}

/// The verdict phrases of a clause, with the speaker's casing.
fn verdict_spans(c: &str) -> Vec<&str> {
    let l = c.to_ascii_lowercase();
    verdict_re().find_iter(&l).map(|m| &c[m.range()]).collect()
}

/// The verdicts of a text, each as short as it can be: "write a migration test on the
/// backend tests pass" has the verdict "tests pass", not "test on the backend tests pass".
fn verdict_ranges(l: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    for m in verdict_re().find_iter(l) {
        let mut r = m.range();
        let mut from = r.start + 1;
        while from < r.end {
            match verdict_re().find(&l[from..r.end]) {
                Some(n) if from + n.end() == r.end => {
                    r = from + n.start()..r.end;
                    from = r.start + 1;
                }
                Some(n) => from += n.start() + 1,
                None => break,
            }
        }
        out.push(r);
    }
    out
}

fn verdict_re() -> &'static super::pattern::Re {
    re!(r"\b(?:builds?|tests?|specs?|suite|lint(?:er|ing)?|eslint|clippy|typecheck(?:s|ing)?|type check(?:s|ing)?|types|type errors|tsc|ci|checks?|pipeline|compil(?:e|es|ation))\b(?:\s+[^\s,.;:]+){0,4}?\s+(?:pass|passes|passing|passed|green|clean|succeed|succeeds|ok|okay|works|compiles?|stays? green|still pass(?:es)?|are happy|is happy|go green|goes green|come back green|clear)\b|\bno (?:type|lint(?:ing)?|build|compile|typescript) (?:errors|warnings|failures)\b|\b(?:compiles|builds) cleanly\b|\bkeep (?:the )?(?:tests?|build|ci|checks|lint) (?:green|passing|clean)\b|\b(?:lint|type ?check)[- ]clean\b|\b(?:green|passing) (?:build|tests|ci|checks)\b|\bwith (?:passing|green) (?:tests|build|ci|checks)\b|\bvisual regression\b")
}

fn is_constraint_clause(cl: &str) -> bool {
    re!(r"^(?:and |but |please |also |just )?(?:keep|preserve|maintain|retain|don't|do not|dont|never|avoid|no new|without|leave|must not|mustn't|should not|shouldn't|only use|stick to|stay within|stay inside|use the existing|reuse|respect|not (?:\w+ )?(?:the|any|a)|no changes|no (?:\w+ ){0,3}(?:changes?|regressions?|breaking changes?|dependencies|deps|rewrites?|refactors?|migrations?|downtime)|nothing (?:in|under|outside|else)|limit changes|match the existing|follow the existing|backwards? compatible|stay backwards|must remain|needs to stay|has to stay|(?:the )?(?:public )?api (?:must|should|has to|needs to) stay)\b").is_match(cl)
}

fn is_deliverable_clause(cl: &str) -> bool {
    re!(r"^(?:and |also |then |please )?(?:show|produce|give me|deliver|provide|include|attach|return|generate|send me|post|share|list|write up|draft|prepare|report|summarize|summarise|open a pr|open a pull request|i want|i'd like|add screenshots|with screenshots|leave a (?:comment|note|summary)|write (?:me )?(?:a |an )?(?:short |brief |quick |one-page |small )?(?:summary|report|note|write-?up|post-?mortem))\b").is_match(cl)
}

const CUES: &[&str] = &[
    "make sure that ", "make sure ", "ensure that ", "ensure ", "verify that ", "confirm that ", "check that ",
    "so that ", "and ", "also ", "then ", "that ", "until ", "it should ", "and that ",
];

fn push_criteria(out: &mut Vec<Criterion>, text: &str, names: &Names) {
    for c in criteria_pieces(text, names) {
        if !out.iter().any(|o| o.text.eq_ignore_ascii_case(&c.text) && o.check == c.check) {
            out.push(c);
        }
    }
}

/// Criteria from one stretch of text: split at "and"/commas, then after each verdict word
/// when nothing separated them ("build passes component tests green").
pub fn criteria_pieces(text: &str, names: &Names) -> Vec<Criterion> {
    let mut out = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let text = text.trim().trim_end_matches(['.', '!', '?']);
    for piece in re!(r"\s*(?:,|;|\band\b|\bplus\b|\bas well as\b)\s*").split(text) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let pl = piece.to_ascii_lowercase();
        let mut last = 0;
        let mut parts: Vec<&str> = Vec::new();
        for m in re!(r"\b(?:passes|pass|passing|green|clean|succeeds|compiles|works)\b").find_iter(&pl) {
            let rest = pl[m.end()..].trim();
            if words(rest) >= 2 && !rest.starts_with(|c: char| c.is_ascii_digit()) && !rest.starts_with("on ") && !rest.starts_with("in ") && !rest.starts_with("for ") && !rest.starts_with("with ") && !rest.starts_with("locally") && !rest.starts_with("after") {
                parts.push(&piece[last..m.end()]);
                last = m.end();
            }
        }
        parts.push(&piece[last..]);
        for p in parts {
            let p = strip_prefix_ci(p.trim(), CUES).trim();
            let p = p.trim_matches(|c: char| ",.;: ".contains(c));
            if words(p) > 0 {
                texts.push(p.to_string());
            }
        }
    }
    // "typecheck and lint must pass": a bare check name borrows the verdict after it.
    let verdict_tail = re!(r"\b((?:should|must|to|will|needs? to|have to|has to)?\s*(?:still |both |all )?(?:pass|passes|be green|are green|is green|green|clean|be clean|is clean|succeed|succeeds|stay green|stays green))\s*$");
    for k in 0..texts.len() {
        let tl = texts[k].to_ascii_lowercase();
        let bare = words(&tl) <= 3 && !verdict_tail.is_match(&tl) && !verdict(&tl);
        if bare
            && let Some(tail) = texts[k + 1..].iter().find_map(|t| verdict_tail.captures(&t.to_ascii_lowercase()).map(|c| c[1].trim().to_string()))
        {
            texts[k] = format!("{} {tail}", texts[k]);
        }
    }
    for p in texts {
        let pl = p.to_ascii_lowercase();
        let checks = checks_for(&pl, names);
        if checks.is_empty() {
            // "fix it on the site with a visual check on the signup page" → the check part.
            let text = match re!(r"\b(?:(?:a|an|the) )?(?:visual|manual|quick|design|ux|accessibility) (?:regression )?(?:check|review|test|inspection|pass)\b.*$").find(&pl) {
                Some(m) if m.start() > 0 => p[m.start()..].to_string(),
                _ => p.clone(),
            };
            out.push(Criterion { text: lower_first(&text), check: None });
        } else {
            for ch in checks {
                out.push(Criterion { text: lower_first(&p), check: Some(ch) });
            }
        }
    }
    out
}

/// Check names a criterion names: configured names first, then the built-in meanings of
/// build, test, lint and typecheck. Empty for criteria a person judges.
pub fn checks_for(pl: &str, names: &Names) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // A configured check named outright ("e2e", "audit", "format").
    for name in &names.checks {
        if matches!(name.as_str(), "build" | "test" | "lint" | "typecheck") {
            continue;
        }
        let spoken = name.replace(['-', '_'], " ");
        if re_word(pl, &spoken) || re_word(pl, name) {
            out.push(name.clone());
        }
    }
    if !out.is_empty() {
        return out;
    }
    if re!(r"\b(?:visual(?:ly)?|manual(?:ly)?|by hand|eyeball|look(?:s)? (?:good|right|fine)|screenshots?|preview|in the browser|on (?:my|a) phone|i(?:'ll| will) (?:check|look|review)|check the [a-z0-9/ -]+ page|on the [a-z0-9/ -]+ page|demo|storybook|design review|sign[- ]off|approval)\b").is_match(pl) {
        return out;
    }
    let builtin = |n: &str| n.to_string();
    if re!(r"\b(?:ci|all (?:the )?checks|every check|all checks|the checks|pipeline)\b").is_match(pl) {
        let mut all: Vec<String> = names.checks.clone();
        if all.is_empty() {
            all = vec!["build".into(), "test".into()];
        }
        return all;
    }
    if re!(r"\b(?:type ?check(?:s|ing|er)?|type-check(?:s|ing)?|types?|type errors|tsc|mypy|typescript)\b").is_match(pl) {
        out.push(builtin("typecheck"));
    }
    if re!(r"\b(?:lint(?:s|er|ing|ed)?|eslint|clippy|stylelint|ruff)\b").is_match(pl) {
        out.push(builtin("lint"));
    }
    if re!(r"\b(?:tests?|testing|specs?|suite|jest|vitest|playwright|cypress|pytest|e2e|coverage)\b").is_match(pl) {
        out.push(builtin("test"));
    }
    if re!(r"\b(?:builds?|building|compiles?|compilation|compiling)\b").is_match(pl) {
        out.push(builtin("build"));
    }
    out
}

fn re_word(hay: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let mut start = 0;
    while let Some(p) = hay[start..].find(word) {
        let a = start + p;
        let b = a + word.len();
        let before_ok = a == 0 || !hay.as_bytes()[a - 1].is_ascii_alphanumeric();
        let after_ok = b == hay.len() || !hay.as_bytes()[b].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        start = a + word.len().max(1);
        if start >= hay.len() {
            break;
        }
    }
    false
}

/// System folders: an absolute path under one of them is outside any repo.
const SYSTEM_ROOTS: &[&str] = &["etc", "usr", "var", "root", "tmp", "opt", "bin", "sbin", "dev", "proc", "sys", "boot", "mnt", "srv"];
/// Folders that are outside any repo only with more path after them ("/home/me/.ssh"; "/home" may be a route).
const HOME_ROOTS: &[&str] = &["home", "users", "volumes", "private"];

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
fn in_repo_path<'a>(path: &'a str, root: &str) -> Option<&'a str> {
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
    let excl: [&super::pattern::Re; 6] = [
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
    let incl: [&super::pattern::Re; 6] = [
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
const DIR_WORDS: &[&str] = &["directory", "directories", "folder", "folders", "dir", "dirs", "subfolder", "subfolders", "subdirectory", "subdirectories", "packages", "modules"];

/// A scope phrase with the list it heads: "components" in "the components and stories
/// directories" becomes "components and stories directories". Returns the phrase and where
/// it ends in `lower`.
fn with_list(lower: &str, range: std::ops::Range<usize>, names: &Names) -> (String, usize) {
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
fn to_paths(phrase: &str, names: &Names, exclude: bool) -> Vec<String> {
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

const GENERIC_TAIL: &[&str] = &[
    "directory", "directories", "folder", "folders", "dir", "dirs", "routes", "route", "files", "file", "code",
    "module", "modules", "package", "packages", "tree", "subtree", "stuff", "area", "logic", "layer", "pages",
    "subdirectory", "subfolder", "only", "please", "untouched", "alone", "directories", "subfolders",
    "subdirectories",
];
const NOT_PATH: &[&str] = &[
    "it", "them", "that", "this", "those", "these", "everything", "anything", "something", "nothing", "code",
    "codebase", "project", "repo", "repository", "app", "the", "a", "an", "and", "or", "but", "so", "to", "of",
    "is", "are", "be", "any", "all", "other", "rest", "existing", "current", "same", "way", "behavior",
    "behaviour", "api", "tests", "test", "build", "lint", "public", "interface", "scope", "global", "changes",
    "change", "things", "logic", "stuff", "files", "file", "versions", "version", "dependencies", "deps", "yet",
    "order", "place", "mind", "track", "sure", "time", "lockfile", "ui", "design", "typography", "tokens",
];

/// Words that are a folder only with a folder word after them ("app routes", "api folder").
const BARE_ONLY: &[&str] = &["app", "api", "public", "ui", "design", "tests", "test", "build", "scripts", "config"];

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

/// The kind of a task from the first clause of its body (what to do), then the rest of the
/// body, and, weakest, the whole text.
pub fn kind(first: &str, rest: &str, whole: &str) -> TaskKind {
    let first = strip_polite(first);
    // "… unit tests green" says how to check it, not what the change is.
    let first_owned = verdict_re().replace_all(first, "").to_string();
    let first = first_owned.trim();
    let rules: [(TaskKind, &super::pattern::Re, f32); 21] = [
        (TaskKind::DependencyUpgrade, re!(r"^(?:upgrade|bump|update (?:all )?(?:the |our )?(?:\w+ )?(?:packages?|deps|dependencies))\b|\b(?:upgrade|bump)\b"), 3.0),
        (TaskKind::DependencyUpgrade, re!(r"\b(?:dependenc(?:y|ies)|deps|packages?|to (?:the )?(?:latest|newest)|to v\d+|to version|lockfile|migrate to|(?:update|move) (?:\S+ ){1,2}to (?:v?\d|the latest|version))\b"), 2.0),
        (TaskKind::BugFix, re!(r"\b(?:bugs?|broken|crash(?:es|ing)?|errors?|failing|fails|regression|doesn't work|does not work|not working|wrong|incorrect|leak(?:s|ing)?|glitch|off by one|race condition|hotfix|exception|500s?|can't|cannot|can not|unable to|won't|isn't working|the problem is|the issue is|404 errors?|returns? (?:a )?404|404s|timeout|keeps failing|hang(?:s|ing)?|flicker(?:s|ing)?)\b"), 2.0),
        (TaskKind::BugFix, re!(r"^fix\b|\bfix (?:the |a |an )?\w+"), 1.5),
        // "the signup form doesnt validate emails": something fails to do its job.
        (TaskKind::BugFix, re!(r"\b(?:doesn'?t|does not|isn'?t|is not|won'?t|can'?t|cannot|no longer|stopped) (?:validate|work|load|save|show|render|send|open|close|submit|redirect|scroll|display|compile|build|update|refresh|respond|connect|upload|download|sort|filter|paginate|log ?in|sign ?in)\b"), 2.0),
        (TaskKind::Feature, re!(r"^(?:add|implement|introduce|build|create|support|enable|allow|let users|make it possible)\b"), 2.0),
        (TaskKind::Feature, re!(r"\b(?:implement|introduce|support|enable|allow|feature|optimistic|new|toggle|button|endpoint|page|form|modal|option|setting|settings|flag|widget|dashboard|skeleton|pagination|search|filter|export|import|upload|notifications?|onboarding)\b"), 1.2),
        (TaskKind::Refactor, re!(r"\b(?:refactor(?:ing)?|clean ?up|restructure|extract|rename|simplify|reorganis?z?e|dedupe|deduplicate|tech debt|memoi[sz]e|consolidate|decouple|split (?:up )?the|modernize|dead code|unused|deprecated|remove (?:the )?(?:old|obsolete|stale|legacy)|(?:merge|combine|unify) (?:\S+ ){1,4}(?:into|with))\b"), 3.0),
        (TaskKind::Refactor, re!(r"\brewrite\b"), 1.5),
        (TaskKind::Css, re!(r"\b(?:css|styles?|styling|scss|sass|layout|padding|margins?|colou?rs?|fonts?|responsive|dark mode|visual(?:ly)?|spacing|alignment|z-index|scoping|global scope|theme|design tokens|animations?|hover|breakpoints?|flexbox|grid|tailwind classes|looks? (?:off|wrong|bad|broken|weird)|ui polish|restyle|misaligned|align|sticky|centered|centre|center|overlap(?:s|ping)?|overflow(?:s|ing)?|cut off|clipped|truncated)\b"), 2.5),
        (TaskKind::Copy, re!(r"\b(?:(?:the|site|marketing|landing page|hero|page|button|ui|website|product|app|our) copy\b|copy(?:writing| changes?| edits?| updates?| tweaks?| text| deck)\b|^copy\b|headlines?|microcopy|taglines?|blurbs?|cta|call to action|translations?|messaging|text on|error messages?|labels?|button text|hero text|translate|locali[sz]e|i18n|faqs?|faq (?:answers?|entries|page|section)|help text|tooltips?(?: text)?|empty state text|onboarding (?:text|copy|emails?)|email (?:copy|text|subject lines?)|subject lines?|product descriptions?|pricing (?:copy|text))\b"), 3.0),
        // Words about wording belong to the text they change: copy, unless it is docs.
        (TaskKind::Copy, re!(r"\b(?:wording|typos?|phrasing|rephrase|reword|proofread|spelling|grammar)\b"), 2.0),
        (TaskKind::Docs, re!(r"\b(?:docs|documentation|readme|document(?:ing)?|docstrings?|jsdoc|rustdoc|guide|contributing|api reference|comments|usage examples?|tutorial)\b"), 3.0),
        (TaskKind::Test, re!(r"\b(?:(?:add|write|increase|improve|fix|stabili[sz]e|more|missing) (?:\S+ ){0,3}?(?:tests?|coverage|specs?)|flaky|test coverage|unit tests?|e2e tests?|integration tests?|snapshot tests?|end to end tests?)\b"), 3.0),
        (TaskKind::Security, re!(r"\b(?:security|vulnerabilit(?:y|ies)|cves?|xss|csrf|sql injection|injection|secrets?|harden(?:ing)?|sanitiz|sanitis|auth bypass|exploit|open redirects?|ssrf|path traversal|directory traversal|clickjacking|idor|rce|remote code execution|prototype pollution|session fixation|brute[- ]force|timing attacks?|httponly|samesite|secure cookies?|rate limit(?:ing)?|permissions?|csp|content security policy|encrypt(?:ion)?|npm audit|leaked (?:keys?|tokens?|credentials))"), 3.5),
        (TaskKind::Audit, re!(r"\b(?:audit|review|assess(?:ment)?|inventory|analy[sz]e|investigate|report on|evaluate|look into|take a look|look at why|figure out why|find out why|dig into|profile|benchmark)\b"), 3.8),
        (TaskKind::Infra, re!(r"\b(?:dependabot|renovate(?: bot| config)?|codeowners|pre-commit hooks?|ci|pipeline|github actions?|actions workflow|workflow file|dockerfile|docker|deploy(?:ment|s)?|terraform|kubernetes|k8s|helm|build config|env(?:ironment)? var(?:iable)?s?|caching in ci|infrastructure|nginx|monitoring|alerts?|cron|staging|preview deploys?|vercel|netlify|cdn|dns|ssl|certificates?|sentry|logging|observability|tracing|metrics|set up (?:ci|sentry|logging|monitoring)|bundler|build tool(?:ing)?|from webpack|to vite|turbopack|esbuild|rollup|(?:database |db |schema )?migrations?|database|db schema|indexes|an index)\b"), 3.0),
        (TaskKind::Test, re!(r"^(?:test|write tests|add tests)\b"), 2.0),
        (TaskKind::Docs, re!(r"^document\b"), 2.0),
        (TaskKind::Css, re!(r"\bcss\b"), 1.5),
        (TaskKind::Docs, re!(r"\b(?:readme|changelog\.md|contributing\.md|docs?/|\.md)\b"), 1.5),
    ];
    let mut scores = [0f32; 12];
    let idx = |k: TaskKind| TaskKind::ALL.iter().position(|x| *x == k).unwrap_or(11);
    for (k, r, w) in rules.iter() {
        if r.is_match(first) {
            scores[idx(*k)] += w;
        } else if r.is_match(rest) {
            scores[idx(*k)] += w * 0.5;
        } else if r.is_match(whole) {
            scores[idx(*k)] += w * 0.25;
        }
    }
    // "fix breaking changes" belongs to an upgrade, not a bug fix.
    if scores[idx(TaskKind::DependencyUpgrade)] >= 3.0 {
        scores[idx(TaskKind::BugFix)] *= 0.3;
        scores[idx(TaskKind::Feature)] *= 0.3;
    }
    // A security audit is an audit; a copy change with a layout word is still copy.
    let mut best = (TaskKind::Other, 0.9f32);
    for (i, s) in scores.iter().enumerate() {
        if *s > best.1 {
            best = (TaskKind::ALL[i], *s);
        }
    }
    best.0
}

/// A short imperative title from the body clauses.
pub fn title(body: &[String], kind: TaskKind, names: &Names) -> String {
    let Some(first) = body.iter().find(|c| words(c) >= 1) else {
        return String::new();
    };
    let mut t = first.trim().to_string();
    let lower = t.to_ascii_lowercase();
    let wants = re!(r"^(?:(?:please|so|ok|okay|hey) )*(?:i|we) (?:need|want|would like|'d like)\b|^(?:i'd|we'd) like\b").is_match(&lower);
    let stripped = strip_polite(&lower);
    t = t[lower.len() - stripped.len()..].to_string();
    // "I need the pricing page to show annual prices" → "Make the pricing page show annual prices".
    let l = t.to_ascii_lowercase();
    if wants
        && !is_task_verb(l.split_whitespace().next().unwrap_or(""))
        && let Some(c) = re!(r"^(.{3,60}?) to ([a-z]+) (.+)$").captures(&l)
        && !matches!(&c[2], "be" | "the" | "a" | "an")
        && names.agent_word(&c[1]).is_none()
    {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let rest = &t[c.get(2).map(|m| m.start()).unwrap_or(0)..];
        t = format!("Make {} {}", lower_first(subj), rest);
    }
    // "for the backend add an endpoint …" → "add an endpoint …".
    let l = t.to_ascii_lowercase();
    if let Some(c) = re!(r"^(?:over )?(?:in|on|for|over in|inside|within) (?:the |our )?([a-z0-9._-]+)(?: (?:repo|repository|codebase|project|side|app))?,? ").captures(&l)
        && names.repo_word(&c[1]).is_some()
        && words(&l) > 4
    {
        t = t[c.get(0).map(|m| m.end()).unwrap_or(0)..].to_string();
    } else if let Some(c) = re!(r"^(?:in|on|for|inside|within) (?:the |our )?([a-z0-9._-]+)'s(?: [a-z0-9._-]+){1,2}?,? ([a-z]+) ").captures(&l)
        && names.repo_word(&c[1]).is_some()
        && is_task_verb(&c[2])
    {
        // "on the backend's readme fix the curl example" → "fix the curl example".
        let at = c.get(2).map_or(0, |m| m.start());
        t = t[at..].to_string();
    }
    // "Queue a security review of …" → "Security review of …".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r"^(?:queue|schedule|dispatch|line up|kick off|set up a task for)(?: up)? (?:a |an )?").find(&l) {
        let next = l[m.end()..].split_whitespace().next().unwrap_or("");
        if !next.is_empty() && !is_task_verb(next) && !matches!(next, "it" | "this" | "these" | "them") {
            t = t[m.end()..].to_string();
            let l2 = t.to_ascii_lowercase();
            if let Some(rest) = l2.strip_prefix("the ")
                && !is_task_verb(rest.split_whitespace().next().unwrap_or(""))
            {
                t = t[4..].to_string();
            }
        }
    }
    // "Give Cursor the job of fixing …", "send this to Codex cloud: fix …": the assignment
    // is not the work.
    let l = t.to_ascii_lowercase();
    if let Some(c) = re!(r"^(?:please )?(?:(?:give|hand|pass|assign) ([a-z][a-z0-9-]*)(?: (?:code|cli|cloud))? (?:the (?:job|task|work) of|the (?:job|task|work) to|this job:?|this:?)|(?:send|give|hand|pass|assign|route|dispatch|forward)(?: (?:this|it|that|these|the following))?(?: one)? (?:over )?to ([a-z][a-z0-9-]*)(?:[ -](?:code|cli|cloud|agent))?[,:]?)\s+").captures(&l) {
        let name = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
        if names.agent_word(name).is_some() || names.known_agent(name).is_some() {
            t = t[c.get(0).map_or(0, |m| m.end())..].to_string();
            t = imperative_of_gerund(&t);
        }
    }
    // Agent assignment ("have Jules", "a task for Cursor to") and framing, in either order.
    for _ in 0..2 {
        let l = t.to_ascii_lowercase();
        let l2 = re!(r"^(?:a |an )?(?:task|job)s? ").replace(&l, "").to_string();
        let cut0 = l.len() - l2.len();
        if let Some(c) = re!(r"^(?:(?:have|ask|get|tell|let|for|want|need) ([a-z][a-z0-9-]*)(?: (?:code|cli|agent))?(?: (?:to|and))?|(?:use|using) ([a-z][a-z0-9-]*)(?: (?:on|in|for) (?:the )?[a-z0-9-]+)? (?:to|and|for)|([a-z][a-z0-9-]*)[,:]|([a-z][a-z0-9-]*) (?:should|can|could|will|please|to))\s+").captures(&l2) {
            let name = c.get(1).or(c.get(2)).or(c.get(3)).or(c.get(4)).map(|m| m.as_str()).unwrap_or("");
            if names.agent_word(name).is_some() || names.known_agent(name).is_some() {
                t = t[cut0 + c.get(0).map(|m| m.end()).unwrap_or(0)..].to_string();
            }
        }
        let l = t.to_ascii_lowercase();
        let stripped = strip_polite(&l);
        t = t[l.len() - stripped.len()..].to_string();
    }
    let mut l = t.to_ascii_lowercase();
    for r in [
        re!(r"\s+(?:with|using|via|through|by) (?:the )?[a-z][a-z0-9-]*(?: agent)?\s*$"),
        re!(r"\s+(?:for|to|on) [a-z][a-z0-9-]*\s*$"),
    ] {
        if let Some(m) = r.find(&l) {
            let tail = m.as_str().split_whitespace().last().unwrap_or("");
            if names.agent_word(tail).is_some() || tail == "agent" {
                t.truncate(m.start());
                l.truncate(m.start());
            }
        }
    }
    // "an upgrade to Next.js 15" → "Upgrade to Next.js 15".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r"^(?:a|an|the) (?:quick |small |full |complete )?").find(&l) {
        let rest = &l[m.end()..];
        if re!(r"^(?:upgrade|bump|security|audit|review|visual|refresh|fix|update|migration|refactor|cleanup|pass|rewrite|redesign)\b").is_match(rest) {
            t = t[m.end()..].to_string();
        }
    }
    // "The hero section on /ml-tools needs 4 headline variants" → "Write 4 headline variants for the hero section on /ml-tools".
    let l = t.to_ascii_lowercase();
    if let Some(c) = re!(r"^(.{3,60}?) (?:needs|need|requires|should get|could use|should have) (.{3,80})$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let obj = &t[c.get(2).map(|m| m.range()).unwrap_or(0..0)];
        let first_obj = obj.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if !is_task_verb(&first_obj) && !first_obj.ends_with("ing") {
            let verb = match kind {
                TaskKind::Copy => "Write",
                TaskKind::Docs => "Write",
                _ => "Add",
            };
            let prep = if matches!(kind, TaskKind::Copy | TaskKind::Docs) { "for" } else { "to" };
            t = format!("{verb} {obj} {prep} {}", lower_first(subj));
        } else if is_task_verb(&first_obj) || first_obj.ends_with("ing") {
            // "The footer needs updating" → "Update the footer".
            let verb = first_obj.trim_end_matches("ing");
            if is_task_verb(verb) || is_task_verb(&format!("{verb}e")) {
                let v = if is_task_verb(verb) { verb.to_string() } else { format!("{verb}e") };
                t = format!("{} {}", v, lower_first(subj));
            }
        }
    }
    // "The problem is that users can't upload avatars" → "Fix: users can't upload avatars".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r"^(?:so )?(?:the |one )?(?:problem|issue|bug|trouble) (?:is|here is) (?:that )?").find(&l) {
        let rest = t[m.end()..].to_string();
        t = format!("Fix: {rest}");
    }
    // "All CSS in /demos is leaking to global scope" → "Fix all CSS in /demos leaking to global scope".
    let l = t.to_ascii_lowercase();
    let fw = l.split_whitespace().next().unwrap_or("").trim_end_matches(':');
    if !is_task_verb(fw) && let Some(c) = re!(r"^(.{3,80}?) (?:is|are|keeps|keep) (?:still |now |currently |constantly |randomly |sometimes )?(\w+ing\b.*)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let rest = &t[c.get(2).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Fix {} {}", lower_first(subj), rest);
    } else if !is_task_verb(fw) && let Some(c) = re!(r"^(.{3,80}?) (?:is|are) (?:really |super |very |so |too |kind of |pretty |still |now |completely |totally |badly |way )?(?:out of date|outdated|stale|obsolete)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Update {}", lower_first(subj));
    } else if !is_task_verb(fw) && let Some(c) = re!(r"^(.{3,80}?) (?:is|are) (?:really |super |very |so |too |kind of |pretty |still |now |completely |totally )?(broken|wrong|slow|failing|flaky|off|misaligned|missing|ugly|not \w+)\b(.*)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let adj = &t[c.get(2).map(|m| m.range()).unwrap_or(0..0)];
        let rest = &t[c.get(3).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Fix {} being {}{}", lower_first(subj), adj, rest);
    }
    // "The checkout page crashes when …" → "Fix the checkout page crashing when …".
    let l = t.to_ascii_lowercase();
    let fw = l.split_whitespace().next().unwrap_or("").trim_end_matches(':');
    if !is_task_verb(fw) && !t.starts_with("Fix ") && let Some(c) = re!(r"^(.{3,80}?) (crashes|breaks|fails|hangs|freezes|flickers|overflows|overlaps|throws|errors out|times out|leaks|loads slowly|renders|returns|shows)\b(.*)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let ing = match &c[2] {
            "crashes" => "crashing",
            "breaks" => "breaking",
            "fails" => "failing",
            "hangs" => "hanging",
            "freezes" => "freezing",
            "flickers" => "flickering",
            "overflows" => "overflowing",
            "overlaps" => "overlapping",
            "throws" => "throwing",
            "errors out" => "erroring out",
            "times out" => "timing out",
            "leaks" => "leaking",
            "loads slowly" => "loading slowly",
            "renders" => "rendering",
            "returns" => "returning",
            _ => "showing",
        };
        let rest = &t[c.get(3).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Fix {} {ing}{rest}", lower_first(subj));
    }
    // Cut at a verdict said without a pause ("… in the site repo tests green"), a reason,
    // or a long tail; at most 12 words.
    let l = t.to_ascii_lowercase();
    if let Some(m) = verdict_ranges(&l).first()
        && words(&t[..m.start]) >= 3
        && l.is_char_boundary(m.start)
    {
        t.truncate(m.start);
    }
    let l = t.to_ascii_lowercase();
    if let Some(p) = [" so that ", " so it ", " because ", " since ", " which ", " in order to ", " can someone ", " could someone ", " can you ", " could you ", " please ", " can somebody "].iter().filter_map(|c| l.find(c)).min()
        && words(&t[..p]) >= 3
    {
        t.truncate(p);
    }
    // A second statement run on without a pause: "… on the website it overlaps the logo".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r" (?:it|they|this|that) (?:is|are|overlaps|breaks|keeps|doesn't|does not|looks|shows|has|was|also|still|just|only|throws|fails|crashes) ").find(&l)
        && words(&t[..m.start()]) >= 4
    {
        t.truncate(m.start());
    }
    let ws: Vec<&str> = t.split_whitespace().collect();
    let mut t = if ws.len() > 12 { ws[..12].join(" ") } else { ws.join(" ") };
    while t.ends_with(|c: char| ",.;:!?".contains(c))
        || [" and", " to", " for", " at", " the", " on", " in", " a", " an", " with", " by", " so", " plus", " of", " make", " sure", " ensure", " that", " then", " also", " while", " make sure", " its", " our", " my"]
            .iter()
            .any(|w| t.to_ascii_lowercase().ends_with(w))
    {
        if let Some(p) = t.rfind(' ').filter(|_| t.ends_with(|c: char| c.is_alphabetic())) {
            t.truncate(p);
        } else {
            t.pop();
        }
        t = t.trim_end().to_string();
    }
    let mut cs = t.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().collect::<String>() + cs.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
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
}
