// himtok: command-line entry point. The only place that catches errors and picks exit codes:
//   0 success; 2 bad input (InputError, CLI parse errors); 1 anything else (our bugs, libtorch).
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"
#include "nn/cpu_allocator.h"

namespace himtok::cli {

std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}

Registration::Registration(const char* name, int order, Setup setup) { registry().push_back({name, order, setup}); }

void add_model_options(CLI::App* sub, ModelArgs& a, bool model_required) {
  auto* m = sub->add_option("--model,-m", a.model, "Tokenizer weights (.safetensors, HF folder/index, or .pth)");
  if (model_required) m->required();
  sub->add_option("--config", a.config,
                  "Preset (official-large, small, tiny, micro) or JSON config, for weight files that carry none");
  sub->add_option("--prefix", a.prefix, "Key prefix in the weights: auto, '' or 'mask_decoder.'")->capture_default_str();
  sub->add_option("--threads", a.threads, "CPU threads (0: all cores)")->capture_default_str();
  sub->add_option("--device", a.device, "cpu or cuda")->capture_default_str();
  sub->add_option("--dtype", a.dtype, "fp32 or bf16")->capture_default_str();
}

std::pair<int64_t, int64_t> parse_size(const std::string& s) {
  auto x = s.find('x');
  HIMTOK_CHECK_INPUT(x != std::string::npos && x > 0 && x + 1 < s.size(), "--size: '", s, "' is not WxH");
  try {
    size_t p1 = 0, p2 = 0;
    int64_t w = std::stoll(s.substr(0, x), &p1), h = std::stoll(s.substr(x + 1), &p2);
    HIMTOK_CHECK_INPUT(p1 == x && p2 == s.size() - x - 1 && w > 0 && h > 0 && w <= 65536 && h <= 65536, "--size: '", s,
                       "' is not WxH with positive sizes");
    return {w, h};
  } catch (const std::logic_error&) {
    throw InputError(str_cat("--size: '", s, "' is not WxH"));
  }
}

}  // namespace himtok::cli

static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

int main(int argc, char** argv) {
  using namespace himtok;
  CLI::App app{"himtok: HiMTok hierarchical mask tokens in C++ (tokenizer, training, LMM, evaluation)"};
  app.set_version_flag("--version", "himtok 0.1.0");
  app.require_subcommand(1);
  bool verbose = false, quiet = false;
  app.add_flag("--verbose,-v", verbose, "Debug logging");
  app.add_flag("--quiet,-q", quiet, "Warnings and errors only");
  auto entries = cli::registry();
  std::sort(entries.begin(), entries.end(), [](const cli::Entry& a, const cli::Entry& b) { return a.order < b.order; });
  std::vector<std::pair<CLI::App*, cli::Runner>> runners;
  for (auto& e : entries) {
    size_t before = app.get_subcommands({}).size();
    cli::Runner r = e.setup(app);
    auto subs = app.get_subcommands({});
    runners.emplace_back(subs.size() > before ? subs.back() : nullptr, std::move(r));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "himtok: error: %s\n", first_line(e.what()).c_str());
    return 2;
  }
  if (verbose) log::set_level(log::Level::kDebug);
  if (quiet) log::set_level(log::Level::kWarn);
  try {
    nn::use_caching_cpu_allocator();  // before any tensor: see nn/cpu_allocator.h
    for (auto& [sub, run] : runners)
      if (sub && sub->parsed()) return run();
    return 2;
  } catch (const InputError& e) {
    std::fprintf(stderr, "himtok: error: %s\n", first_line(e.what()).c_str());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "himtok: error: %s\n", first_line(e.what_without_backtrace()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "himtok: error: %s\n", first_line(e.what()).c_str());
    return 1;
  }
}
