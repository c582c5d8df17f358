//! The channels-last layout pass and the CPU backend's NHWC kernels: small
//! resnet-like graphs with `{nhwc}` parameters at awkward sizes (odd H/W, C
//! not a multiple of 4, stride 2, groups, depthwise with a channel
//! multiplier, dilation) run on the CPU exactly as the interpreter runs the
//! original function, and the pass leaves at most the transposes the
//! graph's boundary needs.

mod cpu_common;

use cpu_common::{Rng, check_close, tensor};
use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{CpuBackend, CpuOptions};
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{DType, Func, Layout, Op, parse_func, verify};
use smelt_compiler::passes::layout::{LayoutReport, count_transposes, plan_layout};
use smelt_compiler::passes::{LayoutPass, Pass};

/// conv (stride 2, bias) → batch-norm arithmetic → relu → max pool.
const CONV_BN_RELU_POOL: &str = "
func @stem(%x: f32[2, 3, 9, 7]{nhwc}, %w: f32[5, 3, 3, 3]{nhwc}, %b: f32[5],
           %scale: f32[5, 1, 1], %shift: f32[5, 1, 1]) -> (f32[2, 5, 3, 2]) {
  %c = conv2d(%x, %w, %b) stride=[2, 2] padding=[1, 1] : f32[2, 5, 5, 4]
  %s = mul(%c, %scale)                                  : f32[2, 5, 5, 4]
  %t = add(%s, %shift)                                  : f32[2, 5, 5, 4]
  %r = relu(%t)                                         : f32[2, 5, 5, 4]
  %p = max_pool2d(%r) kernel=[3, 3] stride=[2, 2] padding=[1, 1] : f32[2, 5, 3, 2]
  return %p
}";

/// A bottleneck: 1×1 down, dilated depthwise 3×3, 1×1 up, residual add.
/// Batch norm in its eval form `(x - mean) * rsqrt(var + eps) * g + b` on
/// `[1, C, 1, 1]` statistics.
const BOTTLENECK: &str = "
func @block(%x: f32[1, 6, 7, 7]{nhwc}, %w1: f32[3, 6, 1, 1]{nhwc}, %w2: f32[3, 1, 3, 3]{nhwc},
            %w3: f32[6, 3, 1, 1]{nhwc}, %mean: f32[1, 3, 1, 1], %var: f32[1, 3, 1, 1],
            %g: f32[3], %beta: f32[3]) -> (f32[1, 6, 7, 7]) {
  %a = conv2d(%x, %w1)                                       : f32[1, 3, 7, 7]
  %am = sub(%a, %mean)                                       : f32[1, 3, 7, 7]
  %ve = add(%var, 1e-5)                                      : f32[1, 3, 1, 1]
  %iv = rsqrt(%ve)                                           : f32[1, 3, 1, 1]
  %an = mul(%am, %iv)                                        : f32[1, 3, 7, 7]
  %g3 = reshape(%g) shape=[3, 1, 1]                          : f32[3, 1, 1]
  %b3 = reshape(%beta) shape=[3, 1, 1]                       : f32[3, 1, 1]
  %ag = mul(%an, %g3)                                        : f32[1, 3, 7, 7]
  %ab = add(%ag, %b3)                                        : f32[1, 3, 7, 7]
  %ar = relu(%ab)                                            : f32[1, 3, 7, 7]
  %d = conv2d(%ar, %w2) padding=[2, 2] dilation=[2, 2] groups=3 : f32[1, 3, 7, 7]
  %dr = relu(%d)                                             : f32[1, 3, 7, 7]
  %u = conv2d(%dr, %w3)                                      : f32[1, 6, 7, 7]
  %s = add(%u, %x)                                           : f32[1, 6, 7, 7]
  %y = relu(%s)                                              : f32[1, 6, 7, 7]
  return %y
}";

/// A dense block: concat along channels, a 1×1 transition, an average
/// pool without padding counted, a grouped conv and a depthwise conv with a
/// channel multiplier.
const DENSE: &str = "
func @dense(%x: f32[2, 5, 6, 5]{nhwc}, %w1: f32[3, 5, 3, 3]{nhwc}, %w2: f32[4, 8, 1, 1]{nhwc},
            %w3: f32[4, 2, 3, 3]{nhwc}, %w4: f32[8, 1, 3, 3]{nhwc}) -> (f32[2, 8, 2, 1]) {
  %c1 = conv2d(%x, %w1) padding=[1, 1]                       : f32[2, 3, 6, 5]
  %r1 = relu(%c1)                                            : f32[2, 3, 6, 5]
  %cat = concat(%x, %r1) axis=1                              : f32[2, 8, 6, 5]
  %t = conv2d(%cat, %w2)                                     : f32[2, 4, 6, 5]
  %p = avg_pool2d(%t) kernel=[3, 3] stride=[2, 2] padding=[1, 1] count_include_pad=false : f32[2, 4, 3, 3]
  %gc = conv2d(%p, %w3) padding=[1, 1] groups=2              : f32[2, 4, 3, 3]
  %dw = conv2d(%gc, %w4) stride=[2, 2] groups=4              : f32[2, 8, 1, 1]
  %e = exp(%dw)                                              : f32[2, 8, 1, 1]
  %q = avg_pool2d(%gc) kernel=[2, 3] stride=[1, 1]           : f32[2, 4, 2, 1]
  %cat2 = concat(%q, %q) axis=1                              : f32[2, 8, 2, 1]
  %y = mul(%cat2, %e)                                        : f32[2, 8, 2, 1]
  return %y
}";

/// Global average pool and a linear head: no transpose at all (a mean over
/// H and W leaves `[N, C]` in the same order either way).
const GAP_HEAD: &str = "
func @head(%x: f32[2, 7, 5, 5]{nhwc}, %w: f32[6, 7, 3, 3]{nhwc}, %fc: f32[6, 10], %fb: f32[10]) -> (f32[2, 10], f32[2, 6]) {
  %c = conv2d(%x, %w) stride=[2, 2]              : f32[2, 6, 2, 2]
  %r = relu(%c)                                  : f32[2, 6, 2, 2]
  %m = mean(%r) dims=[2, 3] keepdim=false        : f32[2, 6]
  %k = mean(%r) dims=[2, 3] keepdim=true         : f32[2, 6, 1, 1]
  %f = reshape(%k) shape=[2, 6]                  : f32[2, 6]
  %l = matmul(%m, %fc)                           : f32[2, 10]
  %o = add(%l, %fb)                              : f32[2, 10]
  return %o, %f
}";

/// A VGG-like flatten of a spatial map before the classifier: one real
/// transpose, where the logical order is needed.
const FLATTEN_HEAD: &str = "
func @flat(%x: f32[1, 3, 5, 5]{nhwc}, %w: f32[4, 3, 3, 3]{nhwc}, %fc: f32[36, 3]) -> (f32[1, 3]) {
  %c = conv2d(%x, %w)                            : f32[1, 4, 3, 3]
  %r = relu(%c)                                  : f32[1, 4, 3, 3]
  %f = reshape(%r) shape=[1, 36]                 : f32[1, 36]
  %o = matmul(%f, %fc)                           : f32[1, 3]
  return %o
}";

fn inputs(f: &Func, seed: u64) -> Vec<HostTensor> {
    let mut rng = Rng(seed);
    f.params()
        .iter()
        .map(|&p| {
            let dims: Vec<usize> = f
                .ty(p)
                .shape
                .as_consts()
                .expect("static test shapes")
                .into_iter()
                .map(|d| d as usize)
                .collect();
            // Variances stay positive.
            tensor(&mut rng, f.ty(p).dtype, &dims, 0.05, 1.0)
        })
        .collect()
}

/// Lays `src` out, checks the report, and compares the interpreter on the
/// laid-out function and the CPU backend (which lays out by itself) with
/// the interpreter on the original.
fn check(src: &str, want: LayoutReport) {
    let f = parse_func(src).unwrap();
    let (g, report) = plan_layout(&f).unwrap().expect("the pass applies");
    verify(&g).unwrap();
    let name = &f.name;
    assert_eq!(report, want, "@{name}:\n{g}");
    assert_eq!(count_transposes(&g), want.transposes, "@{name}:\n{g}");
    // The rewritten function prints and parses back.
    assert_eq!(parse_func(&g.to_string()).unwrap(), g, "@{name}");
    let ins = inputs(&f, 7);
    let none = Bindings::new();
    let oracle = interp::run(&f, &ins, &none).unwrap();
    let laid = interp::run(&g, &ins, &none).unwrap();
    for threads in [1, 2] {
        let mut cpu = CpuBackend::new(CpuOptions { threads, ..CpuOptions::default() }).unwrap();
        let got = cpu.run(&f, &ins, &none).unwrap();
        for (i, ((o, l), c)) in oracle.iter().zip(&laid).zip(&got).enumerate() {
            check_close(&format!("@{name} result {i}: interp after layout"), l, o);
            check_close(&format!("@{name} result {i}: cpu, {threads} threads"), c, o);
        }
    }
}

#[test]
fn conv_bn_relu_maxpool_stays_channels_last() {
    check(CONV_BN_RELU_POOL, LayoutReport { nhwc_ops: 5, transposes: 1 });
}

#[test]
fn bottleneck_with_residual_add_stays_channels_last() {
    check(BOTTLENECK, LayoutReport { nhwc_ops: 11, transposes: 1 });
}

#[test]
fn dense_concat_grouped_and_depthwise_convs_stay_channels_last() {
    check(DENSE, LayoutReport { nhwc_ops: 11, transposes: 1 });
}

#[test]
fn global_pool_and_linear_head_need_no_transpose() {
    check(GAP_HEAD, LayoutReport { nhwc_ops: 4, transposes: 0 });
}

#[test]
fn a_flatten_before_the_classifier_is_the_one_transpose() {
    check(FLATTEN_HEAD, LayoutReport { nhwc_ops: 2, transposes: 1 });
}

#[test]
fn a_row_major_weight_costs_one_counted_transpose() {
    let src = CONV_BN_RELU_POOL.replace("%w: f32[5, 3, 3, 3]{nhwc}", "%w: f32[5, 3, 3, 3]");
    check(&src, LayoutReport { nhwc_ops: 5, transposes: 2 });
}

#[test]
fn functions_without_nhwc_params_are_left_alone() {
    let src = CONV_BN_RELU_POOL.replace("{nhwc}", "");
    let mut f = parse_func(&src).unwrap();
    assert!(plan_layout(&f).unwrap().is_none());
    assert!(!LayoutPass.run(&mut f).unwrap());
    assert_eq!(f, parse_func(&src).unwrap());
    // And the NCHW run agrees with the NHWC one.
    let nhwc = parse_func(CONV_BN_RELU_POOL).unwrap();
    let ins = inputs(&f, 3);
    let mut cpu = CpuBackend::new(CpuOptions::default()).unwrap();
    let a = cpu.run(&f, &ins, &Bindings::new()).unwrap();
    let b = cpu.run(&nhwc, &ins, &Bindings::new()).unwrap();
    check_close("nchw vs nhwc", &b[0], &a[0]);
}

#[test]
fn the_pass_is_a_fixpoint_and_its_ops_print_layout_nhwc() {
    let mut f = parse_func(BOTTLENECK).unwrap();
    assert!(LayoutPass.run(&mut f).unwrap());
    let once = f.clone();
    assert!(!LayoutPass.run(&mut f).unwrap());
    assert_eq!(f, once);
    let text = f.to_string();
    assert_eq!(text.matches("layout=nhwc").count(), 3, "{text}");
    // Every conv is channels-last and the params keep their signature.
    for id in f.node_ids() {
        match &f.node(id).op {
            Op::Conv2d(a) => assert!(a.channels_last),
            Op::Param { layout, index } if *index < 4 => assert_eq!(*layout, Layout::Nhwc),
            _ => {}
        }
    }
}

#[test]
fn nhwc_input_bytes_are_taken_as_they_are() {
    // run_views: the {nhwc} parameter's bytes are NHWC under its NCHW shape.
    use smelt_compiler::backend::cpu::Buffer;
    let f = parse_func(CONV_BN_RELU_POOL).unwrap();
    let ins = inputs(&f, 11);
    let want = interp::run(&f, &ins, &Bindings::new()).unwrap();
    let bufs: Vec<Buffer> = f
        .params()
        .iter()
        .zip(&ins)
        .map(|(&p, t)| {
            if matches!(f.node(p).op, Op::Param { layout: Layout::Nhwc, .. }) {
                let [n, c, h, w] = <[usize; 4]>::try_from(t.shape.as_slice()).unwrap();
                let v = t.to_f64_vec();
                let mut nhwc = vec![0.0; v.len()];
                for (i, x) in v.iter().enumerate() {
                    let (ni, ci, hi, wi) = (i / (c * h * w), i / (h * w) % c, i / w % h, i % w);
                    nhwc[((ni * h + hi) * w + wi) * c + ci] = *x;
                }
                let mut b =
                    Buffer::from_host(&HostTensor::from_f64(DType::F32, &[n, h, w, c], nhwc));
                b.shape = t.shape.clone();
                b
            } else {
                Buffer::from_host(t)
            }
        })
        .collect();
    let syms = interp::bind_symbols(&f, &ins, &Bindings::new()).unwrap();
    let mut cpu = CpuBackend::new(CpuOptions::default()).unwrap();
    let got = cpu.run_buffers(&f, &bufs, &syms).unwrap();
    check_close("run_buffers nhwc", &got[0].to_host(), &want[0]);
}

/// Channels-last f32 convs with more channels than the other tests (16 to
/// 32), odd output sizes, padding, stride, dilation, a rectangular kernel
/// and no bias, against the interpreter, on one and two threads.
#[test]
fn wider_channels_last_convs_match_the_interpreter() {
    let cases = [
        // (C, H, W, OC, KH, KW, stride, padding, dilation, bias)
        (16, 7, 8, 6, 3, 3, [1, 1], [1, 1], [1, 1], true),
        (24, 9, 5, 9, 3, 3, [2, 2], [1, 1], [1, 1], true),
        (16, 6, 11, 5, 3, 3, [1, 1], [2, 2], [2, 2], false),
        (32, 5, 7, 4, 1, 3, [1, 2], [0, 1], [1, 1], true),
        (16, 10, 10, 7, 2, 2, [2, 1], [0, 0], [1, 1], false),
    ];
    for (c, h, w, oc, kh, kw, s, p, d, bias) in cases {
        let out = |n: usize, k: usize, s: usize, p: usize, d: usize| {
            (n + 2 * p - d * (k - 1) - 1) / s + 1
        };
        let (oh, ow) = (out(h, kh, s[0], p[0], d[0]), out(w, kw, s[1], p[1], d[1]));
        let (bp, ba) =
            if bias { (format!(", %b: f32[{oc}]"), ", %b") } else { (String::new(), "") };
        let src = format!(
            "func @conv(%x: f32[2, {c}, {h}, {w}]{{nhwc}}, %w: f32[{oc}, {c}, {kh}, {kw}]{{nhwc}}{bp}) -> (f32[2, {oc}, {oh}, {ow}]) {{
  %y = conv2d(%x, %w{ba}) stride=[{}, {}] padding=[{}, {}] dilation=[{}, {}] : f32[2, {oc}, {oh}, {ow}]
  return %y
}}",
            s[0], s[1], p[0], p[1], d[0], d[1]
        );
        let f = parse_func(&src).unwrap();
        let ins = inputs(&f, 11);
        let want = interp::run(&f, &ins, &Bindings::new()).unwrap();
        for threads in [1, 2] {
            let mut cpu = CpuBackend::new(CpuOptions { threads, ..CpuOptions::default() }).unwrap();
            let got = cpu.run(&f, &ins, &Bindings::new()).unwrap();
            check_close(&format!("{src}\n{threads} threads"), &got[0], &want[0]);
        }
    }
}
