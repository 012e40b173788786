//! A generator of random-weight Whisper models in whisper.cpp's legacy ggml
//! format. No real weights can be downloaded where the tests run, so the test
//! suite and the benchmark make their own: a tiny one (64 wide, 1 layer, about
//! 7.5 MB) for tests, and one with base.en's dimensions (512 wide, 6 layers)
//! that costs what base.en costs to run.
//!
//! The vocabulary is English-sized (51864 ids) so whisper.cpp's hard-coded
//! special-token ids hold. Its 50256 text tokens are the printable ASCII
//! characters, a list of English and command words (with and without a
//! leading space) and made-up syllables, so decoded text is readable and
//! every ASCII prompt tokenizes. Matrices and convolutions are f16; biases,
//! norms and positional embeddings are f32; key projections have no bias.

use super::ggml::{self, GgmlType, Hparams, TensorKind};
use std::io::Write;
use std::path::Path;

/// Number of text tokens; id 50256 is end-of-text in English models.
pub const N_TEXT_TOKENS: usize = 50256;
/// English vocabulary size (text + special + timestamp tokens).
pub const N_VOCAB: i32 = 51864;

/// Dimensions of a generated model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestModel {
    pub width: i32,
    pub layers: i32,
    pub seed: u64,
}

impl TestModel {
    /// 64 wide, 1 layer: loads in milliseconds, `full()` on 1 s in about 0.1 s.
    pub fn tiny() -> TestModel {
        TestModel { width: 64, layers: 1, seed: 1 }
    }

    /// base.en's dimensions: 512 wide, 6 encoder and 6 decoder layers, 8 heads.
    pub fn base_sized() -> TestModel {
        TestModel { width: 512, layers: 6, seed: 2 }
    }

    pub fn hparams(&self) -> Hparams {
        let heads = (self.width / 64).max(1);
        Hparams {
            n_vocab: N_VOCAB,
            n_audio_ctx: 1500,
            n_audio_state: self.width,
            n_audio_head: heads,
            n_audio_layer: self.layers,
            n_text_ctx: 448,
            n_text_state: self.width,
            n_text_head: heads,
            n_text_layer: self.layers,
            n_mels: 80,
            ftype: 1,
        }
    }

    /// Write the model to `path` (through a temporary file, then renamed).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("partial");
        {
            let f = std::fs::File::create(&tmp)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            self.write_to(&mut w)?;
            w.flush()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v).expect("writing to a Vec cannot fail");
        v
    }

    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let h = self.hparams();
        w.write_all(&ggml::MAGIC.to_le_bytes())?;
        for v in h.to_array() {
            w.write_all(&v.to_le_bytes())?;
        }
        // mel filters: 80 x 201 triangular filters over the 16 kHz FFT bins
        w.write_all(&80i32.to_le_bytes())?;
        w.write_all(&201i32.to_le_bytes())?;
        for v in mel_filters(80, 201) {
            w.write_all(&v.to_le_bytes())?;
        }
        let vocab = vocabulary();
        w.write_all(&(vocab.len() as i32).to_le_bytes())?;
        for tok in &vocab {
            w.write_all(&(tok.len() as u32).to_le_bytes())?;
            w.write_all(tok.as_bytes())?;
        }
        let mut rng = Rng(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let wtype = GgmlType::F16;
        for spec in ggml::expected_tensors(&h) {
            let ty = spec.kind.ggml_type(wtype);
            w.write_all(&(spec.ne.len() as i32).to_le_bytes())?;
            w.write_all(&(spec.name.len() as i32).to_le_bytes())?;
            w.write_all(&ty.id().to_le_bytes())?;
            for &n in &spec.ne {
                w.write_all(&(n as i32).to_le_bytes())?;
            }
            w.write_all(spec.name.as_bytes())?;
            let n: usize = spec.ne.iter().map(|&x| x as usize).product();
            let fill = Fill::for_tensor(&spec.name, spec.kind, &spec.ne);
            let mut buf = Vec::with_capacity(n * 4);
            for i in 0..n {
                let v = fill.value(i, spec.ne[0] as usize, &mut rng);
                match ty {
                    GgmlType::F16 => buf.extend_from_slice(&f32_to_f16(v).to_le_bytes()),
                    _ => buf.extend_from_slice(&v.to_le_bytes()),
                }
            }
            w.write_all(&buf)?;
        }
        Ok(())
    }
}

/// How a tensor's values are drawn.
enum Fill {
    Const(f32),
    /// Uniform in [-a, a].
    Uniform(f32),
    /// Token embedding rows: text tokens (and end-of-text) random, every
    /// special and timestamp row zero, so text tokens usually win the
    /// comparison with the summed timestamp probabilities and decoded output
    /// is text.
    Embedding(f32),
}

impl Fill {
    fn for_tensor(name: &str, kind: TensorKind, ne: &[i64]) -> Fill {
        if name.ends_with("ln.weight") || name.ends_with("ln_post.weight") || name.contains("_ln.weight") {
            return Fill::Const(1.0);
        }
        if name == "decoder.token_embedding.weight" {
            // logits = ln(x) . e: with unit-variance x a std of 3/sqrt(S) gives logits of std ~3.
            let s = ne[0] as f32;
            return Fill::Embedding(3.0 * 3f32.sqrt() / s.sqrt());
        }
        if name.ends_with("positional_embedding") {
            return Fill::Uniform(0.1);
        }
        match kind {
            TensorKind::F32 => Fill::Uniform(0.02),
            TensorKind::Weight | TensorKind::Conv => {
                let fan_in: i64 = if kind == TensorKind::Conv { ne[0] * ne[1] } else { ne[0] };
                // uniform [-a, a] has std a/sqrt(3); aim for std 1/sqrt(fan_in)
                Fill::Uniform(3f32.sqrt() / (fan_in as f32).sqrt())
            }
        }
    }

    fn value(&self, i: usize, ne0: usize, rng: &mut Rng) -> f32 {
        match *self {
            Fill::Const(c) => c,
            Fill::Uniform(a) => rng.uniform() * a,
            Fill::Embedding(a) => {
                let row = i / ne0;
                if row <= N_TEXT_TOKENS { rng.uniform() * a } else { 0.0 }
            }
        }
    }
}

/// xorshift64*: fast, deterministic, good enough for random weights.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// IEEE 754 binary32 → binary16, round to nearest even; overflow becomes infinity.
pub fn f32_to_f16(v: f32) -> u16 {
    let x = v.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let man = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1 << shift) - 1);
        let mut r = m >> shift;
        if rest > half || (rest == half && r & 1 == 1) {
            r += 1;
        }
        return sign | r as u16;
    }
    let mut r = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && r & 1 == 1) {
        r += 1;
    }
    sign | r as u16
}

/// Triangular filters on the mel scale over `n_fft` bins of a 16 kHz spectrum.
fn mel_filters(n_mel: usize, n_fft: usize) -> Vec<f32> {
    let mel = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
    let hz = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
    let (lo, hi) = (mel(0.0), mel(8000.0));
    let points: Vec<f32> = (0..n_mel + 2).map(|i| hz(lo + (hi - lo) * i as f32 / (n_mel + 1) as f32)).collect();
    let bin_hz = 8000.0 / (n_fft - 1) as f32;
    let mut out = vec![0f32; n_mel * n_fft];
    for m in 0..n_mel {
        let (a, b, c) = (points[m], points[m + 1], points[m + 2]);
        for k in 0..n_fft {
            let f = k as f32 * bin_hz;
            let v = if f >= a && f <= b { (f - a) / (b - a) } else if f > b && f <= c { (c - f) / (c - b) } else { 0.0 };
            out[m * n_fft + k] = v * 2.0 / (c - a);
        }
    }
    out
}

/// English words the vocabulary holds whole, so prompts and grammars about
/// capcom's commands tokenize into words rather than letters.
const WORDS: &[&str] = &[
    "the", "a", "an", "and", "or", "to", "of", "in", "on", "for", "with", "is", "it", "that", "this", "what", "what's",
    "whats", "which", "who", "how", "is", "are", "was", "be", "do", "does", "done", "did", "not", "no", "yes", "yeah",
    "yep", "nope", "ok", "okay", "sure", "please", "thanks", "thank", "you", "me", "my", "all", "any", "status",
    "finished", "running", "failed", "ready", "merge", "merged", "confirm", "confirmed", "cancel", "cancelled", "stop",
    "abort", "task", "tasks", "number", "changelog", "change", "log", "repeat", "again", "say", "help", "read", "play",
    "tell", "give", "show", "update", "upgrade", "bump", "fix", "add", "remove", "build", "test", "tests", "lint",
    "check", "checks", "passes", "pass", "green", "red", "branch", "repo", "agent", "agents", "copilot", "jules",
    "cursor", "codex", "claude", "tailwind", "react", "query", "next", "components", "directory", "only", "leave",
    "routes", "untouched", "acceptance", "criteria", "latest", "stable", "version", "packages", "breaking", "changes",
    "today", "since", "yesterday", "hours", "last", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "hundred", "first", "second", "third", "it's", "that's",
];

/// The 50256 text tokens, in id order. Deterministic.
pub fn vocabulary() -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(N_TEXT_TOKENS);
    let mut push = |s: String, out: &mut Vec<String>| {
        if out.len() < N_TEXT_TOKENS && seen.insert(s.clone()) {
            out.push(s);
        }
    };
    for b in 0x20u8..0x7f {
        push((b as char).to_string(), &mut out);
    }
    for b in 0x21u8..0x7f {
        push(format!(" {}", b as char), &mut out);
    }
    for n in 0..=100 {
        push(format!(" {n}"), &mut out);
        push(n.to_string(), &mut out);
    }
    for w in WORDS {
        let mut cap = w.to_string();
        if let Some(f) = cap.get_mut(0..1) {
            f.make_ascii_uppercase();
        }
        push(format!(" {w}"), &mut out);
        push(w.to_string(), &mut out);
        push(format!(" {cap}"), &mut out);
        push(cap, &mut out);
    }
    for p in ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "  ", "   ", "\n", ". ", ", ", "?", "!"] {
        push(p.to_string(), &mut out);
    }
    let cons = "bdfgklmnprstvz".as_bytes();
    let vows = "aeiou".as_bytes();
    let syl: Vec<String> =
        cons.iter().flat_map(|c| vows.iter().map(move |v| format!("{}{}", *c as char, *v as char))).collect();
    'fill: for n in 2..=4 {
        let total = syl.len().pow(n as u32);
        for i in 0..total {
            let mut s = String::new();
            let mut k = i;
            for _ in 0..n {
                s.push_str(&syl[k % syl.len()]);
                k /= syl.len();
            }
            push(format!(" {s}"), &mut out);
            push(s, &mut out);
            if out.len() >= N_TEXT_TOKENS {
                break 'fill;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f32_to_f16(0.0), 0x0000);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(0.5), 0x3800);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(1e6), 0x7c00);
        assert_eq!(f32_to_f16(5.960_464_5e-8), 0x0001); // smallest subnormal
        assert_eq!(f32_to_f16(0.333_333_34), 0x3555);
    }

    #[test]
    fn vocabulary_is_full_unique_and_has_the_space_token() {
        let v = vocabulary();
        assert_eq!(v.len(), N_TEXT_TOKENS);
        let set: std::collections::HashSet<_> = v.iter().collect();
        assert_eq!(set.len(), v.len());
        assert_eq!(v[0], " ");
        assert!(v.contains(&" merge".to_string()));
        assert!(v.iter().all(|t| t.is_ascii()));
    }

    #[test]
    fn tiny_model_has_the_documented_size_and_layout() {
        let bytes = TestModel::tiny().to_bytes();
        assert!(bytes.len() > 6_500_000 && bytes.len() < 8_500_000, "{}", bytes.len());
        assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), ggml::MAGIC);
        let n_vocab = i32::from_le_bytes(bytes[4..8].try_into().unwrap());
        assert_eq!(n_vocab, 51864);
        let ftype = i32::from_le_bytes(bytes[44..48].try_into().unwrap());
        assert_eq!(ftype, 1);
        // generation is deterministic
        assert_eq!(bytes, TestModel::tiny().to_bytes());
    }
}
