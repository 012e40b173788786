//! Numbers, durations and lists as people say them.
//!
//! Everything here is pure. The scripts never put digits they produced
//! themselves into spoken text: "pull request forty-one", "twelve minutes",
//! "three files", "and three more".

use std::time::Duration;

const ONES: [&str; 20] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const ORDINALS: [&str; 13] = [
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth",
];

/// A cardinal number in words: 41 → "forty-one", 1205 → "one thousand two hundred and five".
pub fn number(n: u64) -> String {
    if n < 20 {
        return ONES[n as usize].to_string();
    }
    if n < 100 {
        let (t, o) = (n / 10, n % 10);
        return if o == 0 { TENS[t as usize].to_string() } else { format!("{}-{}", TENS[t as usize], ONES[o as usize]) };
    }
    if n < 1000 {
        let (h, rest) = (n / 100, n % 100);
        let head = format!("{} hundred", ONES[h as usize]);
        return if rest == 0 { head } else { format!("{head} and {}", number(rest)) };
    }
    const SCALES: [(u64, &str); 4] = [
        (1_000_000_000_000, "trillion"),
        (1_000_000_000, "billion"),
        (1_000_000, "million"),
        (1_000, "thousand"),
    ];
    for (scale, name) in SCALES {
        if n >= scale {
            let (head, rest) = (n / scale, n % scale);
            let head = format!("{} {name}", number(head));
            return match rest {
                0 => head,
                r if r < 100 => format!("{head} and {}", number(r)),
                r => format!("{head} {}", number(r)),
            };
        }
    }
    unreachable!("every n >= 1000 matches a scale")
}

/// A signed number in words.
pub fn signed(n: i64) -> String {
    if n < 0 { format!("minus {}", number(n.unsigned_abs())) } else { number(n as u64) }
}

/// "One" at the start of a sentence.
pub fn number_capitalized(n: u64) -> String {
    capitalize(&number(n))
}

/// An ordinal: 1 → "first", 21 → "twenty-first".
pub fn ordinal(n: u64) -> String {
    if n < ORDINALS.len() as u64 {
        return ORDINALS[n as usize].to_string();
    }
    let words = number(n);
    // Replace the last word's ending.
    let (head, last) = match words.rfind([' ', '-']) {
        Some(i) => (&words[..=i], &words[i + 1..]),
        None => ("", words.as_str()),
    };
    let last = match last {
        "one" => "first".to_string(),
        "two" => "second".to_string(),
        "three" => "third".to_string(),
        "five" => "fifth".to_string(),
        "eight" => "eighth".to_string(),
        "nine" => "ninth".to_string(),
        "twelve" => "twelfth".to_string(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// "one file", "three files". `plural` is used for every count but one.
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    if n == 1 { format!("one {singular}") } else { format!("{} {plural}", number(n)) }
}

/// "1 file" / "2 files" with a regular plural ("file" → "files", "check" → "checks").
pub fn count_of(n: u64, noun: &str) -> String {
    count(n, noun, &plural(noun))
}

/// A regular English plural, good enough for the nouns the scripts use.
pub fn plural(noun: &str) -> String {
    if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") || noun.ends_with('x') {
        format!("{noun}es")
    } else if noun.ends_with('y') && !noun.ends_with("ay") && !noun.ends_with("ey") && !noun.ends_with("oy") {
        format!("{}ies", &noun[..noun.len() - 1])
    } else {
        format!("{noun}s")
    }
}

/// "task four", "pull request forty-one".
pub fn task_name(id: i64) -> String {
    format!("task {}", signed(id))
}

pub fn pull_request(n: u64) -> String {
    format!("pull request {}", number(n))
}

/// A duration as people say it, rounded to what matters:
/// "under a minute", "one minute", "twelve minutes", "an hour", "an hour and ten minutes",
/// "three hours", "two days".
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        return if secs < 45 { "under a minute".to_string() } else { "about a minute".to_string() };
    }
    // Round to the nearest minute.
    let minutes = (secs + 30) / 60;
    if minutes < 60 {
        return count_of(minutes, "minute");
    }
    let hours = minutes / 60;
    let rest = minutes % 60;
    if hours < 24 {
        let h = if hours == 1 { "an hour".to_string() } else { count_of(hours, "hour") };
        // Past a few hours, minutes stop mattering; say quarters.
        if hours >= 3 {
            return match rest {
                0..=14 => h,
                15..=44 => format!("{} and a half hours", number(hours)),
                _ => count_of(hours + 1, "hour"),
            };
        }
        return match rest {
            0..=2 => h,
            28..=32 => {
                if hours == 1 {
                    "an hour and a half".to_string()
                } else {
                    format!("{} and a half hours", number(hours))
                }
            }
            r => format!("{h} and {}", count_of(r, "minute")),
        };
    }
    let days = (hours + 12) / 24;
    if days == 1 { "a day".to_string() } else { count_of(days, "day") }
}

/// An amount of US dollars as people say it, rounded to what matters:
/// 0.004 → "less than a cent", 0.42 → "forty-two cents", 4.2 → "four dollars and twenty cents",
/// 1 → "one dollar", 23.6 → "twenty-four dollars" (from twenty dollars up, whole dollars).
pub fn money(usd: f64) -> String {
    let usd = if usd.is_finite() { usd.max(0.0) } else { 0.0 };
    let cents = (usd * 100.0).round() as u64;
    if cents == 0 {
        return "less than a cent".to_string();
    }
    if cents < 100 {
        return count(cents, "cent", "cents");
    }
    if cents >= 2000 {
        return count((cents + 50) / 100, "dollar", "dollars");
    }
    let (dollars, rest) = (cents / 100, cents % 100);
    let head = count(dollars, "dollar", "dollars");
    if rest == 0 { head } else { format!("{head} and {}", count(rest, "cent", "cents")) }
}

/// Seconds as a duration phrase.
pub fn seconds(secs: u64) -> String {
    duration(Duration::from_secs(secs))
}

/// "in the last hour", "in the last six hours", "since yesterday", "in the last three days".
pub fn period(d: Duration) -> String {
    let hours = (d.as_secs() + 1800) / 3600;
    if hours <= 1 {
        "in the last hour".to_string()
    } else if hours < 20 {
        format!("in the last {}", count_of(hours, "hour"))
    } else if hours <= 36 {
        "since yesterday".to_string()
    } else {
        let days = (hours + 12) / 24;
        if days == 7 { "in the last week".to_string() } else { format!("in the last {}", count_of(days, "day")) }
    }
}

/// "a", "a and b", "a, b and c".
pub fn join_and(items: &[String]) -> String {
    join_with(items, "and")
}

/// "a or b", "a, b or c".
pub fn join_or(items: &[String]) -> String {
    join_with(items, "or")
}

fn join_with(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

/// Lists of more than five are cut to five, the rest said as "and three more".
pub const LIST_LIMIT: usize = 5;

/// Keep at most [`LIST_LIMIT`] items; when more, also say how many were left out.
/// Returns (kept items, "and three more" or None).
pub fn cap<T: Clone>(items: &[T]) -> (Vec<T>, Option<String>) {
    cap_at(items, LIST_LIMIT)
}

pub fn cap_at<T: Clone>(items: &[T], limit: usize) -> (Vec<T>, Option<String>) {
    if items.len() <= limit {
        return (items.to_vec(), None);
    }
    let rest = items.len() - limit;
    (items[..limit].to_vec(), Some(format!("and {} more", number(rest as u64))))
}

/// Join a list for speech, capped: "a, b, c, d, e, and three more".
pub fn join_capped(items: &[String]) -> String {
    let (kept, more) = cap(items);
    match more {
        None => join_and(&kept),
        Some(more) => format!("{}, {more}", kept.join(", ")),
    }
}

/// Upper-case the first letter.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A count of lines as said: "about a hundred and twenty lines".
pub fn lines(n: u64) -> String {
    if n < 20 {
        return count_of(n, "line");
    }
    // Round to two significant figures; nobody needs "one thousand two hundred and seven lines".
    let magnitude = 10u64.pow((n as f64).log10().floor() as u32 - 1);
    let rounded = ((n + magnitude / 2) / magnitude) * magnitude;
    if rounded == n { count_of(n, "line") } else { format!("about {}", count_of(rounded, "line")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_said_as_people_say_it() {
        let cases: &[(f64, &str)] = &[
            (0.0, "less than a cent"),
            (0.004, "less than a cent"),
            (0.01, "one cent"),
            (0.42, "forty-two cents"),
            (0.999, "one dollar"),
            (1.0, "one dollar"),
            (1.05, "one dollar and five cents"),
            (4.2, "four dollars and twenty cents"),
            (19.99, "nineteen dollars and ninety-nine cents"),
            (23.6, "twenty-four dollars"),
            (112.0, "one hundred and twelve dollars"),
            (-3.0, "less than a cent"),
            (f64::NAN, "less than a cent"),
        ];
        for (usd, want) in cases {
            assert_eq!(money(*usd), *want, "{usd}");
        }
    }

    #[test]
    fn numbers_in_words() {
        let cases: &[(u64, &str)] = &[
            (0, "zero"),
            (4, "four"),
            (12, "twelve"),
            (20, "twenty"),
            (41, "forty-one"),
            (99, "ninety-nine"),
            (100, "one hundred"),
            (105, "one hundred and five"),
            (342, "three hundred and forty-two"),
            (1000, "one thousand"),
            (1005, "one thousand and five"),
            (1205, "one thousand two hundred and five"),
            (2_000_000, "two million"),
            (3_400_021, "three million four hundred thousand and twenty-one"),
        ];
        for (n, want) in cases {
            assert_eq!(number(*n), *want, "{n}");
        }
    }

    #[test]
    fn ordinals() {
        let cases: &[(u64, &str)] = &[
            (1, "first"),
            (2, "second"),
            (3, "third"),
            (12, "twelfth"),
            (20, "twentieth"),
            (21, "twenty-first"),
            (42, "forty-second"),
            (100, "one hundredth"),
        ];
        for (n, want) in cases {
            assert_eq!(ordinal(*n), *want, "{n}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(u64, &str)] = &[
            (5, "under a minute"),
            (50, "about a minute"),
            (60, "one minute"),
            (12 * 60 + 10, "twelve minutes"),
            (59 * 60 + 40, "an hour"),
            (3600, "an hour"),
            (3600 + 10 * 60, "an hour and ten minutes"),
            (3600 + 30 * 60, "an hour and a half"),
            (2 * 3600 + 5 * 60, "two hours and five minutes"),
            (5 * 3600 + 20 * 60, "five and a half hours"),
            (5 * 3600 + 50 * 60, "six hours"),
            (30 * 3600, "a day"),
            (3 * 86400, "three days"),
        ];
        for (s, want) in cases {
            assert_eq!(seconds(*s), *want, "{s}s");
        }
    }

    #[test]
    fn periods() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(period(h(1)), "in the last hour");
        assert_eq!(period(h(6)), "in the last six hours");
        assert_eq!(period(h(24)), "since yesterday");
        assert_eq!(period(h(72)), "in the last three days");
        assert_eq!(period(h(168)), "in the last week");
    }

    #[test]
    fn counts_and_lists() {
        assert_eq!(count_of(1, "file"), "one file");
        assert_eq!(count_of(3, "file"), "three files");
        assert_eq!(count_of(2, "fix"), "two fixes");
        assert_eq!(count_of(2, "dependency"), "two dependencies");
        assert_eq!(pull_request(41), "pull request forty-one");
        assert_eq!(join_and(&["a".into()]), "a");
        assert_eq!(join_and(&["a".into(), "b".into()]), "a and b");
        assert_eq!(join_and(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        let eight: Vec<String> = (1..=8).map(number).collect();
        assert_eq!(join_capped(&eight), "one, two, three, four, five, and three more");
        let five: Vec<String> = (1..=5).map(number).collect();
        assert_eq!(join_capped(&five), "one, two, three, four and five");
    }

    #[test]
    fn line_counts_round() {
        assert_eq!(lines(1), "one line");
        assert_eq!(lines(12), "twelve lines");
        assert_eq!(lines(120), "one hundred and twenty lines");
        assert_eq!(lines(1207), "about one thousand two hundred lines");
        assert_eq!(lines(47), "forty-seven lines");
    }
}
