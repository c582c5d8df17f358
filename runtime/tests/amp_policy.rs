//! The autocast policy tables of AMP.md: for CUDA (no CUDA device in the
//! runtime yet) the decisions are checked at the policy level (which dtype
//! each op would run in); every listed op has one policy per device; the
//! CPU and CUDA lists differ where AMP.md says; TF32 switch.

use smelt_compiler::ir::DType;
use smelt_runtime::Device;
use smelt_runtime::amp::{
    CPU_FP32, CPU_LOWER, CPU_PROMOTE, CUDA_BANNED, CUDA_FP32, CUDA_FP32_SET_OPT_DTYPE, CUDA_LOWER,
    CUDA_PROMOTE, DeviceType, Policy, cast_targets, is_eligible, policy_for, run_dtype,
    set_tf32_matmul, tf32_matmul,
};

const H: Option<DType> = Some(DType::F16);
const B: Option<DType> = Some(DType::BF16);
const S: Option<DType> = Some(DType::F32);

#[test]
fn cuda_decisions_for_the_runtime_ops() {
    let cuda = |op: &str| policy_for(DeviceType::Cuda, op);
    for op in ["matmul", "linear", "conv2d", "scaled_dot_product_attention"] {
        assert_eq!(cuda(op), Some(Policy::Lower), "{op}");
        assert_eq!(run_dtype(Policy::Lower, DType::F16, &[S, S]), H);
    }
    for op in [
        "mse_loss",
        "nll_loss",
        "layer_norm",
        "group_norm",
        "rsqrt",
        "exp",
        "log",
        "pow",
        "logsumexp",
    ] {
        assert_eq!(cuda(op), Some(Policy::Fp32), "{op}");
    }
    assert_eq!(run_dtype(Policy::Fp32, DType::F16, &[H, H]), S);
    for op in ["softmax", "log_softmax", "sum", "prod", "cumsum"] {
        assert_eq!(cuda(op), Some(Policy::Fp32SetOptDtype), "{op}");
    }
    // f16 input: run with dtype=f32 → f32 result; only the first argument counts.
    assert_eq!(cast_targets(Policy::Fp32SetOptDtype, DType::F16, &[H, H]), vec![S, None]);
    assert_eq!(cast_targets(Policy::Fp32SetOptDtype, DType::F16, &[S]), vec![None]);
    assert_eq!(cast_targets(Policy::Fp32SetOptDtype, DType::F16, &[None]), vec![None]);
    assert_eq!(cuda("cat"), None, "cat is a CPU promote op only");
    assert_eq!(cuda("binary_cross_entropy"), Some(Policy::Banned));
    assert_eq!(cuda("relu"), None);
    // cross_entropy decomposes on CUDA (log_softmax + nll_loss).
    assert_eq!(cuda("cross_entropy"), None);
}

#[test]
fn cpu_lists_differ_from_cuda() {
    let cpu = |op: &str| policy_for(DeviceType::Cpu, op);
    for op in
        ["softmax", "log_softmax", "layer_norm", "group_norm", "exp", "log", "pow", "sum", "cumsum"]
    {
        assert_eq!(cpu(op), None, "{op} is not on the CPU lists");
    }
    assert_eq!(cpu("prod"), Some(Policy::Fp32));
    assert_eq!(cpu("cross_entropy"), Some(Policy::Fp32));
    assert_eq!(cpu("binary_cross_entropy"), Some(Policy::Fp32));
    for op in ["cat", "stack", "index_copy"] {
        assert_eq!(cpu(op), Some(Policy::Promote), "{op}");
    }
    for op in ["matmul", "linear", "conv2d", "bmm", "scaled_dot_product_attention"] {
        assert_eq!(cpu(op), Some(Policy::Lower), "{op}");
    }
    assert_eq!(cpu("mv"), None, "mv is lowered on CUDA only");
    assert_eq!(policy_for(DeviceType::Cuda, "mv"), Some(Policy::Lower));
}

#[test]
fn each_op_has_one_policy_per_device() {
    let cuda = [CUDA_LOWER, CUDA_FP32, CUDA_FP32_SET_OPT_DTYPE, CUDA_PROMOTE, CUDA_BANNED];
    let cpu = [CPU_LOWER, CPU_FP32, CPU_PROMOTE];
    for lists in [&cuda[..], &cpu[..]] {
        let mut all: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a name appears on two lists");
    }
}

#[test]
fn promote_rule() {
    let p = |low: DType, args: &[Option<DType>]| run_dtype(Policy::Promote, low, args);
    assert_eq!(p(DType::F16, &[H, H]), H, "all low: stays low");
    assert_eq!(p(DType::F16, &[H, S]), S, "any f32: f32");
    assert_eq!(p(DType::F16, &[H, B]), S, "f16 with bf16: f32");
    assert_eq!(p(DType::BF16, &[B, B]), B);
    // f64 (and non-float) arguments are not eligible: passed as None, ignored.
    assert_eq!(cast_targets(Policy::Promote, DType::F16, &[H, None]), vec![None, None]);
    assert_eq!(cast_targets(Policy::Promote, DType::F16, &[H, S]), vec![S, None]);
    // Lower casts every eligible argument that is not already low.
    assert_eq!(cast_targets(Policy::Lower, DType::F16, &[S, H, None]), vec![H, None, None]);
}

#[test]
fn eligibility() {
    assert!(is_eligible(DType::F32, Device::Cuda(1), DeviceType::Cuda));
    assert!(is_eligible(DType::BF16, Device::Cpu, DeviceType::Cpu));
    assert!(!is_eligible(DType::F64, Device::Cpu, DeviceType::Cpu));
    assert!(!is_eligible(DType::I64, Device::Cpu, DeviceType::Cpu));
    assert!(!is_eligible(DType::F32, Device::Cpu, DeviceType::Cuda), "other device type");
    assert_eq!(DeviceType::Cuda.default_dtype(), DType::F16);
    assert_eq!(DeviceType::Cpu.default_dtype(), DType::BF16);
}

#[test]
fn tf32_switch() {
    assert!(!tf32_matmul(), "off by default");
    set_tf32_matmul(true);
    assert!(tf32_matmul());
    set_tf32_matmul(false);
    assert!(!tf32_matmul());
}
