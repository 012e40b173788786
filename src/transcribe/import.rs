//! `capcom models import DIR`: turn a CTranslate2 Whisper model (the format
//! faster-whisper uses: `model.bin`, `config.json`, and `vocabulary.txt`,
//! `vocabulary.json` or `tokenizer.json`) into a whisper.cpp ggml file.
//!
//! * `model.bin` (CTranslate2's `model_spec.py` serializer): u32 binary
//!   version, the spec name and revision, then per variable a name, rank,
//!   u32 dims, a dtype id (float32, int8, int16, int32, float16, bfloat16)
//!   and the raw bytes; then aliases (name → variable).
//! * The Whisper spec (`whisper_spec.py`, filled by the converters) fuses
//!   self-attention's Q, K and V into `linear_0` (rows in that order) and
//!   cross-attention's K and V into `linear_1` (Q is `linear_0`). Whisper's
//!   key projections have no bias (CTranslate2 stores zeros there; a key bias
//!   shifts every score of a query equally, so softmax ignores it anyway).
//! * whisper.cpp's file (`models/convert-pt-to-ggml.py`) needs the 80 (or
//!   128) Slaney mel filters over 201 FFT bins, which are computed here the
//!   way librosa does, and each text token as raw bytes: the vocabulary is
//!   GPT-2 byte-level BPE, so each token string is mapped back through the
//!   byte decoder.
//!
//! The result is written beside its final name, checked with [`validate`],
//! and only then renamed into place.

use super::ggml::{self, GgmlType, Hparams, TensorKind};
use super::testmodel::f32_to_f16;
use super::validate::{ModelInfo, validate};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// ggml's quantization format version, added ×1000 to a quantized file's ftype.
pub const GGML_QNT_VERSION: i32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(
        "{0} holds no model.bin: give the directory of a CTranslate2 Whisper model (faster-whisper's format: model.bin, config.json, vocabulary.txt or tokenizer.json)"
    )]
    NoModel(PathBuf),
    #[error("{0} is not a CTranslate2 model this version reads: {1}")]
    Format(PathBuf, String),
    #[error("{0} is a CTranslate2 `{1}` model, not a Whisper model")]
    NotWhisper(PathBuf, String),
    #[error("the model lacks `{0}` (is it a complete Whisper model?)")]
    MissingVariable(String),
    #[error("`{name}` has shape {shape:?}, expected {expected}")]
    Shape { name: String, shape: Vec<usize>, expected: String },
    #[error("`{0}` has an unsupported data type ({1})")]
    DataType(String, String),
    #[error("vocabulary: {0}")]
    Vocabulary(String),
    #[error("the converted file failed validation: {0}")]
    Invalid(String),
}

/// One variable of a CTranslate2 model.bin.
#[derive(Debug, Clone)]
struct Var {
    shape: Vec<usize>,
    dtype: u8,
    offset: u64,
    nbytes: u64,
}

const DT_F32: u8 = 0;
const DT_I8: u8 = 1;
const DT_I16: u8 = 2;
const DT_I32: u8 = 3;
const DT_F16: u8 = 4;
const DT_BF16: u8 = 5;

fn dtype_name(d: u8) -> &'static str {
    match d {
        DT_F32 => "float32",
        DT_I8 => "int8",
        DT_I16 => "int16",
        DT_I32 => "int32",
        DT_F16 => "float16",
        DT_BF16 => "bfloat16",
        _ => "unknown",
    }
}

fn item_size(d: u8) -> Option<u64> {
    Some(match d {
        DT_F32 | DT_I32 => 4,
        DT_I8 => 1,
        DT_I16 | DT_F16 | DT_BF16 => 2,
        _ => return None,
    })
}

/// An opened CTranslate2 model.bin: the variable index; data is read on demand.
pub struct Ct2Model {
    path: PathBuf,
    file: BufReader<File>,
    pub spec: String,
    pub revision: u32,
    vars: HashMap<String, Var>,
}

/// Reads model.bin's header with bounds checks.
struct Cursor {
    r: BufReader<File>,
    pos: u64,
    len: u64,
    path: PathBuf,
}

impl Cursor {
    fn fmt(&self, m: String) -> ImportError {
        ImportError::Format(self.path.clone(), m)
    }
    fn take(&mut self, n: u64, what: &str) -> Result<Vec<u8>, ImportError> {
        if n > self.len - self.pos {
            return Err(self.fmt(format!("truncated at {what} (needs {n} bytes, {} left)", self.len - self.pos)));
        }
        let mut b = vec![0u8; n as usize];
        self.r.read_exact(&mut b).map_err(|e| ImportError::Io(self.path.clone(), e))?;
        self.pos += n;
        Ok(b)
    }
    fn u32(&mut self, what: &str) -> Result<u32, ImportError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self, what: &str) -> Result<String, ImportError> {
        let n = self.take(2, what)?;
        let n = u16::from_le_bytes([n[0], n[1]]) as u64;
        if n == 0 {
            return Err(self.fmt(format!("empty string at {what}")));
        }
        let b = self.take(n, what)?;
        String::from_utf8(b[..b.len() - 1].to_vec()).map_err(|_| self.fmt(format!("{what} is not UTF-8")))
    }
    fn skip(&mut self, n: u64, what: &str) -> Result<(), ImportError> {
        if n > self.len - self.pos {
            return Err(self.fmt(format!("truncated in {what} (needs {n} bytes, {} left)", self.len - self.pos)));
        }
        self.r.seek_relative(n as i64).map_err(|e| ImportError::Io(self.path.clone(), e))?;
        self.pos += n;
        Ok(())
    }
}

impl Ct2Model {
    pub fn open(path: &Path) -> Result<Ct2Model, ImportError> {
        let io = |e| ImportError::Io(path.to_path_buf(), e);
        let f = File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let mut c = Cursor { r: BufReader::with_capacity(1 << 16, f), pos: 0, len, path: path.to_path_buf() };
        let version = c.u32("the version")?;
        if !(4..=6).contains(&version) {
            return Err(c.fmt(format!("binary version {version} (versions 4 to 6 are supported)")));
        }
        let spec = c.string("the spec name")?;
        let revision = c.u32("the revision")?;
        let count = c.u32("the variable count")?;
        let mut vars = HashMap::new();
        for i in 0..count {
            let name = c.string(&format!("variable {i}'s name"))?;
            let rank = c.take(1, &name)?[0] as u64;
            let dims = c.take(4 * rank, &name)?;
            let shape: Vec<usize> =
                dims.chunks(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
            let dtype = c.take(1, &name)?[0];
            let nbytes = c.u32(&name)? as u64;
            let Some(item) = item_size(dtype) else {
                return Err(c.fmt(format!("`{name}` has unknown data type id {dtype}")));
            };
            let elems: u64 = shape.iter().map(|&d| d as u64).product();
            if elems.checked_mul(item) != Some(nbytes) {
                return Err(c.fmt(format!("`{name}`: {nbytes} bytes for shape {shape:?} of {}", dtype_name(dtype))));
            }
            let offset = c.pos;
            c.skip(nbytes, &format!("`{name}`"))?;
            vars.insert(name, Var { shape, dtype, offset, nbytes });
        }
        let mut aliases = Vec::new();
        if c.pos + 4 <= c.len {
            let n = c.u32("the alias count")?;
            for _ in 0..n {
                let a = c.string("an alias")?;
                let v = c.string("an alias target")?;
                aliases.push((a, v));
            }
        }
        for (a, v) in aliases {
            if let Some(var) = vars.get(&v).cloned() {
                vars.entry(a).or_insert(var);
            }
        }
        Ok(Ct2Model { path: path.to_path_buf(), file: c.r, spec, revision, vars })
    }

    fn var(&self, name: &str) -> Result<&Var, ImportError> {
        self.vars.get(name).ok_or_else(|| ImportError::MissingVariable(name.to_string()))
    }

    fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>, ImportError> {
        Ok(self.var(name)?.shape.clone())
    }

    fn bytes(&mut self, name: &str) -> Result<(Var, Vec<u8>), ImportError> {
        let v = self.var(name)?.clone();
        let io = |e| ImportError::Io(self.path.clone(), e);
        self.file.seek(SeekFrom::Start(v.offset)).map_err(io)?;
        let mut b = vec![0u8; v.nbytes as usize];
        self.file.read_exact(&mut b).map_err(|e| ImportError::Io(self.path.clone(), e))?;
        Ok((v, b))
    }

    /// A scalar integer attribute (such as `encoder/num_heads`).
    fn int(&mut self, name: &str) -> Result<i64, ImportError> {
        let (v, b) = self.bytes(name)?;
        Ok(match (v.dtype, b.len()) {
            (DT_I8, 1) => b[0] as i8 as i64,
            (DT_I16, 2) => i16::from_le_bytes([b[0], b[1]]) as i64,
            (DT_I32, 4) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => return Err(ImportError::DataType(name.into(), format!("{} scalar expected", dtype_name(v.dtype)))),
        })
    }

    /// Rows `rows` (of the first dimension) of a variable, as f16 bits and as f32.
    /// int8 weights are dequantized with their `_scale` (one per row).
    fn rows(&mut self, name: &str, rows: std::ops::Range<usize>) -> Result<Values, ImportError> {
        let (v, b) = self.bytes(name)?;
        let n0 = *v.shape.first().unwrap_or(&1);
        let row: usize = v.shape.iter().skip(1).product::<usize>().max(1);
        if rows.end > n0.max(1) {
            return Err(ImportError::Shape {
                name: name.into(),
                shape: v.shape.clone(),
                expected: format!("at least {} rows", rows.end),
            });
        }
        let (a, z) = (rows.start * row, rows.end * row);
        Ok(match v.dtype {
            DT_F16 => Values::F16(b[a * 2..z * 2].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
            DT_F32 => Values::F32(b[a * 4..z * 4].chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            DT_BF16 => Values::F32(
                b[a * 2..z * 2].chunks(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect(),
            ),
            DT_I8 => {
                let scale_name = format!("{name}_scale");
                let scales = self.rows(&scale_name, rows.clone()).map_err(|e| match e {
                    ImportError::MissingVariable(_) => ImportError::DataType(
                        name.into(),
                        "int8 without a scale (re-convert the model with --quantization float16)".into(),
                    ),
                    e => e,
                })?;
                let scales = scales.to_f32();
                if scales.len() != rows.len() {
                    return Err(ImportError::DataType(name.into(), "int8 with a per-tensor scale".into()));
                }
                let mut out = Vec::with_capacity(z - a);
                for (r, chunk) in b[a..z].chunks(row).enumerate() {
                    let s = scales[r];
                    out.extend(chunk.iter().map(|&q| if s != 0.0 { q as i8 as f32 / s } else { 0.0 }));
                }
                Values::F32(out)
            }
            d => return Err(ImportError::DataType(name.into(), dtype_name(d).into())),
        })
    }
}

/// Tensor data in the source's precision.
enum Values {
    F16(Vec<u16>),
    F32(Vec<f32>),
}

impl Values {
    fn to_f32(&self) -> Vec<f32> {
        match self {
            Values::F16(v) => v.iter().map(|&h| f16_to_f32(h)).collect(),
            Values::F32(v) => v.clone(),
        }
    }
    fn to_f16(&self) -> Vec<u16> {
        match self {
            Values::F16(v) => v.clone(),
            Values::F32(v) => v.iter().map(|&x| f32_to_f16(x)).collect(),
        }
    }
    fn len(&self) -> usize {
        match self {
            Values::F16(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }
}

/// IEEE 754 binary16 → binary32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: normalize
            let mut e: i32 = -14;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (((e + 127) as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// ggml's q8_0 (`quantize_row_q8_0_ref`): blocks of 32 values as an f16 scale
/// (max |x| / 127) and 32 signed bytes.
pub fn quantize_q8_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * 34);
    for block in x.chunks(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        for &v in block {
            out.push((v * id).round() as i8 as u8);
        }
    }
    out
}

/// Slaney-style mel filters (librosa's `filters.mel(sr, n_fft, n_mels)` with
/// `htk=False, norm="slaney"`, the ones Whisper was trained with), row-major
/// `n_mels × (n_fft/2 + 1)`. Computed in f64 and stored as f32 in the same
/// two steps librosa takes.
pub fn mel_filters(sr: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    let hz_to_mel = |f: f64| if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp };
    let mel_to_hz = |m: f64| if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m };
    let n_bins = n_fft / 2 + 1;
    let linspace = |start: f64, stop: f64, num: usize| -> Vec<f64> {
        let step = (stop - start) / (num - 1) as f64;
        let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
        v[num - 1] = stop;
        v
    };
    let fftfreqs = linspace(0.0, sr / 2.0, n_bins);
    let mels = linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2);
    let mel_f: Vec<f64> = mels.iter().map(|&m| mel_to_hz(m)).collect();
    let fdiff: Vec<f64> = mel_f.windows(2).map(|w| w[1] - w[0]).collect();
    let mut out = vec![0f32; n_mels * n_bins];
    for i in 0..n_mels {
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fftfreqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / fdiff[i];
            let upper = (mel_f[i + 2] - f) / fdiff[i + 1];
            let w = 0f64.max(lower.min(upper)) as f32;
            out[i * n_bins + k] = (w as f64 * enorm) as f32;
        }
    }
    out
}

/// GPT-2's byte-level BPE alphabet: the character each byte is written as.
pub fn byte_encoder() -> [char; 256] {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1u32..=0xAC);
    printable.extend(0xAEu32..=0xFF);
    let mut map = ['\0'; 256];
    let mut n = 0;
    for b in 0u32..256 {
        if printable.contains(&b) {
            map[b as usize] = char::from_u32(b).unwrap_or('\0');
        } else {
            map[b as usize] = char::from_u32(256 + n).unwrap_or('\0');
            n += 1;
        }
    }
    map
}

/// A byte-level BPE token string back to its bytes.
pub fn token_bytes(token: &str, decoder: &HashMap<char, u8>) -> Option<Vec<u8>> {
    token.chars().map(|c| decoder.get(&c).copied()).collect()
}

/// The text tokens and `<|endoftext|>` as raw bytes, in id order.
pub fn read_vocabulary(dir: &Path) -> Result<Vec<Vec<u8>>, ImportError> {
    let io = |p: &Path, e| ImportError::Io(p.to_path_buf(), e);
    let txt = dir.join("vocabulary.txt");
    let json = dir.join("vocabulary.json");
    let tok = dir.join("tokenizer.json");
    let tokens: Vec<String> = if txt.is_file() {
        let s = std::fs::read_to_string(&txt).map_err(|e| io(&txt, e))?;
        s.lines().map(str::to_string).collect()
    } else if json.is_file() {
        let s = std::fs::read_to_string(&json).map_err(|e| io(&json, e))?;
        serde_json::from_str(&s).map_err(|e| ImportError::Vocabulary(format!("{}: {e}", json.display())))?
    } else if tok.is_file() {
        let s = std::fs::read_to_string(&tok).map_err(|e| io(&tok, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&s).map_err(|e| ImportError::Vocabulary(format!("{}: {e}", tok.display())))?;
        let Some(map) = v.pointer("/model/vocab").and_then(|m| m.as_object()) else {
            return Err(ImportError::Vocabulary(format!("{} has no model.vocab", tok.display())));
        };
        let mut by_id: Vec<(u64, String)> =
            map.iter().filter_map(|(k, id)| id.as_u64().map(|id| (id, k.clone()))).collect();
        by_id.sort();
        for (i, (id, _)) in by_id.iter().enumerate() {
            if *id != i as u64 {
                return Err(ImportError::Vocabulary(format!("{}: token ids are not contiguous at {i}", tok.display())));
            }
        }
        by_id.into_iter().map(|(_, t)| t).collect()
    } else {
        return Err(ImportError::Vocabulary(format!(
            "{} holds none of vocabulary.txt, vocabulary.json, tokenizer.json",
            dir.display()
        )));
    };
    let Some(eot) = tokens.iter().position(|t| t == "<|endoftext|>") else {
        return Err(ImportError::Vocabulary("no <|endoftext|> token: not a Whisper vocabulary".into()));
    };
    let decoder: HashMap<char, u8> = byte_encoder().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
    // whisper.cpp's own files carry the text tokens and <|endoftext|>; it
    // names the special tokens after that itself
    tokens[..=eot]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            token_bytes(t, &decoder)
                .ok_or_else(|| ImportError::Vocabulary(format!("token {i} ({t:?}) is not byte-level BPE")))
        })
        .collect()
}

/// What `import` made.
#[derive(Debug)]
pub struct Imported {
    pub path: PathBuf,
    pub info: ModelInfo,
}

/// The file name an imported model gets: `ggml-<size>[.en]-ct2[-q8_0].bin`
/// (the `-ct2` keeps it apart from the catalog's downloaded files, whose
/// checksums it does not share).
pub fn file_name(h: &Hparams, q8_0: bool) -> String {
    let class = super::validate::size_class(h);
    let en = if h.n_vocab == 51864 { ".en" } else { "" };
    let class = if class == "custom" { format!("custom-{}x{}", h.n_audio_state, h.n_audio_layer) } else { class.into() };
    format!("ggml-{class}{en}-ct2{}.bin", if q8_0 { "-q8_0" } else { "" })
}

/// Where a ggml tensor's data comes from in the CTranslate2 model.
struct Source {
    var: String,
    rows: Option<(usize, usize)>,
}

fn src(var: String) -> Source {
    Source { var, rows: None }
}

fn part(var: String, i: usize, s: usize) -> Source {
    Source { var, rows: Some((i * s, (i + 1) * s)) }
}

/// The CTranslate2 variable behind each whisper.cpp tensor name.
fn source_of(name: &str, s: usize) -> Option<Source> {
    let ln = |p: &str, w: &str| format!("{p}/{}", if w == "weight" { "gamma" } else { "beta" });
    let fixed = match name {
        "encoder.positional_embedding" => Some("encoder/position_encodings/encodings"),
        "encoder.conv1.weight" => Some("encoder/conv1/weight"),
        "encoder.conv1.bias" => Some("encoder/conv1/bias"),
        "encoder.conv2.weight" => Some("encoder/conv2/weight"),
        "encoder.conv2.bias" => Some("encoder/conv2/bias"),
        "encoder.ln_post.weight" => Some("encoder/layer_norm/gamma"),
        "encoder.ln_post.bias" => Some("encoder/layer_norm/beta"),
        "decoder.positional_embedding" => Some("decoder/position_encodings/encodings"),
        "decoder.token_embedding.weight" => Some("decoder/embeddings/weight"),
        "decoder.ln.weight" => Some("decoder/layer_norm/gamma"),
        "decoder.ln.bias" => Some("decoder/layer_norm/beta"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(src(f.into()));
    }
    // {encoder,decoder}.blocks.N.<module>.<param>[.<param>]
    let mut it = name.splitn(4, '.');
    let (side, _, n, rest) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let layer = format!("{side}/layer_{n}");
    let (module, param) = rest.split_once('.')?;
    let wb = |p: &str| if p.ends_with("weight") { "weight" } else { "bias" };
    Some(match (module, param) {
        ("attn_ln", w) => src(ln(&format!("{layer}/self_attention/layer_norm"), w)),
        ("cross_attn_ln", w) => src(ln(&format!("{layer}/attention/layer_norm"), w)),
        ("mlp_ln", w) => src(ln(&format!("{layer}/ffn/layer_norm"), w)),
        ("mlp", p) if p.starts_with("0.") => src(format!("{layer}/ffn/linear_0/{}", wb(p))),
        ("mlp", p) if p.starts_with("2.") => src(format!("{layer}/ffn/linear_1/{}", wb(p))),
        ("attn", p) => {
            let (proj, w) = p.split_once('.')?;
            let fused = format!("{layer}/self_attention/linear_0/{w}");
            match proj {
                "query" => part(fused, 0, s),
                "key" => part(fused, 1, s),
                "value" => part(fused, 2, s),
                "out" => src(format!("{layer}/self_attention/linear_1/{w}")),
                _ => return None,
            }
        }
        ("cross_attn", p) => {
            let (proj, w) = p.split_once('.')?;
            match proj {
                "query" => src(format!("{layer}/attention/linear_0/{w}")),
                "key" => part(format!("{layer}/attention/linear_1/{w}"), 0, s),
                "value" => part(format!("{layer}/attention/linear_1/{w}"), 1, s),
                "out" => src(format!("{layer}/attention/linear_2/{w}")),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// The order openai-whisper's checkpoints list their tensors in (and so
/// whisper.cpp's converter writes them): module buffers and parameters
/// before sub-modules, each block as attn, attn_ln, [cross_attn,
/// cross_attn_ln,] mlp, mlp_ln.
fn file_order(h: &Hparams) -> Vec<String> {
    let mut v: Vec<String> = ["encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias"]
        .into_iter()
        .chain(["encoder.conv2.weight", "encoder.conv2.bias"])
        .map(String::from)
        .collect();
    let attn = |v: &mut Vec<String>, p: &str, a: &str| {
        for t in ["query.weight", "query.bias", "key.weight", "value.weight", "value.bias", "out.weight", "out.bias"] {
            v.push(format!("{p}.{a}.{t}"));
        }
        v.push(format!("{p}.{a}_ln.weight"));
        v.push(format!("{p}.{a}_ln.bias"));
    };
    let mlp = |v: &mut Vec<String>, p: &str| {
        for t in ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "mlp_ln.weight", "mlp_ln.bias"] {
            v.push(format!("{p}.{t}"));
        }
    };
    for i in 0..h.n_audio_layer {
        let p = format!("encoder.blocks.{i}");
        attn(&mut v, &p, "attn");
        mlp(&mut v, &p);
    }
    v.push("encoder.ln_post.weight".into());
    v.push("encoder.ln_post.bias".into());
    v.push("decoder.positional_embedding".into());
    v.push("decoder.token_embedding.weight".into());
    for i in 0..h.n_text_layer {
        let p = format!("decoder.blocks.{i}");
        attn(&mut v, &p, "attn");
        attn(&mut v, &p, "cross_attn");
        mlp(&mut v, &p);
    }
    v.push("decoder.ln.weight".into());
    v.push("decoder.ln.bias".into());
    v
}

fn count_layers(m: &Ct2Model, side: &str) -> i32 {
    let mut n = 0;
    while m.vars.keys().any(|k| k.starts_with(&format!("{side}/layer_{n}/"))) {
        n += 1;
    }
    n
}

/// The hyper-parameters of a CTranslate2 Whisper model.
fn hparams(m: &mut Ct2Model, q8_0: bool) -> Result<Hparams, ImportError> {
    let two = |m: &Ct2Model, name: &str| -> Result<(usize, usize), ImportError> {
        let s = m.shape(name)?;
        if s.len() != 2 {
            return Err(ImportError::Shape { name: name.into(), shape: s, expected: "rank 2".into() });
        }
        Ok((s[0], s[1]))
    };
    let (n_vocab, n_text_state) = two(m, "decoder/embeddings/weight")?;
    let (n_audio_ctx, n_audio_state) = two(m, "encoder/position_encodings/encodings")?;
    let (n_text_ctx, pos_state) = two(m, "decoder/position_encodings/encodings")?;
    if pos_state != n_text_state {
        return Err(ImportError::Shape {
            name: "decoder/position_encodings/encodings".into(),
            shape: vec![n_text_ctx, pos_state],
            expected: format!("width {n_text_state}"),
        });
    }
    let conv1 = m.shape("encoder/conv1/weight")?;
    if conv1.len() != 3 || conv1[2] != 3 || conv1[0] != n_audio_state {
        return Err(ImportError::Shape {
            name: "encoder/conv1/weight".into(),
            shape: conv1,
            expected: format!("[{n_audio_state}, n_mels, 3]"),
        });
    }
    let n_audio_head = if m.has("encoder/num_heads") { m.int("encoder/num_heads")? } else { 8 };
    let n_text_head = if m.has("decoder/num_heads") { m.int("decoder/num_heads")? } else { 8 };
    Ok(Hparams {
        n_vocab: n_vocab as i32,
        n_audio_ctx: n_audio_ctx as i32,
        n_audio_state: n_audio_state as i32,
        n_audio_head: n_audio_head as i32,
        n_audio_layer: count_layers(m, "encoder"),
        n_text_ctx: n_text_ctx as i32,
        n_text_state: n_text_state as i32,
        n_text_head: n_text_head as i32,
        n_text_layer: count_layers(m, "decoder"),
        n_mels: conv1[1] as i32,
        ftype: if q8_0 { GGML_QNT_VERSION * ggml::QNT_VERSION_FACTOR + 7 } else { 1 },
    })
}

/// Convert the CTranslate2 Whisper model in `dir` into `out_dir`; validate the
/// result before it takes its final name. Returns the installed file.
pub fn import(dir: &Path, out_dir: &Path, q8_0: bool, name: Option<&str>) -> Result<Imported, ImportError> {
    let bin = dir.join("model.bin");
    if !bin.is_file() {
        return Err(ImportError::NoModel(dir.to_path_buf()));
    }
    let mut m = Ct2Model::open(&bin)?;
    if m.spec != "WhisperSpec" {
        return Err(ImportError::NotWhisper(bin, m.spec.clone()));
    }
    let h = hparams(&mut m, q8_0)?;
    let vocab = read_vocabulary(dir)?;
    let file = match name {
        Some(n) if n.ends_with(".bin") => n.to_string(),
        Some(n) => format!("{n}.bin"),
        None => file_name(&h, q8_0),
    };
    if file.contains('/') || file.starts_with('.') {
        return Err(ImportError::Invalid(format!("`{file}` is not a plain file name")));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| ImportError::Io(out_dir.to_path_buf(), e))?;
    let dest = out_dir.join(&file);
    let tmp = out_dir.join(format!("{file}.importing"));
    let result = write_ggml(&mut m, &h, &vocab, q8_0, &tmp).and_then(|()| {
        validate(&tmp, None).map_err(|e| ImportError::Invalid(e.problem.to_string()))
    });
    match result {
        Ok(_) => {
            std::fs::rename(&tmp, &dest).map_err(|e| ImportError::Io(dest.clone(), e))?;
            let info = validate(&dest, None).map_err(|e| ImportError::Invalid(e.to_string()))?;
            Ok(Imported { path: dest, info })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_ggml(m: &mut Ct2Model, h: &Hparams, vocab: &[Vec<u8>], q8_0: bool, out: &Path) -> Result<(), ImportError> {
    let io = |e| ImportError::Io(out.to_path_buf(), e);
    let f = File::create(out).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let put = |w: &mut BufWriter<File>, b: &[u8]| w.write_all(b).map_err(io);
    put(&mut w, &ggml::MAGIC.to_le_bytes())?;
    for v in h.to_array() {
        put(&mut w, &v.to_le_bytes())?;
    }
    let n_bins = 201;
    put(&mut w, &h.n_mels.to_le_bytes())?;
    put(&mut w, &(n_bins as i32).to_le_bytes())?;
    let filters: Vec<u8> = mel_filters(16_000.0, 400, h.n_mels as usize).iter().flat_map(|v| v.to_le_bytes()).collect();
    put(&mut w, &filters)?;
    put(&mut w, &(vocab.len() as i32).to_le_bytes())?;
    for t in vocab {
        put(&mut w, &(t.len() as u32).to_le_bytes())?;
        put(&mut w, t)?;
    }
    let wtype = if q8_0 { GgmlType::Q8_0 } else { GgmlType::F16 };
    let specs: HashMap<String, ggml::TensorSpec> = ggml::expected_tensors(h).into_iter().map(|s| (s.name.clone(), s)).collect();
    for name in file_order(h) {
        let Some(spec) = specs.get(&name) else {
            return Err(ImportError::Invalid(format!("internal: no tensor spec for {name}")));
        };
        let state = if name.starts_with("encoder") { h.n_audio_state } else { h.n_text_state } as usize;
        let Some(source) = source_of(&name, state) else {
            return Err(ImportError::Invalid(format!("internal: no source for {name}")));
        };
        let values = match source.rows {
            Some((a, z)) => m.rows(&source.var, a..z)?,
            None => {
                let n0 = m.shape(&source.var)?.first().copied().unwrap_or(1);
                m.rows(&source.var, 0..n0.max(1))?
            }
        };
        let elems: usize = spec.ne.iter().map(|&n| n as usize).product();
        if values.len() != elems {
            return Err(ImportError::Shape {
                name: source.var.clone(),
                shape: m.shape(&source.var)?,
                expected: format!("{elems} values for {name} {:?}", spec.ne),
            });
        }
        let ty = match spec.kind {
            // whisper.cpp's quantizer leaves 2-D tensors it skips and every other rank alone
            TensorKind::Weight => wtype,
            k => k.ggml_type(GgmlType::F16),
        };
        put(&mut w, &(spec.ne.len() as i32).to_le_bytes())?;
        put(&mut w, &(name.len() as i32).to_le_bytes())?;
        put(&mut w, &ty.id().to_le_bytes())?;
        for &n in &spec.ne {
            put(&mut w, &(n as i32).to_le_bytes())?;
        }
        put(&mut w, name.as_bytes())?;
        let data: Vec<u8> = match ty {
            GgmlType::F32 => values.to_f32().iter().flat_map(|v| v.to_le_bytes()).collect(),
            GgmlType::F16 => values.to_f16().iter().flat_map(|v| v.to_le_bytes()).collect(),
            GgmlType::Q8_0 => {
                // quantized from the f16 values, as whisper.cpp's quantizer reads an f16 file
                let x: Vec<f32> = values.to_f16().iter().map(|&b| f16_to_f32(b)).collect();
                quantize_q8_0(&x)
            }
            other => return Err(ImportError::Invalid(format!("internal: cannot write {}", other.name()))),
        };
        put(&mut w, &data)?;
    }
    w.flush().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_every_finite_value() {
        for h in 0u16..=0xffff {
            let exp = (h >> 10) & 0x1f;
            if exp == 0x1f {
                continue;
            }
            assert_eq!(f32_to_f16(f16_to_f32(h)), h, "{h:#06x}");
        }
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
    }

    #[test]
    fn byte_decoder_inverts_gpt2_alphabet() {
        let enc = byte_encoder();
        let uniq: std::collections::HashSet<char> = enc.iter().copied().collect();
        assert_eq!(uniq.len(), 256);
        assert_eq!(enc[b' ' as usize], 'Ġ');
        assert_eq!(enc[b'\n' as usize], 'Ċ');
        assert_eq!(enc[b'a' as usize], 'a');
        let dec: HashMap<char, u8> = enc.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        assert_eq!(token_bytes("Ġhello", &dec).unwrap(), b" hello");
        // "é" is two UTF-8 bytes, each its own symbol
        assert_eq!(token_bytes("ĠÃ©", &dec).unwrap(), " é".as_bytes());
        assert_eq!(token_bytes("<|x|>\u{4e00}", &dec), None);
    }

    #[test]
    fn mel_filters_are_slaney_triangles() {
        let f = mel_filters(16_000.0, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        for m in 0..80 {
            let row = &f[m * 201..(m + 1) * 201];
            assert!(row.iter().all(|&v| v >= 0.0));
            // Slaney normalization: each triangle has area ≈ 1 over its Hz width → sum × 40 Hz ≈ 1
            let peak = row.iter().cloned().fold(0f32, f32::max);
            assert!(peak > 0.0, "filter {m} is empty");
            let nonzero: Vec<usize> = (0..201).filter(|&k| row[k] > 0.0).collect();
            // one contiguous run
            assert_eq!(nonzero.last().unwrap() - nonzero[0] + 1, nonzero.len(), "filter {m}");
        }
        // below 1 kHz the Slaney scale is linear: 200/3 Hz per mel; the first
        // filter spans 0..2 mel-steps, peaking near bin 1 (40 Hz)
        let first = &f[0..201];
        assert!(first[1] > first[0] && first[1] > first[2]);
        // whisper's assets/mel_filters.npz holds 0.02486259 at [0][1]
        assert!((first[1] - 0.024_862_59).abs() < 1e-7, "{}", first[1]);
    }

    #[test]
    fn q8_0_blocks_match_ggml_layout() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 8.0).collect();
        let q = quantize_q8_0(&x);
        assert_eq!(q.len(), 2 * 34);
        let d = f16_to_f32(u16::from_le_bytes([q[0], q[1]]));
        assert!((d - 4.0 / 127.0).abs() < 1e-4);
        assert_eq!(q[2] as i8, -127);
        // dequantized values are within half a step
        for (i, &v) in x[..32].iter().enumerate() {
            assert!((q[2 + i] as i8 as f32 * d - v).abs() <= d / 2.0 + 1e-6);
        }
    }

    #[test]
    fn every_tensor_has_a_source_and_a_place_in_the_file() {
        let h = Hparams::tiny_en();
        let mut order = file_order(&h);
        let mut expected: Vec<String> = ggml::expected_tensors(&h).into_iter().map(|s| s.name).collect();
        for n in &expected {
            assert!(source_of(n, 384).is_some(), "{n}");
        }
        order.sort();
        expected.sort();
        assert_eq!(order, expected);
        let k = source_of("decoder.blocks.2.cross_attn.value.weight", 384).unwrap();
        assert_eq!(k.var, "decoder/layer_2/attention/linear_1/weight");
        assert_eq!(k.rows, Some((384, 768)));
        let q = source_of("encoder.blocks.0.attn.key.weight", 384).unwrap();
        assert_eq!(q.var, "encoder/layer_0/self_attention/linear_0/weight");
        assert_eq!(q.rows, Some((384, 768)));
        assert_eq!(file_name(&h, false), "ggml-tiny.en-ct2.bin");
        assert_eq!(file_name(&h, true), "ggml-tiny.en-ct2-q8_0.bin");
    }
}
