//! The beam search against Flashlight Text's own output on the dev fixtures
//! (`dev_reference_nbest.json`): 20 utterances, beam 50, n-best 5, four
//! configurations. The best hypothesis must have the same words and tokens
//! and a score within 1e-3; n-best lists must agree in order wherever the
//! reference scores differ by more than 1e-4.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use smelt_runtime::decoders::{
    CtcDecoderOptions, CtcHypothesis, Emissions, LmSource, bench, ctc_decoder, load_arpa,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ctc")
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::String(s) if s == "inf" => f64::INFINITY,
        _ => v.as_f64().expect("number"),
    }
}

fn ints(v: &Value) -> Vec<usize> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("int") as usize).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|x| x.as_str().expect("str").to_string()).collect()
}

/// First position where two token paths differ, for the failure message.
fn first_diff(ours: &[u32], theirs: &[usize]) -> Option<usize> {
    ours.iter().zip(theirs).position(|(a, &b)| *a as usize != b)
}

#[test]
fn beam_search_matches_flashlight_reference() {
    let dir = fixtures();
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("dev_reference_nbest.json")).expect("reference json"),
    )
    .expect("valid json");
    let (data, n_tokens, lengths) = bench::read_dev_emissions(&dir).expect("emissions");
    let emissions = Emissions::packed(&data, n_tokens, &lengths).expect("packed");
    let word_lm = Arc::new(load_arpa(&dir.join("lm.arpa.gz")).expect("word lm"));
    let char_lm = Arc::new(load_arpa(&dir.join("lm_char.arpa.gz")).expect("char lm"));
    let utterances = reference["utterances"].as_array().expect("utterances");
    let beam = reference["beam"].as_u64().expect("beam") as usize;
    let beam_size_token = reference["beam_size_token"].as_u64().expect("bst") as usize;

    let configs = ["lexicon+kenlm", "lexicon+kenlm+logadd", "lexicon+zerolm", "lexfree+charlm"];
    let mut failures = Vec::new();
    let mut checked = 0;
    for config in configs {
        let params = &utterances[0]["decoders"][config]["params"];
        let get = |k: &str, d: f64| params.get(k).map_or(d, num);
        let opts = CtcDecoderOptions {
            nbest: 5,
            beam_size: beam,
            beam_size_token: Some(beam_size_token),
            beam_threshold: get("beam_threshold", 50.0),
            lm_weight: get("lm_weight", 2.0),
            word_score: get("word_score", 0.0),
            unk_score: get("unk_score", f64::NEG_INFINITY),
            sil_score: get("sil_score", 0.0),
            log_add: params.get("log_add").and_then(Value::as_bool).unwrap_or(false),
            ..Default::default()
        };
        let (lexicon, lm) = match config {
            "lexicon+zerolm" => (Some(dir.join("lexicon.txt")), LmSource::None),
            "lexfree+charlm" => (None, LmSource::Loaded(char_lm.clone())),
            _ => (Some(dir.join("lexicon.txt")), LmSource::Loaded(word_lm.clone())),
        };
        let decoder = ctc_decoder(lexicon.as_deref(), &dir.join("tokens.txt"), lm, None, opts)
            .expect("decoder");
        for utt in utterances {
            let index = utt["index"].as_u64().expect("index") as usize;
            let expected = utt["decoders"][config]["hyps"].as_array().expect("hyps");
            let ours: Vec<CtcHypothesis> =
                decoder.decode_one(emissions.utterance(index), index).expect("decode");
            checked += 1;
            let (best, ref_best) = (&ours[0], &expected[0]);
            let ref_score = num(&ref_best["score"]);
            let ref_tokens = ints(&ref_best["tokens"]);
            if best.words != strs(&ref_best["words"])
                || best.tokens != ref_tokens
                || (best.score - ref_score).abs() > 1e-3
            {
                failures.push(format!(
                    "{config} utt {index}: ours {:?} {:.6} (am {:.6} lm {:.6}), flashlight {:?} {:.6} (am {:.6} lm {:.6}); paths differ at {:?}",
                    best.words,
                    best.score,
                    best.am_score,
                    best.lm_score,
                    strs(&ref_best["words"]),
                    ref_score,
                    num(&ref_best["am_score"]),
                    num(&ref_best["lm_score"]),
                    first_diff(&best.path, &ints(&ref_best["raw_tokens"])),
                ));
                continue;
            }
            let ref_scores: Vec<f64> = expected.iter().map(|h| num(&h["score"])).collect();
            if ours.len() != expected.len() {
                failures.push(format!(
                    "{config} utt {index}: {} hypotheses, flashlight has {}",
                    ours.len(),
                    expected.len()
                ));
                continue;
            }
            for (i, (h, e)) in ours.iter().zip(expected).enumerate() {
                let separated = (i == 0 || ref_scores[i - 1] - ref_scores[i] > 1e-4)
                    && (i + 1 == ref_scores.len() || ref_scores[i] - ref_scores[i + 1] > 1e-4);
                if (h.score - ref_scores[i]).abs() > 1e-3
                    || (separated && h.tokens != ints(&e["tokens"]))
                {
                    failures.push(format!(
                        "{config} utt {index} n-best {i}: ours {:.6} {:?}, flashlight {:.6} {:?}",
                        h.score,
                        h.words,
                        ref_scores[i],
                        strs(&e["words"])
                    ));
                }
            }
        }
    }
    assert_eq!(checked, 80);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
