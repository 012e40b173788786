//! Acceptance: verdict clauses ("tests pass"), criteria pieces and the checks they name.

use super::*;

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

pub fn verdict(cl: &str) -> bool {
    verdict_re().is_match(cl)
}

/// The verdict phrases of a clause, with the speaker's casing.
pub(crate) fn verdict_spans(c: &str) -> Vec<&str> {
    let l = c.to_ascii_lowercase();
    verdict_re().find_iter(&l).map(|m| &c[m.range()]).collect()
}

/// The verdicts of a text, each as short as it can be: "write a migration test on the
/// backend tests pass" has the verdict "tests pass", not "test on the backend tests pass".
pub(crate) fn verdict_ranges(l: &str) -> Vec<std::ops::Range<usize>> {
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

pub(crate) fn verdict_re() -> &'static crate::understand::pattern::Re {
    re!(r"\b(?:builds?|tests?|specs?|suite|lint(?:er|ing)?|eslint|clippy|typecheck(?:s|ing)?|type check(?:s|ing)?|types|type errors|tsc|ci|checks?|pipeline|compil(?:e|es|ation))\b(?:\s+[^\s,.;:]+){0,4}?\s+(?:pass|passes|passing|passed|green|clean|succeed|succeeds|ok|okay|works|compiles?|stays? green|still pass(?:es)?|are happy|is happy|go green|goes green|come back green|clear)\b|\bno (?:type|lint(?:ing)?|build|compile|typescript) (?:errors|warnings|failures)\b|\b(?:compiles|builds) cleanly\b|\bkeep (?:the )?(?:tests?|build|ci|checks|lint) (?:green|passing|clean)\b|\b(?:lint|type ?check)[- ]clean\b|\b(?:green|passing) (?:build|tests|ci|checks)\b|\bwith (?:passing|green) (?:tests|build|ci|checks)\b|\bvisual regression\b")
}

pub(crate) fn is_constraint_clause(cl: &str) -> bool {
    re!(r"^(?:and |but |please |also |just )?(?:keep|preserve|maintain|retain|don't|do not|dont|never|avoid|no new|without|leave|must not|mustn't|should not|shouldn't|only use|stick to|stay within|stay inside|use the existing|reuse|respect|not (?:\w+ )?(?:the|any|a)|no changes|no (?:\w+ ){0,3}(?:changes?|regressions?|breaking changes?|dependencies|deps|rewrites?|refactors?|migrations?|downtime)|nothing (?:in|under|outside|else)|limit changes|match the existing|follow the existing|backwards? compatible|stay backwards|must remain|needs to stay|has to stay|(?:the )?(?:public )?api (?:must|should|has to|needs to) stay)\b").is_match(cl)
}

pub(crate) fn is_deliverable_clause(cl: &str) -> bool {
    re!(r"^(?:and |also |then |please )?(?:show|produce|give me|deliver|provide|include|attach|return|generate|send me|post|share|list|write up|draft|prepare|report|summarize|summarise|open a pr|open a pull request|i want|i'd like|add screenshots|with screenshots|leave a (?:comment|note|summary)|write (?:me )?(?:a |an )?(?:short |brief |quick |one-page |small )?(?:summary|report|note|write-?up|post-?mortem))\b").is_match(cl)
}

pub(crate) const CUES: &[&str] = &[
    "make sure that ", "make sure ", "ensure that ", "ensure ", "verify that ", "confirm that ", "check that ",
    "so that ", "and ", "also ", "then ", "that ", "until ", "it should ", "and that ",
];

pub(crate) fn push_criteria(out: &mut Vec<Criterion>, text: &str, names: &Names) {
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

pub(crate) fn re_word(hay: &str, word: &str) -> bool {
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
