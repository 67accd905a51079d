// Speed of the released InternVL2.5-HiMTok-8B shapes, part by part (a whole 8B model with random
// weights is 17.5 GB: too big to make on every run). Each benchmark builds the real widths with
// random bf16 weights (the dtype of the released files, computed as `himtok segment` computes them:
// fp32 activations over bf16 weights on the CPU, lmm/layers.h) and times one piece; one answer is
// the sum (docs/BENCHMARKS.md adds them up):
//   MemoryBandwidth       read 2 GiB once: the bound for a decode step (stream the weights once)
//   VitLayer/5            one InternViT-300M layer (1024 wide, 16 heads, MLP 4096) on 5 tiles x 1025 tokens
//   Projector/5           mlp1 (LN 4096 -> 4096 -> GELU -> 4096) on 5 x 256 tokens
//   LlmPrefillLayer/N     one InternLM2 layer (4096, 32/8 heads, FFN 14336) on an N-token prompt
//   LlmDecodeLayer/N      the same layer, 1 new token after N cached tokens
//   OutputHead            the 93,579 x 4096 output matrix on one position (each step's logits)
//
//   build/bench/bench_lmm --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//   HIMTOK_BENCH_THREADS=2 (default: all cores); HIMTOK_BENCH_DEVICE=cuda (a CUDA libtorch; bf16)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/utils.h>

#include <cstdlib>
#include <memory>

#include "lmm/config.h"
#include "lmm/layers.h"
#include "lmm/model.h"
#include "tokenizer/tokenizer.h"

using namespace himtok;

namespace {

int threads() {
  const char* t = std::getenv("HIMTOK_BENCH_THREADS");
  return tok::set_threads(t ? std::atoi(t) : 0);
}

at::Device device() {
  const char* d = std::getenv("HIMTOK_BENCH_DEVICE");
  return at::Device(d ? d : "cpu");
}

// The 8B config with one layer in each tower (the per-layer cost is what is measured).
lmm::LmmConfig one_layer_8b() {
  lmm::LmmConfig c = lmm::lmm_config_preset("internvl2_5-8b");
  c.vision.n_layers = 1;
  c.llm.n_layers = 1;
  c.tokens.img_context_id = 92546;
  return c;
}

// Built once: shapes only, then random bf16 weights (norm weights 1), as a loaded release.
lmm::LmmModel& model() {
  static lmm::LmmModel m = [] {
    threads();
    lmm::LmmModel mm{nullptr};
    {
      lmm::SkipInit skip;
      mm = lmm::LmmModel(one_layer_8b());
    }
    torch::NoGradGuard ng;
    at::manual_seed(0);
    for (auto& p : mm->named_parameters(true)) {
      const bool norm = p.key().find("norm") != std::string::npos || p.key().find("ls") != std::string::npos ||
                        p.key().find("mlp1.0") != std::string::npos;
      at::Tensor v = norm ? at::ones(p.value().sizes()) : at::randn(p.value().sizes()) * 0.02;
      p.value().set_data(v.to(at::kBFloat16));
    }
    mm->eval();
    const at::Device dev = device();
    if (dev.is_cuda()) {
      mm->to(dev);
      mm->set_compute_dtype(at::kBFloat16);
    }
    return mm;
  }();
  return m;
}

at::TensorOptions act() {
  return at::TensorOptions().dtype(model()->compute_dtype()).device(device());
}

void sync() {
  if (device().is_cuda()) at::zeros({1}, act()).cpu();
}

void BM_MemoryBandwidth(benchmark::State& st) {
  threads();
  const int64_t n = int64_t(1) << 29;  // 2 GiB of fp32
  at::Tensor big = at::ones({n});
  for (auto _ : st) benchmark::DoNotOptimize(big.sum().item<float>());
  st.counters["GB/s"] = benchmark::Counter(static_cast<double>(n) * 4 * static_cast<double>(st.iterations()) / 1e9,
                                           benchmark::Counter::kIsRate);
}

void BM_VitLayer(benchmark::State& st) {
  torch::NoGradGuard ng;
  auto layer = model()->vision_model->encoder->layers[0]->as<lmm::VisionLayer>();
  const at::Tensor x = at::randn({st.range(0), 1025, 1024}, act());
  for (auto _ : st) {
    benchmark::DoNotOptimize(layer->forward(x));
    sync();
  }
  st.counters["tiles"] = static_cast<double>(st.range(0));
}

void BM_Projector(benchmark::State& st) {
  torch::NoGradGuard ng;
  const at::Tensor x = at::randn({st.range(0), 256, 4096}, act());
  for (auto _ : st) {
    benchmark::DoNotOptimize(model()->mlp1->forward(x));
    sync();
  }
}

lmm::DecoderLayerImpl* llm_layer() { return model()->language_model->model->layers[0]->as<lmm::DecoderLayer>(); }

void BM_LlmPrefillLayer(benchmark::State& st) {
  torch::NoGradGuard ng;
  const int64_t n = st.range(0);
  const at::Tensor x = at::randn({1, n, 4096}, act());
  const lmm::RotaryTables rot = lmm::rotary_tables(at::arange(n, act().dtype(at::kLong)).unsqueeze(0), 128, 1e6);
  for (auto _ : st) {
    benchmark::DoNotOptimize(llm_layer()->forward(x, rot, at::Tensor(), nullptr, 0));
    sync();
  }
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(n) * static_cast<double>(st.iterations()) / 32.0,
                                               benchmark::Counter::kIsRate);  // per 32-layer model
}

void BM_LlmDecodeLayer(benchmark::State& st) {
  torch::NoGradGuard ng;
  const int64_t n = st.range(0);
  lmm::KvCache cache;
  cache.k.assign(1, at::randn({1, 8, n, 128}, act()));
  cache.v.assign(1, at::randn({1, 8, n, 128}, act()));
  const at::Tensor x = at::randn({1, 1, 4096}, act());
  const lmm::RotaryTables rot = lmm::rotary_tables(at::full({1, 1}, n, act().dtype(at::kLong)), 128, 1e6);
  for (auto _ : st) {
    lmm::KvCache c = cache;  // shallow: the layer appends by concatenation, the originals stay
    benchmark::DoNotOptimize(llm_layer()->forward(x, rot, at::Tensor(), &c, 0));
    sync();
  }
  const double bytes = 2.0 * (4096.0 * 6144 + 4096.0 * 4096 + 3 * 4096.0 * 14336);  // bf16 weights of a layer
  st.counters["weight GB/s"] =
      benchmark::Counter(bytes * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_OutputHead(benchmark::State& st) {
  torch::NoGradGuard ng;
  const at::Tensor x = at::randn({1, 4096}, act());
  for (auto _ : st) {
    benchmark::DoNotOptimize(model()->language_model->output->forward(x));
    sync();
  }
  st.counters["weight GB/s"] = benchmark::Counter(2.0 * 93579 * 4096 * static_cast<double>(st.iterations()) / 1e9,
                                                  benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_MemoryBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_VitLayer)->Arg(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Projector)->Arg(5)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LlmPrefillLayer)->Arg(1346)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LlmDecodeLayer)->Arg(1346)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OutputHead)->Unit(benchmark::kMillisecond)->UseRealTime();
