// De-tokenizer (and encoder) speed through the MaskTokenizer facade, the way the LMM and the CLI
// call it, on the CPU or a CUDA device, fp32 and/or bf16; random weights (seed 0) at a preset's
// sizes (default official-large). scripts/bench_detok.sh runs it beside the official Python code.
//
//   build/bench_detok [--device cpu|cuda] [--dtypes fp32,bf16] [--preset official-large|FILE.json]
//                     [--threads N] [--batches 1,8] [--ops decode,encode,prepare] [--reps 3]
//                     [--profile] [--fidelity MODEL.safetensors,MASKS.json[,N]]  [Google Benchmark flags]
//
// Benchmarks (one warm-up call per (op, dtype, batch) first, outside the timing; then --reps
// repetitions of 1 iteration each; read the _median rows):
//   Decode/<dtype>/B:<B>  MaskTokenizer::decode_probs(p, B, L), p = softmax(3 randn) over K codes,
//                         host floats in, host probability maps out (MaskDecoder.decode_prob path)
//   Encode/<dtype>/B:<B>  MaskTokenizer::encode(B random binary S x S masks) -> ids
//   Prepare/<path>/B:<B>  (--ops prepare) the stretch geometry alone, for B masks of 480x640 (a COCO
//                         image size): `serial` is the former path (prepare_stretch per mask on one
//                         thread, stacked as (B,3,S,S) float, copied to the device); `batched` is
//                         encode's path (stretch_batch_u8 on the intra-op threads, one (B,S,S) uint8
//                         copy, pinned on CUDA, u8_to_input on the device). Ends with one value read.
//   GemmFp32              2048^3 at::mm: this machine's fp32 GEMM rate in the same run
//   AttentionFp32/ours, /bmm_reference   one decoder-ViT attention (B=1): nn::attention vs at::matmul
//                         over all heads (what nn::attention did before, and what torch's MHA does)
// Counters: ms_per_mask, GFLOPs (achieved, from the analytic FLOP count of the config).
//
// --profile: before the benchmarks, one decode per dtype at the first batch size is run under
//   libtorch's (legacy) autograd profiler (nn/op_profile.h) and printed as a self-time table by op
//   (on CUDA: device time from CUDA events around each op, and the CPU launch time), plus the time
//   of each stage (codebook lookup, decoder ViT + ffn, pixel decoder) measured separately.
// --fidelity: masks of a COCO file (first N, default 64) are encoded with the trained model in
//   fp32; their ids are decoded in fp32 and bf16 (decode_ids, and decode_probs with one-hot rows)
//   and the thresholded (p > 0.5) masks compared: mean and min IoU, printed before the benchmarks.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/mask_source.h"
#include "nn/attention.h"
#include "nn/cpu_allocator.h"
#include "nn/op_profile.h"
#include "tokenizer/himt.h"
#include "tokenizer/prepare.h"
#include "flops.h"
#include "tokenizer/tokenizer.h"

using namespace himtok;
using namespace himtok::bench;

namespace {

// ---------------------------------------------------------------------------------------------
// Options (ours; everything else goes to Google Benchmark)

struct Options {
  std::string device = "cpu";
  std::vector<std::string> dtypes{"fp32", "bf16"};
  std::string preset = "official-large";
  int threads = 0;
  std::vector<int64_t> batches{1, 8};
  std::set<std::string> ops{"decode", "encode"};
  int reps = 3;
  bool profile = false;
  std::string fidelity;  // MODEL,MASKS[,N]
};

Options& opts() {
  static Options o;
  return o;
}

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Takes our flags out of argv (so that benchmark::Initialize sees only its own).
void parse_options(int* argc, char** argv) {
  Options& o = opts();
  int w = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name) -> const char* {
      if (a == name && i + 1 < *argc) return argv[++i];
      if (a.rfind(name + "=", 0) == 0) return argv[i] + name.size() + 1;
      return nullptr;
    };
    if (const char* v = value("--device")) o.device = v;
    else if (const char* v = value("--dtypes")) o.dtypes = split(v);
    else if (const char* v = value("--preset")) o.preset = v;
    else if (const char* v = value("--threads")) o.threads = std::atoi(v);
    else if (const char* v = value("--batches")) {
      o.batches.clear();
      for (const auto& b : split(v)) o.batches.push_back(std::atoll(b.c_str()));
    } else if (const char* v = value("--ops")) {
      auto l = split(v);
      o.ops = std::set<std::string>(l.begin(), l.end());
    } else if (const char* v = value("--reps")) o.reps = std::max(1, std::atoi(v));
    else if (const char* v = value("--fidelity")) o.fidelity = v;
    else if (a == "--profile") o.profile = true;
    else argv[w++] = argv[i];
  }
  *argc = w;
}

tok::LoadOptions load_options(const std::string& dtype) {
  tok::LoadOptions lo;
  lo.threads = opts().threads;
  lo.device = opts().device;
  lo.dtype = dtype;
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Analytic FLOPs (2 x multiply-adds) of one decode (decoder ViT + ffn + pixel decoder), one encode


// ---------------------------------------------------------------------------------------------
// Models and inputs, made once

struct Inputs {
  std::vector<float> probs;  // (Bmax, L, K)
  std::vector<Mask> masks;   // Bmax binary S x S
};

tok::TokenizerConfig config() { return tok::TokenizerConfig::resolve(opts().preset); }

tok::MaskTokenizer& model(const std::string& dtype) {
  static std::map<std::string, std::unique_ptr<tok::MaskTokenizer>> by_dtype;
  auto it = by_dtype.find(dtype);
  if (it == by_dtype.end())
    it = by_dtype.emplace(dtype, std::make_unique<tok::MaskTokenizer>(
                                     tok::MaskTokenizer::random(config(), 0, load_options(dtype)))).first;
  return *it->second;
}

const Inputs& inputs() {
  static Inputs in = [] {
    Inputs s;
    const auto c = config();
    const int64_t B = *std::max_element(opts().batches.begin(), opts().batches.end());
    at::manual_seed(1);
    at::Tensor p = at::softmax(at::randn({B, c.num_latent_tokens, c.codebook_size}) * 3.0, -1).contiguous();
    s.probs.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    at::Tensor m = (at::rand({B, c.image_size, c.image_size}) > 0.5).to(at::kByte).contiguous();
    for (int64_t b = 0; b < B; ++b) {
      Mask mk(c.image_size, c.image_size);
      std::copy(m[b].data_ptr<uint8_t>(), m[b].data_ptr<uint8_t>() + m[b].numel(), mk.data.begin());
      s.masks.push_back(std::move(mk));
    }
    return s;
  }();
  return in;
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

void set_counters(benchmark::State& st, double flops_per_mask, int64_t B) {
  st.counters["GFLOPs"] = benchmark::Counter(flops_per_mask * static_cast<double>(B),
                                             benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  st.counters["ms_per_mask"] = benchmark::Counter(static_cast<double>(B) / 1000.0,
                                                  benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void bm_decode(benchmark::State& st, std::string dtype, int64_t B) {
  auto& m = model(dtype);
  const int64_t L = m.config().num_latent_tokens, K = m.config().codebook_size;
  std::vector<float> p(inputs().probs.begin(), inputs().probs.begin() + B * L * K);
  static std::set<std::string> warm;
  if (warm.insert(dtype + std::to_string(B)).second) m.decode_probs(p, B, L);
  for (auto _ : st) benchmark::DoNotOptimize(m.decode_probs(p, B, L).data());
  set_counters(st, decode_flops(m.config()), B);
}

void bm_encode(benchmark::State& st, std::string dtype, int64_t B) {
  auto& m = model(dtype);
  std::vector<Mask> x(inputs().masks.begin(), inputs().masks.begin() + B);
  static std::set<std::string> warm;
  if (warm.insert(dtype + std::to_string(B)).second) m.encode(x);
  for (auto _ : st) benchmark::DoNotOptimize(m.encode(x).data());
  set_counters(st, encode_flops(m.config()), B);
}

// 480x640 binary masks: an ellipse per mask, its centre and axes varying with b.
const std::vector<Mask>& coco_sized_masks() {
  static const std::vector<Mask> masks = [] {
    std::vector<Mask> v;
    for (int64_t b = 0; b < 256; ++b) {
      Mask m(480, 640);
      const double cy = 120 + (b * 37) % 240, cx = 160 + (b * 53) % 320, ry = 40 + b % 80, rx = 60 + (b * 7) % 120;
      for (int64_t y = 0; y < m.h; ++y)
        for (int64_t x = 0; x < m.w; ++x)
          m.at(y, x) = ((y - cy) * (y - cy) / (ry * ry) + (x - cx) * (x - cx) / (rx * rx)) <= 1.0;
      v.push_back(std::move(m));
    }
    return v;
  }();
  return masks;
}

void bm_prepare(benchmark::State& st, bool batched, int64_t B) {
  tok::set_threads(opts().threads);
  const at::Device dev(opts().device == "cuda" ? at::kCUDA : at::kCPU);
  const int64_t S = 256;
  std::vector<Mask> masks;
  for (int64_t b = 0; b < B; ++b) masks.push_back(coco_sized_masks()[static_cast<size_t>(b % 256)]);
  auto run = [&] {
    at::Tensor x;
    if (batched) {
      x = tok::u8_to_input(tok::stretch_batch_u8(masks, S, dev.is_cuda()).to(dev, /*non_blocking=*/dev.is_cuda()));
    } else {
      std::vector<at::Tensor> xs;
      for (const Mask& m : masks) xs.push_back(tok::prepare_stretch(m, S));
      x = at::stack(xs).to(dev);
    }
    return x[B - 1][2][S - 1][S - 1].item<float>();  // one value back: waits for the device
  };
  run();
  for (auto _ : st) benchmark::DoNotOptimize(run());
  st.counters["ms_per_mask"] = benchmark::Counter(static_cast<double>(B) / 1000.0,
                                                  benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void bm_gemm(benchmark::State& st) {
  tok::set_threads(opts().threads);
  const int64_t n = 2048;
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  for (auto _ : st) benchmark::DoNotOptimize(at::mm(a, b));
  st.counters["GFLOPs"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

// One ViT attention of the config (q, k, v strided views of one (B,T,3C) projection, as the blocks
// call it): nn::attention against the all-heads-at-once formulation it replaced on the CPU.
void bm_attention(benchmark::State& st, bool reference) {
  tok::set_threads(opts().threads);
  const auto c = config();
  const int64_t B = st.range(0), T = 1 + c.n_patches() + c.num_latent_tokens, H = c.heads, hd = c.width / c.heads;
  at::NoGradGuard ng;
  at::Tensor qkv = at::randn({B, T, 3 * c.width}).view({B, T, 3, H, hd}).permute({2, 0, 3, 1, 4});  // (3,B,H,T,hd)
  const at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  auto ref = [&] {
    at::Tensor s = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
    return at::matmul(at::softmax(s, -1), v);
  };
  for (auto _ : st) benchmark::DoNotOptimize((reference ? ref() : nn::attention(q, k, v, at::Tensor())).data_ptr());
}

// ---------------------------------------------------------------------------------------------
// --profile: self time by op (nn/op_profile.h) + stage times

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void run_profile() {
  const auto c = config();
  const int64_t B = opts().batches.front();
  tok::set_threads(opts().threads);
  for (const auto& dtype : opts().dtypes) {
    at::manual_seed(0);
    tok::HiMT m(c);
    m->eval();
    m->to(at::Device(opts().device));
    if (dtype == "bf16") m->to_inference_dtype(at::kBFloat16);
    at::NoGradGuard ng;
    at::Tensor p = at::softmax(at::randn({B, c.num_latent_tokens, c.codebook_size}) * 3.0, -1).to(at::Device(opts().device));
    auto sync = [&](const at::Tensor& t) { return t.to(at::kCPU); };  // waits for the device
    sync(m->decode_probs(p));  // warm-up
    // stage times
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor z = m->quantize->lookup_probs(p);
    sync(z);
    const double t_lookup = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    at::Tensor f = m->decoder->forward(z);
    sync(f);
    const double t_vit = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    at::Tensor y = m->pixel_decoder->forward(f);
    sync(y);
    const double t_pix = ms_since(t0);
    std::printf("himtok %s decode_probs B=%lld stages: lookup %.1f ms, decoder ViT+ffn %.1f ms, pixel decoder %.1f ms\n",
                dtype.c_str(), static_cast<long long>(B), t_lookup, t_vit, t_pix);
    // op table
    nn::start_op_profile(/*cuda=*/opts().device == "cuda");  // on CUDA: device time by op beside the launch cost
    t0 = std::chrono::steady_clock::now();
    sync(m->decode_probs(p));
    const double total = ms_since(t0);
    const std::vector<nn::OpTime> ops = nn::stop_op_profile();
    std::printf("himtok %s decode_probs B=%lld under the profiler: %.1f ms\n", dtype.c_str(), static_cast<long long>(B), total);
    std::fputs(nn::format_op_profile(ops, total, 22).c_str(), stdout);
    std::fflush(stdout);
  }
}

// ---------------------------------------------------------------------------------------------
// --fidelity: bf16 vs fp32 masks on trained weights

// Intersection and union of the thresholded (p > 0.5) maps.
struct IU {
  int64_t inter = 0, uni = 0;
};
IU inter_union(const FloatMap& a, const FloatMap& b) {
  IU r;
  for (size_t i = 0; i < a.data.size(); ++i) {
    const bool x = a.data[i] > 0.5f, y = b.data[i] > 0.5f;
    r.inter += x && y;
    r.uni += x || y;
  }
  return r;
}

// Per-mask IoUs and the pooled sum(I) / sum(U) of one comparison.
struct Agreement {
  std::vector<double> ious;
  int64_t inter = 0, uni = 0;
  void add(const FloatMap& a, const FloatMap& b) {
    const IU r = inter_union(a, b);
    ious.push_back(r.uni == 0 ? 1.0 : static_cast<double>(r.inter) / static_cast<double>(r.uni));
    inter += r.inter;
    uni += r.uni;
  }
};

void run_fidelity() {
  auto parts = split(opts().fidelity);
  if (parts.size() < 2) throw std::runtime_error("--fidelity MODEL,MASKS[,N]");
  const size_t n_max = parts.size() > 2 ? std::stoul(parts[2]) : 64;
  auto src = data::open_mask_source(parts[1]);
  std::vector<Mask> masks;
  for (size_t i = 0; i < std::min(n_max, src->size()); ++i) masks.push_back(src->get(i).mask);
  std::map<std::string, std::unique_ptr<tok::MaskTokenizer>> m;
  for (const char* dt : {"fp32", "bf16"}) {
    tok::LoadOptions lo = load_options(dt);
    lo.weights = parts[0];
    m.emplace(dt, std::make_unique<tok::MaskTokenizer>(tok::MaskTokenizer::load(lo)));
  }
  const int64_t K = m.at("fp32")->config().codebook_size;
  const size_t chunk = 8;
  // The conditioning baseline: fp32 decoding of one-hot rows blended with 2^-8 (bf16's rounding
  // unit) of random probability mass, i.e. input noise of bf16's size and nothing else rounded.
  const float eps = 1.f / 256.f;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unif(0.f, 1.f);
  Agreement ag_ids, ag_probs, ag_noise;
  int64_t same_ids = 0, total_ids = 0, undecided = 0, fg = 0;
  for (size_t s = 0; s < masks.size(); s += chunk) {
    std::vector<Mask> batch(masks.begin() + s, masks.begin() + std::min(masks.size(), s + chunk));
    auto ids = m.at("fp32")->encode(batch);
    auto ids_bf16 = m.at("bf16")->encode(batch);
    for (size_t b = 0; b < ids.size(); ++b)
      for (size_t t = 0; t < ids[b].size(); ++t) same_ids += ids[b][t] == ids_bf16[b][t], ++total_ids;
    auto a = m.at("fp32")->decode_ids(ids), c = m.at("bf16")->decode_ids(ids);
    for (size_t b = 0; b < a.size(); ++b) ag_ids.add(a[b], c[b]);
    const int64_t B = static_cast<int64_t>(ids.size()), T = static_cast<int64_t>(ids[0].size());
    std::vector<float> onehot(static_cast<size_t>(B * T * K), 0.f), noisy(onehot.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        onehot[static_cast<size_t>((b * T + t) * K + ids[b][t])] = 1.f;
        float sum = 0.f;
        float* row = &noisy[static_cast<size_t>((b * T + t) * K)];
        for (int64_t k = 0; k < K; ++k) sum += (row[k] = unif(rng));
        for (int64_t k = 0; k < K; ++k) row[k] = row[k] / sum * eps + (k == ids[b][t] ? 1.f - eps : 0.f);
      }
    a = m.at("fp32")->decode_probs(onehot, B, T);
    c = m.at("bf16")->decode_probs(onehot, B, T);
    auto n = m.at("fp32")->decode_probs(noisy, B, T);
    for (size_t b = 0; b < a.size(); ++b) {
      ag_probs.add(a[b], c[b]);
      ag_noise.add(a[b], n[b]);
      for (float p : a[b].data) fg += p > 0.5f, undecided += p > 0.45f && p < 0.55f;
    }
  }
  auto report = [](const char* what, const Agreement& g) {
    std::vector<double> v = g.ious;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    std::printf("fidelity %s over %zu masks (p > 0.5): mean IoU %.4f, median %.4f, min %.4f, pooled I/U %.4f\n", what,
                v.size(), sum / static_cast<double>(v.size()), v[v.size() / 2], v.front(),
                g.uni ? static_cast<double>(g.inter) / static_cast<double>(g.uni) : 1.0);
  };
  std::printf("fidelity model %s, masks %s (first %zu)\n", parts[0].c_str(), parts[1].c_str(), masks.size());
  report("bf16 vs fp32, decode_ids", ag_ids);
  report("bf16 vs fp32, decode_probs(one-hot)", ag_probs);
  report("fp32 vs fp32 with 2^-8 input noise (conditioning baseline)", ag_noise);
  std::printf("fidelity fp32 maps: %.2f%% of the foreground pixels have 0.45 < p < 0.55\n",
              fg ? 100.0 * static_cast<double>(undecided) / static_cast<double>(fg) : 0.0);
  std::printf("fidelity encode: bf16 ids equal to fp32 ids: %lld / %lld\n", static_cast<long long>(same_ids),
              static_cast<long long>(total_ids));
  std::fflush(stdout);
}

}  // namespace

int run_main(int argc, char** argv) {
  parse_options(&argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const Options& o = opts();
  const bool cached = nn::use_caching_cpu_allocator();  // as the CLI runs; HIMTOK_CPU_CACHE_MB=0: libtorch's own
  const int threads = tok::set_threads(o.threads);
  std::printf("bench_detok: device %s, preset %s, threads %d (libtorch intra-op %d), reps %d, CPU allocator %s\n",
              o.device.c_str(), o.preset.c_str(), threads, at::get_num_threads(), o.reps,
              cached ? "caching (nn/cpu_allocator.h)" : "libtorch's default");
  if (!o.fidelity.empty()) run_fidelity();
  if (o.profile) run_profile();
  benchmark::RegisterBenchmark("GemmFp32", bm_gemm)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
  benchmark::RegisterBenchmark("AttentionFp32/ours", bm_attention, false)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
  benchmark::RegisterBenchmark("AttentionFp32/bmm_reference", bm_attention, true)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
  for (const auto& dt : o.dtypes)
    for (int64_t B : o.batches) {
      const std::string tag = dt + "/B:" + std::to_string(B);
      if (o.ops.count("decode"))
        benchmark::RegisterBenchmark(("Decode/" + tag).c_str(), bm_decode, dt, B)
            ->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(o.reps)->UseRealTime();
      if (o.ops.count("encode"))
        benchmark::RegisterBenchmark(("Encode/" + tag).c_str(), bm_encode, dt, B)
            ->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(o.reps)->UseRealTime();
    }
  if (o.ops.count("prepare"))
    for (int64_t B : o.batches)
      for (bool batched : {false, true})
        benchmark::RegisterBenchmark(
            ((batched ? "Prepare/batched/B:" : "Prepare/serial/B:") + std::to_string(B)).c_str(), bm_prepare, batched, B)
            ->Unit(benchmark::kMillisecond)->Repetitions(o.reps)->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (cached) {
    const nn::CpuCacheStats st = nn::cpu_cache_stats();
    std::printf("CPU allocator cache: %llu hits, %llu misses, %.0f MiB cached at exit (limit %.0f MiB)\n",
                static_cast<unsigned long long>(st.hits), static_cast<unsigned long long>(st.misses),
                st.cached_bytes / 1048576.0, st.limit_bytes / 1048576.0);
  }
  return 0;
}

// Bad options (an unreadable preset file, a malformed model) end in one line and exit 2, as the CLI's.
int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const c10::Error& e) {
    const std::string why = e.what_without_backtrace();
    std::fprintf(stderr, "bench_detok: error: %s\n", why.substr(0, why.find('\n')).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_detok: error: %s\n", e.what());
  }
  return 2;
}
