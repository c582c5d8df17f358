//! serde JSON for machines: a module as a list of functions, each with its
//! parameters, instructions in program order (named as printed) and results.
//!
//! `from_json(to_json(m)) == m`; what comes back is verified like parsed text.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::graph::{Func, Module, Operand};
use super::op::{Op, Scalar};
use super::types::{Layout, Type};
use super::verify::{VerifyError, verify_module};

#[derive(Serialize, Deserialize)]
struct ParamJson {
    name: String,
    #[serde(rename = "type")]
    ty: Type,
    #[serde(default)]
    layout: Layout,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum OperandJson {
    Value(String),
    Lit { lit: Scalar },
}

#[derive(Serialize, Deserialize)]
struct InstJson {
    name: String,
    #[serde(flatten)]
    op: Op,
    operands: Vec<OperandJson>,
    #[serde(rename = "type")]
    ty: Type,
}

#[derive(Serialize, Deserialize)]
struct FuncJson {
    name: String,
    params: Vec<ParamJson>,
    body: Vec<InstJson>,
    results: Vec<String>,
}

/// Why JSON could not become a module.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not the expected JSON shape.
    #[error("malformed IR JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// A name used before its definition, or defined twice.
    #[error("in @{func}: {message}")]
    Names {
        /// The function.
        func: String,
        /// What was wrong.
        message: String,
    },
    /// Well-formed JSON of an invalid function.
    #[error("{0}")]
    Verify(#[from] VerifyError),
}

/// The module as pretty-printed JSON.
pub fn to_json(m: &Module) -> String {
    let funcs: Vec<FuncJson> = m
        .funcs
        .iter()
        .map(|f| {
            let names = f.printed_names(false);
            let params = f
                .params()
                .iter()
                .map(|&p| {
                    let n = f.node(p);
                    let layout = match &n.op {
                        Op::Param { layout, .. } => layout.clone(),
                        _ => Layout::RowMajor,
                    };
                    ParamJson { name: names[&p].clone(), ty: n.ty.clone(), layout }
                })
                .collect();
            let body = f
                .program_order()
                .into_iter()
                .map(|id| {
                    let n = f.node(id);
                    InstJson {
                        name: names[&id].clone(),
                        op: n.op.clone(),
                        operands: n
                            .operands()
                            .iter()
                            .map(|o| match o {
                                Operand::Value(v) => OperandJson::Value(names[v].clone()),
                                Operand::Lit(s) => OperandJson::Lit { lit: *s },
                            })
                            .collect(),
                        ty: n.ty.clone(),
                    }
                })
                .collect();
            let results = f.results().iter().map(|r| names[r].clone()).collect();
            FuncJson { name: f.name.clone(), params, body, results }
        })
        .collect();
    serde_json::to_string_pretty(&funcs)
        .unwrap_or_else(|e| format!("\"serialization failed: {e}\""))
}

/// A module from [`to_json`]'s format, verified.
pub fn from_json(text: &str) -> Result<Module, JsonError> {
    let funcs: Vec<FuncJson> = serde_json::from_str(text)?;
    let mut m = Module::default();
    for fj in funcs {
        let names_err = |message: String| JsonError::Names { func: fj.name.clone(), message };
        let mut f = Func::new(fj.name.clone());
        let mut scope = HashMap::new();
        for p in fj.params {
            let id = f.add_param(p.name.clone(), p.ty, p.layout);
            if scope.insert(p.name.clone(), id).is_some() {
                return Err(names_err(format!("%{} is defined twice", p.name)));
            }
        }
        for inst in fj.body {
            if matches!(inst.op, Op::Param { .. }) {
                return Err(names_err(format!("%{} is a param op in the body", inst.name)));
            }
            let mut operands = Vec::new();
            for o in inst.operands {
                operands.push(match o {
                    OperandJson::Value(v) => Operand::Value(
                        *scope.get(&v).ok_or_else(|| names_err(format!("undefined value %{v}")))?,
                    ),
                    OperandJson::Lit { lit } => Operand::Lit(lit),
                });
            }
            let id = f.add_node(inst.op, operands, inst.ty);
            f.node_mut(id).name = Some(inst.name.clone());
            if scope.insert(inst.name.clone(), id).is_some() {
                return Err(names_err(format!("%{} is defined twice", inst.name)));
            }
        }
        let mut results = Vec::new();
        for r in fj.results {
            results
                .push(*scope.get(&r).ok_or_else(|| names_err(format!("undefined result %{r}")))?);
        }
        f.set_results(results);
        m.funcs.push(f);
    }
    verify_module(&m)?;
    Ok(m)
}
