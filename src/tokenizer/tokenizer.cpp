#include "tokenizer/tokenizer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cmath>
#include <cstring>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "io/weights.h"
#include "tokenizer/himt.h"
#include "tokenizer/prepare.h"

namespace himtok::tok {

Geometry parse_geometry(const std::string& s) {
  if (s == "stretch") return Geometry::kStretch;
  if (s == "pad") return Geometry::kPad;
  throw InputError(str_cat("--geometry: '", s, "' is not one of stretch, pad"));
}

int set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

struct MaskTokenizer::Impl {
  HiMT model{nullptr};
  std::string prefix;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  int64_t n_params = 0;

  at::Tensor decode_z_batch(const at::Tensor& z) {
    at::NoGradGuard ng;
    return model->decode_z(z.to(device)).to(at::kCPU).to(at::kFloat);  // (B,1,S,S)
  }
  std::vector<FloatMap> to_maps(const at::Tensor& prob) {
    std::vector<FloatMap> out;
    for (int64_t b = 0; b < prob.size(0); ++b) out.push_back(to_float_map(prob[b][0]));
    return out;
  }
};

static void setup(MaskTokenizer::Impl& im, const TokenizerConfig& cfg, const LoadOptions& opt) {
  set_threads(opt.threads);
  if (opt.device == "cuda") {
    HIMTOK_CHECK_INPUT(torch::cuda::is_available(), "--device cuda: this libtorch has no CUDA device available");
    im.device = at::Device(at::kCUDA);
    // Every decode has the same shapes (B x 256 x 256 at a given batch), so cuDNN's autotuner pays
    // for itself after the first call of each batch size: let it pick the fastest convolutions.
    at::globalContext().setBenchmarkCuDNN(true);
  } else {
    HIMTOK_CHECK_INPUT(opt.device == "cpu", "--device: '", opt.device, "' is not one of cpu, cuda");
  }
  HIMTOK_CHECK_INPUT(opt.dtype == "fp32" || opt.dtype == "bf16", "--dtype: '", opt.dtype, "' is not one of fp32, bf16");
  im.dtype = opt.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  (void)cfg;
}

static void finish(MaskTokenizer::Impl& im) {
  im.model->eval();
  im.n_params = count_parameters(*im.model);
  im.model->to(im.device);
  if (im.dtype != at::kFloat) im.model->to_inference_dtype(im.dtype);
}

MaskTokenizer::MaskTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MaskTokenizer::MaskTokenizer(MaskTokenizer&&) noexcept = default;
MaskTokenizer& MaskTokenizer::operator=(MaskTokenizer&&) noexcept = default;
MaskTokenizer::~MaskTokenizer() = default;

MaskTokenizer MaskTokenizer::load(const LoadOptions& opt) {
  HIMTOK_CHECK_INPUT(!opt.weights.empty(), "no weights file given (--model)");
  io::Weights w = io::Weights::open(opt.weights);
  TokenizerConfig cfg;
  if (!opt.config.empty()) {
    cfg = TokenizerConfig::resolve(opt.config);
  } else {
    auto it = w.metadata().find(kMetaConfig);
    HIMTOK_CHECK_INPUT(it != w.metadata().end(), opt.weights,
                       ": the file carries no tokenizer config; pass --config PRESET|FILE.json (e.g. official-large)");
    cfg = TokenizerConfig::from_json(it->second, opt.weights + " metadata");
  }
  auto im = std::make_unique<Impl>();
  setup(*im, cfg, opt);
  std::string prefix = opt.prefix;
  if (prefix == "auto") {
    if (w.has("latent_tokens"))
      prefix = "";
    else if (w.has("mask_decoder.latent_tokens"))
      prefix = "mask_decoder.";
    else
      throw InputError(str_cat(opt.weights, ": holds neither 'latent_tokens' nor 'mask_decoder.latent_tokens'; ",
                               "not a HiMTok tokenizer (or pass --prefix)"));
  }
  im->prefix = prefix;
  im->model = HiMT(cfg);
  io::load_state_dict_strict(*im->model, w, prefix);
  finish(*im);
  return MaskTokenizer(std::move(im));
}

MaskTokenizer MaskTokenizer::random(const TokenizerConfig& cfg, uint64_t seed, const LoadOptions& opt) {
  auto im = std::make_unique<Impl>();
  setup(*im, cfg, opt);
  torch::manual_seed(seed);
  im->model = HiMT(cfg);
  finish(*im);
  return MaskTokenizer(std::move(im));
}

const TokenizerConfig& MaskTokenizer::config() const { return impl_->model->cfg; }
int64_t MaskTokenizer::n_params() const { return impl_->n_params; }
std::string MaskTokenizer::prefix() const { return impl_->prefix; }

std::vector<std::vector<int64_t>> MaskTokenizer::encode(const std::vector<Mask>& masks, Geometry g) {
  const int64_t S = config().image_size;
  HIMTOK_CHECK_INPUT(!masks.empty(), "encode: no masks");
  at::Tensor x;
  if (g == Geometry::kStretch) {
    // 8-bit stretched masks, made on the CPU threads, cross to the device in one copy (from
    // page-locked memory on a GPU) and become the float input there.
    const bool cuda = impl_->device.is_cuda();
    x = u8_to_input(stretch_batch_u8(masks, S, /*pinned=*/cuda).to(impl_->device, /*non_blocking=*/cuda));
  } else {
    std::vector<at::Tensor> xs;
    for (const Mask& m : masks) {
      HIMTOK_CHECK_INPUT(m.h > 0 && m.w > 0, "encode: empty mask");
      bool binary = true;
      for (uint8_t v : m.data) binary = binary && v <= 1;
      at::Tensor t = at::from_blob(const_cast<uint8_t*>(m.data.data()), {m.h, m.w}, at::kByte).clone();
      if (binary) t = t * 255;
      xs.push_back(prepare_pad(t, S));
    }
    x = at::stack(xs).to(impl_->device);
  }
  at::NoGradGuard ng;
  auto out = impl_->model->encode(x);
  at::Tensor ids = out.q.ids.to(at::kCPU).contiguous();
  std::vector<std::vector<int64_t>> res(masks.size());
  for (size_t b = 0; b < masks.size(); ++b)
    res[b].assign(ids[b].data_ptr<int64_t>(), ids[b].data_ptr<int64_t>() + ids.size(1));
  return res;
}

std::vector<FloatMap> MaskTokenizer::decode_ids(const std::vector<std::vector<int64_t>>& ids) {
  HIMTOK_CHECK_INPUT(!ids.empty(), "decode: no token rows");
  const int64_t T = static_cast<int64_t>(ids[0].size()), K = config().codebook_size, L = config().num_latent_tokens;
  HIMTOK_CHECK_INPUT(T >= 1 && T <= L, "decode: ", T, " tokens, expected 1..", L);
  at::Tensor t = at::empty({static_cast<int64_t>(ids.size()), T}, at::kLong);
  for (size_t b = 0; b < ids.size(); ++b) {
    HIMTOK_CHECK_INPUT(static_cast<int64_t>(ids[b].size()) == T, "decode: rows of different lengths in one batch");
    for (int64_t i = 0; i < T; ++i) {
      HIMTOK_CHECK_INPUT(ids[b][i] >= 0 && ids[b][i] < K, "decode: token id ", ids[b][i], " out of range [0,", K, ")");
      t[b][i] = ids[b][i];
    }
  }
  at::NoGradGuard ng;
  return impl_->to_maps(impl_->decode_z_batch(impl_->model->quantize->lookup(t.to(impl_->device))));
}

std::vector<FloatMap> MaskTokenizer::decode_probs(const std::vector<float>& probs, int64_t B, int64_t T) {
  const int64_t K = config().codebook_size, L = config().num_latent_tokens;
  HIMTOK_CHECK_INPUT(B >= 1 && T >= 1 && T <= L, "decode: ", T, " positions, expected 1..", L);
  HIMTOK_CHECK_INPUT(static_cast<int64_t>(probs.size()) == B * T * K, "decode: probability array has ", probs.size(),
                     " values, expected ", B * T * K);
  at::Tensor p = at::from_blob(const_cast<float*>(probs.data()), {B, T, K}, at::kFloat).clone();
  HIMTOK_CHECK_INPUT(at::isfinite(p).all().item<bool>(), "decode: probabilities contain NaN or Inf");
  at::NoGradGuard ng;
  return impl_->to_maps(impl_->decode_z_batch(impl_->model->quantize->lookup_probs(p.to(impl_->device))));
}

std::vector<FloatMap> MaskTokenizer::decode_logits(const std::vector<float>& logits, int64_t B, int64_t T, int64_t V,
                                                   int64_t mask_offset) {
  const int64_t K = config().codebook_size, L = config().num_latent_tokens;
  HIMTOK_CHECK_INPUT(B >= 1 && T >= 1 && T <= L, "decode: ", T, " logit rows, expected 1..", L);
  HIMTOK_CHECK_INPUT(static_cast<int64_t>(logits.size()) == B * T * V, "decode: logits have ", logits.size(),
                     " values, expected ", B * T * V);
  HIMTOK_CHECK_INPUT(mask_offset >= 0 && mask_offset + K <= V, "decode: mask offset ", mask_offset, " + ", K,
                     " codes exceeds the ", V, " logit columns");
  at::Tensor l = at::from_blob(const_cast<float*>(logits.data()), {B, T, V}, at::kFloat).slice(2, mask_offset, mask_offset + K);
  HIMTOK_CHECK_INPUT(at::isfinite(l).all().item<bool>(), "decode: logits contain NaN or Inf at the mask-token columns");
  at::Tensor p = at::softmax(l * 2.0, -1).contiguous();
  at::NoGradGuard ng;
  return impl_->to_maps(impl_->decode_z_batch(impl_->model->quantize->lookup_probs(p.to(impl_->device))));
}

}  // namespace himtok::tok
