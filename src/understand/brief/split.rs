//! Where a brief splits into tasks: counted items, lists after a header, ordinal markers;
//! and sentences and clauses inside a task.

use super::*;

/// Split a normalized brief into the texts of its tasks.
pub fn split(text: &str, ctx: &Context, names: &Names) -> Split {
    let lower = text.to_ascii_lowercase();
    let mut out = Split::default();

    // Counted items with ordinal markers: "Two things. First, … Second, …".
    let ord = re!(r"(?:^|[.,;:!?] )(?:and )?(?:(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|fourth|fifth|next|then|finally|lastly|last|and then|number (?:one|two|three|\d))\b[,:]?|(?:one|two|three|four|five|[1-5])[,:.)]) ?");
    let counted = re!(r"^(?:(?:okay|ok|so|alright|right)[, ]+)?(?:(?:for|on|in|over on) (?:the )?[a-z0-9._-]+(?: repo| repository| app| side)?,? )?(?:(?:i have|i've got|here are|there are|we have|we've got|queue(?: up)?|dispatch|do|handle)? ?(?:\d+|two|three|four|five|a couple of|a couple|a few|few|several|some) (?:(?:quick|small|little|short|easy|more|other|separate|different|tiny|big|new) )?(?:things|tasks|jobs|items|briefs|changes|ones|fixes|bits|requests|chores|tweaks)\b|(?:queue|dispatch|schedule|kick off|line up|run|start)(?: up)? (?:these|the following|this list|both|all of these)\b|(?:here's|here is|here are) (?:the|some|a few|my) (?:tasks|things|jobs)\b|(?:the following|these) (?:tasks|things|jobs)\b)");
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
        // "use Gemini to …" assigns even an agent that is not configured (readiness asks).
        if names.agent_word(name).is_some() || c.get(1).is_some() && names.known_agent(name).is_some() {
            cuts.push(c.get(0).map(|m| m.start()).unwrap_or(0));
        }
    }
    // Separate tasks said one after another: "Also, …", "Another task: …", "Separately, …".
    for m in re!(r"[.!?] (?:also|another (?:task|thing|one)|separately|and another thing|next task|new task|one more thing|plus)\b[,:]?").find_iter(&lower) {
        cuts.push(m.start() + 1);
    }
    // Mid-sentence markers before a new order: "… and also add a sitemap", "… oh and bump
    // lodash", "… then fix the hydration warning" (not "then verify it", "then add a test for
    // it": those check or finish the same work).
    for m in re!(r"(?:,? and also|,? oh and|,? and then|,? then|,? and after that|,? after that|,? plus|,? also) ").find_iter(&lower) {
        let rest = &lower[m.end()..];
        let next = rest.split_whitespace().next().unwrap_or("");
        let checks_same = re!(r"^(?:verify|check|ensure|confirm|test|make sure|run|validate|prove|show|report|commit|push|open|deploy|merge|ship|document it|update (?:the )?(?:tests|snapshots) (?:for it|to match))\b|^\S+ (?:it|them|that)\b|\b(?:for|to|of|on) (?:it|them|that|this)\b").is_match(rest);
        if (is_task_verb(next) || order_start(rest, names)) && !checks_same && !matches!(next, "make" | "be") {
            cuts.push(m.start());
        }
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
            item = strip_prefix_ci(item, &["and then ", "and also ", "and after that ", "after that ", "oh and ", "and ", "then ", "also, ", "also ", "plus ", "separately, ", "another task: ", "another task ", "another thing: ", "next task: ", "new task: ", "one more thing: ", "and another thing: "]);
            let item = item.trim_end_matches(|c: char| ",;: ".contains(c));
            if words(item) >= 3 {
                items.push(item.to_string());
            }
        }
        if items.len() >= 2 && items.iter().all(|i| starts_with_task_verb(i, names)) {
            // "On the website fix X. Also add Y.": a place said before the first task is the list's.
            let first = items[0].to_ascii_lowercase();
            let after = strip_lead_ins(&first, names);
            if after.len() < first.len() {
                out.shared.repo = repo_in(&first[..first.len() - after.len()], names);
            }
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
pub(crate) fn ordinal_marks(lower: &str, ord: &crate::understand::pattern::Re) -> Vec<(usize, usize)> {
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

pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefixes: &[&str]) -> &'a str {
    let mut s = s;
    loop {
        let l = s.to_ascii_lowercase();
        match prefixes.iter().find(|p| l.starts_with(*p)) {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s,
        }
    }
}

pub(crate) fn starts_with_task_verb(item: &str, names: &Names) -> bool {
    let l = item.to_ascii_lowercase();
    let l = strip_lead_ins(strip_polite(&l), names);
    let l = strip_polite(l);
    let first = l.split_whitespace().next().unwrap_or("");
    is_task_verb(first) || names.agent_word(first.trim_end_matches([',', ':'])).is_some() || re!(r"^(?:have|use|ask|get|let|tell) ").is_match(l)
}

/// Items of a list: "an upgrade to Next.js 15, a security audit of the API routes, and a
/// visual refresh of the landing page hero"; without commas, split before each article.
pub(crate) fn list_items(body: &str) -> Vec<String> {
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
pub(crate) fn criterion_only(l: &str) -> bool {
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
pub(crate) fn pull_trailing_criteria(split: &mut Split, names: &Names) {
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
pub(crate) fn pull_shared_acceptance(split: &mut Split, names: &Names) {
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
pub(crate) fn clauses(sentence: &str) -> Vec<&str> {
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
