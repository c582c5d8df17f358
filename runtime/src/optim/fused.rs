//! The fused step: one IR function updating every parameter of a group,
//! built once per signature (dtype and shape of each parameter) and cached.
//!
//! Parameters are grouped into buckets ([`Fusion`]). Inside the function
//! each bucket's per-parameter inputs (flattened to 1-D views by the
//! caller, so no copy) are concatenated into one flat domain, and the
//! update is written once over that domain: the planner fuses each bucket
//! into one multi-output pointwise kernel (p, state buffers). The results
//! are flat; the caller hands out per-parameter views of them.

use smelt_compiler::ir::{
    Binary, DType, Dim, Func, Layout, NodeId, Op, Operand, Scalar, Shape, Type, Unary,
};

use crate::exec::run_func;
use crate::tensor::{Result, Tensor, arg_err};

/// How the parameters of a step are grouped into kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fusion {
    /// One kernel per parameter (all of one shape class share compiled
    /// code): the fast one today, near the copy ceiling.
    #[default]
    PerTensor,
    /// One kernel per dtype over the concatenation of all parameters (like
    /// PyTorch's fused AdamW's single launch). Correct, but today's CPU
    /// lowering of a concat along the vector lane is scalar and branchy,
    /// so this runs far slower than [`Fusion::PerTensor`].
    PerDtype,
}

/// The dtype and shape of every parameter, in order: the cache key.
pub(crate) type Signature = Vec<(DType, Vec<usize>)>;

/// The signature of `params`.
pub(crate) fn signature(params: &[Tensor]) -> Signature {
    params.iter().map(|p| (p.dtype(), p.shape().to_vec())).collect()
}

/// Builds the update of one bucket inside the function.
pub(crate) struct Builder<'a> {
    f: &'a mut Func,
    op: &'a str,
}

impl Builder<'_> {
    /// A node `kind(a, b)`.
    pub fn bin(&mut self, kind: Binary, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.add(Op::Binary { kind }, vec![Operand::Value(a), Operand::Value(b)])
    }

    /// A node `kind(a, literal)`.
    pub fn lit(&mut self, kind: Binary, a: NodeId, x: f64) -> Result<NodeId> {
        self.add(Op::Binary { kind }, vec![Operand::Value(a), Operand::Lit(Scalar::Float(x))])
    }

    /// A node `kind(a)`.
    pub fn un(&mut self, kind: Unary, a: NodeId) -> Result<NodeId> {
        self.add(Op::Unary { kind }, vec![Operand::Value(a)])
    }

    fn add(&mut self, op: Op, operands: Vec<Operand>) -> Result<NodeId> {
        self.f
            .add_inferred(op, operands)
            .map_err(|e| arg_err(self.op, format!("building the fused step: {e}")))
    }
}

/// The values one bucket's update sees.
pub(crate) struct BucketIn {
    /// Scalar parameters (per-step hyperparameters), in the bucket's dtype.
    pub scalars: Vec<NodeId>,
    /// The flat parameters.
    pub p: NodeId,
    /// The flat gradients.
    pub g: NodeId,
    /// The flat state buffers (one per state name).
    pub states: Vec<NodeId>,
}

/// A compiled-once step function and how its inputs and outputs are laid out.
pub(crate) struct FusedStep {
    /// The IR function.
    pub func: Func,
    /// Per bucket, the positions of its parameters in the group.
    pub buckets: Vec<Vec<usize>>,
    n_scalars: usize,
    n_states: usize,
}

impl FusedStep {
    /// Builds the step for `sig` with `n_scalars` per-step scalars and
    /// `n_states` state buffers per parameter; `body` writes one bucket's
    /// update and returns the new flat parameter and the new flat states.
    pub fn build(
        op: &str,
        sig: &Signature,
        fusion: Fusion,
        n_scalars: usize,
        n_states: usize,
        body: impl Fn(&mut Builder<'_>, &BucketIn) -> Result<(NodeId, Vec<NodeId>)>,
    ) -> Result<FusedStep> {
        let key = |i: usize| match fusion {
            Fusion::PerTensor => (sig[i].0, i),
            Fusion::PerDtype => (sig[i].0, 0),
        };
        let mut keys: Vec<(DType, usize)> = Vec::new();
        for i in 0..sig.len() {
            if !keys.contains(&key(i)) {
                keys.push(key(i));
            }
        }
        let buckets: Vec<Vec<usize>> =
            keys.iter().map(|k| (0..sig.len()).filter(|&i| key(i) == *k).collect()).collect();
        let mut f = Func::new(op.replace('.', "_"));
        let mut results = Vec::new();
        for (b, idx) in buckets.iter().enumerate() {
            let dt = keys[b].0;
            let scalars = (0..n_scalars)
                .map(|s| f.add_param(format!("h{b}_{s}"), Type::scalar(dt), Layout::RowMajor))
                .collect();
            let flat = |f: &mut Func, tag: &str| -> Result<NodeId> {
                let parts: Vec<Operand> = idx
                    .iter()
                    .map(|&i| {
                        let n: usize = sig[i].1.iter().product();
                        let ty = Type::new(dt, Shape(vec![Dim::Const(n as u64)]));
                        Operand::Value(f.add_param(format!("{tag}{i}"), ty, Layout::RowMajor))
                    })
                    .collect();
                if parts.len() == 1 {
                    return Ok(parts[0].value().expect("a parameter is a value"));
                }
                f.add_inferred(Op::Concat { axis: 0 }, parts)
                    .map_err(|e| arg_err(op, format!("building the fused step: {e}")))
            };
            let p = flat(&mut f, "p")?;
            let g = flat(&mut f, "g")?;
            let states = (0..n_states)
                .map(|s| flat(&mut f, &format!("st{s}_")))
                .collect::<Result<Vec<_>>>()?;
            let input = BucketIn { scalars, p, g, states };
            let (np, ns) = body(&mut Builder { f: &mut f, op }, &input)?;
            results.push(np);
            results.extend(ns);
        }
        f.set_results(results);
        Ok(FusedStep { func: f, buckets, n_scalars, n_states })
    }

    /// Runs the step: `scalars` per bucket dtype (computed in f64 on the
    /// host, as PyTorch does for Python-float hyperparameters), `states[s][i]`
    /// the `s`-th state buffer of parameter `i`. Returns the new parameters
    /// and the new states, each a view of the function's flat results.
    pub fn run(
        &self,
        scalars: &[f64],
        params: &[Tensor],
        grads: &[Tensor],
        states: &[Vec<Tensor>],
    ) -> Result<(Vec<Tensor>, Vec<Vec<Tensor>>)> {
        debug_assert_eq!(scalars.len(), self.n_scalars);
        debug_assert_eq!(states.len(), self.n_states);
        let flat1 = |t: &Tensor| t.reshape(&[-1]);
        let mut inputs = Vec::new();
        for idx in &self.buckets {
            let dt = params[idx[0]].dtype();
            for &s in scalars {
                inputs.push(Tensor::scalar(s, dt)?);
            }
            for &i in idx {
                inputs.push(flat1(&params[i])?);
            }
            for &i in idx {
                inputs.push(flat1(&grads[i])?);
            }
            for st in states {
                for &i in idx {
                    inputs.push(flat1(&st[i])?);
                }
            }
        }
        let outs = run_func(&self.func, &inputs)?;
        let mut new_params: Vec<Option<Tensor>> = vec![None; params.len()];
        let mut new_states: Vec<Vec<Option<Tensor>>> =
            vec![vec![None; params.len()]; self.n_states];
        let mut o = 0;
        for idx in &self.buckets {
            for slot in 0..=self.n_states {
                let flat = &outs[o];
                o += 1;
                let mut off = 0;
                for &i in idx {
                    let shape: Vec<isize> = params[i].shape().iter().map(|&d| d as isize).collect();
                    let v = flat.narrow(0, off, params[i].numel())?.reshape(&shape)?;
                    off += params[i].numel();
                    if slot == 0 {
                        new_params[i] = Some(v);
                    } else {
                        new_states[slot - 1][i] = Some(v);
                    }
                }
            }
        }
        let done = |v: Vec<Option<Tensor>>| v.into_iter().flatten().collect::<Vec<_>>();
        Ok((done(new_params), new_states.into_iter().map(done).collect()))
    }
}
