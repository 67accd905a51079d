// Templates (configs/templates.json), sample builders, chat format, jsonl converter, vocab corpus.
#include "lmm/templates.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/error.h"
#include "data/scenes.h"
#include "lmm/response.h"
#include "lmm/templates_json.h"  // generated: kTemplatesJson (cmake/embed_text.cmake)
#include "lmm/vocab.h"

namespace himtok::lmm {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Templates

const std::map<std::string, int>& template_schema() {
  static const std::map<std::string, int> schema = {
      {"seg_instruction", 1},      {"seg_response", 1},           {"seg_none_response", 1},
      {"seg_box_instruction", 1},  {"seg_box_response", 2},       {"box_point_instruction", 2},
      {"point_instruction", 1},    {"box_instruction", 1},        {"seg_len_instruction", 3},
      {"ground_instruction", 1},   {"ground_response", 1},        {"exist_instruction", 1},
      {"exist_yes_response", 0},   {"exist_no_response", 0},      {"perception_instruction", 2},
      {"perception_response", 2},  {"qa_instruction", 1},         {"qa_response", 1},
  };
  return schema;
}

namespace {

size_t count_slots(const std::string& s) {
  size_t n = 0;
  for (size_t p = s.find("{}"); p != std::string::npos; p = s.find("{}", p + 2)) ++n;
  return n;
}

std::string get_string(const json& j, const char* key, const std::string& where) {
  HIMTOK_CHECK_INPUT(j.is_object() && j.contains(key) && j[key].is_string(), where, ": missing string field '", key, "'");
  return j[key].get<std::string>();
}

}  // namespace

std::string fill_template(const std::string& tmpl, const std::vector<std::string>& values) {
  std::string out;
  size_t i = 0, k = 0;
  for (size_t p = tmpl.find("{}"); p != std::string::npos; p = tmpl.find("{}", i)) {
    if (k >= values.size()) throw std::logic_error("fill_template: more slots than values in '" + tmpl + "'");
    out.append(tmpl, i, p - i);
    out += values[k++];
    i = p + 2;
  }
  if (k != values.size()) throw std::logic_error("fill_template: fewer slots than values in '" + tmpl + "'");
  out.append(tmpl, i, std::string::npos);
  return out;
}

Templates Templates::parse(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(str_cat(origin, ": invalid JSON (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(j.is_object(), origin, ": expected a JSON object");
  HIMTOK_CHECK_INPUT(get_string(j, "format", origin) == "himtok-templates", origin,
                     ": 'format' is not 'himtok-templates'");
  HIMTOK_CHECK_INPUT(j.contains("version") && j["version"].is_number_integer() && j["version"].get<int>() == 1, origin,
                     ": unsupported 'version', expected 1");
  Templates t;
  t.version = 1;
  t.origin = origin;
  t.system_message = get_string(j, "system_message", origin);
  HIMTOK_CHECK_INPUT(j.contains("chat") && j.contains("image"), origin, ": missing 'chat' or 'image'");
  const std::string wc = origin + ": chat", wi = origin + ": image";
  t.chat_system = get_string(j["chat"], "system", wc);
  t.chat_user = get_string(j["chat"], "user", wc);
  t.chat_assistant_start = get_string(j["chat"], "assistant_start", wc);
  t.chat_assistant_end = get_string(j["chat"], "assistant_end", wc);
  HIMTOK_CHECK_INPUT(count_slots(t.chat_system) == 1 && count_slots(t.chat_user) == 1, wc,
                     ": 'system' and 'user' need exactly one '{}'");
  t.image_placeholder = get_string(j["image"], "placeholder", wi);
  t.image_start = get_string(j["image"], "start", wi);
  t.image_context = get_string(j["image"], "context", wi);
  t.image_end = get_string(j["image"], "end", wi);
  HIMTOK_CHECK_INPUT(!t.image_placeholder.empty(), wi, ": empty 'placeholder'");

  HIMTOK_CHECK_INPUT(j.contains("groups") && j["groups"].is_object(), origin, ": missing object 'groups'");
  const auto& schema = template_schema();
  for (const auto& [name, g] : j["groups"].items()) {
    const std::string wg = origin + ": group '" + name + "'";
    auto it = schema.find(name);
    HIMTOK_CHECK_INPUT(it != schema.end(), wg, " is unknown");
    TemplateGroup tg;
    tg.source = get_string(g, "source", wg);
    HIMTOK_CHECK_INPUT(g.contains("slots") && g["slots"].is_array() && g.contains("templates") && g["templates"].is_array(),
                       wg, ": needs arrays 'slots' and 'templates'");
    for (const auto& s : g["slots"]) {
      HIMTOK_CHECK_INPUT(s.is_string(), wg, ": slot names must be strings");
      tg.slots.push_back(s.get<std::string>());
    }
    HIMTOK_CHECK_INPUT(static_cast<int>(tg.slots.size()) == it->second, wg, " has ", tg.slots.size(), " slots, expected ",
                       it->second);
    for (const auto& s : g["templates"]) {
      HIMTOK_CHECK_INPUT(s.is_string(), wg, ": templates must be strings");
      const std::string tmpl = s.get<std::string>();
      HIMTOK_CHECK_INPUT(count_slots(tmpl) == tg.slots.size(), wg, ": template '", tmpl, "' has ", count_slots(tmpl),
                         " '{}', expected ", tg.slots.size());
      tg.templates.push_back(tmpl);
    }
    HIMTOK_CHECK_INPUT(!tg.templates.empty(), wg, " has no templates");
    t.groups[name] = std::move(tg);
  }
  for (const auto& [name, n] : schema) HIMTOK_CHECK_INPUT(t.groups.count(name), origin, ": missing group '", name, "'");
  return t;
}

Templates Templates::load(const std::string& path) {
  HIMTOK_CHECK_INPUT(fs::is_regular_file(path), path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  HIMTOK_CHECK_INPUT(in.good(), path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Templates Templates::builtin() { return parse(kTemplatesJson, "builtin"); }

Templates Templates::resolve(const std::string& path) {
  if (!path.empty()) return load(path);
  if (const char* env = std::getenv("HIMTOK_TEMPLATES"); env != nullptr && *env != '\0') return load(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& p : {exe.parent_path() / ".." / "configs" / "templates.json",
                              exe.parent_path() / "configs" / "templates.json"})
      if (fs::is_regular_file(p, ec)) return load(p.lexically_normal().string());
  }
  return builtin();
}

const TemplateGroup& Templates::group(const std::string& name) const {
  auto it = groups.find(name);
  if (it == groups.end()) throw std::logic_error("Templates: no group '" + name + "'");
  return it->second;
}

const std::string& Templates::pick(const std::string& name, data::Pcg32& rng) const {
  const auto& g = group(name);
  return g.templates[rng.below(static_cast<uint32_t>(g.templates.size()))];
}

// ---------------------------------------------------------------------------------------------
// Formatting

std::string format_mask_tokens(const std::vector<int>& codes) {
  HIMTOK_CHECK_INPUT(!codes.empty() && codes.size() <= static_cast<size_t>(kNumMaskTokens), "mask has ", codes.size(),
                     " tokens, expected 1..", kNumMaskTokens);
  std::string s = kMaskStart;
  for (int c : codes) s += mask_token_string(c);
  return s + kMaskEnd;
}

std::string placeholder_mask_tokens(int n) { return format_mask_tokens(std::vector<int>(static_cast<size_t>(n), 0)); }

namespace {
int norm1000(double v, int64_t size) {
  const double x = std::floor(1000.0 * v / static_cast<double>(size) + 0.5);
  return static_cast<int>(std::max(0.0, std::min(1000.0, x)));
}
}  // namespace

NormBox normalize_box(double x0, double y0, double x1, double y1, int64_t w, int64_t h) {
  HIMTOK_CHECK_INPUT(w > 0 && h > 0, "box normalisation: image size ", w, "x", h, " is empty");
  return NormBox{norm1000(x0, w), norm1000(y0, h), norm1000(x1, w), norm1000(y1, h)};
}

NormPoint normalize_point(double x, double y, int64_t w, int64_t h) {
  HIMTOK_CHECK_INPUT(w > 0 && h > 0, "point normalisation: image size ", w, "x", h, " is empty");
  return NormPoint{norm1000(x, w), norm1000(y, h)};
}

std::array<double, 4> denormalize_box(const NormBox& b, int64_t w, int64_t h, double divisor) {
  const double W = static_cast<double>(w), H = static_cast<double>(h);
  return {b.x1 * W / divisor, b.y1 * H / divisor, b.x2 * W / divisor, b.y2 * H / divisor};
}

std::string format_box(const NormBox& b) { return str_cat("[[", b.x1, ", ", b.y1, ", ", b.x2, ", ", b.y2, "]]"); }

std::string format_points(const std::vector<NormPoint>& pts) {
  HIMTOK_CHECK_INPUT(!pts.empty(), "points: empty list");
  std::string s = "[";
  for (size_t i = 0; i < pts.size(); ++i) s += str_cat(i ? ", " : "", "[", pts[i].x, ", ", pts[i].y, "]");
  return s + "]";
}

std::string format_options(const std::vector<std::string>& options) {
  HIMTOK_CHECK_INPUT(options.size() >= 2 && options.size() <= 5, "mask perception: ", options.size(),
                     " options, expected 2..5");
  std::string s;
  for (size_t i = 0; i < options.size(); ++i) s += str_cat(i ? "\n" : "", static_cast<char>('A' + i), ". ", options[i]);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Builders

namespace {

Conversation qa_pair(const Templates& t, const std::string& question, const std::string& answer) {
  Conversation c;
  c.turns.push_back({"human", t.image_placeholder + "\n" + question});
  c.turns.push_back({"gpt", answer});
  return c;
}

}  // namespace

Conversation build_segmentation(const Templates& t, data::Pcg32& rng, const std::string& expr, const std::vector<int>& codes) {
  const std::string mask = format_mask_tokens(codes);
  const std::string q = fill_template(t.pick("seg_instruction", rng), {expr});
  return qa_pair(t, q, fill_template(t.pick("seg_response", rng), {mask}));
}

Conversation build_segmentation_none(const Templates& t, data::Pcg32& rng, const std::string& expr) {
  const std::string q = fill_template(t.pick("seg_instruction", rng), {expr});
  return qa_pair(t, q, fill_template(t.pick("seg_none_response", rng), {expr}));
}

Conversation build_segmentation_box(const Templates& t, data::Pcg32& rng, const std::string& expr,
                                    const std::vector<int>& codes, const NormBox& box) {
  const std::string mask = format_mask_tokens(codes);
  const std::string q = fill_template(t.pick("seg_box_instruction", rng), {expr});
  return qa_pair(t, q, fill_template(t.pick("seg_box_response", rng), {mask, format_box(box)}));
}

Conversation build_box_prompted(const Templates& t, data::Pcg32& rng, const NormBox& box, const std::vector<int>& codes) {
  const std::string mask = format_mask_tokens(codes);
  const std::string q = fill_template(t.pick("box_instruction", rng), {format_box(box)});
  return qa_pair(t, q, fill_template(t.pick("seg_response", rng), {mask}));
}

Conversation build_point_prompted(const Templates& t, data::Pcg32& rng, const std::vector<NormPoint>& points,
                                  const std::vector<int>& codes) {
  const std::string mask = format_mask_tokens(codes);
  const std::string q = fill_template(t.pick("point_instruction", rng), {format_points(points)});
  return qa_pair(t, q, fill_template(t.pick("seg_response", rng), {mask}));
}

Conversation build_box_point_prompted(const Templates& t, data::Pcg32& rng, const NormBox& box,
                                      const std::vector<NormPoint>& points, const std::vector<int>& codes) {
  const std::string mask = format_mask_tokens(codes);
  const std::string q = fill_template(t.pick("box_point_instruction", rng), {format_box(box), format_points(points)});
  return qa_pair(t, q, fill_template(t.pick("seg_response", rng), {mask}));
}

Conversation build_segmentation_n_tokens(const Templates& t, data::Pcg32& rng, const std::string& expr,
                                         const std::vector<int>& codes, const NormBox& box, const std::string& suffix) {
  const std::string mask = format_mask_tokens(codes);
  const std::string q =
      fill_template(t.pick("seg_len_instruction", rng), {expr, suffix, std::to_string(codes.size())});
  return qa_pair(t, q, fill_template(t.pick("seg_box_response", rng), {mask, format_box(box)}));
}

Conversation build_grounding(const Templates& t, data::Pcg32& rng, const std::string& expr, const NormBox& box) {
  const std::string q = fill_template(t.pick("ground_instruction", rng), {expr});
  return qa_pair(t, q, fill_template(t.pick("ground_response", rng), {format_box(box)}));
}

Conversation build_mask_perception(const Templates& t, data::Pcg32& rng, const std::vector<int>& codes,
                                   const std::vector<std::string>& options, int correct) {
  const std::string mask = format_mask_tokens(codes);
  const std::string opts = format_options(options);
  HIMTOK_CHECK_INPUT(correct >= 0 && correct < static_cast<int>(options.size()), "mask perception: correct option ",
                     correct, " is out of range, expected 0..", options.size() - 1);
  const std::string q = fill_template(t.pick("perception_instruction", rng), {mask, opts});
  const std::string letter(1, static_cast<char>('A' + correct));
  return qa_pair(t, q, fill_template(t.pick("perception_response", rng), {letter, options[static_cast<size_t>(correct)]}));
}

Conversation build_existence(const Templates& t, data::Pcg32& rng, const std::string& expr, bool exists) {
  const std::string q = fill_template(t.pick("exist_instruction", rng), {expr});
  return qa_pair(t, q, fill_template(t.pick(exists ? "exist_yes_response" : "exist_no_response", rng), {}));
}

Conversation build_qa(const Templates& t, data::Pcg32& rng, const std::string& question, const std::string& answer) {
  const std::string q = fill_template(t.pick("qa_instruction", rng), {question});
  return qa_pair(t, q, fill_template(t.pick("qa_response", rng), {answer}));
}

// ---------------------------------------------------------------------------------------------
// Chat

std::vector<ChatPiece> format_chat(const Templates& t, const Conversation& conv, const ChatOptions& opt,
                                   bool generation_prompt) {
  HIMTOK_CHECK_INPUT(!conv.turns.empty(), "conversation: no turns");
  HIMTOK_CHECK_INPUT(opt.n_image_tokens >= 0, "chat: n_image_tokens ", opt.n_image_tokens, " is negative");
  std::vector<ChatPiece> out;
  if (opt.use_system)
    out.push_back({fill_template(t.chat_system, {opt.system_override.empty() ? t.system_message : opt.system_override}),
                   false});
  for (size_t i = 0; i < conv.turns.size(); ++i) {
    const auto& turn = conv.turns[i];
    const char* expected = (i % 2 == 0) ? "human" : "gpt";
    HIMTOK_CHECK_INPUT(turn.from == expected, "conversation: turn ", i, " is from '", turn.from, "', expected '",
                       expected, "'");
    if (turn.from == "human") {
      std::string v = turn.value;
      if (i == 0) {
        size_t p = v.find(t.image_placeholder);
        if (opt.n_image_tokens > 0) {
          if (p == std::string::npos) {
            v = t.image_placeholder + "\n" + v;
            p = 0;
          }
          std::string img = t.image_start;
          img.reserve(img.size() + t.image_context.size() * static_cast<size_t>(opt.n_image_tokens) + t.image_end.size());
          for (int k = 0; k < opt.n_image_tokens; ++k) img += t.image_context;
          img += t.image_end;
          v.replace(p, t.image_placeholder.size(), img);
        } else if (p != std::string::npos) {  // text only: drop "<image>" and its newline
          size_t len = t.image_placeholder.size();
          if (p + len < v.size() && v[p + len] == '\n') ++len;
          v.erase(p, len);
        }
      }
      out.push_back({fill_template(t.chat_user, {v}), false});
    } else {
      out.push_back({t.chat_assistant_start, false});
      out.push_back({turn.value, true});
      out.push_back({t.chat_assistant_end, true});
    }
  }
  if (generation_prompt) {
    HIMTOK_CHECK_INPUT(conv.turns.size() % 2 == 1, "conversation: a generation prompt needs a last turn from 'human'");
    out.push_back({t.chat_assistant_start, false});
  }
  return out;
}

std::string join_pieces(const std::vector<ChatPiece>& pieces) {
  std::string s;
  for (const auto& p : pieces) s += p.text;
  return s;
}

std::string format_prompt(const Templates& t, const std::string& question, const ChatOptions& opt) {
  Conversation c;
  c.turns.push_back({"human", question});
  return join_pieces(format_chat(t, c, opt, /*generation_prompt=*/true));
}

EncodedChat encode_chat(const Vocab& vocab, const std::vector<ChatPiece>& pieces) {
  EncodedChat e;
  for (const auto& p : pieces) {
    const auto ids = vocab.encode(p.text);
    e.ids.insert(e.ids.end(), ids.begin(), ids.end());
    if (p.target)
      e.labels.insert(e.labels.end(), ids.begin(), ids.end());
    else
      e.labels.insert(e.labels.end(), ids.size(), kIgnoreLabel);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// jsonl

std::string convert_jsonl_record(const std::string& line, const MaskCodesFn& fn, const std::string& where) {
  ojson j;
  try {
    j = ojson::parse(line);
  } catch (const ojson::parse_error& e) {
    throw InputError(str_cat(where, ": invalid JSON (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(j.is_object() && j.contains("conversations") && j["conversations"].is_array(), where,
                     ": expected an object with an array 'conversations'");
  const std::string start = kMaskStart, end = kMaskEnd;
  for (auto& turn : j["conversations"]) {
    HIMTOK_CHECK_INPUT(turn.is_object() && turn.contains("value") && turn["value"].is_string(), where,
                       ": each conversation turn needs a string 'value'");
    std::string v = turn["value"].get<std::string>();
    const size_t s = v.find(start);
    if (s == std::string::npos) continue;
    const size_t e = v.find(end, s);
    HIMTOK_CHECK_INPUT(e != std::string::npos, where, ": <|mt_start|> without <|mt_end|>");
    parse_mask_tokens(v.substr(s, e + end.size() - s));  // the span must hold mask tokens only (InputError)
    HIMTOK_CHECK_INPUT(j.contains("mask") && j["mask"].is_string(), where, ": has mask tokens but no string 'mask'");
    std::string tokens;
    try {
      tokens = format_mask_tokens(fn(j["mask"].get<std::string>()));
    } catch (const InputError& err) {
      throw InputError(str_cat(where, ": ", err.what()));
    }
    v.replace(s, e + end.size() - s, tokens);
    turn["value"] = v;
    return j.dump();
  }
  return j.dump();
}

ConvertStats convert_himtok_jsonl(const std::string& in_path, const std::string& out_path, const MaskCodesFn& fn) {
  HIMTOK_CHECK_INPUT(fs::is_regular_file(in_path), in_path, ": no such file");
  std::ifstream in(in_path);
  HIMTOK_CHECK_INPUT(in.good(), in_path, ": cannot open");
  const std::string tmp = out_path + ".tmp";
  ConvertStats st;
  {
    std::ofstream out(tmp, std::ios::trunc);
    HIMTOK_CHECK_INPUT(out.good(), out_path, ": cannot write");
    std::string line;
    int64_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string converted = convert_jsonl_record(line, fn, str_cat(in_path, ":", lineno));
      ++st.n_records;
      if (converted != ojson::parse(line).dump()) ++st.n_converted;
      out << converted << '\n';
    }
    HIMTOK_CHECK_INPUT(out.good(), out_path, ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, out_path, ec);
  HIMTOK_CHECK_INPUT(!ec, out_path, ": cannot rename from ", tmp, " (", ec.message(), ")");
  return st;
}

Conversation parse_conversation_json(const std::string& line, const std::string& where) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    throw InputError(str_cat(where, ": invalid JSON (", e.what(), ")"));
  }
  HIMTOK_CHECK_INPUT(j.is_object() && j.contains("conversations") && j["conversations"].is_array(), where,
                     ": expected an object with an array 'conversations'");
  Conversation c;
  for (const auto& turn : j["conversations"]) {
    c.turns.push_back({get_string(turn, "from", where), get_string(turn, "value", where)});
    HIMTOK_CHECK_INPUT(c.turns.back().from == "human" || c.turns.back().from == "gpt", where, ": turn from '",
                       c.turns.back().from, "', expected 'human' or 'gpt'");
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Vocab corpus

std::vector<std::string> build_vocab_corpus(const Templates& t, int n_scenes, uint64_t seed) {
  HIMTOK_CHECK_INPUT(n_scenes >= 0, "vocab corpus: negative scene count ", n_scenes);
  data::Pcg32 rng(seed, /*stream=*/0xC0);
  std::vector<std::string> lines;
  auto random_codes = [&](int n) {
    std::vector<int> c(static_cast<size_t>(n));
    for (auto& v : c) v = static_cast<int>(rng.below(kCodebookSize));
    return c;
  };
  auto random_box = [&] {
    int a = rng.range(0, 900), b = rng.range(0, 900);
    return NormBox{a, b, a + rng.range(10, 1000 - a), b + rng.range(10, 1000 - b)};
  };
  auto random_points = [&] {
    std::vector<NormPoint> p(1 + rng.below(3));
    for (auto& q : p) q = {rng.range(0, 1000), rng.range(0, 1000)};
    return p;
  };
  auto add = [&](const Conversation& c) {
    for (const auto& turn : c.turns) lines.push_back(turn.value);
  };
  // Chat skeleton, system message, every template once.
  lines.push_back(t.system_message);
  for (const auto& p : format_chat(t, qa_pair(t, "Hello?", "Hi."), ChatOptions{4, true, ""})) lines.push_back(p.text);
  for (const auto& [name, g] : t.groups)
    for (const auto& tmpl : g.templates) {
      std::vector<std::string> vals;
      for (const auto& slot : g.slots) {
        if (slot == "mask") vals.push_back(format_mask_tokens(random_codes(kNumMaskTokens)));
        else if (slot == "box") vals.push_back(format_box(random_box()));
        else if (slot == "points") vals.push_back(format_points(random_points()));
        else if (slot == "n_tokens") vals.push_back(std::to_string(4 << rng.below(4)));
        else if (slot == "letter") vals.push_back(std::string(1, static_cast<char>('A' + rng.below(4))));
        else if (slot == "options") vals.push_back(format_options({"the red circle", "the blue square", "all stars", "the small object"}));
        else if (slot == "suffix") vals.push_back("");
        else vals.push_back("the small red circle");
      }
      lines.push_back(fill_template(tmpl, vals));
    }
  // Samples over train scenes.
  data::SceneOptions so;
  so.size = 64;  // language only: the image is not used
  for (int i = 0; i < n_scenes; ++i) {
    const uint64_t index = data::splitmix64(seed + static_cast<uint64_t>(i)) % 1000000000ull;
    const data::Scene sc = data::generate_scene(data::SceneSplit::kTrain, index, so);
    for (size_t ei = 0; ei < sc.expressions.size(); ++ei) {
      const auto& e = sc.expressions[ei];
      const NormBox box = random_box();
      if (e.kind == data::ExprKind::kNone) {
        add(rng.chance(0.5) ? build_segmentation_none(t, rng, e.text) : build_existence(t, rng, e.text, false));
        continue;
      }
      switch (rng.below(6)) {
        case 0: add(build_segmentation(t, rng, e.text, random_codes(kNumMaskTokens))); break;
        case 1: add(build_segmentation_box(t, rng, e.text, random_codes(kNumMaskTokens), box)); break;
        case 2: add(build_segmentation_n_tokens(t, rng, e.text, random_codes(4 << rng.below(4)), box)); break;
        case 3: add(build_grounding(t, rng, e.text, box)); break;
        case 4: add(build_existence(t, rng, e.text, true)); break;
        default:
          if (e.targets.size() == 1) {
            const auto po = data::perception_options(sc, static_cast<int>(ei), so, 4, rng);
            add(build_mask_perception(t, rng, random_codes(kNumMaskTokens), po.options, po.correct));
          } else {
            add(build_box_point_prompted(t, rng, box, random_points(), random_codes(kNumMaskTokens)));
          }
      }
    }
    for (const auto& q : sc.questions) add(build_qa(t, rng, q.question, q.answer));
  }
  return lines;
}

}  // namespace himtok::lmm
