//! The text format: every v0 op parses, verifies, prints and reads back;
//! errors name the line, the column and what was expected.

use smelt_compiler::ir::{
    DType, Dim, Func, Layout, Op, Operand, Shape, Type, Unary, parse_func, parse_module, verify,
};

/// One function using every v0 op at least once, with literals, layouts and symbols.
const EVERY_OP: &str = r#"
func @every_op(%x: f32[n, 4], %y: f32[n, 4], %i: i64[3], %b: bool[n, 4],
               %img: f32[2, 3, 8, 8]{nhwc}, %w: f32[6, 1, 3, 3], %s: f32[4, 2]{strides=[1, 4]})
               -> (f32[n, 4], i64[n], f32[2, 6, 4, 4]) {
  %neg = neg(%x)          %abs = abs(%neg)        %exp = exp(%abs)      %exp2 = exp2(%exp)
  %log = log(%exp2)       %log2 = log2(%log)      %sqrt = sqrt(%abs)    %rsqrt = rsqrt(%sqrt)
  %recip = recip(%rsqrt)  %sin = sin(%recip)      %cos = cos(%sin)      %tanh = tanh(%cos)
  %sig = sigmoid(%tanh)   %erf = erf(%sig)        %floor = floor(%erf)  %ceil = ceil(%floor)
  %round = round(%ceil)   %sign = sign(%round)    %relu = relu(%sign)
  %nb = not(%b)
  %add = add(%relu, %y)   %sub = sub(%add, 1)     %mul = mul(%sub, 2.5) %div = div(%mul, %y)
  %rem = rem(%div, 3.0)   %pow = pow(%rem, 2)     %max = max(%pow, 0.0) %min = min(%max, %y)
  %eq = eq(%min, %y)      %ne = ne(%min, %y)      %lt = lt(%min, 1e-3)  %le = le(%min, %y)
  %gt = gt(%min, -inf)    %ge = ge(%min, nan)     %and = and(%eq, %ne)  %or = or(%lt, %le)
  %c1 = and(%gt, %ge)     %c2 = or(%and, %or)     %c3 = and(%c1, %c2)   %c4 = and(%c3, %nb)
  %sel = select(%c4, %min, 0.0)
  %cast = cast(%sel) to=bf16
  %back = cast(%cast) to=f32
  %sum = sum(%back) dims=[1] keepdim=true
  %rmax = max(%back) dims=[1] keepdim=false
  %rmin = min(%back) dims=[0, 1] keepdim=false
  %prod = prod(%back) dims=[1] keepdim=true
  %mean = mean(%back) dims=[1] keepdim=true
  %amax = argmax(%back) dims=[1] keepdim=false
  %amin = argmin(%back) dims=[0] keepdim=true
  %r = reshape(%back) shape=[n, 2, -1]
  %p = permute(%r) dims=[2, 0, 1]
  %pb = permute(%p) dims=[1, 2, 0]
  %flat = reshape(%pb) shape=[n, 4]
  %bc = broadcast(%sum) shape=[n, 4]
  %sl = slice(%flat) starts=[0, 1] ends=[n, 4] steps=[1, 2]
  %cat = concat(%sl, %sl) axis=1
  %g = gather(%y, %i) axis=1
  %io = iota shape=[n, 4] dim=1 to=f32
  %k = const value=[1.0, 2.0, 3.0, 4.0] : f32[4]
  %k2 = const value=0.5 : f32[]
  %t1 = add(%flat, %bc)
  %t2 = add(%t1, %cat)
  %t3 = add(%t2, %io)
  %t4 = mul(%t3, %k)
  %t5 = mul(%t4, %k2)
  %v = matmul(%y, %s)
  %vv = matmul(%k, %s)
  %conv = conv2d(%img, %w) stride=[1, 1] padding=[1, 1] dilation=[1, 1] groups=3
  %mp = max_pool2d(%conv) kernel=[2, 2] stride=[2, 2] padding=[0, 0]
  %ap = avg_pool2d(%conv) kernel=[3, 3] stride=[2, 2] padding=[1, 1] count_include_pad=false
  %pool = add(%mp, %ap)
  return %t5, %amax, %pool
}
"#;

#[test]
fn every_op_parses_verifies_and_round_trips() {
    let m = parse_module(EVERY_OP).unwrap_or_else(|e| panic!("{e}"));
    smelt_compiler::ir::verify_module(&m).unwrap();
    let text = m.to_string();
    let back = parse_module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, m);
    assert_eq!(back.to_string(), text);
    let json = smelt_compiler::ir::json::to_json(&m);
    assert_eq!(smelt_compiler::ir::json::from_json(&json).unwrap(), m);
    // Every op of the table appears.
    let f = &m.funcs[0];
    let names: std::collections::BTreeSet<&str> =
        f.program_order().into_iter().map(|id| f.node(id).op.name()).collect();
    for u in Unary::ALL {
        assert!(names.contains(u.name()), "{} missing", u.name());
    }
    for op in [
        "add",
        "sub",
        "mul",
        "div",
        "rem",
        "pow",
        "max",
        "min",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "and",
        "or",
        "select",
        "cast",
        "sum",
        "prod",
        "mean",
        "argmax",
        "argmin",
        "reshape",
        "permute",
        "broadcast",
        "slice",
        "concat",
        "gather",
        "iota",
        "const",
        "matmul",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
    ] {
        assert!(names.contains(op), "{op} missing");
    }
}

#[test]
fn the_printer_renumbers_in_program_order_and_keeps_param_names() {
    let f = parse_func(
        "func @f(%a: f32[2], %0: f32[2]) -> (f32[2]) {\n  %z = add(%a, %0)\n  %y = mul(%z, %z)\n  return %y\n}",
    )
    .unwrap();
    let text = f.to_string();
    assert!(text.contains("func @f(%a: f32[2], %0: f32[2]) -> (f32[2]) {"), "{text}");
    assert!(text.contains("%1 = add(%a, %0)"), "{text}");
    assert!(text.contains("%2 = mul(%1, %1)"), "{text}");
    assert!(smelt_compiler::ir::print::func_text(&f, true).contains("%z = add(%a, %0)"));
}

fn parse_err(src: &str) -> String {
    match parse_module(src) {
        Ok(m) => panic!("expected an error, parsed:\n{m}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_errors_name_line_column_and_expectation() {
    let head = "func @f(%x: f32[3], %y: f32[4]) -> (f32[3]) {\n";
    assert_eq!(
        parse_err(&format!("{head}  %a = add(%x, %y)\n  return %a\n}}")),
        "2:8: add: cannot broadcast [3] with [4]"
    );
    assert_eq!(
        parse_err(&format!("{head}  %a = frob(%x)\n  return %a\n}}")),
        "2:8: unknown op `frob`"
    );
    assert_eq!(
        parse_err(&format!("{head}  %a = exp(%q)\n  return %a\n}}")),
        "2:12: undefined value %q (values must be defined before use)"
    );
    assert_eq!(
        parse_err(&format!("{head}  %a = exp(%x) : f32[4]\n  return %a\n}}")),
        "2:8: exp: declared type f32[4] but the op gives f32[3]"
    );
    assert_eq!(
        parse_err(&format!("{head}  %a = exp(%x)\n  %a = exp(%x)\n  return %a\n}}")),
        "3:3: value %a is defined twice (first at 2:3)"
    );
    assert_eq!(
        parse_err(&format!("{head}  %a = sum(%x) dims=[1]\n  return %a\n}}")),
        "2:8: sum: dim 1 is out of range for rank 1"
    );
    assert_eq!(
        parse_err(&format!("{head}  %a = exp(%x) frob=1\n  return %a\n}}")),
        "2:16: exp: unknown attribute frob="
    );
    assert_eq!(
        parse_err(&format!("{head}  return %y\n}}")),
        "2:10: result 0 has type f32[4], the signature declares f32[3]"
    );
    assert_eq!(
        parse_err("func @f(%x: f33[3]) -> () {}"),
        "1:13: unknown dtype `f33` (expected f64 f32 f16 bf16 i64 i32 i8 u8 bool)"
    );
    assert_eq!(parse_err("func @f(%x: f32[3]"), "1:19: expected `,`, found end of input");
    assert_eq!(
        parse_err(""),
        "1:1: expected `func`, found end of input (the file holds no function)"
    );
    assert_eq!(
        parse_err("func @f(%x: i32[2]) -> (i32[2]) {\n  %a = add(%x, 1.5)\n  return %a\n}"),
        "2:8: add: literal 1.5 does not fit dtype i32"
    );
    assert_eq!(
        parse_err(
            "func @f(%x: f32[n]) -> (f32[n]) {\n  %a = reshape(%x) shape=[3, -1]\n  return %a\n}"
        ),
        "2:8: reshape: cannot infer -1: n elements over 3"
    );
}

#[test]
fn verifier_catches_graphs_built_wrong() {
    let t = |shape: &[u64]| Type::new(DType::F32, Shape::of(shape));
    // A node whose recorded type disagrees with its op.
    let mut f = Func::new("g");
    let x = f.add_param("x", t(&[3]), Layout::RowMajor);
    let e = f.add_node(Op::Unary { kind: Unary::Exp }, vec![Operand::Value(x)], t(&[4]));
    f.set_results(vec![e]);
    let err = verify(&f).unwrap_err().to_string();
    assert!(err.contains("has type f32[4] but the op gives f32[3]"), "{err}");

    // A dangling operand.
    let mut f = Func::new("g");
    let x = f.add_param("x", t(&[3]), Layout::RowMajor);
    let a = f.add_node(Op::Unary { kind: Unary::Exp }, vec![Operand::Value(x)], t(&[3]));
    let b = f.add_node(Op::Unary { kind: Unary::Exp }, vec![Operand::Value(a)], t(&[3]));
    f.set_results(vec![b]);
    f.remove_node(a);
    assert!(verify(&f).unwrap_err().to_string().contains("removed node"));

    // A cycle.
    let mut f = Func::new("g");
    let x = f.add_param("x", t(&[3]), Layout::RowMajor);
    let a = f.add_node(Op::Unary { kind: Unary::Exp }, vec![Operand::Value(x)], t(&[3]));
    let b = f.add_node(Op::Unary { kind: Unary::Exp }, vec![Operand::Value(a)], t(&[3]));
    f.set_operands(a, vec![Operand::Value(b)]);
    f.set_results(vec![b]);
    assert!(verify(&f).unwrap_err().to_string().contains("cycle"));

    // No results; a bad layout.
    let mut f = Func::new("g");
    f.add_param("x", t(&[3]), Layout::Nhwc);
    let err = verify(&f).unwrap_err().to_string();
    assert!(err.contains("layout nhwc needs rank 4"), "{err}");
}

#[test]
fn type_rules_cover_symbols_and_library_ops() {
    let ok = |src: &str| parse_func(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let f = ok(
        "func @f(%x: f32[b, s, 64]) -> (f32[b, s, 8, 8]) {\n  %r = reshape(%x) shape=[b, -1, 8, 8]\n  return %r\n}",
    );
    assert_eq!(f.ty(f.results()[0]).shape.0[1], Dim::sym("s"));
    ok(
        "func @f(%a: f32[b, 1, m, k], %c: f32[h, k, p]) -> (f32[b, h, m, p]) {\n  %r = matmul(%a, %c)\n  return %r\n}",
    );
    ok(
        "func @f(%x: f32[n, 3, h, w], %k: f32[8, 3, 3, 3]) -> (f32[n, 8, h, w]) {\n  %r = conv2d(%x, %k) padding=[1, 1]\n  return %r\n}",
    );
    let e = parse_module("func @f(%x: f32[n, 3, h, w], %k: f32[8, 3, 3, 3]) -> (f32[n, 8, h, w]) {\n  %r = conv2d(%x, %k) stride=[2, 2] padding=[1, 1]\n  return %r\n}").unwrap_err();
    assert!(e.to_string().contains("symbolic dim h"), "{e}");
    let e = parse_module(
        "func @f(%x: f32[n, 4]) -> (f32[n, 8]) {\n  %r = concat(%x, %x) axis=0\n  return %r\n}",
    )
    .unwrap_err();
    assert!(e.to_string().contains("symbolic dim"), "{e}");
}
