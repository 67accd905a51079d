// Prompt/response templates (paper Appendix G, Tables 13-19, as data in configs/templates.json),
// the sample builders for each task, the internvl2_5 chat format, and the HiMTok jsonl converter.
// No libtorch.
//
// Strings produced here:
//   mask    "<|mt_start|><|mt_12|>...<|mt_end|>"        (1..32 codes in [0, 1024))
//   box     "[[x1, y1, x2, y2]]" inside "<box>...</box>" (ints in 0..1000, see normalize_box)
//   points  "[[x, y], [x, y]]"                           (ints in 0..1000, see normalize_point)
//   options "A. the red circle\nB. all stars\n..."       (mask perception, letters A..E)
// Every builder returns a Conversation whose first human turn starts with "<image>\n", as in the
// official jsonl; templates are drawn with the caller's Pcg32, so a sample is reproducible.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/scene_rng.h"

namespace himtok::lmm {

class Vocab;

struct Turn {
  std::string from;  // "human" | "gpt" (HiMTok jsonl)
  std::string value;
};
struct Conversation {
  std::vector<Turn> turns;
};

// ---------------------------------------------------------------------------------------------
// Templates

struct TemplateGroup {
  std::string source;                    // provenance ("paper Table 14", "ours", ...)
  std::vector<std::string> slots;        // slot names, one per "{}" in each template
  std::vector<std::string> templates;
};

struct Templates {
  int version = 0;
  std::string origin;  // file path, or "builtin"
  std::string system_message;
  std::string chat_system, chat_user, chat_assistant_start, chat_assistant_end;  // "{}" = content
  std::string image_placeholder, image_start, image_context, image_end;
  std::map<std::string, TemplateGroup> groups;

  // Parses the JSON text; InputError (naming `origin`) on bad JSON, a missing or unknown group, a
  // template whose "{}" count differs from the group's slot count, or a wrong format/version.
  static Templates parse(const std::string& json_text, const std::string& origin);
  static Templates load(const std::string& path);  // InputError if missing
  static Templates builtin();                       // the copy of configs/templates.json embedded at build time
  // `path` non-empty: load it. Otherwise the first that exists of $HIMTOK_TEMPLATES,
  // <dir of the executable>/../configs/templates.json, <dir of the executable>/configs/templates.json,
  // and else builtin().
  static Templates resolve(const std::string& path = "");

  const TemplateGroup& group(const std::string& name) const;  // std::logic_error if unknown
  const std::string& pick(const std::string& group_name, data::Pcg32& rng) const;
};

// The groups every template file must define, with their slot counts.
const std::map<std::string, int>& template_schema();

// Fills the "{}" slots in order (values are not rescanned). std::logic_error if the counts differ.
std::string fill_template(const std::string& tmpl, const std::vector<std::string>& values);

// ---------------------------------------------------------------------------------------------
// Formatting

// "<|mt_start|><|mt_a|>...<|mt_end|>"; InputError if codes is empty, longer than 32, or a code is
// outside [0, 1024).
std::string format_mask_tokens(const std::vector<int>& codes);
// n copies of <|mt_0|> between start and end: the official training-data placeholder.
std::string placeholder_mask_tokens(int n = 32);

// Boxes and points in InternVL's 0..1000 normalised integers.
// normalize_box takes pixel-edge coordinates (x0, y0) top-left corner, (x1, y1) = bottom-right
// corner = last pixel + 1 (data::PixelBox), and maps v -> floor(1000 * v / W + 0.5) (round half up),
// clamped to [0, 1000]: the whole image is [[0, 0, 1000, 1000]] and a box edge is within 0.5/1000
// of the image width of its true place. InputError if W or H <= 0.
struct NormBox {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  bool operator==(const NormBox& o) const { return x1 == o.x1 && y1 == o.y1 && x2 == o.x2 && y2 == o.y2; }
};
struct NormPoint {
  int x = 0, y = 0;
};
NormBox normalize_box(double x0, double y0, double x1, double y1, int64_t w, int64_t h);
// A point in continuous pixel coordinates (pixel (px, py) has its centre at (px + 0.5, py + 0.5)).
NormPoint normalize_point(double x, double y, int64_t w, int64_t h);
// Back to pixel-edge coordinates: v * W / divisor (1000 ours and InternVL's; the official HiMTok
// REC eval divides by 999, see response.h :: official_rec_box).
std::array<double, 4> denormalize_box(const NormBox& b, int64_t w, int64_t h, double divisor = 1000.0);
std::string format_box(const NormBox& b);                      // "[[x1, y1, x2, y2]]"
std::string format_points(const std::vector<NormPoint>& pts);  // "[[x, y], [x, y]]"
// "A. text\nB. text..." (2..5 options).
std::string format_options(const std::vector<std::string>& options);

// ---------------------------------------------------------------------------------------------
// Sample builders (one per task of the paper). `codes` are mask-token codes (1..32 of them).

// Referring segmentation: seg_instruction / seg_response (Table 17).
Conversation build_segmentation(const Templates& t, data::Pcg32& rng, const std::string& expression,
                                const std::vector<int>& codes);
// No-target segmentation, answered without mask tokens: seg_instruction / seg_none_response.
Conversation build_segmentation_none(const Templates& t, data::Pcg32& rng, const std::string& expression);
// Segmentation then box (mask -> box): Tables 13 / 14.
Conversation build_segmentation_box(const Templates& t, data::Pcg32& rng, const std::string& expression,
                                    const std::vector<int>& codes, const NormBox& box);
// Box-prompted (box_instruction), point-prompted (Table 16) and box+point-prompted (Table 15)
// segmentation; responses from Table 17.
Conversation build_box_prompted(const Templates& t, data::Pcg32& rng, const NormBox& box, const std::vector<int>& codes);
Conversation build_point_prompted(const Templates& t, data::Pcg32& rng, const std::vector<NormPoint>& points,
                                  const std::vector<int>& codes);
Conversation build_box_point_prompted(const Templates& t, data::Pcg32& rng, const NormBox& box,
                                      const std::vector<NormPoint>& points, const std::vector<int>& codes);
// Segmentation with a requested token count (Table 18; n = codes.size()), answered as Table 14.
// `suffix` fills Table 18's unexplained second slot (default empty).
Conversation build_segmentation_n_tokens(const Templates& t, data::Pcg32& rng, const std::string& expression,
                                         const std::vector<int>& codes, const NormBox& box,
                                         const std::string& suffix = "");
// Visual grounding without mask tokens (Table 19).
Conversation build_grounding(const Templates& t, data::Pcg32& rng, const std::string& expression, const NormBox& box);
// Mask perception (Appendix D): the mask in the question, options A.., answer "B. text".
Conversation build_mask_perception(const Templates& t, data::Pcg32& rng, const std::vector<int>& codes,
                                   const std::vector<std::string>& options, int correct);
// Existence question (GRES flow), answered "Yes." / "No.".
Conversation build_existence(const Templates& t, data::Pcg32& rng, const std::string& expression, bool exists);
// A question without mask (count, colour, position...).
Conversation build_qa(const Templates& t, data::Pcg32& rng, const std::string& question, const std::string& answer);

// ---------------------------------------------------------------------------------------------
// Chat format (internvl2_5)

struct ChatOptions {
  int n_image_tokens = 256;      // <IMG_CONTEXT> count (256 per 448px tile in InternVL 2.5)
  bool use_system = true;        // false: no system turn
  std::string system_override;   // non-empty: replaces Templates::system_message
};

// A piece of the formatted conversation; `target` pieces are the assistant's text + "<|im_end|>\n"
// (what InternVL trains on).
struct ChatPiece {
  std::string text;
  bool target = false;
};

// system?, then user/assistant turns in order. The first "<image>" of the first human turn is
// expanded (prepending "<image>\n" if the turn has none). With `generation_prompt`, a trailing
// "<|im_start|>assistant\n" is added (the conversation should then end with a human turn).
// InputError if turns do not alternate human/gpt starting with human.
std::vector<ChatPiece> format_chat(const Templates& t, const Conversation& conv, const ChatOptions& opt,
                                   bool generation_prompt = false);
std::string join_pieces(const std::vector<ChatPiece>& pieces);
// The inference prompt for one question: system + user(question) + "<|im_start|>assistant\n".
std::string format_prompt(const Templates& t, const std::string& question, const ChatOptions& opt);

struct EncodedChat {
  std::vector<int> ids;
  std::vector<int> labels;  // ids at target pieces, kIgnoreLabel elsewhere
};
constexpr int kIgnoreLabel = -100;
EncodedChat encode_chat(const Vocab& vocab, const std::vector<ChatPiece>& pieces);

// ---------------------------------------------------------------------------------------------
// HiMTok jsonl ({"image", "mask", "conversations": [{"from", "value"}]}) -> real mask tokens

// Given the record's "mask" value (as stored, e.g. "masks/0.png"), returns its 1..32 codes.
using MaskCodesFn = std::function<std::vector<int>(const std::string& mask_path)>;

// Replaces the first "<|mt_start|>...<|mt_end|>" span of the conversation (turns in order; the
// human turn first, so mask-perception questions are covered) by format_mask_tokens(fn(mask)), as
// the official convert_mask2tokens.py / replace_titok_tokens do; further spans are left alone.
// A record without a span is returned unchanged (fn is not called). Keys and their order are kept.
// InputError (naming `where`) on bad JSON, a span with anything but mask tokens, or a span
// without a "mask" key.
std::string convert_jsonl_record(const std::string& json_line, const MaskCodesFn& fn, const std::string& where);

struct ConvertStats {
  int64_t n_records = 0, n_converted = 0;
};
// Every non-empty line of in_path, written to out_path (atomic: temp file + rename).
ConvertStats convert_himtok_jsonl(const std::string& in_path, const std::string& out_path, const MaskCodesFn& fn);

// Parses a HiMTok jsonl record's conversations. InputError on bad JSON or fields.
Conversation parse_conversation_json(const std::string& json_line, const std::string& where);

// ---------------------------------------------------------------------------------------------
// A text corpus for Vocab::train: every template with example fillings, the chat markers and system
// message, and samples of every task over n_scenes train scenes (data::generate_scene) with random
// mask codes. Deterministic in (n_scenes, seed).
std::vector<std::string> build_vocab_corpus(const Templates& t, int n_scenes, uint64_t seed);

}  // namespace himtok::lmm
