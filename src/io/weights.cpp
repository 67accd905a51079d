#include "io/weights.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/nn/module.h>

#include <ATen/ATen.h>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace fs = std::filesystem;

namespace himtok::io {

static at::ScalarType scalar_type(DType t) {
  switch (t) {
    case DType::kF64: return at::kDouble;
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
  }
  throw std::logic_error("scalar_type: unknown dtype");
}

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kDouble: return DType::kF64;
    case at::kFloat: return DType::kF32;
    case at::kHalf: return DType::kF16;
    case at::kBFloat16: return DType::kBF16;
    case at::kLong: return DType::kI64;
    case at::kInt: return DType::kI32;
    case at::kShort: return DType::kI16;
    case at::kChar: return DType::kI8;
    case at::kByte: return DType::kU8;
    case at::kBool: return DType::kBool;
    default: throw std::logic_error(std::string("dtype_of: unsupported ") + c10::toString(t.scalar_type()));
  }
}

at::Tensor to_tensor(const TensorView& v) {
  at::Tensor t = at::empty(v.shape, at::TensorOptions().dtype(scalar_type(v.dtype)));
  if (v.nbytes) std::memcpy(t.data_ptr(), v.data, v.nbytes);
  return t;
}

TensorWrite from_tensor(const std::string& name, const at::Tensor& t_in) {
  at::Tensor t = t_in.detach().to(at::kCPU).contiguous();
  TensorWrite w;
  w.name = name;
  w.dtype = dtype_of(t);
  w.shape = t.sizes().vec();
  w.bytes.resize(t.nbytes());
  if (t.nbytes()) std::memcpy(w.bytes.data(), t.data_ptr(), t.nbytes());
  return w;
}

// libtorch's unpickler sets a tensor's sizes, strides and offset from the pickle without checking
// them against its storage (the zip record): a hostile archive would make every later read go
// past the storage. Refuse those views here, before anything reads them.
static void check_storage_bounds(const at::Tensor& t, const std::string& what) {
  for (int64_t d = 0; d < t.dim(); ++d) {
    HIMTOK_CHECK_INPUT(t.size(d) >= 0, what, ": negative size in shape ", shape_str(t.sizes().vec()));
    if (t.size(d) == 0) return;  // no element is ever read
  }
  HIMTOK_CHECK_INPUT(t.storage_offset() >= 0, what, ": negative storage offset ", t.storage_offset());
  __int128 last = t.storage_offset();  // index of the furthest element, in elements
  for (int64_t d = 0; d < t.dim(); ++d) {
    HIMTOK_CHECK_INPUT(t.stride(d) >= 0, what, ": negative stride ", t.stride(d));
    last += static_cast<__int128>(t.size(d) - 1) * t.stride(d);
  }
  const __int128 need = (last + 1) * static_cast<__int128>(t.itemsize());
  HIMTOK_CHECK_INPUT(t.storage().data() != nullptr || need == 0, what, ": tensor has no storage");
  HIMTOK_CHECK_INPUT(need <= static_cast<__int128>(t.storage().nbytes()), what, ": shape ", shape_str(t.sizes().vec()),
                     " (offset ", t.storage_offset(), ") needs ", static_cast<double>(need), " bytes, its storage holds ",
                     t.storage().nbytes());
}

static void flatten_ivalue(const c10::IValue& v, const std::string& prefix, TensorMap& out, const std::string& path) {
  if (v.isTensor()) {
    check_storage_bounds(v.toTensor(), str_cat(path, ": '", prefix, "'"));
    out[prefix] = v.toTensor();
  } else if (v.isGenericDict()) {
    for (const auto& kv : v.toGenericDict()) {
      HIMTOK_CHECK_INPUT(kv.key().isString(), path, ": state dict has a non-string key");
      std::string k = kv.key().toStringRef();
      flatten_ivalue(kv.value(), prefix.empty() ? k : prefix + "." + k, out, path);
    }
  }
  // Other values (ints, strings, optimizer state lists) are not weights: skipped.
}

TensorMap load_pth(const std::string& path) {
  HIMTOK_CHECK_INPUT(fs::exists(path), path, ": no such file");
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  HIMTOK_CHECK_INPUT(bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K', path,
                     ": not a PyTorch zip archive (torch.save >= 1.6 format expected)");
  c10::IValue v;
  try {
    v = torch::jit::pickle_load(bytes);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw InputError(str_cat(path, ": cannot read PyTorch archive (", msg.substr(0, msg.find('\n')), ")"));
  }
  if (v.isGenericDict()) {
    auto d = v.toGenericDict();
    for (const auto& kv : d)
      if (kv.key().isString() && kv.key().toStringRef() == "model" && kv.value().isGenericDict()) {
        v = kv.value();
        break;
      }
  }
  HIMTOK_CHECK_INPUT(v.isGenericDict(), path, ": archive does not hold a state dict");
  TensorMap raw, out;
  flatten_ivalue(v, "", raw, path);
  for (auto& [k, t] : raw) {
    std::string key = k;
    for (size_t pos; (pos = key.find("module.")) != std::string::npos;) key.erase(pos, 7);
    out[key] = t.contiguous();
  }
  return out;
}

void save_pth(const std::string& path, const TensorMap& tensors) {
  c10::Dict<std::string, at::Tensor> d;
  for (auto& [k, t] : tensors) d.insert(k, t.detach().contiguous());
  std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(d));
  write_file_atomic(path, bytes.data(), bytes.size());
}

void save_tensors(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                  bool as_bf16) {
  std::vector<TensorWrite> ws;
  for (auto& [k, t] : tensors) {
    at::Tensor x = t;
    if (as_bf16 && x.is_floating_point()) x = x.to(at::kBFloat16);
    ws.push_back(from_tensor(k, x));
  }
  save_safetensors(path, ws, metadata);
}

static bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

Weights Weights::open(const std::string& path) {
  Weights w;
  w.path_ = path;
  if (ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".bin")) {
    w.map_ = load_pth(path);
  } else {
    w.st_ = std::make_shared<SafeTensors>(SafeTensors::open(path));
    w.metadata_ = w.st_->metadata();
  }
  return w;
}

std::vector<std::string> Weights::names() const {
  if (st_) return st_->names();
  std::vector<std::string> out;
  for (auto& [k, v] : map_) out.push_back(k);
  return out;
}

bool Weights::has(const std::string& name) const { return st_ ? st_->has(name) : map_.count(name) != 0; }

at::Tensor Weights::get(const std::string& name) const {
  if (st_) return to_tensor(st_->get(name));
  auto it = map_.find(name);
  HIMTOK_CHECK_INPUT(it != map_.end(), path_, ": no tensor '", name, "'");
  return it->second;
}

std::vector<int64_t> Weights::shape(const std::string& name) const {
  if (st_) return st_->get(name).shape;
  return get(name).sizes().vec();
}

DType Weights::dtype(const std::string& name) const {
  if (st_) return st_->get(name).dtype;
  return dtype_of(get(name));
}

TensorMap state_dict(const torch::nn::Module& module, const std::string& prefix) {
  TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[prefix + p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) out[prefix + b.key()] = b.value();
  return out;
}

static std::string list_keys(const std::vector<std::string>& keys) {
  std::string s;
  for (size_t i = 0; i < keys.size() && i < 5; ++i) s += (i ? ", '" : "'") + keys[i] + "'";
  if (keys.size() > 5) s += str_cat(" and ", keys.size() - 5, " more");
  return s;
}

static bool is_float(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16 || t == DType::kF64; }

void load_state_dict_strict(torch::nn::Module& module, const Weights& w, const std::string& prefix) {
  TensorMap own = state_dict(module, prefix);
  std::vector<std::string> missing, unexpected, problems;
  for (auto& [k, t] : own)
    if (!w.has(k)) missing.push_back(k);
  for (const auto& k : w.names())
    if (k.compare(0, prefix.size(), prefix) == 0 && !own.count(k)) unexpected.push_back(k);
  HIMTOK_CHECK_INPUT(missing.empty(), w.path(), ": ", missing.size(), " missing key(s): ", list_keys(missing),
                     prefix.empty() ? "" : str_cat(" (prefix '", prefix, "')"));
  HIMTOK_CHECK_INPUT(unexpected.empty(), w.path(), ": ", unexpected.size(), " unexpected key(s): ", list_keys(unexpected),
                     "; wrong model or config?");
  for (auto& [k, t] : own) {
    auto shape = w.shape(k);
    HIMTOK_CHECK_INPUT(shape == t.sizes().vec(), w.path(), ": '", k, "' has shape ", shape_str(shape), ", expected ",
                       shape_str(t.sizes().vec()));
    DType dt = w.dtype(k);
    if (t.scalar_type() == at::kBool)
      HIMTOK_CHECK_INPUT(dt == DType::kBool, w.path(), ": '", k, "' is ", dtype_name(dt), ", expected BOOL");
    else if (t.is_floating_point())
      HIMTOK_CHECK_INPUT(is_float(dt), w.path(), ": '", k, "' is ", dtype_name(dt), ", expected a float type");
  }
  at::NoGradGuard no_grad;
  for (auto& [k, t] : own) {
    at::Tensor v = w.get(k);
    if (v.is_floating_point()) {
      HIMTOK_CHECK_INPUT(at::isfinite(v).all().item<bool>(), w.path(), ": '", k, "' holds NaN or Inf values");
    }
    t.copy_(v.to(t.scalar_type()));
  }
}

}  // namespace himtok::io
