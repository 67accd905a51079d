// LmmModel: extract_feature (InternVLChatModel.extract_feature), image-token substitution,
// training forward and KV-cached greedy generation (modeling_internvl_chat.py :: generate).
// Legend: B batch, T tokens, N images, I image tokens per image, C hidden, V vocabulary, K new tokens.
#include <ATen/ATen.h>
#include <torch/utils.h>

#include <chrono>
#include <limits>

#include "common/error.h"
#include "lmm/model.h"

namespace himtok::lmm {

ProjectorImpl::ProjectorImpl(int64_t in, int64_t hidden, double norm_eps, double init_std) {
  norm = register_module("0", LayerNorm(in, norm_eps));
  fc1 = register_module("1", Linear(in, hidden, true, init_std));
  fc2 = register_module("3", Linear(hidden, hidden, true, init_std));
}

at::Tensor ProjectorImpl::forward(const at::Tensor& x) {
  return fc2->forward(at::gelu(fc1->forward(norm->forward(x))));  // exact (erf) GELU, as nn.GELU()
}

LmmModelImpl::LmmModelImpl(const LmmConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const int64_t r = cfg_.shuffle_factor(), in = cfg_.vision.width * r * r, c = cfg_.llm.hidden;
  vision_model = register_module("vision_model", VisionModel(cfg_));
  mlp1 = register_module("mlp1", Projector(in, c, cfg_.projector_norm_eps, cfg_.init_std));
  language_model = register_module("language_model", CausalLm(cfg_));
}

void LmmModelImpl::check_ids(const at::Tensor& input_ids) const {
  HIMTOK_CHECK_INPUT(input_ids.defined() && input_ids.dim() == 2 && input_ids.scalar_type() == at::kLong,
                     "lmm: input_ids must be (B, T) int64");
  HIMTOK_CHECK_INPUT(input_ids.size(1) > 0, "lmm: input_ids is empty");
  const int64_t lo = input_ids.min().item<int64_t>(), hi = input_ids.max().item<int64_t>();
  HIMTOK_CHECK_INPUT(lo >= 0 && hi < cfg_.llm.vocab_size, "lmm: token ids must lie in [0, ", cfg_.llm.vocab_size,
                     "), got [", lo, ", ", hi, "]");
  HIMTOK_CHECK_INPUT(input_ids.size(1) <= cfg_.llm.max_positions, "lmm: sequence of ", input_ids.size(1),
                     " tokens exceeds llm.max_positions = ", cfg_.llm.max_positions);
}

at::Tensor LmmModelImpl::extract_feature(const at::Tensor& pixel_values) {
  HIMTOK_CHECK_INPUT(pixel_values.dim() == 4 && pixel_values.size(1) == 3 && pixel_values.size(2) == pixel_values.size(3),
                     "lmm: pixel_values must be (N, 3, S, S), got ", pixel_values.sizes());
  const int64_t side = pixel_values.size(2), step = cfg_.vision.patch_size * cfg_.shuffle_factor();
  HIMTOK_CHECK_INPUT(side % step == 0, "lmm: image side ", side, " must be a multiple of ", step,
                     " (vision.patch_size / downsample_ratio)");
  at::Tensor vit = vision_model->forward(pixel_values.to(compute_dtype_));  // (N, 1 + G^2, Cv)
  vit = vit.narrow(1, 1, vit.size(1) - 1);                // drop CLS: (N, G^2, Cv)
  const int64_t n = vit.size(0), g = side / cfg_.vision.patch_size;
  vit = vit.reshape({n, g, g, vit.size(2)});
  vit = pixel_shuffle(vit, cfg_.downsample_ratio);  // (N, G/r, G/r, Cv*r^2)
  vit = vit.reshape({n, -1, vit.size(3)});          // (N, I, Cv*r^2)
  return mlp1->forward(vit);                        // (N, I, C)
}

at::Tensor LmmModelImpl::embed(const at::Tensor& input_ids, const at::Tensor& pixel_values) {
  const int64_t b = input_ids.size(0), t = input_ids.size(1), c = cfg_.llm.hidden;
  at::Tensor embeds = language_model->model->tok_embeddings->forward(input_ids, compute_dtype_);  // (B, T, C)
  const int64_t ctx = cfg_.tokens.img_context_id;
  const int64_t n_ctx = ctx >= 0 ? (input_ids == ctx).sum().item<int64_t>() : 0;
  if (!pixel_values.defined() || pixel_values.numel() == 0) {
    HIMTOK_CHECK_INPUT(n_ctx == 0, "lmm: input_ids hold ", n_ctx, " <IMG_CONTEXT> tokens but no pixel_values");
    return embeds;
  }
  HIMTOK_CHECK_INPUT(ctx >= 0, "lmm: pixel_values given but tokens.img_context_id is not set");
  const at::Tensor vit = extract_feature(pixel_values);  // (N, I, C)
  HIMTOK_CHECK_INPUT(n_ctx == vit.size(0) * vit.size(1), "lmm: input_ids hold ", n_ctx, " <IMG_CONTEXT> tokens, expected ",
                     vit.size(0) * vit.size(1), " (", vit.size(0), " images x ", vit.size(1), " tokens)");
  const at::Tensor where = (input_ids.reshape({b * t}) == ctx).nonzero().squeeze(1);  // (N*I)
  return embeds.reshape({b * t, c})
      .index_copy(0, where, vit.reshape({-1, c}).to(embeds.scalar_type()))
      .view({b, t, c});
}

namespace {

// Position ids (B, T) and key padding (B, T) bool from an HF attention mask (1 = token); with no
// mask, positions 0..T-1 and no padding. Positions count real tokens: cumsum(mask) - 1, and pads
// get 1 (InternLM2's prepare_inputs_for_generation: position_ids.masked_fill_(mask == 0, 1)).
std::pair<at::Tensor, at::Tensor> positions_and_padding(const at::Tensor& attention_mask, int64_t b, int64_t t,
                                                        const at::TensorOptions& long_opts) {
  if (!attention_mask.defined()) return {at::arange(t, long_opts).unsqueeze(0).expand({b, t}), at::Tensor()};
  HIMTOK_CHECK_INPUT(attention_mask.dim() == 2 && attention_mask.size(0) == b && attention_mask.size(1) == t,
                     "lmm: attention_mask must be (B, T) = (", b, ", ", t, "), got ", attention_mask.sizes());
  const at::Tensor real = attention_mask.to(long_opts.device()).ne(0);
  const at::Tensor pos = (real.to(at::kLong).cumsum(1) - 1).masked_fill(real.logical_not(), 1);
  return {pos, real.logical_not()};
}

}  // namespace

at::Tensor LmmModelImpl::forward(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                                 const at::Tensor& attention_mask) {
  check_ids(input_ids);
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  const at::Tensor embeds = embed(input_ids, pixel_values);
  const auto [pos, pad] = positions_and_padding(attention_mask, b, t, input_ids.options());
  const at::Tensor hidden = language_model->model->forward(embeds, pos, pad);  // (B, T, C)
  return language_model->output->forward(hidden);                              // (B, T, V)
}

GenerateResult LmmModelImpl::generate(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                                      int64_t max_new_tokens, int64_t eos_id, const at::Tensor& attention_mask) {
  GenerateOptions opt;
  opt.max_new_tokens = max_new_tokens;
  opt.eos_id = eos_id;
  opt.pad_id = eos_id;  // our own models: a finished row repeats eos
  return generate(input_ids, pixel_values, opt, attention_mask);
}

// The transformers 4.46 greedy loop as batch_chat runs it (spec §8.2): the prompt is passed as
// embeddings, so only generated ids are returned; argmax with the first index on ties; finished
// rows get pad_id; the loop ends when every row has produced eos or after max_new_tokens.
GenerateResult LmmModelImpl::generate(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                                      const GenerateOptions& gopt, const at::Tensor& attention_mask) {
  torch::NoGradGuard no_grad;
  const int64_t max_new_tokens = gopt.max_new_tokens, eos_id = gopt.eos_id;
  check_ids(input_ids);
  HIMTOK_CHECK_INPUT(max_new_tokens > 0, "lmm: max_new_tokens must be positive, got ", max_new_tokens);
  HIMTOK_CHECK_INPUT(input_ids.size(1) + max_new_tokens <= cfg_.llm.max_positions, "lmm: prompt of ",
                     input_ids.size(1), " tokens + ", max_new_tokens, " new tokens exceeds llm.max_positions = ",
                     cfg_.llm.max_positions);
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  const auto long_opts = input_ids.options();
  auto [pos, pad] = positions_and_padding(attention_mask, b, t, long_opts);
  if (pad.defined())
    HIMTOK_CHECK_INPUT(!pad.select(1, t - 1).any().item<bool>(),
                       "lmm: generate needs left padding (the last column of attention_mask must be all 1)");

  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
  GenerateResult res;
  auto t0 = clock::now();
  const at::Tensor embeds = embed(input_ids, pixel_values);
  (void)embeds.sum().item<float>();  // waits for the device, so that the timings split correctly
  res.embed_s = seconds(t0);
  t0 = clock::now();
  KvCache cache;
  // Prefill: the whole prompt, logits of the last position only.
  at::Tensor hidden = language_model->model->forward(embeds, pos, pad, &cache);
  at::Tensor logits = language_model->output->forward(hidden.select(1, t - 1));  // (B, V)
  at::Tensor next_pos = pos.select(1, t - 1) + 1;                                // (B)

  std::vector<at::Tensor> step_ids, step_logits;
  at::Tensor finished = at::zeros({b}, long_opts.dtype(at::kBool));
  res.lengths.assign(static_cast<size_t>(b), -1);
  for (int64_t k = 0; k < max_new_tokens; ++k) {
    const at::Tensor logits_f = logits.to(at::kFloat);
    if (k == 0) {
      (void)logits_f.sum().item<float>();
      res.prefill_s = seconds(t0);
      t0 = clock::now();
    }
    at::Tensor next;  // (B)
    if ((eos_id >= 0 && k < gopt.min_new_tokens) || gopt.processor) {
      at::Tensor scores = logits_f.clone();
      if (eos_id >= 0 && k < gopt.min_new_tokens) scores.select(1, eos_id).fill_(-std::numeric_limits<float>::infinity());
      if (gopt.processor) gopt.processor(k, scores);
      next = scores.argmax(-1);
    } else {
      next = logits_f.argmax(-1);
    }
    if (eos_id >= 0) next = at::where(finished, at::full_like(next, gopt.pad_id), next);
    step_ids.push_back(next);
    step_logits.push_back(logits_f);
    if (eos_id >= 0) {
      const at::Tensor hit = next.eq(eos_id) & finished.logical_not();
      const auto hit_a = hit.to(at::kCPU);
      for (int64_t i = 0; i < b; ++i)
        if (hit_a[i].item<bool>()) res.lengths[static_cast<size_t>(i)] = k + 1;
      finished = finished | hit;
      if (finished.all().item<bool>()) break;
    }
    if (k + 1 == max_new_tokens) break;
    const at::Tensor embeds =
        language_model->model->tok_embeddings->forward(next.unsqueeze(1), compute_dtype_);  // (B, 1, C)
    hidden = language_model->model->forward(embeds, next_pos.unsqueeze(1), at::Tensor(), &cache);
    logits = language_model->output->forward(hidden.select(1, 0));
    next_pos = next_pos + 1;
  }
  res.decode_s = seconds(t0);
  res.ids = at::stack(step_ids, 1);        // (B, K)
  res.logits = at::stack(step_logits, 1);  // (B, K, V)
  for (auto& len : res.lengths)
    if (len < 0) len = res.ids.size(1);
  return res;
}

}  // namespace himtok::lmm
