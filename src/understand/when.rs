//! Spoken times → absolute times, relative to the caller's "now" (which carries the offset).
//!
//! - [`schedule`]: when a task should start ("tonight", "overnight", "at 2 am",
//!   "tomorrow morning", "start at 9", "in two hours", "on Monday").
//! - [`since`]: where a changelog starts ("today", "this week", "since yesterday",
//!   "overnight", "the last 3 hours").
//!
//! Bare hours without am/pm read as working hours: 7–11 are morning, 12 is noon,
//! 1–6 are afternoon; "tonight" and "evening" make them pm, "morning" makes them am.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Weekday};
use std::ops::Range;


/// A start time found in a brief, with the byte ranges of the words that said it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub at: DateTime<FixedOffset>,
    pub spans: Vec<Range<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Morning,
    Afternoon,
    Evening,
    Night,
}

fn at_time(now: DateTime<FixedOffset>, date: NaiveDate, h: u32, m: u32) -> DateTime<FixedOffset> {
    let t = NaiveTime::from_hms_opt(h.min(23), m.min(59), 0).unwrap_or(NaiveTime::MIN);
    now.offset().from_local_datetime(&date.and_time(t)).single().unwrap_or(now)
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

fn part(w: &str) -> Option<Part> {
    Some(match w {
        "morning" => Part::Morning,
        "afternoon" => Part::Afternoon,
        "evening" => Part::Evening,
        "night" | "tonight" => Part::Night,
        _ => return None,
    })
}

/// 24-hour clock from a spoken hour, am/pm and part of day.
fn hour24(h: u32, ampm: Option<&str>, part: Option<Part>) -> u32 {
    match ampm {
        Some("am") => h % 12,
        Some("pm") => h % 12 + 12,
        _ => match part {
            Some(Part::Morning) => h % 12,
            Some(Part::Afternoon | Part::Evening) => if h < 12 { h + 12 } else { h },
            Some(Part::Night) => match h {
                12 => 0,
                1..=5 => h,
                h if h < 12 => h + 12,
                h => h,
            },
            None => match h {
                0 => 0,
                1..=6 => h + 12,
                h => h,
            },
        },
    }
}

fn num(s: Option<super::pattern::Match>) -> Option<u32> {
    s.and_then(|m| m.as_str().parse().ok())
}

/// When a task should start, from the words of a brief (lowercase).
pub fn schedule(lower: &str, now: DateTime<FixedOffset>) -> Option<Found> {
    let today = now.date_naive();
    let mut spans = Vec::new();
    let mut day: Option<NaiveDate> = None;
    let mut part_of_day: Option<Part> = None;
    let mut time: Option<(u32, u32, Option<String>)> = None;
    let mut overnight = false;

    if let Some(m) = re!(r"\bin (\d{1,3}|an|a|half an) (minutes?|mins?|hours?|hrs?)\b").captures(lower) {
        let n: i64 = match &m[1] {
            "an" | "a" => 1,
            "half an" => 0,
            s => s.parse().unwrap_or(1),
        };
        let d = if m[2].starts_with('h') {
            if &m[1] == "half an" { Duration::minutes(30) } else { Duration::hours(n) }
        } else {
            Duration::minutes(n)
        };
        let whole = m.get(0)?;
        return Some(Found { at: now + d, spans: vec![whole.range()] });
    }
    if let Some(m) = re!(r"\b(?:over ?night|during the night|while i(?:'m| am) asleep)\b").find(lower) {
        overnight = true;
        spans.push(m.range());
    }
    if let Some(m) = re!(r"\b(?:later )?tonight\b").find(lower) {
        day = Some(today);
        part_of_day = Some(Part::Night);
        spans.push(m.range());
    }
    if let Some(c) = re!(r"\b(?:first thing )?tomorrow(?: (morning|afternoon|evening|night))?\b(?: in the (morning|afternoon|evening))?").captures(lower) {
        day = Some(today + Duration::days(1));
        part_of_day = c.get(1).or(c.get(2)).and_then(|m| part(m.as_str())).or(part_of_day);
        spans.push(c.get(0)?.range());
    }
    if let Some(c) = re!(r"\b(?:first thing )?(?:on |next |this )?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?: (morning|afternoon|evening|night))?\b").captures(lower) {
        let wd = weekday(&c[1])?;
        let mut d = today + Duration::days(1);
        while d.weekday() != wd {
            d += Duration::days(1);
        }
        day = Some(d);
        part_of_day = c.get(2).and_then(|m| part(m.as_str())).or(part_of_day);
        spans.push(c.get(0)?.range());
    }
    // "Next week": its Monday, in the morning unless a part of the day is said.
    if day.is_none()
        && let Some(c) = re!(r"\b(?:(?:early|sometime|some time) )?next week(?: (morning|afternoon|evening))?\b").captures(lower)
    {
        let mut d = today + Duration::days(1);
        while d.weekday() != Weekday::Mon {
            d += Duration::days(1);
        }
        day = Some(d);
        part_of_day = c.get(1).and_then(|m| part(m.as_str())).or(part_of_day);
        spans.push(c.get(0)?.range());
    }
    if let Some(c) = re!(r"\b(?:this|in the) (morning|afternoon|evening)\b").captures(lower) {
        if day.is_none() && !c.get(0)?.as_str().starts_with("in the") {
            day = Some(today);
        }
        part_of_day = part(&c[1]).or(part_of_day);
        spans.push(c.get(0)?.range());
    }
    if let Some(m) = re!(r"\b(?:this weekend|on the weekend|over the weekend)\b").find(lower) {
        let mut d = today;
        while d.weekday() != Weekday::Sat {
            d += Duration::days(1);
        }
        day = Some(d);
        part_of_day = part_of_day.or(Some(Part::Morning));
        spans.push(m.range());
    }
    if let Some(m) = re!(r"\b(?:at )?(noon|midday|midnight)\b").captures(lower) {
        time = Some(if &m[1] == "midnight" { (0, 0, Some("am".into())) } else { (12, 0, Some("pm".into())) });
        spans.push(m.get(0)?.range());
    } else if let Some(c) = re!(r"\b(?:(?:start(?:ing)?|begin(?:ning)?|run(?:ning)?|kick(?:ing)? (?:it |them )?off|schedule(?:d)?(?: it| them)?(?: for)?|dispatch(?: it| them)?|queue(?: it| them)?(?: up)?(?: for)?|go|launch|fire(?: it)? off) )?at (\d{1,2})(?::(\d{2})| (\d{2}))?(?: ?(am|pm|o'clock|oclock))?(?:[\s.,;:!?]|$)").captures(lower) {
        let h = num(c.get(1))?;
        let m = num(c.get(2)).or(num(c.get(3))).unwrap_or(0);
        let ampm = c.get(4).map(|m| m.as_str().to_string()).filter(|s| s == "am" || s == "pm");
        let whole = c.get(0)?;
        // "at 2 files" is not a time: the words after a bare hour must not continue a noun phrase.
        let after = lower[whole.end()..].split_whitespace().next().unwrap_or("");
        let trailing_ok = ampm.is_some()
            || c.get(4).is_some()
            || whole.as_str().ends_with(|ch: char| ".,;:!?".contains(ch))
            || after.is_empty()
            || matches!(after, "tonight" | "tomorrow" | "and" | "then" | "please" | "today" | "in" | "on" | "so" | "with" | "using" | "every" | "sharp" | "local" | "this" | "next")
            || part_of_day.is_some()
            || overnight;
        if h <= 24 && m < 60 && trailing_ok {
            time = Some((h, m, ampm));
            let r = whole.range();
            let trimmed = whole.as_str().trim_end_matches(|ch: char| ch.is_whitespace() || ".,;:!?".contains(ch)).len();
            spans.push(r.start..r.start + trimmed);
        }
    } else if let Some(c) = re!(r"\b(\d{1,2})(?::(\d{2}))? ?(am|pm)\b").captures(lower) {
        let h = num(c.get(1))?;
        let m = num(c.get(2)).unwrap_or(0);
        if h <= 12 && m < 60 {
            time = Some((h, m, Some(c[3].to_string())));
            spans.push(c.get(0)?.range());
        }
    }

    if overnight && day.is_none() {
        let (h, m) = match &time {
            Some((h, m, ampm)) => (hour24(*h, ampm.as_deref(), Some(Part::Night)), *m),
            None => (2, 0),
        };
        let mut at = at_time(now, today, h, m);
        if at <= now {
            at = at_time(now, today + Duration::days(1), h, m);
        }
        return Some(Found { at, spans });
    }
    match (day, time) {
        (Some(d), Some((h, m, ampm))) => {
            let mut at = at_time(now, d, hour24(h, ampm.as_deref(), part_of_day), m);
            // "tonight at 1" is after midnight.
            if part_of_day == Some(Part::Night) && d == today && at <= now {
                at += Duration::days(1);
            }
            Some(Found { at, spans })
        }
        (Some(d), None) => {
            let h = match part_of_day {
                Some(Part::Morning) | None => 9,
                Some(Part::Afternoon) => 14,
                Some(Part::Evening) => 19,
                Some(Part::Night) => 22,
            };
            let at = at_time(now, d, h, 0);
            Some(Found { at: if at < now { now } else { at }, spans })
        }
        (None, Some((h, m, ampm))) => {
            let h = hour24(h, ampm.as_deref(), part_of_day);
            let mut at = at_time(now, today, h, m);
            if at <= now {
                at = at_time(now, today + Duration::days(1), h, m);
            }
            Some(Found { at, spans })
        }
        (None, None) => None,
    }
}

/// Where a changelog should start, from the words of a request (lowercase).
pub fn since(lower: &str, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let today = now.date_naive();
    if let Some(c) = re!(r"\b(?:last|past|previous) (\d{1,3}|few|couple of|two|24) (minutes?|mins?|hours?|hrs?|days?|weeks?)\b").captures(lower) {
        let n: i64 = match &c[1] {
            "few" => 3,
            "couple of" => 2,
            s => s.parse().unwrap_or(1),
        };
        let d = match c[2].chars().next() {
            Some('m') => Duration::minutes(n),
            Some('h') => Duration::hours(n),
            Some('d') => Duration::days(n),
            _ => Duration::weeks(n),
        };
        return Some(now - d);
    }
    if let Some(c) = re!(r"\b(?:last|past|previous|in the last|in the past) (hour|day|week|month)\b").captures(lower) {
        return Some(match &c[1] {
            "hour" => now - Duration::hours(1),
            "day" => now - Duration::days(1),
            "week" => now - Duration::weeks(1),
            _ => now - Duration::days(30),
        });
    }
    if re!(r"\b(?:over ?night|last night|while i (?:was )?(?:asleep|sleeping|out|away))\b").is_match(lower) {
        return Some(at_time(now, today - Duration::days(1), 18, 0));
    }
    if re!(r"\byesterday\b").is_match(lower) {
        return Some(at_time(now, today - Duration::days(1), 0, 0));
    }
    if re!(r"\bthis morning\b").is_match(lower) {
        return Some(at_time(now, today, 6, 0));
    }
    if re!(r"\b(?:today|so far|this afternoon)\b").is_match(lower) {
        return Some(at_time(now, today, 0, 0));
    }
    if re!(r"\b(?:this|the) week\b").is_match(lower) {
        let back = today.weekday().num_days_from_monday() as i64;
        return Some(at_time(now, today - Duration::days(back), 0, 0));
    }
    if re!(r"\blast week\b").is_match(lower) {
        return Some(now - Duration::weeks(1));
    }
    if re!(r"\bthis month\b").is_match(lower) {
        return Some(at_time(now, today.with_day(1).unwrap_or(today), 0, 0));
    }
    if let Some(c) = re!(r"\bsince (?:last )?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b").captures(lower) {
        let wd = weekday(&c[1])?;
        let mut d = today - Duration::days(1);
        while d.weekday() != wd {
            d -= Duration::days(1);
        }
        return Some(at_time(now, d, 0, 0));
    }
    if let Some(c) = re!(r"\bsince (\d{1,2})(?::(\d{2}))? ?(am|pm)?\b").captures(lower) {
        let h = num(c.get(1))?;
        let m = num(c.get(2)).unwrap_or(0);
        if h <= 23 && m < 60 {
            let h = if c.get(3).is_none() && h > 12 { h } else { hour24(h, c.get(3).map(|m| m.as_str()), None) };
            let mut at = at_time(now, today, h, m);
            if at > now {
                at -= Duration::days(1);
            }
            return Some(at);
        }
    }
    if re!(r"\bsince (?:i left|my last|the last time|last time)\b").is_match(lower) {
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saturday_5pm() -> DateTime<FixedOffset> {
        // Saturday 21 November 2026, 17:00 at UTC+1.
        DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap()
    }

    #[test]
    fn schedule_table() {
        let cases = [
            ("run it tonight", Some("2026-11-21T22:00:00+01:00")),
            ("do this overnight", Some("2026-11-22T02:00:00+01:00")),
            ("start at 2 am", Some("2026-11-22T02:00:00+01:00")),
            ("tomorrow morning please", Some("2026-11-22T09:00:00+01:00")),
            ("start at 9", Some("2026-11-22T09:00:00+01:00")),
            ("kick it off at 6", Some("2026-11-21T18:00:00+01:00")),
            ("tonight at 11", Some("2026-11-21T23:00:00+01:00")),
            ("tomorrow at 3", Some("2026-11-22T15:00:00+01:00")),
            ("in 2 hours", Some("2026-11-21T19:00:00+01:00")),
            ("on monday", Some("2026-11-23T09:00:00+01:00")),
            ("at 2:30 am", Some("2026-11-22T02:30:00+01:00")),
            ("look at 2 files", None),
            ("fix the footer", None),
            ("at noon tomorrow", Some("2026-11-22T12:00:00+01:00")),
            ("next week, bump tailwind", Some("2026-11-23T09:00:00+01:00")),
            ("next week at 2 pm", Some("2026-11-23T14:00:00+01:00")),
            ("early next week", Some("2026-11-23T09:00:00+01:00")),
            ("what's planned for next weekend", None),
        ];
        for (text, want) in cases {
            let got = schedule(text, saturday_5pm()).map(|f| f.at.to_rfc3339());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn a_brief_that_opens_with_next_week_is_scheduled_and_keeps_its_title() {
        let mut config = crate::config::Config::default();
        config.repos.push(crate::config::Repo { name: "site".into(), base: "main".into(), ..Default::default() });
        let cx = crate::understand::Context { config: &config, tasks: &[], pending: None, now: saturday_5pm() };
        let cases = [
            ("Next week, bump the tailwind version on the site", "Bump the Tailwind version on the site", "2026-11-23T09:00:00+01:00"),
            ("Bump the tailwind version next week", "Bump the Tailwind version", "2026-11-23T09:00:00+01:00"),
        ];
        for (text, title, at) in cases {
            let i = crate::understand::parse(text, &cx);
            let t = &i.tasks[0];
            assert_eq!(t.title, title, "{text}");
            assert_eq!(t.schedule.map(|s| s.to_rfc3339()).as_deref(), Some(at), "{text}");
        }
    }

    #[test]
    fn since_table() {
        let cases = [
            ("what changed today", Some("2026-11-21T00:00:00+01:00")),
            ("since yesterday", Some("2026-11-20T00:00:00+01:00")),
            ("this week", Some("2026-11-16T00:00:00+01:00")),
            ("what happened overnight", Some("2026-11-20T18:00:00+01:00")),
            ("the last 3 hours", Some("2026-11-21T14:00:00+01:00")),
            ("read me the changelog", None),
        ];
        for (text, want) in cases {
            let got = since(text, saturday_5pm()).map(|t| t.to_rfc3339());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }
}
