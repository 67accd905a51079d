// LMM training samples from synthetic scenes: task draw, sample builders, mask codes, batches.
#include "train/lmm_data.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/scenes.h"
#include "lmm/himtok_lmm.h"
#include "lmm/image_prep.h"
#include "lmm/templates.h"
#include "tokenizer/prepare.h"

namespace himtok::train {

// ---------------------------------------------------------------------------------------------
// Config

std::vector<std::pair<std::string, double>> TaskMix::items() const {
  return {{"seg", seg},     {"seg_box", seg_box},       {"box", box},     {"point", point}, {"n_tokens", n_tokens},
          {"ground", ground}, {"perception", perception}, {"exist", exist}, {"class", cls},   {"qa", qa}};
}

double TaskMix::segmentation_share() const {
  double total = 0;
  for (auto& [n, w] : items()) total += w;
  return total > 0 ? (seg + seg_box + box + point + n_tokens + cls / 2) / total : 0.0;
}

void to_json(nlohmann::json& j, const LmmDataConfig& c) {
  nlohmann::json mix = nlohmann::json::object();
  for (auto& [n, w] : c.mix.items()) mix[n] = w;
  j = nlohmann::json{{"mix", mix},
                     {"n_scenes", c.n_scenes},
                     {"scene_size", c.scene_size},
                     {"scene_seed", c.scene_seed},
                     {"seed", c.seed},
                     {"n_token_choices", c.n_token_choices},
                     {"perception_options", c.perception_options},
                     {"use_system", c.use_system},
                     {"image_side", c.image_side}};
}

namespace {
template <typename T>
void get_field(const nlohmann::json& j, const std::string& key, T& out, const std::string& where) {
  try {
    out = j.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(str_cat(where, ": '", key, "' has the wrong type (", j.dump(), ")"));
  }
}
}  // namespace

void from_json(const nlohmann::json& j, LmmDataConfig& c) {
  const std::string where = "lmm data config";
  HIMTOK_CHECK_INPUT(j.is_object(), where, ": expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "mix") {
      HIMTOK_CHECK_INPUT(it->is_object(), where, ": 'mix' must be an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        double w = 0;
        get_field(*m, "mix." + m.key(), w, where);
        HIMTOK_CHECK_INPUT(w >= 0, where, ": mix.", m.key(), " is negative");
        if (m.key() == "seg") c.mix.seg = w;
        else if (m.key() == "seg_box") c.mix.seg_box = w;
        else if (m.key() == "box") c.mix.box = w;
        else if (m.key() == "point") c.mix.point = w;
        else if (m.key() == "n_tokens") c.mix.n_tokens = w;
        else if (m.key() == "ground") c.mix.ground = w;
        else if (m.key() == "perception") c.mix.perception = w;
        else if (m.key() == "exist") c.mix.exist = w;
        else if (m.key() == "class") c.mix.cls = w;
        else if (m.key() == "qa") c.mix.qa = w;
        else throw InputError(str_cat(where, ": unknown task 'mix.", m.key(), "'"));
      }
    } else if (k == "n_scenes") get_field(*it, k, c.n_scenes, where);
    else if (k == "scene_size") get_field(*it, k, c.scene_size, where);
    else if (k == "scene_seed") get_field(*it, k, c.scene_seed, where);
    else if (k == "seed") get_field(*it, k, c.seed, where);
    else if (k == "n_token_choices") get_field(*it, k, c.n_token_choices, where);
    else if (k == "perception_options") get_field(*it, k, c.perception_options, where);
    else if (k == "use_system") get_field(*it, k, c.use_system, where);
    else if (k == "image_side") get_field(*it, k, c.image_side, where);
    else throw InputError(str_cat(where, ": unknown key '", k, "'"));
  }
  double total = 0;
  for (auto& [n, w] : c.mix.items()) total += w;
  HIMTOK_CHECK_INPUT(total > 0, where, ": every task weight is 0");
  HIMTOK_CHECK_INPUT(c.n_scenes >= 1 && c.n_scenes <= 1000000000, where, ": n_scenes ", c.n_scenes, " outside 1..1e9");
  HIMTOK_CHECK_INPUT(c.perception_options >= 2 && c.perception_options <= 5, where, ": perception_options ",
                     c.perception_options, " outside 2..5");
  HIMTOK_CHECK_INPUT(!c.n_token_choices.empty(), where, ": n_token_choices is empty");
  for (int n : c.n_token_choices)
    HIMTOK_CHECK_INPUT(n >= 1 && n <= lmm::kNumMaskTokens, where, ": n_token_choices holds ", n, ", outside 1..32");
  HIMTOK_CHECK_INPUT(c.image_side >= 1, where, ": image_side must be positive");
}

// ---------------------------------------------------------------------------------------------
// Dataset

struct LmmDataset::Impl {
  LmmDataConfig cfg;
  const lmm::LmmBundle* bundle = nullptr;
  const lmm::Templates* tpl = nullptr;
  data::SceneOptions sopt;
  lmm::ChatOptions chat;
  std::map<std::string, std::vector<int>> codes;  // "<scene id>:<target ids>" -> 32 codes

  std::vector<int> mask_codes(const data::Scene& s, const std::vector<int>& targets, const Mask& m) {
    std::string key = s.id + ":";
    for (int t : targets) key += std::to_string(t) + ",";
    auto it = codes.find(key);
    if (it != codes.end()) return it->second;
    at::NoGradGuard ng;
    tok::HiMT md = bundle->mask_decoder;  // a holder copy shares the module
    at::Tensor x = tok::prepare_stretch(m, md->cfg.image_size).unsqueeze(0);
    at::Tensor ids = md->encode(x).q.ids.to(at::kLong).contiguous();  // (1, 32)
    std::vector<int> v(static_cast<size_t>(ids.size(1)));
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<int>(ids[0][static_cast<int64_t>(k)].item<int64_t>());
    codes.emplace(key, v);
    return v;
  }
};

LmmDataset::LmmDataset(const LmmDataConfig& cfg, const lmm::LmmBundle& bundle, const lmm::Templates& templates)
    : impl_(std::make_unique<Impl>()) {
  impl_->cfg = cfg;
  impl_->bundle = &bundle;
  impl_->tpl = &templates;
  impl_->sopt.size = cfg.scene_size;
  impl_->sopt.seed = cfg.scene_seed;
  impl_->chat.n_image_tokens = static_cast<int>(bundle.config().n_image_tokens(cfg.image_side));
  impl_->chat.use_system = cfg.use_system;
}
LmmDataset::~LmmDataset() = default;

int64_t LmmDataset::n_cached_codes() const { return static_cast<int64_t>(impl_->codes.size()); }
const LmmDataConfig& LmmDataset::config() const { return impl_->cfg; }

namespace {

bool has_targets(const data::Expression& e) { return !e.targets.empty(); }
bool single_target(const data::Expression& e) { return e.targets.size() == 1; }

template <typename Pred>
int pick_expression(const data::Scene& s, data::Pcg32& rng, Pred pred) {
  std::vector<int> ok;
  for (size_t i = 0; i < s.expressions.size(); ++i)
    if (pred(s.expressions[i])) ok.push_back(static_cast<int>(i));
  if (ok.empty()) return -1;
  return ok[rng.below(static_cast<uint32_t>(ok.size()))];
}

lmm::NormBox norm_box(const data::PixelBox& b, int64_t w, int64_t h) { return lmm::normalize_box(b.x0, b.y0, b.x1, b.y1, w, h); }

}  // namespace

LmmSample LmmDataset::sample(int64_t step, int64_t b) {
  Impl& im = *impl_;
  const lmm::Templates& t = *im.tpl;
  data::Pcg32 rng(data::seed_mix(im.cfg.seed, static_cast<uint64_t>(step)), static_cast<uint64_t>(b));
  const uint64_t index = rng.below(static_cast<uint32_t>(im.cfg.n_scenes));
  const data::Scene s = data::generate_scene(data::SceneSplit::kTrain, index, im.sopt);
  const int64_t W = s.image.w, H = s.image.h;

  // Draw the task.
  const auto items = im.cfg.mix.items();
  double total = 0;
  for (auto& [n, w] : items) total += w;
  double u = rng.uniform() * total;
  std::string task = items.back().first;
  for (auto& [n, w] : items) {
    if (u < w) {
      task = n;
      break;
    }
    u -= w;
  }

  LmmSample out;
  out.scene_id = s.id;
  out.image = s.image;
  lmm::Conversation conv;
  Mask target;  // the answer's mask when it carries 32 codes

  auto codes_for = [&](const std::vector<int>& targets, Mask* m_out) {
    Mask m(H, W, 0);
    for (int id : targets) {
      const Mask& om = s.objects[static_cast<size_t>(id)].mask;
      for (size_t p = 0; p < m.data.size(); ++p) m.data[p] |= om.data[p] ? 1 : 0;
    }
    auto c = im.mask_codes(s, targets, m);
    if (m_out) *m_out = std::move(m);
    return c;
  };

  if (task == "perception") {
    const int e = pick_expression(s, rng, single_target);
    if (e < 0) {
      task = "seg";
    } else {
      const auto& ex = s.expressions[static_cast<size_t>(e)];
      auto po = data::perception_options(s, e, im.sopt, im.cfg.perception_options, rng);
      auto c = codes_for(ex.targets, nullptr);
      conv = lmm::build_mask_perception(t, rng, c, po.options, po.correct);
    }
  }
  if (task == "seg_box" || task == "ground" || task == "n_tokens") {
    const int e = pick_expression(s, rng, has_targets);
    if (e < 0) {
      task = "seg";
    } else {
      const auto& ex = s.expressions[static_cast<size_t>(e)];
      const lmm::NormBox box = norm_box(data::expression_box(s, ex), W, H);
      if (task == "ground") {
        conv = lmm::build_grounding(t, rng, ex.text, box);
      } else if (task == "seg_box") {
        auto c = codes_for(ex.targets, &target);
        conv = lmm::build_segmentation_box(t, rng, ex.text, c, box);
      } else {
        const auto& ch = im.cfg.n_token_choices;
        const int n = ch[rng.below(static_cast<uint32_t>(ch.size()))];
        auto c = codes_for(ex.targets, n == lmm::kNumMaskTokens ? &target : nullptr);
        c.resize(static_cast<size_t>(n));
        conv = lmm::build_segmentation_n_tokens(t, rng, ex.text, c, box);
      }
    }
  }
  if (task == "box" || task == "point") {
    const auto& o = s.objects[rng.below(static_cast<uint32_t>(s.objects.size()))];
    auto c = codes_for({o.id}, &target);
    if (task == "box") {
      conv = lmm::build_box_prompted(t, rng, norm_box(o.box, W, H), c);
    } else {
      std::vector<std::pair<int64_t, int64_t>> px;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          if (o.mask.at(y, x)) px.emplace_back(x, y);
      const int k = rng.range(1, 3);
      std::vector<lmm::NormPoint> pts;
      for (int i = 0; i < k && !px.empty(); ++i) {
        auto [x, y] = px[rng.below(static_cast<uint32_t>(px.size()))];
        pts.push_back(lmm::normalize_point(static_cast<double>(x) + 0.5, static_cast<double>(y) + 0.5, W, H));
      }
      conv = lmm::build_point_prompted(t, rng, pts, c);
    }
  }
  if (task == "class") {
    std::vector<int> present(data::kNumShapes, 0);
    for (const auto& o : s.objects) present[static_cast<size_t>(o.shape)] = 1;
    std::vector<int> yes, no;
    for (int k = 0; k < data::kNumShapes; ++k) (present[static_cast<size_t>(k)] ? yes : no).push_back(k);
    const bool pick_present = no.empty() || (!yes.empty() && rng.chance(2.0 / 3.0));
    const auto& pool = pick_present ? yes : no;
    const int shape = pool[rng.below(static_cast<uint32_t>(pool.size()))];
    data::Descriptor d;
    d.shape = shape;
    const std::string expr = d.phrase(/*plural=*/true);
    std::vector<int> targets;
    for (const auto& o : s.objects)
      if (static_cast<int>(o.shape) == shape) targets.push_back(o.id);
    if (rng.chance(0.5)) {
      conv = lmm::build_existence(t, rng, expr, !targets.empty());
    } else if (targets.empty()) {
      conv = lmm::build_segmentation_none(t, rng, expr);
    } else {
      auto c = codes_for(targets, &target);
      conv = lmm::build_segmentation(t, rng, expr, c);
    }
  }
  if (task == "exist") {
    const auto& ex = s.expressions[rng.below(static_cast<uint32_t>(s.expressions.size()))];
    conv = lmm::build_existence(t, rng, ex.text, has_targets(ex));
  }
  if (task == "qa") {
    if (s.questions.empty()) {
      task = "seg";
    } else {
      const auto& q = s.questions[rng.below(static_cast<uint32_t>(s.questions.size()))];
      conv = lmm::build_qa(t, rng, q.question, q.answer);
    }
  }
  if (task == "seg") {
    const auto& ex = s.expressions[rng.below(static_cast<uint32_t>(s.expressions.size()))];
    if (!has_targets(ex)) {
      conv = lmm::build_segmentation_none(t, rng, ex.text);
    } else {
      auto c = codes_for(ex.targets, &target);
      conv = lmm::build_segmentation(t, rng, ex.text, c);
    }
  }

  out.task = task;
  const auto pieces = lmm::format_chat(t, conv, im.chat, false);
  out.text = lmm::join_pieces(pieces);
  lmm::EncodedChat enc = lmm::encode_chat(im.bundle->vocab, pieces);
  out.ids = std::move(enc.ids);
  out.labels = std::move(enc.labels);
  if (target.h > 0) {
    const int start = im.bundle->vocab.specials().mask_start, end = im.bundle->vocab.specials().mask_end;
    for (size_t i = 0; i < out.ids.size(); ++i) {
      if (out.ids[i] != start || out.labels[i] == lmm::kIgnoreLabel) continue;
      const size_t last = i + lmm::kNumMaskTokens + 1;
      if (last >= out.ids.size() || out.ids[last] != end)
        throw std::logic_error("lmm_data: mask span without 32 codes in " + task);
      for (size_t k = i + 1; k < last; ++k)
        if (!im.bundle->vocab.is_mask_token(out.ids[k])) throw std::logic_error("lmm_data: bad mask span in " + task);
      out.mask_start = static_cast<int64_t>(i);
      break;
    }
    if (out.mask_start < 0) throw std::logic_error("lmm_data: no answer mask in " + task);
    out.target = std::move(target);
  }
  return out;
}

LmmBatch LmmDataset::batch(int64_t step, int64_t batch_size) {
  HIMTOK_CHECK_INPUT(batch_size >= 1, "batch_size must be >= 1");
  std::vector<LmmSample> ss;
  std::vector<at::Tensor> px, tg;
  size_t T = 0;
  LmmBatch out;
  for (int64_t b = 0; b < batch_size; ++b) {
    ss.push_back(sample(step, b));
    T = std::max(T, ss.back().ids.size());
  }
  const int64_t B = batch_size, S = impl_->bundle->tokenizer_config().image_size;
  const int pad = std::max(0, impl_->bundle->vocab.specials().pad);
  out.input_ids = at::full({B, static_cast<int64_t>(T)}, pad, at::kLong);
  out.labels = at::full({B, static_cast<int64_t>(T)}, lmm::kIgnoreLabel, at::kLong);
  auto ids_a = out.input_ids.accessor<int64_t, 2>();
  auto lab_a = out.labels.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const LmmSample& s = ss[static_cast<size_t>(b)];
    for (size_t k = 0; k < s.ids.size(); ++k) {
      ids_a[b][static_cast<int64_t>(k)] = s.ids[k];
      lab_a[b][static_cast<int64_t>(k)] = s.labels[k];
    }
    out.n_tokens += static_cast<int64_t>(s.ids.size());
    out.tasks.push_back(s.task);
    if (s.mask_start >= 0) {
      out.mask_rows.push_back(b);
      out.mask_starts.push_back(s.mask_start);
      tg.push_back(tok::prepare_stretch(s.target, S).select(0, 0));
    }
  }
  std::vector<Image> imgs;
  for (auto& smp : ss) imgs.push_back(std::move(smp.image));
  out.pixel_values = lmm::pixel_values_from_images(imgs, impl_->cfg.image_side);
  out.mask_targets = tg.empty() ? at::zeros({0, S, S}, at::kFloat) : at::stack(tg);
  return out;
}

}  // namespace himtok::train
