//! Diagnostics of the parser over the corpus in `tests/fixtures/briefs.toml`: they print, they
//! judge nothing (the tests in tests/understand.rs do that).
//!
//! - `cargo run --example understand_diagnostics -- show FILE [CONFIG]`: what the parser makes
//!   of each line of FILE (a line starting with `!` is read with a merge question pending for
//!   task 1), against the corpus's world or, with CONFIG, that config and no tasks.
//! - `cargo run --example understand_diagnostics -- invariance [SEEDS]`: every brief in every
//!   shape speech-to-text gives it, SEEDS seeds each (default 8), every misreading listed.
//! - `cargo run --release --example understand_diagnostics -- cold-parse-cost`: the parser's
//!   share of a `capcom parse` process (the first parse builds every pattern it uses), in
//!   thread CPU time; a process of its own, so nothing has built them before.

use capcom::understand::{Context, Pending, parse};
use serde::Deserialize;

#[path = "../tests/common/briefs.rs"]
mod briefs;
#[path = "../tests/common/shapes.rs"]
mod shapes;

#[derive(Deserialize)]
struct Case {
    text: String,
    pending: Option<briefs::PendingCase>,
}

fn show(path: &str, config: Option<&str>) {
    let mut w: briefs::Corpus<Case> = briefs::load();
    if let Some(cfg) = config {
        let text = std::fs::read_to_string(cfg).unwrap_or_else(|e| panic!("{cfg}: {e}"));
        w.config = capcom::config::from_str(&text, cfg).unwrap_or_else(|e| panic!("{cfg}: {e}")).0;
        w.tasks.clear();
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let p = Pending { action: "merge".into(), question: "Merge PR 41?".into(), task: Some(1) };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (line, pending) = match line.strip_prefix('!') {
            Some(rest) => (rest, Some(&p)),
            None => (line, None),
        };
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending, now: w.now };
        let i = parse(line, &ctx);
        let mut v = serde_json::to_value(&i).unwrap();
        if let Some(tasks) = v.get_mut("tasks").and_then(|t| t.as_array_mut()) {
            for t in tasks {
                t.as_object_mut().unwrap().remove("brief");
            }
        }
        let obj = v.as_object_mut().unwrap();
        obj.retain(|_, x| !(x.is_null() || x.as_array().is_some_and(|a| a.is_empty())));
        println!("{}\n  {}\n", line, serde_json::to_string(&v).unwrap());
    }
}

fn invariance(seeds: u64) {
    use shapes::{NAMES, reading, variant};
    let w: briefs::Corpus<Case> = briefs::load();
    let mut per_shape = [(0usize, 0usize); 5];
    for c in &w.cases {
        let p = c.pending.as_ref().map(briefs::PendingCase::to_pending);
        let ctx = Context { config: &w.config, tasks: &w.tasks, pending: p.as_ref(), now: w.now };
        let want = reading(&parse(&c.text, &ctx));
        for which in 0u8..5 {
            for seed in 0..seeds {
                let v = variant(&c.text, which, seed);
                per_shape[which as usize].0 += 1;
                let got = reading(&parse(&v, &ctx));
                if got != want {
                    per_shape[which as usize].1 += 1;
                    println!("{}: {:?}\n    as {:?}\n    want {:?}\n    got  {:?}", NAMES[which as usize], c.text, v, want, got);
                }
                // the deterministic shapes need one seed
                if which == 0 || which == 2 || which == 3 {
                    break;
                }
            }
        }
    }
    for (k, (n, bad)) in per_shape.iter().enumerate() {
        println!("{:28} {bad:4} of {n:5} misread", NAMES[k]);
    }
}

fn cold_parse_cost() {
    fn cpu_ms() -> f64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
    }
    let w: briefs::Corpus<Case> = briefs::load();
    let ctx = Context { config: &w.config, tasks: &w.tasks, pending: None, now: w.now };
    let brief = "On the website, update the copyright year in the footer. Build must pass.";
    let t = cpu_ms();
    let _ = parse(brief, &ctx);
    let cold = cpu_ms() - t;
    let t = cpu_ms();
    let _ = parse(brief, &ctx);
    let warm = cpu_ms() - t;
    let t = cpu_ms();
    for c in &w.cases {
        let _ = parse(&c.text, &ctx);
    }
    let corpus = cpu_ms() - t;
    println!("first parse {cold:.2} ms cpu, again {warm:.3} ms, then the whole corpus ({} briefs, most patterns new) {corpus:.2} ms", w.cases.len());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["show", file] => show(file, None),
        ["show", file, config] => show(file, Some(config)),
        ["invariance"] => invariance(8),
        ["invariance", seeds] => invariance(seeds.parse().unwrap_or_else(|_| panic!("SEEDS is a number: {seeds}"))),
        ["cold-parse-cost"] => cold_parse_cost(),
        _ => {
            eprintln!("usage: understand_diagnostics show FILE [CONFIG] | invariance [SEEDS] | cold-parse-cost");
            std::process::exit(2);
        }
    }
}
