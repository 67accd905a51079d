// Helpers for the tests that replay pycocotools' oracle rows (tests/data/oracle/*.jsonl).
// Torch-free, like the code under test.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/mask.h"
#include "io/rle.h"
#include "sha256.h"

namespace himtok::test {

// Every non-empty line of tests/data/<rel> as JSON.
inline std::vector<nlohmann::json> read_jsonl(const std::string& rel) {
  std::ifstream f(std::string(HIMTOK_TEST_DATA) + "/" + rel);
  EXPECT_TRUE(f.good()) << rel;
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

inline std::string mask_sha(const Mask& m) { return sha256_hex(m.data); }

inline io::Bbox bbox_of(const nlohmann::json& j) {
  return {j[0].get<double>(), j[1].get<double>(), j[2].get<double>(), j[3].get<double>()};
}

}  // namespace himtok::test
