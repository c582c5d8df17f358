//! The tokenizer against HuggingFace's on the real all-MiniLM-L6-v2
//! vocabulary: the five fixture sentences must give exactly the fixture's
//! input ids and (batch-padded) attention masks. Reports itself SKIPPED on
//! stderr only when the vocabulary can be neither found nor fetched.

use std::path::PathBuf;

use smelt_runtime::hub::minilm_dir;
use smelt_runtime::text::WordPiece;

/// Says SKIPPED on the real stderr: libtest captures `eprintln!` of passing
/// tests, and a skip must be seen.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

fn vocab() -> Option<WordPiece> {
    match minilm_dir(None, true) {
        Ok(dir) => Some(WordPiece::from_vocab_file(&dir.join("vocab.txt"), true).unwrap()),
        Err(e) => {
            skipped(&format!("MiniLM vocab.txt unavailable, tokenization not checked: {e}"));
            None
        }
    }
}

fn fixture() -> serde_json::Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/minilm/minilm.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn fixture_sentences_give_huggingface_ids_and_masks() {
    let Some(wp) = vocab() else { return };
    let fx = fixture();
    let sentences = fx["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 5);
    let texts: Vec<&str> = sentences.iter().map(|s| s["text"].as_str().unwrap()).collect();
    for (s, text) in sentences.iter().zip(&texts) {
        assert_eq!(wp.encode(text, 512), ids(&s["input_ids"]), "{text}");
    }
    let (padded, masks) = wp.encode_batch(&texts, 512);
    for (i, s) in sentences.iter().enumerate() {
        let expected_ids = ids(&s["input_ids"]);
        let mask = ids(&s["attention_mask"]);
        assert_eq!(masks[i], mask, "{}", texts[i]);
        assert_eq!(padded[i][..expected_ids.len()], expected_ids[..]);
        assert!(padded[i][expected_ids.len()..].iter().all(|&p| p == wp.pad_id()));
        assert_eq!(padded[i].len(), mask.len());
    }
}

/// Ids HuggingFace `tokenizers` 0.23.3 gave with this model's tokenizer.json for
/// text that exercises every rule: accents, Turkish dotted I, final sigma,
/// Unicode whitespace and format chars, CJK next to kana and Hangul,
/// ligatures, emoji, fullwidth forms, combining marks, controls, ASCII
/// symbols, ideographs outside the BMP (0x2B820 is not one for HF).
#[test]
fn tricky_text_matches_huggingface() {
    let Some(wp) = vocab() else { return };
    let cases: &[(&str, &[u32])] = &[
        (
            "H\u{e9}llo, W\u{f6}rld! na\u{ef}ve caf\u{e9}",
            &[101, 7592, 1010, 2088, 999, 15743, 7668, 102],
        ),
        (
            "\u{130}stanbul \u{3a3}\u{38a}\u{3a3}\u{3a5}\u{3a6}\u{39f}\u{3a3} \u{3a3}\u{3c3}\u{3c2}",
            &[101, 9960, 1173, 18199, 29733, 29735, 29736, 29730, 29733, 1173, 29733, 19579, 102],
        ),
        (
            "tab\there\u{a0}nbsp\u{2028}ls\u{200b}zw\u{ad}shy",
            &[101, 21628, 2182, 1050, 5910, 2361, 1048, 17112, 9333, 10536, 102],
        ),
        (
            "\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{30c6}\u{30ad}\u{30b9}\u{30c8}\u{3001}\u{4e2d}\u{6587}\u{ff0c}\u{d55c}\u{ad6d}\u{c5b4}!",
            &[
                101, 1864, 1876, 1950, 1671, 30239, 30227, 30233, 30240, 1635, 1746, 1861, 1989,
                1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008, 999, 102,
            ],
        ),
        ("\u{fb01} \u{fb02} \u{149} \u{1c5} \u{1e9e}", &[101, 1984, 1985, 100, 100, 1096, 102]),
        (
            "emoji \u{1f600}\u{1f44d}\u{1f3fd} and symbols \u{20ac}\u{b1}\u{221e} \u{a9}\u{ae}\u{2122}",
            &[101, 7861, 29147, 2072, 100, 1998, 9255, 1574, 29657, 30128, 1075, 29656, 30108, 102],
        ),
        ("x\u{301}y\u{327}z", &[101, 1060, 2100, 2480, 102]),
        (
            "\u{ff26}\u{ff35}\u{ff2c}\u{ff2c}\u{ff37}\u{ff29}\u{ff24}\u{ff34}\u{ff28} \u{ff11}\u{ff12}\u{ff13}",
            &[101, 100, 100, 102],
        ),
        (
            "\u{395}\u{3bb}\u{3bb}\u{3b7}\u{3bd}\u{3b9}\u{3ba}\u{3ac} \u{420}\u{443}\u{441}\u{441}\u{43a}\u{438}\u{439} \u{627}\u{644}\u{639}\u{631}\u{628}\u{64a}\u{629} \u{5e2}\u{5d1}\u{5e8}\u{5d9}\u{5ea}",
            &[
                101, 1159, 29727, 29727, 24824, 16177, 18199, 29726, 14608, 1195, 29748, 29747,
                29747, 23925, 15414, 1270, 23673, 29830, 17149, 29816, 14498, 19433, 1259, 29789,
                29811, 29796, 29813, 102,
            ],
        ),
        ("\u{0}\u{fffd}\u{7}ctrl", &[101, 14931, 12190, 102]),
        (
            "$5.00 @user #tag 100% ^_^ `code` ~tilde | pipe",
            &[
                101, 1002, 1019, 1012, 4002, 1030, 5310, 1001, 6415, 2531, 1003, 1034, 1035, 1034,
                1036, 3642, 1036, 1066, 18681, 3207, 1064, 8667, 102,
            ],
        ),
        ("\u{20000}\u{2b820}\u{2b920}\u{f900}", &[101, 100, 100, 100, 100, 102]),
        ("\u{1c4}emal \u{c5} \u{3a9} K", &[101, 100, 1037, 1179, 1047, 102]),
    ];
    for (text, expected) in cases {
        assert_eq!(wp.encode(text, 512), *expected, "{text:?}: {:?}", wp.tokenize(text));
    }
}
