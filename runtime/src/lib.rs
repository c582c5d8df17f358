//! smelt-runtime: the eager runtime. For now it holds [`io`] (tensors in
//! numpy's `.npy` format) and [`decoders`] (CTC greedy and beam-search
//! decoding with KenLM ARPA language models, TorchAudio's API). The eager
//! `Tensor`, autograd, nn, amp and the model zoo arrive with later issues.

pub mod decoders;
pub mod hub;
pub mod io;
pub mod text;
