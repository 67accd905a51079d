// A one-line progress bar on stderr for long work (training, evaluation, benchmarks):
//   [#########.........]  450/1000  45%  12.3 it/s  ETA 0:44  loss 0.312
// Draws only when stderr is a terminal (or HIMTOK_PROGRESS=1); otherwise prints nothing, so logs
// and CI output stay clean. Thread-compatible, not thread-safe.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace himtok {

class Progress {
 public:
  Progress(int64_t total, std::string label);
  ~Progress();
  // Advances to `done` items; `extra` is appended (e.g. "loss 0.31").
  void update(int64_t done, const std::string& extra = "");
  void finish();
  void set_total(int64_t total) { total_ = total; }  // e.g. when a time limit shortens a run
  double elapsed_s() const;
  static bool enabled();

 private:
  int64_t total_;
  std::string label_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
  bool drawn_ = false;
};

// "1:02:03" / "4:05" for a number of seconds.
std::string format_duration(double seconds);

}  // namespace himtok
