//! The pass pipeline from the outside: each pass's effect on small IR texts,
//! and the runner's contract (order, stop_after, on_pass, report, verify).

use smelt_compiler::ir::{Func, parse_func, verify};
use smelt_compiler::passes::{
    self, Pass, PassError, PipelineOptions, optimize, pass_by_name, pass_names, run_passes,
    run_pipeline,
};

fn opts<'a>() -> PipelineOptions<'a> {
    PipelineOptions { verify: true, stop_after: None, dump: None, on_pass: None }
}

/// Parses `src`, runs the named pass once, returns the printed result.
fn after(pass: &str, src: &str) -> String {
    let mut f = parse_func(src).unwrap();
    let p = pass_by_name(pass).unwrap();
    p.run(&mut f).unwrap();
    verify(&f).unwrap();
    f.to_string()
}

fn printed(src: &str) -> String {
    parse_func(src).unwrap().to_string()
}

fn layernorm() -> Func {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/layernorm.ir"))
            .unwrap();
    parse_func(&src).unwrap()
}

#[test]
fn the_default_order() {
    assert_eq!(pass_names(), ["canonicalize", "simplify", "const_fold", "cse", "dce"]);
}

#[test]
fn each_pass_on_a_small_text() {
    assert_eq!(
        after(
            "canonicalize",
            "func @f(%x: f32[4]) -> (bool[4]) { %a = add(2, %x) : f32[4] %r = lt(0, %a) : bool[4] return %r }"
        ),
        printed(
            "func @f(%x: f32[4]) -> (bool[4]) { %a = add(%x, 2.0) : f32[4] %r = gt(%a, 0.0) : bool[4] return %r }"
        )
    );
    assert_eq!(
        after(
            "simplify",
            "func @f(%x: f32[4]) -> (f32[4]) { %a = mul(%x, 1.0) : f32[4] %r = add(%a, 0.0) : f32[4] return %r }"
        ),
        printed("func @f(%x: f32[4]) -> (f32[4]) { return %x }")
    );
    assert_eq!(
        after(
            "const_fold",
            "func @f(%x: f32[n]) -> (f32[n]) { %c = const value=2.0 : f32[] %d = mul(%c, 3.0) : f32[] %r = add(%x, %d) : f32[n] return %r }"
        ),
        printed(
            "func @f(%x: f32[n]) -> (f32[n]) { %c = const value=2.0 : f32[] %d = const value=6.0 : f32[] %r = add(%x, %d) : f32[n] return %r }"
        )
    );
    assert_eq!(
        after(
            "cse",
            "func @f(%x: f32[4]) -> (f32[4]) { %a = exp(%x) : f32[4] %b = exp(%x) : f32[4] %r = add(%a, %b) : f32[4] return %r }"
        ),
        printed(
            "func @f(%x: f32[4]) -> (f32[4]) { %a = exp(%x) : f32[4] %r = add(%a, %a) : f32[4] return %r }"
        )
    );
    assert_eq!(
        after(
            "dce",
            "func @f(%x: f32[4]) -> (f32[4]) { %a = exp(%x) : f32[4] %r = neg(%x) : f32[4] return %r }"
        ),
        printed("func @f(%x: f32[4]) -> (f32[4]) { %r = neg(%x) : f32[4] return %r }")
    );
}

#[test]
fn the_pipeline_combines_them() {
    // canonicalize makes the two adds equal, CSE merges them, simplify drops
    // the `* 1`, const_fold folds the splat arithmetic, DCE sweeps.
    let mut f = parse_func(
        "func @f(%x: f32[n, 4], %y: f32[n, 4]) -> (f32[n, 4]) {
           %one = const value=1 : f32[]
           %two = const value=2.0 : f32[]
           %b = broadcast(%two) shape=[n, 4] : f32[n, 4]
           %k = add(%b, 1.0) : f32[n, 4]
           %a = add(%x, %y) : f32[n, 4]
           %a2 = add(%y, %x) : f32[n, 4]
           %m = mul(%a, %one) : f32[n, 4]
           %s = mul(%m, %a2) : f32[n, 4]
           %r = mul(%s, %k) : f32[n, 4]
           return %r }",
    )
    .unwrap();
    let report = run_pipeline(&mut f, opts()).unwrap();
    assert!(report.changed());
    assert_eq!(
        f.to_string(),
        printed(
            "func @f(%x: f32[n, 4], %y: f32[n, 4]) -> (f32[n, 4]) {
               %k = const value=3.0 : f32[n, 4]
               %a = add(%x, %y) : f32[n, 4]
               %s = mul(%a, %a) : f32[n, 4]
               %r = mul(%k, %s) : f32[n, 4]
               return %r }"
        )
    );
    // A fixpoint: running again changes nothing.
    let again = run_pipeline(&mut f, opts()).unwrap();
    assert!(!again.changed());
    assert_eq!(again.runs.len(), pass_names().len());
}

#[test]
fn optimize_leaves_layernorm_valid() {
    let mut f = layernorm();
    optimize(&mut f).unwrap();
    verify(&f).unwrap();
    // Nothing in layer norm is foldable or redundant: only the normal form
    // changes (commutative operands in program order, parameters first).
    let want = printed(
        "func @layernorm(%x: f32[n, 1024], %w: f32[1024], %b: f32[1024]) -> (f32[n, 1024]) {
           %mean = mean(%x) dims=[1] keepdim=true : f32[n, 1]
           %xc = sub(%x, %mean) : f32[n, 1024]
           %sq = mul(%xc, %xc) : f32[n, 1024]
           %var = mean(%sq) dims=[1] keepdim=true : f32[n, 1]
           %ve = add(%var, 1e-5) : f32[n, 1]
           %inv = rsqrt(%ve) : f32[n, 1]
           %y = mul(%xc, %inv) : f32[n, 1024]
           %yw = mul(%w, %y) : f32[n, 1024]
           %out = add(%b, %yw) : f32[n, 1024]
           return %out }",
    );
    assert_eq!(f.to_string(), want);
}

#[test]
fn the_report_lists_every_run_in_order_and_stops_at_a_fixpoint() {
    let mut f = layernorm();
    let first = run_pipeline(&mut f, opts()).unwrap();
    // Round 1 changed (operand order), round 2 did not, and ended the run.
    let n = pass_names().len();
    assert_eq!(first.runs.len(), 2 * n);
    let second = run_pipeline(&mut f, opts()).unwrap();
    let names: Vec<_> = second.runs.iter().map(|r| r.name).collect();
    assert_eq!(names, pass_names());
    assert!(second.runs.iter().all(|r| !r.changed));
    assert_eq!(second.to_string().lines().count(), names.len());
}

#[test]
fn rounds_repeat_while_something_changes() {
    // Round 1 changes (simplify); round 2 changes nothing and ends the run.
    let mut f =
        parse_func("func @f(%x: f32[4]) -> (f32[4]) { %a = mul(%x, 1.0) : f32[4] return %a }")
            .unwrap();
    let report = run_pipeline(&mut f, opts()).unwrap();
    let n = pass_names().len();
    assert_eq!(report.runs.len(), 2 * n);
    assert!(report.runs[..n].iter().any(|r| r.changed));
    assert!(report.runs[n..].iter().all(|r| !r.changed));
}

#[test]
fn stop_after_runs_exactly_n_passes() {
    let src = "func @f(%x: f32[4]) -> (f32[4]) { %a = add(0.0, %x) : f32[4] return %a }";
    for n in 0..4 {
        let mut f = parse_func(src).unwrap();
        let report =
            run_pipeline(&mut f, PipelineOptions { stop_after: Some(n), ..opts() }).unwrap();
        assert_eq!(report.runs.len(), n);
        let text = f.to_string();
        match n {
            0 => assert!(text.contains("add(0.0, %x)"), "{text}"),
            1 => assert!(text.contains("add(%x, 0.0)"), "{text}"),
            _ => assert!(!text.contains("add("), "{text}"),
        }
    }
}

#[test]
fn on_pass_sees_each_run_with_the_function_after_it() {
    let mut f =
        parse_func("func @f(%x: f32[4]) -> (f32[4]) { %a = add(0.0, %x) : f32[4] return %a }")
            .unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut cb = |name: &str, f: &Func| seen.push((name.to_string(), f.to_string()));
    let report =
        run_pipeline(&mut f, PipelineOptions { on_pass: Some(&mut cb), ..opts() }).unwrap();
    assert_eq!(seen.len(), report.runs.len());
    assert_eq!(seen[0].0, "canonicalize");
    assert!(seen[0].1.contains("add(%x, 0.0)"));
    assert_eq!(seen[1].0, "simplify");
    assert!(!seen[1].1.contains("add("));
}

/// A pass with a bug: it changes a node's type.
struct Breaker;

impl Pass for Breaker {
    fn name(&self) -> &'static str {
        "breaker"
    }

    fn run(&self, f: &mut Func) -> Result<bool, PassError> {
        let id = f.program_order()[0];
        f.node_mut(id).ty.dtype = smelt_compiler::ir::DType::F64;
        Ok(true)
    }
}

#[test]
fn a_pass_that_breaks_the_function_is_named_as_a_compiler_bug() {
    let mut f = layernorm();
    let err = run_passes(&mut f, &[&passes::Cse, &Breaker], opts()).unwrap_err();
    match &err {
        PassError::Broke { pass, .. } => assert_eq!(*pass, "breaker"),
        other => panic!("expected Broke, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("compiler bug") && msg.contains("breaker"), "{msg}");
    // Without verification the runner does not look.
    let mut f = layernorm();
    let report = run_passes(&mut f, &[&Breaker], PipelineOptions { verify: false, ..opts() });
    assert!(report.is_ok());
}

#[test]
fn an_invalid_input_is_not_blamed_on_a_pass() {
    let mut f = layernorm();
    let id = f.program_order()[0];
    f.node_mut(id).ty.dtype = smelt_compiler::ir::DType::F64;
    let err = run_pipeline(&mut f, opts()).unwrap_err();
    assert!(matches!(err, PassError::Invalid(_)), "{err:?}");
}

/// Deterministic inputs for `f`'s parameters, symbols bound to 3.
fn inputs(f: &Func, seed: u64) -> Vec<smelt_compiler::HostTensor> {
    use smelt_compiler::HostTensor;
    use smelt_compiler::ir::DType;
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 33) as f64 / (1u64 << 31) as f64) * 4.0 - 2.0
    };
    f.params()
        .iter()
        .map(|&p| {
            let ty = f.ty(p);
            let shape: Vec<usize> =
                ty.shape.dims().iter().map(|d| d.as_const().map_or(3, |c| c as usize)).collect();
            let n: usize = shape.iter().product();
            match ty.dtype {
                d if d.is_float() => {
                    HostTensor::from_f64(d, &shape, (0..n).map(|_| next()).collect())
                }
                DType::Bool => {
                    HostTensor::from_bool(&shape, (0..n).map(|_| next() > 0.0).collect())
                }
                d => {
                    HostTensor::from_i64(d, &shape, (0..n).map(|_| (next() * 3.0) as i64).collect())
                }
            }
        })
        .collect()
}

#[test]
fn optimized_functions_compute_what_the_originals_do() {
    use smelt_compiler::interp::{Bindings, run};
    let srcs = [
        "func @f(%x: bf16[2, 3], %c: bool[2, 3]) -> (bf16[3, 2], bool[2, 3], bf16[2, 3]) {
           %a = cast(%x) to=f32 : f32[2, 3]
           %b = cast(%a) to=bf16 : bf16[2, 3]
           %p = permute(%b) dims=[1, 0] : bf16[3, 2]
           %q = permute(%p) dims=[1, 0] : bf16[2, 3]
           %t = permute(%q) dims=[1, 0] : bf16[3, 2]
           %l = lt(0, %x) : bool[2, 3]
           %n = not(%l) : bool[2, 3]
           %nn = not(%n) : bool[2, 3]
           %s = select(%c, %x, %x) : bf16[2, 3]
           %z = sub(%s, 0) : bf16[2, 3]
           %cc = const value=[1, 2, 3, 4, 5, 6] : i32[2, 3]
           %cd = div(%cc, 2) : i32[2, 3]
           %ce = cast(%cd) to=bf16 : bf16[2, 3]
           %zz = add(%z, %ce) : bf16[2, 3]
           return %t, %nn, %zz }",
        "func @g(%x: f32[n, 4], %i: i32[4]) -> (f32[n, 4], i32[4]) {
           %h = const value=0.1 : f32[]
           %k = mul(%h, 3) : f32[]
           %e = exp(%k) : f32[]
           %r = reshape(%x) shape=[n, 2, 2] : f32[n, 2, 2]
           %r2 = reshape(%r) shape=[n, 4] : f32[n, 4]
           %y = mul(%r2, %e) : f32[n, 4]
           %j = add(1, %i) : i32[4]
           %j2 = mul(%j, 1) : i32[4]
           return %y, %j2 }",
    ];
    for src in srcs {
        let before = parse_func(src).unwrap();
        let mut after = before.clone();
        let report = run_pipeline(&mut after, opts()).unwrap();
        assert!(report.changed());
        for seed in 0..4 {
            let ins = inputs(&before, seed);
            let want = run(&before, &ins, &Bindings::new()).unwrap();
            let got = run(&after, &ins, &Bindings::new()).unwrap();
            assert_eq!(got, want, "{after}");
        }
    }
}
