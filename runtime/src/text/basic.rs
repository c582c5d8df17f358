//! BERT's basic tokenization: clean the text, isolate CJK ideographs,
//! optionally strip accents and lowercase, then split on whitespace and
//! punctuation.
//!
//! Character classes follow HuggingFace `tokenizers` exactly: "control" is
//! Unicode's Cc/Cf/Co (tab, newline and carriage return count as
//! whitespace instead), whitespace is Rust's `char::is_whitespace`,
//! punctuation is ASCII punctuation (which includes symbols such as `$` and
//! `^`) or any Unicode P* category, accents are Mn marks after NFD, and
//! lowercasing maps each char on its own (no final-sigma rule), so words match
//! the fast tokenizer's even where the Python `BertTokenizer` differs.

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// Normalises `text` as `BertNormalizer` does (clean_text, chinese chars,
/// and, when `lowercase`, accent stripping then lowercasing).
pub fn normalize(text: &str, lowercase: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            out.push(' ');
        } else if is_chinese_char(c) {
            // Ideographs are words on their own: CJK text has no spaces.
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    if !lowercase {
        return out;
    }
    // uncased BERT strips accents exactly when it lowercases.
    out.nfd().filter(|c| !c.is_mark_nonspacing()).flat_map(char::to_lowercase).collect()
}

/// Splits normalised text into words: whitespace separates and is dropped,
/// each punctuation char is a word of its own.
pub fn split_words(normalized: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for chunk in normalized.split(char::is_whitespace) {
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < i {
                    words.push(&chunk[start..i]);
                }
                let end = i + c.len_utf8();
                words.push(&chunk[i..end]);
                start = end;
            }
        }
        if start < chunk.len() {
            words.push(&chunk[start..]);
        }
    }
    words
}

/// [`normalize`] then [`split_words`], as owned strings.
pub fn basic_tokenize(text: &str, lowercase: bool) -> Vec<String> {
    split_words(&normalize(text, lowercase)).into_iter().map(str::to_owned).collect()
}

/// Whitespace for cleaning: tab, newline, carriage return are control chars
/// in Unicode but separate words in text.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control and format characters (Cc, Cf, Co), removed during cleaning.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// BERT's punctuation: ASCII punctuation (symbols included) or Unicode P*.
pub fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK Unified Ideographs blocks (and compatibility ideographs); Hangul,
/// Hiragana and Katakana are not in them, as in BERT.
pub fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}
