//! A task's kind and its short title.

use super::*;

/// The kind of a task from the first clause of its body (what to do), then the rest of the
/// body, and, weakest, the whole text.
pub fn kind(first: &str, rest: &str, whole: &str) -> TaskKind {
    kind_why(first, rest, whole).0
}

/// The kind, and the words that voted for each kind: (kind, words, weight).
pub fn kind_why(first: &str, rest: &str, whole: &str) -> (TaskKind, Vec<(TaskKind, String, f32)>) {
    let mut votes: Vec<(TaskKind, String, f32)> = Vec::new();
    let first = strip_polite(first);
    // "… unit tests green" says how to check it, not what the change is.
    let first_owned = verdict_re().replace_all(first, "").to_string();
    let first = first_owned.trim();
    let rules: [(TaskKind, &crate::understand::pattern::Re, f32); 23] = [
        // Ordinary words for wrong behaviour: "shows up twice", "zombie processes", "times out".
        (TaskKind::BugFix, re!(r"\b(?:(?:shows?|showing|comes?|pops?) up twice|twice|duplicated?|duplicates|doubled|double (?:charges?|counts?|submits?|posts?)|zombies?|zombie processes|orphan(?:ed)? processes|times? out|timing out|timed out|stale|forever|never (?:finishes|loads|ends|stops|returns|completes)|empty (?:file|page|response|list|result)s?|in the wrong order|out of order|out of sync|frozen|freezes|freezing|disappears?|vanish(?:es)?|blank (?:page|screen)|spinner|deadlocks?|wrong (?:month|day|date|time|year|total|totals|price|prices|order|count|number|user|page|timezone|currency|value|values|results?)|(?:is|are|gets?|got) (?:processed|sent|charged|created|saved|rendered|called|fired) (?:twice|two times|more than once)|http only|still shows?|still showing|shows? (?:the )?(?:old|wrong|last year's|stale)|rounded wrong|off by)\b"), 2.2),
        // "a dark mode toggle" is new behaviour, not styling.
        (TaskKind::Feature, re!(r"\b(?:toggle|switch|option|setting|button) (?:for |to (?:switch|toggle|turn on|enable) )?(?:the )?dark (?:mode|theme)\b|\bdark (?:mode|theme) (?:toggle|switch|option|setting|button)\b|\btoggle (?:the )?dark (?:mode|theme)\b"), 3.0),
        (TaskKind::DependencyUpgrade, re!(r"^(?:upgrade|bump|update (?:all )?(?:the |our )?(?:\w+ )?(?:packages?|deps|dependencies))\b|\b(?:upgrade|bump)\b"), 3.0),
        (TaskKind::DependencyUpgrade, re!(r"\b(?:dependenc(?:y|ies)|deps|packages?|to (?:the )?(?:latest|newest)|to v\d+|to version|lockfile|migrate to|(?:update|move) (?:\S+ ){1,2}to (?:v?\d|the latest|version))\b"), 2.0),
        (TaskKind::BugFix, re!(r"\b(?:bugs?|broken|crash(?:es|ing)?|errors?|failing|fails|regression|doesn't work|does not work|not working|wrong|incorrect|leak(?:s|ing)?|glitch|off by one|race condition|hotfix|exception|500s?|can't|cannot|can not|unable to|won't|isn't working|the problem is|the issue is|404 errors?|returns? (?:a )?404|404s|timeout|keeps failing|hang(?:s|ing)?|flicker(?:s|ing)?)\b"), 2.0),
        (TaskKind::BugFix, re!(r"^fix\b|\bfix (?:the |a |an )?\w+"), 1.5),
        // "the signup form doesnt validate emails": something fails to do its job.
        (TaskKind::BugFix, re!(r"\b(?:doesn'?t|does not|isn'?t|is not|won'?t|can'?t|cannot|no longer|stopped) (?:validate|work|load|save|show|render|send|open|close|submit|redirect|scroll|display|compile|build|update|refresh|respond|connect|upload|download|sort|filter|paginate|log ?in|sign ?in)\b"), 2.0),
        (TaskKind::Feature, re!(r"^(?:add|implement|introduce|build|create|support|enable|allow|let users|make it possible)\b"), 2.0),
        (TaskKind::Feature, re!(r"\b(?:implement|introduce|support|enable|allow|feature|optimistic|new|toggle|button|endpoint|page|form|modal|option|setting|settings|flag|widget|dashboard|skeleton|pagination|search|filter|export|import|upload|notifications?|onboarding)\b"), 1.2),
        (TaskKind::Refactor, re!(r"\b(?:refactor(?:ing)?|clean ?up|restructure|extract|rename|simplify|reorganis?z?e|dedupe|deduplicate|tech debt|memoi[sz]e|consolidate|decouple|split (?:up )?the|modernize|dead code|unused|deprecated|remove (?:the )?(?:old|obsolete|stale|legacy)|(?:merge|combine|unify) (?:\S+ ){1,4}(?:into|with))\b"), 3.0),
        (TaskKind::Refactor, re!(r"\brewrite\b"), 1.5),
        (TaskKind::Css, re!(r"\b(?:css|styles?|styling|scss|sass|layout|padding|margins?|colou?rs?|fonts?|responsive|dark mode|visual(?:ly)?|spacing|alignment|z-index|scoping|global scope|theme|design tokens|animations?|hover|breakpoints?|flexbox|grid|tailwind classes|looks? (?:off|wrong|bad|broken|weird)|ui polish|restyle|misaligned|align|sticky|centered|centre|center|overlap(?:s|ping)?|overflow(?:s|ing)?|cut off|clipped|truncated)\b"), 2.5),
        (TaskKind::Copy, re!(r"\b(?:(?:the|site|marketing|landing page|hero|page|button|ui|website|product|app|our) copy\b|copy(?:writing| changes?| edits?| updates?| tweaks?| text| deck)\b|^copy\b|headlines?|microcopy|taglines?|blurbs?|cta|call to action|translations?|messaging|text on|error messages?|labels?|button text|hero text|translate|locali[sz]e|i18n|faqs?|faq (?:answers?|entries|page|section)|help text|tooltips?(?: text)?|empty state text|onboarding (?:text|copy|emails?)|email (?:copy|text|subject lines?)|subject lines?|product descriptions?|pricing (?:copy|text))\b"), 3.0),
        // Words about wording belong to the text they change: copy, unless it is docs.
        (TaskKind::Copy, re!(r"\b(?:wording|typos?|phrasing|rephrase|reword|proofread|spelling|grammar)\b"), 2.0),
        (TaskKind::Docs, re!(r"\b(?:docs|documentation|readme|document(?:ing)?|docstrings?|jsdoc|rustdoc|guide|contributing|api reference|comments|usage examples?|tutorial)\b"), 3.0),
        (TaskKind::Test, re!(r"\b(?:(?:add|write|increase|improve|fix|stabili[sz]e|more|missing) (?:\S+ ){0,3}?(?:tests?|coverage|specs?)|flaky|test coverage|unit tests?|e2e tests?|integration tests?|snapshot tests?|end to end tests?)\b"), 3.0),
        (TaskKind::Security, re!(r"\b(?:security|vulnerabilit(?:y|ies)|cves?|xss|csrf|sql injection|injection|secrets?|harden(?:ing)?|sanitiz|sanitis|auth bypass|exploit|open redirects?|ssrf|path traversal|directory traversal|clickjacking|idor|rce|remote code execution|prototype pollution|session fixation|brute[- ]force|timing attacks?|httponly|samesite|secure cookies?|rate limit(?:ing)?|permissions?|csp|content security policy|encrypt(?:ion)?|npm audit|leaked (?:keys?|tokens?|credentials))"), 3.5),
        (TaskKind::Audit, re!(r"\b(?:audit|review|assess(?:ment)?|inventory|analy[sz]e|investigate|report on|evaluate|look into|take a look|look at why|figure out why|find out why|dig into|profile|benchmark)\b"), 3.8),
        (TaskKind::Infra, re!(r"\b(?:dependabot|renovate(?: bot| config)?|codeowners|pre-commit hooks?|ci|pipeline|github actions?|actions workflow|workflow file|dockerfile|docker|deploy(?:ment|s)?|terraform|kubernetes|k8s|helm|build config|env(?:ironment)? var(?:iable)?s?|caching in ci|infrastructure|nginx|monitoring|alerts?|cron|staging|preview deploys?|vercel|netlify|cdn|dns|ssl|certificates?|sentry|logging|observability|tracing|metrics|set up (?:ci|sentry|logging|monitoring)|bundler|build tool(?:ing)?|from webpack|to vite|turbopack|esbuild|rollup|(?:database |db |schema )?migrations?|database|db schema|indexes|an index)\b"), 3.0),
        (TaskKind::Test, re!(r"^(?:test|write tests|add tests)\b"), 2.0),
        (TaskKind::Docs, re!(r"^document\b"), 2.0),
        (TaskKind::Css, re!(r"\bcss\b"), 1.5),
        (TaskKind::Docs, re!(r"\b(?:readme|changelog\.md|contributing\.md|docs?/|\.md)\b"), 1.5),
    ];
    let mut scores = [0f32; 12];
    let idx = |k: TaskKind| TaskKind::ALL.iter().position(|x| *x == k).unwrap_or(11);
    for (k, r, w) in rules.iter() {
        let hit = [(first, 1.0), (rest, 0.5), (whole, 0.25)].into_iter().find_map(|(t, f)| r.find(t).map(|m| (m.as_str().trim().to_string(), f)));
        if let Some((words, f)) = hit {
            scores[idx(*k)] += w * f;
            votes.push((*k, words, w * f));
        }
    }
    // "figure out why the checkout crashes and fix it": the investigation serves a fix.
    if re!(r"\b(?:and|then|to|so we can|so you can) (?:fix|repair|resolve|patch|solve|squash) (?:it|that|this|them|the (?:bug|issue|problem|crash|error)s?)\b").is_match(whole)
        && scores[idx(TaskKind::Audit)] > 0.0
    {
        scores[idx(TaskKind::Audit)] *= 0.3;
        scores[idx(TaskKind::BugFix)] += 2.0;
        votes.push((TaskKind::BugFix, "… and fix it".into(), 2.0));
    }
    // "fix breaking changes" belongs to an upgrade, not a bug fix.
    if scores[idx(TaskKind::DependencyUpgrade)] >= 3.0 {
        scores[idx(TaskKind::BugFix)] *= 0.3;
        scores[idx(TaskKind::Feature)] *= 0.3;
    }
    // A security audit is an audit; a copy change with a layout word is still copy.
    let mut best = (TaskKind::Other, 0.9f32);
    for (i, s) in scores.iter().enumerate() {
        if *s > best.1 {
            best = (TaskKind::ALL[i], *s);
        }
    }
    (best.0, votes)
}

/// A short imperative title from the body clauses.
pub fn title(body: &[String], kind: TaskKind, names: &Names) -> String {
    let Some(first) = body.iter().find(|c| words(c) >= 1) else {
        return String::new();
    };
    let mut t = first.trim().to_string();
    let lower = t.to_ascii_lowercase();
    let wants = re!(r"^(?:(?:please|so|ok|okay|hey) )*(?:i|we) (?:need|want|would like|'d like)\b|^(?:i'd|we'd) like\b").is_match(&lower);
    let stripped = strip_polite(&lower);
    t = t[lower.len() - stripped.len()..].to_string();
    // "I need the pricing page to show annual prices" → "Make the pricing page show annual prices".
    let l = t.to_ascii_lowercase();
    if wants
        && !is_task_verb(l.split_whitespace().next().unwrap_or(""))
        && let Some(c) = re!(r"^(.{3,60}?) to ([a-z]+) (.+)$").captures(&l)
        && !matches!(&c[2], "be" | "the" | "a" | "an")
        && names.agent_word(&c[1]).is_none()
    {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let rest = &t[c.get(2).map(|m| m.start()).unwrap_or(0)..];
        t = format!("Make {} {}", lower_first(subj), rest);
    }
    // "for the backend add an endpoint …" → "add an endpoint …".
    let l = t.to_ascii_lowercase();
    if let Some(c) = re!(r"^(?:over )?(?:in|on|for|over in|inside|within) (?:the |our )?([a-z0-9._-]+)(?: (?:repo|repository|codebase|project|side|app))?,? ").captures(&l)
        && names.repo_word(&c[1]).is_some()
        && words(&l) > 4
    {
        t = t[c.get(0).map(|m| m.end()).unwrap_or(0)..].to_string();
    } else if let Some(c) = re!(r"^(?:in|on|for|inside|within) (?:the |our )?([a-z0-9._-]+)'s(?: [a-z0-9._-]+){1,2}?,? ([a-z]+) ").captures(&l)
        && names.repo_word(&c[1]).is_some()
        && is_task_verb(&c[2])
    {
        // "on the backend's readme fix the curl example" → "fix the curl example".
        let at = c.get(2).map_or(0, |m| m.start());
        t = t[at..].to_string();
    }
    // "Queue a security review of …" → "Security review of …".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r"^(?:queue|schedule|dispatch|line up|kick off|set up a task for)(?: up)? (?:a |an )?").find(&l) {
        let next = l[m.end()..].split_whitespace().next().unwrap_or("");
        if !next.is_empty() && !is_task_verb(next) && !matches!(next, "it" | "this" | "these" | "them") {
            t = t[m.end()..].to_string();
            let l2 = t.to_ascii_lowercase();
            if let Some(rest) = l2.strip_prefix("the ")
                && !is_task_verb(rest.split_whitespace().next().unwrap_or(""))
            {
                t = t[4..].to_string();
            }
        }
    }
    // "Give Cursor the job of fixing …", "send this to Codex cloud: fix …": the assignment
    // is not the work.
    let l = t.to_ascii_lowercase();
    if let Some(c) = re!(r"^(?:please )?(?:(?:give|hand|pass|assign) ([a-z][a-z0-9-]*)(?: (?:code|cli|cloud))? (?:the (?:job|task|work) of|the (?:job|task|work) to|this job:?|this:?)|(?:send|give|hand|pass|assign|route|dispatch|forward)(?: (?:this|it|that|these|the following))?(?: one)? (?:over )?to ([a-z][a-z0-9-]*)(?:[ -](?:code|cli|cloud|agent))?[,:]?)\s+").captures(&l) {
        let name = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
        if names.agent_word(name).is_some() || names.known_agent(name).is_some() {
            t = t[c.get(0).map_or(0, |m| m.end())..].to_string();
            t = imperative_of_gerund(&t);
        }
    }
    // Agent assignment ("have Jules", "a task for Cursor to") and framing, in either order.
    for _ in 0..2 {
        let l = t.to_ascii_lowercase();
        let l2 = re!(r"^(?:a |an )?(?:task|job)s? ").replace(&l, "").to_string();
        let cut0 = l.len() - l2.len();
        if let Some(c) = re!(r"^(?:(?:have|ask|get|tell|let|for|want|need) ([a-z][a-z0-9-]*)(?: (?:code|cli|agent))?(?: (?:to|and))?|(?:use|using) ([a-z][a-z0-9-]*)(?: (?:on|in|for) (?:the )?[a-z0-9-]+)? (?:to|and|for)|([a-z][a-z0-9-]*)[,:]|([a-z][a-z0-9-]*) (?:should|can|could|will|please|to))\s+").captures(&l2) {
            let name = c.get(1).or(c.get(2)).or(c.get(3)).or(c.get(4)).map(|m| m.as_str()).unwrap_or("");
            if names.agent_word(name).is_some() || names.known_agent(name).is_some() {
                t = t[cut0 + c.get(0).map(|m| m.end()).unwrap_or(0)..].to_string();
            }
        }
        let l = t.to_ascii_lowercase();
        let stripped = strip_polite(&l);
        t = t[l.len() - stripped.len()..].to_string();
    }
    let mut l = t.to_ascii_lowercase();
    for r in [
        re!(r"\s+(?:with|using|via|through|by) (?:the )?[a-z][a-z0-9-]*(?: agent)?\s*$"),
        re!(r"\s+(?:for|to|on) [a-z][a-z0-9-]*\s*$"),
    ] {
        if let Some(m) = r.find(&l) {
            let tail = m.as_str().split_whitespace().last().unwrap_or("");
            if names.agent_word(tail).is_some() || tail == "agent" {
                t.truncate(m.start());
                l.truncate(m.start());
            }
        }
    }
    // "an upgrade to Next.js 15" → "Upgrade to Next.js 15".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r"^(?:a|an|the) (?:quick |small |full |complete )?").find(&l) {
        let rest = &l[m.end()..];
        if re!(r"^(?:upgrade|bump|security|audit|review|visual|refresh|fix|update|migration|refactor|cleanup|pass|rewrite|redesign)\b").is_match(rest) {
            t = t[m.end()..].to_string();
        }
    }
    // "The hero section on /ml-tools needs 4 headline variants" → "Write 4 headline variants for the hero section on /ml-tools".
    let l = t.to_ascii_lowercase();
    if let Some(c) = re!(r"^(.{3,60}?) (?:needs|need|requires|should get|could use|should have) (.{3,80})$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let obj = &t[c.get(2).map(|m| m.range()).unwrap_or(0..0)];
        let first_obj = obj.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if !is_task_verb(&first_obj) && !first_obj.ends_with("ing") {
            let verb = match kind {
                TaskKind::Copy => "Write",
                TaskKind::Docs => "Write",
                _ => "Add",
            };
            let prep = if matches!(kind, TaskKind::Copy | TaskKind::Docs) { "for" } else { "to" };
            t = format!("{verb} {obj} {prep} {}", lower_first(subj));
        } else if is_task_verb(&first_obj) || first_obj.ends_with("ing") {
            // "The footer needs updating" → "Update the footer".
            let verb = first_obj.trim_end_matches("ing");
            if is_task_verb(verb) || is_task_verb(&format!("{verb}e")) {
                let v = if is_task_verb(verb) { verb.to_string() } else { format!("{verb}e") };
                t = format!("{} {}", v, lower_first(subj));
            }
        }
    }
    // "The problem is that users can't upload avatars" → "Fix: users can't upload avatars".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r"^(?:so )?(?:the |one )?(?:problem|issue|bug|trouble) (?:is|here is) (?:that )?").find(&l) {
        let rest = t[m.end()..].to_string();
        t = format!("Fix: {rest}");
    }
    // "All CSS in /demos is leaking to global scope" → "Fix all CSS in /demos leaking to global scope".
    let l = t.to_ascii_lowercase();
    let fw = l.split_whitespace().next().unwrap_or("").trim_end_matches(':');
    if !is_task_verb(fw) && let Some(c) = re!(r"^(.{3,80}?) (?:is|are|keeps|keep) (?:still |now |currently |constantly |randomly |sometimes )?(\w+ing\b.*)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let rest = &t[c.get(2).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Fix {} {}", lower_first(subj), rest);
    } else if !is_task_verb(fw) && let Some(c) = re!(r"^(.{3,80}?) (?:is|are) (?:really |super |very |so |too |kind of |pretty |still |now |completely |totally |badly |way )?(?:out of date|outdated|stale|obsolete)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Update {}", lower_first(subj));
    } else if !is_task_verb(fw) && let Some(c) = re!(r"^(.{3,80}?) (?:is|are) (?:really |super |very |so |too |kind of |pretty |still |now |completely |totally )?(broken|wrong|slow|failing|flaky|off|misaligned|missing|ugly|not \w+)\b(.*)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let adj = &t[c.get(2).map(|m| m.range()).unwrap_or(0..0)];
        let rest = &t[c.get(3).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Fix {} being {}{}", lower_first(subj), adj, rest);
    }
    // "The checkout page crashes when …" → "Fix the checkout page crashing when …".
    let l = t.to_ascii_lowercase();
    let fw = l.split_whitespace().next().unwrap_or("").trim_end_matches(':');
    if !is_task_verb(fw) && !t.starts_with("Fix ") && let Some(c) = re!(r"^(.{3,80}?) (crashes|breaks|fails|hangs|freezes|flickers|overflows|overlaps|throws|errors out|times out|leaks|loads slowly|renders|returns|shows)\b(.*)$").captures(&l) {
        let subj = &t[c.get(1).map(|m| m.range()).unwrap_or(0..0)];
        let ing = match &c[2] {
            "crashes" => "crashing",
            "breaks" => "breaking",
            "fails" => "failing",
            "hangs" => "hanging",
            "freezes" => "freezing",
            "flickers" => "flickering",
            "overflows" => "overflowing",
            "overlaps" => "overlapping",
            "throws" => "throwing",
            "errors out" => "erroring out",
            "times out" => "timing out",
            "leaks" => "leaking",
            "loads slowly" => "loading slowly",
            "renders" => "rendering",
            "returns" => "returning",
            _ => "showing",
        };
        let rest = &t[c.get(3).map(|m| m.range()).unwrap_or(0..0)];
        t = format!("Fix {} {ing}{rest}", lower_first(subj));
    }
    // Cut at a verdict said without a pause ("… in the site repo tests green"), a reason,
    // or a long tail; at most 12 words.
    let l = t.to_ascii_lowercase();
    if let Some(m) = verdict_ranges(&l).first()
        && words(&t[..m.start]) >= 3
        && l.is_char_boundary(m.start)
    {
        t.truncate(m.start);
    }
    let l = t.to_ascii_lowercase();
    if let Some(p) = [" so that ", " so it ", " because ", " since ", " which ", " in order to ", " can someone ", " could someone ", " can you ", " could you ", " please ", " can somebody "].iter().filter_map(|c| l.find(c)).min()
        && words(&t[..p]) >= 3
    {
        t.truncate(p);
    }
    // A second statement run on without a pause: "… on the website it overlaps the logo".
    let l = t.to_ascii_lowercase();
    if let Some(m) = re!(r" (?:it|they|this|that) (?:is|are|overlaps|breaks|keeps|doesn't|does not|looks|shows|has|was|also|still|just|only|throws|fails|crashes) ").find(&l)
        && words(&t[..m.start()]) >= 4
    {
        t.truncate(m.start());
    }
    let ws: Vec<&str> = t.split_whitespace().collect();
    let mut t = if ws.len() > 12 { ws[..12].join(" ") } else { ws.join(" ") };
    while t.ends_with(|c: char| ",.;:!?".contains(c))
        || [" and", " to", " for", " at", " the", " on", " in", " a", " an", " with", " by", " so", " plus", " of", " make", " sure", " ensure", " that", " then", " also", " while", " make sure", " its", " our", " my"]
            .iter()
            .any(|w| t.to_ascii_lowercase().ends_with(w))
    {
        if let Some(p) = t.rfind(' ').filter(|_| t.ends_with(|c: char| c.is_alphabetic())) {
            t.truncate(p);
        } else {
            t.pop();
        }
        t = t.trim_end().to_string();
    }
    let mut cs = t.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().collect::<String>() + cs.as_str(),
        None => String::new(),
    }
}
