// Self time by op of a stretch of work, from libtorch's (legacy) autograd profiler: what the
// trainer's `--bench --profile` and bench_detok's `--profile` print ("say what bounds it").
//
// Self time = an op's time minus the time of the ops it called (at::conv2d -> mkldnn_convolution
// counts once). On CUDA the CPU time is launch and dispatch cost; the CUDA time comes from events
// recorded in the stream around each op, so it is the device time between the op's start and end
// (kernels of that op, plus any queue the op waited behind).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace himtok::nn {

struct OpTime {
  std::string name;    // aten::convolution_backward, ...
  double self_cpu_ms = 0;
  double self_cuda_ms = 0;  // 0 unless profiled with cuda = true
  int64_t calls = 0;
};

// Starts recording on this thread and on the threads its work hands ops to (the autograd
// engine's). cuda = true adds CUDA events (needs a libtorch with CUDA). One profile at a time.
void start_op_profile(bool cuda);

// Stops and returns every op, sorted by self CUDA time (when recorded) else self CPU time.
std::vector<OpTime> stop_op_profile();

// A table of the first `top` rows: op, self CPU ms, share of total_ms (of the CUDA time when
// recorded), calls, then self CUDA ms when recorded. One line per row, newline-terminated.
std::string format_op_profile(const std::vector<OpTime>& ops, double total_ms, size_t top);

}  // namespace himtok::nn
