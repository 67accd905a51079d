#include "train/data_parallel.h"

#ifndef HIMTOK_WITH_GLOO
#define HIMTOK_WITH_GLOO 0
#endif
#if HIMTOK_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1  // Debian's libtorch is built with Gloo; its headers need the macro
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <ATen/ATen.h>

#include <chrono>

#include "common/error.h"

namespace himtok::train {

#if HIMTOK_WITH_GLOO
struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};
#else
struct DataParallel::Impl {};
#endif

DataParallel::DataParallel(const std::string& store_path, int rank, int world_size)
    : rank_(rank), world_size_(world_size) {
  HIMTOK_CHECK_INPUT(world_size >= 1 && rank >= 0 && rank < world_size, "data parallel: rank ", rank,
                     " is not in [0, ", world_size, ")");
  if (world_size == 1) return;
#if HIMTOK_WITH_GLOO
  impl_ = std::make_unique<Impl>();
  auto store = c10::make_intrusive<c10d::FileStore>(store_path, world_size);
  store->setTimeout(std::chrono::seconds(120));  // a missing peer fails the run instead of hanging it
  auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(120));
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, opts);
#else
  throw InputError("data parallel: this build has no Gloo (HIMTOK_WITH_GLOO=0); run one process");
#endif
}

DataParallel::~DataParallel() = default;

void DataParallel::allreduce_mean(at::Tensor& t) {
  if (!active()) return;
#if HIMTOK_WITH_GLOO
  std::vector<at::Tensor> bufs{t};
  impl_->pg->allreduce(bufs)->wait();
  t.div_(world_size_);
#endif
}

at::Tensor DataParallel::allgather(const at::Tensor& t) {
  if (!active()) return t;
#if HIMTOK_WITH_GLOO
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int r = 0; r < world_size_; ++r) outs[0].push_back(at::empty_like(t));
  std::vector<at::Tensor> in{t};
  impl_->pg->allgather(outs, in)->wait();
  return at::cat(outs[0]);
#else
  return t;
#endif
}

void DataParallel::broadcast(at::Tensor& t) {
  if (!active()) return;
#if HIMTOK_WITH_GLOO
  std::vector<at::Tensor> b{t};
  impl_->pg->broadcast(b)->wait();
#endif
}

}  // namespace himtok::train
