// Data parallelism for the trainers: a thin wrapper over one c10d process group (Gloo on CPU),
// so that the training loops read the same with or without it. A libtorch built without Gloo
// (HIMTOK_WITH_GLOO=0, e.g. a pip wheel whose c10d headers lack gloo) still trains on one
// process and rejects world_size > 1 with a clear error.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace himtok::train {

class DataParallel {
 public:
  // world_size 1: every call is the identity. Otherwise a FileStore rendezvous at `store_path`.
  DataParallel(const std::string& store_path, int rank, int world_size);
  ~DataParallel();
  bool active() const { return world_size_ > 1; }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  void allreduce_mean(at::Tensor& t);           // in place: mean over processes (CPU tensor)
  at::Tensor allgather(const at::Tensor& t);    // concatenation along dim 0, rank order
  void broadcast(at::Tensor& t);                // in place: rank 0's value

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_size_ = 1;
};

}  // namespace himtok::train
