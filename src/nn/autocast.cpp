#include "nn/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace himtok::nn {

namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool enabled(c10::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_enabled(c10::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
c10::ScalarType dtype_of(c10::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_dtype(c10::DeviceType t, c10::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else  // libtorch 1.13 - 2.3: one function per device
bool enabled(c10::DeviceType t) {
  return t == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void set_enabled(c10::DeviceType t, bool on) {
  if (t == c10::DeviceType::CUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
}
c10::ScalarType dtype_of(c10::DeviceType t) {
  return t == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(c10::DeviceType t, c10::ScalarType d) {
  if (t == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(d);
  else
    at::autocast::set_autocast_cpu_dtype(d);
}
#endif

c10::DeviceType autocast_type(c10::Device d) { return d.is_cuda() ? c10::DeviceType::CUDA : c10::DeviceType::CPU; }

}  // namespace

AutocastScope::AutocastScope(c10::Device device, c10::ScalarType dtype)
    : type_(autocast_type(device)), was_enabled_(enabled(type_)), was_dtype_(dtype_of(type_)) {
  set_dtype(type_, dtype);
  set_enabled(type_, true);
}

AutocastScope::~AutocastScope() {
  set_enabled(type_, was_enabled_);
  set_dtype(type_, was_dtype_);
  at::autocast::clear_cache();
}

NoAutocast::NoAutocast() : cpu_was_(enabled(c10::DeviceType::CPU)), cuda_was_(enabled(c10::DeviceType::CUDA)) {
  set_enabled(c10::DeviceType::CPU, false);
  set_enabled(c10::DeviceType::CUDA, false);
}

NoAutocast::~NoAutocast() {
  set_enabled(c10::DeviceType::CPU, cpu_was_);
  set_enabled(c10::DeviceType::CUDA, cuda_was_);
}

}  // namespace himtok::nn
