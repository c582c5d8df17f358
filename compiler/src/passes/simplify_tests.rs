//! Unit tests of `simplify`: each rule fires on its pattern and refuses its
//! near misses (type-changing and NaN-sensitive cases included).

use super::*;
use crate::ir::parse_func;
use crate::passes::Dce;

/// The rule that fires on the (only) node named `%r` of the result.
fn fired(src: &str) -> Option<&'static str> {
    let f = parse_func(src).unwrap();
    let r = f.results()[0];
    first_rewrite(&f, r).map(|(name, _)| name)
}

/// Simplify + DCE, printed.
fn simplified(src: &str) -> String {
    let mut f = parse_func(src).unwrap();
    Simplify.run(&mut f).unwrap();
    Dce.run(&mut f).unwrap();
    crate::ir::verify(&f).unwrap();
    f.to_string()
}

fn same(src: &str, want: &str) {
    assert_eq!(simplified(src), parse_func(want).unwrap().to_string());
}

#[test]
fn arithmetic_units_fire_with_literals_and_splats() {
    let cases = [
        ("mul(%x, 1.0)", "mul_one"),
        ("mul(%x, 1)", "mul_one"),
        ("mul(%c, %x)", "mul_one"),
        ("add(%x, 0.0)", "add_zero"),
        ("add(%x, -0.0)", "add_zero"),
        ("add(%c0, %x)", "add_zero"),
        ("sub(%x, 0.0)", "sub_zero"),
        ("div(%x, 1.0)", "div_one"),
        ("div(%x, %c)", "div_one"),
        ("pow(%x, 1.0)", "pow_one"),
    ];
    for (body, rule) in cases {
        let src = format!(
            "func @f(%x: f32[4]) -> (f32[4]) {{
               %c = const value=1.0 : f32[]
               %c0 = const value=0 : f32[4]
               %r = {body} : f32[4]
               return %r }}"
        );
        assert_eq!(fired(&src), Some(rule), "{body}");
        assert_eq!(
            simplified(&src),
            "func @f(%x: f32[4]) -> (f32[4]) {\n  return %x\n}\n",
            "{body}"
        );
    }
}

#[test]
fn arithmetic_near_misses_do_not_fire() {
    let cases = [
        // Not the unit.
        "mul(%x, 2.0)",
        "add(%x, 1.0)",
        "pow(%x, 2.0)",
        // Units only on the side where they are units.
        "sub(0.0, %x)",
        "div(1.0, %x)",
        "pow(1.0, %x)",
        // NaN- and inf-sensitive identities are refused.
        "mul(%x, 0.0)",
        "sub(%x, %x)",
        "div(%x, %x)",
        // A non-splat const is not a unit even if its first element is.
        "mul(%x, %v)",
    ];
    for body in cases {
        let src = format!(
            "func @f(%x: f32[4]) -> (f32[4]) {{
               %v = const value=[1.0, 2.0, 1.0, 1.0] : f32[4]
               %r = {body} : f32[4]
               return %r }}"
        );
        assert_eq!(fired(&src), None, "{body}");
    }
}

#[test]
fn a_unit_that_broadcasts_refuses() {
    // The result is [n, 4]: %x alone would drop the broadcast.
    let src = "func @f(%x: f32[4], %y: f32[n, 1]) -> (f32[n, 4], f32[n, 4]) {
                 %one = const value=1.0 : f32[n, 4]
                 %r = mul(%x, %one) : f32[n, 4]
                 %s = add(%y, 0.0) : f32[n, 1]
                 %t = add(%x, %s) : f32[n, 4]
                 return %r, %t }";
    let f = parse_func(src).unwrap();
    assert_eq!(first_rewrite(&f, f.results()[0]), None);
    // And the dtype must agree too: integer units of integer ops still fire.
    assert_eq!(
        fired("func @f(%x: i32[4]) -> (i32[4]) { %r = add(%x, 0) : i32[4] return %r }"),
        Some("add_zero")
    );
}

#[test]
fn bool_units() {
    let ok = ["and(%b, true)", "and(%t, %b)", "or(%b, false)"];
    for body in ok {
        let src = format!(
            "func @f(%b: bool[4]) -> (bool[4]) {{
               %t = const value=true : bool[]
               %r = {body} : bool[4]
               return %r }}"
        );
        assert_eq!(fired(&src), Some("bool_unit"), "{body}");
    }
    for body in ["and(%b, false)", "or(%b, true)"] {
        let src = format!("func @f(%b: bool[4]) -> (bool[4]) {{ %r = {body} : bool[4] return %r }}");
        assert_eq!(fired(&src), None, "{body}");
    }
}

#[test]
fn unary_pairs() {
    let f32_cases = [
        ("neg", "neg", Some("neg_neg"), "%x"),
        ("abs", "abs", Some("abs_abs"), "%a"),
        ("relu", "relu", Some("relu_relu"), "%a"),
        // Near misses: different ops.
        ("abs", "neg", None, ""),
        ("neg", "abs", None, ""),
        ("relu", "abs", None, ""),
    ];
    for (inner, outer, rule, _) in f32_cases {
        let src = format!(
            "func @f(%x: f32[4]) -> (f32[4]) {{ %a = {inner}(%x) : f32[4] %r = {outer}(%a) : f32[4] return %r }}"
        );
        assert_eq!(fired(&src), rule, "{outer}({inner}(x))");
    }
    same(
        "func @f(%x: f32[4]) -> (f32[4]) { %a = neg(%x) : f32[4] %r = neg(%a) : f32[4] return %r }",
        "func @f(%x: f32[4]) -> (f32[4]) { return %x }",
    );
    same(
        "func @f(%x: f32[4]) -> (f32[4]) { %a = abs(%x) : f32[4] %r = abs(%a) : f32[4] return %r }",
        "func @f(%x: f32[4]) -> (f32[4]) { %a = abs(%x) : f32[4] return %a }",
    );
    same(
        "func @f(%x: bool[4]) -> (bool[4]) { %a = not(%x) : bool[4] %r = not(%a) : bool[4] return %r }",
        "func @f(%x: bool[4]) -> (bool[4]) { return %x }",
    );
    // Four negations: both pairs go in one run.
    same(
        "func @f(%x: f32[4]) -> (f32[4]) {
           %a = neg(%x) : f32[4] %b = neg(%a) : f32[4] %c = neg(%b) : f32[4] %r = neg(%c) : f32[4]
           return %r }",
        "func @f(%x: f32[4]) -> (f32[4]) { return %x }",
    );
}

#[test]
fn casts() {
    let cast2 = |x: &str, mid: &str, to: &str| {
        format!(
            "func @f(%x: {x}[4]) -> ({to}[4]) {{ %a = cast(%x) to={mid} : {mid}[4] %r = cast(%a) to={to} : {to}[4] return %r }}"
        )
    };
    assert_eq!(
        fired("func @f(%x: f32[4]) -> (f32[4]) { %r = cast(%x) to=f32 : f32[4] return %r }"),
        Some("cast_same")
    );
    assert_eq!(
        fired("func @f(%x: f32[4]) -> (f16[4]) { %r = cast(%x) to=f16 : f16[4] return %r }"),
        None
    );
    for (x, mid) in [("f32", "f64"), ("bf16", "f32"), ("f16", "f64"), ("i8", "i32"), ("u8", "i64")] {
        assert_eq!(fired(&cast2(x, mid, x)), Some("cast_roundtrip"), "{x}→{mid}→{x}");
    }
    // Narrowing first loses information: refused.
    for (x, mid) in [("f64", "f32"), ("f32", "bf16"), ("f16", "bf16"), ("i32", "i8"), ("i8", "u8"), ("f32", "i32")] {
        assert_eq!(fired(&cast2(x, mid, x)), None, "{x}→{mid}→{x}");
    }
    // Back to another dtype than the start: not a round trip.
    assert_eq!(fired(&cast2("f16", "f64", "f32")), None);
    same(
        &cast2("f32", "f64", "f32"),
        "func @f(%x: f32[4]) -> (f32[4]) { return %x }",
    );
}

#[test]
fn reshapes() {
    same(
        "func @f(%x: f32[n, 4, 6]) -> (f32[n, 24]) {
           %a = reshape(%x) shape=[n, 2, 12] : f32[n, 2, 12]
           %r = reshape(%a) shape=[n, -1] : f32[n, 24]
           return %r }",
        "func @f(%x: f32[n, 4, 6]) -> (f32[n, 24]) {
           %r = reshape(%x) shape=[n, -1] : f32[n, 24]
           return %r }",
    );
    // Back to the start: both go.
    same(
        "func @f(%x: f32[2, 6]) -> (f32[2, 6]) {
           %a = reshape(%x) shape=[12] : f32[12]
           %r = reshape(%a) shape=[2, 6] : f32[2, 6]
           return %r }",
        "func @f(%x: f32[2, 6]) -> (f32[2, 6]) { return %x }",
    );
    assert_eq!(
        fired("func @f(%x: f32[2, 6]) -> (f32[2, 6]) { %r = reshape(%x) shape=[2, -1] : f32[2, 6] return %r }"),
        Some("reshape_same")
    );
    assert_eq!(
        fired("func @f(%x: f32[2, 6]) -> (f32[6, 2]) { %r = reshape(%x) shape=[6, 2] : f32[6, 2] return %r }"),
        None
    );
}

#[test]
fn permutes() {
    same(
        "func @f(%x: f32[2, 3, 4]) -> (f32[3, 4, 2]) {
           %a = permute(%x) dims=[2, 0, 1] : f32[4, 2, 3]
           %r = permute(%a) dims=[2, 0, 1] : f32[3, 4, 2]
           return %r }",
        "func @f(%x: f32[2, 3, 4]) -> (f32[3, 4, 2]) {
           %r = permute(%x) dims=[1, 2, 0] : f32[3, 4, 2]
           return %r }",
    );
    same(
        "func @f(%x: f32[2, 3, 4]) -> (f32[2, 3, 4]) {
           %a = permute(%x) dims=[2, 0, 1] : f32[4, 2, 3]
           %r = permute(%a) dims=[1, 2, 0] : f32[2, 3, 4]
           return %r }",
        "func @f(%x: f32[2, 3, 4]) -> (f32[2, 3, 4]) { return %x }",
    );
    assert_eq!(
        fired("func @f(%x: f32[2, 3]) -> (f32[2, 3]) { %r = permute(%x) dims=[0, 1] : f32[2, 3] return %r }"),
        Some("permute_identity")
    );
    // A square transpose keeps the type but is no identity.
    assert_eq!(
        fired("func @f(%x: f32[3, 3]) -> (f32[3, 3]) { %r = permute(%x) dims=[1, 0] : f32[3, 3] return %r }"),
        None
    );
}

#[test]
fn broadcasts() {
    assert_eq!(
        fired("func @f(%x: f32[n, 4]) -> (f32[n, 4]) { %r = broadcast(%x) shape=[n, 4] : f32[n, 4] return %r }"),
        Some("broadcast_same")
    );
    assert_eq!(
        fired("func @f(%x: f32[4]) -> (f32[n, 4]) { %r = broadcast(%x) shape=[n, 4] : f32[n, 4] return %r }"),
        None
    );
    same(
        "func @f(%x: f32[n, 4]) -> (f32[n, 4]) {
           %c = const value=2.5 : f32[]
           %b = broadcast(%c) shape=[n, 4] : f32[n, 4]
           %r = mul(%x, %b) : f32[n, 4]
           return %r }",
        "func @f(%x: f32[n, 4]) -> (f32[n, 4]) {
           %b = const value=2.5 : f32[n, 4]
           %r = mul(%x, %b) : f32[n, 4]
           return %r }",
    );
    // A non-splat const is not a splat.
    assert_eq!(
        fired("func @f(%x: f32[2]) -> (f32[3, 2]) { %c = const value=[1.0, 2.0] : f32[2] %r = broadcast(%c) shape=[3, 2] : f32[3, 2] return %r }"),
        None
    );
}

#[test]
fn selects() {
    let sel = |body: &str| {
        format!(
            "func @f(%c: bool[4], %a: f32[4], %b: f32[4], %s: f32[]) -> (f32[4]) {{
               %t = const value=true : bool[]
               %r = {body} : f32[4]
               return %r }}"
        )
    };
    assert_eq!(fired(&sel("select(true, %a, %b)")), Some("select_const"));
    assert_eq!(fired(&sel("select(%t, %a, %b)")), Some("select_const"));
    assert_eq!(fired(&sel("select(false, %a, 2.0)")), Some("select_const"));
    assert_eq!(fired(&sel("select(%c, %a, %a)")), Some("select_same"));
    assert!(simplified(&sel("select(false, %a, 2.0)")).contains("const value=2.0 : f32[4]"));
    // The picked operand is smaller than the result: types disagree.
    assert_eq!(fired(&sel("select(true, %s, %b)")), None);
    assert_eq!(fired(&sel("select(%c, %a, %b)")), None);
}

#[test]
fn rule_names_are_unique() {
    let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RULES.len());
}
