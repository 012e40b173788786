//! GBNF grammars for whisper.cpp's grammar-guided decoding.
//!
//! whisper-rs 0.16 ships no GBNF parser, and its `FullParams::set_grammar`
//! hands whisper.cpp a flat element array where whisper.cpp indexes an array
//! of per-rule pointers (it segfaults even on `"a" | "b"`). This module
//! parses GBNF text (the llama.cpp / whisper.cpp dialect: rules, literals
//! with escapes, character classes, groups, `*` `+` `?` and `{m,n}`) into
//! whisper's rule elements, refuses grammars that would crash whisper.cpp's
//! matcher (undefined rules, left recursion), and builds the per-rule pointer
//! array ([`RuleTable`]) for the raw `whisper_full_params`.
//!
//! [`Grammar::accepts`] and [`Grammar::is_viable_prefix`] run the same
//! pushdown matching in Rust, so the transcriber can tell whether a decoded
//! text is in the grammar and gate end-of-text on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use whisper_rs::whisper_rs_sys as sys;

/// Element types, with whisper.cpp's numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    End = 0,
    Alt = 1,
    RuleRef = 2,
    Char = 3,
    CharNot = 4,
    CharRngUpper = 5,
    CharAlt = 6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Element {
    pub kind: Kind,
    pub value: u32,
}

const fn el(kind: Kind, value: u32) -> Element {
    Element { kind, value }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grammar line {line}: {message}")]
pub struct GrammarError {
    pub line: usize,
    pub message: String,
}

/// A parsed grammar: rules indexed by id, each a list of alternatives
/// separated by `Alt` and terminated by `End`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    pub rules: Vec<Vec<Element>>,
    pub names: Vec<String>,
    pub start: usize,
}

impl Grammar {
    /// Parse GBNF text; the start rule is `root`.
    pub fn parse(src: &str) -> Result<Grammar, GrammarError> {
        Grammar::parse_with_start(src, "root")
    }

    pub fn parse_with_start(src: &str, start: &str) -> Result<Grammar, GrammarError> {
        let mut p = Parser { src: src.as_bytes(), pos: 0, ids: HashMap::new(), names: Vec::new(), rules: BTreeMap::new(), first_use: HashMap::new() };
        p.parse_all()?;
        let n = p.names.len();
        let mut rules = Vec::with_capacity(n);
        for id in 0..n {
            match p.rules.remove(&(id as u32)) {
                Some(r) => rules.push(r),
                None => {
                    let line = p.first_use.get(&(id as u32)).copied().unwrap_or(1);
                    return Err(GrammarError { line, message: format!("rule `{}` is used but never defined", p.names[id]) });
                }
            }
        }
        let Some(&start_id) = p.ids.get(start) else {
            return Err(GrammarError { line: 1, message: format!("no `{start}` rule to start from") });
        };
        let g = Grammar { rules, names: p.names, start: start_id as usize };
        g.check_left_recursion()?;
        Ok(g)
    }

    /// whisper.cpp's matcher expands rule references depth first; a rule that
    /// can reach itself without consuming a character recurses forever.
    fn check_left_recursion(&self) -> Result<(), GrammarError> {
        let n = self.rules.len();
        // nullable: some alternative made only of nullable rule references
        let mut nullable = vec![false; n];
        loop {
            let mut changed = false;
            for (i, r) in self.rules.iter().enumerate() {
                if nullable[i] {
                    continue;
                }
                if alternatives(r).any(|alt| alt.iter().all(|e| e.kind == Kind::RuleRef && nullable[e.value as usize])) {
                    nullable[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // edges: rules that can start an alternative
        let mut first: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, r) in self.rules.iter().enumerate() {
            for alt in alternatives(r) {
                for e in alt {
                    if e.kind != Kind::RuleRef {
                        break;
                    }
                    first[i].push(e.value as usize);
                    if !nullable[e.value as usize] {
                        break;
                    }
                }
            }
        }
        // cycle search
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        fn visit(v: usize, first: &[Vec<usize>], state: &mut [u8]) -> Option<usize> {
            state[v] = 1;
            for &w in &first[v] {
                if state[w] == 1 {
                    return Some(w);
                }
                if state[w] == 0
                    && let Some(c) = visit(w, first, state) {
                        return Some(c);
                    }
            }
            state[v] = 2;
            None
        }
        for v in 0..n {
            if state[v] == 0
                && let Some(c) = visit(v, &first, &mut state) {
                    return Err(GrammarError {
                        line: 1,
                        message: format!("rule `{}` is left-recursive (whisper.cpp would recurse forever)", self.names[c]),
                    });
                }
        }
        Ok(())
    }

    /// The rule table whisper.cpp takes.
    pub fn rule_table(&self) -> RuleTable {
        RuleTable::new(self)
    }

    fn initial_stacks(&self) -> Vec<Stack> {
        let mut out = Vec::new();
        let rule = &self.rules[self.start];
        let mut pos = 0;
        loop {
            let mut stack = Vec::new();
            if !is_end(rule[pos]) {
                stack.push((self.start as u32, pos as u32));
            }
            self.advance(stack, &mut out);
            while !is_end(rule[pos]) {
                pos += 1;
            }
            if rule[pos].kind == Kind::Alt {
                pos += 1;
            } else {
                break;
            }
        }
        out
    }

    fn at(&self, p: (u32, u32)) -> Element {
        self.rules[p.0 as usize][p.1 as usize]
    }

    /// Expand rule references on top of `stack` until every stack ends at a character element.
    fn advance(&self, stack: Stack, out: &mut Vec<Stack>) {
        let Some(&top) = stack.last() else {
            if !out.contains(&stack) {
                out.push(stack);
            }
            return;
        };
        let e = self.at(top);
        match e.kind {
            Kind::RuleRef => {
                let sub = &self.rules[e.value as usize];
                let mut sp = 0usize;
                loop {
                    let mut ns: Stack = stack[..stack.len() - 1].to_vec();
                    let next = (top.0, top.1 + 1);
                    if !is_end(self.at(next)) {
                        ns.push(next);
                    }
                    if !is_end(sub[sp]) {
                        ns.push((e.value, sp as u32));
                    }
                    self.advance(ns, out);
                    while !is_end(sub[sp]) {
                        sp += 1;
                    }
                    if sub[sp].kind == Kind::Alt {
                        sp += 1;
                    } else {
                        break;
                    }
                }
            }
            Kind::Char | Kind::CharNot
                if !out.contains(&stack) => {
                    out.push(stack);
                }
            // a parsed grammar never leaves these on top of a stack
            _ => {}
        }
    }

    /// Does the character element at `p` match `c`? Returns the position after it.
    fn match_char(&self, p: (u32, u32), c: u32) -> (bool, (u32, u32)) {
        let rule = &self.rules[p.0 as usize];
        let mut i = p.1 as usize;
        let positive = rule[i].kind == Kind::Char;
        let mut found = false;
        loop {
            if rule[i + 1].kind == Kind::CharRngUpper {
                found |= rule[i].value <= c && c <= rule[i + 1].value;
                i += 2;
            } else {
                found |= rule[i].value == c;
                i += 1;
            }
            if rule[i].kind != Kind::CharAlt {
                break;
            }
        }
        (found == positive, (p.0, i as u32))
    }

    fn accept(&self, stacks: &[Stack], c: u32) -> Vec<Stack> {
        let mut out = Vec::new();
        for s in stacks {
            let Some(&top) = s.last() else { continue };
            let (ok, after) = self.match_char(top, c);
            if ok {
                let mut ns = s[..s.len() - 1].to_vec();
                if !is_end(self.at(after)) {
                    ns.push(after);
                }
                self.advance(ns, &mut out);
            }
        }
        out
    }

    fn run(&self, text: &str) -> Vec<Stack> {
        let mut stacks = self.initial_stacks();
        for c in text.chars() {
            stacks = self.accept(&stacks, c as u32);
            if stacks.is_empty() {
                break;
            }
        }
        stacks
    }

    /// Is `text` a complete sentence of the grammar?
    pub fn accepts(&self, text: &str) -> bool {
        self.run(text).iter().any(|s| s.is_empty())
    }

    /// Can `text` still be extended into a sentence of the grammar?
    pub fn is_viable_prefix(&self, text: &str) -> bool {
        !self.run(text).is_empty()
    }

    /// Is `text` complete and impossible to extend further?
    pub fn is_finished(&self, text: &str) -> bool {
        let stacks = self.run(text);
        !stacks.is_empty() && stacks.iter().all(|s| s.is_empty())
    }
}

type Stack = Vec<(u32, u32)>;

fn is_end(e: Element) -> bool {
    matches!(e.kind, Kind::End | Kind::Alt)
}

/// The alternatives of a rule, without their separators.
fn alternatives(rule: &[Element]) -> impl Iterator<Item = &[Element]> {
    let body = match rule.last() {
        Some(e) if e.kind == Kind::End => &rule[..rule.len() - 1],
        _ => rule,
    };
    body.split(|e| e.kind == Kind::Alt)
}

/// Rules as whisper.cpp's C type, plus the array of per-rule pointers that
/// `whisper_full_params::grammar_rules` must point at. The pointers point into
/// `rules`' heap buffers, which never move while the table lives.
pub struct RuleTable {
    rules: Vec<Vec<sys::whisper_grammar_element>>,
    ptrs: Vec<*const sys::whisper_grammar_element>,
    start: usize,
}

// The table owns everything its pointers point to and is never mutated after construction.
unsafe impl Send for RuleTable {}
unsafe impl Sync for RuleTable {}

impl RuleTable {
    fn new(g: &Grammar) -> RuleTable {
        let rules: Vec<Vec<sys::whisper_grammar_element>> = g
            .rules
            .iter()
            .map(|r| r.iter().map(|e| sys::whisper_grammar_element { type_: e.kind as u32, value: e.value }).collect())
            .collect();
        let ptrs = rules.iter().map(|r| r.as_ptr()).collect();
        RuleTable { rules, ptrs, start: g.start }
    }

    /// Point `params` at this table. The table must outlive every use of `params`.
    pub fn apply(&self, params: &mut sys::whisper_full_params, penalty: f32) {
        params.grammar_rules = self.ptrs.as_ptr() as *mut *const sys::whisper_grammar_element;
        params.n_grammar_rules = self.rules.len();
        params.i_start_rule = self.start;
        params.grammar_penalty = penalty;
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    rules: BTreeMap<u32, Vec<Element>>,
    first_use: HashMap<u32, usize>,
}

impl<'a> Parser<'a> {
    fn line(&self) -> usize {
        self.src[..self.pos.min(self.src.len())].iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, GrammarError> {
        Err(GrammarError { line: self.line(), message: message.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Skip spaces and comments; newlines only when `newline_ok`.
    fn space(&mut self, newline_ok: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => self.pos += 1,
                b'\r' | b'\n' if newline_ok => self.pos += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        (self.pos > start).then(|| String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
    }

    fn symbol(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    fn fresh(&mut self, base: &str) -> u32 {
        let mut n = self.names.len();
        loop {
            let candidate = format!("{base}_{n}");
            if !self.ids.contains_key(&candidate) {
                return self.symbol(&candidate);
            }
            n += 1;
        }
    }

    fn parse_all(&mut self) -> Result<(), GrammarError> {
        self.space(true);
        while self.pos < self.src.len() {
            let Some(name) = self.name() else {
                return self.err(format!("expected a rule name, found `{}`", self.peek().map(|c| c as char).unwrap_or(' ')));
            };
            self.space(false);
            if !self.src[self.pos..].starts_with(b"::=") {
                return self.err(format!("expected `::=` after `{name}`"));
            }
            self.pos += 3;
            self.space(true);
            let id = self.symbol(&name);
            if self.rules.contains_key(&id) {
                return self.err(format!("rule `{name}` is defined twice"));
            }
            let body = self.alternates(&name, false)?;
            self.rules.insert(id, body);
            self.space(false);
            match self.peek() {
                None => {}
                Some(b'\r') | Some(b'\n') => self.space(true),
                Some(c) => return self.err(format!("unexpected `{}`", c as char)),
            }
        }
        Ok(())
    }

    /// alternates ::= sequence ("|" sequence)*, ending with End.
    fn alternates(&mut self, rule: &str, nested: bool) -> Result<Vec<Element>, GrammarError> {
        let mut out = Vec::new();
        self.sequence(rule, nested, &mut out)?;
        while self.peek() == Some(b'|') {
            self.pos += 1;
            self.space(true);
            out.push(el(Kind::Alt, 0));
            self.sequence(rule, nested, &mut out)?;
        }
        out.push(el(Kind::End, 0));
        Ok(out)
    }

    fn sequence(&mut self, rule: &str, nested: bool, out: &mut Vec<Element>) -> Result<(), GrammarError> {
        let mut last_start: Option<usize> = None;
        loop {
            let Some(c) = self.peek() else { break };
            match c {
                b'"' => {
                    self.pos += 1;
                    last_start = Some(out.len());
                    while self.peek() != Some(b'"') {
                        if self.peek().is_none() || self.peek() == Some(b'\n') {
                            return self.err("unterminated string");
                        }
                        let ch = self.char_in_literal()?;
                        out.push(el(Kind::Char, ch));
                    }
                    self.pos += 1;
                }
                b'[' => {
                    self.pos += 1;
                    last_start = Some(out.len());
                    let mut kind = Kind::Char;
                    if self.peek() == Some(b'^') {
                        self.pos += 1;
                        kind = Kind::CharNot;
                    }
                    let mut first = true;
                    while self.peek() != Some(b']') {
                        if self.peek().is_none() {
                            return self.err("unterminated character class");
                        }
                        let lo = self.char_in_literal()?;
                        out.push(el(if first { kind } else { Kind::CharAlt }, lo));
                        first = false;
                        if self.peek() == Some(b'-') && self.src.get(self.pos + 1) != Some(&b']') {
                            self.pos += 1;
                            let hi = self.char_in_literal()?;
                            if hi < lo {
                                return self.err("character range runs backwards");
                            }
                            out.push(el(Kind::CharRngUpper, hi));
                        }
                    }
                    if first {
                        if kind == Kind::Char {
                            return self.err("empty character class");
                        }
                        // [^] matches any character
                        out.push(el(Kind::CharNot, 0));
                    }
                    self.pos += 1;
                }
                b'.' => {
                    self.pos += 1;
                    last_start = Some(out.len());
                    // any character but NUL
                    out.push(el(Kind::CharNot, 0));
                }
                b'(' => {
                    self.pos += 1;
                    self.space(true);
                    let sub = self.fresh(rule);
                    let body = self.alternates(rule, true)?;
                    self.rules.insert(sub, body);
                    if self.peek() != Some(b')') {
                        return self.err("expected `)`");
                    }
                    self.pos += 1;
                    last_start = Some(out.len());
                    out.push(el(Kind::RuleRef, sub));
                }
                b'*' | b'+' | b'?' | b'{' => {
                    let Some(start) = last_start else {
                        return self.err(format!("`{}` follows nothing", c as char));
                    };
                    let (min, max) = self.repetition()?;
                    let item: Vec<Element> = out.drain(start..).collect();
                    self.repeat(rule, &item, min, max, out);
                    last_start = None;
                }
                c if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' => {
                    let line = self.line();
                    let name = self.name().unwrap_or_default();
                    let id = self.symbol(&name);
                    self.first_use.entry(id).or_insert(line);
                    last_start = Some(out.len());
                    out.push(el(Kind::RuleRef, id));
                }
                _ => break,
            }
            self.space(nested);
        }
        Ok(())
    }

    /// `*` `+` `?` or `{m}`, `{m,}`, `{m,n}` → (min, max); max None = unbounded.
    fn repetition(&mut self) -> Result<(u32, Option<u32>), GrammarError> {
        let c = self.peek().unwrap_or(0);
        self.pos += 1;
        match c {
            b'*' => Ok((0, None)),
            b'+' => Ok((1, None)),
            b'?' => Ok((0, Some(1))),
            _ => {
                let num = |p: &mut Parser| -> Option<u32> {
                    let s = p.pos;
                    while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                        p.pos += 1;
                    }
                    std::str::from_utf8(&p.src[s..p.pos]).ok()?.parse().ok()
                };
                self.space(false);
                let Some(min) = num(self) else { return self.err("expected a number after `{`") };
                self.space(false);
                let max = if self.peek() == Some(b',') {
                    self.pos += 1;
                    self.space(false);
                    if self.peek() == Some(b'}') { None } else { Some(num(self).ok_or(()).or_else(|_| self.err("expected a number"))?) }
                } else {
                    Some(min)
                };
                self.space(false);
                if self.peek() != Some(b'}') {
                    return self.err("expected `}`");
                }
                self.pos += 1;
                if max.is_some_and(|m| m < min) {
                    return self.err("repetition maximum below minimum");
                }
                if min > 256 || max.is_some_and(|m| m > 256) {
                    return self.err("repetition count above 256");
                }
                Ok((min, max))
            }
        }
    }

    /// Rewrite `item{min,max}` with fresh rules, as llama.cpp does.
    fn repeat(&mut self, rule: &str, item: &[Element], min: u32, max: Option<u32>, out: &mut Vec<Element>) {
        for _ in 0..min {
            out.extend_from_slice(item);
        }
        match max {
            None => {
                // star ::= item star | ε
                let star = self.fresh(rule);
                let mut body = item.to_vec();
                body.push(el(Kind::RuleRef, star));
                body.push(el(Kind::Alt, 0));
                body.push(el(Kind::End, 0));
                self.rules.insert(star, body);
                out.push(el(Kind::RuleRef, star));
            }
            Some(max) if max > min => {
                // opt_k ::= item opt_{k-1} | ε, nested (max - min) deep
                let mut inner: Option<u32> = None;
                for _ in 0..(max - min) {
                    let id = self.fresh(rule);
                    let mut body = item.to_vec();
                    if let Some(i) = inner {
                        body.push(el(Kind::RuleRef, i));
                    }
                    body.push(el(Kind::Alt, 0));
                    body.push(el(Kind::End, 0));
                    self.rules.insert(id, body);
                    inner = Some(id);
                }
                if let Some(i) = inner {
                    out.push(el(Kind::RuleRef, i));
                }
            }
            Some(_) => {}
        }
    }

    /// One (possibly escaped) character of a literal or class, as a code point.
    fn char_in_literal(&mut self) -> Result<u32, GrammarError> {
        let rest = &self.src[self.pos..];
        if rest.first() == Some(&b'\\') {
            let Some(&e) = rest.get(1) else { return self.err("dangling backslash") };
            self.pos += 2;
            let hex = |p: &mut Parser, n: usize| -> Result<u32, GrammarError> {
                let s = p.src.get(p.pos..p.pos + n).ok_or(()).or_else(|_| p.err("short escape"))?;
                let v = std::str::from_utf8(s).ok().and_then(|s| u32::from_str_radix(s, 16).ok());
                p.pos += n;
                v.ok_or(()).or_else(|_| p.err("bad hex escape"))
            };
            return Ok(match e {
                b'n' => '\n' as u32,
                b'r' => '\r' as u32,
                b't' => '\t' as u32,
                b'\\' => '\\' as u32,
                b'"' => '"' as u32,
                b'[' => '[' as u32,
                b']' => ']' as u32,
                b'-' => '-' as u32,
                b'^' => '^' as u32,
                b'x' => hex(self, 2)?,
                b'u' => hex(self, 4)?,
                b'U' => hex(self, 8)?,
                other => return self.err(format!("unknown escape `\\{}`", other as char)),
            });
        }
        // a UTF-8 character
        let s = std::str::from_utf8(&rest[..rest.len().min(4)])
            .or_else(|e| std::str::from_utf8(&rest[..e.valid_up_to()]))
            .unwrap_or("");
        let Some(ch) = s.chars().next() else { return self.err("invalid UTF-8") };
        self.pos += ch.len_utf8();
        Ok(ch as u32)
    }
}

/// Rule names in a grammar that nothing references (besides the start rule).
pub fn unused_rules(g: &Grammar) -> Vec<String> {
    let mut used: HashSet<usize> = HashSet::new();
    used.insert(g.start);
    for r in &g.rules {
        for e in r {
            if e.kind == Kind::RuleRef {
                used.insert(e.value as usize);
            }
        }
    }
    (0..g.rules.len()).filter(|i| !used.contains(i)).map(|i| g.names[i].clone()).collect()
}

/// capcom's command grammar (`grammars/commands.gbnf`).
pub const COMMANDS: &str = include_str!("../../grammars/commands.gbnf");
/// capcom's confirmation grammar (`grammars/confirm.gbnf`).
pub const CONFIRM: &str = include_str!("../../grammars/confirm.gbnf");

/// Example phrases of each grammar, for the initial prompt that steers
/// whisper towards them (grammar decoding penalizes, it does not mask).
pub const COMMANDS_PROMPT: &str =
    "What's finished? Status. Merge task 3. Merge PR 42. Confirm. Yes, go ahead. No, wait. Cancel that. Stop the CSS agent. Read me today's changelog. Repeat that. Help.";
pub const CONFIRM_PROMPT: &str = "Yes, confirm. No, cancel. Yes. No.";

#[cfg(test)]
mod tests;
