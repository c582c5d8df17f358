//! The Cranelift side: one JIT module per backend holding every compiled
//! kernel, the native ISA (vector features detected by `cranelift-native`),
//! and [`Jit::compile`], which lowers a [`KernelFunc`] and hands back a
//! callable pointer.
//!
//! The kernel ABI (C calling convention, every argument an i64):
//! `fn(bufs: *const *mut u8, sizes: *const i64, row_lo, row_hi, col_lo,
//! col_hi, status: *mut i64)`. Rows `[row_lo, row_hi)` index the product of
//! the outer dims; columns `[col_lo, col_hi)` restrict the innermost loop dim
//! of a kernel without reductions (others ignore them). `*status` receives 0
//! or a run-time fault code (see [`fault_message`]).

use std::time::Instant;

use cranelift_codegen::ir::{AbiParam, UserFuncName, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, isa};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use super::layout::KernelLayout;
use super::lower::{LowerErr, lower_kernel};
use super::math::helpers;
use crate::backend::kernel::KernelFunc;

/// Why a kernel could not be compiled for the CPU.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompileError {
    /// The lowering cannot do this op (or this use of it) yet.
    #[error("kernel {kernel}: the CPU backend cannot lower {op} yet")]
    Unsupported {
        /// The op (and, where useful, why).
        op: String,
        /// The kernel's name.
        kernel: String,
    },
    /// Cranelift refused the generated code (a backend bug).
    #[error("kernel {kernel}: code generation failed: {message}")]
    Codegen {
        /// The kernel's name.
        kernel: String,
        /// Cranelift's message.
        message: String,
    },
}

/// The native entry point of a kernel.
pub(crate) type KernelFn =
    unsafe extern "C" fn(*const *mut u8, *const i64, i64, i64, i64, i64, *mut i64);

/// A compiled kernel.
#[derive(Clone)]
pub(crate) struct Compiled {
    /// The entry point; valid while the [`Jit`] that made it lives.
    pub entry: KernelFn,
    /// Whether the inner loop is vectorized (f32x4) or scalar.
    pub vectorized: bool,
    /// The CLIF text (deterministic: no addresses).
    pub clif: String,
    /// Cranelift's VCode listing of the machine code (if asked for).
    pub asm: Option<String>,
    /// Time spent lowering and compiling.
    pub compile_ms: f64,
}

/// The message of a run-time fault code written to `*status`.
pub(crate) fn fault_message(code: i64) -> &'static str {
    match code {
        1 => "integer division by zero",
        2 => "gather index out of range",
        3 => "integer power with a negative exponent",
        4 => "max/min/argmax/argmin over an empty dim (no identity)",
        _ => "unknown fault",
    }
}

/// One JIT module and its scratch contexts.
pub(crate) struct Jit {
    module: JITModule,
    ctx: Context,
    fctx: FunctionBuilderContext,
    count: usize,
    /// Keep the machine-code listing of kernels compiled from now on.
    pub want_asm: bool,
}

impl Jit {
    /// A module for the host ISA with every helper registered.
    pub fn new() -> Result<Jit, CompileError> {
        let err = |message: String| CompileError::Codegen { kernel: "-".into(), message };
        let mut flags = settings::builder();
        for (k, v) in
            [("opt_level", "speed"), ("use_colocated_libcalls", "false"), ("is_pic", "false")]
        {
            flags.set(k, v).map_err(|e| err(e.to_string()))?;
        }
        let isa_builder = cranelift_native::builder().map_err(|e| err(e.to_string()))?;
        let isa: std::sync::Arc<dyn isa::TargetIsa> =
            isa_builder.finish(settings::Flags::new(flags)).map_err(|e| err(e.to_string()))?;
        let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
        for (name, ptr, _) in helpers() {
            jb.symbol(name, ptr);
        }
        let module = JITModule::new(jb);
        let ctx = module.make_context();
        Ok(Jit { module, ctx, fctx: FunctionBuilderContext::new(), count: 0, want_asm: false })
    }

    /// Lowers and compiles one kernel: vectorized if the lowering can,
    /// scalar otherwise.
    pub fn compile(
        &mut self,
        kf: &KernelFunc,
        layout: &KernelLayout,
        eager: bool,
    ) -> Result<Compiled, CompileError> {
        let start = Instant::now();
        let cerr = |message: String| CompileError::Codegen { kernel: kf.name.clone(), message };
        let mut vectorized = true;
        loop {
            self.module.clear_context(&mut self.ctx);
            // An aborted attempt leaves the builder context dirty.
            self.fctx = FunctionBuilderContext::new();
            let ptr = self.module.target_config().pointer_type();
            let sig = &mut self.ctx.func.signature;
            for _ in 0..7 {
                sig.params.push(AbiParam::new(types::I64));
            }
            debug_assert_eq!(ptr, types::I64);
            self.ctx.func.name = UserFuncName::user(0, self.count as u32);
            match lower_kernel(
                &mut self.module,
                &mut self.ctx.func,
                &mut self.fctx,
                kf,
                layout,
                vectorized,
                eager,
            ) {
                Ok(()) => break,
                Err(LowerErr::NoVector(_)) if vectorized => vectorized = false,
                Err(LowerErr::NoVector(why)) => {
                    return Err(cerr(format!("scalar lowering asked for vectors: {why}")));
                }
                Err(LowerErr::Compile(e)) => return Err(e),
            }
        }
        let clif = self.ctx.func.display().to_string();
        let name = format!("{}_{}", kf.name, self.count);
        self.count += 1;
        let sig = self.ctx.func.signature.clone();
        self.ctx.set_disasm(self.want_asm);
        let id = self
            .module
            .declare_function(&name, Linkage::Export, &sig)
            .map_err(|e| cerr(e.to_string()))?;
        self.module.define_function(id, &mut self.ctx).map_err(|e| cerr(format!("{e:?}")))?;
        let asm = self.ctx.compiled_code().and_then(|c| c.vcode.clone());
        self.module.clear_context(&mut self.ctx);
        self.module.finalize_definitions().map_err(|e| cerr(e.to_string()))?;
        let code = self.module.get_finalized_function(id);
        // SAFETY: `code` was compiled from a function with exactly this signature
        // (seven i64 parameters, no results, the platform's C convention).
        let entry = unsafe { std::mem::transmute::<*const u8, KernelFn>(code) };
        Ok(Compiled {
            entry,
            vectorized,
            clif,
            asm,
            compile_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }
}
