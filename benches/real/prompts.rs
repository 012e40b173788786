//! The vocabulary prompt decision, on a larger and more varied clip set than
//! the speech tests' (issue: a prompt that cost WER on one set helped on
//! another): briefs plain and jargon-heavy, short (4–8 s) and long (35–55 s,
//! cut into pieces), each spoken by two of six espeak-ng voices and rates.
//! Per setup, WER by kind of clip and overall, with the load average before
//! and after each row:
//! * prompt: none, the agent and repo names only, the full vocabulary;
//! * for long clips, each piece prompted with the text before it, or not;
//! * f16 against q8_0 weights.
//!
//! The clips are written to target/bench-clips/prompts with `clips.json`
//! and `prompts.json`, for `scripts/faster_whisper_bench.py --prompts`.
//!
//! `CAPCOM_BENCH_PROMPTS_ONLY=1` runs only this section.

use crate::speech::{self, Clip};
use capcom::transcribe::{Mode, Settings, Transcriber};
use std::path::Path;
use std::time::Instant;

/// Plain briefs: everyday words, few names.
const PLAIN: &[&str] = &[
    "Make the sign up button a little bigger and move it to the top of the page.",
    "The contact form sends two emails instead of one. Find out why and fix it.",
    "Add a short welcome message to the home page for people who visit for the first time.",
    "Sort the list of orders by date, newest first, and show twenty on each page.",
    "When a user forgets their password, send them a link that works for one hour.",
    "Clean up the old comments in the settings screen and make the wording friendlier.",
];

/// Jargon-heavy briefs: product and library names, agents, repos.
const JARGON: &[&str] = &[
    "Have Jules migrate the backend from Express to Fastify and keep the OpenAPI schema in sync.",
    "Ask Codex to replace Moment with date-fns in the site repo. Typecheck and lint must pass.",
    "Use Cursor to add React Query caching to the dashboard hooks in the website.",
    "Tell Copilot to upgrade Next.js to version fifteen in the site and fix the middleware.",
    "Swap the Webpack config for Vite in the api repo and make sure the build passes.",
    "Have Claude add Zod validation to the tRPC routers in the backend. The tests must pass.",
];

/// (voice, words per minute): each text is spoken by two of these.
const VOICES: &[(&str, u32)] =
    &[("en-us", 150), ("en-gb", 160), ("en-us", 190), ("en-gb-x-rp", 170), ("en-us+f3", 175), ("en", 180)];

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The agent and repo names only, as `vocabulary_prompt` words them.
pub fn names_prompt(cfg: &capcom::config::Config) -> String {
    let mut words: Vec<String> = Vec::new();
    for r in &cfg.repos {
        words.push(r.name.clone());
        words.extend(r.aliases.iter().cloned());
    }
    words.extend(cfg.agents.keys().cloned());
    if words.is_empty() {
        return String::new();
    }
    format!("Glossary: {}.", words.join(", "))
}

struct Sets {
    /// (kind, clips): "plain", "jargon", "long".
    kinds: Vec<(&'static str, Vec<Clip>)>,
}

fn clips(dir: &Path) -> Sets {
    let mut plain = Vec::new();
    let mut jargon = Vec::new();
    for (i, text) in PLAIN.iter().enumerate() {
        for k in [i, i + 3] {
            let (v, wpm) = VOICES[k % VOICES.len()];
            plain.push(Clip { name: format!("plain{i}-{v}-{wpm}"), text: text.to_string(), samples: speech::speak(text, v, wpm, dir) });
        }
    }
    for (i, text) in JARGON.iter().enumerate() {
        for k in [i + 1, i + 4] {
            let (v, wpm) = VOICES[k % VOICES.len()];
            jargon.push(Clip { name: format!("jargon{i}-{v}-{wpm}"), text: text.to_string(), samples: speech::speak(text, v, wpm, dir) });
        }
    }
    // long: every text of one list in one clip, about 35–55 s
    let mut long = Vec::new();
    for (n, texts) in [(0usize, PLAIN), (1, JARGON), (2, speech::BRIEFS)] {
        for k in [n, n + 3] {
            let (v, wpm) = VOICES[k % VOICES.len()];
            let mut text = String::new();
            let mut samples = Vec::new();
            for t in texts.iter() {
                text.push_str(t);
                text.push(' ');
                samples.extend(speech::speak(t, v, wpm, dir));
            }
            long.push(Clip { name: format!("long{n}-{v}-{wpm}"), text, samples });
        }
    }
    Sets { kinds: vec![("plain", plain), ("jargon", jargon), ("long", long)] }
}

/// Errors and reference words per kind, and seconds spent.
fn measure(model: &Path, settings: Settings, sets: &Sets) -> (Vec<(usize, usize)>, f64) {
    let t = Transcriber::load(model, None, settings).unwrap();
    let _ = t.hear(&sets.kinds[0].1[0].samples, Mode::Free, None); // warm-up
    let start = Instant::now();
    let out = sets
        .kinds
        .iter()
        .map(|(_, clips)| {
            clips.iter().fold((0, 0), |(e, n), c| {
                let h = t.hear(&c.samples, Mode::Free, None).unwrap();
                let (ce, cn) = speech::word_errors(&c.text, h.text());
                (e + ce, n + cn)
            })
        })
        .collect();
    (out, start.elapsed().as_secs_f64())
}

pub fn run(f16: &Path, q8: &Path, cfg: &capcom::config::Config, root: &Path) {
    let dir = root.join("prompts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sets = clips(&dir);
    let names = names_prompt(cfg);
    let full = capcom::transcribe::vocabulary_prompt(cfg);
    // for faster-whisper
    let mut list = Vec::new();
    for (kind, clips) in &sets.kinds {
        for (i, c) in clips.iter().enumerate() {
            let f = dir.join(format!("{kind}-{i:02}.wav"));
            capcom::capture::wav::write_16k_mono(&f, &c.samples).unwrap();
            list.push(serde_json::json!({ "set": kind, "file": f, "text": c.text, "name": c.name, "seconds": c.seconds() }));
        }
    }
    std::fs::write(dir.join("clips.json"), serde_json::to_vec_pretty(&list).unwrap()).unwrap();
    std::fs::write(dir.join("prompts.json"), serde_json::to_vec_pretty(&serde_json::json!({ "none": "", "names": names, "full": full })).unwrap()).unwrap();
    let secs = |k: usize| sets.kinds[k].1.iter().map(Clip::seconds).collect::<Vec<_>>();
    let range = |v: Vec<f64>| format!("{:.1}–{:.1} s", v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(0.0, f64::max));
    println!();
    println!(
        "prompt variants: {} plain ({}), {} jargon ({}), {} long ({}) clips, {} voices/rates; threads {}",
        sets.kinds[0].1.len(), range(secs(0)), sets.kinds[1].1.len(), range(secs(1)), sets.kinds[2].1.len(), range(secs(2)),
        VOICES.len(), Settings::from_config(cfg).threads,
    );
    println!("names prompt: {names:?}");
    println!("full prompt: {full:?}");
    println!("| weights | prompt | previous-piece conditioning | WER plain | WER jargon | WER long | WER all | s | loadavg before → after |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (weights, model) in [("f16", f16), ("q8_0", q8)] {
        for (pname, prompt) in [("none", ""), ("names only", names.as_str()), ("full vocabulary", full.as_str())] {
            for condition in [false, true] {
                // conditioning only matters for clips of several pieces; q8_0 and the
                // names-only prompt are measured without it
                if condition && (weights == "q8_0" || pname == "names only") {
                    continue;
                }
                let mut s = Settings::from_config(cfg);
                s.prompt = prompt.to_string();
                s.condition_previous = condition;
                let before = loadavg();
                let (r, spent) = measure(model, s, &sets);
                let pct = |(e, n): (usize, usize)| 100.0 * e as f64 / n.max(1) as f64;
                let all = r.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                println!(
                    "| {weights} | {pname} | {} | {:.1} % | {:.1} % | {:.1} % | {:.1} % | {spent:.0} | {before} → {} |",
                    if condition { "on" } else { "off" }, pct(r[0]), pct(r[1]), pct(r[2]), pct(all), loadavg()
                );
                rows.push((weights, pname, condition, pct(all)));
            }
        }
    }
    if let Some(best) = rows.iter().filter(|r| r.0 == "f16").min_by(|a, b| a.3.partial_cmp(&b.3).unwrap()) {
        println!("lowest combined WER (f16): prompt {}, conditioning {} ({:.1} %)", best.1, if best.2 { "on" } else { "off" }, best.3);
    }
}
