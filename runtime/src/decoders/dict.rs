//! Token and word dictionaries and the lexicon file, read the way Flashlight
//! Text reads them: one token per line (several on a line share an index),
//! lexicon lines `word<TAB>t o k e n s`, several spellings per word allowed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::error::{DecodeError, Result};

/// A bidirectional map between strings and dense indices.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    entries: Vec<String>,
    index: HashMap<String, usize>,
}

impl Dictionary {
    /// A dictionary whose index `i` is `tokens[i]`.
    pub fn from_tokens<S: AsRef<str>>(tokens: &[S]) -> Result<Self> {
        let mut d = Dictionary::default();
        for t in tokens {
            d.push(t.as_ref(), t.as_ref()).map_err(DecodeError::Config)?;
        }
        Ok(d)
    }

    /// Reads a tokens file: one index per non-empty line; all whitespace
    /// separated entries on a line map to that line's index.
    pub fn load(path: &Path) -> Result<Self> {
        let mut d = Dictionary::default();
        for (i, line) in read_lines(path)?.into_iter().enumerate() {
            let mut fields = line.split_whitespace();
            let Some(first) = fields.next() else { continue };
            let idx = d.entries.len();
            d.push(first, first).map_err(|m| DecodeError::parse(path, i + 1, m))?;
            for alias in fields {
                if d.index.insert(alias.to_string(), idx).is_some() {
                    return Err(DecodeError::parse(
                        path,
                        i + 1,
                        format!("duplicate entry '{alias}'"),
                    ));
                }
            }
        }
        if d.entries.is_empty() {
            return Err(DecodeError::parse(path, 0, "no tokens"));
        }
        Ok(d)
    }

    fn push(&mut self, entry: &str, key: &str) -> std::result::Result<usize, String> {
        let idx = self.entries.len();
        if self.index.insert(key.to_string(), idx).is_some() {
            return Err(format!("duplicate entry '{key}'"));
        }
        self.entries.push(entry.to_string());
        Ok(idx)
    }

    /// The index of `entry`, if present.
    pub fn index(&self, entry: &str) -> Option<usize> {
        self.index.get(entry).copied()
    }

    /// The entry at `idx`.
    pub fn entry(&self, idx: usize) -> Option<&str> {
        self.entries.get(idx).map(String::as_str)
    }

    /// Number of indices.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries in index order.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

/// A lexicon: words in file order, each with one or more spellings in tokens.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// `(word, spellings)` in order of first appearance.
    pub words: Vec<(String, Vec<Vec<String>>)>,
}

impl Lexicon {
    /// Reads a lexicon file: `word tok tok …` per line (tabs or spaces).
    pub fn load(path: &Path) -> Result<Self> {
        let mut lex = Lexicon::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, line) in read_lines(path)?.into_iter().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            if fields.len() < 2 {
                return Err(DecodeError::parse(
                    path,
                    i + 1,
                    format!("word '{}' has no spelling", fields[0]),
                ));
            }
            let spelling: Vec<String> = fields[1..].iter().map(|s| s.to_string()).collect();
            match seen.get(fields[0]) {
                Some(&w) => lex.words[w].1.push(spelling),
                None => {
                    seen.insert(fields[0].to_string(), lex.words.len());
                    lex.words.push((fields[0].to_string(), vec![spelling]));
                }
            }
        }
        Ok(lex)
    }

    /// Checks every spelling against `tokens`, naming the first bad line.
    pub(crate) fn check_tokens(&self, tokens: &Dictionary, path: Option<&Path>) -> Result<()> {
        for (w, (word, spellings)) in self.words.iter().enumerate() {
            for sp in spellings {
                if let Some(bad) = sp.iter().find(|t| tokens.index(t).is_none()) {
                    let msg = format!("word '{word}' is spelled with unknown token '{bad}'");
                    return Err(match path {
                        // Line numbers are exact only when every word sits on one
                        // line, so name the word as well.
                        Some(p) => {
                            DecodeError::parse(p, line_of_word(p, word).unwrap_or(w + 1), msg)
                        }
                        None => DecodeError::Config(msg),
                    });
                }
            }
        }
        Ok(())
    }
}

fn line_of_word(path: &Path, word: &str) -> Option<usize> {
    let lines = read_lines(path).ok()?;
    lines.iter().position(|l| l.split_whitespace().next() == Some(word)).map(|i| i + 1)
}

/// Reads a whole text file (plain, or gzip when it ends in `.gz`) into lines.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = read_text(path)?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Reads a whole text file, gunzipping `.gz` files.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| DecodeError::io(path, e))?;
    let mut text = String::new();
    let gz = path.extension().is_some_and(|e| e == "gz");
    let res = if gz {
        flate2::read::MultiGzDecoder::new(BufReader::new(file)).read_to_string(&mut text)
    } else {
        BufReader::new(file).read_to_string(&mut text)
    };
    res.map_err(|e| DecodeError::io(path, e))?;
    Ok(text)
}

/// Opens a file for line reading, gunzipping `.gz` files.
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path).map_err(|e| DecodeError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    }
}
