//! The parser and verifier never panic: every corpus file, mutated in
//! thousands of seeded ways (truncated, tokens deleted, duplicated and
//! swapped, bytes deleted, random characters inserted, numbers made huge or
//! negative, names replaced), must give `Ok` or `Err` from `parse_module` +
//! `verify_module`, and an error must carry a plausible line:col. Whatever
//! does verify must also print and parse back.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use smelt_compiler::ir::{parse_module, verify_module};
use smelt_testsuite::corpus::{case_files, case_name};

/// Random mutations per corpus file (on top of truncation at every char).
const MUTATIONS_PER_FILE: usize = 150;

thread_local! {
    /// Set while a mutated input runs, so its panic (a finding, reported
    /// below with the input) does not also spam stderr.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// Parses, verifies and (if valid) re-prints and re-parses `src`; `Err`
/// describes a panic or a broken property.
fn check(src: &str) -> Result<(), String> {
    QUIET.with(|q| q.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let lines = src.split('\n').count() as u32;
        let m = match parse_module(src) {
            Ok(m) => m,
            Err(e) => {
                if e.span.line < 1 || e.span.col < 1 || e.span.line > lines {
                    return Err(format!("implausible position {} in error: {e}", e.span));
                }
                return Ok(());
            }
        };
        if let Err(e) = verify_module(&m) {
            if let Some(s) = e.span
                && (s.line < 1 || s.col < 1 || s.line > lines)
            {
                return Err(format!("implausible position {s} in verifier error: {e}"));
            }
            return Ok(());
        }
        let text = m.to_string();
        match parse_module(&text) {
            Ok(back) if back == m => Ok(()),
            Ok(_) => Err(format!("re-parsed text differs:\n{text}")),
            Err(e) => Err(format!("printed text does not parse: {e}\n{text}")),
        }
    }));
    QUIET.with(|q| q.set(false));
    match outcome {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "<non-string panic>".into());
            Err(format!("panicked: {msg}"))
        }
    }
}

/// Splits text into tokens that keep every character: runs of name
/// characters, runs of whitespace, and single other characters.
fn tokens(src: &str) -> Vec<String> {
    let is_word = |c: char| c.is_alphanumeric() || "_.%@-+".contains(c);
    let mut out: Vec<String> = Vec::new();
    for c in src.chars() {
        let kind = |c: char| {
            if is_word(c) {
                0
            } else if c.is_whitespace() {
                1
            } else {
                2
            }
        };
        match out.last_mut() {
            Some(last) if kind(c) != 2 && last.chars().next().map(kind) == Some(kind(c)) => {
                last.push(c)
            }
            _ => out.push(c.to_string()),
        }
    }
    out
}

const NUMBERS: [&str; 14] = [
    "99999999999999999999",
    "-1",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551615",
    "4294967296",
    "0",
    "-0",
    "1e308",
    "1e999",
    "-1e-320",
    "nan",
    "-inf",
    "65536",
];

const WORDS: [&str; 24] = [
    "%x",
    "%undefined",
    "%0",
    "@f",
    "f32",
    "bool",
    "i8",
    "bf16",
    "n",
    "add",
    "max",
    "sum",
    "matmul",
    "conv2d",
    "const",
    "iota",
    "reshape",
    "slice",
    "return",
    "func",
    "keepdim",
    "dims",
    "true",
    "->",
];

const CHARS: [char; 20] = [
    '(', ')', '[', ']', '{', '}', ',', ':', '=', '%', '@', '-', ';', '\n', 'é', '∞', '\0', '"',
    '.', '9',
];

/// One seeded mutation of `src` and what it was.
fn mutate(src: &str, rng: &mut StdRng) -> (String, String) {
    let mut toks = tokens(src);
    let n = toks.len();
    let chars: Vec<char> = src.chars().collect();
    if toks.is_empty() {
        let c = *CHARS.choose(rng).unwrap_or(&'(');
        return (c.to_string(), format!("replace the empty text with {c:?}"));
    }
    match rng.random_range(0..8) {
        0 => {
            let i = rng.random_range(0..n);
            let t = toks.remove(i);
            (toks.concat(), format!("delete token {i} {t:?}"))
        }
        1 => {
            let i = rng.random_range(0..toks.len());
            let t = toks[i].clone();
            toks.insert(i, t.clone());
            (toks.concat(), format!("duplicate token {i} {t:?}"))
        }
        2 if toks.len() >= 2 => {
            let (i, j) = (rng.random_range(0..toks.len()), rng.random_range(0..toks.len()));
            toks.swap(i, j);
            (toks.concat(), format!("swap tokens {i} and {j}"))
        }
        3 if !chars.is_empty() => {
            let i = rng.random_range(0..chars.len());
            let len = rng.random_range(1..=8).min(chars.len() - i);
            let s: String = chars[..i].iter().chain(&chars[i + len..]).collect();
            (s, format!("delete chars {i}..{}", i + len))
        }
        4 => {
            let i = rng.random_range(0..=chars.len());
            let k = rng.random_range(1..=3);
            let ins: String = (0..k).map(|_| *CHARS.choose(rng).unwrap_or(&'(')).collect();
            let s: String = chars[..i]
                .iter()
                .chain(ins.chars().collect::<Vec<_>>().iter())
                .chain(&chars[i..])
                .collect();
            (s, format!("insert {ins:?} at char {i}"))
        }
        5 => {
            // Change a number (or a token that contains digits).
            let nums: Vec<usize> =
                (0..toks.len()).filter(|&i| toks[i].chars().any(|c| c.is_ascii_digit())).collect();
            let Some(&i) = nums.choose(rng) else { return (src.to_string(), "unchanged".into()) };
            let v = *NUMBERS.choose(rng).unwrap_or(&"0");
            let old = std::mem::replace(&mut toks[i], v.to_string());
            (toks.concat(), format!("number {old:?} -> {v}"))
        }
        6 => {
            // Replace a name-like token with another word of the format.
            let words: Vec<usize> = (0..toks.len())
                .filter(|&i| toks[i].chars().next().is_some_and(|c| c.is_alphabetic() || c == '%'))
                .collect();
            let Some(&i) = words.choose(rng) else { return (src.to_string(), "unchanged".into()) };
            let w = *WORDS.choose(rng).unwrap_or(&"%x");
            let old = std::mem::replace(&mut toks[i], w.to_string());
            (toks.concat(), format!("name {old:?} -> {w}"))
        }
        _ => {
            let i = rng.random_range(0..=chars.len());
            (chars[..i].iter().collect(), format!("truncate at char {i}"))
        }
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} input(s) broke the parser or verifier; the first ones:\n\n{}",
        failures.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n\n")
    );
}

#[test]
fn truncation_at_every_char_never_panics() {
    install_quiet_hook();
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in case_files() {
        let src = std::fs::read_to_string(&path).unwrap();
        let name = case_name(&path);
        let chars: Vec<char> = src.chars().collect();
        for i in 0..=chars.len() {
            let cut: String = chars[..i].iter().collect();
            checked += 1;
            if let Err(e) = check(&cut) {
                failures.push(format!("{name} truncated at char {i}: {e}\n--- input ---\n{cut}"));
            }
        }
    }
    assert!(checked > 10_000, "only {checked} truncations");
    report(&failures);
}

#[test]
fn seeded_mutations_never_panic() {
    install_quiet_hook();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (k, path) in case_files().iter().enumerate() {
        let src = std::fs::read_to_string(path).unwrap();
        let name = case_name(path);
        let mut rng = StdRng::seed_from_u64(k as u64);
        for m in 0..MUTATIONS_PER_FILE {
            // Stack two or three mutations now and then: errors deeper in.
            let (mut text, mut what) = mutate(&src, &mut rng);
            for _ in 0..rng.random_range(0..3) {
                let (t, w) = mutate(&text, &mut rng);
                text = t;
                what = format!("{what}; {w}");
            }
            checked += 1;
            if let Err(e) = check(&text) {
                failures.push(format!("{name} mutation {m} ({what}): {e}\n--- input ---\n{text}"));
            }
        }
    }
    assert!(checked >= 5000, "only {checked} mutations");
    report(&failures);
}

#[test]
fn errors_point_at_the_offending_line() {
    // A sanity check that positions are real: an unknown op on line 3.
    let src =
        "; c\nfunc @f(%x: f32[2]) -> (f32[2]) {\n  %y = frobnicate(%x) : f32[2]\n  return %y\n}\n";
    let e = parse_module(src).unwrap_err();
    assert_eq!((e.span.line, e.span.col), (3, 8), "{e}");
}
