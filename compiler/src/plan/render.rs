//! A plan as text (for people and snapshots), JSON (IR.md's schema, for
//! machines) and DOT (kernels as coloured clusters).
//!
//! All three name values by the func's printed names (`%0`, `%x`) and are
//! deterministic: they iterate kernels and nodes in plan order, never a hash
//! map.

use std::collections::HashMap;
use std::fmt::Write;

use crate::ir::print::instruction_text;
use crate::ir::{Func, NodeId, Op};

use super::{KernelKind, Plan};

fn name(names: &HashMap<NodeId, String>, n: NodeId) -> String {
    format!("%{}", names.get(&n).cloned().unwrap_or_else(|| format!("<dangling {n}>")))
}

fn name_list(names: &HashMap<NodeId, String>, ids: &[NodeId]) -> Vec<String> {
    ids.iter().map(|&n| name(names, n)).collect()
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn json_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| json_str(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// The fill colour of a kernel kind's cluster.
fn colour(kind: KernelKind) -> &'static str {
    match kind {
        KernelKind::Pointwise => "#cfe3ff",
        KernelKind::Reduction => "#d4f2cf",
        KernelKind::Normalization => "#ffe1b3",
        KernelKind::Transpose => "#ecd6ff",
        KernelKind::Library => "#ffcccc",
        KernelKind::Fallback => "#dddddd",
    }
}

/// Escapes a DOT quoted string.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `%n = op(…) attrs : type` of an instruction, or a marker when the plan is
/// rendered against a function it was not made from.
fn instruction_line(f: &Func, n: NodeId, names: &HashMap<NodeId, String>) -> String {
    if !f.contains(n) {
        return format!("<{n} is not in @{}>", f.name);
    }
    format!("{} = {} : {}", name(names, n), instruction_text(f, n, names), f.ty(n))
}

impl Plan {
    /// The plan for people: one block per kernel with its kind, schedule,
    /// inputs, instructions (as printed lines) and outputs.
    pub fn to_text(&self, f: &Func) -> String {
        let names = f.printed_names(false);
        let mut out = String::new();
        let count = self.kernels.len();
        let plural = if count == 1 { "" } else { "s" };
        let _ = writeln!(out, "plan @{}: {count} kernel{plural}", self.func);
        for k in &self.kernels {
            let _ = writeln!(out, "{} {} {}", k.name, k.kind, k.schedule);
            let _ = writeln!(out, "  inputs: {}", name_list(&names, &k.inputs).join(", "));
            for &n in &k.nodes {
                let _ = writeln!(out, "  {}", instruction_line(f, n, &names));
            }
            let _ = writeln!(out, "  outputs: {}", name_list(&names, &k.outputs).join(", "));
        }
        out
    }

    /// The plan as IR.md's JSON: `{"func", "kernels": [{"name", "kind",
    /// "nodes", "inputs", "outputs"}]}`, keys in that order and nothing else.
    pub fn to_json(&self, f: &Func) -> String {
        let names = f.printed_names(false);
        let kernels: Vec<String> = self
            .kernels
            .iter()
            .map(|k| {
                format!(
                    "{{\"name\": {}, \"kind\": {}, \"nodes\": {}, \"inputs\": {}, \"outputs\": {}}}",
                    json_str(&k.name),
                    json_str(k.kind.name()),
                    json_list(&name_list(&names, &k.nodes)),
                    json_list(&name_list(&names, &k.inputs)),
                    json_list(&name_list(&names, &k.outputs)),
                )
            })
            .collect();
        format!(
            "{{\"func\": {},\n \"kernels\": [\n  {}\n ]}}\n",
            json_str(&self.func),
            kernels.join(",\n  ")
        )
    }

    /// The plan as a Graphviz digraph: each kernel a filled `cluster_kN`
    /// (colour per kind), nodes labelled with their instruction, parameters
    /// as plain ellipses, edges along operands. Outputs get a bold border.
    pub fn to_dot(&self, f: &Func) -> String {
        let names = f.printed_names(false);
        let id = |n: NodeId| {
            let param = f.contains(n) && matches!(f.node(n).op, Op::Param { .. });
            let printed = names.get(&n).cloned().unwrap_or_else(|| format!("missing{}", n.index()));
            format!("{}_{}", if param { "p" } else { "v" }, dot_escape(&printed))
        };
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&self.func));
        let _ = writeln!(
            out,
            "  node [shape=box, fontname=\"monospace\", style=filled, fillcolor=white];"
        );
        for &p in f.params() {
            let label = format!("{}: {}", name(&names, p), f.ty(p));
            let _ =
                writeln!(out, "  \"{}\" [label=\"{}\", shape=ellipse];", id(p), dot_escape(&label));
        }
        for k in &self.kernels {
            let _ = writeln!(out, "  subgraph cluster_{} {{", k.name);
            let _ = writeln!(out, "    label=\"{} {}\";", k.name, k.kind);
            let _ = writeln!(out, "    style=filled; fillcolor=\"{}\";", colour(k.kind));
            for &n in &k.nodes {
                let label = instruction_line(f, n, &names);
                let bold = if k.outputs.contains(&n) { ", penwidth=2" } else { "" };
                let _ =
                    writeln!(out, "    \"{}\" [label=\"{}\"{bold}];", id(n), dot_escape(&label));
            }
            let _ = writeln!(out, "  }}");
        }
        for k in &self.kernels {
            for &n in k.nodes.iter().filter(|&&n| f.contains(n)) {
                let mut seen: Vec<NodeId> = Vec::new();
                for v in f.node(n).value_operands() {
                    if !seen.contains(&v) {
                        seen.push(v);
                        let _ = writeln!(out, "  \"{}\" -> \"{}\";", id(v), id(n));
                    }
                }
            }
        }
        out.push_str("}\n");
        out
    }
}
