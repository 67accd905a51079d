// COCO JSON readers (nlohmann::json inside, not in this header; no libtorch):
//   - instances files {"images", "annotations", "categories"} and result lists [{"image_id", ...}];
//   - a "segmentation" as polygons, uncompressed RLE {size, counts: [ints]} or compressed RLE
//     {size, counts: "string"}, turned into an Rle exactly as pycocotools' COCO.annToRLE
//     (frPoly per polygon + merge; see io/rle.h for the conventions);
//   - RefCOCO-style refs (lichengunc/refer refs(*).p converted to JSON) + instances, and the
//     PSALM / HiMTok eval layout ({image_info, instruction: [{sent}], anns}), each giving the
//     sentences and the GT mask (OR over the referred annotations) of every referred object.
// Every malformed file, field or value raises InputError naming the file and the field.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/mask.h"
#include "io/rle.h"

namespace himtok::io {

struct CocoSegmentation {
  enum class Kind { kNone, kPolygons, kRle };
  Kind kind = Kind::kNone;                     // kNone: no (or null) "segmentation" field
  std::vector<std::vector<double>> polygons;   // kPolygons: [x0, y0, x1, y1, ...] each
  Rle rle;                                     // kRle: compressed or uncompressed, size from the JSON
};

struct CocoImage {
  int64_t id = 0;
  int64_t h = 0, w = 0;
  std::string file_name;
};

struct CocoAnnotation {
  int64_t id = 0;           // results lists without "id" get 1, 2, ... (as pycocotools loadRes)
  int64_t image_id = 0;
  int64_t category_id = 0;
  bool iscrowd = false;
  double score = 0;         // results lists; 0 when absent
  bool has_bbox = false;
  Bbox bbox{};              // the JSON "bbox" when has_bbox
  double area = 0;          // the JSON "area" (polygon area for polygons), 0 when absent
  CocoSegmentation segmentation;
};

struct CocoDataset {
  std::string path;         // for messages
  bool is_results = false;  // the file was a top-level list
  std::vector<CocoImage> images;
  std::vector<CocoAnnotation> annotations;
  std::map<int64_t, std::string> categories;  // id -> name
  std::map<int64_t, size_t> image_index;      // image id -> index in images

  const CocoImage* find_image(int64_t id) const;  // nullptr when unknown
};

// Reads a COCO instances file or a results list. `name` labels messages (default: the path).
CocoDataset load_coco(const std::string& path);
CocoDataset parse_coco(const std::string& json_text, const std::string& name);

// pycocotools annToRLE for one segmentation in an h x w image: polygons -> frPoly each + merge
// (an empty polygon list gives an empty mask; a list whose polygons all have 4 numbers is read as
// [x, y, w, h] boxes, as frPyObjects does); RLE -> as stored (its size must equal h x w).
Rle segmentation_to_rle(const CocoSegmentation& seg, int64_t h, int64_t w, const std::string& what);
// The annotation's Rle / mask; the size comes from its image, else from its RLE.
// InputError if there is no segmentation or (polygons) no image size.
Rle annotation_to_rle(const CocoDataset& ds, const CocoAnnotation& ann);
Mask annotation_to_mask(const CocoDataset& ds, const CocoAnnotation& ann);

// One referred object with all its expressions (the official RES protocol evaluates each object
// once, with all its sentences).
struct RefObject {
  int64_t ref_id = -1;                 // -1 when the file has none
  int64_t image_id = -1;
  int64_t category_id = -1;            // -1 when unknown (e.g. no-target)
  std::string split;                   // "train" / "val" / "test" / ... ("" when absent)
  std::string image_file;              // the COCO image file name, e.g. COCO_train2014_000000122469.jpg
  std::vector<std::string> sentences;  // the "sent" of each expression, in file order
  std::vector<int64_t> ann_ids;        // referred annotations; empty for a no-target ref
  Mask mask;                           // GT: OR over the referred annotations, image size
};

// RefCOCO/+/g and gRefCOCO refs as JSON (a list of {ref_id, ann_id (int or list; -1 = none),
// image_id, split, sentences: [{sent}], category_id}) with the COCO instances file they index.
// With a non-empty `split`, only refs of that split are returned.
std::vector<RefObject> load_refcoco_refs(const std::string& refs_json, const std::string& instances_json,
                                         const std::string& split = "");

// The PSALM / HiMTok eval layout read by HiMTok eval/seg_dataset.py::ReferSegDataset: a list of
// {image_info: {file_name, height, width, id}, instruction: [{sent}], anns: [COCO annotations],
// split?, ref_id?}. GT = OR over anns (an ann with an empty segmentation adds nothing). Entries
// with no instruction are kept (the official gRefCOCO eval drops them: filter on sentences).
std::vector<RefObject> load_psalm_refs(const std::string& json_path, const std::string& split = "");

}  // namespace himtok::io
