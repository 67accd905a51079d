// main() of the Google Benchmark programs without options of their own (bench_tokenizer,
// bench_lmm): BENCHMARK_MAIN, with libtorch's CPU allocator set as the CLI sets it.
#include <benchmark/benchmark.h>

#include "nn/cpu_allocator.h"

int main(int argc, char** argv) {
  himtok::nn::use_caching_cpu_allocator();  // as the CLI runs (nn/cpu_allocator.h); HIMTOK_CPU_CACHE_MB=0: libtorch's own
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
