//! smelt-testsuite: the snapshot corpus (`cases/**/*.ir`) and what the
//! tests under `tests/` share: reading a case's header ([`corpus`]), a seeded
//! generator of random valid functions ([`random_graph`]) and seeded random
//! inputs for any function ([`inputs`]).
//!
//! Everything here is deterministic: the same seed gives the same graph and
//! the same inputs on every machine, so a failing seed can be replayed.

pub mod corpus;
pub mod inputs;
pub mod random_graph;
