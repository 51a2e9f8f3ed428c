#include "tools/cli/format.h"

#include <ctime>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/base/strings.h"

namespace berth::cli {

std::string human_size(double bytes, int precision) {
  static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 8) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g%s", precision, bytes, units[u]);
  return buf;
}

std::string human_duration(double seconds) {
  long long s = static_cast<long long>(seconds);
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return str_cat(s, " seconds");
  long long minutes = s / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return str_cat(minutes, " minutes");
  long long hours = std::llround(seconds / 3600.0);
  if (hours == 1) return "About an hour";
  if (hours < 48) return str_cat(hours, " hours");
  if (hours < 24 * 7 * 2) return str_cat(hours / 24, " days");
  if (hours < 24 * 30 * 2) return str_cat(hours / 24 / 7, " weeks");
  if (hours < 24 * 365 * 2) return str_cat(hours / 24 / 30, " months");
  return str_cat(static_cast<long long>(seconds / 3600.0) / 24 / 365, " years");
}

std::string time_ago(int64_t unix_seconds, double now) {
  return human_duration(now - static_cast<double>(unix_seconds)) + " ago";
}

double now_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

static tm local_tm(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm out{};
  localtime_r(&t, &out);
  return out;
}

std::string go_time_string(int64_t unix_seconds) {
  tm t = local_tm(unix_seconds);
  char buf[80];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &t);
  return buf;
}

std::string rfc3339_local(int64_t unix_seconds) {
  tm t = local_tm(unix_seconds);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::string out = buf;
  long off = t.tm_gmtoff;
  if (off == 0) return out + "Z";
  char sign = off < 0 ? '-' : '+';
  off = std::labs(off);
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", sign, off / 3600, (off % 3600) / 60);
  return out + buf;
}

std::string short_id(std::string_view id) {
  if (auto colon = id.find(':'); colon != std::string_view::npos) id.remove_prefix(colon + 1);
  return std::string(id.substr(0, 12));
}

// Characters, not bytes: UTF-8 continuation bytes do not count.
static size_t display_width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string ellipsis(std::string_view s, size_t width) {
  if (display_width(s) <= width) return std::string(s);
  if (width == 0) return {};
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++n > width - 1) break;
    out.push_back(s[i]);
  }
  return out + "\u2026";
}

std::string go_strerror(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

void Table::print(FILE* out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i]) + 3);
  }
  for (auto& w : widths) w = std::max<size_t>(w, 10);
  std::string line;
  for (const auto& row : rows_) {
    line.clear();
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - display_width(row[i]), ' ');
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), out);
  }
}

namespace {

// Walks JSON text token by token, copying strings verbatim; calls emit for
// structural characters and literal runs. Whitespace between tokens is dropped.
template <class Structural, class Literal>
void scan_json(std::string_view raw, Structural&& structural, Literal&& literal) {
  size_t i = 0;
  while (i < raw.size()) {
    char c = raw[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < raw.size() && raw[j] != '"') j += raw[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, raw.size());
      literal(raw.substr(i, j - i), true);
      i = j;
    } else if (std::strchr("{}[],:", c)) {
      structural(c, i);
      ++i;
    } else {
      size_t j = i;
      while (j < raw.size() && !std::strchr("{}[],: \t\r\n\"", raw[j])) ++j;
      literal(raw.substr(i, j - i), false);
      i = j;
    }
  }
}

// The next non-space character at or after i, or 0.
char next_token(std::string_view raw, size_t i) {
  for (; i < raw.size(); ++i)
    if (!std::strchr(" \t\r\n", raw[i])) return raw[i];
  return 0;
}

}  // namespace

std::string indent_json(std::string_view raw, std::string_view indent) {
  std::string out;
  out.reserve(raw.size() * 2);
  int depth = 0;
  auto newline = [&] {
    out.push_back('\n');
    for (int d = 0; d < depth; ++d) out.append(indent);
  };
  bool skip_close = false;  // the closer of an empty [] or {}, already written
  scan_json(
      raw,
      [&](char c, size_t pos) {
        switch (c) {
          case '{':
          case '[': {
            char close = c == '{' ? '}' : ']';
            out.push_back(c);
            if (next_token(raw, pos + 1) == close) {
              out.push_back(close);
              skip_close = true;
            } else {
              ++depth;
              newline();
            }
            break;
          }
          case '}':
          case ']':
            if (skip_close) {
              skip_close = false;
              break;
            }
            --depth;
            newline();
            out.push_back(c);
            break;
          case ',':
            out.push_back(',');
            newline();
            break;
          case ':': out.append(": "); break;
        }
      },
      [&](std::string_view lit, bool) { out.append(lit); });
  return out;
}

std::string compact_json(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  scan_json(
      raw, [&](char c, size_t) { out.push_back(c); },
      [&](std::string_view lit, bool is_string) {
        if (!is_string) {
          out.append(lit);
          return;
        }
        for (char c : lit) {
          if (c == '<')
            out.append("\\u003c");
          else if (c == '>')
            out.append("\\u003e");
          else if (c == '&')
            out.append("\\u0026");
          else
            out.push_back(c);
        }
      });
  return out;
}

}  // namespace berth::cli
