//! Library ops (matmul, conv2d, pools) lowered as one thread per output
//! element: inline loops over the contraction or the window, NCHW or
//! channels-last (`layout=nhwc`). The runtime sends float matmuls and convs
//! to cuBLAS instead (see `emit.rs`); these serve integer matmuls, the
//! pools, and matmul and conv2d where there is no cuBLAS.

use crate::ir::{NodeId, Operand, ReduceKind, Shape};

use super::{LowerError, Lowerer};
use crate::backend::cuda::snippets;

impl Lowerer<'_> {
    /// Numpy matmul by one thread per output element (the runtime sends
    /// matmul kernels to cuBLAS; this path serves dumps and small cases).
    pub(super) fn matmul(
        &mut self,
        n: NodeId,
        ops: &[Operand],
        idx: &[String],
    ) -> Result<String, LowerError> {
        let (a, b) = (self.value(ops, 0)?, self.value(ops, 1)?);
        let (sa, sb, so) =
            (self.f.ty(a).shape.clone(), self.f.ty(b).shape.clone(), self.f.ty(n).shape.clone());
        let d = self.f.ty(n).dtype;
        let ct = snippets::compute_type(d);
        let k = self.fresh("k");
        let acc = self.fresh("acc");
        let ksize = self.dim(&sa.dims()[sa.rank() - 1]);
        self.line(format!("{ct} {acc} = 0;"));
        self.open(format!("for (long long {k} = 0; {k} < {ksize}; ++{k})"));
        // Output index → (batch…, m, n) with 1-D operands promoted.
        let (a1, b1) = (sa.rank() == 1, sb.rank() == 1);
        let mut full = idx.to_vec();
        if a1 {
            full.insert(full.len() - usize::from(!b1), "0".into());
        }
        if b1 {
            full.push("0".into());
        }
        let batch = &full[..full.len() - 2];
        let (mi, ni) = (full[full.len() - 2].clone(), full[full.len() - 1].clone());
        let batch_index = |s: &Shape, keep: usize| -> Vec<String> {
            let bs = Shape(s.dims()[..s.rank() - keep].to_vec());
            let out_batch = Shape(so.dims()[..batch.len().min(so.rank())].to_vec());
            Self::broadcast_index(&bs, &out_batch, batch)
        };
        let mut ia = if a1 { Vec::new() } else { batch_index(&sa, 2) };
        if !a1 {
            ia.push(mi);
        }
        ia.push(k.clone());
        let mut ib = if b1 { Vec::new() } else { batch_index(&sb, 2) };
        ib.push(k.clone());
        if !b1 {
            ib.push(ni);
        }
        let x = self.eval(a, &ia)?;
        let y = self.eval(b, &ib)?;
        self.line(format!(
            "{acc} = {};",
            snippets::binary(
                crate::ir::Binary::Add,
                d,
                &acc,
                &snippets::binary(crate::ir::Binary::Mul, d, &x, &y)
            )
        ));
        self.close();
        Ok(self.define((n, idx.to_vec()), ct, acc))
    }

    /// Direct convolution, one thread per output element: NCHW/OIHW, or
    /// NHWC/OHWI with `layout=nhwc` (taps summed in (ic, kh, kw) order).
    pub(super) fn conv2d(
        &mut self,
        n: NodeId,
        a: &crate::ir::Conv2dAttrs,
        ops: &[Operand],
        idx: &[String],
    ) -> Result<String, LowerError> {
        let (x, w) = (self.value(ops, 0)?, self.value(ops, 1)?);
        let (sx, sw) = (self.f.ty(x).shape.clone(), self.f.ty(w).shape.clone());
        let d = self.f.ty(n).dtype;
        let ct = snippets::compute_type(d);
        // Positions of (C, H, W) in the input and output, (IC, KH, KW) in the weight.
        let (cp, hp, wp) = if a.channels_last { (3, 1, 2) } else { (1, 2, 3) };
        let (h, wd) = (self.dim(&sx.dims()[hp]), self.dim(&sx.dims()[wp]));
        let (icg, kh, kw) =
            (self.dim(&sw.dims()[cp]), self.dim(&sw.dims()[hp]), self.dim(&sw.dims()[wp]));
        let oc = self.dim(&sw.dims()[0]);
        let acc = self.fresh("acc");
        let (c, r, q) = (self.fresh("ic"), self.fresh("kh"), self.fresh("kw"));
        let (ih, iw) = (self.fresh("ih"), self.fresh("iw"));
        let och = idx[cp].clone();
        self.line(format!("{ct} {acc} = 0;"));
        let group = format!("(({och}) / ({oc} / {}LL))", a.groups);
        self.open(format!("for (long long {c} = 0; {c} < {icg}; ++{c})"));
        self.open(format!("for (long long {r} = 0; {r} < {kh}; ++{r})"));
        self.open(format!("for (long long {q} = 0; {q} < {kw}; ++{q})"));
        self.line(format!(
            "const long long {ih} = {} * {}LL - {}LL + {r} * {}LL;",
            idx[hp], a.stride[0], a.padding[0], a.dilation[0]
        ));
        self.line(format!(
            "const long long {iw} = {} * {}LL - {}LL + {q} * {}LL;",
            idx[wp], a.stride[1], a.padding[1], a.dilation[1]
        ));
        self.open(format!("if ({ih} >= 0 && {ih} < {h} && {iw} >= 0 && {iw} < {wd})"));
        let cin = format!("({group} * {icg} + {c})");
        let (xi, wi) = if a.channels_last {
            ([idx[0].clone(), ih, iw, cin], [och.clone(), r, q, c])
        } else {
            ([idx[0].clone(), cin, ih, iw], [och.clone(), c, r, q])
        };
        let xv = self.eval(x, &xi)?;
        let wv = self.eval(w, &wi)?;
        let prod = snippets::binary(crate::ir::Binary::Mul, d, &xv, &wv);
        self.line(format!("{acc} = {};", snippets::binary(crate::ir::Binary::Add, d, &acc, &prod)));
        for _ in 0..4 {
            self.close();
        }
        let mut result = acc;
        if let Some(b) = ops.get(2).and_then(|o| o.value()) {
            let bv = self.eval(b, &[och])?;
            result = snippets::binary(crate::ir::Binary::Add, d, &result, &bv);
        }
        Ok(self.define((n, idx.to_vec()), ct, result))
    }

    /// Max or average pooling, one thread per output element (NCHW, or
    /// NHWC with `layout=nhwc`).
    pub(super) fn pool(
        &mut self,
        n: NodeId,
        a: &crate::ir::PoolAttrs,
        is_max: bool,
        ops: &[Operand],
        idx: &[String],
    ) -> Result<String, LowerError> {
        let x = self.value(ops, 0)?;
        let sx = self.f.ty(x).shape.clone();
        let d = self.f.ty(n).dtype;
        let ct = snippets::compute_type(d);
        let (hp, wp) = if a.channels_last { (1, 2) } else { (2, 3) };
        let (h, wd) = (self.dim(&sx.dims()[hp]), self.dim(&sx.dims()[wp]));
        let (acc, cnt) = (self.fresh("acc"), self.fresh("cnt"));
        let (r, q, ih, iw) =
            (self.fresh("kh"), self.fresh("kw"), self.fresh("ih"), self.fresh("iw"));
        let init =
            if is_max { snippets::reduce_init(ReduceKind::Max, d).0 } else { format!("({ct})0") };
        self.line(format!("{ct} {acc} = {init}; long long {cnt} = 0;"));
        self.open(format!("for (long long {r} = 0; {r} < {}LL; ++{r})", a.kernel[0]));
        self.open(format!("for (long long {q} = 0; {q} < {}LL; ++{q})", a.kernel[1]));
        self.line(format!(
            "const long long {ih} = {} * {}LL - {}LL + {r};",
            idx[hp], a.stride[0], a.padding[0]
        ));
        self.line(format!(
            "const long long {iw} = {} * {}LL - {}LL + {q};",
            idx[wp], a.stride[1], a.padding[1]
        ));
        self.open(format!("if ({ih} >= 0 && {ih} < {h} && {iw} >= 0 && {iw} < {wd})"));
        let xi = if a.channels_last {
            [idx[0].clone(), ih, iw, idx[3].clone()]
        } else {
            [idx[0].clone(), idx[1].clone(), ih, iw]
        };
        let xv = self.eval(x, &xi)?;
        if is_max {
            self.line(format!("{acc} = smelt_max({acc}, {xv});"));
        } else {
            self.line(format!("{acc} = {acc} + {xv}; ++{cnt};"));
        }
        for _ in 0..3 {
            self.close();
        }
        let result = if is_max {
            acc
        } else if a.count_include_pad {
            format!("({acc} / ({ct}){}LL)", a.kernel[0] * a.kernel[1])
        } else {
            format!("({acc} / ({ct}){cnt})")
        };
        Ok(self.define((n, idx.to_vec()), ct, result))
    }
}
