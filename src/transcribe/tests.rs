use super::*;
use crate::transcribe::testmodel::TestModel;
use std::sync::OnceLock;

/// One generated tiny model per test process.
fn tiny_model() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // one file shared by every run (written whole, then renamed into place), not one per process
        let dir = std::env::temp_dir().join("capcom-test-model");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ggml-test-tiny.bin");
        let part = dir.join(format!("ggml-test-tiny.bin.{}", std::process::id()));
        TestModel::tiny().write(&part).unwrap();
        std::fs::rename(&part, &p).unwrap();
        p
    })
}

fn transcriber() -> &'static Transcriber {
    static T: OnceLock<Transcriber> = OnceLock::new();
    T.get_or_init(|| {
        let settings = Settings { threads: 2, prompt: "Glossary: Tailwind, Copilot.".into(), ..Settings::default() };
        Transcriber::load(tiny_model(), None, settings).expect("the generated model loads")
    })
}

/// A voice-like test signal: a gliding tone with an amplitude envelope.
fn chirp(seconds: f64) -> Vec<f32> {
    let n = (seconds * SAMPLE_RATE as f64) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / SAMPLE_RATE as f64;
            let f = 150.0 + 250.0 * (t * 0.7).sin().abs();
            let env = 0.5 + 0.5 * (t * 3.0).sin();
            (0.3 * env * (2.0 * std::f64::consts::PI * f * t).sin()) as f32
        })
        .collect()
}

#[test]
fn audio_ctx_follows_clip_length() {
    assert_eq!(audio_ctx_for(3.0, false), 288); // 150 frames + 128 margin, rounded to 32
    assert_eq!(audio_ctx_for(10.0, false), 640);
    assert_eq!(audio_ctx_for(0.2, false), MIN_AUDIO_CTX);
    assert_eq!(audio_ctx_for(0.5, false), MIN_AUDIO_CTX);
    assert_eq!(audio_ctx_for(29.5, false), 1500);
    assert_eq!(audio_ctx_for(45.0, false), 1500);
    assert_eq!(audio_ctx_for(3.0, true), 1500);
    assert!(token_cap(1.0) < token_cap(10.0));
    assert!(MIN_AUDIO_CTX >= 2 * AUDIO_CTX_MARGIN && AUDIO_CTX_MARGIN >= 128);
    assert_eq!(token_cap(60.0), token_cap(30.0));
}

#[test]
fn loops_and_empty_text_are_rejected() {
    for (text, looped) in [
        ("Yeah. Yeah. Yeah. Yeah. Yeah. Yeah. Yeah.", true),
        ("Top, Lucie, S.A.Gunt. Top, Lucie, S.A.Gunt. Top, Lucie, S.A.Gunt.", true),
        ("compatibility issues. Test must pass. Test must pass. Test must pass.", true),
        ("Confirm, confirm, confirm, confirm, confirm.", true),
        ("Test must pass. Test must pass.", false),
        ("Yes, yes.", false),
        ("Upgrade Tailwind to the latest stable version and make sure the build passes.", false),
        ("Merge task four.", false),
    ] {
        assert_eq!(repetition(text).is_some(), looped, "{text}");
    }
    let t = |text: &str, nosp: f32, lp: f32| Transcript {
        text: text.into(),
        segments: vec![],
        duration_s: 1.0,
        audio_ctx: 256,
        timings: Timings::default(),
        mode: Mode::Free,
        in_grammar: None,
        text_tokens: 3,
        model: String::new(),
        no_speech_prob: nosp,
        avg_logprob: lp,
        free_score: None,
        threads: 0,
        threads_basis: None,
        fallback: false,
        looped: false,
        lost: None,
        held_pieces: 0,
    };
    assert!(rejection(&t("Merge task four.", 0.1, -0.3)).is_none());
    assert!(rejection(&t("", 0.1, 0.0)).is_some());
    assert!(rejection(&t(" ... ", 0.1, -0.3)).is_some());
    assert!(rejection(&t("I'm a", 0.9, -1.5)).unwrap().contains("no speech"));
    // a confident decode stands even when the start sounded like silence
    assert!(rejection(&t("Yes.", 0.7, -0.2)).is_none());
    // unsure of every word while leaning to no speech: breath decoded as words
    assert!(rejection(&t("It's a good thing.", 0.38, -2.22)).unwrap().contains("unsure"));
    assert!(rejection(&t("It's a good thing.", 0.1, -2.22)).is_none());
    assert!(rejection(&t("It's a good thing.", 0.38, -0.9)).is_none());
    // a loop cut to one copy: kept when sure, not when unsure or when it sounded like silence
    let looped = |text: &str, nosp: f32, lp: f32| Transcript { looped: true, ..t(text, nosp, lp) };
    assert!(rejection(&looped("Merge task 4.", 0.2, -0.5)).is_none());
    assert!(rejection(&looped("It's your account", 0.13, -1.15)).is_some());
    assert!(rejection(&looped("Go.", 0.95, -0.63)).is_some());
}

#[test]
fn a_grammar_decode_the_model_would_not_say_falls_back() {
    let t = |in_grammar: Option<bool>, avg: f32, free: Option<(f32, f32)>| Transcript {
        text: "Don't.".into(),
        segments: vec![],
        duration_s: 1.5,
        audio_ctx: 256,
        timings: Timings::default(),
        mode: Mode::Commands,
        in_grammar,
        text_tokens: 2,
        model: String::new(),
        no_speech_prob: 0.1,
        avg_logprob: avg,
        free_score: free.map(|(mean, min)| FreeScore { mean, min }),
        threads: 1,
        threads_basis: None,
        fallback: false,
        looped: false,
        lost: None,
        held_pieces: 0,
    };
    // (in grammar, grammar's own mean, free mean and lowest token, poor?): figures measured on tiny.en
    for (g, avg, free, poor) in [
        (Some(true), -0.07, Some((-0.16, -0.4)), false), // "Confirm."
        (Some(true), -0.33, Some((-1.14, -2.77)), false), // "Status." at its least sure
        (Some(true), -0.55, Some((-6.30, -13.8)), true), // "Fix the footer links on the site." as "Don't."
        (Some(true), -0.34, Some((-1.86, -5.01)), true), // "Is it green?" as "Read me today's changelog."
        (Some(true), -0.14, Some((-1.65, -6.77)), true), // "Don't merge it yet." as "Don't merge it."
        (Some(true), -0.20, Some((-1.2, -4.6)), true),   // one token the model would not say
        (Some(true), -1.06, Some((-0.5, -1.0)), true),   // unsure even inside the grammar
        (Some(false), -0.1, Some((-0.2, -0.3)), true),   // not a sentence of the grammar
        (None, -0.1, None, true),                        // nothing decoded with the grammar
        (Some(true), -0.1, None, false),                 // no free score: the grammar's own decides
    ] {
        assert_eq!(grammar_decode_is_poor(&t(g, avg, free)), poor, "{g:?} {avg} {free:?}");
    }
}

#[test]
fn grammars_only_for_short_clips() {
    assert_eq!(mode_for_clip(Mode::Confirm, 1.5), Mode::Confirm);
    assert_eq!(mode_for_clip(Mode::Confirm, 8.0), Mode::Free);
    assert_eq!(mode_for_clip(Mode::Commands, 4.0), Mode::Commands);
    assert_eq!(mode_for_clip(Mode::Free, 1.0), Mode::Free);
}

#[test]
fn prompt_lists_the_vocabulary_once() {
    let cfg = crate::config::from_str(
        r#"
        [voice]
        vocabulary = ["Tailwind", "React Query"]
        [[repos]]
        name = "site"
        path = "/tmp/site"
        aliases = ["website", "Tailwind"]
        [checks]
        build = "npm run build"
        [agents.copilot]
        kind = "github-copilot"
        "#,
        "t.toml",
    )
    .unwrap()
    .0;
    let p = vocabulary_prompt(&cfg);
    // repos and aliases first, then agents (the shipped ones too), checks, the vocabulary
    assert!(p.starts_with("Glossary: site, website, Tailwind, "), "{p}");
    assert!(p.ends_with(", build, React Query."), "{p}");
    assert!(p.contains(" copilot,") && p.contains(" claude,"), "{p}");
    assert_eq!(p.matches("Tailwind").count(), 1, "{p}");
    assert_eq!(vocabulary_prompt(&Config::default()), "");
}

#[test]
fn physical_cores_is_positive() {
    let n = physical_cores();
    assert!(n >= 1 && n <= std::thread::available_parallelism().unwrap().get());
}

#[test]
fn resolves_names_and_paths() {
    let data = DataDir::new("/data");
    let (p, name) = resolve_model("base.en", &data).unwrap();
    assert_eq!(p, PathBuf::from("/data/models/ggml-base.en.bin"));
    assert_eq!(name.as_deref(), Some("base.en"));
    let (p, name) = resolve_model("/m/x.bin", &data).unwrap();
    assert_eq!((p, name), (PathBuf::from("/m/x.bin"), None));
    let e = resolve_model("huge.en", &data).unwrap_err().to_string();
    assert!(e.contains("unknown model") && e.contains("base.en"), "{e}");
}

#[test]
fn transcribes_with_the_generated_model() {
    let t = transcriber();
    let clip = chirp(3.0);
    let out = t.transcribe_blocking(&clip, Mode::Free).unwrap();
    // the clip plus the silence padded after it
    assert_eq!(out.audio_ctx, audio_ctx_for(3.0 + END_PAD_SECONDS, false));
    assert!((out.duration_s - 3.0).abs() < 1e-6);
    assert!(!out.segments.is_empty());
    assert!(out.segments.iter().all(|s| 0.0 <= s.t0 && s.t0 <= s.t1 && s.t1 <= out.duration_s), "{:?}", out.segments);
    assert!(!out.text.is_empty(), "random weights still decode text tokens");
    assert!(out.text_tokens <= token_cap(3.0), "{} tokens", out.text_tokens);
    assert!(out.timings.encode_ms > 0.0 && out.timings.decode_ms > 0.0);
    assert_eq!(out.in_grammar, None);
    // the vocabulary is the generator's: every word is made of its tokens
    assert!(out.text.is_ascii());
}

#[test]
fn very_short_clips_are_padded_not_skipped() {
    let out = transcriber().transcribe_blocking(&chirp(0.4), Mode::Free).unwrap();
    assert!(!out.segments.is_empty());
    assert!((out.duration_s - 0.4).abs() < 1e-6);
}

#[test]
fn grammar_decoding_stays_in_the_grammar() {
    let t = transcriber();
    for (mode, src, secs) in [(Mode::Commands, grammar::COMMANDS, 2.0), (Mode::Confirm, grammar::CONFIRM, 1.5), (Mode::Commands, grammar::COMMANDS, 4.0)] {
        let g = Grammar::parse(src).unwrap();
        let out = t.transcribe_blocking(&chirp(secs), mode).unwrap();
        let raw: String = format!(" {}", out.text);
        assert_eq!(out.in_grammar, Some(true), "{mode:?}: {:?}", out.text);
        assert!(g.accepts(&raw), "{mode:?}: {raw:?}");
    }
}

#[test]
fn a_bad_model_is_refused_before_whisper_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = TestModel::tiny().to_bytes();
    bytes[44..48].copy_from_slice(&0i32.to_le_bytes());
    let p = dir.path().join("f32.bin");
    std::fs::write(&p, &bytes).unwrap();
    match Transcriber::load(&p, Some("tiny.en"), Settings::default()) {
        Err(TranscribeError::Model(e)) => {
            assert_eq!(e.problem, Problem::F32Weights);
            assert!(e.to_string().contains("capcom models fetch tiny.en"));
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("an f32 model must be refused"),
    }
    let p = dir.path().join("cut.bin");
    std::fs::write(&p, &TestModel::tiny().to_bytes()[..4_000_000]).unwrap();
    assert!(matches!(Transcriber::load(&p, None, Settings::default()), Err(TranscribeError::Model(_))));
}

#[test]
fn the_spoken_commands_and_the_prompt_are_sentences_of_the_commands_grammar() {
    let g = Grammar::parse(grammar::COMMANDS).unwrap();
    let prompt: Vec<String> = grammar::COMMANDS_PROMPT
        .split_inclusive(['.', '?'])
        .map(|p| format!(" {}", p.trim()))
        .collect();
    for p in prompt.iter().map(String::as_str).chain([
        " Confirm.",
        " Cancel that.",
        " Merge task four.",
        " What's finished?",
        " Read me today's changelog.",
        " Yes, go ahead.",
        " No, wait.",
    ]) {
        assert!(g.accepts(p), "{p:?}");
    }
    assert!(!g.accepts(" Upgrade Tailwind to the latest version."));
}

#[test]
fn loops_are_cut_and_kept_once() {
    use super::engine::ends_in_a_loop;
    assert!(ends_in_a_loop(&[5, 6, 7, 5, 6, 7]));
    assert!(ends_in_a_loop(&[1, 9, 9, 9]));
    assert!(!ends_in_a_loop(&[1, 9, 9]));
    assert!(!ends_in_a_loop(&[5, 6, 7, 5, 6]));
    for (looped, kept) in [
        ("Merge task 4, Merge task 4,", "Merge task 4."),
        ("Merge task 4 Merge task 4 Merge task", "Merge task 4"),
        ("No, wait. No, wait.", "No, wait."),
        ("confirm confirm confirm", "confirm"),
        ("What's finished? What's finished?", "What's finished?"),
        ("Fix the footer. Test must pass. Test must pass.", "Fix the footer. Test must pass."),
        ("Yes, yes.", "Yes, yes."),
        ("Upgrade Tailwind and make sure the build passes.", "Upgrade Tailwind and make sure the build passes."),
    ] {
        assert_eq!(collapse_repeats(looped), kept, "{looped}");
    }
}

#[test]
fn the_next_piece_is_prompted_with_the_end_of_the_text_before() {
    assert_eq!(previous_text_prompt("Glossary: Tailwind.", "Upgrade Tailwind."), "Glossary: Tailwind. Upgrade Tailwind.");
    assert_eq!(previous_text_prompt("", "Fix the footer."), "Fix the footer.");
    let long = "word ".repeat(300);
    let p = previous_text_prompt("Glossary: Jules.", &long);
    assert!(p.len() <= 600 && p.starts_with("Glossary: Jules. word") && p.ends_with("word"), "{p}");
}
