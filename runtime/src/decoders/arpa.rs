//! Reading ARPA back-off language models (plain or gzip) into [`NgramLm`].
//!
//! Strict where KenLM is strict: the first non-empty line must be `\data\`,
//! section sizes must match the header counts, `<s>` and `</s>` must be
//! present, and the file must end with `\end\`. A missing `<unk>` is added
//! with log10 probability -100, KenLM's default.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use super::dict::open_text;
use super::error::{DecodeError, Result};
use super::lm::{Entry, FastMap, MAX_ORDER, NgramLm};

/// Magic prefix of KenLM binary files.
const KENLM_BINARY_MAGIC: &[u8] = b"mmap lm ";

/// Loads an ARPA file (`.gz` is gunzipped). KenLM binary files are detected
/// and refused with a clear error.
pub fn load_arpa(path: &Path) -> Result<NgramLm> {
    let mut head = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open(path) {
        use std::io::Read;
        if f.read_exact(&mut head).is_ok() && head == KENLM_BINARY_MAGIC {
            return Err(DecodeError::parse(
                path,
                0,
                "this is a KenLM binary file, which smelt does not read yet; \
                 give the ARPA file (plain or .gz) it was built from",
            ));
        }
    }
    let reader = open_text(path)?;
    parse_arpa(reader, path)
}

struct Lines<'a> {
    inner: Box<dyn BufRead + 'a>,
    buf: String,
    line: usize,
    path: &'a Path,
}

impl Lines<'_> {
    /// Reads the next line into `buf`; false at end of file.
    fn advance(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self.inner.read_line(&mut self.buf).map_err(|e| DecodeError::io(self.path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        Ok(true)
    }

    /// The current line with its end trimmed.
    fn text(&self) -> &str {
        self.buf.trim_end()
    }

    /// The next line, or None at end of file.
    fn next(&mut self) -> Result<Option<&str>> {
        Ok(if self.advance()? { Some(self.text()) } else { None })
    }

    fn err(&self, msg: impl Into<String>) -> DecodeError {
        DecodeError::parse(self.path, self.line, msg)
    }
}

/// Parses ARPA text from `reader`; `path` names the file in errors.
pub fn parse_arpa(reader: Box<dyn BufRead + '_>, path: &Path) -> Result<NgramLm> {
    let mut lines = Lines { inner: reader, buf: String::new(), line: 0, path };

    // Header: \data\ then "ngram N=count" lines.
    loop {
        match lines.next()? {
            None => return Err(lines.err("missing \\data\\ header (file is empty)")),
            Some(l) if l.trim().is_empty() => continue,
            Some(l) if l.trim() == "\\data\\" => break,
            Some(l) => {
                let l = l.to_string();
                return Err(lines.err(format!("expected \\data\\ as the first line, found '{l}'")));
            }
        }
    }
    let mut counts: Vec<usize> = Vec::new();
    let mut section_line: Option<usize>;
    loop {
        let Some(l) = lines.next()? else {
            return Err(lines.err("end of file inside the \\data\\ header"));
        };
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix("ngram ") {
            let parsed = rest.split_once('=').and_then(|(n, c)| {
                Some((n.trim().parse::<usize>().ok()?, c.trim().parse::<usize>().ok()?))
            });
            let Some((n, c)) = parsed else {
                let l = l.to_string();
                return Err(lines.err(format!("malformed count line '{l}'")));
            };
            if n != counts.len() + 1 {
                return Err(lines.err(format!("count for order {n} out of sequence")));
            }
            counts.push(c);
            continue;
        }
        section_line = section_order(l);
        if section_line.is_none() {
            let l = l.to_string();
            return Err(lines.err(format!("unexpected line '{l}' in the \\data\\ header")));
        }
        break;
    }
    let order = counts.len();
    if order == 0 {
        return Err(lines.err("the \\data\\ header gives no n-gram counts"));
    }
    if order > MAX_ORDER {
        return Err(lines.err(format!("order {order} is above the supported {MAX_ORDER}")));
    }

    // Header counts are only hints for allocation: a corrupt one must not
    // reserve absurd memory before the sections prove it wrong.
    let hint = |c: usize| c.min(1 << 24);
    let mut lm = NgramLm {
        order,
        words: Vec::with_capacity(hint(counts[0]) + 1),
        vocab: HashMap::with_capacity(hint(counts[0]) + 1),
        unigrams: Vec::with_capacity(hint(counts[0]) + 1),
        tables: Vec::new(),
        bits: 0,
        bos: 0,
        eos: 0,
        unk: 0,
    };
    let mut ids: Vec<u32> = Vec::with_capacity(order);
    for n in 1..=order {
        if section_line != Some(n) {
            return Err(lines.err(format!("expected the \\{n}-grams: section")));
        }
        let mut seen = 0usize;
        let mut table: FastMap<u128, Entry> = FastMap::default();
        table.reserve(if n > 1 { hint(counts[n - 1]) } else { 0 });
        loop {
            if !lines.advance()? {
                return Err(lines.err(format!("end of file inside the {n}-grams (no \\end\\)")));
            }
            let l = lines.text();
            if l.is_empty() {
                continue;
            }
            if l.starts_with('\\') {
                let l = l.trim().to_string();
                if seen != counts[n - 1] {
                    return Err(lines.err(format!(
                        "the header announces {} {n}-grams but the section holds {seen}",
                        counts[n - 1]
                    )));
                }
                section_line = if l == "\\end\\" { Some(0) } else { section_order(&l) };
                if section_line.is_none() {
                    return Err(lines.err(format!("unexpected section line '{l}'")));
                }
                break;
            }
            let mut fields = l.split_ascii_whitespace();
            let prob = parse_f32(fields.next(), &lines, "probability")?;
            ids.clear();
            let mut backoff = 0.0f32;
            for k in 0..=n {
                let Some(f) = fields.next() else {
                    if k < n {
                        return Err(lines.err(format!("a {n}-gram line needs {n} words")));
                    }
                    break;
                };
                if k == n {
                    if n == order {
                        return Err(lines.err(format!(
                            "unexpected field '{f}' after a highest-order {n}-gram"
                        )));
                    }
                    backoff = parse_f32(Some(f), &lines, "back-off")?;
                } else if n == 1 {
                    let id = lm.words.len() as u32;
                    if lm.vocab.insert(f.to_string(), id).is_some() {
                        return Err(lines.err(format!("duplicate unigram '{f}'")));
                    }
                    lm.words.push(f.to_string());
                } else {
                    match lm.vocab.get(f) {
                        Some(&id) => ids.push(id),
                        None => {
                            return Err(lines.err(format!("word '{f}' is not among the unigrams")));
                        }
                    }
                }
            }
            if let Some(extra) = fields.next() {
                return Err(lines.err(format!("unexpected field '{extra}'")));
            }
            let entry = Entry { prob, backoff };
            if n == 1 {
                lm.unigrams.push(entry);
            } else if table.insert(lm.pack(&ids), entry).is_some() {
                return Err(lines.err(format!("duplicate {n}-gram")));
            }
            seen += 1;
        }
        if n == 1 {
            finish_vocab(&mut lm, &lines)?;
        } else {
            lm.tables.push(table);
        }
    }
    if section_line != Some(0) {
        return Err(lines.err("expected \\end\\ after the last section"));
    }
    Ok(lm)
}

/// After the unigrams: find the special words and size the packed keys.
fn finish_vocab(lm: &mut NgramLm, lines: &Lines) -> Result<()> {
    let find = |w: &str| lm.vocab.get(w).copied();
    let (Some(bos), Some(eos)) = (find("<s>"), find("</s>")) else {
        let which = if find("<s>").is_none() { "<s>" } else { "</s>" };
        return Err(lines.err(format!("the 1-grams have no {which}")));
    };
    let unk = match find("<unk>") {
        Some(u) => u,
        None => {
            let id = lm.words.len() as u32;
            lm.words.push("<unk>".into());
            lm.vocab.insert("<unk>".into(), id);
            lm.unigrams.push(Entry { prob: -100.0, backoff: 0.0 });
            id
        }
    };
    (lm.bos, lm.eos, lm.unk) = (bos, eos, unk);
    let v = lm.words.len().max(2) as u64;
    lm.bits = 64 - (v - 1).leading_zeros();
    if lm.bits as usize * lm.order > 128 {
        return Err(lines.err(format!(
            "{} words need {} bits each; a {}-gram does not fit the 128-bit keys",
            v, lm.bits, lm.order
        )));
    }
    Ok(())
}

/// `\N-grams:` → Some(N).
fn section_order(l: &str) -> Option<usize> {
    l.strip_prefix('\\')?.strip_suffix("-grams:")?.parse().ok().filter(|&n| n > 0)
}

fn parse_f32(f: Option<&str>, lines: &Lines, what: &str) -> Result<f32> {
    let Some(f) = f else { return Err(lines.err(format!("missing {what}"))) };
    match f.parse::<f32>() {
        Ok(v) if !v.is_nan() => Ok(v),
        _ => Err(lines.err(format!("{what} '{f}' is not a number"))),
    }
}
