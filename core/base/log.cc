#include "core/base/log.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace berth::log {

static std::atomic<Level> g_level{Level::info};

void set_level(Level l) {
  g_level.store(l, std::memory_order_relaxed);
}
Level level() {
  return g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view s, Level* out) {
  if (s == "debug")
    *out = Level::debug;
  else if (s == "info")
    *out = Level::info;
  else if (s == "warn" || s == "warning")
    *out = Level::warn;
  else if (s == "error")
    *out = Level::error;
  else if (s == "fatal" || s == "off")
    *out = Level::off;
  else
    return false;
  return true;
}

void write(Level l, std::string_view message) {
  static constexpr const char* names[] = {"debug", "info ", "warn ", "error"};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char head[64];
  int n = std::snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, ts.tv_nsec / 1000000, names[static_cast<int>(l) & 3]);
  std::string line;
  line.reserve(static_cast<size_t>(n) + message.size() + 1);
  line.append(head, static_cast<size_t>(n));
  for (char c : message) line.push_back(c == '\n' ? ' ' : c);
  line.push_back('\n');
  size_t off = 0;
  while (off < line.size()) {
    ssize_t w = ::write(2, line.data() + off, line.size() - off);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
}

}  // namespace berth::log
