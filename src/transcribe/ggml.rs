//! What whisper.cpp's legacy ggml model format looks like: the header, the
//! tensor list `whisper_model_load` expects for given hyper-parameters, and
//! the byte sizes of ggml tensor types. Shared by the validator and the
//! test-model generator, so both describe the same file.

/// `ggml` in ASCII, little-endian: the first four bytes of every model file.
pub const MAGIC: u32 = 0x6767_6d6c;

/// Quantized files store `ftype + 1000 * qnt_version`.
pub const QNT_VERSION_FACTOR: i32 = 1000;

/// The eleven i32 hyper-parameters that follow the magic, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

impl Hparams {
    pub fn to_array(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    pub fn from_array(a: [i32; 11]) -> Hparams {
        Hparams {
            n_vocab: a[0],
            n_audio_ctx: a[1],
            n_audio_state: a[2],
            n_audio_head: a[3],
            n_audio_layer: a[4],
            n_text_ctx: a[5],
            n_text_state: a[6],
            n_text_head: a[7],
            n_text_layer: a[8],
            n_mels: a[9],
            ftype: a[10],
        }
    }

    /// The weight type without the quantization version.
    pub fn base_ftype(&self) -> i32 {
        self.ftype % QNT_VERSION_FACTOR
    }
}

/// A ggml tensor element type this project knows the size of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlType {
    /// From the `type` field of a tensor header (ggml's `enum ggml_type`).
    pub fn from_id(id: i32) -> Option<GgmlType> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            10 => GgmlType::Q2K,
            11 => GgmlType::Q3K,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            _ => return None,
        })
    }

    pub fn id(self) -> i32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q2K => 10,
            GgmlType::Q3K => 11,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
        }
    }

    /// The weight type of a file's `ftype` (ggml's `ggml_ftype_to_ggml_type`).
    pub fn from_ftype(ftype: i32) -> Option<GgmlType> {
        Some(match ftype {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            7 => GgmlType::Q8_0,
            8 => GgmlType::Q5_0,
            9 => GgmlType::Q5_1,
            10 => GgmlType::Q2K,
            11 => GgmlType::Q3K,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            _ => return None,
        })
    }

    /// (bytes per block, elements per block)
    pub fn block(self) -> (u64, u64) {
        match self {
            GgmlType::F32 => (4, 1),
            GgmlType::F16 => (2, 1),
            GgmlType::Q4_0 => (18, 32),
            GgmlType::Q4_1 => (20, 32),
            GgmlType::Q5_0 => (22, 32),
            GgmlType::Q5_1 => (24, 32),
            GgmlType::Q8_0 => (34, 32),
            GgmlType::Q2K => (84, 256),
            GgmlType::Q3K => (110, 256),
            GgmlType::Q4K => (144, 256),
            GgmlType::Q5K => (176, 256),
            GgmlType::Q6K => (210, 256),
        }
    }

    /// Bytes for a row-major tensor whose first dimension is `ne0`, or None
    /// when `ne0` is not a whole number of blocks.
    pub fn nbytes(self, ne: &[i64]) -> Option<u64> {
        let (bytes, per) = self.block();
        let ne0 = *ne.first()? as u64;
        if !ne0.is_multiple_of(per) {
            return None;
        }
        let rows: u64 = ne[1..].iter().map(|&n| n as u64).product();
        Some(ne0 / per * bytes * rows)
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "f32",
            GgmlType::F16 => "f16",
            GgmlType::Q4_0 => "q4_0",
            GgmlType::Q4_1 => "q4_1",
            GgmlType::Q5_0 => "q5_0",
            GgmlType::Q5_1 => "q5_1",
            GgmlType::Q8_0 => "q8_0",
            GgmlType::Q2K => "q2_k",
            GgmlType::Q3K => "q3_k",
            GgmlType::Q4K => "q4_k",
            GgmlType::Q5K => "q5_k",
            GgmlType::Q6K => "q6_k",
        }
    }
}

/// Which type whisper.cpp allocates for a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// A matrix in the file's weight type (`wtype`).
    Weight,
    /// A convolution kernel: f16 unless the whole model is f32 (`vtype`).
    Conv,
    /// Biases, layer norms and positional embeddings: always f32.
    F32,
}

impl TensorKind {
    pub fn ggml_type(self, wtype: GgmlType) -> GgmlType {
        match self {
            TensorKind::Weight => wtype,
            TensorKind::Conv => {
                if wtype == GgmlType::F32 {
                    GgmlType::F32
                } else {
                    GgmlType::F16
                }
            }
            TensorKind::F32 => GgmlType::F32,
        }
    }
}

/// One tensor `whisper_model_load` expects: name, shape (ne0 fastest) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub ne: Vec<i64>,
    pub kind: TensorKind,
}

fn t(name: String, ne: &[i32], kind: TensorKind) -> TensorSpec {
    TensorSpec { name, ne: ne.iter().map(|&n| n as i64).collect(), kind }
}

/// Every tensor of a model with these hyper-parameters, in the order
/// whisper.cpp creates them (and the converter writes them).
pub fn expected_tensors(h: &Hparams) -> Vec<TensorSpec> {
    use TensorKind::{Conv, F32, Weight};
    let (sa, st) = (h.n_audio_state, h.n_text_state);
    let mut out = vec![
        t("encoder.positional_embedding".into(), &[sa, h.n_audio_ctx], F32),
        t("encoder.conv1.weight".into(), &[3, h.n_mels, sa], Conv),
        t("encoder.conv1.bias".into(), &[1, sa], F32),
        t("encoder.conv2.weight".into(), &[3, sa, sa], Conv),
        t("encoder.conv2.bias".into(), &[1, sa], F32),
        t("encoder.ln_post.weight".into(), &[sa], F32),
        t("encoder.ln_post.bias".into(), &[sa], F32),
    ];
    for i in 0..h.n_audio_layer {
        let p = format!("encoder.blocks.{i}");
        attention(&mut out, &p, "attn", sa);
        mlp(&mut out, &p, sa);
    }
    out.push(t("decoder.positional_embedding".into(), &[st, h.n_text_ctx], F32));
    out.push(t("decoder.token_embedding.weight".into(), &[st, h.n_vocab], Weight));
    out.push(t("decoder.ln.weight".into(), &[st], F32));
    out.push(t("decoder.ln.bias".into(), &[st], F32));
    for i in 0..h.n_text_layer {
        let p = format!("decoder.blocks.{i}");
        attention(&mut out, &p, "attn", st);
        attention(&mut out, &p, "cross_attn", st);
        mlp(&mut out, &p, st);
    }
    out
}

/// An attention block: its layer norm, q (with bias), k (no bias), v and out.
fn attention(out: &mut Vec<TensorSpec>, prefix: &str, attn: &str, s: i32) {
    use TensorKind::{F32, Weight};
    out.push(t(format!("{prefix}.{attn}_ln.weight"), &[s], F32));
    out.push(t(format!("{prefix}.{attn}_ln.bias"), &[s], F32));
    out.push(t(format!("{prefix}.{attn}.query.weight"), &[s, s], Weight));
    out.push(t(format!("{prefix}.{attn}.query.bias"), &[s], F32));
    out.push(t(format!("{prefix}.{attn}.key.weight"), &[s, s], Weight));
    out.push(t(format!("{prefix}.{attn}.value.weight"), &[s, s], Weight));
    out.push(t(format!("{prefix}.{attn}.value.bias"), &[s], F32));
    out.push(t(format!("{prefix}.{attn}.out.weight"), &[s, s], Weight));
    out.push(t(format!("{prefix}.{attn}.out.bias"), &[s], F32));
}

/// A block's MLP: its layer norm, then two linear layers through 4× the width.
fn mlp(out: &mut Vec<TensorSpec>, prefix: &str, s: i32) {
    use TensorKind::{F32, Weight};
    out.push(t(format!("{prefix}.mlp_ln.weight"), &[s], F32));
    out.push(t(format!("{prefix}.mlp_ln.bias"), &[s], F32));
    out.push(t(format!("{prefix}.mlp.0.weight"), &[s, 4 * s], Weight));
    out.push(t(format!("{prefix}.mlp.0.bias"), &[4 * s], F32));
    out.push(t(format!("{prefix}.mlp.2.weight"), &[4 * s, s], Weight));
    out.push(t(format!("{prefix}.mlp.2.bias"), &[s], F32));
}

/// The bytes a tensor header takes: n_dims, name length, type, the dims, the name.
pub fn header_len(spec: &TensorSpec) -> u64 {
    12 + 4 * spec.ne.len() as u64 + spec.name.len() as u64
}

#[cfg(test)]
impl Hparams {
    /// whisper.cpp's tiny.en dimensions (tests).
    pub(crate) fn tiny_en() -> Hparams {
        Hparams {
            n_vocab: 51864,
            n_audio_ctx: 1500,
            n_audio_state: 384,
            n_audio_head: 6,
            n_audio_layer: 4,
            n_text_ctx: 448,
            n_text_state: 384,
            n_text_head: 6,
            n_text_layer: 4,
            n_mels: 80,
            ftype: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Hparams {
        Hparams::tiny_en()
    }

    #[test]
    fn tensor_count_matches_whisper_cpp() {
        // whisper.cpp: 7 encoder globals + 4 decoder globals, 15 tensors per
        // encoder block (no key bias) and 24 per decoder block.
        let h = tiny();
        let n = expected_tensors(&h).len();
        assert_eq!(n, 7 + 4 + 15 * 4 + 24 * 4);
    }

    #[test]
    fn tiny_en_f16_weights_are_the_published_size() {
        // ggml-tiny.en.bin is 77,704,715 bytes; the tensors are most of it.
        let h = tiny();
        let w = GgmlType::F16;
        let data: u64 = expected_tensors(&h)
            .iter()
            .map(|s| s.kind.ggml_type(w).nbytes(&s.ne).unwrap() + header_len(s))
            .sum();
        assert!(data > 70_000_000 && data < 77_704_715, "{data}");
    }

    #[test]
    fn quantized_sizes_use_blocks() {
        assert_eq!(GgmlType::Q8_0.nbytes(&[64, 2]), Some(2 * 2 * 34));
        assert_eq!(GgmlType::Q8_0.nbytes(&[48, 2]), None);
        assert_eq!(GgmlType::F16.nbytes(&[3, 80, 64]), Some(3 * 80 * 64 * 2));
    }
}
