//! `compile(f)`: a callable that caches traced graphs behind guards.
//!
//! A call computes whether a cached graph's guards accept the inputs
//! (dtype, rank, device, layout class, sizes of non-symbolic dims); a hit
//! replays that graph with the inputs and the lifted tensors, no tracing. A
//! miss traces `f`, optimizes, and runs the graph through the runtime's
//! backend. When the miss is only a size change against an earlier graph,
//! those dims become symbolic (automatic dynamic, see `dynamic.rs`) and the
//! symbolic graph replaces the earlier one, so later sizes compile nothing.
//! Breaks: a trace with an opaque op runs `f` eagerly on every call; a
//! graph with a kernel the backend cannot compile runs op by op.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use smelt_compiler::ir::{Dim, Func};
use smelt_compiler::passes::optimize;
use smelt_compiler::plan::plan;
use smelt_runtime::Tensor;
use smelt_runtime::dispatch::last_run_stats;
use smelt_runtime::exec::{kernels_compiled, run_func};

use crate::auto::{Program, Template, generalize};
use crate::debug::log;
use crate::error::FrontendError;
use crate::explain::{BreakInfo, Explain, GraphInfo};
use crate::freeze::freeze;
use crate::guard::{self, Env, InputGuard};
use crate::replay::OpByOp;
use crate::trace::trace;

/// The plan of graph `id`, for `SMELT_DEBUG=2`.
fn plan_text(id: usize, func: &Func) -> String {
    match plan(func) {
        Ok(p) => {
            let ks: Vec<String> = p
                .kernels
                .iter()
                .map(|k| format!("{} {} ({} ops)", k.name, k.kind, k.nodes.len()))
                .collect();
            format!("g{id} plan: {}", ks.join(", "))
        }
        Err(e) => format!("g{id} plan: {e}"),
    }
}

/// Wraps `f` in a compiled callable (nothing is traced until the first call).
pub fn compile<F>(f: F) -> Compiled
where
    F: Fn(&[Tensor]) -> smelt_runtime::tensor::Result<Vec<Tensor>> + 'static,
{
    Compiled { f: Rc::new(f), state: RefCell::new(State::default()) }
}

/// A program with a cache of compiled graphs (see the module docs).
pub struct Compiled {
    f: Rc<Program>,
    state: RefCell<State>,
}

/// How a cached entry runs.
enum Run {
    /// A traced graph and the tensors lifted into its trailing parameters.
    Graph { func: Box<Func>, lifted: Vec<Tensor>, split: OnceCell<OpByOp> },
    /// The program itself, eagerly (the trace had ops with no IR form).
    Eager,
}

/// The trace a graph came from, kept for diffing against a later size.
struct Raw {
    func: Func,
    /// The symbols' sizes in that trace.
    env: Env,
}

struct Entry {
    id: usize,
    guards: Vec<InputGuard>,
    run: Rc<Run>,
    raw: Option<Raw>,
    /// Set when the graph runs op by op, with why.
    op_by_op: Option<String>,
    ops: usize,
    /// Instructions over captured tensors computed once (`freeze.rs`).
    frozen: usize,
    kernels: usize,
    runs: usize,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    next_id: usize,
    next_sym: usize,
    hits: usize,
    misses: usize,
    kernels_compiled: usize,
    recompiles: Vec<String>,
    breaks: Vec<BreakInfo>,
    /// (input, dim) already probed for automatic dynamic.
    probed: Vec<(usize, usize)>,
    /// (input, dim) kept static, and why.
    static_dims: BTreeMap<(usize, usize), String>,
}

/// A size change against a cached graph: the graph's index and the
/// changed dims as (input, dim, old size, new size).
struct SizeChange {
    entry: usize,
    dims: Vec<(usize, usize, u64, u64)>,
}

impl State {
    /// The newest graph that differs from `inputs` only in sizes of
    /// constant dims (symbolic ones binding consistently).
    fn size_change(&self, inputs: &[Tensor]) -> Option<SizeChange> {
        'entries: for (k, e) in self.entries.iter().enumerate().rev() {
            if e.raw.is_none() || e.guards.len() != inputs.len() {
                continue;
            }
            let mut env = Env::new();
            let mut dims = Vec::new();
            for (i, (g, t)) in e.guards.iter().zip(inputs).enumerate() {
                if !g.same_kind(t) {
                    continue 'entries;
                }
                for (d, (gd, &n)) in g.dims.iter().zip(t.shape()).enumerate() {
                    let n = n as u64;
                    match gd {
                        Dim::Const(c) if *c != n => dims.push((i, d, *c, n)),
                        Dim::Const(_) => {}
                        Dim::Sym(s) => {
                            if *env.entry(s.clone()).or_insert(n) != n {
                                continue 'entries;
                            }
                        }
                    }
                }
            }
            if !dims.is_empty() {
                return Some(SizeChange { entry: k, dims });
            }
        }
        None
    }

    /// Why the newest entry refused `inputs` (for the recompile log).
    fn miss_reason(&self, inputs: &[Tensor]) -> String {
        match self.entries.last() {
            None => "first call".into(),
            Some(e) => match guard::check(&e.guards, inputs) {
                Err(why) => format!("g{}: {why}", e.id),
                Ok(_) => format!("g{} accepts the inputs", e.id),
            },
        }
    }
}

impl Compiled {
    /// Runs the program on `inputs`: a cached graph when one's guards
    /// accept them, else traces and compiles a new one.
    pub fn call(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, FrontendError> {
        let hit = {
            let mut st = self.state.borrow_mut();
            let found = st.entries.iter().rposition(|e| guard::check(&e.guards, inputs).is_ok());
            found.map(|k| {
                st.hits += 1;
                let e = &mut st.entries[k];
                e.runs += 1;
                log(2, || format!("guards of g{} hold", e.id));
                (e.id, e.run.clone(), e.op_by_op.is_some())
            })
        };
        match hit {
            Some((id, run, split)) => self.execute(id, &run, split, inputs),
            None => self.miss(inputs),
        }
    }

    /// Traces at these inputs, makes a graph (symbolic if only sizes
    /// changed), caches it and runs it.
    fn miss(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, FrontendError> {
        let t0 = Instant::now();
        let traced = trace(|x| (self.f)(x), inputs)?;
        let trace_ms = t0.elapsed().as_secs_f64() * 1e3;
        let reason = self.state.borrow().miss_reason(inputs);
        let (made, note) = if traced.breaks.is_empty() {
            self.dynamic(&traced.func, inputs)
        } else {
            (None, String::new())
        };
        let mut st = self.state.borrow_mut();
        st.misses += 1;
        let id = st.next_id;
        st.next_id += 1;
        if st.misses > 1 {
            log(2, || format!("recompile ({reason})"));
        }
        if !traced.breaks.is_empty() {
            let why = format!(
                "{} op(s) with no IR form: {}; the program runs eagerly",
                traced.breaks.len(),
                traced.breaks.join(", ")
            );
            log(2, || format!("g{id}: graph break: {why}"));
            if st.misses > 1 {
                st.recompiles.push(format!("g{id} ({reason}): eager, graph break"));
            }
            st.breaks.push(BreakInfo { graph: id, fallback: "eager program", reason: why });
            let guards = inputs.iter().map(InputGuard::exact).collect();
            st.entries.push(Entry {
                id,
                guards,
                run: Rc::new(Run::Eager),
                raw: None,
                op_by_op: None,
                ops: 0,
                frozen: 0,
                kernels: 0,
                runs: 1,
            });
            return Ok(traced.outputs);
        }
        let n = inputs.len();
        let (raw_func, env, replaces) = match made {
            Some((f, env, k)) => (f, env, Some(k)),
            None => (traced.func, Env::new(), None),
        };
        let dims: Vec<Vec<Dim>> =
            raw_func.params()[..n].iter().map(|&p| raw_func.ty(p).shape.dims().to_vec()).collect();
        let guards = guard::from_dims(inputs, dims);
        let mut func = raw_func.clone();
        func.name = format!("g{id}");
        let t1 = Instant::now();
        optimize(&mut func).map_err(|e| FrontendError::Optimize(e.to_string()))?;
        let opt_ms = t1.elapsed().as_secs_f64() * 1e3;
        let frozen = freeze(&func, n, &traced.lifted)?;
        let (func, lifted) = (frozen.func, frozen.lifted);
        if frozen.ops > 0 {
            log(2, || format!("g{id}: froze {} op(s) that read only captured tensors", frozen.ops));
        }
        let kernels =
            plan(&func).map_or(0, |p| p.kernels.iter().filter(|k| !k.outputs.is_empty()).count());
        let ops = func.program_order().len();
        log(2, || {
            let g: Vec<String> = guards.iter().map(|g| g.to_string()).collect();
            format!(
                "g{id} ({}): {note}; {ops} ops, {kernels} kernels; trace {trace_ms:.2} ms, optimize {opt_ms:.2} ms",
                g.join(", ")
            )
        });
        log(2, || plan_text(id, &func));
        if st.misses > 1 {
            st.recompiles.push(format!("g{id} ({reason}): {note}"));
        }
        if let Some(k) = replaces {
            st.entries.remove(k);
        }
        let run = Rc::new(Run::Graph { func: Box::new(func), lifted, split: OnceCell::new() });
        st.entries.push(Entry {
            id,
            guards,
            run: run.clone(),
            raw: Some(Raw { func: raw_func, env }),
            op_by_op: None,
            ops,
            frozen: frozen.ops,
            kernels,
            runs: 1,
        });
        drop(st);
        self.execute(id, &run, false, inputs)
    }

    /// For a miss that only changed sizes against a cached graph: the
    /// symbolic function (with its symbols' sizes now and the graph it
    /// replaces), or why the dims stay static. `b` is the trace at `inputs`.
    fn dynamic(&self, b: &Func, inputs: &[Tensor]) -> (Option<(Func, Env, usize)>, String) {
        let st = self.state.borrow();
        let Some(ch) = st.size_change(inputs) else { return (None, "static".into()) };
        let kept: Vec<String> = ch
            .dims
            .iter()
            .filter_map(|&(i, d, ..)| st.static_dims.get(&(i, d)).map(|w| format!("{i}.{d}: {w}")))
            .collect();
        if !kept.is_empty() {
            return (None, format!("static, dims kept static earlier ({})", kept.join("; ")));
        }
        let tpl = match &st.entries[ch.entry].raw {
            Some(r) => Template { func: r.func.clone(), env: r.env.clone() },
            None => unreachable!("size_change only picks traced graphs"),
        };
        let (mut next_sym, mut probed) = (st.next_sym, st.probed.clone());
        // The program runs again while probing: let go of the state.
        drop(st);
        let got = generalize(&*self.f, &tpl, b, inputs, &ch.dims, &mut next_sym, &mut probed);
        let mut st = self.state.borrow_mut();
        st.next_sym = next_sym;
        st.probed = probed;
        match got {
            Ok(g) => (Some((g.func, g.env, ch.entry)), g.note),
            Err(why) => {
                for &(i, d, a, b) in &ch.dims {
                    let w = format!("input {i} dim {d} ({a} -> {b}): {why}");
                    st.static_dims.insert((i, d), w);
                }
                (None, format!("static, dims kept static: {why}"))
            }
        }
    }

    /// Runs entry `id`'s graph (or the program) on `inputs`.
    fn execute(
        &self,
        id: usize,
        run: &Run,
        split: bool,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FrontendError> {
        let Run::Graph { func, lifted, split: steps } = run else {
            log(1, || format!("g{id}: running the program eagerly (graph break)"));
            return Ok((self.f)(inputs)?);
        };
        let mut all = inputs.to_vec();
        all.extend(lifted.iter().cloned());
        if split {
            log(1, || format!("g{id}: running op by op"));
            return steps.get_or_init(|| OpByOp::new(func)).run(&all);
        }
        let (k0, t0) = (kernels_compiled(), Instant::now());
        let outs = run_func(func, &all)?;
        let stats = last_run_stats();
        let compiled = kernels_compiled() - k0;
        log(1, || format!("g{id}: ran {} kernels", stats.kernels));
        log(2, || {
            format!(
                "g{id}: {compiled} kernel(s) compiled, {} interpreted, {:.3} ms",
                stats.interpreted,
                t0.elapsed().as_secs_f64() * 1e3
            )
        });
        let mut st = self.state.borrow_mut();
        st.kernels_compiled += compiled;
        if stats.interpreted > 0
            && let Some(e) = st.entries.iter_mut().find(|e| e.id == id)
            && e.op_by_op.is_none()
        {
            let why = format!(
                "{} of {} kernel(s) could not be compiled by the CPU backend \
                 (CompileError::Unsupported); the graph runs op by op from now on",
                stats.interpreted, stats.kernels
            );
            log(2, || format!("g{id}: graph break: {why}"));
            e.op_by_op = Some(why.clone());
            st.breaks.push(BreakInfo { graph: id, fallback: "op by op", reason: why });
        }
        Ok(outs)
    }

    /// What this callable has done so far.
    pub fn explain(&self) -> Explain {
        let st = self.state.borrow();
        Explain {
            graphs: st
                .entries
                .iter()
                .map(|e| GraphInfo {
                    id: e.id,
                    guards: e.guards.iter().map(ToString::to_string).collect(),
                    ops: e.ops,
                    frozen: e.frozen,
                    kernels: e.kernels,
                    symbolic: e
                        .guards
                        .iter()
                        .any(|g| g.dims.iter().any(|d| d.as_const().is_none())),
                    runs: e.runs,
                    mode: match (&*e.run, &e.op_by_op) {
                        (Run::Eager, _) => "eager",
                        (_, Some(_)) => "op by op",
                        _ => "fused",
                    },
                })
                .collect(),
            breaks: st.breaks.clone(),
            kernels_compiled: st.kernels_compiled,
            hits: st.hits,
            misses: st.misses,
            recompiles: st.recompiles.clone(),
            static_dims: st.static_dims.values().cloned().collect(),
        }
    }
}
