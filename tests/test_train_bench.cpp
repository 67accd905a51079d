// train-tokenizer --bench (src/train/stage1.h, Stage1Run::bench_steps): a fixed number of timed
// steps with the step split into phases, and nothing written but bench.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_helpers.h"

namespace fs = std::filesystem;
using namespace himtok;

namespace {
const std::string kMicro = std::string(HIMTOK_SOURCE_DIR) + "/configs/tokenizer_micro.json";

// A refused combination of options: exit 2 with one line naming `flag`, and no run folder written.
void expect_refused(const std::string& options, const std::string& flag, const std::string& out) {
  auto r = test::run_cli("-q train-tokenizer --config " + kMicro + " --out " + out + " " + options);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("himtok: error: " + flag), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + "/bench.json"));
}
}  // namespace

TEST(Stage1Bench, PrintsThroughputAndPhasesAndWritesNoCheckpoint) {
  const fs::path out = fs::temp_directory_path() / ("himtok_bench_" + std::to_string(::getpid()));
  fs::remove_all(out);
  auto r = test::run_cli("-q train-tokenizer --config " + kMicro + " --out " + out.string() + " --threads 1 --bench 3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("bench: 3 steps of batch 4 on cpu:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("masks/s"), std::string::npos) << r.out;
  std::ifstream f(out / "bench.json");
  ASSERT_TRUE(f.good());
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j.at("steps").get<int64_t>(), 3);
  EXPECT_EQ(j.at("batch_size").get<int64_t>(), 4);
  const double step = j.at("step_ms").get<double>();
  EXPECT_GT(step, 0);
  EXPECT_NEAR(j.at("masks_per_s").get<double>(), 4 * 1000.0 / step, 1e-6 * j.at("masks_per_s").get<double>());
  // The four phases tile the step (the rest is the progress line and the loop's bookkeeping).
  double phases = 0;
  for (const char* k : {"data_ms", "forward_ms", "backward_ms", "optimizer_ms"}) {
    EXPECT_GE(j.at(k).get<double>(), 0) << k;
    phases += j.at(k).get<double>();
  }
  EXPECT_LE(phases, step * 1.001);
  EXPECT_GE(phases, step * 0.5);
  EXPECT_GT(j.at("forward_ms").get<double>(), 0);
  EXPECT_GT(j.at("backward_ms").get<double>(), 0);
  EXPECT_FALSE(j.contains("peak_device_memory_mib"));  // CPU
  EXPECT_FALSE(fs::exists(out / "checkpoint.safetensors"));
  EXPECT_FALSE(fs::exists(out / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(out / "model.safetensors"));
  fs::remove_all(out);
}

TEST(Stage1Bench, RefusesATimeLimit) { expect_refused("--bench 3 --time-limit 1", "--bench", "/tmp/himtok_bench_x"); }

// --profile: the last warm-up step under libtorch's profiler, self time by op. The forward's and
// the backward's convolutions must be there (the pixel decoder is convolutional), every op's self
// time is non-negative, and the self times tile the profiled step without exceeding it.
TEST(Stage1Bench, ProfileListsTheStepsOpsBySelfTime) {
  const fs::path out = fs::temp_directory_path() / ("himtok_bench_prof_" + std::to_string(::getpid()));
  fs::remove_all(out);
  auto r = test::run_cli("-q train-tokenizer --config " + kMicro + " --out " + out.string() +
                         " --threads 1 --bench 1 --profile");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("profile of warm-up step 5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("aten::convolution_backward"), std::string::npos) << r.out;
  std::ifstream f(out / "bench.json");
  ASSERT_TRUE(f.good());
  const nlohmann::json j = nlohmann::json::parse(f);
  ASSERT_TRUE(j.contains("profile")) << j.dump();
  const double step_ms = j.at("profile").at("step_ms").get<double>();
  const auto& ops = j.at("profile").at("ops");
  ASSERT_GT(ops.size(), 5u);
  double sum = 0, prev = 1e30;
  bool conv = false, conv_bwd = false;
  for (const auto& o : ops) {
    const double ms = o.at("self_cpu_ms").get<double>();
    EXPECT_GE(ms, -0.01) << o.dump();
    EXPECT_LE(ms, prev) << "not sorted by self time: " << o.dump();
    EXPECT_GE(o.at("calls").get<int64_t>(), 1);
    EXPECT_EQ(o.at("self_cuda_ms").get<double>(), 0.0);  // CPU
    prev = ms;
    sum += ms;
    conv = conv || o.at("op") == "aten::mkldnn_convolution" || o.at("op") == "aten::_convolution";
    conv_bwd = conv_bwd || o.at("op") == "aten::convolution_backward";
  }
  EXPECT_TRUE(conv);
  EXPECT_TRUE(conv_bwd);
  EXPECT_GT(sum, 0.2 * step_ms);
  EXPECT_LE(sum, step_ms * 1.01);
  fs::remove_all(out);
}

TEST(Stage1Bench, ProfileNeedsBench) {
  expect_refused("--profile", "--profile", "/tmp/himtok_bench_y");
  EXPECT_FALSE(fs::exists("/tmp/himtok_bench_y"));
}
