#include "common/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace himtok {

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

bool Progress::enabled() {
  const char* env = std::getenv("HIMTOK_PROGRESS");
  if (env) return std::strcmp(env, "0") != 0;
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(int64_t total, std::string label)
    : total_(total), label_(std::move(label)), start_(std::chrono::steady_clock::now()), last_draw_() {}

Progress::~Progress() { finish(); }

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& extra) {
  if (!enabled() || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const int width = 24;
  double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 0.0;
  if (frac > 1) frac = 1;
  int filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  double el = elapsed_s();
  double rate = el > 0 ? done / el : 0;
  double eta = rate > 0 ? (total_ - done) / rate : -1;
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %3d%% %.2f it/s ETA %s %s\x1b[K", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), static_cast<int>(frac * 100), rate,
               format_duration(eta).c_str(), extra.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (drawn_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
}

}  // namespace himtok
