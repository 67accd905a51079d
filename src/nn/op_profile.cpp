#include "nn/op_profile.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <cstdio>
#include <map>

namespace himtok::nn {

namespace prof = torch::autograd::profiler;

void start_op_profile(bool cuda) {
  using torch::profiler::impl::ProfilerState;
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(cuda ? ProfilerState::CUDA : ProfilerState::CPU));
}

std::vector<OpTime> stop_op_profile() {
  const prof::thread_event_lists lists = prof::disableProfilerLegacy();
  std::map<std::string, OpTime> by_name;
  bool any_cuda = false;
  for (const auto& events : lists) {
    // Push and pop events of one thread nest: a stack pairs them and charges each op's inclusive
    // time to its parent's children.
    struct Open {
      const prof::LegacyEvent* e;
      double child_cpu_us = 0, child_cuda_us = 0;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open o = stack.back();
        stack.pop_back();
        const double cpu = o.e->cpuElapsedUs(e);
        const bool has_cuda = o.e->hasCuda() && e.hasCuda();
        const double gpu = has_cuda ? o.e->cudaElapsedUs(e) : 0.0;
        any_cuda = any_cuda || has_cuda;
        OpTime& t = by_name[o.e->name()];
        t.name = o.e->name();
        t.self_cpu_ms += (cpu - o.child_cpu_us) / 1e3;
        t.self_cuda_ms += (gpu - o.child_cuda_us) / 1e3;
        t.calls += 1;
        if (!stack.empty()) {
          stack.back().child_cpu_us += cpu;
          stack.back().child_cuda_us += gpu;
        }
      }
    }
  }
  std::vector<OpTime> ops;
  for (auto& [name, t] : by_name) ops.push_back(std::move(t));
  std::sort(ops.begin(), ops.end(), [any_cuda](const OpTime& a, const OpTime& b) {
    return any_cuda ? a.self_cuda_ms > b.self_cuda_ms : a.self_cpu_ms > b.self_cpu_ms;
  });
  return ops;
}

std::string format_op_profile(const std::vector<OpTime>& ops, double total_ms, size_t top) {
  // With CUDA times the share is of device time, and a "cuda ms" column ends each row.
  const bool cuda = std::any_of(ops.begin(), ops.end(), [](const OpTime& t) { return t.self_cuda_ms != 0; });
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "  %-40s %10s %7s %6s%s\n", "op", "self ms", "share", "calls", cuda ? "    cuda ms" : "");
  out += line;
  for (size_t i = 0; i < std::min(top, ops.size()); ++i) {
    const OpTime& t = ops[i];
    char gpu[24] = "";
    if (cuda) std::snprintf(gpu, sizeof gpu, " %10.1f", t.self_cuda_ms);
    std::snprintf(line, sizeof line, "  %-40s %10.1f %6.1f%% %6lld%s\n", t.name.c_str(), t.self_cpu_ms,
                  100.0 * (cuda ? t.self_cuda_ms : t.self_cpu_ms) / total_ms, static_cast<long long>(t.calls), gpu);
    out += line;
  }
  return out;
}

}  // namespace himtok::nn
