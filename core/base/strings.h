// Small string helpers used everywhere (GCC 12 has no <format>).
// Pure functions; thread-safe.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace berth {

namespace detail {
inline void append_one(std::string& out, std::string_view s) {
  out.append(s);
}
inline void append_one(std::string& out, const char* s) {
  out.append(s);
}
inline void append_one(std::string& out, const std::string& s) {
  out.append(s);
}
inline void append_one(std::string& out, char c) {
  out.push_back(c);
}
inline void append_one(std::string& out, bool b) {
  out.append(b ? "true" : "false");
}
template <class N>
requires std::is_arithmetic_v<N>
void append_one(std::string& out, N n) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}
}  // namespace detail

// Appends the textual form of each argument to out.
template <class... Args>
void str_append(std::string& out, const Args&... args) {
  (detail::append_one(out, args), ...);
}

// Concatenates the textual form of each argument.
template <class... Args>
std::string str_cat(const Args&... args) {
  std::string out;
  str_append(out, args...);
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep);
// Splits at the first sep: ("a=b=c", '=') -> {"a", "b=c"}; nullopt without sep.
std::optional<std::pair<std::string_view, std::string_view>> split_once(std::string_view s,
                                                                        char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view trim(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
bool contains(std::string_view s, std::string_view needle);

// Whole-string decimal parse; nullopt on junk, sign errors or overflow.
template <class N>
std::optional<N> parse_number(std::string_view s) {
  N v{};
  if (s.empty()) return std::nullopt;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string to_hex(const unsigned char* data, size_t len);
bool is_hex(std::string_view s);

// Base64 with padding; url: the URL-safe alphabet (- and _) instead of + and /.
std::string base64_encode(std::string_view data, bool url = false);
// Accepts either alphabet, padding optional, whitespace not allowed;
// nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view s);

// Human sizes as docker prints them ("1.5MB", base 1000).
std::string human_size(double bytes);
// Parses docker size strings: "32m", "1g", "512k", "100" (bytes), "1.5GB".
std::optional<int64_t> parse_size(std::string_view s);

}  // namespace berth
