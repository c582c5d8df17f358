//! The kernel templates: one [`KernelFunc`] in, one CUDA C++ kernel out.
//!
//! - **elementwise** (pointwise, transpose, fallback and library kernels
//!   other than cuBLAS matmuls): one grid-stride loop per distinct output
//!   shape, each thread evaluating its elements by index; broadcasts and
//!   movement ops are index math. When every operand has the output's shape
//!   and the kernel is pure elementwise, a *flat* variant moves 16 bytes per
//!   thread per access (vector loads and stores; a scalar loop finishes the
//!   tail and takes over when a pointer is not 16-byte aligned).
//! - **row** (reduction, normalization): one block per row of the
//!   schedule's outer extent (grid-stride over rows); each row reduction is a
//!   block loop over the inner extent then a warp-shuffle + shared-memory
//!   block reduction, in program order, so later reductions and the outputs
//!   read earlier ones from registers.
//!
//! Kernel arguments: outputs, inputs (device pointers), then the value of
//! every symbol the kernel's shapes use, sorted by name. Sizes are arguments,
//! so a new batch size never recompiles. The text is a pure function of the
//! kernel (no maps iterated, no addresses), so snapshots are stable.

use std::collections::HashMap;

use crate::backend::kernel::KernelFunc;
use crate::ir::{DType, Func, NodeId, Op, OpClass, Shape};
use crate::plan::KernelKind;

use super::lower::{LowerError, Lowerer, RowValue, symbol_arg};
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
    /// One block per row.
    Row {
        /// The parallel dims (product = rows).
        outer: Shape,
        /// The reduced dims (product = row length).
        inner: Shape,
        /// Elements per vector access of the row-contiguous buffers when the
        /// row length divides by it and they are 16-byte aligned (1: never).
        vector: usize,
    },
    /// Not generated: the runtime calls cuBLAS (matmul).
    Cublas,
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

/// Emits one kernel (float matmuls become [`Template::Cublas`]).
pub fn emit_kernel(k: &KernelFunc) -> Result<KernelSource, LowerError> {
    emit_kernel_with(k, true)
}

/// Emits one kernel; with `cublas` false a float matmul gets a generated
/// one-thread-per-output kernel too (for checks that have no cuBLAS).
pub fn emit_kernel_with(k: &KernelFunc, cublas: bool) -> Result<KernelSource, LowerError> {
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
    let mut lw = Lowerer::new(f, &k.name);
    let row =
        matches!(k.kind, KernelKind::Reduction | KernelKind::Normalization) && has_row_reduction(k);
    let template = if row { row_template(&mut lw, k)? } else { elementwise_template(&mut lw, k)? };
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
    code.push_str(&format!("// {} ({}): {}\n", k.name, k.kind, k.schedule));
    for t in &lw.tables {
        code.push_str(t);
        code.push('\n');
    }
    let bounds = if row { "__launch_bounds__(1024) " } else { "__launch_bounds__(256) " };
    code.push_str(&format!(
        "extern \"C\" __global__ void {bounds}{}(\n    {}) {{\n",
        k.name,
        params.join(",\n    ")
    ));
    for l in &lw.lines {
        code.push_str(l);
        code.push('\n');
    }
    code.push_str("}\n");
    Ok(KernelSource { name: k.name.clone(), template, code, symbols, output_shapes })
}

/// The whole translation unit for some kernels: the preamble once, then
/// each kernel (cuBLAS kernels appear as comments).
pub fn translation_unit(kernels: &[KernelSource]) -> String {
    let mut s = String::from(snippets::PREAMBLE);
    for k in kernels {
        s.push('\n');
        s.push_str(&k.code);
    }
    s
}

/// True if a reduce of the kernel reduces exactly the schedule's domain and dims.
fn has_row_reduction(k: &KernelFunc) -> bool {
    k.func.node_ids().iter().any(|&n| is_row_reduce(k, n))
}

fn is_row_reduce(k: &KernelFunc, n: NodeId) -> bool {
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
fn body(f: &Func) -> Vec<NodeId> {
    f.program_order().into_iter().filter(|&n| !matches!(f.node(n).op, Op::Param { .. })).collect()
}

/// Stores output `i` (node `r`) at `idx`.
fn store_output(
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
fn grid_loop(
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
fn groups(f: &Func) -> Vec<(Shape, Vec<(usize, NodeId)>)> {
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

/// Elements of a row each thread has in flight per step of a row loop.
const ROW_UNROLL: usize = 4;

/// Opens a loop over the row's elements, `j` = this thread's element:
/// [`ROW_UNROLL`] independent elements per step, so several loads are in
/// flight per thread (bandwidth needs bytes in flight).
fn open_row_loop(lw: &mut Lowerer<'_>) {
    lw.open(format!(
        "for (long long j0 = threadIdx.x; j0 < smelt_len; j0 += {ROW_UNROLL}LL * blockDim.x)"
    ));
    lw.line("#pragma unroll");
    lw.open(format!("for (int u = 0; u < {ROW_UNROLL}; ++u)"));
    lw.line("const long long j = j0 + (long long)u * blockDim.x;");
    lw.open("if (j < smelt_len)");
}

/// Closes [`open_row_loop`].
fn close_row_loop(lw: &mut Lowerer<'_>) {
    lw.close();
    lw.close();
    lw.close();
}

/// The nodes that depend (transitively) on a row reduction.
fn row_dependent(k: &KernelFunc) -> Vec<NodeId> {
    let f = &k.func;
    let mut dep: Vec<NodeId> = Vec::new();
    for n in body(f) {
        if is_row_reduce(k, n) || f.node(n).value_operands().any(|v| dep.contains(&v)) {
            dep.push(n);
        }
    }
    dep
}

fn row_template(lw: &mut Lowerer<'_>, k: &KernelFunc) -> Result<Template, LowerError> {
    let f = lw.f;
    let domain = k.schedule.domain.clone();
    let red = k.schedule.reduced_dims.clone();
    let outer = Shape(
        domain
            .dims()
            .iter()
            .enumerate()
            .filter(|(i, _)| !red.contains(i))
            .map(|(_, d)| d.clone())
            .collect(),
    );
    let inner = Shape(
        domain
            .dims()
            .iter()
            .enumerate()
            .filter(|(i, _)| red.contains(i))
            .map(|(_, d)| d.clone())
            .collect(),
    );
    let keep_shape = Shape(
        domain
            .dims()
            .iter()
            .enumerate()
            .map(|(i, d)| if red.contains(&i) { crate::ir::Dim::Const(1) } else { d.clone() })
            .collect(),
    );
    let rows = lw.product(outer.dims());
    let len = lw.product(inner.dims());
    lw.line("const long long smelt_tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;");
    lw.line("const long long smelt_threads = (long long)gridDim.x * blockDim.x;");
    lw.line(format!("const long long smelt_rows = {rows};"));
    lw.line(format!("const long long smelt_len = {len};"));
    let rv0 = row_vector(f, &domain, &red);
    if rv0.vector > 1 {
        let mut ptrs: Vec<String> = rv0.params.iter().map(|i| format!("in{i}")).collect();
        for (i, &r) in f.results().iter().enumerate() {
            if f.ty(r).shape == domain {
                ptrs.push(format!("out{i}"));
            }
        }
        let or: Vec<String> = ptrs.iter().map(|p| format!("(unsigned long long){p}")).collect();
        lw.line(format!(
            "const bool smelt_rowvec = smelt_len % {} == 0 && (({}) & 15ull) == 0;",
            rv0.vector,
            or.join(" | ")
        ));
    }
    lw.open("for (long long row = blockIdx.x; row < smelt_rows; row += gridDim.x)");
    let ocoords = lw.delinearize(&outer, "row");
    // Domain index with the inner coordinates filled in per loop.
    let dom_index = |icoords: &[String]| -> Vec<String> {
        let (mut o, mut i) = (ocoords.iter(), icoords.iter());
        (0..domain.rank())
            .map(|d| {
                if red.contains(&d) { i.next() } else { o.next() }
                    .cloned()
                    .unwrap_or_else(|| "0".into())
            })
            .collect()
    };
    let mut rv = row_vector(f, &domain, &red);
    if rv.vector > 1 {
        rv.index = dom_index(&["j".to_string()]);
        let base = lw.linearize(&domain, &dom_index(&["0".to_string()]));
        lw.line(format!("const long long smelt_rowbase = {base};"));
    }
    let dependent = row_dependent(k);
    for n in body(f) {
        if !is_row_reduce(k, n) {
            continue;
        }
        let Op::Reduce { kind, keepdim, .. } = f.node(n).op.clone() else { continue };
        let src = f.node(n).operands()[0].value().ok_or_else(|| lw.error("reduce of a literal"))?;
        let d = f.ty(src).dtype;
        let ct = snippets::compute_type(d);
        let (init, op) = snippets::reduce_init(kind, d);
        let acc = lw.fresh("acc");
        let best = lw.fresh("best");
        lw.line(format!("{ct} {acc} = {init};"));
        if kind.is_arg() {
            lw.line(format!("long long {best} = -1;"));
        }
        row_pass(lw, &rv, &[], &mut |lw: &mut Lowerer<'_>| {
            let icoords = lw.delinearize(&inner, "j");
            let x = lw.eval(src, &dom_index(&icoords))?;
            if kind.is_arg() {
                let is_max = kind == crate::ir::ReduceKind::Argmax;
                let at = icoords.first().cloned().unwrap_or_else(|| "0".into());
                lw.line(format!(
                    "if (smelt_arg_better({is_max}, {acc}, {best}, {x}, {at})) {{ {acc} = {x}; {best} = {at}; }}"
                ));
            } else {
                lw.line(format!("{acc} = {op}()({acc}, {x});"));
            }
            Ok(())
        })?;
        let out_ct = snippets::compute_type(f.ty(n).dtype);
        let var = lw.fresh("row");
        match kind {
            crate::ir::ReduceKind::Argmax | crate::ir::ReduceKind::Argmin => {
                let is_max = kind == crate::ir::ReduceKind::Argmax;
                lw.line(format!("smelt_block_arg({is_max}, {acc}, {best});"));
                lw.line(format!("const long long {var} = {best} < 0 ? 0LL : {best};"));
            }
            crate::ir::ReduceKind::Mean => {
                lw.line(format!(
                    "const {out_ct} {var} = smelt_block_reduce({acc}, {op}()) / ({ct})smelt_len;"
                ));
            }
            _ => lw.line(format!("const {out_ct} {var} = smelt_block_reduce({acc}, {op}());")),
        }
        let index =
            if keepdim { dom_index(&vec!["0".to_string(); inner.rank()]) } else { ocoords.clone() };
        lw.rows.insert(n, RowValue { var, index });
    }
    // Outputs: domain-shaped ones in one block loop, row-shaped ones by thread
    // 0, the rest (not row-dependent) by a grid-wide loop after the rows.
    let mut per_elem = Vec::new();
    let mut per_row = Vec::new();
    let mut rest = Vec::new();
    for (i, &r) in f.results().iter().enumerate() {
        let s = &f.ty(r).shape;
        if *s == domain {
            per_elem.push((i, r));
        } else if dependent.contains(&r) && (*s == keep_shape || *s == outer) {
            per_row.push((i, r));
        } else if !dependent.contains(&r) {
            rest.push((i, r));
        } else {
            return Err(lw.error(format!(
                "an output of shape {s} that depends on a row reduction over {domain} (reduced {red:?})"
            )));
        }
    }
    if !per_elem.is_empty() {
        let outs: Vec<usize> = per_elem.iter().map(|&(i, _)| i).collect();
        let vectored = rv.vector > 1;
        row_pass(lw, &rv, &outs, &mut |lw: &mut Lowerer<'_>| {
            let icoords = lw.delinearize(&inner, "j");
            let idx = dom_index(&icoords);
            for &(i, r) in &per_elem {
                if vectored && lw.flat_params.is_some() {
                    // Vector path: into this thread's output vector, stored after the loop.
                    let v = lw.eval(r, &idx)?;
                    lw.line(format!("ro{i}[v] = {};", snippets::store(lw.f.ty(r).dtype, &v)));
                } else {
                    store_output(lw, i, r, &idx)?;
                }
            }
            Ok(())
        })?;
    }
    if !per_row.is_empty() {
        lw.open("if (threadIdx.x == 0)");
        for &(i, r) in &per_row {
            let idx = if f.ty(r).shape == keep_shape {
                dom_index(&vec!["0".to_string(); inner.rank()])
            } else {
                ocoords.clone()
            };
            store_output(lw, i, r, &idx)?;
        }
        lw.close();
    }
    lw.close();
    for (shape, outs) in groups(f) {
        let outs: Vec<(usize, NodeId)> = outs.into_iter().filter(|o| rest.contains(o)).collect();
        if !outs.is_empty() {
            grid_loop(lw, &shape, &outs, "smelt_tid")?;
        }
    }
    Ok(Template::Row { outer, inner, vector: rv.vector })
}

/// How a row pass may use vector accesses.
struct RowVector {
    /// Elements per access (1: scalar passes only).
    vector: usize,
    /// Parameters of the domain's shape, read as vectors on the vector path.
    params: Vec<usize>,
    /// The domain index of element `j` of the current row (what those
    /// parameters are read at).
    index: Vec<String>,
}

/// When the reduced dim is the last one (rows are contiguous), the
/// parameters of the domain's shape can be read 16 bytes at a time.
fn row_vector(f: &Func, domain: &Shape, red: &[usize]) -> RowVector {
    let none = RowVector { vector: 1, params: Vec::new(), index: Vec::new() };
    if domain.rank() == 0 || red != [domain.rank() - 1] {
        return none;
    }
    let params: Vec<usize> =
        (0..f.params().len()).filter(|&i| f.ty(f.params()[i]).shape == *domain).collect();
    let mut widest = 1;
    for &i in &params {
        widest = widest.max(f.ty(f.params()[i]).dtype.size_bytes());
    }
    for &r in f.results() {
        if f.ty(r).shape == *domain {
            widest = widest.max(f.ty(r).dtype.size_bytes());
        }
    }
    let vector = 16 / widest;
    if params.is_empty() || vector < 2 {
        return none;
    }
    RowVector { vector, params, index: Vec::new() }
}

/// One pass over the current row: `body` emits the work for element `j`.
/// With a vector plan, a vector path (taken at run time when the row length
/// divides and the pointers are aligned) reads the row's parameters, and
/// writes outputs `outs`, `vector` elements at a time; the scalar path is
/// [`open_row_loop`]'s.
fn row_pass(
    lw: &mut Lowerer<'_>,
    rv: &RowVector,
    outs: &[usize],
    body: &mut dyn FnMut(&mut Lowerer<'_>) -> Result<(), LowerError>,
) -> Result<(), LowerError> {
    if rv.vector > 1 {
        let v = rv.vector;
        lw.open("if (smelt_rowvec)");
        lw.open(format!(
            "for (long long jv = threadIdx.x; jv < smelt_len / {v}; jv += blockDim.x)"
        ));
        let mut flat = HashMap::new();
        for &i in &rv.params {
            let d = lw.f.ty(lw.f.params()[i]).dtype;
            let (st, vt) = (snippets::storage_type(d), snippets::vector_type(v * d.size_bytes()));
            lw.line(format!("__align__(16) {st} ra{i}[{v}];"));
            lw.line(format!(
                "*reinterpret_cast<{vt}*>(ra{i}) = reinterpret_cast<const {vt}*>(in{i})[smelt_rowbase / {v} + jv];"
            ));
            flat.insert(i, format!("ra{i}"));
        }
        for &i in outs {
            let d = lw.f.ty(lw.f.results()[i]).dtype;
            lw.line(format!("__align__(16) {} ro{i}[{v}];", snippets::storage_type(d)));
        }
        lw.line("#pragma unroll");
        lw.open(format!("for (int v = 0; v < {v}; ++v)"));
        lw.line(format!("const long long j = jv * {v} + v;"));
        lw.flat_params = Some(flat);
        lw.flat_index = Some(rv.index.clone());
        let r = body(lw);
        lw.flat_params = None;
        lw.flat_index = None;
        r?;
        lw.close();
        for &i in outs {
            let d = lw.f.ty(lw.f.results()[i]).dtype;
            let vt = snippets::vector_type(v * d.size_bytes());
            lw.line(format!(
                "reinterpret_cast<{vt}*>(out{i})[smelt_rowbase / {v} + jv] = *reinterpret_cast<const {vt}*>(ro{i});"
            ));
        }
        lw.close();
        lw.close();
        lw.open("else");
    }
    open_row_loop(lw);
    body(lw)?;
    close_row_loop(lw);
    if rv.vector > 1 {
        lw.close();
    }
    Ok(())
}

/// The dtype of each parameter and result of a kernel (for the runtime).
pub fn signature(f: &Func) -> (Vec<DType>, Vec<DType>) {
    (
        f.params().iter().map(|&p| f.ty(p).dtype).collect(),
        f.results().iter().map(|&r| f.ty(r).dtype).collect(),
    )
}
