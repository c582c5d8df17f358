//! Eager dispatch: every primitive op becomes a one-node IR function, typed
//! with the concrete input types, compiled once per signature (op,
//! attributes, input dtypes and shapes, literals) through the thread's
//! cached CPU backend, and run on the inputs' storage. And the [`Recorder`]
//! hook through which frontends observe (trace) every op a thread applies.
//!
//! Literals (`x.mul(2.0)`) run as rank-0 parameters, so a new literal
//! value reuses the kernel; the recorder still sees them as literals.
//! Non-contiguous inputs are copied dense before the kernel runs (a raw
//! strided byte copy, see `tensor/layout.rs`); contiguous ones are handed
//! over in place. The copy is an implementation detail: the recorder sees
//! the op with the tensors the caller passed.
//!
//! Tensors on `Device::Cuda(0)` take the same one-node function through
//! the CUDA backend instead (see [`crate::cuda`]); all tensor operands of
//! one op must share a device (rank-0 CPU tensors excepted, as in PyTorch),
//! else a [`TensorError::DeviceMismatch`] naming the op and both devices.
//!
//! Invariants: a signature is planned and compiled once per thread; a
//! recorder's own tensor ops (made inside its callbacks) are not recorded.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use smelt_compiler::backend::cpu::{BufRef, Buffer, PreparedFunc};
use smelt_compiler::backend::cuda::runtime::CompiledPlan;
use smelt_compiler::interp::Bindings;
use smelt_compiler::ir::{DType, Func, Layout, Op, Operand, OperandType, Scalar, Shape, Type};

use crate::tensor::{Device, Result, Tensor, TensorError, shape_err};

/// One operand as an op received it.
#[derive(Clone, Copy, Debug)]
pub enum ArgRef<'a> {
    /// A tensor.
    Tensor(&'a Tensor),
    /// An inline literal (a Rust number given to a tensor-scalar op).
    Lit(Scalar),
}

/// Observes every primitive op the runtime applies on this thread (views
/// included: reshape -> `Op::Reshape`, permute -> `Op::Permute`, expand ->
/// `Op::Broadcast`, slice/narrow -> `Op::Slice`, ...). Composites (softmax,
/// layer_norm, ...) are made of primitives, so they are seen decomposed.
pub trait Recorder {
    /// `op` (an IR op with attributes, exactly as it would appear in a Func)
    /// was applied to `args` and produced `out`.
    fn op(&self, op: &Op, args: &[ArgRef<'_>], out: &Tensor);
    /// An op with no IR form ran (a graph break), e.g. a host-side
    /// computation; `name` names it.
    fn opaque(&self, name: &str, inputs: &[&Tensor], outputs: &[&Tensor]);
    /// `to` is the same value as `from` under a new id (`detach`, which
    /// autograd applies to every value it saves): a tracer maps `to` to
    /// `from`'s node, so a traced backward reads the traced forward values
    /// instead of capturing them as constants. The default ignores it.
    fn alias(&self, from: &Tensor, to: &Tensor) {
        let _ = (from, to);
    }
}

thread_local! {
    static RECORDERS: RefCell<Vec<Rc<dyn Recorder>>> = const { RefCell::new(Vec::new()) };
    /// Set while a recorder callback runs, so its own ops are not recorded.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
    static CACHE: RefCell<HashMap<Key, Rc<Entry>>> = RefCell::new(HashMap::new());
    /// The CUDA plans of signatures this thread ran on the device.
    static CUDA_CACHE: RefCell<HashMap<Key, Arc<CompiledPlan>>> = RefCell::new(HashMap::new());
}

/// Pops the recorder pushed by `with_recorder`, also when `f` panics.
struct PopGuard;

impl Drop for PopGuard {
    fn drop(&mut self) {
        RECORDERS.with(|r| r.borrow_mut().pop());
    }
}

/// Runs `f` with `rec` observing this thread's ops (ops still execute
/// eagerly). Nests: the innermost recorder observes.
pub fn with_recorder<R>(rec: Rc<dyn Recorder>, f: impl FnOnce() -> R) -> R {
    RECORDERS.with(|r| r.borrow_mut().push(rec));
    let _guard = PopGuard;
    f()
}

/// True if a recorder observes this thread's ops now.
pub fn is_recording() -> bool {
    !IN_CALLBACK.with(Cell::get) && RECORDERS.with(|r| !r.borrow().is_empty())
}

/// The innermost recorder, if ops are being recorded.
fn current() -> Option<Rc<dyn Recorder>> {
    if IN_CALLBACK.with(Cell::get) {
        return None;
    }
    RECORDERS.with(|r| r.borrow().last().cloned())
}

/// Calls `f` on the current recorder with callbacks marked as such.
fn notify(f: impl FnOnce(&dyn Recorder)) {
    if let Some(rec) = current() {
        IN_CALLBACK.with(|c| c.set(true));
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_CALLBACK.with(|c| c.set(false));
            }
        }
        let _reset = Reset;
        f(&*rec);
    }
}

/// While alive, this thread's ops are not recorded (for values the runtime
/// computes internally, such as a host-made constant's cast).
pub(crate) struct Quiet(bool);

impl Quiet {
    /// Starts a quiet section.
    pub(crate) fn new() -> Quiet {
        Quiet(IN_CALLBACK.with(|c| c.replace(true)))
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(self.0));
    }
}

/// Tells the recorder (if any) that `op` made `out` from `args`.
/// Also gives `out` its autograd node when an input requires grad.
pub(crate) fn record(op: &Op, args: &[ArgRef<'_>], out: &Tensor) {
    notify(|r| r.op(op, args, out));
    crate::autograd::attach(op, args, out);
}

/// Tells the recorder (if any) that a view op made `out` from `input`; the
/// op is built only when someone listens.
/// Also gives `out` its autograd node when `input` requires grad.
pub(crate) fn record_view(input: &Tensor, out: &Tensor, op: impl FnOnce() -> Op) {
    let grad = crate::autograd::wants_node(&[ArgRef::Tensor(input)], out);
    if is_recording() || grad {
        let op = op();
        notify(|r| r.op(&op, &[ArgRef::Tensor(input)], out));
        crate::autograd::attach(&op, &[ArgRef::Tensor(input)], out);
    }
}

/// Tells the recorder (if any) that `to` is `from`'s value under a new id.
pub(crate) fn record_alias(from: &Tensor, to: &Tensor) {
    notify(|r| r.alias(from, to));
}

/// Tells the recorder (if any) that a computation with no IR form ran.
/// Outputs of inputs that require grad get a node whose backward is an error.
pub(crate) fn record_opaque(name: &str, inputs: &[&Tensor], outputs: &[&Tensor]) {
    notify(|r| r.opaque(name, inputs, outputs));
    crate::autograd::attach_opaque(name, inputs, outputs);
}

/// One operand of a signature. A literal is keyed by its dtype only: it
/// runs as a rank-0 parameter, so a new literal value compiles nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum KeyArg {
    Tensor(DType, Vec<usize>),
    Lit(DType),
}

/// What selects a prepared one-node function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    op: Op,
    args: Vec<KeyArg>,
}

/// A prepared one-node function.
struct Entry {
    func: Func,
    prepared: PreparedFunc,
}

/// The IR type of a tensor.
pub(crate) fn type_of(t: &Tensor) -> Type {
    Type::new(t.dtype(), Shape::of(&t.shape().iter().map(|&d| d as u64).collect::<Vec<_>>()))
}

/// Describes operands for an error message: `f32[2, 3], 1.5`.
pub(crate) fn describe(args: &[ArgRef<'_>]) -> String {
    args.iter()
        .map(|a| match a {
            ArgRef::Tensor(t) => format!("{}{:?}", t.dtype(), t.shape()),
            ArgRef::Lit(s) => s.to_text(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dtype a literal operand of `op` takes: that of the value operands
/// (for `select`, of the selected values, not the condition).
fn literal_dtype(op: &Op, args: &[ArgRef<'_>]) -> DType {
    let skip = usize::from(matches!(op, Op::Select));
    args.iter()
        .skip(skip)
        .find_map(|a| match a {
            ArgRef::Tensor(t) => Some(t.dtype()),
            ArgRef::Lit(_) => None,
        })
        .unwrap_or(DType::F32)
}

/// Builds the one-node function of `op` on operands of these types, with
/// literals as rank-0 parameters of dtype `lit`.
fn build(op: &Op, args: &[ArgRef<'_>], lit: DType) -> Result<Func> {
    let mut f = Func::new(op.name());
    let mut operands = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let ty = match a {
            ArgRef::Tensor(t) => type_of(t),
            ArgRef::Lit(_) => Type::scalar(lit),
        };
        operands.push(Operand::Value(f.add_param(format!("x{i}"), ty, Layout::RowMajor)));
    }
    // Type-check with the literals as written, for the error message.
    let written: Vec<OperandType<'_>> = args
        .iter()
        .zip(f.params())
        .map(|(a, &p)| match a {
            ArgRef::Tensor(_) => OperandType::Value(f.ty(p)),
            ArgRef::Lit(s) => OperandType::Lit(*s),
        })
        .collect();
    op.infer_type(&written, None)
        .map_err(|e| shape_err(op.name(), format!("{e} (operands {})", describe(args))))?;
    let node = f
        .add_inferred(op.clone(), operands)
        .map_err(|e| shape_err(op.name(), format!("{e} (operands {})", describe(args))))?;
    f.set_results(vec![node]);
    Ok(f)
}

/// Applies a primitive op: compiles (once per signature) and runs its
/// one-node function, then tells the recorder.
pub(crate) fn apply(op: Op, args: &[ArgRef<'_>]) -> Result<Tensor> {
    apply_on(op, args, Device::Cpu)
}

/// [`apply`], with an op that has no tensor operand (`iota`) made on
/// `device` (others run where their operands are).
pub(crate) fn apply_on(op: Op, args: &[ArgRef<'_>], device: Device) -> Result<Tensor> {
    let name = op.name();
    let device = match common_device(name, args)? {
        d if args.iter().any(|a| matches!(a, ArgRef::Tensor(_))) => d,
        _ => device,
    };
    let lit = literal_dtype(&op, args);
    let key = Key {
        args: args
            .iter()
            .map(|a| match a {
                ArgRef::Tensor(t) => KeyArg::Tensor(t.dtype(), t.shape().to_vec()),
                ArgRef::Lit(_) => KeyArg::Lit(lit),
            })
            .collect(),
        op,
    };
    if let Device::Cuda(index) = device {
        return apply_cuda(key, args, lit, index);
    }
    let cached = CACHE.with(|c| c.borrow().get(&key).cloned());
    let entry = match cached {
        Some(e) => e,
        None => {
            let func = build(&key.op, args, lit)?;
            let prepared = crate::exec::with_backend(|b| b.prepare_func(&func))
                .map_err(|e| TensorError::Backend { op: name.into(), message: e.to_string() })?;
            let e = Rc::new(Entry { func, prepared });
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() > 4096 {
                    c.clear();
                }
                c.insert(key.clone(), e.clone());
            });
            e
        }
    };
    // Dense inputs are borrowed in place; others are copied dense first;
    // literals become rank-0 buffers.
    let mut owned: Vec<Buffer> = Vec::new();
    for a in args {
        match a {
            ArgRef::Tensor(t) if t.dense_view().is_none() => owned.push(t.dense_buffer()?),
            ArgRef::Tensor(_) => {}
            ArgRef::Lit(s) => owned.push(crate::tensor::scalar_buffer(lit, *s)),
        }
    }
    let mut views: Vec<BufRef<'_>> = Vec::with_capacity(args.len());
    let mut next = owned.iter();
    for a in args {
        let own = match a {
            ArgRef::Tensor(t) => match t.dense_view() {
                Some(v) => {
                    views.push(v);
                    continue;
                }
                None => next.next(),
            },
            ArgRef::Lit(_) => next.next(),
        };
        match own {
            Some(b) => views.push(b.as_ref()),
            None => unreachable!("one owned buffer per copied input or literal"),
        }
    }
    let mut outs = crate::exec::with_backend(|b| {
        b.run_prepared(&entry.func, &entry.prepared, &views, &Bindings::new())
    })
    .map_err(|e| TensorError::Backend { op: name.into(), message: e.to_string() })?;
    let out = match outs.pop() {
        Some(b) => Tensor::from_buffer(b),
        None => return Err(TensorError::Backend { op: name.into(), message: "no result".into() }),
    };
    record(&key.op, args, &out);
    Ok(out)
}

/// The device an op runs on: that of its tensor operands, which must all
/// agree, except that rank-0 CPU tensors join an op on any device (as
/// PyTorch lets CPU scalars do). No tensor operand: the CPU.
fn common_device(op: &str, args: &[ArgRef<'_>]) -> Result<Device> {
    let mut found: Option<Device> = None;
    for a in args {
        let ArgRef::Tensor(t) = a else { continue };
        let d = t.device();
        match found {
            None => found = Some(d),
            Some(f) if f == d => {}
            // A CPU scalar goes where the other operands are.
            Some(_) if d == Device::Cpu && t.rank() == 0 => {}
            Some(Device::Cpu)
                if args.iter().all(|a| match a {
                    ArgRef::Tensor(u) => u.device() != Device::Cpu || u.rank() == 0,
                    ArgRef::Lit(_) => true,
                }) =>
            {
                found = Some(d)
            }
            Some(f) => {
                return Err(TensorError::DeviceMismatch { op: op.into(), first: f, second: d });
            }
        }
    }
    Ok(found.unwrap_or(Device::Cpu))
}

/// [`apply`] on a CUDA device: the same one-node function, compiled once
/// per signature by the process's CUDA backend and launched on the
/// operands' device storage (views made dense on the device; literals and
/// rank-0 CPU tensors uploaded as rank-0 device tensors). The result stays
/// on the device.
fn apply_cuda(key: Key, args: &[ArgRef<'_>], lit: DType, index: usize) -> Result<Tensor> {
    let name = key.op.name();
    let cached = CUDA_CACHE.with(|c| c.borrow().get(&key).cloned());
    let plan = match cached {
        Some(p) => p,
        None => {
            let func = build(&key.op, args, lit)?;
            let p = crate::cuda::compile(name, index, &func)?;
            CUDA_CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() > 4096 {
                    c.clear();
                }
                c.insert(key.clone(), p.clone());
            });
            p
        }
    };
    let mut launch_args = Vec::with_capacity(args.len());
    for a in args {
        launch_args.push(match a {
            ArgRef::Tensor(t) if t.device() == Device::Cpu => {
                crate::cuda::Arg::Host(t.dense_buffer()?)
            }
            ArgRef::Tensor(t) => crate::cuda::Arg::Tensor(t),
            ArgRef::Lit(s) => crate::cuda::Arg::Host(crate::tensor::scalar_buffer(lit, *s)),
        });
    }
    let mut outs = crate::cuda::launch(name, index, &plan, &launch_args, &Bindings::new())?;
    let out = match outs.pop() {
        Some(t) => t,
        None => return Err(TensorError::Backend { op: name.into(), message: "no result".into() }),
    };
    record(&key.op, args, &out);
    Ok(out)
}

/// Statistics of the last function this thread's backend ran (kernels run,
/// compiled, interpreted): frontends read `interpreted` to learn that a
/// traced graph held a kernel the backend could not compile.
/// After a `run_func` on a CUDA device the statistics are empty (the CUDA
/// backend interprets nothing).
pub fn last_run_stats() -> smelt_compiler::backend::cpu::RunStats {
    if crate::exec::last_run_on_cuda() {
        return smelt_compiler::backend::cpu::RunStats::default();
    }
    crate::exec::with_backend(|b| Ok(b.last.clone())).unwrap_or_default()
}
