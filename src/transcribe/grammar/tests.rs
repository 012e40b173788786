use super::*;

// Grammars in the style of whisper.cpp's published examples (a fixed
// prompt prefix, optional repeated moves, character classes, alternatives
// continued over several lines) and llama.cpp's JSON example (nested groups,
// escapes, code-point ranges, comments inside groups). Written for these
// tests; they exercise the same syntax.

const GAME_MOVES: &str = r#"
# - knight to c3
# - d4 d5 queen to h5
root   ::= init move move? move? "."
prompt ::= init "."

# the leading space matters
init ::= " rook to b4, f3"

move ::= ", " ((piece | pawn | king) " " "to "?)? [a-h] [1-8]

piece ::= "bishop" | "rook" | "knight" | "queen"
king  ::= "king"
pawn  ::= "pawn"
"#;

const HOME: &str = r#"
root     ::= init " " (command | question) "."
init     ::= " Okay assistant, listen."
command  ::= "Switch " ("on" | "off") " " device | "Set " device " to " value |
             "Raise " device " by " value | "Remind me to " chore " at " time
question ::= "Is the " device " on?" |
             "What time is it?"
device   ::= "lamp" | "heater" | "radio" | "front door"
value    ::= [0-9]+
chore    ::= [a-zA-Z]+ (" " [a-zA-Z]+)?
time     ::= [0-9] [0-9]? ("am" | "pm")?
"#;

const PALETTE: &str = "root ::= init shade \".\"\ninit ::= \" cyan, magenta, yellow\"\nshade ::= \", \" (\"cyan\" | \"magenta\" | \"yellow\")\n";

const JSONISH: &str = r#"
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::= "[" ws ( value ("," ws value)* )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |      # anything but a quote, a backslash or a control
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= "-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]+)? ([eE] [-+]? [0-9]+)? ws
ws     ::= ([ \t\n] ws)?
"#;

#[test]
fn parses_the_published_style_examples() {
    for (name, src) in [("moves", GAME_MOVES), ("home", HOME), ("palette", PALETTE), ("json", JSONISH)] {
        let g = Grammar::parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(g.names[g.start], "root");
        assert!(g.rules.iter().all(|r| r.last().map(|e| e.kind) == Some(Kind::End)), "{name}");
    }
}

#[test]
fn literal_and_alternatives_become_whisper_elements() {
    let g = Grammar::parse("root ::= \"ab\" | [x-z0] | other\nother ::= [^q]").unwrap();
    let root = &g.rules[g.start];
    use Kind::*;
    let other = g.names.iter().position(|n| n == "other").unwrap() as u32;
    assert_eq!(
        root,
        &vec![
            el(Char, 'a' as u32),
            el(Char, 'b' as u32),
            el(Alt, 0),
            el(Char, 'x' as u32),
            el(CharRngUpper, 'z' as u32),
            el(CharAlt, '0' as u32),
            el(Alt, 0),
            el(RuleRef, other),
            el(End, 0),
        ]
    );
    assert_eq!(g.rules[other as usize], vec![el(CharNot, 'q' as u32), el(End, 0)]);
}

#[test]
fn matching_follows_the_grammar() {
    let g = Grammar::parse(GAME_MOVES).unwrap();
    assert!(g.accepts(" rook to b4, f3, knight to c3."));
    assert!(g.accepts(" rook to b4, f3, d4, queen h5, e2."));
    assert!(!g.accepts(" rook to b4, f3, knight to c9."));
    assert!(!g.accepts(" rook to b4, f3."));
    assert!(g.is_viable_prefix(" rook to b4, f3, kni"));
    assert!(!g.is_viable_prefix(" castle"));

    let h = Grammar::parse(HOME).unwrap();
    assert!(h.accepts(" Okay assistant, listen. Set heater to 21."));
    assert!(h.accepts(" Okay assistant, listen. Remind me to water plants at 7pm."));
    assert!(h.accepts(" Okay assistant, listen. Is the front door on?."));
    assert!(!h.accepts(" Okay assistant, listen. Set heater to warm."));

    let j = Grammar::parse(JSONISH).unwrap();
    assert!(j.accepts(r#"{"a": [1, -2.5e3, "x\u00e9y", true, null], "b": {}}"#));
    assert!(!j.accepts(r#"{"a": [1,]}"#));
    assert!(j.accepts("{\"caf\u{e9}\": \"\u{1F600}\"}"));
}

#[test]
fn bounded_repetition_counts() {
    let g = Grammar::parse("root ::= [0-9]{2,3} \"!\"").unwrap();
    assert!(!g.accepts("1!"));
    assert!(g.accepts("12!"));
    assert!(g.accepts("123!"));
    assert!(!g.accepts("1234!"));
    let g = Grammar::parse("root ::= \"a\"{2,}").unwrap();
    assert!(!g.accepts("a"));
    assert!(g.accepts("aaaaa"));
    let g = Grammar::parse("root ::= \"ab\"{3}").unwrap();
    assert!(g.accepts("ababab"));
    assert!(!g.accepts("abab"));
}

#[test]
fn errors_name_the_line() {
    let cases = [
        ("root ::= \"a\"\nnext ::= missing", "never defined"),
        ("root ::= \"unterminated\n", "unterminated"),
        ("root ::= [ab", "unterminated"),
        ("root ::= \"a\" )", "unexpected"),
        ("root = \"a\"", "::="),
        ("start ::= \"a\"", "root"),
        ("root ::= \"a\"\nroot ::= \"b\"", "twice"),
        ("root ::= *", "follows nothing"),
        ("root ::= [z-a]", "backwards"),
        ("root ::= \"\\q\"", "escape"),
        ("root ::= \"a\"{3,1}", "below"),
    ];
    for (src, want) in cases {
        let e = Grammar::parse(src).expect_err(src);
        assert!(e.message.contains(want), "{src:?}: {e}");
    }
    let e = Grammar::parse("root ::= \"a\"\n\nx ::= y\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn left_recursion_is_refused() {
    for src in [
        "root ::= root \"a\" | \"b\"",
        "root ::= a\na ::= b \"x\"\nb ::= a | \"y\"",
        "root ::= opt root \"a\" | \"b\"\nopt ::= \"c\"?",
    ] {
        let e = Grammar::parse(src).expect_err(src);
        assert!(e.message.contains("left-recursive"), "{src}: {e}");
    }
    // right recursion is fine
    assert!(Grammar::parse("root ::= \"a\" root | \"b\"").is_ok());
}

#[test]
fn capcom_grammars_parse_and_accept_their_phrases() {
    let c = Grammar::parse(COMMANDS).unwrap();
    assert!(unused_rules(&c).is_empty(), "{:?}", unused_rules(&c));
    for ok in [
        " What's finished?",
        " Status.",
        " Merge task 3.",
        " Merge task three.",
        " Confirm.",
        " Confirm 4 7 1.",
        " Yes, merge it.",
        " Cancel task 12.",
        " Read the changelog.",
        " What changed today?",
        " Repeat that.",
        " Help.",
        " No, cancel.",
        // numbers said as words, to 999, and PRs
        " Merge PR forty two.",
        " Merge PR 42.",
        " Merge pull request forty-two.",
        " Merge PR number seven.",
        " Merge task one hundred and five.",
        " Merge PR nine hundred ninety nine.",
        " Merge task twelve.",
        // cancel and its synonyms, with a named target
        " Stop the CSS agent.",
        " Stop.",
        " Kill task 4.",
        " Halt the Tailwind task.",
        " Abort that.",
        " Abort the Copilot agent.",
        " Cancel PR thirty.",
    ] {
        assert!(c.accepts(ok), "commands should accept {ok:?}");
    }
    for bad in [
        " Merge task",
        " Bump Tailwind to the latest version.",
        "What's finished?",
        " Merge PR forty forty.",
        " Merge PR one thousand.",
        " Merge task twenty ten.",
        " Stop the carousel from autoplaying.",
        " Delete the old branch.",
        " Top the CSS agent.",
    ] {
        assert!(!c.accepts(bad), "commands should refuse {bad:?}");
    }
    let y = Grammar::parse(CONFIRM).unwrap();
    for ok in [" Yes.", " Yes, confirm.", " Confirm 4 7 1.", " No.", " No, cancel.", " Do it!", " Not now."] {
        assert!(y.accepts(ok), "confirm should accept {ok:?}");
    }
    assert!(!y.accepts(" Maybe later."));
    // every example phrase in the prompts is in its grammar
    for phrase in COMMANDS_PROMPT.split_inclusive(['.', '?']) {
        assert!(c.accepts(&format!(" {}", phrase.trim())), "{phrase:?}");
    }
    for phrase in CONFIRM_PROMPT.split_inclusive('.') {
        assert!(y.accepts(&format!(" {}", phrase.trim())), "{phrase:?}");
    }
}

#[test]
fn rule_table_points_at_each_rule() {
    let g = Grammar::parse(COMMANDS).unwrap();
    let t = g.rule_table();
    assert_eq!(t.len(), g.rules.len());
    let mut p: sys::whisper_full_params = unsafe { std::mem::zeroed() };
    t.apply(&mut p, 100.0);
    assert_eq!(p.n_grammar_rules, g.rules.len());
    assert_eq!(p.i_start_rule, g.start);
    for (i, rule) in g.rules.iter().enumerate() {
        // what whisper.cpp does: rules[i][j] until END
        let ptr = unsafe { *p.grammar_rules.add(i) };
        for (j, e) in rule.iter().enumerate() {
            let got = unsafe { *ptr.add(j) };
            assert_eq!(got.type_, e.kind as u32);
            assert_eq!(got.value, e.value);
        }
    }
}
