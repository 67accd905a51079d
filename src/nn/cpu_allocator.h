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
// Policy: the footprint of the large blocks (live + cached) may grow to the peak of live bytes the
// process has had plus the limit: the limit is what the cache may add to the memory the process
// has already needed. A free only moves a block from live to cached, so it is always kept. A miss
// that would push the footprint over that budget first gives back whole size classes, least
// recently used first: sizes that stopped recurring (a growing sequence, another batch size) do not
// pin memory, and the sizes of a repeating training step, however large, stay. (The first policy, a
// fixed 2 GiB cap dropped whole on a miss, faulted most of the 4.5 GB working set of a batch-32
// tiny training step back in every step; a budget of the peak alone, with no room over it, evicted
// the step's own varying sizes: docs/BENCHMARKS.md.) Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace himtok::nn {

struct CpuCacheStats {
  uint64_t hits = 0;          // allocations served from the cache
  uint64_t misses = 0;        // cacheable allocations that had to map fresh memory
  uint64_t cached_bytes = 0;  // free blocks held now
  uint64_t live_bytes = 0;    // cacheable blocks in use now (size classes, not requested sizes)
  uint64_t peak_live_bytes = 0;  // the most live bytes so far
  uint64_t evictions = 0;       // size classes given back to make room
  uint64_t limit_bytes = 0;
};

// Makes the caching allocator libtorch's CPU allocator for the rest of the process (tensors made
// before keep their own deleter). Idempotent; thread-safe. The cache limit comes from the
// environment variable HIMTOK_CPU_CACHE_MB (default 2048: the room over the peak of live bytes, see the policy above); HIMTOK_CPU_CACHE_MB=0 leaves libtorch's
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
