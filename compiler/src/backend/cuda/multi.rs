//! Horizontal fusion of identical kernels: what PyTorch's
//! `multi_tensor_apply` does for its fused optimizers. A plan that runs the
//! same generated kernel on many independent tensors (an AdamW step over
//! every parameter) launches it once per chunk of instances instead of once
//! per tensor, so a few launches carry the work of dozens.
//!
//! - [`group_launches`] decides which steps of a plan launch together:
//!   steps whose kernel code is identical (the `<kind>_<hash>` name hashes
//!   what the kernel does, sizes included, so identical kernels share it;
//!   the comparison leaves the name out all the same), whose template
//!   launches by a 1-D grid (elementwise, row, tiled transpose), and that
//!   can move up to the first member's position:
//!   every input of a member is a function parameter or made by a step
//!   before the first member. That also means no member reads what another
//!   writes.
//! - [`multi_kernel`] turns the single kernel's source into a *multi*
//!   kernel `<name>_x<N>`: the single entry becomes a `__device__
//!   __forceinline__` body in a namespace of its own, and a wrapper entry
//!   takes a by-value table of every instance's pointers (`N` instances ×
//!   `P` pointers, outputs then inputs, as the single kernel's arguments)
//!   followed by the same symbols; `blockIdx.y` picks the instance, the body
//!   keeps `blockIdx.x`/`gridDim.x` as its own grid. `N` keeps the whole
//!   argument list within the 4 KiB kernel-parameter limit; a group larger
//!   than `N` launches in chunks, the last one with a shorter `gridDim.y`.
//!
//! The group runs the first member's code for all. Members always launch
//! with the same grid and symbols: identical code means identical symbol
//! names and constant sizes, and a plan binds each symbol once. Tensors whose sizes differ have different code (another
//! constant or another symbol), so they never group and launch one by one.
//! The multi source is self-contained (the preamble, then the single
//! kernel's text inside the namespace, then the wrapper), so it also
//! compiles beside the single kernel in one translation unit.

use std::collections::HashMap;

use crate::backend::kernel::extract;
use crate::ir::{Func, NodeId};
use crate::plan::Plan;

use super::emit::{KernelSource, Template, emit_kernel};
use super::lower::LowerError;

/// The kernel-parameter space of a launch (the 4 KiB every CUDA version and
/// architecture allows; CUDA 12.1 raised it on Volta and newer, not everywhere).
pub const PARAM_BYTES: usize = 4096;

/// The most instances one launch takes (`gridDim.y` is at most 65535).
pub const MAX_INSTANCES: usize = 65535;

/// What the grouping needs of a plan step: its kernel and the plan values
/// it reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct StepView<'a> {
    /// The step's generated kernel.
    pub source: &'a KernelSource,
    /// The plan values it reads.
    pub inputs: &'a [NodeId],
    /// The plan values it writes.
    pub outputs: &'a [NodeId],
}

/// How the steps of a plan launch, in launch order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launch {
    /// Step `i` alone.
    One(usize),
    /// Steps running one kernel on independent data, launched as its multi
    /// kernel at the position of the first (ascending step indices, ≥ 2).
    Group(Vec<usize>),
}

/// Launches the grouping makes of `steps` (see the module docs): every step
/// appears exactly once; a group sits at its first member's position.
pub fn group_launches(steps: &[StepView<'_>]) -> Vec<Launch> {
    let mut producer: HashMap<NodeId, usize> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        for &o in s.outputs {
            producer.insert(o, i);
        }
    }
    // Candidates by kernel text, name left out.
    let keys: Vec<Option<String>> = steps.iter().map(|s| identity(s.source)).collect();
    let mut by_code: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(k) = k {
            by_code.entry(k.as_str()).or_default().push(i);
        }
    }
    let mut taken = vec![false; steps.len()];
    let mut out = Vec::new();
    for i in 0..steps.len() {
        if taken[i] {
            continue;
        }
        taken[i] = true;
        let same = keys[i].as_deref().and_then(|k| by_code.get(k));
        let mut members = vec![i];
        for &j in same.into_iter().flatten() {
            if j <= i || taken[j] {
                continue;
            }
            // Moving step j up to position i is sound when everything it
            // reads exists by then: a parameter, or a value made by a step
            // before i (which runs at or before its own index). A value made
            // by another member, or by a step in between, keeps j in place.
            let ready = steps[j].inputs.iter().all(|x| producer.get(x).is_none_or(|&p| p < i));
            if ready {
                taken[j] = true;
                members.push(j);
            }
        }
        out.push(if members.len() > 1 { Launch::Group(members) } else { Launch::One(i) });
    }
    out
}

/// What makes two kernels the same for grouping: the template, symbols and
/// output shapes (which decide the launch) and the code with the kernel's
/// name blanked out. `None` unless the kernel can launch as a multi kernel:
/// a generated kernel on a 1-D grid whose table fits at least two instances.
fn identity(src: &KernelSource) -> Option<String> {
    let one_d = matches!(
        src.template,
        Template::Elementwise { .. } | Template::Row { .. } | Template::Transpose { .. }
    );
    if !one_d || Entry::parse(src).is_none_or(|e| e.instances() < 2) {
        return None;
    }
    Some(format!(
        "{:?} {:?} {:?}\n{}",
        src.template,
        src.symbols,
        src.output_shapes,
        src.code.replace(&src.name, "")
    ))
}

/// A multi kernel made from one generated kernel.
#[derive(Clone, Debug)]
pub struct MultiKernel {
    /// The source: `name` is the wrapper entry `<single>_x<instances>`;
    /// `template`, `symbols` and `output_shapes` are the single kernel's.
    pub source: KernelSource,
    /// Instances per launch (`N`: rows of the pointer table).
    pub instances: usize,
    /// Pointers per instance (`P`: the single kernel's outputs, then inputs).
    pub pointers: usize,
}

/// The multi kernel of `single` (see the module docs); `None` when its entry
/// is not one this module recognises (cuBLAS and conv kernels, or a table
/// with room for fewer than two instances).
pub fn multi_kernel(single: &KernelSource) -> Option<MultiKernel> {
    let e = Entry::parse(single)?;
    let n = e.instances();
    if n < 2 {
        return None;
    }
    let name = format!("{}_x{n}", single.name);
    let ns = format!("{}_multi", single.name);
    let head = format!("extern \"C\" __global__ void {}{}(", e.bounds, single.name);
    let body = single.code.replacen(
        &head,
        &format!("static __device__ __forceinline__ void {}(", single.name),
        1,
    );
    let p = e.pointers.len();
    let mut code = format!(
        "// {name}: up to {n} instances of {} in one launch (blockIdx.y picks the instance, \
         whose {p} pointers are a row of the table)\nnamespace {ns} {{\n{body}struct Table {{ \
         const void* p[{n}][{p}]; }};\n}}  // namespace {ns}\n",
        single.name
    );
    let mut params = vec![format!("const {ns}::Table smelt_table")];
    params.extend(e.symbols.iter().cloned());
    code.push_str(&format!(
        "extern \"C\" __global__ void {}{name}(\n    {}) {{\n",
        e.bounds,
        params.join(",\n    ")
    ));
    code.push_str("  const void* const* smelt_q = smelt_table.p[blockIdx.y];\n");
    let mut args: Vec<String> =
        e.pointers.iter().enumerate().map(|(k, ty)| format!("({ty})smelt_q[{k}]")).collect();
    args.extend(e.symbols.iter().map(|s| s.rsplit(' ').next().unwrap_or(s).to_string()));
    code.push_str(&format!("  {ns}::{}({});\n}}\n", single.name, args.join(", ")));
    Some(MultiKernel {
        source: KernelSource {
            name,
            template: single.template.clone(),
            code,
            symbols: single.symbols.clone(),
            output_shapes: single.output_shapes.clone(),
        },
        instances: n,
        pointers: p,
    })
}

/// How the kernels of `plan` (a plan of `f`), generated as `sources` (one
/// per plan kernel, in order), launch (see [`group_launches`]).
fn plan_groups(f: &Func, plan: &Plan, sources: &[KernelSource]) -> Vec<Launch> {
    let kernels: Vec<_> = plan.kernels.iter().map(|k| extract(f, k)).collect();
    let views: Vec<StepView<'_>> = sources
        .iter()
        .zip(&kernels)
        .map(|(s, k)| StepView { source: s, inputs: &k.inputs, outputs: &k.outputs })
        .collect();
    group_launches(&views)
}

/// The multi kernel of each group of identical kernels in `plan` (a plan
/// of `f` whose kernels were generated as `sources`), in launch order: what
/// the runtime launches for those groups, for printing beside the plan's
/// kernels (`ir-dump --emit cuda`).
pub fn group_sources(f: &Func, plan: &Plan, sources: &[KernelSource]) -> Vec<KernelSource> {
    plan_groups(f, plan, sources)
        .into_iter()
        .filter_map(|l| match l {
            Launch::Group(m) => multi_kernel(&sources[m[0]]).map(|k| k.source),
            Launch::One(_) => None,
        })
        .collect()
}

/// Launches per run of `plan` (a plan of `f`) with cuBLAS, as
/// `CompiledPlan::launch_count` counts them: each step once, a group once
/// per chunk of its multi kernel. Needs no device.
pub fn plan_launches(f: &Func, plan: &Plan) -> Result<usize, LowerError> {
    let kernels: Vec<_> = plan.kernels.iter().map(|k| extract(f, k)).collect();
    let sources = kernels.iter().map(emit_kernel).collect::<Result<Vec<_>, _>>()?;
    Ok(plan_groups(f, plan, &sources)
        .iter()
        .map(|l| match l {
            Launch::One(_) => 1,
            Launch::Group(m) => {
                multi_kernel(&sources[m[0]]).map_or(m.len(), |k| chunks(m.len(), k.instances))
            }
        })
        .sum())
}

/// Launches of `members` instances, `per_launch` at a time.
pub fn chunks(members: usize, per_launch: usize) -> usize {
    members.div_ceil(per_launch.max(1))
}

/// The entry of a generated kernel, read back from its text (`emit.rs`
/// writes one parameter per line: pointers, then `const long long` symbols).
struct Entry {
    /// `__launch_bounds__(…) ` or empty.
    bounds: String,
    /// Each pointer parameter's type (`float*`, `const unsigned short*`).
    pointers: Vec<String>,
    /// Each symbol parameter as declared (`const long long S_n`).
    symbols: Vec<String>,
}

impl Entry {
    fn parse(src: &KernelSource) -> Option<Entry> {
        const HEAD: &str = "extern \"C\" __global__ void ";
        // Exactly one entry: conv kernels hold two and are not grouped.
        if src.code.matches(HEAD).count() != 1 {
            return None;
        }
        let start = src.code.find(HEAD)? + HEAD.len();
        let rest = &src.code[start..];
        let open = rest.find(&format!("{}(", src.name))?;
        let bounds = rest[..open].to_string();
        if !(bounds.is_empty() || bounds.starts_with("__launch_bounds__(")) {
            return None;
        }
        let list = &rest[open + src.name.len() + 1..];
        let list = &list[..list.find(") {\n")?];
        let mut pointers = Vec::new();
        let mut symbols = Vec::new();
        for p in list.split(',').map(str::trim) {
            if let Some((ty, _)) = p.split_once(" __restrict__ ") {
                if !symbols.is_empty() || !ty.ends_with('*') {
                    return None;
                }
                pointers.push(ty.to_string());
            } else if p.starts_with("const long long ") {
                symbols.push(p.to_string());
            } else {
                return None;
            }
        }
        if pointers.is_empty() || symbols.len() != src.symbols.len() {
            return None;
        }
        Some(Entry { bounds, pointers, symbols })
    }

    /// Rows of the pointer table that fit in [`PARAM_BYTES`] beside the symbols.
    fn instances(&self) -> usize {
        let room = PARAM_BYTES.saturating_sub(8 * self.symbols.len());
        (room / (8 * self.pointers.len())).min(MAX_INSTANCES)
    }
}

#[cfg(test)]
mod tests;
