//! Answer time: from a transcript to the first sentence's PCM, and full synthesis.
//!
//! The target is first audio within 150 ms of the transcript. The script is
//! built, split, and its first sentence synthesized with libespeak-ng; playback
//! would start on that PCM while the rest is synthesized.
//!
//! `cargo bench --bench report`

use capcom::report::script;
use capcom::report::tts::{Espeak, EspeakSettings, Speaker};
use capcom::report::{CheckView, TaskView, split_sentences};
use capcom::store::TaskState;
use chrono::{Duration as CDuration, TimeZone, Utc};
use std::time::{Duration, Instant};

fn board(now: chrono::DateTime<Utc>) -> Vec<TaskView> {
    let titles = [
        "Upgrade Tailwind to the latest stable version",
        "Refresh the hero copy",
        "Fix the header spacing",
        "Migrate the user hooks to React Query",
        "Add visual regression tests",
        "Bump eslint",
        "Write the onboarding docs",
    ];
    titles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let state = match i % 4 {
                0 | 1 => TaskState::Ready,
                2 => TaskState::NeedsAttention,
                _ => TaskState::Running,
            };
            let mut v = TaskView::new(i as i64 + 1, t, state);
            v.agent = Some(["copilot", "claude", "cursor", "codex"][i % 4].into());
            v.pr = (i % 2 == 0).then_some(40 + i as u64);
            v.checks = vec![CheckView::new("build", true), CheckView::new("lint", state != TaskState::NeedsAttention)];
            v.paths = vec!["src/components/a.tsx".into(), "src/components/b.tsx".into()];
            v.started = Some(now - CDuration::minutes(30 + i as i64));
            v.finished = Some(now - CDuration::minutes(5));
            v.last_progress = Some("Running the test suite".into());
            v
        })
        .collect()
}

struct Stats(Vec<Duration>);

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
    fn line(&self, label: &str) {
        println!(
            "{label:<44} median {:>7.2} ms   p90 {:>7.2} ms   max {:>7.2} ms",
            ms(self.pct(0.5)),
            ms(self.pct(0.9)),
            ms(self.pct(1.0))
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let tasks = board(now);
    let t0 = Instant::now();
    let speaker = Espeak::new(EspeakSettings::default()).expect("libespeak-ng");
    println!("espeak-ng start (once per process): {:.1} ms", ms(t0.elapsed()));

    let iterations = 20;
    let mut script_t = Vec::new();
    let mut first_t = Vec::new();
    let mut full_t = Vec::new();
    let mut audio_len = Duration::ZERO;
    let mut text_len = 0;
    let mut first_sentence = String::new();
    for _ in 0..iterations {
        let start = Instant::now();
        let text = script::finished(&tasks, now);
        let sentences = split_sentences(&text);
        script_t.push(start.elapsed());
        let first = speaker.synthesize(&sentences[0]).unwrap();
        first_t.push(start.elapsed());
        let mut total = first.duration();
        for s in &sentences[1..] {
            total += speaker.synthesize(s).unwrap().duration();
        }
        full_t.push(start.elapsed());
        audio_len = total;
        text_len = text.len();
        first_sentence = sentences[0].clone();
    }
    println!("script: \"what's finished?\" over {} tasks, {} chars, {:.1} s of speech", tasks.len(), text_len, audio_len.as_secs_f64());
    println!("first sentence: {first_sentence:?}");
    Stats(script_t).line("script + split");
    let first = Stats(first_t);
    first.line("transcript -> first sentence PCM ready");
    Stats(full_t).line("transcript -> whole answer synthesized");
    let p90 = ms(first.pct(0.9));
    println!("target: first audio within 150 ms: {}", if p90 <= 150.0 { "met (p90)" } else { "MISSED (p90)" });

    // Changelog-sized text in one call, for comparison.
    let cl = script::changelog(&tasks, now - CDuration::hours(24), now);
    let start = Instant::now();
    let pcm = speaker.synthesize(&cl).unwrap();
    println!(
        "changelog narrative, {} chars in one call: {:.1} ms for {:.1} s of audio ({:.0}x real time)",
        cl.len(),
        ms(start.elapsed()),
        pcm.duration().as_secs_f64(),
        pcm.duration().as_secs_f64() / start.elapsed().as_secs_f64()
    );
}
