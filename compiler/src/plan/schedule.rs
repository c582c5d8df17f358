//! What a kernel plan hands a backend: the iteration domain, the reduced
//! dims, the outer (parallel) and inner extents as symbolic products, and
//! for library kernels the op's problem sizes.
//!
//! Extents are [`Monomial`]s so a schedule holds for every value of the
//! symbols: a backend turns them into grids or thread splits at launch time,
//! and a new batch size never recompiles a kernel.

use std::fmt;

use crate::ir::{Dim, Monomial, Shape};

/// The parallel structure of one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The iteration domain: the full shape the kernel walks (for a reduction
    /// or normalization, the reductions' input shape; for a library kernel,
    /// its output shape).
    pub domain: Shape,
    /// The dims of `domain` that are reduced, sorted (empty unless a
    /// reduction or normalization).
    pub reduced_dims: Vec<usize>,
    /// Product of the dims run in parallel: the non-reduced dims for a
    /// reduction or normalization, all but the last dim otherwise.
    pub outer: Monomial,
    /// Product of the dims each row walks: the reduced dims for a reduction or
    /// normalization, the last dim otherwise (1 for a scalar domain).
    pub inner: Monomial,
    /// Sequential reductions one row needs (softmax: 2, max then sum; layer
    /// norm: 2, mean then variance; a plain sum: 1; pointwise: 0).
    pub reduction_depth: usize,
    /// A transpose kernel's permutation (result dim i is input dim `perm[i]`).
    pub permutation: Option<Vec<usize>>,
    /// A library kernel's problem sizes.
    pub library: Option<LibraryDims>,
}

impl Schedule {
    /// A schedule with no reduction: outer = all dims but the last, inner = the last.
    pub fn rows(domain: Shape) -> Schedule {
        let dims = domain.dims();
        let (outer, inner) = match dims.split_last() {
            Some((last, rest)) => (product(rest), Monomial::one().mul_dim(last)),
            None => (Monomial::one(), Monomial::one()),
        };
        Schedule {
            domain,
            reduced_dims: Vec::new(),
            outer,
            inner,
            reduction_depth: 0,
            permutation: None,
            library: None,
        }
    }

    /// A schedule reducing `reduced` (sorted dims of `domain`) `depth` times in sequence.
    pub fn reducing(domain: Shape, reduced: Vec<usize>, depth: usize) -> Schedule {
        let mut outer = Monomial::one();
        let mut inner = Monomial::one();
        for (i, d) in domain.dims().iter().enumerate() {
            if reduced.contains(&i) {
                inner = inner.mul_dim(d);
            } else {
                outer = outer.mul_dim(d);
            }
        }
        Schedule {
            domain,
            reduced_dims: reduced,
            outer,
            inner,
            reduction_depth: depth,
            permutation: None,
            library: None,
        }
    }
}

fn product(dims: &[Dim]) -> Monomial {
    dims.iter().fold(Monomial::one(), Monomial::mul_dim)
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(T::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// `domain=[n, 1024] reduce=[1] outer=n inner=1024 depth=2`, with
/// `perm=[…]` for a transpose and the problem sizes of a library call.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "domain={}", self.domain)?;
        if !self.reduced_dims.is_empty() || self.reduction_depth > 0 {
            write!(f, " reduce={}", list(&self.reduced_dims))?;
        }
        write!(f, " outer={} inner={}", self.outer, self.inner)?;
        if self.reduction_depth > 0 {
            write!(f, " depth={}", self.reduction_depth)?;
        }
        if let Some(p) = &self.permutation {
            write!(f, " perm={}", list(p))?;
        }
        if let Some(l) = &self.library {
            write!(f, " {l}")?;
        }
        Ok(())
    }
}

/// The problem sizes of a library call, as a BLAS or cuDNN-style call takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibraryDims {
    /// `batch` independent `[m, k] x [k, n]` products (1-D operands count as
    /// `m = 1` or `n = 1`).
    Matmul {
        /// Product of the result's batch dims.
        batch: Monomial,
        /// Rows of the result.
        m: Dim,
        /// Columns of the result.
        n: Dim,
        /// The contracted size.
        k: Dim,
    },
    /// An NCHW convolution.
    Conv2d {
        /// Batch.
        n: Dim,
        /// Input channels.
        c: Dim,
        /// Input height and width.
        hw: [Dim; 2],
        /// Output channels.
        oc: Dim,
        /// Kernel height and width.
        khw: [Dim; 2],
        /// Output height and width.
        ohw: [Dim; 2],
        /// Channel groups.
        groups: u64,
    },
    /// An NCHW max or average pool.
    Pool {
        /// Batch.
        n: Dim,
        /// Channels.
        c: Dim,
        /// Input height and width.
        hw: [Dim; 2],
        /// Window height and width.
        kernel: [u64; 2],
        /// Output height and width.
        ohw: [Dim; 2],
    },
}

impl fmt::Display for LibraryDims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibraryDims::Matmul { batch, m, n, k } => {
                write!(f, "matmul batch={batch} m={m} n={n} k={k}")
            }
            LibraryDims::Conv2d { n, c, hw, oc, khw, ohw, groups } => write!(
                f,
                "conv2d n={n} c={c} h={} w={} oc={oc} kh={} kw={} oh={} ow={} groups={groups}",
                hw[0], hw[1], khw[0], khw[1], ohw[0], ohw[1]
            ),
            LibraryDims::Pool { n, c, hw, kernel, ohw } => write!(
                f,
                "pool n={n} c={c} h={} w={} kh={} kw={} oh={} ow={}",
                hw[0], hw[1], kernel[0], kernel[1], ohw[0], ohw[1]
            ),
        }
    }
}
