// data/: mask sources (PNG folder, palette PNGs, HiMTok jsonl, synthetic), group splits, the
// minimum-area filter, the synthetic generator and stage-1 augmentation.
// Fixtures: tests/data/davis (6 DAVIS palette frames; object pixel counts written by Pillow in
// expected_objects.txt) and tests/data/himtok-examples (the official example jsonl + masks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "data/augment.h"
#include "data/mask_source.h"
#include "data/masks_filter.h"
#include "data/synthetic.h"
#include "io/image.h"
#include "io/resize.h"

namespace fs = std::filesystem;
using himtok::FloatMap;
using himtok::InputError;
using himtok::Mask;
using namespace himtok::data;

namespace {

const std::string kData = HIMTOK_TEST_DATA;

// A fresh temporary folder per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / (std::string("himtok_test_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& rel, const std::string& text) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  fs::path path_;
};

// Background pixels not 4-connected to the frame border (i.e. inside holes).
int64_t enclosed_background(const Mask& m) {
  std::vector<uint8_t> seen(m.data.size(), 0);
  std::vector<int64_t> stack;
  auto push = [&](int64_t y, int64_t x) {
    if (y < 0 || x < 0 || y >= m.h || x >= m.w) return;
    size_t i = static_cast<size_t>(y * m.w + x);
    if (seen[i] || m.data[i]) return;
    seen[i] = 1;
    stack.push_back(static_cast<int64_t>(i));
  };
  for (int64_t x = 0; x < m.w; ++x) push(0, x), push(m.h - 1, x);
  for (int64_t y = 0; y < m.h; ++y) push(y, 0), push(y, m.w - 1);
  while (!stack.empty()) {
    int64_t i = stack.back();
    stack.pop_back();
    int64_t y = i / m.w, x = i % m.w;
    push(y - 1, x), push(y + 1, x), push(y, x - 1), push(y, x + 1);
  }
  int64_t n = 0;
  for (size_t i = 0; i < m.data.size(); ++i) n += !m.data[i] && !seen[i];
  return n;
}

bool touches_border(const Mask& m) {
  for (int64_t x = 0; x < m.w; ++x)
    if (m.at(0, x) || m.at(m.h - 1, x)) return true;
  for (int64_t y = 0; y < m.h; ++y)
    if (m.at(y, 0) || m.at(y, m.w - 1)) return true;
  return false;
}

double sum(const FloatMap& f) {
  double s = 0;
  for (float v : f.data) s += v;
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Synthetic masks

TEST(DataSynthetic, DeterministicAcrossCallsAndDiffersAcrossSeeds) {
  for (uint64_t i = 0; i < 14; ++i) {
    SyntheticMask a = make_synthetic_mask(5, i), b = make_synthetic_mask(5, i), c = make_synthetic_mask(6, i);
    EXPECT_EQ(a.mask.data, b.mask.data) << i;
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_NE(a.mask.data, c.mask.data) << i;
    if (i > 0) {
      EXPECT_NE(a.mask.data, make_synthetic_mask(5, i - 1).mask.data);
    }
  }
}

TEST(DataSynthetic, AreaWithinRangeAndAllKindsAppear) {
  SyntheticOptions opt;
  opt.h = 96, opt.w = 160;
  opt.min_area_frac = 0.01, opt.max_area_frac = 0.5;
  std::map<SyntheticKind, int> kinds;
  int holes_with_hole = 0, n_holes = 0, border_touching = 0, n_border = 0;
  for (uint64_t i = 0; i < 160; ++i) {
    SyntheticMask s = make_synthetic_mask(11, i, opt);
    ASSERT_EQ(s.mask.h, 96);
    ASSERT_EQ(s.mask.w, 160);
    double frac = static_cast<double>(s.mask.area()) / (96 * 160);
    EXPECT_GE(frac, opt.min_area_frac) << i;
    EXPECT_LE(frac, opt.max_area_frac) << i;
    for (uint8_t v : s.mask.data) ASSERT_LE(v, 1);
    ++kinds[s.kind];
    if (s.kind == SyntheticKind::kHoles) n_holes++, holes_with_hole += enclosed_background(s.mask) > 0;
    if (s.kind == SyntheticKind::kBorder) n_border++, border_touching += touches_border(s.mask);
  }
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kNumSyntheticKinds));
  EXPECT_GE(holes_with_hole * 10, n_holes * 8) << holes_with_hole << "/" << n_holes;  // >= 80%
  EXPECT_EQ(border_touching, n_border);
}

// Area-balanced sampling draws areas log-uniformly, so small objects are common; uniform area
// sampling makes them rare. With [0.004, 0.6], P(area < 3%) is 0.40 vs 0.04.
TEST(DataSynthetic, AreaBalancedMakesSmallObjectsCommon) {
  SyntheticOptions bal, uni;
  bal.h = bal.w = uni.h = uni.w = 96;
  uni.area_balanced = false;
  int small_bal = 0, small_uni = 0;
  for (uint64_t i = 0; i < 150; ++i) {
    small_bal += make_synthetic_mask(3, i, bal).mask.area() < 0.03 * 96 * 96;
    small_uni += make_synthetic_mask(3, i, uni).mask.area() < 0.03 * 96 * 96;
  }
  EXPECT_GE(small_bal, 40);
  EXPECT_LE(small_uni, 20);
}

TEST(DataSynthetic, BadOptionsRaiseInputError) {
  SyntheticOptions o;
  o.h = 0;
  EXPECT_THROW(make_synthetic_mask(0, 0, o), InputError);
  o = SyntheticOptions{};
  o.min_area_frac = 0.5, o.max_area_frac = 0.1;
  EXPECT_THROW(make_synthetic_mask(0, 0, o), InputError);
}

// ---------------------------------------------------------------------------------------------
// Sources

TEST(DataSources, PngDirOfBinaryMasks) {
  auto src = open_mask_source(kData + "/himtok-examples/masks");
  ASSERT_EQ(src->size(), 4u);
  MaskItem it = src->get(0);
  EXPECT_EQ(it.id, "0.png");
  EXPECT_EQ(it.group, "0");  // a PNG directly in DIR is its own group
  EXPECT_EQ(it.mask.h, 148);
  EXPECT_EQ(it.mask.w, 640);
  Mask raw = himtok::io::load_mask(kData + "/himtok-examples/masks/0.png", -1);
  int64_t above = std::count_if(raw.data.begin(), raw.data.end(), [](uint8_t v) { return v > 127; });
  EXPECT_EQ(it.mask.area(), above);
  EXPECT_NE(src->describe().find("4 masks"), std::string::npos);
}

TEST(DataSources, PaletteSplitsOneMaskPerColourWithPillowCounts) {
  auto src = open_mask_source("palette:" + kData + "/davis");
  std::ifstream f(kData + "/davis/expected_objects.txt");
  std::vector<std::tuple<std::string, int, int64_t>> want;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string file;
    int id;
    int64_t count;
    is >> file >> id >> count;
    want.emplace_back(file, id, count);
  }
  ASSERT_EQ(want.size(), 15u);
  ASSERT_EQ(src->size(), want.size());
  std::map<std::string, Mask> union_per_frame;
  for (size_t i = 0; i < src->size(); ++i) {
    MaskItem it = src->get(i);
    auto [file, id, count] = want[i];
    EXPECT_EQ(it.id, file + "#" + std::to_string(id));
    EXPECT_EQ(it.group, file.substr(0, file.find('/')));
    EXPECT_EQ(it.mask.area(), count) << it.id;
    // objects of one frame are disjoint
    Mask& u = union_per_frame[file];
    if (u.data.empty()) u = Mask(it.mask.h, it.mask.w);
    for (size_t p = 0; p < u.data.size(); ++p) {
      ASSERT_FALSE(u.data[p] && it.mask.data[p]) << it.id;
      u.data[p] |= it.mask.data[p];
    }
  }
}

TEST(DataSources, PaletteNamesVocAndOtherColours) {
  TempDir tmp;
  himtok::Image img(4, 5, 3, 0);
  auto set = [&](int y, int x, uint8_t r, uint8_t g, uint8_t b) {
    img.px(y, x)[0] = r, img.px(y, x)[1] = g, img.px(y, x)[2] = b;
  };
  for (int x = 0; x < 3; ++x) set(0, x, 128, 0, 0);  // VOC index 1
  set(1, 1, 0x12, 0x34, 0x56);                         // not in the palette
  set(1, 2, 0x12, 0x34, 0x56);
  set(3, 4, 224, 224, 192);  // VOC void (255): skipped
  fs::create_directories(tmp.str() + "/seq");
  himtok::io::save_image(tmp.str() + "/seq/f.png", img);
  auto src = open_mask_source("palette:" + tmp.str());
  ASSERT_EQ(src->size(), 2u);
  EXPECT_EQ(src->get(0).id, "seq/f.png#1");
  EXPECT_EQ(src->get(0).mask.area(), 3);
  EXPECT_EQ(src->get(1).id, "seq/f.png#123456");
  EXPECT_EQ(src->get(1).mask.area(), 2);
  EXPECT_EQ(src->get(1).group, "seq");
}

TEST(DataSources, HimtokJsonlResolvesMasksAgainstTheDatasetRoot) {
  auto src = open_mask_source(kData + "/himtok-examples/anns/seg_data_with_mask.jsonl");
  ASSERT_EQ(src->size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    MaskItem it = src->get(i);
    EXPECT_EQ(it.group, "images/" + std::to_string(i) + ".jpg");
    EXPECT_EQ(it.id, "seg_data_with_mask:" + std::to_string(i + 1));
    Mask want = himtok::io::load_mask(kData + "/himtok-examples/masks/" + std::to_string(i) + ".png", 127);
    EXPECT_EQ(it.mask.data, want.data);
  }
}

TEST(DataSources, JsonlSkipsTextOnlyLinesAndRejectsBadOnes) {
  TempDir tmp;
  fs::copy_file(kData + "/himtok-examples/masks/1.png", tmp.str() + "/m.png");
  std::string ok = tmp.file("a.jsonl", "{\"image\": \"x.jpg\", \"mask\": \"m.png\", \"conversations\": []}\n"
                                       "{\"image\": \"y.jpg\", \"conversations\": []}\n\n");
  auto src = open_mask_source(ok);  // mask next to the jsonl: accepted too
  EXPECT_EQ(src->size(), 1u);
  EXPECT_NE(src->describe().find("1 lines without a mask"), std::string::npos);
  EXPECT_THROW(open_mask_source(tmp.file("b.jsonl", "{\"image\": \"x.jpg\", \"mask\": \"nope.png\"}\n")), InputError);
  EXPECT_THROW(open_mask_source(tmp.file("c.jsonl", "{\"image\": \"x.jpg\", \"mask\": \n")), InputError);
  EXPECT_THROW(open_mask_source(tmp.file("d.jsonl", "{\"image\": \"x.jpg\"}\n")), InputError);  // no masks at all
  try {
    open_mask_source(tmp.file("e.jsonl", "{\"mask\": \"m.png\"}\n[1]\n"));
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("e.jsonl:2: expected a JSON object"), std::string::npos) << e.what();
  }
}

TEST(DataSources, SyntheticSpec) {
  auto a = open_mask_source("synthetic:6:3"), b = open_mask_source("synthetic:6:3"), c = open_mask_source("synthetic:6");
  ASSERT_EQ(a->size(), 6u);
  std::set<std::string> groups;
  for (size_t i = 0; i < 6; ++i) {
    MaskItem x = a->get(i), y = b->get(i);
    EXPECT_EQ(x.mask.data, y.mask.data);
    EXPECT_EQ(x.id, y.id);
    EXPECT_GE(std::max(x.mask.h, x.mask.w), 256);
    EXPECT_LE(std::max(x.mask.h, x.mask.w), 640);
    EXPECT_GT(x.mask.area(), 0);
    groups.insert(x.group);
    EXPECT_NE(x.mask.data, c->get(i).mask.data);  // seed 0 differs from seed 3
  }
  EXPECT_EQ(groups.size(), 6u);
}

TEST(DataSources, BadSpecsRaiseInputError) {
  for (const std::string& spec : std::vector<std::string>{"", "synthetic:", "synthetic:abc", "synthetic:0", "synthetic:5:x", "synthetic:-3",
                           "palette:/nonexistent/dir", "/nonexistent/dir", "/nonexistent/x.json",
                           "/nonexistent/x.jsonl", kData + "/davis/SOURCE.txt"}) {
    EXPECT_THROW(open_mask_source(spec), InputError) << "'" << spec << "'";
  }
  TempDir tmp;
  EXPECT_THROW(open_mask_source(tmp.str()), InputError);  // no PNGs
  try {
    open_mask_source("synthetic:abc");
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find("synthetic:abc"), 0u) << msg;  // subject first
    EXPECT_EQ(msg.find('\n'), std::string::npos);     // one line
  }
}

TEST(DataSources, CorruptPngRaisesInputError) {
  TempDir tmp;
  tmp.file("seq/00000.png", "\x89PNG\r\n\x1a\nthis is not a png");
  auto dir = open_mask_source(tmp.str());  // lazy: the file is read on get()
  ASSERT_EQ(dir->size(), 1u);
  EXPECT_THROW(dir->get(0), InputError);
  EXPECT_THROW(open_mask_source("palette:" + tmp.str()), InputError);  // palette indexes at open
}

// ---------------------------------------------------------------------------------------------
// Splits and filters

TEST(DataSplit, GroupsNeverShareASide) {
  auto src = open_mask_source("palette:" + kData + "/davis");
  for (uint64_t seed = 0; seed < 4; ++seed) {
    Split s = split_by_group(*src, 500, seed);
    EXPECT_EQ(s.train.size() + s.val.size(), src->size());
    std::set<std::string> train_groups, val_groups;
    for (size_t i : s.train) train_groups.insert(src->get(i).group);
    for (size_t i : s.val) val_groups.insert(src->get(i).group);
    for (const auto& g : val_groups) EXPECT_EQ(train_groups.count(g), 0u) << g;
    Split again = split_by_group(*src, 500, seed);
    EXPECT_EQ(again.val, s.val);
  }
  EXPECT_TRUE(split_by_group(*src, 0, 1).val.empty());
  EXPECT_TRUE(split_by_group(*src, 1000, 1).train.empty());
  EXPECT_THROW(split_by_group(*src, 1001, 1), InputError);
  EXPECT_THROW(split_by_group(*src, -1, 1), InputError);
}

TEST(DataSplit, ValShareFollowsPermille) {
  auto src = open_mask_source("synthetic:3000:1");  // one group per item; groups need no decoding
  Split s = split_by_group(*src, 100, 42);
  EXPECT_NEAR(static_cast<double>(s.val.size()) / 3000, 0.1, 0.02);
}

TEST(DataFilter, MinAreaUsesPaletteCounts) {
  auto all = filter_min_area(open_mask_source("palette:" + kData + "/davis"));  // default 16 px
  EXPECT_EQ(all->size(), 15u);
  auto big = filter_min_area(open_mask_source("palette:" + kData + "/davis"), 9000);
  // expected_objects.txt: 6 bike-packing objects (>= 35009) + dogs-jump #3 in frames 0 and 1
  ASSERT_EQ(big->size(), 8u);
  for (size_t i = 0; i < big->size(); ++i) EXPECT_GE(big->get(i).mask.area(), 9000);
  EXPECT_EQ(big->get(7).id, "dogs-jump/00001.png#3");
  auto none = filter_min_area(open_mask_source(kData + "/himtok-examples/masks"), 1000000);
  EXPECT_EQ(none->size(), 0u);
  EXPECT_THROW(filter_min_area(open_mask_source("synthetic:2"), -1), InputError);
}

// ---------------------------------------------------------------------------------------------
// Augmentation

namespace {
Mask test_object() {  // 120 x 200 frame, an L-shaped object
  Mask m(120, 200);
  for (int y = 20; y < 100; ++y)
    for (int x = 30; x < 70; ++x) m.at(y, x) = 1;
  for (int y = 80; y < 100; ++y)
    for (int x = 70; x < 150; ++x) m.at(y, x) = 1;
  return m;
}
AugmentOptions no_aug() {
  AugmentOptions o;
  o.p_crop = o.p_zoom_out = o.p_hflip = o.p_vflip = o.p_morph = 0;
  return o;
}
}  // namespace

TEST(DataAugment, DeterministicSizedAndBounded) {
  Mask m = test_object();
  for (uint64_t i = 0; i < 10; ++i) {
    FloatMap a = augment_mask(m, 9, i), b = augment_mask(m, 9, i);
    EXPECT_EQ(a.data, b.data);
    ASSERT_EQ(a.h, 256);
    ASSERT_EQ(a.w, 256);
    for (float v : a.data) ASSERT_TRUE(v >= 0.f && v <= 1.f);
  }
  int differ = 0;
  for (uint64_t i = 1; i < 10; ++i) differ += augment_mask(m, 9, i).data != augment_mask(m, 9, 0).data;
  EXPECT_GE(differ, 8);
}

TEST(DataAugment, NothingAppliedIsTheOfficialStretch) {
  Mask m = test_object();
  AugmentRecord rec;
  FloatMap a = augment_mask(m, 1, 2, no_aug(), &rec);
  EXPECT_EQ(a.data, himtok::io::stretch_mask_official(m, 256).data);
  EXPECT_EQ(rec.x1 - rec.x0, 200);
  EXPECT_EQ(rec.morph_kernel, 0);
}

// PIL's filter centres are symmetric, so a flipped input gives the mirrored output, up to one
// 8-bit level (1/255) where a fixed-point coefficient rounds differently.
TEST(DataAugment, HorizontalFlipMirrors) {
  Mask m = test_object();
  AugmentOptions o = no_aug();
  o.p_hflip = 1;
  FloatMap base = augment_mask(m, 1, 0, no_aug()), flipped = augment_mask(m, 1, 0, o);
  double max_abs = 0;
  for (int y = 0; y < 256; ++y)
    for (int x = 0; x < 256; ++x)
      max_abs = std::max(max_abs, std::fabs(double(flipped.data[y * 256 + x]) - base.data[y * 256 + 255 - x]));
  EXPECT_LE(max_abs, 1.0 / 255 + 1e-6);
}

TEST(DataAugment, CropsKeepTheObjectAndZoomOutShrinksIt) {
  Mask m = test_object();
  const int64_t area = m.area();
  AugmentOptions crop = no_aug();
  crop.p_crop = 1;
  AugmentOptions zoom = no_aug();
  zoom.p_zoom_out = 1;
  double base = sum(augment_mask(m, 1, 0, no_aug()));
  int n_cropped = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    AugmentRecord rec;
    augment_mask(m, 4, i, crop, &rec);
    if (!rec.cropped) continue;
    ++n_cropped;
    EXPECT_GE(rec.x0, 0);
    EXPECT_LE(rec.x1, 200);
    EXPECT_GE(rec.x1 - rec.x0, 100);  // crop_min_side 0.5 of 200
    EXPECT_GE(rec.y1 - rec.y0, 60);
    int64_t kept = 0;
    for (int64_t y = rec.y0; y < rec.y1; ++y)
      for (int64_t x = rec.x0; x < rec.x1; ++x) kept += m.at(y, x);
    EXPECT_GE(kept, 0.8 * area);
    AugmentRecord zr;
    FloatMap z = augment_mask(m, 4, i, zoom, &zr);
    EXPECT_TRUE(zr.zoomed_out);
    EXPECT_LE(zr.x0, 0);
    EXPECT_GE(zr.x1, 200);
    EXPECT_LE(sum(z), base + 1e-3);  // the object covers a smaller share of the window
  }
  EXPECT_GE(n_cropped, 15);
}

TEST(DataAugment, MorphologyDilatesAndErodes) {
  Mask m = test_object();
  AugmentOptions dil = no_aug(), ero = no_aug();
  dil.p_morph = ero.p_morph = 1;
  dil.p_dilate = 1, ero.p_dilate = 0;
  double base = sum(augment_mask(m, 1, 0, no_aug()));
  for (uint64_t i = 0; i < 5; ++i) {
    AugmentRecord rd, re;
    double d = sum(augment_mask(m, 2, i, dil, &rd)), e = sum(augment_mask(m, 2, i, ero, &re));
    EXPECT_TRUE(rd.dilate);
    EXPECT_GE(rd.morph_kernel, 3);
    EXPECT_LE(rd.morph_kernel, 7);
    EXPECT_GT(d, base);
    EXPECT_LT(e, base);
  }
}

// cv2-style anchors: a k-wide kernel covers [x - k/2, x + k - 1 - k/2].
TEST(DataAugment, RectMorphologyByHand) {
  Mask dot(9, 9);
  dot.at(5, 5) = 1;
  Mask d = dilate_rect(dot, 3, 3);
  EXPECT_EQ(d.area(), 9);
  EXPECT_EQ(d.at(4, 4), 1);
  EXPECT_EQ(d.at(6, 6), 1);
  Mask d4 = dilate_rect(dot, 4, 1);  // x in [4, 7]
  EXPECT_EQ(d4.area(), 4);
  EXPECT_EQ(d4.at(5, 4), 1);
  EXPECT_EQ(d4.at(5, 7), 1);
  EXPECT_EQ(d4.at(5, 3), 0);
  Mask sq(9, 9);
  for (int y = 2; y < 7; ++y)
    for (int x = 2; x < 7; ++x) sq.at(y, x) = 1;
  Mask e = erode_rect(sq, 3, 3);
  EXPECT_EQ(e.area(), 9);
  EXPECT_EQ(e.at(3, 3), 1);
  EXPECT_EQ(e.at(2, 2), 0);
  Mask full(4, 4, 1);  // pixels outside the image do not erode
  EXPECT_EQ(erode_rect(full, 3, 3).area(), 16);
}

TEST(DataAugment, EmptyMaskRaisesInputError) {
  EXPECT_THROW(augment_mask(Mask(), 0, 0), InputError);
}
