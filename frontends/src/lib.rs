//! smelt-frontends: turning eager programs into IR.
//!
//! [`trace`] runs an eager program with a recorder on and turns every
//! runtime op it applies into an IR node (composites arrive decomposed);
//! [`compile`] wraps a program in a [`Compiled`] callable that guards on its
//! inputs, traces and compiles on a miss, replays the cached graph on a hit,
//! makes dims symbolic when only their sizes change (Inductor's "automatic
//! dynamic"), and falls back to eager execution where the backend cannot
//! follow (graph breaks). [`Compiled::explain`] reports what it did.
//!
//! Files: `trace.rs` (the recorder), `guard.rs` (guard keys), `auto.rs`
//! (automatic dynamic: which dims, probes), `dynamic.rs`
//! (diffing two traces into a symbolic function), `compile.rs` (the cache),
//! `freeze.rs` (weight-only
//! ops computed once), `replay.rs` (running a graph op by op), `explain.rs` (the report),
//! `debug.rs` (`SMELT_DEBUG`), `error.rs`.

mod auto;
mod compile;
mod debug;
mod dynamic;
mod error;
mod explain;
mod freeze;
mod guard;
mod replay;
mod trace;

pub use compile::{Compiled, compile};
pub use error::FrontendError;
pub use explain::{BreakInfo, Explain, GraphInfo};
pub use trace::{Traced, trace};
