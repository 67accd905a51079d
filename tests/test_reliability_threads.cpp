// Concurrency (issue 11): one MaskTokenizer used by 4 threads at once, each decoding different
// ids, gives the same maps as one thread decoding them in turn (tokenizer.h states the contract).
#include <random>
#include <thread>

#include "test_helpers.h"
#include "tokenizer/tokenizer.h"

using namespace himtok;

TEST(ReliabilityThreads, FourThreadsDecodeLikeOne) {
  tok::LoadOptions opt;
  opt.weights = test::data_path("golden/weights.safetensors");
  opt.config = test::data_path("golden/config.json");
  opt.threads = 1;  // one intra-op thread: any difference comes from the concurrent callers
  tok::MaskTokenizer t = tok::MaskTokenizer::load(opt);
  constexpr int kThreads = 4, kPerThread = 3;
  std::mt19937_64 rng(11);
  std::vector<std::vector<int64_t>> ids(kThreads * kPerThread);
  for (size_t i = 0; i < ids.size(); ++i) {
    const size_t len = 1 + i % 32;  // prefixes of different lengths
    for (size_t k = 0; k < len; ++k) ids[i].push_back(static_cast<int64_t>(rng() % 1024));
  }
  std::vector<FloatMap> want;
  for (const auto& row : ids) want.push_back(t.decode_ids({row}).at(0));

  std::vector<FloatMap> got(ids.size());
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> pool;
  for (int th = 0; th < kThreads; ++th)
    pool.emplace_back([&, th] {
      try {
        for (int rep = 0; rep < 2; ++rep)
          for (int j = 0; j < kPerThread; ++j) {
            const size_t i = static_cast<size_t>(th * kPerThread + j);
            got[i] = t.decode_ids({ids[i]}).at(0);
          }
      } catch (const std::exception& e) {
        errors[th] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  for (int th = 0; th < kThreads; ++th) EXPECT_EQ(errors[th], "") << "thread " << th;
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(got[i].h, want[i].h);
    ASSERT_EQ(got[i].w, want[i].w);
    EXPECT_EQ(got[i].data, want[i].data) << "row " << i << " (" << ids[i].size() << " ids)";
  }
  // The maps differ between rows: the threads did decode different ids.
  EXPECT_NE(want[0].data, want[31 % ids.size()].data);
}
