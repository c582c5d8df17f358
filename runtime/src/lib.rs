//! smelt's eager runtime: tensors, io, and the CTC decoders.

pub mod decoders;
