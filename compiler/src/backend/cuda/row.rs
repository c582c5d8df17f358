//! The row template (reduction and normalization kernels): one block per
//! row of the schedule's outer extent, grid-stride over rows. Each row
//! reduction is a block loop over the row then a warp-shuffle +
//! shared-memory block reduction, in program order, so later reductions and
//! the outputs read earlier ones from registers.
//!
//! Short rows (at most [`WARP_ROW_MAX`] elements: softmax or layer norm over
//! a few hundred features, usually with very many rows) run one *warp* per
//! row instead, several rows per block: the same passes with 32 threads and
//! warp-shuffle reductions, no shared memory and no `__syncthreads`. Sizes
//! are arguments, so the choice is made per launch from the row length: a
//! kernel whose row length is symbolic holds both loops behind a uniform
//! branch on it (`smelt_len <= WARP_ROW_MAX`), and the runtime picks the
//! matching launch shape from the same comparison
//! ([`Template::Row`]'s `warp_max`). Summation order differs between the
//! two (a lane sums every 32nd element, then a shuffle tree; a block thread
//! every `blockDim`-th, then a tree, then the warps in order); both are
//! deterministic, and f16/bf16 are summed in f32 and rounded once, at the
//! store, in both.
//!
//! Row-persistent path: when the row is contiguous, 16-byte aligned and at
//! most `persist_chunks` vectors per thread long (four in a block, eight
//! f32 vectors per lane in a warp), every thread loads its part of
//! the row's parameters into registers once, and every pass (each reduction,
//! then the stores) reads those registers: the row crosses the memory bus
//! once, as a copy's does. Longer or unaligned rows re-read the row per
//! pass (vector or scalar loops, as before).

use std::collections::HashMap;

use crate::backend::kernel::KernelFunc;
use crate::ir::{Dim, Func, NodeId, Op, Shape};

use super::emit::{Template, body, grid_loop, groups, is_row_reduce, store_output};
use super::lower::{LowerError, Lowerer, RowValue};
use super::snippets;

/// Elements of a row each thread has in flight per step of a row loop.
const ROW_UNROLL: usize = 4;

/// Opens a loop over the row's elements, `j` = this thread's element:
/// [`ROW_UNROLL`] independent elements per step, so several loads are in
/// flight per thread (bandwidth needs bytes in flight).
fn open_row_loop(lw: &mut Lowerer<'_>) {
    lw.open(format!(
        "for (long long j0 = smelt_lane; j0 < smelt_len; j0 += {ROW_UNROLL}LL * smelt_width)"
    ));
    lw.line("#pragma unroll");
    lw.open(format!("for (int u = 0; u < {ROW_UNROLL}; ++u)"));
    lw.line("const long long j = j0 + (long long)u * smelt_width;");
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

pub(super) fn row_template(lw: &mut Lowerer<'_>, k: &KernelFunc) -> Result<Template, LowerError> {
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
    // Which row loops the kernel holds: both behind a uniform branch on the
    // row length when it is symbolic, only the one that can run when it is
    // a constant (see [`WARP_ROW_MAX`]).
    let const_len: Option<u64> = inner
        .dims()
        .iter()
        .map(|d| match d {
            Dim::Const(c) => Some(*c),
            Dim::Sym(_) => None,
        })
        .product();
    let shapes = RowShapes {
        domain: &domain,
        red: &red,
        inner: &inner,
        outer: &outer,
        keep_shape: &keep_shape,
    };
    let (rest, warp_max) = match const_len {
        Some(n) if n <= WARP_ROW_MAX => (row_loop(lw, k, &shapes, RowMode::Warp)?, WARP_ROW_MAX),
        Some(_) => (row_loop(lw, k, &shapes, RowMode::Block)?, 0),
        None => {
            lw.open(format!("if (smelt_len <= {WARP_ROW_MAX}LL)"));
            row_loop(lw, k, &shapes, RowMode::Warp)?;
            lw.close();
            lw.open("else");
            let rest = row_loop(lw, k, &shapes, RowMode::Block)?;
            lw.close();
            (rest, WARP_ROW_MAX)
        }
    };
    for (shape, outs) in groups(f) {
        let outs: Vec<(usize, NodeId)> = outs.into_iter().filter(|o| rest.contains(o)).collect();
        if !outs.is_empty() {
            grid_loop(lw, &shape, &outs, "smelt_tid")?;
        }
    }
    Ok(Template::Row { outer, inner, vector: rv0.vector, warp_max })
}

/// Rows of at most this many elements run one per warp ([`RowMode::Warp`]);
/// longer ones one per block. At 1024 a lane has 32 elements (eight
/// vectors of f32, what the warp's row-persistent path holds in registers:
/// eight independent 16-byte loads in flight per thread). The block path
/// would spend two `__syncthreads` per reduction on as little work, and
/// measured on an H100 (`[32768, 1024]` rows) it kept too few bytes in
/// flight: softmax reached 47% of the copy ceiling, layer norm 62%.
pub const WARP_ROW_MAX: u64 = 1024;

/// Threads of a row kernel's block at most (its `__launch_bounds__`):
/// 512 leaves each thread up to 128 registers, room for the warp path's
/// rows held in registers (32 floats per parameter per lane).
pub const ROW_BLOCK_MAX: u64 = 512;

/// Who works on one row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowMode {
    /// The whole block, grid-stride over rows; block-wide reductions
    /// (warp shuffles, then shared memory and `__syncthreads`).
    Block,
    /// One warp per row, `blockDim.x / 32` rows per block, grid-stride over
    /// row groups; reductions are warp shuffles only (no shared memory, no
    /// barrier), so the warps of a block never wait for each other.
    Warp,
}

impl RowMode {
    /// The preamble functions reducing a value, and a value with its index,
    /// over the threads of a row.
    fn reducers(self) -> (&'static str, &'static str) {
        match self {
            RowMode::Block => ("smelt_block_reduce", "smelt_block_arg"),
            RowMode::Warp => ("smelt_warp_reduce", "smelt_warp_arg"),
        }
    }
}

/// The shapes of a row kernel's loops.
struct RowShapes<'s> {
    domain: &'s Shape,
    red: &'s [usize],
    inner: &'s Shape,
    outer: &'s Shape,
    keep_shape: &'s Shape,
}

/// The loop over rows in one [`RowMode`]: `smelt_lane` (this thread's place
/// in its row's group) and `smelt_width` (the group's size) stand for
/// `threadIdx.x` and `blockDim.x` in every pass. Returns the outputs that
/// depend on no row reduction (see [`row_body`]).
fn row_loop(
    lw: &mut Lowerer<'_>,
    k: &KernelFunc,
    s: &RowShapes<'_>,
    mode: RowMode,
) -> Result<Vec<(usize, NodeId)>, LowerError> {
    let f = lw.f;
    let (domain, red) = (s.domain, s.red);
    match mode {
        RowMode::Block => {
            lw.line("const int smelt_lane = threadIdx.x;");
            lw.line("const int smelt_width = blockDim.x;");
            lw.open("for (long long row = blockIdx.x; row < smelt_rows; row += gridDim.x)");
        }
        RowMode::Warp => {
            lw.line("// One warp per row: shuffles only, no shared memory, no barrier.");
            lw.line("const int smelt_lane = threadIdx.x & 31;");
            lw.line("const int smelt_width = 32;");
            lw.line("const long long smelt_wpb = blockDim.x >> 5;");
            lw.open(
                "for (long long row = (long long)blockIdx.x * smelt_wpb + (threadIdx.x >> 5); row < smelt_rows; row += (long long)gridDim.x * smelt_wpb)",
            );
        }
    }
    let ocoords = lw.delinearize(s.outer, "row");
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
    let mut rv = row_vector(f, domain, red);
    if rv.vector > 1 {
        rv.index = dom_index(&["j".to_string()]);
        let base = lw.linearize(domain, &dom_index(&["0".to_string()]));
        lw.line(format!("const long long smelt_rowbase = {base};"));
    }
    let rc = RowCtx {
        domain,
        red,
        inner: s.inner,
        outer: s.outer,
        keep_shape: s.keep_shape,
        ocoords: &ocoords,
        mode,
    };
    let rest = if rv.vector > 1 {
        let v = rv.vector;
        let chunks = persist_chunks(mode, v);
        lw.open(format!("if (smelt_rowvec && smelt_len <= {chunks}LL * {v}LL * smelt_width)"));
        for &i in &rv.params {
            let d = f.ty(f.params()[i]).dtype;
            let (st, vt) = (snippets::storage_type(d), snippets::vector_type(v * d.size_bytes()));
            lw.line(format!("__align__(16) {st} rp{i}[{chunks}][{v}];"));
            lw.line("#pragma unroll");
            lw.open(format!("for (int c = 0; c < {chunks}; ++c)"));
            lw.line("const long long jv = smelt_lane + (long long)c * smelt_width;");
            lw.line(format!(
                "if (jv < smelt_len / {v}) *reinterpret_cast<{vt}*>(rp{i}[c]) = reinterpret_cast<const {vt}*>(in{i})[smelt_rowbase / {v} + jv];"
            ));
            lw.close();
        }
        let persistent = RowVector { persist: chunks, ..rv.clone() };
        row_body(lw, k, &rc, &persistent)?;
        lw.close();
        lw.open("else");
        // In the warp loop every aligned row fits the registers, so this
        // branch only runs when `smelt_rowvec` is false: scalar loops only.
        let fits = (chunks * v * 32) as u64 >= WARP_ROW_MAX;
        let rest = if mode == RowMode::Warp && fits {
            row_body(lw, k, &rc, &RowVector { vector: 1, ..rv })?
        } else {
            row_body(lw, k, &rc, &rv)?
        };
        lw.close();
        rest
    } else {
        row_body(lw, k, &rc, &rv)?
    };
    lw.close();
    Ok(rest)
}

/// What every pass of a row needs to know about the kernel's loops.
struct RowCtx<'s> {
    domain: &'s Shape,
    red: &'s [usize],
    inner: &'s Shape,
    outer: &'s Shape,
    keep_shape: &'s Shape,
    /// The current row's coordinates in `outer`.
    ocoords: &'s [String],
    /// Who works on the row.
    mode: RowMode,
}

impl RowCtx<'_> {
    /// The domain index of the current row with the inner coordinates `icoords`.
    fn dom_index(&self, icoords: &[String]) -> Vec<String> {
        let (mut o, mut i) = (self.ocoords.iter(), icoords.iter());
        (0..self.domain.rank())
            .map(|d| {
                if self.red.contains(&d) { i.next() } else { o.next() }
                    .cloned()
                    .unwrap_or_else(|| "0".into())
            })
            .collect()
    }
}

/// One row's work: each row reduction (a pass, then the block reduction),
/// then the domain-shaped outputs (a pass) and the row-shaped ones (thread
/// 0). Returns the outputs that depend on no row reduction (written after
/// the row loop).
fn row_body(
    lw: &mut Lowerer<'_>,
    k: &KernelFunc,
    rc: &RowCtx<'_>,
    rv: &RowVector,
) -> Result<Vec<(usize, NodeId)>, LowerError> {
    let f = lw.f;
    let domain = rc.domain;
    let red = rc.red;
    // Row values of an earlier emission of this body are out of scope here.
    lw.rows.clear();
    let dependent = row_dependent(k);
    // Reduction sources later passes read again, kept in registers on the
    // row-persistent path (`row_carry.rs`): (source, its register array).
    let domain_outputs: Vec<NodeId> =
        f.results().iter().copied().filter(|&r| f.ty(r).shape == *domain).collect();
    let mut carried: Vec<(NodeId, String)> = Vec::new();
    let carry =
        if rv.persist > 0 { super::row_carry::carried_sources(k, &domain_outputs) } else { vec![] };
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
        let keep = carry.contains(&src).then(|| {
            let arr = lw.fresh("rk");
            lw.line(format!("{ct} {arr}[{}][{}];", rv.persist, rv.vector));
            arr
        });
        row_pass(lw, rv, &[], &mut |lw: &mut Lowerer<'_>| {
            let icoords = lw.delinearize(rc.inner, "j");
            let idx = rc.dom_index(&icoords);
            bind_carried(lw, &carried, &idx);
            let x = lw.eval(src, &idx)?;
            if let Some(arr) = &keep {
                lw.line(format!("{arr}[c][v] = {x};"));
            }
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
        if let Some(arr) = keep {
            carried.push((src, arr));
        }
        let out_ct = snippets::compute_type(f.ty(n).dtype);
        let (reduce, arg) = rc.mode.reducers();
        let var = lw.fresh("row");
        match kind {
            crate::ir::ReduceKind::Argmax | crate::ir::ReduceKind::Argmin => {
                let is_max = kind == crate::ir::ReduceKind::Argmax;
                lw.line(format!("{arg}({is_max}, {acc}, {best});"));
                lw.line(format!("const long long {var} = {best} < 0 ? 0LL : {best};"));
            }
            crate::ir::ReduceKind::Mean => {
                let v = format!("{reduce}({acc}, {op}()) / ({ct})smelt_len");
                let v = lw.round_eager(f.ty(n).dtype, &v);
                lw.line(format!("const {out_ct} {var} = {v};"));
            }
            _ => {
                let v = format!("{reduce}({acc}, {op}())");
                let v = lw.round_eager(f.ty(n).dtype, &v);
                lw.line(format!("const {out_ct} {var} = {v};"));
            }
        }
        let index = if keepdim {
            rc.dom_index(&vec!["0".to_string(); rc.inner.rank()])
        } else {
            rc.ocoords.to_vec()
        };
        lw.rows.insert(n, RowValue { var, index });
    }
    // Outputs: domain-shaped ones in one block loop, row-shaped ones by thread
    // 0, the rest (not row-dependent) by a grid-wide loop after the rows.
    let mut per_elem = Vec::new();
    let mut per_row = Vec::new();
    let mut rest = Vec::new();
    for (i, &r) in f.results().iter().enumerate() {
        let s = &f.ty(r).shape;
        if s == rc.domain {
            per_elem.push((i, r));
        } else if dependent.contains(&r) && (*s == *rc.keep_shape || s == rc.outer) {
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
        row_pass(lw, rv, &outs, &mut |lw: &mut Lowerer<'_>| {
            let icoords = lw.delinearize(rc.inner, "j");
            let idx = rc.dom_index(&icoords);
            bind_carried(lw, &carried, &idx);
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
        lw.open("if (smelt_lane == 0)");
        for &(i, r) in &per_row {
            let idx = if f.ty(r).shape == *rc.keep_shape {
                rc.dom_index(&vec!["0".to_string(); rc.inner.rank()])
            } else {
                rc.ocoords.to_vec()
            };
            store_output(lw, i, r, &idx)?;
        }
        lw.close();
    }
    Ok(rest)
}

/// How a row pass may use vector accesses.
#[derive(Clone)]
struct RowVector {
    /// Elements per access (1: scalar passes only).
    vector: usize,
    /// Parameters of the domain's shape, read as vectors on the vector path.
    params: Vec<usize>,
    /// The domain index of element `j` of the current row (what those
    /// parameters are read at).
    index: Vec<String>,
    /// Inside the row-persistent branch, the number of chunks (vectors) of
    /// the row each thread holds: the parameters are already in the
    /// registers `rp{i}[c]`, and a pass walks those chunks. 0 elsewhere.
    persist: usize,
}

/// Vectors of a row each thread keeps in registers on the row-persistent
/// path: in a block, four (a 1024-float row takes one vector per thread of
/// a 256-thread block); in a warp, enough for a [`WARP_ROW_MAX`] row
/// (eight f32 vectors per lane), at most eight.
fn persist_chunks(mode: RowMode, vector: usize) -> usize {
    match mode {
        RowMode::Block => 4,
        RowMode::Warp => (WARP_ROW_MAX as usize).div_ceil(32 * vector).clamp(1, 8),
    }
}

/// When the reduced dim is the last one (rows are contiguous), the
/// parameters of the domain's shape can be read 16 bytes at a time.
fn row_vector(f: &Func, domain: &Shape, red: &[usize]) -> RowVector {
    let none = RowVector { vector: 1, params: Vec::new(), index: Vec::new(), persist: 0 };
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
    RowVector { vector, params, index: Vec::new(), persist: 0 }
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
    if rv.persist > 0 {
        return persistent_pass(lw, rv, outs, body);
    }
    if rv.vector > 1 {
        let v = rv.vector;
        lw.open("if (smelt_rowvec)");
        lw.open(format!(
            "for (long long jv = smelt_lane; jv < smelt_len / {v}; jv += smelt_width)"
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
        vector_step(lw, rv, outs, flat, body)?;
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

/// Makes each carried reduction source read its register array (element
/// `[c][v]` of the row-persistent pass) at domain index `idx`.
fn bind_carried(lw: &mut Lowerer<'_>, carried: &[(NodeId, String)], idx: &[String]) {
    for (src, arr) in carried {
        lw.bind(*src, idx, &format!("{arr}[c][v]"));
    }
}

/// A pass of the row-persistent path: each thread walks its `rv.persist`
/// chunks of the row, reading the parameters from the registers loaded once
/// per row, and writes outputs `outs` a vector at a time.
fn persistent_pass(
    lw: &mut Lowerer<'_>,
    rv: &RowVector,
    outs: &[usize],
    body: &mut dyn FnMut(&mut Lowerer<'_>) -> Result<(), LowerError>,
) -> Result<(), LowerError> {
    let v = rv.vector;
    lw.line("#pragma unroll");
    lw.open(format!("for (int c = 0; c < {}; ++c)", rv.persist));
    lw.line("const long long jv = smelt_lane + (long long)c * smelt_width;");
    lw.open(format!("if (jv < smelt_len / {v})"));
    let flat = rv.params.iter().map(|&i| (i, format!("rp{i}[c]"))).collect();
    vector_step(lw, rv, outs, flat, body)?;
    lw.close();
    lw.close();
    Ok(())
}

/// The work on vector `jv` of the row: `body` for each of its elements,
/// reading the parameters from the arrays `flat` names (at `[v]`), then
/// the outputs `outs` stored a vector at a time.
fn vector_step(
    lw: &mut Lowerer<'_>,
    rv: &RowVector,
    outs: &[usize],
    flat: HashMap<usize, String>,
    body: &mut dyn FnMut(&mut Lowerer<'_>) -> Result<(), LowerError>,
) -> Result<(), LowerError> {
    let v = rv.vector;
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
    Ok(())
}
