//! The eager [`Tensor`]: shared storage viewed through a dtype, a shape,
//! element strides and an offset, on a [`Device`].
//!
//! Storage is an `Arc` of either the CPU backend's [`Buffer`] (64-byte
//! aligned bytes in the backend's encoding) or a CUDA [`DeviceTensor`]
//! (the same bytes in device memory, see [`crate::cuda`]), so a contiguous
//! tensor is handed to a kernel as it is, and a kernel's result becomes a
//! tensor without a copy. Views (reshape when the strides allow, permute,
//! transpose, narrow/slice, expand with stride 0, squeeze/unsqueeze) share
//! the storage on both devices; `contiguous` copies only when the layout is
//! not already dense row-major (on a CUDA device, on the device).
//!
//! Every op runs through [`crate::dispatch`]: a one-node IR function
//! compiled once per signature, on the CPU or on the tensors' CUDA device.
//! Host conversions (`to_vec`, `item`, `to_f64_vec`, `to_host`, `to_bytes`)
//! of a CUDA tensor download it, as PyTorch's `tolist()`/`item()` do (the
//! infallible ones panic only if the device fails mid-copy; `try_to_host`
//! and `try_to_bytes` return that as an error). Creation functions make CPU
//! tensors (PyTorch's default device); `to_device` moves them. Files: `error.rs` the errors, `element.rs`
//! the Rust element types, `layout.rs` strides and the strided copy,
//! `create.rs` creation and host conversion, `random.rs` the seeded
//! generator, `promote.rs` PyTorch's type promotion, `views.rs` the views,
//! `elementwise.rs` unary/binary/select/cast, `reduce.rs` reductions,
//! `linalg.rs` matmul and the other library ops.
//!
//! Invariants: `shape.len() == strides.len()`; every element a view can
//! address lies inside its storage; a `Tensor` value never changes (ops
//! return new tensors with new [`TensorId`]s; `Clone` keeps the id, since a
//! clone is the same value).

mod create;
mod element;
mod elementwise;
mod error;
mod index;
mod layout;
mod linalg;
mod promote;
mod random;
mod reduce;
mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use smelt_compiler::backend::cpu::{BufRef, Buffer};
use smelt_compiler::backend::cuda::runtime::DeviceTensor;
use smelt_compiler::ir::DType;

pub use element::Element;
pub use elementwise::{Rhs, where_cond};
pub use error::{Result, TensorError};
pub use layout::MemoryFormat;
pub use promote::{promote_types, result_type};
pub use random::Generator;

pub(crate) use create::scalar_buffer;
pub(crate) use error::{arg_err, dtype_err, shape_err};

/// Where a tensor's storage lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory.
    Cpu,
    /// A CUDA device by index (the runtime runs `Cuda(0)`; see
    /// [`crate::cuda`]). Without a driver or device every op on it is a
    /// [`TensorError::DeviceUnavailable`] saying what is missing.
    Cuda(usize),
}

impl std::fmt::Display for Device {
    /// PyTorch's spelling: `cpu`, `cuda:0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// The bytes a tensor views: on the host or on a CUDA device.
pub(crate) enum Storage {
    /// Host bytes.
    Cpu(Buffer),
    /// Device bytes (the device tensor's own dtype and shape are those it
    /// was made with; views reinterpret its bytes).
    Cuda(DeviceTensor),
}

/// Identifies one tensor value (views and results get new ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TensorId {
    /// A fresh id, never handed out before in this process.
    pub fn fresh() -> TensorId {
        TensorId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }
}

/// An n-dimensional array: shared storage seen through dtype, shape, strides
/// and offset.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    dtype: DType,
    shape: Vec<usize>,
    strides: Vec<isize>,
    /// In elements, from the start of the storage.
    offset: usize,
    device: Device,
    id: TensorId,
    /// Autograd state (requires_grad, grad, grad_fn), shared by clones
    /// (a clone is the same value); see [`crate::autograd`].
    autograd: Arc<crate::autograd::Meta>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor(id={}, {}{:?}, strides={:?}, offset={})",
            self.id.0, self.dtype, self.shape, self.strides, self.offset
        )
    }
}

/// Row-major strides of a shape.
pub(crate) fn row_major(shape: &[usize]) -> Vec<isize> {
    let mut s = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for k in (0..shape.len()).rev() {
        s[k] = acc;
        acc = acc.saturating_mul(shape[k].max(1) as isize);
    }
    s
}

impl Tensor {
    /// A tensor owning a whole buffer, row-major (the buffer's shape is kept).
    pub(crate) fn from_buffer(b: Buffer) -> Tensor {
        let (dtype, shape) = (b.dtype, b.shape.clone());
        Tensor::owning(Storage::Cpu(b), dtype, shape, Device::Cpu)
    }

    /// A row-major tensor viewing all of `storage`, with a fresh id.
    fn owning(storage: Storage, dtype: DType, shape: Vec<usize>, device: Device) -> Tensor {
        Tensor {
            dtype,
            strides: row_major(&shape),
            shape,
            storage: Arc::new(storage),
            offset: 0,
            device,
            id: TensorId::fresh(),
            autograd: Arc::default(),
        }
    }

    /// A tensor owning a whole device tensor on `Cuda(index)`, row-major.
    pub(crate) fn from_device(d: DeviceTensor, index: usize) -> Tensor {
        let (dtype, shape) = (d.dtype, d.shape.clone());
        Tensor::owning(Storage::Cuda(d), dtype, shape, Device::Cuda(index))
    }

    /// The device storage of a CUDA tensor (`None` on the CPU).
    pub(crate) fn device_storage(&self) -> Option<&DeviceTensor> {
        match &*self.storage {
            Storage::Cuda(d) => Some(d),
            Storage::Cpu(_) => None,
        }
    }

    /// A view of this tensor's storage with new metadata and a fresh id.
    pub(crate) fn view_of(&self, strides: Vec<isize>, offset: usize, shape: Vec<usize>) -> Tensor {
        Tensor {
            storage: self.storage.clone(),
            dtype: self.dtype,
            shape,
            strides,
            offset,
            device: self.device,
            id: TensorId::fresh(),
            autograd: Arc::default(),
        }
    }

    /// This value's autograd state.
    pub(crate) fn autograd_meta(&self) -> &Arc<crate::autograd::Meta> {
        &self.autograd
    }

    /// This value's id.
    pub fn id(&self) -> TensorId {
        self.id
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Sizes.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Element strides, one per dim (0 for expanded dims).
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }

    /// Offset of the first element in the storage, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dims.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Where the storage lives.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True if the elements are dense and row-major (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1isize;
        for k in (0..self.shape.len()).rev() {
            if self.shape[k] == 1 {
                continue;
            }
            if self.shape[k] == 0 {
                return true;
            }
            if self.strides[k] != expect {
                return false;
            }
            expect *= self.shape[k] as isize;
        }
        true
    }

    /// True if both tensors share one storage (one is a view of the other).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Moves the tensor to `device` (`x.to(device)`): itself when it is
    /// already there; a CPU tensor (any view) is uploaded to `Cuda(0)`, a
    /// CUDA tensor made dense on the device and downloaded to the CPU.
    /// Errors name what is missing when there is no CUDA driver or device,
    /// and `Cuda(i)` for `i > 0` is an error (the runtime runs device 0).
    /// The copy is not recorded and carries no autograd history.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        match (self.device, device) {
            (a, b) if a == b => Ok(self.clone()),
            (Device::Cpu, Device::Cuda(index)) => crate::cuda::upload(self, index),
            (Device::Cuda(_), Device::Cpu) => crate::cuda::download(self).map(Tensor::from_buffer),
            (Device::Cuda(_), Device::Cuda(index)) => Err(TensorError::DeviceUnavailable {
                op: "to_device".into(),
                index,
                reason: format!(
                    "copies between CUDA devices are not supported (from {})",
                    self.device
                ),
            }),
            (Device::Cpu, Device::Cpu) => unreachable!("equal devices are handled above"),
        }
    }

    /// `to_device(Device::Cuda(0))` (PyTorch's `x.cuda()`).
    pub fn cuda(&self) -> Result<Tensor> {
        self.to_device(Device::Cuda(0))
    }

    /// `to_device(Device::Cpu)` (PyTorch's `x.cpu()`).
    pub fn cpu(&self) -> Result<Tensor> {
        self.to_device(Device::Cpu)
    }

    /// The dense row-major bytes of this tensor as a borrowed view, when the
    /// storage already holds them in place on the host (contiguous, and
    /// starting on a 64-byte boundary as kernels expect); `None` when a copy
    /// is needed or the tensor is on a CUDA device.
    pub(crate) fn dense_view(&self) -> Option<BufRef<'_>> {
        let Storage::Cpu(buf) = &*self.storage else {
            return None;
        };
        if !self.is_contiguous() {
            return None;
        }
        let size = self.dtype.size_bytes();
        let start = self.offset * size;
        if start % 64 != 0 {
            return None;
        }
        let len = self.numel() * size;
        Some(BufRef {
            dtype: self.dtype,
            shape: &self.shape,
            bytes: &buf.bytes()[start..start + len],
        })
    }

    /// The host storage bytes (for the strided copy); `None` on a CUDA device.
    pub(crate) fn storage_bytes(&self) -> Option<&[u8]> {
        match &*self.storage {
            Storage::Cpu(b) => Some(b.bytes()),
            Storage::Cuda(_) => None,
        }
    }
}
