// The caching CPU allocator (nn/cpu_allocator.h): blocks are reused by size class, the footprint
// stays under its budget, concurrent use keeps blocks apart, and a real decode through it (stale
// contents in reused blocks) gives exactly the maps of libtorch's own allocator.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nn/cpu_allocator.h"
#include "shipped_models.h"
#include "test_helpers.h"
#include "tokenizer/pixel_decoder.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace himtok;
constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;

TEST(NnCpuAllocator, SizeClassesRoundUpByAtMostAnEighth) {
  EXPECT_EQ(nn::cpu_cache_size_class(1000), 1000u);               // small: not cached, not rounded
  EXPECT_EQ(nn::cpu_cache_size_class(128 * kKiB), 128 * kKiB);
  EXPECT_EQ(nn::cpu_cache_size_class(128 * kKiB + 1), 144 * kKiB);
  EXPECT_EQ(nn::cpu_cache_size_class(32 * kMiB), 32 * kMiB);
  EXPECT_EQ(nn::cpu_cache_size_class(32 * kMiB + 1), 36 * kMiB);
  for (size_t n = 128 * kKiB; n < 64 * kMiB; n = n * 7 / 6 + 4097) {
    const size_t c = nn::cpu_cache_size_class(n);
    EXPECT_GE(c, n);
    EXPECT_LE(c - n, n / 8) << n;
    EXPECT_EQ(c % 4096, 0u) << n;
  }
}

TEST(NnCpuAllocator, ReusesFreedBlocksOfTheSameClass) {
  nn::CachingCpuAllocatorCore a(64 * kMiB);
  void* p = a.allocate(5 * kMiB);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  std::memset(p, 0xab, 5 * kMiB);  // the whole block is writable
  a.free(p);
  EXPECT_EQ(a.stats().cached_bytes, 5 * kMiB);
  void* q = a.allocate(5 * kMiB - 100);  // same class
  EXPECT_EQ(q, p);
  void* r = a.allocate(9 * kMiB);  // another class: fresh
  EXPECT_NE(r, p);
  const nn::CpuCacheStats s = a.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.cached_bytes, 0u);
  EXPECT_EQ(s.live_bytes, 5 * kMiB + 9 * kMiB);
  a.free(q);
  a.free(r);
  a.free(nullptr);
  EXPECT_EQ(a.stats().live_bytes, 0u);
  a.empty();
  EXPECT_EQ(a.stats().cached_bytes, 0u);
}

TEST(NnCpuAllocator, SmallBlocksAreNotCached) {
  nn::CachingCpuAllocatorCore a(64 * kMiB);
  void* p = a.allocate(1000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  a.free(p);
  EXPECT_EQ(a.stats().cached_bytes, 0u);
  EXPECT_EQ(a.stats().misses, 0u);
  EXPECT_EQ(a.allocate(0), nullptr);
}

// The footprint (live + cached) stays under peak live + limit: a miss gives back the least
// recently used size classes, just enough of them.
TEST(NnCpuAllocator, MissGivesBackLeastRecentlyUsedClassesOnly) {
  nn::CachingCpuAllocatorCore a(4 * kMiB);
  void* x = a.allocate(3 * kMiB);
  void* y = a.allocate(4 * kMiB);
  a.free(x);  // used before y
  a.free(y);
  EXPECT_EQ(a.stats().cached_bytes, 7 * kMiB);
  void* z = a.allocate(6 * kMiB);  // 7 + 6 > 7 + 4: x's class goes, y's stays (4 + 6 <= 11)
  EXPECT_EQ(a.stats().cached_bytes, 4 * kMiB);
  EXPECT_EQ(a.stats().evictions, 1u);
  EXPECT_EQ(a.allocate(4 * kMiB), y);  // a hit
  EXPECT_EQ(a.stats().hits, 1u);
  a.free(y);
  a.free(z);
  // Frees are always kept: the footprint does not grow (10 MiB, the new peak of live bytes).
  EXPECT_EQ(a.stats().cached_bytes, 10 * kMiB);
  EXPECT_EQ(a.stats().live_bytes, 0u);
  a.empty();
  EXPECT_EQ(a.stats().cached_bytes, 0u);
}

// A repeating step whose working set (16 MiB) is larger than the limit (8 MiB) reuses all of it:
// only the first step maps memory. (The first policy, a fixed cap dropped on a miss, mapped again
// in every step: the page faults of a batch-32 training step, docs/BENCHMARKS.md.)
TEST(NnCpuAllocator, RepeatingStepLargerThanTheLimitStaysCached) {
  nn::CachingCpuAllocatorCore a(8 * kMiB);
  for (int step = 0; step < 4; ++step) {
    std::vector<void*> live;
    for (size_t mib : {4, 5, 4, 3}) live.push_back(a.allocate(mib * kMiB));  // 16 MiB in 3 classes
    for (void* p : live) a.free(p);
  }
  const nn::CpuCacheStats s = a.stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.hits, 12u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.peak_live_bytes, 16 * kMiB);
  EXPECT_EQ(s.cached_bytes, 16 * kMiB);
  // A growing sequence (a new size every call) keeps the footprint within the budget: the peak of
  // live bytes (16 MiB) plus the limit.
  for (size_t k = 1; k <= 8; ++k) {
    void* p = a.allocate((6 + k) * kMiB);
    EXPECT_LE(a.stats().live_bytes + a.stats().cached_bytes, 24 * kMiB) << k;
    a.free(p);
  }
  EXPECT_GT(a.stats().evictions, 0u);
}

// Blocks handed out from the cache count toward the peak of live bytes (and so the budget) as
// fresh ones do: two cached blocks that were never live together are live together here.
TEST(NnCpuAllocator, PeakCountsBlocksHandedOutFromTheCache) {
  nn::CachingCpuAllocatorCore a(16 * kMiB);
  void* x = a.allocate(3 * kMiB);
  a.free(x);
  void* y = a.allocate(5 * kMiB);  // another class: fresh
  a.free(y);
  EXPECT_EQ(a.stats().peak_live_bytes, 5 * kMiB);
  EXPECT_EQ(a.allocate(3 * kMiB), x);  // both hits
  EXPECT_EQ(a.allocate(5 * kMiB), y);
  EXPECT_EQ(a.stats().misses, 2u);
  EXPECT_EQ(a.stats().live_bytes, 8 * kMiB);
  EXPECT_EQ(a.stats().peak_live_bytes, 8 * kMiB);
  a.free(x);
  a.free(y);
  a.empty();
}

// A class whose blocks are all handed out holds nothing to give back: a miss over the budget does
// not count it as an eviction.
TEST(NnCpuAllocator, EvictionsCountOnlyClassesThatHeldBlocks) {
  nn::CachingCpuAllocatorCore a(1 * kMiB);
  void* x = a.allocate(2 * kMiB);
  a.free(x);
  EXPECT_EQ(a.allocate(2 * kMiB), x);  // the class is empty now
  void* y = a.allocate(4 * kMiB);      // 2 live + 4 > peak 2 + limit 1, but nothing is cached
  EXPECT_EQ(a.stats().evictions, 0u);
  EXPECT_EQ(a.stats().cached_bytes, 0u);
  a.free(x);
  a.free(y);
  EXPECT_EQ(a.stats().cached_bytes, 6 * kMiB);
  a.empty();
}

TEST(NnCpuAllocator, ConcurrentUseKeepsBlocksApart) {
  nn::CachingCpuAllocatorCore a(256 * kMiB);
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t n = (128 + static_cast<size_t>((i * 37 + t * 11) % 5) * 200) * kKiB;
        auto* p = static_cast<unsigned char*>(a.allocate(n));
        std::memset(p, t + 1, n);
        std::this_thread::yield();
        for (size_t k = 0; k < n; k += 4093) bad[t] += p[k] != t + 1;  // nobody else wrote here
        a.free(p);
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
  EXPECT_EQ(a.stats().live_bytes, 0u);
  EXPECT_GT(a.stats().hits, 0u);
}

// The real thing: the process-wide install, then a decode whose large blocks come back from the
// cache with the previous call's contents. The maps must equal those made with libtorch's own
// allocator before the install, bit for bit (the pixel decoder of the small preset makes 4 MiB
// activations per mask, so the cached and the huge-page paths both run).
TEST(NnCpuAllocator, DecodeThroughTheCacheEqualsTheDefaultAllocator) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "not installed in AddressSanitizer builds";
#endif
  const std::vector<Mask> masks = test::first_coco_eval_masks(3);
  tok::LoadOptions lo = test::shipped_small_tokenizer();
  ASSERT_EQ(nn::cpu_cache_stats().limit_bytes, 0u) << "installed before this test";
  tok::MaskTokenizer before = tok::MaskTokenizer::load(lo);
  const auto ids = before.encode(masks);
  const auto want = before.decode_ids(ids);

  ASSERT_TRUE(nn::use_caching_cpu_allocator());
  EXPECT_TRUE(nn::use_caching_cpu_allocator());  // idempotent
  tok::MaskTokenizer after = tok::MaskTokenizer::load(lo);
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(after.encode(masks), ids) << "round " << round;
    const auto got = after.decode_ids(ids);
    ASSERT_EQ(got.size(), want.size());
    for (size_t b = 0; b < got.size(); ++b) EXPECT_EQ(got[b].data, want[b].data) << "round " << round << " mask " << b;
  }
  const nn::CpuCacheStats s = nn::cpu_cache_stats();
  EXPECT_GT(s.hits, 100u);
  EXPECT_GT(s.limit_bytes, 0u);
  EXPECT_LE(s.cached_bytes, s.limit_bytes);
}

// CPU inference runs the pixel decoder one mask at a time (pixel_decoder.cpp): each mask of a batch
// gets exactly the map it gets alone, and the batched (training) path agrees to rounding.
TEST(NnCpuAllocator, PixelDecoderRunsOneMaskAtATimeInInference) {
  at::manual_seed(11);
  const tok::TokenizerConfig cfg = tok::TokenizerConfig::preset("small");
  tok::PixelDecoder pd(cfg);
  const at::Tensor x = at::randn({3, cfg.pixel_z_channels, cfg.grid(), cfg.grid()});
  at::Tensor chunked, batched;
  {
    at::NoGradGuard ng;
    chunked = pd->forward(x);
    for (int64_t b = 0; b < 3; ++b) EXPECT_TRUE(at::equal(chunked[b], pd->forward(x.slice(0, b, b + 1))[0])) << b;
  }
  batched = pd->forward(x).detach();  // grad mode: one batched pass
  ASSERT_EQ(chunked.sizes(), batched.sizes());
  EXPECT_LT((chunked - batched).abs().max().item<double>(), 1e-4 * (1.0 + batched.abs().max().item<double>()));
}

TEST(NnCpuAllocator, BadCacheSizeIsOneLineError) {
  setenv("HIMTOK_CPU_CACHE_MB", "lots", 1);
  auto r = test::run_cli("encode --help");
  unsetenv("HIMTOK_CPU_CACHE_MB");
  EXPECT_EQ(r.code, 0) << "help needs no tensors";
  setenv("HIMTOK_CPU_CACHE_MB", "lots", 1);
  r = test::run_cli("encode --model " + test::data_path("golden/weights.safetensors") + " --config " +
                    test::data_path("golden/config.json") + " " + test::data_path("himtok-examples/masks/0.png"));
  unsetenv("HIMTOK_CPU_CACHE_MB");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("HIMTOK_CPU_CACHE_MB: 'lots' is not a whole number"), std::string::npos) << r.err;
}

}  // namespace
