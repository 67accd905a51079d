// A caching allocator for libtorch's CPU tensors.
//
// Why: glibc hands every block of 32 MiB or more (and, until its adaptive threshold has grown, every
// block above 128 KiB) to mmap, and gives it back to the kernel on free. A freshly mapped block
// costs one page fault per 4 KiB page on first touch, so an inference or training step that makes
// the same large activations every time pays that again and again. Measured on this project's
// machine (2 cores of an AMD EPYC, Debian libtorch 1.13.1): an official-large decode at batch 1
// took 1.4 million page faults for 4 calls and spent about half of its time in them; the stage-1
// trainer spent 35% of its CPU time in the kernel. Libtorch 1.13 has no CPU caching allocator
// outside its mobile builds, and replacing malloc process-wide (jemalloc, tcmalloc) would clash with
// the sanitizer builds and with the deep-bound SentencePiece plugin (src/lmm/vocab.cpp), so this is
// written by hand: freed blocks are kept by size class and handed out again.
//
// Blocks under 128 KiB go straight to c10's allocator (glibc's heap reuses them without faults).
// Blocks of 4 MiB or more are advised for transparent huge pages (MADV_HUGEPAGE; Debian's default
// THP mode is "madvise"), which makes their first touch 512 times cheaper and helps the TLB.
// The cache holds at most `limit` bytes of free blocks; a free that would exceed it returns the
// block to the system, and a miss first drops the cache when the cache is over half the limit
// (sizes that stopped recurring do not pin memory). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace himtok::nn {

struct CpuCacheStats {
  uint64_t hits = 0;          // allocations served from the cache
  uint64_t misses = 0;        // cacheable allocations that had to map fresh memory
  uint64_t cached_bytes = 0;  // free blocks held now
  uint64_t live_bytes = 0;    // cacheable blocks in use now (size classes, not requested sizes)
  uint64_t limit_bytes = 0;
};

// Makes the caching allocator libtorch's CPU allocator for the rest of the process (tensors made
// before keep their own deleter). Idempotent; thread-safe. The cache limit comes from the
// environment variable HIMTOK_CPU_CACHE_MB (default 2048); HIMTOK_CPU_CACHE_MB=0 leaves libtorch's
// allocator in place. Returns whether the caching allocator is active. In AddressSanitizer builds
// it is not installed (cached blocks would hide use-after-free from ASan).
bool use_caching_cpu_allocator();

// The installed allocator's counters (all zero when it is not installed).
CpuCacheStats cpu_cache_stats();

// Returns every cached free block to the system.
void empty_cpu_cache();

// The size class a cacheable request of n bytes is rounded up to: 8 classes per power of two
// (at most 12.5% over the request), whole 4 KiB pages. Exposed for the tests.
size_t cpu_cache_size_class(size_t n);

// The allocator itself, for tests that exercise it without installing it process-wide.
class CachingCpuAllocatorCore {
 public:
  explicit CachingCpuAllocatorCore(size_t limit_bytes);
  ~CachingCpuAllocatorCore();
  CachingCpuAllocatorCore(const CachingCpuAllocatorCore&) = delete;
  CachingCpuAllocatorCore& operator=(const CachingCpuAllocatorCore&) = delete;

  void* allocate(size_t n);  // 64-byte aligned; nullptr on failure
  void free(void* p);        // p from allocate() of this object, or nullptr
  CpuCacheStats stats() const;
  void empty();

  struct State;

 private:
  State* s_;
};

}  // namespace himtok::nn
