// InternLM2-style decoder (modeling_internlm2.py): RMSNorm, rotary (HF rotate-half), fused GQA
// `wqkv`, SwiGLU feed-forward, KV cache.
// Legend: B batch, L new tokens, Lk keys (cached + new), C hidden, Hq/Hkv heads, g = Hq/Hkv, D head dim.
#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cmath>

#include "lmm/model.h"
#include "nn/attention.h"

namespace himtok::lmm {

// ---------------------------------------------------------------------------------------------
// Rotary embeddings and GQA helpers

RotaryTables rotary_tables(const at::Tensor& position_ids, int64_t head_dim, double theta) {
  TORCH_CHECK(position_ids.dim() == 2, "rotary_tables: position_ids must be (B, L), got ", position_ids.sizes());
  const auto f32 = position_ids.options().dtype(at::kFloat);
  // inv_freq = 1 / theta^(arange(0, D, 2) / D), in fp32 as InternLM2RotaryEmbedding
  const at::Tensor inv_freq =
      1.0 / at::pow(theta, at::arange(0, head_dim, 2, f32) / static_cast<double>(head_dim));  // (D/2)
  const at::Tensor angles = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq;           // (B, L, D/2)
  const at::Tensor emb = at::cat({angles, angles}, -1).unsqueeze(1);                        // (B, 1, L, D)
  return {emb.cos(), emb.sin()};
}

at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& rot) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * rot.cos.to(x.scalar_type()) + rotated * rot.sin.to(x.scalar_type());
}

at::Tensor repeat_kv(const at::Tensor& x, int64_t n_rep) {
  if (n_rep == 1) return x;
  const int64_t b = x.size(0), h = x.size(1), l = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, h, n_rep, l, d}).reshape({b, h * n_rep, l, d});
}

int64_t KvCache::length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(2); }

// ---------------------------------------------------------------------------------------------
// Modules

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

at::Tensor RmsNormImpl::forward(const at::Tensor& x) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return as_dtype(weight, x.scalar_type()) * normed.to(x.scalar_type());
}

DecoderAttentionImpl::DecoderAttentionImpl(const LmmConfig& cfg)
    : n_heads_(cfg.llm.n_heads), n_kv_heads_(cfg.llm.n_kv_heads), head_dim_(cfg.llm.head_dim()) {
  const int64_t c = cfg.llm.hidden;
  wqkv = register_module("wqkv", Linear(c, (n_heads_ + 2 * n_kv_heads_) * head_dim_, false, cfg.init_std));
  wo = register_module("wo", Linear(n_heads_ * head_dim_, c, false, cfg.init_std / std::sqrt(2.0 * cfg.llm.n_layers)));
}

at::Tensor DecoderAttentionImpl::forward(const at::Tensor& x, const RotaryTables& rot, const at::Tensor& blocked,
                                         KvCache* cache, int64_t layer) {
  const int64_t b = x.size(0), l = x.size(1), g = n_heads_ / n_kv_heads_, d = head_dim_;
  // wqkv output per key/value head: [q_0 .. q_{g-1}, k, v], each D wide ('b q (h gs d)', gs = g + 2)
  const at::Tensor qkv = wqkv->forward(x).view({b, l, n_kv_heads_, g + 2, d});
  at::Tensor q = qkv.narrow(3, 0, g).reshape({b, l, n_heads_, d}).transpose(1, 2);  // (B, Hq, L, D)
  at::Tensor k = qkv.select(3, g).transpose(1, 2);                                     // (B, Hkv, L, D)
  at::Tensor v = qkv.select(3, g + 1).transpose(1, 2);                                 // (B, Hkv, L, D)
  q = apply_rotary(q, rot);
  k = apply_rotary(k, rot);
  if (cache) {
    at::Tensor& ck = cache->k[static_cast<size_t>(layer)];
    at::Tensor& cv = cache->v[static_cast<size_t>(layer)];
    if (ck.defined()) {
      k = at::cat({ck, k}, 2);
      v = at::cat({cv, v}, 2);
    }
    ck = k;
    cv = v;
  }
  at::Tensor o;  // (B, Hq, L, D)
  if (l == 1 && g > 1) {
    // One new token (a decode step): the g query heads of a key/value head attend together to its
    // keys, (B, Hkv, g, D) against (B, Hkv, Lk, D), without repeat_kv's copies of the whole cache.
    // Every cached key precedes the new token, so no causal mask is needed.
    o = himtok::nn::attention(q.reshape({b, n_kv_heads_, g, d}), k, v, blocked, /*causal=*/false)
            .reshape({b, n_heads_, 1, d});
  } else {
    o = himtok::nn::attention(q, repeat_kv(k, g), repeat_kv(v, g), blocked, /*causal=*/true);
  }
  return wo->forward(o.transpose(1, 2).reshape({b, l, n_heads_ * d}));
}

FeedForwardImpl::FeedForwardImpl(const LmmConfig& cfg) {
  const int64_t c = cfg.llm.hidden, f = cfg.llm.ffn_hidden;
  w1 = register_module("w1", Linear(c, f, false, cfg.init_std));
  w3 = register_module("w3", Linear(c, f, false, cfg.init_std));
  w2 = register_module("w2", Linear(f, c, false, cfg.init_std / std::sqrt(2.0 * cfg.llm.n_layers)));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  return w2->forward(at::silu(w1->forward(x)) * w3->forward(x));
}

DecoderLayerImpl::DecoderLayerImpl(const LmmConfig& cfg) {
  attention = register_module("attention", DecoderAttention(cfg));
  feed_forward = register_module("feed_forward", FeedForward(cfg));
  attention_norm = register_module("attention_norm", RmsNorm(cfg.llm.hidden, cfg.llm.rms_eps));
  ffn_norm = register_module("ffn_norm", RmsNorm(cfg.llm.hidden, cfg.llm.rms_eps));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const RotaryTables& rot, const at::Tensor& blocked,
                                     KvCache* cache, int64_t layer) {
  const at::Tensor h = x + attention->forward(attention_norm->forward(x), rot, blocked, cache, layer);
  return h + feed_forward->forward(ffn_norm->forward(h));
}

DecoderModelImpl::DecoderModelImpl(const LmmConfig& cfg) : cfg_(cfg.llm) {
  tok_embeddings = register_module("tok_embeddings", Embedding(cfg_.vocab_size, cfg_.hidden, cfg.init_std));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg_.n_layers; ++i) layers->push_back(DecoderLayer(cfg));
  norm = register_module("norm", RmsNorm(cfg_.hidden, cfg_.rms_eps));
}

at::Tensor DecoderModelImpl::forward(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                                     const at::Tensor& key_pad, KvCache* cache) {
  const int64_t b = inputs_embeds.size(0), l = inputs_embeds.size(1);
  const int64_t past = cache ? cache->length() : 0, lk = past + l;
  if (cache && cache->k.empty()) {
    cache->k.resize(static_cast<size_t>(cfg_.n_layers));
    cache->v.resize(static_cast<size_t>(cfg_.n_layers));
  }
  // Key padding over all Lk keys. A padded query keeps its own key, so no row is fully blocked.
  at::Tensor pad_all = key_pad;
  if (cache) {
    const at::Tensor old_pad = cache->key_pad;
    if (old_pad.defined() || key_pad.defined()) {
      const auto bool_opts = inputs_embeds.options().dtype(at::kBool);
      pad_all = at::cat({old_pad.defined() ? old_pad : at::zeros({b, past}, bool_opts),
                         key_pad.defined() ? key_pad : at::zeros({b, l}, bool_opts)},
                        1);
    }
    cache->key_pad = pad_all;
  }
  at::Tensor blocked;
  if (pad_all.defined() && pad_all.any().item<bool>()) {
    const auto i64 = inputs_embeds.options().dtype(at::kLong);
    const at::Tensor self_key = at::arange(lk, i64).view({1, lk}) == (at::arange(l, i64) + past).view({l, 1});
    blocked = pad_all.view({b, 1, 1, lk}) & ~self_key.view({1, 1, l, lk});  // (B, 1, L, Lk)
  }
  const RotaryTables rot = rotary_tables(position_ids, cfg_.head_dim(), cfg_.rope_theta);
  at::Tensor h = inputs_embeds;
  int64_t i = 0;
  for (const auto& layer : *layers) h = layer->as<DecoderLayer>()->forward(h, rot, blocked, cache, i++);
  return norm->forward(h);
}

CausalLmImpl::CausalLmImpl(const LmmConfig& cfg) {
  model = register_module("model", DecoderModel(cfg));
  output = register_module("output", Linear(cfg.llm.hidden, cfg.llm.vocab_size, false, cfg.init_std));
}

}  // namespace himtok::lmm
