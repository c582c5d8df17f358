//! The CPU backend's buffer pools: a repeated run allocates only its
//! results (intermediates come back from the pool of temporaries), and
//! single-op runs in between (what every eager op is) do not drain that
//! pool; results stay correct when buffers are reused.

use smelt_compiler::HostTensor;
use smelt_compiler::backend::cpu::{Buffer, CpuBackend, CpuOptions};
use smelt_compiler::interp::{self, Bindings};
use smelt_compiler::ir::{DType, parse_func};

/// Two library matmuls around a pointwise kernel: two intermediates, one result.
const CHAIN: &str = "func @chain(%x: f32[6, 5], %w: f32[5, 7], %v: f32[7, 3]) -> (f32[6, 3]) {
  %a = matmul(%x, %w) : f32[6, 7]
  %r = relu(%a) : f32[6, 7]
  %y = matmul(%r, %v) : f32[6, 3]
  return %y
}";

/// One op whose result has the intermediates' shape.
const SINGLE: &str = "func @single(%x: f32[6, 7]) -> (f32[6, 7]) {
  %y = neg(%x) : f32[6, 7]
  return %y
}";

fn filled(shape: &[usize], seed: usize) -> HostTensor {
    let n = shape.iter().product::<usize>();
    HostTensor::from_f64(
        DType::F32,
        shape,
        (0..n).map(|i| ((i * 37 + seed * 11) % 19) as f64 / 9.0 - 1.0).collect(),
    )
}

#[test]
fn repeated_runs_allocate_only_results_even_between_single_op_runs() {
    let chain = parse_func(CHAIN).unwrap();
    let single = parse_func(SINGLE).unwrap();
    let hosts = [filled(&[6, 5], 1), filled(&[5, 7], 2), filled(&[7, 3], 3)];
    let want = interp::run(&chain, &hosts, &Bindings::new()).unwrap();
    let ins: Vec<Buffer> = hosts.iter().map(Buffer::from_host).collect();
    let other = [Buffer::from_host(&filled(&[6, 7], 4))];
    let mut cpu = CpuBackend::new(CpuOptions { threads: 1, ..CpuOptions::default() }).unwrap();
    let none = Bindings::new();
    let first = cpu.run_buffers(&chain, &ins, &none).unwrap();
    assert!(cpu.last.kernels >= 3, "{:?}", cpu.last);
    assert_eq!(cpu.last.fresh_buffers, cpu.last.kernels, "first run: every output is new");
    for round in 0..3 {
        let got = cpu.run_buffers(&chain, &ins, &none).unwrap();
        assert_eq!(cpu.last.fresh_buffers, 1, "round {round}: only the result is new");
        assert_eq!(got[0].to_host(), first[0].to_host(), "round {round}");
        // Eager-style runs whose results are handed on, not back.
        for _ in 0..3 {
            let kept = cpu.run_buffers(&single, &other, &none).unwrap();
            assert_eq!(cpu.last.fresh_buffers, 1);
            drop(kept);
        }
    }
    let close = first[0].to_host().to_f64_vec();
    for (a, b) in close.iter().zip(want[0].to_f64_vec()) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
}

/// A size past the address space is `None` (the executor reports the kernel
/// and shape), not an overflowed, too-small allocation or a panic.
#[test]
fn a_buffer_larger_than_the_address_space_is_refused() {
    assert!(Buffer::try_zeros(DType::F32, &[usize::MAX / 2, 4]).is_none());
    assert!(Buffer::try_zeros(DType::F64, &[1 << 40, 1 << 40]).is_none());
    let b = Buffer::try_zeros(DType::BF16, &[3, 5]).expect("a small buffer");
    assert_eq!(b.bytes().len(), 30);
    assert!(b.bytes().iter().all(|&x| x == 0));
}
