// lmm/templates: Appendix G templates as data, sample builders, chat format, jsonl converter.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "lmm/response.h"
#include "lmm/templates.h"
#include "lmm/vocab.h"

#ifndef HIMTOK_TEST_DATA
#error "HIMTOK_TEST_DATA must name tests/data"
#endif

namespace {

using namespace himtok::lmm;
using himtok::InputError;
using himtok::data::Pcg32;
namespace fs = std::filesystem;

const std::string kData = HIMTOK_TEST_DATA;
const std::string kTemplatesPath = kData + "/../../configs/templates.json";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Templates& tpl() {
  static const Templates t = Templates::builtin();
  return t;
}

std::vector<int> codes_n(int n, int seed = 1) {
  std::vector<int> c;
  for (int k = 0; k < n; ++k) c.push_back((k * 131 + seed * 17) % 1024);
  return c;
}

// True if `text` is one of the group's templates filled with `values`.
bool from_group(const std::string& group, const std::string& text, const std::vector<std::string>& values) {
  for (const auto& t : tpl().group(group).templates)
    if (fill_template(t, values) == text) return true;
  return false;
}

std::string strip_image(const std::string& human) {
  EXPECT_EQ(human.rfind("<image>\n", 0), 0u) << human;
  return human.substr(8);
}

fs::path temp_dir() {
  fs::path p = fs::temp_directory_path() / ("himtok_test_templates_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

// ---------------------------------------------------------------------------------------------

TEST(LmmTemplates, BuiltinIsTheConfigFile) {
  const Templates file = Templates::load(kTemplatesPath);
  const Templates& b = tpl();
  EXPECT_EQ(b.origin, "builtin");
  ASSERT_EQ(file.groups.size(), b.groups.size());
  for (const auto& [name, g] : file.groups) EXPECT_EQ(g.templates, b.group(name).templates) << name;
  EXPECT_EQ(file.system_message, b.system_message);
  EXPECT_EQ(file.chat_user, b.chat_user);
}

TEST(LmmTemplates, PaperTablesAreComplete) {
  // Tables 13, 14, 15, 16, 18 have 10 templates; Table 17 10 (+ the official example's);
  // Table 19 has 9 instructions and 7 responses.
  EXPECT_EQ(tpl().group("seg_box_instruction").templates.size(), 10u);
  EXPECT_EQ(tpl().group("seg_box_response").templates.size(), 10u);
  EXPECT_EQ(tpl().group("box_point_instruction").templates.size(), 10u);
  EXPECT_EQ(tpl().group("point_instruction").templates.size(), 10u);
  EXPECT_EQ(tpl().group("seg_len_instruction").templates.size(), 10u);
  EXPECT_EQ(tpl().group("seg_response").templates.size(), 11u);
  EXPECT_EQ(tpl().group("ground_instruction").templates.size(), 9u);
  EXPECT_EQ(tpl().group("ground_response").templates.size(), 7u);
  // One verbatim line per table (paper text).
  auto has = [](const std::string& g, const std::string& s) {
    const auto& v = tpl().group(g).templates;
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  EXPECT_TRUE(has("seg_box_instruction", "First create the segmentation mask for <ref>{}</ref>, then identify its bounding box."));
  EXPECT_TRUE(has("seg_box_response", "Sure, the mask appears at {}, and here\u2019s the box: <box>{}</box>."));
  EXPECT_TRUE(has("box_point_instruction",
                  "Outline the mask of the object residing within the box <box>{}</box> and corresponding to the points {} in the image."));
  EXPECT_TRUE(has("point_instruction", "Identify the object mask corresponding to the points {} in the image."));
  EXPECT_TRUE(has("seg_response", "Got it, the mask is at {}."));
  EXPECT_TRUE(has("seg_len_instruction", "Initially segment <ref>{}</ref>{} by {} tokens, then find its bounding box region."));
  EXPECT_TRUE(has("ground_instruction", "Can you show the box for <ref>{}</ref>?"));
  EXPECT_TRUE(has("ground_response", "Bounding box determined: <box>{}</box>."));
  EXPECT_TRUE(has("seg_instruction", "Segment <ref>{}</ref>."));
}

TEST(LmmTemplates, ParseRejectsBadFiles) {
  const std::string good = read_file(kTemplatesPath);
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      Templates::parse(text, "t.json");
      ADD_FAILURE() << "expected InputError containing " << needle;
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("t.json"), std::string::npos) << m;
      EXPECT_NE(m.find(needle), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_error("{not json", "invalid JSON");
  auto j = nlohmann::json::parse(good);
  {
    auto k = j;
    k["version"] = 2;
    expect_error(k.dump(), "version");
  }
  {
    auto k = j;
    k["groups"]["seg_response"]["templates"].push_back("The mask {} and {}.");
    expect_error(k.dump(), "seg_response");
  }
  {
    auto k = j;
    k["groups"].erase("ground_response");
    expect_error(k.dump(), "missing group 'ground_response'");
  }
  {
    auto k = j;
    k["groups"]["seg_respons"] = k["groups"]["seg_response"];
    expect_error(k.dump(), "'seg_respons' is unknown");
  }
  {
    auto k = j;
    k["chat"]["user"] = "<|im_start|>user\n<|im_end|>\n";
    expect_error(k.dump(), "chat");
  }
  EXPECT_THROW(Templates::load("/nonexistent/templates.json"), InputError);
}

TEST(LmmTemplates, ResolveOrder) {
  EXPECT_EQ(Templates::resolve(kTemplatesPath).origin, kTemplatesPath);
  EXPECT_THROW(Templates::resolve("/nonexistent/t.json"), InputError);
  ::setenv("HIMTOK_TEMPLATES", kTemplatesPath.c_str(), 1);
  EXPECT_EQ(Templates::resolve().origin, kTemplatesPath);
  ::unsetenv("HIMTOK_TEMPLATES");
  // Otherwise next to the executable, or builtin: either way all groups are there.
  EXPECT_EQ(Templates::resolve().groups.size(), template_schema().size());
}

TEST(LmmTemplates, FillTemplate) {
  EXPECT_EQ(fill_template("a {} b {} c", {"1", "{}"}), "a 1 b {} c");
  EXPECT_EQ(fill_template("Yes.", {}), "Yes.");
  EXPECT_THROW(fill_template("a {}", {}), std::logic_error);
  EXPECT_THROW(fill_template("a", {"x"}), std::logic_error);
}

TEST(LmmTemplates, MaskTokenStrings) {
  EXPECT_EQ(format_mask_tokens({12, 0, 1023}), "<|mt_start|><|mt_12|><|mt_0|><|mt_1023|><|mt_end|>");
  EXPECT_EQ(placeholder_mask_tokens(2), "<|mt_start|><|mt_0|><|mt_0|><|mt_end|>");
  EXPECT_THROW(format_mask_tokens({}), InputError);
  EXPECT_THROW(format_mask_tokens(codes_n(33)), InputError);
  EXPECT_THROW(format_mask_tokens({1024}), InputError);
  EXPECT_THROW(format_mask_tokens({-1}), InputError);
  EXPECT_EQ(parse_mask_tokens(format_mask_tokens(codes_n(32))), codes_n(32));
}

TEST(LmmTemplates, BoxAndPointNormalisation) {
  EXPECT_EQ(format_box(normalize_box(0, 0, 224, 160, 224, 160)), "[[0, 0, 1000, 1000]]");
  // 1000 * 1 / 200 = 5; 1000 * 0.1 / 200 = 0.5 rounds up to 1; 1000 * 0.09 / 200 = 0.45 -> 0.
  EXPECT_EQ(normalize_box(1, 0.1, 0.09, 199.9, 200, 200), (NormBox{5, 1, 0, 1000}));
  // Clamped to 0..1000.
  EXPECT_EQ(normalize_box(-5, -5, 300, 300, 200, 200), (NormBox{0, 0, 1000, 1000}));
  // Round trip within half a unit: |x - denorm(norm(x))| <= 0.5 * W / 1000.
  for (int x = 0; x <= 224; x += 7) {
    const NormBox b = normalize_box(x, x / 2.0, 224 - x / 3.0, 224, 224, 224);
    const auto d = denormalize_box(b, 224, 224);
    EXPECT_LE(std::abs(d[0] - x), 0.5 * 224 / 1000 + 1e-9);
    EXPECT_LE(std::abs(d[1] - x / 2.0), 0.5 * 224 / 1000 + 1e-9);
    EXPECT_LE(std::abs(d[2] - (224 - x / 3.0)), 0.5 * 224 / 1000 + 1e-9);
  }
  EXPECT_THROW(normalize_box(0, 0, 1, 1, 0, 10), InputError);
  const NormPoint p = normalize_point(100.5, 50.5, 201, 101);
  EXPECT_EQ(p.x, 500);
  EXPECT_EQ(p.y, 500);
  EXPECT_EQ(format_points({{1, 2}, {300, 400}}), "[[1, 2], [300, 400]]");
  EXPECT_THROW(format_points({}), InputError);
  // The official parser reads our boxes back.
  EXPECT_EQ(first_box("<box>" + format_box({1, 2, 3, 4}) + "</box>").value(), (std::array<double, 4>{1, 2, 3, 4}));
}

TEST(LmmTemplates, SegmentationBuilders) {
  Pcg32 rng(5);
  const std::string expr = "the small red circle";
  const auto codes = codes_n(32);
  const std::string mask = format_mask_tokens(codes);
  const NormBox box{10, 20, 300, 400};

  Conversation c = build_segmentation(tpl(), rng, expr, codes);
  ASSERT_EQ(c.turns.size(), 2u);
  EXPECT_EQ(c.turns[0].from, "human");
  EXPECT_EQ(c.turns[1].from, "gpt");
  EXPECT_TRUE(from_group("seg_instruction", strip_image(c.turns[0].value), {expr}));
  EXPECT_TRUE(from_group("seg_response", c.turns[1].value, {mask}));
  EXPECT_TRUE(parse_mask_text(c.turns[1].value).ok());

  c = build_segmentation_box(tpl(), rng, expr, codes, box);
  EXPECT_TRUE(from_group("seg_box_instruction", strip_image(c.turns[0].value), {expr}));
  EXPECT_TRUE(from_group("seg_box_response", c.turns[1].value, {mask, "[[10, 20, 300, 400]]"}));
  EXPECT_EQ(first_box(c.turns[1].value).value(), (std::array<double, 4>{10, 20, 300, 400}));

  c = build_segmentation_n_tokens(tpl(), rng, expr, codes_n(8), box);
  EXPECT_TRUE(from_group("seg_len_instruction", strip_image(c.turns[0].value), {expr, "", "8"}));
  EXPECT_NE(c.turns[0].value.find("</ref> by 8 tokens"), std::string::npos) << c.turns[0].value;
  const MaskSpan m = parse_mask_text(c.turns[1].value, 8);
  EXPECT_TRUE(m.ok());
  EXPECT_EQ(m.codes, codes_n(8));

  c = build_segmentation_none(tpl(), rng, "the purple circle");
  EXPECT_TRUE(from_group("seg_none_response", c.turns[1].value, {"the purple circle"}));
  EXPECT_EQ(parse_mask_text(c.turns[1].value).status, MaskStatus::kNoMask);
}

TEST(LmmTemplates, PromptedSegmentationAndGrounding) {
  Pcg32 rng(9);
  const auto codes = codes_n(32, 3);
  const std::string mask = format_mask_tokens(codes);
  const NormBox box{100, 200, 300, 400};
  const std::vector<NormPoint> pts = {{150, 250}, {200, 300}};

  Conversation c = build_box_prompted(tpl(), rng, box, codes);
  EXPECT_TRUE(from_group("box_instruction", strip_image(c.turns[0].value), {"[[100, 200, 300, 400]]"}));
  EXPECT_TRUE(from_group("seg_response", c.turns[1].value, {mask}));

  c = build_point_prompted(tpl(), rng, pts, codes);
  EXPECT_TRUE(from_group("point_instruction", strip_image(c.turns[0].value), {"[[150, 250], [200, 300]]"}));

  c = build_box_point_prompted(tpl(), rng, box, pts, codes);
  EXPECT_TRUE(from_group("box_point_instruction", strip_image(c.turns[0].value),
                         {"[[100, 200, 300, 400]]", "[[150, 250], [200, 300]]"}));
  EXPECT_TRUE(from_group("seg_response", c.turns[1].value, {mask}));

  c = build_grounding(tpl(), rng, "the blue star", box);
  EXPECT_TRUE(from_group("ground_instruction", strip_image(c.turns[0].value), {"the blue star"}));
  EXPECT_TRUE(from_group("ground_response", c.turns[1].value, {"[[100, 200, 300, 400]]"}));
  EXPECT_EQ(parse_mask_text(c.turns[1].value).status, MaskStatus::kNoMask);
  // evaluate_grounding.py semantics on our response: /999 then x W.
  const auto px = official_rec_box(c.turns[1].value, 999, 999);
  EXPECT_DOUBLE_EQ(px[0], 100);
  EXPECT_DOUBLE_EQ(px[3], 400);
}

TEST(LmmTemplates, MaskPerceptionExistenceAndQa) {
  Pcg32 rng(11);
  const auto codes = codes_n(32);
  const std::vector<std::string> opts = {"the red circle", "all stars", "the small square", "the purple star"};
  Conversation c = build_mask_perception(tpl(), rng, codes, opts, 2);
  const std::string q = strip_image(c.turns[0].value);
  EXPECT_TRUE(from_group("perception_instruction", q,
                         {format_mask_tokens(codes),
                          "A. the red circle\nB. all stars\nC. the small square\nD. the purple star"}));
  EXPECT_EQ(c.turns[1].value, "C. the small square");
  EXPECT_EQ(parse_choice(c.turns[1].value), 'C');
  // The mask sits in the question: the first span of the conversation is the human's.
  EXPECT_TRUE(parse_mask_text(q).ok());
  EXPECT_THROW(build_mask_perception(tpl(), rng, codes, opts, 4), InputError);
  EXPECT_THROW(build_mask_perception(tpl(), rng, codes, {"only one"}, 0), InputError);

  c = build_existence(tpl(), rng, "all red objects", true);
  EXPECT_TRUE(from_group("exist_instruction", strip_image(c.turns[0].value), {"all red objects"}));
  EXPECT_EQ(parse_yes_no(c.turns[1].value), YesNo::kYes);
  c = build_existence(tpl(), rng, "the green triangle", false);
  EXPECT_EQ(parse_yes_no(c.turns[1].value), YesNo::kNo);

  c = build_qa(tpl(), rng, "How many circles are there?", "3");
  EXPECT_EQ(c.turns[0].value, "<image>\nHow many circles are there?\nAnswer the question using a single word or phrase.");
  EXPECT_EQ(c.turns[1].value, "3");
}

TEST(LmmTemplates, BuildersAreDeterministicAndCoverAllTemplates) {
  Pcg32 a(42), b(42);
  for (int i = 0; i < 20; ++i) {
    const auto x = build_segmentation_box(tpl(), a, "the star", codes_n(32), {1, 2, 3, 4});
    const auto y = build_segmentation_box(tpl(), b, "the star", codes_n(32), {1, 2, 3, 4});
    EXPECT_EQ(x.turns[0].value, y.turns[0].value);
    EXPECT_EQ(x.turns[1].value, y.turns[1].value);
  }
  // 300 draws reach all 10 instructions of Table 13.
  std::set<std::string> seen;
  Pcg32 r(1);
  for (int i = 0; i < 300; ++i) seen.insert(build_segmentation_box(tpl(), r, "x", {1}, {}).turns[0].value);
  EXPECT_EQ(seen.size(), 10u);
}

TEST(LmmTemplates, ChatFormatIsInternVL25) {
  Conversation c;
  c.turns = {{"human", "<image>\nSegment <ref>the star</ref>."}, {"gpt", "Sure."}};
  ChatOptions opt;
  opt.n_image_tokens = 2;
  opt.system_override = "SYS";
  const auto pieces = format_chat(tpl(), c, opt);
  EXPECT_EQ(join_pieces(pieces),
            "<|im_start|>system\nSYS<|im_end|>\n"
            "<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nSegment <ref>the star</ref>.<|im_end|>\n"
            "<|im_start|>assistant\nSure.<|im_end|>\n");
  std::string target;
  for (const auto& p : pieces)
    if (p.target) target += p.text;
  EXPECT_EQ(target, "Sure.<|im_end|>\n");

  // Inference prompt: "<image>\n" prepended, official default system message, generation prompt.
  opt.system_override.clear();
  const std::string prompt = format_prompt(tpl(), "Segment <ref>x</ref>.", opt);
  EXPECT_EQ(prompt, "<|im_start|>system\n" + tpl().system_message + "<|im_end|>\n<|im_start|>user\n" +
                        "<img><IMG_CONTEXT><IMG_CONTEXT></img>\nSegment <ref>x</ref>.<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(tpl().system_message.substr(0, 6), "\u4f60\u662f");  // 你是...

  // Text only, no system turn.
  opt.n_image_tokens = 0;
  opt.use_system = false;
  EXPECT_EQ(join_pieces(format_chat(tpl(), c, opt)),
            "<|im_start|>user\nSegment <ref>the star</ref>.<|im_end|>\n<|im_start|>assistant\nSure.<|im_end|>\n");

  // Turn order is checked.
  Conversation bad;
  bad.turns = {{"gpt", "hi"}};
  EXPECT_THROW(format_chat(tpl(), bad, opt), InputError);
  EXPECT_THROW(format_chat(tpl(), c, opt, /*generation_prompt=*/true), InputError);
  EXPECT_THROW(format_chat(tpl(), Conversation{}, opt), InputError);
}

TEST(LmmTemplates, EncodeChatLabelsOnlyTheAssistant) {
  const Vocab v = Vocab::train(build_vocab_corpus(tpl(), 30, 2));
  Pcg32 rng(3);
  const auto conv = build_segmentation(tpl(), rng, "the second circle from the left", codes_n(32));
  ChatOptions opt;
  opt.n_image_tokens = 16;
  const auto pieces = format_chat(tpl(), conv, opt);
  const EncodedChat e = encode_chat(v, pieces);
  ASSERT_EQ(e.ids.size(), e.labels.size());
  EXPECT_EQ(v.decode(e.ids), join_pieces(pieces));
  std::vector<int> labelled;
  for (size_t i = 0; i < e.ids.size(); ++i)
    if (e.labels[i] != kIgnoreLabel) {
      EXPECT_EQ(e.labels[i], e.ids[i]);
      labelled.push_back(e.ids[i]);
    }
  EXPECT_EQ(v.decode(labelled), conv.turns[1].value + "<|im_end|>\n");
  EXPECT_EQ(std::count(e.ids.begin(), e.ids.end(), v.specials().img_context), 16);
  // The labelled mask span is the 32 codes.
  const MaskSpan m = parse_mask_ids(labelled, v);
  EXPECT_TRUE(m.ok()) << m.warning;
  EXPECT_EQ(m.codes, codes_n(32));
}

// ---------------------------------------------------------------------------------------------
// jsonl converter

TEST(LmmTemplates, ConvertJsonlReplacesThePlaceholder) {
  const fs::path dir = temp_dir();
  const std::string out_path = (dir / "converted.jsonl").string();
  std::vector<std::string> asked;
  auto fn = [&](const std::string& mask) {
    asked.push_back(mask);
    return codes_n(32, static_cast<int>(mask.size()) + static_cast<int>(asked.size()));
  };
  const ConvertStats st = convert_himtok_jsonl(kData + "/lmm/himtok_examples.jsonl", out_path, fn);
  EXPECT_EQ(st.n_records, 4);
  EXPECT_EQ(st.n_converted, 4);
  EXPECT_EQ(asked, (std::vector<std::string>{"masks/0.png", "masks/1.png", "masks/2.png", "masks/3.png"}));
  std::ifstream in(out_path);
  std::string line;
  int i = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::ordered_json::parse(line);
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"image", "mask", "conversations"}));
    EXPECT_EQ(j["mask"], "masks/" + std::to_string(i) + ".png");
    const std::string gpt = j["conversations"][1]["value"];
    const MaskSpan m = parse_mask_text(gpt);
    EXPECT_TRUE(m.ok()) << m.warning;
    EXPECT_EQ(m.codes, codes_n(32, 11 + i + 1));
    EXPECT_EQ(gpt.substr(0, 20), "The mask appears at ");
    EXPECT_EQ(gpt.substr(gpt.size() - 11), "<|mt_end|>.");
    const Conversation c = parse_conversation_json(line, "converted");
    EXPECT_EQ(c.turns[0].value, j["conversations"][0]["value"]);
    ++i;
  }
  EXPECT_EQ(i, 4);
  fs::remove_all(dir);
}

TEST(LmmTemplates, ConvertRecordEdgeCases) {
  int calls = 0;
  auto fn = [&](const std::string&) {
    ++calls;
    return std::vector<int>{7, 8, 9};
  };
  // No span: unchanged, callback not called.
  const std::string plain = R"({"image":"a.jpg","conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]})";
  EXPECT_EQ(convert_jsonl_record(plain, fn, "x"), plain);
  EXPECT_EQ(calls, 0);
  // Mask perception: the span is in the human turn; only the first span is replaced.
  const std::string two = R"({"image":"a.jpg","mask":"m.png","conversations":[{"from":"human","value":"Which? <|mt_start|><|mt_0|><|mt_0|><|mt_end|>"},{"from":"gpt","value":"<|mt_start|><|mt_0|><|mt_end|>"}]})";
  const auto j = nlohmann::json::parse(convert_jsonl_record(two, fn, "x"));
  EXPECT_EQ(j["conversations"][0]["value"], "Which? <|mt_start|><|mt_7|><|mt_8|><|mt_9|><|mt_end|>");
  EXPECT_EQ(j["conversations"][1]["value"], "<|mt_start|><|mt_0|><|mt_end|>");
  EXPECT_EQ(calls, 1);
  // Errors name the record.
  auto expect_error = [&](const std::string& rec, const std::string& needle) {
    try {
      convert_jsonl_record(rec, fn, "f.jsonl:3");
      ADD_FAILURE() << "expected InputError for " << rec;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("f.jsonl:3"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{bad", "invalid JSON");
  expect_error(R"({"image":"a.jpg"})", "conversations");
  expect_error(R"({"conversations":[{"from":"gpt","value":"<|mt_start|><|mt_0|><|mt_end|>"}]})", "no string 'mask'");
  expect_error(R"({"mask":"m.png","conversations":[{"from":"gpt","value":"<|mt_start|><|mt_0|>"}]})", "without <|mt_end|>");
  EXPECT_THROW(convert_jsonl_record(R"({"mask":"m.png","conversations":[{"from":"gpt","value":"<|mt_start|>x<|mt_end|>"}]})", fn, "x"),
               InputError);
  auto bad_fn = [](const std::string&) { return std::vector<int>(33, 1); };
  EXPECT_THROW(convert_jsonl_record(two, bad_fn, "x"), InputError);
  EXPECT_THROW(convert_himtok_jsonl("/nonexistent.jsonl", "/tmp/x.jsonl", fn), InputError);
  EXPECT_THROW(parse_conversation_json(R"({"conversations":[{"from":"bot","value":"x"}]})", "x"), InputError);
}

TEST(LmmTemplates, VocabCorpusIsDeterministicAndCoversTemplates) {
  const auto a = build_vocab_corpus(tpl(), 5, 9), b = build_vocab_corpus(tpl(), 5, 9);
  EXPECT_EQ(a, b);
  std::string all;
  for (const auto& l : a) all += l + "\n";
  EXPECT_NE(all.find(tpl().system_message), std::string::npos);
  EXPECT_NE(all.find("<|im_start|>assistant"), std::string::npos);
  EXPECT_NE(all.find("then outline its bounding region."), std::string::npos);
  EXPECT_NE(all.find("Bounding box determined: <box>[["), std::string::npos);
}

}  // namespace
