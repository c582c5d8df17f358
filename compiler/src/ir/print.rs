//! The printer: a [`Func`] or [`Module`] as the text of IR.md.
//!
//! The output is deterministic (program order, renumbered values, every
//! attribute written out even when it has its default) and parses back to an
//! equal function: this is the text of dumps, snapshots and the CLI.

use std::collections::HashMap;
use std::fmt::{self, Write};

use super::graph::{Func, Module, NodeId, Operand};
use super::op::{Op, PoolAttrs};
use super::types::Layout;

/// Instructions shorter than this are padded so their `: type`s line up.
const TYPE_COLUMN: usize = 44;

fn list<T: fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// The attributes of an op as printed after its operands (`dims=[1] keepdim=true`).
pub fn attrs_text(op: &Op) -> String {
    match op {
        Op::Param { .. } | Op::Unary { .. } | Op::Binary { .. } | Op::Select | Op::Matmul => {
            String::new()
        }
        Op::Cast { to } => format!("to={to}"),
        Op::Reduce { dims, keepdim, .. } => format!("dims={} keepdim={keepdim}", list(dims)),
        Op::Reshape { shape } => format!("shape={}", list(shape)),
        Op::Permute { dims } => format!("dims={}", list(dims)),
        Op::Broadcast { shape } => format!("shape={shape}"),
        Op::Slice { starts, ends, steps } => {
            format!("starts={} ends={} steps={}", list(starts), list(ends), list(steps))
        }
        Op::Concat { axis } | Op::Gather { axis } => format!("axis={axis}"),
        Op::Iota { shape, dim, to } => format!("shape={shape} dim={dim} to={to}"),
        Op::Const { value } if value.len() == 1 => format!("value={}", value[0]),
        Op::Const { value } => format!("value={}", list(value)),
        Op::Conv2d(a) => format!(
            "stride={} padding={} dilation={} groups={}{}",
            list(&a.stride),
            list(&a.padding),
            list(&a.dilation),
            a.groups,
            layout_attr(a.channels_last)
        ),
        Op::MaxPool2d(a) => format!("{}{}", pool_attrs(a), layout_attr(a.channels_last)),
        Op::AvgPool2d(a) => format!(
            "{} count_include_pad={}{}",
            pool_attrs(a),
            a.count_include_pad,
            layout_attr(a.channels_last)
        ),
    }
}

/// ` layout=nhwc` for a channels-last conv/pool; nothing otherwise, so
/// NCHW ops print as they always did.
fn layout_attr(channels_last: bool) -> &'static str {
    if channels_last { " layout=nhwc" } else { "" }
}

fn pool_attrs(a: &PoolAttrs) -> String {
    format!("kernel={} stride={} padding={}", list(&a.kernel), list(&a.stride), list(&a.padding))
}

/// The text of one instruction without its `%name = ` and `: type`:
/// `mean(%x) dims=[1] keepdim=true`.
pub fn instruction_text(func: &Func, id: NodeId, names: &HashMap<NodeId, String>) -> String {
    let node = func.node(id);
    let mut s = String::from(node.op.name());
    if !matches!(node.op, Op::Const { .. } | Op::Iota { .. }) {
        let ops: Vec<String> = node
            .operands()
            .iter()
            .map(|o| match o {
                Operand::Value(v) => {
                    format!(
                        "%{}",
                        names.get(v).cloned().unwrap_or_else(|| format!("<dangling {v}>"))
                    )
                }
                Operand::Lit(l) => l.to_text(),
            })
            .collect();
        let _ = write!(s, "({})", ops.join(", "));
    }
    let attrs = attrs_text(&node.op);
    if !attrs.is_empty() {
        s.push(' ');
        s.push_str(&attrs);
    }
    s
}

/// Prints a function; `keep_names` keeps the source's value names where it can.
pub fn func_text(func: &Func, keep_names: bool) -> String {
    let names = func.printed_names(keep_names);
    let mut out = String::new();
    let params: Vec<String> = func
        .params()
        .iter()
        .map(|&p| {
            let n = func.node(p);
            let layout = match &n.op {
                Op::Param { layout, .. } => layout.clone(),
                _ => Layout::RowMajor,
            };
            format!("%{}: {}{}", names[&p], n.ty, layout)
        })
        .collect();
    let results: Vec<String> = func
        .results()
        .iter()
        .map(|&r| if func.contains(r) { func.ty(r).to_string() } else { "?".into() })
        .collect();
    let _ =
        writeln!(out, "func @{}({}) -> ({}) {{", func.name, params.join(", "), results.join(", "));
    let body: Vec<(String, String)> = func
        .program_order()
        .into_iter()
        .map(|id| {
            (
                format!("%{} = {}", names[&id], instruction_text(func, id, &names)),
                func.ty(id).to_string(),
            )
        })
        .collect();
    let width = body.iter().map(|(i, _)| i.len()).filter(|&l| l <= TYPE_COLUMN).max().unwrap_or(0);
    for (inst, ty) in body {
        let _ = writeln!(out, "  {inst:width$} : {ty}");
    }
    let rets: Vec<String> = func
        .results()
        .iter()
        .map(|r| format!("%{}", names.get(r).cloned().unwrap_or_else(|| format!("<dangling {r}>"))))
        .collect();
    let _ = writeln!(out, "  return {}", rets.join(", "));
    out.push_str("}\n");
    out
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&func_text(self, false))
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, func) in self.funcs.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{func}")?;
        }
        Ok(())
    }
}
