//! Device tensors seen through views, for the eager runtime: a strided
//! gather that makes any view dense on the device, an alias that hands a
//! dense window of a larger device buffer to [`CudaBackend::launch`]
//! without a copy, and a raw byte download.
//!
//! The gather is one small hand-written kernel per element size (1, 2, 4
//! and 8 bytes: the copy moves raw elements, so every dtype of that size
//! shares it), compiled once through NVRTC like the generated kernels. Its
//! sizes, strides and offset travel as one by-value kernel argument, so a
//! new view never recompiles. Dims are collapsed first (size-1 dims
//! dropped, dims that are contiguous with their inner neighbour merged), so
//! the rank limit of [`MAX_GATHER_RANK`] binds only on genuinely scattered
//! views.
//!
//! Invariants: an alias never frees the memory it reads (it gives the
//! pointer back with `leak` when dropped) and cannot outlive its base
//! tensor (the lifetime ties them); every element a gather reads is checked
//! to lie inside the source buffer before launch.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use cudarc::driver::{DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};

use super::{CudaBackend, CudaError, DeviceTensor, driver};
use crate::ir::DType;

/// The most dims a view may have after collapsing for the device gather.
pub const MAX_GATHER_RANK: usize = 8;

/// The gather kernels: `smelt_gather_<bytes>` for element sizes 1, 2, 4, 8.
const GATHER_SOURCE: &str = r#"
struct SmeltStrided {
  long long size[8];
  long long stride[8];
  long long offset;
  long long n;
  int rank;
  int pad;
};
template <typename T>
__device__ void smelt_gather(T* __restrict__ out, const T* __restrict__ in, const SmeltStrided s) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < s.n;
       i += (long long)gridDim.x * blockDim.x) {
    long long rem = i, at = s.offset;
    for (int k = s.rank - 1; k >= 0; --k) {
      long long q = rem / s.size[k];
      at += (rem - q * s.size[k]) * s.stride[k];
      rem = q;
    }
    out[i] = in[at];
  }
}
extern "C" __global__ void smelt_gather_1(unsigned char* out, const unsigned char* in, SmeltStrided s) { smelt_gather(out, in, s); }
extern "C" __global__ void smelt_gather_2(unsigned short* out, const unsigned short* in, SmeltStrided s) { smelt_gather(out, in, s); }
extern "C" __global__ void smelt_gather_4(unsigned int* out, const unsigned int* in, SmeltStrided s) { smelt_gather(out, in, s); }
extern "C" __global__ void smelt_gather_8(unsigned long long* out, const unsigned long long* in, SmeltStrided s) { smelt_gather(out, in, s); }
"#;

/// The kernel's `SmeltStrided` argument (same layout as the C struct).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct GatherArgs {
    size: [i64; MAX_GATHER_RANK],
    stride: [i64; MAX_GATHER_RANK],
    offset: i64,
    n: i64,
    rank: i32,
    pad: i32,
}

// SAFETY: `GatherArgs` is `repr(C)` plain data matching `SmeltStrided`
// field for field (i64 = long long, i32 = int), so its bytes are a valid
// kernel argument.
unsafe impl DeviceRepr for GatherArgs {}

/// A device tensor that reads another's memory in place (a dense window of
/// it), for handing a view to [`CudaBackend::launch`] without a copy.
/// Dereferences to a [`DeviceTensor`]; dropping it frees nothing.
pub struct DeviceAlias<'a> {
    tensor: ManuallyDrop<DeviceTensor>,
    base: PhantomData<&'a DeviceTensor>,
}

impl std::ops::Deref for DeviceAlias<'_> {
    type Target = DeviceTensor;
    fn deref(&self) -> &DeviceTensor {
        &self.tensor
    }
}

impl Drop for DeviceAlias<'_> {
    fn drop(&mut self) {
        // SAFETY: the tensor is taken once, here, and never used again.
        let t = unsafe { ManuallyDrop::take(&mut self.tensor) };
        // The memory belongs to the base tensor: give the pointer up
        // without freeing it.
        let _ = t.buf.leak();
    }
}

/// Sizes and strides with size-1 dims dropped and dims that continue their
/// inner neighbour merged (row-major order kept).
fn collapse(shape: &[usize], strides: &[isize]) -> (Vec<i64>, Vec<i64>) {
    let mut size: Vec<i64> = Vec::new();
    let mut stride: Vec<i64> = Vec::new();
    for (&n, &s) in shape.iter().zip(strides).rev() {
        if n == 1 {
            continue;
        }
        match (size.last_mut(), stride.last()) {
            (Some(inner_n), Some(&inner_s)) if s as i64 == inner_s * *inner_n => {
                *inner_n *= n as i64
            }
            _ => {
                size.push(n as i64);
                stride.push(s as i64);
            }
        }
    }
    size.reverse();
    stride.reverse();
    (size, stride)
}

impl CudaBackend {
    /// The bytes of a device tensor, copied to the host (waits for the
    /// stream, so everything queued before has run).
    pub fn download_bytes(&self, t: &DeviceTensor) -> Result<Vec<u8>, CudaError> {
        let n = t.shape.iter().product::<usize>() * t.dtype.size_bytes();
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > t.buf.len() {
            return Err(CudaError::Input(format!(
                "{}{:?} needs {n} bytes, the buffer holds {}",
                t.dtype,
                t.shape,
                t.buf.len()
            )));
        }
        let mut bytes = driver("cuMemcpyDtoH", self.stream.clone_dtoh(&t.buf.slice(..n)))?;
        driver("cuStreamSynchronize", self.stream.synchronize())?;
        bytes.truncate(n);
        Ok(bytes)
    }

    /// `base`'s bytes from element `offset` on, read in place as a dense
    /// row-major `dtype` tensor of `shape`. Errors when the window does not
    /// lie inside `base`.
    pub fn alias<'a>(
        &self,
        base: &'a DeviceTensor,
        dtype: DType,
        shape: &[usize],
        offset: usize,
    ) -> Result<DeviceAlias<'a>, CudaError> {
        let size = dtype.size_bytes();
        let start = offset * size;
        let len = shape.iter().product::<usize>() * size;
        if start + len > base.buf.len() {
            return Err(CudaError::Input(format!(
                "a {dtype}{shape:?} window at element {offset} passes the end of a {}-byte buffer",
                base.buf.len()
            )));
        }
        let (ptr, _sync) = base.buf.device_ptr(&self.stream);
        // SAFETY: the window lies inside `base`'s allocation (checked
        // above), which outlives the alias (lifetime 'a); the alias never
        // frees it (its Drop leaks the pointer back). At least one byte, as
        // every device tensor has, so empty tensors still have an address.
        let buf = unsafe { self.stream.upgrade_device_ptr::<u8>(ptr + start as u64, len.max(1)) };
        Ok(DeviceAlias {
            tensor: ManuallyDrop::new(DeviceTensor { dtype, shape: shape.to_vec(), buf }),
            base: PhantomData,
        })
    }

    /// A dense row-major copy, on the device, of the `dtype` view of
    /// `base` with `shape`, element `strides` and element `offset`
    /// (`base`'s own dtype and shape are ignored: its buffer is raw bytes).
    pub fn gather_strided(
        &mut self,
        base: &DeviceTensor,
        dtype: DType,
        shape: &[usize],
        strides: &[isize],
        offset: usize,
    ) -> Result<DeviceTensor, CudaError> {
        let esize = dtype.size_bytes();
        let n: usize = shape.iter().product();
        let out = self.alloc(dtype, shape.to_vec())?;
        if n == 0 {
            return Ok(out);
        }
        if shape.len() != strides.len() {
            return Err(CudaError::Input(format!("shape {shape:?} with strides {strides:?}")));
        }
        // Every element read lies inside the buffer.
        let (mut lo, mut hi) = (offset as i128, offset as i128);
        for (&d, &s) in shape.iter().zip(strides) {
            let span = (d as i128 - 1) * s as i128;
            if span < 0 { lo += span } else { hi += span }
        }
        let elems = (base.buf.len() / esize) as i128;
        if lo < 0 || hi >= elems {
            return Err(CudaError::Input(format!(
                "a {dtype}{shape:?} view with strides {strides:?} at offset {offset} reads \
                 outside its {}-byte buffer",
                base.buf.len()
            )));
        }
        let (size, stride) = collapse(shape, strides);
        if size.len() > MAX_GATHER_RANK {
            return Err(CudaError::Unsupported(format!(
                "a strided copy of {} scattered dims (at most {MAX_GATHER_RANK}): {shape:?} \
                 with strides {strides:?}",
                size.len()
            )));
        }
        let mut args = GatherArgs {
            offset: offset as i64,
            n: n as i64,
            rank: size.len() as i32,
            ..Default::default()
        };
        args.size[..size.len()].copy_from_slice(&size);
        args.stride[..stride.len()].copy_from_slice(&stride);
        let name = format!("smelt_gather_{esize}");
        let func = match self.functions.get(&name) {
            Some(f) => f.clone(),
            None => {
                let ptx = super::nvrtc::compile_ptx(GATHER_SOURCE, self.sm)?;
                let module = driver(
                    "cuModuleLoadData",
                    self.ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)),
                )?;
                self.compiled += 1;
                for b in [1, 2, 4, 8] {
                    let k = format!("smelt_gather_{b}");
                    let f = driver("cuModuleGetFunction", module.load_function(&k))?;
                    self.functions.insert(k, f);
                }
                self.functions
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| CudaError::Unsupported(format!("{esize}-byte elements")))?
            }
        };
        let threads = 256u32;
        let blocks = n.div_ceil(threads as usize).min(self.sm_count.max(1) as usize * 32) as u32;
        let cfg = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut builder = self.stream.launch_builder(&func);
        builder.arg(&out.buf);
        builder.arg(&base.buf);
        builder.arg(&args);
        // SAFETY: the arguments match `smelt_gather_<esize>` (out, in,
        // SmeltStrided by value); `out` holds `n` elements and every element
        // read lies inside `base` (checked above).
        driver("cuLaunchKernel", unsafe { builder.launch(cfg) })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{GATHER_SOURCE, GatherArgs, MAX_GATHER_RANK, collapse};
    use crate::backend::cuda::nvrtc;

    #[test]
    fn the_gather_kernels_compile_for_every_arch_nvrtc_takes() {
        if !nvrtc::nvrtc_available() {
            println!("skipped: no NVRTC (set LD_LIBRARY_PATH to a libnvrtc folder)");
            return;
        }
        for sm in [70, 80, 90] {
            match nvrtc::compile_ptx(GATHER_SOURCE, sm) {
                Ok(ptx) => {
                    for b in [1, 2, 4, 8] {
                        assert!(ptx.contains(&format!("smelt_gather_{b}")), "sm_{sm}");
                    }
                }
                // CUDA 13's NVRTC refuses sm_70: not this kernel's fault.
                Err(nvrtc::CompileError::UnsupportedArch { .. }) => {}
                Err(e) => panic!("sm_{sm}: {e}"),
            }
        }
    }

    /// The element `i` (row-major over `shape`) of a strided view reads.
    fn source_index(i: usize, shape: &[usize], strides: &[isize], offset: usize) -> i64 {
        let (mut rem, mut at) = (i, offset as i64);
        for k in (0..shape.len()).rev() {
            at += (rem % shape[k]) as i64 * strides[k] as i64;
            rem /= shape[k];
        }
        at
    }

    #[test]
    fn the_gather_kernel_copies_views_under_a_cpu_emulation() {
        // The kernel source run as C++ (blocks and threads as loops), so
        // the index arithmetic is checked without a GPU.
        if std::process::Command::new("g++").arg("--version").output().is_err() {
            println!("skipped: no g++");
            return;
        }
        let cases: Vec<(Vec<usize>, Vec<isize>, usize)> = vec![
            (vec![3, 4], vec![1, 3], 0),        // transpose
            (vec![2, 3], vec![8, 2], 5),        // offset, step
            (vec![4, 5], vec![0, 1], 2),        // expand
            (vec![2, 2, 3], vec![1, 12, 4], 1), // permute
            (vec![], vec![], 7),                // rank 0
            (vec![2, 1, 3, 2, 2], vec![40, 9, 1, 20, 5], 3),
        ];
        let mut prog = String::from(
            "#include <cstdio>\nstruct dim3 { unsigned x = 1, y = 1, z = 1; };\n\
             dim3 threadIdx, blockIdx, blockDim, gridDim;\n#define __global__\n\
             #define __device__\n#define __restrict__ __restrict\n",
        );
        prog.push_str(GATHER_SOURCE);
        prog.push_str(
            "int main() {\n  static unsigned long long in8[256]; static unsigned int in4[256];\n",
        );
        prog.push_str("  static unsigned short in2[256]; static unsigned char in1[256];\n");
        prog.push_str("  for (int i = 0; i < 256; ++i) { in8[i] = 1000000000000ull + i; in4[i] = 70000 + i; in2[i] = 300 + i; in1[i] = i; }\n");
        for (shape, strides, offset) in &cases {
            let (size, stride) = collapse(shape, strides);
            let n: usize = shape.iter().product();
            let mut a = GatherArgs {
                offset: *offset as i64,
                n: n as i64,
                rank: size.len() as i32,
                ..Default::default()
            };
            a.size[..size.len()].copy_from_slice(&size);
            a.stride[..size.len()].copy_from_slice(&stride);
            assert!(size.len() <= MAX_GATHER_RANK);
            let list = |v: &[i64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
            prog.push_str(&format!(
                "  {{ SmeltStrided s = {{{{{}}}, {{{}}}, {}, {}, {}, 0}};\n",
                list(&a.size),
                list(&a.stride),
                a.offset,
                a.n,
                a.rank
            ));
            for b in [1, 2, 4, 8] {
                let ty = [
                    "",
                    "unsigned char",
                    "unsigned short",
                    "",
                    "unsigned int",
                    "",
                    "",
                    "",
                    "unsigned long long",
                ][b];
                prog.push_str(&format!(
                    "    {{ static {ty} out[64]; gridDim.x = 2; blockDim.x = 3;\n\
                     for (blockIdx.x = 0; blockIdx.x < 2; ++blockIdx.x) for (threadIdx.x = 0; threadIdx.x < 3; ++threadIdx.x)\n\
                       smelt_gather_{b}(out, in{b}, s);\n\
                     for (int i = 0; i < {n}; ++i) printf(\"%llu \", (unsigned long long)out[i]); printf(\"\\n\"); }}\n"
                ));
            }
            prog.push_str("  }\n");
        }
        prog.push_str("  return 0;\n}\n");
        let dir = std::env::temp_dir().join(format!("smelt-gather-emu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (src, exe) = (dir.join("gather.cpp"), dir.join("gather"));
        std::fs::write(&src, &prog).unwrap();
        let cc = std::process::Command::new("g++")
            .arg("-O0")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .output()
            .unwrap();
        assert!(cc.status.success(), "g++: {}", String::from_utf8_lossy(&cc.stderr));
        let run = std::process::Command::new(&exe).output().unwrap();
        let text = String::from_utf8(run.stdout).unwrap();
        let mut lines = text.lines();
        for (shape, strides, offset) in &cases {
            let n: usize = shape.iter().product();
            let idx: Vec<i64> = (0..n).map(|i| source_index(i, shape, strides, *offset)).collect();
            for base in [0i64, 300, 70000, 1_000_000_000_000] {
                let want: Vec<String> = idx.iter().map(|&j| (base + j).to_string()).collect();
                let got: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
                assert_eq!(got, want, "{shape:?} strides {strides:?} offset {offset}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn collapse_merges_contiguous_dims_and_drops_ones() {
        assert_eq!(collapse(&[2, 3, 4], &[12, 4, 1]), (vec![24], vec![1]));
        assert_eq!(collapse(&[2, 1, 4], &[4, 99, 1]), (vec![8], vec![1]));
        // A transpose stays two dims.
        assert_eq!(collapse(&[3, 2], &[1, 3]), (vec![3, 2], vec![1, 3]));
        // An expand (stride 0) stays its own dim.
        assert_eq!(collapse(&[5, 4], &[0, 1]), (vec![5, 4], vec![0, 1]));
        assert_eq!(collapse(&[], &[]), (vec![], vec![]));
    }
}
