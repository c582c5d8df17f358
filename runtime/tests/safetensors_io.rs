//! safetensors: round trips of every dtype, byte equality with the reference
//! writer, and malformed files (each must be an error naming the file and the
//! tensor, never a panic).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use smelt_compiler::ir::DType;
use smelt_runtime::io::IoError;
use smelt_runtime::io::safetensors::{SafeTensors, SafetensorsError, TensorView, encode, save};

/// What `save` takes: name, dtype, shape, bytes.
type Named<'a> = (&'a str, DType, &'a [usize], &'a [u8]);

/// A raw file: header length, header text, data.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Opens `bytes` as a file and returns the safetensors error (checking that
/// the message names the file).
fn open_err(bytes: &[u8]) -> SafetensorsError {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.safetensors", bytes);
    match SafeTensors::open(&path) {
        Ok(_) => panic!("opened a malformed file"),
        Err(IoError::Safetensors { path: p, source }) => {
            assert_eq!(p, path);
            assert!(
                IoError::Safetensors { path: p, source: source.clone() }
                    .to_string()
                    .contains("bad.safetensors")
            );
            source
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// One tensor of every dtype, with non-trivial bytes.
fn every_dtype() -> Vec<(String, DType, Vec<usize>, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, dtype) in DType::ALL.into_iter().enumerate() {
        let shape = vec![2, i % 3 + 1];
        let n: usize = shape.iter().product::<usize>() * dtype.size_bytes();
        let bytes = (0..n)
            .map(|j| if dtype == DType::Bool { (j % 2) as u8 } else { (j * 7 + i) as u8 })
            .collect();
        out.push((format!("t.{}", dtype.name()), dtype, shape, bytes));
    }
    out.push(("scalar".into(), DType::F32, vec![], 1.5f32.to_le_bytes().to_vec()));
    out.push(("empty".into(), DType::I64, vec![3, 0], vec![]));
    out
}

#[test]
fn round_trip_every_dtype_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.safetensors");
    let tensors = every_dtype();
    let refs: Vec<Named<'_>> =
        tensors.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice())).collect();
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    save(&path, &refs, Some(&meta)).unwrap();
    let st = SafeTensors::open(&path).unwrap();
    assert_eq!(st.len(), tensors.len());
    assert_eq!(st.metadata(), Some(&meta));
    for (name, dtype, shape, bytes) in &tensors {
        let view = st.get(name).unwrap();
        assert_eq!(view, TensorView { dtype: *dtype, shape: shape.clone(), bytes });
    }
    // The data section starts 8-byte aligned.
    let header_len = u64::from_le_bytes(std::fs::read(&path).unwrap()[..8].try_into().unwrap());
    assert_eq!(header_len % 8, 0);
}

#[test]
fn names_are_in_file_order_and_save_orders_like_the_reference() {
    let f64s = 1.0f64.to_le_bytes();
    let f32s = 2.0f32.to_le_bytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("order.safetensors");
    let tensors: Vec<Named<'_>> = vec![
        ("b32", DType::F32, &[1], &f32s),
        ("a32", DType::F32, &[1], &f32s),
        ("z64", DType::F64, &[1], &f64s),
    ];
    save(&path, &tensors, None).unwrap();
    let st = SafeTensors::open(&path).unwrap();
    assert_eq!(st.names(), ["z64", "a32", "b32"]);
    assert_eq!(st.metadata(), None);
}

/// The exact header `safetensors.numpy.save` (safetensors 0.8.0) wrote for
/// these zero tensors and metadata `{"z": "1", "a": "2"}`.
#[test]
fn bytes_equal_the_reference_writer() {
    let expected_header = concat!(
        r#"{"__metadata__":{"a":"2","z":"1"},"#,
        r#""b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"#,
        r#""a":{"dtype":"F64","shape":[3],"data_offsets":[16,40]},"#,
        r#""e":{"dtype":"F32","shape":[0],"data_offsets":[40,40]},"#,
        r#""h":{"dtype":"I32","shape":[1],"data_offsets":[40,44]},"#,
        r#""d":{"dtype":"F16","shape":[2,2],"data_offsets":[44,52]},"#,
        r#""g":{"dtype":"I8","shape":[1],"data_offsets":[52,53]},"#,
        r#""f":{"dtype":"U8","shape":[1],"data_offsets":[53,54]},"#,
        r#""c":{"dtype":"BOOL","shape":[1],"data_offsets":[54,55]}}      "#,
    );
    let z = [0u8; 24];
    let tensors: Vec<Named<'_>> = vec![
        ("b", DType::I64, &[2], &z[..16]),
        ("a", DType::F64, &[3], &z[..24]),
        ("c", DType::Bool, &[1], &z[..1]),
        ("d", DType::F16, &[2, 2], &z[..8]),
        ("e", DType::F32, &[0], &z[..0]),
        ("f", DType::U8, &[1], &z[..1]),
        ("g", DType::I8, &[1], &z[..1]),
        ("h", DType::I32, &[1], &z[..4]),
    ];
    let meta = BTreeMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]);
    let bytes = encode(&tensors, Some(&meta)).unwrap();
    assert_eq!(expected_header.len(), 480);
    assert_eq!(bytes, raw(expected_header, &[0u8; 55]));
    // And the reference's file reads back, in its order.
    let dir = tempfile::tempdir().unwrap();
    let st = SafeTensors::open(&write(dir.path(), "ref.safetensors", &bytes)).unwrap();
    assert_eq!(st.names(), ["b", "a", "e", "h", "d", "g", "f", "c"]);
    assert_eq!(st.metadata(), Some(&meta));
    assert_eq!(st.get("d").unwrap().shape, [2, 2]);
}

#[test]
fn bf16_sorts_above_f16() {
    let two = [0u8; 2];
    let tensors: Vec<Named<'_>> =
        vec![("a", DType::F16, &[1], &two), ("b", DType::BF16, &[1], &two)];
    let bytes = encode(&tensors, None).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.find("\"b\"").unwrap() < text.find("\"a\"").unwrap(), "{text}");
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let tensors = every_dtype();
    let refs: Vec<Named<'_>> =
        tensors.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice())).collect();
    let bytes = encode(&refs, None).unwrap();
    for len in 0..bytes.len() {
        let err = open_err(&bytes[..len]);
        if len < 8 {
            assert_eq!(err, SafetensorsError::TooShort(len as u64));
        }
    }
}

#[test]
fn malformed_headers() {
    let huge = (u64::MAX).to_le_bytes();
    assert!(matches!(open_err(&huge), SafetensorsError::HeaderLength { .. }));
    let mut over_limit = 200_000_000u64.to_le_bytes().to_vec();
    over_limit.extend_from_slice(b"{}");
    assert!(matches!(open_err(&over_limit), SafetensorsError::HeaderLength { .. }));

    let bad_json = open_err(&raw(r#"{"a": {"dtype": "F32""#, &[]));
    assert!(bad_json.to_string().contains("not valid JSON"), "{bad_json}");
    assert!(matches!(open_err(&raw("[1, 2]", &[])), SafetensorsError::Header(_)));
    let utf8 = open_err(&raw("{\"\u{e9}\":1}", &[]));
    assert!(matches!(utf8, SafetensorsError::Entry { .. }), "{utf8}");
    let mut not_utf8 = raw("{}  ", &[]);
    not_utf8[9] = 0xff;
    assert!(open_err(&not_utf8).to_string().contains("UTF-8"));
    let meta = open_err(&raw(r#"{"__metadata__": {"k": 1}}"#, &[]));
    assert!(meta.to_string().contains("'k'"), "{meta}");
}

#[test]
fn malformed_entries_name_the_tensor() {
    let cases = [
        (r#"{"w": 3}"#, "not a JSON object"),
        (r#"{"w": {"shape": [1], "data_offsets": [0, 4]}}"#, "'dtype'"),
        (r#"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, "'shape'"),
        (r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#, "'data_offsets'"),
        (r#"{"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}"#, "unknown dtype 'Q7'"),
        (r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, "outside"),
        (r#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, "outside"),
        (r#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#, "needs 8 bytes"),
        (
            r#"{"w": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}"#,
            "no valid byte size",
        ),
        (r#"{"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}"#, "no valid byte size"),
    ];
    for (header, needle) in cases {
        let msg = open_err(&raw(header, &[0; 4])).to_string();
        assert!(msg.contains("'w'") && msg.contains(needle), "{header}: {msg}");
    }
}

#[test]
fn overlapping_offsets_are_refused() {
    let header = r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                     "b": {"dtype": "I32", "shape": [1], "data_offsets": [4, 8]}}"#;
    let err = open_err(&raw(header, &[0; 8]));
    assert_eq!(err, SafetensorsError::Overlap { first: "a".into(), second: "b".into() });
    // Empty tensors may sit anywhere, and gaps are allowed.
    let header = r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                     "e": {"dtype": "F32", "shape": [0], "data_offsets": [2, 2]},
                     "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]}}"#;
    let dir = tempfile::tempdir().unwrap();
    let st =
        SafeTensors::open(&write(dir.path(), "ok.safetensors", &raw(header, &[1; 8]))).unwrap();
    assert_eq!(st.names(), ["a", "e", "b"]);
    assert_eq!(st.get("b").unwrap().bytes, &[1, 1]);
}

#[test]
fn unsupported_dtype_opens_but_cannot_be_read() {
    let header = r#"{"odd": {"dtype": "U16", "shape": [2], "data_offsets": [0, 4]},
                     "ok": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "u16.safetensors", &raw(header, &[7; 8]));
    let st = SafeTensors::open(&path).unwrap();
    assert_eq!(st.get("ok").unwrap().bytes, &[7; 4]);
    let msg = st.get("odd").unwrap_err().to_string();
    assert!(
        msg.contains("u16.safetensors") && msg.contains("'odd'") && msg.contains("U16"),
        "{msg}"
    );
    let msg = st.get("missing").unwrap_err().to_string();
    assert!(msg.contains("'missing'"), "{msg}");
}

#[test]
fn bool_bytes_must_be_zero_or_one() {
    let header = r#"{"m": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "b.safetensors", &raw(header, &[1, 0, 2]));
    let err = SafeTensors::open(&path).unwrap().get("m").unwrap_err();
    assert!(matches!(
        err,
        IoError::Safetensors { source: SafetensorsError::BadBool { index: 2, byte: 2, .. }, .. }
    ));
}

#[test]
fn save_refuses_inconsistent_tensors() {
    let four = [0u8; 4];
    let cases: [Vec<Named<'_>>; 4] = [
        vec![("x", DType::F32, &[2], &four)],
        vec![("x", DType::F32, &[1], &four), ("x", DType::I32, &[1], &four)],
        vec![("__metadata__", DType::U8, &[4], &four)],
        vec![("x", DType::Bool, &[1], &[3])],
    ];
    let dir = tempfile::tempdir().unwrap();
    for tensors in cases {
        let path = dir.path().join("x.safetensors");
        let err = save(&path, &tensors, None).unwrap_err().to_string();
        assert!(err.contains(&format!("'{}'", tensors[0].0)), "{err}");
        assert!(!path.exists(), "a failed save left a file");
    }
    let missing = dir.path().join("no/such/dir/x.safetensors");
    assert!(matches!(save(&missing, &[], None), Err(IoError::Os { .. })));
}
