#include "nn/memory_format.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"

namespace himtok::nn {

namespace {

bool channels_last_from_env() {
  const char* v = std::getenv("HIMTOK_CHANNELS_LAST");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0) return false;
  if (std::strcmp(v, "1") == 0) return true;
  throw InputError(std::string("HIMTOK_CHANNELS_LAST must be 0 or 1, not '") + v + "'");
}

}  // namespace

at::Tensor maybe_channels_last(const at::Tensor& x) {
  static const bool on = channels_last_from_env();
  return on && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

}  // namespace himtok::nn
