//! Fuzzes the text front end: any UTF-8 input must parse to `Ok` or `Err`
//! without panicking, and whatever parses and verifies must print to text
//! that parses back to an equal module which prints identically.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smelt_compiler::ir::{parse_module, verify_module};

fuzz_target!(|src: &str| {
    let Ok(m) = parse_module(src) else { return };
    if verify_module(&m).is_err() {
        return;
    }
    let text = m.to_string();
    let back = match parse_module(&text) {
        Ok(b) => b,
        Err(e) => panic!("printed text does not parse: {e}\n{text}"),
    };
    assert!(back == m, "parse(print(m)) != m\n{text}");
    assert_eq!(back.to_string(), text, "print(parse(print(m))) != print(m)");
});
