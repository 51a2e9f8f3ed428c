// Reading JSON request bodies with simdjson On-Demand.
//
// parse() keeps the padded copy, the parser and the document together.
// The helpers convert one value and, on a type mismatch, name the field
// ("field HostConfig.Memory: expected an integer, got string"). Object keys
// are matched case-insensitively by callers, as Go's encoding/json (and so
// docker) does. Not thread-safe; one Parsed per request.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace berth::json {

namespace od = simdjson::ondemand;

struct Parsed {
  simdjson::padded_string text;
  od::parser parser;
  od::document doc;
};

// Parses body as a JSON document. An empty body is an error.
Result<std::unique_ptr<Parsed>> parse(std::string_view body);

// An error for field, e.g. bad_field("Env", "expected an array").
Error bad_field(std::string_view field, std::string_view what);

bool is_null(od::value v);
Result<std::string> get_string(od::value v, std::string_view field);
Result<int64_t> get_int(od::value v, std::string_view field);
Result<uint64_t> get_uint(od::value v, std::string_view field);
Result<double> get_double(od::value v, std::string_view field);
Result<bool> get_bool(od::value v, std::string_view field);
// null -> empty
Result<std::vector<std::string>> get_string_array(od::value v, std::string_view field);
Result<std::map<std::string, std::string>> get_string_map(od::value v, std::string_view field);
// The value's JSON text, re-serialized compactly (to store opaque parts).
Result<std::string> get_raw(od::value v, std::string_view field);

// Calls fn(key, value) for each field of object v; stops at the first error.
template <class Fn>
Result<void> for_each_field(od::value v, std::string_view field, Fn&& fn) {
  od::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS)
    return std::unexpected(bad_field(field, "expected an object"));
  for (auto f : obj) {
    std::string_view key;
    if (f.unescaped_key().get(key) != simdjson::SUCCESS)
      return std::unexpected(bad_field(field, "invalid object key"));
    od::value val;
    if (f.value().get(val) != simdjson::SUCCESS)
      return std::unexpected(bad_field(field, "invalid value"));
    // The key view lives in the parser's string buffer until the next key.
    std::string k(key);
    auto r = fn(std::string_view(k), val);
    if (!r) return r;
  }
  return {};
}

// Root object iteration for a Parsed document.
template <class Fn>
Result<void> for_each_root_field(Parsed& p, Fn&& fn) {
  od::object obj;
  if (p.doc.get_object().get(obj) != simdjson::SUCCESS)
    return fail(Errc::invalid_argument, "invalid JSON: expected an object");
  for (auto f : obj) {
    std::string_view key;
    if (f.unescaped_key().get(key) != simdjson::SUCCESS)
      return fail(Errc::invalid_argument, "invalid JSON: bad object key");
    od::value val;
    if (f.value().get(val) != simdjson::SUCCESS)
      return fail(Errc::invalid_argument, "invalid JSON: bad value");
    std::string k(key);
    auto r = fn(std::string_view(k), val);
    if (!r) return r;
  }
  return {};
}

}  // namespace berth::json
