//! Issue 7's layout criterion on the real model: a channels-last ResNet-50
//! (weights and input converted with `nn::to_channels_last`), traced and
//! optimized, goes through the layout pass with at most two inserted
//! transposes (the input side and the output side), every conv, pool and
//! batch norm running channels-last.

use smelt_compiler::ir::{Layout, Op};
use smelt_compiler::passes::layout::plan_layout;
use smelt_compiler::passes::optimize;
use smelt_frontends::trace;
use smelt_runtime::Generator;
use smelt_runtime::nn::{self, to_channels_last};
use smelt_runtime::tensor::{MemoryFormat, Tensor};
use smelt_runtime::zoo::{ModelConfig, get_model};

#[test]
fn channels_last_resnet50_needs_at_most_two_transposes() {
    let mut m = nn::skip_init(|| get_model("resnet50", None, &ModelConfig::default())).unwrap();
    m.eval();
    to_channels_last(m.as_mut()).unwrap();
    let x = Tensor::randn(&[1, 3, 64, 64], smelt_compiler::ir::DType::F32, &mut Generator::new(1))
        .unwrap()
        .to_memory_format(MemoryFormat::ChannelsLast)
        .unwrap();
    let traced = trace(|xs| Ok(vec![m.forward(&xs[0])?]), std::slice::from_ref(&x)).unwrap();
    assert!(traced.breaks.is_empty(), "{:?}", traced.breaks);
    let mut func = traced.func;
    let nhwc_params = func
        .params()
        .iter()
        .filter(|&&p| matches!(func.node(p).op, Op::Param { layout: Layout::Nhwc, .. }))
        .count();
    // The input, the stem's 7×7 and the sixteen 3×3 conv weights (a 1×1
    // weight is row-major and channels-last at once, so it stays plain).
    assert_eq!(nhwc_params, 18, "{{nhwc}} params");
    optimize(&mut func).unwrap();
    let (_, report) = plan_layout(&func).unwrap().expect("the pass applies");
    eprintln!("resnet50: {} ops channels-last, {} transposes", report.nhwc_ops, report.transposes);
    assert!(report.transposes <= 2, "{} transposes inserted", report.transposes);
    // 53 convs + 1 max pool + the batch-norm arithmetic + residual adds.
    assert!(report.nhwc_ops > 200, "only {} ops channels-last", report.nhwc_ops);
}
