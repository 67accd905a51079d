// Deterministic random numbers for the scene generator and the sample builders (no std::
// distributions, whose output differs between standard libraries).
//   splitmix64(x)  - a 64-bit mixer (Steele, Lea, Flood 2014), used to derive seeds.
//   Pcg32          - PCG-XSH-RR 64/32 (O'Neill 2014), seeded through splitmix64.
// Every draw is defined here bit for bit, so a (seed, call sequence) gives the same numbers on
// every platform and compiler.
#pragma once
#include <cstdint>

namespace himtok::data {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Mixes several words into one seed (order matters).
inline uint64_t seed_mix(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b + 0x632BE59BD9B4E019ull)); }

class Pcg32 {
 public:
  explicit Pcg32(uint64_t seed, uint64_t stream = 0) {
    state_ = 0;
    inc_ = (splitmix64(stream ^ 0xDA3E39CB94B95BDBull) << 1) | 1u;
    next_u32();
    state_ += splitmix64(seed);
    next_u32();
  }

  uint32_t next_u32() {
    uint64_t old = state_;
    state_ = old * 6364136223846793005ull + inc_;
    uint32_t xorshifted = static_cast<uint32_t>(((old >> 18) ^ old) >> 27);
    uint32_t rot = static_cast<uint32_t>(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
  }
  uint64_t next_u64() {
    uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }

  // Uniform integer in [0, n), n >= 1, without modulo bias (rejection on the low threshold).
  uint32_t below(uint32_t n) {
    if (n <= 1) return 0;
    uint32_t threshold = (0u - n) % n;
    for (;;) {
      uint32_t r = next_u32();
      if (r >= threshold) return r % n;
    }
  }
  // Uniform integer in [lo, hi] (inclusive), lo <= hi.
  int range(int lo, int hi) { return lo + static_cast<int>(below(static_cast<uint32_t>(hi - lo + 1))); }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_, inc_;
};

}  // namespace himtok::data
