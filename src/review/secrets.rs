//! Secret scan of the lines a change adds. High-signal patterns only: AWS access
//! keys, private key blocks, GitHub / GitLab / Slack tokens, and a generic
//! `api_key = "…"` assignment whose value looks random (high entropy). Lines that
//! match an allow-list regex (`[review] secret_allow`) are skipped.
//!
//! Findings never carry the secret itself: only where it is and what kind it is.

use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub path: String,
    /// Line number in the new file.
    pub line: u32,
    pub kind: &'static str,
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
    if allow.iter().any(|r| r.is_match(line)) {
        return None;
    }
    for p in patterns() {
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
                out.push(Finding { path: p.clone(), line: line_no, kind });
            }
            line_no = line_no.saturating_add(1);
        } else if raw.starts_with(' ') {
            line_no = line_no.saturating_add(1);
        }
    }
    out
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
        assert_eq!(f, vec![Finding { path: "config.js".into(), line: 3, kind: "AWS access key" }]);
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
