//! The `.npy` header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`, parsed
//! without evaluating anything and printed exactly as numpy prints it.
//!
//! The parser accepts the small subset of Python literals a header can hold
//! (strings, `True`/`False`, non-negative integers, tuples, lists, dicts),
//! limits nesting so a hostile header cannot exhaust the stack, and reports
//! anything else as a one-line message.

use std::fmt::Write;

/// The three fields every `.npy` header has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The dtype string, e.g. `<f4`.
    pub descr: String,
    /// True if the data is stored column-major.
    pub fortran_order: bool,
    /// The sizes; empty for a scalar.
    pub shape: Vec<u64>,
}

/// Deeper nesting than this is not a header numpy would write.
const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
    None,
}

impl Lit {
    fn kind(&self) -> &'static str {
        match self {
            Lit::Str(_) => "a string",
            Lit::Bool(_) => "a bool",
            Lit::Int(_) => "an integer",
            Lit::Tuple(_) => "a tuple",
            Lit::List(_) => "a list",
            Lit::Dict(_) => "a dict",
            Lit::None => "None",
        }
    }
}

struct Reader<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while self.chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.peek().map(|&(_, c)| c)
    }

    fn expect(&mut self, want: char) -> Result<(), String> {
        match self.peek() {
            Some(c) if c == want => {
                self.chars.next();
                Ok(())
            }
            Some(c) => Err(format!("expected `{want}`, found `{c}`")),
            None => Err(format!("expected `{want}`, found the end of the header")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        match self.peek() {
            None => Err("expected a value, found the end of the header".into()),
            Some(q @ ('\'' | '"')) => {
                self.chars.next();
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        Some((_, c)) if c == q => return Ok(Lit::Str(s)),
                        Some((_, '\\')) => {
                            return Err("escapes in strings are not supported".into());
                        }
                        Some((_, '\n')) | None => return Err("unterminated string".into()),
                        Some((_, c)) => s.push(c),
                    }
                }
            }
            Some('(') => {
                self.chars.next();
                let (items, trailing_comma) = self.items(')', depth)?;
                // `(3)` is the integer 3 in Python, not a tuple.
                if items.len() == 1 && !trailing_comma {
                    return Ok(items.into_iter().next().unwrap_or(Lit::None));
                }
                Ok(Lit::Tuple(items))
            }
            Some('[') => {
                self.chars.next();
                Ok(Lit::List(self.items(']', depth)?.0))
            }
            Some('{') => {
                self.chars.next();
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some('}') {
                        self.chars.next();
                        return Ok(Lit::Dict(entries));
                    }
                    let key = self.value(depth + 1)?;
                    self.expect(':')?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                    match self.peek() {
                        Some(',') => {
                            self.chars.next();
                        }
                        Some('}') => {}
                        Some(c) => {
                            return Err(format!("expected `,` or `}}` in the dict, found `{c}`"));
                        }
                        None => return Err("unterminated dict".into()),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let mut v: u64 = 0;
                while let Some((_, d)) = self.chars.next_if(|(_, c)| c.is_ascii_digit()) {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(d as u8 - b'0')))
                        .ok_or("an integer is too large")?;
                }
                // Python 2 era numpy wrote longs as `3L`.
                self.chars.next_if(|&(_, c)| c == 'L');
                Ok(Lit::Int(v))
            }
            Some('-') => Err("negative numbers are not valid here".into()),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let mut word = String::new();
                while let Some((_, c)) =
                    self.chars.next_if(|(_, c)| c.is_alphanumeric() || *c == '_')
                {
                    word.push(c);
                }
                match word.as_str() {
                    "True" => Ok(Lit::Bool(true)),
                    "False" => Ok(Lit::Bool(false)),
                    "None" => Ok(Lit::None),
                    _ => Err(format!("unexpected name `{word}`")),
                }
            }
            Some(c) => Err(format!("unexpected character `{}`", c.escape_default())),
        }
    }

    /// Comma-separated values up to `close`; also says whether a comma came last.
    fn items(&mut self, close: char, depth: usize) -> Result<(Vec<Lit>, bool), String> {
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            if self.peek() == Some(close) {
                self.chars.next();
                return Ok((items, trailing_comma));
            }
            items.push(self.value(depth + 1)?);
            trailing_comma = false;
            match self.peek() {
                Some(',') => {
                    self.chars.next();
                    trailing_comma = true;
                }
                Some(c) if c == close => {}
                Some(c) => return Err(format!("expected `,` or `{close}`, found `{c}`")),
                None => return Err(format!("expected `{close}`, found the end of the header")),
            }
        }
    }
}

/// Parses header text (without the preamble) into its three fields.
pub(crate) fn parse_header(text: &str) -> Result<Header, String> {
    let mut r = Reader { chars: text.char_indices().peekable() };
    let lit = r.value(0)?;
    if let Some(c) = r.peek() {
        return Err(format!("unexpected `{}` after the dict", c.escape_default()));
    }
    let Lit::Dict(entries) = lit else {
        return Err(format!("expected a dict, found {}", lit.kind()));
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    for (key, value) in entries {
        let Lit::Str(key) = key else {
            return Err(format!("a key is {}, not a string", key.kind()));
        };
        let slot_taken = match key.as_str() {
            "descr" => match value {
                Lit::Str(s) => descr.replace(s).is_some(),
                Lit::List(_) => return Err("structured dtypes are not supported".into()),
                v => return Err(format!("'descr' is {}, not a string", v.kind())),
            },
            "fortran_order" => match value {
                Lit::Bool(b) => fortran_order.replace(b).is_some(),
                v => {
                    return Err(format!("'fortran_order' is {}, not True or False", v.kind()));
                }
            },
            "shape" => match value {
                Lit::Tuple(dims) => {
                    let dims = dims
                        .into_iter()
                        .map(|d| match d {
                            Lit::Int(n) => Ok(n),
                            d => Err(format!("a dimension of 'shape' is {}", d.kind())),
                        })
                        .collect::<Result<Vec<u64>, String>>()?;
                    shape.replace(dims).is_some()
                }
                Lit::Int(n) => shape.replace(vec![n]).is_some(),
                v => return Err(format!("'shape' is {}, not a tuple", v.kind())),
            },
            other => return Err(format!("unexpected key '{other}'")),
        };
        if slot_taken {
            return Err(format!("key '{key}' appears twice"));
        }
    }
    Ok(Header {
        descr: descr.ok_or("the key 'descr' is missing")?,
        fortran_order: fortran_order.ok_or("the key 'fortran_order' is missing")?,
        shape: shape.ok_or("the key 'shape' is missing")?,
    })
}

/// The header dict as numpy writes it (`repr` of a tuple: `(3,)`, `()`).
pub(crate) fn format_header(descr: &str, shape: &[usize]) -> String {
    let mut dims = String::from("(");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            dims.push_str(", ");
        }
        let _ = write!(dims, "{d}");
    }
    if shape.len() == 1 {
        dims.push(',');
    }
    dims.push(')');
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(descr: &str, fortran_order: bool, shape: &[u64]) -> Header {
        Header { descr: descr.into(), fortran_order, shape: shape.to_vec() }
    }

    #[test]
    fn parses_what_numpy_writes() {
        let t = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n";
        assert_eq!(parse_header(t), Ok(h("<f4", false, &[3, 4])));
        let t = "{'descr': '|b1', 'fortran_order': True, 'shape': (7,), }";
        assert_eq!(parse_header(t), Ok(h("|b1", true, &[7])));
        let t = "{\"shape\": (), \"descr\": \"<i8\", \"fortran_order\": False}";
        assert_eq!(parse_header(t), Ok(h("<i8", false, &[])));
        let t = "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }";
        assert_eq!(parse_header(t), Ok(h("<f8", false, &[2, 3])));
    }

    #[test]
    fn rejects_what_is_not_a_header() {
        let cases = [
            ("", "expected a value"),
            ("[1, 2]", "expected a dict, found a list"),
            ("{'descr': '<f4', 'fortran_order': False}", "'shape' is missing"),
            ("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "'fortran_order' is an integer"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "negative"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                "too large",
            ),
            ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "structured"),
            ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "twice"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", "unexpected key 'x'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk", "after the dict"),
            ("{'descr': '<f4", "unterminated string"),
            ("{'descr': ('a', 'b'), 'fortran_order': False, 'shape': ()}", "'descr' is a tuple"),
        ];
        for (text, want) in cases {
            let err = parse_header(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
        let deep = format!("{}{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_header(&deep).expect_err("deep").contains("nested too deeply"));
    }

    #[test]
    fn formats_as_numpy_does() {
        assert_eq!(
            format_header("<f4", &[3, 4]),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
        );
        assert_eq!(
            format_header("|u1", &[5]),
            "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"
        );
        assert_eq!(
            format_header("<i8", &[]),
            "{'descr': '<i8', 'fortran_order': False, 'shape': (), }"
        );
        let s = format_header("<f2", &[2, 0, 7]);
        assert_eq!(parse_header(&s), Ok(h("<f2", false, &[2, 0, 7])));
    }
}
