//! `smelt decode` end to end on the CTC fixtures, and its errors.

use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ctc")
}

fn smelt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smelt")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

#[test]
fn beam_search_with_the_lexicon_and_lm_reproduces_the_references() {
    let (code, out, err) = smelt(&[
        "decode",
        "--emissions",
        &path("dev_emissions.npy"),
        "--lengths",
        &path("dev_lengths.npy"),
        "--tokens",
        &path("tokens.txt"),
        "--lexicon",
        &path("lexicon.txt"),
        "--lm",
        &path("lm.arpa.gz"),
        "--beam-size",
        "10",
    ]);
    assert_eq!(code, 0, "{err}");
    let refs = std::fs::read_to_string(fixtures().join("dev_refs.txt")).unwrap();
    let hyps: Vec<String> = out.lines().map(str::to_string).collect();
    let refs: Vec<String> = refs.lines().map(str::to_string).collect();
    assert_eq!(hyps.len(), 100);
    // Flashlight Text reaches 1.29% WER here at beam 10 (fixtures README); `wer` is in percent.
    let wer = smelt_runtime::decoders::bench::wer(&hyps, &refs);
    assert!((wer - 1.29).abs() < 0.01, "WER {wer}%");
}

#[test]
fn json_output_has_the_documented_fields() {
    let (code, out, err) = smelt(&[
        "decode",
        "--emissions",
        &path("dev_emissions.npy"),
        "--lengths",
        &path("dev_lengths.npy"),
        "--tokens",
        &path("tokens.txt"),
        "--greedy",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["load_seconds"].is_f64() && v["decode_seconds"].is_f64());
    let utts = v["utterances"].as_array().unwrap();
    assert_eq!(utts.len(), 100);
    let hyp = &utts[0]["hyps"][0];
    for key in ["words", "tokens", "timesteps", "score"] {
        assert!(!hyp[key].is_null(), "{key} missing in {hyp}");
    }
}

#[test]
fn bad_inputs_give_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad_arpa = dir.path().join("bad.arpa");
    std::fs::write(&bad_arpa, "\\1-grams:\n-1.0\thello\n\\end\\\n").unwrap();
    let few_tokens = dir.path().join("tokens.txt");
    std::fs::write(&few_tokens, "-\n|\na\n").unwrap();
    let e = path("dev_emissions.npy");
    let l = path("dev_lengths.npy");
    let t = path("tokens.txt");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["decode", "--emissions", &l, "--tokens", &t], "must be f32"),
        (vec!["decode", "--emissions", &e, "--tokens", &t], "need --lengths"),
        (
            vec![
                "decode",
                "--emissions",
                &e,
                "--lengths",
                &l,
                "--tokens",
                &t,
                "--lm",
                bad_arpa.to_str().unwrap(),
            ],
            "bad.arpa",
        ),
        (
            vec![
                "decode",
                "--emissions",
                &e,
                "--lengths",
                &l,
                "--tokens",
                few_tokens.to_str().unwrap(),
            ],
            "tokens",
        ),
        (vec!["decode", "--emissions", "/nonexistent.npy", "--tokens", &t], "nonexistent"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = smelt(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}
