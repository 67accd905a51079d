// Logging: everything goes to stderr (results go to stdout). Thin wrapper over spdlog so that the
// rest of the code does not depend on its headers' details.
#pragma once
#include <string>

namespace himtok::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void set_level(Level level);
Level level();
void write(Level level, const std::string& msg);

inline void debug(const std::string& m) { write(Level::kDebug, m); }
inline void info(const std::string& m) { write(Level::kInfo, m); }
inline void warn(const std::string& m) { write(Level::kWarn, m); }
inline void error(const std::string& m) { write(Level::kError, m); }

}  // namespace himtok::log
