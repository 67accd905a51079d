// HiMTok's training jsonl as a mask source: one JSON object per line with "image", "mask" and
// "conversations" (example/anns/seg_data_with_mask.jsonl in the official repo). Mask paths are
// relative to the dataset root, which in the official layout (root/anns/x.jsonl,
// root/masks/0.png) is the parent of the jsonl's folder; paths relative to the jsonl's own
// folder are accepted too, and absolute paths as they are. Lines without a "mask" (text-only
// samples) are skipped. group = the "image" path (one image, one side of a split).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/masks_sources.h"
#include "io/image.h"
#include "io/limits.h"

namespace fs = std::filesystem;

namespace himtok::data::detail {

namespace {

struct JsonlItem {
  std::string id, group, mask_path;
};

class JsonlSource : public MaskSource, public GroupInfo {
 public:
  explicit JsonlSource(std::string path) : path_(std::move(path)) {
    std::ifstream f(path_);
    HIMTOK_CHECK_INPUT(f.good(), path_, ": cannot open");
    fs::path dir = fs::path(path_).parent_path();
    fs::path root = dir.parent_path();
    std::string stem = fs::path(path_).stem().string();
    std::string line;
    int64_t line_no = 0;
    while (std::getline(f, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const nlohmann::json j = io::parse_json(line, str_cat(path_, ":", line_no));  // depth-limited
      HIMTOK_CHECK_INPUT(j.is_object(), path_, ":", line_no, ": expected a JSON object");
      if (!j.contains("mask") || j["mask"].is_null()) {
        ++n_skipped_;
        continue;
      }
      HIMTOK_CHECK_INPUT(j["mask"].is_string(), path_, ":", line_no, ": \"mask\" must be a string");
      std::string rel = j["mask"].get<std::string>();
      fs::path found;
      std::vector<fs::path> tried;
      if (fs::path(rel).is_absolute()) {
        tried.push_back(rel);
      } else {
        tried.push_back(root / rel);
        tried.push_back(dir / rel);
      }
      for (const auto& p : tried)
        if (fs::is_regular_file(p)) {
          found = p;
          break;
        }
      HIMTOK_CHECK_INPUT(!found.empty(), path_, ":", line_no, ": mask '", rel, "' not found (looked at ",
                         tried.front().string(), tried.size() > 1 ? " and " + tried.back().string() : "", ")");
      JsonlItem it;
      it.id = str_cat(stem, ":", line_no);
      it.group = j.contains("image") && j["image"].is_string() ? j["image"].get<std::string>() : rel;
      it.mask_path = found.string();
      items_.push_back(std::move(it));
    }
    HIMTOK_CHECK_INPUT(!items_.empty(), path_, ": no lines with a \"mask\" (", n_skipped_, " without)");
  }
  size_t size() const override { return items_.size(); }
  MaskItem get(size_t i) const override {
    HIMTOK_CHECK_INPUT(i < items_.size(), path_, ": index ", i, " out of range (", items_.size(), " masks)");
    MaskItem m;
    m.id = items_[i].id;
    m.group = items_[i].group;
    m.mask = io::load_mask(items_[i].mask_path, 127);
    return m;
  }
  std::string item_group(size_t i) const override { return items_.at(i).group; }
  std::string describe() const override {
    return str_cat("himtok-jsonl ", path_, ": ", items_.size(), " masks (", n_skipped_, " lines without a mask)");
  }

 private:
  std::string path_;
  std::vector<JsonlItem> items_;
  int64_t n_skipped_ = 0;
};

}  // namespace

std::unique_ptr<MaskSource> make_jsonl_source(const std::string& path) { return std::make_unique<JsonlSource>(path); }

}  // namespace himtok::data::detail
