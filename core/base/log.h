// Leveled logging: one line per event to stderr,
//   2026-11-30T15:50:26.123Z info  listening on unix:///run/berth.sock
// Thread-safe: each line is formatted into one buffer and written with a
// single write(2), so lines from different threads never interleave.
#pragma once

#include <string_view>

#include "core/base/strings.h"

namespace berth::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level l);
Level level();
// "debug", "info", "warn"/"warning", "error", "fatal"/"off"; false on junk.
bool parse_level(std::string_view s, Level* out);
void write(Level l, std::string_view message);

template <class... Args>
void debug(const Args&... a) {
  if (level() <= Level::debug) write(Level::debug, str_cat(a...));
}
template <class... Args>
void info(const Args&... a) {
  if (level() <= Level::info) write(Level::info, str_cat(a...));
}
template <class... Args>
void warn(const Args&... a) {
  if (level() <= Level::warn) write(Level::warn, str_cat(a...));
}
template <class... Args>
void error(const Args&... a) {
  if (level() <= Level::error) write(Level::error, str_cat(a...));
}

}  // namespace berth::log
