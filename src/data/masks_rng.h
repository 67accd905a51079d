// Seeded random numbers that give the same stream on every platform and standard library:
// splitmix64 for seeding, xoshiro256** for the stream, and our own uniform/range/normal maps
// (std:: distributions differ between libstdc++ and libc++, so none are used).
// A stream is named by (seed, index, salt), so item i of a data set does not depend on how many
// numbers items 0..i-1 consumed.
#pragma once
#include <cmath>
#include <cstdint>

namespace himtok::data {

inline uint64_t splitmix64_step(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One 64-bit hash of a few words (order matters).
inline uint64_t hash_words(uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  uint64_t s = a;
  uint64_t h = splitmix64_step(s);
  s = h ^ b;
  h = splitmix64_step(s);
  s = h ^ c;
  return splitmix64_step(s);
}

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t index = 0, uint64_t salt = 0) {
    uint64_t s = hash_words(seed, index, salt);
    for (auto& v : s_) v = splitmix64_step(s);
  }
  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // log-uniform in [lo, hi], lo > 0
  double log_uniform(double lo, double hi) { return lo * std::exp(std::log(hi / lo) * uniform()); }
  // integer in [lo, hi] (inclusive), by rejection (no modulo bias).
  int64_t range(int64_t lo, int64_t hi) {
    uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    if (span == 0) return static_cast<int64_t>(next_u64());
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t v;
    do v = next_u64();
    while (v >= limit);
    return lo + static_cast<int64_t>(v % span);
  }
  bool bernoulli(double p) { return uniform() < p; }
  // standard normal (Box-Muller, one value per call)
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace himtok::data
