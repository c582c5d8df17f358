//! Functions that run one kernel on many tensors, for the multi-kernel
//! tests (emulated here, on the device in `cuda_differential.rs`): AdamW
//! steps at awkward sizes (one symbol: one group; differing sizes: separate
//! launches), a group larger than one launch's table, row and tiled-transpose
//! groups.

use super::*;

/// An AdamW step (the bench's update, lr 1e-3, betas (0.9, 0.999), wd 0.01)
/// over one `t` tensor per entry of `dims`, each of that size.
pub(crate) fn adamw(t: &str, dims: &[&str]) -> String {
    let mut params = Vec::new();
    let mut results = Vec::new();
    let mut returns = Vec::new();
    let mut body = String::new();
    for (i, d) in dims.iter().enumerate() {
        for v in ["p", "g", "m", "v"] {
            params.push(format!("%{v}{i}: {t}[{d}]"));
        }
        results.extend([format!("{t}[{d}]"), format!("{t}[{d}]"), format!("{t}[{d}]")]);
        returns.extend([format!("%pn{i}"), format!("%mn{i}"), format!("%vn{i}")]);
        body.push_str(&format!(
            "  %ma{i} = mul(%m{i}, 0.9)\n  %ga{i} = mul(%g{i}, 0.1)\n  %mn{i} = add(%ma{i}, %ga{i})\n\
             \x20 %va{i} = mul(%v{i}, 0.999)\n  %gq{i} = mul(%g{i}, %g{i})\n  %gb{i} = mul(%gq{i}, 0.001)\n\
             \x20 %vn{i} = add(%va{i}, %gb{i})\n  %av{i} = abs(%vn{i})\n  %de{i} = sqrt(%av{i})\n\
             \x20 %dd{i} = add(%de{i}, 1e-8)\n  %u{i} = div(%mn{i}, %dd{i})\n  %lu{i} = mul(%u{i}, 0.001)\n\
             \x20 %wd{i} = mul(%p{i}, 0.00001)\n  %pa{i} = sub(%p{i}, %lu{i})\n  %pn{i} = sub(%pa{i}, %wd{i})\n"
        ));
    }
    func(&params, &results, &returns, &body)
}

fn func(params: &[String], results: &[String], returns: &[String], body: &str) -> String {
    format!(
        "func @f({}) -> ({}) {{\n{body}  return {}\n}}\n",
        params.join(", "),
        results.join(", "),
        returns.join(", ")
    )
}

/// `n` independent sums of 20 inputs each: 21 pointers per instance, so a
/// table holds (4096 − 8) / 168 = 24 and 26 sums take two launches.
fn sums(n: usize) -> String {
    let mut params = Vec::new();
    let mut body = String::new();
    for i in 0..n {
        let mut acc = format!("%x{i}_0");
        params.push(format!("{acc}: f32[N]"));
        for j in 1..20 {
            params.push(format!("%x{i}_{j}: f32[N]"));
            body.push_str(&format!("  %s{i}_{j} = add({acc}, %x{i}_{j})\n"));
            acc = format!("%s{i}_{j}");
        }
    }
    let results: Vec<String> = (0..n).map(|_| "f32[N]".to_string()).collect();
    let returns: Vec<String> = (0..n).map(|i| format!("%s{i}_19")).collect();
    func(&params, &results, &returns, &body)
}

/// `n` row-wise `exp(x − max(x))` over `[N, len]` (the row template).
fn rows(n: usize, len: usize) -> String {
    let params: Vec<String> = (0..n).map(|i| format!("%x{i}: f32[N, {len}]")).collect();
    let results: Vec<String> = (0..n).map(|_| format!("f32[N, {len}]")).collect();
    let returns: Vec<String> = (0..n).map(|i| format!("%y{i}")).collect();
    let body: String = (0..n)
        .map(|i| {
            format!(
                "  %m{i} = max(%x{i}) dims=[1] keepdim=true\n  %e{i} = sub(%x{i}, %m{i})\n  %y{i} = exp(%e{i})\n"
            )
        })
        .collect();
    func(&params, &results, &returns, &body)
}

/// `n` transposes of `[M, K]` times 2 (the tiled transpose).
fn transposes(n: usize) -> String {
    let params: Vec<String> = (0..n).map(|i| format!("%x{i}: f32[M, K]")).collect();
    let results: Vec<String> = (0..n).map(|_| "f32[K, M]".to_string()).collect();
    let returns: Vec<String> = (0..n).map(|i| format!("%y{i}")).collect();
    let body: String = (0..n)
        .map(|i| format!("  %t{i} = permute(%x{i}) dims=[1, 0]\n  %y{i} = mul(%t{i}, 2.0)\n"))
        .collect();
    func(&params, &results, &returns, &body)
}

/// One multi-kernel case: name, IR, sizes, and the plan's launches (a group
/// counting once per chunk of its multi kernel).
pub(crate) struct MultiCase {
    pub name: String,
    pub src: String,
    pub sizes: Sizes,
    pub launches: usize,
}

/// The multi-kernel cases.
pub(crate) fn multi_cases() -> Vec<MultiCase> {
    let at = |pairs: &[(&str, u64)]| -> Sizes {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    let case = |name: &str, src: String, sizes: Sizes, launches: usize| MultiCase {
        name: name.to_string(),
        src,
        sizes,
        launches,
    };
    vec![
        case("adamw 8 x f32[783]", adamw("f32", &["s"; 8]), at(&[("s", 783)]), 1),
        case("adamw 8 x bf16[1001]", adamw("bf16", &["s"; 8]), at(&[("s", 1001)]), 1),
        case("adamw 5 x f16[1]", adamw("f16", &["s"; 5]), at(&[("s", 1)]), 1),
        // Sizes differ: equal constants group, the others launch alone.
        case(
            "adamw f32[783, 50, 783, 3]",
            adamw("f32", &["783", "50", "783", "3"]),
            Sizes::new(),
            3,
        ),
        case(
            "adamw f32[s0, s1, s2]",
            adamw("f32", &["s0", "s1", "s2"]),
            at(&[("s0", 3), ("s1", 50), ("s2", 783)]),
            3,
        ),
        case("26 sums of 20", sums(26), at(&[("N", 37)]), 2),
        case("3 row maxima", rows(3, 100), at(&[("N", 5)]), 1),
        case("2 tiled transposes", transposes(2), at(&[("M", 33), ("K", 65)]), 1),
    ]
}

/// The launches the runtime makes of `f` (see [`MultiCase::launches`]).
pub(crate) fn launches_of(f: &Func) -> usize {
    let mut g = f.clone();
    smelt_compiler::passes::optimize(&mut g).unwrap();
    let p = smelt_compiler::plan::plan(&g).unwrap();
    smelt_compiler::backend::cuda::multi::plan_launches(&g, &p).unwrap()
}
