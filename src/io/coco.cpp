// COCO JSON, RefCOCO refs and the PSALM eval layout -> annotations, Rle and masks.
// Field access goes through small checked getters so that every bad value names its file and
// JSON path ("x.json: annotations[3].segmentation.size: ...").
#include "io/coco.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "io/limits.h"

namespace himtok::io {

namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Files and checked getters

std::string read_text(const std::string& path) {
  HIMTOK_CHECK_INPUT(std::filesystem::is_regular_file(path), path, ": no such file");
  std::ifstream f(path, std::ios::binary);
  HIMTOK_CHECK_INPUT(f.good(), path, ": cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json parse_text(const std::string& text, const std::string& name) {
  return parse_json(text, name);  // depth-limited (io/limits.h)
}

const char* type_name(const json& j) { return j.type_name(); }

bool is_integral(const json& j) {
  if (j.is_number_integer()) return true;
  if (!j.is_number_float()) return false;
  double v = j.get<double>();
  return std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15;
}

int64_t as_int(const json& j, const std::string& where) {
  HIMTOK_CHECK_INPUT(is_integral(j), where, ": expected an integer, got ", type_name(j), " ", j.dump());
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    HIMTOK_CHECK_INPUT(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where, ": ", u,
                       " is too large");
    return static_cast<int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  return static_cast<int64_t>(j.get<double>());
}

double as_number(const json& j, const std::string& where) {
  HIMTOK_CHECK_INPUT(j.is_number(), where, ": expected a number, got ", type_name(j), " ", j.dump());
  return j.get<double>();
}

const json& require(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  HIMTOK_CHECK_INPUT(it != obj.end(), where, ": missing field '", key, "'");
  return *it;
}

int64_t get_int(const json& obj, const char* key, const std::string& where) {
  return as_int(require(obj, key, where), where + "." + key);
}

int64_t get_int_or(const json& obj, const char* key, int64_t dflt, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  return as_int(*it, where + "." + key);
}

std::string get_string_or(const json& obj, const char* key, const std::string& dflt, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  HIMTOK_CHECK_INPUT(it->is_string(), where, ".", key, ": expected a string, got ", type_name(*it));
  return it->get<std::string>();
}

void check_object(const json& j, const std::string& where) {
  HIMTOK_CHECK_INPUT(j.is_object(), where, ": expected an object, got ", type_name(j));
}

void check_array(const json& j, const std::string& where) {
  HIMTOK_CHECK_INPUT(j.is_array(), where, ": expected a list, got ", type_name(j));
}

std::string at(const std::string& where, size_t i) { return str_cat(where, "[", i, "]"); }

// ---------------------------------------------------------------------------------------------
// segmentation / annotation / image

CocoSegmentation parse_segmentation(const json& j, const std::string& where) {
  CocoSegmentation seg;
  if (j.is_null()) return seg;
  if (j.is_array()) {
    seg.kind = CocoSegmentation::Kind::kPolygons;
    for (size_t p = 0; p < j.size(); ++p) {
      const json& poly = j[p];
      check_array(poly, at(where, p));
      std::vector<double> xy;
      xy.reserve(poly.size());
      for (size_t k = 0; k < poly.size(); ++k) xy.push_back(as_number(poly[k], at(at(where, p), k)));
      HIMTOK_CHECK_INPUT(xy.size() % 2 == 0 && xy.size() >= 2, at(where, p), ": ", xy.size(),
                         " coordinates, expected an even number >= 2 (x0, y0, x1, y1, ...)");
      seg.polygons.push_back(std::move(xy));
    }
    return seg;
  }
  check_object(j, where);
  if (j.empty()) {  // {} : the PSALM layout's "no segmentation"
    seg.kind = CocoSegmentation::Kind::kPolygons;
    return seg;
  }
  const json& size = require(j, "size", where);
  HIMTOK_CHECK_INPUT(size.is_array() && size.size() == 2, where, ".size: expected [height, width], got ",
                     size.dump());
  const int64_t h = as_int(size[0], where + ".size[0]"), w = as_int(size[1], where + ".size[1]");
  const json& counts = require(j, "counts", where);
  seg.kind = CocoSegmentation::Kind::kRle;
  try {
    if (counts.is_string()) {
      seg.rle = rle_from_string(counts.get<std::string>(), h, w);
    } else {
      check_array(counts, where + ".counts");
      seg.rle.h = h;
      seg.rle.w = w;
      seg.rle.counts.reserve(counts.size());
      for (size_t k = 0; k < counts.size(); ++k) {
        int64_t c = as_int(counts[k], at(where + ".counts", k));
        HIMTOK_CHECK_INPUT(c >= 0 && c <= static_cast<int64_t>(std::numeric_limits<uint32_t>::max()),
                           at(where + ".counts", k), ": run length ", c, ", expected 0..2^32-1");
        seg.rle.counts.push_back(static_cast<uint32_t>(c));
      }
      rle_check(seg.rle, "RLE counts");
    }
  } catch (const InputError& e) {
    std::string msg = e.what();
    if (msg.rfind(where, 0) == 0) throw;
    throw InputError(str_cat(where, ": ", msg));
  }
  return seg;
}

CocoAnnotation parse_annotation(const json& j, const std::string& where) {
  check_object(j, where);
  CocoAnnotation a;
  a.id = get_int_or(j, "id", 0, where);
  a.image_id = get_int_or(j, "image_id", -1, where);
  a.category_id = get_int_or(j, "category_id", -1, where);
  if (auto it = j.find("iscrowd"); it != j.end() && !it->is_null())
    a.iscrowd = it->is_boolean() ? it->get<bool>() : as_int(*it, where + ".iscrowd") != 0;
  if (auto it = j.find("score"); it != j.end() && !it->is_null()) a.score = as_number(*it, where + ".score");
  if (auto it = j.find("area"); it != j.end() && !it->is_null()) a.area = as_number(*it, where + ".area");
  if (auto it = j.find("bbox"); it != j.end() && !it->is_null()) {
    HIMTOK_CHECK_INPUT(it->is_array() && it->size() == 4, where, ".bbox: expected [x, y, w, h], got ", it->dump());
    for (int k = 0; k < 4; ++k) a.bbox[k] = as_number((*it)[k], at(where + ".bbox", k));
    a.has_bbox = true;
  }
  if (auto it = j.find("segmentation"); it != j.end()) a.segmentation = parse_segmentation(*it, where + ".segmentation");
  return a;
}

CocoImage parse_image(const json& j, const std::string& where) {
  check_object(j, where);
  CocoImage im;
  im.id = get_int(j, "id", where);
  im.h = get_int(j, "height", where);
  im.w = get_int(j, "width", where);
  HIMTOK_CHECK_INPUT(im.h >= 0 && im.w >= 0, where, ": size ", im.h, "x", im.w, ", expected non-negative");
  im.file_name = get_string_or(j, "file_name", "", where);
  return im;
}

CocoDataset dataset_from_json(const json& root, const std::string& name) {
  CocoDataset ds;
  ds.path = name;
  if (root.is_array()) {  // a results list (pycocotools loadRes: ids 1..N, iscrowd 0)
    ds.is_results = true;
    for (size_t i = 0; i < root.size(); ++i) {
      const std::string where = at(name, i);
      CocoAnnotation a = parse_annotation(root[i], where);
      HIMTOK_CHECK_INPUT(root[i].contains("image_id"), where, ": missing field 'image_id'");
      a.id = static_cast<int64_t>(i) + 1;
      a.iscrowd = false;
      ds.annotations.push_back(std::move(a));
    }
    return ds;
  }
  HIMTOK_CHECK_INPUT(root.is_object(), name, ": expected a COCO instances object or a results list, got ",
                     type_name(root));
  HIMTOK_CHECK_INPUT(root.contains("annotations") || root.contains("images"), name,
                     ": expected a COCO file with 'images' and 'annotations', got neither");
  if (auto it = root.find("images"); it != root.end()) {
    check_array(*it, name + ": images");
    for (size_t i = 0; i < it->size(); ++i) {
      CocoImage im = parse_image((*it)[i], at(name + ": images", i));
      HIMTOK_CHECK_INPUT(!ds.image_index.count(im.id), at(name + ": images", i), ": duplicate image id ", im.id);
      ds.image_index[im.id] = ds.images.size();
      ds.images.push_back(std::move(im));
    }
  }
  if (auto it = root.find("categories"); it != root.end() && !it->is_null()) {
    check_array(*it, name + ": categories");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string where = at(name + ": categories", i);
      check_object((*it)[i], where);
      ds.categories[get_int((*it)[i], "id", where)] = get_string_or((*it)[i], "name", "", where);
    }
  }
  if (auto it = root.find("annotations"); it != root.end()) {
    check_array(*it, name + ": annotations");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string where = at(name + ": annotations", i);
      CocoAnnotation a = parse_annotation((*it)[i], where);
      HIMTOK_CHECK_INPUT((*it)[i].contains("image_id"), where, ": missing field 'image_id'");
      ds.annotations.push_back(std::move(a));
    }
  }
  return ds;
}

// OR over the annotations' masks in an h x w image.
Mask union_mask(const std::vector<Rle>& rles, int64_t h, int64_t w) {
  if (rles.empty()) return Mask(h, w, 0);
  return rle_decode(rle_merge(rles, false));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// COCO files

const CocoImage* CocoDataset::find_image(int64_t id) const {
  auto it = image_index.find(id);
  return it == image_index.end() ? nullptr : &images[it->second];
}

CocoDataset parse_coco(const std::string& json_text, const std::string& name) {
  return dataset_from_json(parse_text(json_text, name), name);
}

CocoDataset load_coco(const std::string& path) { return parse_coco(read_text(path), path); }

Rle segmentation_to_rle(const CocoSegmentation& seg, int64_t h, int64_t w, const std::string& what) {
  switch (seg.kind) {
    case CocoSegmentation::Kind::kNone:
      throw InputError(str_cat(what, ": no segmentation"));
    case CocoSegmentation::Kind::kRle:
      HIMTOK_CHECK_INPUT(seg.rle.h == h && seg.rle.w == w, what, ": RLE size [", seg.rle.h, ", ", seg.rle.w,
                         "], expected the image size [", h, ", ", w, "]");
      return seg.rle;
    case CocoSegmentation::Kind::kPolygons:
      break;
  }
  HIMTOK_CHECK_INPUT(h >= 0 && w >= 0, what, ": image size [", h, ", ", w, "], expected non-negative");
  if (seg.polygons.empty()) return rle_encode(Mask(h, w, 0));
  std::vector<Rle> parts;
  parts.reserve(seg.polygons.size());
  try {
    if (seg.polygons[0].size() == 4) {
      // pycocotools frPyObjects: a list whose first element has 4 numbers is a list of boxes.
      for (size_t p = 0; p < seg.polygons.size(); ++p) {
        const auto& b = seg.polygons[p];
        HIMTOK_CHECK_INPUT(b.size() == 4, "polygon ", p, " has ", b.size(),
                           " numbers, expected 4 as polygon 0 (a list of [x, y, w, h] boxes)");
        parts.push_back(rle_from_bbox({b[0], b[1], b[2], b[3]}, h, w));
      }
    } else {
      for (const auto& xy : seg.polygons) parts.push_back(rle_from_poly(xy, h, w));
    }
  } catch (const InputError& e) {
    throw InputError(str_cat(what, ": ", e.what()));
  }
  return rle_merge(parts, false);
}

Rle annotation_to_rle(const CocoDataset& ds, const CocoAnnotation& ann) {
  const std::string what = str_cat(ds.path, ": annotation ", ann.id, " (image ", ann.image_id, ")");
  if (const CocoImage* im = ds.find_image(ann.image_id)) return segmentation_to_rle(ann.segmentation, im->h, im->w, what);
  HIMTOK_CHECK_INPUT(ann.segmentation.kind != CocoSegmentation::Kind::kPolygons, what,
                     ": polygons need the image size, but the file has no image ", ann.image_id);
  return segmentation_to_rle(ann.segmentation, ann.segmentation.rle.h, ann.segmentation.rle.w, what);
}

Mask annotation_to_mask(const CocoDataset& ds, const CocoAnnotation& ann) { return rle_decode(annotation_to_rle(ds, ann)); }

// ---------------------------------------------------------------------------------------------
// RefCOCO refs and the PSALM layout

std::vector<RefObject> load_refcoco_refs(const std::string& refs_json, const std::string& instances_json,
                                         const std::string& split) {
  const CocoDataset inst = load_coco(instances_json);
  std::map<int64_t, const CocoAnnotation*> ann_by_id;
  for (const CocoAnnotation& a : inst.annotations) ann_by_id[a.id] = &a;
  const json refs = parse_text(read_text(refs_json), refs_json);
  check_array(refs, refs_json);
  std::vector<RefObject> out;
  for (size_t i = 0; i < refs.size(); ++i) {
    const std::string where = at(refs_json, i);
    const json& r = refs[i];
    check_object(r, where);
    RefObject ref;
    ref.split = get_string_or(r, "split", "", where);
    if (!split.empty() && ref.split != split) continue;
    ref.ref_id = get_int_or(r, "ref_id", -1, where);
    ref.image_id = get_int(r, "image_id", where);
    ref.category_id = get_int_or(r, "category_id", -1, where);
    const json& ann_field = require(r, "ann_id", where);
    std::vector<int64_t> ids;
    if (ann_field.is_array()) {
      for (size_t k = 0; k < ann_field.size(); ++k) ids.push_back(as_int(ann_field[k], at(where + ".ann_id", k)));
    } else {
      ids.push_back(as_int(ann_field, where + ".ann_id"));
    }
    for (int64_t id : ids)
      if (id >= 0) ref.ann_ids.push_back(id);  // gRefCOCO no-target refs list -1
    const json& sents = require(r, "sentences", where);
    check_array(sents, where + ".sentences");
    for (size_t k = 0; k < sents.size(); ++k) {
      const std::string sw = at(where + ".sentences", k);
      check_object(sents[k], sw);
      const json& s = require(sents[k], "sent", sw);
      HIMTOK_CHECK_INPUT(s.is_string(), sw, ".sent: expected a string, got ", type_name(s));
      ref.sentences.push_back(s.get<std::string>());
    }
    const CocoImage* im = inst.find_image(ref.image_id);
    HIMTOK_CHECK_INPUT(im != nullptr, where, ": image ", ref.image_id, " is not in ", instances_json);
    ref.image_file = im->file_name;
    std::vector<Rle> rles;
    for (int64_t id : ref.ann_ids) {
      auto it = ann_by_id.find(id);
      HIMTOK_CHECK_INPUT(it != ann_by_id.end(), where, ": annotation ", id, " is not in ", instances_json);
      HIMTOK_CHECK_INPUT(it->second->image_id == ref.image_id, where, ": annotation ", id, " belongs to image ",
                         it->second->image_id, ", expected ", ref.image_id);
      rles.push_back(annotation_to_rle(inst, *it->second));
    }
    ref.mask = union_mask(rles, im->h, im->w);
    out.push_back(std::move(ref));
  }
  return out;
}

std::vector<RefObject> load_psalm_refs(const std::string& json_path, const std::string& split) {
  const json root = parse_text(read_text(json_path), json_path);
  check_array(root, json_path);
  std::vector<RefObject> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string where = at(json_path, i);
    const json& e = root[i];
    check_object(e, where);
    RefObject ref;
    ref.split = get_string_or(e, "split", "", where);
    if (!split.empty() && ref.split != split) continue;
    ref.ref_id = get_int_or(e, "ref_id", -1, where);
    const json& info = require(e, "image_info", where);
    const std::string iw = where + ".image_info";
    check_object(info, iw);
    const int64_t h = get_int(info, "height", iw), w = get_int(info, "width", iw);
    HIMTOK_CHECK_INPUT(h >= 0 && w >= 0, iw, ": size ", h, "x", w, ", expected non-negative");
    ref.image_id = get_int_or(info, "id", -1, iw);
    ref.image_file = get_string_or(info, "file_name", "", iw);
    const json& instr = require(e, "instruction", where);
    check_array(instr, where + ".instruction");
    for (size_t k = 0; k < instr.size(); ++k) {
      const std::string sw = at(where + ".instruction", k);
      check_object(instr[k], sw);
      const json& s = require(instr[k], "sent", sw);
      HIMTOK_CHECK_INPUT(s.is_string(), sw, ".sent: expected a string, got ", type_name(s));
      ref.sentences.push_back(s.get<std::string>());
    }
    const json& anns = require(e, "anns", where);
    check_array(anns, where + ".anns");
    std::vector<Rle> rles;
    for (size_t k = 0; k < anns.size(); ++k) {
      const std::string aw = at(where + ".anns", k);
      CocoAnnotation a = parse_annotation(anns[k], aw);
      if (k == 0) ref.category_id = a.category_id;
      if (anns[k].contains("id")) ref.ann_ids.push_back(a.id);
      if (a.segmentation.kind == CocoSegmentation::Kind::kNone) continue;
      rles.push_back(segmentation_to_rle(a.segmentation, h, w, aw + ".segmentation"));
    }
    ref.mask = union_mask(rles, h, w);
    out.push_back(std::move(ref));
  }
  return out;
}

}  // namespace himtok::io
