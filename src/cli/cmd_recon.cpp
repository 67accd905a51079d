// himtok recon: reconstruction quality of a tokenizer per token count, next to non-learned codecs
// at the same bit budget.
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "common/progress.h"
#include "data/mask_source.h"
#include "eval/recon.h"
#include "io/draw.h"
#include "io/image.h"
#include "tokenizer/tokenizer.h"

namespace himtok::cli {
namespace {

struct ReconArgs {
  ModelArgs model;
  std::string masks, json, grid, tokens = "1,2,4,8,16,32", codecs = "bitmap,box,boxgrid,polygon";
  int64_t limit = 0;
  bool no_model = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t c = s.find(',', p);
    std::string part = s.substr(p, c == std::string::npos ? std::string::npos : c - p);
    if (!part.empty()) out.push_back(part);
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return out;
}

Image grid_picture(const eval::ReconResult& r, const std::vector<int64_t>& tokens) {
  const int64_t cell = 96, gap = 4, top = 24, left = 4;
  const int64_t cols = 1 + static_cast<int64_t>(tokens.size()), rows = static_cast<int64_t>(r.grid_targets.size());
  Image img = io::make_canvas(top + rows * (cell + gap), left + cols * (cell + gap), {250, 250, 250});
  io::draw_text(img, left + 20, 6, "input", {30, 30, 30}, 1);
  for (size_t t = 0; t < tokens.size(); ++t)
    io::draw_text(img, left + static_cast<int64_t>(t + 1) * (cell + gap) + 20, 6, std::to_string(tokens[t]) + " tok",
                  {30, 30, 30}, 1);
  for (int64_t i = 0; i < rows; ++i) {
    int64_t y = top + i * (cell + gap);
    io::paste(img, io::gray_from_mask(r.grid_targets[static_cast<size_t>(i)]), left, y, cell, cell);
    for (size_t t = 0; t < r.grid_decodes[static_cast<size_t>(i)].size(); ++t)
      io::paste(img, io::gray_from_mask(r.grid_decodes[static_cast<size_t>(i)][t]),
                left + static_cast<int64_t>(t + 1) * (cell + gap), y, cell, cell);
  }
  return img;
}

int run_recon(const ReconArgs& a) {
  eval::ReconOptions opt;
  opt.tokens.clear();
  for (auto& t : split(a.tokens)) {
    int64_t v = 0;
    try {
      v = std::stoll(t);
    } catch (...) {
      throw InputError(str_cat("--tokens: '", t, "' is not a number"));
    }
    HIMTOK_CHECK_INPUT(v >= 1 && v <= 32, "--tokens: ", v, " is outside 1..32");
    opt.tokens.push_back(v);
  }
  opt.codecs = split(a.codecs);
  // Checked before the masks are read and evaluated, not after.
  HIMTOK_CHECK_INPUT(a.grid.empty() || !a.no_model, "--grid needs --model");
  HIMTOK_CHECK_INPUT(a.no_model || !a.model.model.empty(), "recon: give --model M (or --no-model for the codecs alone)");
  std::ofstream json_out;  // opened now, so that an unwritable path fails before the evaluation
  if (!a.json.empty()) {
    json_out.open(a.json);
    HIMTOK_CHECK_INPUT(json_out.good(), a.json, ": cannot write");
  }
  auto src = data::open_mask_source(a.masks);
  int64_t n = static_cast<int64_t>(src->size());
  if (a.limit > 0) n = std::min(n, a.limit);
  std::vector<Mask> masks;
  for (int64_t i = 0; i < n; ++i) masks.push_back(src->get(static_cast<size_t>(i)).mask);
  log::info(str_cat("recon: ", src->describe(), "; evaluating ", n, " masks"));
  std::unique_ptr<tok::MaskTokenizer> tk;
  if (!a.no_model) {
    tok::LoadOptions lo;
    lo.weights = a.model.model;
    lo.config = a.model.config;
    lo.prefix = a.model.prefix;
    lo.threads = a.model.threads;
    lo.device = a.model.device;
    lo.dtype = a.model.dtype;
    tk = std::make_unique<tok::MaskTokenizer>(tok::MaskTokenizer::load(lo));
  }
  Progress bar(n, "recon");
  auto res = eval::run_recon(tk.get(), masks, opt, [&](int64_t d, int64_t) { bar.update(d); });
  bar.finish();
  std::printf("%s", eval::format_recon_table(res).c_str());
  if (!a.json.empty()) {
    for (auto& row : res.rows) json_out << row.to_json() << "\n";
    if (tk) json_out << "{\"codec\": \"himtok\", \"codebook_usage\": " << res.codebook_usage << ", \"codes_used\": " << res.codes_used << "}\n";
    log::info("wrote " + a.json);
  }
  if (!a.grid.empty()) {
    io::save_image(a.grid, grid_picture(res, opt.tokens));
    log::info("wrote " + a.grid);
  }
  return 0;
}

}  // namespace

HIMTOK_COMMAND(recon, 30) {
  auto a = std::make_shared<ReconArgs>();
  auto* sub = app.add_subcommand("recon", "Reconstruction quality per token count vs codecs at equal bits");
  add_model_options(sub, a->model, /*model_required=*/false);
  sub->add_option("--masks", a->masks, "Mask source: folder, palette:DIR, COCO .json, HiMTok .jsonl, synthetic:N")->required();
  sub->add_option("--tokens", a->tokens, "Token counts")->capture_default_str();
  sub->add_option("--codecs", a->codecs, "Non-learned codecs to compare")->capture_default_str();
  sub->add_option("--limit", a->limit, "Evaluate only the first N masks");
  sub->add_option("--json", a->json, "JSON lines, one per codec and token count");
  sub->add_option("--grid", a->grid, "PNG of sample masks across token counts");
  sub->add_flag("--no-model", a->no_model, "Evaluate the codecs alone");
  return [a] { return run_recon(*a); };
}

}  // namespace himtok::cli
