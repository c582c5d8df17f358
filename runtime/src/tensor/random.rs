//! [`Generator`]: an explicit, seeded random source, and the random
//! creation functions (`rand`, `randn`, `randint`) drawing from it.
//!
//! The generator is xoshiro256** (Blackman & Vigna), its state seeded from
//! the u64 seed by SplitMix64, as the authors recommend. Uniform floats take
//! the top 24 (f32 and narrower) or 53 (f64) bits of a draw, giving values in
//! [0, 1); normals come from Box-Muller on two uniforms (both outputs used);
//! integers in [low, high) by rejection sampling (no modulo bias). The
//! streams are this crate's own: they do not reproduce PyTorch's numbers.
//! Random tensors are made on the host and recorded as opaque ops.

use smelt_compiler::HostTensor;
use smelt_compiler::ir::DType;

use super::{Result, Tensor, arg_err, dtype_err};
use crate::dispatch::record_opaque;

/// A seeded pseudo-random generator (xoshiro256**).
#[derive(Clone, Debug)]
pub struct Generator {
    s: [u64; 4],
    /// The second Box-Muller output, kept for the next normal draw.
    spare: Option<f64>,
}

impl Generator {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Generator {
        let mut x = seed;
        let mut next = || {
            // SplitMix64.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Generator { s: [next(), next(), next(), next()], spare: None }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform f64 in [0, 1) with 53 random bits.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform value in [0, 1) with 24 random bits (exact in f32).
    pub fn uniform_f32(&mut self) -> f64 {
        (self.next_u64() >> 40) as f64 * (1.0 / (1u64 << 24) as f64)
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - u lies in (0, 1], so the log is finite.
        let u1 = 1.0 - self.uniform_f64();
        let u2 = self.uniform_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * th.sin());
        r * th.cos()
    }

    /// A uniform integer in [0, n) (n > 0), by rejection.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// Checks `dtype` is a float for `op`.
fn need_float(op: &str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(dtype_err(op, format!("needs a float dtype, got {dtype}")))
    }
}

impl Tensor {
    /// Made on the host, cast to `dtype`, recorded as opaque `name`.
    fn host_random(name: &str, shape: &[usize], dtype: DType, v: Vec<f64>) -> Result<Tensor> {
        let work = if dtype.is_float() { DType::F64 } else { DType::I64 };
        let host = if work == DType::F64 {
            HostTensor::from_f64(DType::F64, shape, v)
        } else {
            HostTensor::from_i64(DType::I64, shape, v.into_iter().map(|x| x as i64).collect())
        };
        let t = Tensor::from_host(&host).to_dtype_unrecorded(dtype)?;
        record_opaque(name, &[], &[&t]);
        Ok(t)
    }

    /// Uniform values in [0, 1) (`torch.rand`).
    pub fn rand(shape: &[usize], dtype: DType, rng: &mut Generator) -> Result<Tensor> {
        need_float("rand", dtype)?;
        let n: usize = shape.iter().product();
        let wide = dtype == DType::F64;
        let v = (0..n).map(|_| if wide { rng.uniform_f64() } else { rng.uniform_f32() }).collect();
        Tensor::host_random("rand", shape, dtype, v)
    }

    /// Standard normal values (`torch.randn`).
    pub fn randn(shape: &[usize], dtype: DType, rng: &mut Generator) -> Result<Tensor> {
        need_float("randn", dtype)?;
        let n: usize = shape.iter().product();
        let v = (0..n).map(|_| rng.normal()).collect();
        Tensor::host_random("randn", shape, dtype, v)
    }

    /// Uniform integers in [low, high) (`torch.randint`).
    pub fn randint(
        low: i64,
        high: i64,
        shape: &[usize],
        dtype: DType,
        rng: &mut Generator,
    ) -> Result<Tensor> {
        if high <= low {
            return Err(arg_err("randint", format!("empty range [{low}, {high})")));
        }
        if dtype == DType::Bool {
            return Err(dtype_err("randint", "needs a numeric dtype, got bool"));
        }
        let n: usize = shape.iter().product();
        let span = high.wrapping_sub(low) as u64;
        let v = (0..n).map(|_| low.wrapping_add(rng.below(span) as i64) as f64).collect();
        Tensor::host_random("randint", shape, dtype, v)
    }
}
