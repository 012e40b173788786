//! The prompt an agent gets, rendered from the task spec in one fixed layout.
//! Pure: data in, text out.

use crate::understand::TaskSpec;

/// The longest brief (or answer, or follow-up) capcom takes, in bytes of UTF-8. A local agent
/// gets its prompt as one argument, and Linux caps one argument at 128 KiB
/// (`MAX_ARG_STRLEN`); the prompt quotes the brief line by line (`> `), which can double it,
/// and adds its own sections. 48 KiB is about 8,000 words: far more than anyone says.
pub const MAX_BRIEF_BYTES: usize = 48 * 1024;

/// Why a brief's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BriefRefusal {
    #[error("the brief is too long: {len} bytes, and a brief may be at most {max} bytes (48 KiB); put the details in a file in the repo and name it")]
    TooLong { len: usize, max: usize },
    #[error("the brief contains a control character (U+{code:04X} at byte {at}); a brief is text: letters, punctuation, tabs and line breaks")]
    Control { code: u32, at: usize },
}

/// What a brief may contain, decided here for every way one arrives (the API, the page, an
/// answer, a follow-up): UTF-8 text of at most [`MAX_BRIEF_BYTES`], with no control
/// characters but tab, line feed and carriage return. A NUL could not be passed to an agent
/// at all; the others would reach the agent's prompt and the logs as raw terminal codes.
pub fn check_brief(text: &str) -> Result<(), BriefRefusal> {
    if text.len() > MAX_BRIEF_BYTES {
        return Err(BriefRefusal::TooLong { len: text.len(), max: MAX_BRIEF_BYTES });
    }
    match text.char_indices().find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        Some((at, c)) => Err(BriefRefusal::Control { code: c as u32, at }),
        None => Ok(()),
    }
}

/// What the prompt needs besides the spec.
#[derive(Debug, Clone, Default)]
pub struct PromptContext<'a> {
    pub task_id: i64,
    pub repo: &'a str,
    pub branch: &'a str,
    pub base: &'a str,
    /// Check names → the command line that will be run, for criteria with a check.
    pub checks: Vec<(String, String)>,
}

/// Render the prompt. Sections with nothing in them are left out; the order never changes.
pub fn render(spec: &TaskSpec, cx: &PromptContext<'_>) -> String {
    let mut out = String::new();
    out.push_str(&format!("# Task {}: {}\n\n", cx.task_id, one_line(&spec.title)));
    out.push_str(&format!(
        "You are working in a git worktree of the `{}` repository, on branch `{}` (made from `{}`).\n\
         Commit your work on this branch. Do not push, do not switch branches, do not merge.\n",
        cx.repo, cx.branch, cx.base
    ));
    out.push_str(&format!("Kind of work: {}.\n", spec.kind.as_str()));

    let include: Vec<&String> = spec.scope.include.iter().filter(|p| inside_worktree(p)).collect();
    let exclude: Vec<&String> = spec.scope.exclude.iter().filter(|p| inside_worktree(p)).collect();
    if !include.is_empty() || !exclude.is_empty() {
        out.push_str("\n## Scope\n");
        if !include.is_empty() {
            out.push_str("Only change files under:\n");
            for p in &include {
                out.push_str(&format!("- {}\n", one_line(p)));
            }
        }
        if !exclude.is_empty() {
            out.push_str("Do not touch:\n");
            for p in &exclude {
                out.push_str(&format!("- {}\n", one_line(p)));
            }
        }
        out.push_str("Changes outside this scope will be rejected.\n");
    }
    if !spec.constraints.is_empty() {
        out.push_str("\n## Constraints\n");
        for c in &spec.constraints {
            out.push_str(&format!("- {}\n", one_line(c)));
        }
    }
    if !spec.deliverables.is_empty() {
        out.push_str("\n## Deliverables\n");
        for d in &spec.deliverables {
            out.push_str(&format!("- {}\n", one_line(d)));
        }
    }
    if !spec.acceptance.is_empty() {
        out.push_str("\n## Acceptance criteria\n");
        for a in &spec.acceptance {
            match &a.check {
                Some(name) => {
                    let cmd = cx.checks.iter().find(|(n, _)| n == name).map(|(_, c)| c.as_str());
                    match cmd {
                        Some(cmd) => out.push_str(&format!("- {} (checked by running `{}`)\n", one_line(&a.text), cmd)),
                        None => out.push_str(&format!("- {} (check: {})\n", one_line(&a.text), name)),
                    }
                }
                None => out.push_str(&format!("- {} (judged by a person)\n", one_line(&a.text))),
            }
        }
    }
    if !spec.brief.trim().is_empty() {
        // Verbatim: every character the user said, each line quoted so that none can
        // start a heading of its own.
        out.push_str("\n## The brief, as spoken\n");
        for line in spec.brief.trim().lines() {
            out.push_str(&format!("> {line}\n"));
        }
    }
    out.push_str("\n## When you are done\nCommit everything, then reply with a short summary of what you changed and why.\n");
    out
}

/// Render a follow-up instruction for an agent that resumes its session, or that
/// starts afresh in the same worktree (then the original prompt is repeated first).
pub fn render_follow_up(original: Option<&str>, instruction: &str) -> String {
    match original {
        Some(p) => format!("{p}\n## Follow-up\nYou already worked on this task in this worktree. Now: {}\n", one_line(instruction)),
        None => format!("Follow-up on the same task: {}\nCommit your work, then summarise what you changed.\n", one_line(instruction)),
    }
}

/// A scope path the agent may be pointed at: relative, inside the worktree (the parser
/// never makes another kind; this keeps a hand-edited spec from pointing elsewhere).
fn inside_worktree(p: &str) -> bool {
    let p = p.trim();
    !p.is_empty()
        && !p.starts_with(['/', '\\', '~'])
        && !p.contains(':')
        && !p.split(['/', '\\']).any(|c| c == "..")
}

/// Keep the layout fixed: a field never brings its own line breaks or headings.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::{Criterion, Scope, TaskKind};

    fn spec() -> TaskSpec {
        TaskSpec {
            title: "Upgrade Tailwind".into(),
            kind: TaskKind::DependencyUpgrade,
            scope: Scope { include: vec!["components/".into()], exclude: vec!["app/".into()] },
            acceptance: vec![
                Criterion { text: "build passes".into(), check: Some("build".into()) },
                Criterion { text: "looks right".into(), check: None },
            ],
            constraints: vec!["leave app routes untouched".into()],
            deliverables: vec!["a short changelog".into()],
            brief: "Bump Tailwind.\n# not a heading".into(),
            ..TaskSpec::default()
        }
    }

    #[test]
    fn what_a_brief_may_contain() {
        let long = "a".repeat(MAX_BRIEF_BYTES + 1);
        let cases: [(&str, Result<(), BriefRefusal>); 8] = [
            ("Fix the footer links.", Ok(())),
            ("Run `npm test && npm run lint` | tee out; see $(pwd) ~/x", Ok(())),
            ("line one\n\tindented\r\nline three", Ok(())),
            ("Grüße, 日本語, emoji 🚀", Ok(())),
            ("nul\0byte", Err(BriefRefusal::Control { code: 0, at: 3 })),
            ("escape \u{1b}[31m red", Err(BriefRefusal::Control { code: 0x1b, at: 7 })),
            ("c1 \u{85} next line", Err(BriefRefusal::Control { code: 0x85, at: 3 })),
            (&long, Err(BriefRefusal::TooLong { len: MAX_BRIEF_BYTES + 1, max: MAX_BRIEF_BYTES })),
        ];
        for (text, want) in cases {
            assert_eq!(check_brief(text), want, "{:?}", &text[..text.len().min(40)]);
        }
        assert!(check_brief(&"a".repeat(MAX_BRIEF_BYTES)).is_ok());
        let said = check_brief(&long).unwrap_err().to_string();
        assert!(said.contains("49152") && said.contains("48 KiB"), "{said}");
    }

    #[test]
    fn the_longest_brief_makes_a_prompt_that_fits_one_argument() {
        // One-character lines are the worst case for the line-by-line quoting.
        let brief = "a\n".repeat(MAX_BRIEF_BYTES / 2);
        assert!(check_brief(&brief).is_ok());
        let mut s = spec();
        s.brief = brief;
        let text = render(&s, &PromptContext { task_id: 1, repo: "site", branch: "capcom/1", base: "main", checks: vec![] });
        assert!(text.len() < 128 * 1024, "{} bytes", text.len());
    }

    #[test]
    fn the_layout_is_fixed() {
        let cx = PromptContext {
            task_id: 4,
            repo: "site",
            branch: "capcom/4-upgrade-tailwind",
            base: "main",
            checks: vec![("build".into(), "npm run build".into())],
        };
        let p = render(&spec(), &cx);
        let order = ["# Task 4: Upgrade Tailwind", "## Scope", "- components/", "Do not touch:", "- app/",
            "## Constraints", "## Deliverables", "## Acceptance criteria",
            "- build passes (checked by running `npm run build`)", "- looks right (judged by a person)",
            "## The brief, as spoken", "## When you are done"];
        let mut at = 0;
        for piece in order {
            let found = p[at..].find(piece).unwrap_or_else(|| panic!("`{piece}` missing or out of order in:\n{p}"));
            at += found + piece.len();
        }
        assert!(p.contains("branch `capcom/4-upgrade-tailwind` (made from `main`)"));
        assert!(!p.contains("\n# not a heading"), "a field must not inject a heading");
        assert!(p.contains("> Bump Tailwind.\n> # not a heading\n"), "the brief is quoted line by line:\n{p}");
    }

    #[test]
    fn the_brief_is_quoted_verbatim() {
        let said = "Fix the link to https://docs.example.com/v2/setup.html?x=1&y=2 and use --brand-blue; run `a && b | c` in ~/src, not $(rm -rf /) or ../../etc";
        let s = TaskSpec { title: "Fix the link".into(), brief: said.into(), ..TaskSpec::default() };
        let p = render(&s, &PromptContext::default());
        assert!(p.contains(&format!("> {said}\n")), "{p}");
    }

    #[test]
    fn scope_paths_outside_the_worktree_never_reach_the_prompt() {
        let s = TaskSpec {
            title: "Tidy".into(),
            scope: Scope {
                include: vec!["../../etc/".into(), "/etc/passwd".into(), "components/".into(), "~/.ssh/".into(), "c:/windows/".into()],
                exclude: vec!["a/../../b/".into()],
            },
            ..TaskSpec::default()
        };
        let p = render(&s, &PromptContext::default());
        assert!(p.contains("- components/"), "{p}");
        for bad in ["../", "/etc", "~/.ssh", "c:/windows", "Do not touch"] {
            assert!(!p.contains(bad), "{bad} in:\n{p}");
        }
    }

    #[test]
    fn empty_sections_are_left_out() {
        let s = TaskSpec { title: "Fix typo".into(), ..TaskSpec::default() };
        let p = render(&s, &PromptContext::default());
        assert!(!p.contains("## Scope"));
        assert!(!p.contains("## Acceptance"));
        assert!(p.contains("## When you are done"));
    }

    #[test]
    fn follow_up_repeats_the_prompt_when_not_resuming() {
        assert!(render_follow_up(Some("ORIGINAL\n"), "also docs").starts_with("ORIGINAL"));
        assert!(render_follow_up(None, "also\ndocs").contains("also docs"));
    }
}
