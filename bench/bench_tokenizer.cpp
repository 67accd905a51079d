// Encode/decode speed of the tokenizer (random weights; default: the official-large preset) at
// batch 1 and 8, fp32 and bf16, next to this machine's fp32 GEMM throughput measured in the same
// run. Counters: ms_per_mask, GFLOPs (achieved, from the analytic FLOP count of the config),
// and for bf16 the IoU of its thresholded masks against fp32.
//
//   build/bench_tokenizer --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   HIMTOK_BENCH_PRESET=tiny build/bench_tokenizer       (a quick run)
//   HIMTOK_BENCH_THREADS=2 (default: all cores)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "tokenizer/himt.h"
#include "tokenizer/tokenizer.h"

using namespace himtok;

namespace {

std::string preset() {
  const char* p = std::getenv("HIMTOK_BENCH_PRESET");
  return p ? p : "official-large";
}

int threads() {
  const char* t = std::getenv("HIMTOK_BENCH_THREADS");
  return tok::set_threads(t ? std::atoi(t) : 0);
}

// Multiply-adds x 2 of one decode (decoder ViT + ffn + pixel decoder) and one encode.
double vit_flops(const tok::TokenizerConfig& c) {
  const double C = static_cast<double>(c.width), T = static_cast<double>(1 + c.n_patches() + c.num_latent_tokens);
  const double per_layer = T * (4 * C * C + 2 * C * C * static_cast<double>(c.mlp_ratio)) + 2 * T * T * C;
  return 2 * per_layer * static_cast<double>(c.depth);
}

double pixel_flops(const tok::TokenizerConfig& c) {
  double f = 0;
  int64_t res = c.grid();
  auto conv = [&](double cin, double cout, double k, int64_t r) { f += 2 * cin * cout * k * k * static_cast<double>(r * r); };
  int64_t block_in = c.pixel_hidden_channels * c.pixel_channel_mult.back();
  conv(static_cast<double>(c.pixel_z_channels), static_cast<double>(block_in), 3, res);
  for (int i = 0; i < 2; ++i) conv(block_in, block_in, 3, res), conv(block_in, block_in, 3, res);
  for (int64_t lvl = static_cast<int64_t>(c.pixel_channel_mult.size()) - 1; lvl >= 0; --lvl) {
    int64_t out = c.pixel_hidden_channels * c.pixel_channel_mult[static_cast<size_t>(lvl)];
    for (int64_t b = 0; b < c.pixel_num_res_blocks; ++b) {
      conv(static_cast<double>(block_in), static_cast<double>(out), 3, res);
      conv(static_cast<double>(out), static_cast<double>(out), 3, res);
      if (block_in != out) conv(static_cast<double>(out), static_cast<double>(out), 1, res);
      block_in = out;
    }
    if (lvl > 0) {
      res *= 2;
      conv(static_cast<double>(block_in), static_cast<double>(block_in), 3, res);
    }
  }
  conv(static_cast<double>(block_in), 3, 3, res);
  return f;
}

double decode_flops(const tok::TokenizerConfig& c) {
  const double ffn = 2.0 * static_cast<double>(c.n_patches()) *
                     (static_cast<double>(c.width) * 2 * static_cast<double>(c.width) +
                      2 * static_cast<double>(c.width) * static_cast<double>(c.pixel_z_channels));
  return vit_flops(c) + ffn + pixel_flops(c);
}

struct Models {
  std::map<std::string, tok::HiMT> by_dtype;
  at::Tensor ids8, pixels8;
  std::map<int64_t, at::Tensor> fp32_probs;
};

Models& models() {
  static Models m = [] {
    Models s;
    threads();
    auto cfg = tok::TokenizerConfig::preset(preset());
    torch::manual_seed(0);
    tok::HiMT f(cfg);
    f->eval();
    torch::manual_seed(0);
    tok::HiMT b(cfg);
    b->eval();
    b->to_inference_dtype(at::kBFloat16);
    s.by_dtype.emplace("fp32", f);
    s.by_dtype.emplace("bf16", b);
    s.ids8 = at::randint(cfg.codebook_size, {8, cfg.num_latent_tokens}, at::kLong);
    s.pixels8 = (at::rand({8, 1, cfg.image_size, cfg.image_size}) > 0.5).to(at::kFloat).expand({8, 3, cfg.image_size, cfg.image_size}).contiguous();
    return s;
  }();
  return m;
}

void BM_GemmFp32(benchmark::State& st) {
  threads();
  const int64_t n = 2048;
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  for (auto _ : st) benchmark::DoNotOptimize(at::mm(a, b));
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

void decode(benchmark::State& st, const std::string& dtype) {
  auto& m = models();
  const int64_t B = st.range(0);
  tok::HiMT model = m.by_dtype.at(dtype);
  at::Tensor ids = m.ids8.slice(0, 0, B);
  at::NoGradGuard ng;
  at::Tensor prob;
  for (auto _ : st) {
    prob = model->decode_tokens(ids);
    benchmark::DoNotOptimize(prob.data_ptr());
  }
  const double flops = decode_flops(model->cfg) * static_cast<double>(B);
  st.counters["GFLOPs"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  st.counters["ms_per_mask"] = benchmark::Counter(static_cast<double>(B) / 1000.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  st.counters["GFLOP_per_mask"] = decode_flops(model->cfg) / 1e9;
  if (dtype == "fp32") m.fp32_probs[B] = prob.to(at::kFloat);
  auto it = m.fp32_probs.find(B);
  if (dtype == "bf16" && it != m.fp32_probs.end()) {
    at::Tensor p = prob.to(at::kFloat) > 0.5, q = it->second > 0.5;
    st.counters["iou_vs_fp32"] = (p & q).sum().item<double>() / std::max(1.0, (p | q).sum().item<double>());
  }
}

void encode(benchmark::State& st, const std::string& dtype) {
  auto& m = models();
  const int64_t B = st.range(0);
  tok::HiMT model = m.by_dtype.at(dtype);
  at::Tensor x = m.pixels8.slice(0, 0, B);
  at::NoGradGuard ng;
  for (auto _ : st) benchmark::DoNotOptimize(model->encode(x).q.ids.data_ptr());
  const double flops = (vit_flops(model->cfg) + 2.0 * 3 * static_cast<double>(model->cfg.patch_size * model->cfg.patch_size) *
                                                     static_cast<double>(model->cfg.width * model->cfg.n_patches())) *
                       static_cast<double>(B);
  st.counters["GFLOPs"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  st.counters["ms_per_mask"] = benchmark::Counter(static_cast<double>(B) / 1000.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_DecodeFp32(benchmark::State& st) { decode(st, "fp32"); }
void BM_DecodeBf16(benchmark::State& st) { decode(st, "bf16"); }
void BM_EncodeFp32(benchmark::State& st) { encode(st, "fp32"); }
void BM_EncodeBf16(benchmark::State& st) { encode(st, "bf16"); }

}  // namespace

BENCHMARK(BM_GemmFp32)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_DecodeFp32)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_DecodeBf16)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_EncodeFp32)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_EncodeBf16)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK_MAIN();
