//! The decoder API around the search: packed and padded batches, threads,
//! custom language models through the trait, greedy decoding, JSON results.

use std::path::PathBuf;
use std::sync::Arc;

use smelt_runtime::decoders::{
    CtcDecoder, CtcDecoderLm, CtcDecoderOptions, Dictionary, Emissions, KenLm, Lexicon, LmSource,
    NgramState, bench, ctc_decoder, greedy_decode, load_arpa, word_dict_from_lexicon,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ctc")
}

/// The first `n` dev utterances, packed, and their lengths.
fn dev(n: usize) -> (Vec<f32>, usize, Vec<usize>) {
    let (data, tokens, lengths) = bench::read_dev_emissions(&fixtures()).unwrap();
    let frames: usize = lengths[..n].iter().sum();
    (data[..frames * tokens].to_vec(), tokens, lengths[..n].to_vec())
}

fn opts(beam: usize) -> CtcDecoderOptions {
    CtcDecoderOptions { beam_size: beam, nbest: 3, ..Default::default() }
}

#[test]
fn padded_packed_and_threads_agree() {
    let dir = fixtures();
    let (data, n, lengths) = dev(6);
    let packed = Emissions::packed(&data, n, &lengths).unwrap();
    let t_max = *lengths.iter().max().unwrap();
    let mut padded = vec![0.0f32; lengths.len() * t_max * n];
    let mut at = 0;
    for (b, &l) in lengths.iter().enumerate() {
        padded[b * t_max * n..(b * t_max + l) * n].copy_from_slice(&data[at..at + l * n]);
        at += l * n;
    }
    let padded = Emissions::padded(&padded, lengths.len(), t_max, n, Some(&lengths)).unwrap();
    let lm = LmSource::Arpa(&dir.join("lm.arpa.gz"));
    let d =
        ctc_decoder(Some(&dir.join("lexicon.txt")), &dir.join("tokens.txt"), lm, None, opts(10))
            .unwrap();
    let a = d.decode_batch(&packed, 1).unwrap();
    assert_eq!(a, d.decode_batch(&padded, 1).unwrap());
    assert_eq!(a, d.decode_batch(&packed, 2).unwrap());
    assert_eq!(a, d.decode_batch(&packed, 0).unwrap());
    assert_eq!(a.len(), 6);
    // Up to nbest each (fewer when few hypotheses end at a word boundary), best first.
    for h in &a {
        assert!((1..=3).contains(&h.len()));
        assert!(h.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // TorchAudio's conventions: the path starts and ends with silence, and
    // timesteps count the start state as 0.
    let h = &a[0][0];
    assert_eq!(h.tokens.first(), Some(&1));
    assert_eq!(h.tokens.last(), Some(&1));
    assert_eq!(*h.timesteps.last().unwrap(), lengths[0] + 1);
    assert_eq!(d.transcript(h), h.words.join(" "));
    let json = serde_json::to_value(h).unwrap();
    for key in ["tokens", "words", "score", "am_score", "lm_score", "timesteps"] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
}

/// A user LM: delegates to KenLm but counts as a custom implementation.
struct Wrapped(KenLm);

impl CtcDecoderLm for Wrapped {
    type State = NgramState;
    fn start(&self, nothing: bool) -> NgramState {
        self.0.start(nothing)
    }
    fn score(&self, state: &NgramState, index: usize) -> (NgramState, f32) {
        self.0.score(state, index)
    }
    fn finish(&self, state: &NgramState) -> (NgramState, f32) {
        self.0.finish(state)
    }
}

#[test]
fn custom_lm_through_the_trait() {
    let dir = fixtures();
    let (data, n, lengths) = dev(3);
    let e = Emissions::packed(&data, n, &lengths).unwrap();
    let model = Arc::new(load_arpa(&dir.join("lm.arpa.gz")).unwrap());
    let tokens = Dictionary::load(&dir.join("tokens.txt")).unwrap();
    let lexicon = Lexicon::load(&dir.join("lexicon.txt")).unwrap();
    let words = word_dict_from_lexicon(&lexicon, "<unk>");
    let lm = Wrapped(KenLm::new(model.clone(), words.entries()));
    let custom = CtcDecoder::new(tokens, Some(lexicon), words, lm, opts(20)).unwrap();
    let builtin = ctc_decoder(
        Some(&dir.join("lexicon.txt")),
        &dir.join("tokens.txt"),
        LmSource::Loaded(model),
        None,
        opts(20),
    )
    .unwrap();
    assert_eq!(custom.decode_batch(&e, 1).unwrap(), builtin.decode_batch(&e, 1).unwrap());
}

#[test]
fn lexicon_free_and_options() {
    let dir = fixtures();
    let (data, n, lengths) = dev(2);
    let e = Emissions::packed(&data, n, &lengths).unwrap();
    let tokens = dir.join("tokens.txt");
    let char_lm = dir.join("lm_char.arpa.gz");
    for quirk in [true, false] {
        let o = CtcDecoderOptions { torchaudio_token_order: quirk, lm_weight: 0.25, ..opts(8) };
        let d = ctc_decoder(None, &tokens, LmSource::Arpa(&char_lm), None, o).unwrap();
        let h = d.decode_batch(&e, 1).unwrap();
        assert!(h[0][0].words.is_empty());
        assert!(!d.transcript(&h[0][0]).is_empty());
    }
    // Fewer tokens per frame, and unknown words allowed.
    let o = CtcDecoderOptions { beam_size_token: Some(5), unk_score: -5.0, ..opts(8) };
    let d = ctc_decoder(Some(&dir.join("lexicon.txt")), &tokens, LmSource::None, None, o).unwrap();
    assert_eq!(d.decode_batch(&e, 1).unwrap().len(), 2);
}

#[test]
fn greedy_collapses_repeats_and_drops_blanks() {
    let tokens = Dictionary::from_tokens(&["-", "|", "a", "b"]).unwrap();
    // Frames: a a - a | b b
    let best = [2, 2, 0, 2, 1, 3, 3];
    let mut e = vec![-5.0f32; best.len() * 4];
    for (t, &b) in best.iter().enumerate() {
        e[t * 4 + b] = -0.1;
    }
    let h = greedy_decode(&e, 4, 0, Some(1), Some(&tokens));
    assert_eq!(h.tokens, vec![2, 2, 1, 3]);
    assert_eq!(h.timesteps, vec![0, 3, 4, 5]);
    assert_eq!(h.words, vec!["aa".to_string(), "b".to_string()]);
    assert!((h.score - -0.7).abs() < 1e-6);
}
