// Subcommand registry of the himtok CLI. Each cli/cmd_<verb>.cpp registers itself:
//
//   static int run_encode(const EncodeArgs& a) { ... return 0; }
//   HIMTOK_COMMAND(encode, 10) {            // name, order in --help
//     auto* sub = app.add_subcommand("encode", "Encode masks into mask tokens");
//     auto a = std::make_shared<EncodeArgs>();
//     sub->add_option(...);
//     return [a] { return run_encode(*a); };
//   }
//
// cli/ files are compiled into the executable itself (not a static library), so the static
// registration objects are always linked. Only cli/main.cpp catches errors and chooses exit codes.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace himtok::cli {

using Runner = std::function<int()>;
using Setup = Runner (*)(CLI::App& app);

struct Registration {
  Registration(const char* name, int order, Setup setup);
};

struct Entry {
  const char* name;
  int order;
  Setup setup;
};
std::vector<Entry>& registry();

// Options shared by the commands that load a tokenizer.
struct ModelArgs {
  std::string model;
  std::string config;
  std::string prefix = "auto";
  int threads = 0;
  std::string device = "cpu";
  std::string dtype = "fp32";
};
void add_model_options(CLI::App* sub, ModelArgs& a, bool model_required = true);

// "WxH" -> (w, h); InputError otherwise.
std::pair<int64_t, int64_t> parse_size(const std::string& s);

}  // namespace himtok::cli

#define HIMTOK_COMMAND(name, order)                                                        \
  static ::himtok::cli::Runner himtok_setup_##name(CLI::App& app);                         \
  static ::himtok::cli::Registration himtok_reg_##name(#name, order, &himtok_setup_##name); \
  static ::himtok::cli::Runner himtok_setup_##name(CLI::App& app)
