//! Short utterances that the free decoder heard as a near-miss of a command
//! verb: "Top the CSS agent" for "Stop the CSS agent", "Merch PR 42" for
//! "Merge PR 42". Read as they are, they would be dispatched as briefs (a new
//! task titled "Top the CSS agent"); instead the daemon asks back ("Did you
//! say stop the CSS agent?") and acts on nothing.
//!
//! A word is a near-miss of a verb when it is one edit from it, or two edits
//! from a verb of five letters or more that it begins with the first letter
//! of (tiny.en's misses on espeak-ng speech drop a first consonant, "stop" →
//! "top", or change the rest, "merge" → "merch", "murged"). "PR 42" is
//! often heard as "the R42". Only the first word is looked at, only in
//! utterances of at most [`MAX_WORDS`] words, and only when the corrected
//! utterance is a sentence of the commands grammar: "Fill the form" is one
//! edit from "kill the form", which is no command.

use super::grammar::Grammar;

/// Longer utterances are briefs, whatever their first word.
pub const MAX_WORDS: usize = 4;

/// The verbs of `grammars/commands.gbnf`.
pub const VERBS: &[&str] = &["merge", "cancel", "stop", "kill", "halt", "abort", "confirm", "status", "repeat", "help"];

/// Edit distance (insertions, deletions, substitutions) over chars.
pub fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    levenshtein(&a, &b)
}

/// Edit distance between two sequences: of chars for a near-miss, of words for a word error rate.
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The command verb `word` (lowercase) is a near-miss of, if any; a verb
/// itself is none.
pub fn near_verb(word: &str) -> Option<&'static str> {
    if word.is_empty() || VERBS.contains(&word) {
        return None;
    }
    VERBS.iter().copied().find(|v| {
        let d = edits(word, v);
        d == 1 || (d == 2 && v.len() >= 5 && word.chars().next() == v.chars().next())
    })
}

/// "the R42", "the R4-2", "the R 42" after a command verb: how tiny.en
/// hears "PR 42" (espeak-ng's "pee-ar" as "the R"). The words with it read
/// as "PR 42", or `None` when there is none.
fn pr_heard_as_the_r(rest: &[&str]) -> Option<Vec<String>> {
    let clean = |w: &str| w.trim_end_matches(['.', '?', '!', ',']).to_string();
    let digits = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit() || c == '-') && w.starts_with(|c: char| c.is_ascii_digit());
    let i = rest.iter().position(|w| w.eq_ignore_ascii_case("the"))?;
    let r = clean(rest.get(i + 1)?);
    let number = match r.strip_prefix(['R', 'r']) {
        Some("") => clean(rest.get(i + 2)?),
        Some(n) => n.to_string(),
        None => return None,
    };
    if !digits(&number) {
        return None;
    }
    let used = if r.len() == 1 { 3 } else { 2 };
    let mut out: Vec<String> = rest[..i].iter().map(|w| w.to_string()).collect();
    out.push("PR".into());
    out.push(number.replace('-', ""));
    out.extend(rest[i + used..].iter().map(|w| w.to_string()));
    Some(out)
}

/// The utterance to ask back about ("Stop the CSS agent."), when `text` is
/// a short near-miss of a command in `commands`: its first word a near-miss
/// of a command verb, or its target "the R42" for "PR 42"; `None` to read
/// it as heard.
pub fn ask_back(text: &str, commands: &Grammar) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || words.len() > MAX_WORDS {
        return None;
    }
    let first = words[0].trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    let exact = VERBS.iter().copied().find(|v| *v == first);
    let verb = exact.or_else(|| near_verb(&first))?;
    let fixed = pr_heard_as_the_r(&words[1..]);
    if exact.is_some() && fixed.is_none() {
        return None;
    }
    let rest: Vec<String> = fixed.unwrap_or_else(|| words[1..].iter().map(|w| w.to_string()).collect());
    let mut said = String::new();
    let mut cap = verb.chars();
    said.extend(cap.next().map(|c| c.to_ascii_uppercase()));
    said.push_str(cap.as_str());
    // the rest as heard, but for commas and a missing or doubled end mark
    for w in &rest {
        said.push(' ');
        said.push_str(w.trim_end_matches(','));
    }
    let said = said.trim_end_matches(['.', '?', '!', ',']).to_string() + ".";
    commands.accepts(&format!(" {said}")).then_some(said)
}

/// Letters and digits only, lowercase: how two hearings of a clip compare.
fn letters(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// After a grammar decode scored poorly and the clip was decoded freely: the
/// grammar's command (`grammar_text`, a sentence of the grammar) to ask back
/// about when the free text is short and sounds like it ("merge the R42"
/// for "Merge PR 42.": at most [`MAX_WORDS`] words, within a third of its
/// letters). `None` to read the free text as heard.
pub fn ask_back_grammar(free_text: &str, grammar_text: &str) -> Option<String> {
    let n = free_text.split_whitespace().count();
    if n == 0 || n > MAX_WORDS {
        return None;
    }
    let (f, g) = (letters(free_text), letters(grammar_text));
    if g.is_empty() || f == g {
        return None;
    }
    let d = edits(&f, &g);
    (d * 3 <= f.len().max(g.len())).then(|| grammar_text.trim().to_string())
}

/// The question asked back: "Did you say stop the CSS agent?"
pub fn question(said: &str) -> String {
    let body = said.trim_end_matches(['.', '?', '!']);
    let mut c = body.chars();
    let first: String = c.next().map(|f| f.to_lowercase().collect()).unwrap_or_default();
    format!("Did you say {first}{}?", c.as_str())
}

/// Whether the answer to an ask-back is a yes ("Yes.", "Yes, I did.",
/// "Correct."): then the command asked about is acted on.
pub fn is_yes(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let yes = |s: &str| matches!(s, "yes" | "yeah" | "yep" | "yup" | "correct" | "exactly" | "right");
    match w.as_slice() {
        [a] => yes(a),
        [a, "please"] | [a, "i", "did"] | [a, "it", "is"] => yes(a),
        ["that's", "right"] | ["that's", "it"] | ["yes", "that's", "right"] | ["yes", "go", "ahead"] | ["yes", "do", "it"] => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_command_verbs() {
        // (word heard, the verb it misses)
        for (w, want) in [
            ("top", Some("stop")),
            ("merch", Some("merge")),
            ("merged", Some("merge")),
            ("marge", Some("merge")),
            ("cancer", Some("cancel")),
            ("abort", None), // a verb itself
            ("stop", None),
            ("about", Some("abort")),
            ("hold", None), // two edits from "halt", which is short
            ("murged", Some("merge")),
            ("marked", None),
            ("fix", None),
            ("add", None),
            ("", None),
            ("update", None),
            ("bump", None),
        ] {
            assert_eq!(near_verb(w), want, "{w}");
        }
    }

    #[test]
    fn short_near_misses_that_make_a_command_are_asked_back() {
        let g = Grammar::parse(super::super::grammar::COMMANDS).unwrap();
        // (heard, asked back about)
        for (heard, want) in [
            ("Top the CSS agent.", Some("Stop the CSS agent.")),
            ("top the CSS agent", Some("Stop the CSS agent.")),
            ("Merch PR 42.", Some("Merge PR 42.")),
            ("Merch PR forty two", Some("Merge PR forty two.")),
            ("MURGED the R42.", Some("Merge PR 42.")),
            ("merge the R4-2.", Some("Merge PR 42.")),
            ("Merge the R 42.", Some("Merge PR 42.")),
            ("Cancel the R7", Some("Cancel PR 7.")),
            ("merge the R4D2.", None),
            ("Merge the red one.", None),
            ("Marge task four.", Some("Merge task four.")),
            ("Kills that.", Some("Kill that.")),
            ("Cancer task 3.", Some("Cancel task 3.")),
            // a command as heard: read as it is
            ("Stop the CSS agent.", None),
            ("Merge PR 42.", None),
            // near-miss, but no command once corrected
            ("Fill the form.", None),
            ("Top up the credits.", None),
            ("Hold on a second.", None),
            ("About the CSS agent, fix it.", None),
            // more than four words: a brief
            ("Top the CSS agent right now.", None),
            ("", None),
            // no near-miss at all
            ("Fix the footer.", None),
            ("Update the docs.", None),
        ] {
            assert_eq!(ask_back(heard, &g).as_deref(), want, "{heard}");
        }
    }

    #[test]
    fn a_short_free_hearing_close_to_the_grammars_command_is_asked_back() {
        // (free text, the grammar's text set aside, asked back about)
        for (free, grammar, want) in [
            ("merge the R42.", "Merge PR 42.", Some("Merge PR 42.")),
            ("merge the R4-2.", "Merge PR 42.", Some("Merge PR 42.")),
            ("Top the CSS agent.", "Stop the CSS agent.", Some("Stop the CSS agent.")),
            // the same words: a command as heard
            ("Merge PR 42.", "Merge PR 42.", None),
            // far from the grammar's forced reading: a short brief
            ("Add a login page.", "Anything done.", None),
            ("Update the docs.", "Abort that.", None),
            ("Bump the version number.", "Merge task 4.", None),
            // a brief of more than four words
            ("Merge the R42 and the R43.", "Merge PR 42.", None),
            ("", "Merge PR 42.", None),
            ("merge the R42.", "", None),
        ] {
            assert_eq!(ask_back_grammar(free, grammar).as_deref(), want, "{free} / {grammar}");
        }
    }

    #[test]
    fn only_a_plain_yes_acts_on_what_was_asked_back() {
        for (answer, yes) in [
            ("Yes.", true),
            ("Yes, I did.", true),
            ("yeah", true),
            ("Correct.", true),
            ("That's right.", true),
            ("Yes, go ahead.", true),
            ("No.", false),
            ("No, merge task four.", false),
            ("Yes, but stop the other one.", false),
            ("Stop the CSS agent.", false),
            ("", false),
        ] {
            assert_eq!(is_yes(answer), yes, "{answer}");
        }
    }

    #[test]
    fn the_question_repeats_what_was_meant() {
        assert_eq!(question("Stop the CSS agent."), "Did you say stop the CSS agent?");
        assert_eq!(question("Merge PR 42."), "Did you say merge PR 42?");
    }
}
