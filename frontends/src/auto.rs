//! Automatic dynamic: turning a size-change miss into one symbolic graph.
//!
//! The dims whose sizes changed against a cached graph become symbols by
//! diffing its trace with the new one (`dynamic.rs`). Then, once per dim,
//! the other input dims (size 2 or more, grouped by size as duck sizing
//! groups them) are probed: the program is traced once more on the inputs
//! resized along that group (their data tiled, so indices stay valid) and
//! diffed again; a group whose probe traces and diffs cleanly becomes a
//! symbol too, one that fails stays static. So the first size change makes
//! every dim that can be symbolic symbolic, and a later change of another
//! dim (a new sequence length after a new batch size) compiles nothing.

use std::collections::{BTreeMap, HashMap};

use smelt_compiler::ir::{Dim, Func};
use smelt_runtime::Tensor;

use crate::debug::log;
use crate::dynamic::{Diff, symbolize};
use crate::guard::Env;
use crate::trace::trace;

/// A program as `compile` keeps it.
pub(crate) type Program = dyn Fn(&[Tensor]) -> smelt_runtime::tensor::Result<Vec<Tensor>>;

/// The cached graph a miss is compared with.
pub(crate) struct Template {
    /// Its trace (symbolic in earlier dynamic dims), before optimization.
    pub func: Func,
    /// Its symbols' sizes in that trace.
    pub env: Env,
}

/// A symbolic graph made for a size change.
pub(crate) struct Generalized {
    /// The symbolic trace (not optimized).
    pub func: Func,
    /// Its symbols' sizes at the call's inputs.
    pub env: Env,
    /// Which dims became symbolic, in words.
    pub note: String,
}

/// Symbol names are handed out from one counter per compiled callable.
fn fresh_name(next: &mut usize) -> String {
    let s = format!("s{next}");
    *next += 1;
    s
}

/// The sizes of `func`'s symbols in `inputs` (the first parameters).
fn bind(func: &Func, inputs: &[Tensor]) -> Env {
    let mut env = Env::new();
    for (&p, t) in func.params().iter().zip(inputs) {
        for (d, &n) in func.ty(p).shape.dims().iter().zip(t.shape()) {
            if let Dim::Sym(s) = d {
                env.insert(s.clone(), n as u64);
            }
        }
    }
    env
}

/// Makes the dims in `changed` ((input, dim, old size, new size)) symbolic
/// by diffing `tpl` with `b` (the trace at `inputs`), then probes the other
/// dims unless they were probed before (`probed`). Err: why not.
pub(crate) fn generalize(
    f: &Program,
    tpl: &Template,
    b: &Func,
    inputs: &[Tensor],
    changed: &[(usize, usize, u64, u64)],
    next_sym: &mut usize,
    probed: &mut Vec<(usize, usize)>,
) -> Result<Generalized, String> {
    let mut env_b = bind(&tpl.func, inputs);
    let mut env_a = tpl.env.clone();
    let mut fresh: HashMap<(u64, u64), String> = HashMap::new();
    for &(_, _, a, bsz) in changed {
        fresh.entry((a, bsz)).or_insert_with(|| {
            let s = fresh_name(next_sym);
            env_a.insert(s.clone(), a);
            env_b.insert(s.clone(), bsz);
            s
        });
    }
    let diff = Diff {
        a: &tpl.func,
        env_a: &env_a,
        b,
        env_b: &env_b,
        fresh: &fresh,
        n_inputs: inputs.len(),
    };
    let mut func = symbolize(&diff)?;
    let mut env = env_b;
    let words: Vec<String> =
        changed.iter().map(|&(i, d, a, b)| format!("input {i} dim {d} ({a} -> {b})")).collect();
    let mut note = format!("symbolic in {}", words.join(", "));
    // Groups of constant dims not probed yet, by size (duck sizing).
    let mut groups: BTreeMap<u64, Vec<(usize, usize)>> = BTreeMap::new();
    for (i, &p) in func.params()[..inputs.len()].iter().enumerate() {
        for (d, dim) in func.ty(p).shape.dims().iter().enumerate() {
            if let Dim::Const(n) = dim
                && *n >= 2
                && !probed.contains(&(i, d))
            {
                groups.entry(*n).or_default().push((i, d));
            }
        }
    }
    for (n, dims) in groups {
        probed.extend(dims.iter().copied());
        match probe(f, &func, &env, inputs, n, &dims, next_sym) {
            Ok((g, s)) => {
                let words: Vec<String> =
                    dims.iter().map(|(i, d)| format!("input {i} dim {d}")).collect();
                note.push_str(&format!(", {} (probed, {s})", words.join(", ")));
                env.insert(s, n);
                func = g;
            }
            Err(why) => log(2, || format!("dims {dims:?} of size {n} stay static: {why}")),
        }
    }
    Ok(Generalized { func, env, note })
}

/// Traces the program on `inputs` resized from `n` to another size along
/// `dims` and diffs that with `func`: the more symbolic function and the
/// new symbol's name.
fn probe(
    f: &Program,
    func: &Func,
    env: &Env,
    inputs: &[Tensor],
    n: u64,
    dims: &[(usize, usize)],
    next_sym: &mut usize,
) -> Result<(Func, String), String> {
    let m = n + 3;
    let idx: Vec<i64> = (0..m).map(|k| (k % n) as i64).collect();
    let idx = Tensor::from_vec(idx, &[m as usize]).map_err(|e| e.to_string())?;
    let mut probe_inputs = inputs.to_vec();
    for &(i, d) in dims {
        probe_inputs[i] =
            probe_inputs[i].index_select(d as isize, &idx).map_err(|e| e.to_string())?;
    }
    let p = trace(f, &probe_inputs).map_err(|e| format!("the probe at size {m} failed: {e}"))?;
    if !p.breaks.is_empty() {
        return Err("the probe hit a graph break".into());
    }
    let mut env_p = bind(func, &probe_inputs);
    let mut env_a = env.clone();
    let s = format!("s{next_sym}");
    env_a.insert(s.clone(), n);
    env_p.insert(s.clone(), m);
    let fresh = HashMap::from([((n, m), s.clone())]);
    let diff = Diff {
        a: func,
        env_a: &env_a,
        b: &p.func,
        env_b: &env_p,
        fresh: &fresh,
        n_inputs: inputs.len(),
    };
    let g = symbolize(&diff)?;
    *next_sym += 1;
    Ok((g, s))
}
