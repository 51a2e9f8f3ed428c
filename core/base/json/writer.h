// JSON writer: appends JSON text to a string, placing commas and colons
// itself. Strings are escaped as Go's encoding/json does with HTML escaping
// off (docker's API encoder): \" \\ \n \r \t \b \f, other control characters
// as \u00XX, U+2028/U+2029 as escapes, and each invalid UTF-8 byte replaced by
// U+FFFD — so any byte string yields valid JSON.
// Not thread-safe; one Writer per output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::json {

// Appends s as a quoted, escaped JSON string.
void append_string(std::string& out, std::string_view s);

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);

  Writer& value(std::string_view s);
  Writer& value(const char* s) { return value(std::string_view(s)); }
  Writer& value(const std::string& s) { return value(std::string_view(s)); }
  Writer& value(bool b);
  Writer& value(int v) { return value(static_cast<long long>(v)); }
  Writer& value(long v) { return value(static_cast<long long>(v)); }
  Writer& value(long long v);
  Writer& value(unsigned v) { return value(static_cast<unsigned long long>(v)); }
  Writer& value(unsigned long v) { return value(static_cast<unsigned long long>(v)); }
  Writer& value(unsigned long long v);
  Writer& value(double v);
  Writer& null();
  // A value that is already JSON text.
  Writer& raw(std::string_view json);

  template <class T>
  Writer& kv(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  Writer& kv_null(std::string_view k) {
    key(k);
    return null();
  }
  // Arrays and objects of strings (null when empty is the caller's choice).
  Writer& string_array(const std::vector<std::string>& items);

  std::string& out() { return out_; }

 private:
  void separate();
  std::string& out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

}  // namespace berth::json
