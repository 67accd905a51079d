#include "nn/cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/log.h"

namespace himtok::nn {

namespace {

constexpr size_t kHeader = 64;                  // keeps the data at c10's 64-byte alignment
constexpr size_t kMinCached = size_t{128} << 10;  // glibc's initial mmap threshold
constexpr size_t kHugePage = size_t{2} << 20;
constexpr uint64_t kMagic = 0x68696d746f6b4361ULL;  // "himtokCa"

// Lives in the kHeader bytes before the data.
struct BlockHeader {
  uint64_t magic;
  uint64_t size_class;  // 0: a small block, straight from c10 (not cached)
};

BlockHeader* header_of(void* p) { return reinterpret_cast<BlockHeader*>(static_cast<char*>(p) - kHeader); }

// Asks the kernel to back the 2 MiB-aligned part of a large block with huge pages (transparent
// huge pages set to "madvise", as on Debian): 512 times fewer page faults on first touch.
void advise_huge_pages(void* base, size_t bytes) {
  auto a = reinterpret_cast<uintptr_t>(base);
  uintptr_t lo = (a + kHugePage - 1) & ~(kHugePage - 1), hi = (a + bytes) & ~(kHugePage - 1);
  if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // a hint only
}

}  // namespace

size_t cpu_cache_size_class(size_t n) {
  if (n < kMinCached) return n;
  size_t pow2 = size_t{1} << (63 - __builtin_clzll(static_cast<unsigned long long>(n)));
  size_t step = pow2 / 8;  // >= 16 KiB here: whole pages
  return (n + step - 1) / step * step;
}

struct CachingCpuAllocatorCore::State {
  // The cached blocks of one size class (never empty: a class whose last block is handed out goes).
  struct Cached {
    std::vector<void*> blocks;  // data pointers
    uint64_t last_use = 0;      // tick of the class's last hit or free
  };

  size_t limit = 0;
  mutable std::mutex mu;
  std::unordered_map<size_t, Cached> free_blocks;  // size class -> its cached blocks
  uint64_t tick = 0;
  CpuCacheStats st;

  // The footprint (live + cached) the cache may fill: the most the process has had live, plus the
  // limit (room for the size classes of a step that vary, so that a step does not evict its own).
  size_t budget() const { return limit + st.peak_live_bytes; }

  // Every block handed out, fresh or cached, counts toward the peak.
  void add_live_locked(size_t cls) {
    st.live_bytes += cls;
    st.peak_live_bytes = std::max(st.peak_live_bytes, st.live_bytes);
  }

  void release_class_locked(size_t cls) {
    auto it = free_blocks.find(cls);
    if (it == free_blocks.end()) return;
    for (void* p : it->second.blocks) c10::free_cpu(header_of(p));
    st.cached_bytes -= cls * it->second.blocks.size();
    free_blocks.erase(it);
  }

  void release_all_locked() {
    while (!free_blocks.empty()) release_class_locked(free_blocks.begin()->first);
  }

  // Before mapping `need` fresh bytes: gives back the least recently used classes until the
  // footprint with the new block fits the budget (sizes that stopped recurring, such as a growing
  // sequence's, do not pin memory; the sizes of a repeating step stay).
  void make_room_locked(size_t need) {
    if (st.live_bytes + st.cached_bytes + need <= budget()) return;
    std::vector<std::pair<uint64_t, size_t>> lru;  // (last use, class)
    for (auto& [cls, c] : free_blocks) lru.emplace_back(c.last_use, cls);
    std::sort(lru.begin(), lru.end());
    for (auto& [t, cls] : lru) {
      if (st.live_bytes + st.cached_bytes + need <= budget()) break;
      release_class_locked(cls);
      ++st.evictions;
    }
  }
};

CachingCpuAllocatorCore::CachingCpuAllocatorCore(size_t limit_bytes) : s_(new State) {
  s_->limit = limit_bytes;
  s_->st.limit_bytes = limit_bytes;
}

CachingCpuAllocatorCore::~CachingCpuAllocatorCore() {
  empty();
  delete s_;
}

void* CachingCpuAllocatorCore::allocate(size_t n) {
  if (n == 0) return nullptr;
  if (n < kMinCached) {
    void* base = c10::alloc_cpu(n + kHeader);  // throws c10::Error when out of memory
    *static_cast<BlockHeader*>(base) = {kMagic, 0};
    return static_cast<char*>(base) + kHeader;
  }
  const size_t cls = cpu_cache_size_class(n);
  {
    std::lock_guard<std::mutex> g(s_->mu);
    auto it = s_->free_blocks.find(cls);
    if (it != s_->free_blocks.end()) {
      void* p = it->second.blocks.back();
      it->second.blocks.pop_back();
      if (it->second.blocks.empty())
        s_->free_blocks.erase(it);
      else
        it->second.last_use = ++s_->tick;
      s_->st.cached_bytes -= cls;
      s_->add_live_locked(cls);
      ++s_->st.hits;
      return p;
    }
    ++s_->st.misses;
    s_->make_room_locked(cls);
  }
  void* base = nullptr;
  try {
    base = c10::alloc_cpu(cls + kHeader);
  } catch (const c10::Error&) {
    empty();  // what the cache holds may be what is missing; then try once more
    base = c10::alloc_cpu(cls + kHeader);
  }
  if (cls >= 2 * kHugePage) advise_huge_pages(base, cls + kHeader);
  *static_cast<BlockHeader*>(base) = {kMagic, cls};
  std::lock_guard<std::mutex> g(s_->mu);
  s_->add_live_locked(cls);
  return static_cast<char*>(base) + kHeader;
}

void CachingCpuAllocatorCore::free(void* p) {
  if (!p) return;
  BlockHeader* h = header_of(p);
  TORCH_INTERNAL_ASSERT(h->magic == kMagic, "caching CPU allocator: freeing a block it did not allocate");
  const size_t cls = h->size_class;
  if (cls == 0) {
    h->magic = 0;
    c10::free_cpu(h);
    return;
  }
  // A free moves the block from live to cached: the footprint does not grow, so it always fits.
  std::lock_guard<std::mutex> g(s_->mu);
  s_->st.live_bytes -= cls;
  auto& c = s_->free_blocks[cls];
  c.blocks.push_back(p);
  c.last_use = ++s_->tick;
  s_->st.cached_bytes += cls;
}

CpuCacheStats CachingCpuAllocatorCore::stats() const {
  std::lock_guard<std::mutex> g(s_->mu);
  return s_->st;
}

void CachingCpuAllocatorCore::empty() {
  std::lock_guard<std::mutex> g(s_->mu);
  s_->release_all_locked();
}

namespace {

// Never destroyed: tensors may be freed during static destruction, after main returns.
CachingCpuAllocatorCore* g_core = nullptr;

[[maybe_unused]] void delete_block(void* p) { g_core->free(p); }

struct CachingCpuAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    void* p = g_core->allocate(n);
    return {p, p, &delete_block, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_block; }
};

size_t limit_from_env() {
  const char* v = std::getenv("HIMTOK_CPU_CACHE_MB");
  if (!v || !*v) return size_t{2048} << 20;
  char* end = nullptr;
  errno = 0;
  unsigned long long mb = std::strtoull(v, &end, 10);
  HIMTOK_CHECK_INPUT(*end == '\0' && errno == 0 && v[0] != '-' && mb <= (1ULL << 24), "HIMTOK_CPU_CACHE_MB: '", v,
                     "' is not a whole number of MiB (0 turns the cache off)");
  return static_cast<size_t>(mb) << 20;
}

}  // namespace

bool use_caching_cpu_allocator() {
  static std::once_flag once;
  static std::atomic<bool> active{false};
  std::call_once(once, [] {
    const size_t limit = limit_from_env();  // a bad value throws InputError (and a later call retries)
#if defined(__SANITIZE_ADDRESS__)
    (void)limit;  // cached blocks would hide use-after-free from ASan: libtorch's allocator stays
#else
    if (limit == 0) return;
    g_core = new CachingCpuAllocatorCore(limit);
    c10::SetCPUAllocator(new CachingCpuAllocator, /*priority=*/1);  // c10 owns it; never destroyed
    active = true;
    log::debug(str_cat("caching CPU allocator on (HIMTOK_CPU_CACHE_MB: ", limit >> 20, ")"));
#endif
  });
  return active;
}

CpuCacheStats cpu_cache_stats() { return g_core ? g_core->stats() : CpuCacheStats{}; }

void empty_cpu_cache() {
  if (g_core) g_core->empty();
}

}  // namespace himtok::nn
