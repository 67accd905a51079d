// himtok plot-metrics: training curves (PNG) from a run's metrics.jsonl.
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "io/draw.h"
#include "io/image.h"

namespace himtok::cli {
namespace {

struct PlotArgs {
  std::vector<std::string> metrics;
  std::string out, title = "training";
  std::vector<std::string> keys{"loss", "loss_full", "loss_levels"};
  std::vector<std::string> eval_keys{"miou_1", "miou_4", "miou_8", "miou_32"};
  bool log_y = false;
};

const io::Rgb kColors[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                           {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

int run_plot(const PlotArgs& a) {
  std::vector<io::Series> loss, eval;
  size_t color = 0;
  for (const auto& path : a.metrics) {
    std::ifstream f(path);
    HIMTOK_CHECK_INPUT(f.good(), path, ": cannot read");
    std::map<std::string, io::Series> by_key;
    std::string line;
    int64_t lineno = 0;
    while (std::getline(f, line)) {
      ++lineno;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception&) {
        throw InputError(str_cat(path, ":", lineno, ": not JSON"));
      }
      if (!j.contains("step")) continue;
      double step = j["step"].get<double>();
      const auto& keys = j.value("eval", false) ? a.eval_keys : a.keys;
      for (const auto& k : keys)
        if (j.contains(k) && j[k].is_number()) {
          auto& s = by_key[k];
          s.x.push_back(step);
          s.y.push_back(j[k].get<double>());
        }
    }
    for (auto& [k, s] : by_key) {
      s.name = a.metrics.size() > 1 ? path.substr(path.rfind('/', path.rfind('/') - 1) + 1, 12) + " " + k : k;
      s.color = kColors[color++ % 8];
      bool is_eval = std::find(a.eval_keys.begin(), a.eval_keys.end(), k) != a.eval_keys.end();
      // Smooth the per-step losses a little (window 5) for readability.
      if (!is_eval && s.y.size() > 10) {
        std::vector<double> sm(s.y.size());
        for (size_t i = 0; i < s.y.size(); ++i) {
          double acc = 0;
          int n = 0;
          for (size_t j = i >= 4 ? i - 4 : 0; j <= i; ++j) acc += s.y[j], ++n;
          sm[i] = acc / n;
        }
        s.y = sm;
      }
      (is_eval ? eval : loss).push_back(s);
    }
  }
  HIMTOK_CHECK_INPUT(!loss.empty() || !eval.empty(), "plot-metrics: no known metric in the given files");
  // One panel per kind of metric present (runs without evaluations, e.g. the LMM's, get one).
  std::vector<Image> panels;
  if (!loss.empty()) panels.push_back(io::line_chart(loss, a.title + ": training loss", "step", 360, 800, a.log_y));
  if (!eval.empty())
    panels.push_back(io::line_chart(eval, a.title + ": validation mIoU by token count", "step", 360, 800, false));
  int64_t h = 0;
  for (const auto& p : panels) h += p.h;
  Image img = io::make_canvas(h, 800);
  int64_t y = 0;
  for (const auto& p : panels) {
    io::paste(img, p, 0, y, p.w, p.h);
    y += p.h;
  }
  io::save_image(a.out, img);
  log::info("wrote " + a.out);
  return 0;
}

}  // namespace

HIMTOK_COMMAND(plot_metrics, 80) {
  auto a = std::make_shared<PlotArgs>();
  auto* sub = app.add_subcommand("plot-metrics", "Draw training curves (PNG) from metrics.jsonl files");
  sub->add_option("metrics", a->metrics, "metrics.jsonl of one or more runs")->required();
  sub->add_option("-o,--out", a->out, "Output PNG")->required();
  sub->add_option("--title", a->title, "Chart title")->capture_default_str();
  sub->add_option("--keys", a->keys, "Per-step keys to draw")->capture_default_str();
  sub->add_option("--eval-keys", a->eval_keys, "Evaluation keys to draw")->capture_default_str();
  sub->add_flag("--log-y", a->log_y, "Logarithmic loss axis");
  return [a] { return run_plot(*a); };
}

}  // namespace himtok::cli
