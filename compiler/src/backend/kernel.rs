//! A planned kernel as a standalone function: its inputs become parameters,
//! its outputs the results, its nodes the body (in program order).
//!
//! Backends lower a [`KernelFunc`] rather than the whole graph. It carries:
//! - `name`: `<kind>_<hash>` with the hash taken over the kernel's IR text, so
//!   generated code and snapshots name kernels stably (STYLE.md 7);
//! - `cache_key`: the same text with every size other than 1 erased, plus the
//!   kind. Two kernels that differ only in sizes (a new batch size, a new
//!   sequence length) share a key; broadcast flags (size-1 dims), dtypes,
//!   ranks and the ops are all in it. Backends add what only the run knows
//!   (strides, alignment) to their own cache keys.
//!
//! Invariant: `func` verifies whenever the source function did, and
//! `inputs[i]`/`outputs[i]` are the original ids of parameter/result `i`.

use std::collections::HashMap;

use crate::ir::{Dim, Func, Layout, NodeId, Op, Shape, Type};
use crate::plan::{KernelKind, KernelPlan, Schedule};

/// One kernel of a plan, cut out as its own function.
#[derive(Clone, Debug)]
pub struct KernelFunc {
    /// `<kind>_<16 hex digits>`: stable across runs and machines.
    pub name: String,
    /// The planner's choice of template.
    pub kind: KernelKind,
    /// The planner's schedule (domain, reduced dims, extents).
    pub schedule: Schedule,
    /// Parameters `in0, in1, …` (the kernel's inputs), results = its outputs.
    pub func: Func,
    /// Original ids of the inputs, in parameter order.
    pub inputs: Vec<NodeId>,
    /// Original ids of the outputs, in result order.
    pub outputs: Vec<NodeId>,
    /// Size-free structural key (see the module docs).
    pub cache_key: String,
}

/// FNV-1a, 64 bits: a hash that is the same on every run, build and machine
/// (the std hasher promises none of that).
pub fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Cuts kernel `k` of a plan of `f` out as a [`KernelFunc`].
pub fn extract(f: &Func, k: &KernelPlan) -> KernelFunc {
    let mut kf = Func::new(format!("{}_{}", f.name, k.name));
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    for (i, &input) in k.inputs.iter().enumerate() {
        let n = f.node(input);
        // A parameter keeps its declared layout; a kernel output is written row-major.
        let layout = match &n.op {
            Op::Param { layout, .. } => layout.clone(),
            _ => Layout::RowMajor,
        };
        map.insert(input, kf.add_param(format!("in{i}"), n.ty.clone(), layout));
    }
    for &id in &k.nodes {
        let new = kf.import_node(f, id, &map);
        map.insert(id, new);
    }
    kf.set_results(k.outputs.iter().map(|o| map[o]).collect());
    // The name hashes what the kernel does, not where it came from: the
    // function's own name (plan and kernel index) is left out, so identical
    // kernels of one plan (an optimizer step over many same-shaped tensors)
    // or of different plans share one name, one compile and one cache entry.
    let text = {
        let mut anon = kf.clone();
        anon.name = "kernel".into();
        anon.to_string()
    };
    let name = format!("{}_{:016x}", k.kind.name(), stable_hash(&text));
    let cache_key = format!("{} {}", k.kind.name(), size_free_text(&kf));
    KernelFunc {
        name,
        kind: k.kind,
        schedule: k.schedule.clone(),
        func: kf,
        inputs: k.inputs.clone(),
        outputs: k.outputs.clone(),
        cache_key,
    }
}

/// The kernel's text with every dim other than a constant 1 replaced by `?`,
/// the function named `kernel`, and attributes kept (they are part of the
/// code, not of the sizes).
fn size_free_text(kf: &Func) -> String {
    let erase = |t: &Type| {
        let dims = t.shape.0.iter().map(|d| if d.is_one() { Dim::Const(1) } else { Dim::sym("?") });
        Type::new(t.dtype, Shape(dims.collect()))
    };
    let mut copy = kf.clone();
    // The function's name says where the kernel came from, not what it does.
    copy.name = "kernel".into();
    for id in copy.node_ids() {
        let ty = erase(copy.ty(id));
        copy.node_mut(id).ty = ty;
    }
    copy.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::parse_func;
    use crate::plan::plan;

    fn kernels(src: &str) -> Vec<KernelFunc> {
        let f = parse_func(src).unwrap();
        let p = plan(&f).unwrap();
        p.kernels.iter().map(|k| extract(&f, k)).collect()
    }

    const SOFTMAX: &str = "func @softmax(%x: f32[N, 1000]) -> (f32[N, 1000]) {
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}";

    #[test]
    fn a_kernel_is_a_valid_function_with_a_stable_name() {
        let ks = kernels(SOFTMAX);
        assert_eq!(ks.len(), 1);
        crate::ir::verify(&ks[0].func).unwrap();
        assert!(ks[0].name.starts_with("normalization_"), "{}", ks[0].name);
        assert_eq!(ks[0].name, kernels(SOFTMAX)[0].name);
        assert_eq!(ks[0].func.params().len(), 1);
    }

    #[test]
    fn the_cache_key_ignores_sizes_but_not_broadcasts_or_dtypes() {
        let key = |src: &str| kernels(src)[0].cache_key.clone();
        let base = key(SOFTMAX);
        assert_eq!(base, key(&SOFTMAX.replace("N, 1000", "8, 77")));
        assert_ne!(base, key(&SOFTMAX.replace("f32", "bf16")));
        let add = |a: &str| {
            format!(
                "func @f(%x: f32[{a}], %y: f32[4, 5]) -> (f32[4, 5]) {{\n  %z = add(%x, %y)\n  return %z\n}}"
            )
        };
        assert_ne!(key(&add("4, 5")), key(&add("1, 5")));
        assert_ne!(kernels(SOFTMAX)[0].name, kernels(&SOFTMAX.replace("1000", "999"))[0].name);
        // The same kernel cut from another function shares the key.
        assert_eq!(base, key(&SOFTMAX.replace("@softmax", "@other")));
    }
}
