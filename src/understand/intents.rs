//! What the user wants: the intent of a cleaned transcript, with its reference, filter,
//! period, instruction or tasks.
//!
//! The order matters and goes from the most specific to the most general:
//! nothing heard → yes/no (read against a pending question) → help → repeat → workflow
//! triggers → commands on existing work (merge, cancel, retry, follow-up) → questions
//! (status, changelog) → a brief to dispatch → unknown.
//!
//! A pending question changes the reading: yes/no words answer it ("cancel that" is a no),
//! "merge" answers a merge question, and while a clarifying question about a held brief
//! is pending, anything that is not a command is its answer (a follow-up to that task).

use super::brief::{self, is_task_verb, strip_polite};
use super::normalize::Normalized;
use super::refs::{Prefer, Resolved, looks_referential, resolve, word_match};
use super::vocab::{bounded_edit, phonetic};
use super::{Context, Intent, IntentKind, Names, StatusFilter, readiness, when};

pub(super) fn bare(lower: &str) -> String {
    let mut s = String::with_capacity(lower.len());
    for c in lower.chars() {
        if matches!(c, ',' | '.' | '?' | '!' | ';' | ':' | '"') {
            s.push(' ');
        } else {
            s.push(c);
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const YES_WORDS: &[&str] = &[
    "yes", "yeah", "yep", "yup", "yea", "ya", "sure", "ok", "okay", "alright", "correct", "affirmative", "absolutely",
    "definitely", "confirm", "confirmed", "please", "go", "ahead", "for", "it", "do", "proceed", "approve", "approved",
    "ship", "merge", "sounds", "good", "make", "so", "that's", "that", "right", "thanks", "thank", "you", "anyway",
    "just", "send", "dispatch", "run", "great", "perfect", "fine", "roger", "aye", "exactly", "indeed", "now", "on",
    "with", "let's", "lets", "by", "all", "means", "capcom", "i", "confirmation", "is", "true", "positive", "start",
    "one", "this", "them", "both", "merge's", "agreed", "agree", "works", "me", "a", "plan", "thing", "will", "do", "cool", "nice", "awesome", "yes,", "course", "of",
];
const YES_ANCHORS: &[&str] = &[
    "yes", "yeah", "yep", "yup", "yea", "ya", "sure", "ok", "okay", "correct", "affirmative", "absolutely", "definitely",
    "confirm", "confirmed", "proceed", "approve", "approved", "roger", "aye", "exactly", "perfect", "agreed", "agree",
];
const YES_PAIRS: &[&str] = &[
    "do it", "go ahead", "go for it", "ship it", "of course", "sure thing", "merge it", "sounds good", "make it so", "that's right", "please do",
    "send it", "dispatch anyway", "dispatch it", "run it", "merge them", "merge both", "do that", "let's go", "go on",
    "all good", "by all means", "works for me", "start it", "merge anyway", "send them",
];
const NO_WORDS: &[&str] = &[
    "no", "nope", "nah", "not", "now", "cancel", "that", "it", "never", "mind", "nevermind", "forget", "don't", "do",
    "stop", "abort", "hold", "on", "off", "wait", "negative", "scratch", "thanks", "thank", "you", "leave", "please",
    "skip", "yet", "later", "let's", "lets", "rather", "belay", "i'd", "actually", "merge", "dispatch", "go", "ahead",
    "this", "one", "thing", "about", "capcom", "oh", "all", "the", "question", "changed", "my", "mistake", "ignore",
    "won't", "dont", "way", "sorry", "hmm", "maybe", "keep", "waiting", "no,", "pass", "undo",
];
const NO_ANCHORS: &[&str] = &[
    "no", "nope", "nah", "cancel", "nevermind", "forget", "don't", "dont", "stop", "abort", "wait", "negative",
    "scratch", "skip", "belay", "ignore", "won't", "pass", "undo",
];
const NO_PAIRS: &[&str] = &["never mind", "hold on", "hold off", "not now", "not yet", "let's not", "rather not", "changed my mind", "no way"];

#[derive(Debug, PartialEq)]
enum YesNo {
    Yes,
    No,
    Both,
    Neither,
}

fn yes_no(b: &str) -> YesNo {
    let ws: Vec<&str> = b.split(' ').filter(|w| !w.is_empty()).collect();
    if ws.is_empty() || ws.len() > 7 {
        return YesNo::Neither;
    }
    let padded = format!(" {b} ");
    let yes_bag = ws.iter().all(|w| YES_WORDS.contains(w));
    let no_bag = ws.iter().all(|w| NO_WORDS.contains(w) || YES_WORDS.contains(w));
    let yes_anchor = ws.iter().any(|w| YES_ANCHORS.contains(w)) || YES_PAIRS.iter().any(|p| padded.contains(&format!(" {p} ")));
    let no_anchor = ws.iter().any(|w| NO_ANCHORS.contains(w)) || NO_PAIRS.iter().any(|p| padded.contains(&format!(" {p} ")));
    match (yes_bag && yes_anchor, no_bag && no_anchor) {
        (true, false) => YesNo::Yes,
        (false, true) => {
            // "no thanks" is a no; "don't merge it" is a no; "yes, don't" is both.
            if ws.iter().any(|w| YES_ANCHORS.contains(w)) { YesNo::Both } else { YesNo::No }
        }
        (true, true) => YesNo::Both,
        _ => YesNo::Neither,
    }
}

/// The opening of a list of tasks: "Two things", "Queue these", "First, …".
fn header_re() -> &'static super::pattern::Re {
    re!(r"^(?:(?:i have |i've got |here are |there are |we have |we've got )?(?:\d+|two|three|four|five|a couple of|a few|few|several) (?:things|tasks|jobs|items|changes)\b|(?:queue|dispatch|schedule|kick off|line up)(?: up)? (?:these|the following|this|both)\b|first(?:ly)?\b)")
}

/// First words that are not verbs, for the order with a verb capcom does not know.
const NOT_VERBS: &[&str] = &[
    "the", "and", "but", "for", "with", "what", "what's", "whats", "which", "who", "who's", "how", "how's", "hows", "why",
    "where", "when", "are", "was", "were", "has", "have", "had", "does", "did", "can", "could", "would", "will", "should",
    "any", "anything", "all", "its", "it's", "this", "that", "these", "those", "there", "here", "they", "you", "our",
    "my", "his", "her", "their", "yes", "yeah", "nope", "okay", "thanks", "then", "also", "not", "about", "from", "into",
    "onto", "over", "under", "after", "before", "once", "since", "until", "while", "because", "like", "just", "only",
    "even", "still", "maybe", "please", "hey", "hello", "well", "now", "today", "tonight", "tomorrow", "yesterday",
    "merge", "cancel", "stop", "retry", "status", "show", "tell", "give", "list", "read", "play",
];

/// Verbs that open a question about work rather than an order for new work.
const STATUS_VERBS: &[&str] = &["show", "give", "tell", "list", "check", "read", "report", "summarize", "summarise", "recap", "catch", "what's", "what", "how's", "how"];

fn with_conf(mut i: Intent, c: f32) -> Intent {
    i.confidence = c;
    i
}

fn unknown(reason: &str, confidence: f32) -> Intent {
    Intent { reason: Some(reason.to_string()), confidence, ..Intent::default() }
}

fn apply(intent: &mut Intent, r: Resolved) {
    intent.target = r.target;
    if r.question.is_some() {
        intent.question = r.question;
        intent.confidence = intent.confidence.min(0.75);
    }
    if intent.reason.is_none() {
        intent.reason = r.reason;
    }
}

/// Read a cleaned transcript.
pub fn classify(norm: &Normalized, ctx: &Context, names: &Names) -> Intent {
    let lower = norm.lower.trim();
    if !lower.chars().any(char::is_alphanumeric) {
        return unknown("nothing was heard", 0.0);
    }
    let penalty = (norm.corrections as f32 * 0.03).min(0.15);
    let mut intent = classify_inner(norm, lower, ctx, names);
    // While capcom waits for the answer to a clarifying question, words that are not a
    // command answer it: a follow-up to the held task (see `answer_clarification`).
    if let Some(p) = ctx.pending
        && p.action == "clarify"
        && matches!(intent.intent, IntentKind::Dispatch | IntentKind::Unknown)
        && intent.reason.as_deref() != Some("nothing was heard")
        && !reads_as_new_brief(lower, names)
    {
        let text = norm.text.trim().trim_end_matches(['.', '!', '?']).to_string();
        intent = Intent {
            instruction: Some(text),
            target: p.task.map(|t| super::Target { task: Some(t), ..Default::default() }),
            ..with_conf(Intent::of(IntentKind::FollowUp), 0.8)
        };
    }
    if intent.intent != IntentKind::Unknown {
        intent.confidence = (intent.confidence - penalty).max(0.05);
    }
    intent.confidence = (intent.confidence * 100.0).round() / 100.0;
    intent
}

/// An order of its own, not an answer to the question a held brief asked. Answers are
/// criteria ("the tests pass", "make sure the build passes"), places and names ("only the
/// docs folder", "the website", "Jules"), and short phrases; an order is four words or more
/// that open with one ("Fix the typo in the README heading", "have Jules fix the login
/// redirect", "on the website, add a sitemap") or carry one beside a criterion, a repo or
/// an agent ("the pricing table still shows last year's prices, update it, tests must pass").
fn reads_as_new_brief(lower: &str, names: &Names) -> bool {
    let l = strip_polite(lower.trim());
    if l.split_whitespace().count() < 4 {
        return false;
    }
    let b = bare(l);
    // "it should also update the sitemap, tests pass" says more about the held task.
    if re!(r"^(?:it|they|that|this|the agent|the task) (?:should|needs to|need to|must|has to|have to|can|could|will)\b|^(?:so that|i mean|i meant|just|only|also|and|but|with|without)\b").is_match(&b) {
        return false;
    }
    if order_anywhere(&b, lower, names) {
        return true;
    }
    if brief::criterion_only(l) {
        return false;
    }
    let body = strip_lead_ins(strip_polite(&b), names);
    let first = body.split(' ').next().unwrap_or("");
    // "use the api repo", "make it the website" answer; "use Jules to …" orders.
    (is_task_verb(first) && !matches!(first, "use" | "make" | "have" | "try" | "let" | "keep" | "leave") && !brief::is_criterion_clause(body))
        || brief::order_start(body, names)
        || header_re().is_match(body)
}

fn classify_inner(norm: &Normalized, lower: &str, ctx: &Context, names: &Names) -> Intent {
    let b = bare(lower);
    let nwords = b.split(' ').count();
    let pending = ctx.pending;

    // "Confirm merge 42", "yes, merge the tailwind one": a confirmation that names its target.
    if let Some(i) = targeted_confirm(&b, ctx, names) {
        return i;
    }

    // "Undo that", "undo the last task" with nothing pending: cancel the newest task, through
    // the usual cancel question (with a question pending, "undo that" answers it: a no).
    if pending.is_none()
        && let Some(c) = re!(r"^(?:please )?(?:undo|revert|take back|scrap|scratch|roll back) (that|it|this|the last (?:task|one|brief|thing|job)|my last (?:task|one|brief|thing)|what i just (?:said|asked for|sent))(?: please| now)?$").captures(&b)
    {
        let phrase = if matches!(&c[1], "that" | "it" | "this") { "the last one" } else { "the last task" };
        let mut i = with_conf(Intent::of(IntentKind::Cancel), 0.85);
        let r = resolve(phrase, ctx, names, Prefer::Any);
        apply(&mut i, r);
        if let Some(t) = i.target.as_mut() {
            t.text = Some(c[0].to_string());
        }
        return i;
    }

    // Yes and no, in the light of a pending question.
    let yn = yes_no(&b);
    let cancel_deictic = re!(r"^(?:please )?(?:cancel|stop|kill|abort|drop) (?:that|it|this)(?: one| task)?(?: please)?$").is_match(&b);
    if let Some(p) = pending {
        // "merge" while a merge is being asked about is the answer to it.
        if p.action.starts_with("merge") && re!(r"^(?:(?:yes|yeah|ok|okay|go ahead and|please) )?(?:merge|merge it|merge now|ship it|merge them|merge all|do the merge)(?: please| now)?$").is_match(&b) {
            return Intent { target: p.task.map(|t| super::Target { task: Some(t), ..Default::default() }), ..with_conf(Intent::of(IntentKind::Confirm), 0.95) };
        }
        match yn {
            YesNo::Yes => return Intent { target: p.task.map(|t| super::Target { task: Some(t), ..Default::default() }), ..with_conf(Intent::of(IntentKind::Confirm), 0.95) },
            YesNo::No => return Intent { target: p.task.map(|t| super::Target { task: Some(t), ..Default::default() }), ..with_conf(Intent::of(IntentKind::Deny), 0.95) },
            YesNo::Both => {
                return Intent { question: Some(format!("Sorry, was that a yes or a no? {}", p.question)), ..unknown("heard both yes and no", 0.3) };
            }
            YesNo::Neither => {}
        }
    } else if !cancel_deictic {
        let plain_merge_it = re!(r"^(?:please )?(?:merge|ship) (?:it|that|them|both)(?: please| now)?$").is_match(&b);
        match yn {
            YesNo::Yes if !plain_merge_it => return with_conf(Intent::of(IntentKind::Confirm), 0.6),
            YesNo::No => return with_conf(Intent::of(IntentKind::Deny), 0.6),
            YesNo::Both => return Intent { question: Some("Sorry, was that a yes or a no?".into()), ..unknown("heard both yes and no", 0.3) },
            _ => {}
        }
    }

    let s = strip_polite(&b).to_string();
    let s = s.as_str();

    // Help and repeat.
    let short = nwords <= 16;
    let help_anywhere = short
        && re!(r"\bwhat (?:\w+ ){0,4}(?:can|could|should|do|may) i (?:say|ask|tell)\b|\bwhat (?:\w+ ){0,3}(?:can|could) you (?:do|understand|handle)\b|\bwhat are (?:the|my|your) (?:commands|options)\b|\b(?:list|show) (?:me )?(?:the |your |all )?(?:commands|options)\b|\bhow do i (?:use|talk to) (?:this|you|capcom|it)\b|\bhow does (?:this|capcom) work\b|\bwhat do you (?:understand|know how to do)\b|\bwhat are you able to do\b|\bwhat can be said\b|\btell me what (?:you can do|i can say|to say)\b|\bwhat commands\b|\bwhat (?:\w+ )?(?:commands|phrases) (?:do you|can i|are there)\b").is_match(s)
        && !re!(r"\b(?:do|handle) (?:about|with) ").is_match(s);
    if help_anywhere {
        return with_conf(Intent::of(IntentKind::Help), 0.9);
    }
    let repeat_anywhere = short
        && re!(r"\b(?:say|read|play|tell me) (?:that|it|this|the last (?:thing|bit|one|part)) (?:again|back|one more time|once more)\b|\brepeat (?:that|it|yourself|the last (?:thing|message|answer|update|part))\b|\bi (?:missed|didn't catch|didn't hear|did not catch|did not hear|didn't get) (?:that|it|you|what you said)\b|\bcome again\b|\bwhat did you (?:just )?say\b|\b(?:could|can|would) you (?:please )?repeat\b|\bsay (?:again|once more|one more time)\b").is_match(s)
        && !s.split(' ').any(|w| matches!(w, "merge" | "cancel" | "retry" | "status"));
    if repeat_anywhere {
        return with_conf(Intent::of(IntentKind::Repeat), 0.9);
    }
    if re!(r"^(?:help|help me|what can (?:i|you) (?:say|do|ask|understand)|what (?:can|should|do) i (?:say|ask)|what are (?:the|my|your) (?:commands|options)|what commands|list (?:the |your )?commands|show (?:me )?(?:the )?commands|how do i use (?:this|you|capcom|it)|how does (?:this|capcom) work|what do you (?:do|understand|know)|what are you able to do|commands|options|what can be said|what (?:things )?can i tell you|tell me what (?:you can do|i can say|to say)|what can you do for me|how do i talk to you)\b").is_match(s) {
        return with_conf(Intent::of(IntentKind::Help), 0.95);
    }
    if re!(r"^(?:(?:say|read|play|tell me) (?:that|it|this|the last (?:thing|bit|one|part)) (?:again|back|one more time|once more)|repeat(?: that| it| yourself| the last (?:thing|message|answer|update|part))?(?: again)?|come again|pardon(?: me)?|what did you (?:just )?say|one more time|again|once more|sorry what|what was that|i didn't (?:catch|hear|get|understand) (?:that|it|you|what you said)|what|huh|could you repeat(?: that)?|can you repeat(?: that)?)(?: please| again)?$").is_match(s) {
        return with_conf(Intent::of(IntentKind::Repeat), 0.95);
    }

    // Workflow triggers.
    if let Some((name, exact)) = workflow(&b, ctx) {
        return Intent { workflow: Some(name), ..with_conf(Intent::of(IntentKind::Workflow), if exact { 0.95 } else { 0.8 }) };
    }

    // Commands on existing work.
    if let Some(i) = merge(s, ctx, names) {
        return i;
    }
    if (cancel_deictic || re!(r"^(?:cancel|stop|kill|abort|halt|terminate|call off|pull the plug on|shut down|drop|pause)\b").is_match(s))
        && let Some(i) = cancel(s, ctx, names) {
            return i;
        }
    if let Some(i) = retry(s, ctx, names) {
        return i;
    }
    if let Some(i) = approve_plan(s, ctx, names) {
        return i;
    }
    let lp_full = lower.trim_end_matches(['.', '!', '?']).to_string();
    let lp = strip_polite(&lp_full).to_string();
    // "For the api, few things: …" is a list of tasks, not a note for a task.
    let listy = header_re().is_match(strip_lead_ins(s, names));
    if !listy && let Some(i) = follow_up(&lp, norm, ctx, names) {
        return i;
    }

    // "Make me an audio changelog of the last three days": what is asked for is a changelog.
    if re!(r"^(?:make|give|read|play|generate|create|produce|record|send|prepare|do|get|put together|whip up|build) (?:me |us )?(?:an? |the |my |our )?(?:quick |short |brief |spoken |audio |voice |little )*(?:changelog|change log|summary|recap|rundown|digest|roundup|briefing)\b").is_match(s)
        && !re!(r"\b(?:entry|entries|file|md|page|section|component|script|generator|tool)\b").is_match(s)
        && re!(r"\b(?:me|us|audio|spoken|voice)\b|\b(?:last|past|since|today|yesterday|this week|tonight|overnight|week|days?|hours?)\b").is_match(s)
        && let Some(i) = changelog(s, ctx, names)
    {
        return i;
    }

    // Questions, unless the words are plainly an order ("Update the footer links …"). A lead-in
    // that only says where or when ("On the website, …", "Tonight …") does not hide the order.
    let s_full = s;
    let s = strip_lead_ins(s, names);
    let first = s.split(' ').next().unwrap_or("");
    let second = s.split(' ').nth(1).unwrap_or("");
    let order = (is_task_verb(first) && !STATUS_VERBS.contains(&first) && !matches!(first, "have" | "has") && !(matches!(second, "me" | "us") && matches!(first, "update" | "catch" | "fill" | "bring" | "brief")))
        || header_re().is_match(s)
        || header_re().is_match(&b)
        || names.agent_word(first).is_some()
        || re!(r"^(?:first(?:ly)?|(?:have|use|ask|get|let|tell) [a-z0-9-]+ (?:to )?[a-z])").is_match(s) && (brief::agent_in(s, names).is_some() || first == "first" || first == "firstly")
        || re!(r"^(?:have|take) a (?:quick |proper |good |closer |deeper )?look\b").is_match(s)
        || order_anywhere(s_full, lower, names);
    if !order {
        if let Some(i) = changelog(s_full, ctx, names) {
            return i;
        }
        if let Some(i) = status(s_full, ctx, names) {
            return i;
        }
    }
    let s = s_full;

    // A brief.
    if let Some(i) = dispatch(norm, s, &b, nwords, ctx, names) {
        return i;
    }
    if b.split(' ').count() <= 2 && re!(r"^(?:thanks|thank you|cheers|great|cool|nice|hello|hi|hey)\b").is_match(&b) {
        return unknown("small talk, nothing to do", 0.3);
    }
    unknown("no command or task was recognised", 0.1)
}

pub use super::brief::strip_lead_ins;

/// An order anywhere in the utterance, beside something only a brief has (acceptance
/// criteria, a repo, an agent to do it, a condition first): "the pricing table still shows
/// last year's prices, update it, tests must pass". A bare "update" or "progress" inside
/// is not a status cue: a status question asks about tasks, it does not order one.
fn order_anywhere(s: &str, lower: &str, names: &Names) -> bool {
    order_words(s, lower, names).is_some()
}

/// The words of the order [`order_anywhere`] finds, for an explanation.
pub(super) fn order_words(s: &str, lower: &str, names: &Names) -> Option<String> {
    let starts = std::iter::once(0).chain(s.match_indices(' ').map(|(i, _)| i + 1));
    let mut at = None;
    let mut prev = "";
    for i in starts {
        // "the fix the navbar one" names a task; an order follows no article.
        if !matches!(prev, "the" | "a" | "an" | "to" | "of" | "for" | "on" | "is" | "was" | "this" | "that" | "my" | "our" | "your")
            && brief::order_start(&s[i..], names)
        {
            at = Some(i);
            break;
        }
        prev = s[i..].split(' ').next().unwrap_or("");
    }
    let at = at?;
    // The verb and what it acts on ("update it", "tidy up the").
    let take = if s[at..].split(' ').nth(1).is_some_and(|w| matches!(w, "up" | "out" | "the" | "a" | "an" | "our" | "my" | "all")) { 3 } else { 2 };
    let words: String = s[at..].split(' ').take(take).collect::<Vec<_>>().join(" ");
    let criteria = brief::verdict(s) || re!(r"\b(?:make sure|ensure|acceptance criteria|done when)\b").is_match(s);
    let asks = re!(r"^(?:what|what's|whats|which|who|who's|how|how's|hows|is|are|any|anything|has|have|did|does|do|where|where's|when)\b").is_match(s) || lower.trim_end().ends_with('?');
    let ok = if asks {
        criteria
    } else {
        criteria || brief::repo_in(s, names).is_some() || brief::agent_in(s, names).is_some() || strip_lead_ins(s, names).len() < s.len()
    };
    ok.then_some(words)
}

/// "Confirm merge 42", "yes, merge the tailwind one", "confirm the cancel of task 3": a
/// confirmation that names what it confirms. It confirms only when that is what the pending
/// question is about; otherwise the answer says what is pending and nothing changes.
fn targeted_confirm(b: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    let c = re!(r"^(?:(?:yes|yeah|yep|ok|okay|sure|please|alright)\s+)*(confirm(?:ed)?|i confirm|approve|approved|go ahead and|yes|yeah|yep|ok|okay|sure)\s+(?:(?:and|to|with)\s+)?(?:the\s+)?(merge|merging|cancel|cancelling|canceling|stop)?\s*(?:of\s+|on\s+)?(.*?)(?:\s+(?:please|now|then|thanks))?$").captures(b)?;
    let lead = c.get(1).map_or("", |m| m.as_str());
    let verb = c.get(2).map(|m| m.as_str());
    let phrase = c.get(3).map_or("", |m| m.as_str()).trim();
    if phrase.is_empty() || re!(r"^(?:it|that|this|them|both|all|everything|now|it now|anyway|please|the merge|for it|ahead)$").is_match(phrase) {
        return None;
    }
    // "approve" alone approves plans (a follow-up); with "merge" or "cancel" it confirms.
    let confirm_word = lead.starts_with("confirm") || lead == "i confirm";
    if verb.is_none() && !confirm_word {
        return None;
    }
    let number = re!(r"^(?:(?:pr|pull request|task|number|#)\s*)*#?(\d{1,9})$").captures(phrase).and_then(|c| c[1].parse::<i64>().ok());
    if number.is_none() && !looks_referential(phrase, names) {
        return None;
    }
    let merge_verb = verb.is_none_or(|v| v.starts_with("merg"));
    let r = resolve(phrase, ctx, names, if merge_verb { Prefer::Ready } else { Prefer::Active });
    let Some(p) = ctx.pending else {
        // Nothing is pending: "go ahead and merge the headline one" is a merge; "confirm
        // merge 42" a confirmation of nothing (the answer says so).
        if !confirm_word {
            return None;
        }
        let mut i = with_conf(Intent::of(IntentKind::Confirm), 0.7);
        apply(&mut i, r);
        return Some(i);
    };
    let verb_ok = match verb {
        None => true,
        Some(v) if v.starts_with("merg") => p.action.starts_with("merge"),
        Some(_) => p.action == "cancel",
    };
    let pending_pr = p.task.and_then(|id| ctx.tasks.iter().find(|t| t.id == id)).and_then(|t| t.pr).map(|n| n as i64);
    let resolved = r.target.as_ref().and_then(|t| t.task);
    let target_ok = (resolved.is_some() && resolved == p.task)
        || number.is_some_and(|n| Some(n) == p.task || Some(n) == pending_pr)
        || (p.action == "merge_all" && r.target.as_ref().is_some_and(|t| t.all));
    if verb_ok && target_ok {
        return Some(Intent { target: p.task.map(|t| super::Target { task: Some(t), ..Default::default() }), ..with_conf(Intent::of(IntentKind::Confirm), 0.95) });
    }
    Some(Intent {
        question: Some(format!("That is not what I asked about, so nothing changed. I'm waiting on: {}", p.question)),
        ..unknown("the confirmation names another target than the pending question", 0.5)
    })
}

/// A workflow whose trigger phrase (or name) the utterance says, allowing near-misses.
fn workflow(b: &str, ctx: &Context) -> Option<(String, bool)> {
    let ws: Vec<&str> = b.split(' ').collect();
    const FILLER: &[&str] = &[
        "run", "start", "do", "kick", "off", "trigger", "give", "me", "my", "the", "please", "let's", "lets", "go", "time",
        "for", "now", "it's", "its", "a", "an", "capcom", "okay", "ok", "hey", "so", "can", "you", "could", "i", "want",
        "to", "need", "begin", "launch", "execute", "with", "our", "us", "workflow", "routine", "and", "just", "quick",
        "would", "like", "be", "great", "thanks", "up", "wrap", "on", "everything", "all", "stuff", "things", "what's",
        "happening", "going", "speed", "quick", "quickly", "real", "your", "thing", "magic", "alright", "right",
        "then", "yeah", "yes", "cool", "routine", "time", "hey", "well", "okay", "it's", "that", "is", "over", "it",
        "this", "stuff",
    ];
    const SKIP_INSIDE: &[&str] = &["the", "a", "my", "our"];
    let tok_eq = |a: &str, t: &str| -> (bool, bool) {
        if a == t {
            return (true, true);
        }
        let close = (t.len() >= 4 && bounded_edit(a, t, 2) <= 1) || (t.len() >= 4 && phonetic(a) == phonetic(t) && a.as_bytes().first() == t.as_bytes().first()) || word_match(a, t);
        (close, false)
    };
    let mut best: Option<(String, bool, usize)> = None;
    for wf in &ctx.config.workflows {
        let mut phrases: Vec<&str> = wf.triggers.iter().map(String::as_str).collect();
        phrases.push(&wf.name);
        for ph in phrases {
            let tl = bare(&ph.to_ascii_lowercase());
            let tw: Vec<&str> = tl.split(' ').filter(|w| !w.is_empty()).collect();
            if tw.is_empty() || tw.len() > ws.len() {
                continue;
            }
            for start in 0..=(ws.len() - tw.len()) {
                let mut all = true;
                let mut exact = true;
                let mut j = start;
                for t in tw.iter() {
                    // "end of the day" says the trigger "end of day".
                    while j < ws.len() && SKIP_INSIDE.contains(&ws[j]) && !SKIP_INSIDE.contains(t) && j > start {
                        j += 1;
                    }
                    let Some(w) = ws.get(j) else {
                        all = false;
                        break;
                    };
                    let (ok, ex) = tok_eq(w, t);
                    all &= ok;
                    exact &= ex;
                    j += 1;
                    if !all {
                        break;
                    }
                }
                if !all {
                    continue;
                }
                let end = j;
                // Words before the trigger are filler, or a remark set before a cue that runs
                // it: "it's friday evening, run the end of day routine".
                let before = &ws[..start];
                let lead_ok = before.iter().all(|w| FILLER.contains(w))
                    || before.len() <= 10
                        && before
                            .iter()
                            .rposition(|w| matches!(*w, "run" | "start" | "do" | "kick" | "time" | "trigger" | "launch" | "begin" | "execute"))
                            .is_some_and(|k| before[k + 1..].iter().all(|w| FILLER.contains(w)));
                if lead_ok && ws[end..].iter().all(|w| FILLER.contains(w)) {
                    let better = best.as_ref().is_none_or(|(_, _, n)| tw.len() > *n);
                    if better {
                        best = Some((wf.name.clone(), exact, tw.len()));
                    }
                }
                break;
            }
        }
    }
    best.map(|(n, e, _)| (n, e))
}

fn merge(s: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    // "can I merge PR 41", "are we good to merge the tailwind one": a merge, which capcom
    // confirms before it acts.
    let s = &*re!(r"^(?:can (?:i|we)|could (?:i|we)|should (?:i|we)|shall (?:i|we)|are we (?:good|ok|okay|safe|clear) to|is it (?:safe|ok|okay) to|let's|lets|time to|ready to)\s+(merge|land|ship)\b").replace(s, "$1");
    let c = re!(r"^(?:go ahead and |approve and |squash and )?(?:merge|land|squash(?: and merge)?)(?: in)?\b(.*)$").captures(s);
    let phrase = match c {
        Some(c) => c[1].trim().to_string(),
        None => {
            // "ship PR 12", "PR 12 looks good, merge it", "merge everything that's green".
            if let Some(c) = re!(r"^ship (.*(?:\bpr\b|\btask\b|\bone\b|\ball\b|\beverything\b|\bit\b|\bthat\b).*)$").captures(s) {
                c[1].trim().to_string()
            } else if re!(r"\bmerge (?:it|that|them|this one)\b").is_match(s)
                && let Some(m) = re!(r"\b(?:pr|task) ?#?\d+\b|\bthe [a-z0-9 -]+? one\b").find(s)
            {
                m.as_str().to_string()
            } else {
                return None;
            }
        }
    };
    let phrase = re!(r"^(?:the (?:pr|pull request) (?:for|from|of) |in )").replace(&phrase, "").to_string();
    let phrase = re!(r"(?: (?:into|to) (?:main|master|the main branch|trunk))$").replace(&phrase, "").to_string();
    // "merge the two date helpers into one utility" is a refactor to dispatch.
    if phrase.contains(" into ") || phrase.contains(" with ") && !phrase.contains(" with green") {
        return None;
    }
    let r = resolve(&phrase, ctx, names, Prefer::Ready);
    if !looks_referential(&phrase, names) && r.target.as_ref().is_none_or(|t| t.task.is_none()) && phrase.split_whitespace().count() >= 4 {
        return None;
    }
    let mut i = with_conf(Intent::of(IntentKind::Merge), 0.9);
    apply(&mut i, r);
    Some(i)
}

fn cancel(s: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    let c = re!(r"^(?:cancel|stop|kill|abort|halt|terminate|call off|pull the plug on|shut down|drop|pause)\b(.*)$").captures(s)?;
    let phrase = c[1].trim();
    let phrase = re!(r"^(?:working on |work on |running |the work on )").replace(phrase, "").to_string();
    // "stop the carousel from autoplaying" is an order for new work.
    if re!(r"\bfrom \w+ing\b").is_match(&phrase) {
        return None;
    }
    let r = resolve(&phrase, ctx, names, Prefer::Active);
    let resolved_one = r.target.as_ref().is_some_and(|t| t.task.is_some() || t.all) && r.question.is_none();
    if !(looks_referential(&phrase, names) || resolved_one) && phrase.split_whitespace().count() >= 3 {
        return None;
    }
    let mut i = with_conf(Intent::of(IntentKind::Cancel), 0.9);
    apply(&mut i, r);
    Some(i)
}

fn retry(s: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    let phrase = if let Some(c) = re!(r"^(?:retry|re-run|rerun|restart|redo|requeue|re-queue|resubmit|re-dispatch|redispatch)\b(.*)$").captures(s) {
        c[1].trim().to_string()
    } else if let Some(c) = re!(r"^(?:try|run|kick off|start|do|queue|dispatch|send|give) (.*?) (?:again|one more time|once more|another (?:go|shot|try))\b,?(.*)$").captures(s) {
        format!("{} {}", c[1].trim(), c[2].trim()).trim().to_string()
    } else if let Some(c) = re!(r"^(?:run|start|kick off|launch|begin|go ahead with|dispatch|send|queue|ship) (.*?),? (?:anyway|regardless|right now anyway|now anyway)$").captures(s) {
        // "run task 7 anyway": start a task that waits for an overlapping one (see dispatch::lease);
        // "dispatch task 1 anyway": start a held task as it stands.
        c[1].trim().to_string()
    } else if let Some(c) = re!(r"^(?:give|let) (.*?) (?:another|one more) (?:go|shot|try|attempt|run)$").captures(s) {
        c[1].trim().to_string()
    } else if let Some(c) = re!(r"^(?:have|take) another (?:go|shot|crack|try) (?:at|on) (.*)$").captures(s) {
        c[1].trim().to_string()
    } else if let Some(c) = re!(r"^(?:try again|again) (?:with|on|for) (.*)$").captures(s) {
        c[1].trim().to_string()
    } else if re!(r"^try (?:it |that |this )?again$").is_match(s) {
        String::new()
    } else if let Some(c) = re!(r"^(.+?) (?:(?:fell|has fallen|went) over|fell down|died|has died|failed|has failed|blew up|crashed|broke|is broken|errored(?: out)?|is red|went red|timed out|got stuck|is stuck)(?: again| overnight| last night| earlier| just now)?,? (?:so |please |can you |could you |just )*(?:kick it off|kick that off|run it|run that|start it|start that|try it|try that|do it|queue it|send it|fire it off|dispatch it|retry it|retry that|restart it|restart that|rerun it|re-run it|requeue it|re-queue it|give it (?:another|one more) (?:go|shot|try|run)|have another go)(?: again| one more time| once more| another time)?(?: please)?$").captures(s)
    {
        // "task 12 fell over, kick it off again": what failed, then the retry.
        c[1].trim().to_string()
    } else {
        return None;
    };
    // "retry PR 45 with Claude": the same task, another agent.
    let mut other_agent = None;
    let mut phrase = phrase;
    if let Some(c) = re!(r"^(.*?)\s*\b(?:with|using|on|via|but with|but use|but using|and use|and give it to|give it to|but give it to|through) ([a-z][a-z0-9-]*)(?: this time| instead| please)*$").captures(&phrase)
        && let Some(a) = names.agent_word(&c[2])
    {
        other_agent = Some(a.to_string());
        phrase = c[1].to_string();
    }
    let r = resolve(&phrase, ctx, names, Prefer::Failed);
    let resolved_one = r.target.as_ref().is_some_and(|t| t.task.is_some() || t.all) && r.question.is_none();
    if !(looks_referential(&phrase, names) || resolved_one) && phrase.split_whitespace().count() >= 4 {
        return None;
    }
    let mut i = with_conf(Intent::of(IntentKind::Retry), 0.9);
    i.instruction = other_agent.map(|a| format!("use {a}"));
    apply(&mut i, r);
    Some(i)
}

/// The follow-up that approves a waiting agent's plan (Jules' `:approvePlan`).
pub const APPROVE_PLAN: &str = "approve the plan";

/// "Approve the plan", "approve Jules's plan for the login page", "the plan looks good":
/// a follow-up to the task whose agent waits on the user. Without a named task it is
/// the one task that needs attention (of that agent, when one is named).
fn approve_plan(s: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    let (who, what) = if let Some(c) = re!(r"^(?:i |we )?(?:approve|accept|okay|ok|go ahead with|go with|sign off on|greenlight|green light) (?:the |that |this |its |their |([a-z][a-z0-9-]*?)(?:'s|s'|s)? )?plan(?: (?:for|on|of|in) (.+?))?(?:,? (?:go ahead|please|thanks))?$").captures(s) {
        (c.get(1).map(|m| m.as_str().to_string()), c.get(2).map(|m| m.as_str().to_string()))
    } else if let Some(c) = re!(r"^(?:the |([a-z][a-z0-9-]*?)(?:'s|s'|s)? )?plan(?: (?:for|on|of|in) (.+?))? (?:looks good|looks fine|is fine|is good|is ok|is okay|is approved)(?:,? (?:go ahead|approve it|ship it|go for it))?$").captures(s) {
        (c.get(1).map(|m| m.as_str().to_string()), c.get(2).map(|m| m.as_str().to_string()))
    } else {
        return None;
    };
    let agent = who.as_deref().and_then(|w| names.agent_word(w).or_else(|| names.agent_word(&format!("{w}s")))).map(str::to_string);
    let mut i = Intent { instruction: Some(APPROVE_PLAN.to_string()), ..with_conf(Intent::of(IntentKind::FollowUp), 0.9) };
    if let Some(phrase) = what {
        let r = resolve(&phrase, ctx, names, Prefer::Active);
        i.target = r.target;
        i.question = r.question;
        return Some(i);
    }
    let waiting: Vec<&super::TaskRef> = ctx
        .tasks
        .iter()
        .filter(|t| t.state == "needs_attention")
        .filter(|t| agent.as_deref().is_none_or(|a| t.agent.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(a))))
        .collect();
    match waiting.as_slice() {
        [one] => i.target = Some(super::Target { task: Some(one.id), text: Some(s.to_string()), ..Default::default() }),
        [] => i.question = Some("No agent is waiting for a plan approval.".to_string()),
        many => {
            let list: Vec<String> = many.iter().map(|t| format!("task {}, '{}'", t.id, t.title)).collect();
            i.question = Some(format!("Whose plan: {}?", list.join(", or ")));
        }
    }
    Some(i)
}

fn follow_up(s: &str, norm: &Normalized, ctx: &Context, names: &Names) -> Option<Intent> {
    let forms: [&super::pattern::Re; 7] = [
        re!(r"^(?:tell|ask|remind|instruct|let|get|have|message|ping|nudge) (.+?) (?:to|that|know that|know to|know|it should|they should|it needs to|they need to) (.+)$"),
        re!(r"^(?:follow up (?:on|with)|for|on|regarding|re|about|back to|update|add to|also add to|note for|a note for) (.+?)[,:] (.+)$"),
        re!(r"^(?:follow up (?:on|with)|for|regarding) (.+?),? (?:and )?(?:tell it to |ask it to |have it )?(also .+)$"),
        re!(r"^((?:.+? )?(?:agent|one|task|pr ?\d+|task ?\d+)),? (?:should|needs to|has to|must|can) (.+)$"),
        // "Copilot should also update the snapshots", "hey Jules, also add …".
        re!(r"^([a-z][a-z0-9-]*),? (?:should|needs to|has to|must|can|could|please)? ?((?:also|additionally) .+|.+ (?:too|as well))$"),
        re!(r"^(?:hey |ok |okay )?([a-z][a-z0-9-]*)[,:.]? ((?:also|additionally|and also|don't forget to) .+)$"),        // "add this to task 5: pin the version", "add this to the tailwind one, …".
        re!(r"^(?:add|append|tack|attach) (?:this|that|these|the following)? ?(?:on )?(?:to|onto|for) ((?:task|pr|job) ?#?\d+|the [a-z0-9 -]+? (?:one|task|job)|[a-z][a-z0-9-]*'s (?:task|job))[,:.]? (.+)$"),
    ];
    // Work on the cleaned text so the instruction keeps its casing.
    let text = norm.text.trim().trim_end_matches(['.', '!', '?']);
    for (k, r) in forms.iter().enumerate() {
        let Some(c) = r.captures(s) else { continue };
        let who = c[1].trim().to_string();
        let instr_l = c[2].trim().to_string();
        if who.is_empty() || instr_l.split_whitespace().count() < 2 && !instr_l.contains("stop") {
            continue;
        }
        let bare_agent = names.agent_word(who.trim_start_matches("the ")).is_some() && !who.contains(' ');
        let agent_phrase = who.split_whitespace().last().is_some_and(|w| matches!(w, "agent" | "one" | "bot" | "task" | "job"));
        let mut r = resolve(&who, ctx, names, Prefer::Any);
        if bare_agent && r.question.is_some() {
            // "Jules, also add a changelog entry for the react query upgrade": the words of
            // the instruction may say which of Jules's tasks.
            let narrowed = resolve(&format!("{who} {instr_l}"), ctx, names, Prefer::Any);
            if narrowed.question.is_none() && narrowed.target.as_ref().is_some_and(|t| t.task.is_some()) {
                r = Resolved { target: narrowed.target.map(|mut t| { t.text = Some(who.clone()); t }), ..narrowed };
            }
        }
        let resolved = r.target.as_ref().is_some_and(|t| t.task.is_some()) && r.question.is_none();
        let addition = re!(r"\b(?:also|too|as well|instead|additionally|don't forget|again|while (?:you're|it's) at it|in addition)\b").is_match(&instr_l);
        let numbered = re!(r"\b(?:pr|task|job) ?#?\d+\b").is_match(&who);
        // "update the readme on the docs site, build passes" is a brief with its criterion,
        // not a note for the task whose title says "docs site".
        if k == 1 && !numbered && !agent_phrase && !bare_agent && brief::criterion_only(&instr_l) {
            continue;
        }
        if (4..6).contains(&k) && !bare_agent {
            continue;
        }
        let ok = if bare_agent {
            // "ask Cursor to fix the navbar" is a new task for Cursor; "tell Jules to also …"
            // adds to work Jules already has (and asks which, when Jules has several).
            addition && !ctx.tasks.is_empty() && r.target.is_some() && !r.reason.as_deref().is_some_and(|x| x.starts_with("no task"))
        } else {
            agent_phrase || numbered || (resolved && k > 0) || (resolved && addition)
        };
        if !ok {
            continue;
        }
        // The instruction with the speaker's casing.
        let instruction = {
            let tl = text.to_ascii_lowercase();
            match tl.rfind(&instr_l) {
                Some(p) => text[p..p + instr_l.len()].to_string(),
                None => instr_l.clone(),
            }
        };
        let mut i = with_conf(Intent::of(IntentKind::FollowUp), 0.85);
        let instruction = instruction.trim();
        let cut = re!(r"^(?i:(?:it|they|he|she|you) (?:should|needs to|need to|must|has to|have to) |to )").find(instruction).map(|m| m.end()).unwrap_or(0);
        i.instruction = Some(instruction[cut..].trim().to_string());
        apply(&mut i, r);
        return Some(i);
    }
    None
}

fn changelog(s: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    let cue = re!(r"\b(?:changelog|change log|audio changelog|release notes|what(?:'s| has| have)? changed|what changes|what(?:'s| has)? (?:been )?(?:merged|shipped|landed)|what happened|what(?:'s| has)? happened|what did (?:[a-z0-9'-]+ ){1,3}?(?:do|get done|ship|finish|merge|land|accomplish|achieve|complete)|what got (?:done|merged|shipped|finished|landed)|what (?:was|got|has been|have we|did we) (?:merged|shipped|done|landed|finish|finished|ship|get done)|recap|(?:audio |spoken )?summary of (?:the )?(?:changes|work|day|night|week|what|last|past)|audio summary|summari[sz]e (?:the )?(?:changes|work|day|night|week|what)|read me the (?:changes|log|changelog)|walk me through (?:the )?changes|what's new|what shipped|what went in|what did i miss|catch me up on (?:the )?changes)\b");
    if !cue.is_match(s) {
        return None;
    }
    // "what happened to the tailwind one" asks about one task.
    if let Some(c) = re!(r"\bwhat(?:'s| has)? happened (?:to|with) (.+)$").captures(s) {
        let phrase = c[1].to_string();
        if !re!(r"^(?:the )?(?:code|codebase|repo|site|app|everything|things|stuff)$").is_match(phrase.trim()) {
            let mut i = with_conf(Intent::of(IntentKind::Status), 0.85);
            apply(&mut i, resolve(&phrase, ctx, names, Prefer::Any));
            return Some(i);
        }
    }
    let mut i = with_conf(Intent::of(IntentKind::Changelog), 0.9);
    i.since = when::since(s, ctx.now);
    Some(i)
}

fn status_filter(s: &str) -> Option<StatusFilter> {
    if re!(r"\b(?:blow up|blew up|blown up|blowing up|fall over|fell over|fallen over|falling over|go sideways|went sideways|explode|exploded|die|died|crash|crashes|crashing|break|breaks|breaking|fail(?:ed|ing|ures?|s)?|broken|broke|red|errors?|erroring|errored|error out|errored out|needs? me|need(?:s|ing)? my (?:input|attention|help|eyes)|stuck|needs? (?:my |your )?(?:attention|me|review|help|input|eyes)|waiting (?:on|for) me|problems?|issues?|blocked|went wrong|go wrong|crashed|wrong)\b").is_match(s) {
        return Some(StatusFilter::Failed);
    }
    if re!(r"\b(?:finished|finish|done|ready|complete|completed|merge-?able|green|passing|passed|succeeded|wrapped up|landed|to review|review)\b").is_match(s) {
        return Some(StatusFilter::Finished);
    }
    if re!(r"\b(?:running|in progress|in flight|working|active|still going|going on|pending|queued|left|up to|busy|open|outstanding|underway|under way|ongoing|happening|scheduled)\b").is_match(s) {
        return Some(StatusFilter::Running);
    }
    None
}

/// The words that make an utterance a status question.
pub(super) fn status_cue() -> &'static super::pattern::Re {
    re!(r"\b(?:status|statuses|update|updates|progress|news|standup|rundown)\b|\bneeds? (?:my |your )?(?:attention|review|input|eyes)\b|^(?:what|which|who|anything|any|is|are|did) (?:\w+ ){0,3}?(?:needs? me|errored|errored out|error out)\b|^(?:catch me up|fill me in|bring me up to speed|update me) on\b|\bwaiting (?:on|for) me\b|^what (?:\w+ )?(?:finished|failed|broke|completed|passed|got stuck|is done|went red|went green|errored)\b|^(?:what's|what is|what are|whats|which|who's|who is|anything|any|is|are|has|have|did|how's|how is|how are|hows|how far|how did|where are we|where is|where's|give me|tell me|show me|list|how many)\b|\b(?:finished|done|ready|running|failed|failing|broken|stuck|in progress)\??$")
}

fn status(s: &str, ctx: &Context, names: &Names) -> Option<Intent> {
    let cue = status_cue();
    if !cue.is_match(s) {
        return None;
    }
    // Questions that begin like status but ask for work ("is there a way to add X").
    if re!(r"^(?:is there a way|can you|could you|how do i|how do we|how would|how should|how can)\b").is_match(s) {
        return None;
    }
    let subject = [
        re!(r"^how(?:'s| is| are|s)? (?:it going with|things going with|are things with|are we doing on|we doing on|we doing with) (.+?)\s*$"),
        re!(r"^how(?:'s| is| are|s)? (.+?) (?:going|doing|coming along|coming|looking|progressing|getting on|getting along|shaping up)\b"),
        re!(r"\b(?:status|update|progress|news|report)s? (?:of|on|for|about|with) (.+?)(?: (?:going|doing|now|please|so far))?\s*$"),
        re!(r"^(?:is|are|has|have|did) (.+?) (?:been )?(?:done|finished|ready|running|still running|failed|failing|broken|green|passing|merged|complete|completed|stuck|finish|fail|pass|land|landed|passed|succeed|succeeded|working|in progress|going|started|start|updated|fixed|upgraded|shipped)\b"),
        re!(r"^(?:where are we|where(?:'s| is) it|what's going on|what's happening|what is going on|what is happening|where do we stand|how far along are we) (?:with|on) (.+)$"),
        re!(r"^how far along is (.+)$"),
        re!(r"^how did (.+?) go\b"),
        re!(r"^(?:who's|who is) (?:working on|doing|handling|running|on) (.+)$"),
        re!(r"^(?:what's|what is|what are|whats) (.+?) (?:doing|working on|up to|busy with)$"),
        re!(r"^(?:what's|what is) (?:the deal|up|new|the story|the latest|happening|going on) with (.+)$"),
        re!(r"^(.+?) (?:status|progress)$"),
        re!(r"^(?:what's|what is) the (?:status|state|progress) of (.+)$"),
        re!(r"^(?:any|anything) (?:news|updates?|progress|word) (?:on|from|about) (.+)$"),
        re!(r"^(?:check on|check in on|look in on|catch me up on|fill me in on|bring me up to speed on|update me on) (.+)$"),
    ];
    let mut i = with_conf(Intent::of(IntentKind::Status), 0.9);
    for r in subject {
        let Some(c) = r.captures(s) else { continue };
        let phrase = c[1].trim();
        let generic = re!(r"^(?:what's|what is|whats|what's the|what is the|the|overall|current|general|an?|me an?|me the|give me an?|give me the|it|things|everything|it all|all|everyone|the team|we|you|stuff|the work|work|everything else|the fleet|the queue|that|this|anything|the day|today|(?:any|all|some|my|our|the)? ?(?:of )?(?:the )?(?:agents?|tasks?|jobs?|of them|ones?|things|prs?|pull requests?|runs?|builds?))$").is_match(phrase);
        if generic || phrase.is_empty() {
            break;
        }
        // "what's Jules doing": every task of that agent.
        let agent_only = re!(r"^(?:the )?([a-z][a-z0-9-]*)(?: agents?| ones?| tasks?| jobs?)?$").captures(phrase).and_then(|c| names.agent_word(&c[1]).map(str::to_string));
        if let Some(a) = agent_only {
            let ids: Vec<i64> = ctx.tasks.iter().filter(|t| t.agent.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(&a))).map(|t| t.id).collect();
            if ids.len() != 1 {
                i.target = Some(super::Target { text: Some(phrase.to_string()), all: true, tasks: ids, ..Default::default() });
                return Some(i);
            }
        }
        let r = resolve(phrase, ctx, names, Prefer::Any);
        if r.target.is_some() {
            apply(&mut i, r);
            return Some(i);
        }
    }
    i.filter = Some(status_filter(s).unwrap_or(StatusFilter::All));
    i.since = when::since(s, ctx.now);
    // "what's running" is strong; "any updates" less so.
    if !re!(r"\b(?:status|finished|done|ready|running|failed|failing|broken|stuck|progress|in progress|what's left|needs attention)\b").is_match(s) {
        i.confidence = 0.75;
    }
    Some(i)
}

fn dispatch(norm: &Normalized, s: &str, b: &str, nwords: usize, ctx: &Context, names: &Names) -> Option<Intent> {
    // A leading time or place ("Tonight: have Jules …", "On the website, …") does not hide
    // the order after it.
    let s = strip_lead_ins(s, names);
    let first = s.split(' ').next().unwrap_or("");
    let imperative = is_task_verb(first)
        || names.agent_word(first).is_some()
        || re!(r"^(?:can|could|would|will) ([a-z][a-z0-9-]*) ").captures(s).is_some_and(|c| names.agent_word(&c[1]).is_some())
        || re!(r"^(?:have|use|ask|get|let|tell) [a-z]").is_match(s) && brief::agent_in(s, names).is_some();
    let header = header_re().is_match(s) || header_re().is_match(b);
    let statement = re!(r"\b(?:is|are|keeps?|isn't|aren't|doesn't|don't|won't|can't) (?:\w+ )?(?:broken|leaking|failing|crashing|wrong|slow|missing|outdated|flaky|down|not working|off|misaligned|overflowing|ugly|stale|throwing|timing out)\b|\b(?:needs|need|should have|requires|could use|is missing)\b").is_match(s);
    let question = re!(r"^(?:what|which|who|when|where|why|is|are|was|were|has|have|had|does|do|did|how|can|could|would|will|should|anything|any)\b").is_match(s);
    let has_criteria = re!(r"\b(?:acceptance criteria|done when|make sure|ensure|tests? (?:pass|green)|build pass)").is_match(s);
    let any_verb = s.split(' ').any(is_task_verb);
    // An order with no verb capcom knows is still an order: "rationalise the config loading
    // on the api, tests must pass" is held with a question, never dropped as unknown.
    let unknown_verb = re!(r"^([a-z]{3,}) (?:the|our|my|all|every|these|those)\b").captures(s).is_some_and(|c| !NOT_VERBS.contains(&&c[1]))
        && (has_criteria || brief::verdict(s) || brief::repo_in(s, names).is_some());
    let look = re!(r"^(?:have|take) a (?:quick |proper |good |closer |deeper )?look\b").is_match(s);
    if !(imperative || header || look || unknown_verb || (statement && nwords >= 4 && !question) || (has_criteria && any_verb) || (any_verb && !question && nwords >= 4) || (any_verb && order_anywhere(b, norm.lower.as_str(), names))) {
        return None;
    }
    let tasks: Vec<super::TaskSpec> = tasks_of(norm.text.trim(), ctx, names).into_iter().map(|(t, _)| t).collect();
    if tasks.is_empty() {
        return None;
    }
    let mut conf: f32 = if imperative || header { 0.8 } else if statement { 0.6 } else { 0.5 };
    // Two words ("Fix it") are a brief, but a thin one.
    if nwords < 3 {
        conf -= 0.2;
    }
    let first_task = &tasks[0];
    if !first_task.acceptance.is_empty() {
        conf += 0.1;
    }
    if !first_task.scope.include.is_empty() || !first_task.scope.exclude.is_empty() {
        conf += 0.05;
    }
    let mut i = with_conf(Intent::of(IntentKind::Dispatch), conf.min(0.95));
    let multi = tasks.len() > 1;
    if let Some(t) = tasks.iter().find(|t| !t.readiness.ready && t.readiness.question.is_some()) {
        let q = t.readiness.question.clone().unwrap_or_default();
        i.question = Some(if multi { format!("About \"{}\": {q}", t.title) } else { q });
    }
    i.tasks = tasks;
    Some(i)
}

/// The tasks of a brief, each with why it reads as it does: a spoken correction at the end,
/// the split into tasks, each task as said, the list's repo, then the default repo, and
/// readiness.
pub fn tasks_of(text: &str, ctx: &Context, names: &Names) -> Vec<(super::TaskSpec, brief::TaskWhy)> {
    // "… have Copilot do it. Actually, make that Jules.": the last agent named wins.
    let (text, assigned) = brief::assignment_after(text, names);
    let (text, corrected) = brief::correction(&text, names);
    let split = brief::split(&text, ctx, names);
    let mut tasks: Vec<(super::TaskSpec, brief::TaskWhy)> = split.items.iter().map(|item| brief::task_why(item, &split.shared, ctx, names)).collect();
    // "…, have Copilot do it": the agent of every task that names none.
    if let Some(a) = assigned {
        for (t, why) in tasks.iter_mut().filter(|(t, _)| t.agent.is_none()) {
            t.agent = Some(a.clone());
            why.agent = format!("named after the work: \"have {a} do it\"");
        }
    }
    // A correction re-assigns the task it follows: the last one of a list.
    if let Some((t, why)) = tasks.last_mut() {
        if let Some(a) = corrected.agent {
            why.agent = format!("corrected: {a} (the last agent named)");
            t.agent = Some(a);
        }
        if let Some(r) = corrected.repo {
            why.repo = format!("corrected: {r}");
            t.repo = Some(r);
        }
    }
    // A repo named in one task of a list, and no other, is the list's repo; only then does
    // the default repo fill the rest.
    let named: Vec<&String> = tasks.iter().filter_map(|(t, _)| t.repo.as_ref()).collect();
    if tasks.len() > 1 && !named.is_empty() && named.iter().all(|r| *r == named[0]) && named.len() < tasks.len() {
        let repo = named[0].clone();
        for (t, why) in tasks.iter_mut().filter(|(t, _)| t.repo.is_none()) {
            t.repo = Some(repo.clone());
            why.repo = format!("{repo}: the one repo named in the list");
        }
    }
    let default = super::default_repo(ctx.config);
    for (t, why) in tasks.iter_mut() {
        if t.repo.is_none() && default.is_some() {
            t.repo = default.clone();
            why.repo = "none named: the default repo ([dispatch] default_repo, or the only repo)".to_string();
        }
        t.readiness = readiness::assess(t, ctx, names);
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_table() {
        let cases = [
            ("yes", YesNo::Yes),
            ("yeah do it", YesNo::Yes),
            ("go ahead", YesNo::Yes),
            ("confirm", YesNo::Yes),
            ("merge it", YesNo::Yes),
            ("dispatch anyway", YesNo::Yes),
            ("no", YesNo::No),
            ("cancel that", YesNo::No),
            ("never mind", YesNo::No),
            ("no thanks", YesNo::No),
            ("don't merge it", YesNo::No),
            ("hold off", YesNo::No),
            ("yes no", YesNo::Both),
            ("upgrade tailwind", YesNo::Neither),
            ("what's finished", YesNo::Neither),
        ];
        for (text, want) in cases {
            assert_eq!(yes_no(text), want, "{text}");
        }
    }

    #[test]
    fn approving_a_plan_is_a_follow_up_to_the_waiting_task() {
        use crate::config::Config;
        use crate::understand::{TaskKind, TaskRef};
        let mut config = Config::default();
        for a in ["jules", "cursor", "claude"] {
            config.agents.insert(a.into(), Default::default());
        }
        let t = |id: i64, title: &str, agent: &str, state: &str| TaskRef {
            id,
            title: title.into(),
            kind: TaskKind::Feature,
            agent: Some(agent.into()),
            repo: None,
            state: state.into(),
            pr: None,
        };
        let one = vec![t(1, "Login page", "jules", "needs_attention"), t(2, "Navbar colours", "cursor", "running")];
        let two = vec![t(1, "Login page", "jules", "needs_attention"), t(3, "Search box", "claude", "needs_attention")];
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap();
        // (text, tasks, the target, whether a question comes back)
        let cases: &[(&str, &[TaskRef], Option<i64>, bool)] = &[
            ("approve the plan", &one, Some(1), false),
            ("Approve Jules's plan.", &two, Some(1), false),
            ("the plan looks good, go ahead", &one, Some(1), false),
            ("approve the plan for the login page", &two, Some(1), false),
            ("approve the plan", &two, None, true),
            ("approve the plan", &[], None, true),
        ];
        for (text, tasks, want, question) in cases {
            let cx = Context { config: &config, tasks, pending: None, now };
            let i = crate::understand::parse(text, &cx);
            assert_eq!(i.intent, IntentKind::FollowUp, "{text}: {i:?}");
            assert_eq!(i.instruction.as_deref(), Some(APPROVE_PLAN), "{text}");
            assert_eq!(i.target.as_ref().and_then(|t| t.task), *want, "{text}: {i:?}");
            assert_eq!(i.question.is_some(), *question, "{text}: {i:?}");
        }
    }
}
