//! The real all-MiniLM-L6-v2: found in (or fetched into) the cache, its
//! safetensors opened with smelt's loader and checked against the names and
//! shapes HuggingFace's `BertModel` has. Reports itself SKIPPED on stderr
//! only when the weights can be neither found nor fetched.

use std::path::PathBuf;

use smelt_compiler::ir::DType;
use smelt_runtime::hub::minilm_dir;
use smelt_runtime::io::safetensors::SafeTensors;
use smelt_runtime::text::WordPiece;

/// Says SKIPPED on the real stderr: libtest captures `eprintln!` of passing
/// tests, and a skip must be seen.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

fn model_dir() -> Option<PathBuf> {
    match minilm_dir(None, true) {
        Ok(dir) => Some(dir),
        Err(e) => {
            skipped(&format!("MiniLM weights unavailable, real-model checks not run: {e}"));
            None
        }
    }
}

#[test]
fn minilm_weights_have_bert_names_and_shapes() {
    let Some(dir) = model_dir() else { return };
    let st = SafeTensors::open(&dir.join("model.safetensors")).unwrap();
    let (h, ffn) = (384, 1536);
    let mut expected: Vec<(String, Vec<usize>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![30522, h]),
        ("embeddings.position_embeddings.weight".into(), vec![512, h]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
        ("pooler.dense.weight".into(), vec![h, h]),
        ("pooler.dense.bias".into(), vec![h]),
    ];
    for l in 0..6 {
        let p = format!("encoder.layer.{l}.");
        for (name, shape) in [
            ("attention.self.query.weight", vec![h, h]),
            ("attention.self.query.bias", vec![h]),
            ("attention.self.key.weight", vec![h, h]),
            ("attention.self.key.bias", vec![h]),
            ("attention.self.value.weight", vec![h, h]),
            ("attention.self.value.bias", vec![h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![ffn, h]),
            ("intermediate.dense.bias", vec![ffn]),
            ("output.dense.weight", vec![h, ffn]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ] {
            expected.push((format!("{p}{name}"), shape));
        }
    }
    for (name, shape) in &expected {
        let t = st.get(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.dtype, &t.shape), (DType::F32, shape), "{name}");
        assert_eq!(t.bytes.len(), shape.iter().product::<usize>() * 4);
    }
    assert!(st.names().iter().all(|n| !n.starts_with("encoder.layer.6.")));
    // The only other tensor is the position-id buffer.
    let ids = st.get("embeddings.position_ids").unwrap();
    assert_eq!((ids.dtype, ids.shape.as_slice()), (DType::I64, &[1, 512][..]));
    assert_eq!(st.len(), expected.len() + 1);
    assert_eq!(st.metadata().and_then(|m| m.get("format")).map(String::as_str), Some("pt"));
    // Layer norm weights are finite and not all zero (the bytes are real).
    let ln = st.get("encoder.layer.5.output.LayerNorm.weight").unwrap();
    let vals: Vec<f32> =
        ln.bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert!(vals.iter().all(|v| v.is_finite()) && vals.iter().any(|&v| v != 0.0));
}

#[test]
fn minilm_vocab_tokenizes() {
    let Some(dir) = model_dir() else { return };
    let wp = WordPiece::from_vocab_file(&dir.join("vocab.txt"), true).unwrap();
    assert_eq!(wp.vocab_size(), 30522);
    assert_eq!(
        wp.tokenize("Tokenization isn't hard!"),
        ["token", "##ization", "isn", "'", "t", "hard", "!"]
    );
    assert_eq!(wp.encode("hello", 512), [101, 7592, 102]);
}
