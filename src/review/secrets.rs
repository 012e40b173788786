//! Secret scan of what a branch adds. High-signal patterns only: AWS access
//! keys, private key blocks, GitHub / GitLab / Slack tokens, and a generic
//! `api_key = "…"` assignment whose value looks random (high entropy). Lines that
//! match an allow-list regex (`[review] secret_allow`) are skipped.
//!
//! [`scan_branch`] reads the blobs themselves, not a rendered diff, so neither
//! `.gitattributes` (`-diff`, `binary`, textconv) nor a NUL byte hides a file, and it
//! reads every commit of `base..head`, so a key added in one commit and removed in the
//! next is still found: a merge commit would carry it into the base branch's history.
//! Files that look binary are scanned for the patterns that need no entropy test.
//!
//! Findings never carry the secret itself: only where it is and what kind it is.

use crate::git::{Git, GitError};
use regex::Regex;
use serde::Serialize;
use std::path::Path;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub path: String,
    /// Line number in the new file.
    pub line: u32,
    pub kind: &'static str,
    /// The commit (short SHA) that added it, when found by [`scan_branch`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Removed again by a later commit: only the branch's history holds it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub history_only: bool,
}

struct Pattern {
    kind: &'static str,
    re: Regex,
    /// Apply the entropy test to capture group 1.
    entropy: bool,
}

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        let p = |kind, re: &str, entropy| Pattern { kind, re: Regex::new(re).expect("built-in pattern"), entropy };
        vec![
            p("AWS access key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", false),
            p("private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", false),
            p("GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{40,255})\b", false),
            p("GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}", false),
            p("Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", false),
            p("Slack webhook", r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+", false),
            p(
                "API key assignment",
                r#"(?i)\b[a-z0-9_\-]*(?:api[_\-]?key|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|password|secret|token)["']?\s*[:=]\s*["']([^"'\s]{16,})["']"#,
                true,
            ),
        ]
    })
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0f64;
    for c in s.chars() {
        *counts.entry(c).or_insert(0f64) += 1.0;
        n += 1.0;
    }
    if n == 0.0 {
        return 0.0;
    }
    counts.values().map(|c| {
        let p = c / n;
        -p * p.log2()
    }).sum()
}

/// The allow-list: regexes that make a line exempt. Bad regexes are reported, not fatal.
pub fn compile_allow(patterns: &[String]) -> (Vec<Regex>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for p in patterns {
        match Regex::new(p) {
            Ok(r) => ok.push(r),
            Err(e) => bad.push(format!("[review] secret_allow `{p}` is not a valid regex: {e}")),
        }
    }
    (ok, bad)
}

/// Scan one added line.
pub fn scan_line(line: &str, allow: &[Regex]) -> Option<&'static str> {
    scan_line_in(line, allow, false)
}

/// Scan one line; `binary` keeps to the patterns that need no entropy test.
fn scan_line_in(line: &str, allow: &[Regex], binary: bool) -> Option<&'static str> {
    if allow.iter().any(|r| r.is_match(line)) {
        return None;
    }
    for p in patterns().iter().filter(|p| !(binary && p.entropy)) {
        for caps in p.re.captures_iter(line) {
            if !p.entropy {
                return Some(p.kind);
            }
            let value = caps.get(1).map(|m| m.as_str()).unwrap_or("");
            let looks_random = entropy(value) >= 3.5
                && value.chars().any(|c| c.is_ascii_digit())
                && value.chars().any(|c| c.is_ascii_alphabetic());
            let placeholder = value.contains("${") || value.contains("{{") || value.starts_with('<') || value.contains("xxxx") || value.contains("XXXX");
            if looks_random && !placeholder {
                return Some(p.kind);
            }
        }
    }
    None
}

/// Scan the added lines of a unified diff (`git diff -U0`).
pub fn scan_diff(diff: &str, allow: &[Regex]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    let mut line_no: u32 = 0;
    for raw in diff.lines() {
        if let Some(rest) = raw.strip_prefix("+++ ") {
            path = rest.strip_prefix("b/").map(String::from).or_else(|| (rest != "/dev/null").then(|| rest.to_string()));
            continue;
        }
        if raw.starts_with("--- ") || raw.starts_with("diff --git") {
            continue;
        }
        if let Some(h) = raw.strip_prefix("@@ ") {
            // @@ -a,b +c,d @@
            line_no = h
                .split_whitespace()
                .find_map(|t| t.strip_prefix('+'))
                .and_then(|t| t.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            continue;
        }
        if let Some(added) = raw.strip_prefix('+') {
            if let (Some(p), Some(kind)) = (&path, scan_line(added, allow)) {
                out.push(Finding { path: p.clone(), line: line_no, kind, commit: None, history_only: false });
            }
            line_no = line_no.saturating_add(1);
        } else if raw.starts_with(' ') {
            line_no = line_no.saturating_add(1);
        }
    }
    out
}

const NO_BLOB: &str = "0000000000000000000000000000000000000000";

/// A blob's text, as git stores it: no textconv, no attributes, no filters.
fn blob(git: &dyn Git, dir: &Path, sha: &str) -> Result<String, GitError> {
    if sha.is_empty() || sha.chars().all(|c| c == '0') {
        return Ok(String::new());
    }
    git.ok(dir, &["cat-file", "blob", sha])
}

fn looks_binary(text: &str) -> bool {
    text.as_bytes().iter().take(8000).any(|&b| b == 0)
}

/// The changed files of one commit against each of its parents: (old blob, new blob, path).
fn changes(git: &dyn Git, dir: &Path, commit: &str) -> Result<Vec<(String, String, String)>, GitError> {
    let raw = git.ok(dir, &["diff-tree", "-r", "-z", "-m", "--root", "--no-commit-id", "--no-renames", "--no-abbrev", "--no-textconv", "--no-ext-diff", commit])?;
    let mut out = Vec::new();
    let mut fields = raw.split('\0');
    while let Some(meta) = fields.next() {
        let Some(meta) = meta.strip_prefix(':') else { continue };
        let Some(path) = fields.next() else { break };
        // :old_mode new_mode old_sha new_sha status
        let parts: Vec<&str> = meta.split_whitespace().collect();
        let [_, new_mode, old_sha, new_sha, status] = parts[..] else { continue };
        let added_or_changed = status.starts_with('A') || status.starts_with('M') || status.starts_with('T');
        // A submodule's "blob" is a commit of another repo.
        if added_or_changed && new_mode != "160000" && new_sha != NO_BLOB {
            out.push((old_sha.to_string(), new_sha.to_string(), path.to_string()));
        }
    }
    Ok(out)
}

/// Scan every blob that `base..head` adds or changes, in every commit. A finding's line
/// is new in that commit (its text was not in the file before); one whose line is gone
/// from the file at `head` is `history_only`.
pub fn scan_branch(git: &dyn Git, dir: &Path, base: &str, head: &str, allow: &[Regex]) -> Result<Vec<Finding>, GitError> {
    let range = format!("{base}..{head}");
    let commits = git.ok(dir, &["rev-list", "--reverse", "--topo-order", &range])?;
    let mut out: Vec<Finding> = Vec::new();
    // (path, line text) already reported, so a key is reported once, where it was added.
    let mut seen: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let mut scanned: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let mut found_lines: Vec<String> = Vec::new();
    for commit in commits.lines().map(str::trim).filter(|c| !c.is_empty()) {
        for (old_sha, new_sha, path) in changes(git, dir, commit)? {
            if !scanned.insert((old_sha.clone(), new_sha.clone())) {
                continue;
            }
            let new = blob(git, dir, &new_sha)?;
            let binary = looks_binary(&new);
            let hits: Vec<(u32, &str, &'static str)> = new
                .split('\n')
                .enumerate()
                .filter_map(|(i, l)| scan_line_in(l, allow, binary).map(|k| (i as u32 + 1, l, k)))
                .collect();
            if hits.is_empty() {
                continue;
            }
            let old = blob(git, dir, &old_sha)?;
            let before: std::collections::HashSet<&str> = old.split('\n').collect();
            for (line, text, kind) in hits {
                if before.contains(text) || !seen.insert((path.clone(), text.to_string())) {
                    continue;
                }
                out.push(Finding { path: path.clone(), line, kind, commit: Some(commit.chars().take(7).collect()), history_only: false });
                found_lines.push(text.to_string());
            }
        }
    }
    // Which of them the head still holds.
    let mut at_head: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (f, text) in out.iter_mut().zip(found_lines.iter()) {
        let content = match at_head.get(&f.path) {
            Some(c) => c.clone(),
            None => {
                let spec = format!("{head}:{}", f.path);
                let c = match git.run(dir, &["cat-file", "blob", &spec]) {
                    Ok(o) if o.code == 0 => o.stdout,
                    _ => String::new(),
                };
                at_head.insert(f.path.clone(), c.clone());
                c
            }
        };
        f.history_only = !content.split('\n').any(|l| l.trim_end() == text.trim_end());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        // Built by concatenation so this file itself holds no scannable token.
        let gh = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
        let aws = format!("AKIA{}", "IOSFODNN7EXAMPLE");
        let cases: Vec<(String, Option<&str>)> = vec![
            (format!("aws_access_key_id = {aws}"), Some("AWS access key")),
            ("-----BEGIN RSA PRIVATE KEY-----".into(), Some("private key")),
            ("-----BEGIN OPENSSH PRIVATE KEY-----".into(), Some("private key")),
            ("-----BEGIN PGP PRIVATE KEY BLOCK-----".into(), Some("private key")),
            (format!("token: {gh}"), Some("GitHub token")),
            (format!("GITLAB={}", "glpat-Ab3dEf6hIj9kLmN0pQrS"), Some("GitLab token")),
            (format!("slack = \"{}\"", "xoxb-1234567890-abcdefghij"), Some("Slack token")),
            ("api_key = \"q8Zr2Lx9Vb4Nm7Kp1Ws6Ty3\"".into(), Some("API key assignment")),
            ("\"apiKey\": \"q8Zr2Lx9Vb4Nm7Kp1Ws6Ty3\"".into(), Some("API key assignment")),
            ("const API_KEY = 'q8Zr2Lx9Vb4Nm7Kp1Ws6Ty3';".into(), Some("API key assignment")),
            // Not secrets:
            ("api_key = \"aaaaaaaaaaaaaaaaaaaaaaaa\"".into(), None),
            ("api_key = \"${API_KEY_FROM_ENV_VARIABLE}\"".into(), None),
            ("password = \"correcthorsebatterystaple\"".into(), None),
            ("let token = get_token();".into(), None),
            ("a normal line of code".into(), None),
            ("ghp_short".into(), None),
        ];
        for (line, want) in cases {
            assert_eq!(scan_line(&line, &[]), want, "{line}");
        }
    }

    #[test]
    fn allow_list_exempts_lines() {
        let aws = format!("AKIA{}", "IOSFODNN7EXAMPLE");
        let (allow, bad) = compile_allow(&["EXAMPLE".into(), "(".into()]);
        assert_eq!(allow.len(), 1);
        assert_eq!(bad.len(), 1);
        assert_eq!(scan_line(&aws, &allow), None);
    }

    #[test]
    fn diff_scan_reports_path_and_new_line_number_without_the_value() {
        let aws = format!("AKIA{}", "ABCDEFGHIJKLMNOP");
        let diff = format!(
            "diff --git a/config.js b/config.js\n--- a/config.js\n+++ b/config.js\n@@ -1,0 +2,2 @@\n+const x = 1;\n+const key = '{aws}';\n\
             diff --git a/old.txt b/old.txt\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-{aws}\n"
        );
        let f = scan_diff(&diff, &[]);
        assert_eq!(f, vec![Finding { path: "config.js".into(), line: 3, kind: "AWS access key", commit: None, history_only: false }]);
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains(&aws), "findings never carry the secret");
    }

    #[test]
    fn entropy_is_sane() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("ab") - 1.0).abs() < 1e-9);
    }
}
