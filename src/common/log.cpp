#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace himtok::log {
namespace {
Level g_level = Level::kInfo;
std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> lg = [] {
    auto l = spdlog::stderr_color_mt("himtok");
    l->set_pattern("himtok: %^%l%$: %v");
    l->set_level(spdlog::level::trace);
    return l;
  }();
  return lg;
}
}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void write(Level lvl, const std::string& msg) {
  if (static_cast<int>(lvl) < static_cast<int>(g_level)) return;
  switch (lvl) {
    case Level::kDebug: logger()->debug(msg); break;
    case Level::kInfo: logger()->info(msg); break;
    case Level::kWarn: logger()->warn(msg); break;
    case Level::kError: logger()->error(msg); break;
  }
}

}  // namespace himtok::log
