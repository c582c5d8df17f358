//! Bad inputs give errors that name the file and line (or the utterance and
//! frame), never a panic.

use std::path::{Path, PathBuf};

use smelt_runtime::decoders::{
    CtcDecoderOptions, DecodeError, Emissions, LmSource, ctc_decoder, load_arpa,
};

/// A scratch directory unique to one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smelt-ctc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD_ARPA: &str = "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-99\t<s>\t-0.5\n-1.0\t</s>\n-1.5\t<unk>\n-0.7\ta\t-0.2\n\n\\2-grams:\n-0.3\t<s> a\n-0.4\ta </s>\n\n\\end\\\n";

fn arpa_error(name: &str, text: &str) -> String {
    let dir = scratch(name);
    let p = write(&dir, "lm.arpa", text);
    let err = load_arpa(&p).expect_err("must fail");
    assert!(matches!(err, DecodeError::Parse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("lm.arpa:"), "error does not name the file: {msg}");
    msg
}

#[test]
fn good_arpa_loads() {
    let dir = scratch("good");
    let lm = load_arpa(&write(&dir, "lm.arpa", GOOD_ARPA)).unwrap();
    assert_eq!(lm.order(), 2);
    let (s, p) = lm.score_id(&lm.begin(false), lm.word_id("a"));
    assert!((p - -0.3).abs() < 1e-6);
    let (_, p) = lm.score_id(&s, lm.eos());
    assert!((p - -0.4).abs() < 1e-6);
    // An unknown word scores as <unk>, with the back-off of <s>.
    let (_, p) = lm.score_id(&lm.begin(false), lm.word_id("nope"));
    assert!((p - (-1.5 - 0.5)).abs() < 1e-6);
}

#[test]
fn arpa_without_data_header() {
    let msg = arpa_error("nodata", "ngram 1=1\n\\1-grams:\n-1\t<s>\n\\end\\\n");
    assert!(msg.contains(":1:") && msg.contains("\\data\\"), "{msg}");
}

#[test]
fn arpa_with_wrong_counts() {
    let msg = arpa_error("counts", &GOOD_ARPA.replace("ngram 2=2", "ngram 2=3"));
    assert!(msg.contains(":15:") && msg.contains("announces 3 2-grams"), "{msg}");
}

#[test]
fn arpa_without_sentence_markers() {
    let text = GOOD_ARPA.replace("-99\t<s>\t-0.5\n", "-99\t<x>\t-0.5\n").replace("<s> a", "<x> a");
    let msg = arpa_error("nobos", &text);
    assert!(msg.contains("no <s>"), "{msg}");
    let text = GOOD_ARPA.replace("-1.0\t</s>\n", "-1.0\t<y>\n").replace("a </s>", "a <y>");
    let msg = arpa_error("noeos", &text);
    assert!(msg.contains("no </s>"), "{msg}");
}

#[test]
fn arpa_with_bad_lines() {
    let msg = arpa_error("badnum", &GOOD_ARPA.replace("-0.7\ta", "x0.7\ta"));
    assert!(msg.contains(":9:") && msg.contains("not a number"), "{msg}");
    let msg = arpa_error("unknownword", &GOOD_ARPA.replace("<s> a", "<s> b"));
    assert!(msg.contains(":12:") && msg.contains("'b'"), "{msg}");
    let msg = arpa_error("noend", GOOD_ARPA.trim_end_matches("\\end\\\n"));
    assert!(msg.contains("\\end\\"), "{msg}");
}

#[test]
fn kenlm_binary_is_refused_clearly() {
    let msg = arpa_error("binary", "mmap lm http://kheafield.com/code format version 5\n\0\0");
    assert!(msg.contains("KenLM binary"), "{msg}");
}

#[test]
fn missing_file_names_it() {
    let err = load_arpa(Path::new("/nonexistent/lm.arpa")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/lm.arpa"), "{err}");
}

fn small_setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let tokens = write(&dir, "tokens.txt", "-\n|\na\nb\n");
    let lexicon = write(&dir, "lexicon.txt", "a\ta |\nab\ta b |\n");
    (tokens, lexicon)
}

#[test]
fn lexicon_word_with_unknown_token() {
    let (tokens, _) = small_setup("lexbad");
    let dir = tokens.parent().unwrap();
    let lexicon = write(dir, "lexicon.txt", "a\ta |\nabc\ta b c |\n");
    let err =
        ctc_decoder(Some(&lexicon), &tokens, LmSource::None, None, Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("lexicon.txt:2:") && msg.contains("'c'"), "{msg}");
}

#[test]
fn blank_token_missing() {
    let (tokens, lexicon) = small_setup("noblank");
    let opts = CtcDecoderOptions { blank_token: "<b>".into(), ..Default::default() };
    let err = ctc_decoder(Some(&lexicon), &tokens, LmSource::None, None, opts).unwrap_err();
    assert!(err.to_string().contains("'<b>'"), "{err}");
}

#[test]
fn emissions_with_wrong_token_count() {
    let (tokens, lexicon) = small_setup("dim");
    let d = ctc_decoder(Some(&lexicon), &tokens, LmSource::None, None, Default::default()).unwrap();
    let data = vec![-1.0f32; 2 * 5];
    let e = Emissions::packed(&data, 5, &[2]).unwrap();
    let err = d.decode_batch(&e, 1).unwrap_err();
    assert!(err.to_string().contains("5 values per frame but there are 4 tokens"), "{err}");
}

#[test]
fn non_finite_emissions_name_utterance_and_frame() {
    let (tokens, lexicon) = small_setup("nan");
    let d = ctc_decoder(Some(&lexicon), &tokens, LmSource::None, None, Default::default()).unwrap();
    let mut data = vec![-1.0f32; 5 * 4];
    data[3 * 4 + 2] = f32::NAN;
    let e = Emissions::packed(&data, 4, &[2, 3]).unwrap();
    for threads in [1, 2] {
        let err = d.decode_batch(&e, threads).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("utterance 1, frame 1") && msg.contains("token 2"), "{msg}");
    }
}

#[test]
fn bad_shapes_and_lengths() {
    let data = vec![0.0f32; 12];
    assert!(Emissions::packed(&data, 4, &[2, 2]).is_err());
    assert!(Emissions::padded(&data, 2, 2, 4, None).is_err());
    let err = Emissions::padded(&data, 1, 3, 4, Some(&[4])).unwrap_err();
    assert!(err.to_string().contains("exceeds the 3 padded frames"), "{err}");
    assert!(Emissions::lengths_from_i64(&[3, -1]).unwrap_err().to_string().contains("utterance 1"));
}
