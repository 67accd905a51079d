// safetensors files (https://github.com/huggingface/safetensors format), no libtorch.
// Layout: u64 little-endian header size N, N bytes of JSON {name: {dtype, shape, data_offsets:[b,e]},
// "__metadata__": {str: str}}, then the raw little-endian row-major data.
// Files are memory-mapped (zero-copy); every entry is validated when the file is opened: known
// dtype, offsets inside the file, byte size = prod(shape) * dtype size, no overlaps.
// Sharded HF checkpoints (model.safetensors.index.json with "weight_map") open as one set.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace himtok::io {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "F32", "BF16", ...
DType parse_dtype(const std::string& s, const std::string& context);  // InputError if unknown

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapping; valid while the file object lives
  size_t nbytes = 0;
  int64_t numel() const;
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[3,4]"

class SafeTensorsFile;

// One file or a sharded set; tensors looked up by name.
class SafeTensors {
 public:
  // `path`: a .safetensors file, a model.safetensors.index.json, or a folder holding either.
  static SafeTensors open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // InputError if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t size() const { return index_.size(); }

 private:
  std::string path_;
  std::vector<std::shared_ptr<SafeTensorsFile>> files_;
  std::map<std::string, TensorView> index_;
  std::map<std::string, std::string> metadata_;
};

// The parsers behind SafeTensors::open, on bytes in memory (fuzz/ and the tests call them too).
// parse_safetensors: a whole file (u64 header size, JSON header, data); the views point into
// `bytes`. Limits (InputError naming `what`): header <= 100 MiB and nested <= 64 levels, every
// shape's element count and byte size fit in int64, offsets inside the data, no overlaps.
struct SafeTensorsContents {
  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;
};
SafeTensorsContents parse_safetensors(const uint8_t* bytes, size_t n, const std::string& what);
// parse_weight_map: model.safetensors.index.json text -> {tensor name: shard file name}. Shard
// names must be plain file names in the index's folder (no '/', not "." or "..").
std::map<std::string, std::string> parse_weight_map(const std::string& json_text, const std::string& what);

struct TensorWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // row-major little-endian, size = numel * dtype_size
};

// Writes a single safetensors file atomically (temp file + rename). Entries are sorted by name;
// larger dtypes come first so each tensor is aligned to its element size; the header is
// space-padded to a multiple of 8.
void save_safetensors(const std::string& path, const std::vector<TensorWrite>& tensors,
                      const std::map<std::string, std::string>& metadata);

// Writes `bytes` to `path` atomically (temp file in the same folder, fsync, rename).
void write_file_atomic(const std::string& path, const void* bytes, size_t n);

}  // namespace himtok::io
