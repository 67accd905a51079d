// Training faults (issue 11): a checkpoint write that fails half-way (a file-size limit, as a full
// disk would) leaves the previous checkpoint loadable and the run says why it stopped; NaN/Inf
// steps are not applied and three in a row stop the run with the last good checkpoint intact; a
// corrupted checkpoint is refused on resume. All on the micro config (seconds per run).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/safetensors.h"
#include "test_helpers.h"
#include "train/checkpoint.h"

using namespace himtok;
namespace fs = std::filesystem;

namespace {

const std::string kConfig = std::string(HIMTOK_SOURCE_DIR) + "/configs/tokenizer_micro.json";

std::string fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("himtok_reliability_" + name);
  fs::remove_all(d);
  return d.string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string train_cmd(const std::string& config, const std::string& dir, const std::string& extra) {
  return "-q train-tokenizer --config " + config + " --out " + dir + " --threads 1 " + extra;
}

int64_t checkpoint_step(const std::string& dir) {
  train::Checkpoint ck;
  if (!train::load_checkpoint(dir + "/checkpoint.safetensors", ck)) return -1;
  return ck.meta.at("step").get<int64_t>();
}

bool no_temp_files(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) return false;
  return true;
}

}  // namespace

// write_file_atomic in a child process limited to 4 KiB files: the write fails with EFBIG (not
// SIGXFSZ), the message says so, and the previous file is untouched.
TEST(ReliabilityTraining, AtomicWriteUnderFileSizeLimitKeepsThePreviousFile) {
  const std::string d = fresh_dir("fsize");
  fs::create_directories(d);
  const std::string p = d + "/f.bin";
  io::write_file_atomic(p, "previous", 8);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    struct rlimit lim {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &lim);
    std::string msg = "no error";
    try {
      const std::string big(1 << 20, 'x');
      io::write_file_atomic(p, big.data(), big.size());
    } catch (const InputError& e) {
      msg = e.what();
    }
    (void)!write(pipefd[1], msg.data(), msg.size());
    _exit(0);
  }
  close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st)) << "child killed by signal " << WTERMSIG(st);
  EXPECT_NE(msg.find("write failed after 4096 of 1048576 bytes (File too large)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the previous file, if any, is unchanged"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(p), "previous");
  EXPECT_TRUE(no_temp_files(d));
}

// The real run: 2 steps, then a resumed run under `ulimit -f` smaller than the checkpoint. It
// exits 2 with one line saying which checkpoint was not written and why; step 2's checkpoint is
// byte for byte what it was, and a later run without the limit resumes from it.
TEST(ReliabilityTraining, CheckpointWriteFailingHalfWayLeavesThePreviousOne) {
  const std::string d = fresh_dir("full_disk");
  auto r = test::run_cli(train_cmd(kConfig, d, "--max-steps 2"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string ckpt = d + "/checkpoint.safetensors";
  const std::string before = read_bytes(ckpt);
  ASSERT_GT(before.size(), 64u * 1024);
  // bash's ulimit -f counts 1024-byte blocks: half the checkpoint.
  const size_t blocks = before.size() / 1024 / 2;
  const std::string cmd = "bash -c 'ulimit -f " + std::to_string(blocks) + "; exec " + HIMTOK_BINARY + " " +
                          train_cmd(kConfig, d, "--max-steps 4") + "' 2>" + d + "/err.txt";
  const int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 2);
  const std::string err = read_bytes(d + "/err.txt");
  EXPECT_EQ(test::count_lines(err), 1) << err;
  EXPECT_NE(err.find("himtok: error: checkpoint at step 4 not written"), std::string::npos) << err;
  EXPECT_NE(err.find("File too large"), std::string::npos) << err;
  EXPECT_EQ(read_bytes(ckpt), before);
  EXPECT_EQ(checkpoint_step(d), 2);
  EXPECT_TRUE(no_temp_files(d));
  r = test::run_cli(train_cmd(kConfig, d, "--max-steps 4"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(checkpoint_step(d), 4);
}

TEST(ReliabilityTraining, NonFiniteGuardSkipsThenStops) {
  train::NonFiniteGuard g(3);
  EXPECT_TRUE(g.accept(1.0, 0.5, 0, "ck"));
  EXPECT_FALSE(g.accept(NAN, 0.5, 1, "ck"));
  EXPECT_FALSE(g.accept(1.0, INFINITY, 2, "ck"));
  EXPECT_TRUE(g.accept(1.0, 0.5, 3, "ck"));  // a good step resets the count
  EXPECT_EQ(g.in_a_row(), 0);
  EXPECT_FALSE(g.accept(-INFINITY, 0.0, 4, "ck"));
  EXPECT_FALSE(g.accept(NAN, NAN, 5, "ck"));
  try {
    g.accept(NAN, 0.0, 6, "ck.safetensors");
    ADD_FAILURE() << "the third bad step in a row must stop the run";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("training stopped at step 6"), std::string::npos) << m;
    EXPECT_NE(m.find("3 steps in a row (steps 4..6 not applied)"), std::string::npos) << m;
    EXPECT_NE(m.find("ck.safetensors is intact"), std::string::npos) << m;
  }
}

// A learning rate of 1e30 makes the weights blow up after the first update, so every later loss
// is NaN/Inf: those steps are skipped (logged), the third stops the run, and the checkpoint left
// behind loads (digest checked) with finite weights.
TEST(ReliabilityTraining, DivergingRunStopsWithTheLastGoodCheckpoint) {
  const std::string d = fresh_dir("nan");
  nlohmann::json cfg;
  std::ifstream(kConfig) >> cfg;
  cfg["lr"] = 1e30;
  cfg["warmup_steps"] = 0;
  cfg["grad_clip"] = 0.0;
  cfg["ckpt_every"] = 1;
  cfg["eval_every"] = 0;
  cfg["dead_code_every"] = 0;
  const std::string cfg_path = d + ".json";
  std::ofstream(cfg_path) << cfg.dump();
  auto r = test::run_cli(train_cmd(cfg_path, d, ""));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("himtok: error: training stopped at step"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("NaN or Inf in 3 steps in a row"), std::string::npos) << r.err;
  int skipped = 0;
  std::ifstream f(d + "/metrics.jsonl");
  for (std::string line; std::getline(f, line);) skipped += line.find("\"skipped\"") != std::string::npos;
  EXPECT_EQ(skipped, 2);  // the third bad step stops before logging
  train::Checkpoint ck;
  ASSERT_TRUE(train::load_checkpoint(d + "/checkpoint.safetensors", ck));
  const int64_t step = ck.meta.at("step").get<int64_t>();
  EXPECT_GE(step, 1);
  EXPECT_LT(step, 20);
  for (const auto& [k, t] : ck.tensors) {
    if (t.is_floating_point()) {
      EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << k;
    }
  }
}

// A checkpoint with one flipped byte in its data, or cut short, is refused on resume.
TEST(ReliabilityTraining, CorruptedCheckpointIsRefusedOnResume) {
  const std::string d = fresh_dir("corrupt");
  auto r = test::run_cli(train_cmd(kConfig, d, "--max-steps 2"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string ckpt = d + "/checkpoint.safetensors";
  const std::string good = read_bytes(ckpt);
  std::string flipped = good;
  flipped[flipped.size() - 1000] ^= 0x10;  // inside the last tensor's bytes
  write_bytes(ckpt, flipped);
  r = test::run_cli(train_cmd(kConfig, d, "--max-steps 4"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("corrupt checkpoint (tensor digest"), std::string::npos) << r.err;
  EXPECT_EQ(read_bytes(ckpt), flipped);  // refused, not overwritten

  write_bytes(ckpt, good.substr(0, good.size() / 2));
  r = test::run_cli(train_cmd(kConfig, d, "--max-steps 4"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("truncated file?"), std::string::npos) << r.err;

  write_bytes(ckpt, good);
  r = test::run_cli(train_cmd(kConfig, d, "--max-steps 4"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(checkpoint_step(d), 4);
}
