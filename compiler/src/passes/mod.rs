//! The optimization passes and the runner that applies them.
//!
//! One pass per file, each a unit struct implementing [`Pass`]; the
//! `declare_passes!` list below declares them and builds the registry (name →
//! pass). [`pipeline`] holds the default order, with the reason for each place.
//! The runner ([`runner`]) owns every cross-cutting concern — verifying after
//! each pass, dumping before/after (`SMELT_DUMP`), timing, stopping after pass
//! N to bisect — so the passes stay pure rewrites of a [`Func`].
//!
//! Invariants every pass keeps (the runner verifies them in debug builds and
//! tests): the function stays valid, no node's type changes, the signature and
//! the results' types are untouched, and every value the function returns is
//! computed exactly as before up to the choices each pass documents (the sign
//! of a zero in `simplify`).

use crate::ir::{Func, VerifyError};

mod matchers;
pub mod pipeline;
pub mod runner;

pub use pipeline::{PIPELINE, pass_names};
pub use runner::{
    OnPass, PassRun, PipelineOptions, PipelineReport, optimize, run_passes, run_pipeline,
};

/// A rewrite of a function. Implementations are unit structs, one per file.
pub trait Pass {
    /// The pass's name: its file's name, used by `SMELT_DUMP` and `--after`.
    fn name(&self) -> &'static str;
    /// Rewrites `f` in place; `Ok(true)` if anything changed.
    fn run(&self, f: &mut Func) -> Result<bool, PassError>;
}

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The function was invalid before any pass ran: the caller's error.
    #[error("the function given to the pass pipeline is invalid: {0}")]
    Invalid(VerifyError),
    /// A pass left the function invalid: a compiler bug in that pass.
    #[error("compiler bug in pass `{pass}`: it left an invalid function: {error}")]
    Broke {
        /// The pass that ran last.
        pass: &'static str,
        /// What the verifier found.
        error: VerifyError,
    },
    /// A pass met a state it cannot handle (also a compiler bug).
    #[error("compiler bug in pass `{pass}`: {message}")]
    Internal {
        /// The failing pass.
        pass: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Declares the pass modules, re-exports their structs, and builds the
/// registry. The module name must equal the pass's [`Pass::name`] (a test
/// checks it), so the registry can be keyed by the file name.
macro_rules! declare_passes {
    ($($(#[$doc:meta])* $module:ident :: $pass:ident,)*) => {
        $(
            $(#[$doc])*
            pub mod $module;
            pub use $module::$pass;
        )*

        /// Every pass, pipeline member or not, as (module name, pass).
        pub const REGISTRY: &[(&str, &dyn Pass)] = &[$((stringify!($module), &$pass),)*];
    };
}

declare_passes! {
    /// Puts instructions in a normal form (operand order, literal types).
    canonicalize::Canonicalize,
    /// Evaluates instructions whose operands are all constants.
    const_fold::ConstFold,
    /// Merges structurally equal instructions.
    cse::Cse,
    /// Removes instructions no result depends on.
    dce::Dce,
    /// Channels-last layout planning for `{nhwc}` parameters. Not in the
    /// default pipeline: the CPU backend runs it (it has the NHWC kernels).
    layout::LayoutPass,
    /// Algebraic identities, as a rule table.
    simplify::Simplify,
}

/// The pass named `name` (pipeline member or not).
pub fn pass_by_name(name: &str) -> Option<&'static dyn Pass> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_module_names() {
        for (module, pass) in REGISTRY {
            assert_eq!(*module, pass.name());
        }
        assert!(pass_by_name("cse").is_some());
        assert!(pass_by_name("nope").is_none());
    }

    #[test]
    fn pipeline_passes_are_registered() {
        for name in pass_names() {
            assert!(pass_by_name(name).is_some(), "{name} is not in the registry");
        }
        assert_eq!(pass_names(), ["canonicalize", "simplify", "const_fold", "cse", "dce"]);
    }
}
