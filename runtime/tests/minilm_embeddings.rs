//! The BERT encoder on the real all-MiniLM-L6-v2 against HuggingFace:
//! the five fixture sentences must tokenize to the fixture's ids and embed to
//! within 1e-5 (max abs) of sentence-transformers' f32 embeddings, and a
//! padded batch must give what each sentence gives alone; run in f64, the
//! model must give HuggingFace's float64 results to 1e-12. Reports itself
//! SKIPPED on stderr only when the weights can be neither found nor fetched.

use std::path::PathBuf;

use smelt_compiler::ir::DType;
use smelt_runtime::Tensor;
use smelt_runtime::hub::minilm_dir;
use smelt_runtime::io::load_state_dict;
use smelt_runtime::models::{BertConfig, BertModel, SentenceEncoder};

/// Says SKIPPED on the real stderr: libtest captures `eprintln!` of passing
/// tests, and a skip must be seen.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// Reports a measured number past libtest's capture.
fn report(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{what}");
}

fn encoder() -> Option<SentenceEncoder> {
    match minilm_dir(None, true) {
        Ok(dir) => Some(SentenceEncoder::load(&dir).unwrap_or_else(|e| panic!("{e}"))),
        Err(e) => {
            skipped(&format!("MiniLM weights unavailable, embeddings not checked: {e}"));
            None
        }
    }
}

struct Sentence {
    text: String,
    ids: Vec<i64>,
    embedding: Vec<f64>,
    embedding_f64: Vec<f64>,
    /// `last_hidden_state[i, 0, :8]` (the [CLS] token) in f32 and f64.
    hidden0_f32: Vec<f64>,
    hidden0_f64: Vec<f64>,
}

fn fixture() -> Vec<Sentence> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/minilm/minilm.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let nums = |x: &serde_json::Value| -> Vec<f64> {
        x.as_array().unwrap().iter().map(|n| n.as_f64().unwrap()).collect()
    };
    v["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Sentence {
            text: s["text"].as_str().unwrap().to_owned(),
            ids: nums(&s["input_ids"]).into_iter().map(|x| x as i64).collect(),
            embedding: nums(&s["embedding_f32"]),
            embedding_f64: nums(&s["embedding_f64"]),
            hidden0_f32: nums(&s["hidden0_first8_f32"]),
            hidden0_f64: nums(&s["hidden0_first8_f64"]),
        })
        .collect()
}

fn max_abs(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - y).abs()).fold(0.0, f64::max)
}

#[test]
fn fixture_sentences_match_huggingface_ids_and_embeddings() {
    let Some(enc) = encoder() else { return };
    let fx = fixture();
    assert_eq!(fx.len(), 5);
    let texts: Vec<&str> = fx.iter().map(|s| s.text.as_str()).collect();
    for s in &fx {
        let (ids, mask) = enc.tokenize(&[&s.text]).unwrap();
        assert_eq!(ids.to_vec::<i64>().unwrap(), s.ids, "{}", s.text);
        assert!(mask.to_vec::<i64>().unwrap().iter().all(|&m| m == 1));
    }
    let batched = enc.embed(&texts).unwrap();
    assert_eq!(batched.len(), 5);
    let mut worst = 0.0f64;
    for (s, e) in fx.iter().zip(&batched) {
        assert_eq!(e.len(), 384);
        let err = max_abs(e, &s.embedding);
        assert!(err <= 1e-5, "{}: max abs error {err:e}", s.text);
        worst = worst.max(err);
        let norm: f64 = e.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{}: norm {norm}", s.text);
    }
    report(&format!("minilm: max abs error vs HuggingFace embedding_f32: {worst:.3e}"));
}

#[test]
fn padded_batch_equals_one_at_a_time() {
    let Some(enc) = encoder() else { return };
    let fx = fixture();
    let texts: Vec<&str> = fx.iter().map(|s| s.text.as_str()).collect();
    let (_, mask) = enc.tokenize(&texts).unwrap();
    // The batch really pads: some sentence is shorter than the longest.
    assert!(mask.to_vec::<i64>().unwrap().contains(&0));
    let batched = enc.embed(&texts).unwrap();
    let mut worst = 0.0f64;
    for (text, b) in texts.iter().zip(&batched) {
        let alone = &enc.embed(&[text]).unwrap()[0];
        let err = max_abs(alone, &b.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        assert!(err <= 1e-6, "{text}: batched vs alone differ by {err:e}");
        worst = worst.max(err);
    }
    report(&format!("minilm: max abs difference batched vs one at a time: {worst:.3e}"));
}

/// `last_hidden_state[i, 0, :8]` for each row of a `[b, s, 384]` state.
fn cls_first8(hidden: &Tensor) -> Vec<Vec<f64>> {
    let v = hidden.to_f64_vec();
    let per = hidden.shape()[1] * hidden.shape()[2];
    (0..hidden.shape()[0]).map(|i| v[i * per..i * per + 8].to_vec()).collect()
}

fn max_abs64(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// The same weights run in f64 give HuggingFace's float64 results to
/// ~1e-12: the formulas are HF's, not merely close in f32. The f32 hidden
/// state is checked too.
#[test]
fn f64_model_matches_huggingface_float64() {
    let Some(enc) = encoder() else { return };
    let fx = fixture();
    let texts: Vec<&str> = fx.iter().map(|s| s.text.as_str()).collect();
    let (ids, mask) = enc.tokenize(&texts).unwrap();
    let hidden32 = enc.model().forward(&ids, &mask).unwrap();
    let dir = enc.dir();
    let sd64 = load_state_dict(&dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            let v = if v.dtype() == DType::F32 { v.to_dtype(DType::F64).unwrap() } else { v };
            (k, v)
        })
        .collect();
    let cfg = BertConfig::from_file(&dir.join("config.json")).unwrap();
    let m64 = BertModel::from_state_dict(cfg, &sd64).unwrap();
    assert_eq!(m64.dtype(), DType::F64);
    let hidden64 = m64.forward(&ids, &mask).unwrap();
    let emb64 = m64.sentence_embedding(&ids, &mask).unwrap().to_f64_vec();
    let (mut worst_h32, mut worst_h64, mut worst_e64) = (0.0f64, 0.0f64, 0.0f64);
    for (i, s) in fx.iter().enumerate() {
        worst_h32 = worst_h32.max(max_abs64(&cls_first8(&hidden32)[i], &s.hidden0_f32));
        worst_h64 = worst_h64.max(max_abs64(&cls_first8(&hidden64)[i], &s.hidden0_f64));
        worst_e64 = worst_e64.max(max_abs64(&emb64[i * 384..(i + 1) * 384], &s.embedding_f64));
    }
    report(&format!(
        "minilm: max abs error vs HuggingFace: f32 [CLS] hidden {worst_h32:.3e}, \
         f64 [CLS] hidden {worst_h64:.3e}, f64 embedding {worst_e64:.3e}"
    ));
    assert!(worst_h32 <= 1e-5, "f32 hidden {worst_h32:e}");
    assert!(worst_h64 <= 1e-12, "f64 hidden {worst_h64:e}");
    assert!(worst_e64 <= 1e-12, "f64 embedding {worst_e64:e}");
}
