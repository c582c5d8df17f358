//! The fusion planner: decomposed composites (softmax, layer norm, GELU, …)
//! come back as the kernels a hand-written library would use, and every plan
//! holds the planner's invariants, checked here independently of the planner.

#[path = "plan/support.rs"]
mod support;

use KernelKind::{Library, Normalization, Pointwise, Reduction, Transpose};
use smelt_compiler::ir::{DType, Func, Layout, NodeId, Op, Operand, Shape, Type, Unary};
use smelt_compiler::plan::{KernelKind, PlanError, plan};
use support::{adamw_source, by_name, check_plan, kernel_index, kinds, planned};

const SOFTMAX: &str = "
func @softmax(%x: f32[n, 1000]) -> (f32[n, 1000]) {
  %m = max(%x) dims=[1] keepdim=true
  %s = sub(%x, %m)
  %e = exp(%s)
  %z = sum(%e) dims=[1] keepdim=true
  %y = div(%e, %z)
  return %y
}";

#[test]
fn softmax_is_one_normalization() {
    let (f, p) = planned(SOFTMAX);
    assert_eq!(kinds(&p), [Normalization]);
    let s = &p.kernels[0].schedule;
    assert_eq!(s.reduced_dims, [1]);
    assert_eq!((s.outer.to_string(), s.inner.to_string()), ("n".into(), "1000".into()));
    assert_eq!(s.reduction_depth, 2);
    assert_eq!(p.kernels[0].nodes.len(), 5);
    assert_eq!(p.kernels[0].outputs, [by_name(&f, "y")]);
}

#[test]
fn log_softmax_is_one_normalization() {
    let (_, p) = planned(
        "func @log_softmax(%x: f32[b, 10]) -> (f32[b, 10]) {
          %m = max(%x) dims=[1] keepdim=true
          %s = sub(%x, %m)
          %e = exp(%s)
          %z = sum(%e) dims=[1] keepdim=true
          %l = log(%z)
          %y = sub(%s, %l)
          return %y
        }",
    );
    assert_eq!(kinds(&p), [Normalization]);
}

#[test]
fn layernorm_example_is_one_normalization() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/layernorm.ir"))
            .unwrap();
    let (f, p) = planned(&src);
    assert_eq!(kinds(&p), [Normalization]);
    let k = &p.kernels[0];
    assert_eq!(k.nodes.len(), 9);
    assert_eq!(k.inputs, f.params());
    assert_eq!(k.schedule.to_string(), "domain=[n, 1024] reduce=[1] outer=n inner=1024 depth=2");
    let text = p.to_text(&f);
    assert!(
        text.starts_with("plan @layernorm: 1 kernel\nk0 normalization domain=[n, 1024]"),
        "{text}"
    );
    assert!(text.contains("  %0 = mean(%x) dims=[1] keepdim=true : f32[n, 1]\n"), "{text}");
    assert!(text.contains("  inputs: %x, %w, %b\n") && text.contains("  outputs: %8\n"), "{text}");
}

#[test]
fn rms_norm_with_casts_and_symbolic_dims_is_one_normalization() {
    let (_, p) = planned(
        "func @rms(%x: bf16[b, t, d], %w: bf16[d]) -> (bf16[b, t, d]) {
          %xf = cast(%x) to=f32
          %sq = mul(%xf, %xf)
          %ms = mean(%sq) dims=[2] keepdim=true
          %e = add(%ms, 1e-6)
          %r = rsqrt(%e)
          %y = mul(%xf, %r)
          %wf = cast(%w) to=f32
          %yw = mul(%y, %wf)
          %o = cast(%yw) to=bf16
          return %o
        }",
    );
    assert_eq!(kinds(&p), [Normalization]);
    let s = &p.kernels[0].schedule;
    assert_eq!(s.to_string(), "domain=[b, t, d] reduce=[2] outer=b*t inner=d depth=1");
}

#[test]
fn batch_norm_with_batch_statistics_and_relu_is_one_normalization() {
    let (_, p) = planned(
        "func @bn(%x: f32[N, 16, H, W], %w: f32[16], %b: f32[16]) -> (f32[N, 16, H, W], f32[16], f32[16]) {
          %mean = mean(%x) dims=[0, 2, 3] keepdim=true
          %xc = sub(%x, %mean)
          %sq = mul(%xc, %xc)
          %var = mean(%sq) dims=[0, 2, 3] keepdim=true
          %ve = add(%var, 1e-5)
          %inv = rsqrt(%ve)
          %y = mul(%xc, %inv)
          %wr = reshape(%w) shape=[1, 16, 1, 1]
          %yw = mul(%y, %wr)
          %br = reshape(%b) shape=[1, 16, 1, 1]
          %o = add(%yw, %br)
          %r = relu(%o)
          %ms = reshape(%mean) shape=[16]
          %vs = reshape(%var) shape=[16]
          return %r, %ms, %vs
        }",
    );
    assert_eq!(kinds(&p), [Normalization]);
    let s = &p.kernels[0].schedule;
    assert_eq!(s.to_string(), "domain=[N, 16, H, W] reduce=[0, 2, 3] outer=16 inner=H*N*W depth=2");
    assert_eq!(p.kernels[0].outputs.len(), 3);
}

#[test]
fn bias_residual_layernorm_is_one_normalization() {
    let (f, p) = planned(
        "func @post(%h: f32[n, 768], %bias: f32[768], %res: f32[n, 768], %w: f32[768], %b: f32[768]) -> (f32[n, 768], f32[n, 768]) {
          %hb = add(%h, %bias)
          %x = add(%hb, %res)
          %mean = mean(%x) dims=[1] keepdim=true
          %xc = sub(%x, %mean)
          %sq = mul(%xc, %xc)
          %var = mean(%sq) dims=[1] keepdim=true
          %ve = add(%var, 1e-5)
          %inv = rsqrt(%ve)
          %y = mul(%xc, %inv)
          %yw = mul(%y, %w)
          %out = add(%yw, %b)
          return %out, %x
        }",
    );
    assert_eq!(kinds(&p), [Normalization]);
    assert_eq!(p.kernels[0].outputs, [by_name(&f, "x"), by_name(&f, "out")]);
}

#[test]
fn gelu_erf_and_tanh_forms_are_one_pointwise_kernel() {
    let (_, p) = planned(
        "func @gelu(%x: f16[n, 3072]) -> (f16[n, 3072]) {
          %a = div(%x, 1.4142135623730951)
          %e = erf(%a)
          %p = add(%e, 1.0)
          %h = mul(%x, 0.5)
          %y = mul(%h, %p)
          return %y
        }",
    );
    assert_eq!(kinds(&p), [Pointwise]);
    let (_, p) = planned(
        "func @gelu_tanh(%x: f32[b, s, 3072]) -> (f32[b, s, 3072]) {
          %x2 = mul(%x, %x)
          %x3 = mul(%x2, %x)
          %c = mul(%x3, 0.044715)
          %i = add(%x, %c)
          %s = mul(%i, 0.7978845608028654)
          %t = tanh(%s)
          %p = add(%t, 1.0)
          %h = mul(%x, 0.5)
          %y = mul(%h, %p)
          return %y
        }",
    );
    assert_eq!(kinds(&p), [Pointwise]);
    assert_eq!(p.kernels[0].nodes.len(), 9);
    assert_eq!(p.kernels[0].schedule.to_string(), "domain=[b, s, 3072] outer=b*s inner=3072");
}

#[test]
fn silu_is_one_pointwise_kernel() {
    let (_, p) = planned(
        "func @silu(%x: f32[n]) -> (f32[n]) {
          %s = sigmoid(%x)
          %y = mul(%x, %s)
          return %y
        }",
    );
    assert_eq!(kinds(&p), [Pointwise]);
    assert_eq!(p.kernels[0].schedule.to_string(), "domain=[n] outer=1 inner=n");
}

#[test]
fn attention_is_library_normalization_library() {
    let (f, p) = planned(
        "func @attn(%q: f16[b, h, s, 64], %kt: f16[b, h, 64, s], %v: f16[b, h, s, 64], %mask: bool[s, s]) -> (f16[b, h, s, 64]) {
          %sc = matmul(%q, %kt)
          %scaled = mul(%sc, 0.125)
          %mk = select(%mask, %scaled, -10000.0)
          %m = max(%mk) dims=[3] keepdim=true
          %d = sub(%mk, %m)
          %e = exp(%d)
          %z = sum(%e) dims=[3] keepdim=true
          %p = div(%e, %z)
          %o = matmul(%p, %v)
          return %o
        }",
    );
    assert_eq!(kinds(&p), [Library, Normalization, Library]);
    let text = p.to_text(&f);
    assert!(
        text.contains(
            "k0 library domain=[b, h, s, s] outer=b*h*s inner=s matmul batch=b*h m=s n=s k=64"
        ),
        "{text}"
    );
    assert_eq!(p.kernels[1].schedule.outer.to_string(), "b*h*s");
    assert_eq!(p.kernels[1].inputs, [by_name(&f, "sc"), by_name(&f, "mask")]);
}

#[test]
fn mlp_block_is_two_library_and_two_pointwise_kernels() {
    let (_, p) = planned(
        "func @mlp(%x: f32[n, 512], %w1: f32[512, 2048], %b1: f32[2048], %w2: f32[2048, 512], %b2: f32[512]) -> (f32[n, 512]) {
          %h = matmul(%x, %w1)
          %hb = add(%h, %b1)
          %a = div(%hb, 1.4142135623730951)
          %e = erf(%a)
          %pe = add(%e, 1.0)
          %hh = mul(%hb, 0.5)
          %g = mul(%hh, %pe)
          %o = matmul(%g, %w2)
          %ob = add(%o, %b2)
          return %ob
        }",
    );
    assert_eq!(kinds(&p), [Library, Pointwise, Library, Pointwise]);
    assert_eq!(p.kernels[1].nodes.len(), 6);
}

#[test]
fn conv_bias_relu_is_library_then_pointwise() {
    let (f, p) = planned(
        "func @cbr(%x: f32[N, 3, 32, 32], %w: f32[16, 3, 3, 3], %b: f32[16]) -> (f32[N, 16, 32, 32]) {
          %c = conv2d(%x, %w) stride=[1, 1] padding=[1, 1] dilation=[1, 1] groups=1
          %br = reshape(%b) shape=[1, 16, 1, 1]
          %a = add(%c, %br)
          %r = relu(%a)
          return %r
        }",
    );
    assert_eq!(kinds(&p), [Library, Pointwise]);
    assert!(
        p.to_text(&f).contains("conv2d n=N c=3 h=32 w=32 oc=16 kh=3 kw=3 oh=32 ow=32 groups=1")
    );
    assert_eq!(p.kernels[1].inputs, [by_name(&f, "b"), by_name(&f, "c")]);
}

#[test]
fn cross_entropy_via_one_hot_is_normalization_then_reduction() {
    let (f, p) = planned(
        "func @xent(%x: f32[n, 10], %y: i64[n]) -> (f32[]) {
          %m = max(%x) dims=[1] keepdim=true
          %xs = sub(%x, %m)
          %e = exp(%xs)
          %s = sum(%e) dims=[1] keepdim=true
          %ls = log(%s)
          %lp = sub(%xs, %ls)
          %io = iota shape=[n, 10] dim=1 to=i64
          %yr = reshape(%y) shape=[n, 1]
          %oh = eq(%io, %yr)
          %pick = select(%oh, %lp, 0.0)
          %row = sum(%pick) dims=[1] keepdim=false
          %tot = mean(%row) dims=[0] keepdim=false
          %loss = neg(%tot)
          return %loss
        }",
    );
    assert_eq!(kinds(&p), [Normalization, Reduction]);
    assert_eq!(p.kernels[0].outputs, [by_name(&f, "row")]);
    assert_eq!(p.kernels[1].schedule.to_string(), "domain=[n] reduce=[0] outer=1 inner=n depth=1");
    assert_eq!(kernel_index(&p, by_name(&f, "io")), 0);
}

#[test]
fn adamw_over_three_tensors_is_three_pointwise_kernels_with_three_outputs() {
    let (f, p) = planned(&adamw_source());
    assert_eq!(kinds(&p), [Pointwise, Pointwise, Pointwise]);
    for (i, k) in p.kernels.iter().enumerate() {
        let want: Vec<NodeId> = [format!("mn{i}"), format!("vn{i}"), format!("pn{i}")]
            .iter()
            .map(|n| by_name(&f, n))
            .collect();
        assert_eq!(k.outputs, want, "{}", k.name);
        assert_eq!(k.nodes.len(), 16);
    }
}

#[test]
fn two_reductions_of_one_input_become_one_multi_output_kernel() {
    let (_, p) = planned(
        "func @stats(%x: f32[n, 256]) -> (f32[n], f32[n]) {
          %mx = max(%x) dims=[1] keepdim=false
          %mn = min(%x) dims=[1] keepdim=false
          return %mx, %mn
        }",
    );
    assert_eq!(kinds(&p), [Reduction]);
    assert_eq!(p.kernels[0].outputs.len(), 2);
}

#[test]
fn transpose_takes_a_permute_and_its_epilogue() {
    let (f, p) = planned(
        "func @tr(%x: f32[n, 128], %s: f32[n]) -> (f32[128, n]) {
          %e = exp(%x)
          %t = permute(%e) dims=[1, 0]
          %y = mul(%t, 2.0)
          %z = add(%y, %s)
          return %z
        }",
    );
    assert_eq!(kinds(&p), [Pointwise, Transpose]);
    let s = &p.kernels[1].schedule;
    assert_eq!(s.to_string(), "domain=[128, n] outer=128 inner=n perm=[1, 0]");
    assert_eq!(p.kernels[1].inputs, [by_name(&f, "e"), by_name(&f, "s")]);
}

#[test]
fn a_diamond_through_a_library_call_is_not_merged_into_a_cycle() {
    let (f, p) = planned(
        "func @diamond(%x: f32[n, 64], %w: f32[64, 64]) -> (f32[n, 64]) {
          %a = exp(%x)
          %m = matmul(%a, %w)
          %b = add(%a, %m)
          return %b
        }",
    );
    assert_eq!(kinds(&p), [Pointwise, Library, Pointwise]);
    assert_ne!(kernel_index(&p, by_name(&f, "a")), kernel_index(&p, by_name(&f, "b")));
}

#[test]
fn a_diamond_through_another_reduction_domain_is_not_merged_into_a_cycle() {
    // %r reduces a different domain, so it cannot join %a's kernel; %b reads
    // both, and joining %a's kernel would make a cycle through %r's.
    let (f, p) = planned(
        "func @diamond2(%x: f32[n, 64]) -> (f32[n, 64], f32[n, 1]) {
          %a = exp(%x)
          %c = sum(%a) dims=[1] keepdim=true
          %d = sub(%a, %c)
          %r = sum(%d) dims=[0] keepdim=true
          %b = add(%d, %r)
          return %b, %c
        }",
    );
    check_plan(&f, &p);
    let (ka, kr, kb) = (
        kernel_index(&p, by_name(&f, "d")),
        kernel_index(&p, by_name(&f, "r")),
        kernel_index(&p, by_name(&f, "b")),
    );
    assert!(ka < kr && kr <= kb, "{}", p.to_text(&f));
}

#[test]
fn a_broadcast_intermediate_needed_elsewhere_stays_out_of_the_bigger_kernel() {
    let (f, p) = planned(
        "func @small(%x: f32[n, 64], %w: f32[64], %z: f32[64]) -> (f32[n, 64], f32[64]) {
          %c = exp(%w)
          %a = mul(%x, %c)
          %d = add(%c, %z)
          return %a, %d
        }",
    );
    assert_eq!(kinds(&p), [Pointwise, Pointwise]);
    assert_ne!(kernel_index(&p, by_name(&f, "c")), kernel_index(&p, by_name(&f, "a")));
    assert_eq!(kernel_index(&p, by_name(&f, "c")), kernel_index(&p, by_name(&f, "d")));
}

#[test]
fn constants_merge_into_their_consumer() {
    let (_, p) = planned(
        "func @scale(%x: f32[n, 8]) -> (f32[n, 8]) {
          %k = const value=2.5 : f32[]
          %y = mul(%x, %k)
          return %y
        }",
    );
    assert_eq!(kinds(&p), [Pointwise]);
    assert_eq!(p.kernels[0].nodes.len(), 2);
}

#[test]
fn a_constant_several_kernels_read_is_a_kernel_of_its_own() {
    let (f, p) = planned(
        "func @shared(%x: f32[n, 8], %w: f32[4]) -> (f32[n, 8], f32[4]) {
          %k = const value=2.5 : f32[]
          %y = mul(%x, %k)
          %z = mul(%w, %k)
          return %y, %z
        }",
    );
    assert_eq!(kinds(&p), [Pointwise, Pointwise, Pointwise]);
    assert_eq!(p.kernels[0].nodes, [by_name(&f, "k")]);
}

#[test]
fn gather_loads_from_outside_and_fuses_with_a_layernorm() {
    let (_, p) = planned(
        "func @embed(%table: f32[50000, d], %ids: i64[n], %w: f32[d]) -> (f32[n, d]) {
          %x = gather(%table, %ids) axis=0
          %mean = mean(%x) dims=[1] keepdim=true
          %xc = sub(%x, %mean)
          %yw = mul(%xc, %w)
          return %yw
        }",
    );
    assert_eq!(kinds(&p), [Normalization]);
}

#[test]
fn json_matches_the_ir_md_schema() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/layernorm.ir"))
            .unwrap();
    let (f, p) = planned(&src);
    let json = p.to_json(&f);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top = v.as_object().unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(v["func"], "layernorm");
    let ks = v["kernels"].as_array().unwrap();
    assert_eq!(ks.len(), 1);
    let k = ks[0].as_object().unwrap();
    assert_eq!(k.len(), 5);
    assert_eq!(k["name"], "k0");
    assert_eq!(k["kind"], "normalization");
    let nodes: Vec<String> = (0..9).map(|i| format!("%{i}")).collect();
    assert_eq!(k["nodes"], serde_json::json!(nodes));
    assert_eq!(k["inputs"], serde_json::json!(["%x", "%w", "%b"]));
    assert_eq!(k["outputs"], serde_json::json!(["%8"]));
    // Keys in the schema's order.
    let at = |key: &str| json.find(&format!("\"{key}\"")).unwrap();
    let order = ["func", "kernels", "name", "kind", "nodes", "inputs", "outputs"].map(at);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{json}");

    // Every kind name is one IR.md lists, for a plan with several kernels.
    let (f, p) = planned(&adamw_source());
    let v: serde_json::Value = serde_json::from_str(&p.to_json(&f)).unwrap();
    for k in v["kernels"].as_array().unwrap() {
        assert_eq!(k["kind"], "pointwise");
        assert_eq!(k["outputs"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn dot_draws_kernels_as_coloured_clusters() {
    let (f, p) = planned(SOFTMAX);
    let dot = p.to_dot(&f);
    assert!(dot.starts_with("digraph \"softmax\" {"), "{dot}");
    assert!(dot.contains("subgraph cluster_k0 {") && dot.contains("fillcolor=\"#"), "{dot}");
    assert!(dot.contains("\"p_x\" -> \"v_0\";"), "{dot}");
    assert!(dot.contains("label=\"%0 = max(%x) dims=[1] keepdim=true : f32[n, 1]\""), "{dot}");
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
}

#[test]
fn symbolic_dims_in_every_position() {
    let (f, p) = planned(
        "func @sym(%x: f32[b, s, d], %w: f32[d, e], %g: f32[e]) -> (f32[s, b, e]) {
          %h = matmul(%x, %w)
          %mean = mean(%h) dims=[2] keepdim=true
          %hc = sub(%h, %mean)
          %sq = mul(%hc, %hc)
          %var = mean(%sq) dims=[2] keepdim=true
          %inv = rsqrt(%var)
          %y = mul(%hc, %inv)
          %yg = mul(%y, %g)
          %t = permute(%yg) dims=[1, 0, 2]
          %o = relu(%t)
          return %o
        }",
    );
    assert_eq!(kinds(&p), [Library, Normalization, Pointwise]);
    let text = p.to_text(&f);
    assert!(text.contains("matmul batch=b m=s n=e k=d"), "{text}");
    assert!(text.contains("domain=[b, s, e] reduce=[2] outer=b*s inner=e depth=2"), "{text}");
    assert!(text.contains("pointwise domain=[s, b, e] outer=b*s inner=e\n"), "{text}");
}

#[test]
fn an_invalid_function_is_an_error_not_a_panic() {
    let mut f = Func::new("bad");
    let x = f.add_param("x", Type::new(DType::F32, Shape::of(&[4])), Layout::RowMajor);
    let y = f.add_node(
        Op::Unary { kind: Unary::Exp },
        vec![Operand::Value(x)],
        Type::new(DType::F32, Shape::of(&[5])),
    );
    f.set_results(vec![y]);
    assert!(matches!(plan(&f), Err(PlanError::Invalid(_))));
}
