//! The snapshot corpus: where the case files live and what their header
//! says.
//!
//! A case starts with `; test: <stage> <stage> …` naming the stages to
//! snapshot (IR.md, "Snapshot case files"); further `; key: value` header
//! lines (such as `; backend-options: vector=4`) are kept for the stages that
//! read them. The header is the leading run of `;` lines.

use std::path::{Path, PathBuf};

/// The directory holding the cases (`testsuite/cases`).
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// Every case file under [`cases_dir`], sorted, as paths.
pub fn case_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(&cases_dir(), &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "ir") {
            out.push(p);
        }
    }
}

/// A case path relative to [`cases_dir`], with `/` separators
/// (`patterns/softmax.ir`), for names and messages.
pub fn case_name(path: &Path) -> String {
    let rel = path.strip_prefix(cases_dir()).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// What a case's header says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The stages of `; test:`, in order.
    pub stages: Vec<String>,
    /// Other `; key: value` header lines, in order.
    pub options: Vec<(String, String)>,
}

/// Reads the header of a case's text. The first line must be `; test: …`
/// with at least one stage.
pub fn parse_header(src: &str) -> Result<Header, String> {
    let mut lines = src.lines();
    let first = lines.next().unwrap_or("");
    let Some(stages) = first.strip_prefix(';').map(str::trim).and_then(|l| l.strip_prefix("test:"))
    else {
        return Err(format!(
            "the first line must be `; test: <stages>` (e.g. `; test: plan`), found {first:?}"
        ));
    };
    let stages: Vec<String> = stages.split_whitespace().map(str::to_string).collect();
    if stages.is_empty() {
        return Err("`; test:` names no stage".into());
    }
    let mut options = Vec::new();
    // Options are the `; key: value` lines (one-word key) right after the
    // `; test:` line; the first other line starts the prose.
    for line in lines {
        let Some(rest) = line.strip_prefix(';') else {
            break;
        };
        match rest.trim().split_once(':') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                options.push((k.to_string(), v.trim().to_string()));
            }
            _ => break,
        }
    }
    Ok(Header { stages, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_stages_and_options() {
        let h = parse_header(
            "; test: plan cuda\n; backend-options: vector=4\n; Some prose: x\n; late: y\nfunc",
        )
        .unwrap();
        assert_eq!(h.stages, ["plan", "cuda"]);
        assert_eq!(h.options, [("backend-options".to_string(), "vector=4".to_string())]);
        assert!(parse_header("func @f() -> () {}").is_err());
        assert!(parse_header("; test:\n").is_err());
    }
}
