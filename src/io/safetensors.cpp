#include "io/safetensors.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/limits.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace himtok::io {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF64: return "F64";
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const std::string& context) {
  static const std::pair<const char*, DType> table[] = {
      {"F64", DType::kF64}, {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16},
      {"I64", DType::kI64}, {"I32", DType::kI32}, {"I16", DType::kI16}, {"I8", DType::kI8},
      {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  for (auto& [n, t] : table)
    if (s == n) return t;
  throw InputError(str_cat(context, ": unsupported dtype '", s, "'"));
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

static int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& ctx) {
  int64_t n = 1;
  for (int64_t d : shape)
    HIMTOK_CHECK_INPUT(!__builtin_mul_overflow(n, d, &n), ctx, ": shape ", shape_str(shape),
                       " has more than 2^63 elements");
  return n;
}

SafeTensorsContents parse_safetensors(const uint8_t* base, size_t size, const std::string& path) {
  HIMTOK_CHECK_INPUT(size >= 8, path, ": not a safetensors file (", size, " bytes, too short for a header)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  HIMTOK_CHECK_INPUT(n <= size - 8, path, ": not a safetensors file (header size ", n, " exceeds file size ", size, ")");
  HIMTOK_CHECK_INPUT(n <= kMaxSafetensorsHeader, path, ": safetensors header of ", n, " bytes exceeds the limit of ",
                     kMaxSafetensorsHeader, " bytes");
  const json header = parse_json(reinterpret_cast<const char*>(base + 8), reinterpret_cast<const char*>(base + 8 + n),
                                 str_cat(path, ": corrupt safetensors header"));
  HIMTOK_CHECK_INPUT(header.is_object(), path, ": corrupt safetensors header (not a JSON object)");
  SafeTensorsContents out;
  const uint8_t* data = base + 8 + n;
  const size_t data_size = size - 8 - n;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      HIMTOK_CHECK_INPUT(it.value().is_object(), path, ": __metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        HIMTOK_CHECK_INPUT(m.value().is_string(), path, ": __metadata__['", m.key(), "'] is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const json& e = it.value();
    const std::string ctx = str_cat(path, ": '", it.key(), "'");
    HIMTOK_CHECK_INPUT(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"),
                       ctx, " lacks dtype/shape/data_offsets");
    TensorView v;
    v.name = it.key();
    HIMTOK_CHECK_INPUT(e["dtype"].is_string(), ctx, ": dtype is not a string");
    v.dtype = parse_dtype(e["dtype"].get<std::string>(), ctx);
    HIMTOK_CHECK_INPUT(e["shape"].is_array(), ctx, ": shape is not a list");
    for (const auto& d : e["shape"]) {
      HIMTOK_CHECK_INPUT(d.is_number_integer() && (d.is_number_unsigned() || d.get<int64_t>() >= 0) &&
                             d.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX),
                         ctx, ": bad shape entry ", d.dump());
      v.shape.push_back(d.get<int64_t>());
    }
    const json& off = e["data_offsets"];
    HIMTOK_CHECK_INPUT(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                       ctx, ": bad data_offsets");
    const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    HIMTOK_CHECK_INPUT(b <= en && en <= data_size, ctx, ": data_offsets [", b, ",", en, "] outside the ", data_size,
                       " data bytes (truncated file?)");
    v.nbytes = static_cast<size_t>(en - b);
    const int64_t numel = checked_numel(v.shape, ctx);
    int64_t want = 0;
    HIMTOK_CHECK_INPUT(!__builtin_mul_overflow(numel, static_cast<int64_t>(dtype_size(v.dtype)), &want), ctx,
                       ": shape ", shape_str(v.shape), " of ", dtype_name(v.dtype), " needs more than 2^63 bytes");
    HIMTOK_CHECK_INPUT(static_cast<uint64_t>(want) == v.nbytes, ctx, ": ", v.nbytes, " bytes do not hold shape ",
                       shape_str(v.shape), " of ", dtype_name(v.dtype));
    v.data = data + b;
    if (v.nbytes) ranges.emplace_back(b, en);
    out.tensors.emplace(v.name, std::move(v));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    HIMTOK_CHECK_INPUT(ranges[i].first >= ranges[i - 1].second, path, ": tensors overlap in the data section");
  return out;
}

std::map<std::string, std::string> parse_weight_map(const std::string& text, const std::string& path) {
  const json idx = parse_json(text, str_cat(path, ": cannot parse index"));
  HIMTOK_CHECK_INPUT(idx.is_object() && idx.contains("weight_map") && idx["weight_map"].is_object(), path,
                     ": index has no weight_map");
  std::map<std::string, std::string> out;
  for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
    HIMTOK_CHECK_INPUT(it.value().is_string(), path, ": weight_map['", it.key(), "'] is not a file name");
    std::string shard = it.value().get<std::string>();
    HIMTOK_CHECK_INPUT(!shard.empty() && shard.find('/') == std::string::npos && shard != "." && shard != "..", path,
                       ": weight_map['", it.key(), "'] = '", shard, "' is not a file name in the index's folder");
    out[it.key()] = std::move(shard);
  }
  return out;
}

// One memory-mapped file.
class SafeTensorsFile {
 public:
  explicit SafeTensorsFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    HIMTOK_CHECK_INPUT(fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      ::close(fd);
      throw InputError(str_cat(path, ": cannot stat"));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      HIMTOK_CHECK_INPUT(p != MAP_FAILED, path, ": cannot map file");
      base_ = static_cast<const uint8_t*>(p);
    } else {
      ::close(fd);
    }
    try {
      SafeTensorsContents c = parse_safetensors(base_, size_, path);
      tensors_ = std::move(c.tensors);
      metadata_ = std::move(c.metadata);
    } catch (...) {
      // A throwing constructor runs no destructor: unmap here.
      if (base_) munmap(const_cast<uint8_t*>(base_), size_);
      throw;
    }
  }
  ~SafeTensorsFile() {
    if (base_) munmap(const_cast<uint8_t*>(base_), size_);
  }
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;

 private:
  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

SafeTensors SafeTensors::open(const std::string& path_in) {
  std::string path = path_in;
  HIMTOK_CHECK_INPUT(fs::exists(path), path, ": no such file");
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "model.safetensors.index.json"))
      path = (fs::path(path) / "model.safetensors.index.json").string();
    else if (fs::exists(fs::path(path) / "model.safetensors"))
      path = (fs::path(path) / "model.safetensors").string();
    else
      throw InputError(str_cat(path, ": folder holds neither model.safetensors nor model.safetensors.index.json"));
  }
  SafeTensors st;
  st.path_ = path;
  const std::string suffix = ".index.json";
  if (path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
    std::ifstream f(path, std::ios::binary);
    HIMTOK_CHECK_INPUT(f.good(), path, ": cannot open");
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::map<std::string, std::shared_ptr<SafeTensorsFile>> shards;
    for (const auto& [name, shard] : parse_weight_map(text, path)) {
      if (!shards.count(shard)) {
        auto f = std::make_shared<SafeTensorsFile>((fs::path(path).parent_path() / shard).string());
        shards[shard] = f;
        st.files_.push_back(f);
        for (auto& [k, v] : f->metadata_) st.metadata_[k] = v;
      }
      auto& f = shards[shard];
      auto t = f->tensors_.find(name);
      HIMTOK_CHECK_INPUT(t != f->tensors_.end(), path, ": '", name, "' is mapped to ", shard,
                         " but that shard does not hold it");
      st.index_[name] = t->second;
    }
  } else {
    auto f = std::make_shared<SafeTensorsFile>(path);
    st.files_.push_back(f);
    st.index_ = f->tensors_;
    st.metadata_ = f->metadata_;
  }
  return st;
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : index_) out.push_back(k);
  return out;
}

bool SafeTensors::has(const std::string& name) const { return index_.count(name) != 0; }

const TensorView& SafeTensors::get(const std::string& name) const {
  auto it = index_.find(name);
  HIMTOK_CHECK_INPUT(it != index_.end(), path_, ": no tensor '", name, "'");
  return it->second;
}

void write_file_atomic(const std::string& path, const void* bytes, size_t n) {
  // A write past the file-size limit (ulimit -f, RLIMIT_FSIZE) raises SIGXFSZ, whose default
  // action kills the process without a word; ignored, the write fails with EFBIG instead and the
  // error below says so. Set once for the process.
  static const bool xfsz_ignored = [] { return ::signal(SIGXFSZ, SIG_IGN) != SIG_ERR; }();
  (void)xfsz_ignored;
  fs::path p(path);
  if (p.has_parent_path() && !p.parent_path().empty()) fs::create_directories(p.parent_path());
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  HIMTOK_CHECK_INPUT(fd >= 0, path, ": cannot write (", std::strerror(errno), ")");
  size_t done = 0;
  // Any failure removes the temp file and leaves `path` as it was.
  auto fail = [&](const char* what) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw InputError(str_cat(path, ": ", what, " failed after ", done, " of ", n, " bytes (", std::strerror(err),
                             "); the previous file, if any, is unchanged"));
  };
  const uint8_t* b = static_cast<const uint8_t*>(bytes);
  while (done < n) {
    ssize_t w = ::write(fd, b + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write");
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) fail("fsync");
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw InputError(str_cat(path, ": cannot rename temp file (", std::strerror(errno), ")"));
  }
}

void save_safetensors(const std::string& path, const std::vector<TensorWrite>& tensors_in,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorWrite*> ts;
  for (auto& t : tensors_in) ts.push_back(&t);
  // Larger element sizes first keeps every tensor aligned to its element size.
  std::stable_sort(ts.begin(), ts.end(), [](const TensorWrite* a, const TensorWrite* b) {
    if (dtype_size(a->dtype) != dtype_size(b->dtype)) return dtype_size(a->dtype) > dtype_size(b->dtype);
    return a->name < b->name;
  });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t off = 0;
  for (auto* t : ts) {
    int64_t numel = 1;
    for (auto d : t->shape) numel *= d;
    if (static_cast<size_t>(numel) * dtype_size(t->dtype) != t->bytes.size())
      throw std::logic_error("save_safetensors: '" + t->name + "' byte size does not match its shape");
    header[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {off, off + t->bytes.size()}}};
    off += t->bytes.size();
  }
  std::string hs = header.dump();
  while (hs.size() % 8) hs += ' ';
  std::vector<uint8_t> out(8 + hs.size() + off);
  uint64_t n = hs.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, hs.data(), hs.size());
  size_t pos = 8 + hs.size();
  for (auto* t : ts) {
    if (!t->bytes.empty()) std::memcpy(out.data() + pos, t->bytes.data(), t->bytes.size());
    pos += t->bytes.size();
  }
  write_file_atomic(path, out.data(), out.size());
}

}  // namespace himtok::io
