// Mask sources over folders of PNGs:
//   binary:  every *.png under DIR (recursive), gray > 127 -> 1; one mask per file.
//   palette: every *.png under DIR (recursive), one mask per object id. stb_image expands
//            palette PNGs to RGB, so objects are told apart by colour: colours of the standard
//            PASCAL-VOC/DAVIS palette map back to their index (id "#2"), other colours (e.g. COCO
//            panoptic id = R + 256 G + 65536 B) are named "#rrggbb"; 1-channel PNGs use the gray
//            value as the id. Black (id 0) is background and id 255 is VOC's "void"; both skipped.
// group: the PNG's parent folder name (the video sequence for DAVIS, e.g. "bike-packing", so
// results of two methods on one sequence share a group); for a PNG directly in DIR, its stem.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "data/masks_sources.h"
#include "io/image.h"

namespace fs = std::filesystem;

namespace himtok::data::detail {

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  size_t n_threads = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), n));
  if (n_threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n_threads; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) {
        try {
          fn(i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu);
          if (!error) error = std::current_exception();
          next = n;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  if (error) std::rethrow_exception(error);
}

namespace {

bool is_png(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png";
}

// Sorted relative paths of all PNGs under dir.
std::vector<std::string> list_pngs(const std::string& dir) {
  HIMTOK_CHECK_INPUT(fs::is_directory(dir), dir, ": no such directory");
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && is_png(it->path())) out.push_back(fs::relative(it->path(), dir).generic_string());
  }
  HIMTOK_CHECK_INPUT(!ec, dir, ": cannot list (", ec.message(), ")");
  HIMTOK_CHECK_INPUT(!out.empty(), dir, ": no *.png files");
  std::sort(out.begin(), out.end());
  return out;
}

std::string group_of(const std::string& rel) {
  fs::path p(rel);
  if (p.has_parent_path() && !p.parent_path().empty()) return p.parent_path().filename().generic_string();
  return p.stem().generic_string();
}

std::string join(const std::string& dir, const std::string& rel) { return (fs::path(dir) / rel).string(); }

// ---------------------------------------------------------------------------------------------

class PngDirSource : public MaskSource, public GroupInfo {
 public:
  explicit PngDirSource(std::string dir) : dir_(std::move(dir)), files_(list_pngs(dir_)) {}
  size_t size() const override { return files_.size(); }
  MaskItem get(size_t i) const override {
    HIMTOK_CHECK_INPUT(i < files_.size(), dir_, ": index ", i, " out of range (", files_.size(), " masks)");
    MaskItem it;
    it.id = files_[i];
    it.group = group_of(files_[i]);
    it.mask = io::load_mask(join(dir_, files_[i]), 127);
    return it;
  }
  std::string describe() const override { return str_cat("png-dir ", dir_, ": ", files_.size(), " masks"); }
  std::string item_group(size_t i) const override { return group_of(files_.at(i)); }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

// ---------------------------------------------------------------------------------------------

// PASCAL-VOC colour map (also DAVIS's): index bits spread over the high bits of R, G, B.
const std::map<uint32_t, int>& voc_palette_index() {
  static const std::map<uint32_t, int> table = [] {
    std::map<uint32_t, int> t;
    for (int i = 0; i < 256; ++i) {
      int r = 0, g = 0, b = 0, c = i;
      for (int j = 0; j < 8; ++j) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
      }
      t[(static_cast<uint32_t>(r) << 16) | (g << 8) | b] = i;
    }
    return t;
  }();
  return table;
}

constexpr uint32_t kGrayTag = 1u << 24;  // key of a 1-channel id: kGrayTag | value

struct PaletteObject {
  uint32_t file;   // index into files_
  uint32_t key;    // packed RGB, or kGrayTag | gray value
  int64_t area;
  std::string name;  // "#2" or "#rrggbb"
};

// Distinct object keys of one image with their pixel counts, in key order.
std::vector<std::pair<uint32_t, int64_t>> count_keys(const Image& img) {
  std::map<uint32_t, int64_t> counts;
  const int64_t n = img.h * img.w;
  if (img.c <= 2) {
    std::array<int64_t, 256> hist{};
    for (int64_t i = 0; i < n; ++i) ++hist[img.data[static_cast<size_t>(i * img.c)]];
    for (int v = 1; v < 255; ++v)
      if (hist[v]) counts[kGrayTag | v] = hist[v];
  } else {
    uint32_t last = 0xFFFFFFFF;
    int64_t* last_count = nullptr;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = &img.data[static_cast<size_t>(i * img.c)];
      uint32_t key = (static_cast<uint32_t>(p[0]) << 16) | (p[1] << 8) | p[2];
      if (key == 0) continue;
      if (key != last) {
        last = key;
        last_count = &counts[key];
      }
      ++*last_count;
    }
    counts.erase(0xE0E0C0);  // VOC void: (224, 224, 192) = index 255
  }
  return {counts.begin(), counts.end()};
}

std::string key_name(uint32_t key) {
  if (key & kGrayTag) return str_cat("#", key & 0xFF);
  const auto& voc = voc_palette_index();
  auto it = voc.find(key);
  if (it != voc.end()) return str_cat("#", it->second);
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%06x", key);
  return buf;
}

// Sort rank of a key within one file: VOC index order first, then other colours.
uint64_t key_rank(uint32_t key) {
  if (key & kGrayTag) return key & 0xFF;
  const auto& voc = voc_palette_index();
  auto it = voc.find(key);
  return it != voc.end() ? static_cast<uint64_t>(it->second) : (1ull << 32) + key;
}

class PaletteSource : public MaskSource, public AreaInfo, public GroupInfo {
 public:
  explicit PaletteSource(std::string dir) : dir_(std::move(dir)), files_(list_pngs(dir_)) {
    std::vector<std::vector<std::pair<uint32_t, int64_t>>> per_file(files_.size());
    parallel_for(files_.size(), [&](size_t f) { per_file[f] = count_keys(io::load_image(join(dir_, files_[f]))); });
    for (size_t f = 0; f < files_.size(); ++f) {
      auto& keys = per_file[f];
      std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return key_rank(a.first) < key_rank(b.first); });
      for (auto& [key, area] : keys) objects_.push_back({static_cast<uint32_t>(f), key, area, key_name(key)});
    }
    HIMTOK_CHECK_INPUT(!objects_.empty(), dir_, ": ", files_.size(), " PNGs but no objects (all background)");
  }
  size_t size() const override { return objects_.size(); }
  MaskItem get(size_t i) const override {
    HIMTOK_CHECK_INPUT(i < objects_.size(), dir_, ": index ", i, " out of range (", objects_.size(), " masks)");
    const PaletteObject& o = objects_[i];
    const std::string& rel = files_[o.file];
    Image img = io::load_image(join(dir_, rel));
    MaskItem it;
    it.id = rel + o.name;
    it.group = group_of(rel);
    it.mask = Mask(img.h, img.w);
    const int64_t n = img.h * img.w;
    for (int64_t p = 0; p < n; ++p) {
      const uint8_t* px = &img.data[static_cast<size_t>(p * img.c)];
      uint32_t key = img.c <= 2 ? (kGrayTag | px[0]) : (static_cast<uint32_t>(px[0]) << 16) | (px[1] << 8) | px[2];
      it.mask.data[static_cast<size_t>(p)] = key == o.key;
    }
    return it;
  }
  std::string describe() const override {
    return str_cat("palette ", dir_, ": ", objects_.size(), " masks in ", files_.size(), " PNGs");
  }
  int64_t item_area(size_t i) const override { return objects_.at(i).area; }
  std::string item_group(size_t i) const override { return group_of(files_[objects_.at(i).file]); }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  std::vector<PaletteObject> objects_;
};

}  // namespace

std::unique_ptr<MaskSource> make_png_dir_source(const std::string& dir) { return std::make_unique<PngDirSource>(dir); }
std::unique_ptr<MaskSource> make_palette_source(const std::string& dir) { return std::make_unique<PaletteSource>(dir); }

}  // namespace himtok::data::detail
