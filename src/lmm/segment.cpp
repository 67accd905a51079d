// Inference: prompt -> generate -> response + mask (see segment.h for the decoding rules).
#include "lmm/segment.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/error.h"
#include "lmm/himtok_lmm.h"
#include "lmm/image_prep.h"
#include "lmm/templates.h"
#include "nn/cpu_allocator.h"
#include "tokenizer/prepare.h"

namespace himtok::lmm {

struct Segmenter::Impl {
  std::shared_ptr<LmmBundle> b;
  Templates tpl;
};

Segmenter Segmenter::load(const std::string& path) { return load(path, "cpu", "fp32"); }

Segmenter Segmenter::load(const std::string& path, const std::string& device, const std::string& dtype) {
  auto b = std::make_shared<LmmBundle>(LmmBundle::is_hf_folder(path) ? LmmBundle::load_hf(path) : LmmBundle::load(path));
  if (device != "cpu" || dtype != "fp32" || b->inference.released) b->to_device(device, dtype);
  nn::empty_cpu_cache();  // the loading's temporaries (initial fp32 modules, dtype conversions) go back to the system
  return Segmenter(std::move(b));
}

Segmenter::Segmenter(std::shared_ptr<LmmBundle> bundle) : impl_(std::make_unique<Impl>()) {
  HIMTOK_CHECK_INPUT(bundle && bundle->model, "segmenter: no model");
  impl_->b = std::move(bundle);
  impl_->tpl = Templates::resolve();
}
Segmenter::Segmenter(Segmenter&&) noexcept = default;
Segmenter& Segmenter::operator=(Segmenter&&) noexcept = default;
Segmenter::~Segmenter() = default;

const Vocab& Segmenter::vocab() const { return impl_->b->vocab; }
const Templates& Segmenter::templates() const { return impl_->tpl; }
int64_t Segmenter::image_side() const { return impl_->b->image_side(); }
int64_t Segmenter::mask_side() const { return impl_->b->tokenizer_config().image_size; }

std::string Segmenter::segment_question(const std::string& e) const {
  return fill_template(impl_->tpl.group("seg_instruction").templates.at(0), {e});
}
std::string Segmenter::exist_question(const std::string& e) const {
  return fill_template(impl_->tpl.group("exist_instruction").templates.at(0), {e});
}
std::string Segmenter::seg_box_question(const std::string& e) const {
  return fill_template(impl_->tpl.group("seg_box_instruction").templates.at(0), {e});
}
std::string Segmenter::ground_question(const std::string& e) const {
  return fill_template(impl_->tpl.group("ground_instruction").templates.at(0), {e});
}

namespace {
at::Device device_of(const torch::nn::Module& m) {
  for (const auto& p : m.parameters()) return p.device();
  return at::Device(at::kCPU);
}
}  // namespace

std::vector<int> Segmenter::encode_mask(const Mask& mask) const {
  HIMTOK_CHECK_INPUT(mask.h > 0 && mask.w > 0, "encode_mask: empty mask");
  at::NoGradGuard ng;
  auto& md = impl_->b->mask_decoder;
  at::Tensor ids = md->encode(tok::prepare_stretch(mask, md->cfg.image_size).unsqueeze(0).to(device_of(*md)))
                       .q.ids.to(at::kLong)
                       .cpu()
                       .contiguous();
  return std::vector<int>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
}

namespace {

void check_options(const SegmentOptions& opt) {
  HIMTOK_CHECK_INPUT(opt.n_tokens >= 1 && opt.n_tokens <= kNumMaskTokens, "--tokens: ", opt.n_tokens,
                     " is outside 1..", kNumMaskTokens);
  HIMTOK_CHECK_INPUT(opt.max_new_tokens >= 1, "max_new_tokens must be >= 1, got ", opt.max_new_tokens);
  HIMTOK_CHECK_INPUT(opt.batch_size >= 1, "batch_size must be >= 1, got ", opt.batch_size);
}

std::string strip(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// Fills everything but the mask: ids, response, span, mask_logits.
// row: the generated ids of one row of the batch (the official `sequences` row: eos and pads
// included), logits (K, V) fp32 on the CPU; len: ids up to and including the first eos.
SegmentResult parse_generation(const LmmBundle& b, const int64_t* row, int64_t K, int64_t len, const at::Tensor& logits,
                               bool official) {
  const int eos = b.vocab.specials().im_end;
  SegmentResult r;
  r.sequence.assign(row, row + K);
  int64_t n = len;
  if (n > 0 && row[n - 1] == eos) --n;
  r.ids.assign(row, row + n);
  r.response = strip(b.vocab.decode(r.ids));
  r.span = parse_mask_ids(r.ids, b.vocab, kNumMaskTokens);
  if (!r.span.warning.empty()) r.warnings.push_back(r.span.warning);
  const int64_t mt0 = b.vocab.specials().mask0;
  if (official) {
    // batch_chat: s = the first <|mt_start|> of the row; valid iff s + 33 < T; then the logits at
    // s+1 .. s+32, whatever was generated there (spec §9).
    r.official_rule = true;
    int64_t s = -1;
    for (int64_t k = 0; k < K && s < 0; ++k)
      if (row[k] == b.vocab.specials().mask_start) s = k;
    if (s >= 0 && s + kNumMaskTokens + 1 < K) {
      at::Tensor rows = logits.slice(0, s + 1, s + 1 + kNumMaskTokens).slice(1, mt0, mt0 + kCodebookSize);
      rows = rows.to(at::kFloat).contiguous();
      r.mask_logits.assign(rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel());
    }
    if (r.span.start >= 0 && (static_cast<int>(r.span.codes.size()) < kNumMaskTokens || r.mask_logits.empty()))
      r.warnings.push_back(str_cat("the answer's mask is cut short: ", r.span.codes.size(), " of ", kNumMaskTokens,
                                   " mask tokens after <|mt_start|>", r.mask_logits.empty() ? "" : " and no token after them",
                                   "; ", r.mask_logits.empty() ? "the official rule gives an empty mask"
                                                              : "the official rule decodes the logits there anyway"));
    return r;
  }
  const int64_t nc = static_cast<int64_t>(r.span.codes.size());
  if (r.span.start >= 0 && nc > 0) {
    at::Tensor rows = logits.slice(0, r.span.start + 1, r.span.start + 1 + nc).slice(1, mt0, mt0 + kCodebookSize);
    rows = rows.to(at::kFloat).contiguous();
    r.mask_logits.assign(rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel());
  }
  return r;
}

}  // namespace

// Decodes the masks of several results at once (one de-tokenizer call, prefixes via keep_lengths,
// which equals truncation: the dropped tokens are zero after decoder_embed, spec §2.2).
static void decode_masks(const LmmBundle& b, const std::vector<SegmentResult*>& rs, int n_tokens, bool from_ids,
                         const std::vector<std::pair<int64_t, int64_t>>& sizes) {
  at::NoGradGuard ng;
  const int64_t K = kCodebookSize, L = kNumMaskTokens;
  std::vector<int64_t> todo, keep;
  std::vector<at::Tensor> probs;
  for (size_t i = 0; i < rs.size(); ++i) {
    SegmentResult& r = *rs[i];
    r.from_ids = from_ids;
    r.n_decoded = 0;
    r.prob = FloatMap();
    r.mask = Mask(sizes[i].second, sizes[i].first, 0);
    const int64_t n_rows = static_cast<int64_t>(r.mask_logits.size()) / K;
    const int64_t avail = from_ids ? static_cast<int64_t>(r.span.codes.size()) : n_rows;
    const int64_t n = std::min<int64_t>(n_tokens, avail);
    if (n == 0) continue;
    at::Tensor p = at::zeros({L, K}, at::kFloat);
    if (from_ids) {
      for (int64_t k = 0; k < n; ++k) p[k][r.span.codes[static_cast<size_t>(k)]] = 1.f;
    } else {
      at::Tensor l = at::from_blob(r.mask_logits.data(), {n_rows, K}, at::kFloat).slice(0, 0, n);
      if (!at::isfinite(l).all().item<bool>()) {
        r.warnings.push_back("non-finite logits at the mask positions; empty mask");
        continue;
      }
      p.slice(0, 0, n).copy_(at::softmax(l * 2.0, -1));  // get_train_tt_probs: softmax(2 * logits)
    }
    todo.push_back(static_cast<int64_t>(i));
    keep.push_back(n);
    probs.push_back(p);
  }
  if (todo.empty()) return;
  tok::HiMT md = b.mask_decoder;  // a holder copy shares the module
  const bool was_training = md->is_training();
  md->eval();
  const at::Device dev = device_of(*md);
  at::Tensor z = md->quantize->lookup_probs(at::stack(probs).to(dev));                       // (R,D,1,L)
  at::Tensor out = md->decode_z(z, at::tensor(keep, at::kLong).to(dev)).select(1, 0);      // (R,S,S)
  out = out.to(at::kFloat).cpu().contiguous();
  if (was_training) md->train();
  for (size_t j = 0; j < todo.size(); ++j) {
    const size_t i = static_cast<size_t>(todo[j]);
    SegmentResult& r = *rs[i];
    r.n_decoded = static_cast<int>(keep[j]);
    r.prob = tok::to_float_map(out[static_cast<int64_t>(j)]);
    r.mask = tok::to_native(out[static_cast<int64_t>(j)], sizes[i].second, sizes[i].first);
  }
}

bool Segmenter::released() const { return impl_->b->inference.released; }

std::string Segmenter::with_image_placeholder(const std::string& question) {
  size_t n = 0;
  for (size_t p = question.find("<image>"); p != std::string::npos; p = question.find("<image>", p + 1)) ++n;
  HIMTOK_CHECK_INPUT(n <= 1, "the question holds ", n, " <image> placeholders for one image");
  return n == 1 ? question : "<image>\n" + question;
}

std::vector<SegmentResult> Segmenter::run(const std::vector<Query>& queries, const SegmentOptions& opt) const {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
  check_options(opt);
  LmmBundle& b = *impl_->b;
  const InferenceSettings& inf = b.inference;
  const LmmConfig& cfg = b.config();
  const int64_t side = b.image_side();
  const int max_tiles = opt.max_tiles > 0 ? opt.max_tiles : inf.max_tiles;
  HIMTOK_CHECK_INPUT(max_tiles >= 1 && max_tiles <= max_tiles_supported(), "--max-tiles: ", max_tiles,
                     " is outside 1..", max_tiles_supported());
  const int64_t per_tile = cfg.n_image_tokens(side);
  ChatOptions chat;
  chat.use_system = inf.use_system;
  chat.system_override = inf.system_message;
  const int64_t eos = b.vocab.specials().im_end;
  const int64_t pad = inf.released ? inf.pad_id : std::max(0, b.vocab.specials().pad);
  const at::Device dev = device_of(*b.model);

  const bool was_training = b.model->is_training();
  b.model->eval();
  std::vector<SegmentResult> out(queries.size());
  for (size_t c0 = 0; c0 < queries.size(); c0 += static_cast<size_t>(opt.batch_size)) {
    auto t_pre = clock::now();
    const size_t c1 = std::min(queries.size(), c0 + static_cast<size_t>(opt.batch_size));
    const int64_t B = static_cast<int64_t>(c1 - c0);
    std::vector<std::vector<int>> prompts;
    std::vector<at::Tensor> pixels;
    std::vector<int> n_tiles;
    std::vector<std::pair<int64_t, int64_t>> sizes;
    size_t T = 0;
    for (size_t q = c0; q < c1; ++q) {
      HIMTOK_CHECK_INPUT(queries[q].image != nullptr && queries[q].image->h > 0 && queries[q].image->w > 0,
                         "query ", q, ": empty image");
      const Image& img = *queries[q].image;
      // Released models: InternVL's dynamic tiles; ours: one stretched tile, as they were trained.
      at::Tensor px = inf.released || max_tiles > 1 ? normalize_tiles(dynamic_preprocess(img, max_tiles, side, true))
                                                    : pixel_values_from_image(img, side).unsqueeze(0);
      n_tiles.push_back(static_cast<int>(px.size(0)));
      chat.n_image_tokens = static_cast<int>(per_tile * px.size(0));
      std::vector<int> ids = b.vocab.encode(format_prompt(impl_->tpl, with_image_placeholder(queries[q].question), chat));
      if (b.vocab.adds_bos()) ids.insert(ids.begin(), b.vocab.specials().bos);
      prompts.push_back(std::move(ids));
      T = std::max(T, prompts.back().size());
      pixels.push_back(px);
      sizes.emplace_back(img.w, img.h);
    }
    // Left padding with the pad id and attention mask 0, as the official tokenizer pads a batch.
    at::Tensor ids = at::full({B, static_cast<int64_t>(T)}, pad, at::kLong);
    at::Tensor am = at::zeros({B, static_cast<int64_t>(T)}, at::kLong);
    bool padded = false;
    for (int64_t r = 0; r < B; ++r) {
      const auto& p = prompts[static_cast<size_t>(r)];
      const int64_t off = static_cast<int64_t>(T - p.size());
      padded = padded || off > 0;
      for (size_t k = 0; k < p.size(); ++k) ids[r][off + static_cast<int64_t>(k)] = p[k];
      am[r].slice(0, off).fill_(1);
    }
    const at::Tensor px = at::cat(pixels, 0);
    const double pre_s = seconds(t_pre);
    GenerateOptions gopt;
    gopt.max_new_tokens = opt.max_new_tokens;
    gopt.min_new_tokens = opt.min_new_tokens;
    gopt.eos_id = eos;
    gopt.pad_id = inf.released ? pad : eos;  // our models: a finished row repeats eos
    gopt.processor = opt.processor;
    GenerateResult g = b.model->generate(ids.to(dev), px.to(dev), gopt, padded ? am.to(dev) : at::Tensor());
    const at::Tensor gid = g.ids.cpu().contiguous();
    const at::Tensor glog = g.logits.cpu();
    const int64_t K = gid.size(1);
    auto t_mask = clock::now();
    std::vector<SegmentResult*> ptrs;
    for (int64_t r = 0; r < B; ++r) {
      SegmentResult& res = out[c0 + static_cast<size_t>(r)];
      res = parse_generation(b, gid[r].data_ptr<int64_t>(), K, g.lengths[static_cast<size_t>(r)], glog[r], inf.released);
      res.prompt_ids = prompts[static_cast<size_t>(r)];
      res.n_tiles = n_tiles[static_cast<size_t>(r)];
      ptrs.push_back(&res);
    }
    decode_masks(b, ptrs, opt.n_tokens, opt.from_ids, sizes);
    const double mask_s = seconds(t_mask);
    for (SegmentResult* res : ptrs) {
      res->timings = {pre_s, g.embed_s, g.prefill_s, g.decode_s, mask_s,
                      static_cast<int64_t>(res->prompt_ids.size()), K};
    }
  }
  if (was_training) b.model->train();
  return out;
}

SegmentResult Segmenter::run(const Image& image, const std::string& question, const SegmentOptions& opt) const {
  return std::move(run(std::vector<Query>{{&image, question}}, opt).front());
}

void Segmenter::redecode(SegmentResult& r, int n_tokens, bool from_ids, int64_t h, int64_t w) const {
  HIMTOK_CHECK_INPUT(n_tokens >= 1 && n_tokens <= kNumMaskTokens, "--tokens: ", n_tokens, " is outside 1..",
                     kNumMaskTokens);
  // Warnings of an earlier decode (non-finite logits) are recomputed.
  r.warnings.erase(std::remove_if(r.warnings.begin(), r.warnings.end(),
                                  [](const std::string& s) { return s.rfind("non-finite", 0) == 0; }),
                   r.warnings.end());
  decode_masks(*impl_->b, {&r}, n_tokens, from_ids, {{w, h}});
}

SegmentResult Segmenter::decode_generation(const std::vector<int>& ids, const std::vector<float>& logits, int64_t V,
                                           int64_t h, int64_t w, const SegmentOptions& opt) const {
  check_options(opt);
  HIMTOK_CHECK_INPUT(V == impl_->b->config().llm.vocab_size, "decode_generation: V = ", V, ", the model has ",
                     impl_->b->config().llm.vocab_size);
  HIMTOK_CHECK_INPUT(logits.size() == ids.size() * static_cast<size_t>(V), "decode_generation: ", logits.size(),
                     " logits for ", ids.size(), " ids x V = ", V);
  HIMTOK_CHECK_INPUT(h > 0 && w > 0, "decode_generation: image size ", w, "x", h);
  const int eos = impl_->b->vocab.specials().im_end;
  const std::vector<int64_t> row(ids.begin(), ids.end());
  int64_t len = static_cast<int64_t>(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == eos) {
      len = static_cast<int64_t>(i) + 1;
      break;
    }
  at::Tensor l = at::from_blob(const_cast<float*>(logits.data()), {static_cast<int64_t>(ids.size()), V}, at::kFloat);
  SegmentResult r = parse_generation(*impl_->b, row.data(), static_cast<int64_t>(row.size()), len, l,
                                     impl_->b->inference.released);
  decode_masks(*impl_->b, {&r}, opt.n_tokens, opt.from_ids, {{w, h}});
  return r;
}

std::vector<GresResult> Segmenter::gres(const std::vector<const Image*>& images,
                                        const std::vector<std::string>& expressions, const SegmentOptions& opt) const {
  HIMTOK_CHECK_INPUT(images.size() == expressions.size(), "gres: ", images.size(), " images for ", expressions.size(),
                     " expressions");
  std::vector<GresResult> out(images.size());
  std::vector<Query> q1;
  for (size_t i = 0; i < images.size(); ++i) q1.push_back({images[i], exist_question(expressions[i])});
  SegmentOptions o1 = opt;
  o1.max_new_tokens = std::min(opt.max_new_tokens, 8);  // "Yes." / "No."
  const auto a1 = run(q1, o1);
  std::vector<Query> q2;
  std::vector<size_t> which;
  for (size_t i = 0; i < images.size(); ++i) {
    out[i].exists = parse_yes_no(a1[i].response);
    out[i].exist_response = a1[i].response;
    out[i].mask = Mask(images[i]->h, images[i]->w, 0);
    if (out[i].exists != YesNo::kNo) {
      q2.push_back({images[i], segment_question(expressions[i])});
      which.push_back(i);
    }
  }
  auto a2 = run(q2, opt);
  for (size_t j = 0; j < which.size(); ++j) {
    GresResult& g = out[which[j]];
    g.segmented = true;
    g.seg = std::move(a2[j]);
    g.mask = g.seg.mask;
  }
  return out;
}

std::vector<int32_t> compose_smaller_area(int64_t h, int64_t w, const std::vector<Mask>& masks) {
  std::vector<int32_t> labels(static_cast<size_t>(h * w), -1);
  std::vector<int64_t> area(masks.size());
  for (size_t c = 0; c < masks.size(); ++c) {
    HIMTOK_CHECK_INPUT(masks[c].h == h && masks[c].w == w, "open vocabulary: mask ", c, " is ", masks[c].w, "x",
                       masks[c].h, ", expected ", w, "x", h);
    area[c] = masks[c].area();
  }
  for (size_t p = 0; p < labels.size(); ++p) {
    int32_t best = -1;
    for (size_t c = 0; c < masks.size(); ++c)
      if (masks[c].data[p] && (best < 0 || area[c] < area[static_cast<size_t>(best)])) best = static_cast<int32_t>(c);
    labels[p] = best;
  }
  return labels;
}

OpenVocabResult Segmenter::open_vocab(const Image& image, const std::vector<std::string>& classes,
                                      const SegmentOptions& opt) const {
  std::vector<const Image*> imgs(classes.size(), &image);
  OpenVocabResult r;
  r.h = image.h, r.w = image.w;
  r.per_class = gres(imgs, classes, opt);
  std::vector<Mask> masks;
  for (const auto& g : r.per_class) masks.push_back(g.mask);
  r.labels = compose_smaller_area(image.h, image.w, masks);
  return r;
}

}  // namespace himtok::lmm
