//! The kernel templates: one [`KernelFunc`] in, one CUDA C++ kernel out.
//!
//! - **elementwise** (pointwise, fallback and library kernels
//!   other than cuBLAS matmuls): one grid-stride loop per distinct output
//!   shape, each thread evaluating its elements by index; broadcasts and
//!   movement ops are index math. When every operand has the output's shape
//!   and the kernel is pure elementwise, a *flat* variant moves 16 bytes per
//!   thread per access (vector loads and stores; a scalar loop finishes the
//!   tail and takes over when a pointer is not 16-byte aligned).
//! - **tiled transpose** (a transpose kernel whose permutation moves the
//!   innermost dim): coalesced loads and stores through shared-memory
//!   tiles, in `transpose.rs`; other transpose kernels are elementwise.
//! - **row** (reduction, normalization): one block per row, or one warp per
//!   row for short rows, in `row.rs`.
//!
//! Kernel arguments: outputs, inputs (device pointers), then the value of
//! every symbol the kernel's shapes use, sorted by name. Sizes are arguments,
//! so a new batch size never recompiles. The text is a pure function of the
//! kernel (no maps iterated, no addresses), so snapshots are stable.

use std::collections::HashMap;

use crate::backend::kernel::KernelFunc;
use crate::ir::{DType, Func, NodeId, Op, OpClass, Shape};
use crate::plan::KernelKind;

use super::conv_plan::ConvGemm;
use super::lower::{LowerError, Lowerer, conv, symbol_arg};
use super::snippets;

/// Which template a kernel was emitted with; decides its launch shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Template {
    /// Grid-stride loops over output elements; `vector` elements per thread
    /// access in the flat variant (1: no flat variant).
    Elementwise {
        /// Elements per vector access in the flat variant.
        vector: usize,
    },
    /// One block (or, for short rows, one warp) per row.
    Row {
        /// The parallel dims (product = rows).
        outer: Shape,
        /// The reduced dims (product = row length).
        inner: Shape,
        /// Elements per vector access of the row-contiguous buffers when the
        /// row length divides by it and they are 16-byte aligned (1: never).
        vector: usize,
        /// Rows of at most this many elements run one per warp (launch
        /// blocks of whole warps, a row each); longer ones one per block
        /// (0: the kernel has no warp path).
        warp_max: u64,
    },
    /// A transpose through shared-memory tiles (`transpose.rs`): 256-thread
    /// blocks walk the 32×32 tiles of dims `a` and `b` of `domain`, every
    /// other dim a batch coordinate.
    Transpose {
        /// The output domain.
        domain: Shape,
        /// The output dim that is the permute source's innermost.
        a: usize,
        /// The output's innermost dim.
        b: usize,
    },
    /// Not generated: the runtime calls cuBLAS (matmul).
    Cublas,
    /// conv2d through cuBLAS: the kernel's code holds the generated im2col
    /// and bias kernels (named here), the runtime plans the gemms
    /// ([`conv_plan`](super::conv_plan)).
    ConvGemm(ConvGemm),
}

/// One generated kernel.
#[derive(Clone, Debug)]
pub struct KernelSource {
    /// `KernelFunc::name`, also the `extern "C"` symbol.
    pub name: String,
    /// The template used.
    pub template: Template,
    /// The kernel text (no preamble; see [`translation_unit`]).
    pub code: String,
    /// Symbols passed as `long long` arguments after the pointers, in order.
    pub symbols: Vec<String>,
    /// Output shapes (the launch covers the largest).
    pub output_shapes: Vec<Shape>,
}

/// Emits one kernel (float matmuls become [`Template::Cublas`], conv2d
/// but depthwise [`Template::ConvGemm`]).
pub fn emit_kernel(k: &KernelFunc) -> Result<KernelSource, LowerError> {
    emit_kernel_with(k, true)
}

/// Emits one kernel; with `cublas` false a float matmul or a conv2d gets a
/// generated one-thread-per-output kernel instead (no cuBLAS on the machine,
/// or checks that have none).
pub fn emit_kernel_with(k: &KernelFunc, cublas: bool) -> Result<KernelSource, LowerError> {
    emit_kernel_numerics(k, cublas, false)
}

/// [`emit_kernel_with`], with `eager` numerics (`--numerics eager`): every
/// f16/bf16 op result rounded to its dtype, as the interpreter does. Such a
/// kernel is named `<kind>_<hash>_eager`, so the two never share a cache
/// entry.
pub fn emit_kernel_numerics(
    k: &KernelFunc,
    cublas: bool,
    eager: bool,
) -> Result<KernelSource, LowerError> {
    let f = &k.func;
    let is_matmul = cublas
        && k.kind == KernelKind::Library
        && f.results().len() == 1
        && f.results().iter().all(|&r| matches!(f.node(r).op, Op::Matmul))
        // cuBLAS multiplies floats; integer matmuls take the generated kernel.
        && f.results().iter().all(|&r| f.ty(r).dtype.is_float());
    let output_shapes: Vec<Shape> = f.results().iter().map(|&r| f.ty(r).shape.clone()).collect();
    if is_matmul {
        let code = format!("// {}: matmul through cuBLAS (no generated kernel)\n", k.name);
        return Ok(KernelSource {
            name: k.name.clone(),
            template: Template::Cublas,
            code,
            symbols: Vec::new(),
            output_shapes,
        });
    }
    let name = if eager { format!("{}_eager", k.name) } else { k.name.clone() };
    if cublas && let Some(src) = conv_gemm(k, &name, &output_shapes) {
        return Ok(src);
    }
    let mut lw = Lowerer::new(f, &name);
    lw.eager = eager;
    let row =
        matches!(k.kind, KernelKind::Reduction | KernelKind::Normalization) && has_row_reduction(k);
    let template = if row {
        super::row::row_template(&mut lw, k)?
    } else if let Some(t) = super::transpose::tiled_transpose(&mut lw, k)? {
        t
    } else {
        elementwise_template(&mut lw, k)?
    };
    let symbols: Vec<String> = lw.symbols.iter().cloned().collect();
    let mut params: Vec<String> = Vec::new();
    for (i, &r) in f.results().iter().enumerate() {
        params.push(format!("{}* __restrict__ out{i}", snippets::storage_type(f.ty(r).dtype)));
    }
    for (i, &p) in f.params().iter().enumerate() {
        params.push(format!("const {}* __restrict__ in{i}", snippets::storage_type(f.ty(p).dtype)));
    }
    for s in &symbols {
        params.push(format!("const long long {}", symbol_arg(s)));
    }
    let mut code = String::new();
    code.push_str(&format!("// {} ({}): {}\n", name, k.kind, k.schedule));
    for t in &lw.tables {
        code.push_str(t);
        code.push('\n');
    }
    let bounds = if row {
        format!("__launch_bounds__({}) ", super::row::ROW_BLOCK_MAX)
    } else {
        "__launch_bounds__(256) ".to_string()
    };
    code.push_str(&format!(
        "extern \"C\" __global__ void {bounds}{}(\n    {}) {{\n",
        name,
        params.join(",\n    ")
    ));
    for l in &lw.lines {
        code.push_str(l);
        code.push('\n');
    }
    code.push_str("}\n");
    Ok(KernelSource { name, template, code, symbols, output_shapes })
}

/// A conv2d library kernel as im2col + cuBLAS (None for any other kernel,
/// and for depthwise convs, which the direct kernel serves better).
fn conv_gemm(k: &KernelFunc, name: &str, output_shapes: &[Shape]) -> Option<KernelSource> {
    let f = &k.func;
    let [r] = f.results() else { return None };
    let Op::Conv2d(a) = &f.node(*r).op else { return None };
    if k.kind != KernelKind::Library {
        return None;
    }
    let d = f.ty(*r).dtype;
    let mut inputs = [None; 3];
    for (slot, o) in inputs.iter_mut().zip(f.node(*r).operands()) {
        // A library kernel runs alone: its operands are its parameters.
        match o.value().map(|v| &f.node(v).op) {
            Some(Op::Param { index, .. }) => *slot = Some(*index),
            _ => return None,
        }
    }
    let w = f.ty(f.node(*r).operands().get(1)?.value()?).shape.clone();
    let (kh, kw) =
        if a.channels_last { (&w.dims()[1], &w.dims()[2]) } else { (&w.dims()[2], &w.dims()[3]) };
    // Depthwise (one input channel per group): each output is a handful of
    // taps over one channel, which the direct kernel reads straight from the
    // input; im2col would write and reread KH·KW copies of it for gemms of
    // one output channel each.
    let icg = if a.channels_last { &w.dims()[3] } else { &w.dims()[1] };
    if a.groups > 1 && icg.is_one() {
        return None;
    }
    let one_by_one = kh.is_one() && kw.is_one() && a.stride == [1, 1] && a.padding == [0, 0];
    let im2col = (!one_by_one).then(|| format!("{name}_im2col"));
    let bias = inputs[2].map(|_| format!("{name}_bias"));
    let mut code = format!(
        "// {name} ({}): {}\n// {name}: conv2d{} through cuBLAS: {}{}gemm per chunk of images (groups batched by stride)\n",
        k.kind,
        k.schedule,
        if a.channels_last { " layout=nhwc" } else { "" },
        if bias.is_some() { "bias broadcast, " } else { "" },
        if im2col.is_some() { "im2col, " } else { "no im2col (1x1: the input is the columns), " },
    );
    if let Some(b) = &bias {
        code.push_str(&conv::bias_kernel(b, d));
    }
    if let Some(i) = &im2col {
        code.push_str(&conv::im2col_kernel(i, d, a.channels_last));
    }
    let template =
        Template::ConvGemm(ConvGemm { attrs: a.clone(), dtype: d, inputs, im2col, bias });
    Some(KernelSource {
        name: name.to_string(),
        template,
        code,
        symbols: Vec::new(),
        output_shapes: output_shapes.to_vec(),
    })
}

/// The whole translation unit for some kernels: the preamble once, then
/// each kernel (cuBLAS kernels appear as comments).
pub fn translation_unit(kernels: &[KernelSource]) -> String {
    let mut s = String::from(snippets::PREAMBLE);
    let mut seen = std::collections::HashSet::new();
    for k in kernels {
        // A kernel's name hashes its code: a repeat is the same kernel.
        if !seen.insert(k.name.as_str()) {
            continue;
        }
        s.push('\n');
        s.push_str(&k.code);
    }
    s
}

/// True if a reduce of the kernel reduces exactly the schedule's domain and dims.
fn has_row_reduction(k: &KernelFunc) -> bool {
    k.func.node_ids().iter().any(|&n| is_row_reduce(k, n))
}

pub(super) fn is_row_reduce(k: &KernelFunc, n: NodeId) -> bool {
    let f = &k.func;
    match &f.node(n).op {
        Op::Reduce { dims, .. } => {
            let mut d = dims.clone();
            d.sort_unstable();
            let src = f.node(n).operands()[0].value();
            d == k.schedule.reduced_dims && src.is_some_and(|s| f.ty(s).shape == k.schedule.domain)
        }
        _ => false,
    }
}

/// Kernel body nodes in program order (no parameters).
pub(super) fn body(f: &Func) -> Vec<NodeId> {
    f.program_order().into_iter().filter(|&n| !matches!(f.node(n).op, Op::Param { .. })).collect()
}

/// Stores output `i` (node `r`) at `idx`.
pub(super) fn store_output(
    lw: &mut Lowerer<'_>,
    i: usize,
    r: NodeId,
    idx: &[String],
) -> Result<(), LowerError> {
    let ty = lw.f.ty(r).clone();
    let v = lw.eval(r, idx)?;
    let off = lw.linearize(&ty.shape, idx);
    lw.line(format!("out{i}[{off}] = {};", snippets::store(ty.dtype, &v)));
    Ok(())
}

/// One grid-stride loop writing the given outputs (all of shape `shape`).
pub(super) fn grid_loop(
    lw: &mut Lowerer<'_>,
    shape: &Shape,
    outs: &[(usize, NodeId)],
    start: &str,
) -> Result<(), LowerError> {
    let n = lw.product(shape.dims());
    let i = lw.fresh("i");
    lw.open(format!("for (long long {i} = {start}; {i} < {n}; {i} += smelt_threads)"));
    let idx = lw.delinearize(shape, &i);
    for &(k, r) in outs {
        store_output(lw, k, r, &idx)?;
    }
    lw.close();
    Ok(())
}

/// Outputs grouped by shape, groups in order of first appearance.
pub(super) fn groups(f: &Func) -> Vec<(Shape, Vec<(usize, NodeId)>)> {
    let mut out: Vec<(Shape, Vec<(usize, NodeId)>)> = Vec::new();
    for (i, &r) in f.results().iter().enumerate() {
        let s = f.ty(r).shape.clone();
        match out.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push((i, r)),
            None => out.push((s, vec![(i, r)])),
        }
    }
    out
}

/// Elements per 16-byte access when the kernel qualifies for the flat variant.
fn flat_vector(f: &Func) -> Option<usize> {
    let results = f.results();
    let shape = &f.ty(*results.first()?).shape;
    if results.iter().any(|&r| f.ty(r).shape != *shape) {
        return None;
    }
    let mut widest = 1;
    // Parameters are not in the program order: check them too.
    let mut nodes = f.params().to_vec();
    nodes.extend(f.program_order());
    for n in nodes {
        let node = f.node(n);
        let ok = match &node.op {
            Op::Param { .. } => true,
            Op::Const { value } => value.len() == 1,
            op => op.class() == OpClass::Elementwise,
        };
        // Values of one element (scalar parameters, splats) broadcast freely:
        // they are read at index 0 and kept in registers.
        let unit = node.ty.shape.dims().iter().all(|d| d.is_one());
        if !ok || (node.ty.shape != *shape && !unit) {
            return None;
        }
        widest = widest.max(node.ty.dtype.size_bytes());
    }
    if shape.numel().coeff == 0 { None } else { Some((16 / widest).max(1)) }
}

fn elementwise_template(lw: &mut Lowerer<'_>, k: &KernelFunc) -> Result<Template, LowerError> {
    let f = lw.f;
    lw.line("const long long smelt_tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;");
    lw.line("const long long smelt_threads = (long long)gridDim.x * blockDim.x;");
    let vector = if k.kind == KernelKind::Pointwise { flat_vector(f) } else { None };
    let Some(vec) = vector.filter(|&v| v > 1) else {
        for (shape, outs) in groups(f) {
            grid_loop(lw, &shape, &outs, "smelt_tid")?;
        }
        return Ok(Template::Elementwise { vector: 1 });
    };
    // Flat variant: all values share the output shape, so element i of every
    // buffer is at offset i.
    let shape = f.ty(f.results()[0]).shape.clone();
    let n = lw.product(shape.dims());
    // Parameters of the output's shape are read as vectors; one-element
    // ones (see `flat_vector`) as scalars.
    let vectored: Vec<usize> =
        (0..f.params().len()).filter(|&i| f.ty(f.params()[i]).shape == shape).collect();
    let mut ptrs: Vec<String> = (0..f.results().len()).map(|i| format!("out{i}")).collect();
    ptrs.extend(vectored.iter().map(|i| format!("in{i}")));
    let or: Vec<String> = ptrs.iter().map(|p| format!("(unsigned long long){p}")).collect();
    lw.line(format!("const bool smelt_aligned = (({}) & 15ull) == 0;", or.join(" | ")));
    lw.line(format!("const long long smelt_nv = smelt_aligned ? {n} / {vec} : 0;"));
    lw.open("for (long long iv = smelt_tid; iv < smelt_nv; iv += smelt_threads)");
    let mut flat = HashMap::new();
    for &i in &vectored {
        let d = f.ty(f.params()[i]).dtype;
        let (st, vt) = (snippets::storage_type(d), snippets::vector_type(vec * d.size_bytes()));
        let arr = format!("a{i}");
        lw.line(format!("__align__(16) {st} {arr}[{vec}];"));
        lw.line(format!(
            "*reinterpret_cast<{vt}*>({arr}) = reinterpret_cast<const {vt}*>(in{i})[iv];"
        ));
        flat.insert(i, arr);
    }
    for (i, &r) in f.results().iter().enumerate() {
        let st = snippets::storage_type(f.ty(r).dtype);
        lw.line(format!("__align__(16) {st} o{i}[{vec}];"));
    }
    lw.line("#pragma unroll");
    lw.open(format!("for (int v = 0; v < {vec}; ++v)"));
    lw.flat_params = Some(flat);
    let idx = vec!["v".to_string(); shape.rank()];
    for (i, &r) in f.results().iter().enumerate() {
        let x = lw.eval(r, &idx)?;
        lw.line(format!("o{i}[v] = {};", snippets::store(f.ty(r).dtype, &x)));
    }
    lw.flat_params = None;
    lw.close();
    for (i, &r) in f.results().iter().enumerate() {
        let vt = snippets::vector_type(vec * f.ty(r).dtype.size_bytes());
        lw.line(format!(
            "reinterpret_cast<{vt}*>(out{i})[iv] = *reinterpret_cast<const {vt}*>(o{i});"
        ));
    }
    lw.close();
    lw.line("// The tail (and everything when a pointer is not 16-byte aligned).");
    let outs: Vec<(usize, NodeId)> = f.results().iter().copied().enumerate().collect();
    grid_loop(lw, &shape, &outs, &format!("smelt_nv * {vec} + smelt_tid"))?;
    Ok(Template::Elementwise { vector: vec })
}

/// The dtype of each parameter and result of a kernel (for the runtime).
pub fn signature(f: &Func) -> (Vec<DType>, Vec<DType>) {
    (
        f.params().iter().map(|&p| f.ty(p).dtype).collect(),
        f.results().iter().map(|&r| f.ty(r).dtype).collect(),
    )
}
