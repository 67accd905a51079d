// io/coco (COCO instances / results, RefCOCO refs, PSALM layout) and data/coco_source, checked
// through the readers against the pycocotools oracle rows in tests/data/oracle (every row of
// coco_fakesegm100_decode, coco_panoptic_rle_vs_png and refcocog_umd_fixture_poly2rle), plus
// hand-built files for each segmentation form and for malformed input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/coco_source.h"
#include "io/coco.h"
#include "io/rle.h"
#include "oracle_helpers.h"

using himtok::InputError;
using himtok::Mask;
using namespace himtok::io;
using json = nlohmann::json;
using himtok::test::bbox_of;
using himtok::test::mask_sha;
using himtok::test::read_jsonl;

namespace {

std::string data_path(const std::string& rel) { return std::string(HIMTOK_TEST_DATA) + "/" + rel; }

// Expects InputError whose message is one line and contains `part`.
template <typename F>
void expect_input_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected InputError containing '" << part << "'";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// A 2x3 instances file with one annotation whose segmentation is `seg`.
std::string one_ann_file(const std::string& seg) {
  return R"({"images": [{"id": 7, "height": 2, "width": 3, "file_name": "a.jpg"}],
             "categories": [{"id": 1, "name": "thing"}],
             "annotations": [{"id": 5, "image_id": 7, "category_id": 1, "iscrowd": 0,
                              "segmentation": )" +
         seg + "}]}";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The three segmentation forms, hand-counted

TEST(IoCoco, SegmentationForms) {
  // Row-major 2x3 mask   # . .    column-major runs [0, 2, 1, 1, 2]; compressed: '0' '2' '1',
  //                      # # .    then 1-2 = -1 -> 31 -> 'O', then 2-1 = 1 -> '1': "021O1".
  const std::vector<uint8_t> want = {1, 0, 0, 1, 1, 0};
  for (const std::string seg : {R"({"size": [2, 3], "counts": [0, 2, 1, 1, 2]})",
                                R"({"size": [2, 3], "counts": "021O1"})"}) {
    SCOPED_TRACE(seg);
    CocoDataset ds = parse_coco(one_ann_file(seg), "t.json");
    ASSERT_EQ(ds.annotations.size(), 1u);
    const CocoAnnotation& a = ds.annotations[0];
    EXPECT_EQ(a.id, 5);
    EXPECT_EQ(a.image_id, 7);
    EXPECT_EQ(a.category_id, 1);
    EXPECT_EQ(a.segmentation.kind, CocoSegmentation::Kind::kRle);
    EXPECT_EQ(annotation_to_rle(ds, a).counts, (std::vector<uint32_t>{0, 2, 1, 1, 2}));
    EXPECT_EQ(annotation_to_mask(ds, a).data, want);
    EXPECT_EQ(ds.categories.at(1), "thing");
    EXPECT_EQ(ds.find_image(7)->file_name, "a.jpg");
  }
}

TEST(IoCoco, PolygonsAndFourNumberBoxes) {
  // A 4x4 image; the polygon (1,1) (1,3) (3,3) (3,1) covers pixels x, y in {1, 2}: column-major
  // 5, 6, 9, 10 -> runs [5, 2, 2, 2, 5]. pycocotools reads [[1, 1, 2, 2]] (4 numbers) as the box
  // x=1, y=1, w=2, h=2, which is the same square.
  auto file = [](const std::string& seg) {
    return R"({"images": [{"id": 1, "height": 4, "width": 4}], "annotations": [{"id": 1, "image_id": 1, "segmentation": )" +
           seg + "}]}";
  };
  for (const std::string seg : {"[[1, 1, 1, 3, 3, 3, 3, 1]]", "[[1, 1, 2, 2]]", "[[1, 1, 1, 3, 3, 3, 3, 1], [1, 1, 2, 2]]"}) {
    SCOPED_TRACE(seg);
    CocoDataset ds = parse_coco(file(seg), "p.json");
    EXPECT_EQ(annotation_to_rle(ds, ds.annotations.at(0)).counts, (std::vector<uint32_t>{5, 2, 2, 2, 5}));
  }
  // An empty polygon list is an empty mask (pycocotools would fail on it).
  CocoDataset ds = parse_coco(file("[]"), "p.json");
  EXPECT_EQ(annotation_to_rle(ds, ds.annotations.at(0)).counts, (std::vector<uint32_t>{16}));
  // Boxes and polygons mixed after a box first: refused, as frPyObjects cannot take them.
  CocoDataset mixed = parse_coco(file("[[1, 1, 2, 2], [1, 1, 1, 3, 3, 3]]"), "p.json");
  expect_input_error([&] { annotation_to_rle(mixed, mixed.annotations.at(0)); }, "polygon 1 has 6 numbers");
}

TEST(IoCoco, ResultsListGetsIdsAndSizesFromRle) {
  const std::string text = R"([{"image_id": 3, "category_id": 2, "score": 0.5,
                                "segmentation": {"size": [2, 3], "counts": "021O1"}},
                               {"image_id": 4, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.25}])";
  CocoDataset ds = parse_coco(text, "r.json");
  EXPECT_TRUE(ds.is_results);
  ASSERT_EQ(ds.annotations.size(), 2u);
  EXPECT_EQ(ds.annotations[0].id, 1);
  EXPECT_EQ(ds.annotations[1].id, 2);
  EXPECT_DOUBLE_EQ(ds.annotations[0].score, 0.5);
  EXPECT_EQ(annotation_to_mask(ds, ds.annotations[0]).data, (std::vector<uint8_t>{1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(ds.annotations[1].segmentation.kind, CocoSegmentation::Kind::kNone);
  EXPECT_TRUE(ds.annotations[1].has_bbox);
  expect_input_error([&] { annotation_to_rle(ds, ds.annotations[1]); }, "no segmentation");
  // Polygons in a results list have no image size to rasterise into.
  CocoDataset poly = parse_coco(R"([{"image_id": 3, "segmentation": [[0, 0, 1, 0, 1, 1]]}])", "r.json");
  expect_input_error([&] { annotation_to_rle(poly, poly.annotations[0]); }, "need the image size");
}

// ---------------------------------------------------------------------------------------------
// Malformed input

TEST(IoCoco, MalformedFilesRaiseInputError) {
  expect_input_error([] { parse_coco("{\"images\": [", "bad.json"); }, "bad.json: invalid JSON");
  expect_input_error([] { parse_coco("", "empty.json"); }, "empty.json: invalid JSON");
  expect_input_error([] { parse_coco("42", "n.json"); }, "n.json: expected a COCO instances object or a results list");
  expect_input_error([] { parse_coco("{\"info\": {}}", "n.json"); }, "expected a COCO file");
  expect_input_error([] { parse_coco("[1, 2]", "r.json"); }, "r.json[0]: expected an object");
  expect_input_error([] { parse_coco(R"([{"segmentation": {"size": [2, 3], "counts": "021O1"}}])", "r.json"); },
                     "r.json[0]: missing field 'image_id'");
  expect_input_error([] { parse_coco(R"({"images": [{"id": 1, "width": 3}]})", "i.json"); },
                     "i.json: images[0]: missing field 'height'");
  expect_input_error([] { parse_coco(R"({"images": [{"id": 1, "height": "2", "width": 3}]})", "i.json"); },
                     "images[0].height: expected an integer");
  expect_input_error(
      [] { parse_coco(R"({"images": [{"id": 1, "height": 2, "width": 3}, {"id": 1, "height": 2, "width": 3}]})", "i.json"); },
      "duplicate image id 1");
  // Compressed counts: a char outside '0'..'o', and counts past h*w.
  expect_input_error([] { parse_coco(one_ann_file(R"({"size": [2, 3], "counts": "02~"})"), "t.json"); },
                     "t.json: annotations[0].segmentation: RLE string: char 2");
  expect_input_error([] { parse_coco(one_ann_file(R"({"size": [2, 3], "counts": "07"})"), "t.json"); },
                     "counts sum to more than h*w = 6");
  // Uncompressed counts: negative, fractional, summing past h*w.
  expect_input_error([] { parse_coco(one_ann_file(R"({"size": [2, 3], "counts": [0, -2, 8]})"), "t.json"); },
                     "segmentation.counts[1]: run length -2");
  expect_input_error([] { parse_coco(one_ann_file(R"({"size": [2, 3], "counts": [0, 2.5]})"), "t.json"); },
                     "segmentation.counts[1]: expected an integer");
  expect_input_error([] { parse_coco(one_ann_file(R"({"size": [2, 3], "counts": [3, 3, 3]})"), "t.json"); },
                     "counts sum to 9, expected at most h*w = 6");
  expect_input_error([] { parse_coco(one_ann_file(R"({"size": [2], "counts": [6]})"), "t.json"); },
                     "segmentation.size: expected [height, width]");
  expect_input_error([] { parse_coco(one_ann_file(R"([[0, 0, 1]])"), "t.json"); }, "3 coordinates");
  expect_input_error([] { parse_coco(one_ann_file(R"([[0, 0, "x", 1, 2, 2]])"), "t.json"); },
                     "segmentation[0][2]: expected a number");
  expect_input_error([] { parse_coco(one_ann_file("7"), "t.json"); }, "segmentation: expected an object");
  // RLE size differing from its image.
  CocoDataset ds = parse_coco(one_ann_file(R"({"size": [3, 2], "counts": [6]})"), "t.json");
  expect_input_error([&] { annotation_to_rle(ds, ds.annotations[0]); }, "RLE size [3, 2], expected the image size [2, 3]");
  expect_input_error([] { load_coco(data_path("coco/no_such_file.json")); }, "no_such_file.json: no such file");
  expect_input_error([] { himtok::data::make_coco_mask_source(data_path("coco/no_such_file.json")); }, "no such file");
}

// ---------------------------------------------------------------------------------------------
// Oracle rows through the readers

TEST(IoCocoOracle, FakeSegm100ResultsThroughReader) {
  CocoDataset ds = load_coco(data_path("coco/fakesegm100/instances_val2014_fakesegm100_results.json"));
  EXPECT_TRUE(ds.is_results);
  ASSERT_EQ(ds.annotations.size(), 734u);
  auto rows = read_jsonl("oracle/coco_fakesegm100_decode.jsonl");
  ASSERT_EQ(rows.size(), 734u);
  for (const json& r : rows) {
    const CocoAnnotation& a = ds.annotations.at(r["index"].get<size_t>());
    SCOPED_TRACE("index " + std::to_string(r["index"].get<int>()));
    EXPECT_EQ(a.image_id, r["image_id"].get<int64_t>());
    EXPECT_EQ(a.category_id, r["category_id"].get<int64_t>());
    Rle rle = annotation_to_rle(ds, a);
    EXPECT_EQ(rle.h, r["h"].get<int64_t>());
    EXPECT_EQ(rle.w, r["w"].get<int64_t>());
    EXPECT_EQ(rle.counts.size(), r["n_runs"].get<size_t>());
    EXPECT_EQ(rle_area(rle), r["area"].get<uint64_t>());
    EXPECT_EQ(rle_to_bbox(rle), bbox_of(r["bbox"]));
    EXPECT_EQ(mask_sha(rle_decode(rle)), r["mask_sha256_rowmajor"].get<std::string>());
  }
}

TEST(IoCocoOracle, PanopticDetectionFormatThroughReader) {
  CocoDataset ds = load_coco(data_path("coco/panoptic/panoptic_coco_detection_format.json"));
  EXPECT_FALSE(ds.is_results);
  EXPECT_EQ(ds.images.size(), 2u);
  std::map<int64_t, const CocoAnnotation*> by_id;
  for (const CocoAnnotation& a : ds.annotations) by_id[a.id] = &a;
  auto rows = read_jsonl("oracle/coco_panoptic_rle_vs_png.jsonl");
  ASSERT_EQ(rows.size(), 50u);
  int n_crowd = 0;
  for (const json& r : rows) {
    SCOPED_TRACE("det ann " + std::to_string(r["det_ann_id"].get<int64_t>()));
    const CocoAnnotation& a = *by_id.at(r["det_ann_id"].get<int64_t>());
    EXPECT_EQ(a.image_id, r["image_id"].get<int64_t>());
    EXPECT_EQ(a.category_id, r["category_id"].get<int64_t>());
    EXPECT_EQ(a.iscrowd, r["iscrowd"].get<int>() != 0);
    n_crowd += a.iscrowd;
    Rle rle = annotation_to_rle(ds, a);
    EXPECT_EQ(rle_to_string(rle), r["counts"].get<std::string>());
    EXPECT_EQ(rle_area(rle), r["rle_area"].get<uint64_t>());
    EXPECT_EQ(a.area, r["json_area"].get<double>());
    EXPECT_EQ(rle_to_bbox(rle), bbox_of(r["rle_bbox"]));
    EXPECT_EQ(a.bbox, bbox_of(r["json_bbox"]));
    EXPECT_EQ(mask_sha(annotation_to_mask(ds, a)), r["mask_sha256_rowmajor"].get<std::string>());
  }
  EXPECT_EQ(n_crowd, 3);  // SOURCE.txt: 47 segments + 3 crowd
}

TEST(IoCocoOracle, RefcocogRefsAndPsalmLayout) {
  auto rows = read_jsonl("oracle/refcocog_umd_fixture_poly2rle.jsonl");
  ASSERT_EQ(rows.size(), 15u);
  const std::string inst_path = data_path("refcocog/instances.json");
  CocoDataset inst = load_coco(inst_path);
  EXPECT_EQ(inst.images.size(), 15u);
  EXPECT_EQ(inst.annotations.size(), 108u);
  std::map<int64_t, const CocoAnnotation*> ann_by_id;
  for (const CocoAnnotation& a : inst.annotations) ann_by_id[a.id] = &a;

  auto refs = load_refcoco_refs(data_path("refcocog/derived_refs_umd.json"), inst_path);
  auto psalm = load_psalm_refs(data_path("refcocog/derived_himtok_psalm_format.json"));
  ASSERT_EQ(refs.size(), 15u);
  ASSERT_EQ(psalm.size(), 15u);
  std::map<int64_t, const RefObject*> ref_by_id, psalm_by_id;
  size_t n_sent = 0;
  for (const RefObject& r : refs) {
    ref_by_id[r.ref_id] = &r;
    n_sent += r.sentences.size();
  }
  for (const RefObject& r : psalm) psalm_by_id[r.ref_id] = &r;
  EXPECT_EQ(n_sent, 28u);  // SOURCE.txt: 28 referring sentences

  for (const json& row : rows) {
    const int64_t ref_id = row["ref_id"], ann_id = row["ann_id"];
    SCOPED_TRACE("ref " + std::to_string(ref_id));
    const std::string sha = row["mask_sha256_rowmajor"];
    // The annotation itself (frPoly per polygon + merge = annToRLE).
    Rle rle = annotation_to_rle(inst, *ann_by_id.at(ann_id));
    EXPECT_EQ(rle_to_string(rle), row["counts"].get<std::string>());
    EXPECT_EQ(rle_area(rle), row["rle_area"].get<uint64_t>());
    EXPECT_EQ(rle_to_bbox(rle), bbox_of(row["rle_bbox"]));
    // The refs reader.
    const RefObject& r = *ref_by_id.at(ref_id);
    EXPECT_EQ(r.image_id, row["image_id"].get<int64_t>());
    EXPECT_EQ(r.ann_ids, std::vector<int64_t>{ann_id});
    EXPECT_EQ(r.mask.h, row["h"].get<int64_t>());
    EXPECT_EQ(r.mask.w, row["w"].get<int64_t>());
    EXPECT_EQ(mask_sha(r.mask), sha);
    char file[64];
    std::snprintf(file, sizeof file, "COCO_train2014_%012lld.jpg", static_cast<long long>(r.image_id));
    EXPECT_EQ(r.image_file, file);
    // The PSALM layout: same object, same sentences, same GT.
    const RefObject& p = *psalm_by_id.at(ref_id);
    EXPECT_EQ(p.image_id, r.image_id);
    EXPECT_EQ(p.sentences, r.sentences);
    EXPECT_EQ(p.ann_ids, r.ann_ids);
    EXPECT_EQ(p.category_id, r.category_id);
    EXPECT_EQ(p.split, r.split);
    EXPECT_EQ(p.image_file, r.image_file);
    EXPECT_EQ(mask_sha(p.mask), sha);
  }
  // Split filters: 5 refs each (SOURCE.txt).
  for (const char* split : {"train", "val", "test"}) {
    EXPECT_EQ(load_refcoco_refs(data_path("refcocog/derived_refs_umd.json"), inst_path, split).size(), 5u) << split;
    EXPECT_EQ(load_psalm_refs(data_path("refcocog/derived_himtok_psalm_format.json"), split).size(), 5u) << split;
  }
}

TEST(IoCoco, RefsWithSeveralOrNoTargets) {
  // gRefCOCO-style refs: ann_id as a list; [-1] = no target. Two 1x2 annotations in a 2x2 image:
  // ann 1 = pixel (0,0), ann 2 = pixel (1,1) (uncompressed RLE, column-major indices 0 and 3).
  const std::string dir = ::testing::TempDir();
  const std::string inst = dir + "/himtok_grefs_instances.json", refs = dir + "/himtok_grefs_refs.json";
  std::ofstream(inst) << R"({"images": [{"id": 9, "height": 2, "width": 2, "file_name": "g.jpg"}],
    "annotations": [{"id": 1, "image_id": 9, "category_id": 3, "segmentation": {"size": [2, 2], "counts": [0, 1, 3]}},
                    {"id": 2, "image_id": 9, "category_id": 3, "segmentation": {"size": [2, 2], "counts": [3, 1]}}]})";
  std::ofstream(refs) << R"([{"ref_id": 1, "image_id": 9, "ann_id": [1, 2], "split": "val", "sentences": [{"sent": "both"}]},
    {"ref_id": 2, "image_id": 9, "ann_id": [-1], "split": "val", "sentences": [{"sent": "nothing"}]},
    {"ref_id": 3, "image_id": 9, "ann_id": 2, "split": "val", "sentences": []}])";
  auto out = load_refcoco_refs(refs, inst);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].mask.data, (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(out[0].ann_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(out[1].mask.data, (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_TRUE(out[1].ann_ids.empty());
  EXPECT_EQ(out[2].mask.data, (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_TRUE(out[2].sentences.empty());
  // A ref pointing at a missing annotation, and at a missing image.
  std::ofstream(refs) << R"([{"ref_id": 1, "image_id": 9, "ann_id": 4, "sentences": []}])";
  expect_input_error([&] { load_refcoco_refs(refs, inst); }, "annotation 4 is not in");
  std::ofstream(refs) << R"([{"ref_id": 1, "image_id": 8, "ann_id": 1, "sentences": []}])";
  expect_input_error([&] { load_refcoco_refs(refs, inst); }, "image 8 is not in");
  std::ofstream(refs) << R"([{"ref_id": 1, "image_id": 9, "ann_id": 1, "sentences": [{"raw": "x"}]}])";
  expect_input_error([&] { load_refcoco_refs(refs, inst); }, "sentences[0]: missing field 'sent'");
  // PSALM entry with an empty-segmentation ann and a malformed one.
  const std::string psalm = dir + "/himtok_psalm.json";
  std::ofstream(psalm) << R"([{"image_info": {"height": 2, "width": 2, "file_name": "g.jpg", "id": 9},
    "instruction": [{"sent": "a"}], "anns": [{"id": 1, "segmentation": []}, {"id": 2, "segmentation": {"size": [2, 2], "counts": [3, 1]}}]}])";
  auto ps = load_psalm_refs(psalm);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].mask.data, (std::vector<uint8_t>{0, 0, 0, 1}));
  std::ofstream(psalm) << R"([{"image_info": {"height": 2, "width": 2}, "instruction": [], "anns": [{"segmentation": {"size": [2, 3], "counts": [6]}}]}])";
  expect_input_error([&] { load_psalm_refs(psalm); }, "anns[0].segmentation: RLE size [2, 3], expected the image size [2, 2]");
  std::ofstream(psalm) << R"([{"image_info": {"height": 2, "width": 2}, "anns": []}])";
  expect_input_error([&] { load_psalm_refs(psalm); }, "missing field 'instruction'");
}

// ---------------------------------------------------------------------------------------------
// data/coco_source

TEST(DataCocoSource, FakeSegm100AsMaskSource) {
  auto src = himtok::data::make_coco_mask_source(data_path("coco/fakesegm100/instances_val2014_fakesegm100_results.json"));
  ASSERT_EQ(src->size(), 734u);
  EXPECT_NE(src->describe().find("734 masks from 99 images"), std::string::npos) << src->describe();
  auto rows = read_jsonl("oracle/coco_fakesegm100_decode.jsonl");
  for (size_t i : {size_t{0}, size_t{1}, size_t{733}}) {
    himtok::data::MaskItem item = src->get(i);
    EXPECT_EQ(item.group, std::to_string(rows[i]["image_id"].get<int64_t>()));
    EXPECT_EQ(item.id, "instances_val2014_fakesegm100_results.json#ann" + std::to_string(i + 1));
    EXPECT_EQ(mask_sha(item.mask), rows[i]["mask_sha256_rowmajor"].get<std::string>());
  }
}

TEST(DataCocoSource, PolygonInstancesAsMaskSource) {
  auto src = himtok::data::make_coco_mask_source(data_path("refcocog/instances.json"));
  EXPECT_EQ(src->size(), 108u);
  EXPECT_NE(src->describe().find("108 masks from 15 images"), std::string::npos) << src->describe();
  std::set<std::string> groups;
  for (size_t i = 0; i < src->size(); ++i) groups.insert(src->get(i).group);
  EXPECT_EQ(groups.size(), 15u);
}
