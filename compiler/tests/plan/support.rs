//! Helpers of the planner tests: an independent checker of a plan's
//! invariants, parsing and planning in one call, lookups by source name, and
//! generated sources.

use std::collections::{HashMap, HashSet};

use smelt_compiler::ir::{Func, NodeId, parse_func, verify};
use smelt_compiler::plan::{KernelKind, Plan, plan};

/// Every instruction in exactly one kernel, in program order; inputs and
/// outputs exactly what the nodes read from and give to the outside; the
/// kernel graph acyclic and listed in a topological order.
pub fn check_plan(f: &Func, p: &Plan) {
    let order = f.program_order();
    let pos: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut owner: HashMap<NodeId, usize> = HashMap::new();
    for (ki, k) in p.kernels.iter().enumerate() {
        assert_eq!(k.name, format!("k{ki}"));
        assert!(!k.nodes.is_empty(), "{} is empty", k.name);
        let positions: Vec<usize> = k.nodes.iter().map(|n| pos[n]).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{} not in program order", k.name);
        for &n in &k.nodes {
            assert!(owner.insert(n, ki).is_none(), "{n} is in two kernels");
        }
    }
    for n in &order {
        assert!(owner.contains_key(n), "{n} is in no kernel");
    }
    for &param in f.params() {
        assert!(!owner.contains_key(&param), "a parameter is in a kernel");
    }
    // Inputs and outputs.
    for (ki, k) in p.kernels.iter().enumerate() {
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for &n in &k.nodes {
            for v in f.node(n).value_operands() {
                if owner.get(&v) != Some(&ki) && !inputs.contains(&v) {
                    inputs.push(v);
                }
            }
            let outside = f.users(n).iter().any(|(u, _)| owner[u] != ki);
            if outside || f.results().contains(&n) {
                outputs.push(n);
            }
        }
        assert_eq!(k.inputs, inputs, "{} inputs", k.name);
        assert_eq!(k.outputs, outputs, "{} outputs", k.name);
    }
    // Acyclic: Kahn's algorithm over kernel edges consumes every kernel, and
    // the listed order already is topological.
    let mut edges: HashSet<(usize, usize)> = HashSet::new();
    for (ki, k) in p.kernels.iter().enumerate() {
        for i in &k.inputs {
            if let Some(&src) = owner.get(i) {
                assert_ne!(src, ki);
                assert!(src < ki, "{} reads from a later kernel", k.name);
                edges.insert((src, ki));
            }
        }
    }
    let mut indeg = vec![0usize; p.kernels.len()];
    for &(_, d) in &edges {
        indeg[d] += 1;
    }
    let mut ready: Vec<usize> = (0..indeg.len()).filter(|&i| indeg[i] == 0).collect();
    let mut done = 0;
    while let Some(k) = ready.pop() {
        done += 1;
        for &(s, d) in &edges {
            if s == k {
                indeg[d] -= 1;
                if indeg[d] == 0 {
                    ready.push(d);
                }
            }
        }
    }
    assert_eq!(done, p.kernels.len(), "the kernel graph has a cycle");
    assert!(p.check(f).is_ok());
}

pub fn planned(src: &str) -> (Func, Plan) {
    let f = parse_func(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    verify(&f).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let p = plan(&f).unwrap_or_else(|e| panic!("{e}"));
    check_plan(&f, &p);
    // Rendering never panics and is deterministic.
    assert_eq!(p.to_text(&f), plan(&f).unwrap().to_text(&f));
    let _ = (p.to_json(&f), p.to_dot(&f));
    (f, p)
}

pub fn kinds(p: &Plan) -> Vec<KernelKind> {
    p.kernels.iter().map(|k| k.kind).collect()
}

/// A value by its source name (`%x` → the node), for asserting placements.
pub fn by_name(f: &Func, name: &str) -> NodeId {
    f.node_ids().into_iter().find(|&n| f.node(n).name.as_deref() == Some(name)).unwrap()
}

pub fn kernel_index(p: &Plan, n: NodeId) -> usize {
    p.kernels.iter().position(|k| k.nodes.contains(&n)).unwrap()
}

pub fn adamw_source() -> String {
    let shapes = ["n, 64", "64", "3, 3, 16, 8"];
    let mut params = Vec::new();
    let mut body = String::new();
    let mut rets = Vec::new();
    let mut tys = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        for t in ["p", "g", "m", "v"] {
            params.push(format!("%{t}{i}: f32[{s}]"));
        }
        body += &format!(
            "  %ma{i} = mul(%m{i}, 0.9)
  %ga{i} = mul(%g{i}, 0.1)
  %mn{i} = add(%ma{i}, %ga{i})
  %va{i} = mul(%v{i}, 0.999)
  %gs{i} = mul(%g{i}, %g{i})
  %gb{i} = mul(%gs{i}, 0.001)
  %vn{i} = add(%va{i}, %gb{i})
  %mh{i} = div(%mn{i}, %bc1)
  %vh{i} = div(%vn{i}, %bc2)
  %sq{i} = sqrt(%vh{i})
  %den{i} = add(%sq{i}, 1e-8)
  %u{i} = div(%mh{i}, %den{i})
  %wd{i} = mul(%p{i}, 0.01)
  %t{i} = add(%u{i}, %wd{i})
  %st{i} = mul(%t{i}, %lr)
  %pn{i} = sub(%p{i}, %st{i})
"
        );
        rets.extend([format!("%pn{i}"), format!("%mn{i}"), format!("%vn{i}")]);
        tys.extend(std::iter::repeat_n(format!("f32[{s}]"), 3));
    }
    params.extend(["%lr: f32[]".to_string(), "%bc1: f32[]".into(), "%bc2: f32[]".into()]);
    format!(
        "func @adamw({}) -> ({}) {{\n{body}  return {}\n}}\n",
        params.join(", "),
        tys.join(", "),
        rets.join(", ")
    )
}
