//! Tokens of the IR text format, each with the line and column it starts at.
//!
//! The lexer never fails on its own: a character it does not know becomes a
//! [`Tok::Unknown`] that the parser reports with its position.

use super::graph::Span;

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare word: keyword, op name, dtype, symbol, attribute name.
    Ident(String),
    /// `%name`.
    Value(String),
    /// `@name`.
    Global(String),
    /// An integer literal (sign included).
    Int(i64),
    /// A float literal (sign included).
    Float(f64),
    /// `-` not followed by a digit (as in `-inf`).
    Minus,
    /// `->`.
    Arrow,
    /// One of `( ) [ ] { } , : =`.
    Punct(char),
    /// A character or number the format does not allow.
    Unknown(String),
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Value(s) => format!("`%{s}`"),
            Tok::Global(s) => format!("`@{s}`"),
            Tok::Int(i) => format!("`{i}`"),
            Tok::Float(f) => format!("`{f:?}`"),
            Tok::Minus => "`-`".into(),
            Tok::Arrow => "`->`".into(),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Unknown(s) => format!("unexpected `{s}`"),
            Tok::Eof => "end of input".into(),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Splits `src` into tokens; the last is always [`Tok::Eof`].
pub fn lex(src: &str) -> Vec<(Tok, Span)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    macro_rules! advance {
        ($n:expr) => {{
            for _ in 0..$n {
                if chars[i] == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
                i += 1;
            }
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        let span = Span { line, col };
        if c.is_whitespace() {
            advance!(1);
            continue;
        }
        if c == ';' {
            while i < chars.len() && chars[i] != '\n' {
                advance!(1);
            }
            continue;
        }
        let take_name = |start: usize| {
            let mut j = start;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            j
        };
        if c == '%' || c == '@' {
            let end = take_name(i + 1);
            let name: String = chars[i + 1..end].iter().collect();
            let n = end - i;
            if name.is_empty() {
                out.push((Tok::Unknown(c.to_string()), span));
            } else if c == '%' {
                out.push((Tok::Value(name), span));
            } else {
                out.push((Tok::Global(name), span));
            }
            advance!(n);
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'>') {
            out.push((Tok::Arrow, span));
            advance!(2);
            continue;
        }
        let starts_number = c.is_ascii_digit()
            || (c == '-' || c == '+' || c == '.')
                && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '.');
        if starts_number {
            let mut j = i + 1;
            while j < chars.len() {
                let d = chars[j];
                let exp_sign = (d == '-' || d == '+') && matches!(chars[j - 1], 'e' | 'E');
                if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exp_sign {
                    j += 1;
                } else {
                    break;
                }
            }
            let text: String = chars[i..j].iter().collect();
            let is_float = text.contains(['.', 'e', 'E']) && !text.starts_with("0x");
            let tok = if is_float {
                text.parse::<f64>().map(Tok::Float).unwrap_or(Tok::Unknown(text.clone()))
            } else {
                text.parse::<i64>().map(Tok::Int).unwrap_or(Tok::Unknown(text.clone()))
            };
            out.push((tok, span));
            advance!(j - i);
            continue;
        }
        if c == '-' {
            out.push((Tok::Minus, span));
            advance!(1);
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let end = take_name(i);
            out.push((Tok::Ident(chars[i..end].iter().collect()), span));
            advance!(end - i);
            continue;
        }
        if "()[]{},:=".contains(c) {
            out.push((Tok::Punct(c), span));
            advance!(1);
            continue;
        }
        out.push((Tok::Unknown(c.to_string()), span));
        advance!(1);
    }
    out.push((Tok::Eof, Span { line, col }));
    out
}
