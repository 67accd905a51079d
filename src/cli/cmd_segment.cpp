// himtok segment: ask the LMM to segment, print its response, write the mask and an overlay.
//   himtok segment --model M --image IMG --prompt "Segment <ref>the small red circle</ref>." -o mask.png
//   himtok segment --model M --scene test:3 --expression "the small red circle" --overlay overlay.png
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "data/scenes.h"
#include "io/draw.h"
#include "io/image.h"
#include "lmm/segment.h"
#include "tokenizer/tokenizer.h"

namespace himtok::cli {
namespace {

struct SegmentArgs {
  std::string model, image, scene, prompt, expression, out, overlay, save_image;
  uint64_t scene_seed = 0;
  int scene_size = 224;
  bool from_ids = false, gres = false;
  int tokens = 32, threads = 0, max_new_tokens = 128;
};

// "test:3" -> (split, index).
std::pair<data::SceneSplit, uint64_t> parse_scene(const std::string& s) {
  const auto c = s.find(':');
  HIMTOK_CHECK_INPUT(c != std::string::npos && c > 0 && c + 1 < s.size(), "--scene: '", s, "' is not SPLIT:INDEX");
  const data::SceneSplit split = data::parse_split(s.substr(0, c));
  try {
    size_t used = 0;
    const unsigned long long i = std::stoull(s.substr(c + 1), &used);
    HIMTOK_CHECK_INPUT(used == s.size() - c - 1 && i < 1000000000ull, "--scene: bad index in '", s, "'");
    return {split, i};
  } catch (const std::logic_error&) {
    throw InputError(str_cat("--scene: bad index in '", s, "'"));
  }
}

int run_segment(const SegmentArgs& a) {
  HIMTOK_CHECK_INPUT(a.image.empty() != a.scene.empty(), "give exactly one of --image and --scene");
  HIMTOK_CHECK_INPUT(a.prompt.empty() || a.expression.empty(), "--prompt and --expression are exclusive");
  HIMTOK_CHECK_INPUT(!a.gres || !a.expression.empty(), "--gres needs --expression");
  Image img;
  std::string expression = a.expression;
  if (!a.image.empty()) {
    img = io::load_image(a.image, 3);
  } else {
    auto [split, index] = parse_scene(a.scene);
    data::SceneOptions so;
    so.seed = a.scene_seed;
    so.size = a.scene_size;
    const data::Scene sc = data::generate_scene(split, index, so);
    img = sc.image;
    if (a.prompt.empty() && expression.empty()) {
      expression = sc.expressions.front().text;
      log::info(str_cat("--scene ", a.scene, ": using its first expression '", expression, "'"));
    }
  }
  HIMTOK_CHECK_INPUT(!a.prompt.empty() || !expression.empty(), "give --prompt or --expression");
  tok::set_threads(a.threads);
  const lmm::Segmenter seg = lmm::Segmenter::load(a.model);
  lmm::SegmentOptions opt;
  opt.n_tokens = a.tokens;
  opt.from_ids = a.from_ids;
  opt.max_new_tokens = a.max_new_tokens;

  Mask mask;
  if (a.gres) {
    auto r = seg.gres({&img}, {expression}, opt);
    std::printf("%s\n", r[0].exist_response.c_str());
    if (r[0].segmented) {
      std::printf("%s\n", r[0].seg.response.c_str());
      for (const auto& w : r[0].seg.warnings) log::warn(w);
    }
    mask = r[0].mask;
  } else {
    const std::string q = a.prompt.empty() ? seg.segment_question(expression) : a.prompt;
    const lmm::SegmentResult r = seg.run(img, q, opt);
    std::printf("%s\n", r.response.c_str());
    for (const auto& w : r.warnings) log::warn(w);
    if (r.has_mask())
      log::info(str_cat("mask: ", r.n_decoded, " tokens decoded (", r.from_ids ? "ids" : "logits", "), ",
                        r.mask.area(), " of ", r.mask.h * r.mask.w, " pixels"));
    mask = r.mask;
  }
  std::fflush(stdout);
  if (!a.out.empty()) io::save_mask(a.out, mask);
  if (!a.overlay.empty()) io::save_image(a.overlay, io::overlay_mask(img, mask, {255, 0, 255}, 0.5));
  if (!a.save_image.empty()) io::save_image(a.save_image, img);
  return 0;
}

}  // namespace

HIMTOK_COMMAND(segment, 50) {
  auto a = std::make_shared<SegmentArgs>();
  auto* sub = app.add_subcommand("segment", "Segment with the HiMTok LMM: print the response, write the mask");
  sub->add_option("--model,-m", a->model, "LMM file (himtok train-lmm's model.safetensors)")->required();
  sub->add_option("--image", a->image, "Input image (PNG, JPEG, ...)");
  sub->add_option("--scene", a->scene, "Use a generated scene instead of --image: SPLIT:INDEX, e.g. test:3");
  sub->add_option("--scene-seed", a->scene_seed, "Scene generator seed (0: the fixed splits)")->capture_default_str();
  sub->add_option("--scene-size", a->scene_size, "Scene side in pixels")->capture_default_str();
  sub->add_option("--prompt,-p", a->prompt, "The question, e.g. \"Segment <ref>the small red circle</ref>.\"");
  sub->add_option("--expression,-e", a->expression, "A referring expression; the prompt becomes \"Segment <ref>E</ref>.\"");
  sub->add_flag("--gres", a->gres, "Ask whether --expression exists first; segment only on yes (GRES flow)");
  sub->add_option("-o,--out", a->out, "Write the mask (PNG, image size, 0/255)");
  sub->add_option("--overlay", a->overlay, "Write the image with the mask overlaid (PNG)");
  sub->add_option("--save-image", a->save_image, "Write the input image (useful with --scene)");
  sub->add_flag("--from-ids", a->from_ids, "Decode the generated mask token ids instead of the logits");
  sub->add_option("--tokens", a->tokens, "Decode the first N mask tokens (1..32)")->capture_default_str();
  sub->add_option("--max-new-tokens", a->max_new_tokens, "Generation budget")->capture_default_str();
  sub->add_option("--threads", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  return [a] { return run_segment(*a); };
}

}  // namespace himtok::cli
