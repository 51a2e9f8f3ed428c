#include "core/container/log_format.h"

#include <algorithm>
#include <cstring>

#include "core/base/strings.h"

namespace berth::core::container {

namespace {

void append_digits(std::string& out, int64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 || n < width);
  while (n > 0) out.push_back(buf[--n]);
}

// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
// civil_from_days).
void civil_from_days(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

}  // namespace

void append_log_time(std::string& out, int64_t time_ns) {
  constexpr int64_t ns_per_s = 1000000000;
  int64_t secs = time_ns / ns_per_s;
  int64_t frac = time_ns % ns_per_s;
  if (frac < 0) {
    frac += ns_per_s;
    --secs;
  }
  // Messages come in bursts within one second: format the date and time
  // once per second (per thread), the fraction each time.
  thread_local int64_t cached_secs = INT64_MIN;
  thread_local char cached[40];
  thread_local size_t cached_len = 0;
  if (secs == cached_secs) {
    out.append(cached, cached_len);
    append_digits(out, frac, 9);
    out.push_back('Z');
    return;
  }
  size_t start = out.size();
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t y = 0;
  int m = 0, d = 0;
  civil_from_days(days, &y, &m, &d);
  if (y < 0) {
    out.push_back('-');
    y = -y;
  }
  append_digits(out, y, 4);
  out.push_back('-');
  append_digits(out, m, 2);
  out.push_back('-');
  append_digits(out, d, 2);
  out.push_back('T');
  append_digits(out, rem / 3600, 2);
  out.push_back(':');
  append_digits(out, rem / 60 % 60, 2);
  out.push_back(':');
  append_digits(out, rem % 60, 2);
  out.push_back('.');
  cached_len = std::min(out.size() - start, sizeof cached);
  std::memcpy(cached, out.data() + start, cached_len);
  cached_secs = secs;
  append_digits(out, frac, 9);
  out.push_back('Z');
}

std::string format_log_time(int64_t time_ns) {
  std::string s;
  append_log_time(s, time_ns);
  return s;
}

void append_log_message(std::string& out, const LogMessage& m, const LogFormat& f) {
  size_t header_at = out.size();
  if (!f.tty) out.append(8, '\0');
  size_t payload_at = out.size();
  if (f.timestamps) {
    append_log_time(out, m.time_ns);
    out.push_back(' ');
  }
  out.append(m.bytes);
  if (!f.tty) {
    auto size = static_cast<uint32_t>(out.size() - payload_at);
    char* h = out.data() + header_at;
    h[0] = static_cast<char>(m.stream);
    h[4] = static_cast<char>(size >> 24);
    h[5] = static_cast<char>(size >> 16);
    h[6] = static_cast<char>(size >> 8);
    h[7] = static_cast<char>(size);
  }
}

void append_log_messages(std::string& out, const std::vector<LogMessage>& ms, const LogFormat& f) {
  for (const LogMessage& m : ms) append_log_message(out, m, f);
}

std::optional<int64_t> parse_log_time(std::string_view s) {
  auto dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  auto secs = parse_number<int64_t>(whole.starts_with('+') ? whole.substr(1) : whole);
  if (!secs) return std::nullopt;
  int64_t frac = 0;
  if (dot != std::string_view::npos) {
    std::string_view digits = s.substr(dot + 1);
    if (digits.empty()) return std::nullopt;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
    }
    // Docker scales the fraction to nanoseconds; digits past the ninth are
    // below a nanosecond.
    if (digits.size() > 9) digits = digits.substr(0, 9);
    frac = *parse_number<int64_t>(digits);
    for (size_t i = digits.size(); i < 9; ++i) frac *= 10;
  }
  if (*secs > INT64_MAX / 1000000000 - 1 || *secs < INT64_MIN / 1000000000 + 1) {
    return std::nullopt;
  }
  // "-1.5" is -1 s + 0.5 s in docker's parser (seconds and fraction added).
  return *secs * 1000000000 + frac;
}

int64_t parse_log_tail(std::string_view s) {
  auto n = parse_number<int64_t>(s);
  if (!n || *n < 0) return -1;
  return *n;
}

}  // namespace berth::core::container
