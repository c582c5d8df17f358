//! The BERT tokenizer on a small hand-made vocabulary: cleaning, accents,
//! punctuation, CJK, unknown and over-long words, truncation, padding.

use std::path::PathBuf;

use smelt_runtime::text::basic::{basic_tokenize, normalize};
use smelt_runtime::text::{TextError, WordPiece};

const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "$", "'", "¿", "hello", "world",
    "cafe", "resume", "un", "##aff", "##able", "aff", "##a", "a", "中", "国", "the", "##s", "s",
    "naive", "ﬁ", "n", "##v", "##f", "##use", "##r",
];

/// Writes `tokens` as a vocab.txt; the directory lives as long as the guard.
fn vocab_file(tokens: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.txt");
    std::fs::write(&path, tokens.join("\n") + "\n").unwrap();
    (dir, path)
}

fn tokenizer(lowercase: bool) -> (tempfile::TempDir, WordPiece) {
    let (dir, path) = vocab_file(VOCAB);
    (dir, WordPiece::from_vocab_file(&path, lowercase).unwrap())
}

fn id(t: &str) -> u32 {
    VOCAB.iter().position(|v| *v == t).unwrap() as u32
}

#[test]
fn cleaning_removes_controls_and_normalises_whitespace() {
    assert_eq!(normalize("a\u{0}b\u{fffd}c\u{200b}d\u{7}e", false), "abcde");
    assert_eq!(normalize("a\tb\nc\r\nd\u{3000}e\u{a0}f", false), "a b c  d e f");
    assert_eq!(basic_tokenize("  hello \t\n world  ", true), ["hello", "world"]);
}

#[test]
fn lowercasing_strips_accents() {
    assert_eq!(normalize("Café RÉSUMÉ naïve Ångström", true), "cafe resume naive angstrom");
    // Cased models keep both case and accents.
    assert_eq!(normalize("Café", false), "Café");
    // NFD splits precomposed letters; a letter without a decomposition stays.
    assert_eq!(normalize("Øl ß", true), "øl ß");
    let (_d, wp) = tokenizer(true);
    assert_eq!(wp.tokenize("CAFÉ Résumé"), ["cafe", "resume"]);
}

#[test]
fn punctuation_is_split_off() {
    assert_eq!(
        basic_tokenize("Hey friend!     How are you?!?", true),
        ["hey", "friend", "!", "how", "are", "you", "?", "!", "?"]
    );
    // ASCII symbols count as punctuation; Unicode symbols (Sm, Sc) do not;
    // Unicode punctuation (¿, «, —, 、) does.
    assert_eq!(basic_tokenize("a$b^c+d", true), ["a", "$", "b", "^", "c", "+", "d"]);
    assert_eq!(basic_tokenize("x€y±z", true), ["x€y±z"]);
    assert_eq!(basic_tokenize("¿«q»—r、s", true), ["¿", "«", "q", "»", "—", "r", "、", "s"]);
    assert_eq!(basic_tokenize("don't", true), ["don", "'", "t"]);
}

#[test]
fn cjk_ideographs_are_words() {
    assert_eq!(basic_tokenize("野口里佳 Noguchi", true), ["野", "口", "里", "佳", "noguchi"]);
    assert_eq!(basic_tokenize("ab中国cd", true), ["ab", "中", "国", "cd"]);
    // Hangul and kana are not ideographs: they stay whole words.
    assert_eq!(basic_tokenize("한국어 カタカナ", false), ["한국어", "カタカナ"]);
    // Uncased models see Hangul decomposed into jamo (NFD), as HuggingFace's do.
    assert_eq!(basic_tokenize("한", true), ["\u{1112}\u{1161}\u{11ab}"]);
    let (_d, wp) = tokenizer(true);
    assert_eq!(wp.tokenize("中国"), ["中", "国"]);
}

#[test]
fn wordpiece_is_greedy_longest_match() {
    let (_d, wp) = tokenizer(true);
    assert_eq!(wp.tokenize("unaffable"), ["un", "##aff", "##able"]);
    assert_eq!(wp.tokenize("The Hello, worlds!"), ["the", "hello", ",", "world", "##s", "!"]);
    assert_eq!(wp.tokenize("nvfuser"), ["n", "##v", "##f", "##use", "##r"]);
}

#[test]
fn unknown_words_are_unk_whole() {
    let (_d, wp) = tokenizer(true);
    // "unaffx": "un", "##aff" match but "##x" does not: the whole word is [UNK].
    assert_eq!(wp.tokenize("hello unaffx world"), ["hello", "[UNK]", "world"]);
    assert_eq!(wp.tokenize("日本"), ["[UNK]", "[UNK]"]);
    // Over 100 chars: [UNK] even though "a" + "##a"... would match.
    let long = "a".repeat(101);
    assert_eq!(wp.tokenize(&long), ["[UNK]"]);
    assert_eq!(wp.tokenize(&long[..100]).len(), 100);
    // Multi-byte chars count as one char each, and shortening stays on
    // char boundaries.
    assert_eq!(wp.tokenize("ﬁé"), ["[UNK]"]);
}

#[test]
fn encode_adds_specials_and_truncates() {
    let (_d, wp) = tokenizer(true);
    let full = wp.encode("hello world hello world", 512);
    assert_eq!(
        full,
        [id("[CLS]"), id("hello"), id("world"), id("hello"), id("world"), id("[SEP]")]
    );
    assert_eq!(
        wp.encode("hello world hello world", 4),
        [id("[CLS]"), id("hello"), id("world"), id("[SEP]")]
    );
    assert_eq!(wp.encode("hello world", 0), [id("[CLS]"), id("[SEP]")]);
    assert_eq!(wp.encode("", 8), [id("[CLS]"), id("[SEP]")]);
}

#[test]
fn encode_batch_pads_to_the_longest() {
    let (_d, wp) = tokenizer(true);
    let (ids, masks) = wp.encode_batch(&["hello", "hello world, the world", ""], 6);
    let (cls, sep, pad) = (id("[CLS]"), id("[SEP]"), id("[PAD]"));
    let (h, w, c, t) = (id("hello"), id("world"), id(","), id("the"));
    assert_eq!(
        ids,
        [
            vec![cls, h, sep, pad, pad, pad],
            vec![cls, h, w, c, t, sep],
            vec![cls, sep, pad, pad, pad, pad]
        ]
    );
    assert_eq!(masks, [vec![1, 1, 1, 0, 0, 0], vec![1; 6], vec![1, 1, 0, 0, 0, 0]]);
    assert_eq!(wp.encode_batch(&[], 6), (vec![], vec![]));
}

#[test]
fn cased_vocabulary_keeps_case() {
    let (_d, path) = vocab_file(&["[PAD]", "[UNK]", "[CLS]", "[SEP]", "Hello", "hello"]);
    let wp = WordPiece::from_vocab_file(&path, false).unwrap();
    assert_eq!(wp.tokenize("Hello hello HELLO"), ["Hello", "hello", "[UNK]"]);
}

#[test]
fn vocabulary_errors_name_the_file() {
    let (_d, path) = vocab_file(&["[PAD]", "[UNK]", "[CLS]"]);
    let err = WordPiece::from_vocab_file(&path, true).unwrap_err();
    assert!(matches!(err, TextError::MissingToken { token: "[SEP]", .. }));
    assert!(err.to_string().contains("vocab.txt"), "{err}");
    let missing = path.with_file_name("nope.txt");
    let err = WordPiece::from_vocab_file(&missing, true).unwrap_err();
    assert!(matches!(err, TextError::Io { .. }) && err.to_string().contains("nope.txt"));
}

#[test]
fn vocab_lookups() {
    let (_d, wp) = tokenizer(true);
    assert_eq!(wp.vocab_size(), VOCAB.len());
    assert_eq!(wp.token_to_id("##aff"), Some(id("##aff")));
    assert_eq!(wp.id_to_token(id("cafe")), Some("cafe"));
    assert_eq!(wp.id_to_token(VOCAB.len() as u32), None);
    assert_eq!(wp.pad_id(), 0);
}
