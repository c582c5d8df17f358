//! smelt-runtime: the eager runtime. For now it holds [`io`], reading and
//! writing tensors in numpy's `.npy` format; autograd, nn, amp, the model zoo
//! and the decoders come later.

pub mod io;
