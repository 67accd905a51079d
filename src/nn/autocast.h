// bf16 autocast regions, on the CPU and on CUDA, across libtorch versions.
//
// Libtorch 1.13 (Debian) has one set of functions per device (at::autocast::set_cpu_enabled,
// set_enabled for CUDA, ...); libtorch 2.4 and later take the device type
// (at::autocast::set_autocast_enabled(at::kCUDA, ...)) and warn on the old names. Everything that
// opens or closes an autocast region goes through these two guards.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace himtok::nn {

// Turns autocast on for `device`'s type with `dtype` as the lower precision, for the guard's
// lifetime; restores the previous state (and empties autocast's weight-cast cache) on exit.
class AutocastScope {
 public:
  AutocastScope(c10::Device device, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool was_enabled_;
  c10::ScalarType was_dtype_;
};

// Turns autocast off on the CPU and on CUDA for the guard's lifetime (labels and losses computed
// in fp32 inside a training step's bf16 region); restores both on exit.
class NoAutocast {
 public:
  NoAutocast();
  ~NoAutocast();
  NoAutocast(const NoAutocast&) = delete;
  NoAutocast& operator=(const NoAutocast&) = delete;

 private:
  bool cpu_was_, cuda_was_;
};

}  // namespace himtok::nn
