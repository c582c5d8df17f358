//! Every corpus case parses, verifies, and has a valid `; test:` header.

use smelt_compiler::ir::{parse_module, verify_module};
use smelt_testsuite::corpus::{case_files, case_name, parse_header};

#[test]
fn every_case_parses_and_verifies() {
    let files = case_files();
    assert!(files.len() >= 45, "the corpus has only {} cases", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = case_name(path);
        let src = std::fs::read_to_string(path).unwrap();
        if let Err(e) = parse_header(&src) {
            failures.push(format!("{name}: {e}"));
        }
        match parse_module(&src) {
            Ok(m) => {
                if let Err(e) = verify_module(&m) {
                    failures.push(format!("{name}: {e}"));
                }
            }
            Err(e) => failures.push(format!("{name}:{e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
