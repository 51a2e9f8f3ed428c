#include "layers/archive/pax.h"

#include "core/base/strings.h"

namespace berth::layers::archive::pax {

Result<Record> next_record(std::string_view& data) {
  size_t sp = data.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp > 20)
    return fail(Errc::corrupt, "PAX record without a length");
  std::optional<uint64_t> len = parse_uint(data.substr(0, sp));
  if (!len) return fail(Errc::corrupt, "PAX record length is not a number");
  if (*len <= sp + 1 || *len > data.size())
    return fail(Errc::corrupt, str_cat("PAX record length ", *len, " is inconsistent with the ",
                                       data.size(), " bytes left in the header"));
  std::string_view rec = data.substr(sp + 1, *len - sp - 1);
  if (rec.back() != '\n') return fail(Errc::corrupt, "PAX record does not end with a newline");
  rec.remove_suffix(1);
  size_t eq = rec.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return fail(Errc::corrupt, "PAX record without a key=value pair");
  data.remove_prefix(*len);
  return Record{rec.substr(0, eq), rec.substr(eq + 1)};
}

void append_record(std::string& out, std::string_view key, std::string_view value) {
  // The length counts its own digits; adding them may add a digit.
  size_t base = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t size = base + str_cat(base).size();
  if (str_cat(size).size() + base != size) size = str_cat(size).size() + base;
  str_append(out, size, ' ', key, '=', value, '\n');
}

std::optional<uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return parse_number<uint64_t>(s);
}

std::optional<Timestamp> parse_time(std::string_view s) {
  bool negative = s.starts_with('-');
  std::string_view secs = s, frac;
  if (size_t dot = s.find('.'); dot != std::string_view::npos) {
    secs = s.substr(0, dot);
    frac = s.substr(dot + 1);
  }
  std::optional<uint64_t> mag = parse_uint(negative ? secs.substr(1) : secs);
  if (!mag || *mag > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  uint32_t nsec = 0;
  for (size_t i = 0; i < frac.size(); ++i) {
    if (frac[i] < '0' || frac[i] > '9') return std::nullopt;
    if (i < 9) nsec = nsec * 10 + static_cast<uint32_t>(frac[i] - '0');
  }
  for (size_t i = frac.size(); i < 9; ++i) nsec *= 10;
  Timestamp t{negative ? -static_cast<int64_t>(*mag) : static_cast<int64_t>(*mag), nsec};
  if (negative && nsec) {
    if (t.sec == INT64_MIN) return std::nullopt;
    t.sec -= 1;
    t.nsec = 1'000'000'000 - nsec;
  }
  return t;
}

std::string format_time(Timestamp t) {
  if (t.nsec == 0) return str_cat(t.sec);
  std::string out;
  int64_t secs = t.sec;
  uint32_t nsec = t.nsec;
  if (secs < 0) {
    out.push_back('-');
    secs = -(secs + 1);
    nsec = 1'000'000'000 - nsec;
  }
  char frac[10];
  for (int i = 8; i >= 0; --i) {
    frac[i] = static_cast<char>('0' + nsec % 10);
    nsec /= 10;
  }
  size_t n = 9;
  while (n > 0 && frac[n - 1] == '0') --n;
  str_append(out, secs, '.', std::string_view(frac, n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view s) {
  return berth::base64_decode(s);
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace berth::layers::archive::pax
