//! Field accuracy on the corpus (`tests/fixtures/briefs.toml`, tuned on) beside the held-out
//! split (`tests/fixtures/briefs_heldout.toml` and `tests/understand/heldout_more.toml`, never
//! tuned on) and the calibration split (`tests/understand/calibration.toml`, fitted on); how
//! well confidence separates right parses from wrong ones at 0.75, before and after the
//! calibration; then parse time per brief over the corpus, on one thread: p50, p99 and max
//! in microseconds, and the slowest briefs.
//!
//! Run: `cargo bench --bench understand` (ROUNDS=n to change the number of rounds).

use capcom::understand::{Context, Pending, parse};
use std::hint::black_box;
use std::time::Instant;

#[path = "../tests/common/briefs.rs"]
mod briefs;
#[path = "../tests/understand/score.rs"]
mod score;
#[path = "../tests/understand/calibrate.rs"]
mod calibrate;

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let f: briefs::Corpus<score::Case> = briefs::load();
    println!("{}", score::score(&f, &f.cases).line("corpus (tuned on)"));
    println!("{}", score::score(&f, &score::held_out()).line("held-out (never tuned on)"));
    println!("{}", score::score(&f, &score::calibration()).line("calibration split (fitted on)"));
    for line in calibrate::report(&f) {
        println!("{line}");
    }
    let (config, tasks, now) = (f.config, f.tasks, f.now);
    let pendings: Vec<Option<Pending>> = f.cases.iter().map(|c| c.pending.as_ref().map(briefs::PendingCase::to_pending)).collect();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);

    // Warm-up: compiles the patterns once.
    for (c, p) in f.cases.iter().zip(&pendings) {
        let ctx = Context { config: &config, tasks: &tasks, pending: p.as_ref(), now };
        black_box(parse(&c.text, &ctx));
    }
    let mut all: Vec<f64> = Vec::with_capacity(rounds * f.cases.len());
    let mut per_case: Vec<(f64, &str)> = f.cases.iter().map(|c| (0.0, c.text.as_str())).collect();
    for _ in 0..rounds {
        for (k, (c, p)) in f.cases.iter().zip(&pendings).enumerate() {
            let ctx = Context { config: &config, tasks: &tasks, pending: p.as_ref(), now };
            let t0 = Instant::now();
            black_box(parse(black_box(&c.text), &ctx));
            let us = t0.elapsed().as_secs_f64() * 1e6;
            all.push(us);
            per_case[k].0 = per_case[k].0.max(us);
        }
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    println!("understand::parse over {} briefs x {rounds} rounds ({} calls, one thread)", f.cases.len(), all.len());
    println!("  p50  {:8.1} us", pct(&all, 0.50));
    println!("  p90  {:8.1} us", pct(&all, 0.90));
    println!("  p99  {:8.1} us", pct(&all, 0.99));
    println!("  max  {:8.1} us", all[all.len() - 1]);
    println!("  mean {:8.1} us", mean);
    per_case.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("slowest briefs (worst call):");
    for (us, text) in per_case.iter().take(5) {
        let short: String = text.chars().take(70).collect();
        println!("  {us:8.1} us  {short}");
    }
    // A long, hostile input: 10 kB of repeated words.
    let long = "upgrade tailwind no wait merge the second one, ".repeat(220);
    let ctx = Context { config: &config, tasks: &tasks, pending: None, now };
    let t0 = Instant::now();
    black_box(parse(&long, &ctx));
    println!("10 kB hostile input: {:.1} us", t0.elapsed().as_secs_f64() * 1e6);
}
