// Hostile sizes (issue 11): every case gets one clear InputError naming its limit, before anything
// large is allocated. The limits are in src/io/limits.h and docs/RELIABILITY.md.
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/coco.h"
#include "io/image.h"
#include "io/limits.h"
#include "io/rle.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "lmm/config.h"
#include "lmm/response.h"
#include "test_helpers.h"
#include "tokenizer/options.h"
#include "tokenizer/token_string.h"

using namespace himtok;
namespace fs = std::filesystem;

namespace {

std::string tmp(const std::string& name) {
  auto d = fs::temp_directory_path() / "himtok_reliability_inputs";
  fs::create_directories(d);
  return (d / name).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs f, expects an InputError whose message contains `part` and is one short line.
template <typename F>
std::string expect_input_error(F&& f, const std::string& part) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(part), std::string::npos) << "expected '" << part << "' in: " << msg.substr(0, 500);
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg.substr(0, 500);
    EXPECT_LT(msg.size(), 400u) << msg.substr(0, 500);
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an InputError: " << std::string(e.what()).substr(0, 500);
    return "";
  }
  ADD_FAILURE() << "no error, expected '" << part << "'";
  return "";
}

// ---- PNG / JPEG headers (PNG: ISO/IEC 15948 chunk layout; JPEG: ITU T.81 SOF0) ----

uint32_t crc32(const std::string& s) {  // the PNG chunk CRC (ISO 3309), bit by bit
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}

// A PNG whose header claims w x h gray pixels, with a few bytes of zlib data (never enough).
std::string png_claiming(uint32_t w, uint32_t h) {
  const std::string sig = "\x89PNG\r\n\x1a\n";
  const std::string ihdr = be32(w) + be32(h) + std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit gray
  return sig + png_chunk("IHDR", ihdr) + png_chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) +
         png_chunk("IEND", "");
}

// A baseline JPEG header claiming w x h (SOF0, one component) and nothing after it.
std::string jpeg_claiming(uint16_t w, uint16_t h) {
  std::string s = "\xff\xd8";                                    // SOI
  s += std::string("\xff\xc0\x00\x0b\x08", 5);                   // SOF0, length 11, 8 bits
  s += {static_cast<char>(h >> 8), static_cast<char>(h), static_cast<char>(w >> 8), static_cast<char>(w)};
  s += std::string("\x01\x01\x11\x00", 4);                       // 1 component: id 1, 1x1, table 0
  return s + "\xff\xd9";                                         // EOI
}

Image decode(const std::string& bytes) {
  return io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0, "hostile.png");
}

}  // namespace

TEST(ReliabilityInputs, PngClaimingHugeSizeIsRefusedBeforeDecoding) {
  // Just past the budget: 2^14 x (2^14 + 1) gray pixels (stb itself would accept up to 2^30 bytes).
  expect_input_error([] { decode(png_claiming(16384, 16385)); }, "16385x16384 pixels exceed the limit of 268435456");
  // 100000 x 100000 = 10^10 pixels (over stb's own 2^30-byte limit too): read from IHDR.
  expect_input_error([] { decode(png_claiming(100000, 100000)); }, "100000x100000 pixels exceed the limit");
  // A legal size but truncated data.
  expect_input_error([] { decode(png_claiming(64, 64)); }, "cannot read image");
  const std::string p = tmp("bomb.png");
  write_bytes(p, png_claiming(16384, 16385));
  expect_input_error([&] { io::load_mask(p); }, p + ": image: 16385x16384 pixels exceed the limit");
}

TEST(ReliabilityInputs, JpegClaimingHugeSizeIsRefusedBeforeDecoding) {
  // 20000 x 20000 = 4e8 pixels (under stb's own 2^31-byte limit, over ours).
  expect_input_error([] { decode(jpeg_claiming(20000, 20000)); }, "20000x20000 pixels exceed the limit");
}

// Found by fuzz_image: a DHT segment with more than 256 codes makes stb_image 2.27 write past
// its Huffman size table; it is refused before stb runs (stbi_info included).
TEST(ReliabilityInputs, JpegHuffmanTableOverflowIsRefused) {
  const std::string p = test::data_path("reliability/stb_dht_overflow.jpg");
  expect_input_error([&] { io::load_image(p); }, "corrupt JPEG: a Huffman table of");
  // A real JPEG still loads.
  EXPECT_GT(io::load_image(test::data_path("himtok-examples/images/0.jpg")).w, 0);
}

// Found by fuzz_image: stb_image 2.27 indexes past its bit-mask table on this file. JPEGs are
// decoded by libjpeg-turbo alone (io/jpeg.h), for every channel count; it decodes this one (its
// corrupt entropy data gives warnings, which are ignored as PIL does), with the channels asked for.
// (Under the sanitizer build, any UB here fails the run.)
TEST(ReliabilityInputs, CorruptJpegNeverReachesStb) {
  const std::string p = test::data_path("reliability/stb_jpeg_bmask_ub.jpg");
  for (int channels : {1, 3, 4}) {
    const Image img = io::load_image(p, channels);
    EXPECT_EQ(img.c, channels);
    EXPECT_EQ(img.data.size(), static_cast<size_t>(img.h * img.w * channels));
  }
}

// Found by fuzz_image: stb_image 2.27 copies a zero-length IDAT that precedes the image data into
// its unallocated buffer (memcpy(NULL, p, 0), UB). Such chunks are dropped before stb sees the
// file, which changes nothing else: a real mask with an empty IDAT inserted decodes to the same
// pixels. The fuzzer's file is corrupt after that chunk; its error, which quotes the chunk type
// bytes stb read, stays one printable line.
TEST(ReliabilityInputs, PngZeroLengthIdatIsDroppedNotCopied) {
  const std::string p = test::data_path("reliability/png_zero_length_idat.png");
  const std::string msg = expect_input_error([&] { io::load_image(p); }, "PNG chunk not known");
  for (unsigned char ch : msg) EXPECT_TRUE(ch >= 0x20 && ch <= 0x7e) << "unprintable byte " << int(ch) << " in " << msg;

  std::ifstream f(test::data_path("himtok-examples/masks/0.png"), std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  std::string with_empty = png;
  with_empty.insert(idat - 4, png_chunk("IDAT", ""));  // before the first data chunk
  with_empty.insert(with_empty.size() - 12, png_chunk("IDAT", ""));  // and before IEND
  const Image a = decode(png), b = decode(with_empty);
  ASSERT_EQ(a.h, b.h);
  ASSERT_EQ(a.w, b.w);
  EXPECT_EQ(a.data, b.data);
  EXPECT_GT(a.h * a.w, 0);
}

TEST(ReliabilityInputs, OnlyPngJpegBmpReachTheDecoder) {
  expect_input_error([] { decode("GIF89a\x01\x00\x01\x00"); }, "not a PNG, JPEG or BMP file");
  expect_input_error([] { decode(std::string("\x00", 1)); }, "not a PNG, JPEG or BMP file");
  expect_input_error([] { decode(""); }, "empty file");
}

TEST(ReliabilityInputs, CliRefusesAnImageBombWithOneLine) {
  const std::string p = tmp("bomb_cli.png");
  write_bytes(p, png_claiming(16384, 16385));
  auto r = test::run_cli("encode --model " + test::data_path("golden/weights.safetensors") + " --config " +
                         test::data_path("golden/config.json") + " " + p);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("himtok: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pixels exceed the limit"), std::string::npos) << r.err;
}

// ---- safetensors ----

namespace {

std::string safetensors_with_header(const std::string& header_json, size_t data_bytes) {
  std::string h = header_json;
  while (h.size() % 8) h += ' ';
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + h + std::string(data_bytes, '\0');
}

void parse_st(const std::string& bytes) {
  io::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "hostile.safetensors");
}

}  // namespace

TEST(ReliabilityInputs, SafetensorsShapeOverflowingInt64) {
  // 2^32 * 2^32 = 2^64 elements: the product wraps to 0 in int64, which would match 0 bytes.
  expect_input_error(
      [] { parse_st(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0)); },
      "has more than 2^63 elements");
  // 2^62 elements fit, 2^62 * 4 bytes do not (wraps to 0).
  expect_input_error(
      [] { parse_st(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0)); },
      "needs more than 2^63 bytes");
  // A dimension past INT64_MAX.
  expect_input_error(
      [] { parse_st(safetensors_with_header(R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0)); },
      "bad shape entry 18446744073709551615");
  expect_input_error(
      [] { parse_st(safetensors_with_header(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0)); },
      "bad shape entry -1");
}

TEST(ReliabilityInputs, SafetensorsShapeDisagreeingWithByteRange) {
  expect_input_error(
      [] { parse_st(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)); },
      "8 bytes do not hold shape [3] of F32");
  expect_input_error(
      [] { parse_st(safetensors_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8)); },
      "outside the 8 data bytes");
  // A header size of 2^63 in a 16-byte file.
  std::string huge(16, '\0');
  huge[7] = '\x80';
  expect_input_error([&] { parse_st(huge); }, "header size 9223372036854775808 exceeds file size 16");
}

TEST(ReliabilityInputs, SafetensorsDeepHeaderAndShardPaths) {
  const std::string deep = R"({"__metadata__":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_input_error([&] { parse_st(safetensors_with_header(deep, 0)); }, "JSON nested deeper than 64 levels");
  expect_input_error(
      [] { io::parse_weight_map(R"({"weight_map":{"a":"../../etc/passwd"}})", "model.safetensors.index.json"); },
      "is not a file name in the index's folder");
}

// ---- JSON ----

TEST(ReliabilityInputs, DeeplyNestedJsonIsRefused) {
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  expect_input_error([&] { io::parse_coco(deep, "deep.json"); }, "deep.json: JSON nested deeper than 64 levels");
  // 64 levels are fine (the limit is inclusive); COCO then rejects the layout, not the depth.
  const std::string ok = std::string(63, '[') + std::string(63, ']');
  expect_input_error([&] { io::parse_coco(ok, "ok.json"); }, "ok.json");
  try {
    io::parse_coco(ok, "ok.json");
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find("nested"), std::string::npos) << e.what();
  }
}

TEST(ReliabilityInputs, LargeJsonIsReadNotRefused) {
  // 32 MiB of file names: large files are a matter of memory, not of a limit.
  nlohmann::json j = {{"images", nlohmann::json::array()}, {"annotations", nlohmann::json::array()}};
  for (int i = 0; i < 32; ++i)
    j["images"].push_back({{"id", i}, {"height", 4}, {"width", 4}, {"file_name", std::string(1 << 20, 'a' + i % 26)}});
  io::CocoDataset ds = io::parse_coco(j.dump(), "large.json");
  ASSERT_EQ(ds.images.size(), 32u);
  EXPECT_EQ(ds.images[31].file_name.size(), size_t{1} << 20);
}

// ---- token strings ----

TEST(ReliabilityInputs, MegabyteTokenStringsGiveShortErrors) {
  std::string many;
  for (int i = 0; i < 400000; ++i) many += "<|mt_1|>";  // 3.2 MB, 400000 tokens
  expect_input_error([&] { lmm::parse_mask_tokens(many); }, "more than 32 tokens");
  expect_input_error([&] { lmm::parse_mask_tokens("<|mt_start|>" + many + "<|mt_end|>"); }, "more than 32 tokens");
  const std::string garbage(4 << 20, 'x');
  expect_input_error([&] { lmm::parse_mask_tokens(garbage); }, "at offset 0");
  std::string ids;
  for (int i = 0; i < 500000; ++i) ids += "7,";
  expect_input_error([&] { tok::parse_id_list(ids); }, "more than 32 ids");
  // An empty entry, a megabyte entry and a megabyte token number are quoted in part.
  expect_input_error([&] { tok::parse_id_list("1,2,," + std::string(1 << 20, '7')); }, "empty entry at offset 4");
  expect_input_error([&] { tok::parse_id_list("1," + garbage); }, "(4194304 bytes)' is not a token id");
  expect_input_error([&] { tok::parse_id_list(std::string(1 << 20, '9')); }, "is out of range");
  const std::string huge_number = "<|mt_" + std::string(1 << 20, '5') + "|>";
  expect_input_error([&] { lmm::parse_mask_tokens(huge_number); }, "(1048583 bytes)' at offset 0");
  EXPECT_LT(lmm::parse_mask_text("<|mt_start|>" + huge_number).warning.size(), 400u);
  // The lenient parser reads 32 codes and reports the rest.
  lmm::MaskSpan span = lmm::parse_mask_text("<|mt_start|>" + many);
  EXPECT_EQ(span.codes.size(), 32u);
  EXPECT_EQ(span.status, lmm::MaskStatus::kMissingEnd);
  EXPECT_LT(span.warning.size(), 400u);
}

// ---- config JSON ----

// fuzz_config's finding: a float where an integer belongs was cast to int64 (UB past the range).
TEST(ReliabilityInputs, ConfigIntegerFieldsRefuseFloats) {
  std::ifstream in(std::string(HIMTOK_TEST_DATA) + "/reliability/config_float_width.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  expect_input_error([&] { tok::TokenizerConfig::from_json(text, "crash.json"); },
                     "crash.json: config field 'width' must be an integer, got 1.1111111111111111e+58");
  expect_input_error([&] { tok::TokenizerConfig::from_json(R"({"pixel_channel_mult": [1, 2.5]})", "m.json"); },
                     "'pixel_channel_mult' must be an integer, got 2.5");
  nlohmann::json j = lmm::lmm_config_preset("micro");
  j["llm"]["hidden"] = 1e58;
  lmm::LmmConfig c;
  expect_input_error([&] { lmm::from_json(j, c); }, "lmm config: 'llm.hidden' must be an integer, got 1e+58");
}

// ---- COCO RLE ----

TEST(ReliabilityInputs, RleCountsPastHeightTimesWidth) {
  io::Rle r;
  r.h = 2;
  r.w = 3;
  r.counts = {5, 1000};
  expect_input_error([&] { io::rle_decode(r); }, "counts sum to 1005, expected at most h*w = 6");
  const std::string s = io::rle_to_string(r);
  expect_input_error([&] { io::rle_from_string(s, 2, 3); }, "h*w = 6");
  const std::string coco = R"({"images":[{"id":1,"height":2,"width":3,"file_name":"a"}],
    "annotations":[{"id":1,"image_id":1,"category_id":1,"segmentation":{"size":[2,3],"counts":[5,1000]}}]})";
  expect_input_error([&] {
    auto ds = io::parse_coco(coco, "rle.json");
    io::annotation_to_mask(ds, ds.annotations.at(0));
  }, "h*w = 6");
}

TEST(ReliabilityInputs, RleOfHugeImageIsRefusedBeforeDecoding) {
  // 60000 x 60000 is a legal COCO RLE (h*w < 2^32) but a 3.6 GB mask.
  io::Rle r;
  r.h = 60000;
  r.w = 60000;
  r.counts = {3600000000u};
  EXPECT_NO_THROW(io::rle_check(r));
  expect_input_error([&] { io::rle_decode(r); }, "RLE: 60000x60000 pixels exceed the limit");
}

// ---- .pth archives ----

namespace {

// Rewrites one record of a torch.save zip archive (the writer recomputes offsets and CRCs).
std::vector<char> replace_record(const std::vector<char>& archive, const std::string& name, const std::string& bytes) {
  std::istringstream in(std::string(archive.begin(), archive.end()));
  caffe2::serialize::PyTorchStreamReader reader(&in);
  std::vector<char> out;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
      out.insert(out.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
      return n;
    });
    for (const std::string& rec : reader.getAllRecords()) {
      if (rec == "version" || rec == ".data/version") continue;  // the writer adds its own
      if (rec == name) {
        writer.writeRecord(rec, bytes.data(), bytes.size());
      } else {
        auto [ptr, n] = reader.getRecord(rec);
        writer.writeRecord(rec, ptr.get(), n);
      }
    }
    writer.writeEndOfFile();
  }
  return out;
}

std::string record(const std::vector<char>& archive, const std::string& name) {
  std::istringstream in(std::string(archive.begin(), archive.end()));
  caffe2::serialize::PyTorchStreamReader reader(&in);
  auto [ptr, n] = reader.getRecord(name);
  return std::string(static_cast<const char*>(ptr.get()), n);
}

// Pickle LONG1 (opcode 0x8a): n little-endian two's-complement bytes.
std::string long1(int64_t v) {
  std::string s = "\x8a\x08";
  for (int i = 0; i < 8; ++i) s += static_cast<char>(static_cast<uint64_t>(v) >> (8 * i));
  return s;
}

}  // namespace

TEST(ReliabilityInputs, PthWhosePickleAsksForAbsurdSizesIsRefused) {
  c10::Dict<std::string, at::Tensor> d;
  d.insert("w", at::arange(91, at::kFloat).reshape({7, 13}));
  const std::vector<char> good = torch::jit::pickle_save(c10::IValue(d));
  const std::string pkl = record(good, "data.pkl");
  // The sizes tuple of the 7 x 13 tensor: MARK, BININT1 7, BININT1 13, TUPLE.
  const std::string sizes("(K\x07K\x0dt", 6);
  const size_t at = pkl.find(sizes);
  ASSERT_NE(at, std::string::npos) << "pickle layout changed";
  struct Case {
    std::string sizes, expect;
  };
  const Case cases[] = {
      {std::string("(K\x07K\xfft", 6), "needs 1332 bytes, its storage holds 364"},  // 7 x 255, strides 13, 1
      {"(K\x07" + long1(int64_t{1} << 60) + "t", "'w'"},                       // 2^60 columns
  };
  for (const Case& c : cases) {
    std::string bad = pkl;
    bad.replace(at, sizes.size(), c.sizes);
    const std::vector<char> archive = replace_record(good, "data.pkl", bad);
    const std::string p = tmp("absurd.pth");
    write_bytes(p, std::string(archive.begin(), archive.end()));
    expect_input_error([&] { io::load_pth(p); }, c.expect);
  }
  // The untouched archive still loads (the check refuses only what does not fit).
  const std::string p = tmp("good.pth");
  write_bytes(p, std::string(good.begin(), good.end()));
  EXPECT_TRUE(io::load_pth(p).at("w").equal(at::arange(91, at::kFloat).reshape({7, 13})));
}
