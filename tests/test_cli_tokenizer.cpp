// The himtok binary end to end: golden parity through the CLI, and every bad-input path gives
// exit code 2 with one stderr line.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "lmm/response.h"
#include "test_helpers.h"
#include "tokenizer/token_string.h"

using namespace himtok;
using himtok::test::data_path;
using himtok::test::run_cli;

namespace {

const std::string kModel = "--model " + data_path("golden/weights.safetensors") + " --config " +
                           data_path("golden/config.json") + " --threads 2";

std::string tmp(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / "himtok_cli_test";
  std::filesystem::create_directories(d);
  return (d / name).string();
}

void expect_input_error(const std::string& args, const std::string& needle) {
  auto r = run_cli(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("himtok: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
}

std::vector<int64_t> golden_ids(int row) {
  at::Tensor ids = test::load("golden/encode.safetensors", "ids")[row];
  return std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 32);
}

}  // namespace

TEST(Cli, HelpListsEverySubcommand) {
  auto r = run_cli("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"encode", "decode", "inspect", "recon", "train-tokenizer", "export-tokenizer"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
  EXPECT_EQ(run_cli("decode --help").code, 0);
}

// The official ids of real0 (example mask 0, pad geometry, golden weights) through `encode`.
TEST(Cli, EncodePadGeometryGivesTheOfficialIds) {
  auto r = run_cli("encode " + kModel + " --geometry pad --ids " + data_path("himtok-examples/masks/0.png"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(tok::parse_id_list(r.out.substr(0, r.out.find('\n'))), golden_ids(0));
  auto j = run_cli("encode " + kModel + " --geometry pad --json " + data_path("himtok-examples/masks/0.png"));
  ASSERT_EQ(j.code, 0) << j.err;
  auto obj = nlohmann::json::parse(j.out.substr(0, j.out.find('\n')));
  EXPECT_EQ(obj["ids"].get<std::vector<int64_t>>(), golden_ids(0));
  std::vector<int64_t> parsed;
  for (int id : lmm::parse_mask_tokens(obj["tokens"].get<std::string>())) parsed.push_back(id);
  EXPECT_EQ(parsed, golden_ids(0));
}

TEST(Cli, DecodeIdsMatchesOfficialDecodeTokens) {
  const std::string out = tmp("probs.safetensors");
  auto r = run_cli("decode " + kModel + " --ids " + tok::format_id_list(golden_ids(0)) + " --probs-out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  at::Tensor got = io::Weights::open(out).get("probs");
  at::Tensor want = test::load("golden/decode_tokens.safetensors", "prob_n32")[0][0];
  EXPECT_ALLCLOSE_ABS(got, want, 1e-4);
}

// HIMTOK_CHANNELS_LAST=1 runs the pixel decoder in NHWC (nn/memory_format.h): the same official
// numbers; any other value than 0/1 is a one-line input error.
TEST(Cli, ChannelsLastPixelDecoderMatchesOfficialDecodeTokens) {
  const std::string out = tmp("probs_nhwc.safetensors");
  ::setenv("HIMTOK_CHANNELS_LAST", "1", 1);
  auto r = run_cli("decode " + kModel + " --ids " + tok::format_id_list(golden_ids(0)) + " --probs-out " + out);
  ::setenv("HIMTOK_CHANNELS_LAST", "yes", 1);
  auto bad = run_cli("decode " + kModel + " --ids " + tok::format_id_list(golden_ids(0)) + " --probs-out " + out + "x");
  ::unsetenv("HIMTOK_CHANNELS_LAST");
  ASSERT_EQ(r.code, 0) << r.err;
  at::Tensor want = test::load("golden/decode_tokens.safetensors", "prob_n32")[0][0];
  EXPECT_ALLCLOSE_ABS(io::Weights::open(out).get("probs"), want, 1e-4);
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_EQ(test::count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("HIMTOK_CHANNELS_LAST must be 0 or 1"), std::string::npos) << bad.err;
}

// LMM logits with the mask slice at a column offset, as they come out of a language model.
TEST(Cli, DecodeLogitsMatchesOfficialDecodeProb) {
  at::Tensor logits = test::load("golden/decode_prob.safetensors", "logits")[0];  // (32,1024)
  at::Tensor wide = at::full({32, 1100}, -7.0f);
  wide.slice(1, 50, 1074).copy_(logits);
  const std::string in = tmp("logits.safetensors"), out = tmp("probs_logits.safetensors");
  io::save_tensors(in, {{"logits", wide}}, {});
  auto r = run_cli("decode " + kModel + " --logits " + in + " --mask-offset 50 --probs-out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_ALLCLOSE_ABS(io::Weights::open(out).get("probs"), test::load("golden/decode_prob.safetensors", "out_n32")[0][0],
                      1e-4);
  // A 16-token prefix.
  r = run_cli("decode " + kModel + " --logits " + in + " --mask-offset 50 --n 16 --probs-out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_ALLCLOSE_ABS(io::Weights::open(out).get("probs"), test::load("golden/decode_prob.safetensors", "out_n16")[0][0],
                      1e-4);
}

TEST(Cli, DecodeWritesMaskAtRequestedSizeAndStrip) {
  const std::string png = tmp("mask.png"), strip = tmp("strip.png");
  auto r = run_cli("decode " + kModel + " --tokens '" + tok::format_token_string(golden_ids(1)) + "' --size 640x427 -o " +
                   png + " --strip " + strip);
  ASSERT_EQ(r.code, 0) << r.err;
  Image m = io::load_image(png, 1);
  EXPECT_EQ(m.w, 640);
  EXPECT_EQ(m.h, 427);
  Image s = io::load_image(strip, 3);
  EXPECT_GT(s.w, 6 * 96);  // six panels: 1, 2, 4, 8, 16, 32 tokens
}

TEST(Cli, PrefixedLmmWeightsWorkWithAutoPrefix) {
  auto r = run_cli("encode --model " + data_path("golden/weights_lmm_prefixed.safetensors") + " --config " +
                   data_path("golden/config.json") + " --geometry pad --ids " + data_path("himtok-examples/masks/0.png"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(tok::parse_id_list(r.out.substr(0, r.out.find('\n'))), golden_ids(0));
}

TEST(Cli, MalformedTokenStringsAreInputErrors) {
  const std::string d = "decode " + kModel + " -o " + tmp("x.png") + " --tokens ";
  expect_input_error(d + "'<|mt_1|><|mt_end|>'", "unexpected '<|mt_end|>' at offset 8");  // bare tokens, then an end
  expect_input_error(d + "'<|mt_start|><|mt_1|>'", "missing <|mt_end|>");
  expect_input_error(d + "'<|mt_start|><|mt_1024|><|mt_end|>'", "'<|mt_1024|>' at offset 12 is not a mask token");
  std::string many = "<|mt_start|>";
  for (int i = 0; i < 33; ++i) many += "<|mt_3|>";
  expect_input_error(d + "'" + many + "<|mt_end|>'", "more than 32");
  expect_input_error(d + "'<|mt_start|>hello<|mt_end|>'", "unexpected 'hello");
  expect_input_error(d + "'<|mt_start|><|mt_end|>'", "no mask tokens");
  expect_input_error("decode " + kModel + " -o " + tmp("x.png") + " --ids 1,x,3", "not a token id");
}

TEST(Cli, UnreadableImagesAreInputErrors) {
  const std::string bad = tmp("corrupt.png");
  std::ofstream(bad) << "\x89PNG\r\n\x1a\n this is not a png";
  expect_input_error("encode " + kModel + " " + bad, "cannot read image");
  expect_input_error("encode " + kModel + " " + tmp("missing.png"), "no such file");
}

TEST(Cli, TruncatedOrWrongWeightsAreInputErrors) {
  // Truncated: the first 100 kB of the golden weights.
  const std::string trunc = tmp("truncated.safetensors");
  {
    std::ifstream in(data_path("golden/weights.safetensors"), std::ios::binary);
    std::vector<char> buf(100000);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::ofstream(trunc, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  expect_input_error("encode --model " + trunc + " --config " + data_path("golden/config.json") + " " +
                         data_path("himtok-examples/masks/0.png"),
                     "truncated file?");
  // Wrong architecture: the micro preset's shapes against the golden file.
  expect_input_error("encode --model " + data_path("golden/weights.safetensors") + " --config micro " +
                         data_path("himtok-examples/masks/0.png"),
                     "unexpected key");
  // Not a safetensors file at all.
  expect_input_error("inspect " + data_path("golden/config.json"), "not a safetensors file");
  // No config stored and none given.
  expect_input_error("encode --model " + data_path("golden/weights.safetensors") + " " +
                         data_path("himtok-examples/masks/0.png"),
                     "carries no tokenizer config");
  expect_input_error("encode --model " + tmp("nope.safetensors") + " x.png", "no such file");
}

TEST(Cli, NanLogitsAreInputErrors) {
  at::Tensor l = at::zeros({4, 1024});
  l[2][7] = std::numeric_limits<float>::quiet_NaN();
  const std::string in = tmp("nan.safetensors");
  io::save_tensors(in, {{"logits", l}}, {});
  expect_input_error("decode " + kModel + " --logits " + in + " -o " + tmp("x.png"), "NaN");
}

TEST(Cli, BadFlagsAreInputErrors) {
  expect_input_error("encode " + kModel + " --geometry diagonal " + data_path("himtok-examples/masks/0.png"), "--geometry");
  expect_input_error("decode " + kModel + " --ids 1,2 --size 12by4 -o " + tmp("x.png"), "--size");
  expect_input_error("frobnicate", "subcommand");
}

TEST(Cli, ReconWritesRowsBySizeAndRefusesBadOptions) {
  const std::string json = tmp("recon.jsonl"), grid = tmp("recon.png");
  auto r = run_cli("recon " + kModel + " --masks palette:" + data_path("davis") + " --limit 3 --tokens 1,32 --codecs box --json " +
                   json + " --grid " + grid);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("by object size"), std::string::npos) << r.out;
  std::ifstream f(json);
  int himtok_rows = 0, box_rows = 0;
  for (std::string line; std::getline(f, line);) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("tokens")) continue;  // the codebook-usage line
    EXPECT_EQ(j.at("n"), 3) << line;
    EXPECT_EQ(j.at("n_small").get<int>() + j.at("n_medium").get<int>() + j.at("n_large").get<int>(), 3) << line;
    himtok_rows += j.at("codec") == "himtok";
    box_rows += j.at("codec") == "box";
  }
  EXPECT_EQ(himtok_rows, 2);
  EXPECT_EQ(box_rows, 2);
  EXPECT_EQ(io::load_image(grid, 3).h, 24 + 3 * (96 + 4));  // one row of panels per mask
  const std::string masks = " --masks palette:" + data_path("davis");
  expect_input_error("recon " + kModel + masks + " --tokens 0", "--tokens");
  expect_input_error("recon " + kModel + masks + " --tokens four", "--tokens");
  expect_input_error("recon --no-model" + masks + " --grid " + grid, "--grid needs --model");
  expect_input_error("recon " + kModel + " --masks " + tmp("missing-folder"), "missing-folder");
  expect_input_error("recon " + kModel + masks + " --json " + tmp("no-such-dir") + "/r.jsonl", "cannot write");
}

// A sparse official-large file (all 693 official keys and shapes, zero data): inspect counts
// 644,294,815 parameters and reports the preset's count as matching.
TEST(Cli, InspectOfficialLargeCountsParameters) {
  std::ifstream tsv(data_path("spec/official-himtok-keys.tsv"));
  nlohmann::json header = nlohmann::json::object();
  std::string line;
  size_t off = 0;
  int n = 0;
  while (std::getline(tsv, line)) {
    std::istringstream ls(line);
    std::string name, shape, dtype;
    std::getline(ls, name, '\t');
    std::getline(ls, shape, '\t');
    std::getline(ls, dtype, '\t');
    std::vector<int64_t> dims;
    int64_t numel = 1;
    for (size_t p = 0; p < shape.size();) {
      size_t q = shape.find_first_of("0123456789", p);
      if (q == std::string::npos) break;
      size_t e = shape.find_first_not_of("0123456789", q);
      dims.push_back(std::stoll(shape.substr(q, e - q)));
      numel *= dims.back();
      p = e;
    }
    size_t bytes = static_cast<size_t>(numel) * (dtype == "bool" ? 1 : 4);
    header[name] = {{"dtype", dtype == "bool" ? "BOOL" : "F32"}, {"shape", dims}, {"data_offsets", {off, off + bytes}}};
    off += bytes;
    ++n;
  }
  ASSERT_EQ(n, 693);
  std::string hs = header.dump();
  while (hs.size() % 8) hs += ' ';
  const std::string path = tmp("official_large_sparse.safetensors");
  {
    std::ofstream f(path, std::ios::binary);
    uint64_t len = hs.size();
    f.write(reinterpret_cast<const char*>(&len), 8);
    f << hs;
  }
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(8 + hs.size() + off)), 0);  // sparse: no disk used
  auto r = run_cli("inspect " + path + " --config official-large");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("parameters: 644,294,815"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("matches the file"), std::string::npos) << r.out;
  auto p = run_cli("inspect --preset official-large");
  EXPECT_NE(p.out.find("644,294,815"), std::string::npos) << p.out;
  std::filesystem::remove(path);
}
