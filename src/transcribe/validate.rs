//! Check a model file before whisper.cpp sees it.
//!
//! A ggml assert ends the whole process and cannot be caught, and several
//! malformed files reach one (an all-f32 model aborts in im2col; a vocabulary
//! without the " " token throws; a huge length field aborts on allocation).
//! So the file is walked here first: magic, hyper-parameters, mel filters,
//! vocabulary, then every tensor header against the list `whisper_model_load`
//! expects, with the byte count each one must have. Only a file that passes
//! is handed to whisper.cpp.

use super::ggml::{self, GgmlType, Hparams, TensorSpec};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// What was found wrong with a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing,
    Unreadable(String),
    WrongMagic(u32),
    Truncated { at: String, needed: u64, left: u64 },
    BadHparams(String),
    F32Weights,
    UnsupportedType(String),
    Corrupt(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => write!(f, "the file does not exist"),
            Problem::Unreadable(e) => write!(f, "cannot read it: {e}"),
            Problem::WrongMagic(m) => write!(
                f,
                "not a whisper.cpp ggml model (magic {m:#010x}, expected {:#010x}; GGUF and PyTorch files are not supported)",
                ggml::MAGIC
            ),
            Problem::Truncated { at, needed, left } => {
                write!(f, "the file is truncated: {at} needs {needed} bytes but only {left} remain (an interrupted download?)")
            }
            Problem::BadHparams(m) => write!(f, "implausible model header: {m}"),
            Problem::F32Weights => write!(
                f,
                "its weights are f32; whisper.cpp needs f16 or quantized weights (an all-f32 model aborts the process)"
            ),
            Problem::UnsupportedType(m) => write!(f, "unsupported weight type: {m}"),
            Problem::Corrupt(m) => write!(f, "the file is corrupt: {m}"),
        }
    }
}

/// A model file that cannot be used, with what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("speech model {}: {problem} — fix: {fix}", path.display())]
pub struct ModelError {
    pub path: PathBuf,
    pub problem: Problem,
    pub fix: String,
}

/// What a valid model file holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub hparams: Hparams,
    /// "f16", "q5_0", "q8_0", ...
    pub weights: &'static str,
    /// "tiny", "base", "small", "medium", "large" or "custom"
    pub size_class: &'static str,
    pub multilingual: bool,
    pub file_bytes: u64,
    pub tensors: usize,
}

/// What to do about a bad file; `fetch_name` names the manifest entry.
pub fn fetch_fix(fetch_name: Option<&str>, problem: &Problem) -> String {
    match fetch_name {
        Some(n) if *problem == Problem::Missing => format!("download it with `capcom models fetch {n}`"),
        Some(n) => format!("download it again with `capcom models fetch {n}`"),
        None => "point [voice] model at a whisper.cpp ggml file, or run `capcom models list` and `capcom models fetch NAME`"
            .to_string(),
    }
}

/// Validate the model at `path`. `fetch_name` is the manifest name it came from, if any.
pub fn validate(path: &Path, fetch_name: Option<&str>) -> Result<ModelInfo, ModelError> {
    let err = |problem: Problem| ModelError { path: path.to_path_buf(), fix: fetch_fix(fetch_name, &problem), problem };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(err(Problem::Missing)),
        Err(e) => return Err(err(Problem::Unreadable(e.to_string()))),
    };
    let meta = file.metadata().map_err(|e| err(Problem::Unreadable(e.to_string())))?;
    if !meta.is_file() {
        return Err(err(Problem::Unreadable("not a regular file".into())));
    }
    let mut r = Reader { inner: BufReader::with_capacity(1 << 16, file), pos: 0, len: meta.len() };
    walk(&mut r, path).map_err(err)
}

struct Reader {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Reader {
    fn left(&self) -> u64 {
        self.len - self.pos
    }
    fn need(&self, n: u64, at: impl FnOnce() -> String) -> Result<(), Problem> {
        if n > self.left() {
            return Err(Problem::Truncated { at: at(), needed: n, left: self.left() });
        }
        Ok(())
    }
    fn bytes(&mut self, n: usize, at: impl FnOnce() -> String) -> Result<Vec<u8>, Problem> {
        self.need(n as u64, at)?;
        let mut v = vec![0u8; n];
        self.inner.read_exact(&mut v).map_err(|e| Problem::Unreadable(e.to_string()))?;
        self.pos += n as u64;
        Ok(v)
    }
    fn u32(&mut self, at: impl FnOnce() -> String) -> Result<u32, Problem> {
        let b = self.bytes(4, at)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self, at: impl FnOnce() -> String) -> Result<i32, Problem> {
        Ok(self.u32(at)? as i32)
    }
    fn skip(&mut self, n: u64, at: impl FnOnce() -> String) -> Result<(), Problem> {
        self.need(n, at)?;
        self.inner.seek_relative(n as i64).map_err(|e| Problem::Unreadable(e.to_string()))?;
        self.pos += n;
        Ok(())
    }
}

fn walk(r: &mut Reader, path: &Path) -> Result<ModelInfo, Problem> {
    let magic = r.u32(|| "the magic number".into())?;
    if magic != ggml::MAGIC {
        return Err(Problem::WrongMagic(magic));
    }
    let mut a = [0i32; 11];
    for v in a.iter_mut() {
        *v = r.i32(|| "the header".into())?;
    }
    let h = Hparams::from_array(a);
    check_hparams(&h)?;
    let wtype = match GgmlType::from_ftype(h.base_ftype()) {
        Some(GgmlType::F32) => return Err(Problem::F32Weights),
        Some(t) => t,
        None => return Err(Problem::UnsupportedType(format!("ftype {}", h.ftype))),
    };

    // mel filters
    let n_mel = r.i32(|| "the mel filter header".into())?;
    let n_fft = r.i32(|| "the mel filter header".into())?;
    if !(1..=512).contains(&n_mel) || !(1..=4096).contains(&n_fft) {
        return Err(Problem::Corrupt(format!("mel filter bank of {n_mel} x {n_fft}")));
    }
    r.skip(n_mel as u64 * n_fft as u64 * 4, || "the mel filters".into())?;

    // vocabulary
    let n_tokens = r.i32(|| "the vocabulary size".into())?;
    if n_tokens < 0 || n_tokens > h.n_vocab {
        return Err(Problem::Corrupt(format!("{n_tokens} vocabulary entries for n_vocab {}", h.n_vocab)));
    }
    let mut has_space = false;
    for i in 0..n_tokens {
        let len = r.u32(|| format!("vocabulary entry {i}"))?;
        if len > 1024 {
            return Err(Problem::Corrupt(format!("vocabulary entry {i} claims {len} bytes")));
        }
        if len == 1 {
            has_space |= r.bytes(1, || format!("vocabulary entry {i}"))?[0] == b' ';
        } else {
            r.skip(len as u64, || format!("vocabulary entry {i}"))?;
        }
    }
    if !has_space {
        return Err(Problem::Corrupt("the vocabulary has no \" \" token (whisper.cpp would abort)".into()));
    }

    // tensors
    let expected: HashMap<String, TensorSpec> =
        ggml::expected_tensors(&h).into_iter().map(|s| (s.name.clone(), s)).collect();
    let mut seen = std::collections::HashSet::new();
    while r.left() > 0 {
        let idx = seen.len();
        let at = || format!("tensor header #{idx}");
        let n_dims = r.i32(at)?;
        let name_len = r.i32(at)?;
        let ttype = r.i32(at)?;
        if !(1..=4).contains(&n_dims) {
            return Err(Problem::Corrupt(format!("tensor #{idx} has {n_dims} dimensions")));
        }
        if !(1..=256).contains(&name_len) {
            return Err(Problem::Corrupt(format!("tensor #{idx} has a name of {name_len} bytes")));
        }
        let mut ne = [1i64; 4];
        for d in ne.iter_mut().take(n_dims as usize) {
            *d = r.i32(at)? as i64;
            if *d <= 0 {
                return Err(Problem::Corrupt(format!("tensor #{idx} has a dimension of {d}")));
            }
        }
        let name_bytes = r.bytes(name_len as usize, at)?;
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        let Some(spec) = expected.get(&name) else {
            return Err(Problem::Corrupt(format!("unexpected tensor `{name}` for this model's dimensions")));
        };
        if !seen.insert(name.clone()) {
            return Err(Problem::Corrupt(format!("tensor `{name}` appears twice")));
        }
        let mut want = [1i64; 4];
        want[..spec.ne.len()].copy_from_slice(&spec.ne);
        if ne != want {
            return Err(Problem::Corrupt(format!(
                "tensor `{name}` has shape {:?}, expected {:?}",
                &ne[..n_dims as usize],
                spec.ne
            )));
        }
        let want_type = spec.kind.ggml_type(wtype);
        let Some(file_type) = GgmlType::from_id(ttype) else {
            return Err(Problem::UnsupportedType(format!("tensor `{name}` has ggml type {ttype}")));
        };
        if file_type != want_type {
            if spec.kind != ggml::TensorKind::F32 && file_type == GgmlType::F32 {
                return Err(Problem::F32Weights);
            }
            return Err(Problem::Corrupt(format!(
                "tensor `{name}` is {}, expected {} for a {} model",
                file_type.name(),
                want_type.name(),
                wtype.name()
            )));
        }
        let Some(nbytes) = want_type.nbytes(&spec.ne) else {
            return Err(Problem::Corrupt(format!("tensor `{name}` is not a whole number of {} blocks", want_type.name())));
        };
        r.skip(nbytes, || format!("the data of tensor `{name}`"))?;
    }
    if seen.len() != expected.len() {
        let mut missing: Vec<&String> = expected.keys().filter(|k| !seen.contains(*k)).collect();
        missing.sort();
        let first = missing.first().map(|s| s.as_str()).unwrap_or("?");
        return Err(Problem::Truncated {
            at: format!("{} more tensors (first missing: `{first}`)", missing.len()),
            needed: 1,
            left: 0,
        });
    }
    Ok(ModelInfo {
        path: path.to_path_buf(),
        hparams: h,
        weights: wtype.name(),
        size_class: size_class(&h),
        multilingual: h.n_vocab >= 51865,
        file_bytes: r.len,
        tensors: seen.len(),
    })
}

/// "tiny", "base", "small", "medium", "large" or "custom", from the encoder's shape.
pub fn size_class(h: &Hparams) -> &'static str {
    match (h.n_audio_layer, h.n_audio_state) {
        (4, 384) => "tiny",
        (6, 512) => "base",
        (12, 768) => "small",
        (24, 1024) => "medium",
        (32, 1280) => "large",
        _ => "custom",
    }
}

fn check_hparams(h: &Hparams) -> Result<(), Problem> {
    let bad = |m: String| Err(Problem::BadHparams(m));
    if !(51864..=51866).contains(&h.n_vocab) {
        return bad(format!("n_vocab {} (Whisper models have 51864 to 51866)", h.n_vocab));
    }
    if h.n_audio_ctx != 1500 {
        return bad(format!("n_audio_ctx {} (Whisper's encoder window is 1500)", h.n_audio_ctx));
    }
    if h.n_text_ctx != 448 {
        return bad(format!("n_text_ctx {} (Whisper's decoder context is 448)", h.n_text_ctx));
    }
    if h.n_audio_state != h.n_text_state {
        return bad(format!("encoder width {} differs from decoder width {}", h.n_audio_state, h.n_text_state));
    }
    for (what, state, heads, layers) in [
        ("encoder", h.n_audio_state, h.n_audio_head, h.n_audio_layer),
        ("decoder", h.n_text_state, h.n_text_head, h.n_text_layer),
    ] {
        if !(32..=4096).contains(&state) || state % 32 != 0 {
            return bad(format!("{what} width {state}"));
        }
        if heads < 1 || state % heads != 0 {
            return bad(format!("{what} has {heads} heads for width {state}"));
        }
        if !(1..=64).contains(&layers) {
            return bad(format!("{what} has {layers} layers"));
        }
    }
    if h.n_mels != 80 && h.n_mels != 128 {
        return bad(format!("n_mels {} (80 or 128)", h.n_mels));
    }
    if h.ftype < 0 {
        return bad(format!("ftype {}", h.ftype));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::testmodel::TestModel;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn generated_model_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = TestModel::tiny().to_bytes();
        let p = write(dir.path(), "ok.bin", &bytes);
        let info = validate(&p, None).unwrap();
        assert_eq!(info.weights, "f16");
        assert_eq!(info.tensors, 7 + 4 + 15 + 24);
        assert_eq!(info.file_bytes, bytes.len() as u64);
        assert!(!info.multilingual);
    }

    #[test]
    fn missing_file_points_to_fetch() {
        let e = validate(Path::new("/nonexistent/ggml-base.en.bin"), Some("base.en")).unwrap_err();
        assert_eq!(e.problem, Problem::Missing);
        assert!(e.to_string().contains("capcom models fetch base.en"), "{e}");
    }

    #[test]
    fn truncated_files_are_caught_at_every_cut() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = TestModel::tiny().to_bytes();
        // cut in the header, the filters, the vocabulary, a tensor header and tensor data
        for cut in [2usize, 30, 1000, 300_000, bytes.len() / 2, bytes.len() - 1] {
            let p = write(dir.path(), "cut.bin", &bytes[..cut]);
            let e = validate(&p, Some("tiny.en")).unwrap_err();
            assert!(matches!(e.problem, Problem::Truncated { .. }), "cut {cut}: {e}");
            assert!(e.to_string().contains("truncated"), "{e}");
        }
    }

    #[test]
    fn wrong_magic_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = TestModel::tiny().to_bytes();
        bytes[0..4].copy_from_slice(b"GGUF");
        let p = write(dir.path(), "gguf.bin", &bytes);
        let e = validate(&p, None).unwrap_err();
        assert!(matches!(e.problem, Problem::WrongMagic(_)), "{e}");
        let p = write(dir.path(), "html.bin", b"<!DOCTYPE html><html>404</html>");
        assert!(matches!(validate(&p, None).unwrap_err().problem, Problem::WrongMagic(_)));
    }

    #[test]
    fn f32_weights_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = TestModel::tiny().to_bytes();
        bytes[44..48].copy_from_slice(&0i32.to_le_bytes()); // ftype = all f32
        let p = write(dir.path(), "f32.bin", &bytes);
        assert_eq!(validate(&p, None).unwrap_err().problem, Problem::F32Weights);
    }

    #[test]
    fn a_tensor_of_the_wrong_type_is_refused() {
        // an f16 header whose first matrix is stored as f32
        let dir = tempfile::tempdir().unwrap();
        let h = TestModel::tiny().hparams();
        let mut bytes = TestModel::tiny().to_bytes();
        let specs = ggml::expected_tensors(&h);
        let conv = &specs[1];
        assert_eq!(conv.name, "encoder.conv1.weight");
        let at = find(&bytes, conv.name.as_bytes()) - 12 - 4 * conv.ne.len();
        bytes[at + 8..at + 12].copy_from_slice(&0i32.to_le_bytes());
        let p = write(dir.path(), "mixed.bin", &bytes);
        assert_eq!(validate(&p, None).unwrap_err().problem, Problem::F32Weights);
    }

    #[test]
    fn implausible_header_and_trailing_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = TestModel::tiny().to_bytes();
        bytes[24..28].copy_from_slice(&1000i32.to_le_bytes()); // text width != audio width
        let p = write(dir.path(), "h.bin", &bytes);
        assert!(matches!(validate(&p, None).unwrap_err().problem, Problem::BadHparams(_)));

        let mut bytes = TestModel::tiny().to_bytes();
        bytes.extend_from_slice(&[0xff; 40]);
        let p = write(dir.path(), "t.bin", &bytes);
        assert!(matches!(validate(&p, None).unwrap_err().problem, Problem::Corrupt(_)));
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).position(|w| w == needle).unwrap()
    }
}
