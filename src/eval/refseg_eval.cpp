// RES / gRES / REC evaluation in the official layouts (see refseg_eval.h).
#include "eval/refseg_eval.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "eval/metrics.h"
#include "io/coco.h"
#include "io/image.h"
#include "lmm/response.h"
#include "lmm/segment.h"

namespace himtok::eval {

namespace fs = std::filesystem;
using nlohmann::json;

std::string RefsegEvalReport::to_json() const {
  json j{{"task", task}, {"n", n}, {"seconds", seconds}};
  if (task == "res") {
    j["ciou"] = ciou;
    j["giou"] = giou;
    j["n_no_mask"] = n_no_mask;
  } else {
    j["acc@0.5"] = acc50;
    j["acc@0.7"] = acc70;
    j["acc@0.9"] = acc90;
  }
  return j.dump();
}

namespace {

// "Meet all the descriptions: 1. s1. 2. s2. " (seg_dataset.py, text_mode 'all').
std::string meet_all(const std::vector<std::string>& sentences) {
  std::string s = "Meet all the descriptions: ";
  for (size_t i = 0; i < sentences.size(); ++i) s += std::to_string(i + 1) + ". " + sentences[i] + ". ";
  return s;
}

struct Rows {
  std::ofstream out;
  explicit Rows(const std::string& path) {
    if (path.empty()) return;
    out.open(path);
    HIMTOK_CHECK_INPUT(out.good(), path, ": cannot write");
  }
  void write(const json& j) {
    if (out.is_open()) out << j.dump() << "\n";
  }
};

RefsegEvalReport eval_res(const lmm::Segmenter& seg, const RefsegEvalOptions& opt) {
  std::vector<io::RefObject> refs = io::load_psalm_refs(opt.data, opt.split);
  std::vector<io::RefObject> kept;
  for (auto& r : refs)
    if (!r.sentences.empty()) kept.push_back(std::move(r));  // the gRefCOCO loader drops them
  if (opt.limit > 0 && static_cast<int64_t>(kept.size()) > opt.limit) kept.resize(static_cast<size_t>(opt.limit));
  HIMTOK_CHECK_INPUT(!kept.empty(), opt.data, ": no samples", opt.split.empty() ? "" : " in split " + opt.split);
  lmm::SegmentOptions so;
  so.max_tiles = opt.max_tiles;
  so.n_tokens = opt.n_tokens;
  so.max_new_tokens = 128;  // eval/predict.py
  so.batch_size = 1;
  ResMetrics m;
  RefsegEvalReport rep;
  rep.task = "res";
  Rows rows(opt.out_jsonl);
  Progress bar(static_cast<int64_t>(kept.size()), "RES");
  for (size_t i = 0; i < kept.size(); ++i) {
    const io::RefObject& r = kept[i];
    const Image img = io::load_image((fs::path(opt.images) / r.image_file).string(), 3);
    HIMTOK_CHECK_INPUT(img.h == r.mask.h && img.w == r.mask.w, r.image_file, ": image is ", img.w, "x", img.h,
                       " but the annotation says ", r.mask.w, "x", r.mask.h);
    const std::string q = "Segment <ref>" + meet_all(r.sentences) + "</ref>.";
    const lmm::SegmentResult a = seg.run(img, q, so);
    const IouCounts c = mask_iou_counts(a.mask, r.mask);
    m.add(c);
    rep.n_no_mask += a.has_mask() ? 0 : 1;
    rows.write({{"ref_id", r.ref_id}, {"image", r.image_file}, {"question", q}, {"answer", a.response},
                {"i", c.i}, {"u", c.u}, {"iou", iou_of(c)}, {"has_mask", a.has_mask()}});
    bar.update(static_cast<int64_t>(i + 1), "cIoU " + std::to_string(m.ciou()).substr(0, 5));
  }
  bar.finish();
  rep.n = m.n();
  rep.ciou = m.ciou();
  rep.giou = m.giou();
  return rep;
}

RefsegEvalReport eval_rec(const lmm::Segmenter& seg, const RefsegEvalOptions& opt) {
  std::ifstream in(opt.data);
  HIMTOK_CHECK_INPUT(in.good(), opt.data, ": cannot open");
  struct Sample {
    std::string image, sent;
    Box bbox;
    int64_t w = 0, h = 0;
  };
  std::vector<Sample> samples;
  std::string line;
  for (int64_t ln = 1; std::getline(in, line); ++ln) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = opt.data + ":" + std::to_string(ln);
    try {
      const json j = json::parse(line);
      const auto b = j.at("bbox").get<std::vector<double>>();
      HIMTOK_CHECK_INPUT(b.size() == 4, where, ": bbox must have 4 numbers");
      samples.push_back({j.at("image").get<std::string>(), j.at("sent").get<std::string>(), {b[0], b[1], b[2], b[3]},
                         j.at("width").get<int64_t>(), j.at("height").get<int64_t>()});
    } catch (const json::exception& e) {
      throw InputError(str_cat(where, ": not a REC row {image, sent, bbox, width, height} (", e.what(), ")"));
    }
  }
  if (opt.limit > 0 && static_cast<int64_t>(samples.size()) > opt.limit) samples.resize(static_cast<size_t>(opt.limit));
  HIMTOK_CHECK_INPUT(!samples.empty(), opt.data, ": no samples");
  lmm::SegmentOptions so;
  so.max_tiles = opt.max_tiles;
  so.n_tokens = opt.n_tokens;
  so.max_new_tokens = 100;  // evaluate_grounding.py
  so.min_new_tokens = 1;
  so.batch_size = 1;
  RefsegEvalReport rep;
  rep.task = "rec";
  int64_t hit50 = 0, hit70 = 0, hit90 = 0;
  Rows rows(opt.out_jsonl);
  Progress bar(static_cast<int64_t>(samples.size()), "REC");
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    const Image img = io::load_image((fs::path(opt.images) / fs::path(s.image).filename()).string(), 3);
    const std::string q = "First create the segmentation mask for <ref>Meet all the descriptions: 1. " + s.sent +
                          ". 2. " + s.sent + ". </ref>, then identify its bounding box.";
    const lmm::SegmentResult a = seg.run(img, q, so);
    const auto b = lmm::official_rec_box(a.response, s.w, s.h);
    const double iou = box_iou({b[0], b[1], b[2], b[3]}, s.bbox);
    hit50 += iou >= 0.5, hit70 += iou >= 0.7, hit90 += iou >= 0.9;
    rows.write({{"image", s.image}, {"question", q}, {"answer", a.response}, {"box", b}, {"iou", iou}});
    bar.update(static_cast<int64_t>(i + 1));
  }
  bar.finish();
  rep.n = static_cast<int64_t>(samples.size());
  rep.acc50 = static_cast<double>(hit50) / static_cast<double>(rep.n);
  rep.acc70 = static_cast<double>(hit70) / static_cast<double>(rep.n);
  rep.acc90 = static_cast<double>(hit90) / static_cast<double>(rep.n);
  return rep;
}

}  // namespace

RefsegEvalReport evaluate_refseg(const lmm::Segmenter& seg, const RefsegEvalOptions& opt) {
  HIMTOK_CHECK_INPUT(fs::is_regular_file(opt.data), opt.data, ": no such file");
  HIMTOK_CHECK_INPUT(fs::is_directory(opt.images), opt.images, ": no such folder");
  const auto t0 = std::chrono::steady_clock::now();
  const bool rec = fs::path(opt.data).extension() == ".jsonl";
  RefsegEvalReport r = rec ? eval_rec(seg, opt) : eval_res(seg, opt);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace himtok::eval
