// Leaf modules with separate allocation and initialisation; the bf16-weight linear.
#include "lmm/layers.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace himtok::lmm {

namespace {
thread_local bool g_skip_init = false;
}  // namespace

SkipInit::SkipInit() : prev_(g_skip_init) { g_skip_init = true; }
SkipInit::~SkipInit() { g_skip_init = prev_; }
bool SkipInit::active() { return g_skip_init; }

void init_normal(at::Tensor& t, double std) {
  if (g_skip_init) return;
  torch::NoGradGuard ng;
  t.normal_(0.0, std);
}

void init_constant(at::Tensor& t, double value) {
  if (g_skip_init) return;
  torch::NoGradGuard ng;
  t.fill_(value);
}

at::Tensor as_dtype(const at::Tensor& t, at::ScalarType dtype) {
  return !t.defined() || t.scalar_type() == dtype ? t : t.to(dtype);
}

// ---------------------------------------------------------------------------------------------
// bf16 weights x fp32 activations on the CPU

namespace {

// bf16 is the upper half of an fp32: widening is a 16-bit shift.
inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void dot_rows_scalar(const uint16_t* w, const float* x, int64_t m, int64_t k, int64_t ldx, float* out, int64_t ldo) {
  for (int64_t r = 0; r < m; ++r) {
    float acc = 0.f;
    for (int64_t i = 0; i < k; ++i) acc += bf16_to_float(w[i]) * x[r * ldx + i];
    out[r * ldo] = acc;
  }
}

#if defined(__x86_64__)
// out[r * ldo] = dot(w[0:k], x[r, 0:k]) for r < m (m <= 4): one pass over the weight row, 8 lanes
// at a time, 2 accumulators per activation row to hide the FMA latency.
__attribute__((target("avx2,fma"))) void dot_rows_avx2(const uint16_t* w, const float* x, int64_t m, int64_t k,
                                                       int64_t ldx, float* out, int64_t ldo) {
  __m256 acc[4][2];
  for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 w0 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i))), 16));
    const __m256 w1 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8))), 16));
    for (int64_t r = 0; r < m; ++r) {
      acc[r][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * ldx + i), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * ldx + i + 8), acc[r][1]);
    }
  }
  for (int64_t r = 0; r < m; ++r) {
    const __m256 s = _mm256_add_ps(acc[r][0], acc[r][1]);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float acc_s = _mm_cvtss_f32(h);
    for (int64_t j = i; j < k; ++j) acc_s += bf16_to_float(w[j]) * x[r * ldx + j];
    out[r * ldo] = acc_s;
  }
}

// 8 bf16 at p widened to fp32.
__attribute__((target("avx2,fma"))) inline __m256 widen_bf16(const uint16_t* p) {
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}

// out[j] = dot(w[j, 0:k], x[0:k]) for 4 consecutive weight rows at once (one activation row): each
// 8-lane step of x is loaded once for the 4 rows, and 8 independent accumulators (4 rows x 2
// steps) keep both FMA pipes busy, so the loop runs at the speed the weights stream from memory.
__attribute__((target("avx2,fma"))) void dot4_rows_avx2(const uint16_t* w, int64_t ldw, const float* x, int64_t k,
                                                        float* out) {
  __m256 a[4][2];
  for (auto& r : a) r[0] = r[1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    for (int r = 0; r < 4; ++r) {
      a[r][0] = _mm256_fmadd_ps(widen_bf16(w + r * ldw + i), x0, a[r][0]);
      a[r][1] = _mm256_fmadd_ps(widen_bf16(w + r * ldw + i + 8), x1, a[r][1]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    const __m256 s = _mm256_add_ps(a[r][0], a[r][1]);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float acc = _mm_cvtss_f32(h);
    for (int64_t j = i; j < k; ++j) acc += bf16_to_float(w[r * ldw + j]) * x[j];
    out[r] = acc;
  }
}
#endif

bool have_avx2() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

constexpr int64_t kGemvRows = 4;            // activation rows up to which the dot kernel is used
constexpr int64_t kBlockElems = 1 << 22;    // weight elements converted to fp32 at a time (16 MB)

// x2: (M, K) fp32 contiguous; w: (N, K) bf16 with unit column stride -> (M, N) fp32.
at::Tensor linear_bf16w_cpu(const at::Tensor& x2, const at::Tensor& w) {
  const int64_t m = x2.size(0), k = x2.size(1), n = w.size(0);
  at::Tensor out = at::empty({m, n}, x2.options());
  if (m <= kGemvRows) {
    const auto* wp = reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>());
    const int64_t ldw = w.stride(0);
    const float* xp = x2.data_ptr<float>();
    float* op = out.data_ptr<float>();
    const bool avx2 = have_avx2();
    at::parallel_for(0, n, 16, [&](int64_t n0, int64_t n1) {
      int64_t j = n0;
#if defined(__x86_64__)
      if (avx2 && m == 1)
        for (; j + 4 <= n1; j += 4) dot4_rows_avx2(wp + j * ldw, ldw, xp, k, op + j);
#endif
      for (; j < n1; ++j) {
#if defined(__x86_64__)
        if (avx2) {
          dot_rows_avx2(wp + j * ldw, xp, m, k, k, op + j, n);
          continue;
        }
#endif
        dot_rows_scalar(wp + j * ldw, xp, m, k, k, op + j, n);
      }
    });
    return out;
  }
  const int64_t nb = std::max<int64_t>(1, kBlockElems / std::max<int64_t>(k, 1));
  for (int64_t n0 = 0; n0 < n; n0 += nb) {
    const int64_t len = std::min(nb, n - n0);
    const at::Tensor wf = w.narrow(0, n0, len).to(at::kFloat);  // (len, K)
    out.narrow(1, n0, len).copy_(at::mm(x2, wf.t()));
  }
  return out;
}

}  // namespace

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::ScalarType dt = x.scalar_type();
  if (w.scalar_type() == dt) return at::linear(x, w, as_dtype(b, dt));
  if (x.is_cpu() && dt == at::kFloat && w.scalar_type() == at::kBFloat16 && w.dim() == 2 && w.stride(1) == 1 &&
      x.size(-1) == w.size(1)) {
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = w.size(0);
    at::Tensor y = linear_bf16w_cpu(x.reshape({-1, x.size(-1)}).contiguous(), w);
    if (b.defined()) y.add_(as_dtype(b, dt));
    return y.view(shape);
  }
  return at::linear(x, w.to(dt), as_dtype(b, dt));
}

// ---------------------------------------------------------------------------------------------
// Modules

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias, double std) {
  weight = register_parameter("weight", at::empty({out, in}, at::kFloat));
  init_normal(weight, std);
  if (with_bias) {
    bias = register_parameter("bias", at::empty({out}, at::kFloat));
    init_constant(bias, 0.0);
  }
}

EmbeddingImpl::EmbeddingImpl(int64_t n, int64_t dim, double std) {
  weight = register_parameter("weight", at::empty({n, dim}, at::kFloat));
  init_normal(weight, std);
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids, c10::optional<at::ScalarType> dtype) {
  at::Tensor e = at::embedding(weight, ids);
  return dtype ? as_dtype(e, *dtype) : e;
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}, at::kFloat));
  bias = register_parameter("bias", at::zeros({dim}, at::kFloat));
}

at::Tensor LayerNormImpl::forward(const at::Tensor& x) {
  const at::ScalarType dt = x.scalar_type();
  return at::layer_norm(x, {weight.size(0)}, as_dtype(weight, dt), as_dtype(bias, dt), eps_);
}

}  // namespace himtok::lmm
