// A CPU stand-in for the few CUDA features smelt's generated kernels use, so
// that the generated code can be checked against the interpreter with no
// GPU: blocks run one after another; in a block that synchronizes (the row
// and transpose templates) every thread is a std::thread, __syncthreads is a
// block barrier and __shfl_xor_sync a barrier of the thread's warp.
// __shared__ arrays are statics, shared by the block that is running. Not a
// CUDA emulator in general: just enough for these kernels.
#include <algorithm>
#include <barrier>
#include <memory>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

struct dim3 { unsigned x = 1, y = 1, z = 1; };
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(n)
#define __align__(n) alignas(n)
#define __shared__ static
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline double __longlong_as_double(long long u) { double f; std::memcpy(&f, &u, 8); return f; }
inline long long __double_as_longlong(double f) { long long u; std::memcpy(&u, &f, 8); return u; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float smelt_emu_h2f(unsigned short h) { _Float16 x; std::memcpy(&x, &h, 2); return (float)x; }
inline unsigned short smelt_emu_f2h(float f) { _Float16 x = (_Float16)f; unsigned short h; std::memcpy(&h, &x, 2); return h; }

static std::barrier<>* smelt_emu_bar = nullptr;
// Shuffles synchronize the 32 threads of a warp only (its own barrier), as
// on a GPU: warps that own different rows run different numbers of them.
static std::vector<std::barrier<>*> smelt_emu_warp_bars;
inline void __syncthreads() { smelt_emu_bar->arrive_and_wait(); }
alignas(8) static unsigned char smelt_emu_slots[1024][8];
template <class T> T __shfl_xor_sync(unsigned, T v, int o) {
  std::barrier<>* bar = smelt_emu_warp_bars[threadIdx.x >> 5];
  std::memcpy(smelt_emu_slots[threadIdx.x], &v, sizeof(T));
  bar->arrive_and_wait();
  T r;
  std::memcpy(&r, smelt_emu_slots[threadIdx.x ^ (unsigned)o], sizeof(T));
  bar->arrive_and_wait();
  return r;
}

// A grid of gx × gy blocks (multi kernels: blockIdx.y picks the instance).
template <class F> void smelt_emu_launch2(unsigned gx, unsigned gy, unsigned block, bool sync, F f) {
  gridDim.x = gx;
  gridDim.y = gy;
  blockDim.x = block;
  for (unsigned y = 0; y < gy; ++y)
  for (unsigned b = 0; b < gx; ++b) {
    if (!sync) {
      for (unsigned t = 0; t < block; ++t) { blockIdx.x = b; blockIdx.y = y; threadIdx.x = t; f(); }
      continue;
    }
    std::barrier<> bar(block);
    smelt_emu_bar = &bar;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    smelt_emu_warp_bars.clear();
    for (unsigned w = 0; w * 32 < block; ++w) {
      warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, block - w * 32)));
      smelt_emu_warp_bars.push_back(warps.back().get());
    }
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < block; ++t) ts.emplace_back([=] { blockIdx.x = b; blockIdx.y = y; threadIdx.x = t; f(); });
    for (auto& t : ts) t.join();
  }
}
template <class F> void smelt_emu_launch(unsigned grid, unsigned block, bool sync, F f) {
  smelt_emu_launch2(grid, 1, block, sync, f);
}

static unsigned char* smelt_emu_buf(size_t bytes) {
  size_t n = (bytes + 63) / 64 * 64 + 64;
  unsigned char* p = (unsigned char*)std::aligned_alloc(64, n);
  std::memset(p, 0xCD, n);  // garbage, as device memory would hold
  return p;
}
static unsigned char* smelt_emu_read(const char* path, size_t bytes) {
  unsigned char* p = smelt_emu_buf(bytes);
  FILE* f = std::fopen(path, "rb");
  if (!f || std::fread(p, 1, bytes, f) != bytes) { std::fprintf(stderr, "cannot read %s\n", path); std::exit(3); }
  std::fclose(f);
  return p;
}
static void smelt_emu_write(const char* path, const unsigned char* p, size_t bytes) {
  FILE* f = std::fopen(path, "wb");
  if (!f || std::fwrite(p, 1, bytes, f) != bytes) { std::fprintf(stderr, "cannot write %s\n", path); std::exit(3); }
  std::fclose(f);
}

// cuBLAS's cublasGemmStridedBatchedEx stand-in (column-major, op N or T):
// for each batch entry e, C_e = op(A_e)·op(B_e) (+ C_e when acc), summed in
// the compute type `load` widens to and stored through `store`.
template <class T, class L, class S>
static void smelt_emu_gemm(bool ta, bool tb, long long m, long long n, long long k, const T* A,
                           long long lda, long long sa, const T* B, long long ldb, long long sb,
                           T* C, long long ldc, long long sc, long long batch, bool acc, L load,
                           S store) {
  using CT = decltype(load(C[0]));
  for (long long e = 0; e < batch; ++e)
    for (long long j = 0; j < n; ++j)
      for (long long i = 0; i < m; ++i) {
        CT s = acc ? load(C[e * sc + i + j * ldc]) : (CT)0;
        for (long long p = 0; p < k; ++p) {
          T a = ta ? A[e * sa + p + i * lda] : A[e * sa + i + p * lda];
          T b = tb ? B[e * sb + j + p * ldb] : B[e * sb + p + j * ldb];
          s += load(a) * load(b);
        }
        C[e * sc + i + j * ldc] = store(s);
      }
}
