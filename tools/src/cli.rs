//! What every smelt tool shares: the error type, argument parsing that turns
//! clap's multi-line errors into one line, the panic hook, and the exit codes.
//!
//! Exit codes: 0 success (also `--help`, `--version`), 2 bad input of any kind
//! (one line on stderr: `<tool>: <message>`), 101 an internal error (a bug:
//! one line `<tool>: internal error: …`, no backtrace).

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// A user-facing failure: the message printed after `<tool>: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl CliError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// Result of a tool's work: the text for stdout, or the error.
pub type CliResult<T> = Result<T, CliError>;

/// Joins a message's lines into one, so stderr always gets exactly one line.
pub fn one_line(message: &str) -> String {
    let parts: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    parts.join(" ")
}

/// Reads a text file; the error names it.
pub fn read_text(path: &Path) -> CliResult<String> {
    let bytes = std::fs::read(path).map_err(|e| CliError(format!("{}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|e| {
        CliError(format!(
            "{}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Parses the command line. `--help` and `--version` print as clap prints
/// them and exit 0; any other clap error is cut to its first paragraph and
/// becomes a [`CliError`] (exit 2).
pub fn parse_args<P: Parser>() -> CliResult<P> {
    parse_from(std::env::args_os())
}

/// [`parse_args`] over given arguments (the first is the program name).
pub fn parse_from<P: Parser, I, T>(args: I) -> CliResult<P>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    P::try_parse_from(args).map_err(|e| {
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            // Printing help can only fail on a closed stdout; nothing to add then.
            let _ = e.print();
            std::process::exit(0);
        }
        if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            return CliError::new("arguments are missing (see --help)");
        }
        CliError(clap_message(&e))
    })
}

/// The first paragraph of a clap error, without its `error: ` prefix:
/// `the following required arguments were not provided: --out <DIR>`.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let line = one_line(&paragraph.join("\n"));
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// Makes any panic print one line `<tool>: internal error: …` and exit 101:
/// a bug stays visible, without a backtrace in the user's face.
pub fn install_panic_hook(tool: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at =
            info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        eprintln!("{tool}: internal error: {}{at}", one_line(&payload));
        std::process::exit(101);
    }));
}

/// Prints a tool's result: the text on stdout (exit 0), or the error as one
/// line on stderr (exit 2).
pub fn finish(tool: &str, result: CliResult<String>) -> ExitCode {
    match result {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // `ir-dump x.ir | head`: the reader left; not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{tool}: cannot write the output: {}", one_line(&e.to_string()));
                    ExitCode::from(2)
                }
            }
        }
        Err(e) => {
            eprintln!("{tool}: {}", one_line(&e.0));
            ExitCode::from(2)
        }
    }
}

/// The whole life of a tool: panic hook, arguments, work, output.
pub fn main_with<P: Parser>(
    tool: &'static str,
    work: impl FnOnce(P) -> CliResult<String>,
) -> ExitCode {
    install_panic_hook(tool);
    let result = parse_args::<P>().and_then(work);
    finish(tool, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Demo {
        file: String,
        #[arg(long)]
        out: String,
    }

    #[test]
    fn clap_errors_become_one_line() {
        let e = parse_from::<Demo, _, _>(["demo", "f"]).expect_err("missing --out");
        assert_eq!(e.0, "the following required arguments were not provided: --out <OUT>");
        let e =
            parse_from::<Demo, _, _>(["demo", "f", "--out", "o", "--bogus"]).expect_err("bogus");
        assert_eq!(e.0, "unexpected argument '--bogus' found");
        assert!(parse_from::<Demo, _, _>(["demo", "f", "--out", "o"]).is_ok());
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n  b\n\nc\n"), "a b c");
    }
}
