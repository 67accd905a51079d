// The `himtok` Python module (pybind11): the torch-free facades of the C++ core, with NumPy arrays
// in and out. One translation unit; no libtorch header is included (the facades are pimpl).
//
//   MaskTokenizer  tokenizer/tokenizer.h   masks (uint8/bool H x W) <-> 32 mask-token ids
//   token strings  tokenizer/token_string.h, lmm/response.h :: parse_mask_tokens
//   COCO RLE       io/rle.h                pycocotools-compatible {"size": [h, w], "counts": str}
//   Segmenter      lmm/segment.h           image + question -> response text, ids, mask
//   load_mask / load_image                 io/image.h (what the CLI reads)
//
// Threading: arrays are copied into C++ structures while the GIL is held; the C++ work runs with
// the GIL released, serialised per object by a mutex (the facades are not re-entrant: a Segmenter
// flips its model into eval mode while it runs).
//
// Errors: the CLI's one-line messages (without "himtok: error: "). InputError -> ValueError, or
// FileNotFoundError when the path it names does not exist; anything else -> RuntimeError (first
// line only: libtorch's messages carry a backtrace).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/mask.h"
#include "io/image.h"
#include "io/resize.h"
#include "io/rle.h"
#include "lmm/response.h"
#include "lmm/segment.h"
#include "nn/cpu_allocator.h"
#include "tokenizer/token_string.h"
#include "tokenizer/tokenizer.h"

namespace py = pybind11;
using namespace himtok;

namespace {

// ---- errors -----------------------------------------------------------------------------------

// A missing file: InputError's message, raised as FileNotFoundError.
struct MissingFile : InputError {
  using InputError::InputError;
};

// Runs fn(); an InputError while `path` does not exist becomes MissingFile (same message).
template <typename Fn>
auto with_path(const std::string& path, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const InputError& e) {
    std::error_code ec;
    if (!path.empty() && !std::filesystem::exists(path, ec)) throw MissingFile(e.what());
    throw;
  }
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// ---- arrays -> C++ ----------------------------------------------------------------------------

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Any array-like -> a C-contiguous NumPy array (no dtype conversion).
py::array as_array(const py::handle& obj) {
  return py::array::ensure(obj, py::array::c_style);  // copies only non-contiguous input
}

bool is_mask_dtype(const py::array& a) {
  const char k = a.dtype().kind();
  return a.itemsize() == 1 && (k == 'b' || k == 'u');  // bool or uint8
}

// One uint8/bool (H, W) array -> Mask (bool and 0/1 are binary; other uint8 values are gray).
Mask mask_from_array(const py::array& a, const std::string& what) {
  HIMTOK_CHECK_INPUT(is_mask_dtype(a), what, ": dtype ", dtype_str(a), ", expected uint8 or bool");
  HIMTOK_CHECK_INPUT(a.ndim() == 2, what, ": shape ", shape_str(a), ", expected (H, W)");
  HIMTOK_CHECK_INPUT(a.shape(0) > 0 && a.shape(1) > 0, what, ": empty mask ", shape_str(a));
  Mask m(a.shape(0), a.shape(1));
  std::memcpy(m.data.data(), a.data(), m.data.size());
  return m;
}

// masks: (H, W), (B, H, W), or a sequence of (H, W) arrays of any sizes.
std::vector<Mask> masks_from_object(const py::handle& obj) {
  std::vector<Mask> out;
  if (py::isinstance<py::array>(obj)) {
    py::array a = as_array(obj);
    if (a.ndim() == 3 && is_mask_dtype(a)) {
      for (py::ssize_t b = 0; b < a.shape(0); ++b)
        out.push_back(mask_from_array(as_array(a[py::int_(b)]), "masks[" + std::to_string(b) + "]"));
      return out;
    }
    out.push_back(mask_from_array(a, "mask"));
    return out;
  }
  HIMTOK_CHECK_INPUT(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj),
                     "masks: expected a uint8/bool array (H, W), (B, H, W) or a list of (H, W) arrays");
  size_t i = 0;
  for (const py::handle item : obj.cast<py::sequence>()) {
    HIMTOK_CHECK_INPUT(py::isinstance<py::array>(item), "masks[", i, "]: expected a NumPy array, got ",
                       py::str(item.get_type().attr("__name__")).cast<std::string>());
    out.push_back(mask_from_array(as_array(item), "masks[" + std::to_string(i) + "]"));
    ++i;
  }
  return out;
}

// ids: (T,) or (B, T) integer array-like -> B rows of T ids (range checks are the facade's).
std::vector<std::vector<int64_t>> id_rows(const py::handle& obj) {
  py::array a = as_array(obj);
  const char k = a.dtype().kind();
  HIMTOK_CHECK_INPUT(k == 'i' || k == 'u', "ids: dtype ", dtype_str(a),
                     ", expected integers");
  HIMTOK_CHECK_INPUT(a.ndim() == 1 || a.ndim() == 2, "ids: shape ", shape_str(a), ", expected (T,) or (B, T)");
  py::array_t<int64_t, py::array::c_style | py::array::forcecast> v(a);  // integer -> int64 (exact)
  const int64_t B = a.ndim() == 2 ? a.shape(0) : 1, T = a.shape(a.ndim() - 1);
  if (k == 'u' && a.itemsize() == 8)  // uint64 above int64's range would wrap to a negative id
    for (uint64_t x : std::vector<uint64_t>(static_cast<const uint64_t*>(a.data()),
                                            static_cast<const uint64_t*>(a.data()) + a.size()))
      HIMTOK_CHECK_INPUT(x <= static_cast<uint64_t>(INT64_MAX), "ids: token id ", x, " out of range");
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows[static_cast<size_t>(b)].assign(v.data() + b * T, v.data() + (b + 1) * T);
  return rows;
}

// n: prefix length, 1..T (None: T). Message as the CLI's --n check.
int64_t prefix_len(const std::optional<int64_t>& n, int64_t T) {
  const int64_t k = n.value_or(T);
  HIMTOK_CHECK_INPUT(k >= 1 && k <= T, "decode: --n ", k, " but only ", T, " tokens given");
  return k;
}

// size: (width, height) as the CLI's --size WxH and PIL's resize; None: S x S.
std::optional<std::pair<int64_t, int64_t>> size_arg(const py::object& size) {
  if (size.is_none()) return std::nullopt;
  HIMTOK_CHECK_INPUT(py::isinstance<py::sequence>(size) && py::len(size) == 2, "--size: expected (width, height)");
  auto s = size.cast<py::sequence>();
  HIMTOK_CHECK_INPUT(py::isinstance<py::int_>(s[0]) && py::isinstance<py::int_>(s[1]),
                     "--size: expected (width, height) as integers");
  const int64_t w = s[0].cast<int64_t>(), h = s[1].cast<int64_t>();
  HIMTOK_CHECK_INPUT(w > 0 && h > 0 && w <= 65536 && h <= 65536, "--size: '", w, "x", h,
                     "' is not WxH with positive sizes");
  return std::make_pair(w, h);
}

Image image_from_array(const py::handle& obj) {
  HIMTOK_CHECK_INPUT(py::isinstance<py::array>(obj), "image: expected a uint8 NumPy array (H, W, C) or (H, W)");
  py::array a = as_array(obj);
  HIMTOK_CHECK_INPUT(a.dtype().kind() == 'u' && a.itemsize() == 1, "image: dtype ", dtype_str(a), ", expected uint8");
  HIMTOK_CHECK_INPUT(a.ndim() == 2 || a.ndim() == 3, "image: shape ", shape_str(a), ", expected (H, W, C) or (H, W)");
  const int64_t c = a.ndim() == 3 ? a.shape(2) : 1;
  HIMTOK_CHECK_INPUT(a.shape(0) > 0 && a.shape(1) > 0, "image: empty image ", shape_str(a));
  HIMTOK_CHECK_INPUT(c >= 1 && c <= 4, "image: ", c, " channels, expected 1 to 4");
  Image img(a.shape(0), a.shape(1), c);
  std::memcpy(img.data.data(), a.data(), img.data.size());
  return img;
}

// ---- C++ -> arrays ----------------------------------------------------------------------------

py::array_t<uint8_t> mask_array(const Mask& m) {
  py::array_t<uint8_t> a({m.h, m.w});
  std::memcpy(a.mutable_data(), m.data.data(), m.data.size());
  return a;
}

// B maps of equal size -> (B, H, W) float32.
py::array_t<float> maps_array(const std::vector<FloatMap>& maps, int64_t h, int64_t w) {
  py::array_t<float> a({static_cast<int64_t>(maps.size()), h, w});
  float* p = a.mutable_data();
  for (const FloatMap& m : maps) p = std::copy(m.data.begin(), m.data.end(), p);
  return a;
}

// ---- RLE --------------------------------------------------------------------------------------

// pycocotools' RLE object: {"size": [h, w], "counts": str or bytes (compressed) or list (runs)}.
io::Rle rle_from_object(const py::handle& obj, const std::string& what) {
  HIMTOK_CHECK_INPUT(py::isinstance<py::dict>(obj), what, ": expected a dict {'size': [h, w], 'counts': ...}");
  auto d = obj.cast<py::dict>();
  HIMTOK_CHECK_INPUT(d.contains("size") && d.contains("counts"), what, ": missing 'size' or 'counts'");
  py::object size = d["size"], counts = d["counts"];
  HIMTOK_CHECK_INPUT(py::isinstance<py::sequence>(size) && !py::isinstance<py::str>(size) && py::len(size) == 2,
                     what, ": 'size' is not [h, w]");
  int64_t h = 0, w = 0;
  try {
    h = size.cast<py::sequence>()[0].cast<int64_t>();
    w = size.cast<py::sequence>()[1].cast<int64_t>();
  } catch (const py::cast_error&) {
    throw InputError(what + ": 'size' is not [h, w] integers");
  }
  HIMTOK_CHECK_INPUT(h >= 0 && w >= 0, what, ": 'size' [", h, ", ", w, "] is negative");
  if (py::isinstance<py::str>(counts) || py::isinstance<py::bytes>(counts)) {
    const std::string s = py::isinstance<py::bytes>(counts) ? counts.cast<py::bytes>().cast<std::string>()
                                                             : counts.cast<std::string>();
    return io::rle_from_string(s, h, w);
  }
  HIMTOK_CHECK_INPUT(py::isinstance<py::sequence>(counts), what, ": 'counts' is neither a string nor a list of integers");
  io::Rle r{h, w, {}};
  try {
    for (const py::handle c : counts.cast<py::sequence>()) {
      const int64_t v = c.cast<int64_t>();
      HIMTOK_CHECK_INPUT(v >= 0 && v <= UINT32_MAX, what, ": run ", v, " out of range");
      r.counts.push_back(static_cast<uint32_t>(v));
    }
  } catch (const py::cast_error&) {
    throw InputError(what + ": 'counts' is neither a string nor a list of integers");
  }
  io::rle_check(r, what);
  return r;
}

py::dict rle_object(const io::Rle& r) {
  py::dict d;
  py::list size;
  size.append(r.h);
  size.append(r.w);
  d["size"] = size;
  d["counts"] = py::bytes(io::rle_to_string(r));  // bytes, as pycocotools.mask.encode
  return d;
}

// One RLE dict or a list of them -> (rles, was_list).
std::pair<std::vector<io::Rle>, bool> rles_from_object(const py::handle& obj, const std::string& what) {
  if (py::isinstance<py::dict>(obj)) return {{rle_from_object(obj, what)}, false};
  HIMTOK_CHECK_INPUT(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj), what,
                     ": expected an RLE dict or a list of them");
  std::vector<io::Rle> out;
  size_t i = 0;
  for (const py::handle item : obj.cast<py::sequence>())
    out.push_back(rle_from_object(item, what + "[" + std::to_string(i++) + "]"));
  return {out, true};
}

// ---- MaskTokenizer ----------------------------------------------------------------------------

struct PyMaskTokenizer {
  std::optional<tok::MaskTokenizer> t;
  std::mutex mu;

  PyMaskTokenizer(const std::string& path, const std::optional<std::string>& config, const std::string& device,
                  const std::string& dtype, int threads) {
    tok::LoadOptions o;
    o.weights = path;
    o.config = config.value_or("");
    o.device = device;
    o.dtype = dtype;
    o.threads = threads;
    py::gil_scoped_release nogil;
    t.emplace(with_path(path, [&] { return tok::MaskTokenizer::load(o); }));
  }

  int64_t K() const { return t->config().codebook_size; }
  int64_t S() const { return t->config().image_size; }

  py::array_t<int64_t> encode(const py::object& masks, const std::string& geometry) {
    const tok::Geometry g = tok::parse_geometry(geometry);
    std::vector<Mask> ms = masks_from_object(masks);
    std::vector<std::vector<int64_t>> ids;
    if (!ms.empty()) {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu);
      ids = t->encode(ms, g);  // one forward for the whole batch
    }
    const int64_t L = ids.empty() ? t->config().num_latent_tokens : static_cast<int64_t>(ids[0].size());
    py::array_t<int64_t> out({static_cast<int64_t>(ids.size()), L});
    int64_t* p = out.mutable_data();
    for (const auto& row : ids) p = std::copy(row.begin(), row.end(), p);
    return out;
  }

  // (B, S, S) maps, or (B, H, W) nearest-resized as the official eval (`> 0.5` = the CLI's -o mask).
  py::array_t<float> finish(std::vector<FloatMap> maps, const std::optional<std::pair<int64_t, int64_t>>& size) {
    if (!size) return maps_array(maps, S(), S());
    const auto [w, h] = *size;
    {
      py::gil_scoped_release nogil;
      for (FloatMap& m : maps) m = io::resize_float(m, h, w, io::Resample::kNearest);
    }
    return maps_array(maps, h, w);
  }

  py::array_t<float> decode(const py::object& ids, const std::optional<int64_t>& n, const py::object& size) {
    auto rows = id_rows(ids);
    const bool single = py::array(as_array(ids)).ndim() == 1;
    const int64_t T = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
    HIMTOK_CHECK_INPUT(!rows.empty() && T >= 1, "decode: no token rows");
    const int64_t k = prefix_len(n, T);
    for (auto& r : rows) r.resize(static_cast<size_t>(k));
    auto sz = size_arg(size);
    std::vector<FloatMap> maps;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu);
      maps = t->decode_ids(rows);
    }
    auto out = finish(std::move(maps), sz);
    return single ? py::array_t<float>(out[py::int_(0)]) : out;
  }

  py::array_t<float> decode_logits(const py::object& logits, int64_t mask_offset, const std::optional<int64_t>& n,
                                   const py::object& size) {
    py::array a = as_array(logits);
    HIMTOK_CHECK_INPUT(a.dtype().kind() == 'f', "logits: dtype ", dtype_str(a), ", expected float32");
    HIMTOK_CHECK_INPUT(a.ndim() == 2 || a.ndim() == 3, "logits: shape ", shape_str(a), ", expected (T, V) or (B, T, V)");
    const bool single = a.ndim() == 2;
    const int64_t B = single ? 1 : a.shape(0), T = a.shape(a.ndim() - 2), V = a.shape(a.ndim() - 1);
    HIMTOK_CHECK_INPUT(B >= 1 && T >= 1 && T <= 32 && V >= 1, "logits: shape ", shape_str(a), ", expected (T<=32, V)");
    const int64_t k = prefix_len(n, T);
    py::array_t<float, py::array::c_style | py::array::forcecast> f(a);
    std::vector<float> l(static_cast<size_t>(B * k * V));
    for (int64_t b = 0; b < B; ++b)  // the first k rows of each (T, V) block
      std::copy(f.data() + b * T * V, f.data() + b * T * V + k * V, l.begin() + b * k * V);
    auto sz = size_arg(size);
    std::vector<FloatMap> maps;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu);
      maps = t->decode_logits(l, B, k, V, mask_offset);
    }
    auto out = finish(std::move(maps), sz);
    return single ? py::array_t<float>(out[py::int_(0)]) : out;
  }
};

// token_string: (T,) -> str; (B, T) -> list of str. Ids checked against K (max 32 per row).
py::object token_string(const py::object& ids, int64_t K) {
  auto rows = id_rows(ids);
  for (const auto& r : rows) {
    HIMTOK_CHECK_INPUT(!r.empty() && r.size() <= 32, "token_string: ", r.size(), " ids, expected 1..32");
    for (int64_t id : r)
      HIMTOK_CHECK_INPUT(id >= 0 && id < K, "token_string: token id ", id, " out of range [0,", K, ")");
  }
  if (py::array(as_array(ids)).ndim() == 1) return py::str(tok::format_token_string(rows[0]));
  py::list out;
  for (const auto& r : rows) out.append(py::str(tok::format_token_string(r)));
  return out;
}

py::array_t<int64_t> parse_tokens(const std::string& text, int64_t K) {
  std::vector<int> ids = lmm::parse_mask_tokens(text, 32);
  py::array_t<int64_t> out(static_cast<py::ssize_t>(ids.size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    HIMTOK_CHECK_INPUT(ids[i] < K, "--tokens: mask token id ", ids[i], " is out of range [0,", K, ")");
    out.mutable_at(static_cast<py::ssize_t>(i)) = ids[i];
  }
  return out;
}

// ---- Segmenter --------------------------------------------------------------------------------

struct PySegmenter {
  std::optional<lmm::Segmenter> s;
  std::mutex mu;

  PySegmenter(const std::string& path, const std::string& device, const std::string& dtype) {
    py::gil_scoped_release nogil;
    s.emplace(with_path(path, [&] { return lmm::Segmenter::load(path, device, dtype); }));
  }

  static py::dict result_dict(const lmm::SegmentResult& r, int64_t w, int64_t h) {
    py::dict d;
    d["response"] = r.response;
    d["ids"] = py::array_t<int32_t>(static_cast<py::ssize_t>(r.ids.size()), r.ids.data());
    d["status"] = std::string(lmm::mask_status_name(r.span.status));
    d["n_decoded"] = r.n_decoded;
    d["mask"] = mask_array(r.mask);
    d["prob"] = r.prob.data.empty() ? py::object(py::none()) : py::object(maps_array({r.prob}, r.prob.h, r.prob.w)[py::int_(0)]);
    py::list boxes;  // every numeric [x1, y1, x2, y2] as written (the official regex)
    for (const auto& b : lmm::find_boxes(r.response))
      if (b.numeric) boxes.append(py::cast(std::vector<double>(b.values.begin(), b.values.end())));
    d["boxes"] = boxes;
    // The official REC reading of the first box, in pixels xyxy (None when there is none).
    d["box"] = lmm::first_box(r.response) ? py::object(py::cast(lmm::official_rec_box(r.response, w, h))) : py::object(py::none());
    d["warnings"] = r.warnings;
    return d;
  }

  py::object run(const py::object& images, const py::object& questions, const lmm::SegmentOptions& opt,
                 bool as_expressions) {
    const bool batch = py::isinstance<py::list>(images) || py::isinstance<py::tuple>(images);
    std::vector<Image> imgs;
    std::vector<std::string> qs;
    if (batch) {
      HIMTOK_CHECK_INPUT(!py::isinstance<py::str>(questions) && py::isinstance<py::sequence>(questions) &&
                             py::len(questions) == py::len(images),
                         "segment: ", py::len(images), " images need as many questions in a list");
      for (const py::handle im : images.cast<py::sequence>()) imgs.push_back(image_from_array(im));
      for (const py::handle q : questions.cast<py::sequence>()) qs.push_back(q.cast<std::string>());
    } else {
      imgs.push_back(image_from_array(images));
      HIMTOK_CHECK_INPUT(py::isinstance<py::str>(questions), "segment: the question must be a str");
      qs.push_back(questions.cast<std::string>());
    }
    if (as_expressions)
      for (auto& q : qs) q = s->segment_question(q);
    std::vector<lmm::Query> queries;
    for (size_t i = 0; i < imgs.size(); ++i) queries.push_back({&imgs[i], qs[i]});
    std::vector<lmm::SegmentResult> rs;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu);
      rs = s->run(queries, opt);  // batch_size queries per generation
    }
    py::list out;
    for (size_t i = 0; i < rs.size(); ++i) out.append(result_dict(rs[i], imgs[i].w, imgs[i].h));
    return batch ? py::object(out) : py::object(out[0]);
  }
};

lmm::SegmentOptions seg_options(int n_tokens, bool from_ids, int max_new_tokens, int batch_size) {
  lmm::SegmentOptions o;
  o.n_tokens = n_tokens;
  o.from_ids = from_ids;
  o.max_new_tokens = max_new_tokens;
  o.batch_size = batch_size;
  return o;
}

}  // namespace

PYBIND11_MODULE(himtok, m) {
  m.doc() = "HiMTok hierarchical mask tokens: the C++ tokenizer, COCO RLE codec and LMM segmenter";
  m.attr("__version__") = "0.1.0";
  himtok::nn::use_caching_cpu_allocator();  // as the CLI runs (nn/cpu_allocator.h)

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const MissingFile& e) {
      PyErr_SetString(PyExc_FileNotFoundError, e.what());
    } catch (const InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const py::builtin_exception&) {
      throw;  // pybind11's own (value_error, type_error, ...): the next translator
    } catch (const py::error_already_set&) {
      throw;
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "out of memory");
    } catch (const std::exception& e) {
      PyErr_SetString(PyExc_RuntimeError, first_line(e.what()).c_str());
    }
  });

  py::class_<PyMaskTokenizer>(m, "MaskTokenizer",
                              "The HiMT tokenizer: masks <-> 32 coarse-to-fine mask-token ids (codebook of K).")
      .def(py::init<const std::string&, const std::optional<std::string>&, const std::string&, const std::string&,
                    int>(),
           py::arg("path"), py::arg("config") = py::none(), py::arg("device") = "cpu", py::arg("dtype") = "fp32",
           py::arg("threads") = 0,
           "Loads weights (.safetensors, HF folder/index, .pth). config: preset or JSON file for files that carry "
           "none (official weights: 'official-large'); threads 0: all cores.")
      .def_property_readonly("codebook_size", &PyMaskTokenizer::K)
      .def_property_readonly("image_size", &PyMaskTokenizer::S)
      .def_property_readonly("num_tokens", [](const PyMaskTokenizer& t) { return t.t->config().num_latent_tokens; })
      .def_property_readonly("n_params", [](const PyMaskTokenizer& t) { return t.t->n_params(); })
      .def("encode", &PyMaskTokenizer::encode, py::arg("masks"), py::arg("geometry") = "stretch",
           "uint8/bool mask (H, W), (B, H, W) or a list of (H, W) of any sizes -> int64 ids (B, 32). "
           "Nonzero is object; uint8 values other than 0/1 are gray levels (as the CLI reads PNGs). "
           "geometry 'stretch' (official data conversion, default) or 'pad'.")
      .def("decode", &PyMaskTokenizer::decode, py::arg("ids"), py::arg("n") = py::none(), py::arg("size") = py::none(),
           "ids (T,) or (B, T) -> float32 probability maps (S, S) or (B, S, S) from the first n tokens; "
           "size=(width, height): nearest-resized as the official eval (> 0.5 gives the CLI's mask).")
      .def("decode_logits", &PyMaskTokenizer::decode_logits, py::arg("logits"), py::arg("mask_offset"),
           py::arg("n") = py::none(), py::arg("size") = py::none(),
           "LMM logits (T, V) or (B, T, V) at the mask positions -> probability maps, using "
           "softmax(2 * logits[..., mask_offset : mask_offset + K]) (the official soft path).")
      .def(
          "token_string", [](const PyMaskTokenizer& t, const py::object& ids) { return token_string(ids, t.K()); },
          py::arg("ids"), "ids (T,) -> '<|mt_start|><|mt_3|>...<|mt_end|>'; (B, T) -> list of str")
      .def(
          "parse_tokens", [](const PyMaskTokenizer& t, const std::string& s) { return parse_tokens(s, t.K()); },
          py::arg("text"), "token string -> int64 ids (strict, as `himtok decode --tokens`)");

  m.def(
      "token_string", [](const py::object& ids) { return token_string(ids, 1024); }, py::arg("ids"),
      "ids (T,) -> '<|mt_start|><|mt_3|>...<|mt_end|>'; (B, T) -> list of str (ids < 1024)");
  m.def(
      "parse_tokens", [](const std::string& s) { return parse_tokens(s, 1024); }, py::arg("text"),
      "'<|mt_start|><|mt_3|>...<|mt_end|>' or bare '<|mt_3|>...' -> int64 ids (strict; ValueError otherwise)");

  // ---- RLE (pycocotools.mask semantics) ----
  m.def(
      "rle_encode",
      [](const py::object& masks) -> py::object {
        // (H, W) -> one RLE; (H, W, N) -> list (pycocotools' Fortran layout); list of (H, W) -> list.
        if (py::isinstance<py::array>(masks) && as_array(masks).ndim() == 3) {
          py::array a = as_array(masks);
          HIMTOK_CHECK_INPUT(is_mask_dtype(a), "rle_encode: dtype ", dtype_str(a), ", expected uint8 or bool");
          py::list out;
          for (py::ssize_t i = 0; i < a.shape(2); ++i) {
            py::array plane = as_array(a[py::make_tuple(py::ellipsis(), py::int_(i))]);
            out.append(rle_object(io::rle_encode(mask_from_array(plane, "rle_encode"))));
          }
          return out;
        }
        if (py::isinstance<py::array>(masks)) return rle_object(io::rle_encode(mask_from_array(as_array(masks), "rle_encode")));
        py::list out;
        for (const Mask& mk : masks_from_object(masks)) out.append(rle_object(io::rle_encode(mk)));
        return out;
      },
      py::arg("masks"),
      "uint8/bool mask (H, W) -> {'size': [h, w], 'counts': bytes}; (H, W, N) or a list -> list of them "
      "(byte-identical to pycocotools.mask.encode)");
  m.def(
      "rle_decode",
      [](const py::object& rles) -> py::object {
        auto [rs, many] = rles_from_object(rles, "rle");
        if (!many) return mask_array(io::rle_decode(rs[0]));
        py::list out;
        for (const auto& r : rs) out.append(mask_array(io::rle_decode(r)));
        return out;
      },
      py::arg("rle"), "RLE dict (counts: str/bytes or a list of runs) -> uint8 (H, W) 0/1; a list -> list of masks");
  m.def(
      "rle_area",
      [](const py::object& rles) -> py::object {
        auto [rs, many] = rles_from_object(rles, "rle");
        if (!many) return py::int_(io::rle_area(rs[0]));
        std::vector<uint64_t> a;
        for (const auto& r : rs) a.push_back(io::rle_area(r));
        return py::array_t<uint64_t>(static_cast<py::ssize_t>(a.size()), a.data());
      },
      py::arg("rle"), "foreground pixel count (pycocotools.mask.area)");
  m.def(
      "rle_bbox",
      [](const py::object& rles) -> py::object {
        auto [rs, many] = rles_from_object(rles, "rle");
        if (!many) return py::cast(io::rle_to_bbox(rs[0]));
        py::array_t<double> out({static_cast<py::ssize_t>(rs.size()), py::ssize_t{4}});
        for (size_t i = 0; i < rs.size(); ++i) {
          auto b = io::rle_to_bbox(rs[i]);
          std::copy(b.begin(), b.end(), out.mutable_data() + 4 * i);
        }
        return out;
      },
      py::arg("rle"), "COCO box [x, y, w, h] (pycocotools.mask.toBbox)");
  m.def(
      "rle_iou",
      [](const py::object& dt, const py::object& gt, const py::object& iscrowd) {
        auto d = rles_from_object(dt, "dt").first;
        auto g = rles_from_object(gt, "gt").first;
        std::vector<uint8_t> crowd;
        if (!iscrowd.is_none()) {
          HIMTOK_CHECK_INPUT(py::isinstance<py::sequence>(iscrowd) || py::isinstance<py::array>(iscrowd),
                             "rle_iou: iscrowd is not a list of flags");
          for (const py::handle c : iscrowd.cast<py::sequence>()) crowd.push_back(PyObject_IsTrue(c.ptr()) == 1 ? 1 : 0);
          HIMTOK_CHECK_INPUT(crowd.size() == g.size(), "rle_iou: ", crowd.size(), " iscrowd flags for ", g.size(),
                             " ground truths");
        }
        std::vector<double> iou = io::rle_iou(d, g, crowd);
        py::array_t<double> out({static_cast<py::ssize_t>(d.size()), static_cast<py::ssize_t>(g.size())});
        std::copy(iou.begin(), iou.end(), out.mutable_data());
        return out;
      },
      py::arg("dt"), py::arg("gt"), py::arg("iscrowd") = py::none(),
      "IoU matrix (len(dt), len(gt)) float64; crowd ground truths divide by area(dt) (pycocotools.mask.iou)");

  m.def(
      "load_mask",
      [](const std::string& path, int threshold) {
        Mask mk = with_path(path, [&] { return io::load_mask(path, threshold); });
        return mask_array(mk);
      },
      py::arg("path"), py::arg("threshold") = -1,
      "mask image -> uint8 (H, W): gray values (threshold -1, what `himtok encode` reads) or v > threshold -> 1");
  m.def(
      "load_image",
      [](const std::string& path) {
        Image im = with_path(path, [&] { return io::load_image(path, 3); });
        py::array_t<uint8_t> a({im.h, im.w, int64_t{3}});
        std::memcpy(a.mutable_data(), im.data.data(), im.data.size());
        return a;
      },
      py::arg("path"), "image file -> uint8 RGB (H, W, 3)");

  py::class_<PySegmenter>(m, "Segmenter", "The HiMTok LMM: image + question -> response text and mask")
      .def(py::init<const std::string&, const std::string&, const std::string&>(), py::arg("path"),
           py::arg("device") = "cpu", py::arg("dtype") = "fp32",
           "Loads a himtok LMM file or a released InternVL2.5-HiMTok Hugging Face folder")
      .def_property_readonly("released", [](const PySegmenter& s) { return s.s->released(); })
      .def_property_readonly("image_size", [](const PySegmenter& s) { return s.s->image_side(); })
      .def_property_readonly("mask_size", [](const PySegmenter& s) { return s.s->mask_side(); })
      .def("segment_question", [](const PySegmenter& s, const std::string& e) { return s.s->segment_question(e); },
           py::arg("expression"))
      .def(
          "segment",
          [](PySegmenter& s, const py::object& image, const py::object& ref, int n_tokens, bool from_ids,
             int max_new_tokens, int batch_size) {
            return s.run(image, ref, seg_options(n_tokens, from_ids, max_new_tokens, batch_size), true);
          },
          py::arg("image"), py::arg("ref"), py::arg("n_tokens") = 32, py::arg("from_ids") = false,
          py::arg("max_new_tokens") = 128, py::arg("batch_size") = 8,
          "uint8 image (H, W, 3) and a referring expression -> dict(response, ids, status, n_decoded, mask (H, W) "
          "uint8, prob, boxes, box, warnings); lists of images and expressions -> list of dicts")
      .def(
          "chat",
          [](PySegmenter& s, const py::object& image, const py::object& question, int n_tokens, bool from_ids,
             int max_new_tokens, int batch_size) {
            return s.run(image, question, seg_options(n_tokens, from_ids, max_new_tokens, batch_size), false);
          },
          py::arg("image"), py::arg("question"), py::arg("n_tokens") = 32, py::arg("from_ids") = false,
          py::arg("max_new_tokens") = 128, py::arg("batch_size") = 8,
          "any question (the mask is decoded when the answer holds one); same dict as segment()");
}
