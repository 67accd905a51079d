// Stage-1 trainer: exact resume after SIGKILL, data parallelism equals one process on the same
// global batch, HML level sampling, export. All on the micro config (seconds).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "io/weights.h"
#include "loss/hml.h"
#include "common/error.h"
#include "test_helpers.h"
#include "train/checkpoint.h"
#include "train/stage1.h"

using namespace himtok;
namespace fs = std::filesystem;

namespace {

const std::string kConfig = std::string(HIMTOK_SOURCE_DIR) + "/configs/tokenizer_micro.json";

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("himtok_stage1_" + name);
  fs::remove_all(d);
  return d.string();
}

// step -> loss from metrics.jsonl
std::map<int64_t, double> losses(const std::string& dir) {
  std::map<int64_t, double> out;
  std::ifstream f(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out[j["step"].get<int64_t>()] = j["loss"].get<double>();
  }
  return out;
}

// Writes the micro config with some fields replaced to `path`; returns `path`.
std::string micro_config_with(const std::string& path, const nlohmann::json& overrides) {
  nlohmann::json cfg;
  std::ifstream(kConfig) >> cfg;
  for (auto it = overrides.begin(); it != overrides.end(); ++it) cfg[it.key()] = it.value();
  std::ofstream(path) << cfg.dump();
  return path;
}

int64_t checkpoint_step(const std::string& dir) {
  train::Checkpoint ck;
  try {
    if (!train::load_checkpoint(dir + "/checkpoint.safetensors", ck)) return -1;
  } catch (const std::exception&) {
    return -1;
  }
  return ck.meta.at("step").get<int64_t>();
}

}  // namespace

TEST(Stage1, ResumeAfterSigkillContinuesWithTheSameLosses) {
  const std::string a = fresh_dir("uninterrupted"), b = fresh_dir("killed");
  auto r = test::run_cli("-q train-tokenizer --config " + kConfig + " --out " + a + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  auto want = losses(a);
  ASSERT_EQ(want.size(), 20u);

  // Start the same run, SIGKILL it once a checkpoint past step 6 exists, then resume.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(HIMTOK_BINARY, HIMTOK_BINARY, "-q", "train-tokenizer", "--config", kConfig.c_str(), "--out", b.c_str(),
          "--threads", "1", "--steps", "20", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto t0 = std::chrono::steady_clock::now();
  int64_t at = -1;
  while ((at = checkpoint_step(b)) < 6) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) FAIL() << "training ended before it could be killed";
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(120));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));
  r = test::run_cli("-q train-tokenizer --config " + kConfig + " --out " + b + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = losses(b);
  ASSERT_EQ(got.size(), want.size());
  for (auto& [step, loss] : want) EXPECT_EQ(got.at(step), loss) << "step " << step << " (killed at >= " << at << ")";
}

TEST(Stage1, TwoProcessDataParallelStepEqualsOneProcess) {
  const std::string one = fresh_dir("dp1"), two = fresh_dir("dp2");
  auto r1 = test::run_cli("-q train-tokenizer --config " + kConfig + " --out " + one + " --threads 1 --max-steps 2");
  ASSERT_EQ(r1.code, 0) << r1.err;
  auto r2 = test::run_cli("-q train-tokenizer --config " + kConfig + " --out " + two + " --threads 1 --max-steps 2 --nproc 2");
  ASSERT_EQ(r2.code, 0) << r2.err;
  train::Checkpoint a, b;
  ASSERT_TRUE(train::load_checkpoint(one + "/checkpoint.safetensors", a));
  ASSERT_TRUE(train::load_checkpoint(two + "/checkpoint.safetensors", b));
  int n = 0;
  for (auto& [k, t] : a.tensors) {
    if (k.rfind("model.", 0) != 0 || !t.is_floating_point()) continue;
    EXPECT_LE(test::max_abs_diff(t, b.tensors.at(k)), 2e-5) << k;
    ++n;
  }
  EXPECT_GT(n, 20);
  // The losses agree too (each process saw half of the same global batch).
  auto la = losses(one), lb = losses(two);
  for (auto& [s, l] : la) EXPECT_NEAR(lb.at(s), l, 1e-4) << "step " << s;
}

TEST(Stage1, ExportedTokenizerLoadsAndEncodes) {
  const std::string d = fresh_dir("export");
  ASSERT_EQ(test::run_cli("-q train-tokenizer --config " + kConfig + " --out " + d + " --threads 1 --max-steps 3").code, 0);
  auto r = test::run_cli("export-tokenizer --checkpoint " + d + "/checkpoint.safetensors --out " + d + "/tok.safetensors");
  ASSERT_EQ(r.code, 0) << r.err;
  auto w = io::Weights::open(d + "/tok.safetensors");
  EXPECT_EQ(w.dtype("latent_tokens"), io::DType::kBF16);
  r = test::run_cli("encode --model " + d + "/tok.safetensors --ids " + test::data_path("himtok-examples/masks/1.png"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ','), 31);
}

// --init loads every weight of a tokenizer file: with lr 0 and no dead-code restarts, one step
// leaves the weights exactly as given. A file of another preset is refused (strict loading).
TEST(Stage1, InitStartsFromTheGivenWeights) {
  const std::string a = fresh_dir("init_src"), b = fresh_dir("init_dst");
  ASSERT_EQ(test::run_cli("-q train-tokenizer --config " + kConfig + " --out " + a + " --threads 1 --max-steps 3").code, 0);
  ASSERT_EQ(test::run_cli("-q export-tokenizer --fp32 --checkpoint " + a + "/checkpoint.safetensors --out " + a + "/tok.safetensors").code, 0);
  const std::string cfg_path = micro_config_with(b + ".json", {{"lr", 0.0}, {"dead_code_every", 0}, {"ema_decay", 0.0}});
  auto r = test::run_cli("-q train-tokenizer --config " + cfg_path + " --out " + b + " --threads 1 --max-steps 1 --init " + a + "/tok.safetensors");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(test::run_cli("-q export-tokenizer --fp32 --checkpoint " + b + "/checkpoint.safetensors --out " + b + "/tok.safetensors").code, 0);
  auto wa = io::Weights::open(a + "/tok.safetensors"), wb = io::Weights::open(b + "/tok.safetensors");
  ASSERT_EQ(wa.names(), wb.names());
  for (const auto& k : wa.names()) EXPECT_TRUE(wa.get(k).equal(wb.get(k))) << k;
  // The 'tiny' preset's file does not fit the 'micro' model.
  const std::string tiny = micro_config_with(fresh_dir("init_tiny") + ".json", {{"tokenizer", "tiny"}});
  r = test::run_cli("-q train-tokenizer --config " + tiny + " --out " + fresh_dir("init_bad2") + " --max-steps 1 --init " + a + "/tok.safetensors");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tok.safetensors"), std::string::npos) << r.err;  // names the file and the keys
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
}

// "bf16": true trains under bf16 autocast (nn::AutocastScope on the step's device): from the same
// weights and batch, the first step's loss is the fp32 one to bf16 rounding, and training goes on.
TEST(Stage1, Bf16AutocastTracksTheFp32Loss) {
  const std::string a = fresh_dir("fp32"), b = fresh_dir("bf16");
  const nlohmann::json common = {{"log_every", 1}, {"eval_every", 0}};
  nlohmann::json with_bf16 = common;
  with_bf16["bf16"] = true;
  auto r = test::run_cli("-q train-tokenizer --config " + micro_config_with(a + ".json", common) + " --out " + a +
                         " --threads 1 --max-steps 3");
  ASSERT_EQ(r.code, 0) << r.err;
  r = test::run_cli("-q train-tokenizer --config " + micro_config_with(b + ".json", with_bf16) + " --out " + b +
                    " --threads 1 --max-steps 3");
  ASSERT_EQ(r.code, 0) << r.err;
  auto la = losses(a), lb = losses(b);
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), 3u);
  const double first_a = la.begin()->second, first_b = lb.begin()->second;
  EXPECT_TRUE(std::isfinite(first_a) && std::isfinite(first_b));
  EXPECT_NEAR(first_b, first_a, 0.01 * std::abs(first_a));
  EXPECT_NE(first_b, first_a);  // the products did run in bf16
  for (const auto& [step, l] : lb) EXPECT_TRUE(std::isfinite(l)) << step;
}

// --time-limit fits the schedule to the budget after 30 steps: a 1000-step config with a
// 0.02-minute budget stops long before step 1000, and its checkpoint records the shorter schedule.
TEST(Stage1, TimeLimitShortensTheSchedule) {
  const std::string d = fresh_dir("time_limit");
  const std::string cfg_path = micro_config_with(d + ".json", {{"steps", 1000}, {"eval_every", 0}, {"ckpt_every", 1000}});
  auto r = test::run_cli("train-tokenizer --config " + cfg_path + " --out " + d + " --threads 1 --time-limit 0.02");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("schedule shortened"), std::string::npos) << r.err;
  const int64_t last = checkpoint_step(d);
  EXPECT_GE(last, 31);
  EXPECT_LT(last, 1000);
  train::Checkpoint ck;
  ASSERT_TRUE(train::load_checkpoint(d + "/checkpoint.safetensors", ck));
  EXPECT_EQ(ck.meta.at("config").at("steps").get<int64_t>(), last);
}

// Every stage-1 config in configs/ parses strictly (unknown fields are errors) and names data.
TEST(Stage1, ShippedConfigsLoadStrictly) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(HIMTOK_SOURCE_DIR) + "/configs")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("tokenizer_", 0) != 0) continue;
    train::Stage1Config c = train::Stage1Config::from_file(e.path().string());
    EXPECT_FALSE(c.data.empty()) << name;
    EXPECT_EQ(c.augment.side, c.tokenizer.image_size) << name;
    ++n;
  }
  EXPECT_GE(n, 6);
}

// Paper Appendix A: 3 distinct levels l in [1,32) with p_l proportional to 1/(l+8).
TEST(Hml, PaperLevelSamplingFollowsTheDistribution) {
  loss::HmlConfig cfg;
  std::mt19937_64 rng(5);
  std::vector<double> count(32, 0.0);
  const int trials = 20000;
  for (int t = 0; t < trials; ++t) {
    auto lv = loss::sample_levels_paper(cfg, 32, rng);
    ASSERT_EQ(lv.size(), 3u);
    std::set<int64_t> distinct;
    for (auto& l : lv) {
      ASSERT_GE(l.tokens, 1);
      ASSERT_LT(l.tokens, 32);
      EXPECT_DOUBLE_EQ(l.sigma, 100.0 / (l.tokens + 1) - 2.0);
      distinct.insert(l.tokens);
      count[l.tokens] += 1;
    }
    EXPECT_EQ(distinct.size(), 3u);
  }
  // First-draw marginal is exactly p_l; with 3 draws without replacement small l stay most likely
  // and the frequencies decrease monotonically (up to noise).
  EXPECT_GT(count[1], count[10]);
  EXPECT_GT(count[10], count[31]);
  double z = 0;
  for (int l = 1; l < 32; ++l) z += 1.0 / (l + 8);
  // Each level appears at least as often as its single-draw probability implies.
  for (int l = 1; l < 32; ++l) EXPECT_GT(count[l] / trials, (1.0 / (l + 8)) / z * 0.9) << l;
}

TEST(Hml, OfficialVariantKeepsTheDocumentedOffByOne) {
  loss::HmlConfig cfg;
  cfg.official_variant = true;
  std::mt19937_64 rng(9);
  bool saw_31 = false, saw_0 = false;
  for (int t = 0; t < 3000; ++t)
    for (auto& l : loss::sample_levels_official(cfg, 32, rng)) {
      if (l.tokens == 31 && std::abs(l.sigma - 98.0) < 1e-9) saw_31 = true;  // idx = -1
      if (l.tokens == 0 && std::abs(l.sigma - 48.0) < 1e-9) saw_0 = true;    // idx = 0
    }
  EXPECT_TRUE(saw_31);
  EXPECT_TRUE(saw_0);
}
