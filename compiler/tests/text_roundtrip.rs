//! The text format round trips and reports errors with positions.

use smelt_compiler::ir::{parse_module, verify_module};

#[test]
fn layernorm_example_round_trips() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/layernorm.ir"))
            .unwrap();
    let m = parse_module(&src).unwrap();
    verify_module(&m).unwrap();
    let text = m.to_string();
    let back = parse_module(&text).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.to_string(), text);
    println!("{text}");
    let json = smelt_compiler::ir::json::to_json(&m);
    assert_eq!(smelt_compiler::ir::json::from_json(&json).unwrap(), m);
}
