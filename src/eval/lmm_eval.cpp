// LMM evaluation over generated scenes (see lmm_eval.h).
#include "eval/lmm_eval.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/scenes.h"
#include "eval/metrics.h"
#include "io/draw.h"
#include "io/image.h"
#include "lmm/templates.h"

namespace himtok::eval {

namespace {

// A deterministic subset of k indices out of [0, n) (Fisher-Yates on Pcg32).
std::vector<int> pick(int n, int k, data::Pcg32& rng) {
  std::vector<int> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  for (int i = n - 1; i > 0; --i) std::swap(v[static_cast<size_t>(i)], v[rng.below(static_cast<uint32_t>(i + 1))]);
  v.resize(static_cast<size_t>(std::min(n, k)));
  std::sort(v.begin(), v.end());
  return v;
}

struct Item {
  size_t scene;
  int expr;
};

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

bool held_out_target(const data::Scene& s, const data::Expression& e, const data::SceneOptions& so) {
  for (int t : e.targets) {
    const auto& o = s.objects[static_cast<size_t>(t)];
    if (data::is_held_out(so, o.color, o.shape)) return true;
  }
  return false;
}

}  // namespace

LmmEvalReport evaluate_lmm(const lmm::Segmenter& seg, const LmmEvalOptions& opt) {
  static const std::set<std::string> known = {"res", "gres", "rec", "ov", "perception"};
  for (const auto& t : opt.tasks) HIMTOK_CHECK_INPUT(known.count(t), "eval: unknown task '", t, "' (res, gres, rec, ov, perception)");
  HIMTOK_CHECK_INPUT(opt.n_scenes >= 1, "eval: --scenes must be >= 1");
  HIMTOK_CHECK_INPUT(std::find(opt.token_counts.begin(), opt.token_counts.end(), 32) != opt.token_counts.end(),
                     "eval: token counts must include 32");
  for (int n : opt.token_counts) HIMTOK_CHECK_INPUT(n >= 1 && n <= 32, "eval: token count ", n, " outside 1..32");
  auto want = [&](const char* t) { return std::find(opt.tasks.begin(), opt.tasks.end(), t) != opt.tasks.end(); };

  data::SceneOptions so;
  so.size = opt.scene_size;
  so.seed = opt.seed;
  const data::SceneSplit split = data::parse_split(opt.split);
  std::vector<data::Scene> scenes;
  for (int i = 0; i < opt.n_scenes; ++i) scenes.push_back(data::generate_scene(split, static_cast<uint64_t>(i), so));

  // Expression choices, fixed by (seed, scene index).
  std::vector<Item> single, any;
  for (size_t i = 0; i < scenes.size(); ++i) {
    data::Pcg32 rng(data::seed_mix(opt.seed, i), 0xE7A1);
    std::vector<int> s1, all;
    for (size_t e = 0; e < scenes[i].expressions.size(); ++e) {
      all.push_back(static_cast<int>(e));
      if (scenes[i].expressions[e].targets.size() == 1) s1.push_back(static_cast<int>(e));
    }
    for (int k : pick(static_cast<int>(s1.size()), opt.res_per_scene, rng)) single.push_back({i, s1[static_cast<size_t>(k)]});
    for (int k : pick(static_cast<int>(all.size()), opt.gres_per_scene, rng)) any.push_back({i, all[static_cast<size_t>(k)]});
  }
  auto expr_of = [&](const Item& it) -> const data::Expression& {
    return scenes[it.scene].expressions[static_cast<size_t>(it.expr)];
  };

  LmmEvalReport rep;
  std::ostringstream table;
  table << "| task | setting | metric | value | n |\n|---|---|---|---|---|\n";
  auto line = [&](nlohmann::json j) { rep.json_lines.push_back(j.dump()); };

  // ---- RES (+ token ablation, per kind, held out)
  if (want("res")) {
    std::vector<lmm::Query> q;
    for (const auto& it : single) q.push_back({&scenes[it.scene].image, seg.segment_question(expr_of(it).text)});
    log::info(str_cat("eval res: ", q.size(), " expressions"));
    lmm::SegmentOptions o = opt.seg;
    o.n_tokens = 32;
    auto rs = seg.run(q, o);
    std::map<int, ResMetrics> by_tokens;
    std::map<std::string, ResMetrics> by_kind;
    ResMetrics held;
    int64_t n_with_mask = 0;
    std::vector<int> counts = opt.token_counts;
    std::sort(counts.rbegin(), counts.rend());  // 32 first
    std::vector<Mask> gallery_masks;
    for (size_t k = 0; k < rs.size(); ++k) {
      const auto& sc = scenes[single[k].scene];
      const auto& ex = expr_of(single[k]);
      const Mask gt = data::expression_mask(sc, ex);
      n_with_mask += rs[k].has_mask();
      for (int n : counts) {
        if (n != 32) seg.redecode(rs[k], n, o.from_ids, sc.image.h, sc.image.w);
        by_tokens[n].add(rs[k].mask, gt);
        if (n == 32) {
          by_kind[data::expr_kind_name(ex.kind)].add(rs[k].mask, gt);
          if (held_out_target(sc, ex, so)) held.add(rs[k].mask, gt);
          if (static_cast<int>(gallery_masks.size()) < opt.gallery_n) gallery_masks.push_back(rs[k].mask);
        }
      }
    }
    for (auto& [n, m] : by_tokens) {
      line({{"task", "res"}, {"tokens", n}, {"ciou", m.ciou()}, {"giou", m.giou()}, {"n", m.n()}});
      table << "| res | " << n << " tokens | cIoU / gIoU | " << fmt(m.ciou()) << " / " << fmt(m.giou()) << " | " << m.n() << " |\n";
    }
    for (auto& [kind, m] : by_kind) {
      line({{"task", "res"}, {"tokens", 32}, {"kind", kind}, {"ciou", m.ciou()}, {"giou", m.giou()}, {"n", m.n()}});
      table << "| res | kind " << kind << " | cIoU / gIoU | " << fmt(m.ciou()) << " / " << fmt(m.giou()) << " | " << m.n() << " |\n";
    }
    if (held.n() > 0) {
      line({{"task", "res"}, {"tokens", 32}, {"subset", "held_out"}, {"ciou", held.ciou()}, {"giou", held.giou()}, {"n", held.n()}});
      table << "| res | held-out combos | cIoU / gIoU | " << fmt(held.ciou()) << " / " << fmt(held.giou()) << " | " << held.n() << " |\n";
    }
    const double rate = rs.empty() ? 0.0 : static_cast<double>(n_with_mask) / static_cast<double>(rs.size());
    line({{"task", "res"}, {"tokens", 32}, {"metric", "mask_rate"}, {"value", rate}, {"n", rs.size()}});
    table << "| res | answers with a mask | rate | " << fmt(rate) << " | " << rs.size() << " |\n";

    if (!opt.gallery.empty() && !gallery_masks.empty()) {
      const int64_t tile = 224, cols = 4, cap = 40;
      const int64_t rows = (static_cast<int64_t>(gallery_masks.size()) + cols - 1) / cols;
      Image canvas = io::make_canvas(rows * (tile + cap), cols * tile);
      for (size_t k = 0; k < gallery_masks.size(); ++k) {
        const auto& sc = scenes[single[k].scene];
        const int64_t x = static_cast<int64_t>(k) % cols * tile, y = static_cast<int64_t>(k) / cols * (tile + cap);
        const Mask gt = data::expression_mask(sc, expr_of(single[k]));
        Image ov = io::overlay_mask(io::overlay_mask(sc.image, gt, {0, 190, 0}, 0.25), gallery_masks[k], {255, 0, 255}, 0.45);
        io::paste(canvas, ov, x, y, tile, tile);
        const double iou = mask_iou(gallery_masks[k], gt);
        const std::string text = expr_of(single[k]).text;
        size_t cut = text.size();
        if (cut > 36) {
          cut = text.rfind(' ', 36);
          if (cut == std::string::npos) cut = 36;
        }
        io::draw_text(canvas, x + 3, y + tile + 3, text.substr(0, cut), {0, 0, 0}, 1);
        if (cut < text.size()) io::draw_text(canvas, x + 3, y + tile + 14, text.substr(cut + (text[cut] == ' '), 36), {0, 0, 0}, 1);
        io::draw_text(canvas, x + 3, y + tile + 26, "IoU " + fmt(iou).substr(0, 5), {120, 0, 120}, 1);
      }
      io::save_image(opt.gallery, canvas);
    }
  }

  // ---- REC
  if (want("rec")) {
    std::vector<lmm::Query> q;
    for (const auto& it : single) q.push_back({&scenes[it.scene].image, seg.seg_box_question(expr_of(it).text)});
    log::info(str_cat("eval rec: ", q.size(), " expressions"));
    lmm::SegmentOptions o = opt.seg;
    auto rs = seg.run(q, o);
    RecMetrics m;
    for (size_t k = 0; k < rs.size(); ++k) {
      const auto& sc = scenes[single[k].scene];
      const data::PixelBox gb = data::expression_box(sc, expr_of(single[k]));
      const Box gt{static_cast<double>(gb.x0), static_cast<double>(gb.y0), static_cast<double>(gb.x1),
                   static_cast<double>(gb.y1)};
      m.add(parse_box(rs[k].response, sc.image.w, sc.image.h, kBoxDivisorInternVL), gt);
    }
    line({{"task", "rec"}, {"acc50", m.acc_at(0.5)}, {"acc70", m.acc_at(0.7)}, {"acc90", m.acc_at(0.9)}, {"n", m.n()}});
    table << "| rec | box after mask | Acc@0.5 / 0.7 / 0.9 | " << fmt(m.acc_at(0.5)) << " / " << fmt(m.acc_at(0.7))
          << " / " << fmt(m.acc_at(0.9)) << " | " << m.n() << " |\n";
  }

  // ---- GRES
  if (want("gres")) {
    std::vector<const Image*> imgs;
    std::vector<std::string> exprs;
    for (const auto& it : any) {
      imgs.push_back(&scenes[it.scene].image);
      exprs.push_back(expr_of(it).text);
    }
    log::info(str_cat("eval gres: ", exprs.size(), " expressions"));
    auto rs = seg.gres(imgs, exprs, opt.seg);
    GresMetrics m;
    for (size_t k = 0; k < rs.size(); ++k) m.add(rs[k].mask, data::expression_mask(scenes[any[k].scene], expr_of(any[k])));
    line({{"task", "gres"}, {"ciou", m.ciou()}, {"giou", m.giou()}, {"nacc", m.nacc()}, {"tacc", m.tacc()}, {"n", m.n()}});
    table << "| gres | exist, then segment | cIoU / gIoU / N-acc / T-acc | " << fmt(m.ciou()) << " / " << fmt(m.giou())
          << " / " << fmt(m.nacc()) << " / " << fmt(m.tacc()) << " | " << m.n() << " |\n";
  }

  // ---- Open vocabulary
  if (want("ov")) {
    const int n = std::min(opt.ov_scenes, opt.n_scenes);
    std::vector<std::string> classes;
    for (int s = 0; s < data::kNumShapes; ++s) {
      data::Descriptor d;
      d.shape = s;
      classes.push_back(d.phrase(/*plural=*/true));
    }
    const int32_t bg = data::kNumShapes;
    SemSegMetrics m(bg + 1, 255);
    log::info(str_cat("eval ov: ", n, " scenes x ", classes.size(), " classes"));
    Progress bar(n, "eval ov");
    for (int i = 0; i < n; ++i) {
      const auto& sc = scenes[static_cast<size_t>(i)];
      auto r = seg.open_vocab(sc.image, classes, opt.seg);
      LabelMap pred{sc.image.h, sc.image.w, std::vector<int32_t>(r.labels.size())};
      for (size_t p = 0; p < r.labels.size(); ++p) pred.data[p] = r.labels[p] < 0 ? bg : r.labels[p];
      LabelMap gt{sc.image.h, sc.image.w, std::vector<int32_t>(r.labels.size(), bg)};
      for (const auto& o : sc.objects)
        for (size_t p = 0; p < gt.data.size(); ++p)
          if (o.mask.data[p]) gt.data[p] = static_cast<int32_t>(o.shape);
      m.add(pred, gt);
      bar.update(i + 1);
    }
    bar.finish();
    const auto ious = m.class_iou();
    double sum = 0;
    int cnt = 0;
    for (int c = 0; c < bg; ++c)
      if (!std::isnan(ious[static_cast<size_t>(c)])) sum += ious[static_cast<size_t>(c)], ++cnt;
    const double miou = cnt ? sum / cnt : 0.0;
    line({{"task", "ov"}, {"miou", miou}, {"miou_with_background", m.miou()}, {"n", n}, {"classes", classes}});
    table << "| ov | 6 shape classes | mIoU (with background) | " << fmt(miou) << " (" << fmt(m.miou()) << ") | " << n << " |\n";
  }

  // ---- Mask perception
  if (want("perception")) {
    std::vector<lmm::Query> q;
    std::vector<std::string> answers;
    const auto& t = seg.templates();
    for (size_t i = 0; i < scenes.size(); ++i) {
      std::vector<const Item*> mine;
      for (const auto& it : single)
        if (it.scene == i) mine.push_back(&it);
      if (mine.empty()) continue;
      const Item& it = *mine.front();
      data::Pcg32 rng(data::seed_mix(opt.seed, i), 0x9E7C);
      auto po = data::perception_options(scenes[i], it.expr, so, opt.perception_options, rng);
      const auto codes = seg.encode_mask(data::expression_mask(scenes[i], expr_of(it)));
      const std::string question = lmm::fill_template(
          t.group("perception_instruction").templates.at(0),
          {lmm::format_mask_tokens(codes), lmm::format_options(po.options)});
      q.push_back({&scenes[i].image, question});
      answers.push_back(std::string(1, static_cast<char>('A' + po.correct)));
    }
    log::info(str_cat("eval perception: ", q.size(), " questions"));
    lmm::SegmentOptions o = opt.seg;
    o.max_new_tokens = std::min(o.max_new_tokens, 32);
    auto rs = seg.run(q, o);
    ChoiceMetrics m;
    for (size_t k = 0; k < rs.size(); ++k) m.add(rs[k].response, answers[k]);
    line({{"task", "perception"}, {"acc", m.accuracy()}, {"n", m.n()}});
    table << "| perception | " << opt.perception_options << " options | accuracy | " << fmt(m.accuracy()) << " | "
          << m.n() << " |\n";
  }
  rep.table = table.str();
  return rep;
}

}  // namespace himtok::eval
