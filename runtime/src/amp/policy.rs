//! The autocast policy lists of AMP.md as data: for each device type, which
//! op names are lowered, run in f32, run with `dtype=f32`, or promoted, and
//! the pure decision of which dtype each argument is cast to. Kept free of
//! tensors so the CUDA table can be checked without a CUDA device.

use smelt_compiler::ir::DType;

use crate::tensor::Device;

/// The device kind an autocast scope covers (PyTorch's `device_type`: the
/// CUDA index does not matter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Host tensors (`autocast("cpu")`).
    Cpu,
    /// CUDA tensors of any index (`autocast("cuda")`).
    Cuda,
}

impl DeviceType {
    /// The kind of `device`.
    pub fn of(device: Device) -> DeviceType {
        match device {
            Device::Cpu => DeviceType::Cpu,
            Device::Cuda(_) => DeviceType::Cuda,
        }
    }

    /// The default low dtype of a scope on this device: f16 on CUDA, bf16 on CPU.
    pub fn default_dtype(self) -> DType {
        match self {
            DeviceType::Cpu => DType::BF16,
            DeviceType::Cuda => DType::F16,
        }
    }

    /// Lower-case name as PyTorch spells it.
    pub fn name(self) -> &'static str {
        match self {
            DeviceType::Cpu => "cpu",
            DeviceType::Cuda => "cuda",
        }
    }
}

/// What autocast does to an op's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Cast eligible arguments to the scope's low dtype.
    Lower,
    /// Cast eligible arguments to f32.
    Fp32,
    /// Run with `dtype=f32` when the first argument is eligible, so the
    /// result is f32 (the runtime casts that argument to f32: same result).
    Fp32SetOptDtype,
    /// Run in the widest eligible dtype, starting from the low dtype (f64
    /// ignored; any f32 argument makes it f32).
    Promote,
    /// Refused under autocast (CUDA's `binary_cross_entropy`).
    Banned,
}

/// CUDA (f16) lower list.
pub const CUDA_LOWER: &[&str] = &[
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "convolution",
    "prelu",
    "addmm",
    "addmv",
    "addr",
    "matmul",
    "einsum",
    "mm",
    "mv",
    "linalg_vecdot",
    "linear",
    "addbmm",
    "baddbmm",
    "bmm",
    "chain_matmul",
    "linalg_multi_dot",
    "lstm_cell",
    "gru_cell",
    "rnn_tanh_cell",
    "rnn_relu_cell",
    "scaled_dot_product_attention",
];

/// CUDA fp32 list (`cross_entropy` is not on it: it decomposes into
/// `log_softmax`, fp32_set_opt_dtype, and `nll_loss`, fp32).
pub const CUDA_FP32: &[&str] = &[
    "acos",
    "asin",
    "cosh",
    "erfinv",
    "exp",
    "expm1",
    "log",
    "log10",
    "log2",
    "log1p",
    "reciprocal",
    "rsqrt",
    "sinh",
    "tan",
    "pow",
    "softplus",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "norm",
    "frobenius_norm",
    "nuclear_norm",
    "cosine_similarity",
    "poisson_nll_loss",
    "cosine_embedding_loss",
    "nll_loss",
    "nll_loss2d",
    "hinge_embedding_loss",
    "kl_div",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "mse_loss",
    "margin_ranking_loss",
    "multilabel_margin_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "multi_margin_loss",
    "binary_cross_entropy_with_logits",
    "dist",
    "pdist",
    "cdist",
    "renorm",
    "logsumexp",
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "upsample_linear1d",
    "upsample_bilinear2d",
    "upsample_bicubic2d",
    "upsample_trilinear3d",
];

/// CUDA fp32_set_opt_dtype list.
pub const CUDA_FP32_SET_OPT_DTYPE: &[&str] = &[
    "prod",
    "softmax",
    "log_softmax",
    "cumprod",
    "cumsum",
    "linalg_vector_norm",
    "linalg_matrix_norm",
    "sum",
];

/// CUDA promote list.
pub const CUDA_PROMOTE: &[&str] = &[
    "addcdiv",
    "addcmul",
    "atan2",
    "bilinear",
    "cross",
    "dot",
    "vdot",
    "grid_sampler",
    "index_put",
    "tensordot",
    "scatter_add",
];

/// CUDA banned list.
pub const CUDA_BANNED: &[&str] = &["binary_cross_entropy"];

/// CPU (bf16; f16 shares it) lower list.
pub const CPU_LOWER: &[&str] = &[
    "conv1d",
    "conv2d",
    "conv3d",
    "bmm",
    "mm",
    "linalg_vecdot",
    "baddbmm",
    "addmm",
    "addbmm",
    "linear",
    "matmul",
    "conv_tbc",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "prelu",
    "scaled_dot_product_attention",
];

/// CPU fp32 list (every loss, the runtime's `cross_entropy` included).
pub const CPU_FP32: &[&str] = &[
    "avg_pool3d",
    "max_pool3d",
    "max_unpool2d",
    "max_unpool3d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "reflection_pad1d",
    "reflection_pad2d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
    "mse_loss",
    "cosine_embedding_loss",
    "nll_loss",
    "nll_loss2d",
    "hinge_embedding_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "cross_entropy",
    "cross_entropy_loss",
    "l1_loss",
    "huber_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "multi_margin_loss",
    "ctc_loss",
    "kl_div",
    "multilabel_margin_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "grid_sampler",
    "polar",
    "prod",
    "quantile",
    "nanquantile",
    "stft",
    "cdist",
    "trace",
    "fft_fft",
    "fft_ifft",
    "fft_fft2",
    "fft_ifft2",
    "fft_fftn",
    "fft_ifftn",
    "fft_rfft",
    "fft_irfft",
    "fft_rfft2",
    "fft_irfft2",
    "fft_rfftn",
    "fft_irfftn",
    "fft_hfft",
    "fft_ihfft",
    "cholesky",
    "cholesky_inverse",
    "cholesky_solve",
    "inverse",
    "lu_solve",
    "orgqr",
    "ormqr",
    "pinverse",
    "linalg_cholesky",
    "linalg_cholesky_ex",
    "linalg_eig",
    "linalg_eigh",
    "linalg_eigvals",
    "linalg_eigvalsh",
    "linalg_inv",
    "linalg_inv_ex",
    "linalg_householder_product",
    "linalg_lstsq",
    "linalg_lu",
    "linalg_lu_factor",
    "linalg_lu_solve",
    "linalg_matrix_rank",
    "linalg_pinv",
    "linalg_qr",
    "linalg_solve",
    "linalg_solve_ex",
    "linalg_svd",
    "linalg_svdvals",
    "linalg_tensorinv",
    "linalg_tensorsolve",
    "linalg_det",
    "linalg_slogdet",
];

/// CPU promote list.
pub const CPU_PROMOTE: &[&str] = &["cat", "stack", "index_copy"];

/// The policy of op `name` under an autocast scope on `device`, or `None`
/// when the op is on no list (it runs in its inputs' dtypes).
pub fn policy_for(device: DeviceType, name: &str) -> Option<Policy> {
    let tables: [(&[&str], Policy); 5] = match device {
        DeviceType::Cuda => [
            (CUDA_LOWER, Policy::Lower),
            (CUDA_FP32, Policy::Fp32),
            (CUDA_FP32_SET_OPT_DTYPE, Policy::Fp32SetOptDtype),
            (CUDA_PROMOTE, Policy::Promote),
            (CUDA_BANNED, Policy::Banned),
        ],
        DeviceType::Cpu => [
            (CPU_LOWER, Policy::Lower),
            (CPU_FP32, Policy::Fp32),
            (&[], Policy::Fp32SetOptDtype),
            (CPU_PROMOTE, Policy::Promote),
            (&[], Policy::Banned),
        ],
    };
    tables.iter().find(|(list, _)| list.contains(&name)).map(|&(_, p)| p)
}

/// Whether an argument of `dtype` on `device` is cast under a scope on
/// `scope`: floating point, on the scope's device type, not f64.
pub fn is_eligible(dtype: DType, device: Device, scope: DeviceType) -> bool {
    dtype.is_float() && dtype != DType::F64 && DeviceType::of(device) == scope
}

/// The float type two eligible dtypes promote to (PyTorch's
/// `promoteTypes` on f16/bf16/f32: equal stays, any other pair is f32).
fn promote_float(a: DType, b: DType) -> DType {
    if a == b { a } else { DType::F32 }
}

/// For each argument (`None`: absent or not eligible; `Some(dtype)`: an
/// eligible argument's dtype), the dtype `policy` casts it to, or `None`
/// when it is left alone. `low` is the scope's low dtype. `Banned` casts
/// nothing (the caller refuses the op).
pub fn cast_targets(policy: Policy, low: DType, args: &[Option<DType>]) -> Vec<Option<DType>> {
    let to = match policy {
        Policy::Lower => Some(low),
        Policy::Fp32 => Some(DType::F32),
        Policy::Fp32SetOptDtype => {
            // Only the first argument decides, and only it is converted.
            return args
                .iter()
                .enumerate()
                .map(
                    |(i, a)| {
                        if i == 0 {
                            a.filter(|&d| d != DType::F32).map(|_| DType::F32)
                        } else {
                            None
                        }
                    },
                )
                .collect();
        }
        Policy::Promote => Some(args.iter().flatten().fold(low, |acc, &d| promote_float(acc, d))),
        Policy::Banned => None,
    };
    args.iter().map(|a| a.and(to).filter(|&t| Some(t) != *a)).collect()
}

/// The dtype an op whose arguments all end up in one dtype runs in, under
/// `policy` with low dtype `low` and eligible argument dtypes `args`
/// (`None` when no argument is eligible and nothing changes).
pub fn run_dtype(policy: Policy, low: DType, args: &[Option<DType>]) -> Option<DType> {
    let targets = cast_targets(policy, low, args);
    args.iter().zip(&targets).find_map(|(a, t)| t.or(*a))
}
