//! smelt-runtime: the eager runtime. [`tensor`] is the eager `Tensor`
//! (every op a one-node IR function compiled and cached by the CPU
//! backend), [`functional`] the composites of `torch.nn.functional` written
//! in terms of tensor ops, [`dispatch`] the per-op dispatch and the
//! [`dispatch::Recorder`] hook frontends trace through, [`exec`] running
//! whole IR functions on tensors, [`cuda`] the `Device::Cuda(0)` tensors
//! run on (host↔device copies, device views, eager ops on the GPU); [`io`]
//! tensors in numpy's `.npy` and safetensors formats, [`models`] pretrained
//! models written in tensor ops (BERT, sentence embeddings), [`text`] BERT's
//! WordPiece tokenizer, [`hub`] finding or fetching pretrained weights, [`decoders`] CTC decoding
//! (TorchAudio's API); [`autograd`] reverse-mode gradients over the
//! primitive ops dispatch records; [`amp`] autocast scopes, `GradScaler`
//! and the TF32 switch (PyTorch's torch.amp); [`nn`] modules with
//! PyTorch-named parameters, buffers and state dicts (torch.nn); [`optim`]
//! SGD and Adam/AdamW as fused IR steps (torch.optim).

pub mod amp;
pub mod autograd;
pub mod cuda;
pub mod decoders;
pub mod dispatch;
pub mod exec;
pub mod functional;
pub mod hub;
pub mod io;
pub mod models;
pub mod nn;
pub mod optim;
pub mod tensor;
pub mod text;
pub mod zoo;

pub use tensor::{Device, Generator, Tensor, TensorError, TensorId};
