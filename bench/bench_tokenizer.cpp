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
#include "flops.h"
#include "tokenizer/tokenizer.h"

using namespace himtok;
using namespace himtok::bench;

namespace {

std::string preset() {
  const char* p = std::getenv("HIMTOK_BENCH_PRESET");
  return p ? p : "official-large";
}

int threads() {
  const char* t = std::getenv("HIMTOK_BENCH_THREADS");
  return tok::set_threads(t ? std::atoi(t) : 0);
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
  const double flops = encode_flops(model->cfg) * static_cast<double>(B);
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
