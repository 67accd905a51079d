// Named tensors from a weights file, and the strict state-dict load (tier 1: tensors only).
//   .safetensors / model.safetensors.index.json / a folder holding them: zero-copy views, converted
//      to at::Tensor on demand;
//   .pth / .pt / .bin: a PyTorch zip archive written by torch.save (read with libtorch's own
//      unpickler), either a state dict or {"model": state dict}; "module." prefixes are stripped.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace torch::nn {
class Module;
}

namespace himtok::io {

using TensorMap = std::map<std::string, at::Tensor>;

// Bytes <-> tensors. to_tensor copies (the result owns its memory).
at::Tensor to_tensor(const TensorView& v);
TensorWrite from_tensor(const std::string& name, const at::Tensor& t);
DType dtype_of(const at::Tensor& t);

class Weights {
 public:
  static Weights open(const std::string& path);
  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const;
  at::Tensor get(const std::string& name) const;          // InputError if absent
  std::vector<int64_t> shape(const std::string& name) const;
  DType dtype(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::shared_ptr<SafeTensors> st_;  // safetensors files
  TensorMap map_;                    // .pth files
  std::map<std::string, std::string> metadata_;
};

// Reads a torch.save zip archive into a flat map (nested dicts are flattened with '.').
TensorMap load_pth(const std::string& path);
void save_pth(const std::string& path, const TensorMap& tensors);  // torch.save-compatible zip

void save_tensors(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                  bool as_bf16 = false);

// Strict load of every parameter and buffer of `module` from `w`, reading key `prefix + name`.
// Errors (InputError, naming up to 5 keys and the counts): a missing key, a key under `prefix`
// that the module lacks (keys outside the prefix are ignored), a mis-shaped tensor, a float
// parameter stored as a non-float type or a bool buffer stored as non-bool.
// Values are converted to each parameter's dtype (bf16 files load into fp32 modules).
void load_state_dict_strict(torch::nn::Module& module, const Weights& w, const std::string& prefix);

// Every parameter and buffer of `module` as name -> tensor (with `prefix` prepended).
TensorMap state_dict(const torch::nn::Module& module, const std::string& prefix = "");

}  // namespace himtok::io
