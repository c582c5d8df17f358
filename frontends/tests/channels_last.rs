//! Channels-last programs through `compile`: a model converted with
//! `nn::to_channels_last` and a channels-last input trace into `{nhwc}`
//! parameters (so the compiler's layout pass applies), and the compiled
//! program equals the eager one.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{Prog, check_compiled, randn};
use smelt_compiler::ir::{Layout, Op};
use smelt_frontends::trace;
use smelt_runtime::Generator;
use smelt_runtime::nn::{
    BatchNorm2d, Conv2d, Conv2dOptions, Module, Relu, Sequential, to_channels_last,
};
use smelt_runtime::tensor::MemoryFormat;

fn model(rng: &mut Generator) -> Sequential {
    let opts = Conv2dOptions { stride: [2, 2], padding: [1, 1], ..Conv2dOptions::default() };
    let dw = Conv2dOptions { padding: [1, 1], groups: 5, ..Conv2dOptions::default() };
    Sequential::default()
        .with(Conv2d::new(3, 5, [3, 3], opts, rng).unwrap())
        .with(BatchNorm2d::new(5).unwrap())
        .with(Relu::new())
        .with(Conv2d::new(5, 10, [3, 3], dw, rng).unwrap())
}

#[test]
fn a_channels_last_model_traces_to_nhwc_params_and_compiles() {
    let mut rng = Generator::new(41);
    let mut m = model(&mut rng);
    m.eval();
    to_channels_last(&mut m).unwrap();
    let weights: Vec<_> = m.named_parameters();
    let w0 = &weights.iter().find(|(n, _)| n == "0.weight").unwrap().1;
    assert!(w0.is_channels_last() && !w0.is_contiguous(), "{:?}", w0.strides());
    assert!(w0.requires_grad());
    let x = randn(&[2, 3, 9, 7], &mut rng).to_memory_format(MemoryFormat::ChannelsLast).unwrap();
    let m = Rc::new(RefCell::new(m));
    let mm = m.clone();
    let f: Prog = Rc::new(move |xs| Ok(vec![mm.borrow_mut().forward(&xs[0])?]));
    let traced = trace(|xs| f(xs), std::slice::from_ref(&x)).unwrap();
    let nhwc = traced
        .func
        .params()
        .iter()
        .filter(|&&p| matches!(traced.func.node(p).op, Op::Param { layout: Layout::Nhwc, .. }))
        .count();
    // The input and the first conv's weight (the depthwise weight has one
    // input channel, so it is row-major and channels-last at once).
    assert_eq!(nhwc, 2, "{}", traced.func);
    check_compiled("channels-last conv-bn-relu-dwconv", f, &[x]);
}
