//! Host-side checks of the grouping and of the multi kernel's text (NVRTC
//! compiles it in `tests/cuda_codegen.rs`; the emulation runs it in the
//! testsuite).

use petgraph::graph::NodeIndex;

use super::*;
use crate::backend::cuda::emit::emit_kernel;
use crate::backend::kernel::extract;
use crate::ir::parse_module;
use crate::{passes, plan};

/// An AdamW step (the bench's update) over one tensor per entry of `dims`,
/// each of that size (a constant or a symbol).
fn adamw(dims: &[&str]) -> String {
    let mut params = Vec::new();
    let mut results = Vec::new();
    let mut returns = Vec::new();
    let mut body = String::new();
    for (i, d) in dims.iter().enumerate() {
        for v in ["p", "g", "m", "v"] {
            params.push(format!("%{v}{i}: f32[{d}]"));
        }
        results.extend([format!("f32[{d}]"), format!("f32[{d}]"), format!("f32[{d}]")]);
        returns.extend([format!("%pn{i}"), format!("%mn{i}"), format!("%vn{i}")]);
        body.push_str(&format!(
            "  %ma{i} = mul(%m{i}, 0.9)\n  %ga{i} = mul(%g{i}, 0.1)\n  %mn{i} = add(%ma{i}, %ga{i})\n\
             \x20 %va{i} = mul(%v{i}, 0.999)\n  %gq{i} = mul(%g{i}, %g{i})\n  %gb{i} = mul(%gq{i}, 0.001)\n\
             \x20 %vn{i} = add(%va{i}, %gb{i})\n  %de{i} = sqrt(%vn{i})\n  %dd{i} = add(%de{i}, 1e-8)\n\
             \x20 %u{i} = div(%mn{i}, %dd{i})\n  %lu{i} = mul(%u{i}, 0.001)\n  %pn{i} = sub(%p{i}, %lu{i})\n"
        ));
    }
    format!(
        "func @adamw({}) -> ({}) {{\n{body}  return {}\n}}\n",
        params.join(", "),
        results.join(", "),
        returns.join(", ")
    )
}

/// Each kernel of `src`'s first function, with its plan inputs and outputs.
fn planned(src: &str) -> Vec<(KernelSource, Vec<NodeId>, Vec<NodeId>)> {
    let m = parse_module(src).unwrap();
    let mut g = m.funcs[0].clone();
    passes::optimize(&mut g).unwrap();
    let p = plan::plan(&g).unwrap();
    p.kernels
        .iter()
        .map(|k| (emit_kernel(&extract(&g, k)).unwrap(), k.inputs.clone(), k.outputs.clone()))
        .collect()
}

fn launches(steps: &[(KernelSource, Vec<NodeId>, Vec<NodeId>)]) -> Vec<Launch> {
    let views: Vec<StepView<'_>> =
        steps.iter().map(|(s, i, o)| StepView { source: s, inputs: i, outputs: o }).collect();
    group_launches(&views)
}

#[test]
fn identical_independent_kernels_group_into_one_launch() {
    let steps = planned(&adamw(&["s"; 8]));
    assert_eq!(steps.len(), 8, "the planner runs one kernel per tensor");
    assert_eq!(launches(&steps), vec![Launch::Group((0..8).collect())]);
    let m = multi_kernel(&steps[0].0).unwrap();
    // 3 outputs + 4 inputs; one symbol: (4096 - 8) / (7 · 8) = 73 instances.
    assert_eq!((m.pointers, m.instances), (7, 73));
    assert_eq!(m.source.name, format!("{}_x73", steps[0].0.name));
    assert_eq!(chunks(8, m.instances), 1);
    assert_eq!(chunks(150, m.instances), 3);
}

#[test]
fn sizes_that_differ_never_group() {
    // Another symbol or another constant is another kernel text.
    for dims in [vec!["s0", "s1", "s2"], vec!["1000", "1001", "1002"]] {
        let steps = planned(&adamw(&dims));
        assert_eq!(launches(&steps), vec![Launch::One(0), Launch::One(1), Launch::One(2)]);
    }
    // Equal constant sizes group; the odd one out launches alone.
    let steps = planned(&adamw(&["783", "50", "783"]));
    assert_eq!(launches(&steps), vec![Launch::Group(vec![0, 2]), Launch::One(1)]);
}

fn id(i: usize) -> NodeId {
    NodeId(NodeIndex::new(i))
}

#[test]
fn a_member_never_moves_above_what_it_reads() {
    let steps = planned(&adamw(&["s"]));
    let src = &steps[0].0;
    // Steps 0..4 run one kernel: 1 reads 0's output (%11), 3 reads the
    // output of step 2, a different kernel; 4 reads only parameters.
    let other = planned(&adamw(&["5"]))[0].0.clone();
    let ios: Vec<(&KernelSource, Vec<NodeId>, Vec<NodeId>)> = vec![
        (src, vec![id(1)], vec![id(11)]),
        (src, vec![id(11)], vec![id(12)]),
        (&other, vec![id(2)], vec![id(13)]),
        (src, vec![id(13)], vec![id(14)]),
        (src, vec![id(3)], vec![id(15)]),
    ];
    let views: Vec<StepView<'_>> =
        ios.iter().map(|(s, i, o)| StepView { source: s, inputs: i, outputs: o }).collect();
    // Only 4 moves up to 0; 3 cannot join 1 either (step 2 runs after 1).
    assert_eq!(
        group_launches(&views),
        vec![Launch::Group(vec![0, 4]), Launch::One(1), Launch::One(2), Launch::One(3)]
    );
}

#[test]
fn library_kernels_and_small_tables_do_not_group() {
    let steps = planned(
        "func @mm(%a: f32[4, 4], %b: f32[4, 4], %c: f32[4, 4]) -> (f32[4, 4], f32[4, 4]) {\n  \
         %x = matmul(%a, %b)\n  %y = matmul(%a, %c)\n  return %x, %y\n}\n",
    );
    assert!(steps.iter().all(|s| s.0.template == Template::Cublas));
    assert_eq!(launches(&steps), vec![Launch::One(0), Launch::One(1)]);
    assert!(multi_kernel(&steps[0].0).is_none());
}

#[test]
fn the_wrapper_calls_the_body_with_each_row_of_the_table() {
    let steps = planned(&adamw(&["s"; 2]));
    let single = &steps[0].0;
    let m = multi_kernel(single).unwrap();
    let code = &m.source.code;
    assert_eq!(code.matches("extern \"C\" __global__").count(), 1, "{code}");
    assert!(code.contains(&format!("static __device__ __forceinline__ void {}(", single.name)));
    assert!(code.contains("const void* p[73][7];"), "{code}");
    assert!(code.contains("smelt_table.p[blockIdx.y]"), "{code}");
    assert!(code.contains("(const float*)smelt_q[6], S_s);"), "{code}");
    assert!(code.contains(&format!("__launch_bounds__(256) {}(", m.source.name)), "{code}");
}
