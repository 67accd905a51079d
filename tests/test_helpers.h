// Shared helpers for the tests: fixture paths, tensor comparisons with named tolerances, and
// running the real himtok binary.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "io/weights.h"

namespace himtok::test {

inline std::string data_path(const std::string& rel) { return std::string(HIMTOK_TEST_DATA) + "/" + rel; }

inline at::Tensor load(const std::string& file, const std::string& name) {
  return io::Weights::open(data_path(file)).get(name);
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

#define EXPECT_ALLCLOSE_ABS(a, b, tol) EXPECT_LE(::himtok::test::max_abs_diff((a), (b)), (tol)) << "max-abs tolerance " << (tol)

inline void expect_rel(double got, double want, double rel, const std::string& what) {
  EXPECT_LE(std::abs(got - want), rel * std::abs(want) + 1e-12) << what << ": got " << got << ", want " << want;
}

struct RunResult {
  int code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the himtok binary with `args` (a shell-quoted string).
inline RunResult run_cli(const std::string& args) {
  char errfile[] = "/tmp/himtok_test_errXXXXXX";
  int fd = mkstemp(errfile);
  if (fd >= 0) close(fd);
  std::string cmd = std::string(HIMTOK_BINARY) + " " + args + " 2>" + errfile;
  RunResult r{0, "", ""};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  FILE* e = fopen(errfile, "r");
  while (e && (n = fread(buf.data(), 1, buf.size(), e)) > 0) r.err.append(buf.data(), n);
  if (e) fclose(e);
  remove(errfile);
  return r;
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace himtok::test
