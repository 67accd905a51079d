// himtok train-tokenizer / export-tokenizer: stage 1 (tokenizer alone, hierarchical mask loss).
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "train/stage1.h"

namespace himtok::cli {
namespace {

struct TrainArgs {
  std::string config, out;
  bool no_resume = false;
  int threads = 0, nproc = 1, rank = 0, world_size = 1;
  int64_t max_steps = -1, steps = -1;
  std::string store;
  std::string device = "cpu";
  double time_limit_min = 0;
  std::string init;
  int64_t bench = 0;
  bool profile = false;
};

int run_train(const TrainArgs& a) {
  train::Stage1Config cfg = train::Stage1Config::from_file(a.config);
  if (a.steps > 0) cfg.steps = a.steps;
  train::Stage1Run run;
  run.out_dir = a.out;
  run.resume = !a.no_resume;
  run.threads = a.threads;
  run.max_steps = a.max_steps;
  run.rank = a.rank;
  run.world_size = a.world_size;
  run.store_path = a.store;
  run.device = a.device;
  run.init_from = a.init;
  run.time_limit_s = a.time_limit_min * 60.0;
  run.bench_steps = a.bench;
  run.profile = a.profile;
  HIMTOK_CHECK_INPUT(!a.profile || a.bench > 0, "--profile profiles a step of --bench: add --bench N");
  if (a.bench > 0) {
    HIMTOK_CHECK_INPUT(a.time_limit_min <= 0 && a.max_steps < 0, "--bench runs a fixed number of steps: drop --time-limit and --max-steps");
    run.resume = false;
  }
  if (a.nproc > 1) {
    // Single-machine launcher: this process is rank 0; it starts ranks 1..n-1 as copies of itself.
    HIMTOK_CHECK_INPUT(a.world_size == 1, "--nproc and --world-size are exclusive");
    std::filesystem::create_directories(a.out);
    run.world_size = a.nproc;
    run.store_path = (std::filesystem::path(a.out) / ("rendezvous." + std::to_string(getpid()))).string();
    std::filesystem::remove(run.store_path);
    std::vector<pid_t> kids;
    for (int r = 1; r < a.nproc; ++r) {
      pid_t pid = fork();
      HIMTOK_CHECK_INPUT(pid >= 0, "cannot start worker process");
      if (pid == 0) {
        std::vector<std::string> args = {"/proc/self/exe", "--quiet", "train-tokenizer", "--config", a.config, "--out", a.out,
                                         "--threads", std::to_string(a.threads), "--rank", std::to_string(r),
                                         "--world-size", std::to_string(a.nproc), "--store", run.store_path,
                                         "--max-steps", std::to_string(a.max_steps)};
        if (a.steps > 0) args.insert(args.end(), {"--steps", std::to_string(a.steps)});
        if (a.no_resume) args.push_back("--no-resume");
        if (a.bench > 0) args.insert(args.end(), {"--bench", std::to_string(a.bench)});
        std::vector<char*> argv;
        for (auto& s : args) argv.push_back(s.data());
        argv.push_back(nullptr);
        execv("/proc/self/exe", argv.data());
        _exit(127);
      }
      kids.push_back(pid);
    }
    train::train_stage1(cfg, run);
    int rc = 0;
    for (pid_t k : kids) {
      int st = 0;
      waitpid(k, &st, 0);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) rc = 1;
    }
    std::filesystem::remove(run.store_path);
    HIMTOK_CHECK_INPUT(rc == 0, "a worker process failed");
    return 0;
  }
  if (run.world_size > 1) HIMTOK_CHECK_INPUT(!run.store_path.empty(), "--world-size > 1 needs --store FILE");
  int64_t last = train::train_stage1(cfg, run);
  if (a.rank == 0) log::info(str_cat("stopped at step ", last, "; outputs in ", a.out));
  return 0;
}

struct ExportArgs {
  std::string checkpoint, out;
  bool bf16 = true, ema = true;
};

}  // namespace

HIMTOK_COMMAND(train_tokenizer, 40) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train-tokenizer", "Stage 1: train the mask tokenizer with the hierarchical mask loss");
  sub->add_option("--config,-c", a->config, "Training config JSON (configs/tokenizer_*.json)")->required();
  sub->add_option("--out,-o", a->out, "Run folder: checkpoint, metrics.jsonl, model.safetensors")->required();
  sub->add_flag("--no-resume", a->no_resume, "Start over even if the run folder holds a checkpoint");
  sub->add_option("--threads", a->threads, "CPU threads per process (0: all cores)");
  sub->add_option("--steps", a->steps, "Override the config's total steps (the schedule follows)");
  sub->add_option("--max-steps", a->max_steps, "Stop at this step (checkpointed; resume later)");
  sub->add_option("--device", a->device, "cpu or cuda (one GPU; batches are prepared on the CPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  sub->add_option("--init", a->init, "Start from this tokenizer file (fine-tuning); a resumed run ignores it")
      ->check(CLI::ExistingFile);
  sub->add_option("--time-limit", a->time_limit_min,
                  "Minutes: after 20 steps, shorten the cosine schedule so that the run ends in time");
  sub->add_option("--bench", a->bench,
                  "Benchmark: this many timed steps (after 5 warm-up steps), no evaluation or checkpoints; prints "
                  "masks/s and the step time per phase, writes OUT/bench.json")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  sub->add_flag("--profile", a->profile,
                "With --bench: run the last warm-up step under libtorch's profiler and print the self time by op "
                "(CPU; CUDA device time on a GPU); also in OUT/bench.json");
  sub->add_option("--nproc", a->nproc, "Data-parallel processes on this machine (Gloo)");
  sub->add_option("--rank", a->rank, "Multi-machine launch: this process's rank");
  sub->add_option("--world-size", a->world_size, "Multi-machine launch: number of processes");
  sub->add_option("--store", a->store, "Multi-machine launch: rendezvous file on a shared filesystem");
  return [a] { return run_train(*a); };
}

HIMTOK_COMMAND(export_tokenizer, 41) {
  auto a = std::make_shared<ExportArgs>();
  auto* sub = app.add_subcommand("export-tokenizer", "Write a self-describing tokenizer file from a training checkpoint");
  sub->add_option("--checkpoint", a->checkpoint, "checkpoint.safetensors of a train-tokenizer run")->required();
  sub->add_option("--out,-o", a->out, "Output .safetensors")->required();
  sub->add_flag("--bf16,!--fp32", a->bf16, "Store weights as bf16 (default) or fp32");
  sub->add_flag("--ema,!--no-ema", a->ema, "Use the EMA weights when the run kept them (default)");
  return [a] {
    train::export_tokenizer(a->checkpoint, a->out, a->bf16, a->ema);
    log::info("wrote " + a->out);
    return 0;
  };
}

}  // namespace himtok::cli
