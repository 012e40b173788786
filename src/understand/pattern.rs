//! The patterns the parser reads with: `regex` syntax and leftmost-first matching, built
//! with only the engines short inputs need (a lazy DFA and a bounded backtracker; no
//! literal prefilters, no one-pass DFA) and ASCII classes where the pattern allows it.
//! Building one costs about a tenth of a `regex::Regex`, which matters because a
//! `capcom parse` process builds every pattern it uses once.

use regex_automata::meta;
use regex_automata::util::captures::Captures as RawCaptures;
use regex_automata::util::syntax;
use std::borrow::Cow;

pub struct Re {
    re: meta::Regex,
}

/// One match: a span of the haystack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'h> {
    hay: &'h str,
    start: usize,
    end: usize,
}

impl<'h> Match<'h> {
    pub fn as_str(&self) -> &'h str {
        &self.hay[self.start..self.end]
    }
    pub fn start(&self) -> usize {
        self.start
    }
    pub fn end(&self) -> usize {
        self.end
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// The groups of one match; `c[i]` is group `i`'s text (it panics for a group that did not
/// take part, as `regex` does).
pub struct Captures<'h> {
    hay: &'h str,
    caps: RawCaptures,
}

impl<'h> Captures<'h> {
    pub fn get(&self, i: usize) -> Option<Match<'h>> {
        self.caps.get_group(i).map(|s| Match { hay: self.hay, start: s.start, end: s.end })
    }
}

impl std::ops::Index<usize> for Captures<'_> {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(m) => m.as_str(),
            None => panic!("no group {i} in this match"),
        }
    }
}

impl Re {
    /// Build a built-in pattern; ASCII classes unless the pattern needs Unicode mode (a
    /// `.` or a negated class could otherwise match inside a UTF-8 sequence).
    pub fn new(pattern: &str) -> Re {
        let config = meta::Config::new().auto_prefilter(false).onepass(false).dfa(false);
        let build = |unicode: bool| {
            meta::Builder::new().configure(config.clone()).syntax(syntax::Config::new().unicode(unicode).utf8(true)).build(pattern)
        };
        match build(false).or_else(|_| build(true)) {
            Ok(re) => Re { re },
            Err(e) => panic!("a valid built-in pattern: {pattern}: {e}"),
        }
    }

    pub fn is_match(&self, hay: &str) -> bool {
        self.re.is_match(hay)
    }

    pub fn find<'h>(&self, hay: &'h str) -> Option<Match<'h>> {
        self.re.find(hay).map(|m| Match { hay, start: m.start(), end: m.end() })
    }

    pub fn find_iter<'r, 'h>(&'r self, hay: &'h str) -> impl Iterator<Item = Match<'h>> + use<'r, 'h> {
        self.re.find_iter(hay).map(move |m| Match { hay, start: m.start(), end: m.end() })
    }

    pub fn captures<'h>(&self, hay: &'h str) -> Option<Captures<'h>> {
        let mut caps = self.re.create_captures();
        self.re.captures(hay, &mut caps);
        caps.is_match().then_some(Captures { hay, caps })
    }

    pub fn captures_iter<'r, 'h>(&'r self, hay: &'h str) -> impl Iterator<Item = Captures<'h>> + use<'r, 'h> {
        self.re.captures_iter(hay).map(move |caps| Captures { hay, caps })
    }

    /// The pieces between matches.
    pub fn split<'r, 'h>(&'r self, hay: &'h str) -> impl Iterator<Item = &'h str> + use<'r, 'h> {
        self.re.split(hay).map(move |s| &hay[s])
    }

    /// Replace the first match; `$N` in `rep` is group N.
    pub fn replace<'h>(&self, hay: &'h str, rep: &str) -> Cow<'h, str> {
        self.replace_n(hay, rep, 1)
    }

    /// Replace every match; `$N` in `rep` is group N.
    pub fn replace_all<'h>(&self, hay: &'h str, rep: &str) -> Cow<'h, str> {
        self.replace_n(hay, rep, usize::MAX)
    }

    fn replace_n<'h>(&self, hay: &'h str, rep: &str, limit: usize) -> Cow<'h, str> {
        let mut out = String::new();
        let mut last = 0;
        let mut n = 0;
        for c in self.captures_iter(hay) {
            if n == limit {
                break;
            }
            let Some(m) = c.get(0) else { continue };
            out.push_str(&hay[last..m.start()]);
            expand(&c, rep, &mut out);
            last = m.end();
            n += 1;
        }
        if n == 0 {
            return Cow::Borrowed(hay);
        }
        out.push_str(&hay[last..]);
        Cow::Owned(out)
    }
}

fn expand(c: &Captures<'_>, rep: &str, out: &mut String) {
    let b = rep.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let g: usize = rep[i + 1..j].parse().unwrap_or(usize::MAX);
            if let Some(m) = c.get(g) {
                out.push_str(m.as_str());
            }
            i = j;
            continue;
        }
        let ch = rep[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answers as `regex` on the calls the parser makes.
    #[test]
    fn agrees_with_regex() {
        let cases: &[(&str, &str)] = &[
            (r"\b(?:pr|task|job) ?#?\d+\b", "merge pr 41 and task #3 now"),
            (r"^(?:can (?:i|we)|let's)\s+(merge|land)\b", "let's merge the tailwind one"),
            (r"(?i)\s+(?:better|faster)$", "make it FASTER"),
            (r"\s*(?:,|\band\b)\s*", "build, lint and tests"),
            (r"(.+?) (?:needs|need) (.{3,80})$", "the café page needs four headline variants"),
            (r"\b(?:a|an) ", "an upgrade a fix an audit"),
            (r"x*", "héllo"),
        ];
        for (p, hay) in cases {
            let ours = Re::new(p);
            let theirs = regex::Regex::new(p).unwrap();
            assert_eq!(ours.is_match(hay), theirs.is_match(hay), "{p}");
            assert_eq!(ours.find(hay).map(|m| m.range()), theirs.find(hay).map(|m| m.range()), "{p}");
            let a: Vec<_> = ours.find_iter(hay).map(|m| m.range()).collect();
            let b: Vec<_> = theirs.find_iter(hay).map(|m| m.range()).collect();
            assert_eq!(a, b, "{p}");
            let a: Vec<Vec<Option<&str>>> = ours.captures_iter(hay).map(|c| (0..4).map(|i| c.get(i).map(|m| m.as_str())).collect()).collect();
            let b: Vec<Vec<Option<&str>>> = theirs.captures_iter(hay).map(|c| (0..4).map(|i| c.get(i).map(|m| m.as_str())).collect()).collect();
            assert_eq!(a, b, "{p}");
            assert_eq!(ours.split(hay).collect::<Vec<_>>(), theirs.split(hay).collect::<Vec<_>>(), "{p}");
            assert_eq!(ours.replace(hay, "<$1>"), theirs.replace(hay, "<$1>"), "{p}");
            assert_eq!(ours.replace_all(hay, ""), theirs.replace_all(hay, ""), "{p}");
        }
    }
}
