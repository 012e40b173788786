//! The whisper.cpp binding capcom uses: raw `whisper_rs_sys` calls behind a
//! small safe type.
//!
//! whisper-rs keeps `FullParams`' C struct private, so a correct grammar
//! (an array of per-rule pointers) and a logits filter cannot be passed
//! through it. This wrapper owns the context (the weights, loaded once and
//! kept warm) and makes a fresh decoding state for every decode, so no
//! transcript depends on the clip decoded before it. It builds the full
//! C parameter struct itself, and installs a logits filter that caps the
//! number of text tokens and, with a grammar, allows end-of-text only once
//! the decoded text is a complete sentence of it.

use super::grammar::{Grammar, RuleTable};
use std::ffi::{CStr, CString, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;
use whisper_rs::whisper_rs_sys as sys;

/// A loaded model. Each [`Engine::decode`] runs on a state of its own,
/// made for it and freed after it.
pub struct Engine {
    ctx: *mut sys::whisper_context,
    multilingual: bool,
}

/// One decode's whisper.cpp state, freed when dropped.
struct State(*mut sys::whisper_state);

impl Drop for State {
    fn drop(&mut self) {
        if !self.0.is_null() {
            unsafe { sys::whisper_free_state(self.0) };
        }
    }
}

// whisper.cpp contexts and states may move between threads; `&mut self` on
// every call keeps them single-user.
unsafe impl Send for Engine {}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.ctx.is_null() {
            unsafe { sys::whisper_free(self.ctx) };
        }
    }
}

/// What one decode is asked to do.
pub struct DecodeRequest<'a> {
    pub threads: i32,
    /// Encoder frames (20 ms each); 0 = the model's full 30 s window.
    pub audio_ctx: i32,
    /// Text tokens per decoded window before end-of-text is forced.
    pub max_tokens: usize,
    pub initial_prompt: &'a str,
    pub language: &'a str,
    pub grammar: Option<(&'a Grammar, &'a RuleTable, f32)>,
    /// Leave every whisper.cpp default alone except threads, language,
    /// greedy best_of = 1 and silence (what whisper-rs users get from
    /// `FullParams::new(Greedy { best_of: 1 })`): the benchmark's baseline.
    pub library_defaults: bool,
    /// Set to true to make the decode stop early ([`EngineError::Aborted`]).
    pub abort: Option<&'a std::sync::atomic::AtomicBool>,
}

/// Raw output of one decode.
pub struct Decoded {
    /// (t0 s, t1 s, text) per segment, text as whisper produced it.
    pub segments: Vec<(f64, f64, String)>,
    pub encode_ms: f64,
    pub decode_ms: f64,
    pub text_tokens: usize,
    /// P(<|nospeech|>) right after <|startoftranscript|>, as OpenAI's
    /// Whisper defines it (see [`Engine::no_speech_prob`]).
    pub no_speech_prob: f32,
    /// Mean log-probability of the decoded text tokens (0 when there are none).
    pub avg_logprob: f32,
    /// The decoder began to repeat itself and was stopped ([`ends_in_a_loop`]).
    pub looped: bool,
    /// With a grammar: how likely the model finds the decoded text and its
    /// end without the grammar ([`Engine::free_score`]).
    pub free_score: Option<FreeScore>,
}

/// Log-probabilities the model gives a text when nothing forces it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FreeScore {
    /// Mean over the text's tokens and end-of-text.
    pub mean: f32,
    /// The least likely of them.
    pub min: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("whisper.cpp could not load {0} (see the log for its reason)")]
    Load(String),
    #[error("whisper.cpp could not allocate its decoding state")]
    State,
    #[error("no audio to transcribe")]
    Empty,
    #[error("whisper.cpp failed with code {0}")]
    Failed(i32),
    #[error("the text contains a NUL byte")]
    Nul,
    #[error("the decode was stopped")]
    Aborted,
}

/// Route whisper.cpp's and ggml's log lines into `tracing` at debug level.
pub fn install_log_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        sys::whisper_log_set(Some(log_line), std::ptr::null_mut());
        sys::ggml_log_set(Some(log_line), std::ptr::null_mut());
    });
}

unsafe extern "C" fn log_line(level: sys::ggml_log_level, text: *const std::ffi::c_char, _: *mut c_void) {
    if text.is_null() {
        return;
    }
    let s = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let s = s.trim_end();
    if s.is_empty() {
        return;
    }
    if level == sys::ggml_log_level_GGML_LOG_LEVEL_ERROR {
        tracing::warn!(target: "whisper", "{s}");
    } else {
        tracing::debug!(target: "whisper", "{s}");
    }
}

impl Engine {
    /// Load a model file. Validate it first: whisper.cpp aborts on some bad files.
    pub fn load(path: &Path) -> Result<Engine, EngineError> {
        install_log_hook();
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| EngineError::Nul)?;
        let mut cp = unsafe { sys::whisper_context_default_params() };
        cp.use_gpu = false;
        let ctx = unsafe { sys::whisper_init_from_file_with_params_no_state(cpath.as_ptr(), cp) };
        if ctx.is_null() {
            return Err(EngineError::Load(path.display().to_string()));
        }
        let engine = Engine { ctx, multilingual: unsafe { sys::whisper_is_multilingual(ctx) } != 0 };
        // a state now, so a model that cannot allocate one fails at load
        engine.new_state()?;
        Ok(engine)
    }

    fn new_state(&self) -> Result<State, EngineError> {
        let state = unsafe { sys::whisper_init_state(self.ctx) };
        if state.is_null() { Err(EngineError::State) } else { Ok(State(state)) }
    }

    /// Run whisper over 16 kHz mono samples.
    pub fn decode(&mut self, samples: &[f32], req: &DecodeRequest) -> Result<Decoded, EngineError> {
        if samples.is_empty() {
            return Err(EngineError::Empty);
        }
        let prompt = CString::new(req.initial_prompt).map_err(|_| EngineError::Nul)?;
        let lang = if self.multilingual { req.language } else { "en" };
        let lang = CString::new(lang).map_err(|_| EngineError::Nul)?;

        let mut fp = unsafe { sys::whisper_full_default_params(sys::whisper_sampling_strategy_WHISPER_SAMPLING_GREEDY) };
        fp.n_threads = req.threads.max(1);
        fp.language = lang.as_ptr();
        fp.print_progress = false;
        fp.print_realtime = false;
        fp.print_special = false;
        fp.print_timestamps = false;

        let mut filter = Filter {
            ctx: self.ctx,
            eot: unsafe { sys::whisper_token_eot(self.ctx) },
            max_tokens: req.max_tokens,
            grammar: None,
            started: Instant::now(),
            first_decode: None,
            max_seen: 0,
            looped: false,
        };
        // whisper-rs's usual `FullParams::new(SamplingStrategy::Greedy { best_of: 1 })`
        fp.greedy.best_of = 1;
        if !req.library_defaults {
            fp.no_context = true;
            fp.no_timestamps = true;
            fp.single_segment = false;
            fp.audio_ctx = req.audio_ctx;
            fp.suppress_blank = true;
            fp.suppress_nst = true;
            fp.temperature = 0.0;
            // Temperature fallback re-decodes a window up to five times with
            // several sampling decoders; for short spoken commands that
            // multiplies latency for little gain, and the token cap already
            // stops runaway output.
            fp.temperature_inc = 0.0;
            // whisper.cpp 1.8.3 reads the no-speech probability from a logits
            // row it never computed whenever the prompt is longer than <|sot|>
            // (always, with no_timestamps); capcom computes it itself below and
            // keeps whisper.cpp's own check from acting on that value.
            fp.no_speech_thold = 2.0;
            if !req.initial_prompt.is_empty() {
                fp.initial_prompt = prompt.as_ptr();
            }
            if let Some((g, table, penalty)) = req.grammar {
                table.apply(&mut fp, penalty);
                filter.grammar = Some(g);
            }
        }
        if let Some(flag) = req.abort {
            fp.abort_callback = Some(should_abort);
            fp.abort_callback_user_data = flag as *const std::sync::atomic::AtomicBool as *mut c_void;
        }
        fp.logits_filter_callback = Some(on_logits);
        fp.logits_filter_callback_user_data = &mut filter as *mut Filter as *mut c_void;

        // a fresh state: whisper.cpp keeps buffers and caches in the state
        // between calls, and with one long-lived state a clip's transcript
        // depended on the clips decoded before it
        let state = self.new_state()?;
        let rc = unsafe { sys::whisper_full_with_state(self.ctx, state.0, fp, samples.as_ptr(), samples.len() as i32) };
        let done = Instant::now();
        if req.abort.is_some_and(|a| a.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(EngineError::Aborted);
        }
        if rc != 0 {
            return Err(EngineError::Failed(rc));
        }
        let n = unsafe { sys::whisper_full_n_segments_from_state(state.0) };
        let mut segments = Vec::with_capacity(n.max(0) as usize);
        for i in 0..n {
            let text = unsafe { sys::whisper_full_get_segment_text_from_state(state.0, i) };
            let text = if text.is_null() { String::new() } else { unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned() };
            let t0 = unsafe { sys::whisper_full_get_segment_t0_from_state(state.0, i) } as f64 / 100.0;
            let t1 = unsafe { sys::whisper_full_get_segment_t1_from_state(state.0, i) } as f64 / 100.0;
            segments.push((t0, t1, text));
        }
        let mut logprob_sum = 0f64;
        let mut n_text = 0usize;
        let eot = filter.eot;
        let mut ids = Vec::new();
        for i in 0..n {
            let nt = unsafe { sys::whisper_full_n_tokens_from_state(state.0, i) };
            for k in 0..nt {
                let td = unsafe { sys::whisper_full_get_token_data_from_state(state.0, i, k) };
                if td.id < eot {
                    ids.push(td.id);
                    if td.plog.is_finite() {
                        logprob_sum += td.plog as f64;
                        n_text += 1;
                    }
                }
            }
        }
        let avg_logprob = if n_text == 0 { 0.0 } else { (logprob_sum / n_text as f64) as f32 };
        // scored before the no-speech step, which reuses the state's decoder cache
        let free_score = match req.grammar {
            Some(_) if !req.library_defaults => self.free_score(&state, &prompt, &lang, &ids, req.threads.max(1)),
            _ => None,
        };
        let no_speech_prob = self.no_speech_prob(&state, req.threads.max(1));
        let first = filter.first_decode.unwrap_or(done);
        Ok(Decoded {
            free_score,
            looped: filter.looped,
            no_speech_prob,
            avg_logprob,
            segments,
            encode_ms: (first - filter.started).as_secs_f64() * 1000.0,
            decode_ms: (done - first).as_secs_f64() * 1000.0,
            text_tokens: filter.max_seen,
        })
    }

    /// P(<|nospeech|>) at the <|startoftranscript|> position over the audio
    /// the last decode encoded (OpenAI's `no_speech_prob`): one decoder step
    /// on [<|sot|>] against the encoder output still in the state. NaN when
    /// it cannot be computed.
    fn no_speech_prob(&self, state: &State, threads: i32) -> f32 {
        let sot = unsafe { sys::whisper_token_sot(self.ctx) };
        let nosp = unsafe { sys::whisper_token_nosp(self.ctx) } as usize;
        match self.step(state, std::slice::from_ref(&sot), 0, threads) {
            Some(logits) if nosp < logits.len() => softmax_at(logits, nosp),
            _ => f32::NAN,
        }
    }

    /// One decoder step: feed `tokens` at positions `n_past..` against the
    /// encoder output in the state, and return the logits after the last of
    /// them (whisper.cpp fills only that row).
    fn step<'s>(&self, state: &'s State, tokens: &[i32], n_past: i32, threads: i32) -> Option<&'s [f32]> {
        if tokens.is_empty() {
            return None;
        }
        let rc = unsafe { sys::whisper_decode_with_state(self.ctx, state.0, tokens.as_ptr(), tokens.len() as i32, n_past, threads) };
        if rc != 0 {
            return None;
        }
        let p = unsafe { sys::whisper_get_logits_from_state(state.0) };
        if p.is_null() {
            return None;
        }
        let n_vocab = unsafe { sys::whisper_n_vocab(self.ctx) } as usize;
        Some(unsafe { std::slice::from_raw_parts(p.add((tokens.len() - 1) * n_vocab), n_vocab) })
    }

    /// How likely the model finds `ids` (a grammar decode's text tokens)
    /// followed by end-of-text, with nothing forcing it: the mean and the
    /// lowest log-probability per token, each read from one decoder step on the
    /// encoder output still in the state, after the prompt whisper.cpp
    /// built for the decode (`whisper_full_with_state` in whisper.cpp 1.8:
    /// <|startofprev|>, the last n_text_ctx/2 − 1 prompt tokens,
    /// <|startoftranscript|>, language and task on multilingual models,
    /// <|notimestamps|>). Probabilities are over the text tokens and
    /// end-of-text, the tokens free decoding may choose.
    ///
    /// A grammar only ranks the phrases it allows, so its own log-probabilities
    /// stay high even when the speech was none of them ("Fix the footer links
    /// on the site." decodes under the commands grammar as "Don't." with a
    /// mean of −0.55); this score is what tells such a decode apart.
    fn free_score(&self, state: &State, prompt: &CString, lang: &CString, ids: &[i32], threads: i32) -> Option<FreeScore> {
        let ctx = self.ctx;
        let eot = unsafe { sys::whisper_token_eot(ctx) };
        let mut prefix = Vec::new();
        if !prompt.as_bytes().is_empty() {
            let mut toks = vec![0i32; 1024];
            let n = unsafe { sys::whisper_tokenize(ctx, prompt.as_ptr(), toks.as_mut_ptr(), toks.len() as i32) };
            if n < 0 {
                return None;
            }
            toks.truncate(n as usize);
            let keep = (unsafe { sys::whisper_n_text_ctx(ctx) } as usize / 2).saturating_sub(1).min(toks.len());
            if keep > 0 {
                prefix.push(unsafe { sys::whisper_token_prev(ctx) });
                prefix.extend_from_slice(&toks[toks.len() - keep..]);
            }
        }
        prefix.push(unsafe { sys::whisper_token_sot(ctx) });
        if self.multilingual {
            // the decode's own language, as whisper.cpp put it in the prompt
            let id = unsafe { sys::whisper_lang_id(lang.as_ptr()) };
            prefix.push(unsafe { sys::whisper_token_lang(ctx, id) });
            prefix.push(unsafe { sys::whisper_token_transcribe(ctx) });
        }
        prefix.push(unsafe { sys::whisper_token_not(ctx) });
        let mut sum = 0f64;
        let mut min = 0f64;
        let mut fed: &[i32] = &prefix;
        let mut n_past = 0;
        for next in ids.iter().chain(std::iter::once(&eot)) {
            let row = self.step(state, fed, n_past, threads)?;
            let text_and_end = row.get(..=eot as usize)?;
            let lp = softmax_at(text_and_end, *next as usize).max(f32::MIN_POSITIVE).ln() as f64;
            sum += lp;
            min = min.min(lp);
            n_past += fed.len() as i32;
            fed = std::slice::from_ref(next);
        }
        Some(FreeScore { mean: (sum / (ids.len() + 1) as f64) as f32, min: min as f32 })
    }

    /// The text of a token id.
    fn token_text(ctx: *mut sys::whisper_context, id: i32) -> Vec<u8> {
        let p = unsafe { sys::whisper_token_to_str(ctx, id) };
        if p.is_null() { Vec::new() } else { unsafe { CStr::from_ptr(p) }.to_bytes().to_vec() }
    }
}

/// Does the token sequence end in a loop: its last k tokens (2 ≤ k ≤ 16)
/// repeat the k before them, or one token three times in a row? Whisper's
/// decoder, once it repeats a phrase, repeats it until the token cap.
pub fn ends_in_a_loop(ids: &[i32]) -> bool {
    let n = ids.len();
    if n >= 3 && ids[n - 1] == ids[n - 2] && ids[n - 2] == ids[n - 3] {
        return true;
    }
    (2..=16usize).any(|k| n >= 2 * k && ids[n - k..] == ids[n - 2 * k..n - k])
}

/// softmax(logits)[i], computed stably.
pub fn softmax_at(logits: &[f32], i: usize) -> f32 {
    let max = logits.iter().cloned().filter(|v| v.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() || i >= logits.len() {
        return f32::NAN;
    }
    let sum: f64 = logits.iter().filter(|v| v.is_finite()).map(|&v| ((v - max) as f64).exp()).sum();
    (((logits[i] - max) as f64).exp() / sum) as f32
}

/// ggml's abort callback: true once the flag is set.
unsafe extern "C" fn should_abort(user: *mut c_void) -> bool {
    if user.is_null() {
        return false;
    }
    unsafe { &*(user as *const std::sync::atomic::AtomicBool) }.load(std::sync::atomic::Ordering::Relaxed)
}

/// State the logits filter keeps across the calls of one decode.
struct Filter<'g> {
    ctx: *mut sys::whisper_context,
    eot: i32,
    max_tokens: usize,
    grammar: Option<&'g Grammar>,
    started: Instant,
    first_decode: Option<Instant>,
    max_seen: usize,
    /// The decoder started repeating itself and was stopped.
    looped: bool,
}

unsafe extern "C" fn on_logits(
    _ctx: *mut sys::whisper_context,
    _state: *mut sys::whisper_state,
    tokens: *const sys::whisper_token_data,
    n_tokens: std::ffi::c_int,
    logits: *mut f32,
    user: *mut c_void,
) {
    // Never unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let f = unsafe { &mut *(user as *mut Filter) };
        f.first_decode.get_or_insert_with(Instant::now);
        let n_vocab = unsafe { sys::whisper_n_vocab(f.ctx) } as usize;
        let logits = unsafe { std::slice::from_raw_parts_mut(logits, n_vocab) };
        let tokens: &[sys::whisper_token_data] =
            if tokens.is_null() || n_tokens <= 0 { &[] } else { unsafe { std::slice::from_raw_parts(tokens, n_tokens as usize) } };
        let text_ids: Vec<i32> = tokens.iter().map(|t| t.id).filter(|&id| id < f.eot).collect();
        f.max_seen = f.max_seen.max(text_ids.len());
        let eot = f.eot as usize;
        let force_end = |logits: &mut [f32]| {
            for (i, l) in logits.iter_mut().enumerate() {
                if i != eot {
                    *l = f32::NEG_INFINITY;
                }
            }
            if !logits[eot].is_finite() {
                logits[eot] = 0.0;
            }
        };
        if !text_ids.is_empty() && text_ids.len() >= f.max_tokens {
            force_end(logits);
            return;
        }
        if ends_in_a_loop(&text_ids) {
            f.looped = true;
            force_end(logits);
            return;
        }
        if let Some(g) = f.grammar {
            let mut bytes = Vec::new();
            for &id in &text_ids {
                bytes.extend_from_slice(&Engine::token_text(f.ctx, id));
            }
            let text = String::from_utf8_lossy(&bytes);
            if g.is_finished(&text) {
                force_end(logits);
            } else if g.is_viable_prefix(&text) && !g.accepts(&text) {
                // still inside a sentence of the grammar: it may not end here
                logits[eot] = f32::NEG_INFINITY;
            }
        }
    }));
}
